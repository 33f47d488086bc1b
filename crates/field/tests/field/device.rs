//! The device service over a real store: unlock offline with the PIN, the inbox of visits sent
//! back (as a pull delivers them), and sync health.

use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;
use verivali_domain::clock::ManualClock;
use verivali_domain::sample::{self, Seq};
use verivali_domain::{Coded, Decision, ReviewEvent, VisitState};
use verivali_field::Device;
use verivali_store::{KdfParams, Pulled, Store};

fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T03:00:00Z")
        .unwrap()
        .to_utc()
}

#[test]
fn inbox_shows_visits_sent_back_with_the_reason_and_health_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let clock = Arc::new(ManualClock::new(at()));
    let mut s = Seq::new(1);
    let hh: Vec<_> = (0..3)
        .map(|i| sample::household(&mut s, "3308012001", i))
        .collect();
    {
        let mut store = Store::create(
            &path,
            "270814",
            Uuid::now_v7(),
            KdfParams::FAST_INSECURE,
            clock.clone(),
        )
        .unwrap();
        store.upsert_households(&hh).unwrap();
    }
    assert_eq!(
        Device::unlock(&path, "999999", clock.clone())
            .err()
            .unwrap()
            .code(),
        "store.wrong_pin"
    );
    let mut d = Device::unlock(&path, "270814", clock.clone()).unwrap();
    assert!(d.health().unwrap().last_sync.is_none());
    let v = sample::visit(&mut s, &hh[0].0, &hh[0].1, at());
    assert_eq!(
        d.assignments(&Default::default())
            .unwrap()
            .iter()
            .map(|g| g.households.len())
            .sum::<usize>(),
        3
    );
    let mut draft = v.clone();
    draft.finished_at = None;
    assert!(d.save_draft(&draft).unwrap().is_ok());
    d.finish_visit(&v).unwrap();
    d.submit(&[v.visit_id]).unwrap();
    assert_eq!(d.household(hh[0].0.id).unwrap().visits.len(), 1);
    assert_eq!(d.health().unwrap().outbox.pending_ops, 2);
    assert!(d.inbox().unwrap().is_empty());

    // The server acknowledged, then a supervisor sent it back.
    d.store().acknowledge(2, &[], at()).unwrap();
    let review = ReviewEvent {
        visit_id: v.visit_id,
        decision: Decision::Reject,
        reason: Some("Foto rumah buram".into()),
        reviewer: Uuid::now_v7(),
        at: at(),
    };
    let mut rec = v.clone();
    rec.revision = 1;
    d.store()
        .apply_pulled(
            &[
                Pulled::Visit {
                    record: Box::new(rec),
                    state: VisitState::Rejected,
                },
                Pulled::Review {
                    id: Uuid::now_v7(),
                    event: review,
                },
            ],
            "7",
            at(),
        )
        .unwrap();
    d.store().set_last_sync(at()).unwrap();
    let inbox = d.inbox().unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        (
            inbox[0].visit_id,
            inbox[0].reason.as_str(),
            inbox[0].nama_krt.as_str()
        ),
        (v.visit_id, "Foto rumah buram", hh[0].0.nama_krt.as_str())
    );
    let h = d.health().unwrap();
    assert_eq!((h.outbox.pending_ops, h.last_sync), (0, Some(at())));
    // Amend and resubmit: it leaves the inbox.
    d.store().record_visit(&v).unwrap();
    d.store().submit_batch(&[v.visit_id]).unwrap();
    assert!(d.inbox().unwrap().is_empty());
}

/// A first sign-in with no server to reach answers plainly, after one quick retry, and leaves
/// nothing on disk (issue 14: it used to wait through the sync's retries and then say the data
/// was safe on the device).
#[tokio::test]
async fn a_first_sign_in_without_a_server_says_so_and_stores_nothing() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let e = Device::sign_in_first(
        &path,
        &format!("http://127.0.0.1:{port}"),
        "ani",
        "kopi-tubruk-pagi",
        None,
        "270814",
        "HP uji",
        KdfParams::FAST_INSECURE,
        Arc::new(ManualClock::new(at())),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(e.code(), "field.signin_offline");
    assert!(
        e.message(verivali_domain::Lang::Id)
            .contains("Belum ada yang disimpan")
    );
    assert!(!path.exists());
}

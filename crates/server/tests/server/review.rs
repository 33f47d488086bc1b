//! The decision call (DESIGN.md §5), on both backends.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;
use verivali_domain::{Batch, Role};
use verivali_protocol::{ChangeKind, OpBody, OpStatus};

async fn decide(d: &Device, visit: Uuid, body: serde_json::Value) -> reqwest::Response {
    d.decide(visit, body).await
}

async fn upload(d: &Device, bytes: &[u8]) -> String {
    d.upload(bytes).await
}

async fn decisions_follow_the_state_machine_and_update_the_baseline(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    s.add_user("spv_b", Role::Supervisor, &["330802"]).await;
    let hh = s.import(DESA_A, 3, 1).await;
    let mut d = s.sign_in("petugas").await;
    let spv = s.sign_in("spv").await;
    let other = s.sign_in("spv_b").await;

    // A visit that corrects the address, with a photo, submitted.
    let mut v = visit(&hh[0].0, &hh[0].1, 1);
    v.household.alamat = "Dusun Krajan No. 99".into();
    let photo = b"foto rumah (sintetis)".to_vec();
    v.photos = vec![{
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&photo))
    }];
    v.photo_kinds.clear();
    let ops = [
        d.op(&OpBody::VisitRecord(Box::new(v.clone()))),
        d.op(&OpBody::BatchSubmit(Batch {
            batch_id: Uuid::now_v7(),
            visit_ids: vec![v.visit_id],
        })),
    ];
    assert!(
        d.push(&ops)
            .await
            .results
            .iter()
            .all(|r| r.status == OpStatus::Applied)
    );

    // Who may decide, and where.
    assert_eq!(
        problem(decide(&d, v.visit_id, json!({"decision": "approve"})).await)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        problem(decide(&other, v.visit_id, json!({"decision": "approve"})).await)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // A rejection needs a reason.
    let (st, p) = problem(
        decide(
            &spv,
            v.visit_id,
            json!({"decision": "reject", "reason": " "}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "state.reason_required")
    );
    // Approval needs the photos.
    let (st, p) = problem(decide(&spv, v.visit_id, json!({"decision": "approve"})).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::CONFLICT, "review.photos_missing")
    );
    upload(&d, &photo).await;
    let r = decide(&spv, v.visit_id, json!({"decision": "approve"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["state"], "approved");
    // Not submitted any more: 409.
    let (st, p) = problem(
        decide(
            &spv,
            v.visit_id,
            json!({"decision": "reject", "reason": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::CONFLICT, "state.not_allowed")
    );
    // The baseline took the found address as version 2; the device hears of it.
    assert_eq!(
        s.count("SELECT version FROM households WHERE alamat = 'Dusun Krajan No. 99'")
            .await,
        2
    );
    s.settle().await;
    let changes = d.pull_all().await;
    let review = changes
        .iter()
        .find(|c| c.kind == ChangeKind::Review)
        .unwrap();
    assert_eq!(review.value()["decision"], "approve");
    let visit_state = changes
        .iter()
        .rev()
        .find(|c| c.kind == ChangeKind::Visit)
        .unwrap();
    assert_eq!(visit_state.value()["state"], "approved");
    assert_eq!(
        s.count("SELECT count(*) FROM audit WHERE action = 'review.decision'")
            .await,
        1
    );

    // A second visit on a household whose baseline changed meanwhile: conflicts to settle.
    let mut w = visit(&hh[1].0, &hh[1].1, 2);
    w.household.alamat = "Dusun Ngasem No. 5".into();
    w.photos.clear();
    w.photo_kinds.clear();
    let ops = [
        d.op(&OpBody::VisitRecord(Box::new(w.clone()))),
        d.op(&OpBody::BatchSubmit(Batch {
            batch_id: Uuid::now_v7(),
            visit_ids: vec![w.visit_id],
        })),
    ];
    d.push(&ops).await;
    // Another source (an import, another approval) changed the address meanwhile.
    s.sql(
        "UPDATE households SET alamat = 'Dusun Lain No. 1', version = 2 WHERE id = $1",
        vec![hh[1].0.id.into()],
    )
    .await;
    let (st, p) = problem(decide(&spv, w.visit_id, json!({"decision": "approve"})).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::CONFLICT, "review.conflicts"),
        "{p}"
    );
    assert_eq!(p["conflicts"][0]["field"], "household.alamat");
    assert_eq!(p["conflicts"][0]["current"], "Dusun Lain No. 1");
    let r = decide(
        &spv,
        w.visit_id,
        json!({"decision": "approve", "resolutions": {"household.alamat": "found"}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(
        s.count("SELECT version FROM households WHERE alamat = 'Dusun Ngasem No. 5'")
            .await,
        3
    );
}
both_backends!(
    decisions,
    decisions_follow_the_state_machine_and_update_the_baseline
);

/// A decision PostgreSQL aborts to break a deadlock is run again, and answers as if it had met
/// none: a stand-in session locks the visit's row, which the decision waits for holding its
/// household's lock, and then asks for that lock (`lose_a_deadlock`). Before, the approval
/// answered 500; now it is tried again and approved once, with one review.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_that_loses_a_deadlock_runs_again() {
    let s = TestServer::start_postgres_with(DEADLOCK_CHECK_LATER).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    let hh = s.import(DESA_A, 1, 1).await;
    let mut d = s.sign_in("petugas").await;
    let spv = s.sign_in("spv").await;
    // No photo: approval waits for none.
    let mut v = visit(&hh[0].0, &hh[0].1, 1);
    v.photos.clear();
    v.photo_kinds.clear();
    let ops = [
        d.op(&OpBody::VisitRecord(Box::new(v.clone()))),
        d.op(&OpBody::BatchSubmit(Batch {
            batch_id: Uuid::now_v7(),
            visit_ids: vec![v.visit_id],
        })),
    ];
    assert!(
        d.push(&ops)
            .await
            .results
            .iter()
            .all(|r| r.status == OpStatus::Applied)
    );
    let visit_id = v.visit_id;
    let (status, body) = lose_a_deadlock(
        &s,
        "SELECT id FROM visits WHERE id = $1 FOR UPDATE",
        visit_id.to_string(),
        hh[0].0.id,
        async move {
            let r = spv.decide(visit_id, json!({"decision": "approve"})).await;
            (r.status(), r.text().await.unwrap())
        },
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // PostgreSQL aborted the decision once (a deadlock or nothing else is transient here).
    assert_eq!(s.app.metrics.writes_retried.get(), 1);
    assert_eq!(
        s.count("SELECT count(*) FROM visits WHERE state = 'approved'")
            .await,
        1
    );
    assert_eq!(s.count("SELECT count(*) FROM reviews").await, 1);
}

//! Applying pulled pages: baseline arrives with its cursor, local changes are never overwritten.

use crate::common::*;
use uuid::Uuid;
use verivali_domain::sample::{self, Seq};
use verivali_domain::{Coded, Decision, Questionnaire, ReviewEvent, VisitState, WorkStatus};
use verivali_store::{HouseholdQuery, KdfParams, Pulled, Store};

fn fresh(path: &std::path::Path) -> Store {
    Store::create(path, PIN, Uuid::now_v7(), KdfParams::FAST_INSECURE, clock()).unwrap()
}

#[test]
fn baseline_arrives_with_its_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let mut store = fresh(&path);
    assert_eq!(store.pull_cursor().unwrap(), "");
    let hh = baseline(3, 4);
    let mut page: Vec<Pulled> = vec![];
    for (h, members) in &hh {
        page.push(Pulled::Household(h.clone()));
        for m in members {
            page.push(Pulled::Member {
                household_id: h.id,
                member: m.clone(),
            });
        }
    }
    let r = store.apply_pulled(&page, "42", at()).unwrap();
    assert_eq!(r.applied, page.len());
    drop(store);
    let store = Store::open(&path, PIN, clock()).unwrap();
    assert_eq!(store.pull_cursor().unwrap(), "42");
    assert_eq!(
        store.household_detail(hh[2].0.id).unwrap().members.len(),
        hh[2].1.len()
    );
    let nik = hh[1].1[0].nik.clone().unwrap();
    let found = store
        .list_households(&HouseholdQuery {
            text: Some(nik),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        found[0].households[0].id, hh[1].0.id,
        "search text built from pulled members"
    );
    assert!(
        store.clock_state().unwrap().offset_ms.is_some(),
        "server time merged"
    );
}

#[test]
fn local_changes_are_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let (mut store, hh) = store_with(&dir.path().join("d.db"), 3, c.clone());
    let mut s = Seq::new(1);
    let (h, m) = &hh[0];
    let mine = sample::visit(&mut s, h, m, at());
    store.record_visit(&mine).unwrap();
    // An older server copy of the same visit arrives while the record is still queued.
    let mut stale = mine.clone();
    stale.answers.clear();
    let r = store
        .apply_pulled(
            &[Pulled::Visit {
                record: Box::new(stale.clone()),
                state: VisitState::Draft,
            }],
            "1",
            at(),
        )
        .unwrap();
    assert_eq!(r.kept_local, 1);
    assert_eq!(store.visit(mine.visit_id).unwrap().0, {
        let mut x = mine.clone();
        x.revision = 1;
        x
    });

    // Once acknowledged, the server's copy (with its review state) is taken.
    store.acknowledge(1, &[], at()).unwrap();
    let mut server = mine.clone();
    server.revision = 1;
    let reject = ReviewEvent {
        visit_id: mine.visit_id,
        decision: Decision::Reject,
        reason: Some("Foto buram".into()),
        reviewer: Uuid::now_v7(),
        at: at(),
    };
    store
        .apply_pulled(
            &[
                Pulled::Visit {
                    record: Box::new(server),
                    state: VisitState::Rejected,
                },
                Pulled::Review {
                    id: Uuid::now_v7(),
                    event: reject,
                },
            ],
            "2",
            at(),
        )
        .unwrap();
    let detail = store.household_detail(h.id).unwrap();
    assert_eq!(detail.status, WorkStatus::Rejected);
    assert_eq!(
        detail.visits[0].reviews[0].reason.as_deref(),
        Some("Foto buram")
    );
    assert_eq!(
        store.submit_batch(&[mine.visit_id]).unwrap_err().code(),
        "visit.unfinished"
    );

    // A draft being edited keeps its text; only the server-owned state is taken.
    let (h2, m2) = &hh[1];
    let mut draft = sample::visit(&mut s, h2, m2, at());
    draft.finished_at = None;
    store.save_draft(&draft).unwrap();
    let mut other = draft.clone();
    other.answers.clear();
    store
        .apply_pulled(
            &[Pulled::Visit {
                record: Box::new(other),
                state: VisitState::Draft,
            }],
            "3",
            at(),
        )
        .unwrap();
    assert_eq!(
        store.visit(draft.visit_id).unwrap().0.answers,
        draft.answers
    );
}

#[test]
fn questionnaire_from_the_server_replaces_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let mut store = fresh(&path);
    let mut q = Questionnaire::default_dtsen().unwrap();
    q.version = 2;
    store
        .apply_pulled(&[Pulled::Questionnaire(Box::new(q))], "9", at())
        .unwrap();
    assert_eq!(store.questionnaire().version, 2);
    drop(store);
    assert_eq!(
        Store::open(&path, PIN, clock())
            .unwrap()
            .questionnaire()
            .version,
        2
    );
}

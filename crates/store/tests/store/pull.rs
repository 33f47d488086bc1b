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

/// The ids of the households on the device.
fn held(store: &Store) -> Vec<Uuid> {
    store
        .list_households(&HouseholdQuery::default())
        .unwrap()
        .into_iter()
        .flat_map(|g| g.households.into_iter().map(|h| h.id))
        .collect()
}

#[test]
fn a_household_given_away_stays_until_the_work_begun_on_it_is_finished_and_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, hh) = store_with(&dir.path().join("d.db"), 6, clock());
    let mut s = Seq::new(5);
    let visit = |s: &mut Seq, i: usize| sample::visit(s, &hh[i].0, &hh[i].1, at());
    // 0: untouched. 1: a draft. 2: recorded, not submitted. 3: submitted and acknowledged.
    // 4: submitted, still queued. 5: a draft, stays the user's.
    let draft = visit(&mut s, 1);
    store.save_draft(&draft).unwrap();
    let recorded = visit(&mut s, 2);
    store.record_visit(&recorded).unwrap();
    let sent = visit(&mut s, 3);
    store.record_visit(&sent).unwrap();
    store.submit_batch(&[sent.visit_id]).unwrap();
    let seq = store
        .pending_ops(100, usize::MAX)
        .unwrap()
        .last()
        .unwrap()
        .seq;
    store.acknowledge(seq, &[], at()).unwrap();
    let queued = visit(&mut s, 4);
    store.record_visit(&queued).unwrap();
    store.submit_batch(&[queued.visit_id]).unwrap();
    store.save_draft(&visit(&mut s, 5)).unwrap();

    let gone: Vec<Pulled> = (0..5).map(|i| Pulled::HouseholdGone(hh[i].0.id)).collect();
    store.apply_pulled(&gone, "1", at()).unwrap();
    let ids = |is: &[usize]| is.iter().map(|&i| hh[i].0.id).collect::<Vec<_>>();
    let mut now = held(&store);
    now.sort();
    let mut want = ids(&[1, 2, 4, 5]);
    want.sort();
    assert_eq!(
        now, want,
        "untouched and fully sent households leave at once"
    );
    assert!(store.household_detail(hh[1].0.id).unwrap().withdrawn);
    assert!(!store.household_detail(hh[5].0.id).unwrap().withdrawn);
    assert!(store.household_detail(hh[3].0.id).is_err());
    assert!(
        store.visit(sent.visit_id).is_err(),
        "its visits went with it"
    );

    // The draft may still be finished, but no new visit starts on a household given away.
    let e = store.save_draft(&visit(&mut s, 1)).unwrap_err();
    assert_eq!(e.code(), "household.withdrawn");
    store.save_draft(&draft).unwrap();
    // Only a draft the server never received can be thrown away.
    assert_eq!(
        store.discard_draft(recorded.visit_id).unwrap_err().code(),
        "visit.not_discardable"
    );
    assert!(store.discard_draft(draft.visit_id).unwrap(), "released");
    assert!(!held(&store).contains(&hh[1].0.id));

    // Sent and acknowledged: the queued submission leaves at the next page; the recorded visit
    // waits for its submission.
    let seq = store
        .pending_ops(100, usize::MAX)
        .unwrap()
        .last()
        .unwrap()
        .seq;
    store.acknowledge(seq, &[], at()).unwrap();
    store.apply_pulled(&[], "2", at()).unwrap();
    let now = held(&store);
    assert!(!now.contains(&hh[4].0.id));
    assert!(now.contains(&hh[2].0.id), "recorded but not submitted");
    store.submit_batch(&[recorded.visit_id]).unwrap();
    let seq = store
        .pending_ops(100, usize::MAX)
        .unwrap()
        .last()
        .unwrap()
        .seq;
    store.acknowledge(seq, &[], at()).unwrap();
    // Given back before the page that would release it: it stays, the user's again.
    store
        .apply_pulled(&[Pulled::Household(hh[2].0.clone())], "3", at())
        .unwrap();
    assert!(!store.household_detail(hh[2].0.id).unwrap().withdrawn);
    assert!(store.visit(recorded.visit_id).is_ok());
    store
        .apply_pulled(&[Pulled::HouseholdGone(hh[2].0.id)], "4", at())
        .unwrap();
    assert_eq!(held(&store), ids(&[5]));
}

#[test]
fn the_list_names_its_desa_once_the_server_gave_the_names() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = store_with(&dir.path().join("d.db"), 2, clock());
    let groups = store.list_households(&HouseholdQuery::default()).unwrap();
    assert!(groups.iter().all(|g| g.nama_desa.is_none()));
    let names = [(DESA.to_string(), "Desa Sukamaju".to_string())].into();
    store.set_region_names(&names).unwrap();
    let groups = store.list_households(&HouseholdQuery::default()).unwrap();
    assert!(
        groups
            .iter()
            .all(|g| g.nama_desa.as_deref() == Some("Desa Sukamaju"))
    );
    assert_eq!(store.region_names().unwrap(), names);
}

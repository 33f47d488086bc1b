use crate::common::*;
use chrono::Duration;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use uuid::Uuid;
use verivali_domain::clock::ManualClock;
use verivali_domain::hlc::MAX_AHEAD_MS;
use verivali_domain::sample::{self, Seq};
use verivali_domain::{Coded, Decision, Lang, Outcome, ReviewEvent, VisitState, WorkStatus};
use verivali_store::{HouseholdQuery, KdfParams, Rejection, Store, StoreError};

fn file_hash(p: &std::path::Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).unwrap()))
}

#[test]
fn wrong_pin_fails_clearly_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let (store, _) = store_with(&path, 3, clock());
    drop(store);
    let before = file_hash(&path);
    let err = Store::open(&path, "999999", clock()).unwrap_err();
    assert!(matches!(err, StoreError::WrongPin));
    assert_eq!(err.code(), "store.wrong_pin");
    assert_eq!(err.message(Lang::Id), "PIN salah");
    assert_eq!(
        file_hash(&path),
        before,
        "a wrong PIN must not touch the file"
    );
    let store = Store::open(&path, PIN, clock()).unwrap();
    assert_eq!(
        store
            .list_households(&HouseholdQuery::default())
            .unwrap()
            .iter()
            .map(|g| g.households.len())
            .sum::<usize>(),
        3
    );
}

#[test]
fn file_is_unreadable_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let (store, hh) = store_with(&path, 5, clock());
    drop(store);
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        !bytes.starts_with(b"SQLite format 3"),
        "plain SQLite header means no encryption"
    );
    let name = hh[0].0.nama_krt.as_bytes();
    assert!(
        !bytes.windows(name.len()).any(|w| w == name),
        "a name is readable in the file"
    );
    // Plain SQLite (no key) cannot read it.
    let plain = rusqlite::Connection::open(&path).unwrap();
    let err = plain
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase),
        "{err}"
    );
}

#[test]
fn weak_pin_and_existing_store_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let e = Store::create(
        &path,
        "123456",
        Uuid::now_v7(),
        KdfParams::FAST_INSECURE,
        clock(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "pin.too_simple");
    assert!(!path.exists());
    let _ = store_with(&path, 1, clock());
    let e = Store::create(
        &path,
        PIN,
        Uuid::now_v7(),
        KdfParams::FAST_INSECURE,
        clock(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "store.exists");
    let e = Store::open(&dir.path().join("none.db"), PIN, clock()).unwrap_err();
    assert_eq!(e.code(), "store.not_found");
}

#[test]
fn change_pin_rekeys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let (mut store, _) = store_with(&path, 2, clock());
    store
        .change_pin("518203", KdfParams::FAST_INSECURE)
        .unwrap();
    drop(store);
    assert!(matches!(
        Store::open(&path, PIN, clock()),
        Err(StoreError::WrongPin)
    ));
    let store = Store::open(&path, "518203", clock()).unwrap();
    let groups = store.list_households(&HouseholdQuery::default()).unwrap();
    assert_eq!(groups.iter().map(|g| g.households.len()).sum::<usize>(), 2);
}

#[test]
fn recording_writes_visit_and_op_together_with_gap_free_seq() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let (mut store, hh) = store_with(&dir.path().join("d.db"), 10, c.clone());
    let mut s = Seq::new(1);
    let mut seqs = vec![];
    for (h, m) in hh.iter().take(5) {
        let v = sample::visit(&mut s, h, m, c.now_utc());
        let r = store.record_visit(&v).unwrap();
        assert_eq!(r.revision, 1);
        seqs.push(r.seq);
        let (saved, state, finished) = store.visit(v.visit_id).unwrap();
        assert_eq!(
            (state, finished, saved.revision),
            (VisitState::Draft, true, 1)
        );
    }
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    let ops = store.pending_ops(100, usize::MAX).unwrap();
    assert!(
        ops.iter()
            .all(|o| o.op_type == "visit.record" && o.schema == 1)
    );
    let payload: verivali_domain::VisitRecord = serde_json::from_str(&ops[0].payload).unwrap();
    assert_eq!(payload.household_id, hh[0].0.id);
    assert!(
        ops.windows(2).all(|w| w[0].hlc < w[1].hlc),
        "HLC times increase"
    );
    let counts = store.outbox_counts().unwrap();
    assert_eq!((counts.pending_ops, counts.pending_visits), (5, 5));
    assert_gap_free(&store);
}

/// A visit's op waits in the outbox compressed (less to read, free and zero at the
/// acknowledgement, less storage), and comes out as the exact JSON that was queued; a batch's
/// payload, which SQL reads, stays text; a damaged payload is a coded error, not a panic, and
/// the ops before it still go.
#[test]
fn queued_visits_are_stored_compressed_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let c = clock();
    let (mut store, hh) = store_with(&path, 4, c.clone());
    let mut s = Seq::new(1);
    let mut sent = vec![];
    let mut ids = vec![];
    for (h, m) in hh.iter().take(3) {
        let v = sample::visit(&mut s, h, m, c.now_utc());
        store.record_visit(&v).unwrap();
        let (saved, _, _) = store.visit(v.visit_id).unwrap();
        sent.push(serde_json::to_string(&saved).unwrap());
        ids.push(v.visit_id);
    }
    store.submit_batch(&ids[..1]).unwrap();
    let ops = store.pending_ops(100, usize::MAX).unwrap();
    let visits: Vec<&str> = ops
        .iter()
        .filter(|o| o.op_type == "visit.record")
        .map(|o| o.payload.as_str())
        .collect();
    assert_eq!(visits, sent.iter().map(String::as_str).collect::<Vec<_>>());
    drop(store);

    let raw = Store::open_raw(&path, PIN).unwrap();
    let stored: Vec<(String, String, i64)> = raw
        .prepare("SELECT type, typeof(payload), length(payload) FROM outbox ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        (stored.len(), stored[3].0.as_str(), stored[3].1.as_str()),
        (4, "batch.submit", "text")
    );
    for ((op_type, kind, len), json) in stored.iter().zip(&sent) {
        assert_eq!((op_type.as_str(), kind.as_str()), ("visit.record", "blob"));
        assert!(
            (*len as usize) < json.len() / 2,
            "{len} bytes stored for {} of JSON",
            json.len()
        );
    }
    // Damage the last op's payload: reading it fails with the store's code, and the ops before
    // it are still read.
    raw.execute(
        "UPDATE outbox SET payload = x'28b52ffd2000' WHERE seq = 3",
        [],
    )
    .unwrap();
    drop(raw);
    let store = Store::open(&path, PIN, c).unwrap();
    let err = store.pending_ops(100, usize::MAX).unwrap_err();
    assert_eq!(err.code(), "store.json");
    assert_eq!(store.pending_ops(2, usize::MAX).unwrap().len(), 2);
}

/// Visit records are compressed with the store's dictionary: each frame names it, and is a
/// fraction of the size it has without (~2.8 times smaller on synthetic visits). A record that a
/// store wrote before the dictionary (a zstd frame without one) reads back as it was written; a
/// frame naming a dictionary this build does not know is the store's coded error.
#[test]
fn visit_records_use_the_dictionary_and_older_frames_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let c = clock();
    let (mut store, hh) = store_with(&path, 3, c.clone());
    let mut s = Seq::new(2);
    let mut sent = vec![];
    for (h, m) in hh.iter().take(3) {
        let v = sample::visit(&mut s, h, m, c.now_utc());
        store.record_visit(&v).unwrap();
        let (saved, _, _) = store.visit(v.visit_id).unwrap();
        sent.push(serde_json::to_string(&saved).unwrap());
    }
    drop(store);
    let raw = Store::open_raw(&path, PIN).unwrap();
    let frames: Vec<Vec<u8>> = raw
        .prepare("SELECT payload FROM outbox ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (z, json) in frames.iter().zip(&sent) {
        let id = zstd::zstd_safe::get_dict_id_from_frame(z).map(|d| d.get());
        assert_eq!(id, Some(verivali_store::VISIT_DICT_ID));
        let plain = zstd::bulk::compress(json.as_bytes(), 1).unwrap();
        assert!(
            z.len() * 2 < plain.len(),
            "{} bytes with the dictionary, {} without",
            z.len(),
            plain.len()
        );
    }
    // The first op as a store before the dictionary wrote it; the third made with a dictionary
    // of another id.
    let plain = zstd::bulk::compress(sent[0].as_bytes(), 1).unwrap();
    let mut other = verivali_domain::packed::VISIT_DICT.to_vec();
    other[4..8].copy_from_slice(&0x5656_0999u32.to_le_bytes());
    let foreign = zstd::bulk::Compressor::with_dictionary(1, &other)
        .unwrap()
        .compress(sent[2].as_bytes())
        .unwrap();
    raw.execute("UPDATE outbox SET payload = ?1 WHERE seq = 1", [&plain])
        .unwrap();
    raw.execute("UPDATE outbox SET payload = ?1 WHERE seq = 3", [&foreign])
        .unwrap();
    drop(raw);
    let store = Store::open(&path, PIN, c).unwrap();
    let ops = store.pending_ops(2, usize::MAX).unwrap();
    let read: Vec<&str> = ops.iter().map(|o| o.payload.as_str()).collect();
    assert_eq!(read, [sent[0].as_str(), sent[1].as_str()]);
    let err = store.pending_ops(100, usize::MAX).unwrap_err();
    assert_eq!(err.code(), "store.json");
}

trait NowUtc {
    fn now_utc(&self) -> chrono::DateTime<chrono::Utc>;
}
impl NowUtc for Arc<ManualClock> {
    fn now_utc(&self) -> chrono::DateTime<chrono::Utc> {
        verivali_domain::clock::Clock::now(self.as_ref())
    }
}

/// A death the baseline did not know needs its date and its evidence before the visit is
/// finished; the draft says so while the enumerator is still at the door.
#[test]
fn a_new_death_is_finished_only_with_its_date_and_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let (mut store, hh) = store_with(&dir.path().join("d.db"), 6, c.clone());
    let mut s = Seq::new(4);
    // A household with someone besides its head.
    let (h, m) = hh.iter().find(|(_, m)| m.len() > 1).unwrap();
    let mut v = sample::visit(&mut s, h, m, c.now_utc());
    let dead = v
        .members
        .iter()
        .position(|m| m.relationship != verivali_domain::Relationship::Kepala)
        .unwrap();
    v.members[dead].status = verivali_domain::PresenceStatus::Meninggal;
    assert!(
        store
            .check_draft(&v)
            .errors
            .iter()
            .any(|e| e.issue.code() == "member.death_date"
                && e.field == format!("members[{dead}].exit.date")),
        "the form shows it while the draft is open"
    );
    let err = store.record_visit(&v).unwrap_err();
    let StoreError::Invalid(report) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(report.error_codes(), vec!["member.death_date"]);
    v.members[dead].exit = Some(verivali_domain::household::MemberExit {
        date: chrono::NaiveDate::from_ymd_opt(2026, 11, 2),
        no_document_reason: Some("Akta kematian belum dibuat".into()),
        ..Default::default()
    });
    store.record_visit(&v).unwrap();
}

#[test]
fn invalid_visit_is_refused_with_codes_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let (mut store, hh) = store_with(&dir.path().join("d.db"), 2, c.clone());
    let mut s = Seq::new(2);
    let mut v = sample::visit(&mut s, &hh[0].0, &hh[0].1, c.now_utc());
    v.members[0].nik = Some("33080112345".into());
    v.answers.remove("luas_lantai");
    let err = store.record_visit(&v).unwrap_err();
    let StoreError::Invalid(report) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(report.error_codes(), vec!["nik.format", "answer.required"]);
    assert!(
        err.message(Lang::Id).contains("NIK harus tepat 16 digit"),
        "{}",
        err.message(Lang::Id)
    );
    assert_eq!(store.outbox_counts().unwrap().pending_ops, 0);
    assert!(matches!(
        store.visit(v.visit_id),
        Err(StoreError::UnknownVisit(_))
    ));
    // A visit for a household the device does not hold is refused too.
    let mut stranger = sample::visit(&mut s, &hh[1].0, &hh[1].1, c.now_utc());
    stranger.household_id = Uuid::now_v7();
    stranger.members.clear();
    stranger.outcome = Outcome::Menolak;
    stranger.answers.clear();
    assert_eq!(
        store.record_visit(&stranger).unwrap_err().code(),
        "store.unknown_household"
    );
}

#[test]
fn drafts_revisions_batches_reviews_and_locks() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let (mut store, hh) = store_with(&dir.path().join("d.db"), 3, c.clone());
    let mut s = Seq::new(3);
    let (h, m) = &hh[0];
    let full = sample::visit(&mut s, h, m, c.now_utc());

    // A half-typed draft saves, reports what is missing, and queues nothing.
    let mut draft = full.clone();
    draft.answers.clear();
    draft.finished_at = None;
    let report = store.save_draft(&draft).unwrap();
    assert!(
        report.is_ok(),
        "completeness is not checked for drafts: {report:?}"
    );
    assert_eq!(store.outbox_counts().unwrap().pending_ops, 0);
    assert_eq!(
        store.household_detail(h.id).unwrap().status,
        WorkStatus::Draft
    );

    // Not finished: cannot be submitted.
    assert_eq!(
        store.submit_batch(&[full.visit_id]).unwrap_err().code(),
        "visit.unfinished"
    );
    let r1 = store.record_visit(&full).unwrap();
    let r2 = store.record_visit(&full).unwrap();
    assert_eq!(
        (r1.revision, r2.revision),
        (1, 2),
        "each record is a new revision"
    );
    assert_eq!(
        store.household_detail(h.id).unwrap().status,
        WorkStatus::Finished
    );

    let batch = store.submit_batch(&[full.visit_id]).unwrap();
    assert_eq!(batch.seq, 3);
    assert_eq!(
        store.household_detail(h.id).unwrap().status,
        WorkStatus::Submitted
    );
    let e = store.record_visit(&full).unwrap_err();
    assert_eq!(e.code(), "visit.locked");
    assert_eq!(store.save_draft(&full).unwrap_err().code(), "visit.locked");
    assert_eq!(
        store.submit_batch(&[full.visit_id]).unwrap_err().code(),
        "state.not_allowed"
    );

    // The server acknowledges; a supervisor rejects; the enumerator amends and resubmits.
    store.acknowledge(3, &[], c.now_utc()).unwrap();
    let reviewer = Uuid::now_v7();
    let reject = ReviewEvent {
        visit_id: full.visit_id,
        decision: Decision::Reject,
        reason: Some("Foto rumah buram".into()),
        reviewer,
        at: c.now_utc(),
    };
    store.apply_review(Uuid::now_v7(), &reject).unwrap();
    let detail = store.household_detail(h.id).unwrap();
    assert_eq!(detail.status, WorkStatus::Rejected);
    assert_eq!(
        detail.visits[0].reviews[0].reason.as_deref(),
        Some("Foto rumah buram")
    );
    assert_eq!(
        store.submit_batch(&[full.visit_id]).unwrap_err().code(),
        "visit.unfinished",
        "amend first"
    );
    let r3 = store.record_visit(&full).unwrap();
    assert_eq!(r3.revision, 3);
    store.submit_batch(&[full.visit_id]).unwrap();
    // A stale approval arriving while the resubmission is still queued does not overwrite it.
    let approve = ReviewEvent {
        decision: Decision::Approve,
        reason: None,
        ..reject.clone()
    };
    store.apply_review(Uuid::now_v7(), &approve).unwrap();
    assert_eq!(store.visit(full.visit_id).unwrap().1, VisitState::Submitted);
    store.acknowledge(5, &[], c.now_utc()).unwrap();
    store.apply_review(Uuid::now_v7(), &approve).unwrap();
    assert_eq!(store.visit(full.visit_id).unwrap().1, VisitState::Approved);
    assert_eq!(
        store.record_visit(&full).unwrap_err().code(),
        "visit.locked"
    );
    assert_eq!(
        store.household_detail(h.id).unwrap().visits[0]
            .reviews
            .len(),
        3
    );
    // The verifikator's level: returned to the supervisor (still locked on the phone, the
    // household waiting for review again), approved again, then verified: final, done.
    let at = |decision| ReviewEvent {
        decision,
        reason: Some("Tanggal kematian belum dicatat".into()),
        ..reject.clone()
    };
    store
        .apply_review(Uuid::now_v7(), &at(Decision::Return))
        .unwrap();
    assert_eq!(store.visit(full.visit_id).unwrap().1, VisitState::Returned);
    assert_eq!(
        store.household_detail(h.id).unwrap().status,
        WorkStatus::Submitted
    );
    assert_eq!(
        store.record_visit(&full).unwrap_err().code(),
        "visit.locked"
    );
    store.apply_review(Uuid::now_v7(), &approve).unwrap();
    store
        .apply_review(Uuid::now_v7(), &at(Decision::Verify))
        .unwrap();
    assert_eq!(store.visit(full.visit_id).unwrap().1, VisitState::Verified);
    assert_eq!(
        store.household_detail(h.id).unwrap().status,
        WorkStatus::Approved
    );
    assert_eq!(
        store.record_visit(&full).unwrap_err().code(),
        "visit.locked"
    );
}

#[test]
fn acknowledgement_removes_ops_keeps_rejections_and_seq_continues() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let (mut store, hh) = store_with(&dir.path().join("d.db"), 6, c.clone());
    let mut s = Seq::new(4);
    let mut ops = vec![];
    for (h, m) in &hh {
        ops.push(
            store
                .record_visit(&sample::visit(&mut s, h, m, c.now_utc()))
                .unwrap(),
        );
    }
    let rejected = Rejection {
        op_id: ops[1].op_id,
        code: "area.forbidden".into(),
        message: "Desa bukan wilayah tugas Anda".into(),
        field: Some("household.kode_desa".into()),
    };
    store
        .acknowledge(4, std::slice::from_ref(&rejected), c.now_utc())
        .unwrap();
    let counts = store.outbox_counts().unwrap();
    assert_eq!(
        (
            counts.pending_ops,
            counts.acked_through,
            counts.needs_attention
        ),
        (2, 4, 1)
    );
    let att = store.needs_attention().unwrap();
    assert_eq!(
        (att[0].seq, att[0].code.as_str(), att[0].entity_id),
        (2, "area.forbidden", ops[1].visit_id)
    );
    let detail = store.household_detail(hh[1].0.id).unwrap();
    assert_eq!(detail.visits[0].attention.len(), 1);
    // A stale acknowledgement never moves backwards.
    store.acknowledge(1, &[], c.now_utc()).unwrap();
    assert_eq!(store.outbox_counts().unwrap().acked_through, 4);
    store.acknowledge(6, &[], c.now_utc()).unwrap();
    assert_eq!(store.outbox_counts().unwrap().pending_ops, 0);
    let next = store.submit_batch(&[ops[0].visit_id]).unwrap();
    assert_eq!(next.seq, 7, "seq continues after an empty outbox");
    assert!(store.dismiss_attention(rejected.op_id).unwrap());
    assert_eq!(store.outbox_counts().unwrap().needs_attention, 0);
}

#[test]
fn work_list_groups_searches_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let (mut store, hh) = store_with(&dir.path().join("d.db"), 60, c.clone());
    let all = store.list_households(&HouseholdQuery::default()).unwrap();
    assert_eq!(all.iter().map(|g| g.households.len()).sum::<usize>(), 60);
    let keys: Vec<_> = all.iter().map(|g| (g.rw.clone(), g.rt.clone())).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "one group per RW/RT, in order");
    for g in &all {
        for row in &g.households {
            let (h, _) = hh.iter().find(|(h, _)| h.id == row.id).unwrap();
            assert_eq!((&h.rt, &h.rw), (&g.rt, &g.rw));
        }
    }

    let (h, m) = &hh[17];
    let find = |store: &Store, text: &str| -> Vec<Uuid> {
        store
            .list_households(&HouseholdQuery {
                text: Some(text.into()),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .flat_map(|g| g.households.into_iter().map(|r| r.id))
            .collect()
    };
    let member = m.last().unwrap();
    assert!(
        find(&store, member.nik.as_deref().unwrap()).contains(&h.id),
        "by a member's NIK"
    );
    assert_eq!(
        find(&store, h.no_kk.as_deref().unwrap()),
        vec![h.id],
        "by No. KK"
    );
    assert!(
        find(&store, &member.name.to_uppercase()).contains(&h.id),
        "by name, any case"
    );
    let addr_words: Vec<&str> = h.alamat.split_whitespace().collect();
    assert!(
        find(&store, &format!("{} {}", addr_words[1], h.nama_krt)).contains(&h.id),
        "words AND together"
    );
    assert!(find(&store, "tidak-ada-yang-cocok").is_empty());
    assert!(find(&store, "%").is_empty(), "LIKE wildcards are literal");

    let mut s = Seq::new(5);
    store
        .record_visit(&sample::visit(&mut s, h, m, c.now_utc()))
        .unwrap();
    let finished = store
        .list_households(&HouseholdQuery {
            status: Some(WorkStatus::Finished),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        finished
            .iter()
            .flat_map(|g| &g.households)
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![h.id]
    );
    let counts = store.work_counts(Some(DESA)).unwrap();
    assert_eq!(
        (
            counts["finished"],
            counts["not_visited"],
            counts["approved"]
        ),
        (1, 59, 0)
    );
    assert_eq!(
        store.work_counts(Some("3471")).unwrap()["not_visited"],
        0,
        "another area"
    );
    let other_area = store
        .list_households(&HouseholdQuery {
            area: Some("3471".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(other_area.is_empty());
    let detail = store.household_detail(h.id).unwrap();
    assert_eq!(detail.members.len(), m.len());
    assert_eq!(
        detail.members[0].relationship,
        verivali_domain::Relationship::Kepala
    );
}

#[test]
fn proposed_household_is_listed_and_queued() {
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let (mut store, _) = store_with(&dir.path().join("d.db"), 1, c.clone());
    let mut h = baseline(99, 1).remove(0).0;
    h.id = Uuid::now_v7();
    h.version = 0;
    let (seq, _) = store.propose_household(&h).unwrap();
    assert_eq!(seq, 1);
    let ops = store.pending_ops(10, usize::MAX).unwrap();
    assert_eq!(ops[0].op_type, "household.propose");
    let detail = store.household_detail(h.id).unwrap();
    assert!(detail.proposed);
    h.id = Uuid::now_v7();
    h.rt = "1x".into();
    assert_eq!(
        store.propose_household(&h).unwrap_err().code(),
        "store.invalid"
    );
}

#[test]
fn the_proposed_mark_follows_who_wrote_the_household() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = store_with(&dir.path().join("d.db"), 1, clock());
    let mut h = baseline(99, 1).remove(0).0;
    h.id = Uuid::now_v7();
    h.id_dtsen = Some("DTSEN-ASLI".into());
    store.propose_household(&h).unwrap();
    let detail = store.household_detail(h.id).unwrap();
    assert!(detail.proposed);
    assert_eq!(
        detail.household.id_dtsen, None,
        "a proposal has no registry id"
    );
    assert_eq!(detail.household.version, 0);
    assert_eq!(
        store.propose_household(&h).unwrap_err().code(),
        "household.exists",
        "a second proposal of the same id replaces nothing"
    );
    assert_eq!(store.pending_ops(10, usize::MAX).unwrap().len(), 1);
    // The feed sends the household back (the server accepted the proposal): still the device's
    // proposal until the baseline says so.
    let mut accepted = h.clone();
    accepted.version = 1;
    accepted.fields.nama_krt = "Nama dari server".into();
    store
        .apply_pulled(
            &[verivali_store::Pulled::Household(accepted.clone())],
            "7",
            at(),
        )
        .unwrap();
    let detail = store.household_detail(h.id).unwrap();
    assert!(detail.proposed);
    assert_eq!(detail.household.nama_krt, "Nama dari server");
    // The baseline load makes it a registry household.
    store.upsert_households(&[(accepted, vec![])]).unwrap();
    assert!(!store.household_detail(h.id).unwrap().proposed);
    // A household first seen in the feed is a baseline one.
    let mut fresh = baseline(98, 1).remove(0).0;
    fresh.id = Uuid::now_v7();
    store
        .apply_pulled(
            &[verivali_store::Pulled::Household(fresh.clone())],
            "8",
            at(),
        )
        .unwrap();
    assert!(!store.household_detail(fresh.id).unwrap().proposed);
}

#[test]
fn assigned_households_show_their_terms_come_first_in_their_rt_and_filter_by_source() {
    use verivali_domain::AssignmentSource;
    use verivali_domain::assignment::Terms;
    use verivali_store::Pulled;
    let dir = tempfile::tempdir().unwrap();
    let (mut store, hh) = store_with(&dir.path().join("d.db"), 60, clock());
    // The RT with the most households, and three of them: two given with due dates, one shared.
    let all = store.list_households(&HouseholdQuery::default()).unwrap();
    let g = all.iter().max_by_key(|g| g.households.len()).unwrap();
    assert!(g.households.len() >= 3);
    let by_name: Vec<Uuid> = g.households.iter().map(|r| r.id).collect();
    let (late, soon) = (by_name[0], by_name[1]);
    let terms = |due: &str, source| Terms {
        due_date: Some(due.parse().unwrap()),
        source,
        note: Some("dari Cek Bansos".into()),
    };
    let page = [
        Pulled::Assignment {
            household_id: late,
            terms: Some(terms("2026-12-30", AssignmentSource::Sanggah)),
        },
        Pulled::Assignment {
            household_id: soon,
            terms: Some(terms("2026-12-05", AssignmentSource::LaporanKematian)),
        },
    ];
    store.apply_pulled(&page, "5", at()).unwrap();
    let rows = |store: &Store, q: &HouseholdQuery| -> Vec<verivali_store::HouseholdRow> {
        store
            .list_households(q)
            .unwrap()
            .into_iter()
            .flat_map(|g| g.households)
            .collect()
    };
    let same_rt = HouseholdQuery {
        area: Some(g.kode_desa.clone()),
        ..Default::default()
    };
    let in_rt: Vec<_> = rows(&store, &same_rt)
        .into_iter()
        .filter(|r| by_name.contains(&r.id))
        .collect();
    assert_eq!(in_rt[0].id, soon, "soonest due first within the RT");
    assert_eq!(in_rt[1].id, late);
    assert_eq!(
        in_rt[0].assignment.as_ref().unwrap().source,
        AssignmentSource::LaporanKematian
    );
    assert!(
        in_rt[2].assignment.is_none(),
        "shared households have no terms"
    );
    let deaths = HouseholdQuery {
        source: Some(AssignmentSource::LaporanKematian),
        ..Default::default()
    };
    assert_eq!(
        rows(&store, &deaths)
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        [soon]
    );
    // Shared again: the terms go, and the household is back in name order.
    store
        .apply_pulled(
            &[Pulled::Assignment {
                household_id: soon,
                terms: None,
            }],
            "6",
            at(),
        )
        .unwrap();
    assert!(rows(&store, &deaths).is_empty());
    let in_rt: Vec<Uuid> = rows(&store, &same_rt)
        .into_iter()
        .filter(|r| by_name.contains(&r.id))
        .map(|r| r.id)
        .collect();
    assert_eq!(in_rt[0], late, "the one still given comes first");
    let names = |ids: &[Uuid]| -> Vec<String> {
        ids.iter()
            .map(|id| {
                hh.iter()
                    .find(|(h, _)| h.id == *id)
                    .unwrap()
                    .0
                    .nama_krt
                    .clone()
            })
            .collect()
    };
    let listed_names = names(&in_rt[1..]);
    let mut sorted = listed_names.clone();
    sorted.sort();
    assert_eq!(
        listed_names, sorted,
        "the shared ones by name, the returned one among them"
    );
    assert_eq!(hh.len(), 60);
}

#[test]
fn clock_stays_close_to_the_server_when_the_device_is_wrong() {
    for skew in [Duration::days(-1), Duration::days(3650)] {
        let dir = tempfile::tempdir().unwrap();
        let device_clock = Arc::new(ManualClock::new(at() + skew));
        let path = dir.path().join("d.db");
        let mut store = Store::create(
            &path,
            PIN,
            Uuid::now_v7(),
            KdfParams::FAST_INSECURE,
            device_clock.clone(),
        )
        .unwrap();
        store.upsert_households(&baseline(1, 3)).unwrap();
        store.merge_server_time(at()).unwrap();
        let hh = baseline(1, 3);
        let mut s = Seq::new(6);
        for (h, m) in &hh {
            // Visit times are the enumerator's; only the HLC is corrected.
            store
                .record_visit(&sample::visit(&mut s, h, m, at()))
                .unwrap();
            device_clock.advance(Duration::seconds(30));
        }
        let ops = store.pending_ops(10, usize::MAX).unwrap();
        for (i, op) in ops.iter().enumerate() {
            let server_now = at().timestamp_millis() + 30_000 * i as i64;
            let diff = op.hlc.wall_ms - server_now;
            assert!(
                diff.abs() < 1_000 && diff <= MAX_AHEAD_MS,
                "skew {skew}: op {i} is {diff} ms off"
            );
        }
        drop(store);
        let store = Store::open(&path, PIN, device_clock).unwrap();
        assert!(
            store.clock_state().unwrap().offset_ms.is_some(),
            "the offset is persisted"
        );
    }
}

#[test]
fn photos_are_content_addressed_and_readable_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = store_with(&dir.path().join("d.db"), 1, clock());
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let sha = store.save_photo(&bytes, "image/jpeg").unwrap();
    assert_eq!(sha, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(store.save_photo(&bytes, "image/jpeg").unwrap(), sha);
    assert_eq!(store.photo_len(&sha).unwrap(), Some(200_000));
    let mut joined = vec![];
    for off in (0..200_000).step_by(65_536) {
        joined.extend(store.photo_chunk(&sha, off, 65_536).unwrap().unwrap());
    }
    assert_eq!(joined, bytes);
    let too_big = vec![0u8; 9 * 1024 * 1024];
    assert_eq!(
        store.save_photo(&too_big, "image/jpeg").unwrap_err().code(),
        "store.invalid"
    );
}

fn mutate(v: &mut verivali_domain::VisitRecord, which: u8, text: &str) {
    match which % 6 {
        0 => v.members[0].nik = Some(text.into()),
        1 => v.household.no_kk = Some(text.into()),
        2 => {
            v.answers
                .insert("luas_lantai".into(), serde_json::json!(text));
        }
        3 => v.household.rt = text.into(),
        4 => v.members[0].name = text.into(),
        _ => v.photos.push(text.into()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
    /// Any mutated visit is either recorded whole or refused without changing anything stored.
    #[test]
    fn bad_input_never_half_writes(which in 0u8..6, text in "\\PC{0,20}") {
        let dir = tempfile::tempdir().unwrap();
        let c = clock();
        let (mut store, hh) = store_with(&dir.path().join("d.db"), 2, c.clone());
        let mut s = Seq::new(8);
        let first = sample::visit(&mut s, &hh[0].0, &hh[0].1, c.now_utc());
        store.record_visit(&first).unwrap();
        let before = (store.outbox_counts().unwrap(), store.list_households(&HouseholdQuery::default()).unwrap());
        let mut v = sample::visit(&mut s, &hh[1].0, &hh[1].1, c.now_utc());
        mutate(&mut v, which, &text);
        match store.record_visit(&v) {
            Ok(r) => {
                prop_assert_eq!(r.seq, 2);
                prop_assert_eq!(store.visit(v.visit_id).unwrap().0.revision, 1);
            }
            Err(e) => {
                prop_assert!(matches!(e, StoreError::Invalid(_)), "{:?}", e);
                let after = (store.outbox_counts().unwrap(), store.list_households(&HouseholdQuery::default()).unwrap());
                prop_assert_eq!(before, after);
                prop_assert!(store.visit(v.visit_id).is_err());
            }
        }
        assert_gap_free(&store);
    }
}

#[test]
fn a_search_lists_the_exact_house_first_and_says_why_it_matched() {
    use verivali_domain::search::MatchField;
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let mut store = Store::create(
        &dir.path().join("d.db"),
        PIN,
        Uuid::now_v7(),
        KdfParams::FAST_INSECURE,
        c,
    )
    .unwrap();
    let mut hh = baseline(11, 4);
    // Two "Adi Rahayu" sort before "Dwi Rahayu" by RT and name; a third house has a member
    // called Dwi Rahayu under another head.
    let names = ["Adi Rahayu", "Adi Rahayu", "Dwi Rahayu", "Slamet Riyadi"];
    for ((h, m), name) in hh.iter_mut().zip(names) {
        h.nama_krt = name.into();
        h.rt = "001".into();
        m[0].name = name.into();
    }
    hh[3].1[1].name = "Dwi Rahayu".into();
    let nik = hh[3].1[1].nik.clone().unwrap();
    store.upsert_households(&hh).unwrap();
    let find = |text: &str| -> Vec<(Uuid, MatchField, String)> {
        store
            .list_households(&HouseholdQuery {
                text: Some(text.into()),
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .flat_map(|g| g.households)
            .map(|r| {
                let m = r.matched.unwrap();
                (r.id, m.field, m.text)
            })
            .collect()
    };
    let dwi = find("dwi rahayu");
    assert_eq!(
        dwi,
        vec![
            (hh[2].0.id, MatchField::Head, "Dwi Rahayu".to_string()),
            (hh[3].0.id, MatchField::Member, "Dwi Rahayu".to_string()),
        ],
        "the exact head first, then the member; never the two Adi Rahayu"
    );
    assert_eq!(find("rahayu").len(), 4);
    assert_eq!(
        find("rahayu")[3].0,
        hh[3].0.id,
        "a member's name after the heads'"
    );
    assert_eq!(find(&nik), vec![(hh[3].0.id, MatchField::Nik, nik.clone())]);
    let without = store.list_households(&HouseholdQuery::default()).unwrap();
    assert!(
        without
            .iter()
            .flat_map(|g| &g.households)
            .all(|r| r.matched.is_none())
    );
}

#[test]
fn the_send_screen_knows_what_the_server_received_and_the_last_syncs() {
    use verivali_store::{SYNC_LOG_KEPT, SyncLogEntry};
    let dir = tempfile::tempdir().unwrap();
    let c = clock();
    let (mut store, hh) = store_with(&dir.path().join("d.db"), 3, c.clone());
    let mut s = Seq::new(4);
    let visits: Vec<_> = hh
        .iter()
        .map(|(h, m)| {
            let v = sample::visit(&mut s, h, m, c.now_utc());
            store.record_visit(&v).unwrap();
            v
        })
        .collect();
    let batch = store.submit_batch(&[visits[0].visit_id]).unwrap();
    assert!(
        store.received_visits(10).unwrap().is_empty(),
        "nothing acknowledged yet"
    );
    // The server takes all four ops but refuses the second visit.
    let op_of_second = store.pending_ops_after(0, 10, 1 << 20).unwrap()[1].op_id;
    let rejected = Rejection {
        op_id: op_of_second,
        code: "area.forbidden".into(),
        message: "Desa bukan wilayah tugas Anda".into(),
        field: None,
    };
    let server_time = c.now_utc() + Duration::seconds(3);
    store
        .acknowledge(batch.seq, std::slice::from_ref(&rejected), server_time)
        .unwrap();
    let got = store.received_visits(10).unwrap();
    let ids: Vec<_> = got.iter().map(|r| r.visit_id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&visits[0].visit_id) && ids.contains(&visits[2].visit_id));
    let first = got
        .iter()
        .find(|r| r.visit_id == visits[0].visit_id)
        .unwrap();
    assert_eq!(first.received_at, server_time);
    assert_eq!(
        first.submitted_at,
        Some(server_time),
        "its batch arrived too"
    );
    assert!(
        got.iter()
            .find(|r| r.visit_id == visits[2].visit_id)
            .unwrap()
            .submitted_at
            .is_none()
    );

    for i in 0..(SYNC_LOG_KEPT as u64 + 3) {
        store
            .log_sync(&SyncLogEntry {
                at: c.now_utc(),
                ok: i % 2 == 0,
                ops_up: i,
                photos_up: 0,
                pulled: 0,
                code: (i % 2 == 1).then(|| "sync.network".into()),
                message: None,
            })
            .unwrap();
    }
    let log = store.sync_log().unwrap();
    assert_eq!(log.len(), SYNC_LOG_KEPT as usize);
    assert_eq!(log[0].ops_up, SYNC_LOG_KEPT as u64 + 2, "newest first");
}

#[test]
fn a_nik_held_by_another_household_on_the_device_warns_at_capture() {
    let dir = tempfile::tempdir().unwrap();
    let (store, hh) = store_with(&dir.path().join("device.db"), 3, clock());
    let mut v = sample::visit(&mut Seq::new(41), &hh[0].0, &hh[0].1, chrono::Utc::now());
    assert!(
        !store
            .check_draft(&v)
            .warning_codes()
            .contains(&"nik.on_device"),
        "its own members' NIKs are not a duplicate"
    );
    // The KTP read wrongly: the NIK of a living member of the second household.
    let other = &hh[1].1[0];
    v.members[0].nik = other.nik.clone();
    v.members[0].birth_date = other.birth_date;
    v.members[0].sex = other.sex;
    let r = store.check_draft(&v);
    let w = r
        .warnings
        .iter()
        .find(|w| w.issue.code() == "nik.on_device")
        .expect("a warning");
    assert_eq!(w.field, "members[0].nik");
    assert!(w.issue.message(Lang::Id).contains(&hh[1].0.nama_krt));
    // A member who moved out may appear in another household: no warning.
    v.members[0].status = verivali_domain::PresenceStatus::Pindah;
    assert!(
        !store
            .check_draft(&v)
            .warning_codes()
            .contains(&"nik.on_device")
    );
}

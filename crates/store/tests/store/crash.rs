//! Crash safety with real processes: a writer records visits in a loop and is killed with SIGKILL
//! at random moments, at least 200 times. After every kill the database opens; every visit whose
//! record call returned is present with its outbox op; no op lacks its visit; `seq` is gap-free;
//! each recorded revision has exactly one op.
//!
//! `VERIVALI_CRASH_KILLS` raises the number of kills (never below 200).

use crate::common::*;
use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;
use uuid::Uuid;
use verivali_domain::{Batch, VisitRecord, VisitState};
use verivali_store::{HouseholdQuery, Store};

#[test]
fn sigkill_at_random_moments_never_loses_or_tears_a_visit() {
    let kills: u64 = std::env::var("VERIVALI_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
        .max(200);
    let dir = tempfile::tempdir().unwrap();

    let writer = env!("CARGO_BIN_EXE_verivali-store-crash-writer");
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    // visit -> highest revision whose record call returned; batches that returned.
    let mut returned: HashMap<Uuid, u32> = HashMap::new();
    let mut batches: Vec<(Uuid, u64)> = Vec::new();
    let mut kills_mid_work = 0;
    let mut confirmed = (0, 0);
    let mut path = dir.path().join("unused.db");
    for k in 0..kills {
        // A fresh database every 25 kills keeps each full check small; every kill is checked.
        if k % 25 == 0 {
            confirmed = (confirmed.0 + returned.len(), confirmed.1 + batches.len());
            returned.clear();
            batches.clear();
            path = dir.path().join(format!("crash-{k}.db"));
            let (store, _) = store_with(&path, 40, clock());
            drop(store);
        }
        let mut child = Command::new(writer)
            .arg(&path)
            .arg(PIN)
            .arg((1_000 + k).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.u64(0..120)));
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(
            status.code().is_none(),
            "writer ended by itself (kill {k}): {stderr}"
        );
        let mut lines = 0;
        for line in stdout.lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts[0] {
                "V" => {
                    let rev: u32 = parts[2].parse().unwrap();
                    let e = returned.entry(parts[1].parse().unwrap()).or_default();
                    *e = (*e).max(rev);
                }
                "B" => batches.push((parts[1].parse().unwrap(), parts[2].parse().unwrap())),
                other => panic!("unexpected line {other}"),
            }
            lines += 1;
        }
        if lines > 0 {
            kills_mid_work += 1;
        }
        check_invariants(&path, &returned, &batches, k);
    }
    let (visits, batches) = (confirmed.0 + returned.len(), confirmed.1 + batches.len());
    eprintln!(
        "crash test: {kills} kills, {kills_mid_work} after work had started, {visits} visits and {batches} batches confirmed"
    );
    assert!(
        kills_mid_work >= kills / 2,
        "too few kills landed during work: {kills_mid_work}"
    );
    assert!(
        visits > 500,
        "the writer did too little to prove anything: {visits}"
    );
}

fn check_invariants(
    path: &std::path::Path,
    returned: &HashMap<Uuid, u32>,
    batches: &[(Uuid, u64)],
    k: u64,
) {
    let store = Store::open(path, PIN, clock())
        .unwrap_or_else(|e| panic!("kill {k}: store does not open: {e}"));
    assert!(
        store.integrity_ok().unwrap(),
        "kill {k}: integrity check failed"
    );
    let ops = store.pending_ops(usize::MAX >> 1, usize::MAX).unwrap();
    // Gap-free from 1 (nothing is acknowledged in this test).
    for (i, op) in ops.iter().enumerate() {
        assert_eq!(op.seq, i as u64 + 1, "kill {k}: seq gap");
    }
    let mut record_ops: HashMap<Uuid, Vec<u32>> = HashMap::new();
    let mut batch_ops: HashMap<Uuid, u64> = HashMap::new();
    for op in &ops {
        match op.op_type.as_str() {
            "visit.record" => {
                let v: VisitRecord = serde_json::from_str(&op.payload).unwrap();
                assert_eq!(v.visit_id, op.entity_id);
                record_ops.entry(v.visit_id).or_default().push(v.revision);
            }
            "batch.submit" => {
                let b: Batch = serde_json::from_str(&op.payload).unwrap();
                for id in &b.visit_ids {
                    let (_, state, _) = store
                        .visit(*id)
                        .unwrap_or_else(|_| panic!("kill {k}: batch names a missing visit"));
                    assert_eq!(
                        state,
                        VisitState::Submitted,
                        "kill {k}: batched visit not submitted"
                    );
                }
                batch_ops.insert(b.batch_id, op.seq);
            }
            t => panic!("kill {k}: unexpected op {t}"),
        }
    }
    // No op lacks its visit, and each recorded revision has exactly one op (1..=revision).
    for (visit, revs) in &record_ops {
        let (rec, _, _) = store
            .visit(*visit)
            .unwrap_or_else(|_| panic!("kill {k}: op without its visit"));
        let mut sorted = revs.clone();
        sorted.sort();
        let expected: Vec<u32> = (1..=rec.revision).collect();
        assert_eq!(
            sorted, expected,
            "kill {k}: ops of visit {visit} do not match its revisions"
        );
    }
    // Every visit whose call returned is there with its op.
    for (visit, rev) in returned {
        let revs = record_ops
            .get(visit)
            .unwrap_or_else(|| panic!("kill {k}: returned visit {visit} lost"));
        assert!(
            revs.contains(rev),
            "kill {k}: revision {rev} of {visit} lost"
        );
    }
    for (batch, seq) in batches {
        assert_eq!(
            batch_ops.get(batch),
            Some(seq),
            "kill {k}: returned batch lost"
        );
    }
    // Every visit on the device, recorded at least once, has exactly its ops (drafts have none).
    let households: Vec<Uuid> = store
        .list_households(&HouseholdQuery::default())
        .unwrap()
        .into_iter()
        .flat_map(|g| g.households.into_iter().map(|h| h.id))
        .collect();
    assert_eq!(households.len(), 40);
    let mut visits_seen = 0;
    for h in households {
        for v in store.household_detail(h).unwrap().visits {
            visits_seen += 1;
            let expected: Vec<u32> = (1..=v.revision).collect();
            let mut got = record_ops.get(&v.visit_id).cloned().unwrap_or_default();
            got.sort();
            assert_eq!(
                got, expected,
                "kill {k}: visit {} (revision {}) without its ops",
                v.visit_id, v.revision
            );
        }
    }
    assert!(visits_seen >= record_ops.len());
}

//! Helpers shared by the store tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;
use verivali_domain::clock::ManualClock;
use verivali_domain::sample::{self, Seq};
use verivali_domain::{Household, Member};
use verivali_store::{KdfParams, Store};

pub const PIN: &str = "270814";
pub const DESA: &str = "3308012001";

pub fn at() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T03:00:00Z")
        .unwrap()
        .to_utc()
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(at()))
}

pub fn baseline(seed: u64, n: u32) -> Vec<(Household, Vec<Member>)> {
    let mut s = Seq::new(seed);
    (0..n).map(|i| sample::household(&mut s, DESA, i)).collect()
}

/// A new store with `n` synthetic households.
pub fn store_with(
    path: &Path,
    n: u32,
    clock: Arc<ManualClock>,
) -> (Store, Vec<(Household, Vec<Member>)>) {
    let mut store =
        Store::create(path, PIN, Uuid::now_v7(), KdfParams::FAST_INSECURE, clock).unwrap();
    store.merge_server_time(at()).unwrap();
    let hh = baseline(7, n);
    store.upsert_households(&hh).unwrap();
    (store, hh)
}

/// Every outbox seq from the acknowledged one up is present without a gap.
pub fn assert_gap_free(store: &Store) {
    let ops = store.pending_ops(1_000_000, usize::MAX).unwrap();
    let acked = store.outbox_counts().unwrap().acked_through;
    for (i, op) in ops.iter().enumerate() {
        assert_eq!(op.seq, acked + 1 + i as u64, "seq gap at position {i}");
    }
}

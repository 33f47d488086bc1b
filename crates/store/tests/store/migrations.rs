//! A database written by schema version 1 (`fixtures/v1.db`, PIN 270814, synthetic data) must
//! open, migrate and keep its data in every later version.
//!
//! The fixture was made by `make_fixture` below with the v1 SQL frozen in it; it is only rewritten
//! when missing and `VERIVALI_BLESS=1` is set, never by a normal run.

use crate::common::*;
use rusqlite::params;
use std::path::{Path, PathBuf};
use uuid::Uuid;
use verivali_domain::sample::{self, Seq};
use verivali_domain::{VisitState, WorkStatus};
use verivali_store::key::key_file_path;
use verivali_store::{HouseholdQuery, KdfParams, Store, schema};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1.db")
}

/// Writes the v1 fixture with the first schema's own SQL.
fn make_fixture(path: &Path) {
    let device: Uuid = "0194f000-0000-7000-8000-00000000d001".parse().unwrap();
    let store =
        Store::create_with_schema(path, PIN, device, KdfParams::FAST_INSECURE, clock(), 1).unwrap();
    drop(store);
    let conn = Store::open_raw(path, PIN).unwrap();
    let hh = baseline(2024, 3);
    for (h, members) in &hh {
        conn.execute(
            "INSERT INTO households (id, id_dtsen, no_kk, nama_krt, alamat, rt, rw, kode_desa, desil, version, proposed, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, 0, 'not_visited')",
            params![h.id.to_string(), h.id_dtsen, h.no_kk, h.nama_krt, h.alamat, h.rt, h.rw, h.kode_desa, h.desil],
        )
        .unwrap();
        for m in members {
            conn.execute(
                "INSERT INTO members (id, household_id, nik, name, sex, birth_place, birth_date, relationship, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'tinggal')",
                params![m.member_id.to_string(), h.id.to_string(), m.nik, m.name, m.sex.to_string(), m.birth_place,
                        m.birth_date.map(|d| d.to_string()), m.relationship.code()],
            )
            .unwrap();
        }
    }
    let (h, m) = &hh[0];
    let v = sample::visit(&mut Seq::new(1), h, m, at());
    let json = serde_json::to_string(&v).unwrap();
    conn.execute(
        "INSERT INTO visits (id, household_id, revision, outcome, state, finished, record, started_at, updated_at)
         VALUES (?1, ?2, 1, 'ditemukan', 'draft', 1, ?3, '2026-11-22T02:48:00.000Z', '2026-11-22T03:00:00.000Z')",
        params![v.visit_id.to_string(), h.id.to_string(), json],
    )
    .unwrap();
    conn.execute(
        "UPDATE households SET status = 'finished' WHERE id = ?1",
        [h.id.to_string()],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO outbox (seq, op_id, hlc, schema, type, entity_id, payload, created_at)
         VALUES (1, '0194f000-0000-7000-8000-0000000a0001', ?1, 1, 'visit.record', ?2, ?3, '2026-11-22T03:00:00.000Z')",
        params![format!("1795316400000-00000-{device}"), v.visit_id.to_string(), json],
    )
    .unwrap();
    conn.execute(
        "UPDATE clock SET wall_ms = 1795316400000, counter = 0, offset_ms = 0",
        [],
    )
    .unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
}

#[test]
fn fixture_v1_opens_migrates_and_keeps_its_data() {
    let src = fixture();
    if !src.exists() && std::env::var_os("VERIVALI_BLESS").is_some() {
        make_fixture(&src);
    }
    assert!(
        src.exists(),
        "fixture missing: run with VERIVALI_BLESS=1 once and commit it"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    std::fs::copy(&src, &path).unwrap();
    std::fs::copy(key_file_path(&src), key_file_path(&path)).unwrap();

    let raw = Store::open_raw(&path, PIN).unwrap();
    let v: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 1, "the fixture really is schema version 1");
    drop(raw);

    let c = clock();
    let mut store = Store::open(&path, PIN, c.clone()).unwrap();
    assert_eq!(store.schema_version().unwrap(), schema::latest());
    let hh = baseline(2024, 3);
    let groups = store.list_households(&HouseholdQuery::default()).unwrap();
    assert_eq!(groups.iter().map(|g| g.households.len()).sum::<usize>(), 3);

    // Migration 2 backfilled the search text from the v1 rows.
    let nik = hh[2].1.last().unwrap().nik.clone().unwrap();
    let found = store
        .list_households(&HouseholdQuery {
            text: Some(nik),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(found[0].households[0].id, hh[2].0.id);

    // The recorded visit, its status and its queued op survived.
    let detail = store.household_detail(hh[0].0.id).unwrap();
    assert_eq!(detail.status, WorkStatus::Finished);
    assert_eq!(detail.members, hh[0].1);
    let (record, state, finished) = store.visit(detail.visits[0].visit_id).unwrap();
    assert_eq!(
        (state, finished, record.revision),
        (VisitState::Draft, true, 1)
    );
    let ops = store.pending_ops(10, usize::MAX).unwrap();
    assert_eq!(
        (ops.len(), ops[0].seq, ops[0].entity_id),
        (1, 1, record.visit_id)
    );
    // Its payload was stored as JSON text (before step 9) and is read as it was written.
    assert_eq!(ops[0].payload, serde_json::to_string(&record).unwrap());

    // New work continues the sequence.
    let (h, m) = &hh[1];
    let next = store
        .record_visit(&sample::visit(&mut Seq::new(9), h, m, at()))
        .unwrap();
    assert_eq!(next.seq, 2);
    assert!(store.integrity_ok().unwrap());

    // Reopening an already migrated file is a no-op.
    drop(store);
    let store = Store::open(&path, PIN, c).unwrap();
    let ops = store.pending_ops(10, usize::MAX).unwrap();
    assert_eq!(ops.len(), 2);
    // The old op's text and the new op's compressed payload, side by side in one outbox.
    let later: verivali_domain::VisitRecord = serde_json::from_str(&ops[1].payload).unwrap();
    assert_eq!((ops[1].seq, later.household_id), (2, h.id));
}

#[test]
fn a_database_from_a_newer_app_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let (store, _) = store_with(&path, 1, clock());
    drop(store);
    let raw = Store::open_raw(&path, PIN).unwrap();
    raw.pragma_update(None, "user_version", schema::latest() + 1)
        .unwrap();
    drop(raw);
    let err = Store::open(&path, PIN, clock()).unwrap_err();
    assert_eq!(verivali_domain::Coded::code(&err), "store.schema_too_new");
}

//! Quality-control benchmark (DESIGN.md §7 and §11, issue 16): the duplicate-NIK check against a
//! server holding 1,000,000 members, on SQLite and PostgreSQL:
//!
//! - the look-up itself (`repo::living_nik_holders`, through the `members_nik` index) for the
//!   NIKs of one 100-visit push (400 NIKs, half of them held elsewhere), median of 30;
//! - ingest over that server: one device pushing 100-visit pushes in a row, every visit carrying a
//!   NIK held in another household (so every visit is flagged `quality.nik_duplicate`), ops/s.
//!
//! `cargo bench -p verivali-server --bench quality`; `cargo test --benches` runs a smoke version
//! with 20,000 members. The concurrent-ingest figure with flags on is the `server` bench's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../tests/server/common/mod.rs"]
mod common;

use common::*;
use std::time::Instant;
use verivali_domain::Role;
use verivali_protocol::{OpBody, OpStatus};
use verivali_server::db::Dialect;

/// The synthetic NIK of member `i` of the filler (a kecamatan code no sample household uses).
fn nik(i: u64) -> String {
    format!("3308990101{:06}", i % 1_000_000)
}

/// Fills the server with `n` living members in `n / 4` households of a filler desa, in SQL (a
/// million rows one statement at a time would time the client, not the server).
async fn fill(s: &TestServer, n: u64) {
    let dialect = s.app.db.dialect();
    let (households, members) = match dialect {
        Dialect::Sqlite => (
            format!(
                "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < {h})
                 INSERT INTO households (id, id_dtsen, no_kk, nama_krt, alamat, rt, rw, kode_desa, desil, version, created_at, updated_at)
                 SELECT '00000000-0000-7000-8000-' || substr('000000000000' || i, -12, 12), NULL, NULL, 'Isi ' || i, 'Dusun Isi', '001', '001', '3308990101', 5, 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z' FROM k",
                h = n / 4
            ),
            format!(
                "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < {n})
                 INSERT INTO members (id, household_id, nik, name, sex, birth_place, birth_date, relationship, status)
                 SELECT '00000000-0000-7000-9000-' || substr('000000000000' || i, -12, 12), '00000000-0000-7000-8000-' || substr('000000000000' || (i / 4), -12, 12), '3308990101' || substr('000000' || i, -6, 6), 'Anggota ' || i, 'L', NULL, NULL, 3, 'tinggal' FROM k"
            ),
        ),
        Dialect::Postgres => (
            format!(
                "INSERT INTO households (id, id_dtsen, no_kk, nama_krt, alamat, rt, rw, kode_desa, desil, version, created_at, updated_at)
                 SELECT '00000000-0000-7000-8000-' || lpad(i::text, 12, '0'), NULL, NULL, 'Isi ' || i, 'Dusun Isi', '001', '001', '3308990101', 5, 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'
                 FROM generate_series(0, {h} - 1) i",
                h = n / 4
            ),
            format!(
                "INSERT INTO members (id, household_id, nik, name, sex, birth_place, birth_date, relationship, status)
                 SELECT '00000000-0000-7000-9000-' || lpad(i::text, 12, '0'), '00000000-0000-7000-8000-' || lpad((i / 4)::text, 12, '0'), '3308990101' || lpad((i % 1000000)::text, 6, '0'), 'Anggota ' || i, 'L', NULL, NULL, 3, 'tinggal'
                 FROM generate_series(0, {n} - 1) i"
            ),
        ),
    };
    s.sql(&households, vec![]).await;
    s.sql(&members, vec![]).await;
    if dialect == Dialect::Postgres {
        s.sql("ANALYZE members", vec![]).await;
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let members: u64 = if full { 1_000_000 } else { 20_000 };
    let pushes = if full { 20 } else { 2 };
    let per_push = 100;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "\nquality benchmark ({} mode): duplicate-NIK check over {members} members; ingest of {pushes} × {per_push} visits, each with a NIK held elsewhere",
        if full { "full" } else { "smoke" }
    );
    println!(
        "\n| backend | members | fill s | look-up of 400 NIKs, median ms | NIKs found | ingest ops/s | visits flagged nik_duplicate |"
    );
    println!("|---|---|---|---|---|---|---|");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        rt.block_on(async {
            let s = TestServer::start(backend).await;
            let hh = s.import(DESA_A, 100, 1).await;
            let t = Instant::now();
            fill(&s, members).await;
            let fill_s = t.elapsed().as_secs_f64();

            // 400 NIKs: 200 held by filler members, 200 nobody holds.
            let niks: Vec<String> = (0..400u64)
                .map(|i| {
                    if i % 2 == 0 {
                        nik(i * 2_477 % members)
                    } else {
                        format!("3308990202{:06}", i)
                    }
                })
                .collect();
            let app = s.app.clone();
            let (lookup_ms, found) = tokio::task::spawn_blocking(move || {
                let mut times = Vec::new();
                let mut found = 0;
                for _ in 0..30 {
                    let mut tx = app.db.read().unwrap();
                    let t = Instant::now();
                    let r = verivali_server::repo::living_nik_holders(tx.as_mut(), &niks).unwrap();
                    times.push(t.elapsed().as_secs_f64() * 1e3);
                    found = r.len();
                }
                (median(times), found)
            })
            .await
            .unwrap();

            // Ingest: every visit's head carries a filler member's NIK (and its birth date).
            s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
            let mut d = s.sign_in("petugas").await;
            let mut bodies = Vec::new();
            for p in 0..pushes {
                let ops: Vec<_> = (0..per_push)
                    .map(|k| {
                        let (h, m) = &hh[(p * per_push + k) % hh.len()];
                        let mut v = visit(h, m, (p * 1000 + k) as u64);
                        let head = v.members.iter_mut().find(|x| x.relationship.code() == 1);
                        let head = head.unwrap();
                        // A serial of 0000 is no NIK: skip those.
                        let i = ((p * per_push + k) as u64 * 7_919) % members;
                        head.nik = Some(nik(if i.is_multiple_of(10_000) { i + 1 } else { i }));
                        head.birth_date = None;
                        head.sex = serde_json::from_value(serde_json::json!("L")).unwrap();
                        d.op(&OpBody::VisitRecord(Box::new(v)))
                    })
                    .collect();
                bodies.push(ops);
            }
            let t = Instant::now();
            let mut applied = 0;
            for ops in &bodies {
                let r = d.push(ops).await;
                for x in &r.results {
                    match x.status {
                        OpStatus::Applied => applied += 1,
                        _ => eprintln!("not applied: {:?}", x.error),
                    }
                }
            }
            let secs = t.elapsed().as_secs_f64();
            assert_eq!(applied, pushes * per_push, "every visit applied");
            let flagged = s
                .count("SELECT count(*) FROM visits WHERE flags LIKE '%quality.nik_duplicate%'")
                .await;
            println!(
                "| {backend:?} | {members} | {fill_s:.1} | {lookup_ms:.2} | {found} | {:.0} | {flagged} |",
                applied as f64 / secs
            );
        });
    }
}

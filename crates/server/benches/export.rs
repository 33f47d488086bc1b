//! Export benchmark (DESIGN.md §7: 1,000,000 approved visits to CSV in ≤ 6 s). Fills an SQLite
//! server database with synthetic approved visits (households, reviews and users included, so
//! the export's joins do their real work), then times the CLI's export path to a file: median
//! of three runs, rows/s, file size and the process's peak memory; then XLSX of the same set.
//! `cargo bench -p verivali-server --bench export` (`VERIVALI_BENCH_EXPORT_ROWS` to change the
//! count); `cargo test --benches` runs a small smoke version.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;
use verivali_domain::clock::SystemClock;
use verivali_domain::sample::{self, Seq};
use verivali_domain::{Areas, RegionCode, VisitState};
use verivali_server::App;
use verivali_server::export::{ExportFormat, ExportRequest};
use verivali_server::repo::Scope;

const DESA: &str = "3308012001";

/// Resets the peak-memory mark (Linux: `clear_refs` 5), so that it measures what follows.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Writes `n` approved visits straight into the server's tables (one transaction).
fn fill(path: &std::path::Path, n: usize) {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    let tx = conn.transaction().unwrap();
    let now = "2026-11-20T08:00:00.000Z";
    for (id, name, role) in [
        (
            "00000000-0000-7000-8000-000000000001",
            "petugas",
            "enumerator",
        ),
        ("00000000-0000-7000-8000-000000000002", "spv", "supervisor"),
    ] {
        tx.execute(
            "INSERT INTO users (id, username, display_name, role, areas, password_hash, disabled, created_at)
             VALUES (?1, ?2, ?2, ?3, '[\"330801\"]', 'x', 0, ?4)",
            rusqlite::params![id, name, role, now],
        )
        .unwrap();
    }
    // 500 distinct synthetic visits as templates; each row gets its own ids.
    let mut seq = Seq::new(2026);
    let templates: Vec<(String, String, String)> = (0..500)
        .map(|i| {
            let (h, m) = sample::household(&mut seq, DESA, i);
            let v = sample::visit(&mut seq, &h, &m, chrono::Utc::now());
            (
                serde_json::to_string(&v).unwrap(),
                v.visit_id.to_string(),
                h.id.to_string(),
            )
        })
        .collect();
    let mut hh = tx
        .prepare("INSERT INTO households (id, id_dtsen, no_kk, nama_krt, alamat, rt, rw, kode_desa, desil, version, created_at, updated_at)
                  VALUES (?1, ?2, '3308010101010001', 'Nama Sintetis', 'Dusun Contoh', '001', '001', ?3, 1, 1, ?4, ?4)")
        .unwrap();
    let mut vs = tx
        .prepare("INSERT INTO visits (id, household_id, enumerator_id, device_id, kode_desa, revision, state, outcome,
                  baseline_version, record, batch_id, submitted_at, created_at, updated_at)
                  VALUES (?1, ?2, '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-0000000000ff', ?3, 1,
                          'approved', 'ditemukan', 1, ?4, NULL, ?5, ?5, ?5)")
        .unwrap();
    let mut rv = tx
        .prepare(
            "INSERT INTO reviews (id, visit_id, decision, reason, reviewer_id, at)
                  VALUES (?1, ?2, 'approve', NULL, '00000000-0000-7000-8000-000000000002', ?3)",
        )
        .unwrap();
    for i in 0..n {
        let (json, vid, hid) = &templates[i % templates.len()];
        let visit_id = format!("01900000-0000-7000-8000-{i:012}");
        let household_id = format!("01900000-0000-7000-9000-{i:012}");
        hh.execute(rusqlite::params![
            household_id,
            format!("DTSEN{i:010}"),
            DESA,
            now
        ])
        .unwrap();
        let record = json.replace(vid, &visit_id).replace(hid, &household_id);
        vs.execute(rusqlite::params![visit_id, household_id, DESA, record, now])
            .unwrap();
        rv.execute(rusqlite::params![
            format!("01900000-0000-7000-a000-{i:012}"),
            visit_id,
            now
        ])
        .unwrap();
    }
    drop((hh, vs, rv));
    tx.commit().unwrap();
}

fn main() {
    let smoke = std::env::args().all(|a| a != "--bench");
    let rows: usize = std::env::var("VERIVALI_BENCH_EXPORT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 2_000 } else { 1_000_000 });
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("server.db");
    let url = format!("sqlite://{}", db_path.display());
    drop(
        App::new(
            verivali_server::db::open(&url).unwrap(),
            Arc::new(SystemClock),
            dir.path().to_path_buf(),
        )
        .unwrap(),
    );
    let t = Instant::now();
    fill(&db_path, rows);
    eprintln!(
        "filled {rows} approved visits in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let app = App::new(
        verivali_server::db::open(&url).unwrap(),
        Arc::new(SystemClock),
        dir.path().to_path_buf(),
    )
    .unwrap();
    // What approval writes for each visit (`keep_export_cells`), here for the filled ones at
    // once, as `verivali-server export prepare` does after an upgrade.
    let t = Instant::now();
    let prepared = app.prepare_export_cells().unwrap();
    let prepare_s = t.elapsed().as_secs_f64();
    assert_eq!(prepared as usize, rows);
    let req = ExportRequest {
        state: VisitState::Approved,
        scope: Scope {
            user_id: uuid::Uuid::nil(),
            role: verivali_domain::Role::Supervisor,
            areas: Areas::new([RegionCode::parse("330801").unwrap()]),
        },
    };
    let out = dir.path().join("export.csv");
    reset_peak();
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let n = app.export_to_file(&req, ExportFormat::Csv, &out).unwrap();
        times.push(t.elapsed().as_secs_f64());
        assert_eq!(n as usize, rows);
    }
    let csv_peak = peak_rss_mib();
    times.sort_by(f64::total_cmp);
    let size = std::fs::metadata(&out).unwrap().len() as f64 / 1e6;
    use std::io::BufRead;
    let lines = std::io::BufReader::new(std::fs::File::open(&out).unwrap())
        .lines()
        .count();
    assert_eq!(lines, rows + 1, "header and one line per visit");
    // XLSX of the same set, when it fits one sheet (1,000,000 does).
    reset_peak();
    // `VERIVALI_BENCH_EXPORT_XLSX=0` skips it (a minute at a million rows).
    let xlsx_wanted = std::env::var("VERIVALI_BENCH_EXPORT_XLSX").map_or(true, |v| v != "0");
    let xlsx = (xlsx_wanted && rows as u64 <= verivali_server::export::XLSX_MAX_ROWS).then(|| {
        let t = Instant::now();
        let n = app
            .export_to_file(&req, ExportFormat::Xlsx, &dir.path().join("export.xlsx"))
            .unwrap();
        (n, t.elapsed().as_secs_f64())
    });
    println!();
    println!("| export ({rows} approved visits, SQLite) | value | budget |");
    println!("|---|---|---|");
    println!(
        "| CSV, median of 3 | {:.2} s ({:.0} rows/s; runs {:.2} / {:.2} / {:.2} s) | ≤ 6 s for 1,000,000 |",
        times[1],
        rows as f64 / times[1],
        times[0],
        times[1],
        times[2]
    );
    println!("| CSV size | {size:.1} MB | |");
    println!(
        "| compact cells written for the filled visits (once; approval writes them one by one) | {prepare_s:.2} s | |"
    );
    println!("| peak memory during the CSV exports | {csv_peak:.0} MiB | bounded |");
    if let Some((n, secs)) = xlsx {
        println!(
            "| XLSX, one run | {secs:.2} s ({:.0} rows/s) | |",
            n as f64 / secs
        );
        println!(
            "| peak memory during the XLSX export | {:.0} MiB | bounded |",
            peak_rss_mib()
        );
    }
}

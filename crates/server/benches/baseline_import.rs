//! Baseline import from the console (issue 13, DESIGN.md §10): a 200,000-row DTSEN file (57,150
//! households in 10 desa) sent through `POST /api/v1/admin/imports/households`
//! and followed by its job, while an enumerator keeps pulling. Prints the upload time, the job's
//! time and rows/s, and the pull latency (median, p99) idle and during the import — the import
//! must not block other requests. `cargo bench -p verivali-server --bench baseline_import`;
//! `cargo test --benches` runs a small smoke version. SQLite by default,
//! `VERIVALI_BENCH_BACKEND=postgres` for PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../tests/server/common/mod.rs"]
mod common;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};
use verivali_domain::Role;

fn quantile(xs: &mut [f64], q: f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[((xs.len() as f64 - 1.0) * q).round() as usize]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    // About 3.5 members per household: 5,715 households per desa make 200,000 rows.
    let per_desa = if full { 5_715 } else { 50 };
    let backend = match std::env::var("VERIVALI_BENCH_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let s = TestServer::start(backend).await;
        s.add_user("admin", Role::Admin, &["330801"]).await;
        s.add_user("petugas", Role::Enumerator, &["3308012001"]).await;
        // One desa already there, so the enumerator's pulls carry real pages.
        s.import("3308012001", 200, 1).await;
        let admin = s.sign_in("admin").await;
        let enumerator = s.sign_in("petugas").await;
        let mut csv = String::new();
        for i in 0..10 {
            let desa = format!("330801{:04}", 2002 + i);
            let part = verivali_server::demo::synthetic_csv(&desa, per_desa, 10 + i as u64);
            if i == 0 {
                csv.push_str(&part);
            } else {
                csv.extend(part.lines().skip(1).flat_map(|l| [l, "\n"]));
            }
        }
        let rows = csv.lines().count() - 1;
        let pull = |d: &Device| {
            let d = d.clone();
            async move {
                let t = Instant::now();
                let r = d.get("/api/v1/sync/pull?limit=100").await;
                assert_eq!(r.status(), 200);
                let _ = r.bytes().await.unwrap();
                t.elapsed().as_secs_f64() * 1000.0
            }
        };
        let mut idle = Vec::new();
        for _ in 0..30 {
            idle.push(pull(&enumerator).await);
        }

        let t = Instant::now();
        let r = admin
            .client
            .post(format!("{}/api/v1/admin/imports/households", admin.url))
            .bearer_auth(&admin.token)
            .body(csv)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let upload_s = t.elapsed().as_secs_f64();
        let job = r.json::<Value>().await.unwrap()["job"].as_str().unwrap().to_string();
        let mut busy = Vec::new();
        let status = loop {
            busy.push(pull(&enumerator).await);
            let st: Value = admin.get(&format!("/api/v1/admin/jobs/{job}")).await.json().await.unwrap();
            if st["state"] != "running" {
                break st;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let job_s = t.elapsed().as_secs_f64();
        assert_eq!(status["state"], "done", "{status}");
        assert_eq!(status["report"]["created"].as_u64().unwrap(), 10 * u64::from(per_desa));
        println!(
            "\nverivali-server baseline import ({} mode, {backend:?}): {rows} rows, {} households\n",
            if full { "full" } else { "smoke" },
            10 * per_desa
        );
        println!("| step | value |");
        println!("|---|---|");
        println!("| upload answered (202) | {upload_s:.2} s |");
        println!("| job done | {job_s:.1} s ({:.0} rows/s) |", rows as f64 / job_s);
        println!(
            "| enumerator's pull, idle ({} calls) | median {:.1} ms, p99 {:.1} ms |",
            idle.len(),
            quantile(&mut idle.clone(), 0.5),
            quantile(&mut idle, 0.99)
        );
        println!(
            "| enumerator's pull during the import ({} calls) | median {:.1} ms, p99 {:.1} ms |",
            busy.len(),
            quantile(&mut busy.clone(), 0.5),
            quantile(&mut busy, 0.99)
        );
    });
}

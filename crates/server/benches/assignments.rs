//! Assignment benchmark (issue 12, DESIGN.md §7 style): a whole kecamatan's target list
//! (50,000 households in 10 desa, to 200 enumerators) imported from one CSV through
//! `POST /api/v1/assignments/import`, then an enumerator's first pull of a 500-household
//! assignment out of the 50,000. `cargo bench -p verivali-server --bench assignments`;
//! `cargo test --benches` runs a small smoke version. SQLite by default,
//! `VERIVALI_BENCH_BACKEND=postgres` for PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../tests/server/common/mod.rs"]
mod common;

use common::*;
use std::time::Instant;
use verivali_domain::Role;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (per_desa, enumerators, mine) = if full {
        (5_000, 200, 500)
    } else {
        (100, 10, 50)
    };
    let desas: Vec<String> = (1..=10).map(|i| format!("330801{:04}", 2000 + i)).collect();
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
        s.add_user("pengawas", Role::Supervisor, &["330801"]).await;
        for i in 0..enumerators {
            s.add_user(&format!("petugas{i}"), Role::Enumerator, &["330801"]).await;
        }
        let t = Instant::now();
        let mut all = Vec::new();
        for (i, d) in desas.iter().enumerate() {
            all.extend(s.import(d, per_desa, 100 + i as u64).await);
        }
        let baseline_s = t.elapsed().as_secs_f64();
        // petugas0 gets `mine` households, the others share the rest round-robin.
        let mut csv = String::from("id_dtsen,enumerator,due_date,source,note\n");
        for (i, (h, _)) in all.iter().enumerate() {
            let who = if i < mine { 0 } else { 1 + i % (enumerators - 1) };
            csv.push_str(&format!("{},petugas{who},2026-12-31,groundcheck,\n", h.id_dtsen.as_deref().unwrap()));
        }
        let sup = s.sign_in("pengawas").await;
        let t = Instant::now();
        let r = sup
            .client
            .post(format!("{}/api/v1/assignments/import", sup.url))
            .bearer_auth(&sup.token)
            .body(csv.clone())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let answer: serde_json::Value = r.json().await.unwrap();
        let import_s = t.elapsed().as_secs_f64();
        assert_eq!(answer["assigned"], all.len());
        assert!(answer["rejected"].as_array().unwrap().is_empty());
        s.settle().await;
        // The phone's first pull comes later (here a day): withdrawals written before a device
        // began pulling from the start (less a minute's margin) do not concern it.
        s.clock.advance(chrono::Duration::days(1));
        let d = s.sign_in("petugas0").await;
        let t = Instant::now();
        let feed = d.pull_all().await;
        let pull_s = t.elapsed().as_secs_f64();
        let held = feed
            .iter()
            .filter(|c| c.kind == verivali_protocol::ChangeKind::Household && !c.deleted)
            .map(|c| c.id.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        assert_eq!(held, mine, "the enumerator receives exactly their own households");
        let rows = all.len() as f64;
        println!("\nverivali-server assignments ({} mode, {backend:?}): {} households in {} desa, {enumerators} enumerators",
            if full { "full" } else { "smoke" }, all.len(), desas.len());
        println!("\n| step | value | rate |\n|---|---|---|");
        println!("| baseline import (setup) | {baseline_s:.1} s | {:.0} households/s |", rows / baseline_s);
        println!("| assignment import, one CSV of {} rows | {import_s:.1} s | {:.0} rows/s |", all.len(), rows / import_s);
        println!("| first pull of a {mine}-household assignment | {pull_s:.2} s | {} changes, {:.0} households/s |", feed.len(), mine as f64 / pull_s);
    });
}

//! Device-store benchmark (DESIGN.md §7): record-a-visit latency with SQLCipher, WAL,
//! `synchronous = FULL` and the outbox on (budget p99 ≤ 5 ms), and the work-list queries over
//! 5,000 households. `cargo bench -p verivali-store` prints the table; `cargo test --benches` runs a
//! small smoke version so the benchmark never rots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;
use verivali_domain::clock::SystemClock;
use verivali_domain::sample::{self, Seq};
use verivali_store::{HouseholdQuery, KdfParams, Store};

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

fn row(what: &str, samples: &mut [Duration], budget: &str) {
    samples.sort();
    println!(
        "| {what} | {} | {} | {} | {} | {} | {budget} |",
        samples.len(),
        ms(pct(samples, 0.5)),
        ms(pct(samples, 0.95)),
        ms(pct(samples, 0.99)),
        ms(*samples.last().unwrap()),
    );
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let r = f();
    (t.elapsed(), r)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (households, visits, reps) = if full {
        (5_000u32, 2_000usize, 30)
    } else {
        (200, 50, 3)
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let clock = Arc::new(SystemClock);
    let params = if full {
        KdfParams::DEVICE
    } else {
        KdfParams::FAST_INSECURE
    };

    let (create, store) =
        time(|| Store::create(&path, "270814", Uuid::now_v7(), params, clock.clone()).unwrap());
    let mut store = store;
    let mut s = Seq::new(42);
    let baseline: Vec<_> = (0..households)
        .map(|i| sample::household(&mut s, "3308012001", i))
        .collect();
    let (load, _) = time(|| store.upsert_households(&baseline).unwrap());

    println!(
        "\nverivali-store benchmark ({} mode): {households} households, {visits} visits",
        if full { "full" } else { "smoke" }
    );
    println!(
        "create (Argon2id {:?}) {} ms; baseline load {} ms\n",
        params,
        ms(create),
        ms(load)
    );
    println!("| operation | n | p50 ms | p95 ms | p99 ms | max ms | budget |");
    println!("|---|---|---|---|---|---|---|");

    let mut open = Vec::new();
    for _ in 0..reps.min(10) {
        drop(store);
        let (d, st) = time(|| Store::open(&path, "270814", clock.clone()).unwrap());
        store = st;
        open.push(d);
    }
    row("open with PIN (Argon2id + SQLCipher)", &mut open, "-");

    let mut draft = Vec::new();
    let mut record = Vec::new();
    let now = chrono::Utc::now();
    for i in 0..visits {
        let (h, m) = &baseline[i % baseline.len()];
        let v = sample::visit(&mut s, h, m, now);
        let mut d = v.clone();
        d.finished_at = None;
        draft.push(time(|| store.save_draft(&d).unwrap()).0);
        record.push(time(|| store.record_visit(&v).unwrap()).0);
    }
    row("save draft (durable)", &mut draft, "-");
    row(
        "record visit + outbox op (durable)",
        &mut record,
        "p99 ≤ 5 ms",
    );

    let mut list = Vec::new();
    let mut search_name = Vec::new();
    let mut search_nik = Vec::new();
    let mut search_kk = Vec::new();
    let mut filter = Vec::new();
    let mut detail = Vec::new();
    for i in 0..reps {
        let (h, m) = &baseline[(i * 97) % baseline.len()];
        let q = |text: &str| HouseholdQuery {
            text: Some(text.into()),
            ..Default::default()
        };
        let (d, groups) = time(|| {
            store
                .list_households(&HouseholdQuery {
                    area: Some("3308012001".into()),
                    ..Default::default()
                })
                .unwrap()
        });
        assert_eq!(
            groups.iter().map(|g| g.households.len()).sum::<usize>(),
            households as usize
        );
        list.push(d);
        search_name.push(time(|| store.list_households(&q(&m[0].name)).unwrap()).0);
        search_nik.push(
            time(|| {
                store
                    .list_households(&q(m[0].nik.as_deref().unwrap()))
                    .unwrap()
            })
            .0,
        );
        search_kk.push(
            time(|| {
                store
                    .list_households(&q(h.no_kk.as_deref().unwrap()))
                    .unwrap()
            })
            .0,
        );
        filter.push(
            time(|| {
                store
                    .list_households(&HouseholdQuery {
                        status: Some(verivali_domain::WorkStatus::Finished),
                        ..Default::default()
                    })
                    .unwrap()
            })
            .0,
        );
        detail.push(time(|| store.household_detail(h.id).unwrap()).0);
    }
    row(
        &format!("list all {households} households grouped by RW/RT"),
        &mut list,
        "-",
    );
    row("search by name", &mut search_name, "-");
    row("search by NIK", &mut search_nik, "-");
    row("search by No. KK", &mut search_kk, "-");
    row("filter by status (finished)", &mut filter, "-");
    row("household detail with visits", &mut detail, "-");
    let mut pending = Vec::new();
    for _ in 0..reps {
        pending.push(time(|| store.pending_ops(500, 1 << 20).unwrap()).0);
    }
    row("read 500 pending ops (≤ 1 MiB)", &mut pending, "-");
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "\ndatabase file: {:.1} MiB",
        size as f64 / (1024.0 * 1024.0)
    );
    first_pull(full, dir.path());
}

/// A fresh device applying its first pull (issue 18: 2,000 households usable in ≤ 0.2 s): the
/// households and members of an assignment in pages of 2,000 changes, as the sync client hands
/// them over, each page with its cursor in one transaction. The network is not in this number.
fn first_pull(full: bool, dir: &std::path::Path) {
    use verivali_store::Pulled;
    let households = if full { 2_000 } else { 100 };
    let mut s = Seq::new(7);
    let mut items = Vec::new();
    for i in 0..households {
        let (h, members) = sample::household(&mut s, "3308012001", i);
        let id = h.id;
        items.push(Pulled::Household(h));
        for m in members {
            items.push(Pulled::Member {
                household_id: id,
                member: m,
            });
        }
    }
    let mut runs = Vec::new();
    for run in 0..3 {
        let path = dir.join(format!("pull-{run}.db"));
        let mut store = Store::create(
            &path,
            "270814",
            Uuid::now_v7(),
            KdfParams::FAST_INSECURE,
            Arc::new(SystemClock),
        )
        .unwrap();
        let t = Instant::now();
        for (n, page) in items.chunks(2_000).enumerate() {
            store
                .apply_pulled(page, &n.to_string(), chrono::Utc::now())
                .unwrap();
        }
        runs.push(t.elapsed());
        let held: usize = store
            .list_households(&HouseholdQuery::default())
            .unwrap()
            .iter()
            .map(|g| g.households.len())
            .sum();
        assert_eq!(held, households as usize);
    }
    runs.sort();
    println!(
        "\nfirst pull applied: {households} households, {} changes in pages of 2,000: median {} ms \
         (runs {}) | budget ≤ 200 ms (with the network)",
        items.len(),
        ms(runs[1]),
        runs.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(" / ")
    );
}

//! Sync benchmark (DESIGN.md §7, issue 4): a fresh device pulling its assignment, pushing 10,000
//! queued visits end to end, an idle sync, bytes re-sent after a cut at 50 %, and 50 visits over a
//! 2G-like link (100 kbit/s, 500 ms round trips). Server in-process on SQLite, device store on
//! SQLCipher, traffic through the counting proxy. `cargo bench -p verivali-e2e`; `cargo test
//! --benches` runs a small smoke version.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;
use verivali_domain::Role;
use verivali_domain::clock::SystemClock;
use verivali_domain::sample::{self, Seq};
use verivali_e2e::proxy::{Faults, Proxy};
use verivali_field::StoreSync;
use verivali_protocol::{DeviceInfo, PushRequest};
use verivali_store::{HouseholdQuery, KdfParams, Store};
use verivali_sync::{Config, HttpTransport, SyncClient};

const DESA: &str = "3308012001";
const PW: &str = "sandi-bench-panjang";

fn record(store: &mut Store, n: usize, seed: u64) {
    let hh: Vec<_> = store
        .list_households(&HouseholdQuery::default())
        .unwrap()
        .into_iter()
        .flat_map(|g| g.households)
        .collect();
    let mut s = Seq::new(seed);
    for i in 0..n {
        let d = store.household_detail(hh[i % hh.len()].id).unwrap();
        let mut v = sample::visit(&mut s, &d.household, &d.members, chrono::Utc::now());
        v.photos.clear();
        v.photo_kinds.clear();
        store.record_visit(&v).unwrap();
    }
}

async fn device(
    url: &str,
    user: &str,
    dir: &std::path::Path,
    name: &str,
) -> (Store, SyncClient<HttpTransport>) {
    let id = Uuid::now_v7();
    let store = Store::create(
        &dir.join(name),
        "270814",
        id,
        KdfParams::FAST_INSECURE,
        Arc::new(SystemClock),
    )
    .unwrap();
    let t = HttpTransport::new(url, Duration::from_secs(120)).unwrap();
    let s = SyncClient::sign_in(
        &t,
        &Config::default(),
        user,
        PW,
        DeviceInfo {
            id,
            name: "bench".into(),
            app_version: "0.1.0".into(),
        },
    )
    .await
    .unwrap();
    (store, SyncClient::new(t, &s.token, Config::default()))
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (households, visits, slow_visits) = if full {
        (2_000u32, 10_000usize, 50usize)
    } else {
        (100, 200, 5)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let db = verivali_server::db::open(&format!("sqlite://{}", dir.path().join("server.db").display())).unwrap();
        let app = Arc::new(verivali_server::App::new(db, Arc::new(SystemClock), dir.path().join("data")).unwrap());
        for u in ["bench1", "bench2", "bench3"] {
            app.add_user(u, u, Role::Enumerator, &[DESA.to_string()], PW).unwrap();
        }
        app.import_households(verivali_server::demo::synthetic_csv(DESA, households, 3).as_bytes(), &|_, _| {}).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(verivali_server::http::serve(app.clone(), listener));
        let proxy = Proxy::start(&addr.to_string()).await;

        println!("\nverivali sync benchmark ({} mode)\n", if full { "full" } else { "smoke" });
        println!("| measure | value | budget |");
        println!("|---|---|---|");

        // Fresh device pulls its assignment.
        let (mut store, client) = device(&proxy.url, "bench1", dir.path(), "d1.db").await;
        let down0 = proxy.bytes().1;
        let t = Instant::now();
        let r = client.sync(&mut StoreSync(&mut store)).await.unwrap();
        let pull = t.elapsed().as_secs_f64();
        println!("| fresh device pulls {households} households ({} changes) | {pull:.2} s, {:.0} changes/s, {} KiB on the wire | ≤ 0.2 s (DESIGN.md §7) |",
            r.changes_pulled, r.changes_pulled as f64 / pull, (proxy.bytes().1 - down0) / 1024);

        // Push the queue.
        record(&mut store, visits, 1);
        if std::env::var_os("VERIVALI_BENCH_MARK").is_some() {
            eprintln!("PUSH-START");
        }
        let up0 = proxy.bytes().0;
        let t = Instant::now();
        let r = client.sync(&mut StoreSync(&mut store)).await.unwrap();
        let push = t.elapsed().as_secs_f64();
        let wire = proxy.bytes().0 - up0;
        assert_eq!(r.ops_acked as usize, visits);
        println!("| push {visits} queued visits, end to end | {push:.2} s ({:.0} visits/s), {} requests | ≤ 2 s |", visits as f64 / push, r.round_trips);
        println!("| bytes on the wire / raw JSON | {} KiB / {} KiB = {:.0} % | ≤ 30 % |", wire / 1024, r.push_json_bytes / 1024, 100.0 * wire as f64 / r.push_json_bytes as f64);

        // Idle.
        let r = client.sync(&mut StoreSync(&mut store)).await.unwrap();
        println!("| idle sync | {} round trip(s), {} bytes sent | 1 round trip |", r.round_trips, r.bytes_sent);

        // A cut at 50 % of a push.
        let (mut s2, c2) = device(&proxy.url, "bench2", dir.path(), "d2.db").await;
        c2.sync(&mut StoreSync(&mut s2)).await.unwrap();
        record(&mut s2, 100, 2);
        let ops = s2.pending_ops(500, usize::MAX).unwrap();
        let ops: Vec<_> = ops.into_iter().map(|o| verivali_protocol::Op { op_id: o.op_id, seq: o.seq, hlc: o.hlc, schema: o.schema, op_type: o.op_type, payload: serde_json::value::RawValue::from_string(o.payload).unwrap(), payload_packed: None }).collect();
        let body = zstd::encode_all(&serde_json::to_vec(&PushRequest { device_id: s2.device_id(), ops }).unwrap()[..], 3).unwrap().len() as u64;
        let up0 = proxy.bytes().0;
        proxy.set(Faults { cut_up_after: Some(body / 2), ..Faults::default() });
        c2.sync(&mut StoreSync(&mut s2)).await.unwrap();
        let sent = proxy.bytes().0 - up0;
        println!("| cut at 50 % of a 100-visit push | {} bytes re-sent of a {body}-byte body ({:.0} %) | nothing acknowledged re-sent |", sent.saturating_sub(body), 100.0 * sent.saturating_sub(body) as f64 / body as f64);

        // 2G profile.
        let (mut s3, c3) = device(&proxy.url, "bench3", dir.path(), "d3.db").await;
        c3.sync(&mut StoreSync(&mut s3)).await.unwrap();
        record(&mut s3, slow_visits, 3);
        proxy.set(Faults { latency: Duration::from_millis(250), bytes_per_sec: 12_500, ..Faults::default() });
        let t = Instant::now();
        let r = c3.sync(&mut StoreSync(&mut s3)).await.unwrap();
        println!("| {slow_visits} visits over 2G (100 kbit/s, 500 ms RTT) | {:.1} s, {} round trips, {} KiB sent | — |", t.elapsed().as_secs_f64(), r.round_trips, r.bytes_sent / 1024);
        proxy.set(Faults::default());
    });
}

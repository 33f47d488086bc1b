//! Device ⇄ server with a real server process and a real encrypted device store.

use sha2::Digest;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;
use verivali_domain::clock::SystemClock;
use verivali_domain::sample::{self, Seq};
use verivali_domain::{Coded, WorkStatus};
use verivali_e2e::*;
use verivali_field::StoreSync;
use verivali_protocol::DeviceInfo;
use verivali_store::{HouseholdQuery, KdfParams, Store};
use verivali_sync::{Config, HttpTransport, Retry, SyncClient};

const DESA: &str = "3308012001";

fn config() -> Config {
    Config {
        retry: Retry {
            attempts: 3,
            base: Duration::from_millis(50),
            max: Duration::from_millis(200),
        },
        ..Config::default()
    }
}

async fn sign_in(url: &str, username: &str, device: Uuid) -> SyncClient<HttpTransport> {
    let t = HttpTransport::new(url, Duration::from_secs(30)).unwrap();
    let s = SyncClient::sign_in(
        &t,
        &config(),
        username,
        PASSWORD,
        DeviceInfo {
            id: device,
            name: "HP uji".into(),
            app_version: "0.1.0".into(),
        },
    )
    .await
    .unwrap();
    SyncClient::new(t, &s.token, config())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_offline_then_sync_survives_a_server_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("petugas", "enumerator", DESA);
    server.add_user("pengawas", "supervisor", "330801");
    server.import(DESA, 30);
    server.start(0);

    // First sign-in online; the baseline arrives.
    let device = Uuid::now_v7();
    let path = dir.path().join("device.db");
    let mut store = Store::create(
        &path,
        "270814",
        device,
        KdfParams::FAST_INSECURE,
        Arc::new(SystemClock),
    )
    .unwrap();
    let client = sign_in(&server.url, "petugas", device).await;
    let first = client.sync(&mut StoreSync(&mut store)).await.unwrap();
    assert!(first.changes_pulled > 30);
    let households: Vec<_> = store
        .list_households(&HouseholdQuery::default())
        .unwrap()
        .into_iter()
        .flat_map(|g| g.households)
        .collect();
    assert_eq!(households.len(), 30);

    // Offline: 6 visits with a photo each, 4 submitted.
    let mut s = Seq::new(5);
    let mut visit_ids = vec![];
    let mut photos = vec![];
    for h in households.iter().take(6) {
        let d = store.household_detail(h.id).unwrap();
        let mut v = sample::visit(&mut s, &d.household, &d.members, chrono::Utc::now());
        let bytes: Vec<u8> = (0..150_000u32)
            .map(|i| (i as u8) ^ (visit_ids.len() as u8))
            .collect();
        v.photos = vec![store.save_photo(&bytes, "image/jpeg").unwrap()];
        v.photo_kinds.clear();
        photos.push((v.photos[0].clone(), bytes));
        store.record_visit(&v).unwrap();
        visit_ids.push(v.visit_id);
    }
    store.submit_batch(&visit_ids[..4]).unwrap();

    // The server dies; sync fails plainly and nothing is lost.
    server.kill();
    let err = client.sync(&mut StoreSync(&mut store)).await.unwrap_err();
    assert_eq!(err.code(), "sync.network");
    assert_eq!(store.outbox_counts().unwrap().pending_ops, 7);

    // Back on the same port: everything arrives once, photos intact.
    let port = server.port();
    server.start(port);
    let r = client.sync(&mut StoreSync(&mut store)).await.unwrap();
    assert_eq!((r.ops_acked, r.ops_rejected, r.photos_uploaded), (7, 0, 6));
    assert_eq!(store.outbox_counts().unwrap().pending_ops, 0);
    for (sha, bytes) in &photos {
        let held = std::fs::read(server.data.join("attachments").join(sha)).unwrap();
        assert_eq!(&held, bytes);
        assert_eq!(hex::encode(sha2::Sha256::digest(&held)), *sha);
    }
    // The device now shows the server's states.
    assert_eq!(
        store.household_detail(households[0].id).unwrap().status,
        WorkStatus::Submitted
    );
    assert_eq!(
        store.household_detail(households[5].id).unwrap().status,
        WorkStatus::Finished
    );

    // The supervisor sees exactly the 6 visits, once each.
    let spv_store_path = dir.path().join("spv.db");
    let spv_device = Uuid::now_v7();
    let mut spv = Store::create(
        &spv_store_path,
        "270814",
        spv_device,
        KdfParams::FAST_INSECURE,
        Arc::new(SystemClock),
    )
    .unwrap();
    let spv_client = sign_in(&server.url, "pengawas", spv_device).await;
    spv_client.sync(&mut StoreSync(&mut spv)).await.unwrap();
    let mut seen = vec![];
    for g in spv.list_households(&HouseholdQuery::default()).unwrap() {
        for h in g.households {
            seen.extend(
                spv.household_detail(h.id)
                    .unwrap()
                    .visits
                    .into_iter()
                    .map(|v| v.visit_id),
            );
        }
    }
    seen.sort();
    let mut expected = visit_ids.clone();
    expected.sort();
    assert_eq!(seen, expected, "every visit on the server exactly once");

    // An idle sync is one round trip, and re-syncing re-sends nothing.
    let idle = client.sync(&mut StoreSync(&mut store)).await.unwrap();
    assert_eq!(
        (idle.round_trips, idle.ops_acked, idle.bytes_sent),
        (1, 0, 0)
    );
}

/// Rejected with a reason through the API, seen on the device, amended, resubmitted, approved;
/// afterwards the device refuses to edit it. (The server's refusal of a record for an approved
/// visit, with its reason, is in the server's conformance suite.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_amend_resubmit_approve_and_lock() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("petugas", "enumerator", DESA);
    server.add_user("pengawas", "supervisor", "330801");
    server.import(DESA, 5);
    server.start(0);
    let device = Uuid::now_v7();
    let mut store = Store::create(
        &dir.path().join("d.db"),
        "270814",
        device,
        KdfParams::FAST_INSECURE,
        Arc::new(SystemClock),
    )
    .unwrap();
    let client = sign_in(&server.url, "petugas", device).await;
    client.sync(&mut StoreSync(&mut store)).await.unwrap();
    let h = store.list_households(&HouseholdQuery::default()).unwrap()[0].households[0].id;
    let d = store.household_detail(h).unwrap();
    let v = sample::visit(
        &mut Seq::new(1),
        &d.household,
        &d.members,
        chrono::Utc::now(),
    );
    let mut v = v;
    v.photos = vec![store.save_photo(b"foto sintetis", "image/jpeg").unwrap()];
    v.photo_kinds.clear();
    store.record_visit(&v).unwrap();
    store.submit_batch(&[v.visit_id]).unwrap();
    client.sync(&mut StoreSync(&mut store)).await.unwrap();

    // The supervisor rejects through the API.
    let http = verivali_e2e::http().build().unwrap();
    let spv: verivali_protocol::SessionResponse = http
        .post(format!("{}/api/v1/session", server.url))
        .json(&serde_json::json!({"username": "pengawas", "password": PASSWORD, "device": {"id": Uuid::now_v7(), "name": "laptop", "app_version": "0.1.0"}}))
        .send().await.unwrap().json().await.unwrap();
    let decide = |body: serde_json::Value| {
        http.post(format!(
            "{}/api/v1/review/visits/{}/decision",
            server.url, v.visit_id
        ))
        .bearer_auth(&spv.token)
        .json(&body)
        .send()
    };
    assert_eq!(
        decide(serde_json::json!({"decision": "reject", "reason": "Jumlah anggota kurang satu"}))
            .await
            .unwrap()
            .status(),
        200
    );

    // The device sees the reason in its inbox; it amends and resubmits.
    client.sync(&mut StoreSync(&mut store)).await.unwrap();
    assert_eq!(
        store.household_detail(h).unwrap().status,
        WorkStatus::Rejected
    );
    let reasons: Vec<String> = store.household_detail(h).unwrap().visits[0]
        .reviews
        .iter()
        .filter_map(|r| r.reason.clone())
        .collect();
    assert_eq!(reasons, vec!["Jumlah anggota kurang satu".to_string()]);
    store.record_visit(&v).unwrap();
    store.submit_batch(&[v.visit_id]).unwrap();
    let r = client.sync(&mut StoreSync(&mut store)).await.unwrap();
    assert_eq!(r.ops_rejected, 0);
    assert_eq!(
        decide(serde_json::json!({"decision": "approve"}))
            .await
            .unwrap()
            .status(),
        200
    );

    // Approved: locked on the device and on the server.
    client.sync(&mut StoreSync(&mut store)).await.unwrap();
    assert_eq!(
        store.household_detail(h).unwrap().status,
        WorkStatus::Approved
    );
    assert_eq!(store.record_visit(&v).unwrap_err().code(), "visit.locked");
    assert_eq!(server.count("SELECT revision FROM visits"), 2);
    assert_eq!(server.count("SELECT count(*) FROM reviews"), 2);
}

/// Answers counted by the server's metrics for a route (`GET /metrics`).
async fn answered(http: &reqwest::Client, url: &str, route: &str) -> u64 {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("verivali_http_request_duration_seconds_count{")
                && l.contains(&format!("route=\"{route}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// DESIGN.md §7: an idle sync is one round trip. The field CLI fetches the region names and the
/// periods only when the pull's stamp of them changed: not on an idle sync, again once an
/// admin opens a period (which the phone then shows), and not after that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_sync_is_one_request_and_a_new_period_still_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("admin", "admin", "3308");
    server.add_user("ani", "enumerator", DESA);
    server.import(DESA, 4);
    server.start(0);
    let url = server.url.clone();
    let http = http().build().unwrap();
    let store = dir.path().join("ani.db");
    let (ok, out, err) = field(
        &store,
        &[
            "sign-in",
            "--server",
            &url,
            "--username",
            "ani",
            "--fast-kdf",
        ],
        &format!("{PASSWORD}\n270814\n"),
    );
    assert!(ok, "{out}{err}");
    let sync = || {
        let (ok, out, err) = field(&store, &["sync"], "");
        assert!(ok, "{out}{err}");
    };
    let counts = || async {
        (
            answered(&http, &url, "/api/v1/sync/pull").await,
            answered(&http, &url, "/api/v1/regions").await,
            answered(&http, &url, "/api/v1/periods").await,
        )
    };
    sync();
    let (pulls, regions, periods) = counts().await;
    assert!(
        regions >= 1 && periods >= 1,
        "fetched once: {regions} {periods}"
    );
    sync();
    assert_eq!(
        counts().await,
        (pulls + 1, regions, periods),
        "an idle sync is its pull alone"
    );

    // The admin opens a period: the next sync fetches both again, and the phone knows it.
    let token = bearer_token(&http, &url, "admin").await;
    let today = verivali_domain::cycle::today(chrono::Utc::now());
    let day = |n: i64| (today + chrono::Duration::days(n)).to_string();
    let r: serde_json::Value = http
        .post(format!("{url}/api/v1/admin/periods"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "2026-12", "opens": day(-3), "cutoff": day(5), "closes": day(9)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = r["id"].as_str().unwrap_or_else(|| panic!("{r}"));
    let r = http
        .post(format!("{url}/api/v1/admin/periods/{id}/open"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    sync();
    assert_eq!(
        counts().await,
        (pulls + 2, regions + 1, periods + 1),
        "fetched again after the change"
    );
    let (ok, out, err) = field(&store, &["status"], "");
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("period 2026-12, cut-off {}", day(5))),
        "{out}"
    );
    sync();
    assert_eq!(counts().await, (pulls + 3, regions + 1, periods + 1));
}

//! Faults between device and server: connections cut mid-request and mid-response, photo uploads
//! cut at 10 %, 50 % and 90 %, device clocks a day behind and ten years ahead, two enumerators at
//! one household. After each: every visit on the server exactly once, photos intact, nothing
//! acknowledged re-sent.

use sha2::Digest;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use uuid::Uuid;
use verivali_domain::clock::{Clock, SkewedClock, SystemClock};
use verivali_domain::hlc::MAX_AHEAD_MS;
use verivali_domain::sample::{self, Seq};
use verivali_e2e::proxy::{Faults, Proxy};
use verivali_e2e::*;
use verivali_field::StoreSync;
use verivali_protocol::DeviceInfo;
use verivali_store::{HouseholdQuery, KdfParams, Store};
use verivali_sync::{
    Config, HttpTransport, Request, Response, Retry, SendError, SyncClient, Transport,
};

const DESA: &str = "3308012001";

fn config() -> Config {
    Config {
        retry: Retry {
            attempts: 4,
            base: Duration::from_millis(20),
            max: Duration::from_millis(100),
        },
        ..Config::default()
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    server: Server,
    proxy: Proxy,
}

async fn rig(users: &[&str]) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    for u in users {
        server.add_user(u, "enumerator", DESA);
    }
    server.import(DESA, 12);
    server.start(0);
    let proxy = Proxy::start(server.url.trim_start_matches("http://")).await;
    Rig {
        _dir: dir,
        server,
        proxy,
    }
}

/// A device signed in through the proxy, with its baseline pulled.
async fn device(
    rig: &Rig,
    username: &str,
    clock: Arc<dyn Clock>,
) -> (Store, SyncClient<HttpTransport>, tempfile::TempDir) {
    let t = HttpTransport::new(&rig.proxy.url, Duration::from_secs(20)).unwrap();
    device_with(username, clock, t, config()).await
}

/// [`device`] over any transport, with its own sync configuration.
async fn device_with<T: Transport>(
    username: &str,
    clock: Arc<dyn Clock>,
    t: T,
    config: Config,
) -> (Store, SyncClient<T>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let id = Uuid::now_v7();
    let mut store = Store::create(
        &dir.path().join("d.db"),
        "270814",
        id,
        KdfParams::FAST_INSECURE,
        clock,
    )
    .unwrap();
    let s = SyncClient::sign_in(
        &t,
        &config,
        username,
        PASSWORD,
        DeviceInfo {
            id,
            name: "HP".into(),
            app_version: "0.1.0".into(),
        },
    )
    .await
    .unwrap();
    store.merge_server_time(s.server_time).unwrap();
    let client = SyncClient::new(t, &s.token, config);
    client.sync(&mut StoreSync(&mut store)).await.unwrap();
    (store, client, dir)
}

fn record(store: &mut Store, seed: u64, n: usize, photo_bytes: usize) -> Vec<Uuid> {
    let households: Vec<_> = store
        .list_households(&HouseholdQuery::default())
        .unwrap()
        .into_iter()
        .flat_map(|g| g.households)
        .collect();
    let mut s = Seq::new(seed);
    (0..n)
        .map(|i| {
            let d = store
                .household_detail(households[i % households.len()].id)
                .unwrap();
            let mut v = sample::visit(&mut s, &d.household, &d.members, chrono::Utc::now());
            if photo_bytes > 0 {
                let bytes: Vec<u8> = (0..photo_bytes).map(|_| s.next_u64() as u8).collect();
                v.photos = vec![store.save_photo(&bytes, "image/jpeg").unwrap()];
                v.photo_kinds.clear();
            } else {
                v.photos.clear();
                v.photo_kinds.clear();
            }
            store.record_visit(&v).unwrap();
            v.visit_id
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cuts_mid_request_and_mid_response_neither_lose_nor_duplicate() {
    let rig = rig(&["petugas"]).await;
    let (mut store, client, _d) = device(&rig, "petugas", Arc::new(SystemClock)).await;

    // Cut in the middle of the push body: nothing applied, the retry applies everything once.
    record(&mut store, 1, 20, 0);
    let (up0, _) = rig.proxy.bytes();
    rig.proxy.set(Faults {
        cut_up_after: Some(3_000),
        ..Faults::default()
    });
    let r = client.sync(&mut StoreSync(&mut store)).await.unwrap();
    assert_eq!(
        rig.proxy.cuts.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the mid-request cut fired"
    );
    assert_eq!(
        (r.ops_acked, store.outbox_counts().unwrap().pending_ops),
        (20, 0)
    );
    assert_eq!(rig.server.count("SELECT count(*) FROM visits"), 20);
    let (up1, _) = rig.proxy.bytes();

    // Cut in the middle of the answer: the server committed, the device never heard; the retry
    // answers duplicate for every op and the device acknowledges them.
    record(&mut store, 2, 20, 0);
    rig.proxy.set(Faults {
        cut_down_after: Some(120),
        ..Faults::default()
    });
    let r = client.sync(&mut StoreSync(&mut store)).await.unwrap();
    assert_eq!(
        rig.proxy.cuts.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the mid-response cut fired"
    );
    assert_eq!(
        (r.ops_acked, store.outbox_counts().unwrap().pending_ops),
        (20, 0)
    );
    assert_eq!(rig.server.count("SELECT count(*) FROM visits"), 40);
    assert_eq!(
        rig.server.count("SELECT count(*) FROM applied_ops"),
        40,
        "each op applied once"
    );
    eprintln!(
        "cut mid-request: {} bytes up for a {}-byte push (re-sent once); cut mid-response: {} retries",
        up1 - up0,
        r.bytes_sent,
        r.round_trips
    );

    // Nothing acknowledged is ever re-sent: a clean sync sends no push at all.
    let idle = client.sync(&mut StoreSync(&mut store)).await.unwrap();
    assert_eq!((idle.round_trips, idle.bytes_sent), (1, 0));
}

/// A transport that counts the pushes on the wire at once and the gaps the server answered,
/// and can hold one push back (the `hold`-th, counted from 1) so the one sent after it arrives
/// first.
struct Watched {
    inner: HttpTransport,
    on_wire: AtomicUsize,
    most_on_wire: AtomicUsize,
    pushes: AtomicUsize,
    gaps: AtomicUsize,
    hold: usize,
}

impl Transport for Watched {
    async fn send(&self, req: Request) -> Result<Response, SendError> {
        let push = req.path == "/api/v1/sync/push";
        if !push {
            return self.inner.send(req).await;
        }
        let n = self.pushes.fetch_add(1, Ordering::SeqCst) + 1;
        let now = self.on_wire.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_on_wire.fetch_max(now, Ordering::SeqCst);
        if n == self.hold {
            // Longer than the server waits, after a gap, for the push ahead to arrive.
            tokio::time::sleep(Duration::from_millis(1_500)).await;
        }
        let r = self.inner.send(req).await;
        self.on_wire.fetch_sub(1, Ordering::SeqCst);
        if r.as_ref().is_ok_and(|r| r.status == 409) {
            self.gaps.fetch_add(1, Ordering::SeqCst);
        }
        r
    }
}

/// A server from before packed payloads, as its device sees it: its push answers never say it
/// takes them (the field is taken out of each), and it counts every push body that would carry
/// one.
struct Older {
    inner: HttpTransport,
    pushes: AtomicUsize,
    packed_bodies: AtomicUsize,
}

impl Transport for Older {
    async fn send(&self, req: Request) -> Result<Response, SendError> {
        if req.path != "/api/v1/sync/push" {
            return self.inner.send(req).await;
        }
        self.pushes.fetch_add(1, Ordering::SeqCst);
        let json = zstd::decode_all(&req.body[..]).unwrap();
        if String::from_utf8_lossy(&json).contains("payload_packed") {
            self.packed_bodies.fetch_add(1, Ordering::SeqCst);
        }
        let mut r = self.inner.send(req).await?;
        if r.status == 200 {
            let mut answer: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(answer["payload_packed"], true, "this server takes them");
            answer.as_object_mut().unwrap().remove("payload_packed");
            r.body = serde_json::to_vec(&answer).unwrap();
        }
        Ok(r)
    }
}

/// A device sends packed payloads only to a server that said it takes them: one from before
/// them is sent text alone, all of which it applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_say_it_takes_packed_payloads_gets_text() {
    let rig = rig(&["petugas"]).await;
    let older = Older {
        inner: HttpTransport::new(&rig.proxy.url, Duration::from_secs(20)).unwrap(),
        pushes: AtomicUsize::new(0),
        packed_bodies: AtomicUsize::new(0),
    };
    let (mut store, client, _d) =
        device_with("petugas", Arc::new(SystemClock), &older, small_pushes()).await;
    record(&mut store, 23, 200, 0);
    let r = client.sync(&mut StoreSync(&mut store)).await.unwrap();
    assert_eq!((r.ops_acked, r.ops_sent_packed), (200, 0));
    assert!(older.pushes.load(Ordering::SeqCst) >= 5, "several pushes");
    assert_eq!(older.packed_bodies.load(Ordering::SeqCst), 0);
    assert_eq!(rig.server.count("SELECT count(*) FROM visits"), 200);
}

/// Small pushes, so a few hundred visits take many and the pipeline fills.
fn small_pushes() -> Config {
    Config {
        max_push_ops: 40,
        push_ops_ceiling: 40,
        ..config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_pushes_apply_in_seq_order_exactly_once_even_overtaken_or_cut() {
    let rig = rig(&["petugas"]).await;
    let watched = Watched {
        inner: HttpTransport::new(&rig.proxy.url, Duration::from_secs(20)).unwrap(),
        on_wire: AtomicUsize::new(0),
        most_on_wire: AtomicUsize::new(0),
        pushes: AtomicUsize::new(0),
        gaps: AtomicUsize::new(0),
        // The first push is alone on the wire (until the link has shown it is fast); the second
        // and third leave together: the second, held back, is overtaken by the third.
        hold: 2,
    };
    let (mut store, client, _d) =
        device_with("petugas", Arc::new(SystemClock), &watched, small_pushes()).await;

    let ids = record(&mut store, 21, 400, 0);
    let r = client.sync(&mut StoreSync(&mut store)).await.unwrap();
    assert_eq!(
        (r.ops_acked, store.outbox_counts().unwrap().pending_ops),
        (400, 0)
    );
    // Packed payloads once the first answer said the server takes them: the first push and the
    // second (prepared while the first was on the wire) went as text, the other eight packed.
    assert_eq!(r.ops_sent_packed, 320);
    assert_eq!(
        watched.most_on_wire.load(Ordering::SeqCst),
        2,
        "two pushes were on the wire at once"
    );
    // Only the push that overtook the held one was refused (and sent again): the server held
    // every other pipelined push until the one ahead of it was done.
    assert_eq!(watched.gaps.load(Ordering::SeqCst), 1);
    assert_eq!(rig.server.count("SELECT count(*) FROM visits"), 400);
    assert_eq!(rig.server.count("SELECT count(*) FROM applied_ops"), 400);
    // Applied in seq order: the op records' seqs are 1..=400 in the order they were applied
    // (rowid), with no op of a later push before one of an earlier push.
    assert_eq!(
        rig.server.count(
            "SELECT count(*) FROM applied_ops a JOIN applied_ops b
             ON a.rowid < b.rowid AND a.seq > b.seq"
        ),
        0,
        "no push was applied before the one ahead of it"
    );
    for id in ids.iter().step_by(37) {
        assert_eq!(
            rig.server
                .count(&format!("SELECT count(*) FROM visits WHERE id = '{id}'")),
            1
        );
    }

    // A cut in the answers while two pushes are on the wire: the server committed what it got,
    // the device re-sends what it did not hear of, each op is applied once.
    record(&mut store, 22, 400, 0);
    rig.proxy.set(Faults {
        cut_down_after: Some(3_000),
        ..Faults::default()
    });
    let cuts = rig.proxy.cuts.load(Ordering::SeqCst);
    let mut acked = 0;
    // A cut answer the retries cannot recover ends the sync; the next one finishes the outbox.
    for _ in 0..3 {
        match client.sync(&mut StoreSync(&mut store)).await {
            Ok(r) => {
                acked += r.ops_acked;
                break;
            }
            Err(e) => eprintln!("sync ended by the cut: {e}"),
        }
    }
    assert_eq!(
        rig.proxy.cuts.load(Ordering::SeqCst),
        cuts + 1,
        "the cut fired"
    );
    assert_eq!(store.outbox_counts().unwrap().pending_ops, 0);
    assert!(acked <= 400);
    assert_eq!(rig.server.count("SELECT count(*) FROM visits"), 800);
    assert_eq!(
        rig.server.count("SELECT count(*) FROM applied_ops"),
        800,
        "each op applied once"
    );
    let idle = client.sync(&mut StoreSync(&mut store)).await.unwrap();
    assert_eq!((idle.round_trips, idle.bytes_sent), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photo_uploads_cut_at_10_50_and_90_percent_arrive_intact() {
    let rig = rig(&["petugas"]).await;
    let (mut store, client, _d) = device(&rig, "petugas", Arc::new(SystemClock)).await;
    // Push the visits first, so the cut falls on the photo upload only.
    let size = 300_000usize;
    for (k, pct) in [10u64, 50, 90].into_iter().enumerate() {
        record(&mut store, 10 + k as u64, 1, size);
        let photos = store.photos_to_upload().unwrap();
        assert_eq!(photos.len(), 1);
        let (sha, _) = photos[0].clone();
        // The push is small; the cut lands inside the photo's bytes.
        let push_bytes = store
            .pending_ops(100, usize::MAX)
            .unwrap()
            .iter()
            .map(|o| o.payload.len() as u64)
            .sum::<u64>();
        let before = rig.proxy.bytes().0;
        let cuts_before = rig.proxy.cuts.load(std::sync::atomic::Ordering::SeqCst);
        rig.proxy.set(Faults {
            cut_up_after: Some(push_bytes + size as u64 * pct / 100),
            ..Faults::default()
        });
        let r = client.sync(&mut StoreSync(&mut store)).await.unwrap();
        assert_eq!(
            rig.proxy.cuts.load(std::sync::atomic::Ordering::SeqCst),
            cuts_before + 1,
            "the cut at {pct} % fired"
        );
        assert_eq!(r.photos_uploaded, 1, "cut at {pct} %");
        let held = std::fs::read(rig.server.data.join("attachments").join(&sha)).unwrap();
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&held)),
            sha,
            "photo intact after a cut at {pct} %"
        );
        let sent = rig.proxy.bytes().0 - before;
        eprintln!("photo cut at {pct} %: {sent} bytes up for a {size}-byte photo");
        // Resumed from the server's offset: at most one 64 KiB chunk, the push and headers again.
        assert!(
            sent <= size as u64 + push_bytes + 64 * 1024 + 16 * 1024,
            "resumed, not restarted: {sent}"
        );
    }
    assert!(store.photos_to_upload().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_clocks_a_day_behind_and_ten_years_ahead() {
    let rig = rig(&["behind", "ahead"]).await;
    for (user, skew) in [
        ("behind", chrono::Duration::days(-1)),
        ("ahead", chrono::Duration::days(3650)),
    ] {
        let (mut store, client, _d) = device(&rig, user, Arc::new(SkewedClock(skew))).await;
        record(&mut store, 3, 3, 0);
        client.sync(&mut StoreSync(&mut store)).await.unwrap();
        assert_eq!(store.outbox_counts().unwrap().pending_ops, 0);
        let now = chrono::Utc::now().timestamp_millis();
        // The HLC of every op the server received is close to the server's time.
        let path = rig.server.db.strip_prefix("sqlite://").unwrap().to_string();
        let conn = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut stmt = conn.prepare("SELECT a.hlc FROM applied_ops a JOIN devices d ON d.id = a.device_id JOIN users u ON u.id = d.user_id WHERE u.username = ?1").unwrap();
        let hlcs: Vec<String> = stmt
            .query_map([user], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(hlcs.len(), 3);
        for h in hlcs {
            let wall: i64 = h.split('-').next().unwrap().parse().unwrap();
            assert!(
                wall <= now + MAX_AHEAD_MS && now - wall < 60_000,
                "{user}: hlc {h} vs server {now}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_enumerators_at_one_household_are_both_kept() {
    let rig = rig(&["satu", "dua"]).await;
    let (mut a, ca, _da) = device(&rig, "satu", Arc::new(SystemClock)).await;
    let (mut b, cb, _db) = device(&rig, "dua", Arc::new(SystemClock)).await;
    let va = record(&mut a, 5, 1, 0);
    let vb = record(&mut b, 6, 1, 0);
    ca.sync(&mut StoreSync(&mut a)).await.unwrap();
    cb.sync(&mut StoreSync(&mut b)).await.unwrap();
    assert_ne!(va, vb);
    assert_eq!(rig.server.count("SELECT count(*) FROM visits"), 2);
    assert_eq!(
        rig.server
            .count("SELECT count(DISTINCT household_id) FROM visits"),
        1,
        "both visits are to one household"
    );
    // Each device sees only its own visit.
    assert_eq!(a.outbox_counts().unwrap().needs_attention, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2g_link_is_slow_but_complete() {
    let rig = rig(&["petugas"]).await;
    let (mut store, client, _d) = device(&rig, "petugas", Arc::new(SystemClock)).await;
    record(&mut store, 7, 4, 12_000);
    // 100 kbit/s each way, 500 ms round trips.
    rig.proxy.set(Faults {
        latency: Duration::from_millis(250),
        bytes_per_sec: 12_500,
        ..Faults::default()
    });
    let t = std::time::Instant::now();
    let r = client.sync(&mut StoreSync(&mut store)).await.unwrap();
    let took = t.elapsed();
    rig.proxy.set(Faults::default());
    assert_eq!((r.ops_acked, r.photos_uploaded), (4, 4));
    assert!(
        took >= Duration::from_secs(4),
        "the profile applied: 48 KB of photos at 12.5 KB/s took {took:?}"
    );
    assert_eq!(rig.server.count("SELECT count(*) FROM visits"), 4);
    assert_eq!(rig.server.count("SELECT count(*) FROM attachments"), 4);
}

/// A transport whose pulls fail once `failing` is set (the pushes go through).
struct PullsFail {
    inner: HttpTransport,
    failing: AtomicBool,
    pulls_tried: AtomicUsize,
}

impl Transport for PullsFail {
    async fn send(&self, req: Request) -> Result<Response, SendError> {
        if req.path.starts_with("/api/v1/sync/pull") && self.failing.load(Ordering::SeqCst) {
            self.pulls_tried.fetch_add(1, Ordering::SeqCst);
            // Not retried, and answered at the first poll: a join that gave up on the first
            // error would never run the acknowledgement beside it.
            return Err(SendError::Certificate("pull refused".into()));
        }
        self.inner.send(req).await
    }
}

/// The first pull page is asked for while the last push's answer is being stored: a pull that
/// fails beside it must not cost that acknowledgement (nothing is re-sent next time), and the
/// next sync pulls normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_answer_is_stored_even_when_the_pull_beside_it_fails() {
    let rig = rig(&["petugas"]).await;
    let t = PullsFail {
        inner: HttpTransport::new(&rig.proxy.url, Duration::from_secs(20)).unwrap(),
        failing: AtomicBool::new(false),
        pulls_tried: AtomicUsize::new(0),
    };
    let (mut store, client, _d) =
        device_with("petugas", Arc::new(SystemClock), &t, small_pushes()).await;
    record(&mut store, 31, 120, 0);
    t.failing.store(true, Ordering::SeqCst);
    let err = client.sync(&mut StoreSync(&mut store)).await.unwrap_err();
    assert_eq!(
        verivali_domain::Coded::code(&err),
        "sync.tls_untrusted",
        "{err}"
    );
    assert!(
        t.pulls_tried.load(Ordering::SeqCst) >= 1,
        "the pull was tried"
    );
    let counts = store.outbox_counts().unwrap();
    assert_eq!(
        (counts.pending_ops, counts.acked_through),
        (0, 120),
        "every answer stored, the last one included"
    );
    assert_eq!(rig.server.count("SELECT count(*) FROM visits"), 120);

    t.failing.store(false, Ordering::SeqCst);
    let again = client.sync(&mut StoreSync(&mut store)).await.unwrap();
    assert_eq!(
        (again.ops_acked, again.round_trips),
        (0, 1),
        "nothing re-sent"
    );
}

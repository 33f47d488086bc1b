//! Real processes killed mid-sync: the device (`verivali-field sync`) 100 times, and the server
//! during pushes. Afterwards every visit is on the server exactly once with its photo intact,
//! and nothing acknowledged is re-sent.

use std::sync::Arc;
use std::time::Duration;
use verivali_domain::clock::SystemClock;
use verivali_e2e::*;
use verivali_store::Store;

const DESA: &str = "3308012001";

fn check_store(path: &std::path::Path, k: usize) {
    let store = Store::open(path, "270814", Arc::new(SystemClock))
        .unwrap_or_else(|e| panic!("kill {k}: store does not open: {e}"));
    assert!(store.integrity_ok().unwrap(), "kill {k}: integrity");
    let acked = store.outbox_counts().unwrap().acked_through;
    for (i, op) in store
        .pending_ops(100_000, usize::MAX)
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(op.seq, acked + 1 + i as u64, "kill {k}: outbox seq gap");
    }
}

#[test]
fn device_killed_100_times_during_sync_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("petugas", "enumerator", DESA);
    server.import(DESA, 40);
    server.start(0);
    let store = dir.path().join("device.db");
    let (ok, out, err) = field(
        &store,
        &[
            "sign-in",
            "--server",
            &server.url,
            "--username",
            "petugas",
            "--fast-kdf",
        ],
        &format!("{PASSWORD}\n270814\n"),
    );
    assert!(ok && out.contains("40 households"), "{out}{err}");

    // Each kill interrupts a sync that has work: 6 visits with photos recorded just before. The
    // delay is drawn across the time such a sync takes here, measured first.
    let record = |seed: u64| {
        let (ok, _, err) = field(
            &store,
            &[
                "record",
                "--count",
                "6",
                "--photo-bytes",
                "40000",
                "--seed",
                &seed.to_string(),
                "--submit",
            ],
            "",
        );
        assert!(ok, "{err}");
    };
    // The shortest of three such syncs: a kill drawn within it lands while the sync runs.
    let mut sync_ms = u64::MAX;
    for seed in 997..1_000 {
        record(seed);
        let t = std::time::Instant::now();
        let (ok, out, err) = field(&store, &["sync"], "");
        assert!(ok, "{out}{err}");
        sync_ms = sync_ms.min(t.elapsed().as_millis() as u64);
    }
    eprintln!("one sync of 6 visits with photos: {sync_ms} ms (shortest of 3)");
    let mut total = 18;
    let mut rng = 0x9e37_79b9_u64;
    let mut landed = 0;
    for k in 0..100u64 {
        record(1_000 + k);
        total += 6;
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut child = spawn_field(&store, &["sync"]);
        std::thread::sleep(Duration::from_millis(rng % sync_ms.max(1)));
        if child.try_wait().unwrap().is_none() {
            landed += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        check_store(&store, k as usize);
    }
    // The killed syncs made progress on their own (not only the final one below).
    let before_final = server.count("SELECT count(*) FROM visits");
    assert!(
        before_final > 18,
        "no killed sync got anything through (18 came from the timing syncs)"
    );
    eprintln!("visits on the server before the final sync: {before_final}");
    // Let the last sync finish.
    let (ok, out, err) = field(&store, &["sync"], "");
    assert!(ok, "{out}{err}");
    let (_, status, _) = field(&store, &["status"], "");
    assert!(status.starts_with("pending ops 0 "), "{status}");
    assert!(
        landed >= 40,
        "too few kills landed while sync ran: {landed}"
    );
    eprintln!("device kills: {landed} of 100 landed while syncing; {total} visits");
    assert_eq!(server.count("SELECT count(*) FROM visits"), total);
    assert_eq!(
        server.count("SELECT count(*) FROM visits WHERE state = 'submitted'"),
        total
    );
    assert_eq!(
        server.count("SELECT count(*) FROM applied_ops"),
        total + total / 6,
        "each visit and batch applied once"
    );
    assert_eq!(server.count("SELECT count(*) FROM attachments"), total);
    // Every photo the server holds matches its hash.
    for entry in std::fs::read_dir(server.data.join("attachments")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            use sha2::Digest;
            assert_eq!(
                hex::encode(sha2::Sha256::digest(&bytes)),
                entry.file_name().to_string_lossy()
            );
        }
    }
}

#[test]
fn server_killed_during_pushes_applies_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("petugas", "enumerator", DESA);
    server.import(DESA, 40);
    server.start(0);
    let port = server.port();
    let store = dir.path().join("device.db");
    let (ok, out, err) = field(
        &store,
        &[
            "sign-in",
            "--server",
            &server.url,
            "--username",
            "petugas",
            "--fast-kdf",
        ],
        &format!("{PASSWORD}\n270814\n"),
    );
    assert!(ok, "{out}{err}");
    let (ok, _, err) = field(&store, &["record", "--count", "600"], "");
    assert!(ok, "{err}");
    for round in 0..5u64 {
        let mut sync = spawn_field(&store, &["sync"]);
        std::thread::sleep(Duration::from_millis(30 + round * 25));
        server.kill();
        let _ = sync.kill();
        sync.wait().unwrap();
        server.start(port);
        check_store(&store, round as usize);
    }
    let (ok, out, err) = field(&store, &["sync"], "");
    assert!(ok, "{out}{err}");
    assert_eq!(server.count("SELECT count(*) FROM visits"), 600);
    assert_eq!(server.count("SELECT count(*) FROM applied_ops"), 600);
    let (_, status, _) = field(&store, &["status"], "");
    assert!(status.starts_with("pending ops 0 "), "{status}");
}

//! Users changed by an admin while real phones (field CLIs on their own encrypted stores) hold
//! work: a password reset leaves the phone syncing, and a new phone must replace the one-time
//! password at its first sign-in; a disabled account's phone keeps its unsent visits and sends
//! them once the account is enabled again.

use verivali_e2e::{PASSWORD, Server, field};

const DESA: &str = "3308012001";

fn run(store: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String) {
    let (ok, out, err) = field(store, args, stdin);
    (ok, format!("{out}{err}"))
}

fn sign_in(url: &str, user: &str) -> [String; 6] {
    ["sign-in", "--server", url, "--username", user, "--fast-kdf"].map(String::from)
}

#[test]
fn phones_keep_their_work_through_a_reset_and_a_disable() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("ani", "enumerator", DESA);
    server.import(DESA, 20);
    server.start(0);
    let phone = dir.path().join("ani.db");
    let args = sign_in(&server.url, "ani");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = run(&phone, &args, &format!("{PASSWORD}\n270814\n"));
    assert!(ok, "{out}");
    let (ok, out) = run(&phone, &["record", "--count", "2", "--submit"], "");
    assert!(ok, "{out}");

    // A reset: the one-time password is printed once; her phone's token still syncs.
    let out = server.admin(
        &["user", "set", "--username", "ani", "--reset-password"],
        "",
    );
    let once = out
        .lines()
        .find_map(|l| l.strip_prefix("one-time password (shown once): "))
        .unwrap()
        .to_string();
    let (ok, out) = run(&phone, &["sync"], "");
    assert!(ok && out.contains(" 3 ops acknowledged"), "{out}");

    // A new phone: the one-time password alone is refused, and nothing is left on disk; with a
    // weak new password too; with a good one she is in and the one-time password is spent.
    let second = dir.path().join("ani-2.db");
    let (ok, out) = run(&second, &args, &format!("{once}\n270814\n"));
    assert!(
        !ok && out.contains("auth.password_change_required"),
        "{out}"
    );
    assert!(!second.exists(), "nothing stored after a refused sign-in");
    let mut with_new = args.clone();
    with_new.push("--new-password");
    let (ok, out) = run(&second, &with_new, &format!("{once}\n270814\npendek\n"));
    assert!(!ok && out.contains("user.weak_password"), "{out}");
    let (ok, out) = run(
        &second,
        &with_new,
        &format!("{once}\n270814\nkopi-tubruk-pagi\n"),
    );
    assert!(ok && out.contains("20 households"), "{out}");
    let third = dir.path().join("ani-3.db");
    let (ok, out) = run(&third, &args, &format!("{once}\n270814\n"));
    assert!(
        !ok && out.contains("auth.invalid_credentials"),
        "spent: {out}"
    );

    // Disabled while the first phone holds a new visit: its sync is refused and the visit stays
    // queued; enabled again, the same phone sends it.
    let (ok, out) = run(
        &phone,
        &["record", "--count", "1", "--offset", "5", "--seed", "3"],
        "",
    );
    assert!(ok, "{out}");
    server.admin(&["user", "set", "--username", "ani", "--disable"], "");
    let (ok, out) = run(&phone, &["sync"], "");
    assert!(!ok && out.contains("auth.account_disabled"), "{out}");
    let (_, out) = run(&phone, &["status"], "");
    assert!(out.starts_with("pending ops 1 (visits 1"), "{out}");
    server.admin(&["user", "set", "--username", "ani", "--enable"], "");
    let (ok, out) = run(&phone, &["sync"], "");
    assert!(ok && out.contains(" 1 ops acknowledged"), "{out}");
    assert_eq!(server.count("SELECT count(*) FROM visits"), 3);
    server.terminate();
}

/// A lost phone, revoked with a wipe while it holds three unsent visits and a photo: at its next
/// sync it sends them all, then erases its store and key; the server records the wipe.
#[test]
fn a_phone_revoked_with_a_wipe_sends_its_work_then_erases_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("ani", "enumerator", DESA);
    server.import(DESA, 10);
    server.start(0);
    let phone = dir.path().join("ani.db");
    let args = sign_in(&server.url, "ani");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = run(&phone, &args, &format!("{PASSWORD}\n270814\n"));
    assert!(ok, "{out}");
    let (ok, out) = run(
        &phone,
        &[
            "record",
            "--count",
            "3",
            "--photo-bytes",
            "5000",
            "--submit",
        ],
        "",
    );
    assert!(ok, "{out}");

    let list = server.admin(&["device", "list"], "");
    let id = list
        .lines()
        .find(|l| l.contains("\tani\t"))
        .and_then(|l| l.split('\t').next())
        .unwrap()
        .to_string();
    let out = server.admin(&["device", "revoke", &id, "--wipe"], "");
    assert!(out.contains("erases itself"), "{out}");
    assert!(
        server
            .admin(&["device", "list"], "")
            .contains("wipe pending")
    );

    let (ok, out) = run(&phone, &["sync"], "");
    assert!(!ok && out.contains("field.wiped"), "{out}");
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ani.db"))
        .collect();
    assert!(left.is_empty(), "store, key and WAL erased: {left:?}");
    assert_eq!(server.count("SELECT count(*) FROM visits"), 3);
    assert_eq!(
        server.count("SELECT count(*) FROM visits WHERE state = 'submitted'"),
        3
    );
    assert_eq!(server.count("SELECT count(*) FROM attachments"), 3);
    assert!(server.admin(&["device", "list"], "").contains("\twiped "));
    server.terminate();
}

/// The in-process server of the server's own tests, with a clock the test moves.
#[allow(dead_code, clippy::all)]
#[path = "../../../crates/server/tests/server/common/mod.rs"]
mod server_harness;

/// A phone offline longer than its session lives (15 days, tokens live 14) comes back with two
/// unsent visits: the sync says the session ended; signing in again on the same store keeps the
/// queue, and the next sync sends it; a wrong password changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_whose_session_expired_signs_in_again_and_keeps_its_queue() {
    use server_harness::{Backend, TestServer};
    use std::sync::Arc;
    use verivali_domain::Role;
    use verivali_domain::clock::SystemClock;
    use verivali_field::Device;
    let s = TestServer::start(Backend::Sqlite).await;
    s.add_user("ani", Role::Enumerator, &[DESA]).await;
    s.add_user("budi", Role::Enumerator, &[DESA]).await;
    let hh = s.import(DESA, 5, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ani.db");
    let mut phone = Device::sign_in_first(
        &path,
        &s.url,
        "ani",
        server_harness::PASSWORD,
        None,
        "270814",
        "HP uji",
        verivali_store::KdfParams::FAST_INSECURE,
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    for (i, (h, m)) in hh.iter().take(2).enumerate() {
        let v = server_harness::visit(h, m, i as u64 + 1);
        phone.finish_visit(&v).unwrap();
    }
    s.clock.advance(chrono::Duration::days(15));
    let e = phone.sync().await.unwrap_err();
    assert_eq!(e.shown_code(), "auth.token_expired");
    assert_eq!(phone.store().outbox_counts().unwrap().pending_ops, 2);

    let e = phone
        .renew_session("salah-sandi-panjang", None, "HP uji")
        .await
        .unwrap_err();
    assert_eq!(e.shown_code(), "auth.invalid_credentials");
    phone
        .renew_session(server_harness::PASSWORD, None, "HP uji")
        .await
        .unwrap();
    let r = phone.sync().await.unwrap();
    assert_eq!((r.ops_acked, r.ops_rejected), (2, 0));
    assert_eq!(s.count("SELECT count(*) FROM visits").await, 2);
    assert_eq!(
        s.count("SELECT count(DISTINCT id) FROM devices").await,
        1,
        "the same device, not a new one"
    );
}

//! Deployment as the README's Deploy section does it, with real processes: a certificate made by
//! `make-cert`, the server on HTTPS, the field CLI syncing over it with the private CA (and
//! refused with a coded error without it), the dashboard cookie and HSTS over HTTPS, a SIGTERM
//! that drains, and an upgraded server that serves while it checks its older visits.

use verivali_e2e::{Backend, PASSWORD, Server, field, make_cert};

const DESA: &str = "3308012001";

fn sign_in(store: &std::path::Path, url: &str, ca: Option<&std::path::Path>) -> (bool, String) {
    let mut args: Vec<String> = vec![];
    if let Some(ca) = ca {
        args.extend(["--ca-cert".to_string(), ca.display().to_string()]);
    }
    args.extend(
        [
            "sign-in",
            "--server",
            url,
            "--username",
            "petugas",
            "--fast-kdf",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = field(store, &args, &format!("{PASSWORD}\n270814\n"));
    (ok, format!("{out}{err}"))
}

#[test]
fn a_device_syncs_over_https_with_the_private_ca_and_is_refused_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_cert(&dir.path().join("certs"));
    let other = make_cert(&dir.path().join("other-ca"));
    let mut server = Server::new(dir.path());
    server.add_user("petugas", "enumerator", DESA);
    server.import(DESA, 12);
    server.start_with(
        0,
        &[
            "--tls-cert",
            certs.cert.to_str().unwrap(),
            "--tls-key",
            certs.key.to_str().unwrap(),
        ],
    );
    assert!(server.url.starts_with("https://"), "{}", server.url);

    // Without the private CA, and with another CA: refused at once, with a code that says it
    // is the certificate, not the network. Nothing is left on disk.
    for (name, ca) in [("no-ca", None), ("wrong-ca", Some(other.ca.as_path()))] {
        let store = dir.path().join(format!("{name}.db"));
        let (ok, out) = sign_in(&store, &server.url, ca);
        assert!(!ok, "{name}: {out}");
        assert!(out.contains("sync.tls_untrusted"), "{name}: {out}");
        assert!(!store.exists(), "{name}: a failed sign-in leaves no store");
    }
    // Plain HTTP to the HTTPS port is no way in either: to the phone it is an address that
    // does not answer, and it says to check the address.
    let plain = server.url.replace("https://", "http://");
    let (ok, out) = sign_in(&dir.path().join("plain.db"), &plain, Some(&certs.ca));
    assert!(!ok && out.contains("field.signin_offline"), "{out}");

    // With the CA: sign in, record, submit, sync.
    let store = dir.path().join("device.db");
    let (ok, out) = sign_in(&store, &server.url, Some(&certs.ca));
    assert!(ok, "{out}");
    let ca = certs.ca.to_str().unwrap();
    let (ok, out, err) = field(
        &store,
        &["--ca-cert", ca, "record", "--count", "3", "--submit"],
        "",
    );
    assert!(ok, "{out}{err}");
    let (ok, out, err) = field(&store, &["--ca-cert", ca, "sync"], "");
    assert!(ok, "{out}{err}");
    assert_eq!(
        server.count("SELECT COUNT(*) FROM visits WHERE state = 'submitted'"),
        3
    );
    // The CA also comes from the environment (the field app reads it so).
    let env_sync = std::process::Command::new(verivali_e2e::workspace_bin("verivali-field"))
        .args(["--store", store.to_str().unwrap(), "sync"])
        .env("VERIVALI_PIN", "270814")
        .env("VERIVALI_CA_CERT", &certs.ca)
        .output()
        .unwrap();
    let (ok, out, err) = (
        env_sync.status.success(),
        String::from_utf8_lossy(&env_sync.stdout),
        String::from_utf8_lossy(&env_sync.stderr),
    );
    assert!(ok, "{out}{err}");

    // SIGTERM: the server stops cleanly.
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn over_https_the_dashboard_cookie_is_host_only_and_secure_with_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let certs = make_cert(&dir.path().join("certs"));
    let mut server = Server::new(dir.path());
    server.add_user("pengawas", "supervisor", DESA);
    server.start_with(
        0,
        &[
            "--tls-cert",
            certs.cert.to_str().unwrap(),
            "--tls-key",
            certs.key.to_str().unwrap(),
        ],
    );
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(verivali_sync::tls::client_config(Some(&certs.ca)).unwrap())
        .build()
        .unwrap();
    let r = client
        .post(format!("{}/api/v1/web/session", server.url))
        .json(&serde_json::json!({"username": "pengawas", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let hsts = r.headers()["strict-transport-security"].to_str().unwrap();
    assert!(hsts.contains("max-age="), "{hsts}");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("__Host-verivali_session="), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let csrf = r.json::<serde_json::Value>().await.unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_string();
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    // The prefixed cookie is the session; an unprefixed one (planted over plain HTTP) is not.
    let me = |cookie: String| {
        let client = client.clone();
        let url = format!("{}/api/v1/web/me", server.url);
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(format!("__Host-verivali_session={token}")).await, 200);
    assert_eq!(me(format!("verivali_session={token}")).await, 401);
    // Signing out needs the CSRF token with the cookie, whatever Authorization says.
    let out = |csrf: Option<String>| {
        let client = client.clone();
        let url = format!("{}/api/v1/web/session", server.url);
        let cookie = format!("__Host-verivali_session={token}");
        async move {
            let mut rb = client
                .delete(url)
                .header("cookie", cookie)
                .header("authorization", "Basic cHJveHk6cHJveHk=");
            if let Some(c) = csrf {
                rb = rb.header("x-csrf-token", c);
            }
            rb.send().await.unwrap().status()
        }
    };
    assert_eq!(out(None).await, 403);
    assert_eq!(out(Some(csrf)).await, 204);
}

/// Signs a device in over HTTP and returns its token.
async fn token(http: &reqwest::Client, url: &str, username: &str) -> String {
    let r = http
        .post(format!("{url}/api/v1/session"))
        .json(
            &serde_json::json!({"username": username, "password": PASSWORD,
            "device": {"id": uuid::Uuid::now_v7(), "name": "uji", "app_version": "0.1.0"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every change an enumerator pulls from the start, without the cursors (whose form differs by
/// backend).
async fn pull_all(http: &reqwest::Client, url: &str, token: &str) -> Vec<serde_json::Value> {
    let (mut cursor, mut all) = (String::new(), vec![]);
    loop {
        let page: serde_json::Value = http
            .get(format!("{url}/api/v1/sync/pull"))
            .query(&[("cursor", cursor.as_str()), ("limit", "50")])
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all.extend(page["changes"].as_array().unwrap().iter().cloned());
        cursor = page["next_cursor"].as_str().unwrap().to_string();
        if !page["has_more"].as_bool().unwrap() {
            return all;
        }
    }
}

async fn get_text(http: &reqwest::Client, url: &str, token: &str) -> String {
    let r = http.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.text().await.unwrap()
}

#[test]
fn a_backup_taken_while_devices_push_restores_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("petugas", "enumerator", DESA);
    server.import(DESA, 60);
    server.start(0);
    let store = dir.path().join("device.db");
    let (ok, out) = sign_in(&store, &server.url, None);
    assert!(ok, "{out}");
    let before = server.count("SELECT count(*) FROM visits");
    // A device records and pushes in rounds while the backup runs.
    let pusher = {
        let store = store.clone();
        std::thread::spawn(move || {
            for round in 0..6 {
                let (offset, seed) = ((round * 8).to_string(), (round + 1).to_string());
                let (ok, out, err) = field(
                    &store,
                    &[
                        "record",
                        "--count",
                        "8",
                        "--photo-bytes",
                        "4000",
                        "--offset",
                        &offset,
                        "--seed",
                        &seed,
                    ],
                    "",
                );
                assert!(ok, "{out}{err}");
                let (ok, out, err) = field(&store, &["sync"], "");
                assert!(ok, "{out}{err}");
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let backup = dir.path().join("cadangan.tar");
    let out = server.admin(&["backup", "--output", backup.to_str().unwrap()], "");
    assert!(out.contains("backup written"), "{out}");
    pusher.join().unwrap();
    let live = server.count("SELECT count(*) FROM visits");
    assert_eq!(live, before + 48);

    // Restored elsewhere: a database that is whole and consistent, photos included.
    let there = tempfile::tempdir().unwrap();
    let mut restored = Server::new(there.path());
    restored.admin(&["restore", "--input", backup.to_str().unwrap()], "");
    assert_eq!(
        restored.count("SELECT count(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'"),
        0
    );
    let visits = restored.count("SELECT count(*) FROM visits");
    assert!(
        (before..=live).contains(&visits),
        "{before} <= {visits} <= {live}"
    );
    // Each stored visit came with its op in one transaction: the snapshot has both or neither.
    assert_eq!(
        restored.count("SELECT count(DISTINCT entity_id) FROM changes WHERE kind = 'visit'"),
        visits
    );
    let photos = restored.count("SELECT count(*) FROM attachments");
    let files = std::fs::read_dir(restored.data.join("attachments"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_file())
        .count() as i64;
    assert!(
        files >= photos,
        "{files} photo files for {photos} complete photos"
    );
    restored.start(0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = verivali_e2e::http().build().unwrap();
    rt.block_on(async {
        let t = token(&http, &restored.url, "petugas").await;
        let changes = pull_all(&http, &restored.url, &t).await;
        assert!(changes.iter().filter(|c| c["kind"] == "household").count() == 60);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_server_migrated_to_postgres_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("petugas", "enumerator", DESA);
    server.add_user("pengawas", "supervisor", DESA);
    server.import(DESA, 15);
    server.start(0);
    let store = dir.path().join("device.db");
    let s = store.clone();
    let url = server.url.clone();
    tokio::task::spawn_blocking(move || {
        let (ok, out) = sign_in(&s, &url, None);
        assert!(ok, "{out}");
        let (ok, out, err) = field(&s, &["record", "--count", "6", "--submit"], "");
        assert!(ok, "{out}{err}");
        let (ok, out, err) = field(&s, &["sync"], "");
        assert!(ok, "{out}{err}");
    })
    .await
    .unwrap();
    let http = verivali_e2e::http().build().unwrap();
    let enumerator = token(&http, &server.url, "petugas").await;
    let supervisor = token(&http, &server.url, "pengawas").await;
    let queue = format!("{}/api/v1/review/visits?state=submitted", server.url);
    let listed: serde_json::Value =
        serde_json::from_str(&get_text(&http, &queue, &supervisor).await).unwrap();
    for v in listed["visits"].as_array().unwrap().iter().take(2) {
        let id = v["found"]["visit_id"].as_str().unwrap();
        let r = http
            .post(format!("{}/api/v1/review/visits/{id}/decision", server.url))
            .bearer_auth(&supervisor)
            .json(&serde_json::json!({"decision": "approve"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    // The device catches up with the decisions before the move.
    let s = store.clone();
    tokio::task::spawn_blocking(move || {
        let (ok, out, err) = field(&s, &["sync"], "");
        assert!(ok, "{out}{err}");
    })
    .await
    .unwrap();
    let capture = |url: String| {
        let (http, e, s) = (http.clone(), enumerator.clone(), supervisor.clone());
        async move {
            (
                pull_all(&http, &url, &e).await,
                get_text(
                    &http,
                    &format!("{url}/api/v1/review/visits?state=submitted"),
                    &s,
                )
                .await,
                get_text(
                    &http,
                    &format!("{url}/api/v1/export/visits.csv?state=approved"),
                    &s,
                )
                .await,
            )
        }
    };
    let before = capture(server.url.clone()).await;
    assert_eq!(
        before.2.lines().count(),
        3,
        "a header and two approved visits"
    );
    let port = server.port();
    server.terminate();

    // An empty PostgreSQL database, then the move.
    // Dropped when the test ends, passed or failed.
    let scratch = verivali_e2e::ScratchDatabase::create("vv_migrate");
    let pg = scratch.url.clone();
    // A NUL that an older server accepted (PostgreSQL refuses NUL) is carried over as U+FFFD
    // and reported, not a failed move.
    {
        let path = server.db.strip_prefix("sqlite://").unwrap();
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute("UPDATE devices SET name = 'hp' || char(0) || 'lama'", [])
            .unwrap();
    }
    let out = server.admin(&["migrate", "--to", &pg], "");
    assert!(out.contains("migrated"), "{out}");
    assert!(out.contains("note: devices row"), "{out}");
    // Migrating again into the now full database is refused.
    let again = std::process::Command::new(verivali_e2e::server_bin())
        .args([
            "--database",
            &server.db,
            "--data-dir",
            server.data.to_str().unwrap(),
            "migrate",
            "--to",
            &pg,
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
    // The approved visits' compact export cells came along (a table without rowid on SQLite):
    // without them the export below would still match, decoding each record instead.
    let p = pg.clone();
    // And the visits' records went in packed (zstd's magic number first), as a push stores them.
    let (cells, packed): (i64, i64) = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&p, postgres::NoTls).unwrap();
        let cells = c
            .query_one(
                "SELECT count(*) FROM visit_exports x JOIN visits v ON v.id = x.visit_id
                  WHERE v.state = 'approved' AND x.revision = v.revision AND x.cells <> ''",
                &[],
            )
            .unwrap()
            .get(0);
        let packed = c
            .query_one(
                "SELECT count(*) FROM visits WHERE substr(record, 1, 4) = '\\x28b52ffd'::bytea",
                &[],
            )
            .unwrap()
            .get(0);
        (cells, packed)
    })
    .await
    .unwrap();
    assert_eq!((cells, packed), (2, 6), "{out}");

    let mut on_pg = Server::new(dir.path());
    on_pg.db = pg.clone();
    on_pg.data = server.data.clone();
    // Same address: the device keeps the URL it signed in with.
    on_pg.start(port);
    let after = capture(on_pg.url.clone()).await;
    assert_eq!(before.0, after.0, "the same pulls");
    assert_eq!(before.1, after.1, "the same review list");
    assert_eq!(before.2, after.2, "the same export");

    // The device goes on with the cursor it got from SQLite: new work syncs, nothing re-pulled.
    let url = on_pg.url.clone();
    tokio::task::spawn_blocking(move || {
        let (ok, out, err) = field(
            &store,
            &["record", "--count", "2", "--offset", "6", "--seed", "2"],
            "",
        );
        assert!(ok, "{out}{err}");
        let (ok, out, err) = field(&store, &["sync"], "");
        assert!(ok, "{out}{err}");
        assert!(out.contains(" 2 ops acknowledged"), "{out}");
        assert!(
            out.contains(" 0 changes pulled"),
            "the SQLite cursor goes on where it was on {url}: {out}"
        );
    })
    .await
    .unwrap();
    on_pg.terminate();
    drop(scratch);
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_and_options_come_from_the_environment() {
    use std::io::{BufRead, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::new(dir.path());
    server.add_user("petugas", "enumerator", DESA);
    // Everything from the environment, nothing on the command line but the subcommand.
    let mut child = std::process::Command::new(verivali_e2e::server_bin())
        .arg("serve")
        .env("VERIVALI_DATABASE", &server.db)
        .env("VERIVALI_SERVER_DATA_DIR", &server.data)
        .env("VERIVALI_LISTEN", "127.0.0.1:0")
        .env("VERIVALI_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    let addr = url.trim_start_matches("http://").to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = verivali_e2e::http().build().unwrap();
    let token = rt.block_on(token(&http, &url, "petugas"));

    // A photo upload that has sent half its body when SIGTERM arrives.
    let photo = vec![7u8; 20_000];
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&photo))
    };
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "PATCH /api/v1/attachments/{sha} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Upload-Offset: 0\r\nUpload-Length: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        photo.len(),
        photo.len()
    )
    .unwrap();
    conn.write_all(&photo[..10_000]).unwrap();
    conn.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    conn.write_all(&photo[10_000..]).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // The log is JSON lines with the request id of each answer.
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let answered: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["fields"]["message"] == "answer")
        .collect();
    assert!(
        answered
            .iter()
            .any(|v| v["fields"]["route"] == "/api/v1/attachments/{sha}"
                && v["fields"]["status"] == 201
                && v["fields"]["request_id"].is_string()),
        "{log}"
    );
    // The photo is stored whole.
    assert_eq!(
        std::fs::read(server.data.join("attachments").join(&sha)).unwrap(),
        photo
    );
}

/// A server upgraded to a version whose quality rules changed checks its older open visits once
/// (`App::check_older_visits_once`): on a province's server, minutes of work. It listens and
/// serves meanwhile. Here the check is held up (another session holds the visits' table locked
/// against writes): the server still starts, the check is seen waiting for the lock, and a
/// second device signs in and pulls its households. Once the lock goes the check ends, notes
/// itself done, and every flag is back. On PostgreSQL, where a province's server runs; the
/// thread that runs the check is the same on SQLite.
#[test]
fn an_upgraded_server_serves_while_it_checks_its_older_visits() {
    const FLAGGED: &str = "SELECT count(*) FROM visits WHERE flags <> '[]'";
    const DONE: &str =
        "SELECT count(*) FROM settings WHERE key = 'quality.checked_two_visits_by_period'";
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::on(dir.path(), Backend::Postgres);
    server.add_user("petugas", "enumerator", DESA);
    server.import(DESA, 10);
    server.start(0);
    let store = dir.path().join("device.db");
    let (ok, out) = sign_in(&store, &server.url, None);
    assert!(ok, "{out}");
    // Twenty visits of ten households in a minute: each flagged (two visits of a household, and
    // more visits in an hour than the threshold's twelve).
    let (ok, out, err) = field(&store, &["record", "--count", "20"], "");
    assert!(ok, "{out}{err}");
    let (ok, out, err) = field(&store, &["sync"], "");
    assert!(ok, "{out}{err}");
    assert_eq!(server.count(FLAGGED), 20);
    const FLAGS: &str =
        "SELECT string_agg(id || ' ' || risk || ' ' || flags, E'\\n' ORDER BY id) FROM visits";
    let flags = server.text(FLAGS);
    assert_eq!(server.terminate().code(), Some(0));

    // As an older version left them: no flags, and the check not yet done.
    let url = server.db.clone();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(
            "UPDATE visits SET flags = '[]', risk = 0;
             DELETE FROM settings WHERE key = 'quality.checked_two_visits_by_period'",
        )
        .unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(server.count(FLAGGED), 0);

    let (locked, release) = (
        std::sync::mpsc::channel::<()>(),
        std::sync::mpsc::channel::<()>(),
    );
    let url = server.db.clone();
    let holder = std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut tx = c.transaction().unwrap();
        tx.batch_execute("LOCK TABLE visits IN EXCLUSIVE MODE")
            .unwrap();
        locked.0.send(()).unwrap();
        // Let go after two minutes whatever happens: a server that checks before it listens
        // (as before this test) then starts with the check done, and the test fails on the
        // flags below instead of hanging.
        let _ = release.1.recv_timeout(std::time::Duration::from_secs(120));
        tx.rollback().unwrap();
    });
    locked.1.recv().unwrap();
    server.start(0);
    // Listening, with the check under way and waiting for the lock (its row locks of the
    // visits it re-checks): not one flag written, not noted done.
    let mut waiting = false;
    for _ in 0..600 {
        if server.count(
            "SELECT count(*) FROM pg_locks WHERE relation = 'visits'::regclass AND NOT granted
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        ) > 0
        {
            waiting = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        waiting,
        "the check of older visits never waited for the lock"
    );
    assert_eq!(server.count(FLAGGED), 0);
    assert_eq!(server.count(DONE), 0);
    // Serving meanwhile: another device signs in and pulls the desa's households.
    let other = dir.path().join("device-2.db");
    let (ok, out) = sign_in(&other, &server.url, None);
    assert!(ok, "{out}");
    assert_eq!(server.count(FLAGGED), 0);

    release.0.send(()).unwrap();
    holder.join().unwrap();
    let mut done = false;
    for _ in 0..600 {
        if server.count(DONE) == 1 {
            done = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        done,
        "the check of older visits did not end once the lock went"
    );
    assert_eq!(server.text(FLAGS), flags);
    assert_eq!(server.terminate().code(), Some(0));
}

//! A real server on a real port over a real database (SQLite file or a fresh PostgreSQL
//! database), with helpers to make synthetic users, baselines and ops.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;
use verivali_domain::clock::ManualClock;
use verivali_domain::hlc::Hlc;
use verivali_domain::sample::{self, Seq};
use verivali_domain::{Household, Member, Role, VisitRecord};
use verivali_protocol::{Op, OpBody, PushRequest, PushResponse, SessionResponse};
use verivali_server::App;

pub const DESA_A: &str = "3308012001";
pub const DESA_A2: &str = "3308012002";
pub const DESA_B: &str = "3308022001";
pub const PASSWORD: &str = "sandi-uji-yang-panjang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// An HTTP client builder for the tests. reqwest is built without a TLS provider of its own
/// (the device brings rustls with ring), so plain clients need ring installed as the default.
pub fn http() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// PostgreSQL admin URL (database `test`, trust auth on this machine).
pub fn pg_admin_url() -> String {
    std::env::var("VERIVALI_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub struct TestServer {
    pub app: Arc<App>,
    pub url: String,
    /// The database URL (for CLI processes against the same data).
    pub db_url: String,
    /// The data folder (attachments).
    pub data_dir: std::path::PathBuf,
    pub clock: Arc<ManualClock>,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
    pg_db: Option<ScratchDb>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        TestServer::start_with(backend, verivali_server::edge::Edge::default()).await
    }

    /// A server behind `edge` (trusted proxies, HTTPS settings).
    pub async fn start_with(backend: Backend, edge: verivali_server::edge::Edge) -> TestServer {
        TestServer::start_inner(backend, edge, &[]).await
    }

    /// A PostgreSQL server whose connections all begin with `settings` (the database's own,
    /// `ALTER DATABASE … SET`, before the server connects). Names and values are the test's own
    /// constants, pasted in unquoted; a superuser's setting (`deadlock_timeout`) needs
    /// `VERIVALI_TEST_PG` to name a superuser, as the machine's `postgres` is.
    pub async fn start_postgres_with(settings: &[(&str, &str)]) -> TestServer {
        let edge = verivali_server::edge::Edge::default();
        TestServer::start_inner(Backend::Postgres, edge, settings).await
    }

    async fn start_inner(
        backend: Backend,
        edge: verivali_server::edge::Edge,
        settings: &[(&str, &str)],
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg_db) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("server.db").display()),
                None,
            ),
            Backend::Postgres => {
                let scratch = ScratchDb::create();
                let sets: Vec<String> = settings
                    .iter()
                    .map(|(k, v)| format!("ALTER DATABASE {} SET {k} = '{v}';", scratch.name))
                    .collect();
                if !sets.is_empty() {
                    let admin = pg_admin_url();
                    tokio::task::spawn_blocking(move || {
                        postgres::Client::connect(&admin, postgres::NoTls)
                            .unwrap()
                            .batch_execute(&sets.concat())
                            .unwrap()
                    })
                    .await
                    .unwrap();
                }
                (scratch.url.clone(), Some(scratch))
            }
        };
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let data = dir.path().to_path_buf();
        let data_dir = data.clone();
        let db_url = url.clone();
        let c2 = clock.clone();
        let app = tokio::task::spawn_blocking(move || {
            let db = verivali_server::db::open(&url).unwrap();
            Arc::new(App::new(db, c2, data).unwrap())
        })
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let a2 = app.clone();
        tokio::spawn(async move {
            let _ = verivali_server::http::serve_with(a2, listener, edge, async {
                let _ = rx.await;
            })
            .await;
        });
        TestServer {
            app,
            url: format!("http://{addr}"),
            db_url,
            data_dir,
            clock,
            client: http().build().unwrap(),
            _dir: dir,
            pg_db,
            shutdown: Some(tx),
        }
    }

    pub async fn add_user(&self, username: &str, role: Role, areas: &[&str]) -> Uuid {
        let app = self.app.clone();
        let (u, a): (String, Vec<String>) = (
            username.into(),
            areas.iter().map(|s| s.to_string()).collect(),
        );
        tokio::task::spawn_blocking(move || app.add_user(&u, &u, role, &a, PASSWORD).unwrap())
            .await
            .unwrap()
    }

    /// Imports `n` synthetic households of `desa`; returns them.
    pub async fn import(&self, desa: &str, n: u32, seed: u64) -> Vec<(Household, Vec<Member>)> {
        let (csv, _) = baseline_csv(desa, n, seed);
        let app = self.app.clone();
        let report = tokio::task::spawn_blocking(move || {
            app.import_households(csv.as_bytes(), &|_, _| {}).unwrap()
        })
        .await
        .unwrap();
        assert!(report.bad_rows.is_empty(), "{:?}", report.bad_rows);
        // Read back the ids the server gave them.
        let app = self.app.clone();
        let desa = desa.to_string();
        tokio::task::spawn_blocking(move || {
            let mut tx = app.db.read().unwrap();
            let rows = tx
                .query(
                    "SELECT id FROM households WHERE kode_desa = $1 ORDER BY id",
                    &[desa.as_str().into()],
                )
                .unwrap();
            rows.iter()
                .map(|r| {
                    let id: Uuid = r.text(0).parse().unwrap();
                    let scope = verivali_server::repo::Scope {
                        user_id: Uuid::nil(),
                        role: Role::Admin,
                        areas: verivali_domain::Areas::new([verivali_domain::RegionCode::parse(
                            "33",
                        )
                        .unwrap()]),
                    };
                    let h = verivali_server::repo::household_scoped(tx.as_mut(), &scope, id)
                        .unwrap()
                        .unwrap();
                    let m = verivali_server::repo::members(tx.as_mut(), id).unwrap();
                    (h, m)
                })
                .collect()
        })
        .await
        .unwrap()
    }

    pub async fn sign_in(&self, username: &str) -> Device {
        let device_id = Uuid::now_v7();
        let r = self
            .client
            .post(format!("{}/api/v1/session", self.url))
            .json(&json!({"username": username, "password": PASSWORD, "device": {"id": device_id, "name": "HP uji", "app_version": "0.1.0"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let s: SessionResponse = r.json().await.unwrap();
        Device {
            id: device_id,
            token: s.token,
            seq: 0,
            url: self.url.clone(),
            client: self.client.clone(),
        }
    }

    /// Runs a statement on the server's database (test set-up only).
    pub async fn sql(&self, sql: &str, params: Vec<verivali_server::db::Value>) {
        let app = self.app.clone();
        let sql = sql.to_string();
        tokio::task::spawn_blocking(move || {
            let mut tx = app.db.write().unwrap();
            tx.execute(&sql, &params).unwrap();
            tx.commit().unwrap();
        })
        .await
        .unwrap();
    }

    /// Waits until every committed change is released to pulls. Only PostgreSQL holds changes
    /// back (while any older transaction in the cluster is still open); SQLite returns at once.
    pub async fn settle(&self) {
        if self.pg_db.is_none() {
            return;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let held = self.count("SELECT count(*) FROM changes WHERE xid >= pg_snapshot_xmin(pg_current_snapshot())").await;
            if held == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "changes held back for 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let app = self.app.clone();
        let sql = sql.to_string();
        tokio::task::spawn_blocking(move || {
            app.db
                .read()
                .unwrap()
                .query_opt(&sql, &[])
                .unwrap()
                .unwrap()
                .i64(0)
        })
        .await
        .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        drop(self.pg_db.take());
    }
}

/// An empty PostgreSQL database of its own for one test (`vv_test_…`), dropped with the value,
/// so a test that fails half way leaves none behind.
pub struct ScratchDb {
    pub name: String,
    pub url: String,
}

impl ScratchDb {
    pub fn create() -> ScratchDb {
        let name = format!("vv_test_{}", Uuid::now_v7().simple());
        let admin = pg_admin_url();
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        let n = name.clone();
        // On a plain thread: the blocking client cannot run inside the test's runtime.
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&admin, postgres::NoTls)
                .expect("PostgreSQL must run on 127.0.0.1:5432");
            c.batch_execute(&format!("CREATE DATABASE {n}")).unwrap();
        })
        .join()
        .unwrap();
        ScratchDb { name, url }
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let (admin, name) = (pg_admin_url(), std::mem::take(&mut self.name));
        // From a plain thread: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            if let Ok(mut c) = postgres::Client::connect(&admin, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        })
        .join();
    }
}

/// A signed-in device.
#[derive(Clone)]
pub struct Device {
    pub id: Uuid,
    pub token: String,
    pub seq: u64,
    pub url: String,
    pub client: reqwest::Client,
}

impl Device {
    pub fn op(&mut self, body: &OpBody) -> Op {
        self.seq += 1;
        Op {
            op_id: Uuid::now_v7(),
            seq: self.seq,
            hlc: Hlc {
                wall_ms: Utc::now().timestamp_millis(),
                counter: self.seq as u32,
                device: self.id,
            },
            schema: 1,
            op_type: body.op_type().into(),
            payload: body.payload().unwrap(),
            payload_packed: None,
        }
    }

    pub async fn push_raw(&self, ops: &[Op]) -> reqwest::Response {
        self.client
            .post(format!("{}/api/v1/sync/push", self.url))
            .bearer_auth(&self.token)
            .json(&PushRequest {
                device_id: self.id,
                ops: ops.to_vec(),
            })
            .send()
            .await
            .unwrap()
    }

    pub async fn push(&self, ops: &[Op]) -> PushResponse {
        let r = self.push_raw(ops).await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    pub async fn pull(&self, cursor: &str, limit: usize) -> verivali_protocol::PullResponse {
        let r = self
            .client
            .get(format!("{}/api/v1/sync/pull", self.url))
            .query(&[("cursor", cursor), ("limit", &limit.to_string())])
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    /// Pulls everything from the start.
    pub async fn pull_all(&self) -> Vec<verivali_protocol::Change> {
        let mut cursor = String::new();
        let mut all = vec![];
        loop {
            let page = self.pull(&cursor, 500).await;
            all.extend(page.changes);
            cursor = page.next_cursor;
            if !page.has_more {
                return all;
            }
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    /// Uploads a photo whole; returns its SHA-256.
    pub async fn upload(&self, bytes: &[u8]) -> String {
        use sha2::Digest;
        let sha = hex::encode(sha2::Sha256::digest(bytes));
        let r = self
            .client
            .patch(format!("{}/api/v1/attachments/{sha}", self.url))
            .bearer_auth(&self.token)
            .header("Upload-Offset", 0)
            .header("Upload-Length", bytes.len())
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        sha
    }

    /// A review decision.
    pub async fn decide(&self, visit: Uuid, body: Value) -> reqwest::Response {
        self.client
            .post(format!(
                "{}/api/v1/review/visits/{visit}/decision",
                self.url
            ))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }
}

/// A valid visit of a household.
pub fn visit(h: &Household, m: &[Member], seed: u64) -> VisitRecord {
    sample::visit(&mut Seq::new(seed), h, m, Utc::now())
}

/// A baseline CSV (synthetic) for `n` households, and the households as generated.
pub fn baseline_csv(desa: &str, n: u32, seed: u64) -> (String, Vec<(Household, Vec<Member>)>) {
    let mut s = Seq::new(seed);
    let households = (0..n).map(|i| sample::household(&mut s, desa, i)).collect();
    (
        verivali_server::demo::synthetic_csv(desa, n, seed),
        households,
    )
}

/// The server binary: Cargo names it for the server crate's tests; another crate that includes
/// this harness finds it beside its own test executable (both in the target's `debug/`).
fn server_exe() -> std::path::PathBuf {
    match option_env!("CARGO_BIN_EXE_verivali-server") {
        Some(p) => p.into(),
        None => {
            let exe = std::env::current_exe().unwrap();
            exe.parent()
                .and_then(|d| d.parent())
                .unwrap()
                .join("verivali-server")
        }
    }
}

/// A `verivali-server` process that is killed when dropped.
pub struct ServerProcess {
    child: std::process::Child,
    /// Its base URL.
    pub url: String,
    /// Lines it printed before "listening on".
    pub banner: Vec<String>,
}

impl ServerProcess {
    /// Starts `verivali-server ARGS` (which must listen on 127.0.0.1:0) and waits for its address.
    pub fn start(args: &[&str]) -> ServerProcess {
        let mut child = std::process::Command::new(server_exe())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut banner = vec![];
        let url = loop {
            let mut line = String::new();
            assert!(
                std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() > 0,
                "server ended early: {banner:?}"
            );
            if line.contains("listening on") {
                break line.trim().rsplit(' ').next().unwrap().to_string();
            }
            banner.push(line);
        };
        ServerProcess { child, url, banner }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn problem(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/problem+json"),
        "status {status}: content type {ct:?}"
    );
    let v: Value = r.json().await.unwrap();
    for k in ["type", "title", "status", "detail", "code"] {
        assert!(v.get(k).is_some(), "problem lacks {k}: {v}");
    }
    assert_eq!(v["status"], status.as_u16());
    (status, v)
}

/// Declares a test that runs against both backends.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                ($body)(Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                ($body)(Backend::Postgres).await;
            }
        }
    };
}

/// A session of the test's PostgreSQL database holding one household's lock (as a push takes
/// it) until [`release`]: the lock-order tests make two writers wait for it, then let go, so
/// the two meet in the order the test chose.
pub async fn hold_household_lock(db_url: &str, household: Uuid) -> postgres::Client {
    let key = verivali_server::repo::household_lock_key(household);
    let url = db_url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute("BEGIN").unwrap();
        c.execute("SELECT pg_advisory_xact_lock(7452020, $1)", &[&key])
            .unwrap();
        c
    })
    .await
    .unwrap()
}

/// Ends the holder's transaction, letting go of what it held.
pub async fn release(mut holder: postgres::Client) {
    tokio::task::spawn_blocking(move || holder.batch_execute("COMMIT").unwrap())
        .await
        .unwrap();
}

/// Whether `n` sessions of the test's database come to wait for an advisory lock, a household's
/// or the quality rules' (polled for about five seconds; other tests' databases are not
/// counted).
pub async fn household_lock_waiters(db_url: &str, n: i64) -> bool {
    let url = db_url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        (0..500).any(|_| {
            let waiting: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                    &[],
                )
                .unwrap()
                .get(0);
            let enough = waiting >= n;
            if !enough {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            enough
        })
    })
    .await
    .unwrap()
}

/// Settings for a server started to lose [`lose_a_deadlock`]: PostgreSQL checks a waiting
/// session for a deadlock once, `deadlock_timeout` after it began to wait, so the stand-in must
/// close the cycle within that time. Four seconds leave a loaded machine room where the default
/// second might not.
pub const DEADLOCK_CHECK_LATER: &[(&str, &str)] = &[("deadlock_timeout", "4s")];

/// Builds a deadlock the server's write loses, on PostgreSQL, on a server started with
/// [`DEADLOCK_CHECK_LATER`]. A stand-in session locks rows (`lock_rows`, a `SELECT … FOR UPDATE`
/// of `id`) with its own deadlock check put off a minute; `write` starts a write that takes
/// `household`'s lock and then waits for one of those rows; the stand-in then asks for the
/// household's lock. Each waits for the other, and the write's check finds the cycle and aborts
/// the write's transaction. The stand-in, holding both, lets go; `write`'s output is returned.
pub async fn lose_a_deadlock<T: Send + 'static>(
    s: &TestServer,
    lock_rows: &'static str,
    id: String,
    household: Uuid,
    write: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let url = s.db_url.clone();
    let holder = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute("BEGIN; SET LOCAL deadlock_timeout = '60s'")
            .unwrap();
        assert_eq!(c.query(lock_rows, &[&id]).unwrap().len(), 1);
        c
    })
    .await
    .unwrap();
    let write = tokio::spawn(write);
    // The write holds the household's lock and waits for the row.
    let url = s.db_url.clone();
    let waiting = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        (0..500).any(|_| {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND wait_event_type = 'Lock'
                       AND query LIKE '%FOR UPDATE%'",
                    &[],
                )
                .unwrap()
                .get(0);
            if n == 0 {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            n > 0
        })
    })
    .await
    .unwrap();
    assert!(waiting, "the write never waited for the stand-in's row");
    let key = verivali_server::repo::household_lock_key(household);
    // Granted once PostgreSQL has aborted the write's transaction, which held it.
    let holder = tokio::task::spawn_blocking(move || {
        let mut c = holder;
        if let Err(e) = c.execute(
            "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(7452020, $1)) AS l",
            &[&key],
        ) {
            panic!("the stand-in, not the server's write, lost the deadlock: {e}");
        }
        c
    })
    .await
    .unwrap();
    release(holder).await;
    write.await.unwrap()
}

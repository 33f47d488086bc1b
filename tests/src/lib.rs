//! Helpers for the end-to-end tests: a real `verivali-server` process administered through its
//! CLI, and real device stores. The server binary is the one `cargo test --workspace` builds
//! next to the test executables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod proxy;
pub mod webdriver;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// An HTTP client builder for the tests: reqwest has no TLS provider of its own (the device
/// brings rustls with ring), so plain clients need ring installed as the default.
pub fn http() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// Password of every test user.
pub const PASSWORD: &str = "sandi-uji-yang-panjang";

/// Signs `username` in through the API as a new device and returns the bearer token.
pub async fn bearer_token(http: &reqwest::Client, url: &str, username: &str) -> String {
    let r: serde_json::Value = http
        .post(format!("{url}/api/v1/session"))
        .json(
            &serde_json::json!({"username": username, "password": PASSWORD,
            "device": {"id": uuid::Uuid::now_v7(), "name": "uji", "app_version": "0.1.0"}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {r}"))
        .to_string()
}

/// Where the UI tests save their screenshots (`screenshots/<suite>/` at the workspace root).
pub fn screenshot_dir(suite: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("screenshots")
        .join(suite)
}

/// A binary of this workspace (`cargo test --workspace` builds them next to the tests).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} missing: run `cargo build --workspace --bins`",
        bin.display()
    );
    bin
}

/// The server binary.
pub fn server_bin() -> PathBuf {
    workspace_bin("verivali-server")
}

/// Starts the field CLI on a store (PIN 270814 from the environment), stdin piped.
pub fn spawn_field(store: &Path, args: &[&str]) -> Child {
    Command::new(workspace_bin("verivali-field"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env("VERIVALI_PIN", "270814")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs the field CLI on a store; returns (success, stdout, stderr).
pub fn field(store: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = spawn_field(store, args);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The files of `verivali-server make-cert`.
pub struct Certs {
    /// CA certificate (PEM), for the devices.
    pub ca: PathBuf,
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server key (PEM).
    pub key: PathBuf,
}

/// A private CA and a certificate for 127.0.0.1 and localhost, made by the server's own
/// `make-cert` under `dir`, as the README's Deploy section does.
pub fn make_cert(dir: &Path) -> Certs {
    let out = Command::new(server_bin())
        .args([
            "make-cert",
            "--host",
            "127.0.0.1",
            "--host",
            "localhost",
            "--out",
        ])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
    }
}

/// The database a [`Server`] keeps its data in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A file in the server's folder.
    Sqlite,
    /// A fresh database on the machine's PostgreSQL (`VERIVALI_TEST_PG`, else
    /// `postgres://postgres@127.0.0.1:5432/test`), dropped with the [`Server`].
    Postgres,
}

/// The PostgreSQL URL the tests administer databases through.
pub fn pg_admin_url() -> String {
    std::env::var("VERIVALI_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// An empty PostgreSQL database of its own for one test, dropped when the value is, so a test
/// that fails half way leaves no database behind on the machine.
pub struct ScratchDatabase {
    /// Its name.
    pub name: String,
    /// `postgres://…/name`.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `{prefix}_{uuid}`.
    pub fn create(prefix: &str) -> ScratchDatabase {
        let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
        let admin = pg_admin_url();
        // On a thread of its own: the blocking client cannot run inside an async runtime.
        let (a, n) = (admin.clone(), name.clone());
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&a, postgres::NoTls).unwrap();
            c.batch_execute(&format!("CREATE DATABASE {n}")).unwrap();
        })
        .join()
        .unwrap();
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        ScratchDatabase { name, url }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        let _ = std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&pg_admin_url(), postgres::NoTls)?;
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        })
        .join();
    }
}

/// A server data folder, administered through the CLI, that can be started and killed.
pub struct Server {
    /// `sqlite://…` or `postgres://…`
    pub db: String,
    /// Data folder (attachments).
    pub data: PathBuf,
    child: Option<Child>,
    /// Base URL while running.
    pub url: String,
    /// The PostgreSQL database this server created, dropped with it.
    pg_database: Option<ScratchDatabase>,
}

impl Server {
    /// A fresh server folder under `dir`.
    pub fn new(dir: &Path) -> Server {
        Server {
            db: format!("sqlite://{}", dir.join("server.db").display()),
            data: dir.join("data"),
            child: None,
            url: String::new(),
            pg_database: None,
        }
    }

    /// A fresh server folder under `dir` on `backend`.
    pub fn on(dir: &Path, backend: Backend) -> Server {
        let mut s = Server::new(dir);
        if backend == Backend::Postgres {
            let scratch = ScratchDatabase::create("vv_e2e");
            s.db = scratch.url.clone();
            s.pg_database = Some(scratch);
        }
        s
    }

    fn cli(&self, args: &[&str], stdin: &str) -> String {
        let mut all = vec![
            "--database",
            &self.db,
            "--data-dir",
            self.data.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        let mut child = Command::new(server_bin())
            .args(&all)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `user add`.
    pub fn add_user(&self, username: &str, role: &str, area: &str) {
        self.cli(
            &[
                "user",
                "add",
                "--username",
                username,
                "--role",
                role,
                "--area",
                area,
                "--password-stdin",
            ],
            PASSWORD,
        );
    }

    /// `import households` of `n` synthetic households of `desa`.
    pub fn import(&self, desa: &str, n: u32) {
        let file = self
            .data
            .parent()
            .unwrap()
            .join(format!("baseline-{desa}.csv"));
        std::fs::write(&file, verivali_server::demo::synthetic_csv(desa, n, 11)).unwrap();
        self.cli(&["import", "households", file.to_str().unwrap()], "");
    }

    /// Starts `serve` on `port` (0: any) and waits until it listens.
    pub fn start(&mut self, port: u16) {
        self.start_with(port, &[]);
    }

    /// Starts `serve` on `port` with more options (`--tls-cert …`) and waits until it listens;
    /// [`Server::url`] is then `http://…` or `https://…`.
    pub fn start_with(&mut self, port: u16, options: &[&str]) {
        let listen = format!("127.0.0.1:{port}");
        let mut child = Command::new(server_bin())
            .args([
                "--database",
                &self.db,
                "--data-dir",
                self.data.to_str().unwrap(),
                "serve",
                "--listen",
                &listen,
            ])
            .args(options)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(
            line.contains("listening on"),
            "server did not start: {line:?}"
        );
        self.url = line.trim().rsplit(' ').next().unwrap().to_string();
        self.child = Some(child);
    }

    /// Any admin command of the server's CLI on this server's data; its standard output.
    pub fn admin(&self, args: &[&str], stdin: &str) -> String {
        self.cli(args, stdin)
    }

    /// SIGTERM, then the exit status once it has drained.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let pid = c.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        c.wait().unwrap()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        // The server first, then its database (`ScratchDatabase` drops it).
        drop(self.pg_database.take());
    }
}

impl Server {
    /// A number from the server's own database (read-only, while it runs), on either backend.
    pub fn count(&self, sql: &str) -> i64 {
        if self.db.starts_with("postgres://") {
            return self.on_postgres(sql, |r| r.get::<_, i64>(0));
        }
        let path = self.db.strip_prefix("sqlite://").unwrap();
        let conn =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// The visits' records from the server's own database (read-only, while it runs), on either
    /// backend. A record a push wrote is packed (`verivali_domain::packed`; a BLOB on SQLite,
    /// `bytea` on PostgreSQL), which SQL cannot read as JSON: it is unpacked here, as the server
    /// reads it.
    pub fn visit_records(&self) -> Vec<serde_json::Value> {
        let texts: Vec<String> = if self.db.starts_with("postgres://") {
            let url = self.db.clone();
            std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                c.query("SELECT record FROM visits ORDER BY id", &[])
                    .unwrap()
                    .iter()
                    .map(|r| {
                        let b: &[u8] = r.get(0);
                        if verivali_domain::packed::is_packed(b) {
                            verivali_domain::packed::unpack(b).unwrap()
                        } else {
                            String::from_utf8(b.to_vec()).unwrap()
                        }
                    })
                    .collect()
            })
            .join()
            .unwrap()
        } else {
            let path = self.db.strip_prefix("sqlite://").unwrap();
            let conn = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap();
            let mut stmt = conn
                .prepare("SELECT record FROM visits ORDER BY id")
                .unwrap();
            let rows = stmt.query_map([], |r| {
                Ok(match r.get_ref(0)? {
                    rusqlite::types::ValueRef::Blob(z) => {
                        verivali_domain::packed::unpack(z).unwrap()
                    }
                    v => v.as_str()?.to_owned(),
                })
            });
            rows.unwrap().map(Result::unwrap).collect()
        };
        texts
            .iter()
            .map(|t| serde_json::from_str(t).unwrap())
            .collect()
    }

    /// One row's value from the server's PostgreSQL database (on a thread of its own: the
    /// blocking client cannot run inside an async runtime).
    fn on_postgres<T: Send + 'static>(&self, sql: &str, get: fn(&postgres::Row) -> T) -> T {
        let (url, sql) = (self.db.clone(), sql.to_string());
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            get(&c.query_one(sql.as_str(), &[]).unwrap())
        })
        .join()
        .unwrap()
    }

    /// A text from the server's own database (read-only, while it runs), on either backend.
    pub fn text(&self, sql: &str) -> String {
        if self.db.starts_with("postgres://") {
            return self.on_postgres(sql, |r| r.get::<_, String>(0));
        }
        let path = self.db.strip_prefix("sqlite://").unwrap();
        let conn =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

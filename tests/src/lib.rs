//! Helpers for the end-to-end tests: a real `verivali-server` process administered through its
//! CLI, and real device stores. The server binary is the one `cargo test --workspace` builds
//! next to the test executables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod proxy;
pub mod webdriver;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Password of every test user.
pub const PASSWORD: &str = "sandi-uji-yang-panjang";

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

/// A server data folder, administered through the CLI, that can be started and killed.
pub struct Server {
    /// `sqlite://…`
    pub db: String,
    /// Data folder (attachments).
    pub data: PathBuf,
    child: Option<Child>,
    /// Base URL while running.
    pub url: String,
}

impl Server {
    /// A fresh server folder under `dir`.
    pub fn new(dir: &Path) -> Server {
        Server {
            db: format!("sqlite://{}", dir.join("server.db").display()),
            data: dir.join("data"),
            child: None,
            url: String::new(),
        }
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
    }
}

impl Server {
    /// A number from the server's own database (read-only, while it runs).
    pub fn count(&self, sql: &str) -> i64 {
        let path = self.db.strip_prefix("sqlite://").unwrap();
        let conn =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

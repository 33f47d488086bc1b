//! Baseline CSV import on both backends, and the admin CLI as real processes.

use crate::common::*;
use std::io::Write;
use std::process::{Command, Stdio};
use verivali_protocol::{ChangeKind, OpBody, OpStatus};

fn bad_lines(csv: &str) -> String {
    // Appends broken rows, one per rule, after the good ones.
    let mut out = csv.to_string();
    let rows = [
        "X1,3308010101200001,3308012001,Dusun A,001,001,3,3308011234,Nama Satu,L,Magelang,1980-01-01,1", // bad NIK
        "X2,3308010101200002,3308012001,Dusun B,001,001,3,,Nama Dua,X,Magelang,1980-01-01,1", // bad sex
        "X3,3308010101200003,3308012001,Dusun C,001,001,3,,Nama Tiga,L,Magelang,1980-13-01,1", // bad date
        "X4,3308010101200004,33080120,Dusun D,001,001,3,,Nama Empat,L,Magelang,1980-01-01,1", // bad desa
        "X5,3308010101200005,3308012001,Dusun E,001,001,3,,Nama Lima,L,Magelang,1980-01-01,3", // no head
        "X6,3308010101200006,3308012001,Dusun F,001,001,3", // columns
        "X7,3308010101200007,3308012001,Dusun G,001,001,11,,Nama Tujuh,L,Magelang,1980-01-01,1", // desil
    ];
    for r in rows {
        out.push_str(r);
        out.push('\n');
    }
    out
}

async fn import_reports_bad_rows_and_reimport_changes_nothing(b: Backend) {
    let s = TestServer::start(b).await;
    let (csv, hh) = baseline_csv(DESA_A, 20, 3);
    let good_rows = csv.lines().count() - 1;
    let csv = bad_lines(&csv);
    let app = s.app.clone();
    let c = csv.clone();
    let report = tokio::task::spawn_blocking(move || {
        app.import_households(c.as_bytes(), &|_, _| {}).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        (report.created, report.updated, report.unchanged),
        (20, 0, 0)
    );
    let lines: Vec<(u64, &str)> = report
        .bad_rows
        .iter()
        .map(|i| (i.line, i.code.as_str()))
        .collect();
    let first_bad = good_rows as u64 + 2;
    assert_eq!(
        lines,
        vec![
            (first_bad, "nik.format"),
            (first_bad + 1, "import.jenis_kelamin"),
            (first_bad + 2, "import.tanggal_lahir"),
            (first_bad + 3, "household.desa_code"),
            (first_bad + 4, "import.no_head"),
            (first_bad + 5, "import.columns"),
            (first_bad + 6, "import.desil"),
        ]
    );
    let changes = s.count("SELECT count(*) FROM changes").await;

    // The same file again: nothing changes, not even the feed.
    let app = s.app.clone();
    let c = csv.clone();
    let again = tokio::task::spawn_blocking(move || {
        app.import_households(c.as_bytes(), &|_, _| {}).unwrap()
    })
    .await
    .unwrap();
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 20));
    assert_eq!(s.count("SELECT count(*) FROM changes").await, changes);
    assert_eq!(s.count("SELECT count(*) FROM household_versions").await, 20);

    // A corrected address and a member who left: one new version, the member's deletion announced.
    let (h0, m0) = &hh[0];
    let mut edited = String::new();
    for line in csv.lines() {
        let mut l = line.replace(&format!("\"{}\"", h0.alamat), "\"Dusun Baru No. 1\"");
        if m0.len() > 1 && line.contains(m0.last().unwrap().nik.as_deref().unwrap()) {
            l.clear();
        }
        if !l.is_empty() {
            edited.push_str(&l);
            edited.push('\n');
        }
    }
    let app = s.app.clone();
    let third = tokio::task::spawn_blocking(move || {
        app.import_households(edited.as_bytes(), &|_, _| {})
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!((third.created, third.updated, third.unchanged), (0, 1, 19));
    assert_eq!(s.count("SELECT max(version) FROM households").await, 2);
    let deleted = s
        .count("SELECT count(*) FROM changes WHERE kind = 'member' AND deleted = 1")
        .await;
    assert_eq!(deleted, i64::from(m0.len() > 1));
    // Header errors refuse the whole file.
    let app = s.app.clone();
    let e = tokio::task::spawn_blocking(move || {
        app.import_households("nik,nama\n1,2\n".as_bytes(), &|_, _| {})
            .unwrap_err()
    })
    .await
    .unwrap();
    assert!(e.to_string().contains("header"), "{e}");
}
both_backends!(
    import_rules,
    import_reports_bad_rows_and_reimport_changes_nothing
);

fn server_bin() -> &'static str {
    env!("CARGO_BIN_EXE_verivali-server")
}

pub(crate) fn run(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(server_bin())
        .args(args)
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
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A newcomer's path: add users, import a baseline, start the server, sign in, pull, push twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_forms_and_a_real_server_process() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("server.db").display());
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    // --database before and after the subcommand.
    let (ok, out, err) = run(
        &[
            "--database",
            &db,
            "--data-dir",
            data,
            "user",
            "add",
            "--username",
            "admin",
            "--role",
            "admin",
            "--area",
            "3308",
            "--password-stdin",
        ],
        "sandi-kepala-dinas\n",
    );
    assert!(ok, "{err}");
    assert!(out.contains("user admin (admin) added"));
    let (ok, _, err) = run(
        &[
            "user",
            "add",
            "--username",
            "petugas",
            "--role",
            "enumerator",
            "--area",
            DESA_A,
            "--password-stdin",
            "--database",
            &db,
            "--data-dir",
            data,
        ],
        PASSWORD,
    );
    assert!(ok, "{err}");
    let (ok, _, err) = run(
        &[
            "--database",
            &db,
            "--data-dir",
            data,
            "user",
            "add",
            "--username",
            "lemah",
            "--role",
            "enumerator",
            "--area",
            DESA_A,
            "--password-stdin",
        ],
        "pendek",
    );
    assert!(!ok && err.contains("user.weak_password"), "{err}");
    let (ok, _, err) = run(
        &[
            "--database",
            &db,
            "--data-dir",
            data,
            "user",
            "add",
            "--username",
            "petugas",
            "--role",
            "enumerator",
            "--area",
            DESA_A,
            "--password-stdin",
        ],
        PASSWORD,
    );
    assert!(!ok && err.contains("taken"), "{err}");
    let (ok, _, err) = run(
        &[
            "--database",
            "mysql://x",
            "user",
            "add",
            "--username",
            "z",
            "--role",
            "admin",
            "--area",
            "33",
            "--password-stdin",
        ],
        PASSWORD,
    );
    assert!(!ok && err.contains("sqlite://"), "{err}");

    let (csv, _) = baseline_csv(DESA_A, 12, 5);
    let file = dir.path().join("baseline.csv");
    std::fs::write(&file, bad_lines(&csv)).unwrap();
    let (ok, out, err) = run(
        &[
            "--database",
            &db,
            "--data-dir",
            data,
            "import",
            "households",
            file.to_str().unwrap(),
        ],
        "",
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("12 households created, 0 updated, 0 unchanged"),
        "{out}"
    );
    assert!(out.contains("7 bad rows"), "{out}");
    assert!(
        err.contains(": nik.format: NIK harus tepat 16 digit"),
        "{err}"
    );
    let (ok, out, _) = run(
        &[
            "--database",
            &db,
            "--data-dir",
            data,
            "import",
            "households",
            file.to_str().unwrap(),
        ],
        "",
    );
    assert!(
        ok && out.contains("0 households created, 0 updated, 12 unchanged"),
        "{out}"
    );

    // serve on a free port, as a real process.
    let server = ServerProcess::start(&[
        "--database",
        &db,
        "--data-dir",
        data,
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    let url = server.url.clone();

    let client = http().build().unwrap();
    let device = uuid::Uuid::now_v7();
    let s: verivali_protocol::SessionResponse = client
        .post(format!("{url}/api/v1/session"))
        .json(&serde_json::json!({"username": "petugas", "password": PASSWORD, "device": {"id": device, "name": "HP", "app_version": "0.1.0"}}))
        .send().await.unwrap().json().await.unwrap();
    let mut d = Device {
        id: device,
        token: s.token,
        seq: 0,
        url: url.clone(),
        client,
    };
    let changes = d.pull_all().await;
    let households: Vec<verivali_domain::Household> = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Household)
        .map(|c| serde_json::from_value(c.value()).unwrap())
        .collect();
    assert_eq!(households.len(), 12);
    let h = &households[0];
    let members: Vec<verivali_domain::Member> = changes
        .iter()
        .filter(|c| {
            c.kind == ChangeKind::Member && c.value()["household_id"] == serde_json::json!(h.id)
        })
        .map(|c| serde_json::from_value(c.value()).unwrap())
        .collect();
    let op = d.op(&OpBody::VisitRecord(Box::new(visit(h, &members, 1))));
    let first = d.push(std::slice::from_ref(&op)).await;
    let second = d.push(std::slice::from_ref(&op)).await;
    assert_eq!(
        (first.results[0].status, second.results[0].status),
        (OpStatus::Applied, OpStatus::Duplicate)
    );
    assert_eq!(second.acked_through, 1);
}

/// The README's run command: `demo` starts a fresh server with a synthetic desa and prints
/// working accounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prints_accounts_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "demo",
        "--households",
        "25",
        "--listen",
        "127.0.0.1:0",
    ]);
    let url = server.url.clone();
    let accounts: std::collections::HashMap<String, String> = server
        .banner
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() >= 3 && w[0].contains(".demo"))
        .map(|w| (w[0].to_string(), w[1].to_string()))
        .collect();
    assert_eq!(accounts.len(), 4, "{:?}", server.banner);
    let password = accounts
        .get("petugas.demo1")
        .expect("enumerator account printed");
    let device = uuid::Uuid::now_v7();
    let r = http().build().unwrap()
        .post(format!("{url}/api/v1/session"))
        .json(&serde_json::json!({"username": "petugas.demo1", "password": password, "device": {"id": device, "name": "HP", "app_version": "0.1.0"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s: verivali_protocol::SessionResponse = r.json().await.unwrap();
    let d = Device {
        id: device,
        token: s.token,
        seq: 0,
        url,
        client: http().build().unwrap(),
    };
    let households = d
        .pull_all()
        .await
        .iter()
        .filter(|c| c.kind == ChangeKind::Household)
        .count();
    assert_eq!(households, 25);
}

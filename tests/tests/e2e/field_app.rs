//! The field app itself (the Tauri 2 binary with its embedded UI) driven through tauri-driver
//! and WebKitWebDriver on an Xvfb display, against a real server process: first sign-in and PIN,
//! a wrong PIN, recording a visit while the server is down, a restart that finds the draft
//! intact, sync, a supervisor's rejection (through the API) seen in the app, amend, resubmit,
//! approval. A screenshot of each main screen is saved under `screenshots/field-app/`.

use serde_json::{Value, json};
use std::time::Duration;
use verivali_e2e::webdriver::{Driver, Session};
use verivali_e2e::{PASSWORD, Server, screenshot_dir, workspace_bin};

const DESA: &str = "3308012001";
const PIN: &str = "270814";

/// A supervisor's calls, through the API.
struct Supervisor {
    url: String,
    token: String,
    http: reqwest::Client,
}

impl Supervisor {
    async fn sign_in(url: &str) -> Supervisor {
        let http = verivali_e2e::http().build().unwrap();
        Supervisor {
            url: url.into(),
            token: verivali_e2e::bearer_token(&http, url, "spv").await,
            http,
        }
    }

    async fn waiting(&self) -> Vec<Value> {
        let r: Value = self
            .http
            .get(format!("{}/api/v1/review/visits", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["visits"].as_array().unwrap().clone()
    }

    async fn decide(&self, visit: &str, body: Value) {
        let r = self
            .http
            .post(format!(
                "{}/api/v1/review/visits/{visit}/decision",
                self.url
            ))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
}

async fn unlock(b: &Session, pin: &str) {
    b.fill("#pin", pin).await;
    b.tap("#unlock-submit").await;
}

/// Opens the first household of the list, then its visit form.
async fn open_first_visit(b: &Session) {
    b.tap("[data-household]").await;
    b.tap("#visit").await;
    b.wait("#visit-form").await;
}

async fn choose(b: &Session, css: &str, value: &str) {
    b.wait(css).await;
    b.execute(
        "const el = document.querySelector(arguments[0]); el.value = arguments[1]; el.dispatchEvent(new Event('change'));",
        json!([css, value]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enumerators_day_in_the_real_app() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("petugas", "enumerator", DESA);
    server.add_user("spv", "supervisor", "330801");
    server.import(DESA, 30);
    server.start(0);
    let port = server.port();
    let data = dir.path().join("app-data");
    let app = workspace_bin("verivali-app");
    let shots = screenshot_dir("field-app");
    let _ = std::fs::remove_dir_all(&shots);
    // Screenshots are best effort here: WebKitGTK on Xvfb sometimes never delivers the frame a
    // screenshot waits for (seen on the PIN screen); the behaviour is asserted regardless.
    let mut missed: Vec<String> = Vec::new();
    macro_rules! shot {
        ($b:expr, $name:expr) => {
            if !$b
                .try_screenshot(&shots.join(format!("{}.png", $name)))
                .await
            {
                missed.push($name.to_string());
            }
        };
    }
    let driver = Driver::tauri(&[
        ("VERIVALI_DATA_DIR", data.to_str().unwrap()),
        ("VERIVALI_SERVER", &server.url),
    ])
    .await;

    // First sign-in, online: the server address is offered, the PIN is chosen.
    let b = driver.app_session(&app).await;
    let server_field = b.wait("#server").await;
    b.wait_text("h1", "Masuk pertama kali").await;
    assert_eq!(
        b.execute("return arguments[0].value", json!([server_field.arg()]))
            .await,
        json!(server.url)
    );
    shot!(b, "01-masuk");
    b.fill("#username", "petugas").await;
    b.fill("#password", PASSWORD).await;
    b.fill("#pin", PIN).await;
    b.fill("#pin2", PIN).await;
    b.tap("#signin-submit").await;
    b.wait("#households[data-count=\"30\"] [data-household]")
        .await;
    b.wait_text("#progress", "0 dari 30").await;
    shot!(b, "02-daftar-tugas");

    // Lock; a wrong PIN is refused with the attempts left; the right one opens.
    b.tap("#nav-lock").await;
    b.wait("#unlock").await;
    unlock(&b, "111111").await;
    b.wait_text("#unlock-error", "sisa 4").await;
    unlock(&b, PIN).await;
    b.wait("[data-household]").await;

    // The server goes away; the visit is recorded offline and autosaved as it is typed.
    server.kill();
    open_first_visit(&b).await;
    let household_name = b.text(&b.wait("h1").await).await;
    b.fill("#alamat", " (rumah cat biru)").await;
    choose(&b, "#outcome", "tidak_ditemukan").await;
    choose(&b, "#outcome-reason", "pindah").await;
    b.wait_text("#save-status", "Draf tersimpan").await;
    shot!(b, "04-kunjungan");

    // Restart the app: after the PIN, the draft is there as typed.
    b.quit().await;
    let b = driver.app_session(&app).await;
    b.wait_text("h1", "Buka dengan PIN").await;
    shot!(b, "03-pin");
    unlock(&b, PIN).await;
    open_first_visit(&b).await;
    let alamat = b.wait("#alamat").await;
    let typed = b
        .execute("return arguments[0].value", json!([alamat.arg()]))
        .await;
    assert!(
        typed.as_str().unwrap().ends_with(" (rumah cat biru)"),
        "draft lost: {typed}"
    );
    let reason = b
        .execute(
            "return document.querySelector('#outcome-reason').value",
            json!([]),
        )
        .await;
    assert_eq!(reason, json!("pindah"));
    // Finishing without GPS or photo asks why first; the supervisor sees the answer.
    b.tap("#finish").await;
    b.wait_text("#evidence-issue", "tulis alasannya").await;
    b.fill("#evidence-note", "Rumah kosong; HP tidak dapat sinyal GPS")
        .await;
    b.tap("#finish").await;
    b.wait("#household").await;

    // Send: the visit is ready; submit it as a batch; syncing fails while the server is down.
    b.tap("#nav-send").await;
    b.wait_count("#ready li", 1).await;
    b.tap("#submit-batch").await;
    b.wait_text("#pending", "1 kunjungan").await;
    b.tap("#sync-now").await;
    let failed = b.wait_text("#sync-result", "").await;
    b.wait_text("#pending", "1 kunjungan").await;
    shot!(b, "05-kirim-offline");

    // The server is back: sync sends both ops.
    server.start(port);
    b.tap("#sync-now").await;
    b.wait_text("#pending", "0 kunjungan").await;
    // The send screen marks the visit received, and lists the sync with what went up.
    b.wait_text("#received", "diterima server dan diajukan ke pengawas")
        .await;
    b.wait_text("#sync-log", "2 catatan").await;
    assert_eq!(
        server.count("SELECT count(*) FROM visits WHERE state = 'submitted'"),
        1,
        "after an offline failure ({failed}) the visit arrived once"
    );

    // The supervisor sends it back with a reason; the app shows it after a sync.
    let spv = Supervisor::sign_in(&server.url).await;
    let waiting = spv.waiting().await;
    assert_eq!(waiting.len(), 1);
    let visit_id = waiting[0]["found"]["visit_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        waiting[0]["found"]["household"]["alamat"]
            .as_str()
            .unwrap()
            .ends_with("(rumah cat biru)")
    );
    assert_eq!(
        waiting[0]["found"]["evidence_note"],
        json!("Rumah kosong; HP tidak dapat sinyal GPS")
    );
    let why = "Alamat tidak jelas, mohon dicek ulang";
    spv.decide(&visit_id, json!({"decision": "reject", "reason": why}))
        .await;
    b.tap("#sync-now").await;
    b.wait_text("#inbox .reason", why).await;
    shot!(b, "06-dikembalikan");

    // Amend: a different reason, finished again, resubmitted, synced.
    b.tap("#inbox .amend").await;
    b.wait("#visit-form").await;
    // The amend form opens with the supervisor's reason at its top.
    b.wait_text("#returned-reason", why).await;
    choose(&b, "#outcome-reason", "alamat_tidak_ada").await;
    b.wait_text("#save-status", "Draf tersimpan").await;
    b.tap("#finish").await;
    b.wait("#household").await;
    b.wait_text("#visits", why).await;
    shot!(b, "07-rumah-tangga");
    b.tap("#nav-send").await;
    b.wait_count("#ready li", 1).await;
    b.tap("#submit-batch").await;
    // The submission is on the phone before the sync is asked for. (A sync that starts before
    // it lands sends it in a second round: the app's own test covers that race.)
    b.wait_count("#ready li", 0).await;
    b.tap("#sync-now").await;
    b.wait_text("#pending", "0 kunjungan").await;

    // Approved by the supervisor: the app shows it approved.
    let waiting = spv.waiting().await;
    assert_eq!(
        waiting[0]["found"]["outcome_reason"],
        json!("alamat_tidak_ada")
    );
    spv.decide(&visit_id, json!({"decision": "approve"})).await;
    b.tap("#sync-now").await;
    b.wait_text("#pending", "0 kunjungan").await;
    b.tap("#nav-list").await;
    b.wait_text("[data-household]", "Disetujui").await;
    let first = b
        .execute(
            "return document.querySelector('[data-household] .name').textContent",
            json!([]),
        )
        .await;
    assert_eq!(
        first.as_str().unwrap(),
        household_name.trim_start_matches("Kunjungan: ")
    );
    b.tap("#lang").await;
    b.wait_text("h1", "Assigned households").await;
    shot!(b, "08-approved-english");
    assert_eq!(
        server.count("SELECT count(*) FROM visits WHERE state = 'approved'"),
        1
    );
    b.quit().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    eprintln!("screenshots: {} (missed: {missed:?})", shots.display());
    assert!(missed.len() <= 2, "too many screenshots missed: {missed:?}");
}

/// The app never waits on the network: while a sync crawls over a 2G-like link (100 kbit/s,
/// 500 ms round trips) with a photo in flight, the enumerator opens the list and a household,
/// types and autosaves a draft and finishes a visit, each answered at once. The test asserts
/// that all of it happened before the sync ended (not a timing); it prints each step's time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_answers_while_a_sync_crawls_over_2g() {
    use verivali_e2e::field;
    use verivali_e2e::proxy::{Faults, Proxy};
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("petugas", "enumerator", DESA);
    server.import(DESA, 30);
    server.start(0);
    let proxy = Proxy::start(server.url.trim_start_matches("http://")).await;
    let data = dir.path().join("app-data");
    std::fs::create_dir_all(&data).unwrap();
    let store = data.join("perangkat.db");
    // Signed in and two visits recorded with a 150 KB photo each, through the CLI on the same
    // store the app opens (the fast link until the sync below).
    let (ok, out, err) = field(
        &store,
        &[
            "sign-in",
            "--server",
            &proxy.url,
            "--username",
            "petugas",
            "--fast-kdf",
        ],
        &format!("{PASSWORD}\n{PIN}\n"),
    );
    assert!(ok, "{out}{err}");
    let (ok, out, err) = field(
        &store,
        &[
            "record",
            "--count",
            "2",
            "--photo-bytes",
            "150000",
            "--submit",
        ],
        "",
    );
    assert!(ok, "{out}{err}");

    let driver = Driver::tauri(&[
        ("VERIVALI_DATA_DIR", data.to_str().unwrap()),
        ("VERIVALI_SERVER", &proxy.url),
    ])
    .await;
    let b = driver.app_session(&workspace_bin("verivali-app")).await;
    unlock(&b, PIN).await;
    b.wait("[data-household]").await;
    proxy.set(Faults {
        latency: Duration::from_millis(250),
        bytes_per_sec: 12_500,
        ..Faults::default()
    });
    b.tap("#nav-send").await;
    b.tap("#sync-now").await;
    b.wait_text("#sync-indicator", "Menyinkronkan").await;

    let mut steps: Vec<(&str, Duration)> = Vec::new();
    macro_rules! step {
        ($name:expr, $body:expr) => {{
            let t = std::time::Instant::now();
            $body;
            steps.push(($name, t.elapsed()));
        }};
    }
    step!("daftar", {
        b.tap("#nav-list").await;
        b.wait(".card.status-not_visited").await;
    });
    step!("rumah tangga", {
        b.tap(".card.status-not_visited").await;
        b.wait("#household").await;
    });
    step!("formulir", {
        b.tap("#visit").await;
        b.wait("#visit-form").await;
    });
    step!("autosave", {
        b.fill("#alamat", " (dekat masjid)").await;
        b.wait_text("#save-status", "Draf tersimpan").await;
    });
    step!("selesai", {
        choose(&b, "#outcome", "tidak_ditemukan").await;
        choose(&b, "#outcome-reason", "pindah").await;
        b.fill("#evidence-note", "Rumah kosong; HP tidak dapat sinyal GPS")
            .await;
        b.tap("#finish").await;
        b.wait("#household").await;
    });
    // The commands' own answer times, measured in the web view (no WebDriver in between):
    // the list, a household and the send screen's state, 50 of each, still during the sync.
    let ms = b
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const call = window.__TAURI_INTERNALS__.invoke;
             (async () => {
               const q = { query: { area: null, text: null, status: null, source: null } };
               const groups = await call('assignments', q);
               const id = groups[0].households[0].id;
               const times = [];
               for (let i = 0; i < 50; i++) {
                 for (const [cmd, args] of [['assignments', q], ['household', { id }], ['sync_state', {}]]) {
                   const t = performance.now();
                   await call(cmd, args);
                   times.push(performance.now() - t);
                 }
               }
               times.sort((a, b) => a - b);
               done([times[Math.floor(times.length / 2)], times[Math.floor(times.length * 0.99)], times[times.length - 1]]);
             })().catch((e) => done(String(e)));",
            json!([]),
        )
        .await;
    eprintln!("150 commands during the sync, median / p99 / max ms: {ms}");
    // All of it happened while the sync still ran: the photos had not all arrived, and the
    // header still says the sync runs.
    let indicator = b
        .execute(
            "return document.querySelector('#sync-indicator').textContent",
            json!([]),
        )
        .await;
    let photos_then = server.count("SELECT count(*) FROM attachments");
    eprintln!("steps during the sync: {steps:?}; photos on the server then: {photos_then} of 2");
    assert_eq!(
        indicator,
        json!("Menyinkronkan…"),
        "the sync had ended: {steps:?}"
    );
    assert!(photos_then < 2, "the sync had ended: {steps:?}");
    let max = steps.iter().map(|(_, d)| *d).max().unwrap();
    eprintln!("slowest step (WebDriver round trips included): {max:?}");

    // The sync ends by itself, with both photos and the two visits submitted.
    proxy.set(Faults::default());
    for _ in 0..600 {
        let v = b
            .execute(
                "return document.querySelector('#sync-indicator').textContent",
                json!([]),
            )
            .await;
        if v == json!("") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.count("SELECT count(*) FROM attachments"), 2);
    assert_eq!(
        server.count("SELECT count(*) FROM visits WHERE state = 'submitted'"),
        2
    );
    b.quit().await;
}

//! The monthly update cycle in a real browser (DESIGN.md §12, issue 17), against a real server
//! process fed by a real field device: an admin opens a period whose cut-off is two days away
//! (every page warns); the operator desa enters proposals (one attached to a household found by
//! name), imports a CSV with a bad row, records the musdes, prints the berita acara (read back
//! with `pdftotext`: names, the masked NIK, never the whole one) and uploads the signed scan; the
//! verifikator dinas returns one approved visit to the supervisor and verifies the rest of the
//! desa in one go; the supervisor finds the returned one at the head of their queue with the
//! reason. Screenshots under `screenshots/dashboard/8x-*.png`.

use serde_json::{Value, json};
use verivali_e2e::webdriver::{Driver, Session};
use verivali_e2e::{Backend, PASSWORD, Server, field, screenshot_dir};

const DESA: &str = "3308012001";
/// A synthetic NIK: born 5 January 1990, a woman.
const NIK: &str = "3308014501900003";

async fn sign_in(b: &Session, url: &str, user: &str, lands_on: &str) {
    b.goto(&format!("{url}/")).await;
    let user_box = b.wait("#username").await;
    b.type_into(&user_box, user).await;
    b.type_into(&b.wait("#password").await, PASSWORD).await;
    b.click(&b.wait("#signin-submit").await).await;
    b.wait(lands_on).await;
}

async fn sign_out(b: &Session) {
    b.click(&b.wait("#signout").await).await;
    b.wait("#username").await;
}

/// Sets a form field the way a person's input would (date inputs take keys by locale).
async fn set(b: &Session, css: &str, value: &str) {
    b.wait(css).await;
    b.execute(
        "const el = document.querySelector(arguments[0]); el.value = arguments[1];
         el.dispatchEvent(new Event('change', { bubbles: true }));",
        json!([css, value]),
    )
    .await;
}

async fn approve_all(url: &str) -> Vec<String> {
    let http = verivali_e2e::http().build().unwrap();
    let token = verivali_e2e::bearer_token(&http, url, "spv").await;
    let list: Value = http
        .get(format!(
            "{url}/api/v1/review/visits?state=submitted&sort=oldest"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ids = vec![];
    for v in list["visits"].as_array().unwrap() {
        let id = v["found"]["visit_id"].as_str().unwrap().to_string();
        let r = http
            .post(format!("{url}/api/v1/review/visits/{id}/decision"))
            .bearer_auth(&token)
            .json(&json!({"decision": "approve"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
        ids.push(id);
    }
    ids
}

/// A call as `user` (a token of its own), answering the status and the JSON body.
async fn call(
    url: &str,
    user: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let http = verivali_e2e::http().build().unwrap();
    let token = verivali_e2e::bearer_token(&http, url, user).await;
    let mut rq = http
        .request(method, format!("{url}{path}"))
        .bearer_auth(&token);
    if let Some(b) = body {
        rq = rq.json(&b);
    }
    let r = rq.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The field CLI on the enumerator's phone; it must succeed.
fn phone(store: &std::path::Path, args: &[&str]) {
    let (ok, out, err) = field(store, args, "");
    assert!(ok, "{args:?}: {out}{err}");
}

fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ba.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils, scripts/setup.sh)");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desa_office_and_a_dinas_run_the_month_in_the_browser() {
    the_month(Backend::Sqlite, "").await;
}

/// The same month on PostgreSQL (real processes: the server, the field CLI, Chromium);
/// screenshots under `screenshots/dashboard/pg-8x-*.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_month_on_postgresql() {
    the_month(Backend::Postgres, "pg-").await;
}

async fn the_month(backend: Backend, prefix: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::on(dir.path(), backend);
    server.add_user("admin", "admin", "3308");
    server.add_user("op", "operator", DESA);
    server.add_user("spv", "supervisor", "330801");
    server.add_user("verif", "verifier", "3308");
    server.add_user("ani", "enumerator", DESA);
    server.import(DESA, 8);
    server.start(0);
    let url = server.url.clone();

    // The enumerator's day: three visits from a real device, approved by the supervisor.
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
    let (ok, _, err) = field(
        &store,
        &[
            "record",
            "--count",
            "3",
            "--seed",
            "4",
            "--photo-bytes",
            "2000",
            "--submit",
        ],
        "",
    );
    assert!(ok, "{err}");
    let (ok, out, err) = field(&store, &["sync"], "");
    assert!(ok, "{out}{err}");
    let approved = approve_all(&url).await;
    assert_eq!(approved.len(), 3);
    // A household nobody visited yet: the death report's.
    let head = server.text(
        "SELECT nama_krt FROM households h WHERE NOT EXISTS
           (SELECT 1 FROM visits v WHERE v.household_id = h.id) ORDER BY id LIMIT 1",
    );

    let shots = screenshot_dir("dashboard");
    let shot = |name: &str| shots.join(format!("{prefix}{name}.png"));
    let driver = Driver::chromium().await;
    let b = driver.session(1280, 900).await;

    // The admin opens the period; its cut-off is two days away, so pages warn.
    sign_in(&b, &url, "admin", "#progress-desa").await;
    b.goto(&format!("{url}/#/periods")).await;
    let today = verivali_domain::cycle::today(chrono::Utc::now());
    let day = |n: i64| (today + chrono::Duration::days(n)).to_string();
    set(&b, "#period-name", "2026-12").await;
    set(&b, "#period-opens", &day(-20)).await;
    set(&b, "#period-cutoff", &day(2)).await;
    set(&b, "#period-closes", &day(8)).await;
    b.click(&b.wait("#period-save").await).await;
    b.click(&b.wait("#period-open-2026-12").await).await;
    b.wait("#periods tr[data-state='open']").await;
    b.wait_text("#cutoff-banner", "2 hari lagi").await;
    b.screenshot(&shot("80-periode")).await;
    // The enumerator's phone learns the period at its next sync (and warns offline from it).
    let (ok, out, err) = field(&store, &["sync"], "");
    assert!(ok, "{out}{err}");
    let (ok, out, err) = field(&store, &["status"], "");
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("period 2026-12, cut-off {}", day(2))),
        "{out}"
    );
    sign_out(&b).await;

    // The operator desa lands on the proposals, warned of the cut-off.
    sign_in(&b, &url, "op", "#proposal-form").await;
    b.wait_text("#cutoff-banner", "2026-12").await;
    assert!(
        b.find_all("#nav-progress").await.is_empty(),
        "a desa office sees its own pages only"
    );
    // A new family: no household to attach.
    b.select("#p-kind", "usulan_baru").await;
    b.select("#p-channel", "cek_bansos").await;
    b.fill("#p-name", "Siti Aminah").await;
    b.fill("#p-nik", NIK).await;
    b.fill("#p-address", "Dusun Krajan RT 02 RW 01").await;
    b.fill("#p-reason", "Suami meninggal, tiga anak sekolah")
        .await;
    b.click(&b.wait("#p-save").await).await;
    b.wait_text("#proposals", "Siti Aminah").await;
    // A death in a registered household, found by its head's name.
    b.select("#p-kind", "laporan_kematian").await;
    b.fill("#p-search", &head).await;
    b.click(&b.wait("#p-find").await).await;
    b.click(&b.wait("#p-hits .pick-household").await).await;
    b.wait_text("#p-chosen", &head).await;
    b.fill("#p-reason", "Kepala keluarga meninggal 1 Desember")
        .await;
    b.screenshot(&shot("81-usulan-cari-rumah-tangga")).await;
    b.click(&b.wait("#p-save").await).await;
    b.wait_text("#proposals", "Laporan kematian").await;
    // A CSV from the RT: one good row, one bad.
    let csv = dir.path().join("usulan.csv");
    std::fs::write(
        &csv,
        format!(
            "kind,channel,household_id,nik,name,address,kode_desa,reporter,reason\n\
             sanggah,rt_rw,,,Wagiman,Dusun Krajan RT 03,{DESA},Ketua RT 03,Tidak pernah menerima bantuan\n\
             sanggah,merpati,,,X,Y,{DESA},,Z\n"
        ),
    )
    .unwrap();
    let file = b.wait("#p-file").await;
    b.type_into(&file, csv.to_str().unwrap()).await;
    b.click(&b.wait("#p-import").await).await;
    b.wait_text("#p-import-created", "1 usulan").await;
    b.wait_text("#p-bad-rows", "merpati").await;
    b.screenshot(&shot("82-usulan-impor")).await;

    // The musdes: two layak, one not.
    b.goto(&format!("{url}/#/musdes")).await;
    b.wait("#musdes-form").await;
    b.fill("#m-place", "Balai Desa").await;
    b.fill("#m-chair", "Bambang Sutrisno").await;
    let names = b.find_all(".m-att-name").await;
    let roles = b.find_all(".m-att-role").await;
    for (i, (n, r)) in [
        ("Bambang Sutrisno", "Kepala Desa"),
        ("Sri Wahyuni", "Ketua RT 02"),
        ("Agus Salim", "Pendamping PKH"),
    ]
    .iter()
    .enumerate()
    {
        b.type_into(&names[i], n).await;
        b.type_into(&roles[i], r).await;
    }
    let verdicts = b.wait_count("select.m-verdict", 3).await;
    let rows: Vec<String> = {
        let mut v = vec![];
        for row in b.find_all("#m-decisions tbody tr").await {
            v.push(b.text(&row).await);
        }
        v
    };
    for (i, row) in rows.iter().enumerate() {
        let verdict = if row.contains("Wagiman") {
            "tidak_layak"
        } else {
            "layak"
        };
        b.click(&verdicts[i]).await;
        b.execute(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'));",
            json!([verdicts[i].arg(), verdict]),
        )
        .await;
    }
    b.screenshot(&shot("83-musdes")).await;
    b.click(&b.wait("#m-save").await).await;
    let listed = b.wait_text("#musdes-list", "Balai Desa").await;
    assert!(listed.contains("2 layak"), "{listed}");
    // The berita acara, fetched as the browser would, read back.
    let pdf = b
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const a = document.querySelector('#musdes-list a.berita-acara');
             fetch(a.href, { credentials: 'same-origin' }).then(async (r) => {
               const bytes = new Uint8Array(await r.arrayBuffer());
               done({ status: r.status, type: r.headers.get('content-type'), bytes: Array.from(bytes) });
             });",
            json!([]),
        )
        .await;
    assert_eq!(pdf["status"], 200);
    assert_eq!(pdf["type"], "application/pdf");
    let bytes: Vec<u8> = pdf["bytes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u8)
        .collect();
    let text = pdftotext(&bytes);
    for want in [
        "BERITA ACARA MUSYAWARAH DESA",
        "Siti Aminah",
        "Wagiman",
        "330801********03",
        "TIDAK LAYAK",
        "Sri Wahyuni",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    assert!(!text.contains(NIK), "the whole NIK is printed");
    // The signed scan comes back from the desa office.
    let scan = dir.path().join("ba-bertanda-tangan.pdf");
    std::fs::write(&scan, &bytes).unwrap();
    b.type_into(&b.wait(".scan-file").await, scan.to_str().unwrap())
        .await;
    b.click(&b.wait(".scan-send").await).await;
    b.wait_text("#musdes-list .scan-kept", "tersimpan").await;
    b.screenshot(&shot("84-berita-acara")).await;
    // The path of each proposal: decided; the tidak layak one stops.
    b.goto(&format!("{url}/#/proposals")).await;
    b.wait("#proposals tr[data-step='decided'] li.stop").await;
    b.wait_count("#proposals tr[data-step='decided']", 3).await;
    b.screenshot(&shot("85-jalan-usulan")).await;
    sign_out(&b).await;

    // The supervisor gives the two layak households to the enumerator, with the source each
    // proposal's kind gives; her phone visits them; the supervisor approves.
    let (_, list) = call(&url, "spv", reqwest::Method::GET, "/api/v1/proposals", None).await;
    let layak: Vec<&Value> = list["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["decision"] == "layak")
        .collect();
    assert_eq!(layak.len(), 2);
    let mut targets = vec![];
    for p in &layak {
        let target = p["target_household_id"].as_str().unwrap().to_string();
        let body = json!({"enumerator": "ani", "household_ids": [target], "source": p["source"]});
        let (status, answer) = call(
            &url,
            "spv",
            reqwest::Method::POST,
            "/api/v1/assignments",
            Some(body),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        targets.push(target);
    }
    let mut args = vec!["record", "--seed", "8", "--photo-bytes", "2000", "--submit"];
    for t in &targets {
        args.extend(["--household", t.as_str()]);
    }
    phone(&store, &["sync"]);
    phone(&store, &args);
    phone(&store, &["sync"]);
    assert_eq!(approve_all(&url).await.len(), 2);

    // The verifikator: the desa's approved visits as a bar; one goes back to the supervisor.
    sign_in(&b, &url, "verif", "#verify-desa").await;
    b.wait_text("#verify-desa", "5").await;
    b.wait("#verify-desa svg rect").await;
    b.screenshot(&shot("86-verifikasi")).await;
    b.click(&b.find_all("#verify-visits .visit-link").await.remove(0))
        .await;
    b.wait("#verify").await;
    b.type_into(&b.wait("#reason").await, "Foto dokumen tidak terbaca")
        .await;
    b.click(&b.wait("#return").await).await;
    b.wait_text("#toast", "Dikembalikan dinas").await;
    b.goto(&format!("{url}/#/verify")).await;
    b.wait_text("#verify-desa", "4").await;
    b.click(&b.wait(".verify-desa").await).await;
    b.wait("#verify-empty").await;
    b.screenshot(&shot("87-verifikasi-selesai")).await;
    assert_eq!(
        server.count("SELECT count(*) FROM visits WHERE state = 'verified'"),
        4
    );
    // The period's documents: the kabupaten's summary, fetched as the browser would.
    b.goto(&format!("{url}/#/periods")).await;
    b.wait("#periods a.period-summary").await;
    let summary = b
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const a = document.querySelector('#periods a.period-summary');
             fetch(a.href, { credentials: 'same-origin' }).then(async (r) => {
               const bytes = new Uint8Array(await r.arrayBuffer());
               done({ status: r.status, bytes: Array.from(bytes) });
             });",
            json!([]),
        )
        .await;
    assert_eq!(summary["status"], 200);
    let bytes: Vec<u8> = summary["bytes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u8)
        .collect();
    let text = pdftotext(&bytes);
    assert!(
        text.contains("REKAPITULASI PEMUTAKHIRAN DTSEN") && text.contains("Periode 2026-12"),
        "{text}"
    );
    b.screenshot(&shot("87b-dokumen-periode")).await;
    sign_out(&b).await;

    // The supervisor finds the returned visit waiting, with the verifikator's reason.
    sign_in(&b, &url, "spv", "#progress-desa").await;
    b.goto(&format!("{url}/#/queue")).await;
    b.wait_text("#queue tbody", "Dikembalikan dinas").await;
    b.click(&b.wait("#queue .visit-link").await).await;
    b.wait_text("#returned-reason", "Foto dokumen tidak terbaca")
        .await;
    b.wait("#approve").await;
    b.screenshot(&shot("88-dikembalikan-ke-pengawas")).await;
    // Sent on to the enumerator, who fixes it on her phone; approved, then verified.
    let returned = server.text("SELECT id FROM visits WHERE state = 'returned'");
    let household = server.text(&format!(
        "SELECT household_id FROM visits WHERE id = '{returned}'"
    ));
    let dtsen = server.text(&format!(
        "SELECT coalesce(id_dtsen, id) FROM households WHERE id = '{household}'"
    ));
    b.type_into(
        &b.wait("#reason").await,
        "Foto dokumen diulang, mohon difoto jelas",
    )
    .await;
    b.click(&b.wait("#reject").await).await;
    b.wait_text("#toast", "Dikembalikan").await;
    phone(&store, &["sync"]);
    phone(
        &store,
        &[
            "record",
            "--household",
            &dtsen,
            "--seed",
            "9",
            "--photo-bytes",
            "2500",
            "--submit",
        ],
    );
    phone(&store, &["sync"]);
    assert_eq!(
        approve_all(&url).await,
        std::slice::from_ref(&returned),
        "the fixed revision, same visit"
    );
    let body = json!({"area": DESA, "period": "2026-12"});
    let (status, answer) = call(
        &url,
        "verif",
        reqwest::Method::POST,
        "/api/v1/review/verify",
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        server.count("SELECT count(*) FROM visits WHERE state = 'verified'"),
        5
    );
    // Both layak proposals went the whole way; the admin closes the period.
    let (_, list) = call(&url, "spv", reqwest::Method::GET, "/api/v1/proposals", None).await;
    let steps: Vec<&str> = list["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["decision"] == "layak")
        .map(|p| p["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["verified", "verified"]);
    let (_, periods) = call(&url, "admin", reqwest::Method::GET, "/api/v1/periods", None).await;
    let pid = periods["open"]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/admin/periods/{pid}/close");
    let (status, answer) = call(&url, "admin", reqwest::Method::POST, &path, None).await;
    assert_eq!(status, 200, "{answer}");
    // The driver's sessions share one browser profile: leave it signed out.
    sign_out(&b).await;
    b.quit().await;

    // On a phone: the desa office's list and the verifikator's desk.
    let phone = driver.phone_session(390, 844).await;
    sign_in(&phone, &url, "op", "#proposal-form").await;
    phone.goto(&format!("{url}/#/proposals")).await;
    phone.wait("#proposals").await;
    phone
        .execute(
            "document.getElementById('proposals').scrollIntoView()",
            json!([]),
        )
        .await;
    phone.screenshot(&shot("89-usulan-hp")).await;
    phone.goto(&format!("{url}/#/musdes")).await;
    phone.wait("#musdes-list").await;
    phone.screenshot(&shot("90-musdes-hp")).await;
    phone.quit().await;
}

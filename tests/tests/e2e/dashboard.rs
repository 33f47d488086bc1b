//! The supervisor dashboard in a real browser: Debian's Chromium, headless, through
//! chromedriver, against a real server process fed by real field devices (the field CLI). A
//! supervisor signs in, filters the queue, opens a visit, rejects it with a reason, approves the
//! next from the keyboard, bulk-approves a batch and exports; an admin reads the audit log; the
//! language switches to English. A screenshot of each page is saved under
//! `screenshots/dashboard/`.

use serde_json::json;
use verivali_e2e::webdriver::Driver;
use verivali_e2e::{PASSWORD, Server, field, screenshot_dir};

const DESA: &str = "3308012001";

fn device(server: &Server, dir: &std::path::Path, user: &str) -> std::path::PathBuf {
    let store = dir.join(format!("{user}.db"));
    let (ok, out, err) = field(
        &store,
        &[
            "sign-in",
            "--server",
            &server.url,
            "--username",
            user,
            "--fast-kdf",
        ],
        &format!("{PASSWORD}\n270814\n"),
    );
    assert!(ok, "{out}{err}");
    store
}

/// Signs in on the dashboard, unless the browser profile (which a driver's sessions share)
/// still holds a signed-in cookie; ends on the progress page.
async fn sign_in(b: &verivali_e2e::webdriver::Session, url: &str, user: &str) {
    b.goto(&format!("{url}/")).await;
    b.wait("#username, #progress-desa").await;
    if !b.find_all("#username").await.is_empty() {
        b.type_into(&b.wait("#username").await, user).await;
        b.type_into(&b.wait("#password").await, PASSWORD).await;
        b.click(&b.wait("#signin-submit").await).await;
    }
    b.wait("#progress-desa").await;
}

fn record_and_sync(store: &std::path::Path, count: u32, offset: u32, seed: u64) {
    let (ok, _, err) = field(
        store,
        &[
            "record",
            "--count",
            &count.to_string(),
            "--offset",
            &offset.to_string(),
            "--seed",
            &seed.to_string(),
            "--photo-bytes",
            "2000",
            "--submit",
        ],
        "",
    );
    assert!(ok, "{err}");
    let (ok, out, err) = field(store, &["sync"], "");
    assert!(ok, "{out}{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_reviews_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("petugas", "enumerator", DESA);
    server.add_user("petugas2", "enumerator", DESA);
    server.add_user("spv", "supervisor", "330801");
    server.add_user("admin", "admin", "3308");
    server.import(DESA, 30);
    server.start(0);
    // Two batches from one enumerator, one from another: 10 visits waiting, with photos.
    let d1 = device(&server, dir.path(), "petugas");
    let d2 = device(&server, dir.path(), "petugas2");
    record_and_sync(&d1, 4, 0, 1);
    record_and_sync(&d1, 3, 4, 2);
    record_and_sync(&d2, 3, 10, 3);
    assert_eq!(
        server.count("SELECT count(*) FROM visits WHERE state = 'submitted'"),
        10
    );

    let shots = screenshot_dir("dashboard");
    let driver = Driver::chromium().await;
    let b = driver.session(1280, 900).await;
    let shot = |name: &str| shots.join(format!("{name}.png"));

    // Sign in.
    b.goto(&format!("{}/", server.url)).await;
    let user = b.wait("#username").await;
    b.wait_text("h1", "Masuk").await;
    b.screenshot(&shot("01-masuk")).await;
    b.type_into(&user, "spv").await;
    b.type_into(&b.wait("#password").await, "salah-sandi-nya")
        .await;
    b.click(&b.wait("#signin-submit").await).await;
    b.wait_text("#signin-error", "salah").await;
    let pw = b.wait("#password").await;
    b.execute("arguments[0].value = ''", json!([pw.arg()]))
        .await;
    b.type_into(&b.wait("#password").await, PASSWORD).await;
    b.click(&b.wait("#signin-submit").await).await;

    // Progress: the desa with 30 assigned, 10 visited and waiting, and the chart.
    let row = b.wait_text("#progress-desa tbody tr", DESA).await;
    assert!(row.contains("30") && row.contains("10"), "{row}");
    b.wait("#progress-chart rect").await;
    let enumerators = b.wait_count("#progress-enumerators tbody tr", 2).await;
    assert!(b.text(&enumerators[0]).await.contains("petugas"));
    b.screenshot(&shot("02-progres")).await;

    // The queue, then filtered to one enumerator.
    b.click(&b.wait("#nav-queue").await).await;
    b.wait_count("#queue tbody tr", 10).await;
    b.screenshot(&shot("03-antrean")).await;
    b.select("#filter-enumerator", "petugas2").await;
    b.click(&b.wait("#filter-apply").await).await;
    b.wait_count("#queue tbody tr", 3).await;
    b.screenshot(&shot("04-antrean-petugas2")).await;

    // Open a visit: baseline and findings side by side, members, GPS plot, photos.
    let first = b.find_all("#queue .visit-link").await.remove(0);
    b.click(&first).await;
    b.wait("#compare").await;
    b.wait("#members tbody tr").await;
    b.wait("#gps").await;
    // Each photo says what it shows, as the enumerator chose.
    b.wait_text("#photos figcaption", "Rumah tampak depan")
        .await;
    b.screenshot(&shot("05-kunjungan")).await;

    // Reject with a reason; the next visit of the queue opens.
    let reason = "Foto rumah buram, mohon diulang";
    b.type_into(&b.wait("#reason").await, reason).await;
    b.click(&b.wait("#reject").await).await;
    b.wait_text("#toast", "Dikembalikan").await;
    assert_eq!(
        server.count(&format!(
            "SELECT count(*) FROM reviews WHERE decision = 'reject' AND reason = '{reason}'"
        )),
        1
    );
    // Approve the next from the keyboard: A. The rejected visit's page (its `#approve` included)
    // stays until the next one has loaded and replaced it, and a key pressed before that arms the
    // page about to go: wait for the next visit's page, whose reason is still empty.
    b.wait_until(
        "const r = document.querySelector('#reason'); \
         return !!r && r.value === '' && !!document.querySelector('#approve');",
        "the next visit's page",
    )
    .await;
    b.execute(
        "document.activeElement && document.activeElement.blur()",
        json!([]),
    )
    .await;
    // One A only asks; nothing is decided until the second.
    b.keys("a").await;
    b.wait_text("#decision-result", "Tekan A sekali lagi").await;
    assert_eq!(
        server.count("SELECT count(*) FROM reviews WHERE decision = 'approve'"),
        0
    );
    b.keys("a").await;
    b.wait_text("#toast", "Disetujui").await;
    assert_eq!(
        server.count("SELECT count(*) FROM reviews WHERE decision = 'approve'"),
        1
    );
    b.screenshot(&shot("06-keputusan")).await;

    // Batches: bulk-approve the first batch of waiting visits.
    b.click(&b.wait("#nav-batches").await).await;
    b.wait_count("#batches tbody tr", 3).await;
    b.screenshot(&shot("07-kiriman")).await;
    let before = server.count("SELECT count(*) FROM visits WHERE state = 'approved'");
    let button = b.wait(".approve-batch").await;
    b.click(&button).await;
    // The first tap asks, with the count; nothing is approved yet.
    b.wait_text(".confirm", "kunjungan yang menunggu").await;
    assert_eq!(
        server.count("SELECT count(*) FROM visits WHERE state = 'approved'"),
        before
    );
    b.click(&b.wait(".approve-batch-sure").await).await;
    let result = b.wait_text("#batch-result", "disetujui").await;
    let after = server.count("SELECT count(*) FROM visits WHERE state = 'approved'");
    assert!(after > before, "bulk approval approved visits: {result}");
    assert!(
        result.starts_with(&format!("{} disetujui", after - before)),
        "{result}"
    );
    b.screenshot(&shot("08-kiriman-disetujui")).await;

    // Export: the browser downloads the CSV with its session; one row per approved visit.
    b.click(&b.wait("#nav-export").await).await;
    let link = b.wait("#export-csv").await;
    b.screenshot(&shot("09-ekspor")).await;
    let csv = b
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0].href, {credentials: 'same-origin'}).then(r => r.text()).then(done, e => done('ERR ' + e));",
            json!([link.arg()]),
        )
        .await;
    let csv = csv.as_str().unwrap().to_string();
    assert!(csv.starts_with("visit_id,id_dtsen,"), "{csv:.200}");
    assert_eq!(csv.lines().count() as i64, 1 + after, "{csv:.300}");

    // Sign out; an admin reads the audit log, which shows the export.
    b.click(&b.wait("#signout").await).await;
    b.type_into(&b.wait("#username").await, "admin").await;
    b.type_into(&b.wait("#password").await, PASSWORD).await;
    b.click(&b.wait("#signin-submit").await).await;
    b.wait("#progress-desa").await;
    b.click(&b.wait("#nav-audit").await).await;
    b.wait_text("#audit tbody", "export.visits").await;
    b.wait_text("#audit tbody", "review.decision").await;
    // In words: the action's label, and a decision as "Setujui → Disetujui".
    b.wait_text("#audit tbody", "Ekspor kunjungan").await;
    b.wait_text("#audit tbody", "Setujui → Disetujui").await;
    b.screenshot(&shot("10-audit")).await;

    // English.
    b.click(&b.wait("#lang").await).await;
    b.wait_text("#nav-queue", "Review queue").await;
    b.wait_text("h1", "Audit log").await;
    b.screenshot(&shot("11-english")).await;
    b.quit().await;
    eprintln!("screenshots: {}", shots.display());
}

/// The assignment page in a real browser: a supervisor gives a whole RT to one enumerator with a
/// due date, then moves one household of it to a colleague, and imports a target list with a bad
/// row. Screenshots under `screenshots/assignments/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_assigns_an_rt_and_reassigns_in_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("ani", "enumerator", DESA);
    server.add_user("budi", "enumerator", DESA);
    server.add_user("spv", "supervisor", "330801");
    server.import(DESA, 30);
    server.start(0);
    let shots = screenshot_dir("assignments");
    let shot = |name: &str| shots.join(format!("{name}.png"));
    let driver = Driver::chromium().await;
    let b = driver.session(1280, 900).await;
    b.goto(&format!("{}/", server.url)).await;
    b.type_into(&b.wait("#username").await, "spv").await;
    b.type_into(&b.wait("#password").await, PASSWORD).await;
    b.click(&b.wait("#signin-submit").await).await;
    b.wait("#progress-desa").await;
    b.click(&b.wait("#nav-assignments").await).await;
    b.wait("#assign-table tbody tr[data-row]").await;
    b.screenshot(&shot("01-penugasan")).await;

    // The first RT, whole, to ani, due on a date.
    let rt = b.find_all(".pick-rt").await.remove(0);
    b.click(&rt).await;
    let chosen = b.wait_text("#assign-count", "dipilih").await;
    let n: i64 = chosen.split_whitespace().next().unwrap().parse().unwrap();
    assert!(n > 0, "{chosen}");
    b.select("#assign-enumerator", "ani").await;
    b.execute(
        "document.getElementById('assign-due').value = '2026-12-24'; return null;",
        json!([]),
    )
    .await;
    b.select("#assign-source", "groundcheck").await;
    b.click(&b.wait("#assign-submit").await).await;
    b.wait_text("#toast", &format!("{n} ditugaskan")).await;
    b.wait_text("#assign-table tbody tr[data-row] .assignee", "ani")
        .await;
    assert_eq!(server.count("SELECT count(*) FROM assignments WHERE due_date = '2026-12-24' AND source = 'groundcheck'"), n);
    b.screenshot(&shot("02-rt-ditugaskan")).await;

    // One of them moves to budi.
    let first = b.find_all("#assign-table input.pick").await.remove(0);
    b.click(&first).await;
    b.select("#assign-enumerator", "budi").await;
    b.click(&b.wait("#assign-submit").await).await;
    b.wait_text("#toast", "1 dipindahkan").await;
    b.wait_text("#assign-table tbody tr[data-row] .assignee", "budi")
        .await;
    let budi = "SELECT count(*) FROM assignments a JOIN users u ON u.id = a.enumerator_id WHERE u.username = 'budi'";
    assert_eq!(server.count(budi), 1);
    assert_eq!(server.count("SELECT count(*) FROM assignments"), n);
    b.screenshot(&shot("03-dipindahkan")).await;

    // A target list with one unknown household: the good row applies, the bad one is reported.
    let id_dtsen = server.text("SELECT id_dtsen FROM households ORDER BY id_dtsen DESC LIMIT 1");
    let csv = format!(
        "id_dtsen,enumerator,due_date,source,note\n{id_dtsen},budi,,sanggah,\nTIDAK-ADA,budi,,,\n"
    );
    let file = dir.path().join("sasaran.csv");
    std::fs::write(&file, csv).unwrap();
    let input = b.wait("#assign-file").await;
    b.type_into(&input, file.to_str().unwrap()).await;
    b.click(&b.wait("#assign-import").await).await;
    b.wait_text("#assign-report", "1 baris ditolak").await;
    b.wait_text("#assign-rejected tbody", "TIDAK-ADA").await;
    b.screenshot(&shot("04-impor")).await;
    b.quit().await;
}

/// An admin runs the users page in a real browser: adds an enumerator (a weak password is
/// refused with the policy's reason first), changes their areas, resets the password and reads
/// the one-time password, disables and enables them; the user then signs in with the one-time
/// password and must choose a new one. Screenshots under `screenshots/dashboard/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_users_in_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("admin", "admin", "3308");
    server.add_user("spv", "supervisor", "330801");
    server.start(0);
    let shots = screenshot_dir("dashboard");
    let shot = |name: &str| shots.join(format!("{name}.png"));
    let driver = Driver::chromium().await;
    let b = driver.session(1280, 900).await;
    b.goto(&format!("{}/", server.url)).await;
    b.type_into(&b.wait("#username").await, "admin").await;
    b.type_into(&b.wait("#password").await, PASSWORD).await;
    b.click(&b.wait("#signin-submit").await).await;
    b.wait("#progress-desa").await;
    b.click(&b.wait("#nav-users").await).await;
    b.wait("#users tbody tr[data-user='spv']").await;
    b.wait_text("#users-count", "2 pengguna").await;
    b.screenshot(&shot("20-pengguna")).await;

    // A new supervisor of the desa; the first password contains the username.
    b.fill("#add-username", "sari").await;
    b.fill("#add-display-name", "Sari Wulandari").await;
    b.select("#add-role", "supervisor").await;
    b.execute(
        "document.getElementById('add-areas').value = '3308012001'; return null;",
        json!([]),
    )
    .await;
    b.fill("#add-password", "sari-sandi-2026").await;
    b.tap("#add-submit").await;
    b.wait_text("#user-add-error", "memuat nama pengguna").await;
    b.screenshot(&shot("21-sandi-ditolak")).await;
    b.execute(
        "document.getElementById('add-password').value = ''; return null;",
        json!([]),
    )
    .await;
    b.fill("#add-password", "kopi-tubruk-pagi").await;
    b.tap("#add-submit").await;
    b.wait_text("#toast", "Pengguna sari ditambahkan").await;
    b.wait("#users tbody tr[data-user='sari']").await;
    assert_eq!(
        server.count("SELECT count(*) FROM users WHERE username = 'sari' AND role = 'supervisor'"),
        1
    );

    // Her areas widen to the kecamatan; then a password reset shows the one-time password once.
    b.tap("button[data-edit='sari']").await;
    let areas = "form[data-editor='sari'] input[name='areas']";
    b.execute(
        &format!("document.querySelector(\"{areas}\").value = '330801'; return null;"),
        json!([]),
    )
    .await;
    b.tap("form[data-editor='sari'] button.save").await;
    b.wait_text("#toast", "Perubahan disimpan").await;
    b.wait_text("#users tbody tr[data-user='sari']", "330801")
        .await;
    b.tap("button[data-edit='sari']").await;
    b.tap("form[data-editor='sari'] button.reset").await;
    let once = b.wait_text("#one-time-password", "-").await;
    assert_eq!(once.trim().len(), 14, "{once}");
    b.wait_text("#users tbody tr[data-user='sari']", "sekali pakai")
        .await;
    b.screenshot(&shot("22-sandi-sekali-pakai")).await;

    // Disabled, then enabled again.
    b.tap("button[data-edit='sari']").await;
    b.tap("form[data-editor='sari'] button.toggle").await;
    b.wait_text("#toast", "dinonaktifkan").await;
    b.wait_text("#users tbody tr[data-user='sari']", "Nonaktif")
        .await;
    assert_eq!(
        server.count("SELECT disabled FROM users WHERE username = 'sari'"),
        1
    );
    b.tap("button[data-edit='sari']").await;
    b.tap("form[data-editor='sari'] button.toggle").await;
    b.wait_text("#toast", "diaktifkan").await;
    b.wait_text("#users tbody tr[data-user='sari']", "Aktif")
        .await;

    // Sari signs in with the one-time password and must choose a new one.
    b.tap("#signout").await;
    b.type_into(&b.wait("#username").await, "sari").await;
    b.type_into(&b.wait("#password").await, once.trim()).await;
    b.click(&b.wait("#signin-submit").await).await;
    b.wait_text("#signin-error", "sekali pakai").await;
    b.type_into(&b.wait("#new-password").await, "teh-hangat-pagi")
        .await;
    b.screenshot(&shot("23-sandi-baru")).await;
    b.click(&b.wait("#signin-submit").await).await;
    b.wait("#progress-desa").await;
    assert_eq!(
        server.count("SELECT must_change_password FROM users WHERE username = 'sari'"),
        0
    );
    b.quit().await;
}

/// An admin revokes a lost phone with a wipe in the browser while the phone (a field CLI) holds
/// two unsent visits: the phone sends them at its next sync, erases itself, and the devices page
/// shows it wiped. Screenshots under `screenshots/dashboard/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_wipes_a_lost_phone_from_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("admin", "admin", "3308");
    server.add_user("petugas", "enumerator", DESA);
    server.import(DESA, 10);
    server.start(0);
    let phone = device(&server, dir.path(), "petugas");
    let (ok, _, err) = field(&phone, &["record", "--count", "2", "--submit"], "");
    assert!(ok, "{err}");
    let shots = screenshot_dir("dashboard");
    let shot = |name: &str| shots.join(format!("{name}.png"));
    let driver = Driver::chromium().await;
    let b = driver.session(1280, 900).await;
    b.goto(&format!("{}/", server.url)).await;
    b.type_into(&b.wait("#username").await, "admin").await;
    b.type_into(&b.wait("#password").await, PASSWORD).await;
    b.click(&b.wait("#signin-submit").await).await;
    b.wait("#progress-desa").await;
    b.click(&b.wait("#nav-devices").await).await;
    b.wait_text("#devices tbody", "petugas").await;
    b.screenshot(&shot("30-perangkat")).await;
    let id = server.text(
        "SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id WHERE u.username = 'petugas'",
    );
    b.tap(&format!("button[data-wipe='{id}']")).await;
    b.tap(&format!("button[data-confirm='{id}']")).await;
    b.wait_text("#toast", "menghapus diri").await;
    b.wait_text(
        &format!("tr[data-device='{id}'] .state"),
        "Menunggu dihapus",
    )
    .await;
    b.screenshot(&shot("31-menunggu-dihapus")).await;

    let (ok, out, err) = field(&phone, &["sync"], "");
    assert!(!ok && err.contains("field.wiped"), "{out}{err}");
    assert!(!phone.exists());
    assert_eq!(server.count("SELECT count(*) FROM visits"), 2);
    b.click(&b.wait("#nav-progress").await).await;
    b.wait("#progress-desa").await;
    b.click(&b.wait("#nav-devices").await).await;
    b.wait_text(&format!("tr[data-device='{id}'] .state"), "Dihapus")
        .await;
    b.screenshot(&shot("32-dihapus")).await;
    b.quit().await;
}

/// An admin imports a baseline file with a bad row from the browser: the progress bar, then the
/// report with the refused row by line and the CSV of refused rows. Screenshot under
/// `screenshots/dashboard/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_imports_a_baseline_in_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("admin", "admin", "3308");
    server.start(0);
    let mut csv = verivali_server::demo::synthetic_csv(DESA, 300, 9);
    let first = csv.lines().nth(1).unwrap().to_string();
    let mut cells: Vec<&str> = first.split(',').collect();
    cells[0] = "DTSEN-RUSAK";
    cells[11] = "31-02-1990";
    csv.push_str(&cells.join(","));
    csv.push('\n');
    let bad_line = csv.lines().count();
    let file = dir.path().join("dtsen.csv");
    std::fs::write(&file, &csv).unwrap();

    let driver = Driver::chromium().await;
    let b = driver.session(1280, 900).await;
    b.goto(&format!("{}/", server.url)).await;
    b.type_into(&b.wait("#username").await, "admin").await;
    b.type_into(&b.wait("#password").await, PASSWORD).await;
    b.click(&b.wait("#signin-submit").await).await;
    b.wait("#progress-desa").await;
    b.click(&b.wait("#nav-import").await).await;
    let input = b.wait("#import-file").await;
    b.type_into(&input, file.to_str().unwrap()).await;
    b.click(&b.wait("#import-submit").await).await;
    b.wait_text("#import-summary", "300 rumah tangga baru")
        .await;
    b.wait_text("#import-summary", "1 baris ditolak").await;
    b.wait_text("#import-bad tbody", &bad_line.to_string())
        .await;
    b.wait("#import-bad-csv").await;
    let progress = b
        .execute(
            "return document.getElementById('import-progress').value;",
            json!([]),
        )
        .await;
    assert_eq!(progress.as_f64(), Some(1.0));
    b.screenshot(&screenshot_dir("dashboard").join("40-impor-data-dasar.png"))
        .await;
    assert_eq!(server.count("SELECT count(*) FROM households"), 300);

    // Region names: from then on the pages name the desa.
    let names = dir.path().join("wilayah.csv");
    std::fs::write(
        &names,
        format!("kode,nama\n3308,Kabupaten Contoh\n{DESA},Desa Sukamaju\n3309,Kabupaten Lain\n"),
    )
    .unwrap();
    let input = b.wait("#regions-file").await;
    b.type_into(&input, names.to_str().unwrap()).await;
    b.click(&b.wait("#regions-submit").await).await;
    b.wait_text("#regions-summary", "2 nama disimpan").await;
    b.wait_text("#regions-summary", "1 di luar wilayah Anda")
        .await;
    b.wait_text("#who", "Kabupaten Contoh (3308)").await;
    b.screenshot(&screenshot_dir("dashboard").join("41-nama-wilayah.png"))
        .await;
    b.click(&b.wait("#nav-progress").await).await;
    b.wait_text("#progress-desa", &format!("Desa Sukamaju ({DESA})"))
        .await;
    b.quit().await;
}

/// An admin publishes a second questionnaire version in the browser: a broken schema first (each
/// problem with its path), then a good one, previewed as the field form draws it, published with
/// two taps. Screenshots under `screenshots/dashboard/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_publishes_a_questionnaire_version_in_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("admin", "admin", "3308");
    server.start(0);
    let mut v2 = verivali_domain::Questionnaire::default_dtsen().unwrap();
    v2.version = 2;
    let extra = json!({"id": "jumlah_kamar", "type": "int",
        "label": {"id": "Jumlah kamar tidur", "en": "Bedrooms"}, "min": 0, "max": 30});
    v2.sections[0]
        .questions
        .push(serde_json::from_value(extra).unwrap());
    let mut broken = serde_json::to_value(&v2).unwrap();
    broken["sections"][0]["questions"][0]["id"] = json!("Luas Lantai");
    let bad = dir.path().join("kuesioner-rusak.json");
    std::fs::write(&bad, broken.to_string()).unwrap();
    let good = dir.path().join("kuesioner-v2.json");
    std::fs::write(&good, serde_json::to_string(&v2).unwrap()).unwrap();

    let shots = screenshot_dir("dashboard");
    let shot = |name: &str| shots.join(format!("{name}.png"));
    let driver = Driver::chromium().await;
    let b = driver.session(1280, 900).await;
    b.goto(&format!("{}/", server.url)).await;
    b.type_into(&b.wait("#username").await, "admin").await;
    b.type_into(&b.wait("#password").await, PASSWORD).await;
    b.click(&b.wait("#signin-submit").await).await;
    b.wait("#progress-desa").await;
    b.click(&b.wait("#nav-questionnaires").await).await;
    b.wait_text("#questionnaire-published tbody", "Aktif").await;
    b.type_into(&b.wait("#questionnaire-file").await, bad.to_str().unwrap())
        .await;
    b.click(&b.wait("#questionnaire-upload").await).await;
    b.wait_text("#questionnaire-issues", "sections[0].questions[0].id")
        .await;
    b.screenshot(&shot("50-kuesioner-salah")).await;
    b.execute(
        "document.getElementById('questionnaire-file').value = ''; return null;",
        json!([]),
    )
    .await;
    b.type_into(&b.wait("#questionnaire-file").await, good.to_str().unwrap())
        .await;
    b.click(&b.wait("#questionnaire-upload").await).await;
    b.wait_text("#questionnaire-ok", "Versi 2").await;
    b.wait_text("#questionnaire-preview", "Jumlah kamar tidur")
        .await;
    b.screenshot(&shot("51-kuesioner-pratinjau")).await;
    b.tap("#questionnaire-result #publish-2").await;
    b.tap("#publish-sure").await;
    b.wait_text("#toast", "Versi 2 terbit").await;
    b.wait_text("#questionnaire-published tr[data-version='2']", "Aktif")
        .await;
    b.screenshot(&shot("52-kuesioner-terbit")).await;
    assert_eq!(
        server.count("SELECT count(*) FROM questionnaires WHERE active = 1 AND version = 2"),
        1
    );
    b.quit().await;
}

/// The queue pages: 250 waiting visits walked 50 at a time with "Muat lebih banyak", each row
/// exactly once, and the button gone on the last page (issue 15).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_walks_250_visits_in_pages_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("petugas", "enumerator", DESA);
    server.add_user("spv", "supervisor", "330801");
    server.import(DESA, 250);
    server.start(0);
    let phone = device(&server, dir.path(), "petugas");
    let (ok, _, err) = field(&phone, &["record", "--count", "250", "--submit"], "");
    assert!(ok, "{err}");
    let (ok, out, err) = field(&phone, &["sync"], "");
    assert!(ok, "{out}{err}");
    assert_eq!(
        server.count("SELECT count(*) FROM visits WHERE state = 'submitted'"),
        250
    );
    let driver = Driver::chromium().await;
    let b = driver.session(1280, 900).await;
    b.goto(&format!("{}/", server.url)).await;
    b.type_into(&b.wait("#username").await, "spv").await;
    b.type_into(&b.wait("#password").await, PASSWORD).await;
    b.click(&b.wait("#signin-submit").await).await;
    b.wait("#progress-desa").await;
    b.click(&b.wait("#nav-queue").await).await;
    b.wait_count("#queue tbody tr", 50).await;
    for page in 2..=5 {
        let more = b.wait("#queue-more").await;
        assert!(
            !b.text(&more).await.is_empty(),
            "the button shows while there is more"
        );
        // A double tap (an impatient thumb) loads the page once: both taps land before the
        // page arrives (one script, so a slow WebDriver round trip under load cannot let the
        // first page finish in between and make the second tap a real request for the next).
        let _ = b
            .execute(
                "const m = document.querySelector('#queue-more'); m.click(); m.click();",
                json!([]),
            )
            .await;
        b.wait_count("#queue tbody tr", page * 50).await;
    }
    let ids = b
        .execute(
            "return [...document.querySelectorAll('#queue tbody tr')].map((r) => r.dataset.visit)",
            json!([]),
        )
        .await;
    let ids: Vec<&str> = ids
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!((ids.len(), distinct.len()), (250, 250), "each visit once");
    let shown = b
        .execute(
            "const m = document.querySelector('#queue-more'); return m.hidden || getComputedStyle(m).display === 'none'",
            json!([]),
        )
        .await;
    assert_eq!(shown, json!(true), "no button once everything is listed");
}

/// One approved truth per household, in the browser: a visit approved, then a colleague's visit
/// to the same household arrives. A plain approval of it is refused (the API's 409), the page
/// shows both visits side by side field by field, and the supervisor supersedes the earlier one
/// deliberately, with a second tap. The superseded visit stays readable, marked, and leaves the
/// export. Screenshots at 1280 and at 390 px wide under `screenshots/dashboard/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_supersedes_a_second_visit_deliberately() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("petugas", "enumerator", DESA);
    server.add_user("petugas2", "enumerator", DESA);
    server.add_user("spv", "supervisor", "330801");
    server.import(DESA, 5);
    server.start(0);
    let d1 = device(&server, dir.path(), "petugas");
    let d2 = device(&server, dir.path(), "petugas2");
    record_and_sync(&d1, 1, 0, 1);
    let first = server.text("SELECT id FROM visits");

    let shots = screenshot_dir("dashboard");
    let shot = |name: &str| shots.join(format!("{name}.png"));
    let driver = Driver::chromium().await;
    let b = driver.session(1280, 900).await;
    sign_in(&b, &server.url, "spv").await;

    // The first visit alone: approved with the ordinary button.
    b.goto(&format!("{}/#/visit/{first}", server.url)).await;
    b.click(&b.wait("#approve").await).await;
    b.wait_text("#toast", "Disetujui").await;

    // A colleague's visit to the same household arrives.
    record_and_sync(&d2, 1, 0, 7);
    let second = server.text(&format!("SELECT id FROM visits WHERE id <> '{first}'"));
    assert_eq!(
        server.count("SELECT count(DISTINCT household_id) FROM visits"),
        1,
        "both visits are of one household"
    );

    // A plain approval is refused, naming the approved visit.
    let http = verivali_e2e::http().build().unwrap();
    let token = verivali_e2e::bearer_token(&http, &server.url, "spv").await;
    let r = http
        .post(format!(
            "{}/api/v1/review/visits/{second}/decision",
            server.url
        ))
        .bearer_auth(&token)
        .json(&json!({"decision": "approve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["code"], json!("review.second_visit"));
    assert_eq!(p["others"][0]["visit_id"], json!(first));

    // The page shows both side by side, field by field, the differences marked.
    b.goto(&format!("{}/#/visit/{second}", server.url)).await;
    b.wait_text("#second-visit h2", "Dua kunjungan").await;
    b.wait_text("#second-visit thead", "Disetujui").await;
    let changed = b.find_all("#second-visit tr.changed").await;
    assert!(
        !changed.is_empty(),
        "the two visits' differences are marked"
    );
    assert!(
        b.find_all("#approve").await.is_empty(),
        "no plain approval offered"
    );
    b.screenshot(&shot("60-dua-kunjungan")).await;

    // The choice takes two taps: the first says what will happen and decides nothing.
    b.click(&b.wait("#approve-supersede").await).await;
    b.wait_text("#decision-result", "Tekan sekali lagi").await;
    assert_eq!(
        server.count("SELECT count(*) FROM visits WHERE state = 'superseded'"),
        0
    );
    b.click(&b.wait("#approve-supersede").await).await;
    // The toast of the first approval may still show: wait for the decision itself.
    let state_of_first = format!("SELECT state FROM visits WHERE id = '{first}'");
    for _ in 0..150 {
        if server.text(&state_of_first) == "superseded" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(server.text(&state_of_first), "superseded");
    assert_eq!(
        server.text(&format!("SELECT state FROM visits WHERE id = '{second}'")),
        "approved"
    );

    // The superseded visit stays readable, marked, with the decision in its history.
    b.goto(&format!("{}/#/visit/{first}", server.url)).await;
    b.wait_text("#decide", "Diganti kunjungan lain").await;
    b.wait_text("#history", "Diganti kunjungan lain").await;
    b.screenshot(&shot("61-diganti")).await;
    b.quit().await;

    // On a phone the comparison fits the screen's width.
    let phone = driver.phone_session(390, 844).await;
    sign_in(&phone, &server.url, "spv").await;
    phone.goto(&format!("{}/#/visit/{first}", server.url)).await;
    phone.wait("#history").await;
    phone.screenshot(&shot("62-diganti-hp")).await;
    phone.quit().await;
}

/// Every page of the dashboard on a 390 × 844 and a 360 × 780 phone and a 1280 × 900 desk, as an admin (who sees
/// every page): nothing runs off the side of the phone's screen, and each page's main content
/// starts within its first screen. Screenshots under `screenshots/dashboard/{phone,phone-360,desk}/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phone_and_a_desk() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("petugas", "enumerator", DESA);
    server.add_user("admin", "admin", "3308");
    server.import(DESA, 12);
    server.start(0);
    let d = device(&server, dir.path(), "petugas");
    record_and_sync(&d, 6, 0, 5);
    let visit = server.text("SELECT id FROM visits ORDER BY id LIMIT 1");

    let pages: [(&str, String, &str); 17] = [
        ("01-progres", "#/progress".into(), "#progress-chart"),
        ("02-antrean", "#/queue".into(), "#queue tbody tr"),
        ("03-kunjungan", format!("#/visit/{visit}"), "#compare"),
        ("04-kiriman", "#/batches".into(), "#batches tbody tr"),
        ("05-penugasan", "#/assignments".into(), "#assign-area"),
        ("06-ekspor", "#/export".into(), "#export-csv"),
        ("07-pengguna", "#/users".into(), "#users tbody tr"),
        ("08-perangkat", "#/devices".into(), "#devices tbody tr"),
        ("09-impor", "#/import".into(), "#import-file"),
        (
            "10-kuesioner",
            "#/questionnaires".into(),
            "#questionnaire-published",
        ),
        ("11-audit", "#/audit".into(), "#audit tbody tr"),
        ("12-perbandingan", "#/enumerators".into(), "#enum-chart svg"),
        ("13-ambang-mutu", "#/quality".into(), "#qt-gps_far_m"),
        ("14-usulan", "#/proposals".into(), "#proposal-form"),
        ("15-musdes", "#/musdes".into(), "#musdes-form"),
        ("16-periode", "#/periods".into(), "#period-form"),
        ("17-verifikasi", "#/verify".into(), "#verify-empty"),
    ];
    let driver = Driver::chromium().await;
    // 390 px as the phone, 360 px as the narrowest common Android screen.
    for (kind, width, height) in [
        ("phone", 390, 844),
        ("phone-360", 360, 780),
        ("desk", 1280, 900),
    ] {
        let shots = screenshot_dir(&format!("dashboard/{kind}"));
        let b = if kind.starts_with("phone") {
            driver.phone_session(width, height).await
        } else {
            driver.session(width, height).await
        };
        sign_in(&b, &server.url, "admin").await;
        for (name, route, main) in &pages {
            b.goto(&format!("{}/{route}", server.url)).await;
            b.wait(main).await;
            // Let the page settle (fonts, the chart) before it is measured.
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            let m = b
                .execute(
                    "const el = document.querySelector(arguments[0]);
                     return { page: document.documentElement.scrollWidth, screen: window.innerWidth,
                              top: el.getBoundingClientRect().top + window.scrollY,
                              height: window.innerHeight };",
                    json!([main]),
                )
                .await;
            b.screenshot(&shots.join(format!("{name}.png"))).await;
            let (page, screen) = (m["page"].as_f64().unwrap(), m["screen"].as_f64().unwrap());
            assert!(
                page <= screen + 1.0,
                "{kind} {route}: the page is {page} px wide on a {screen} px screen"
            );
            let (top, h) = (m["top"].as_f64().unwrap(), m["height"].as_f64().unwrap());
            assert!(
                top < h - 40.0,
                "{kind} {route}: {main} starts at {top} px, below the first screen ({h} px)"
            );
        }
        b.quit().await;
    }
}

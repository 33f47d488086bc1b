//! Field app benchmark (DESIGN.md §7): time from starting the app to a usable list of 5,000
//! households (launch, PIN unlock with the device's Argon2id cost, the list rendered), and the
//! app's memory (its own process, WebKit's web and network processes, resident), against the
//! budget of ≤ 1 s and ≤ 150 MB for app + web process. The list is windowed, so the page holds
//! a screenful of cards whatever the count (printed too). The real debug build with
//! its embedded UI, driven through tauri-driver on Xvfb, against a real server process. Medians
//! of 3 launches. Full run: `cargo build --workspace --bins && cargo test -p verivali-e2e --bench
//! field_app -- --bench` (the debug app the tests use; a release app would be faster);
//! `cargo test --benches` runs a smoke version with 200 households. For a release app:
//! `cargo build --release -p verivali-app` and `VERIVALI_APP=target/release/verivali-app`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;
use verivali_e2e::webdriver::Driver;
use verivali_e2e::{PASSWORD, Server, workspace_bin};

const DESA: &str = "3308012001";
const PIN: &str = "270814";

/// Resident memory (MiB) of the processes whose command line contains `needle`.
fn rss_mib(needle: &str) -> f64 {
    let mut kb = 0u64;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmd).contains(needle) {
            continue;
        }
        let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        kb += status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0);
    }
    kb as f64 / 1024.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let households: u32 = if full { 5_000 } else { 200 };
    let listed = format!("#households[data-count=\"{households}\"] [data-household]");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::new(dir.path());
        server.add_user("petugas", "enumerator", DESA);
        server.import(DESA, households);
        server.start(0);
        let data = dir.path().join("app-data");
        let app = std::env::var_os("VERIVALI_APP")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| workspace_bin("verivali-app"));
        let app_name = app.to_string_lossy().into_owned();
        let driver = Driver::tauri(&[
            ("VERIVALI_DATA_DIR", data.to_str().unwrap()),
            ("VERIVALI_SERVER", &server.url),
        ])
        .await;
        let b = driver.app_session(&app).await;
        b.fill("#username", "petugas").await;
        b.fill("#password", PASSWORD).await;
        b.fill("#pin", PIN).await;
        b.fill("#pin2", PIN).await;
        let t = Instant::now();
        b.tap("#signin-submit").await;
        b.wait(&listed).await;
        let first = t.elapsed().as_secs_f64();
        b.quit().await;

        let (mut start, mut app_mem, mut web_mem, mut net_mem) = (vec![], vec![], vec![], vec![]);
        let mut cards = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let b = driver.app_session(&app).await;
            b.fill("#pin", PIN).await;
            b.tap("#unlock-submit").await;
            b.wait(&listed).await;
            start.push(t.elapsed().as_secs_f64());
            cards = b.find_all("[data-household]").await.len();
            app_mem.push(rss_mib(&app_name));
            web_mem.push(rss_mib("WebKitWebProcess"));
            net_mem.push(rss_mib("WebKitNetworkProcess"));
            b.quit().await;
        }
        println!("\nverivali field app benchmark ({} mode)\n", if full { "full" } else { "smoke" });
        println!("| measure | value |");
        println!("|---|---|");
        println!("| first sign-in: sign-in, pull of {households} households, list shown | {first:.2} s |");
        println!(
            "| app start → PIN → usable list of {households} households (median of 3) | {:.2} s (runs {:?}) |",
            median(&mut start.clone()),
            start.iter().map(|s| format!("{s:.2}")).collect::<Vec<_>>()
        );
        let (a, w) = (median(&mut app_mem), median(&mut web_mem));
        println!("| budget: start → usable list | ≤ 1 s |");
        println!("| memory: app process (resident) | {a:.0} MiB |");
        println!("| memory: WebKit web process (resident) | {w:.0} MiB |");
        println!("| memory: app + web process | {:.0} MiB (budget ≤ 150 MB = 143 MiB) |", a + w);
        println!("| memory: WebKit network process (resident) | {:.0} MiB |", median(&mut net_mem));
        println!("| cards in the page (windowed list) | {cards} of {households} |");
    });
}

//! The baseline import from the admin console on both backends (DESIGN.md §10): the file goes up
//! as one request, the import runs as a background job followed by its progress call, other
//! requests are answered meanwhile, and the report names each refused row (also as a CSV).

use crate::common::*;
use reqwest::StatusCode;
use serde_json::Value;
use verivali_domain::Role;

async fn start(d: &Device, csv: String) -> reqwest::Response {
    d.client
        .post(format!("{}/api/v1/admin/imports/households", d.url))
        .bearer_auth(&d.token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap()
}

both_backends!(
    import_job,
    a_baseline_import_runs_in_the_background_and_reports_each_bad_row
);
async fn a_baseline_import_runs_in_the_background_and_reports_each_bad_row(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("admin", Role::Admin, &["330801"]).await;
    s.add_user("admin2", Role::Admin, &["330801"]).await;
    s.add_user("pengawas", Role::Supervisor, &[DESA_A]).await;
    s.add_user("ani", Role::Enumerator, &[DESA_A]).await;
    let admin = s.sign_in("admin").await;
    let other = s.sign_in("admin2").await;
    let sup = s.sign_in("pengawas").await;
    let ani = s.sign_in("ani").await;

    // 1,500 households of the admin's desa with a BOM and CRLF, one household of a desa outside
    // the admin's areas, and a row with a NIK of letters.
    let (csv, _) = baseline_csv(DESA_A, 1500, 5);
    let (outside, _) = baseline_csv(DESA_B, 1, 6);
    let mut body = format!("\u{feff}{}", csv.replace('\n', "\r\n"));
    let outside_rows: Vec<&str> = outside.lines().skip(1).collect();
    for r in &outside_rows {
        body.push_str(r);
        body.push_str("\r\n");
    }
    let bad_line = csv.lines().count() + outside_rows.len() + 1;
    let first = csv.lines().nth(1).unwrap();
    let mut cells: Vec<String> = first.split(',').map(str::to_string).collect();
    cells[0] = "DTSEN-RUSAK".into();
    cells[7] = "33080ABCDEF".into();
    body.push_str(&cells.join(","));
    body.push_str("\r\n");

    let r = start(&admin, body).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let job = r.json::<Value>().await.unwrap()["job"]
        .as_str()
        .unwrap()
        .to_string();
    // Followed until done; an enumerator's pull is answered while it runs.
    let mut answered_while_running = false;
    let status = loop {
        let st: Value = admin
            .get(&format!("/api/v1/admin/jobs/{job}"))
            .await
            .json()
            .await
            .unwrap();
        if st["state"] != "running" {
            break st;
        }
        assert!(st["rows_done"].as_u64() <= st["rows_total"].as_u64());
        let pull = ani.get("/api/v1/sync/pull?limit=10").await;
        assert_eq!(pull.status(), StatusCode::OK);
        let again: Value = admin
            .get(&format!("/api/v1/admin/jobs/{job}"))
            .await
            .json()
            .await
            .unwrap();
        answered_while_running |= again["state"] == "running";
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(status["state"], "done", "{status}");
    assert!(
        answered_while_running,
        "the import never ran beside another request"
    );
    assert_eq!(status["rows_done"], status["rows_total"]);
    let report = &status["report"];
    assert_eq!(report["created"], 1500, "{report}");
    let bad: Vec<(u64, &str)> = report["bad_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["code"].as_str().unwrap()))
        .collect();
    assert!(
        bad.iter().any(|(_, c)| *c == "import.area_outside"),
        "{bad:?}"
    );
    assert_eq!(
        bad.iter()
            .filter(|(_, c)| *c == "import.area_outside")
            .count(),
        outside_rows.len()
    );
    assert!(
        bad.iter()
            .any(|(l, c)| *l == bad_line as u64 && c.starts_with("nik.")),
        "line {bad_line}: {bad:?}"
    );
    // The refused rows as a CSV to fix in a spreadsheet.
    let r = admin
        .get(&format!("/api/v1/admin/jobs/{job}/bad-rows.csv"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.starts_with("line,code,message\n"), "{text}");
    assert_eq!(text.lines().count(), bad.len() + 1);
    assert_eq!(
        s.count("SELECT count(*) FROM households").await,
        1500,
        "nothing outside the admin's areas"
    );

    // The same file again changes nothing (checked through the CLI's path in import.rs); only
    // the admin who started a job sees it, and only admins start one.
    let (st, p) = problem(other.get(&format!("/api/v1/admin/jobs/{job}")).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "job.not_found")
    );
    let (st, _) = problem(start(&sup, "id_dtsen\n".into()).await).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // A wrong header fails the job with the reason, and nothing is written.
    let r = start(&admin, "nama,alamat\nAni,Dusun\n".into()).await;
    let job = r.json::<Value>().await.unwrap()["job"]
        .as_str()
        .unwrap()
        .to_string();
    let failed = loop {
        let st: Value = admin
            .get(&format!("/api/v1/admin/jobs/{job}"))
            .await
            .json()
            .await
            .unwrap();
        if st["state"] != "running" {
            break st;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(failed["state"], "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("id_dtsen"),
        "{failed}"
    );
}

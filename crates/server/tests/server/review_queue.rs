//! The review queue, batches and bulk approval, progress, photos, exports (API and CLI), the
//! audit viewer, and the dashboard's browser session with CSRF, on both backends.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Read;
use uuid::Uuid;
use verivali_domain::{Batch, Role, VisitRecord};
use verivali_protocol::review::{BatchList, BulkResponse, Progress, ReviewList, ReviewVisit};
use verivali_protocol::{OpBody, OpStatus};

async fn json_ok<T: serde::de::DeserializeOwned>(r: reqwest::Response) -> T {
    let st = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(st, StatusCode::OK, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Records visits and submits them in one batch; returns the batch id.
async fn submit(d: &mut Device, visits: &[VisitRecord]) -> Uuid {
    let batch = Uuid::now_v7();
    let mut ops: Vec<_> = visits
        .iter()
        .map(|v| d.op(&OpBody::VisitRecord(Box::new(v.clone()))))
        .collect();
    ops.push(d.op(&OpBody::BatchSubmit(Batch {
        batch_id: batch,
        visit_ids: visits.iter().map(|v| v.visit_id).collect(),
    })));
    let r = d.push(&ops).await;
    assert!(
        r.results.iter().all(|r| r.status == OpStatus::Applied),
        "{:?}",
        r.results
    );
    batch
}

fn with_photo(mut v: VisitRecord, bytes: &[u8]) -> VisitRecord {
    use sha2::Digest;
    v.photos = vec![hex::encode(sha2::Sha256::digest(bytes))];
    v.photo_kinds.clear();
    v
}

async fn queue_batches_progress_photos_exports_and_audit(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("petugas2", Role::Enumerator, &[DESA_A]).await;
    s.add_user("petugas_b", Role::Enumerator, &[DESA_B]).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    s.add_user("spv_b", Role::Supervisor, &["330802"]).await;
    s.add_user("admin", Role::Admin, &["3308"]).await;
    let hh = s.import(DESA_A, 4, 1).await;
    let hh_b = s.import(DESA_B, 1, 2).await;
    let mut d = s.sign_in("petugas").await;
    let mut d2 = s.sign_in("petugas2").await;
    let mut db = s.sign_in("petugas_b").await;
    let spv = s.sign_in("spv").await;
    let spv_b = s.sign_in("spv_b").await;
    let admin = s.sign_in("admin").await;

    // Three visits in one batch: with its photo, with a photo never uploaded, without photos.
    let photo = b"foto rumah sintetis 0".to_vec();
    let v0 = with_photo(visit(&hh[0].0, &hh[0].1, 10), &photo);
    let v1 = with_photo(visit(&hh[1].0, &hh[1].1, 11), b"never uploaded");
    let mut v2 = visit(&hh[2].0, &hh[2].1, 12);
    v2.photos.clear();
    v2.photo_kinds.clear();
    d.upload(&photo).await;
    let batch = submit(&mut d, &[v0.clone(), v1.clone(), v2.clone()]).await;
    // A second enumerator visits the first household too; another desa has its own visit.
    let mut w = visit(&hh[0].0, &hh[0].1, 20);
    w.photos.clear();
    w.photo_kinds.clear();
    submit(&mut d2, std::slice::from_ref(&w)).await;
    let mut vb = visit(&hh_b[0].0, &hh_b[0].1, 30);
    vb.photos.clear();
    vb.photo_kinds.clear();
    submit(&mut db, std::slice::from_ref(&vb)).await;

    // Enumerators reach none of it.
    for path in [
        "/api/v1/review/visits".to_string(),
        format!("/api/v1/review/visits/{}", v0.visit_id),
        "/api/v1/review/batches".into(),
        "/api/v1/review/progress".into(),
        "/api/v1/export/visits.csv".into(),
        "/api/v1/export/visits.xlsx".into(),
        "/api/v1/admin/audit".into(),
        format!(
            "/api/v1/review/visits/{}/photos/{}",
            v0.visit_id, v0.photos[0]
        ),
    ] {
        let (st, p) = problem(d.get(&path).await).await;
        assert_eq!(
            (st, p["code"].as_str().unwrap()),
            (StatusCode::FORBIDDEN, "auth.forbidden"),
            "{path}"
        );
    }
    let (st, _) = problem(
        d.post(&format!("/api/v1/review/batches/{batch}/approve"))
            .await,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // The queue: the caller's areas only, filters, paging.
    let all: ReviewList = json_ok(spv.get("/api/v1/review/visits").await).await;
    let ids: Vec<Uuid> = all.visits.iter().map(|v| v.found.visit_id).collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert!(!ids.contains(&vb.visit_id));
    let only_b: ReviewList = json_ok(spv_b.get("/api/v1/review/visits").await).await;
    assert_eq!(only_b.visits.len(), 1);
    assert_eq!(only_b.visits[0].found.visit_id, vb.visit_id);
    let outside: ReviewList = json_ok(
        spv.get(&format!("/api/v1/review/visits?area={DESA_B}"))
            .await,
    )
    .await;
    assert!(outside.visits.is_empty(), "area= cannot widen the scope");
    let by2: ReviewList = json_ok(spv.get("/api/v1/review/visits?enumerator=petugas2").await).await;
    assert_eq!(by2.visits.len(), 1);
    assert_eq!(by2.visits[0].found.visit_id, w.visit_id);
    let in_batch: ReviewList = json_ok(
        spv.get(&format!("/api/v1/review/visits?batch={batch}"))
            .await,
    )
    .await;
    assert_eq!(in_batch.visits.len(), 3);
    let outcome = v0.outcome.as_str();
    let by_outcome: ReviewList = json_ok(
        spv.get(&format!("/api/v1/review/visits?outcome={outcome}"))
            .await,
    )
    .await;
    assert!(
        by_outcome
            .visits
            .iter()
            .all(|v| v.found.outcome.as_str() == outcome)
    );
    let (st, p) = problem(spv.get("/api/v1/review/visits?outcome=nope").await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "review.bad_filter")
    );
    let page1: ReviewList = json_ok(spv.get("/api/v1/review/visits?limit=3").await).await;
    assert_eq!(page1.visits.len(), 3);
    let after = page1.next_after.expect("a next page");
    let page2: ReviewList = json_ok(
        spv.get(&format!("/api/v1/review/visits?limit=3&after={after}"))
            .await,
    )
    .await;
    assert_eq!(page2.visits.len(), 1);
    assert!(page2.next_after.is_none());

    // One visit: baseline and findings, photos, the second visit to the household flagged.
    let one: ReviewVisit = json_ok(
        spv.get(&format!("/api/v1/review/visits/{}", v0.visit_id))
            .await,
    )
    .await;
    assert_eq!(one.other_visits, vec![w.visit_id]);
    assert_eq!(one.baseline.as_ref().unwrap().id, hh[0].0.id);
    assert_eq!(one.baseline_members.len(), hh[0].1.len());
    assert!(one.photos[0].present);
    assert_eq!(one.kode_desa, DESA_A);
    let missing: ReviewVisit = json_ok(
        spv.get(&format!("/api/v1/review/visits/{}", v1.visit_id))
            .await,
    )
    .await;
    assert!(!missing.photos[0].present);
    let (st, _) = problem(
        spv_b
            .get(&format!("/api/v1/review/visits/{}", v0.visit_id))
            .await,
    )
    .await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "another area's visit does not exist"
    );

    // Photos: to reviewers of the area, byte for byte.
    let r = spv
        .get(&format!(
            "/api/v1/review/visits/{}/photos/{}",
            v0.visit_id, v0.photos[0]
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().to_vec(), photo);
    for (who, path) in [
        (
            &spv_b,
            format!(
                "/api/v1/review/visits/{}/photos/{}",
                v0.visit_id, v0.photos[0]
            ),
        ),
        (
            &spv,
            format!(
                "/api/v1/review/visits/{}/photos/{}",
                v2.visit_id, v0.photos[0]
            ),
        ),
        (
            &spv,
            format!(
                "/api/v1/review/visits/{}/photos/{}",
                v1.visit_id, v1.photos[0]
            ),
        ),
    ] {
        assert_eq!(
            problem(who.get(&path).await).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }

    // Batches and the bulk approval: one refusal does not block the others.
    let batches: BatchList = json_ok(spv.get("/api/v1/review/batches").await).await;
    assert_eq!(batches.batches.len(), 2);
    let mine = batches
        .batches
        .iter()
        .find(|x| x.batch_id == batch)
        .unwrap();
    assert_eq!((mine.visit_count, mine.states["submitted"]), (3, 3));
    assert_eq!(mine.enumerator.username, "petugas");
    let bulk: BulkResponse = json_ok(
        spv.post(&format!("/api/v1/review/batches/{batch}/approve"))
            .await,
    )
    .await;
    assert_eq!(bulk.results.len(), 3);
    for r in &bulk.results {
        if r.visit_id == v1.visit_id {
            assert_eq!(r.error.as_ref().unwrap().code, "review.photos_missing");
            assert!(r.state.is_none());
        } else if r.visit_id == v0.visit_id {
            // Its household has petugas2's visit waiting too: one at a time, side by side.
            assert_eq!(r.error.as_ref().unwrap().code, "review.second_visit");
            assert!(r.state.is_none());
        } else {
            assert_eq!(r.state.unwrap().as_str(), "approved", "{r:?}");
        }
    }
    // A plain approval is refused too (one approved truth per household); the supervisor
    // compares the two visits of that household and approves this one in the other's place.
    let (st, p) = problem(
        spv.decide(v0.visit_id, json!({"decision": "approve"}))
            .await,
    )
    .await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::CONFLICT, "review.second_visit")
    );
    let one = spv
        .decide(
            v0.visit_id,
            json!({"decision": "approve", "supersede": true}),
        )
        .await;
    assert!(one.status().is_success(), "{}", one.text().await.unwrap());
    let again: BulkResponse = json_ok(
        spv.post(&format!("/api/v1/review/batches/{batch}/approve"))
            .await,
    )
    .await;
    assert_eq!(again.results.len(), 1, "only the refused visit is left");
    let (st, p) = problem(
        spv_b
            .post(&format!("/api/v1/review/batches/{batch}/approve"))
            .await,
    )
    .await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "review.batch_empty"),
        "another area's batch has nothing for them"
    );
    let batches: BatchList = json_ok(spv.get("/api/v1/review/batches").await).await;
    let mine = batches
        .batches
        .iter()
        .find(|x| x.batch_id == batch)
        .unwrap();
    assert_eq!((mine.states["approved"], mine.states["submitted"]), (2, 1));

    // Progress per desa and per enumerator.
    let p: Progress = json_ok(spv.get("/api/v1/review/progress").await).await;
    assert_eq!(p.areas.len(), 1);
    let a = &p.areas[0];
    assert_eq!(
        (
            a.kode_desa.as_str(),
            a.assigned,
            a.visited,
            a.submitted,
            a.approved
        ),
        // petugas2's visit of the first household was superseded: v1 alone waits.
        (DESA_A, 4, 3, 1, 2)
    );
    let names: Vec<&str> = p
        .enumerators
        .iter()
        .map(|e| e.enumerator.username.as_str())
        .collect();
    assert_eq!(names, vec!["petugas", "petugas2"]);
    // Nothing was assigned by name: the desa's four are shared by its enumerators.
    assert_eq!(
        (
            p.enumerators[0].assigned,
            p.enumerators[0].shared,
            p.enumerators[0].approved,
            p.enumerators[0].submitted
        ),
        (0, 4, 2, 1)
    );

    // An admin may reopen an approved visit (with a reason); a supervisor may not.
    let (st, p) = problem(
        spv.decide(
            v0.visit_id,
            json!({"decision": "reopen", "reason": "NIK salah"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::FORBIDDEN, "state.forbidden")
    );
    let r = admin
        .decide(
            v0.visit_id,
            json!({"decision": "reopen", "reason": "NIK kepala keluarga salah"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let reopened: ReviewVisit = json_ok(
        spv.get(&format!("/api/v1/review/visits/{}", v0.visit_id))
            .await,
    )
    .await;
    assert_eq!(reopened.state.as_str(), "submitted");
    let history: Vec<&str> = reopened
        .reviews
        .iter()
        .map(|e| e.reason.as_deref().unwrap_or("-"))
        .collect();
    assert_eq!(history, vec!["-", "NIK kepala keluarga salah"]);
    assert_eq!(reopened.reviews[1].reviewer, "admin");

    // Export: approved visits of the caller's areas, with the upload's columns.
    let r = spv.get("/api/v1/export/visits.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = r.text().await.unwrap();
    let mut rd = csv::Reader::from_reader(body.as_bytes());
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    for col in [
        "id_dtsen",
        "no_kk",
        "nik_krt",
        "nama_krt",
        "hasil_kunjungan",
        "alasan",
        "lat",
        "lon",
        "petugas",
        "pemeriksa",
        "tanggal_disetujui",
    ] {
        assert!(header.iter().any(|h| h == col), "{col} in {header:?}");
    }
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(
        rows.len(),
        1,
        "v2 only: v0 was reopened, v1 waits for its photo"
    );
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][col("visit_id")], v2.visit_id.to_string());
    assert_eq!(
        &rows[0][col("id_dtsen")],
        hh[2].0.id_dtsen.as_deref().unwrap()
    );
    assert_eq!(&rows[0][col("pemeriksa")], "spv");
    assert_eq!(&rows[0][col("petugas")], "petugas");
    let other = spv_b
        .get("/api/v1/export/visits.csv")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(other.lines().count(), 1, "another area: the header only");
    let (st, _) = problem(spv.get("/api/v1/export/visits.pdf").await).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, p) = problem(spv.get("/api/v1/export/visits.csv?state=nope").await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "review.bad_filter")
    );

    let r = spv.get("/api/v1/export/visits.xlsx").await;
    assert_eq!(r.status(), StatusCode::OK);
    let bytes = r.bytes().await.unwrap().to_vec();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut sheet = String::new();
    zip.by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut sheet)
        .unwrap();
    assert!(sheet.contains(&v2.visit_id.to_string()));
    assert!(sheet.contains("nik_krt"));
    assert!(!sheet.contains(&v0.visit_id.to_string()));

    // The CLI's export over the same data: everything approved, written whole.
    let out = s.data_dir.join("ekspor.csv");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_verivali-server"))
        .args(["--database", &s.db_url, "--data-dir"])
        .arg(&s.data_dir)
        .args([
            "export", "visits", "--state", "approved", "--format", "csv", "--output",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let file = std::fs::read_to_string(&out).unwrap();
    assert_eq!(file, body, "CLI and API export the same rows");

    // Every read of personal data is in the audit log, which only an admin reads.
    assert_eq!(
        problem(spv.get("/api/v1/admin/audit").await).await.0,
        StatusCode::FORBIDDEN
    );
    let log: Value = json_ok(admin.get("/api/v1/admin/audit?limit=1000").await).await;
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "review.list",
        "review.view",
        "review.photo",
        "review.decision",
        "export.visits",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let exports: Value = json_ok(admin.get("/api/v1/admin/audit?action=export.visits").await).await;
    let details: Vec<&str> = exports["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(details.len(), 4, "{details:?}");
    assert!(details[0].starts_with("cli: 1 visits"), "{details:?}");
    assert!(exports["entries"][1]["username"] == "spv");

    // Every action this flow wrote to the audit log has a label in the vocabulary (the audit
    // page words them), and a decision's detail is in wire names the page can word too.
    let log: Value = json_ok(admin.get("/api/v1/admin/audit?limit=500").await).await;
    let known: Vec<&str> = verivali_domain::vocabulary::AUDIT_ACTIONS
        .iter()
        .map(|(c, _)| *c)
        .collect();
    let entries = log["entries"].as_array().unwrap();
    assert!(entries.len() > 10);
    let unknown: std::collections::BTreeSet<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| !known.contains(a))
        .collect();
    assert!(unknown.is_empty(), "actions without a label: {unknown:?}");
    for e in entries {
        let action = e["action"].as_str().unwrap();
        if action == "review.decision" {
            let d = e["detail"].as_str().unwrap();
            // A supersession names the visit approved in its place; the flags seen follow.
            let d = d.split("; flags ").next().unwrap();
            let d = d.split(" by ").next().unwrap();
            assert!(
                [
                    "approve -> approved",
                    "reject -> rejected",
                    "reopen -> submitted",
                    "supersede -> superseded"
                ]
                .contains(&d),
                "{d}"
            );
        }
    }

    // The approval kept the export's cells in compact form; without them the export decodes
    // the record and writes the same bytes; `export prepare` writes them again.
    let v2_cells = format!(
        "SELECT count(*) FROM visit_exports WHERE visit_id = '{}'",
        v2.visit_id
    );
    assert_eq!(
        s.count(&v2_cells).await,
        1,
        "v2's cells, written when it was approved"
    );
    s.sql("DELETE FROM visit_exports", vec![]).await;
    let decoded = spv
        .get("/api/v1/export/visits.csv")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(decoded, body, "decoded and compact cells export alike");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_verivali-server"))
        .args(["--database", &s.db_url, "--data-dir"])
        .arg(&s.data_dir)
        .args(["export", "prepare"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        "1 visits prepared for export",
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(s.count(&v2_cells).await, 1);
    // Stale cells (another revision) are never used: the record is decoded instead.
    s.sql(
        "UPDATE visit_exports SET revision = revision + 100, cells = 'x'",
        vec![],
    )
    .await;
    let again = spv
        .get("/api/v1/export/visits.csv")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(again, body, "stale cells are ignored");
}
both_backends!(queue, queue_batches_progress_photos_exports_and_audit);

/// The queue pages by cursor: every waiting visit exactly once, and a next page offered only
/// when there is one, also when the last page is exactly full (issue 15).
async fn the_queue_pages_each_visit_once(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    let hh = s.import(DESA_A, 100, 7).await;
    let mut d = s.sign_in("petugas").await;
    let spv = s.sign_in("spv").await;
    let visits: Vec<VisitRecord> = hh
        .iter()
        .enumerate()
        .map(|(i, (h, m))| {
            let mut v = visit(h, m, 100 + i as u64);
            v.photos.clear();
            v.photo_kinds.clear();
            v
        })
        .collect();
    submit(&mut d, &visits).await;
    for (limit, pages) in [(25usize, vec![25, 25, 25, 25]), (30, vec![30, 30, 30, 10])] {
        let mut seen = std::collections::BTreeSet::new();
        let mut after: Option<Uuid> = None;
        let mut sizes = vec![];
        loop {
            let url = match after {
                Some(a) => format!("/api/v1/review/visits?limit={limit}&after={a}"),
                None => format!("/api/v1/review/visits?limit={limit}"),
            };
            let page: ReviewList = json_ok(spv.get(&url).await).await;
            sizes.push(page.visits.len());
            for v in &page.visits {
                assert!(seen.insert(v.found.visit_id), "{} twice", v.found.visit_id);
            }
            match page.next_after {
                Some(a) => after = Some(a),
                None => break,
            }
        }
        assert_eq!(sizes, pages, "pages of {limit}");
        assert_eq!(seen.len(), 100);
    }

    // Highest risk first, then oldest, over both states of the queue and at every depth: risks
    // tied across submitted and returned visits, walked seven at a time (`repo::review::by_risk`
    // reads each state's ranges and merges them).
    for (i, v) in visits.iter().enumerate() {
        let state = if i % 4 == 0 { "returned" } else { "submitted" };
        s.sql(
            "UPDATE visits SET state = $1, risk = $2 WHERE id = $3",
            vec![state.into(), ((i % 3) as i64).into(), v.visit_id.into()],
        )
        .await;
    }
    let mut expected: Vec<(u32, Uuid)> = visits
        .iter()
        .enumerate()
        .map(|(i, v)| ((i % 3) as u32, v.visit_id))
        .collect();
    expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut walked = vec![];
    let mut after: Option<Uuid> = None;
    loop {
        let url = match after {
            Some(a) => format!("/api/v1/review/visits?limit=7&after={a}"),
            None => "/api/v1/review/visits?limit=7".to_string(),
        };
        let page: ReviewList = json_ok(spv.get(&url).await).await;
        walked.extend(page.visits.iter().map(|v| (v.risk, v.found.visit_id)));
        match page.next_after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    assert_eq!(walked, expected);

    // Every state at once (`state=all`: seven states' ranges merged), drafts and decided visits
    // among them.
    for (i, v) in visits.iter().enumerate().filter(|(i, _)| i % 10 == 3) {
        let state = if i % 20 == 3 { "approved" } else { "draft" };
        s.sql(
            "UPDATE visits SET state = $1 WHERE id = $2",
            vec![state.into(), v.visit_id.into()],
        )
        .await;
    }
    let mut walked = vec![];
    let mut after: Option<Uuid> = None;
    loop {
        let url = match after {
            Some(a) => format!("/api/v1/review/visits?state=all&limit=7&after={a}"),
            None => "/api/v1/review/visits?state=all&limit=7".to_string(),
        };
        let page: ReviewList = json_ok(spv.get(&url).await).await;
        walked.extend(page.visits.iter().map(|v| (v.risk, v.found.visit_id)));
        match page.next_after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    assert_eq!(walked, expected, "state=all");
    // After a visit that exists: the rest of the order. After one that does not (no risk to
    // start from): the visits with a later id, highest risk first.
    let page: ReviewList = json_ok(
        spv.get(&format!(
            "/api/v1/review/visits?state=all&limit=200&after={}",
            expected[50].1
        ))
        .await,
    )
    .await;
    assert_eq!(
        page.visits
            .iter()
            .map(|v| (v.risk, v.found.visit_id))
            .collect::<Vec<_>>(),
        expected[51..].to_vec(),
        "after a visit that exists"
    );
    let gone = Uuid::from_u128(expected[50].1.as_u128() + 1);
    let page: ReviewList = json_ok(
        spv.get(&format!(
            "/api/v1/review/visits?state=all&limit=200&after={gone}"
        ))
        .await,
    )
    .await;
    let mut fallback: Vec<(u32, Uuid)> = expected
        .iter()
        .copied()
        .filter(|(_, id)| *id > gone)
        .collect();
    fallback.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(
        page.visits
            .iter()
            .map(|v| (v.risk, v.found.visit_id))
            .collect::<Vec<_>>(),
        fallback,
        "after a visit that does not exist"
    );
}

both_backends!(queue_pages, the_queue_pages_each_visit_once);

async fn web_sign_in(s: &TestServer, c: &reqwest::Client, user: &str) -> reqwest::Response {
    c.post(format!("{}/api/v1/web/session", s.url))
        .json(&json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_dashboard_session_is_a_cookie_with_csrf_for_writes() {
    let s = TestServer::start(Backend::Sqlite).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    let hh = s.import(DESA_A, 1, 1).await;
    let mut d = s.sign_in("petugas").await;
    let mut v = visit(&hh[0].0, &hh[0].1, 5);
    v.photos.clear();
    v.photo_kinds.clear();
    submit(&mut d, std::slice::from_ref(&v)).await;

    // The page itself, locked down.
    let r = s.client.get(format!("{}/", s.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    assert!(r.text().await.unwrap().contains("/assets/app.js"));
    for asset in ["app.js", "app.css", "messages.json", "vocabulary.json"] {
        let r = s
            .client
            .get(format!("{}/assets/{asset}", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
        assert!(r.text().await.unwrap().len() > 100, "{asset} has content");
    }

    // Enumerators do not get a dashboard session; a form post is not a sign-in.
    let c = s.client.clone();
    let (st, p) = problem(web_sign_in(&s, &c, "petugas").await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::FORBIDDEN, "auth.dashboard_role")
    );
    let r = c
        .post(format!("{}/api/v1/web/session", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username=spv&password={PASSWORD}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // A supervisor: an HttpOnly, SameSite=Strict cookie and a CSRF token.
    let r = web_sign_in(&s, &c, "spv").await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let ck = cookie.split(';').next().unwrap().to_string();
    let session: Value = r.json().await.unwrap();
    let csrf = session["csrf"].as_str().unwrap().to_string();
    assert_eq!(session["user"]["role"], "supervisor");
    let me: Value = json_ok(
        c.get(format!("{}/api/v1/web/me", s.url))
            .header("cookie", &ck)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (me["user"]["username"].as_str(), me["csrf"].as_str()),
        (Some("spv"), Some(csrf.as_str()))
    );
    let list: ReviewList = json_ok(
        c.get(format!("{}/api/v1/review/visits", s.url))
            .header("cookie", &ck)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list.visits.len(), 1, "reads work with the cookie alone");

    // Writes with the cookie need the CSRF token.
    let url = format!("{}/api/v1/review/visits/{}/decision", s.url, v.visit_id);
    for bad in [None, Some("0".repeat(64))] {
        let mut rq = c
            .post(&url)
            .header("cookie", &ck)
            .json(&json!({"decision": "approve"}));
        if let Some(t) = bad {
            rq = rq.header("x-csrf-token", t);
        }
        let (st, p) = problem(rq.send().await.unwrap()).await;
        assert_eq!(
            (st, p["code"].as_str().unwrap()),
            (StatusCode::FORBIDDEN, "auth.csrf")
        );
    }
    let still: ReviewVisit = json_ok(
        c.get(format!("{}/api/v1/review/visits/{}", s.url, v.visit_id))
            .header("cookie", &ck)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        still.state.as_str(),
        "submitted",
        "a refused write changed nothing"
    );
    let r = c
        .post(&url)
        .header("cookie", &ck)
        .header("x-csrf-token", &csrf)
        .json(&json!({"decision": "approve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());

    // Sign-out ends the session at once.
    let r = c
        .delete(format!("{}/api/v1/web/session", s.url))
        .header("cookie", &ck)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = c
        .get(format!("{}/api/v1/web/me", s.url))
        .header("cookie", &ck)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the old token is revoked"
    );
}

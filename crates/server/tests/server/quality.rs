//! Quality control (DESIGN.md §11) on both backends: every rule fires at ingest on a crafted visit
//! and stays quiet on a clean one; the queue is ordered by risk and filtered by flag; bulk
//! approval refuses a flagged visit until it is confirmed; the decision's audit keeps the flags
//! seen; the export carries them; thresholds are an admin's (API and CLI) and re-check open
//! visits; the enumerator comparison puts the careless one first.

use crate::common::*;
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use verivali_domain::{Batch, Role, VisitRecord};
use verivali_protocol::review::{BulkResponse, EnumeratorComparison, ReviewList, ReviewVisit};
use verivali_protocol::{OpBody, OpStatus};

/// Records and submits visits in one push, as one batch; returns the batch id.
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

async fn shown(spv: &Device, visit: Uuid) -> ReviewVisit {
    let r = spv.get(&format!("/api/v1/review/visits/{visit}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

fn codes(v: &ReviewVisit) -> Vec<&str> {
    let mut c: Vec<&str> = v.flags.iter().map(String::as_str).collect();
    c.sort_unstable();
    c
}

/// A visit without photos (approval needs the bytes; the rules need only the hashes).
fn plain(
    hh: &(verivali_domain::Household, Vec<verivali_domain::Member>),
    seed: u64,
) -> VisitRecord {
    let mut v = visit(&hh.0, &hh.1, seed);
    v.photos.clear();
    v.photo_kinds.clear();
    v
}

async fn put_thresholds(d: &Device, t: Value) -> reqwest::Response {
    d.client
        .put(format!("{}/api/v1/admin/quality/thresholds", d.url))
        .bearer_auth(&d.token)
        .json(&t)
        .send()
        .await
        .unwrap()
}

async fn each_rule_fires_on_its_visit(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("petugas2", Role::Enumerator, &[DESA_A]).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    s.add_user("admin", Role::Admin, &["33"]).await;
    let hh = s.import(DESA_A, 10, 16).await;
    let mut d = s.sign_in("petugas").await;
    let mut d2 = s.sign_in("petugas2").await;
    let spv = s.sign_in("spv").await;
    let admin = s.sign_in("admin").await;

    // A clean visit: no flag, no risk.
    let clean = plain(&hh[0], 1);
    // The reference point: hh[1]'s approved visit; a colleague's later fix 2 km away.
    let reference = plain(&hh[1], 2);
    submit(&mut d2, std::slice::from_ref(&reference)).await;
    let r = spv
        .decide(reference.visit_id, json!({"decision": "approve"}))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let mut far = plain(&hh[1], 3);
    far.gps = reference.gps.map(|g| verivali_domain::Gps {
        lat: g.lat + 0.018,
        ..g
    });
    // Four minutes in the foreground for a found household.
    let mut fast = plain(&hh[2], 4);
    fast.paradata.as_mut().unwrap().duration_s = 240;
    // No fix at the door; a vague fix; a mocked one (said only in the paradata).
    let mut no_fix = plain(&hh[3], 5);
    no_fix.gps = None;
    no_fix.paradata.as_mut().unwrap().gps_finish = None;
    no_fix.paradata.as_mut().unwrap().gps_start = None;
    let mut vague = plain(&hh[4], 6);
    vague.gps.as_mut().unwrap().accuracy_m = 80.0;
    let mut mocked = plain(&hh[5], 7);
    mocked.paradata.as_mut().unwrap().mock_location = Some(true);
    // A NIK that a living member of hh[7] holds.
    let mut dup = plain(&hh[6], 8);
    let holder = hh[7].1[0].clone();
    dup.members[0].nik = holder.nik.clone();
    dup.members[0].birth_date = holder.birth_date;
    dup.members[0].sex = holder.sex;
    // One photo in two visits: the later one is flagged, the first is not.
    let photo = d.upload(b"synthetic photo of a house front").await;
    let mut first_photo = plain(&hh[8], 9);
    first_photo.photos = vec![photo.clone()];
    let mut reused = plain(&hh[9], 10);
    reused.photos = vec![photo.clone()];
    reused.finished_at = first_photo.finished_at.map(|f| f + Duration::minutes(1));
    // An older device: no paradata at all, and the same clean facts otherwise.
    let mut old_device = plain(&hh[0], 11);
    old_device.paradata = None;
    submit(
        &mut d,
        &[
            clean.clone(),
            far.clone(),
            fast.clone(),
            no_fix.clone(),
            vague.clone(),
            mocked.clone(),
            dup.clone(),
            first_photo.clone(),
        ],
    )
    .await;
    submit(&mut d, &[reused.clone()]).await;

    assert_eq!(
        codes(&shown(&spv, clean.visit_id).await),
        Vec::<&str>::new()
    );
    assert_eq!(shown(&spv, clean.visit_id).await.risk, 0);
    let f = shown(&spv, far.visit_id).await;
    assert_eq!(codes(&f), vec!["quality.gps_far", "quality.two_visits"]);
    let gps_far = f
        .quality
        .iter()
        .find(|f| f.code.as_str() == "quality.gps_far")
        .unwrap();
    let metres = gps_far.detail["distance_m"].as_f64().unwrap();
    assert!((1900.0..2100.0).contains(&metres), "{gps_far:?}");
    // Each flag in words, in the reader's language.
    assert!(
        gps_far
            .message
            .starts_with("Jauh dari titik rumah tangga: 2"),
        "{}",
        gps_far.message
    );
    assert_eq!(
        codes(&shown(&spv, fast.visit_id).await),
        vec!["quality.too_fast"]
    );
    assert_eq!(
        codes(&shown(&spv, no_fix.visit_id).await),
        vec!["quality.gps_missing"]
    );
    assert_eq!(
        codes(&shown(&spv, vague.visit_id).await),
        vec!["quality.gps_inaccurate"]
    );
    assert_eq!(
        codes(&shown(&spv, mocked.visit_id).await),
        vec!["quality.mock_location"]
    );
    let n = shown(&spv, dup.visit_id).await;
    assert_eq!(codes(&n), vec!["quality.nik_duplicate"]);
    assert_eq!(n.quality[0].detail["other_household"], json!(hh[7].0.id));
    assert!(
        n.quality[0].message.contains("********"),
        "a NIK is masked in words"
    );
    assert_eq!(
        codes(&shown(&spv, first_photo.visit_id).await),
        Vec::<&str>::new()
    );
    let p = shown(&spv, reused.visit_id).await;
    assert_eq!(codes(&p), vec!["quality.photo_reused"]);
    assert_eq!(
        p.quality[0].detail["other_visit"],
        json!(first_photo.visit_id)
    );
    assert_eq!(p.risk, 10);

    // The older device's visit is accepted and judged on its clock times (12 minutes: clean);
    // the household's first visit now sees a second one.
    submit(&mut d2, std::slice::from_ref(&old_device)).await;
    assert_eq!(
        codes(&shown(&spv, old_device.visit_id).await),
        vec!["quality.two_visits"]
    );
    assert_eq!(
        codes(&shown(&spv, clean.visit_id).await),
        vec!["quality.two_visits"]
    );

    // A household given to petugas2 after petugas visited it: reassigned.
    let r = spv
        .client
        .post(format!("{}/api/v1/assignments", spv.url))
        .bearer_auth(&spv.token)
        .json(&json!({"enumerator": "petugas2", "household_ids": [hh[2].0.id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(
        codes(&shown(&spv, fast.visit_id).await),
        vec!["quality.reassigned", "quality.too_fast"]
    );

    // The queue: highest risk first; filtered by a flag; a flag that does not exist is a 400.
    let r = spv.get("/api/v1/review/visits?limit=3").await;
    let page: ReviewList = r.json().await.unwrap();
    let risks: Vec<u32> = page.visits.iter().map(|v| v.risk).collect();
    assert_eq!(risks[0], 10, "{risks:?}");
    assert!(risks.windows(2).all(|w| w[0] >= w[1]), "{risks:?}");
    // Paging by risk walks every submitted visit once.
    let mut seen = page
        .visits
        .iter()
        .map(|v| v.found.visit_id)
        .collect::<Vec<_>>();
    let mut after = page.next_after;
    while let Some(a) = after {
        let page: ReviewList = spv
            .get(&format!("/api/v1/review/visits?limit=3&after={a}"))
            .await
            .json()
            .await
            .unwrap();
        seen.extend(page.visits.iter().map(|v| v.found.visit_id));
        after = page.next_after;
    }
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (10, 10), "{seen:?}");
    let only: ReviewList = spv
        .get("/api/v1/review/visits?flag=quality.photo_reused")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        only.visits
            .iter()
            .map(|v| v.found.visit_id)
            .collect::<Vec<_>>(),
        vec![reused.visit_id]
    );
    let (st, p) = problem(spv.get("/api/v1/review/visits?flag=quality.nope").await).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{p}");

    // Bulk approval of the first batch: flagged visits are refused until confirmed one by one.
    let batch = shown(&spv, clean.visit_id).await.batch_id.unwrap();
    let r = spv
        .client
        .post(format!("{}/api/v1/review/batches/{batch}/approve", spv.url))
        .bearer_auth(&spv.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let bulk: BulkResponse = r.json().await.unwrap();
    let refused: Vec<Uuid> = bulk
        .results
        .iter()
        .filter(|r| r.error.as_ref().is_some_and(|e| e.code == "review.flagged"))
        .map(|r| r.visit_id)
        .collect();
    assert!(refused.contains(&fast.visit_id) && refused.contains(&dup.visit_id));
    assert!(!refused.contains(&first_photo.visit_id), "{bulk:?}");
    assert_eq!(
        shown(&spv, first_photo.visit_id).await.state.as_str(),
        "approved"
    );
    let r = spv
        .client
        .post(format!("{}/api/v1/review/batches/{batch}/approve", spv.url))
        .bearer_auth(&spv.token)
        .json(&json!({"confirmed": [vague.visit_id]}))
        .send()
        .await
        .unwrap();
    let bulk: BulkResponse = r.json().await.unwrap();
    assert!(
        bulk.results
            .iter()
            .any(|r| r.visit_id == vague.visit_id && r.error.is_none()),
        "{bulk:?}"
    );
    assert_eq!(shown(&spv, vague.visit_id).await.state.as_str(), "approved");

    // The audit trail keeps the flags the supervisor saw.
    let log: Value = admin
        .get("/api/v1/admin/audit?action=review.decision")
        .await
        .json()
        .await
        .unwrap();
    let text = log.to_string();
    assert!(text.contains("flags quality.gps_inaccurate"), "{text}");

    // The export: a column of codes per visit.
    let csv = spv
        .get("/api/v1/export/visits.csv")
        .await
        .text()
        .await
        .unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "tanda_mutu").unwrap();
    let row = csv
        .lines()
        .find(|l| l.starts_with(&vague.visit_id.to_string()))
        .unwrap();
    assert_eq!(row.split(',').nth(col), Some("quality.gps_inaccurate"));

    // The comparison: petugas's visits are mostly flagged, petugas2's mostly not.
    let cmp: EnumeratorComparison = spv
        .get(&format!("/api/v1/review/enumerators?area={DESA_A}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cmp.enumerators[0].enumerator.username, "petugas");
    assert_eq!(cmp.enumerators[0].visits, 9);
    assert_eq!(cmp.enumerators[0].median_duration_s, Some(660));
    assert!(cmp.enumerators[0].flagged_share > cmp.enumerators[1].flagged_share);
    assert!(cmp.enumerators[0].flagged_share_by_code["quality.too_fast"] > 0.0);
    let (st, _) = problem(d.get("/api/v1/review/enumerators").await).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

async fn a_burst_and_new_thresholds(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    s.add_user("admin", Role::Admin, &["33"]).await;
    let hh = s.import(DESA_A, 6, 17).await;
    let mut d = s.sign_in("petugas").await;
    let spv = s.sign_in("spv").await;
    let admin = s.sign_in("admin").await;

    // Only an admin changes thresholds, and only to sane ones.
    let mut t: Value = admin
        .get("/api/v1/admin/quality/thresholds")
        .await
        .json()
        .await
        .unwrap();
    let (st, p) = problem(put_thresholds(&spv, t.clone()).await).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{p}");
    assert_eq!(t["burst_per_hour"], json!(12));
    assert_eq!(t["min_duration_s"]["ditemukan"], json!(300));
    t["gps_far_m"] = json!(-1);
    let (st, p) = problem(put_thresholds(&admin, t.clone()).await).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["code"], json!("quality.thresholds_invalid"));
    t["gps_far_m"] = json!(200);

    // Four visits finished ten minutes apart: no burst at 12 an hour.
    let now = Utc::now();
    let visits: Vec<VisitRecord> = (0..4)
        .map(|i| {
            let mut v = plain(&hh[i], 20 + i as u64);
            v.finished_at = Some(now - Duration::minutes(10 * i as i64));
            v.started_at = v.finished_at.unwrap() - Duration::minutes(12);
            v
        })
        .collect();
    // Recorded one push at a time: the first ones learn of the burst from the last.
    for v in &visits {
        submit(&mut d, std::slice::from_ref(v)).await;
    }
    for v in &visits {
        assert!(shown(&spv, v.visit_id).await.flags.is_empty());
    }
    // At three an hour, every open visit is checked again: all four are a burst.
    t["burst_per_hour"] = json!(3);
    let r = put_thresholds(&admin, t.clone()).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    for v in &visits {
        let f = shown(&spv, v.visit_id).await;
        assert_eq!(codes(&f), vec!["quality.burst"], "{:?}", f.quality);
        assert_eq!(f.quality[0].detail["visits"], json!(4));
    }
    // A fifth visit an hour later stays out of the burst; the CLI sets the limit back.
    let mut later = plain(&hh[0], 30);
    later.finished_at = Some(now + Duration::minutes(70));
    later.started_at = now + Duration::minutes(58);
    later.paradata = None;
    submit(&mut d, std::slice::from_ref(&later)).await;
    assert_eq!(
        codes(&shown(&spv, later.visit_id).await),
        vec!["quality.two_visits"]
    );
    t["burst_per_hour"] = json!(12);
    let file = s.data_dir.join("ambang.json");
    std::fs::write(&file, t.to_string()).unwrap();
    let db_url = s.db_url.clone();
    let data_dir = s.data_dir.clone();
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_verivali-server"))
            .args(["--database", &db_url, "--data-dir"])
            .arg(&data_dir)
            .args(["quality", "thresholds", "--set"])
            .arg(&file)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let printed: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(printed["burst_per_hour"], json!(12));
    for v in &visits[1..] {
        assert!(shown(&spv, v.visit_id).await.flags.is_empty());
    }
    assert_eq!(
        codes(&shown(&spv, visits[0].visit_id).await),
        vec!["quality.two_visits"]
    );

    // At ingest too, not only on a change of thresholds: with the limit at four an hour (set
    // behind the server's back, so nothing is re-checked), a fifth visit in that hour makes a
    // burst of all five; the earlier ones learn of it without being recorded again, and a
    // second visit of a household learns of both news at once.
    t["burst_per_hour"] = json!(4);
    s.sql(
        "UPDATE settings SET value = $1 WHERE key = 'quality.thresholds'",
        vec![t.to_string().into()],
    )
    .await;
    let mut fifth = plain(&hh[1], 40);
    fifth.finished_at = Some(now - Duration::minutes(5));
    fifth.started_at = now - Duration::minutes(17);
    submit(&mut d, std::slice::from_ref(&fifth)).await;
    assert_eq!(
        codes(&shown(&spv, fifth.visit_id).await),
        vec!["quality.burst", "quality.two_visits"]
    );
    assert_eq!(
        codes(&shown(&spv, visits[1].visit_id).await),
        vec!["quality.burst", "quality.two_visits"]
    );
    for v in &visits[2..] {
        let f = shown(&spv, v.visit_id).await;
        assert_eq!(codes(&f), vec!["quality.burst"], "{:?}", f.quality);
        assert_eq!(f.quality[0].detail["visits"], json!(5));
    }
    assert_eq!(
        codes(&shown(&spv, later.visit_id).await),
        vec!["quality.two_visits"],
        "70 minutes on, outside the hour"
    );

    // Devices sync in any order: a copy finished at 13:00 arrives before the visit that took the
    // photo at 12:00. The copy is clean when it arrives (nothing used the photo yet), and is
    // flagged when the original arrives; the original stays clean.
    let photo = d.upload(b"synthetic photo of a kitchen").await;
    let mut copy = plain(&hh[5], 50);
    copy.finished_at = Some(now + Duration::hours(4));
    copy.started_at = now + Duration::hours(4) - Duration::minutes(12);
    copy.photos = vec![photo.clone()];
    submit(&mut d, std::slice::from_ref(&copy)).await;
    assert!(shown(&spv, copy.visit_id).await.flags.is_empty());
    let mut original = plain(&hh[4], 51);
    original.finished_at = Some(now + Duration::hours(3));
    original.started_at = now + Duration::hours(3) - Duration::minutes(12);
    original.photos = vec![photo.clone()];
    submit(&mut d, std::slice::from_ref(&original)).await;
    assert!(shown(&spv, original.visit_id).await.flags.is_empty());
    let c = shown(&spv, copy.visit_id).await;
    assert_eq!(codes(&c), vec!["quality.photo_reused"]);
    assert_eq!(c.quality[0].detail["other_visit"], json!(original.visit_id));
}

/// A visit stored before quality control existed (its flags the migration's default) is checked
/// once at the first start of this version, and only once.
async fn older_visits_are_checked_once(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    let hh = s.import(DESA_A, 1, 18).await;
    let mut d = s.sign_in("petugas").await;
    let spv = s.sign_in("spv").await;
    let mut fast = plain(&hh[0], 60);
    fast.paradata.as_mut().unwrap().duration_s = 100;
    submit(&mut d, std::slice::from_ref(&fast)).await;
    // As an older server left it.
    s.sql("UPDATE visits SET flags = '[]', risk = 0", vec![])
        .await;
    assert!(shown(&spv, fast.visit_id).await.flags.is_empty());
    let app = s.app.clone();
    let n = tokio::task::spawn_blocking(move || app.check_older_visits_once().unwrap())
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        codes(&shown(&spv, fast.visit_id).await),
        vec!["quality.too_fast"]
    );
    let app = s.app.clone();
    let again = tokio::task::spawn_blocking(move || app.check_older_visits_once().unwrap())
        .await
        .unwrap();
    assert_eq!(again, 0, "once");
}

/// The check of older visits notes the last household each transaction went through, and a
/// check stopped half way (the server stopped) goes on from there: here it had gone through the
/// first of three households, and the next run checks the other two only, then notes itself
/// done and drops the mark.
async fn an_older_visits_check_goes_on_where_it_stopped(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 3, 27).await;
    let mut d = s.sign_in("petugas").await;
    let fast: Vec<VisitRecord> = hh
        .iter()
        .enumerate()
        .map(|(k, h)| {
            let mut v = plain(h, 400 + k as u64);
            v.paradata.as_mut().unwrap().duration_s = 100;
            v
        })
        .collect();
    submit(&mut d, &fast).await;
    let mut households: Vec<Uuid> = hh.iter().map(|(h, _)| h.id).collect();
    households.sort();
    s.sql("UPDATE visits SET flags = '[]', risk = 0", vec![])
        .await;
    s.sql(
        "DELETE FROM settings WHERE key = $1",
        vec![verivali_server::quality::CHECKED.into()],
    )
    .await;
    s.sql(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, '2026-12-01T00:00:00Z')",
        vec![
            verivali_server::quality::CHECKED_THROUGH.into(),
            households[0].to_string().into(),
        ],
    )
    .await;
    let app = s.app.clone();
    let n = tokio::task::spawn_blocking(move || app.check_older_visits_once().unwrap())
        .await
        .unwrap();
    assert_eq!(n, 2);
    for v in &fast {
        let checked = households[1..].contains(&v.household_id);
        let f = stored_flags(&s, v.visit_id).await;
        assert_eq!(flag(&f, "quality.too_fast").is_some(), checked, "{f:?}");
    }
    let marks = format!(
        "SELECT count(*) FROM settings WHERE key = '{}'",
        verivali_server::quality::CHECKED_THROUGH
    );
    assert_eq!(s.count(&marks).await, 0);
    let done = format!(
        "SELECT count(*) FROM settings WHERE key = '{}'",
        verivali_server::quality::CHECKED
    );
    assert_eq!(s.count(&done).await, 1);
}

/// The mark is written by each transaction of the check, with its households: with 101
/// households (two transactions of a hundred), the second held up by a third session holding its
/// household's lock, the mark names the hundredth household while the check waits, and the
/// check ends once the lock goes. PostgreSQL (where another session can hold a household).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_visits_check_marks_each_transaction() {
    let s = TestServer::start(Backend::Postgres).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 101, 29).await;
    let mut d = s.sign_in("petugas").await;
    let visits: Vec<VisitRecord> = hh
        .iter()
        .enumerate()
        .map(|(k, h)| plain(h, 500 + k as u64))
        .collect();
    submit(&mut d, &visits).await;
    let mut households: Vec<Uuid> = hh.iter().map(|(h, _)| h.id).collect();
    households.sort();
    s.sql(
        "DELETE FROM settings WHERE key = $1",
        vec![verivali_server::quality::CHECKED.into()],
    )
    .await;
    let holder = hold_household_lock(&s.db_url, households[100]).await;
    let app = s.app.clone();
    let check = tokio::task::spawn_blocking(move || app.check_older_visits_once().unwrap());
    let waited = household_lock_waiters(&s.db_url, 1).await;
    let mark = format!(
        "SELECT value FROM settings WHERE key = '{}'",
        verivali_server::quality::CHECKED_THROUGH
    );
    let app = s.app.clone();
    let marked = tokio::task::spawn_blocking(move || {
        let mut tx = app.db.read().unwrap();
        tx.query_opt(&mark, &[]).unwrap().map(|r| r.text(0))
    })
    .await
    .unwrap();
    release(holder).await;
    assert_eq!(check.await.unwrap(), 101);
    assert!(waited, "the check never waited for the held household");
    assert_eq!(marked, Some(households[99].to_string()));
}

/// A visit opened again (an admin reopens an approved one) is no longer its household's
/// reference point: the household's open visits are checked again, and one 2 km from its fix
/// loses `quality.gps_far` (before, it kept the flag until its next check), while the reopened
/// visit is checked under the rules in force.
async fn a_reopened_visit_is_no_longer_the_households_reference(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("petugas2", Role::Enumerator, &[DESA_A]).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    s.add_user("admin", Role::Admin, &["33"]).await;
    let hh = s.import(DESA_A, 1, 28).await;
    let mut d = s.sign_in("petugas").await;
    let mut d2 = s.sign_in("petugas2").await;
    let spv = s.sign_in("spv").await;
    let admin = s.sign_in("admin").await;
    let reference = plain(&hh[0], 2);
    submit(&mut d2, std::slice::from_ref(&reference)).await;
    let r = spv
        .decide(reference.visit_id, json!({"decision": "approve"}))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let mut far = plain(&hh[0], 3);
    far.gps = reference.gps.map(|g| verivali_domain::Gps {
        lat: g.lat + 0.018,
        ..g
    });
    submit(&mut d, std::slice::from_ref(&far)).await;
    assert!(flag(&stored_flags(&s, far.visit_id).await, "quality.gps_far").is_some());
    // As an older server left the approved visit: no flags.
    s.sql(
        "UPDATE visits SET flags = '[]', risk = 0 WHERE id = $1",
        vec![reference.visit_id.into()],
    )
    .await;

    let r = admin
        .decide(
            reference.visit_id,
            json!({"decision": "reopen", "reason": "Titik GPS diperiksa ulang"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let f = stored_flags(&s, far.visit_id).await;
    assert!(flag(&f, "quality.gps_far").is_none(), "{f:?}");
    // The reopened visit is checked too: the other visit of its household.
    let f = stored_flags(&s, reference.visit_id).await;
    assert!(flag(&f, "quality.two_visits").is_some(), "{f:?}");
}

/// The flags stored on a visit (JSON), read from the database.
async fn stored_flags(s: &TestServer, visit: Uuid) -> Vec<Value> {
    let app = s.app.clone();
    tokio::task::spawn_blocking(move || {
        let mut tx = app.db.read().unwrap();
        let row = tx
            .query_opt("SELECT flags FROM visits WHERE id = $1", &[visit.into()])
            .unwrap()
            .expect("the visit is stored");
        serde_json::from_str(&row.text(0)).unwrap()
    })
    .await
    .unwrap()
}

fn flag<'a>(flags: &'a [Value], code: &str) -> Option<&'a Value> {
    flags.iter().find(|f| f["code"] == json!(code))
}

/// A push of 200 visit records or more has its checks' evidence read beside the writer on
/// SQLite (`quality::ReadAhead`, from a snapshot taken once the writer is held), and must judge
/// as the transaction's own reads do, which PostgreSQL keeps: a household an earlier push
/// visited, one visited twice within the push, and a burst counted with the earlier push's
/// visit, which learns of it.
async fn a_large_push_judges_as_a_small_one(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 210, 41).await;
    let mut d = s.sign_in("petugas").await;
    let now = Utc::now();
    let finished = |mut v: VisitRecord, minutes_ago: i64| {
        v.finished_at = Some(now - Duration::minutes(minutes_ago));
        v.started_at = v.finished_at.unwrap() - Duration::minutes(12);
        v
    };
    let ops_of = |d: &mut Device, visits: &[VisitRecord]| {
        visits
            .iter()
            .map(|v| d.op(&OpBody::VisitRecord(Box::new(v.clone()))))
            .collect::<Vec<_>>()
    };
    let earlier = finished(plain(&hh[0], 1), 50);
    let ops = ops_of(&mut d, std::slice::from_ref(&earlier));
    let r = d.push(&ops).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "{:?}", r.results);
    // Every household once within the hour, and the second one twice.
    let mut big: Vec<VisitRecord> = hh
        .iter()
        .enumerate()
        .map(|(i, h)| finished(plain(h, 100 + i as u64), (i % 40) as i64))
        .collect();
    let twice = finished(plain(&hh[1], 999), 5);
    big.push(twice.clone());
    let ops = ops_of(&mut d, &big);
    let read_ahead = s.app.metrics.pushes_read_ahead.get();
    let r = d.push(&ops).await;
    assert!(
        r.results.iter().all(|r| r.status == OpStatus::Applied),
        "{:?}",
        r.results
    );
    assert_eq!(
        s.app.metrics.pushes_read_ahead.get() - read_ahead,
        u64::from(b == Backend::Sqlite),
        "read beside the writer on SQLite only"
    );

    // The household of the earlier push: both visits know of each other.
    let again = stored_flags(&s, big[0].visit_id).await;
    assert_eq!(
        flag(&again, "quality.two_visits").map(|f| &f["detail"]["other_visits"]),
        Some(&json!([earlier.visit_id])),
        "{again:?}"
    );
    let first = stored_flags(&s, earlier.visit_id).await;
    assert_eq!(
        flag(&first, "quality.two_visits").map(|f| &f["detail"]["other_visits"]),
        Some(&json!([big[0].visit_id])),
        "{first:?}"
    );
    // Twice within the push.
    for (v, other) in [(&big[1], &twice), (&twice, &big[1])] {
        let f = stored_flags(&s, v.visit_id).await;
        assert_eq!(
            flag(&f, "quality.two_visits").map(|f| &f["detail"]["other_visits"]),
            Some(&json!([other.visit_id])),
            "{f:?}"
        );
    }
    // Once: no sibling. All 212 visits lie within one hour, the earlier one included, and it
    // is told of the burst it is now part of.
    let once = stored_flags(&s, big[2].visit_id).await;
    assert!(flag(&once, "quality.two_visits").is_none(), "{once:?}");
    for f in [&once, &again, &first] {
        assert_eq!(
            flag(f, "quality.burst").map(|f| &f["detail"]["visits"]),
            Some(&json!(212)),
            "{f:?}"
        );
    }
}

/// "Another visit" of a household is one of the same period (DESIGN.md §11) for the
/// `quality.two_visits` flag, and one of the same or a later period for the visits a supervisor
/// sees beside one and for approval's one approved visit per household: last month's visit
/// neither flags, nor shows beside, nor blocks this month's, while this month's approval still
/// blocks last month's (its older answers would go over the baseline). A second visit this month
/// does all three. Creating the periods re-checks the flags of open visits made before them.
async fn a_visit_of_another_period_is_not_a_second_visit(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("admin", Role::Admin, &["3308"]).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    let hh = s.import(DESA_A, 2, 21).await;
    let admin = s.sign_in("admin").await;
    let spv = s.sign_in("spv").await;
    let mut d = s.sign_in("petugas").await;
    let finished = |seed: u64, ago: Duration| {
        let mut v = plain(&hh[0], seed);
        let f = Utc::now() - ago;
        v.finished_at = Some(f);
        v.started_at = f - Duration::minutes(12);
        v
    };
    let last_month = finished(1, Duration::days(40));
    let this_month = finished(2, Duration::days(1));
    let again = finished(3, Duration::hours(2));
    let two_visits =
        |f: &[Value]| flag(f, "quality.two_visits").map(|f| f["detail"]["other_visits"].clone());
    // Before any period exists, all work is one period's: the two visits see each other.
    submit(&mut d, std::slice::from_ref(&last_month)).await;
    let this_batch = submit(&mut d, std::slice::from_ref(&this_month)).await;
    assert_eq!(
        two_visits(&stored_flags(&s, last_month.visit_id).await),
        Some(json!([this_month.visit_id]))
    );
    assert_eq!(
        two_visits(&stored_flags(&s, this_month.visit_id).await),
        Some(json!([last_month.visit_id]))
    );

    // Another household's visit, long before: the first period takes all work up to its cut-off,
    // so it is checked again then, and for no later period.
    let mut far = plain(&hh[1], 4);
    far.finished_at = Some(Utc::now() - Duration::days(70));
    far.started_at = far.finished_at.unwrap() - Duration::minutes(12);
    submit(&mut d, std::slice::from_ref(&far)).await;

    // Last month's period and this month's: the open visits of the households with a visit in
    // their windows are checked again, and no other (before, every open visit each time).
    let today = verivali_domain::cycle::today(Utc::now());
    let day = |n: i64| (today + Duration::days(n)).to_string();
    let create = async |name: &str, opens: String, cutoff: String, closes: String| {
        let before = s.app.metrics.visits_rechecked.get();
        let r = admin
            .client
            .post(format!("{}/api/v1/admin/periods", admin.url))
            .bearer_auth(&admin.token)
            .json(&json!({"name": name, "opens": opens, "cutoff": cutoff, "closes": closes}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        s.app.metrics.visits_rechecked.get() - before
    };
    assert_eq!(
        create("bulan-lalu", day(-60), day(-31), day(-25)).await,
        3,
        "the first period's window holds the first visit and the one long before: their households' three open visits"
    );
    assert_eq!(
        create("bulan-ini", day(-30), day(2), day(8)).await,
        2,
        "this month's holds the second: its household's two open visits"
    );
    // The next month's, made ahead of it, holds no visit yet: nothing is checked (every open
    // visit of the server was, before).
    assert_eq!(
        create("bulan-depan", day(9), day(33), day(40)).await,
        0,
        "a period ahead holds no visit"
    );
    for v in [&last_month, &this_month] {
        let f = stored_flags(&s, v.visit_id).await;
        assert_eq!(two_visits(&f), None, "{f:?}");
    }
    // This month's sees nothing beside it and is approved in bulk with its batch (not set aside
    // as a second visit); last month's sees this month's, and approving it now is refused.
    assert!(
        shown(&spv, this_month.visit_id)
            .await
            .other_visits
            .is_empty()
    );
    assert_eq!(
        shown(&spv, last_month.visit_id).await.other_visits,
        vec![this_month.visit_id]
    );
    let r = spv
        .post(&format!("/api/v1/review/batches/{this_batch}/approve"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let bulk: BulkResponse = r.json().await.unwrap();
    assert_eq!(
        bulk.results
            .iter()
            .map(|r| (r.visit_id, r.state.map(|s| s.as_str())))
            .collect::<Vec<_>>(),
        vec![(this_month.visit_id, Some("approved"))],
        "{:?}",
        bulk.results
    );
    let (status, body) = problem(
        spv.decide(last_month.visit_id, json!({"decision": "approve"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "review.second_visit");
    assert_eq!(
        body["others"],
        json!([{"visit_id": this_month.visit_id, "state": "approved"}])
    );

    // A second visit this month: flagged with this month's only, shown beside it, and its
    // approval refused while this month's first stands; last month's open visit is not told.
    submit(&mut d, std::slice::from_ref(&again)).await;
    assert_eq!(
        two_visits(&stored_flags(&s, again.visit_id).await),
        Some(json!([this_month.visit_id]))
    );
    assert_eq!(
        two_visits(&stored_flags(&s, last_month.visit_id).await),
        None
    );
    assert_eq!(
        shown(&spv, again.visit_id).await.other_visits,
        vec![this_month.visit_id]
    );
    let (status, body) = problem(
        spv.decide(again.visit_id, json!({"decision": "approve"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body["others"],
        json!([{"visit_id": this_month.visit_id, "state": "approved"}])
    );
}

/// A draft recorded again with its finish in another period leaves one period's visits and joins
/// another's: the open visits of its household in both are counted again, so one left alone loses
/// `quality.two_visits` and one with another visit keeps the flag naming that one (before, a
/// neighbour was only ever told more: the flags stayed as they were).
async fn a_visit_moved_to_another_period_unflags_its_neighbour(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("admin", Role::Admin, &["3308"]).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 1, 22).await;
    let admin = s.sign_in("admin").await;
    let mut d = s.sign_in("petugas").await;
    let today = verivali_domain::cycle::today(Utc::now());
    let day = |n: i64| (today + Duration::days(n)).to_string();
    for (name, opens, cutoff, closes) in [
        ("bulan-lalu", day(-60), day(-31), day(-25)),
        ("bulan-ini", day(-30), day(2), day(8)),
    ] {
        let r = admin
            .client
            .post(format!("{}/api/v1/admin/periods", admin.url))
            .bearer_auth(&admin.token)
            .json(&json!({"name": name, "opens": opens, "cutoff": cutoff, "closes": closes}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
    }
    let at = |v: &mut VisitRecord, ago: Duration| {
        let f = Utc::now() - ago;
        v.finished_at = Some(f);
        v.started_at = f - Duration::minutes(12);
    };
    let mut visits: Vec<VisitRecord> = (1..=3).map(|seed| plain(&hh[0], seed)).collect();
    for (v, hours) in visits.iter_mut().zip([24, 2, 4]) {
        at(v, Duration::hours(hours));
    }
    let ops: Vec<_> = visits
        .iter()
        .map(|v| d.op(&OpBody::VisitRecord(Box::new(v.clone()))))
        .collect();
    let r = d.push(&ops).await;
    assert!(
        r.results.iter().all(|r| r.status == OpStatus::Applied),
        "{:?}",
        r.results
    );
    let ids: Vec<Uuid> = visits.iter().map(|v| v.visit_id).collect();
    // The others each visit's `two_visits` names, in id order (none without the flag).
    let named = async |ids: &[Uuid]| {
        let mut out = Vec::new();
        for id in ids {
            let f = stored_flags(&s, *id).await;
            let mut others: Vec<Uuid> = flag(&f, "quality.two_visits")
                .map(|f| serde_json::from_value(f["detail"]["other_visits"].clone()).unwrap())
                .unwrap_or_default();
            others.sort();
            out.push(others);
        }
        out
    };
    let sorted = |mut v: Vec<Uuid>| {
        v.sort();
        v
    };
    let (first, second, third) = (ids[0], ids[1], ids[2]);
    assert_eq!(
        named(&ids).await,
        vec![
            sorted(vec![second, third]),
            sorted(vec![first, third]),
            sorted(vec![first, second])
        ]
    );
    let mut move_to = async |v: &mut VisitRecord, ago: Duration| {
        v.revision += 1;
        at(v, ago);
        let op = d.op(&OpBody::VisitRecord(Box::new(v.clone())));
        let r = d.push(&[op]).await;
        assert_eq!(r.results[0].status, OpStatus::Applied, "{:?}", r.results);
    };

    // Moved within this month: nothing changes.
    move_to(&mut visits[1], Duration::hours(5)).await;
    assert_eq!(
        named(&[first, third]).await,
        vec![sorted(vec![second, third]), sorted(vec![first, second])]
    );
    // The second finished last month after all: the first and third name each other only, the
    // second nothing.
    move_to(&mut visits[1], Duration::days(40)).await;
    assert_eq!(named(&ids).await, vec![vec![third], vec![], vec![first]]);
    // The third too: the first is alone this month, the two of last month name each other.
    move_to(&mut visits[2], Duration::days(41)).await;
    assert_eq!(named(&ids).await, vec![vec![], vec![third], vec![second]]);
    // The second back to this month: it and the first name each other, the third is alone.
    move_to(&mut visits[1], Duration::hours(3)).await;
    assert_eq!(named(&ids).await, vec![vec![second], vec![first], vec![]]);
    // The third back too: it joins a period whose two visits already name each other, and each
    // names both others (told alone, they would have kept naming one).
    move_to(&mut visits[2], Duration::hours(6)).await;
    assert_eq!(
        named(&ids).await,
        vec![
            sorted(vec![second, third]),
            sorted(vec![first, third]),
            sorted(vec![first, second])
        ]
    );
}

/// A visit recorded again with its finish in another hour leaves its old hour as well as
/// joining a new one: the enumerator's open visits around the finish it left lose
/// `quality.burst` once their busiest hour is no longer over the limit, and keep it while it is
/// (before, a `burst` told for the hour it left stayed until that visit was checked again).
async fn a_visit_moved_to_another_hour_takes_its_burst_along(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 14, 23).await;
    let mut d = s.sign_in("petugas").await;
    let at = |v: &mut VisitRecord, ago: Duration| {
        let f = Utc::now() - ago;
        v.finished_at = Some(f);
        v.started_at = f - Duration::minutes(12);
    };
    // Fourteen visits a minute apart, five hours ago: two over the default limit of twelve.
    let mut visits: Vec<VisitRecord> = hh
        .iter()
        .enumerate()
        .map(|(k, h)| {
            let mut v = plain(h, 100 + k as u64);
            at(&mut v, Duration::hours(5) - Duration::minutes(k as i64));
            v
        })
        .collect();
    let ops: Vec<_> = visits
        .iter()
        .map(|v| d.op(&OpBody::VisitRecord(Box::new(v.clone()))))
        .collect();
    let r = d.push(&ops).await;
    assert!(
        r.results.iter().all(|r| r.status == OpStatus::Applied),
        "{:?}",
        r.results
    );
    let ids: Vec<Uuid> = visits.iter().map(|v| v.visit_id).collect();
    let bursting = async |ids: &[Uuid]| {
        let mut out = Vec::new();
        for id in ids {
            out.push(flag(&stored_flags(&s, *id).await, "quality.burst").is_some());
        }
        out
    };
    assert_eq!(bursting(&ids).await, vec![true; 14]);
    let mut move_to = async |v: &mut VisitRecord, ago: Duration| {
        v.revision += 1;
        at(v, ago);
        let op = d.op(&OpBody::VisitRecord(Box::new(v.clone())));
        let r = d.push(&[op]).await;
        assert_eq!(r.results[0].status, OpStatus::Applied, "{:?}", r.results);
    };

    // One finished an hour ago after all: thirteen are left in the old hour, still over twelve.
    move_to(&mut visits[0], Duration::hours(1)).await;
    let mut want = vec![true; 14];
    want[0] = false;
    assert_eq!(bursting(&ids).await, want);
    // A second one too: twelve are left, none over the limit, and none of the two moved is.
    move_to(&mut visits[1], Duration::hours(1) - Duration::minutes(1)).await;
    assert_eq!(bursting(&ids).await, vec![false; 14]);
    // The first back: thirteen in the old hour again, each told.
    move_to(&mut visits[0], Duration::hours(5) + Duration::minutes(1)).await;
    let mut want = vec![true; 14];
    want[1] = false;
    assert_eq!(bursting(&ids).await, want);
}

/// The hours around a finish a visit left are read whole: a visit near its edge whose busiest
/// hour runs past it, over the limit without the moved visit, keeps `quality.burst`. Thirteen
/// visits a minute apart from 50 minutes after the moved visit's finish: read only to an hour
/// after that finish, two of them would go unseen, the first would count eleven and lose it.
async fn a_burst_over_the_limit_without_the_moved_visit_stays(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 14, 26).await;
    let mut d = s.sign_in("petugas").await;
    let t = Utc::now() - Duration::hours(6);
    let at = |v: &mut VisitRecord, f: chrono::DateTime<Utc>| {
        v.finished_at = Some(f);
        v.started_at = f - Duration::minutes(12);
    };
    let mut visits: Vec<VisitRecord> = hh
        .iter()
        .enumerate()
        .map(|(k, h)| {
            let mut v = plain(h, 300 + k as u64);
            match k {
                0 => at(&mut v, t),
                k => at(&mut v, t + Duration::minutes(49 + k as i64)),
            }
            v
        })
        .collect();
    let ops: Vec<_> = visits
        .iter()
        .map(|v| d.op(&OpBody::VisitRecord(Box::new(v.clone()))))
        .collect();
    let r = d.push(&ops).await;
    assert!(
        r.results.iter().all(|r| r.status == OpStatus::Applied),
        "{:?}",
        r.results
    );
    let first = visits[1].visit_id;
    assert!(flag(&stored_flags(&s, first).await, "quality.burst").is_some());
    visits[0].revision += 1;
    at(&mut visits[0], t - Duration::hours(5));
    let op = d.op(&OpBody::VisitRecord(Box::new(visits[0].clone())));
    let r = d.push(&[op]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "{:?}", r.results);
    for v in &visits[1..] {
        let f = stored_flags(&s, v.visit_id).await;
        assert!(flag(&f, "quality.burst").is_some(), "{}: {f:?}", v.visit_id);
    }
}

both_backends!(periods, a_visit_of_another_period_is_not_a_second_visit);
both_backends!(moved, a_visit_moved_to_another_period_unflags_its_neighbour);
both_backends!(
    moved_hour,
    a_visit_moved_to_another_hour_takes_its_burst_along
);
both_backends!(
    moved_hour_edge,
    a_burst_over_the_limit_without_the_moved_visit_stays
);
both_backends!(large_push, a_large_push_judges_as_a_small_one);
both_backends!(older, older_visits_are_checked_once);
both_backends!(
    older_resumed,
    an_older_visits_check_goes_on_where_it_stopped
);
both_backends!(
    reopened,
    a_reopened_visit_is_no_longer_the_households_reference
);
both_backends!(rules, each_rule_fires_on_its_visit);
both_backends!(thresholds, a_burst_and_new_thresholds);

/// A transaction of a third session holding `sql`'s lock until [`release`].
async fn hold_lock(db_url: &str, sql: &'static str) -> postgres::Client {
    let url = db_url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute("BEGIN").unwrap();
        c.batch_execute(sql).unwrap();
        c
    })
    .await
    .unwrap()
}

/// On PostgreSQL a change of the rules the checks apply (a period, new thresholds) waits for the
/// pushes in flight, and a push waits for a change in flight (`repo::share_rules`), so the
/// change's re-check, reading the visits once the change is committed, meets every visit a
/// push judged under the old rules (a push gathers them before it waits for the writer). A
/// third session holding the rules' lock stands in for each side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_changes_and_pushes_wait_for_each_other() {
    let shared = "SELECT pg_advisory_xact_lock_shared(7452021)";
    let alone = "SELECT pg_advisory_xact_lock(7452021)";
    assert_eq!(verivali_server::repo::RULES_LOCK, 7_452_021);
    let s = TestServer::start(Backend::Postgres).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("admin", Role::Admin, &["33"]).await;
    let hh = s.import(DESA_A, 1, 24).await;
    let mut d = s.sign_in("petugas").await;
    let admin = s.sign_in("admin").await;
    let today = verivali_domain::cycle::today(Utc::now());
    let day = |n: i64| (today + Duration::days(n)).to_string();
    let period =
        json!({"name": "bulan-ini", "opens": day(-30), "cutoff": day(2), "closes": day(8)});

    // A push in flight: a new period waits for it.
    let holder = hold_lock(&s.db_url, shared).await;
    let post = tokio::spawn(async move {
        let r = admin
            .client
            .post(format!("{}/api/v1/admin/periods", admin.url))
            .bearer_auth(&admin.token)
            .json(&period)
            .send()
            .await
            .unwrap();
        (admin, r.status())
    });
    let waited = household_lock_waiters(&s.db_url, 1).await;
    release(holder).await;
    let (admin, status) = post.await.unwrap();
    assert_eq!(status, StatusCode::CREATED);
    assert!(waited, "the new period did not wait for the push in flight");

    // And new thresholds.
    let mut t: Value = admin
        .get("/api/v1/admin/quality/thresholds")
        .await
        .json()
        .await
        .unwrap();
    t["burst_per_hour"] = json!(20);
    let holder = hold_lock(&s.db_url, shared).await;
    let put = tokio::spawn(async move { put_thresholds(&admin, t).await.status() });
    let waited = household_lock_waiters(&s.db_url, 1).await;
    release(holder).await;
    assert_eq!(put.await.unwrap(), StatusCode::OK);
    assert!(
        waited,
        "the new thresholds did not wait for the push in flight"
    );

    // Another push in flight does not hold a push back (the lock is shared between pushes).
    let holder = hold_lock(&s.db_url, shared).await;
    let along = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        submit(&mut d, &[plain(&hh[0], 2)]),
    )
    .await;
    release(holder).await;
    assert!(along.is_ok(), "a push waited for another push in flight");

    // A change in flight: a push waits for it, then is applied.
    let holder = hold_lock(&s.db_url, alone).await;
    let push = tokio::spawn(async move {
        submit(&mut d, &[plain(&hh[0], 1)]).await;
    });
    let waited = household_lock_waiters(&s.db_url, 1).await;
    release(holder).await;
    push.await.unwrap();
    assert!(waited, "the push did not wait for the change in flight");
}

/// New thresholds re-check every open visit, writing their flags in pages; on PostgreSQL a page
/// first takes its households' locks, as a push does, so the two never hold each other's
/// visits: the re-check waits while a third session holds the lock of one visit's household,
/// and finishes once it is let go. Without the locks it wrote the page's flags in no set order
/// while a push could hold one of those visits and wait for another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_thresholds_wait_for_the_households_a_push_holds() {
    let s = TestServer::start(Backend::Postgres).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("admin", Role::Admin, &["33"]).await;
    let hh = s.import(DESA_A, 2, 19).await;
    let mut d = s.sign_in("petugas").await;
    let admin = s.sign_in("admin").await;
    submit(&mut d, &[plain(&hh[0], 1)]).await;
    let mut t: Value = admin
        .get("/api/v1/admin/quality/thresholds")
        .await
        .json()
        .await
        .unwrap();
    t["burst_per_hour"] = json!(20);

    let holder = hold_household_lock(&s.db_url, hh[0].0.id).await;
    let put = tokio::spawn(async move { put_thresholds(&admin, t).await.status() });
    let waited = household_lock_waiters(&s.db_url, 1).await;
    release(holder).await;
    assert_eq!(put.await.unwrap(), StatusCode::OK);
    assert!(waited, "the re-check did not wait for the household's lock");
}

/// A re-check holds its households' locks, not those of a push of another household that tells
/// its visits something (here a `burst`): such a push that commits after the re-check read its
/// evidence and before it writes must not be written over. A third session stands in for the
/// push: in one transaction it stores a thirteenth visit of the enumerator in an hour that held
/// twelve (the limit; a copy of one of them under a new id) and tells a visit of that hour
/// `burst`, holding both rows while new thresholds re-check every open visit. The re-check, blind
/// to the new visit, finds twelve and would clear that burst; it finds the visit's row changed
/// when it comes to write, checks it again with the new visit in view, and the visit keeps
/// `burst`, counted by the re-check. Before, it lost the flag until its next check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recheck_keeps_what_a_push_told_meanwhile() {
    let s = TestServer::start(Backend::Postgres).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("admin", Role::Admin, &["33"]).await;
    let hh = s.import(DESA_A, 12, 25).await;
    let mut d = s.sign_in("petugas").await;
    let admin = s.sign_in("admin").await;
    // Twelve visits a minute apart five hours ago: at the limit, no burst.
    let visits: Vec<VisitRecord> = hh
        .iter()
        .enumerate()
        .map(|(k, h)| {
            let mut v = plain(h, 200 + k as u64);
            let f = Utc::now() - Duration::hours(5) + Duration::minutes(k as i64);
            v.finished_at = Some(f);
            v.started_at = f - Duration::minutes(12);
            v
        })
        .collect();
    let ops: Vec<_> = visits
        .iter()
        .map(|v| d.op(&OpBody::VisitRecord(Box::new(v.clone()))))
        .collect();
    let r = d.push(&ops).await;
    assert!(
        r.results.iter().all(|r| r.status == OpStatus::Applied),
        "{:?}",
        r.results
    );
    let told = visits[0].visit_id;
    assert!(flag(&stored_flags(&s, told).await, "quality.burst").is_none());

    // The stand-in push: a thirteenth visit in the hour, and a burst it tells (of 99 visits, a
    // count only a stand-in writes: the re-check's own count is 13, so the end shows whether the
    // visit was checked again or only left as the push wrote it).
    let burst = serde_json::to_string(&[verivali_domain::quality::burst(
        99,
        &verivali_domain::quality::Thresholds::default(),
    )])
    .unwrap();
    let (url, template, thirteenth) = (s.db_url.clone(), visits[11].visit_id, Uuid::now_v7());
    let push = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute("BEGIN").unwrap();
        c.execute(
            "CREATE TEMP TABLE copy ON COMMIT DROP AS SELECT * FROM visits WHERE id = $1",
            &[&template.to_string()],
        )
        .unwrap();
        c.execute(
            "UPDATE copy SET id = $1, flags = $2",
            &[&thirteenth.to_string(), &burst],
        )
        .unwrap();
        c.batch_execute("INSERT INTO visits SELECT * FROM copy")
            .unwrap();
        c.execute(
            "UPDATE visits SET flags = $1 WHERE id = $2",
            &[&burst, &told.to_string()],
        )
        .unwrap();
        c
    })
    .await
    .unwrap();
    let t: Value = admin
        .get("/api/v1/admin/quality/thresholds")
        .await
        .json()
        .await
        .unwrap();
    let put = tokio::spawn(async move { put_thresholds(&admin, t).await.status() });
    // The re-check has read its evidence and waits to write the row the push holds.
    let url = s.db_url.clone();
    let waited = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        (0..500).any(|_| {
            let waiting: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND wait_event_type = 'Lock'
                       AND query LIKE 'UPDATE visits SET flags%'",
                    &[],
                )
                .unwrap()
                .get(0);
            if waiting == 0 {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            waiting > 0
        })
    })
    .await
    .unwrap();
    release(push).await;
    assert_eq!(put.await.unwrap(), StatusCode::OK);
    assert!(waited, "the re-check never waited for the push's row");
    let f = stored_flags(&s, told).await;
    let b = flag(&f, "quality.burst").unwrap_or_else(|| panic!("no burst in {f:?}"));
    assert_eq!(b["detail"]["visits"], json!(13));
}

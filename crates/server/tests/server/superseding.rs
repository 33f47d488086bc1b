//! One approved truth per household (`verivali_domain::review::second_truths`), on both
//! backends: a second approval for one household is refused with the other visit named, a
//! deliberate supersession moves the earlier visit to `superseded` (kept, audited, announced to
//! its enumerator's phone, out of the export), and the household's baseline follows the visit
//! chosen.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use verivali_domain::{Batch, Role, VisitRecord};
use verivali_protocol::review::{DecisionResponse, ReviewVisit};
use verivali_protocol::{ChangeKind, OpBody, OpStatus};

async fn submit(d: &mut Device, v: &VisitRecord) {
    let mut v = v.clone();
    v.photos.clear();
    v.photo_kinds.clear();
    let ops = [
        d.op(&OpBody::VisitRecord(Box::new(v.clone()))),
        d.op(&OpBody::BatchSubmit(Batch {
            batch_id: Uuid::now_v7(),
            visit_ids: vec![v.visit_id],
        })),
    ];
    let r = d.push(&ops).await;
    assert!(
        r.results.iter().all(|r| r.status == OpStatus::Applied),
        "{:?}",
        r.results
    );
}

async fn state_of(spv: &Device, visit: Uuid) -> ReviewVisit {
    let r = spv.get(&format!("/api/v1/review/visits/{visit}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn one_approved_truth_per_household(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("petugas2", Role::Enumerator, &[DESA_A]).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    let hh = s.import(DESA_A, 2, 7).await;
    let mut d = s.sign_in("petugas").await;
    let mut d2 = s.sign_in("petugas2").await;
    let spv = s.sign_in("spv").await;

    // The first enumerator's visit is approved: the household's truth.
    let first = visit(&hh[0].0, &hh[0].1, 1);
    submit(&mut d, &first).await;
    let r = spv
        .decide(first.visit_id, json!({"decision": "approve"}))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());

    // A colleague visits the same household and finds another address.
    let mut second = visit(&hh[0].0, &hh[0].1, 2);
    second.household.alamat = "Dusun Krajan RT 03 (rumah cat hijau)".into();
    submit(&mut d2, &second).await;
    let shown = state_of(&spv, second.visit_id).await;
    assert_eq!(shown.other_visits, vec![first.visit_id]);

    // A plain approval is refused, naming the approved visit; nothing moves.
    let (st, p) = problem(
        spv.decide(second.visit_id, json!({"decision": "approve"}))
            .await,
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["code"], json!("review.second_visit"));
    assert_eq!(
        p["others"],
        json!([{"visit_id": first.visit_id, "state": "approved"}])
    );
    assert!(p["detail"].as_str().unwrap().contains("bandingkan"), "{p}");
    assert_eq!(
        state_of(&spv, first.visit_id).await.state.as_str(),
        "approved"
    );
    assert_eq!(
        state_of(&spv, second.visit_id).await.state.as_str(),
        "submitted"
    );

    // Superseding is only ever the consequence of an approval.
    let (st, p) = problem(
        spv.decide(first.visit_id, json!({"decision": "supersede"}))
            .await,
    )
    .await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "review.supersede_by_approval"
        )
    );
    // An enumerator cannot decide at all.
    let (st, _) = problem(
        d2.decide(
            second.visit_id,
            json!({"decision": "approve", "supersede": true}),
        )
        .await,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // The supervisor compared them and chooses the second one, deliberately.
    let r = spv
        .decide(
            second.visit_id,
            json!({"decision": "approve", "supersede": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let decided: DecisionResponse = r.json().await.unwrap();
    assert_eq!(decided.state.as_str(), "approved");
    assert_eq!(decided.superseded, vec![first.visit_id]);

    // The earlier visit is kept, superseded, with the decision in its history; it is final.
    let old = state_of(&spv, first.visit_id).await;
    assert_eq!(old.state.as_str(), "superseded");
    let history: Vec<&str> = old.reviews.iter().map(|r| r.decision.as_str()).collect();
    assert_eq!(history, vec!["approve", "supersede"]);
    let (st, p) = problem(
        spv.decide(first.visit_id, json!({"decision": "approve"}))
            .await,
    )
    .await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::CONFLICT, "state.not_allowed")
    );
    assert_eq!(
        s.count("SELECT count(*) FROM visits WHERE state = 'approved'")
            .await,
        1
    );
    assert_eq!(
        s.count("SELECT count(*) FROM visits WHERE state = 'superseded'")
            .await,
        1
    );

    // The baseline follows the visit chosen.
    let baseline = state_of(&spv, second.visit_id).await.baseline.unwrap();
    assert_eq!(baseline.alamat, second.household.alamat);

    // The export carries the one truth, not the superseded visit.
    let csv = spv
        .get(&format!("/api/v1/export/visits.csv?area={DESA_A}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains(&second.visit_id.to_string()), "{csv}");
    assert!(!csv.contains(&first.visit_id.to_string()), "{csv}");

    // The audit log names the visit approved in its place.
    let admin_id = s.add_user("admin", Role::Admin, &["3308"]).await;
    assert_ne!(admin_id, Uuid::nil());
    let admin = s.sign_in("admin").await;
    let log: Value = admin
        .get("/api/v1/admin/audit?action=review.decision")
        .await
        .json()
        .await
        .unwrap();
    let details: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entity_id"] == json!(first.visit_id.to_string()))
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert!(
        details.contains(&format!("supersede -> superseded by {}", second.visit_id).as_str()),
        "{details:?}"
    );
    // It reads in names: the visit's household by its head.
    let named = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entity_id"] == json!(first.visit_id.to_string()))
        .unwrap();
    assert_eq!(named["entity_name"], json!(hh[0].0.nama_krt));

    // The first enumerator's phone learns that its visit was superseded (PostgreSQL releases a
    // change to pulls once every older transaction in the cluster has ended).
    s.settle().await;
    let changes = d.pull_all().await;
    let superseded = changes.iter().any(|c| {
        c.kind == ChangeKind::Review
            && c.value()["visit_id"] == json!(first.visit_id.to_string())
            && c.value()["decision"] == json!("supersede")
    });
    assert!(superseded, "the review event reaches the phone");
    let visit_now = changes
        .iter()
        .rev()
        .find(|c| c.kind == ChangeKind::Visit && c.id == first.visit_id.to_string())
        .unwrap();
    assert_eq!(visit_now.value()["state"], json!("superseded"));

    // A visit waiting (not yet approved) stands too: the other household's two visits.
    let a = visit(&hh[1].0, &hh[1].1, 3);
    let b2 = visit(&hh[1].0, &hh[1].1, 4);
    submit(&mut d, &a).await;
    submit(&mut d2, &b2).await;
    let (st, p) = problem(
        spv.decide(b2.visit_id, json!({"decision": "approve"}))
            .await,
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(
        p["others"],
        json!([{"visit_id": a.visit_id, "state": "submitted"}])
    );
    // The other way out: send this one back; then the first is approved alone.
    let r = spv
        .decide(
            b2.visit_id,
            json!({"decision": "reject", "reason": "Kunjungan ganda, sudah dikunjungi petugas lain"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = spv.decide(a.visit_id, json!({"decision": "approve"})).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());

    // A household that moved desa (a re-import) after one of its visits: a reviewer supersedes
    // only what lies in their own areas. Simulated by recording the approved visit elsewhere.
    s.sql(
        "UPDATE visits SET kode_desa = $1 WHERE id = $2",
        vec![DESA_B.into(), a.visit_id.into()],
    )
    .await;
    let c = visit(&hh[1].0, &hh[1].1, 5);
    submit(&mut d2, &c).await;
    let (st, p) = problem(
        spv.decide(
            c.visit_id,
            json!({"decision": "approve", "supersede": true}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::CONFLICT, "review.second_visit_outside"),
        "{p}"
    );
    assert_eq!(
        s.count(&format!(
            "SELECT count(*) FROM visits WHERE id = '{}' AND state = 'approved'",
            a.visit_id
        ))
        .await,
        1,
        "nothing moved"
    );
}

both_backends!(one_truth, one_approved_truth_per_household);

//! Questionnaire versions on both backends (DESIGN.md §10): an upload is checked in full (every
//! problem with its path), kept as a draft, published; devices pull the new version, and a visit
//! begun on the old one is still accepted; the export names each visit's version.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use verivali_domain::{Questionnaire, Role};
use verivali_protocol::{ChangeKind, OpBody, OpStatus};

async fn upload(d: &Device, body: String) -> reqwest::Response {
    d.client
        .post(format!("{}/api/v1/admin/questionnaires", d.url))
        .bearer_auth(&d.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Version 2 of the default questionnaire: one more (optional) question.
pub fn version_2() -> Questionnaire {
    let mut q = Questionnaire::default_dtsen().unwrap();
    q.version = 2;
    let extra: verivali_domain::questionnaire::Question = serde_json::from_value(json!({
        "id": "jumlah_kamar", "type": "int", "label": {"id": "Jumlah kamar tidur", "en": "Bedrooms"},
        "min": 0, "max": 30
    }))
    .unwrap();
    q.sections[0].questions.push(extra);
    q
}

both_backends!(versions, a_new_version_is_checked_published_and_pulled);
async fn a_new_version_is_checked_published_and_pulled(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("admin", Role::Admin, &["3308"]).await;
    s.add_user("pengawas", Role::Supervisor, &[DESA_A]).await;
    s.add_user("ani", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 3, 1).await;
    let admin = s.sign_in("admin").await;
    let sup = s.sign_in("pengawas").await;
    let mut ani = s.sign_in("ani").await;
    let mut cursor = ani.pull("", 1000).await.next_cursor;

    // Every problem, each at its path; nothing kept.
    let mut broken = serde_json::to_value(version_2()).unwrap();
    broken["sections"][0]["questions"][0]["id"] = json!("Luas Lantai");
    // The first choice question loses its choices.
    let (si, qi) = version_2()
        .sections
        .iter()
        .enumerate()
        .find_map(|(i, sec)| {
            sec.questions
                .iter()
                .position(|q| q.kind == verivali_domain::questionnaire::QuestionType::SingleChoice)
                .map(|j| (i, j))
        })
        .unwrap();
    broken["sections"][si]["questions"][qi]["choices"] = json!([]);
    let choices_at = format!("sections[{si}].questions[{qi}].choices");
    let (st, p) = problem(upload(&admin, broken.to_string()).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "questionnaire.invalid")
    );
    let paths: Vec<&str> = p["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"sections[0].questions[0].id"), "{paths:?}");
    assert!(paths.contains(&choices_at.as_str()), "{paths:?}");
    let (st, p) = problem(upload(&admin, "{\"id\": ".into()).await).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p["issues"][0]["path"]
            .as_str()
            .unwrap()
            .starts_with("line 1"),
        "{p}"
    );
    // Not newer than what is published, or another questionnaire.
    let v1 = serde_json::to_string(&Questionnaire::default_dtsen().unwrap()).unwrap();
    let (_, p) = problem(upload(&admin, v1).await).await;
    assert_eq!(p["code"], "questionnaire.version_not_newer");
    let mut other = version_2();
    other.id = "lain".into();
    let (_, p) = problem(upload(&admin, serde_json::to_string(&other).unwrap()).await).await;
    assert_eq!(p["code"], "questionnaire.other_id");
    let (st, _) = problem(upload(&sup, serde_json::to_string(&version_2()).unwrap()).await).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // A good one: a draft (with the schema for the preview), then published.
    let r = upload(&admin, serde_json::to_string(&version_2()).unwrap()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let draft: Value = r.json().await.unwrap();
    assert_eq!(draft["version"], 2);
    assert_eq!(
        draft["questionnaire"]["sections"][0]["questions"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["id"],
        "jumlah_kamar"
    );
    let list: Value = admin
        .get("/api/v1/admin/questionnaires")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            list["published"].as_array().unwrap().len(),
            list["drafts"].as_array().unwrap().len()
        ),
        (1, 1)
    );
    // A v1 visit begun before the publication.
    let v1_visit = visit(&hh[0].0, &hh[0].1, 1);
    let r = admin
        .client
        .post(format!(
            "{}/api/v1/admin/questionnaires/{}/publish",
            admin.url,
            draft["id"].as_str().unwrap()
        ))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let again = admin
        .client
        .post(format!(
            "{}/api/v1/admin/questionnaires/{}/publish",
            admin.url,
            draft["id"].as_str().unwrap()
        ))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(again).await.1["code"],
        "questionnaire.version_not_newer"
    );
    let list: Value = admin
        .get("/api/v1/admin/questionnaires")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["published"][0]["version"], 2);
    assert_eq!(list["published"][0]["active"], true);
    assert_eq!(list["published"][1]["active"], false);
    let active: Value = ani.get("/api/v1/questionnaire").await.json().await.unwrap();
    assert_eq!(active["version"], 2);

    // The device pulls the new version; the old visit is still accepted, and so is a new one.
    s.settle().await;
    let page = ani.pull(&cursor, 1000).await;
    cursor = page.next_cursor;
    let _ = cursor;
    assert!(
        page.changes
            .iter()
            .any(|c| c.kind == ChangeKind::Questionnaire && c.value()["version"] == 2)
    );
    let op = ani.op(&OpBody::VisitRecord(Box::new(v1_visit)));
    let r = ani.push(&[op]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "{r:?}");
    let mut v2_visit = visit(&hh[1].0, &hh[1].1, 2);
    v2_visit.questionnaire_version = 2;
    v2_visit.answers.insert("jumlah_kamar".into(), json!(3));
    let op = ani.op(&OpBody::VisitRecord(Box::new(v2_visit)));
    let r = ani.push(&[op]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "{r:?}");
    // The export names each visit's version.
    let csv = sup
        .get("/api/v1/export/visits.csv?state=draft")
        .await
        .text()
        .await
        .unwrap();
    let mut rd = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    let col = header.iter().position(|h| h == "versi_kuesioner").unwrap();
    let mut versions: Vec<String> = rd.records().map(|r| r.unwrap()[col].to_string()).collect();
    versions.sort();
    assert_eq!(versions, ["1", "2"]);
    assert!(header.iter().any(|h| h == "q_jumlah_kamar"));
}

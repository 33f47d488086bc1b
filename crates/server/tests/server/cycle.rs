//! The update cycle (DESIGN.md §12) over both backends: periods, proposals entered and
//! imported, a musdes deciding them, the layak ones assigned, visited and approved, the berita
//! acara read back with `pdftotext`, the signed scan kept, and every refusal coded.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use verivali_domain::{Household, Role};
use verivali_protocol::{ChangeKind, OpBody};

/// The NIK of a proposal (synthetic): born 5 January 1990, a woman.
const NIK: &str = "3308014501900003";

async fn send(
    d: &Device,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut rq = d
        .client
        .request(method, format!("{}{path}", d.url))
        .bearer_auth(&d.token);
    if let Some(b) = body {
        rq = rq.json(&b);
    }
    rq.send().await.unwrap()
}

async fn post(d: &Device, path: &str, body: Value) -> reqwest::Response {
    send(d, reqwest::Method::POST, path, Some(body)).await
}

async fn ok(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn code(r: reqwest::Response) -> (u16, String) {
    let (status, v) = problem(r).await;
    (status.as_u16(), v["code"].as_str().unwrap().to_string())
}

fn proposal(kind: &str, household: Option<Uuid>, name: &str, desa: &str) -> Value {
    json!({
        "kind": kind, "channel": "desa", "household_id": household, "nik": NIK,
        "name": name, "address": "Dusun Krajan RT 02 RW 01", "kode_desa": desa,
        "reason": "Dilaporkan warga di kantor desa",
    })
}

async fn step_of(d: &Device, id: &str) -> (String, Value) {
    let list = ok(d.get("/api/v1/proposals").await).await;
    let p = list["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap();
    (p["step"].as_str().unwrap().to_string(), p)
}

both_backends!(whole, a_month_of_proposals_from_desk_to_field);
async fn a_month_of_proposals_from_desk_to_field(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("admin", Role::Admin, &["3308"]).await;
    s.add_user("op_a", Role::Operator, &[DESA_A]).await;
    s.add_user("op_b", Role::Operator, &[DESA_B]).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    s.add_user("ani", Role::Enumerator, &[DESA_A]).await;
    s.add_user("verif", Role::Verifier, &["3308"]).await;
    let ha = s.import(DESA_A, 2, 1).await;
    let hb = s.import(DESA_B, 1, 2).await;
    let admin = s.sign_in("admin").await;
    let op_a = s.sign_in("op_a").await;
    let op_b = s.sign_in("op_b").await;
    let spv = s.sign_in("spv").await;
    let mut ani = s.sign_in("ani").await;
    let verif = s.sign_in("verif").await;
    let names =
        "kode,nama\n3308,Kabupaten Contoh\n330801,Kecamatan Sukamaju\n3308012001,Desa Sukamaju\n";
    let r = admin
        .client
        .post(format!("{}/api/v1/admin/regions", admin.url))
        .bearer_auth(&admin.token)
        .body(names)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // A period whose cut-off is in two days: it warns.
    let today = verivali_domain::cycle::today(chrono::Utc::now());
    let day = |n: i64| (today + chrono::Duration::days(n)).to_string();
    let period = ok(post(
        &admin,
        "/api/v1/admin/periods",
        json!({"name": "2026-12", "opens": day(-20), "cutoff": day(2), "closes": day(8)}),
    )
    .await)
    .await;
    assert_eq!(period["state"], "planned");
    let pid = period["id"].as_str().unwrap().to_string();
    assert_eq!(
        code(
            post(
                &op_a,
                "/api/v1/admin/periods",
                json!({"name": "x", "opens": day(0), "cutoff": day(1), "closes": day(2)})
            )
            .await
        )
        .await,
        (403, "auth.forbidden".into())
    );
    assert_eq!(
        code(
            post(
                &admin,
                "/api/v1/admin/periods",
                json!({"name": "2026-12", "opens": day(3), "cutoff": day(30), "closes": day(31)})
            )
            .await
        )
        .await,
        (409, "period.name_taken".into())
    );
    ok(post(
        &admin,
        &format!("/api/v1/admin/periods/{pid}/open"),
        json!(null),
    )
    .await)
    .await;
    assert_eq!(
        code(
            post(
                &admin,
                &format!("/api/v1/admin/periods/{pid}/open"),
                json!(null)
            )
            .await
        )
        .await,
        (409, "period.not_allowed".into())
    );
    let periods = ok(op_a.get("/api/v1/periods").await).await;
    assert_eq!(periods["open"]["name"], "2026-12");
    assert_eq!(periods["open"]["warn"], true);
    assert_eq!(periods["open"]["days_to_cutoff"], 2);

    // Three proposals at the desa office; the refusals first.
    let new_family = ok(post(
        &op_a,
        "/api/v1/proposals",
        proposal("usulan_baru", None, "Siti Aminah", DESA_A),
    )
    .await)
    .await;
    let death = ok(post(
        &op_a,
        "/api/v1/proposals",
        proposal("laporan_kematian", Some(ha[0].0.id), "Sutarjo", DESA_A),
    )
    .await)
    .await;
    let objection = ok(post(
        &op_a,
        "/api/v1/proposals",
        proposal("sanggah", Some(ha[1].0.id), "Wagiman", DESA_A),
    )
    .await)
    .await;
    assert_eq!(new_family["step"], "entered");
    assert_eq!(new_family["period"], "2026-12");
    assert_eq!(new_family["nik_masked"], "330801********03");
    assert_eq!(death["source"], "laporan_kematian");
    let refusals = [
        (
            &op_a,
            proposal("sanggah", None, "X", DESA_B),
            (422, "proposal.outside_area"),
        ),
        (
            &op_a,
            proposal("laporan_kematian", Some(hb[0].0.id), "X", DESA_A),
            (422, "proposal.household_outside"),
        ),
        (
            &op_a,
            proposal("laporan_kematian", None, "X", DESA_A),
            (422, "proposal.household_required"),
        ),
        (
            &op_a,
            proposal("usulan_baru", Some(ha[0].0.id), "X", DESA_A),
            (422, "proposal.household_refused"),
        ),
        (
            &spv,
            proposal("sanggah", None, "X", DESA_A),
            (403, "auth.forbidden"),
        ),
        (
            &ani,
            proposal("sanggah", None, "X", DESA_A),
            (403, "auth.forbidden"),
        ),
        (
            &verif,
            proposal("sanggah", None, "X", DESA_A),
            (403, "auth.forbidden"),
        ),
    ];
    for (who, body, want) in refusals {
        let got = code(post(who, "/api/v1/proposals", body).await).await;
        assert_eq!((got.0, got.1.as_str()), want);
    }
    let r = send(&op_a, reqwest::Method::POST, "/api/v1/proposals", None).await;
    assert!(r.status().is_client_error());
    // The verifikator and the supervisor read them; the operator of another desa sees none.
    assert_eq!(
        ok(verif.get("/api/v1/proposals").await).await["proposals"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        ok(spv.get("/api/v1/proposals").await).await["proposals"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert!(
        ok(op_b.get("/api/v1/proposals").await).await["proposals"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(code(ani.get("/api/v1/proposals").await).await.0, 403);

    // The musdes: two layak, one not. Refused sessions change nothing.
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let session = |date: String, decisions: Value| {
        json!({
            "kode_desa": DESA_A, "date": date, "place": "Balai Desa Sukamaju",
            "chair": "Bambang Sutrisno",
            "attendees": [
                {"name": "Bambang Sutrisno", "role": "Kepala Desa"},
                {"name": "Sri Wahyuni", "role": "Ketua RT 02"},
                {"name": "Agus Salim", "role": "Pendamping PKH"}
            ],
            "decisions": decisions,
        })
    };
    let decisions = json!([
        {"proposal_id": id(&new_family), "decision": "layak"},
        {"proposal_id": id(&death), "decision": "layak", "note": "Akta kematian ada"},
        {"proposal_id": id(&objection), "decision": "tidak_layak", "note": "Penghasilan tetap"},
    ]);
    let unknown = json!([{"proposal_id": Uuid::now_v7(), "decision": "layak"}]);
    let bad_sessions = [
        (
            &op_a,
            session(day(1), decisions.clone()),
            (422, "musdes.future"),
        ),
        (
            &op_a,
            session(day(0), unknown),
            (422, "musdes.unknown_proposal"),
        ),
        (
            &op_b,
            session(day(0), decisions.clone()),
            (422, "proposal.outside_area"),
        ),
        (
            &spv,
            session(day(0), decisions.clone()),
            (403, "auth.forbidden"),
        ),
    ];
    for (who, body, want) in bad_sessions {
        let got = code(post(who, "/api/v1/musdes", body).await).await;
        assert_eq!((got.0, got.1.as_str()), want);
    }
    let mut one_bad = decisions.clone();
    one_bad
        .as_array_mut()
        .unwrap()
        .push(json!({"proposal_id": id(&new_family), "decision": "tidak_layak"}));
    assert_eq!(
        code(post(&op_a, "/api/v1/musdes", session(day(0), one_bad)).await)
            .await
            .1,
        "musdes.decided_twice"
    );
    let musdes = ok(post(&op_a, "/api/v1/musdes", session(day(0), decisions.clone())).await).await;
    assert_eq!(musdes["decisions"].as_array().unwrap().len(), 3);
    let mid = id(&musdes);
    assert_eq!(
        code(
            post(
                &op_a,
                "/api/v1/musdes",
                session(
                    day(0),
                    json!([{"proposal_id": id(&death), "decision": "tidak_layak"}])
                )
            )
            .await
        )
        .await,
        (409, "musdes.already_decided".into())
    );
    let (step, nf) = step_of(&op_a, &id(&new_family)).await;
    assert_eq!(
        (step.as_str(), nf["decision"].as_str()),
        ("decided", Some("layak"))
    );
    let new_household: Uuid = nf["target_household_id"].as_str().unwrap().parse().unwrap();
    assert!(nf["household_id"].is_null());
    assert_eq!(step_of(&op_a, &id(&objection)).await.0, "decided");

    // The supervisor assigns the layak ones with the source their kind gives.
    let (_, dp) = step_of(&spv, &id(&death)).await;
    for (target, source) in [
        (new_household.to_string(), nf["source"].clone()),
        (
            dp["target_household_id"].as_str().unwrap().to_string(),
            dp["source"].clone(),
        ),
    ] {
        ok(post(
            &spv,
            "/api/v1/assignments",
            json!({"enumerator": "ani", "household_ids": [target], "source": source}),
        )
        .await)
        .await;
    }
    assert_eq!(step_of(&op_a, &id(&new_family)).await.0, "assigned");
    assert_eq!(step_of(&op_a, &id(&death)).await.0, "assigned");
    assert_eq!(
        step_of(&op_a, &id(&objection)).await.0,
        "decided",
        "a tidak layak proposal stops"
    );

    // The enumerator's device receives the new family, visits it; the supervisor approves.
    s.settle().await;
    let changes = ani.pull_all().await;
    let h: Household = changes
        .iter()
        .find(|c| c.kind == ChangeKind::Household && c.id == new_household.to_string())
        .map(|c| serde_json::from_value(c.value()).unwrap())
        .expect("the new family reaches the assigned enumerator");
    assert_eq!(h.fields.nama_krt, "Siti Aminah");
    // The family as the enumerator finds it: a head and whoever lives with her, new members.
    let (_, mut found) =
        verivali_domain::sample::household(&mut verivali_domain::sample::Seq::new(9), DESA_A, 0);
    for m in &mut found {
        m.member_id = Uuid::now_v7();
        m.status = verivali_domain::PresenceStatus::AnggotaBaru;
    }
    let mut v = visit(&h, &found, 7);
    // The musdes knew the family by name and address; the enumerator adds the RT and RW.
    v.household.fields.rt = "02".into();
    v.household.fields.rw = "01".into();
    let photo = ani.upload(b"foto rumah keluarga Siti Aminah").await;
    let kind = v.photo_kinds.values().next().cloned().unwrap();
    v.photos = vec![photo.clone()];
    v.photo_kinds = [(photo, kind)].into_iter().collect();
    let op = ani.op(&OpBody::VisitRecord(Box::new(v.clone())));
    let pushed = ani.push(&[op]).await;
    assert_eq!(
        pushed.results[0].status,
        verivali_protocol::OpStatus::Applied,
        "{:?}",
        pushed.results[0].error
    );
    assert_eq!(step_of(&op_a, &id(&new_family)).await.0, "visited");
    let batch = verivali_domain::Batch {
        batch_id: Uuid::now_v7(),
        visit_ids: vec![v.visit_id],
    };
    let op = ani.op(&OpBody::BatchSubmit(batch));
    ani.push(&[op]).await;
    let r = spv.decide(v.visit_id, json!({"decision": "approve"})).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(step_of(&op_a, &id(&new_family)).await.0, "approved");

    // Two levels: with a verifikator over the desa the approval has not touched the baseline;
    // the verification does. A supervisor cannot verify.
    let version = |h: Uuid| {
        let s = &s;
        async move {
            s.count(&format!("SELECT version FROM households WHERE id = '{h}'"))
                .await
        }
    };
    assert_eq!(
        version(new_household).await,
        1,
        "approved, not verified yet"
    );
    assert_eq!(
        code(spv.decide(v.visit_id, json!({"decision": "verify"})).await).await,
        (403, "state.forbidden".into())
    );
    assert_eq!(
        code(
            verif
                .decide(v.visit_id, json!({"decision": "return", "reason": " "}))
                .await
        )
        .await,
        (422, "state.reason_required".into())
    );
    let queue = ok(verif.get("/api/v1/review/visits").await).await;
    assert!(
        queue["visits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["found"]["visit_id"] == json!(v.visit_id)),
        "the verifikator's queue is the approved visits: {queue}"
    );
    let r = verif
        .decide(v.visit_id, json!({"decision": "verify"}))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(version(new_household).await, 2, "verified: in the baseline");
    assert_eq!(step_of(&op_a, &id(&new_family)).await.0, "verified");
    assert_eq!(
        code(
            verif
                .decide(v.visit_id, json!({"decision": "verify"}))
                .await
        )
        .await,
        (409, "state.not_allowed".into())
    );

    // The death report's household: visited, approved, returned by the verifikator to the
    // supervisor's queue, approved again, then verified with the rest of the desa's period.
    let (h0, m0) = &ha[0];
    let mut w = visit(h0, m0, 11);
    let photo = ani.upload(b"foto rumah keluarga Sutarjo").await;
    let kind = w.photo_kinds.values().next().cloned().unwrap();
    w.photos = vec![photo.clone()];
    w.photo_kinds = [(photo, kind)].into_iter().collect();
    let op = ani.op(&OpBody::VisitRecord(Box::new(w.clone())));
    assert_eq!(
        ani.push(&[op]).await.results[0].status,
        verivali_protocol::OpStatus::Applied
    );
    let batch = verivali_domain::Batch {
        batch_id: Uuid::now_v7(),
        visit_ids: vec![w.visit_id],
    };
    let op = ani.op(&OpBody::BatchSubmit(batch));
    ani.push(&[op]).await;
    assert_eq!(
        spv.decide(w.visit_id, json!({"decision": "approve"}))
            .await
            .status(),
        StatusCode::OK
    );
    let before = version(h0.id).await;
    let r = verif
        .decide(
            w.visit_id,
            json!({"decision": "return", "reason": "Tanggal kematian tidak ada di catatan"}),
        )
        .await;
    assert_eq!(ok(r).await["state"], "returned");
    assert_eq!(step_of(&op_a, &id(&death)).await.0, "visited");
    let queue = ok(spv.get("/api/v1/review/visits").await).await;
    assert!(
        queue["visits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["found"]["visit_id"] == json!(w.visit_id)),
        "returned: back in the supervisor's queue: {queue}"
    );
    assert_eq!(
        spv.decide(w.visit_id, json!({"decision": "approve"}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        version(h0.id).await,
        before,
        "approved again, still waiting"
    );
    let bulk = ok(post(
        &verif,
        "/api/v1/review/verify",
        json!({"area": DESA_A, "period": "2026-12"}),
    )
    .await)
    .await;
    assert_eq!(bulk["results"].as_array().unwrap().len(), 1, "{bulk}");
    assert_eq!(bulk["results"][0]["state"], "verified");
    assert_eq!(version(h0.id).await, before + 1);
    assert_eq!(step_of(&op_a, &id(&death)).await.0, "verified");
    assert_eq!(
        code(
            post(
                &verif,
                "/api/v1/review/verify",
                json!({"area": DESA_A, "period": "2026-12"})
            )
            .await
        )
        .await,
        (404, "review.nothing_to_verify".into())
    );
    assert_eq!(
        code(post(&spv, "/api/v1/review/verify", json!({"area": DESA_A})).await)
            .await
            .0,
        403
    );
    // The period's documents: the BNBA list of decisions (NIK masked, cells safe from
    // spreadsheet formulas) and the kabupaten's summary.
    let r = op_a.get("/api/v1/periods/2026-12/bnba.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let bnba = r.text().await.unwrap();
    let lines: Vec<&str> = bnba.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three decisions:\n{bnba}");
    assert!(lines[0].starts_with("no,kode_desa,desa,nama,nik,alamat,jenis_usulan"));
    for want in [
        "Siti Aminah",
        "Sutarjo",
        "Wagiman",
        "330801********03",
        "Tidak layak",
        "Diverifikasi dinas",
        "Desa Sukamaju",
    ] {
        assert!(bnba.contains(want), "{want:?} missing:\n{bnba}");
    }
    assert!(!bnba.contains(NIK));
    let xlsx = op_a.get("/api/v1/periods/2026-12/bnba.xlsx").await;
    assert_eq!(xlsx.status(), StatusCode::OK);
    assert!(
        xlsx.bytes().await.unwrap().starts_with(b"PK"),
        "a zip: an XLSX workbook"
    );
    assert_eq!(
        code(op_a.get("/api/v1/periods/2027-01/bnba.csv").await).await,
        (404, "period.unknown".into())
    );
    assert!(
        ok(op_b.get("/api/v1/proposals").await).await["proposals"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let other = op_b
        .get("/api/v1/periods/2026-12/bnba.csv")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        other.lines().count(),
        1,
        "another desa's office gets the header only"
    );
    let r = verif
        .get("/api/v1/periods/2026-12/summary.pdf?area=3308")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let summary = pdftotext(&r.bytes().await.unwrap());
    for want in [
        "REKAPITULASI PEMUTAKHIRAN DTSEN",
        "Periode 2026-12",
        "Kabupaten Contoh (3308)",
        "Desa Sukamaju (3308012001)",
        "Kepala Dinas Sosial",
        "Belum diputuskan",
    ] {
        assert!(summary.contains(want), "{want:?} missing:\n{summary}");
    }
    assert!(!summary.contains(NIK));
    assert_eq!(
        code(verif.get("/api/v1/periods/2026-12/summary.pdf").await).await,
        (422, "period.summary_area".into())
    );
    assert_eq!(
        code(
            spv.get("/api/v1/periods/2026-12/summary.pdf?area=3309")
                .await
        )
        .await
        .0,
        404
    );
    assert_eq!(
        code(ani.get("/api/v1/periods/2026-12/bnba.csv").await)
            .await
            .0,
        403
    );

    // Only verified visits go to the ministry; the device learns the final state.
    let csv = verif.get("/api/v1/export/visits.csv?state=verified").await;
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.unwrap();
    assert_eq!(
        csv.lines().count(),
        3,
        "a header and the two verified visits:\n{csv}"
    );
    s.settle().await;
    let decisions: Vec<String> = ani
        .pull_all()
        .await
        .iter()
        .filter(|c| c.kind == ChangeKind::Review && c.value()["visit_id"] == json!(w.visit_id))
        .map(|c| c.value()["decision"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(decisions, ["approve", "return", "approve", "verify"]);

    // The berita acara: Indonesian, names and addresses, the NIK masked.
    let r = op_a
        .get(&format!("/api/v1/musdes/{mid}/berita-acara.pdf"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().await.unwrap().to_vec();
    let text = pdftotext(&pdf);
    for want in [
        "BERITA ACARA MUSYAWARAH DESA",
        "Desa Sukamaju (3308012001)",
        "Kecamatan Sukamaju (330801)",
        "Kabupaten Contoh (3308)",
        "Balai Desa Sukamaju",
        "Siti Aminah",
        "Sutarjo",
        "Wagiman",
        "330801********03",
        "TIDAK LAYAK",
        "Sri Wahyuni",
        "Pimpinan Musyawarah",
        "layak: 2; tidak layak: 1",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    assert!(!text.contains(NIK), "the full NIK is printed:\n{text}");
    assert_eq!(
        code(
            op_b.get(&format!("/api/v1/musdes/{mid}/berita-acara.pdf"))
                .await
        )
        .await
        .0,
        404
    );

    // The signed scan comes back; only a PDF or an image.
    let put = |d: &Device, ct: &'static str, body: Vec<u8>| {
        d.client
            .put(format!("{}/api/v1/musdes/{mid}/scan", d.url))
            .bearer_auth(&d.token)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_eq!(
        code(
            put(&op_a, "text/plain", b"tanda tangan".to_vec())
                .await
                .unwrap()
        )
        .await
        .1,
        "musdes.scan_type"
    );
    assert_eq!(
        code(
            put(&op_a, "application/pdf", b"<html>".to_vec())
                .await
                .unwrap()
        )
        .await
        .1,
        "musdes.scan_type"
    );
    assert_eq!(
        code(put(&op_b, "application/pdf", pdf.clone()).await.unwrap())
            .await
            .0,
        404
    );
    let scanned = ok(put(&op_a, "application/pdf", pdf.clone()).await.unwrap()).await;
    assert_eq!(scanned["scan"]["content_type"], "application/pdf");
    assert_eq!(scanned["scan"]["bytes"], pdf.len());
    let listed = ok(verif.get("/api/v1/musdes").await).await;
    assert_eq!(
        listed["sessions"][0]["scan"]["sha256"],
        scanned["scan"]["sha256"]
    );

    // Closing the period: its last proposal can no longer be decided.
    let late = ok(post(
        &op_a,
        "/api/v1/proposals",
        proposal("sanggah", None, "Darmini", DESA_A),
    )
    .await)
    .await;
    ok(post(
        &admin,
        &format!("/api/v1/admin/periods/{pid}/close"),
        json!(null),
    )
    .await)
    .await;
    assert_eq!(
        code(
            post(
                &op_a,
                "/api/v1/musdes",
                session(
                    day(0),
                    json!([{"proposal_id": id(&late), "decision": "layak"}])
                )
            )
            .await
        )
        .await,
        (409, "period.closed".into())
    );
    assert_eq!(step_of(&op_a, &id(&late)).await.0, "entered");
    // Closed before its cut-off: nothing more enters it.
    let r = post(
        &op_a,
        "/api/v1/proposals",
        proposal("sanggah", None, "Paijo", DESA_A),
    )
    .await;
    assert_eq!(code(r).await, (409, "period.closed".into()));
    let actions: Vec<String> =
        ok(admin.get("/api/v1/admin/audit?limit=200").await).await["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect();
    for a in [
        "period.create",
        "period.open",
        "period.close",
        "proposal.create",
        "proposal.list",
        "musdes.record",
        "musdes.list",
        "musdes.print",
        "musdes.scan",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} not audited: {actions:?}"
        );
    }
}

/// The text of a PDF as `pdftotext` reads it (layout kept, so table rows stay on one line).
fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ba.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed by scripts/setup.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

both_backends!(import, proposals_come_from_a_spreadsheet_bad_rows_reported);
async fn proposals_come_from_a_spreadsheet_bad_rows_reported(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("op_a", Role::Operator, &[DESA_A]).await;
    let ha = s.import(DESA_A, 1, 1).await;
    let op = s.sign_in("op_a").await;
    let csv = format!(
        "\u{feff}kind,channel,household_id,nik,name,address,kode_desa,reporter,reason\n\
         usulan_baru,cek_bansos,,{NIK},Siti Aminah,Dusun Krajan,{DESA_A},,Tidak punya pekerjaan\n\
         pindah_rumah,desa,,,X,Y,{DESA_A},,Z\n\
         sanggah,desa,,,X,Y,{DESA_B},,Z\n\
         laporan_kematian,rt_rw,{},,Sutarjo,\"Dusun Krajan, RT 01\",{DESA_A},Ketua RT,Meninggal 1 Desember\n\
         \n\
         sanggah,merpati,,,X,Y,{DESA_A},,Z\n",
        ha[0].0.id
    );
    let r = op
        .client
        .post(format!("{}/api/v1/proposals/import", op.url))
        .bearer_auth(&op.token)
        .body(csv)
        .send()
        .await
        .unwrap();
    let v = ok(r).await;
    assert_eq!(v["created"], 2, "{v}");
    let bad: Vec<(u64, &str)> = v["bad_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        bad,
        [
            (3, "proposal.bad_kind"),
            (4, "proposal.outside_area"),
            // As a spreadsheet numbers lines: the blank one counts.
            (7, "proposal.bad_channel")
        ]
    );
    let list = ok(op.get("/api/v1/proposals").await).await;
    let names: Vec<&str> = list["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Siti Aminah") && names.contains(&"Sutarjo"));
    let r = op
        .client
        .post(format!("{}/api/v1/proposals/import", op.url))
        .bearer_auth(&op.token)
        .body("nama,alamat\nx,y\n")
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (422, "proposal.bad_file".into()));
}

both_backends!(roles, operators_and_verifiers_work_at_their_level);
async fn operators_and_verifiers_work_at_their_level(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("admin", Role::Admin, &["3308"]).await;
    let admin = s.sign_in("admin").await;
    let user = |name: &str, role: &str, area: &str| json!({"username": name, "display_name": name, "role": role, "areas": [area], "password": PASSWORD});
    for (body, want) in [
        (user("op1", "operator", "330801"), Some("user.area_level")),
        (user("op2", "operator", DESA_A), None),
        (user("ver1", "verifier", DESA_A), Some("user.area_level")),
        (user("ver2", "verifier", "3308"), None),
    ] {
        let r = post(&admin, "/api/v1/admin/users", body).await;
        match want {
            Some(c) => assert_eq!(code(r).await, (422, c.to_string())),
            None => assert_eq!(
                r.status(),
                StatusCode::CREATED,
                "{}",
                r.text().await.unwrap()
            ),
        }
    }
    // A verifier reads the review queue of the kabupaten; an operator does not.
    let ver = s.sign_in("ver2").await;
    let op = s.sign_in("op2").await;
    assert_eq!(
        ver.get("/api/v1/review/visits").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        op.get("/api/v1/review/visits").await.status(),
        StatusCode::FORBIDDEN
    );
    // The desk roles do not pull the sync feed (whole households, NIKs unmasked).
    for d in [&ver, &op] {
        let r = d.get("/api/v1/sync/pull").await;
        assert_eq!(code(r).await, (403, "auth.forbidden".into()));
    }
}

both_backends!(corrected, a_corrected_visit_reaches_the_baseline_again);
/// Without a verifikator, approval applies the findings; when an admin reopens the visit and the
/// enumerator corrects it, the corrected findings are applied again at the next approval (a new
/// revision is not "already in the baseline").
async fn a_corrected_visit_reaches_the_baseline_again(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("admin", Role::Admin, &["3308"]).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    s.add_user("ani", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 1, 3).await;
    let (admin, spv) = (s.sign_in("admin").await, s.sign_in("spv").await);
    let mut ani = s.sign_in("ani").await;
    let (h, m) = &hh[0];
    let version = || async {
        s.count(&format!(
            "SELECT version FROM households WHERE id = '{}'",
            h.id
        ))
        .await
    };
    let mut v = visit(h, m, 21);
    let photo = ani.upload(b"foto rumah, kunjungan pertama").await;
    let kind = v.photo_kinds.values().next().cloned().unwrap();
    v.photos = vec![photo.clone()];
    v.photo_kinds = [(photo, kind)].into_iter().collect();
    let send = |ani: &mut Device, v: &verivali_domain::VisitRecord| {
        let ops = vec![
            ani.op(&OpBody::VisitRecord(Box::new(v.clone()))),
            ani.op(&OpBody::BatchSubmit(verivali_domain::Batch {
                batch_id: Uuid::now_v7(),
                visit_ids: vec![v.visit_id],
            })),
        ];
        let ani = ani.clone();
        async move {
            let r = ani.push(&ops).await;
            assert!(
                r.results
                    .iter()
                    .all(|x| x.status == verivali_protocol::OpStatus::Applied),
                "{r:?}"
            );
        }
    };
    send(&mut ani, &v).await;
    assert_eq!(
        spv.decide(v.visit_id, json!({"decision": "approve"}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        version().await,
        2,
        "applied at approval: no verifikator here"
    );
    assert_eq!(
        admin
            .decide(
                v.visit_id,
                json!({"decision": "reopen", "reason": "Alamat salah ketik"})
            )
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        spv.decide(
            v.visit_id,
            json!({"decision": "reject", "reason": "Perbaiki alamat"})
        )
        .await
        .status(),
        StatusCode::OK
    );
    v.revision += 1;
    v.baseline_version = 2;
    v.household.fields.alamat = "Jl. Kenanga 7".into();
    send(&mut ani, &v).await;
    assert_eq!(
        spv.decide(v.visit_id, json!({"decision": "approve"}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(version().await, 3, "the corrected revision is applied too");
    assert_eq!(
        s.count(&format!(
            "SELECT count(*) FROM households WHERE id = '{}' AND alamat = 'Jl. Kenanga 7'",
            h.id
        ))
        .await,
        1
    );
}

both_backends!(exits, exits_carry_their_evidence_and_a_move_is_handed_on);
/// A death with a date in the future is refused with its code (the rest of the push goes on); a
/// death with its date and the reason there is no document, and a move to another desa, are
/// accepted; at approval the member who moved becomes a proposal of the desa moved to.
async fn exits_carry_their_evidence_and_a_move_is_handed_on(b: Backend) {
    use verivali_domain::PresenceStatus;
    use verivali_domain::household::MemberExit;
    let s = TestServer::start(b).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    s.add_user("ani", Role::Enumerator, &[DESA_A]).await;
    s.add_user("op_b", Role::Operator, &[DESA_B]).await;
    let hh = s.import(DESA_A, 1, 9).await;
    let (spv, op_b) = (s.sign_in("spv").await, s.sign_in("op_b").await);
    let mut ani = s.sign_in("ani").await;
    let (h, m) = &hh[0];
    assert!(m.len() >= 3, "a head and two others");
    let mut v = visit(h, m, 31);
    let photo = ani.upload(b"foto rumah keluarga yang ditinggalkan").await;
    let kind = v.photo_kinds.values().next().cloned().unwrap();
    v.photos = vec![photo.clone()];
    v.photo_kinds = [(photo, kind)].into_iter().collect();
    let others: Vec<usize> = (0..v.members.len())
        .filter(|i| v.members[*i].relationship != verivali_domain::Relationship::Kepala)
        .take(2)
        .collect();
    let (died, moved) = (others[0], others[1]);
    v.members[died].status = PresenceStatus::Meninggal;
    v.members[died].exit = Some(MemberExit {
        date: Some(chrono::Utc::now().date_naive() + chrono::Duration::days(3)),
        no_document_reason: Some("Meninggal di rumah; akta belum dibuat".into()),
        ..MemberExit::default()
    });
    let op = ani.op(&OpBody::VisitRecord(Box::new(v.clone())));
    let r = ani.push(&[op]).await;
    let e = r.results[0].error.as_ref().unwrap();
    assert_eq!(e.code, "member.exit_date_future", "{e:?}");
    // Corrected: a past date; and a move to another desa.
    v.members[died].exit.as_mut().unwrap().date =
        Some(chrono::Utc::now().date_naive() - chrono::Duration::days(4));
    v.members[moved].status = PresenceStatus::Pindah;
    v.members[moved].exit = Some(MemberExit {
        destination_desa: Some(DESA_B.into()),
        ..MemberExit::default()
    });
    v.revision += 1;
    let ops = vec![
        ani.op(&OpBody::VisitRecord(Box::new(v.clone()))),
        ani.op(&OpBody::BatchSubmit(verivali_domain::Batch {
            batch_id: Uuid::now_v7(),
            visit_ids: vec![v.visit_id],
        })),
    ];
    let r = ani.push(&ops).await;
    assert!(
        r.results
            .iter()
            .all(|x| x.status == verivali_protocol::OpStatus::Applied),
        "{r:?}"
    );
    // The supervisor sees the evidence with the member.
    let seen = ok(spv
        .get(&format!("/api/v1/review/visits/{}", v.visit_id))
        .await)
    .await;
    assert_eq!(
        seen["found"]["members"][died]["exit"]["no_document_reason"],
        "Meninggal di rumah; akta belum dibuat"
    );
    assert!(
        ok(op_b.get("/api/v1/proposals").await).await["proposals"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        spv.decide(v.visit_id, json!({"decision": "approve"}))
            .await
            .status(),
        StatusCode::OK
    );
    let handed = ok(op_b.get("/api/v1/proposals").await).await;
    let list = handed["proposals"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{handed}");
    assert_eq!(list[0]["name"], json!(v.members[moved].name));
    assert_eq!(list[0]["kind"], "usulan_baru");
    assert_eq!(list[0]["channel"], "dinas");
    assert!(list[0]["address"].as_str().unwrap().contains(DESA_A));
}

both_backends!(graduation, a_graduation_comes_with_its_letter);
/// A household found that graduates from aid carries the kind and its letter's photo; the
/// supervisor sees it; a graduation on a household not found is refused with its code.
async fn a_graduation_comes_with_its_letter(b: Backend) {
    use verivali_domain::{Graduation, GraduationKind, Outcome};
    let s = TestServer::start(b).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    s.add_user("ani", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 2, 11).await;
    let spv = s.sign_in("spv").await;
    let mut ani = s.sign_in("ani").await;
    let mut v = visit(&hh[0].0, &hh[0].1, 41);
    v.graduation = Some(Graduation {
        kind: GraduationKind::Mandiri,
        letter_photo: Some(v.photos[0].clone()),
    });
    let mut refused = visit(&hh[1].0, &hh[1].1, 42);
    refused.outcome = Outcome::Menolak;
    refused.members.clear();
    refused.answers.clear();
    refused.graduation = v.graduation.clone();
    refused.graduation.as_mut().unwrap().letter_photo = Some(refused.photos[0].clone());
    let ops = vec![
        ani.op(&OpBody::VisitRecord(Box::new(v.clone()))),
        ani.op(&OpBody::VisitRecord(Box::new(refused))),
    ];
    let r = ani.push(&ops).await;
    assert_eq!(
        r.results[0].status,
        verivali_protocol::OpStatus::Applied,
        "{r:?}"
    );
    assert_eq!(
        r.results[1].error.as_ref().unwrap().code,
        "graduation.outcome"
    );
    let seen = ok(spv
        .get(&format!("/api/v1/review/visits/{}", v.visit_id))
        .await)
    .await;
    assert_eq!(seen["found"]["graduation"]["kind"], "mandiri");
}

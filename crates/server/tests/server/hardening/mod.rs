//! The edges a hostile or careless client finds, on both backends: text no backend can store
//! (refused per op or per request with `text.control_char`, never a 5xx, never blocking the ops
//! behind it), CSRF whatever the `Authorization` header says, CSV cells that would start a
//! formula, a sign-in throttle per username that never locks colleagues behind one address, and
//! the client address only from a trusted proxy.

mod fuzz;

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use verivali_domain::VisitRecord;
use verivali_domain::{Batch, Role};
use verivali_protocol::{HouseholdProposal, OpBody, OpStatus};

fn nul_visit(h: &verivali_domain::Household, m: &[verivali_domain::Member]) -> VisitRecord {
    let mut v = visit(h, m, 41);
    v.members[0].name = "Sit\u{0}i".into();
    v
}

async fn control_characters_are_refused_per_op_and_never_a_5xx(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("spv", Role::Supervisor, &[DESA_A]).await;
    let hh = s.import(DESA_A, 3, 7).await;
    let mut d = s.sign_in("petugas").await;

    let mut good = visit(&hh[0].0, &hh[0].1, 40);
    good.photos.clear();
    good.photo_kinds.clear();
    let first = d.op(&OpBody::VisitRecord(Box::new(good.clone())));
    let mut bad_type = d.op(&OpBody::VisitRecord(Box::new(visit(
        &hh[1].0, &hh[1].1, 42,
    ))));
    bad_type.op_type = "visit.rec\u{0}ord".into();
    let proposal = HouseholdProposal {
        household_id: Uuid::now_v7(),
        kode_desa: DESA_A.into(),
        fields: verivali_domain::HouseholdFields {
            alamat: "Jl. Mawar\u{0} 3".into(),
            rt: "001".into(),
            rw: "002".into(),
            no_kk: None,
            nama_krt: String::new(),
        },
    };
    let ops = vec![
        first,
        bad_type,
        d.op(&OpBody::HouseholdPropose(proposal)),
        d.op(&OpBody::VisitRecord(Box::new(nul_visit(
            &hh[2].0, &hh[2].1,
        )))),
        d.op(&OpBody::VisitRecord(Box::new(visit(
            &hh[1].0, &hh[1].1, 43,
        )))),
    ];
    let r = d.push(&ops).await;
    assert_eq!(r.acked_through, d.seq, "every op is acknowledged");
    let statuses: Vec<_> = r.results.iter().map(|r| r.status).collect();
    use OpStatus::*;
    assert_eq!(statuses, [Applied, Rejected, Rejected, Rejected, Applied]);
    for res in &r.results[1..4] {
        let e = res.error.as_ref().unwrap();
        assert_eq!(e.code, "text.control_char", "{e:?}");
    }
    assert_eq!(
        r.results[3].error.as_ref().unwrap().field.as_deref(),
        Some("payload.members[0].name")
    );
    // The same push again: duplicates, and nothing stored is lost or changed.
    let again = d.push(&ops).await;
    assert!(again.results.iter().all(|r| r.status == Duplicate));
    assert_eq!(s.count("SELECT count(*) FROM visits").await, 2);

    // Requests whose strings cannot be stored: 400 with the code, never 500.
    let raw = |path: &str, body: Value| {
        s.client
            .post(format!("{}{path}", s.url))
            .header("accept-language", "en")
            .json(&body)
            .send()
    };
    let device = json!({"id": Uuid::now_v7(), "name": "hp", "app_version": "0.1.0"});
    for (path, body) in [
        (
            "/api/v1/session",
            json!({"username": "petu\u{0}gas", "password": PASSWORD, "device": device}),
        ),
        (
            "/api/v1/session",
            json!({"username": "petugas", "password": PASSWORD, "device": {"id": Uuid::now_v7(), "name": "h\u{0}p", "app_version": "0.1.0"}}),
        ),
        (
            "/api/v1/web/session",
            json!({"username": "sp\u{0}v", "password": PASSWORD}),
        ),
    ] {
        let (st, p) = problem(raw(path, body).await.unwrap()).await;
        assert_eq!(
            (st, p["code"].as_str().unwrap()),
            (StatusCode::BAD_REQUEST, "text.control_char"),
            "{path}: {p}"
        );
        assert!(p["request_id"].is_string(), "{p}");
    }
    let spv = s.sign_in("spv").await;
    let (st, p) = problem(
        spv.decide(
            good.visit_id,
            json!({"decision": "reject", "reason": "foto\u{0}"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "text.control_char")
    );
    for path in [
        "/api/v1/review/visits?area=3308%00",
        "/api/v1/review/visits?enumerator=a%01b",
        "/api/v1/export/visits.csv?area=%00",
        "/api/v1/review/visits/%00",
    ] {
        let (st, p) = problem(spv.get(path).await).await;
        assert_eq!(
            (st, p["code"].as_str().unwrap()),
            (StatusCode::BAD_REQUEST, "text.control_char"),
            "{path}"
        );
    }
    // The good visit still goes through review.
    submit_batch(&mut d, &[good.visit_id]).await;
    assert_eq!(
        spv.decide(good.visit_id, json!({"decision": "approve"}))
            .await
            .status(),
        StatusCode::OK
    );
    // A baseline row with a control character is a bad row, the others are imported.
    let (mut csv, _) = baseline_csv(DESA_A2, 2, 9);
    csv.push_str(&format!(
        "X-NUL-1,3308010101010001,{DESA_A2},Jl. \u{0}Baru,001,001,,3308014101900001,Nama,P,Magelang,1990-01-01,1\n"
    ));
    let app = s.app.clone();
    let report = tokio::task::spawn_blocking(move || {
        app.import_households(csv.as_bytes(), &|_, _| {}).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(report.bad_rows.len(), 1, "{:?}", report.bad_rows);
    assert_eq!(report.bad_rows[0].code, "text.control_char");
    assert_eq!(report.created, 2);
}
both_backends!(
    control_characters,
    control_characters_are_refused_per_op_and_never_a_5xx
);

async fn submit_batch(d: &mut Device, visits: &[Uuid]) {
    let op = d.op(&OpBody::BatchSubmit(Batch {
        batch_id: Uuid::now_v7(),
        visit_ids: visits.to_vec(),
    }));
    let r = d.push(&[op]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "{:?}", r.results);
}

async fn csv_cells_never_start_a_formula(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("spv", Role::Supervisor, &[DESA_A]).await;
    let hh = s.import(DESA_A, 1, 3).await;
    let mut d = s.sign_in("petugas").await;
    let mut v = visit(&hh[0].0, &hh[0].1, 44);
    v.photos.clear();
    v.photo_kinds.clear();
    v.household.nama_krt = "=HYPERLINK(\"http://contoh.invalid\",\"klik\")".into();
    v.household.alamat = "@SUM(1+1)".into();
    let op = d.op(&OpBody::VisitRecord(Box::new(v.clone())));
    assert_eq!(d.push(&[op]).await.results[0].status, OpStatus::Applied);
    submit_batch(&mut d, &[v.visit_id]).await;
    let spv = s.sign_in("spv").await;
    let r = spv.decide(v.visit_id, json!({"decision": "approve"})).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let body = spv
        .get("/api/v1/export/visits.csv")
        .await
        .text()
        .await
        .unwrap();
    let mut rd = csv::Reader::from_reader(body.as_bytes());
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    let row = rd.records().next().unwrap().unwrap();
    let col = |name: &str| row[header.iter().position(|h| h == name).unwrap()].to_string();
    assert_eq!(col("nama_krt"), format!("'{}", v.household.nama_krt));
    assert_eq!(col("alamat"), "'@SUM(1+1)");
    // A negative latitude stays a number.
    let lat = col("lat");
    assert!(lat.starts_with('-') && lat.parse::<f64>().is_ok(), "{lat}");
    // The CLI export writes the same neutralised cells.
    let out = s.data_dir.join("export.csv");
    let app = s.app.clone();
    let o = out.clone();
    tokio::task::spawn_blocking(move || {
        app.export_visits_cli("approved", None, "csv", &o).unwrap()
    })
    .await
    .unwrap();
    let file = std::fs::read_to_string(&out).unwrap();
    assert!(file.contains("\"'=HYPERLINK("), "{file}");
}
both_backends!(csv_injection, csv_cells_never_start_a_formula);

async fn sign_in_throttle_is_per_username(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas1", Role::Enumerator, &[DESA_A]).await;
    s.add_user("petugas2", Role::Enumerator, &[DESA_A]).await;
    let attempt = |username: &str, password: &str| {
        let body = json!({"username": username, "password": password, "device": {"id": Uuid::now_v7(), "name": "x", "app_version": "0.1.0"}});
        s.client
            .post(format!("{}/api/v1/session", s.url))
            .json(&body)
            .send()
    };
    for _ in 0..verivali_server::auth::MAX_FAILURES {
        assert_eq!(
            attempt("petugas1", "salah").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let (st, p) = problem(attempt("petugas1", PASSWORD).await.unwrap()).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::TOO_MANY_REQUESTS, "auth.throttled")
    );
    assert_eq!(
        attempt("petugas2", PASSWORD).await.unwrap().status(),
        StatusCode::OK,
        "a colleague behind the same address signs in"
    );
}
both_backends!(throttle, sign_in_throttle_is_per_username);

async fn csrf_is_needed_whatever_authorization_says(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("spv", Role::Supervisor, &[DESA_A]).await;
    let hh = s.import(DESA_A, 1, 5).await;
    let mut d = s.sign_in("petugas").await;
    let mut v = visit(&hh[0].0, &hh[0].1, 45);
    v.photos.clear();
    v.photo_kinds.clear();
    let op = d.op(&OpBody::VisitRecord(Box::new(v.clone())));
    d.push(&[op]).await;
    submit_batch(&mut d, &[v.visit_id]).await;
    let r = s
        .client
        .post(format!("{}/api/v1/web/session", s.url))
        .json(&json!({"username": "spv", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = r.json::<Value>().await.unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_string();
    let decide = |authorization: Option<&str>, csrf: Option<&str>| {
        let mut rb = s
            .client
            .post(format!(
                "{}/api/v1/review/visits/{}/decision",
                s.url, v.visit_id
            ))
            .header("cookie", &cookie)
            .json(&json!({"decision": "reject", "reason": "foto buram"}));
        if let Some(a) = authorization {
            rb = rb.header("authorization", a);
        }
        if let Some(c) = csrf {
            rb = rb.header("x-csrf-token", c);
        }
        rb.send()
    };
    // Only a real `Bearer TOKEN` is a bearer credential; with anything else the cookie counts,
    // and the cookie needs the CSRF token.
    for auth in [
        None,
        Some("Basic cHJveHk6cHJveHk="),
        Some("Digest x"),
        Some("Bearer"),
    ] {
        let (st, p) = problem(decide(auth, None).await.unwrap()).await;
        assert_eq!(
            (st, p["code"].as_str().unwrap()),
            (StatusCode::FORBIDDEN, "auth.csrf"),
            "{auth:?}"
        );
    }
    let (st, _) = problem(decide(Some("Bearer vv1.not-a-token"), None).await.unwrap()).await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "a bearer token is never topped up by the cookie"
    );
    assert_eq!(
        s.count("SELECT count(*) FROM reviews").await,
        0,
        "nothing was decided"
    );
    let r = decide(Some("Basic cHJveHk6cHJveHk="), Some(&csrf))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}
both_backends!(csrf, csrf_is_needed_whatever_authorization_says);

#[tokio::test]
async fn the_client_address_comes_only_from_a_trusted_proxy() {
    use verivali_server::edge::Edge;
    for (trusted, expected) in [(true, "203.0.113.7"), (false, "127.0.0.1")] {
        let edge = Edge {
            trusted_proxies: if trusted {
                vec!["127.0.0.1".parse().unwrap()]
            } else {
                vec![]
            },
            https: false,
        };
        let s = TestServer::start_with(Backend::Sqlite, edge).await;
        let r = s
            .client
            .post(format!("{}/api/v1/session", s.url))
            .header("x-forwarded-for", "10.9.9.9, 203.0.113.7")
            .json(&json!({"username": "siapa", "password": "salah", "device": {"id": Uuid::now_v7(), "name": "x", "app_version": "0.1.0"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            s.count(&format!(
                "SELECT count(*) FROM audit WHERE action = 'session.failed' AND address = '{expected}'"
            ))
            .await,
            1,
            "trusted: {trusted}"
        );
    }
}

#[tokio::test]
async fn postgres_with_sslmode_require_speaks_verified_tls() {
    // This machine's PostgreSQL has Debian's self-signed "snakeoil" certificate (or no TLS at
    // all): with sslmode=require the server refuses to go on in plain text, and a certificate
    // that nobody vouches for is not accepted either. The same server without sslmode works.
    let admin = pg_admin_url();
    let sep = if admin.contains('?') { '&' } else { '?' };
    let url = format!("{admin}{sep}sslmode=require");
    let plain = admin.clone();
    let (tls, plain) = tokio::task::spawn_blocking(move || {
        (
            verivali_server::db::open(&url).map(|_| ()),
            postgres::Client::connect(&plain, postgres::NoTls).map(|_| ()),
        )
    })
    .await
    .unwrap();
    let e = format!(
        "{:#}",
        tls.expect_err("an untrusted certificate is refused")
    );
    println!("sslmode=require: {e}");
    assert!(
        e.contains("certificate")
            || e.contains("UnknownIssuer")
            || e.contains("TLS")
            || e.contains("tls"),
        "{e}"
    );
    assert!(plain.is_ok(), "{plain:?}");
}

//! The role × area × call matrix and bad input, against both backends.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::io::Write;
use uuid::Uuid;
use verivali_domain::Role;
use verivali_protocol::{ChangeKind, OpBody, OpStatus, PushRequest};

/// What a call did, in one comparable word.
async fn push_outcome(
    d: &mut Device,
    h: &(verivali_domain::Household, Vec<verivali_domain::Member>),
    seed: u64,
) -> String {
    let v = visit(&h.0, &h.1, seed);
    let op = d.op(&OpBody::VisitRecord(Box::new(v)));
    let r = d.push_raw(&[op]).await;
    if r.status() != StatusCode::OK {
        d.seq -= 1;
        return format!("{}", r.status().as_u16());
    }
    let body: verivali_protocol::PushResponse = r.json().await.unwrap();
    match &body.results[0] {
        x if x.status == OpStatus::Applied => "applied".into(),
        x => x.error.as_ref().unwrap().code.clone(),
    }
}

async fn matrix_of_role_area_and_call(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("enum_a", Role::Enumerator, &[DESA_A]).await;
    s.add_user("enum_b", Role::Enumerator, &[DESA_B]).await;
    s.add_user("spv_a", Role::Supervisor, &["330801"]).await;
    s.add_user("admin", Role::Admin, &["3308"]).await;
    s.add_user("op_a", Role::Operator, &[DESA_A]).await;
    s.add_user("verif", Role::Verifier, &["3308"]).await;
    let ha = s.import(DESA_A, 1, 1).await.remove(0);
    let hb = s.import(DESA_B, 1, 2).await.remove(0);
    let mut users = vec![];
    for u in ["enum_a", "enum_b", "spv_a", "admin", "op_a", "verif"] {
        users.push((u, s.sign_in(u).await));
    }
    let victim = s.sign_in("enum_a").await;

    // (user, push to desa A, push to desa B, sees household A, sees household B, sees enum_a's visit, upload, revoke)
    let expected = [
        (
            "enum_a",
            "applied",
            "area.forbidden",
            true,
            false,
            true,
            "201",
            "403",
        ),
        (
            "enum_b",
            "area.forbidden",
            "applied",
            false,
            true,
            false,
            "201",
            "403",
        ),
        ("spv_a", "403", "403", true, false, true, "403", "403"),
        ("admin", "403", "403", true, true, true, "403", "204"),
        // The desk roles work in the dashboard: no push, no photo upload, no sync feed (it
        // carries whole households with their NIKs), no device administration.
        ("op_a", "403", "403", false, false, false, "403", "403"),
        ("verif", "403", "403", false, false, false, "403", "403"),
    ];
    let mut got = vec![];
    for (i, (name, d)) in users.iter_mut().enumerate() {
        let pa = push_outcome(d, &ha, 10 + i as u64).await;
        let pb = push_outcome(d, &hb, 20 + i as u64).await;
        got.push((name.to_string(), pa, pb));
    }
    s.settle().await;
    let mut failures = vec![];
    for (i, (name, d)) in users.iter().enumerate() {
        let changes = if matches!(*name, "op_a" | "verif") {
            let r = d.get("/api/v1/sync/pull").await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{name} pulls");
            vec![]
        } else {
            d.pull_all().await
        };
        let sees = |id: Uuid, kind: ChangeKind| {
            changes
                .iter()
                .any(|c| c.kind == kind && c.id == id.to_string())
        };
        let has_visit = |changes: &[verivali_protocol::Change]| {
            changes
                .iter()
                .any(|c| c.kind == ChangeKind::Visit && c.value()["household_id"] == json!(ha.0.id))
        };
        // A device's own pushes are not echoed back to it: enum_a's visit reaches enum_a's
        // other device, not the one that pushed it.
        let enum_a_visit = if *name == "enum_a" {
            assert!(!has_visit(&changes), "the pushing device gets no echo");
            has_visit(&victim.pull_all().await)
        } else {
            has_visit(&changes)
        };
        let bytes = format!("foto {name}").into_bytes();
        let sha = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&bytes))
        };
        let up = d
            .client
            .patch(format!("{}/api/v1/attachments/{sha}", d.url))
            .bearer_auth(&d.token)
            .header("Upload-Offset", 0)
            .header("Upload-Length", bytes.len())
            .body(bytes)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
            .to_string();
        let revoke = if *name == "admin" {
            d.post(&format!("/api/v1/admin/devices/{}/revoke", victim.id))
                .await
                .status()
                .as_u16()
                .to_string()
        } else {
            d.post(&format!("/api/v1/admin/devices/{}/revoke", Uuid::now_v7()))
                .await
                .status()
                .as_u16()
                .to_string()
        };
        let row = (
            got[i].1.as_str(),
            got[i].2.as_str(),
            sees(ha.0.id, ChangeKind::Household),
            sees(hb.0.id, ChangeKind::Household),
            enum_a_visit,
            up.as_str(),
            revoke.as_str(),
        );
        let (en, pa, pb, sa, sb, sv, upx, rv) = expected[i];
        if en != *name || row != (pa, pb, sa, sb, sv, upx, rv) {
            failures.push(format!(
                "{name}: got {row:?}, expected {:?}",
                (pa, pb, sa, sb, sv, upx, rv)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "matrix mismatches:\n{}",
        failures.join("\n")
    );
}
both_backends!(matrix, matrix_of_role_area_and_call);

async fn bad_input_gets_coded_problems_and_the_server_keeps_running(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 2, 1).await;
    let mut d = s.sign_in("petugas").await;
    let push_url = format!("{}/api/v1/sync/push", s.url);
    let token = d.token.clone();
    let send = |body: Vec<u8>, encoding: Option<&'static str>| {
        let mut rq = s
            .client
            .post(&push_url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body);
        if let Some(e) = encoding {
            rq = rq.header("content-encoding", e);
        }
        rq.send()
    };
    // Malformed JSON, wrong shapes.
    for body in [
        &b"{"[..],
        b"[]",
        b"{\"device_id\": 5, \"ops\": []}",
        b"null",
        &[0xff, 0xfe, 0x00],
    ] {
        let (st, p) = problem(send(body.to_vec(), None).await.unwrap()).await;
        assert_eq!(
            (st, p["code"].as_str().unwrap()),
            (StatusCode::BAD_REQUEST, "request.invalid"),
            "{body:?}"
        );
    }
    // A large push with a token the server does not know: the body is read before the token is
    // checked, so the device gets a clean 401 (and signs in again) rather than a reset
    // connection it would retry forever.
    let big = format!(
        "{{\"device_id\": \"{}\", \"ops\": [], \"pad\": \"{}\"}}",
        d.id,
        "x".repeat(2 * 1024 * 1024)
    );
    let r = s
        .client
        .post(&push_url)
        .bearer_auth("not-a-token")
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let (st, p) = problem(r).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "auth.invalid_token")
    );
    // Oversized after decompression: a few kilobytes on the wire that inflate past the 16 MiB
    // limit (a compression bomb). The whole request is sent before the server answers, so the
    // answer is never raced by a connection the server closes while the client still writes.
    let bomb = zstd::encode_all(&vec![b' '; 17 * 1024 * 1024][..], 19).unwrap();
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    let (st, p) = problem(send(bomb, Some("zstd")).await.unwrap()).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::PAYLOAD_TOO_LARGE, "request.too_large")
    );
    // Unsupported encoding.
    let (st, p) = problem(send(b"{}".to_vec(), Some("br")).await.unwrap()).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "request.encoding")
    );
    // Wrong method, unknown path.
    let (st, _) = problem(s.client.delete(&push_url).send().await.unwrap()).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    let (st, _) = problem(
        s.client
            .get(format!("{}/api/v2/nothing", s.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, p) = problem(
        s.client
            .get(format!("{}/api/v1/sync/pull?limit=abc", s.url))
            .bearer_auth(&d.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "request.invalid")
    );

    // Too old an op schema: the device is told to update (426); an unknown newer one is rejected.
    let mut old = d.op(&OpBody::VisitRecord(Box::new(visit(&hh[0].0, &hh[0].1, 9))));
    old.schema = 0;
    let (st, p) = problem(d.push_raw(&[old]).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap(), p["op_schema"].as_u64()),
        (StatusCode::UPGRADE_REQUIRED, "session.app_too_old", Some(0))
    );
    d.seq -= 1;
    let mut newer = d.op(&OpBody::VisitRecord(Box::new(visit(&hh[0].0, &hh[0].1, 9))));
    newer.schema = 99;
    let r = d.push(&[newer]).await;
    assert_eq!(
        r.results[0].error.as_ref().unwrap().code,
        "op.schema_unsupported"
    );

    // Compressed requests (gzip and zstd) are accepted.
    let v1 = visit(&hh[0].0, &hh[0].1, 1);
    let op = d.op(&OpBody::VisitRecord(Box::new(v1)));
    let json = serde_json::to_vec(&PushRequest {
        device_id: d.id,
        ops: vec![op],
    })
    .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json).unwrap();
    let r = send(gz.finish().unwrap(), Some("gzip")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v2 = visit(&hh[1].0, &hh[1].1, 2);
    let op = d.op(&OpBody::VisitRecord(Box::new(v2)));
    let json = serde_json::to_vec(&PushRequest {
        device_id: d.id,
        ops: vec![op],
    })
    .unwrap();
    let r = send(zstd::encode_all(&json[..], 3).unwrap(), Some("zstd"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(s.count("SELECT count(*) FROM visits").await, 2);
    assert_eq!(
        s.count("SELECT count(*) FROM applied_ops WHERE status = 'rejected'")
            .await,
        1
    );
    // Answers are compressed as asked.
    let raw = http().no_gzip().no_zstd().build().unwrap();
    for enc in ["zstd", "gzip"] {
        let r = raw
            .get(format!("{}/api/v1/sync/pull?limit=200", s.url))
            .bearer_auth(&d.token)
            .header("accept-encoding", enc)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers().get("content-encoding").unwrap(), enc);
    }

    // Random garbage never yields a 5xx, and the server keeps answering.
    let mut rng = fastrand::Rng::with_seed(7);
    for i in 0..150 {
        let len = rng.usize(0..400);
        let mut body: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        if i % 3 == 0 {
            body = format!("{{\"device_id\":\"{}\",\"ops\":[{{\"op_id\":\"{}\",\"seq\":{},\"hlc\":\"x\",\"schema\":{},\"type\":\"visit.record\",\"payload\":{}}}]}}",
                d.id, Uuid::now_v7(), rng.u64(..), rng.u32(..), rng.u32(..)).into_bytes();
        }
        for path in ["/api/v1/sync/push", "/api/v1/session"] {
            let r = s
                .client
                .post(format!("{}{path}", s.url))
                .bearer_auth(&d.token)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert!(
                r.status().is_client_error(),
                "{path} answered {} to garbage",
                r.status()
            );
        }
    }
    assert_eq!(
        s.client
            .get(format!("{}/healthz", s.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let metrics = s
        .client
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("verivali_ops_applied_total 2"),
        "{metrics}"
    );
    // Latency per route pattern (never the raw path with its ids) and status.
    assert!(
        metrics.contains(
            "verivali_http_request_duration_seconds_count{route=\"/api/v1/sync/push\",method=\"POST\",status=\"200\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("verivali_session_failures_total"),
        "{metrics}"
    );
    assert!(metrics.trim_end().ends_with("# EOF"), "OpenMetrics text");
}
both_backends!(
    bad_input,
    bad_input_gets_coded_problems_and_the_server_keeps_running
);

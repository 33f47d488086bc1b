//! Hostile input, made by the project itself: valid push, pull, session, decision, attachment and
//! import requests mutated field by field (types, sizes, nesting, encodings, control characters),
//! sent to a real server on both backends. Whatever arrives, the server answers below 500 with
//! problem+json and a code (or, in a push, a per-op result), stays alive, and a fixed set of
//! earlier visits is unchanged at the end. Seeded, and bounded by count ([`CASES`] per kind).

use super::*;
use verivali_server::db::Value as Db;

/// Mutated requests per kind and backend.
const CASES: usize = 120;

/// A value of another shape: the mutation's replacement for whatever was there.
fn hostile(rng: &mut fastrand::Rng) -> Value {
    let kind = rng.u8(0..KINDS);
    hostile_of(rng, kind)
}

/// How many shapes [`hostile_of`] makes.
const KINDS: u8 = 16;

/// A hostile value of shape `kind` (0..[`KINDS`]).
fn hostile_of(rng: &mut fastrand::Rng, kind: u8) -> Value {
    match kind {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(i64::MAX),
        4 => json!(u64::MAX),
        5 => json!(1e308),
        6 => json!(-0.000001),
        7 => json!(""),
        8 => json!("x".repeat(rng.usize(1_000..70_000))),
        // NUL (what PostgreSQL refuses) half the time, another control character otherwise.
        9 => {
            let c = if rng.bool() { 0 } else { rng.u32(1..32) };
            json!(format!("a{}b", char::from_u32(c).unwrap_or('\0')))
        }
        10 => json!("\u{202e}\u{feff}ÿ𝔘ñ😀 ' \" ; -- DROP TABLE visits"),
        11 => json!([]),
        12 => json!([1, "2", null, {"x": []}]),
        13 => json!({}),
        14 => {
            // Deep nesting: JSON parsers have a recursion limit; it must be a 400, not a crash.
            let mut v = json!(1);
            for _ in 0..rng.usize(10..300) {
                v = json!([v]);
            }
            v
        }
        _ => json!("0194f000-0000-7000-8000-00000000000x"),
    }
}

/// Every path into a JSON value (object keys and array indexes), the root included.
fn paths(v: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let mut p = at.clone();
                p.push(k.clone());
                paths(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate().take(8) {
                let mut p = at.clone();
                p.push(i.to_string());
                paths(x, p, out);
            }
        }
        _ => {}
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |cur, k| match cur {
        Value::Object(m) => m.get_mut(k),
        Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

/// One field-level mutation of `v` at a random path.
fn mutate(rng: &mut fastrand::Rng, v: &Value) -> Value {
    let mut all = vec![];
    paths(v, vec![], &mut all);
    let path = all[rng.usize(..all.len())].clone();
    let what = rng.u8(0..10);
    mutate_at(rng, v, &path, what, None)
}

/// The mutation `what` of `v` at `path`: 0 removes the field, 1 adds an unknown one, anything
/// else replaces it with a hostile value (of shape `kind`, or a random one).
fn mutate_at(
    rng: &mut fastrand::Rng,
    v: &Value,
    path: &[String],
    what: u8,
    kind: Option<u8>,
) -> Value {
    let mut v = v.clone();
    if let (0, Some((last, parent))) = (what, path.split_last()) {
        match at_mut(&mut v, parent) {
            Some(Value::Object(m)) => {
                m.remove(last);
            }
            Some(Value::Array(a)) if !a.is_empty() => {
                a.remove(0);
            }
            _ => {}
        }
    } else if what == 1 {
        if let Some(Value::Object(m)) = at_mut(&mut v, path) {
            m.insert("tak_dikenal\u{0}".into(), hostile(rng));
        }
    } else if let Some(slot) = at_mut(&mut v, path) {
        *slot = match kind {
            Some(k) => hostile_of(rng, k),
            None => hostile(rng),
        };
    }
    v
}

/// A body from a value, sometimes broken below JSON: truncated, not UTF-8, or doubled.
fn encode(rng: &mut fastrand::Rng, v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec(v).unwrap();
    match rng.u8(0..12) {
        0 => b.truncate(rng.usize(..b.len().max(1))),
        1 => b.extend_from_slice(&[0xff, 0xfe, 0x00]),
        2 => {
            let copy = b.clone();
            b.extend_from_slice(&copy);
        }
        _ => {}
    }
    b
}

/// An answer is acceptable: below 500, and an error is problem+json with a code.
async fn acceptable(what: &str, r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = r.bytes().await.unwrap_or_default();
    assert!(
        status.as_u16() < 500,
        "{what}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status.as_u16() >= 400 {
        assert!(
            ct.starts_with("application/problem+json"),
            "{what}: {status} {ct}"
        );
        assert!(v["code"].is_string(), "{what}: {status} {v}");
    }
    (status, v)
}

async fn visits_now(s: &TestServer, ids: &[Uuid]) -> Vec<Vec<String>> {
    let app = s.app.clone();
    let ids: Vec<Db> = ids.iter().map(|i| Db::from(*i)).collect();
    tokio::task::spawn_blocking(move || {
        let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, state, revision, record, batch_id FROM visits WHERE id IN ({}) ORDER BY id",
            marks.join(", ")
        );
        let rows = app.db.read().unwrap().query(&sql, &ids).unwrap();
        rows.iter()
            .map(|r| (0..5).map(|i| r.text(i)).collect())
            .collect()
    })
    .await
    .unwrap()
}

/// Sends a mutated push; checks the answer and follows the acknowledged seq.
async fn push_mutated(s: &TestServer, d: &mut Device, bytes: Vec<u8>) {
    let r = d
        .client
        .post(format!("{}/api/v1/sync/push", s.url))
        .bearer_auth(&d.token)
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let (st, v) = acceptable("push", r).await;
    if st == StatusCode::OK {
        for res in v["results"].as_array().unwrap() {
            let status = res["status"].as_str().unwrap();
            assert!(
                ["applied", "duplicate", "rejected"].contains(&status),
                "{res}"
            );
            if status == "rejected" {
                assert!(res["error"]["code"].is_string(), "{res}");
            }
        }
        d.seq = v["acked_through"].as_u64().unwrap();
    } else {
        // Refused whole: the server's acknowledged seq is unchanged.
        d.seq -= 1;
    }
}

async fn hostile_requests_never_get_a_5xx(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("spv", Role::Supervisor, &[DESA_A]).await;
    s.add_user("admin", Role::Admin, &["33"]).await;
    let hh = s.import(DESA_A, 12, 21).await;
    let mut d = s.sign_in("petugas").await;
    let spv = s.sign_in("spv").await;
    let mut rng = fastrand::Rng::with_seed(match b {
        Backend::Sqlite => 2026,
        Backend::Postgres => 1201,
    });

    // The fixed set: three submitted visits, and one more for decisions to land on.
    let mut fixed = vec![];
    for (h, m) in hh.iter().take(4) {
        let mut v = visit(h, m, 60 + fixed.len() as u64);
        v.photos.clear();
        v.photo_kinds.clear();
        fixed.push(v);
    }
    let mut ops: Vec<_> = fixed
        .iter()
        .map(|v| d.op(&OpBody::VisitRecord(Box::new(v.clone()))))
        .collect();
    ops.push(d.op(&OpBody::BatchSubmit(Batch {
        batch_id: Uuid::now_v7(),
        visit_ids: fixed.iter().map(|v| v.visit_id).collect(),
    })));
    assert!(
        d.push(&ops)
            .await
            .results
            .iter()
            .all(|r| r.status == OpStatus::Applied)
    );
    let target = fixed.pop().unwrap().visit_id;
    let fixed_ids: Vec<Uuid> = fixed.iter().map(|v| v.visit_id).collect();
    let before = visits_now(&s, &fixed_ids).await;

    // Push: one op, mutated field by field: every path of the body gets a NUL string, a value of
    // another shape (cycling through all shapes), and one random mutation. The device's seq
    // follows what the server acknowledged.
    let sample = {
        let (h, m) = &hh[4];
        let op = d.op(&OpBody::VisitRecord(Box::new(visit(h, m, 999))));
        d.seq -= 1;
        json!({"device_id": d.id, "ops": [op]})
    };
    let mut all = vec![];
    paths(&sample, vec![], &mut all);
    let mut cases = 0;
    for (j, path) in all.iter().enumerate() {
        for variant in 0..3u8 {
            let (h, m) = &hh[4 + cases % 8];
            cases += 1;
            let v = visit(h, m, 1_000 + cases as u64);
            let op = d.op(&OpBody::VisitRecord(Box::new(v)));
            let body = json!({"device_id": d.id, "ops": [op]});
            let mutated = match variant {
                0 => mutate_at(&mut rng, &body, path, 2, Some(9)),
                1 => mutate_at(&mut rng, &body, path, 2, Some(j as u8 % KINDS)),
                _ => mutate(&mut rng, &body),
            };
            let bytes = encode(&mut rng, &mutated);
            push_mutated(&s, &mut d, bytes).await;
        }
    }
    assert!(cases >= CASES, "{cases} push cases");

    // Pull: hostile cursors and limits, raw in the query string.
    for _ in 0..CASES / 4 {
        let cursor = match rng.u8(0..6) {
            0 => "-1".to_string(),
            1 => "99999999999999999999999".to_string(),
            2 => "1:2:3".to_string(),
            3 => "abc%00".to_string(),
            4 => "%F0%9F%98%80".to_string(),
            _ => "x".repeat(rng.usize(1..5_000)),
        };
        let limit = ["-5", "0", "1e9", "18446744073709551616", "abc", "2000"][rng.usize(..6)];
        let r = d
            .client
            .get(format!(
                "{}/api/v1/sync/pull?cursor={cursor}&limit={limit}",
                s.url
            ))
            .bearer_auth(&d.token)
            .send()
            .await
            .unwrap();
        acceptable("pull", r).await;
    }

    // Session: the whole body mutated.
    let session = json!({"username": "petugas", "password": "salah", "device": {"id": Uuid::now_v7(), "name": "hp", "app_version": "0.1.0"}});
    for _ in 0..CASES / 2 {
        let mutated = mutate(&mut rng, &session);
        let bytes = encode(&mut rng, &mutated);
        let r = s
            .client
            .post(format!("{}/api/v1/session", s.url))
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .unwrap();
        acceptable("session", r).await;
    }

    // Decisions, on the visit kept aside for them (and on paths that are no visit).
    let decision = json!({"decision": "reject", "reason": "foto rumah buram"});
    for i in 0..CASES / 2 {
        let mutated = mutate(&mut rng, &decision);
        let bytes = encode(&mut rng, &mutated);
        let id = if i % 5 == 0 {
            "bukan-uuid%01".to_string()
        } else {
            target.to_string()
        };
        let r = spv
            .client
            .post(format!("{}/api/v1/review/visits/{id}/decision", s.url))
            .bearer_auth(&spv.token)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await
            .unwrap();
        acceptable("decision", r).await;
    }

    // Attachments: offsets, lengths, names and bodies that do not fit.
    for _ in 0..CASES / 2 {
        let sha = match rng.u8(0..4) {
            0 => "0".repeat(64),
            1 => "zz".repeat(32),
            2 => "a".repeat(rng.usize(1..200)),
            _ => hex::encode(rng.u64(..).to_be_bytes()).repeat(4),
        };
        let offset = ["0", "-1", "99999999999999999999", "x", "5"][rng.usize(..5)];
        let length = ["10", "0", "-3", "18446744073709551615", "1"][rng.usize(..5)];
        let body = vec![rng.u8(..); rng.usize(0..64)];
        let r = d
            .client
            .patch(format!("{}/api/v1/attachments/{sha}", s.url))
            .bearer_auth(&d.token)
            .header("Upload-Offset", offset)
            .header("Upload-Length", length)
            .body(body)
            .send()
            .await
            .unwrap();
        acceptable("attachment", r).await;
        let r = d
            .client
            .head(format!("{}/api/v1/attachments/{sha}", s.url))
            .bearer_auth(&d.token)
            .send()
            .await
            .unwrap();
        assert!(r.status().as_u16() < 500, "head: {}", r.status());
    }

    // Import: a valid baseline mutated cell by cell; bad rows are reported, never a failure of
    // the storage.
    let (csv, _) = baseline_csv(DESA_A2, 4, 31);
    for _ in 0..CASES / 4 {
        let mut lines: Vec<String> = csv.lines().map(String::from).collect();
        let row = rng.usize(1..lines.len());
        let mut cells: Vec<String> = lines[row].split(',').map(String::from).collect();
        let col = rng.usize(..cells.len());
        cells[col] = match hostile(&mut rng) {
            Value::String(x) => x.replace(',', ";"),
            other => other.to_string().replace(',', ";"),
        };
        lines[row] = cells.join(",");
        let text = lines.join("\n");
        let app = s.app.clone();
        let r =
            tokio::task::spawn_blocking(move || app.import_households(text.as_bytes(), &|_, _| {}))
                .await
                .unwrap();
        let report = r.expect("a mutated cell is a bad row, not a failed import");
        assert!(report.bad_rows.iter().all(|b| !b.code.is_empty()));
    }

    // Alive, and the fixed visits exactly as they were.
    let r = s
        .client
        .get(format!("{}/healthz", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(visits_now(&s, &fixed_ids).await, before);
    assert!(
        d.pull_all().await.len() > 12,
        "pull still serves the baseline"
    );
}
both_backends!(hostile_input, hostile_requests_never_get_a_5xx);

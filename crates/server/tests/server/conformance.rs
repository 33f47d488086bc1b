//! The protocol and storage conformance suite, run against both backends (SQLite and
//! PostgreSQL) through a real server on a real port.

use crate::common::*;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashSet;
use uuid::Uuid;
use verivali_domain::{Batch, NotFoundReason, Outcome, Role};
use verivali_protocol::{ChangeKind, HouseholdProposal, OpBody, OpStatus};

async fn sign_in_answers_and_refusals(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    let d = s.sign_in("petugas").await;
    assert!(d.token.starts_with("vv1."));

    let attempt = |username: &str, password: &str, app: &str| {
        let body = json!({"username": username, "password": password, "device": {"id": Uuid::now_v7(), "name": "x", "app_version": app}});
        s.client
            .post(format!("{}/api/v1/session", s.url))
            .header("accept-language", "en")
            .json(&body)
            .send()
    };
    // Unknown user and wrong password: the same answer.
    let (st1, mut p1) = problem(attempt("tidak-ada", PASSWORD, "0.1.0").await.unwrap()).await;
    let (st2, mut p2) = problem(attempt("petugas", "salah-sandi", "0.1.0").await.unwrap()).await;
    // Each answer has its own request id; the rest must be the same.
    for p in [&mut p1, &mut p2] {
        assert!(p["request_id"].is_string());
        p.as_object_mut().unwrap().remove("request_id");
    }
    assert_eq!(
        (st1, st2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        p1, p2,
        "unknown user and wrong password must be indistinguishable"
    );
    assert_eq!(p1["code"], "auth.invalid_credentials");
    // Repeated failures of one username: 429 with Retry-After, even with the right password.
    for _ in 0..4 {
        attempt("petugas", "salah-sandi", "0.1.0").await.unwrap();
    }
    let r = attempt("petugas", PASSWORD, "0.1.0").await.unwrap();
    assert!(r.headers().get("retry-after").is_some());
    let (st, p) = problem(r).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::TOO_MANY_REQUESTS, "auth.throttled")
    );
    // After the window it opens again.
    s.clock.advance(Duration::minutes(16));
    assert_eq!(
        attempt("petugas", PASSWORD, "0.1.0")
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // An app that is too old is told so plainly.
    let (st, p) = problem(attempt("petugas", PASSWORD, "0.0.9").await.unwrap()).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UPGRADE_REQUIRED, "session.app_too_old")
    );
    assert_eq!(p["min_app_version"], "0.1.0");
    // Audit: sign-ins and failures are logged.
    assert!(
        s.count("SELECT count(*) FROM audit WHERE action = 'session.failed'")
            .await
            >= 5
    );
}
both_backends!(sign_in, sign_in_answers_and_refusals);

async fn tokens_expire_and_devices_are_revoked(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("admin", Role::Admin, &["3308"]).await;
    let d = s.sign_in("petugas").await;
    let other = s.sign_in("petugas").await;
    let admin = s.sign_in("admin").await;
    assert_eq!(d.get("/api/v1/sync/pull").await.status(), StatusCode::OK);

    // Only an admin may revoke.
    let (st, _) = problem(
        other
            .post(&format!("/api/v1/admin/devices/{}/revoke", d.id))
            .await,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(
        admin
            .post(&format!("/api/v1/admin/devices/{}/revoke", d.id))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let (st, p) = problem(d.get("/api/v1/sync/pull").await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "auth.device_revoked")
    );
    assert_eq!(
        other.get("/api/v1/sync/pull").await.status(),
        StatusCode::OK,
        "other devices keep working"
    );
    // Expiry.
    s.clock.advance(Duration::days(15));
    let (_, p) = problem(other.get("/api/v1/sync/pull").await).await;
    assert_eq!(p["code"], "auth.token_expired");
    // Garbage tokens.
    let bad = verivali_protocol::SessionRequest {
        username: "x".into(),
        password: "y".into(),
        device: verivali_protocol::DeviceInfo {
            id: Uuid::nil(),
            name: "".into(),
            app_version: "".into(),
        },
        new_password: None,
    };
    let _ = bad;
    let r = s
        .client
        .get(format!("{}/api/v1/sync/pull", s.url))
        .bearer_auth("vv1.nope")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.1["code"], "auth.invalid_token");
    let r = s
        .client
        .get(format!("{}/api/v1/sync/pull", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.1["code"], "auth.missing_token");
}
both_backends!(tokens, tokens_expire_and_devices_are_revoked);

async fn push_is_exactly_once_and_never_blocked(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 4, 1).await;
    let far = s.import(DESA_B, 1, 2).await;
    let mut d = s.sign_in("petugas").await;

    let v1 = visit(&hh[0].0, &hh[0].1, 1);
    let op1 = d.op(&OpBody::VisitRecord(Box::new(v1.clone())));
    let r = d.push(std::slice::from_ref(&op1)).await;
    assert_eq!(
        (r.acked_through, r.results[0].status),
        (1, OpStatus::Applied)
    );
    // A retry answers duplicate and changes nothing.
    let r = d.push(std::slice::from_ref(&op1)).await;
    assert_eq!(
        (r.acked_through, r.results[0].status),
        (1, OpStatus::Duplicate)
    );
    assert_eq!(s.count("SELECT count(*) FROM visits").await, 1);

    // A gap answers 409 with the expected seq, and nothing is applied.
    let mut gap = d.clone();
    gap.seq = 2;
    let op3 = gap.op(&OpBody::VisitRecord(Box::new(visit(&hh[1].0, &hh[1].1, 2))));
    let (st, p) = problem(d.push_raw(&[op3]).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap(), p["expected_seq"].as_u64()),
        (StatusCode::CONFLICT, "sync.seq_gap", Some(2))
    );
    assert_eq!(s.count("SELECT count(*) FROM visits").await, 1);

    // A rejected op (outside the area, bad NIK, unknown type) is acknowledged and does not block.
    let outside = visit(&far[0].0, &far[0].1, 3);
    let mut bad_nik = visit(&hh[2].0, &hh[2].1, 4);
    bad_nik.members[0].nik = Some("12345".into());
    let good = visit(&hh[3].0, &hh[3].1, 5);
    let mut ops = vec![
        d.op(&OpBody::VisitRecord(Box::new(outside))),
        d.op(&OpBody::VisitRecord(Box::new(bad_nik))),
    ];
    let mut unknown = d.op(&OpBody::VisitRecord(Box::new(good.clone())));
    unknown.op_type = "visit.delete".into();
    ops.push(unknown);
    let mut wrong_types = d.op(&OpBody::VisitRecord(Box::new(good.clone())));
    let mut payload: serde_json::Value = serde_json::from_str(wrong_types.payload.get()).unwrap();
    payload["revision"] = json!("satu");
    wrong_types.payload = serde_json::value::to_raw_value(&payload).unwrap();
    ops.push(wrong_types);
    ops.push(d.op(&OpBody::VisitRecord(Box::new(good.clone()))));
    let r = d.push(&ops).await;
    assert_eq!(r.acked_through, 6);
    let codes: Vec<_> = r
        .results
        .iter()
        .map(|x| (x.status, x.error.as_ref().map(|e| e.code.clone())))
        .collect();
    assert_eq!(
        codes,
        vec![
            (OpStatus::Rejected, Some("area.forbidden".into())),
            (OpStatus::Rejected, Some("nik.format".into())),
            (OpStatus::Rejected, Some("op.unknown_type".into())),
            (OpStatus::Rejected, Some("op.payload".into())),
            (OpStatus::Applied, None),
        ]
    );
    assert_eq!(
        r.results[1].error.as_ref().unwrap().field.as_deref(),
        Some("members[0].nik")
    );
    assert!(
        r.results[1].error.as_ref().unwrap().message.contains("NIK"),
        "translated message"
    );
    // The whole batch again: all duplicates.
    let again = d.push(&ops).await;
    assert!(
        again
            .results
            .iter()
            .all(|x| x.status == OpStatus::Duplicate)
    );
    assert_eq!(s.count("SELECT count(*) FROM visits").await, 2);
    assert_eq!(
        s.count("SELECT count(*) FROM audit WHERE action = 'visit.record'")
            .await,
        2
    );

    // Revisions: a newer one replaces, a stale one is rejected.
    let mut v1b = v1.clone();
    v1b.revision = 2;
    v1b.outcome = Outcome::TidakDitemukan;
    v1b.outcome_reason = Some(NotFoundReason::Pindah);
    let stale = v1.clone();
    let op = d.op(&OpBody::VisitRecord(Box::new(v1b)));
    let r = d.push(&[op]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied);
    let op = d.op(&OpBody::VisitRecord(Box::new(stale)));
    let r = d.push(&[op]).await;
    assert_eq!(
        r.results[0].error.as_ref().unwrap().code,
        "visit.stale_revision"
    );
}
both_backends!(push_semantics, push_is_exactly_once_and_never_blocked);

/// A push claims its ops at once (one statement on PostgreSQL): an op id that comes twice in
/// one push is applied once, the second answered `duplicate`, and the seq still advances.
async fn an_op_id_twice_in_one_push_is_applied_once(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 3, 1).await;
    let mut d = s.sign_in("petugas").await;
    let first = d.op(&OpBody::VisitRecord(Box::new(visit(&hh[0].0, &hh[0].1, 1))));
    let mut again = d.op(&OpBody::VisitRecord(Box::new(visit(&hh[1].0, &hh[1].1, 2))));
    again.op_id = first.op_id;
    let after = d.op(&OpBody::VisitRecord(Box::new(visit(&hh[2].0, &hh[2].1, 3))));
    let r = d.push(&[first, again, after]).await;
    let statuses: Vec<_> = r.results.iter().map(|x| x.status).collect();
    assert_eq!(
        (r.acked_through, statuses),
        (
            3,
            vec![OpStatus::Applied, OpStatus::Duplicate, OpStatus::Applied]
        )
    );
    assert_eq!(s.count("SELECT count(*) FROM visits").await, 2);
    assert_eq!(s.count("SELECT count(*) FROM applied_ops").await, 2);
    assert_eq!(
        s.count("SELECT count(*) FROM changes WHERE kind = 'visit'")
            .await,
        2,
        "one feed entry per visit applied"
    );
}
both_backends!(op_id_twice, an_op_id_twice_in_one_push_is_applied_once);

/// A push large enough to be prepared on two threads answers each op in order: a bad op in the
/// second half is rejected alone, an op id of the first half repeated in the second is a
/// duplicate, everything else is applied.
async fn a_large_push_answers_each_op_in_order(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 250, 1).await;
    let mut d = s.sign_in("petugas").await;
    let mut ops: Vec<_> = hh
        .iter()
        .enumerate()
        .map(|(i, (h, m))| d.op(&OpBody::VisitRecord(Box::new(visit(h, m, i as u64)))))
        .collect();
    let mut bad = visit(&hh[200].0, &hh[200].1, 9_000);
    bad.members[0].nik = Some("123".into());
    let bad_op = d.op(&OpBody::VisitRecord(Box::new(bad)));
    ops[200] = verivali_protocol::Op {
        seq: ops[200].seq,
        ..bad_op
    };
    ops[240].op_id = ops[10].op_id;
    let r = d.push(&ops).await;
    assert_eq!(r.acked_through, 250);
    assert_eq!(r.results.len(), 250);
    for (i, x) in r.results.iter().enumerate() {
        assert_eq!(x.op_id, ops[i].op_id, "answers in the order of the ops");
        let want = match i {
            200 => OpStatus::Rejected,
            240 => OpStatus::Duplicate,
            _ => OpStatus::Applied,
        };
        assert_eq!(x.status, want, "op {i}");
    }
    assert_eq!(s.count("SELECT count(*) FROM visits").await, 248);
}
both_backends!(large_push, a_large_push_answers_each_op_in_order);

async fn batches_lock_visits_and_approved_visits_stay_locked(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.add_user("petugas2", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 2, 1).await;
    let mut d = s.sign_in("petugas").await;
    let mut d2 = s.sign_in("petugas2").await;
    let mut v = visit(&hh[0].0, &hh[0].1, 1);
    let rec = d.op(&OpBody::VisitRecord(Box::new(v.clone())));
    let batch = d.op(&OpBody::BatchSubmit(Batch {
        batch_id: Uuid::now_v7(),
        visit_ids: vec![v.visit_id],
    }));
    let unknown = d.op(&OpBody::BatchSubmit(Batch {
        batch_id: Uuid::now_v7(),
        visit_ids: vec![Uuid::now_v7()],
    }));
    let r = d.push(&[rec, batch, unknown]).await;
    assert_eq!(r.results[1].status, OpStatus::Applied);
    assert_eq!(
        r.results[2].error.as_ref().unwrap().code,
        "batch.unknown_visit"
    );
    assert_eq!(
        s.count("SELECT count(*) FROM visits WHERE state = 'submitted'")
            .await,
        1
    );

    // Submitted: further records are refused until review.
    v.revision = 2;
    let op = d.op(&OpBody::VisitRecord(Box::new(v.clone())));
    let r = d.push(&[op]).await;
    assert_eq!(r.results[0].error.as_ref().unwrap().code, "visit.locked");
    // Someone else's device cannot write it.
    let op = d2.op(&OpBody::VisitRecord(Box::new(v.clone())));
    let r = d2.push(&[op]).await;
    assert_eq!(r.results[0].error.as_ref().unwrap().code, "visit.not_owner");

    // Approved (set as the review would): locked for good, with a reason.
    s.sql(
        "UPDATE visits SET state = 'approved' WHERE id = $1",
        vec![v.visit_id.into()],
    )
    .await;
    v.revision = 3;
    let op = d.op(&OpBody::VisitRecord(Box::new(v.clone())));
    let r = d.push(&[op]).await;
    let e = r.results[0].error.as_ref().unwrap();
    assert_eq!(
        (r.results[0].status, e.code.as_str()),
        (OpStatus::Rejected, "visit.locked")
    );
    assert!(e.message.contains("disetujui"), "{}", e.message);
}
both_backends!(locks, batches_lock_visits_and_approved_visits_stay_locked);

async fn pull_is_scoped_paged_and_announces_own_visits(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("a", Role::Enumerator, &[DESA_A]).await;
    s.add_user("a2", Role::Enumerator, &[DESA_A]).await;
    s.add_user("b", Role::Enumerator, &[DESA_B]).await;
    s.add_user("spv", Role::Supervisor, &["330801"]).await;
    let ha = s.import(DESA_A, 30, 1).await;
    let hb = s.import(DESA_B, 5, 2).await;
    let mut a = s.sign_in("a").await;
    let a2 = s.sign_in("a2").await;
    let bdev = s.sign_in("b").await;
    let spv = s.sign_in("spv").await;
    let va = visit(&ha[0].0, &ha[0].1, 9);
    let op = a.op(&OpBody::VisitRecord(Box::new(va.clone())));
    a.push(&[op]).await;

    s.settle().await;
    let ids = |changes: &[verivali_protocol::Change], kind: ChangeKind| -> HashSet<String> {
        changes
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.id.clone())
            .collect()
    };
    // The pushing device gets no echo of its own push; A's other device (a new phone) gets the
    // visit with its state.
    assert!(
        a.pull_all()
            .await
            .iter()
            .all(|c| c.kind != ChangeKind::Visit),
        "a device's own pushes are not sent back to it"
    );
    let a_phone = s.sign_in("a").await;
    let all_a = a_phone.pull_all().await;
    for c in &all_a {
        c.decode()
            .unwrap_or_else(|e| panic!("{:?} change does not decode: {e}", c.kind));
    }
    let own = all_a.iter().find(|c| c.kind == ChangeKind::Visit).unwrap();
    let Some(verivali_protocol::pull::ChangeData::Visit(vc)) = own.decode().unwrap() else {
        panic!()
    };
    assert_eq!(
        (vc.state, vc.record),
        (verivali_domain::VisitState::Draft, va.clone())
    );
    assert_eq!(ids(&all_a, ChangeKind::Household).len(), 30);
    assert_eq!(
        ids(&all_a, ChangeKind::Member).len(),
        ha.iter().map(|h| h.1.len()).sum::<usize>()
    );
    assert!(ids(&all_a, ChangeKind::Visit).contains(&va.visit_id.to_string()));
    assert_eq!(ids(&all_a, ChangeKind::Questionnaire).len(), 1);
    assert!(
        !ids(&all_a, ChangeKind::Household).contains(&hb[0].0.id.to_string()),
        "desa B leaked to A"
    );
    // Another enumerator of the same desa sees the households, not A's visit.
    let all_a2 = a2.pull_all().await;
    assert_eq!(ids(&all_a2, ChangeKind::Household).len(), 30);
    assert!(ids(&all_a2, ChangeKind::Visit).is_empty());
    // B sees only desa B.
    let all_b = bdev.pull_all().await;
    assert_eq!(ids(&all_b, ChangeKind::Household).len(), 5);
    // The supervisor of the kecamatan sees desa A and A's visit, not desa B.
    let all_s = spv.pull_all().await;
    assert_eq!(ids(&all_s, ChangeKind::Household).len(), 30);
    assert!(ids(&all_s, ChangeKind::Visit).contains(&va.visit_id.to_string()));

    // Paging: small pages give the same changes, in order, with no repeats.
    let mut cursor = String::new();
    let mut paged = vec![];
    loop {
        let p = a_phone.pull(&cursor, 7).await;
        assert!(p.changes.len() <= 7);
        paged.extend(p.changes.into_iter().map(|c| (c.kind, c.id)));
        cursor = p.next_cursor;
        if !p.has_more {
            break;
        }
    }
    let whole: Vec<_> = all_a.iter().map(|c| (c.kind, c.id.clone())).collect();
    assert_eq!(paged, whole);
    // Idle: nothing new, one round trip, same cursor.
    let idle = a.pull(&cursor, 500).await;
    assert!(idle.changes.is_empty() && !idle.has_more);
    assert_eq!(idle.next_cursor, cursor);
    assert!(
        s.count("SELECT count(*) FROM audit WHERE action = 'sync.pull'")
            .await
            >= 4,
        "reads of personal data are audited"
    );
}
both_backends!(pull_scope, pull_is_scoped_paged_and_announces_own_visits);

async fn concurrent_pushes_never_make_a_pull_skip(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("spv", Role::Supervisor, &["3308"]).await;
    let hh = s.import(DESA_A, 40, 1).await;
    let spv = s.sign_in("spv").await;
    let mut devices = vec![];
    for i in 0..8 {
        s.add_user(&format!("p{i}"), Role::Enumerator, &[DESA_A])
            .await;
        devices.push(s.sign_in(&format!("p{i}")).await);
    }
    s.settle().await;
    let start = spv.pull_all().await.len();
    assert!(start > 40);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A supervisor pulls continuously from its cursor while the devices push.
    let puller = {
        let spv = spv.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut cursor = String::new();
            let mut seen = HashSet::new();
            loop {
                let done = stop.load(std::sync::atomic::Ordering::SeqCst);
                let p = spv.pull(&cursor, 50).await;
                for c in p.changes {
                    if c.kind == ChangeKind::Visit {
                        seen.insert(c.id);
                    }
                }
                cursor = p.next_cursor;
                if done && !p.has_more {
                    return seen;
                }
            }
        })
    };
    let mut tasks = vec![];
    for (i, mut d) in devices.into_iter().enumerate() {
        let hh = hh.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = vec![];
            for k in 0..12 {
                let (h, m) = &hh[(i * 5 + k) % hh.len()];
                let v = visit(h, m, (i * 100 + k) as u64);
                ids.push(v.visit_id.to_string());
                let op = d.op(&OpBody::VisitRecord(Box::new(v)));
                let r = d.push(&[op]).await;
                assert_eq!(r.results[0].status, OpStatus::Applied);
            }
            ids
        }));
    }
    let mut pushed = HashSet::new();
    for t in tasks {
        pushed.extend(t.await.unwrap());
    }
    // Every change is committed; once released, the puller's final pass must have seen them all.
    s.settle().await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = puller.await.unwrap();
    assert_eq!(pushed.len(), 96);
    let missing: Vec<_> = pushed.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "the continuous pull skipped {} visits",
        missing.len()
    );
}
both_backends!(no_skips, concurrent_pushes_never_make_a_pull_skip);

async fn proposals_and_attachments(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    let mut d = s.sign_in("petugas").await;
    let p = HouseholdProposal {
        household_id: Uuid::now_v7(),
        kode_desa: DESA_A.into(),
        fields: verivali_domain::HouseholdFields {
            alamat: "Dusun Krajan No. 9".into(),
            rt: "002".into(),
            rw: "001".into(),
            no_kk: None,
            nama_krt: "Sri Contoh".into(),
        },
    };
    let outside = HouseholdProposal {
        household_id: Uuid::now_v7(),
        kode_desa: DESA_B.into(),
        ..p.clone()
    };
    let ops = [
        d.op(&OpBody::HouseholdPropose(p.clone())),
        d.op(&OpBody::HouseholdPropose(outside)),
    ];
    let r = d.push(&ops).await;
    assert_eq!(r.results[0].status, OpStatus::Applied);
    assert_eq!(r.results[1].error.as_ref().unwrap().code, "area.forbidden");
    s.settle().await;
    assert!(
        d.pull_all()
            .await
            .iter()
            .any(|c| c.kind == ChangeKind::Household && c.id == p.household_id.to_string())
    );

    // Resumable upload with a cut in the middle, then a verified finish.
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    let url = format!("{}/api/v1/attachments/{sha}", s.url);
    assert_eq!(
        s.client
            .head(&url)
            .bearer_auth(&d.token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let patch = |from: usize, to: usize| {
        s.client
            .patch(&url)
            .bearer_auth(&d.token)
            .header("Upload-Offset", from)
            .header("Upload-Length", bytes.len())
            .body(bytes[from..to].to_vec())
            .send()
    };
    let r = patch(0, 150_000).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let held = s
        .client
        .head(&url)
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap();
    assert_eq!(held.headers()["upload-offset"], "150000");
    let (st, p) = problem(patch(100_000, 200_000).await.unwrap()).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap(), p["upload_offset"].as_u64()),
        (
            StatusCode::CONFLICT,
            "attachment.offset_mismatch",
            Some(150_000)
        )
    );
    let r = patch(150_000, 300_000).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let held = s
        .client
        .head(&url)
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            held.headers()["upload-offset"].to_str().unwrap(),
            held.headers()["upload-complete"].to_str().unwrap()
        ),
        ("300000", "?1")
    );
    assert_eq!(std::fs::read(s.app.attachment_path(&sha)).unwrap(), bytes);

    // Wrong content for the hash: 422, discarded.
    let fake = "ab".repeat(32);
    let furl = format!("{}/api/v1/attachments/{fake}", s.url);
    let r = s
        .client
        .patch(&furl)
        .bearer_auth(&d.token)
        .header("Upload-Offset", 0)
        .header("Upload-Length", 5)
        .body("hello")
        .send()
        .await
        .unwrap();
    let (st, p) = problem(r).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "attachment.hash_mismatch")
    );
    assert_eq!(
        s.client
            .head(&furl)
            .bearer_auth(&d.token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let r = s
        .client
        .head(format!("{}/api/v1/attachments/xyz", s.url))
        .bearer_auth(&d.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
both_backends!(proposals_attachments, proposals_and_attachments);

async fn audit_log_is_append_only(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    s.sign_in("petugas").await;
    let app = s.app.clone();
    let (upd, del) = tokio::task::spawn_blocking(move || {
        let mut tx = app.db.write().unwrap();
        let u = tx.execute("UPDATE audit SET action = 'x'", &[]).is_err();
        drop(tx);
        let mut tx = app.db.write().unwrap();
        let d = tx.execute("DELETE FROM audit", &[]).is_err();
        drop(tx);
        // Review decisions are immutable events too.
        let mut tx = app.db.write().unwrap();
        tx.execute(
            "INSERT INTO reviews (id, visit_id, decision, reason, reviewer_id, at) VALUES ('r1', 'v1', 'reject', 'alasan', 'u1', '2026-01-01')",
            &[],
        )
        .unwrap();
        tx.commit().unwrap();
        let mut tx = app.db.write().unwrap();
        let ru = tx.execute("UPDATE reviews SET reason = 'lain'", &[]).is_err();
        drop(tx);
        let mut tx = app.db.write().unwrap();
        let rd = tx.execute("DELETE FROM reviews", &[]).is_err();
        (u && ru, d && rd)
    })
    .await
    .unwrap();
    assert!(
        upd && del,
        "audit rows and review decisions must not be updated or deleted"
    );
    assert!(
        s.count("SELECT count(*) FROM audit WHERE action = 'session.create'")
            .await
            == 1
    );
}
both_backends!(audit, audit_log_is_append_only);

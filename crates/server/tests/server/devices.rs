//! Devices in the admin console on both backends (DESIGN.md §10): the list by the admin's areas,
//! a plain revocation, and a revocation with a wipe, during which the device may still send what
//! it holds (push, photos) while every other call tells it to wipe, until it confirms.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use verivali_domain::Role;
use verivali_protocol::{OpBody, OpStatus};

async fn devices(d: &Device, query: &str) -> Vec<Value> {
    let r = d.get(&format!("/api/v1/admin/devices?{query}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["devices"].as_array().unwrap().clone()
}

async fn revoke(admin: &Device, id: uuid::Uuid, body: Option<Value>) -> reqwest::Response {
    let mut rb = admin
        .client
        .post(format!("{}/api/v1/admin/devices/{id}/revoke", admin.url))
        .bearer_auth(&admin.token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    rb.send().await.unwrap()
}

both_backends!(
    revoke_and_wipe,
    a_device_revoked_with_a_wipe_sends_what_it_holds_then_ends
);
async fn a_device_revoked_with_a_wipe_sends_what_it_holds_then_ends(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("admin", Role::Admin, &["3308"]).await;
    s.add_user("admin-kec", Role::Admin, &["330801"]).await;
    s.add_user("pengawas", Role::Supervisor, &[DESA_A]).await;
    s.add_user("ani", Role::Enumerator, &[DESA_A]).await;
    s.add_user("bayu", Role::Enumerator, &[DESA_B]).await;
    let hh = s.import(DESA_A, 3, 1).await;
    let admin = s.sign_in("admin").await;
    let kec = s.sign_in("admin-kec").await;
    let sup = s.sign_in("pengawas").await;
    let mut ani = s.sign_in("ani").await;
    let old = s.sign_in("ani").await;
    let bayu = s.sign_in("bayu").await;
    let first = ani.op(&OpBody::VisitRecord(Box::new(visit(&hh[0].0, &hh[0].1, 1))));
    assert_eq!(ani.push(&[first]).await.acked_through, 1);

    // Each admin sees the devices of the users of their areas; area narrows it.
    let all = devices(&admin, "").await;
    assert_eq!(all.len(), 6, "{all:?}");
    let ani_dev = all.iter().find(|d| d["id"] == ani.id.to_string()).unwrap();
    assert_eq!(
        (ani_dev["username"].as_str(), ani_dev["acked_seq"].as_u64()),
        (Some("ani"), Some(1))
    );
    assert!(!ani_dev["last_push"].is_null());
    let names = |l: &[Value]| {
        let mut n: Vec<String> = l
            .iter()
            .map(|d| d["username"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n.dedup();
        n
    };
    assert_eq!(
        names(&devices(&kec, "").await),
        ["admin-kec", "ani", "pengawas"]
    );
    assert_eq!(
        names(&devices(&admin, &format!("area={DESA_B}")).await),
        ["admin", "bayu"]
    );
    let (st, _) = problem(sup.get("/api/v1/admin/devices").await).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Outside the admin's areas the device does not exist; a supervisor may not revoke.
    let (st, p) = problem(revoke(&kec, bayu.id, None).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "device.not_found")
    );
    assert_eq!(
        revoke(&sup, ani.id, None).await.status(),
        StatusCode::FORBIDDEN
    );
    let (st, _) = problem(revoke(&admin, ani.id, Some(json!({"wipe": "ya"}))).await).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // A plain revocation: that device stops at once, the others of the user go on.
    assert_eq!(
        revoke(&admin, old.id, None).await.status(),
        StatusCode::NO_CONTENT
    );
    let (_, p) = problem(old.get("/api/v1/sync/pull").await).await;
    assert_eq!(p["code"], "auth.device_revoked");
    let (st, p) = problem(
        ani.client
            .post(format!("{}/api/v1/sync/wiped", ani.url))
            .bearer_auth(&ani.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::CONFLICT, "device.no_wipe")
    );

    // With a wipe: the device still pushes and uploads what it holds, every other call says
    // wipe, and once it confirms its token ends.
    assert_eq!(
        revoke(&admin, ani.id, Some(json!({"wipe": true})))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let (st, p) = problem(ani.get("/api/v1/sync/pull").await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "auth.device_wipe")
    );
    let mut v = visit(&hh[1].0, &hh[1].1, 2);
    let sha = ani.upload(b"foto rumah depan").await;
    v.photos = vec![sha];
    v.photo_kinds.clear();
    let second = ani.op(&OpBody::VisitRecord(Box::new(v)));
    let r = ani.push(&[second]).await;
    assert_eq!(
        (r.acked_through, r.results[0].status),
        (2, OpStatus::Applied)
    );
    let listed = devices(&admin, "").await;
    let d = listed
        .iter()
        .find(|d| d["id"] == ani.id.to_string())
        .unwrap();
    assert!(
        !d["wipe_requested_at"].is_null() && d["wiped_at"].is_null(),
        "{d}"
    );
    let r = ani
        .client
        .post(format!("{}/api/v1/sync/wiped", ani.url))
        .bearer_auth(&ani.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (st, p) = problem(ani.get("/api/v1/sync/pull").await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "auth.device_revoked")
    );
    let r = ani
        .client
        .post(format!("{}/api/v1/sync/push", ani.url))
        .bearer_auth(&ani.token)
        .json(&json!({"device_id": ani.id, "ops": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "no push after the wipe"
    );
    let listed = devices(&admin, "").await;
    let d = listed
        .iter()
        .find(|d| d["id"] == ani.id.to_string())
        .unwrap();
    assert!(!d["wiped_at"].is_null(), "{d}");
    assert_eq!(
        s.count("SELECT count(*) FROM visits").await,
        2,
        "both visits arrived"
    );
    let audit: Value = admin
        .get("/api/v1/admin/audit?action=device.wiped")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1);
    let audit: Value = admin
        .get("/api/v1/admin/audit?action=device.revoke_wipe")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1);
}

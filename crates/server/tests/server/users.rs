//! User administration over HTTP on both backends (DESIGN.md §10): each call by role and area,
//! the lock-out rules, disabling (tokens stop, assignments end; enabled, the phone syncs again), a password reset with its
//! one-time password and the new password set at the next sign-in (the phone's token lives on),
//! and bad input.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use verivali_domain::Role;

async fn send(
    d: &Device,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut rb = d
        .client
        .request(method, format!("{}{path}", d.url))
        .bearer_auth(&d.token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    rb.send().await.unwrap()
}

async fn create(d: &Device, body: Value) -> reqwest::Response {
    send(d, reqwest::Method::POST, "/api/v1/admin/users", Some(body)).await
}

async fn patch(d: &Device, id: &str, body: Value) -> reqwest::Response {
    send(
        d,
        reqwest::Method::PATCH,
        &format!("/api/v1/admin/users/{id}"),
        Some(body),
    )
    .await
}

async fn users(d: &Device, query: &str) -> Vec<Value> {
    let r = d.get(&format!("/api/v1/admin/users?{query}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["users"].as_array().unwrap().clone()
}

fn names(list: &[Value]) -> Vec<&str> {
    list.iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect()
}

async fn sign_in_raw(
    s: &TestServer,
    username: &str,
    password: &str,
    new: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({"username": username, "password": password,
        "device": {"id": Uuid::now_v7(), "name": "HP uji", "app_version": "0.1.0"}});
    if let Some(n) = new {
        body["new_password"] = json!(n);
    }
    s.client
        .post(format!("{}/api/v1/session", s.url))
        .json(&body)
        .send()
        .await
        .unwrap()
}

both_backends!(calls, users_are_managed_by_the_admins_of_their_areas);
async fn users_are_managed_by_the_admins_of_their_areas(b: Backend) {
    let s = TestServer::start(b).await;
    // A kabupaten admin, a kecamatan admin, a supervisor; users inside and outside.
    s.add_user("admin", Role::Admin, &["3308"]).await;
    s.add_user("admin-kec", Role::Admin, &["330801"]).await;
    s.add_user("pengawas", Role::Supervisor, &[DESA_A]).await;
    s.add_user("ani", Role::Enumerator, &[DESA_A]).await;
    s.add_user("luar", Role::Enumerator, &["3309012001"]).await;
    s.add_user("kab", Role::Supervisor, &["3308"]).await;
    let admin = s.sign_in("admin").await;
    let kec = s.sign_in("admin-kec").await;
    let sup = s.sign_in("pengawas").await;

    // Lists: only users whose areas lie inside the caller's.
    assert_eq!(
        names(&users(&admin, "").await),
        ["admin", "admin-kec", "ani", "kab", "pengawas"]
    );
    assert_eq!(
        names(&users(&kec, "").await),
        ["admin-kec", "ani", "pengawas"]
    );
    assert_eq!(names(&users(&admin, "role=enumerator").await), ["ani"]);
    assert_eq!(
        names(&users(&admin, &format!("area={DESA_A}")).await),
        ["admin", "admin-kec", "ani", "kab", "pengawas"]
    );
    assert_eq!(names(&users(&admin, "q=PENGA").await), ["pengawas"]);
    assert_eq!(
        names(&users(&admin, "disabled=true").await),
        Vec::<&str>::new()
    );
    let (st, p) = problem(sup.get("/api/v1/admin/users").await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::FORBIDDEN, "auth.forbidden")
    );
    let (st, p) = problem(admin.get("/api/v1/admin/users?role=boss").await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "user.bad_role")
    );

    // Create: inside the admin's areas, with a good password, once.
    let good = json!({"username": "budi", "display_name": "Budi Santoso", "role": "enumerator",
        "areas": [DESA_A2], "password": "kopi-tubruk-pagi"});
    let r = create(&kec, good.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let budi: Value = r.json().await.unwrap();
    assert_eq!(budi["user"]["display_name"], "Budi Santoso");
    assert_eq!(budi["user"]["areas"], json!([DESA_A2]));
    let budi_id = budi["user"]["id"].as_str().unwrap().to_string();
    let bad = |field: &str, value: Value| {
        let mut b = good.clone();
        b[field] = value;
        b["username"] = json!(format!("baru-{field}"));
        b
    };
    let cases = [
        (good.clone(), StatusCode::CONFLICT, "user.username_taken"),
        (
            bad("areas", json!(["3309012001"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user.area_outside",
        ),
        (
            bad("areas", json!([])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user.no_area",
        ),
        (
            bad("areas", json!(["33x"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user.bad_area",
        ),
        (
            bad("password", json!("pendek")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user.weak_password",
        ),
        (
            bad("password", json!("bismillah123")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user.weak_password",
        ),
        (
            bad("role", json!("raja")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user.bad_role",
        ),
        (
            bad("display_name", json!("  ")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user.bad_display_name",
        ),
        (
            json!({"username": "ada spasi", "display_name": "x", "role": "enumerator", "areas": [DESA_A], "password": "kopi-tubruk-pagi"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "user.bad_username",
        ),
    ];
    for (body, status, code) in cases {
        let (st, p) = problem(create(&kec, body.clone()).await).await;
        assert_eq!((st, p["code"].as_str().unwrap()), (status, code), "{body}");
        assert!(!p["detail"].as_str().unwrap().is_empty());
    }
    // A kabupaten area is outside a kecamatan admin's.
    let (st, p) = problem(create(&kec, bad("areas", json!(["3308"]))).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "user.area_outside")
    );
    let (st, _) = problem(create(&sup, bad("username", json!("x"))).await).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(
        users(&admin, "q=baru").await.len(),
        0,
        "no refused call created anyone"
    );

    // Change: name, role, areas; outside the admin's areas the user does not exist.
    let r = patch(
        &kec,
        &budi_id,
        json!({"display_name": "Budi S.", "areas": [DESA_A, DESA_A2]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (
            v["user"]["display_name"].as_str(),
            v["user"]["areas"].as_array().unwrap().len()
        ),
        (Some("Budi S."), 2)
    );
    let kab_id = users(&admin, "q=kab").await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, p) = problem(patch(&kec, &kab_id, json!({"display_name": "x"})).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (st, _) =
        problem(patch(&kec, &Uuid::now_v7().to_string(), json!({"disabled": true})).await).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, p) = problem(patch(&kec, &budi_id, json!({"areas": ["3308"]})).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "user.area_outside")
    );

    // Nobody disables themselves; the last active admin stays one.
    let admin_id = users(&admin, "q=admin")
        .await
        .iter()
        .find(|u| u["username"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let kec_id = users(&admin, "q=admin-kec").await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, p) = problem(patch(&admin, &admin_id, json!({"disabled": true})).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "user.self_disable")
    );
    assert_eq!(
        patch(&admin, &kec_id, json!({"disabled": true}))
            .await
            .status(),
        StatusCode::OK
    );
    let (st, p) = problem(patch(&admin, &admin_id, json!({"role": "supervisor"})).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "user.last_admin")
    );
    // The disabled admin's session died with it.
    let (st, p) = problem(kec.get("/api/v1/admin/users").await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "auth.account_disabled"),
        "{p}"
    );
    assert_eq!(names(&users(&admin, "disabled=true").await), ["admin-kec"]);
    // Every change is in the audit log.
    let audit: Value = admin
        .get("/api/v1/admin/audit?action=user.change")
        .await
        .json()
        .await
        .unwrap();
    let details: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert!(
        details.iter().any(|d| d.starts_with("admin-kec: disabled")),
        "{details:?}"
    );
}

both_backends!(
    disable_and_reset,
    disabling_ends_tokens_and_assignments_and_a_reset_password_is_used_once
);
async fn disabling_ends_tokens_and_assignments_and_a_reset_password_is_used_once(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("admin", Role::Admin, &["3308"]).await;
    s.add_user("pengawas", Role::Supervisor, &["330801"]).await;
    let ani_id = s
        .add_user("ani", Role::Enumerator, &[DESA_A, DESA_A2])
        .await;
    s.add_user("budi", Role::Enumerator, &[DESA_A]).await;
    let a: Vec<Uuid> = s
        .import(DESA_A, 6, 3)
        .await
        .iter()
        .map(|(h, _)| h.id)
        .collect();
    let a2: Vec<Uuid> = s
        .import(DESA_A2, 4, 4)
        .await
        .iter()
        .map(|(h, _)| h.id)
        .collect();
    let admin = s.sign_in("admin").await;
    let sup = s.sign_in("pengawas").await;
    let ani = s.sign_in("ani").await;
    let budi = s.sign_in("budi").await;
    let give = |ids: &[Uuid]| json!({"enumerator": "ani", "household_ids": ids});
    for ids in [&a[..3], &a2[..2]] {
        let r = send(
            &sup,
            reqwest::Method::POST,
            "/api/v1/assignments",
            Some(give(ids)),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    s.settle().await;
    let before = budi.pull_all().await;
    let held = |feed: &[verivali_protocol::Change]| {
        let mut on = std::collections::BTreeSet::new();
        for c in feed
            .iter()
            .filter(|c| c.kind == verivali_protocol::ChangeKind::Household)
        {
            if c.deleted {
                on.remove(&c.id);
            } else {
                on.insert(c.id.clone());
            }
        }
        on
    };
    assert!(
        !held(&before).contains(&a[0].to_string()),
        "ani's are hidden from budi"
    );

    // Ani no longer works in DESA_A: her three there are shared again, the two in DESA_A2 stay.
    let r = patch(&admin, &ani_id.to_string(), json!({"areas": [DESA_A2]})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["assignments_ended"], 3);
    s.settle().await;
    let list: Value = sup
        .get("/api/v1/assignments?enumerator=ani")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["assignments"].as_array().unwrap().len(), 2);
    assert!(
        held(&budi.pull_all().await).contains(&a[0].to_string()),
        "back on budi's phone"
    );
    // Disabled: every token stops at once, and the rest of her assignments end.
    let r = patch(&admin, &ani_id.to_string(), json!({"disabled": true})).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["assignments_ended"], 2);
    let (st, p) = problem(ani.get("/api/v1/sync/pull").await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "auth.account_disabled")
    );
    let (st, p) = problem(sign_in_raw(&s, "ani", PASSWORD, None).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "auth.invalid_credentials")
    );
    // Enabled again: her phone syncs what it holds, and she can sign in.
    let r = patch(&admin, &ani_id.to_string(), json!({"disabled": false})).await;
    assert_eq!(ani.get("/api/v1/sync/pull").await.status(), StatusCode::OK);
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        sign_in_raw(&s, "ani", PASSWORD, None).await.status(),
        StatusCode::OK
    );

    // A reset: the one-time password is shown once, the phone's token lives on, and the next
    // sign-in must choose a new password (checked by the policy).
    let ani2 = s.sign_in("ani").await;
    let r = patch(&admin, &ani_id.to_string(), json!({"reset_password": true})).await;
    let v: Value = r.json().await.unwrap();
    let once = v["one_time_password"].as_str().unwrap().to_string();
    assert_eq!(once.len(), 14, "{once}");
    assert_eq!(v["user"]["must_change_password"], true);
    let listed = users(&admin, "q=ani").await;
    assert!(listed[0].get("one_time_password").is_none());
    assert_eq!(
        ani2.get("/api/v1/sync/pull").await.status(),
        StatusCode::OK,
        "her phone keeps syncing what it holds"
    );
    let (st, _) = problem(sign_in_raw(&s, "ani", PASSWORD, None).await).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "the old password is gone");
    let (st, p) = problem(sign_in_raw(&s, "ani", &once, None).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::FORBIDDEN, "auth.password_change_required")
    );
    let (st, p) = problem(sign_in_raw(&s, "ani", &once, Some(&once)).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "user.weak_password")
    );
    let (st, p) = problem(sign_in_raw(&s, "ani", &once, Some("pendek")).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "user.weak_password")
    );
    let r = sign_in_raw(&s, "ani", &once, Some("kopi-tubruk-pagi")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (st, _) = problem(sign_in_raw(&s, "ani", &once, None).await).await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "the one-time password worked once"
    );
    assert_eq!(
        sign_in_raw(&s, "ani", "kopi-tubruk-pagi", None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        users(&admin, "q=ani").await[0]["must_change_password"],
        false
    );
    let audit: Value = admin
        .get("/api/v1/admin/audit?action=user.password_changed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_cli_lists_and_changes_users() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let run = |args: &[&str], stdin: &str| {
        let mut all = vec![
            "--database",
            db.as_str(),
            "--data-dir",
            dir.path().to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        crate::import::run(&all, stdin)
    };
    assert!(
        run(
            &[
                "user",
                "add",
                "--username",
                "ani",
                "--role",
                "enumerator",
                "--area",
                DESA_A,
                "--password-stdin"
            ],
            PASSWORD
        )
        .0
    );
    assert!(
        run(
            &[
                "user",
                "add",
                "--username",
                "pengawas",
                "--role",
                "supervisor",
                "--area",
                DESA_A,
                "--password-stdin"
            ],
            PASSWORD
        )
        .0
    );
    let (ok, out, err) = run(
        &[
            "user",
            "add",
            "--username",
            "lemah",
            "--role",
            "enumerator",
            "--area",
            DESA_A,
            "--password-stdin",
        ],
        "aaaaaaaaaaaa",
    );
    assert!(!ok && err.contains("user.weak_password"), "{out}{err}");
    let (ok, out, _) = run(&["user", "list"], "");
    assert!(ok);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        out.lines()
            .next()
            .unwrap()
            .starts_with("ani\tenumerator\t3308012001\tani\tactive"),
        "{out}"
    );
    let (ok, out, err) = run(
        &[
            "user",
            "set",
            "--username",
            "ani",
            "--display-name",
            "Ani Suryani",
            "--area",
            DESA_A2,
            "--reset-password",
        ],
        "",
    );
    assert!(ok, "{err}");
    assert!(out.contains("one-time password (shown once): "), "{out}");
    let (_, out, _) = run(&["user", "list", "--role", "enumerator"], "");
    assert!(
        out.contains("3308012002\tAni Suryani\tactive (one-time password)"),
        "{out}"
    );
    let (ok, _, _) = run(&["user", "set", "--username", "ani", "--disable"], "");
    assert!(ok);
    let (_, out, _) = run(&["user", "list", "--disabled"], "");
    assert!(
        out.starts_with("ani\t") && out.contains("disabled"),
        "{out}"
    );
    let (ok, _, err) = run(&["user", "set", "--username", "nobody", "--disable"], "");
    assert!(!ok && err.contains("no user nobody"), "{err}");
}

/// An admin ends an enumerator's assignments while her phone pushes a visit of one of those
/// households, on PostgreSQL: both are answered. The push holds the household's lock and, writing
/// its visit, checks the enumerator's row for the foreign key (a key-share lock on it); the
/// admin's edit held that row `FOR UPDATE` and waited for the household's lock. PostgreSQL then
/// failed one of the two with a deadlock, a 500. The edit now locks the row `FOR NO KEY UPDATE`,
/// which a key-share lock does not wait for. A third session holds the household's lock until
/// both wait, so the two meet in that order every run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_ending_assignments_while_the_phone_pushes_gets_both_answered() {
    use verivali_protocol::OpBody;
    let s = TestServer::start(Backend::Postgres).await;
    s.add_user("admin", Role::Admin, &["3308"]).await;
    s.add_user("pengawas", Role::Supervisor, &["330801"]).await;
    let ani_id = s
        .add_user("ani", Role::Enumerator, &[DESA_A, DESA_A2])
        .await;
    let households = s.import(DESA_A, 2, 7).await;
    let admin = s.sign_in("admin").await;
    let sup = s.sign_in("pengawas").await;
    let mut ani = s.sign_in("ani").await;
    let ids: Vec<Uuid> = households.iter().map(|(h, _)| h.id).collect();
    let r = send(
        &sup,
        reqwest::Method::POST,
        "/api/v1/assignments",
        Some(json!({"enumerator": "ani", "household_ids": ids})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    s.settle().await;

    let (h, m) = &households[0];
    let holder = hold_household_lock(&s.db_url, h.id).await;
    let op = ani.op(&OpBody::VisitRecord(Box::new(visit(h, m, 11))));
    let push = tokio::spawn(async move { ani.push_raw(&[op]).await.status() });
    let first = household_lock_waiters(&s.db_url, 1).await;
    let id = ani_id.to_string();
    let edit = tokio::spawn(async move {
        patch(&admin, &id, json!({"areas": [DESA_A2]}))
            .await
            .status()
    });
    let second = household_lock_waiters(&s.db_url, 2).await;
    release(holder).await;
    assert!(
        first && second,
        "the push and the edit waited for the household"
    );
    assert_eq!(push.await.unwrap(), StatusCode::OK);
    assert_eq!(edit.await.unwrap(), StatusCode::OK);
}

/// A supervisor reassigns a household while an admin ends its enumerator's assignments, on
/// PostgreSQL: both are answered. Ending assignments takes the households' locks and then
/// deletes their rows; the reassignment wrote the row first and took the household's lock at
/// its end, so each held what the other waited for. Every writer of assignments now takes the
/// household's lock before its row. A third session holds the household's lock until both
/// wait, the edit first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reassignment_while_an_admin_ends_the_old_ones_gets_both_answered() {
    let s = TestServer::start(Backend::Postgres).await;
    s.add_user("admin", Role::Admin, &["3308"]).await;
    s.add_user("pengawas", Role::Supervisor, &["330801"]).await;
    let ani_id = s
        .add_user("ani", Role::Enumerator, &[DESA_A, DESA_A2])
        .await;
    s.add_user("budi", Role::Enumerator, &[DESA_A]).await;
    let h = s.import(DESA_A, 1, 8).await[0].0.id;
    let admin = s.sign_in("admin").await;
    let sup = s.sign_in("pengawas").await;
    let give = |to: &str| json!({"enumerator": to, "household_ids": [h]});
    let r = send(
        &sup,
        reqwest::Method::POST,
        "/api/v1/assignments",
        Some(give("ani")),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    s.settle().await;

    let holder = hold_household_lock(&s.db_url, h).await;
    let id = ani_id.to_string();
    let edit = tokio::spawn(async move {
        patch(&admin, &id, json!({"areas": [DESA_A2]}))
            .await
            .status()
    });
    let first = household_lock_waiters(&s.db_url, 1).await;
    let body = give("budi");
    let reassign = tokio::spawn(async move {
        send(
            &sup,
            reqwest::Method::POST,
            "/api/v1/assignments",
            Some(body),
        )
        .await
        .status()
    });
    let second = household_lock_waiters(&s.db_url, 2).await;
    release(holder).await;
    assert!(
        first && second,
        "the edit and the reassignment waited for the household"
    );
    assert_eq!(edit.await.unwrap(), StatusCode::OK);
    assert_eq!(reassign.await.unwrap(), StatusCode::OK);
}

/// An admin disables an enumerator while she signs in with her one-time password and chooses a
/// new one (PostgreSQL): she stays disabled, and the sign-in is refused. The sign-in checks the
/// password outside any transaction (Argon2 is slow); it wrote the whole user row back from the
/// copy it read before, `disabled` included, and so undid the admin's change made meanwhile. It
/// now reads the user again, locked, before it writes, and changes the password alone. A third
/// session disables her and holds the row until the sign-in waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_during_a_disable_does_not_enable_the_user_again() {
    let s = TestServer::start(Backend::Postgres).await;
    s.add_user("admin", Role::Admin, &["3308"]).await;
    let ani_id = s.add_user("ani", Role::Enumerator, &[DESA_A]).await;
    let admin = s.sign_in("admin").await;
    let r = patch(&admin, &ani_id.to_string(), json!({"reset_password": true})).await;
    let v: Value = r.json().await.unwrap();
    let once = v["one_time_password"].as_str().unwrap().to_string();

    let url = s.db_url.clone();
    let id = ani_id.to_string();
    let mut holder = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute("BEGIN").unwrap();
        c.execute("UPDATE users SET disabled = 1 WHERE id = $1", &[&id])
            .unwrap();
        c
    })
    .await
    .unwrap();
    let server = s.url.clone();
    let client = s.client.clone();
    let sign_in = tokio::spawn(async move {
        let body = json!({"username": "ani", "password": once,
            "new_password": "kopi tubruk di pasar pagi",
            "device": {"id": Uuid::now_v7(), "name": "HP uji", "app_version": "0.1.0"}});
        client
            .post(format!("{server}/api/v1/session"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    });
    // The sign-in waits for the row (a transaction's lock: count this database's waits).
    let url = s.db_url.clone();
    let waited = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        (0..500).any(|_| {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                     WHERE NOT l.granted AND a.datname = current_database()",
                    &[],
                )
                .unwrap()
                .get(0);
            if n == 0 {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            n > 0
        })
    })
    .await
    .unwrap();
    tokio::task::spawn_blocking(move || holder.batch_execute("COMMIT").unwrap())
        .await
        .unwrap();
    assert!(waited, "the sign-in did not wait for the user's row");
    assert_eq!(sign_in.await.unwrap(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        names(&users(&admin, "disabled=true").await),
        ["ani"],
        "she stays disabled"
    );
}

//! Assignments over HTTP on both backends (DESIGN.md §9): giving households by id and by area,
//! reassigning, repeating a call, the refusals (role, areas, enumerator, bad input) that change
//! nothing, listing, sharing again, and the audit and history they leave.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;
use verivali_domain::Role;

async fn assign(d: &Device, body: Value) -> reqwest::Response {
    d.client
        .post(format!("{}/api/v1/assignments", d.url))
        .bearer_auth(&d.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn ok(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn listed(d: &Device, query: &str) -> Vec<Value> {
    let v = ok(d.get(&format!("/api/v1/assignments?{query}")).await).await;
    v["assignments"].as_array().unwrap().clone()
}

both_backends!(
    rules,
    assignments_follow_the_rules_and_refusals_change_nothing
);
async fn assignments_follow_the_rules_and_refusals_change_nothing(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("pengawas", Role::Supervisor, &["330801"]).await;
    s.add_user("pengawas_lain", Role::Supervisor, &[DESA_B])
        .await;
    s.add_user("ani", Role::Enumerator, &[DESA_A]).await;
    s.add_user("budi", Role::Enumerator, &[DESA_A]).await;
    s.add_user("citra", Role::Enumerator, &[DESA_B]).await;
    let a: Vec<Uuid> = s
        .import(DESA_A, 10, 1)
        .await
        .iter()
        .map(|(h, _)| h.id)
        .collect();
    let other: Vec<Uuid> = s
        .import(DESA_B, 3, 2)
        .await
        .iter()
        .map(|(h, _)| h.id)
        .collect();
    let sup = s.sign_in("pengawas").await;

    // Five by id to ani; the same call again changes nothing.
    let first = json!({"enumerator": "ani", "household_ids": a[..5]});
    let r = ok(assign(&sup, first.clone()).await).await;
    assert_eq!(r, json!({"assigned": 5, "reassigned": 0, "updated": 0}));
    let r = ok(assign(&sup, first).await).await;
    assert_eq!(r, json!({"assigned": 0, "reassigned": 0, "updated": 0}));
    // The whole desa to budi: ani's five move, the other five were shared.
    let r = ok(assign(&sup, json!({"enumerator": "budi", "area": DESA_A})).await).await;
    assert_eq!(r, json!({"assigned": 5, "reassigned": 5, "updated": 0}));
    // New terms on two of budi's.
    let terms = json!({"enumerator": "budi", "household_ids": a[..2], "due_date": "2026-12-20",
                       "source": "laporan_kematian", "note": "  meninggal Nov  "});
    let r = ok(assign(&sup, terms).await).await;
    assert_eq!(r, json!({"assigned": 0, "reassigned": 0, "updated": 2}));

    let all = listed(&sup, &format!("area={DESA_A}")).await;
    assert_eq!(all.len(), 10);
    assert!(all.iter().all(|e| e["enumerator"] == "budi"));
    let termed: Vec<&Value> = all
        .iter()
        .filter(|e| e["due_date"] == "2026-12-20")
        .collect();
    assert_eq!(termed.len(), 2);
    assert_eq!(termed[0]["source"], "laporan_kematian");
    assert_eq!(termed[0]["note"], "meninggal Nov");
    assert!(termed[0]["received_at"].is_null());
    assert!(listed(&sup, "enumerator=ani").await.is_empty());
    let before = listed(&sup, "").await;

    // Refusals, each with its code, and none changes anything.
    let cases: Vec<(&Device, Value, StatusCode, &str)> = vec![
        (
            &sup,
            json!({"enumerator": "citra", "household_ids": a[..1]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "assignment.enumerator_outside",
        ),
        (
            &sup,
            json!({"enumerator": "pengawas_lain", "household_ids": a[..1]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "assignment.not_enumerator",
        ),
        (
            &sup,
            json!({"enumerator": "tidak_ada", "household_ids": a[..1]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "assignment.unknown_enumerator",
        ),
        // One household the supervisor cannot see spoils the call for the others.
        (
            &sup,
            json!({"enumerator": "ani", "household_ids": [a[3], other[0]]}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &sup,
            json!({"enumerator": "ani", "household_ids": [Uuid::now_v7()]}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &sup,
            json!({"enumerator": "ani", "area": DESA_B}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &sup,
            json!({"enumerator": "ani", "area": "33x"}),
            StatusCode::BAD_REQUEST,
            "review.bad_filter",
        ),
        (
            &sup,
            json!({"enumerator": "ani", "area": DESA_A, "household_ids": a[..1]}),
            StatusCode::BAD_REQUEST,
            "request.invalid",
        ),
        (
            &sup,
            json!({"enumerator": "ani", "household_ids": []}),
            StatusCode::BAD_REQUEST,
            "request.invalid",
        ),
        (
            &sup,
            json!({"enumerator": "ani", "household_ids": a[..1], "due_date": "2026-13-01"}),
            StatusCode::BAD_REQUEST,
            "request.invalid",
        ),
        (
            &sup,
            json!({"enumerator": "ani", "household_ids": a[..1], "source": "gosip"}),
            StatusCode::BAD_REQUEST,
            "request.invalid",
        ),
        (
            &sup,
            json!({"enumerator": "ani", "household_ids": a[..1], "note": "x".repeat(501)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "assignment.note_too_long",
        ),
    ];
    for (who, body, status, code) in cases {
        let (st, p) = problem(assign(who, body.clone()).await).await;
        assert_eq!((st, p["code"].as_str().unwrap()), (status, code), "{body}");
    }
    let elsewhere = s.sign_in("pengawas_lain").await;
    let (st, _) =
        problem(assign(&elsewhere, json!({"enumerator": "ani", "area": DESA_A})).await).await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "another area's supervisor sees no such households"
    );
    assert!(
        listed(&elsewhere, "").await.is_empty(),
        "nor their assignments"
    );
    let enumerator = s.sign_in("ani").await;
    let (st, p) =
        problem(assign(&enumerator, json!({"enumerator": "ani", "area": DESA_A})).await).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::FORBIDDEN, "auth.forbidden")
    );
    let (st, _) = problem(enumerator.get("/api/v1/assignments").await).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(
        listed(&sup, "").await,
        before,
        "no refusal changed an assignment"
    );

    // Shared again.
    let del = |d: &Device, id: Uuid| {
        d.client
            .delete(format!("{}/api/v1/assignments/{id}", d.url))
            .bearer_auth(&d.token)
            .send()
    };
    assert_eq!(
        del(&sup, a[9]).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        del(&sup, a[9]).await.unwrap().status(),
        StatusCode::NO_CONTENT,
        "idempotent"
    );
    let (st, _) = problem(del(&elsewhere, a[8]).await.unwrap()).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(listed(&sup, "").await.len(), 9);

    // Audit and history: three calls that changed something (the repeat changed nothing but is
    // still an act), one unassign; household a[0] went ani -> budi -> new terms.
    assert_eq!(
        s.count("SELECT count(*) FROM audit WHERE action = 'assignment.assign'")
            .await,
        4
    );
    assert_eq!(
        s.count("SELECT count(*) FROM audit WHERE action = 'assignment.unassign'")
            .await,
        1
    );
    let events = format!(
        "SELECT count(*) FROM assignment_events WHERE household_id = '{}'",
        a[0]
    );
    assert_eq!(s.count(&events).await, 3);
    let events = format!(
        "SELECT count(*) FROM assignment_events WHERE household_id = '{}'",
        a[9]
    );
    assert_eq!(s.count(&events).await, 2, "given, then shared again");
}

/// The households a device holds after applying `changes` in order (what its store does, leaving
/// out the rule that keeps households it has visits of).
fn held(changes: &[verivali_protocol::Change]) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for c in changes
        .iter()
        .filter(|c| c.kind == verivali_protocol::ChangeKind::Household)
    {
        if c.deleted {
            out.remove(&c.id);
        } else {
            out.insert(c.id.clone());
        }
    }
    out
}

fn ids(hs: &[Uuid]) -> std::collections::BTreeSet<String> {
    hs.iter().map(Uuid::to_string).collect()
}

/// Pulls every page after `cursor` and moves it on, as a device does at each sync.
async fn sync(d: &Device, cursor: &mut String, feed: &mut Vec<verivali_protocol::Change>) {
    loop {
        let page = d.pull(cursor, 500).await;
        feed.extend(page.changes);
        *cursor = page.next_cursor;
        if !page.has_more {
            return;
        }
    }
}

fn union(x: &[Uuid], y: &[Uuid]) -> std::collections::BTreeSet<String> {
    ids(x).union(&ids(y)).cloned().collect()
}

both_backends!(pull, each_device_holds_its_own_and_the_shared_households);
async fn each_device_holds_its_own_and_the_shared_households(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("pengawas", Role::Supervisor, &[DESA_A]).await;
    s.add_user("ani", Role::Enumerator, &[DESA_A]).await;
    s.add_user("budi", Role::Enumerator, &[DESA_A]).await;
    let a: Vec<Uuid> = s
        .import(DESA_A, 12, 3)
        .await
        .iter()
        .map(|(h, _)| h.id)
        .collect();
    let shared = &a[8..];
    let sup = s.sign_in("pengawas").await;
    let ani = s.sign_in("ani").await;
    let budi = s.sign_in("budi").await;
    let (mut ani_cursor, mut ani_feed) = (String::new(), vec![]);
    let (mut budi_cursor, mut budi_feed) = (String::new(), vec![]);
    // Ani's device has pulled the whole (shared) desa before anything is assigned.
    s.settle().await;
    sync(&ani, &mut ani_cursor, &mut ani_feed).await;
    assert_eq!(held(&ani_feed), ids(&a));
    ok(assign(&sup, json!({"enumerator": "ani", "household_ids": a[..4]})).await).await;
    ok(assign(
        &sup,
        json!({"enumerator": "budi", "household_ids": a[4..8]}),
    )
    .await)
    .await;
    s.settle().await;

    // Ani's device goes on from its cursor: budi's four leave it.
    sync(&ani, &mut ani_cursor, &mut ani_feed).await;
    assert_eq!(held(&ani_feed), union(&a[..4], shared));
    // Budi's first pull: his own and the shared ones, never ani's (nor their members).
    sync(&budi, &mut budi_cursor, &mut budi_feed).await;
    assert_eq!(held(&budi_feed), union(&a[4..8], shared));
    // Each household and member once: the baseline's broadcast of his own is skipped, since
    // the change addressed to him repeats it with the terms.
    let mut times = std::collections::BTreeMap::<(String, String), usize>::new();
    for c in &budi_feed {
        *times
            .entry((format!("{:?}", c.kind), c.id.clone()))
            .or_default() += 1;
    }
    assert!(times.values().all(|n| *n == 1), "{times:?}");
    let anis = ids(&a[..4]);
    for c in budi_feed
        .iter()
        .filter(|c| c.kind == verivali_protocol::ChangeKind::Member)
    {
        let v = c.value();
        let hh = v["household_id"].as_str().unwrap_or_default();
        assert!(
            !anis.contains(hh),
            "a member of ani's household {hh} reached budi"
        );
    }
    // The assignee's device learns the terms with the household.
    let change = budi_feed
        .iter()
        .rev()
        .find(|c| c.kind == verivali_protocol::ChangeKind::Household && c.id == a[4].to_string())
        .unwrap();
    assert_eq!(
        change.assignment().unwrap().unwrap().source,
        verivali_domain::AssignmentSource::Baseline
    );
    // Received when the assignee's device pulled them after the assignment.
    let list = listed(&sup, "enumerator=budi").await;
    assert!(list.iter().all(|e| !e["received_at"].is_null()), "{list:?}");

    // Two of ani's go to budi: they leave ani's device at its next sync and reach budi's.
    ok(assign(&sup, json!({"enumerator": "budi", "household_ids": a[..2]})).await).await;
    s.settle().await;
    sync(&ani, &mut ani_cursor, &mut ani_feed).await;
    sync(&budi, &mut budi_cursor, &mut budi_feed).await;
    assert_eq!(held(&ani_feed), union(&a[2..4], shared));
    assert_eq!(
        held(&budi_feed),
        union(&a[..8], shared)
            .difference(&ids(&a[2..4]))
            .cloned()
            .collect()
    );
    // A new device of ani's, pulling from the start, holds the same as her old one.
    let ani2 = s.sign_in("ani").await;
    let fresh = ani2.pull_all().await;
    assert_eq!(held(&fresh), held(&ani_feed));
    let budis: std::collections::BTreeSet<String> =
        ids(&a[..2]).union(&ids(&a[4..8])).cloned().collect();
    for c in &fresh {
        let hh = match c.kind {
            verivali_protocol::ChangeKind::Household => c.id.clone(),
            verivali_protocol::ChangeKind::Member => c.value()["household_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            _ => continue,
        };
        assert!(
            c.deleted || !budis.contains(&hh),
            "a new device of ani's got {:?} of budi's {hh}",
            c.kind
        );
    }
    // New terms on one of budi's reach his device with the household.
    let terms = json!({"enumerator": "budi", "household_ids": [a[5]], "due_date": "2026-12-15", "source": "sanggah"});
    assert_eq!(ok(assign(&sup, terms).await).await["updated"], 1);
    s.settle().await;
    let before = budi_feed.len();
    sync(&budi, &mut budi_cursor, &mut budi_feed).await;
    let got = budi_feed[before..]
        .iter()
        .find(|c| c.kind == verivali_protocol::ChangeKind::Household && c.id == a[5].to_string())
        .and_then(|c| c.assignment())
        .flatten()
        .unwrap();
    assert_eq!(
        (got.source, got.due_date.unwrap().to_string()),
        (
            verivali_domain::AssignmentSource::Sanggah,
            "2026-12-15".into()
        )
    );

    // Shared again: back on ani's device.
    let r = sup
        .client
        .delete(format!("{}/api/v1/assignments/{}", sup.url, a[0]))
        .bearer_auth(&sup.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    s.settle().await;
    sync(&ani, &mut ani_cursor, &mut ani_feed).await;
    assert!(held(&ani_feed).contains(&a[0].to_string()));
    let back = ani_feed
        .iter()
        .rev()
        .find(|c| c.id == a[0].to_string())
        .unwrap();
    assert_eq!(back.assignment(), Some(None), "it comes back as shared");

    // Progress counts assignments: ani has a[2..4], budi a[1] and a[4..8]; the other five are
    // shared. One of ani's is overdue.
    let past = json!({"enumerator": "ani", "household_ids": [a[2]], "due_date": "2020-01-01"});
    ok(assign(&sup, past).await).await;
    let p = ok(sup.get("/api/v1/review/progress").await).await;
    let d = &p["areas"][0];
    let counts = |v: &Value, keys: &[&str]| {
        keys.iter()
            .map(|k| v[*k].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        counts(d, &["assigned", "given", "received", "overdue"]),
        [12, 7, 7, 1]
    );
    let by_name = |n: &str| {
        p["enumerators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["enumerator"]["username"] == n)
            .unwrap()
            .clone()
    };
    let keys = ["assigned", "shared", "received", "overdue"];
    assert_eq!(counts(&by_name("ani"), &keys), [2, 5, 2, 1]);
    assert_eq!(counts(&by_name("budi"), &keys), [5, 5, 5, 0]);
}

both_backends!(
    import,
    a_target_list_applies_its_good_rows_and_reports_the_bad_ones
);
async fn a_target_list_applies_its_good_rows_and_reports_the_bad_ones(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("pengawas", Role::Supervisor, &[DESA_A]).await;
    s.add_user("ani", Role::Enumerator, &[DESA_A]).await;
    s.add_user("budi", Role::Enumerator, &[DESA_A]).await;
    s.add_user("citra", Role::Enumerator, &[DESA_B]).await;
    let h: Vec<String> = s
        .import(DESA_A, 6, 4)
        .await
        .iter()
        .map(|(h, _)| h.id_dtsen.clone().unwrap())
        .collect();
    let far = s.import(DESA_B, 1, 5).await[0].0.id_dtsen.clone().unwrap();
    let sup = s.sign_in("pengawas").await;
    // A BOM, CRLF line ends and a note with a line break inside quotes. Problems name the row as a
    // spreadsheet numbers it (the header is 1; the break inside a cell does not count).
    let csv = format!(
        "\u{feff}id_dtsen,enumerator,due_date,source,note\r\n\
         {},ani,2026-12-20,sanggah,\"sanggah warga\r\nRT 3\"\r\n\
         {},budi,,,\r\n\
         {},budi,,,\r\n\
         {far},ani,,,\r\n\
         {},citra,,,\r\n\
         {},ani,20-12-2026,,\r\n\
         {},ani,,gosip,\r\n\
         TIDAK-ADA,ani,,,\r\n\
         {},tidak_ada,,,\r\n",
        h[0], h[1], h[0], h[2], h[3], h[4], h[5]
    );
    let send = |d: &Device, body: String| {
        d.client
            .post(format!("{}/api/v1/assignments/import", d.url))
            .bearer_auth(&d.token)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    let first = ok(send(&sup, csv.clone()).await.unwrap()).await;
    assert_eq!(
        (&first["assigned"], &first["reassigned"]),
        (&json!(2), &json!(0))
    );
    let problems: Vec<(u64, &str)> = first["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        problems,
        [
            (4, "assignment.duplicate_row"),
            (5, "assignment.unknown_household"),
            (6, "assignment.enumerator_outside"),
            (7, "assignment.bad_date"),
            (8, "assignment.bad_source"),
            (9, "assignment.unknown_household"),
            (10, "assignment.unknown_enumerator"),
        ]
    );
    let said = first["rejected"][0]["message"].as_str().unwrap();
    assert!(
        said.contains("baris 2") || said.contains("line 2"),
        "{said}"
    );
    let list = listed(&sup, "").await;
    assert_eq!(list.len(), 2);
    let ani = list.iter().find(|e| e["enumerator"] == "ani").unwrap();
    assert_eq!(
        (&ani["source"], &ani["due_date"]),
        (&json!("sanggah"), &json!("2026-12-20"))
    );
    assert_eq!(ani["note"], "sanggah warga\r\nRT 3");
    // The same file again changes nothing (not even the feed) and says the same about the bad rows.
    let feed = s.count("SELECT count(*) FROM changes").await;
    let again = ok(send(&sup, csv).await.unwrap()).await;
    assert_eq!(s.count("SELECT count(*) FROM changes").await, feed);
    assert_eq!(
        (&again["assigned"], &again["reassigned"], &again["updated"]),
        (&json!(0), &json!(0), &json!(0))
    );
    assert_eq!(again["rejected"], first["rejected"]);
    assert_eq!(listed(&sup, "").await, list);
    // A file without the header, and an enumerator sending one.
    let (st, p) = problem(send(&sup, format!("{},ani\n", h[5])).await.unwrap()).await;
    assert_eq!(
        (st, p["code"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "request.invalid")
    );
    let ani_device = s.sign_in("ani").await;
    let (st, _) = problem(
        send(&ani_device, "id_dtsen,enumerator\n".into())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

/// The operator's command line: a whole desa, then a target list with one unknown row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_assigns_an_area_and_a_target_list() {
    use crate::import::run;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("server.db").display());
    let data = dir.path().join("data");
    let base = [
        "--database",
        db.as_str(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    let cli = |args: &[&str], stdin: &str| run(&[&base[..], args].concat(), stdin);
    for name in ["ani", "budi"] {
        let add = [
            "user",
            "add",
            "--username",
            name,
            "--role",
            "enumerator",
            "--area",
            DESA_A,
        ];
        let (ok, _, err) = cli(&[&add[..], &["--password-stdin"]].concat(), PASSWORD);
        assert!(ok, "{err}");
    }
    let (csv, households) = baseline_csv(DESA_A, 5, 6);
    let file = dir.path().join("baseline.csv");
    std::fs::write(&file, csv).unwrap();
    let (ok, _, err) = cli(&["import", "households", file.to_str().unwrap()], "");
    assert!(ok, "{err}");

    let (ok, out, err) = cli(
        &[
            "assign",
            "--enumerator",
            "ani",
            "--area",
            DESA_A,
            "--due",
            "2026-12-31",
        ],
        "",
    );
    assert!(ok, "{err}");
    assert!(out.contains("5 assigned, 0 reassigned, 0 updated"), "{out}");
    let targets = dir.path().join("target.csv");
    let first = households[0].0.id_dtsen.clone().unwrap();
    std::fs::write(&targets, format!("id_dtsen\n{first}\nTIDAK-ADA\n")).unwrap();
    let args = [
        "assign",
        "--enumerator",
        "budi",
        "--file",
        targets.to_str().unwrap(),
        "--source",
        "sanggah",
    ];
    let (ok, out, err) = cli(&args, "");
    assert!(!ok, "a refused row makes the exit status 2");
    assert!(
        out.contains("0 assigned, 1 reassigned, 0 updated, 1 rows refused"),
        "{out}"
    );
    assert!(
        err.contains("row 3") && err.contains("assignment.unknown_household"),
        "{err}"
    );
    let (ok, _, err) = cli(
        &[
            "assign",
            "--enumerator",
            "ani",
            "--area",
            DESA_A,
            "--source",
            "gosip",
        ],
        "",
    );
    assert!(!ok && err.contains("--source"), "{err}");
}

both_backends!(
    reassigned,
    a_visit_from_the_previous_assignee_is_kept_and_flagged
);
async fn a_visit_from_the_previous_assignee_is_kept_and_flagged(b: Backend) {
    use verivali_protocol::{OpBody, OpStatus};
    let s = TestServer::start(b).await;
    s.add_user("pengawas", Role::Supervisor, &[DESA_A]).await;
    s.add_user("ani", Role::Enumerator, &[DESA_A]).await;
    s.add_user("budi", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 2, 7).await;
    let sup = s.sign_in("pengawas").await;
    let mut ani = s.sign_in("ani").await;
    ok(assign(
        &sup,
        json!({"enumerator": "ani", "household_ids": [hh[0].0.id, hh[1].0.id]}),
    )
    .await)
    .await;
    // Ani recorded both at the door; before her phone syncs, one goes to budi.
    ok(assign(
        &sup,
        json!({"enumerator": "budi", "household_ids": [hh[0].0.id]}),
    )
    .await)
    .await;
    let visits: Vec<_> = hh
        .iter()
        .enumerate()
        .map(|(i, (h, m))| visit(h, m, 40 + i as u64))
        .collect();
    let mut ops: Vec<_> = visits
        .iter()
        .map(|v| ani.op(&OpBody::VisitRecord(Box::new(v.clone()))))
        .collect();
    ops.push(ani.op(&OpBody::BatchSubmit(verivali_domain::Batch {
        batch_id: Uuid::now_v7(),
        visit_ids: visits.iter().map(|v| v.visit_id).collect(),
    })));
    let r = ani.push(&ops).await;
    assert!(
        r.results.iter().all(|r| r.status == OpStatus::Applied),
        "{:?}",
        r.results
    );
    assert_eq!(
        s.count("SELECT count(*) FROM visits").await,
        2,
        "both kept, once each"
    );
    let list = ok(sup.get("/api/v1/review/visits").await).await;
    let flags = |id: Uuid| {
        list["visits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["found"]["visit_id"] == id.to_string())
            .unwrap()["flags"]
            .clone()
    };
    assert_eq!(flags(visits[0].visit_id), json!(["quality.reassigned"]));
    assert_eq!(flags(visits[1].visit_id), json!([]), "still hers: no flag");
}

/// A pull marks the assignments it delivered as received without waiting for a row another
/// transaction holds (PostgreSQL): a pull takes no household lock, and waiting there could meet a
/// supervisor's change to several of the same assignments the other way round. The held row is
/// left unmarked, the others are marked. A third session holds one assignment's row while the
/// device pulls; the pull either ends or is seen waiting, whichever comes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_marks_what_it_delivered_without_waiting_for_a_held_assignment() {
    let s = TestServer::start(Backend::Postgres).await;
    s.add_user("pengawas", Role::Supervisor, &["330801"]).await;
    s.add_user("ani", Role::Enumerator, &[DESA_A]).await;
    let ids: Vec<Uuid> = s
        .import(DESA_A, 2, 9)
        .await
        .iter()
        .map(|(h, _)| h.id)
        .collect();
    let sup = s.sign_in("pengawas").await;
    let ani = s.sign_in("ani").await;
    let r = assign(&sup, json!({"enumerator": "ani", "household_ids": ids})).await;
    assert_eq!(r.status(), StatusCode::OK);
    s.settle().await;

    let url = s.db_url.clone();
    let held = ids[0].to_string();
    let mut holder = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute("BEGIN").unwrap();
        c.execute(
            "SELECT 1 FROM assignments WHERE household_id = $1 FOR UPDATE",
            &[&held],
        )
        .unwrap();
        c
    })
    .await
    .unwrap();
    let mut pull = tokio::spawn(async move { ani.pull("", 1000).await });
    let url = s.db_url.clone();
    let waiting = || {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let n: i64 = c
                .query_one(
                    // Waits of this database's sessions only (a row wait names no database).
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                     WHERE NOT l.granted AND a.datname = current_database()",
                    &[],
                )
                .unwrap()
                .get(0);
            n > 0
        })
    };
    let pulled = loop {
        tokio::select! {
            p = &mut pull => break Some(p.unwrap()),
            w = waiting() => if w.unwrap() { break None },
        }
    };
    tokio::task::spawn_blocking(move || holder.batch_execute("COMMIT").unwrap())
        .await
        .unwrap();
    let page = pulled.expect("the pull waited for the held assignment");
    assert!(!page.changes.is_empty());
    let received: Vec<(String, bool)> = listed(&sup, "enumerator=ani")
        .await
        .iter()
        .map(|a| {
            (
                a["household_id"].as_str().unwrap().to_string(),
                !a["received_at"].is_null(),
            )
        })
        .collect();
    assert_eq!(received.len(), 2);
    for (id, marked) in received {
        assert_eq!(marked, id != ids[0].to_string(), "{id}");
    }
}

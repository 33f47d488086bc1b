//! Assignments with real processes on both backends (DESIGN.md §9): a real server, two field
//! CLIs on their own encrypted stores, the server's `assign` CLI and the HTTP calls. Each device
//! holds its own and the shared households; a reassignment moves households at the next sync
//! without losing a visit recorded or begun on the old device.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use uuid::Uuid;
use verivali_e2e::{Backend, PASSWORD, Server, field, http};

const DESA: &str = "3308012001";
const OTHER_DESA: &str = "3308012002";

fn sign_in(store: &Path, url: &str, user: &str) {
    let (ok, out, err) = field(
        store,
        &["sign-in", "--server", url, "--username", user, "--fast-kdf"],
        &format!("{PASSWORD}\n270814\n"),
    );
    assert!(ok, "{user}: {out}{err}");
}

/// Runs the field CLI and answers its output, failing the test on a non-zero exit.
fn run(store: &Path, args: &[&str]) -> String {
    let (ok, out, err) = field(store, args, "");
    assert!(ok, "{args:?}: {out}{err}");
    out
}

/// The device's households: id DTSEN → (source, withdrawn).
fn held(store: &Path) -> std::collections::BTreeMap<String, (String, bool)> {
    run(store, &["households"])
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].to_string(),
                (f[1].to_string(), f.get(3) == Some(&"withdrawn")),
            )
        })
        .collect()
}

fn set(xs: &[&String]) -> BTreeSet<String> {
    xs.iter().map(|s| (*s).clone()).collect()
}

struct Api {
    http: reqwest::Client,
    url: String,
    rt: tokio::runtime::Runtime,
}

impl Api {
    fn token(&self, user: &str) -> String {
        let body = json!({"username": user, "password": PASSWORD,
            "device": {"id": Uuid::now_v7(), "name": "uji", "app_version": "0.1.0"}});
        let v = self.call(
            None,
            reqwest::Method::POST,
            "/api/v1/session",
            Some(body),
            200,
        );
        v["token"].as_str().unwrap().to_string()
    }

    /// A call with its expected status; the JSON answer (null when there is none).
    fn call(
        &self,
        token: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        want: u16,
    ) -> Value {
        self.rt.block_on(async {
            let mut rb = self.http.request(method, format!("{}{path}", self.url));
            if let Some(t) = token {
                rb = rb.bearer_auth(t);
            }
            if let Some(b) = body {
                rb = rb.json(&b);
            }
            let r = rb.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            assert_eq!(status, want, "{path}: {text}");
            serde_json::from_str(&text).unwrap_or(Value::Null)
        })
    }

    fn get(&self, token: &str, path: &str) -> Value {
        self.call(Some(token), reqwest::Method::GET, path, None, 200)
    }
}

fn a_reassignment_keeps_every_visit_of_the_old_device(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::on(dir.path(), backend);
    server.add_user("pengawas", "supervisor", DESA);
    server.add_user("pengawas-lain", "supervisor", OTHER_DESA);
    server.add_user("ani", "enumerator", DESA);
    server.add_user("budi", "enumerator", DESA);
    server.add_user("citra", "enumerator", OTHER_DESA);
    server.import(DESA, 200);
    server.start(0);
    let api = Api {
        http: http().build().unwrap(),
        url: server.url.clone(),
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    };
    let sup = api.token("pengawas");
    let board = api.get(&sup, &format!("/api/v1/assignments/board?area={DESA}"));
    let households: Vec<(String, String)> = board["households"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["household_id"].as_str().unwrap().to_string(),
                h["id_dtsen"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(households.len(), 200);
    let dtsen: Vec<&String> = households.iter().map(|h| &h.1).collect();
    let uuids: Vec<&String> = households.iter().map(|h| &h.0).collect();
    let (a, b, shared) = (&dtsen[..50], &dtsen[50..100], &dtsen[100..]);

    // Ani's fifty from a target list through the server's CLI, budi's fifty over HTTP.
    let list = dir.path().join("ani.csv");
    let rows: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
    std::fs::write(&list, format!("id_dtsen\n{}\n", rows.join("\n"))).unwrap();
    let out = server.admin(
        &[
            "assign",
            "--enumerator",
            "ani",
            "--file",
            list.to_str().unwrap(),
            "--due",
            "2099-12-20",
            "--source",
            "laporan_kematian",
        ],
        "",
    );
    assert!(out.contains("50 assigned"), "{out}");
    let r = api.call(
        Some(&sup),
        reqwest::Method::POST,
        "/api/v1/assignments",
        Some(json!({"enumerator": "budi", "household_ids": uuids[50..100], "source": "sanggah"})),
        200,
    );
    assert_eq!(r["assigned"], 50);

    // Each device holds exactly its own plus the shared hundred, with the terms.
    let (ani, budi) = (dir.path().join("ani.db"), dir.path().join("budi.db"));
    sign_in(&ani, &server.url, "ani");
    sign_in(&budi, &server.url, "budi");
    let on_ani = held(&ani);
    let on_budi = held(&budi);
    let mine_and_shared = |own: &[&String]| set(own).union(&set(shared)).cloned().collect();
    assert_eq!(
        on_ani.keys().cloned().collect::<BTreeSet<_>>(),
        mine_and_shared(a)
    );
    assert_eq!(
        on_budi.keys().cloned().collect::<BTreeSet<_>>(),
        mine_and_shared(b)
    );
    assert_eq!(on_ani[a[0]].0, "laporan_kematian");
    assert_eq!(on_budi[b[0]].0, "sanggah");
    assert_eq!(on_ani[shared[0]].0, "shared");

    // Ani has two finished visits not yet sent and a draft among the ten that will move, and a
    // draft on an eleventh she will throw away.
    run(&ani, &["record", "--household", a[0], a[1], "--submit"]);
    run(&ani, &["record", "--household", a[2], "--draft"]);
    run(&ani, &["record", "--household", a[10], "--draft"]);
    let moved: Vec<&String> = uuids[..11].to_vec();
    let r = api.call(
        Some(&sup),
        reqwest::Method::POST,
        "/api/v1/assignments",
        Some(json!({"enumerator": "budi", "household_ids": moved, "source": "groundcheck"})),
        200,
    );
    assert_eq!(r["reassigned"], 11);

    // Ani's sync pushes first: her two visits arrive, then the households she has no work
    // left in leave; the two drafts keep theirs, marked.
    let out = run(&ani, &["sync"]);
    assert!(out.contains(" 3 ops acknowledged (0 rejected)"), "{out}");
    let on_ani = held(&ani);
    for gone in &a[..2] {
        assert!(!on_ani.contains_key(*gone), "{gone} was sent, so it left");
    }
    for gone in &a[3..10] {
        assert!(!on_ani.contains_key(*gone), "{gone} left ani's device");
    }
    assert_eq!(
        on_ani[a[2]],
        ("shared".to_string(), true),
        "the draft keeps it"
    );
    assert_eq!(on_ani[a[10]], ("shared".to_string(), true));
    assert_eq!(on_ani.len(), 39 + 100 + 2);
    // No new visit starts on a household given away.
    let (ok, out, err) = field(&ani, &["record", "--household", a[3]], "");
    assert!(!ok && err.contains("not on this device"), "{out}{err}");
    let (ok, _, err) = field(
        &ani,
        &["record", "--household", a[10], "--draft", "--seed", "9"],
        "",
    );
    assert!(ok, "the open draft may still be edited: {err}");

    // On the server once each, flagged for the reviewer: the households are budi's now.
    let flagged = |n: usize| {
        let list = api.get(
            &sup,
            "/api/v1/review/visits?state=all&enumerator=ani&limit=200",
        );
        let visits = list["visits"].as_array().unwrap().clone();
        assert_eq!(visits.len(), n, "{list}");
        let ids: BTreeSet<&str> = visits
            .iter()
            .map(|v| v["found"]["visit_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), n, "each visit once");
        for v in &visits {
            assert!(
                v["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f == "quality.reassigned"),
                "{v}"
            );
        }
    };
    flagged(2);

    // Budi's pull brings all eleven, on the new terms, and marks them received.
    run(&budi, &["sync"]);
    let on_budi = held(&budi);
    assert_eq!(on_budi.len(), 50 + 11 + 100);
    for h in &a[..11] {
        assert_eq!(on_budi[*h], ("groundcheck".to_string(), false));
    }
    let given = api.get(&sup, "/api/v1/assignments?enumerator=budi");
    let given = given["assignments"].as_array().unwrap();
    assert_eq!(given.len(), 61);
    assert!(
        given.iter().all(|e| !e["received_at"].is_null()),
        "{given:?}"
    );

    // Ani finishes her draft: sent, accepted and flagged, then its household leaves too. The
    // other draft is thrown away, and its household goes with it.
    run(&ani, &["record", "--household", a[2], "--submit"]);
    let out = run(&ani, &["discard", "--household", a[10]]);
    assert!(out.contains("household left this device"), "{out}");
    run(&ani, &["sync"]);
    let on_ani = held(&ani);
    assert!(!on_ani.contains_key(a[2]) && !on_ani.contains_key(a[10]));
    assert_eq!(on_ani.len(), 39 + 100);
    assert!(on_ani.values().all(|(_, withdrawn)| !withdrawn));
    flagged(3);

    // The progress page counts the same.
    let p = api.get(&sup, "/api/v1/review/progress");
    let area = p["areas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kode_desa"] == DESA)
        .unwrap();
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap();
    assert_eq!(
        ["assigned", "given", "received", "overdue", "submitted"].map(|k| n(area, k)),
        [200, 100, 100, 0, 3],
        "{area}"
    );
    let person = |name: &str| {
        p["enumerators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["enumerator"]["username"] == name)
            .unwrap()
            .clone()
    };
    let keys = ["assigned", "shared", "received", "overdue"];
    assert_eq!(keys.map(|k| n(&person("ani"), k)), [39, 100, 39, 0]);
    assert_eq!(keys.map(|k| n(&person("budi"), k)), [61, 100, 61, 0]);
    assert_eq!(n(&person("ani"), "submitted"), 3);

    // A supervisor of another desa cannot move them; an enumerator of another desa cannot be
    // given them. Neither call changes anything.
    let lain = api.token("pengawas-lain");
    let body = json!({"enumerator": "ani", "household_ids": [uuids[60]]});
    let r = api.rt.block_on(async {
        api.http
            .post(format!("{}/api/v1/assignments", api.url))
            .bearer_auth(&lain)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert!(r == 403 || r == 404, "{r}");
    let body = json!({"enumerator": "citra", "household_ids": [uuids[60]]});
    let e = api.call(
        Some(&sup),
        reqwest::Method::POST,
        "/api/v1/assignments",
        Some(body),
        422,
    );
    assert_eq!(e["code"], "assignment.enumerator_outside", "{e}");
    let still = api.get(&sup, "/api/v1/assignments?enumerator=budi");
    assert_eq!(still["assignments"].as_array().unwrap().len(), 61);
    server.terminate();
}

#[test]
fn a_reassignment_keeps_every_visit_of_the_old_device_sqlite() {
    a_reassignment_keeps_every_visit_of_the_old_device(Backend::Sqlite);
}

#[test]
fn a_reassignment_keeps_every_visit_of_the_old_device_postgres() {
    a_reassignment_keeps_every_visit_of_the_old_device(Backend::Postgres);
}

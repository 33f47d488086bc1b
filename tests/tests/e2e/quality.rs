//! Quality control end to end (DESIGN.md §11, issue 16): one enumerator works honestly on a real
//! field device (the field CLI: its visits carry the device's paradata), another fabricates
//! through the protocol (four visits in ten minutes, one photo reused, one fix 2 km from the
//! household's approved point). In a real browser the supervisor finds the fabricated visits at
//! the head of the queue with the right flags, the honest ones with none; the visit page shows
//! each flag's facts and the map; the enumerator comparison sets the two apart; bulk approval
//! refuses the flagged ones. Screenshots under `screenshots/dashboard/7x-*.png`.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;
use verivali_domain::hlc::Hlc;
use verivali_domain::sample::{self, Seq};
use verivali_domain::{Batch, Household, Member, VisitRecord};
use verivali_e2e::webdriver::Driver;
use verivali_e2e::{PASSWORD, Server, field, screenshot_dir};
use verivali_protocol::pull::ChangeData;
use verivali_protocol::{Op, OpBody, PullResponse, PushRequest, PushResponse};

const DESA: &str = "3308012001";

fn device(server: &Server, dir: &std::path::Path, user: &str) -> std::path::PathBuf {
    let store = dir.join(format!("{user}.db"));
    let (ok, out, err) = field(
        &store,
        &[
            "sign-in",
            "--server",
            &server.url,
            "--username",
            user,
            "--fast-kdf",
        ],
        &format!("{PASSWORD}\n270814\n"),
    );
    assert!(ok, "{out}{err}");
    store
}

/// A client of the sync protocol that is not the field app: what a fabricator with a modified
/// app would send.
struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
    device: Uuid,
    seq: u64,
}

impl Client {
    async fn sign_in(url: &str, user: &str) -> Client {
        let http = verivali_e2e::http().build().unwrap();
        let device = Uuid::now_v7();
        let r: Value = http
            .post(format!("{url}/api/v1/session"))
            .json(&json!({"username": user, "password": PASSWORD,
                "device": {"id": device, "name": "hp-lain", "app_version": "0.1.0"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Client {
            http,
            url: url.into(),
            token: r["token"].as_str().unwrap().into(),
            device,
            seq: 0,
        }
    }

    /// Every household of the caller's areas with its members.
    async fn households(&self) -> Vec<(Household, Vec<Member>)> {
        let mut cursor = String::new();
        let mut hh: Vec<Household> = Vec::new();
        let mut members: HashMap<Uuid, Vec<Member>> = HashMap::new();
        loop {
            let page: PullResponse = self
                .http
                .get(format!(
                    "{}/api/v1/sync/pull?cursor={cursor}&limit=500",
                    self.url
                ))
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for c in &page.changes {
                match c.decode().unwrap() {
                    Some(ChangeData::Household(h)) => {
                        hh.retain(|x| x.id != h.id);
                        hh.push(*h)
                    }
                    // A later change of a member replaces the earlier one (an approval
                    // announces the household's members again).
                    Some(ChangeData::Member(m)) => {
                        let list = members.entry(m.household_id).or_default();
                        list.retain(|x| x.member_id != m.member.member_id);
                        list.push(m.member)
                    }
                    _ => {}
                }
            }
            cursor = page.next_cursor;
            if !page.has_more {
                break;
            }
        }
        hh.sort_by(|a, b| a.nama_krt.cmp(&b.nama_krt));
        hh.into_iter()
            .map(|h| {
                let m = members.remove(&h.id).unwrap_or_default();
                (h, m)
            })
            .collect()
    }

    /// Uploads a photo whole; returns its SHA-256.
    async fn upload(&self, bytes: &[u8]) -> String {
        use sha2::Digest;
        let sha = hex::encode(sha2::Sha256::digest(bytes));
        let r = self
            .http
            .patch(format!("{}/api/v1/attachments/{sha}", self.url))
            .bearer_auth(&self.token)
            .header("Upload-Offset", 0)
            .header("Upload-Length", bytes.len())
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        sha
    }

    async fn push(&mut self, bodies: &[OpBody]) -> PushResponse {
        let ops: Vec<Op> = bodies
            .iter()
            .map(|b| {
                self.seq += 1;
                Op {
                    op_id: Uuid::now_v7(),
                    seq: self.seq,
                    hlc: Hlc {
                        wall_ms: Utc::now().timestamp_millis(),
                        counter: self.seq as u32,
                        device: self.device,
                    },
                    schema: 1,
                    op_type: b.op_type().into(),
                    payload: b.payload().unwrap(),
                    payload_packed: None,
                }
            })
            .collect();
        self.http
            .post(format!("{}/api/v1/sync/push", self.url))
            .bearer_auth(&self.token)
            .json(&PushRequest {
                device_id: self.device,
                ops,
            })
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fabricated_visits_lead_the_queue_with_their_flags() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("jujur", "enumerator", DESA);
    server.add_user("curang", "enumerator", DESA);
    server.add_user("spv", "supervisor", "330801");
    server.import(DESA, 10);
    server.start(0);

    // The honest enumerator: four visits on a real device, submitted and synced.
    let honest = device(&server, dir.path(), "jujur");
    let (ok, _, err) = field(
        &honest,
        &[
            "record",
            "--count",
            "4",
            "--seed",
            "3",
            "--photo-bytes",
            "2000",
            "--submit",
        ],
        "",
    );
    assert!(ok, "{err}");
    let (ok, out, err) = field(&honest, &["sync"], "");
    assert!(ok, "{out}{err}");
    let honest_ids: Vec<String> = server
        .text("SELECT group_concat(v.id, ' ') FROM visits v JOIN users u ON u.id = v.enumerator_id WHERE u.username = 'jujur'")
        .split(' ')
        .map(str::to_string)
        .collect();
    assert_eq!(honest_ids.len(), 4);

    // The supervisor approves one honest visit: its fix is its household's reference point.
    let http = verivali_e2e::http().build().unwrap();
    let spv_token = verivali_e2e::bearer_token(&http, &server.url, "spv").await;
    let anchor = honest_ids[0].clone();
    let r = http
        .post(format!(
            "{}/api/v1/review/visits/{anchor}/decision",
            server.url
        ))
        .bearer_auth(&spv_token)
        .json(&json!({"decision": "approve"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let anchor_hh = server.text(&format!(
        "SELECT household_id FROM visits WHERE id = '{anchor}'"
    ));
    let anchor_gps: verivali_domain::Gps = serde_json::from_str(
        &server.text(&format!("SELECT gps FROM visits WHERE id = '{anchor}'")),
    )
    .unwrap();

    // The fabricator: four visits finished within ten minutes, two and a half minutes each in
    // the form; the second reuses the first's photo; the fourth is of the approved household,
    // its fix 2 km north of the approved one.
    let mut bad = Client::sign_in(&server.url, "curang").await;
    let households = bad.households().await;
    let visited: Vec<String> = server
        .text("SELECT group_concat(household_id, ' ') FROM visits")
        .split(' ')
        .map(str::to_string)
        .collect();
    let mut targets: Vec<&(Household, Vec<Member>)> = households
        .iter()
        .filter(|(h, _)| !visited.contains(&h.id.to_string()))
        .take(3)
        .collect();
    targets.push(
        households
            .iter()
            .find(|(h, _)| h.id.to_string() == anchor_hh)
            .unwrap(),
    );
    let now = Utc::now();
    let mut seq = Seq::new(99);
    let mut fake: Vec<VisitRecord> = targets
        .iter()
        .enumerate()
        .map(|(i, (h, m))| {
            let mut v = sample::visit(&mut seq, h, m, now - Duration::minutes(9 - 3 * i as i64));
            v.started_at = v.finished_at.unwrap() - Duration::seconds(150);
            v.paradata.as_mut().unwrap().duration_s = 150;
            v.paradata.as_mut().unwrap().sections.clear();
            v
        })
        .collect();
    // One real photo, uploaded once and used twice.
    let photo = bad.upload(b"synthetic photo of a house, taken once").await;
    for v in &mut fake[..2] {
        v.photos = vec![photo.clone()];
        v.photo_kinds = [(photo.clone(), verivali_domain::PhotoKind::Depan)].into();
    }
    fake[3].gps = Some(verivali_domain::Gps {
        lat: anchor_gps.lat + 0.018,
        ..anchor_gps
    });
    let mut bodies: Vec<OpBody> = fake
        .iter()
        .map(|v| OpBody::VisitRecord(Box::new(v.clone())))
        .collect();
    bodies.push(OpBody::BatchSubmit(Batch {
        batch_id: Uuid::now_v7(),
        visit_ids: fake.iter().map(|v| v.visit_id).collect(),
    }));
    let pushed = bad.push(&bodies).await;
    assert!(
        pushed
            .results
            .iter()
            .all(|r| r.status == verivali_protocol::OpStatus::Applied),
        "{:?}",
        pushed.results
    );

    // Through the API: the fabricated ones first, with the right flags; the honest ones clean.
    let queue: Value = http
        .get(format!("{}/api/v1/review/visits?limit=50", server.url))
        .bearer_auth(&spv_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = queue["visits"].as_array().unwrap();
    let by_id = |id: &Uuid| {
        rows.iter()
            .find(|v| v["found"]["visit_id"] == json!(id))
            .unwrap()
    };
    let codes = |v: &Value| -> Vec<String> {
        let mut c: Vec<String> = v["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        c.sort();
        c
    };
    assert_eq!(
        codes(by_id(&fake[0].visit_id)),
        vec!["quality.too_fast"],
        "the photo's first use is not the reuse"
    );
    assert_eq!(
        codes(by_id(&fake[1].visit_id)),
        vec!["quality.photo_reused", "quality.too_fast"]
    );
    assert_eq!(
        codes(by_id(&fake[3].visit_id)),
        vec!["quality.gps_far", "quality.too_fast", "quality.two_visits"]
    );
    let order: Vec<String> = rows
        .iter()
        .map(|v| v["found"]["visit_id"].as_str().unwrap().to_string())
        .collect();
    let fake_ids: Vec<String> = fake.iter().map(|v| v.visit_id.to_string()).collect();
    assert!(
        order[..4].iter().all(|id| fake_ids.contains(id)),
        "the fabricated visits lead the queue: {order:?}"
    );
    for id in &honest_ids[1..] {
        let v = rows
            .iter()
            .find(|v| v["found"]["visit_id"] == json!(id))
            .unwrap();
        assert!(codes(v).is_empty(), "an honest visit is clean: {v}");
        assert!(
            v["found"]["paradata"]["duration_s"].as_u64().unwrap() > 0,
            "the device sent its paradata"
        );
    }

    // In the browser.
    let shots = screenshot_dir("dashboard");
    let shot = |name: &str| shots.join(format!("{name}.png"));
    let driver = Driver::chromium().await;
    let b = driver.session(1280, 900).await;
    b.goto(&format!("{}/", server.url)).await;
    b.type_into(&b.wait("#username").await, "spv").await;
    b.type_into(&b.wait("#password").await, PASSWORD).await;
    b.click(&b.wait("#signin-submit").await).await;
    b.wait("#progress-desa").await;
    b.goto(&format!("{}/#/queue", server.url)).await;
    b.wait("#queue tbody tr").await;
    let first_rows = b
        .execute(
            "return [...document.querySelectorAll('#queue tbody tr')].slice(0, 4).map((r) => r.dataset.visit)",
            json!([]),
        )
        .await;
    for id in first_rows.as_array().unwrap() {
        assert!(fake_ids.contains(&id.as_str().unwrap().to_string()));
    }
    b.wait_text("#queue tbody tr:first-child .flags", "Foto sama")
        .await;
    b.screenshot(&shot("70-antrean-risiko")).await;

    // Filtered by a flag: only the visit 2 km away.
    b.goto(&format!("{}/#/queue?flag=quality.gps_far", server.url))
        .await;
    b.wait_text("#queue tbody", "Jauh dari titik").await;
    assert_eq!(b.find_all("#queue tbody tr").await.len(), 1);

    // The visit page: each flag's facts and the map with the distance.
    b.goto(&format!("{}/#/visit/{}", server.url, fake[3].visit_id))
        .await;
    let far = b.wait_text("#quality", "Jauh dari titik").await;
    assert!(far.contains("m dari titik rujukan"), "{far}");
    b.wait("#map-reference").await;
    let distance = b.wait_text("#map-distance", "m dari titik rujukan").await;
    let metres: u32 = distance.split_whitespace().next().unwrap().parse().unwrap();
    assert!((1900..2100).contains(&metres), "{distance}");
    b.wait_text("#paradata", "2 mnt 30 dtk").await;
    b.screenshot(&shot("71-kunjungan-jauh")).await;
    b.execute(
        "document.getElementById('gps').scrollIntoView({block: 'center'})",
        json!([]),
    )
    .await;
    b.screenshot(&shot("71b-peta-jarak")).await;
    b.goto(&format!("{}/#/visit/{}", server.url, fake[1].visit_id))
        .await;
    b.wait_text("#quality", "Foto sama").await;
    let link = b
        .execute(
            "return document.querySelector('#quality li[data-flag=\"quality.photo_reused\"] a').getAttribute('href')",
            json!([]),
        )
        .await;
    assert_eq!(link, json!(format!("#/visit/{}", fake[0].visit_id)));

    // The comparison: the fabricator stands out.
    b.goto(&format!("{}/#/enumerators?area={DESA}", server.url))
        .await;
    b.wait("#enum-chart svg").await;
    let first = b
        .execute(
            "return document.querySelector('#enumerators tbody tr').dataset.enumerator",
            json!([]),
        )
        .await;
    assert_eq!(first, json!("curang"));
    b.wait_text("#enumerators tbody tr:first-child", "100%")
        .await;
    b.wait_text("#enumerators tbody tr:last-child", "0%").await;
    b.screenshot(&shot("72-perbandingan-petugas")).await;

    // Bulk approval of the fabricator's batch: none is approved. The three flagged ones wait for
    // the supervisor to tick them; the fourth, a second visit of an approved household, is
    // decided on its own page.
    b.goto(&format!("{}/#/batches", server.url)).await;
    let batch = server.text(&format!(
        "SELECT batch_id FROM visits WHERE id = '{}'",
        fake[0].visit_id
    ));
    b.click(
        &b.wait(&format!("tr[data-batch='{batch}'] .approve-batch"))
            .await,
    )
    .await;
    b.click(&b.wait(".approve-batch-sure").await).await;
    b.wait_text("#flagged", "Bertanda mutu").await;
    assert_eq!(b.find_all("#flagged .confirm-flagged").await.len(), 3);
    assert_eq!(
        server.count("SELECT count(*) FROM visits v JOIN users u ON u.id = v.enumerator_id WHERE u.username = 'curang' AND v.state = 'approved'"),
        0
    );
    b.screenshot(&shot("73-setujui-bertanda")).await;
    // Ticking one (the first photo's visit, checked by eye) approves it alone.
    b.click(
        &b.wait(&format!(".confirm-flagged[value='{}']", fake[0].visit_id))
            .await,
    )
    .await;
    b.click(&b.wait("#approve-confirmed").await).await;
    let approved = format!("SELECT state FROM visits WHERE id = '{}'", fake[0].visit_id);
    for _ in 0..100 {
        if server.text(&approved) == "approved" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(server.text(&approved), "approved");
    // The list is drawn again with the two still waiting.
    for _ in 0..100 {
        if b.find_all("#flagged .confirm-flagged").await.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(b.find_all("#flagged .confirm-flagged").await.len(), 2);
    assert_eq!(
        server.count("SELECT count(*) FROM visits v JOIN users u ON u.id = v.enumerator_id WHERE u.username = 'curang' AND v.state = 'approved'"),
        1
    );
    // The audit keeps the flags the supervisor saw.
    assert!(
        server
            .text("SELECT group_concat(detail, ' | ') FROM audit WHERE action = 'review.decision'")
            .contains("flags quality.too_fast"),
    );

    // The thresholds page, as a supervisor reads it.
    b.goto(&format!("{}/#/quality", server.url)).await;
    b.wait("#qt-gps_far_m").await;
    b.screenshot(&shot("74-ambang-mutu")).await;
    b.quit().await;

    // On a phone: the queue's flags and the map fit.
    let phone = driver.phone_session(390, 844).await;
    phone
        .goto(&format!("{}/#/visit/{}", server.url, fake[3].visit_id))
        .await;
    phone.wait("#username, #quality").await;
    if !phone.find_all("#username").await.is_empty() {
        phone.type_into(&phone.wait("#username").await, "spv").await;
        phone
            .type_into(&phone.wait("#password").await, PASSWORD)
            .await;
        phone.click(&phone.wait("#signin-submit").await).await;
        phone.wait("#progress-desa").await;
        phone
            .goto(&format!("{}/#/visit/{}", server.url, fake[3].visit_id))
            .await;
    }
    phone.wait("#map-reference").await;
    phone.screenshot(&shot("75-kunjungan-jauh-hp")).await;
    phone
        .execute(
            "document.getElementById('gps').scrollIntoView({block: 'center'})",
            json!([]),
        )
        .await;
    phone.screenshot(&shot("76-peta-hp")).await;
    phone
        .goto(&format!("{}/#/enumerators?area={DESA}", server.url))
        .await;
    phone.wait("#enum-chart svg").await;
    phone.screenshot(&shot("77-perbandingan-hp")).await;
    phone.quit().await;
}

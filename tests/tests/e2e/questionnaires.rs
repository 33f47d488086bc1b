//! A new questionnaire version published while a phone (the field CLI on its encrypted store)
//! holds a draft begun on the old one: the phone pulls the new version, the draft is finished on
//! its own version and accepted, and the export names each visit's version.

use serde_json::json;
use verivali_domain::Questionnaire;
use verivali_e2e::{PASSWORD, Server, field};

const DESA: &str = "3308012001";

#[test]
fn a_draft_begun_on_version_1_is_finished_and_accepted_after_version_2() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    server.add_user("ani", "enumerator", DESA);
    server.import(DESA, 10);
    server.start(0);
    let phone = dir.path().join("ani.db");
    let (ok, out, err) = field(
        &phone,
        &[
            "sign-in",
            "--server",
            &server.url,
            "--username",
            "ani",
            "--fast-kdf",
        ],
        &format!("{PASSWORD}\n270814\n"),
    );
    assert!(ok, "{out}{err}");
    let (ok, out, _) = field(&phone, &["households"], "");
    assert!(ok);
    let first = out
        .lines()
        .next()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let (ok, _, err) = field(&phone, &["record", "--household", &first, "--draft"], "");
    assert!(ok, "{err}");

    // A broken schema is refused with the path of each problem; a good one is published.
    let mut v2 = Questionnaire::default_dtsen().unwrap();
    v2.version = 2;
    let extra = json!({"id": "jumlah_kamar", "type": "int",
        "label": {"id": "Jumlah kamar tidur", "en": "Bedrooms"}, "min": 0, "max": 30});
    v2.sections[0]
        .questions
        .push(serde_json::from_value(extra).unwrap());
    let mut broken = serde_json::to_value(&v2).unwrap();
    broken["sections"][0]["questions"][1]["id"] = json!("Bad Id");
    let bad = dir.path().join("broken.json");
    std::fs::write(&bad, broken.to_string()).unwrap();
    let out = std::process::Command::new(verivali_e2e::server_bin())
        .args([
            "--database",
            &server.db,
            "--data-dir",
            server.data.to_str().unwrap(),
        ])
        .args(["questionnaire", "publish", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("sections[0].questions[1].id") && err.contains("questionnaire.bad_id"),
        "{err}"
    );
    let good = dir.path().join("v2.json");
    std::fs::write(&good, serde_json::to_string(&v2).unwrap()).unwrap();
    let out = server.admin(&["questionnaire", "publish", good.to_str().unwrap()], "");
    assert!(out.contains("published dtsen-ruta version 2"), "{out}");

    // The phone pulls version 2; its version 1 draft is finished on version 1 and accepted.
    let (ok, out, err) = field(&phone, &["sync"], "");
    assert!(ok, "{out}{err}");
    let (ok, _, err) = field(&phone, &["record", "--household", &first, "--submit"], "");
    assert!(ok, "{err}");
    let (ok, out, err) = field(&phone, &["sync"], "");
    assert!(
        ok && out.contains(" 2 ops acknowledged (0 rejected)"),
        "{out}{err}"
    );
    let on_version_1 = server
        .visit_records()
        .iter()
        .filter(|r| r["questionnaire_version"] == 1)
        .count();
    assert_eq!(on_version_1, 1);
    assert_eq!(
        server.count("SELECT count(*) FROM questionnaires WHERE active = 1 AND version = 2"),
        1
    );
    server.terminate();
}

//! Golden JSON examples of every v1 message (`golden/*.json`). Each file must equal what the types
//! produce for the same synthetic values, and must round-trip through the types unchanged, so the
//! files are a faithful contract another client can be written from.
//!
//! After an intended, additive change: `VERIVALI_BLESS=1 cargo test -p verivali-protocol --test golden`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use verivali_domain::hlc::Hlc;
use verivali_domain::sample::{self, Seq};
use verivali_domain::{
    Batch, Decision, NotFoundReason, Outcome, Questionnaire, ReviewEvent, Role, VisitState,
};
use verivali_protocol::pull::{ChangeData, MemberChange, VisitChange};
use verivali_protocol::review::{
    DecisionRequest, DecisionResponse, FieldConflict, PhotoStatus, ReviewEntry, ReviewList,
    ReviewVisit, UserRef,
};
use verivali_protocol::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden")
}

/// Compares (or, when blessing, writes) one golden file and checks it round-trips through `T`.
fn golden<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, value: &T) {
    let path = dir().join(format!("{name}.json"));
    let produced = serde_json::to_value(value).unwrap();
    if std::env::var_os("VERIVALI_BLESS").is_some() {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&produced).unwrap() + "\n",
        )
        .unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        file, produced,
        "{name}.json differs from what the types produce"
    );
    let typed: T = serde_json::from_value(file.clone()).unwrap();
    assert_eq!(
        &typed, value,
        "{name}.json does not parse back to the same value"
    );
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        file,
        "{name}.json does not round-trip"
    );
}

struct World {
    seq: Seq,
    device: uuid::Uuid,
    user: uuid::Uuid,
    at: DateTime<Utc>,
}

fn world() -> World {
    let mut seq = Seq::new(2026);
    let device = seq.uuid();
    let user = seq.uuid();
    World {
        seq,
        device,
        user,
        at: t("2026-11-22T03:15:00Z"),
    }
}

fn hlc(w: &World, counter: u32) -> Hlc {
    Hlc {
        wall_ms: w.at.timestamp_millis(),
        counter,
        device: w.device,
    }
}

/// Data as the server stores and sends it (keys in the order a JSON tree writes them).
fn raw<T: serde::Serialize>(t: &T) -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string(serde_json::to_value(t).unwrap().to_string()).unwrap()
}

fn op(w: &mut World, seq: u64, body: &OpBody) -> Op {
    Op {
        op_id: w.seq.uuid(),
        seq,
        hlc: hlc(w, seq as u32),
        schema: SCHEMA_VERSION,
        op_type: body.op_type().into(),
        payload: raw(&serde_json::from_str::<Value>(body.payload().unwrap().get()).unwrap()),
        payload_packed: None,
    }
}

#[test]
fn session_messages() {
    let w = world();
    golden(
        "session_request",
        &SessionRequest {
            username: "petugas.sukamaju".into(),
            password: "contoh-sandi-panjang".into(),
            device: DeviceInfo {
                id: w.device,
                name: "HP Petugas 01".into(),
                app_version: "0.1.0".into(),
            },
            new_password: None,
        },
    );
    golden(
        "session_response",
        &SessionResponse {
            token: "vv1.c2FtcGxlLXRva2VuLW5vdC1yZWFs".into(),
            expires_at: t("2026-11-29T03:15:00Z"),
            user: UserInfo {
                id: w.user,
                username: "petugas.sukamaju".into(),
                display_name: "Petugas Contoh".into(),
                role: Role::Enumerator,
                areas: vec!["3308012001".into()],
            },
            server_time: w.at,
            schemas: vec![1],
            min_app_version: "0.1.0".into(),
        },
    );
}

#[test]
fn push_messages_cover_every_op_type() {
    let mut w = world();
    let (hh, members) = sample::household(&mut w.seq, "3308012001", 1);
    let visit = sample::visit(&mut w.seq, &hh, &members, w.at);
    let mut gone = sample::visit(&mut w.seq, &hh, &members, w.at);
    gone.outcome = Outcome::TidakDitemukan;
    gone.outcome_reason = Some(NotFoundReason::Pindah);
    gone.answers = BTreeMap::new();
    gone.gps = None;
    let proposal = HouseholdProposal {
        household_id: w.seq.uuid(),
        kode_desa: "3308012001".into(),
        fields: verivali_domain::HouseholdFields {
            alamat: "Dusun Krajan No. 7".into(),
            rt: "003".into(),
            rw: "001".into(),
            no_kk: None,
            nama_krt: "Slamet Contoh".into(),
        },
    };
    let bodies = [
        OpBody::VisitRecord(Box::new(visit.clone())),
        OpBody::VisitRecord(Box::new(gone)),
        OpBody::HouseholdPropose(proposal),
        OpBody::BatchSubmit(Batch {
            batch_id: w.seq.uuid(),
            visit_ids: vec![visit.visit_id],
        }),
    ];
    let ops: Vec<Op> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| op(&mut w, i as u64 + 1, b))
        .collect();
    for (o, b) in ops.iter().zip(&bodies) {
        assert_eq!(
            &o.body().unwrap(),
            b,
            "payload of {} decodes to the same body",
            o.op_type
        );
    }
    let request = PushRequest {
        device_id: w.device,
        ops: ops.clone(),
    };
    golden("push_request", &request);

    // The first visit again, packed (`payload_packed`), as a device sends it to a server whose
    // push answers say it takes that: one zstd frame of the same text, `payload` null.
    let mut packed = ops[0].clone();
    let text = packed.payload.get().to_string();
    packed.payload = serde_json::value::RawValue::NULL.to_owned();
    packed.payload_packed = Some(
        base64::engine::general_purpose::STANDARD
            .encode(verivali_domain::packed::pack(&text).unwrap()),
    );
    golden(
        "push_request_packed",
        &PushRequest {
            device_id: w.device,
            ops: vec![packed.clone()],
        },
    );
    let frame = base64::engine::general_purpose::STANDARD
        .decode(packed.payload_packed.unwrap())
        .unwrap();
    assert_eq!(
        verivali_domain::packed::unpack_received(&frame).unwrap(),
        text,
        "the frame holds the payload's text"
    );

    // The contract's required payload fields are all present in the file.
    let v = serde_json::to_value(&request).unwrap();
    let payload = &v["ops"][0]["payload"];
    for f in [
        "visit_id",
        "household_id",
        "baseline_version",
        "revision",
        "outcome",
        "household",
        "members",
        "answers",
        "gps",
        "photos",
        "started_at",
        "finished_at",
    ] {
        assert!(payload.get(f).is_some(), "visit.record payload lacks {f}");
    }
    for f in [
        "member_id",
        "nik",
        "name",
        "sex",
        "birth_date",
        "relationship",
        "status",
    ] {
        assert!(payload["members"][0].get(f).is_some(), "member lacks {f}");
    }

    golden(
        "push_response",
        &PushResponse {
            acked_through: 4,
            results: vec![
                OpResult {
                    op_id: ops[0].op_id,
                    status: OpStatus::Applied,
                    error: None,
                },
                OpResult {
                    op_id: ops[1].op_id,
                    status: OpStatus::Duplicate,
                    error: None,
                },
                OpResult {
                    op_id: ops[2].op_id,
                    status: OpStatus::Rejected,
                    error: Some(OpError {
                        code: "area.forbidden".into(),
                        message: "Desa 3308012001 bukan wilayah tugas Anda".into(),
                        field: Some("kode_desa".into()),
                    }),
                },
                OpResult {
                    op_id: ops[3].op_id,
                    status: OpStatus::Applied,
                    error: None,
                },
            ],
            server_time: w.at,
            payload_packed: true,
        },
    );
}

#[test]
fn pull_response_covers_every_change_kind() {
    let mut w = world();
    let (hh, members) = sample::household(&mut w.seq, "3308012001", 2);
    let visit = sample::visit(&mut w.seq, &hh, &members, w.at);
    let q = Questionnaire::default_dtsen().unwrap();
    let review = ReviewEvent {
        visit_id: visit.visit_id,
        decision: Decision::Reject,
        reason: Some("Foto rumah buram, mohon diambil ulang".into()),
        reviewer: w.seq.uuid(),
        at: w.at,
    };
    let changes = vec![
        Change {
            kind: ChangeKind::Questionnaire,
            id: format!("{}@{}", q.id, q.version),
            version: 1,
            deleted: false,
            data: raw(&q),
        },
        Change {
            kind: ChangeKind::Household,
            id: hh.id.to_string(),
            version: 1,
            deleted: false,
            data: raw(&hh),
        },
        Change {
            kind: ChangeKind::Member,
            id: members[0].member_id.to_string(),
            version: 1,
            deleted: false,
            data: raw(&MemberChange {
                household_id: hh.id,
                member: members[0].clone(),
            }),
        },
        Change {
            kind: ChangeKind::Visit,
            id: visit.visit_id.to_string(),
            version: 2,
            deleted: false,
            data: raw(&VisitChange {
                state: VisitState::Rejected,
                record: visit.clone(),
            }),
        },
        Change {
            kind: ChangeKind::Review,
            id: w.seq.uuid().to_string(),
            version: 1,
            deleted: false,
            data: raw(&review),
        },
        Change {
            kind: ChangeKind::Household,
            id: w.seq.uuid().to_string(),
            version: 3,
            deleted: true,
            data: Change::null(),
        },
    ];
    for c in &changes {
        let decoded = c.decode().unwrap();
        match (c.kind, decoded) {
            (_, None) => assert!(c.deleted),
            (ChangeKind::Household, Some(ChangeData::Household(h))) => assert_eq!(*h, hh),
            (ChangeKind::Member, Some(ChangeData::Member(m))) => assert_eq!(m.member, members[0]),
            (ChangeKind::Visit, Some(ChangeData::Visit(v))) => assert_eq!(v.record, visit),
            (ChangeKind::Review, Some(ChangeData::Review(r))) => assert_eq!(r, review),
            (ChangeKind::Questionnaire, Some(ChangeData::Questionnaire(x))) => assert_eq!(*x, q),
            (k, d) => panic!("{k:?} decoded as {d:?}"),
        }
    }
    golden(
        "pull_response",
        &PullResponse {
            changes,
            next_cursor: "1042".into(),
            has_more: true,
            server_time: w.at,
            refs: None,
        },
    );
}

#[test]
fn attachment_review_and_problem_messages() {
    let mut w = world();
    let (hh, members) = sample::household(&mut w.seq, "3308012001", 3);
    let visit = sample::visit(&mut w.seq, &hh, &members, w.at);
    golden(
        "attachment_status",
        &AttachmentStatus {
            sha256: visit.photos[0].clone(),
            upload_offset: 65_536,
            complete: false,
        },
    );
    golden(
        "review_list",
        &ReviewList {
            visits: vec![ReviewVisit {
                state: VisitState::Submitted,
                enumerator: UserRef {
                    id: w.user,
                    username: "petugas.sukamaju".into(),
                    display_name: "Petugas Contoh".into(),
                },
                batch_id: Some(w.seq.uuid()),
                submitted_at: Some(w.at),
                baseline: Some(hh.clone()),
                baseline_members: members.clone(),
                found: visit.clone(),
                photos: vec![PhotoStatus {
                    sha256: visit.photos[0].clone(),
                    present: true,
                    kind: visit.photo_kind(&visit.photos[0]),
                }],
                conflicts: vec![FieldConflict {
                    field: "household.alamat".into(),
                    seen: json!(hh.alamat),
                    current: json!("Dusun Krajan No. 12"),
                    found: json!(visit.household.alamat),
                }],
                other_visits: vec![],
                kode_desa: hh.kode_desa.clone(),
                flags: vec!["quality.gps_far".into(), "quality.reassigned".into()],
                quality: vec![
                    serde_json::from_value(json!({
                        "code": "quality.gps_far", "severity": "warning",
                        "detail": {"distance_m": 2004.0, "max_m": 200.0,
                                   "reference": {"lat": -7.4712, "lon": 110.2153}},
                        "message": "Jauh dari titik rumah tangga: 2004 m, batas 200 m"
                    }))
                    .unwrap(),
                    serde_json::from_value(json!({
                        "code": "quality.reassigned", "severity": "warning", "detail": {},
                        "message": "Rumah tangga sudah dialihkan ke petugas lain"
                    }))
                    .unwrap(),
                ],
                risk: 6,
                reference_gps: None,
                reviews: vec![ReviewEntry {
                    decision: Decision::Reject,
                    reason: Some("Foto rumah buram".into()),
                    reviewer: "spv.sukamaju".into(),
                    at: w.at,
                }],
            }],
            next_after: None,
        },
    );
    golden(
        "decision_request",
        &DecisionRequest {
            decision: Decision::Reject,
            reason: Some("Anggota rumah tangga kurang satu, mohon dicek".into()),
            resolutions: BTreeMap::new(),
            supersede: false,
        },
    );
    golden(
        "decision_response",
        &DecisionResponse {
            visit_id: visit.visit_id,
            state: VisitState::Rejected,
            decided_at: w.at,
            superseded: Vec::new(),
        },
    );
    // Approving one visit of a household whose other visit was approved before: the reviewer
    // compared both and chose this one; the other becomes superseded.
    let earlier: uuid::Uuid = "019a8f10-5c00-7000-8000-0000000000e1".parse().unwrap();
    golden(
        "decision_supersede_request",
        &DecisionRequest {
            decision: Decision::Approve,
            reason: None,
            resolutions: BTreeMap::new(),
            supersede: true,
        },
    );
    golden(
        "decision_supersede_response",
        &DecisionResponse {
            visit_id: visit.visit_id,
            state: VisitState::Approved,
            decided_at: w.at,
            superseded: vec![earlier],
        },
    );
    golden(
        "problem_seq_gap",
        &Problem::new(
            409,
            "sync.seq_gap",
            "Sequence gap",
            "The server expected seq 43 from this device but got 45",
        )
        .with("expected_seq", json!(43)),
    );
    golden(
        "problem_app_too_old",
        &Problem::new(
            426,
            "session.app_too_old",
            "App too old",
            "Perbarui aplikasi ke versi 0.2.0 atau lebih baru",
        )
        .with("min_app_version", json!("0.2.0"))
        .with("schemas", json!([2])),
    );
}

#[test]
fn every_golden_file_is_checked() {
    let checked = [
        "session_request",
        "session_response",
        "push_request",
        "push_request_packed",
        "push_response",
        "pull_response",
        "attachment_status",
        "review_list",
        "decision_request",
        "decision_response",
        "decision_supersede_request",
        "decision_supersede_response",
        "problem_seq_gap",
        "problem_app_too_old",
    ];
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    files.sort();
    let mut expected: Vec<String> = checked.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(
        files, expected,
        "a golden file without a test, or a test without a file"
    );
}

#[test]
fn bad_ops_decode_to_coded_errors() {
    let e = OpBody::decode("visit.delete", "{}").unwrap_err();
    assert_eq!(e.code(), "op.unknown_type");
    let e = OpBody::decode("batch.submit", r#"{"batch_id": 5}"#).unwrap_err();
    assert_eq!(e.code(), "op.payload");
    let e = OpBody::decode("visit.record", r#"{"visit_id": "x"}"#).unwrap_err();
    assert_eq!(e.code(), "op.payload");
    let bad_hlc = json!({"op_id": "0190f1e0-0000-7000-8000-000000000000", "seq": 1, "hlc": "soon", "schema": 1, "type": "batch.submit", "payload": {}});
    assert!(serde_json::from_str::<Op>(&bad_hlc.to_string()).is_err());
}

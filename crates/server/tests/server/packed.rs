//! Packed payloads (`payload_packed`, a v1 addition) on both backends: a visit sent as the
//! frame its device's outbox holds is checked like any payload and stored as that frame, byte for
//! byte; a packed payload that is not one readable frame of text refuses its op alone; frames
//! that claim more text in all than a body may hold refuse the push before any is unpacked.

use crate::common::*;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::value::RawValue;
use uuid::Uuid;
use verivali_domain::Role;
use verivali_domain::packed;
use verivali_protocol::{Op, OpBody, OpStatus};

/// `op` with its payload sent packed as `frame` (base64), `payload` null.
fn packed_as(mut op: Op, frame: &[u8]) -> Op {
    op.payload = RawValue::NULL.to_owned();
    op.payload_packed = Some(base64::engine::general_purpose::STANDARD.encode(frame));
    op
}

/// The stored record of a visit: its bytes' length and its text (reads unpack it).
async fn stored(s: &TestServer, visit: Uuid) -> (i64, String) {
    let app = s.app.clone();
    tokio::task::spawn_blocking(move || {
        let mut tx = app.db.read().unwrap();
        let row = tx
            .query_opt(
                "SELECT length(record), record FROM visits WHERE id = $1",
                &[visit.into()],
            )
            .unwrap()
            .expect("the visit is stored");
        (row.i64(0), row.text(1))
    })
    .await
    .unwrap()
}

async fn packed_payloads(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 8, 7).await;
    let mut d = s.sign_in("petugas").await;
    let ops: Vec<Op> = hh
        .iter()
        .enumerate()
        .map(|(i, (h, m))| d.op(&OpBody::VisitRecord(Box::new(visit(h, m, i as u64)))))
        .collect();
    let texts: Vec<String> = ops.iter().map(|o| o.payload.get().to_string()).collect();
    let frames: Vec<Vec<u8>> = texts.iter().map(|t| packed::pack(t).unwrap()).collect();
    let mut sent = ops.clone();
    // 0 as text; 1 and 7 packed; the rest packed wrongly, each in its own way.
    sent[1] = packed_as(ops[1].clone(), &frames[1]);
    sent[2] = Op {
        payload_packed: Some("not base64!".into()),
        ..packed_as(ops[2].clone(), &frames[2])
    };
    sent[3] = Op {
        payload: ops[3].payload.clone(),
        ..packed_as(ops[3].clone(), &frames[3])
    };
    let mut trailing = frames[4].clone();
    trailing.push(0);
    sent[4] = packed_as(ops[4].clone(), &trailing);
    sent[5] = packed_as(ops[5].clone(), &frames[5][..frames[5].len() - 3]);
    // One readable frame, but not of a visit.
    sent[6] = packed_as(ops[6].clone(), &packed::pack("{\"visit_id\":1}").unwrap());
    sent[7] = packed_as(ops[7].clone(), &frames[7]);
    let unpacked = s.app.metrics.payloads_packed.get();
    let r = d.push(&sent).await;
    assert!(
        r.payload_packed,
        "this server says it takes packed payloads"
    );
    assert_eq!(
        s.app.metrics.payloads_packed.get() - unpacked,
        3,
        "the frames of 1, 6 and 7 were read as sent"
    );
    assert_eq!(r.acked_through, 8);
    for (i, x) in r.results.iter().enumerate() {
        let want = match i {
            0 | 1 | 7 => OpStatus::Applied,
            _ => OpStatus::Rejected,
        };
        assert_eq!(x.status, want, "op {i}: {x:?}");
        let code = x.error.as_ref().map(|e| e.code.as_str());
        match i {
            2..=5 => assert_eq!(code, Some("op.payload_packed"), "op {i}: {x:?}"),
            6 => assert!(code.is_some_and(|c| c != "op.payload_packed"), "{x:?}"),
            _ => assert_eq!(code, None),
        }
    }
    // Stored as the frame it came in, and read back as the text it holds.
    for i in [1, 7] {
        let id = hh_visit(&ops[i]);
        assert_eq!(
            stored(&s, id).await,
            (frames[i].len() as i64, texts[i].clone())
        );
    }
    // The text one is packed by the server, to the same bytes.
    assert_eq!(
        stored(&s, hh_visit(&ops[0])).await,
        (frames[0].len() as i64, texts[0].clone())
    );
    assert_eq!(s.count("SELECT count(*) FROM visits").await, 3);

    // Frames that claim more text in all than a push body may hold (16 MiB): the push is
    // refused whole, before any is unpacked, and nothing of it is stored or acknowledged.
    let big = packed::pack(&" ".repeat(9 << 20)).unwrap();
    assert!(big.len() < 4096, "a few bytes claim 9 MiB");
    let again: Vec<Op> = (0..2)
        .map(|i| {
            let op = d.op(&OpBody::VisitRecord(Box::new(visit(
                &hh[i].0, &hh[i].1, 50,
            ))));
            packed_as(op, &big)
        })
        .collect();
    let (status, body) = problem(d.push_raw(&again).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "request.too_large");
    // One of them alone is within the limit, and refused as the op it is (spaces are no visit).
    d.seq -= 2;
    let one = vec![packed_as(
        d.op(&OpBody::VisitRecord(Box::new(visit(
            &hh[0].0, &hh[0].1, 50,
        )))),
        &big,
    )];
    let r = d.push(&one).await;
    assert_eq!(
        (r.acked_through, r.results[0].status),
        (9, OpStatus::Rejected)
    );
    assert_eq!(s.count("SELECT count(*) FROM visits").await, 3);
}

/// The visit an op records.
fn hh_visit(op: &Op) -> Uuid {
    match op.body().unwrap() {
        OpBody::VisitRecord(v) => v.visit_id,
        other => panic!("not a visit: {other:?}"),
    }
}

both_backends!(payloads, packed_payloads);

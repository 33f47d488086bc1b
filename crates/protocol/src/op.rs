//! `POST /api/v1/sync/push`: the ops of the outbox and the server's answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;
use verivali_domain::hlc::Hlc;
use verivali_domain::{Batch, VisitRecord};

use crate::ProtocolError;

/// One op as it travels: envelope fields plus a typed payload kept as JSON, so that a server can
/// answer `rejected` for an unknown type or bad payload without refusing the whole push. The
/// payload stays raw text from the outbox to the server's decoder (or, to a server that takes
/// them, the outbox's frame of that text: [`Op::payload_packed`]): building a JSON tree on the
/// way (and serialising it again on the device) was a third of a push's CPU on both sides.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Op {
    /// Op id (UUIDv7); the server applies each op id once.
    pub op_id: Uuid,
    /// Per-device sequence, gap-free from 1.
    pub seq: u64,
    /// Hybrid logical clock time of the change.
    pub hlc: Hlc,
    /// Schema version of the payload.
    pub schema: u32,
    /// `visit.record`, `household.propose` or `batch.submit`.
    #[serde(rename = "type")]
    pub op_type: String,
    /// The payload of that type, as JSON text (`null` when it travels packed).
    pub payload: Box<RawValue>,
    /// The payload packed instead, a v1 addition: one zstd frame of the payload's JSON text as
    /// the device's outbox stores it ([`verivali_domain::packed`]: the visit dictionary, or none),
    /// in standard base64. A device sends it only to a server whose push answers said
    /// [`PushResponse::payload_packed`], and `payload` is then `null`. The server unpacks it,
    /// checks the text like any payload, and stores a visit's frame as it came: neither side
    /// unpacks and packs a record again on the way (docs/benchmarks.md, twenty-first pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_packed: Option<String>,
}

impl PartialEq for Op {
    fn eq(&self, o: &Op) -> bool {
        (
            self.op_id,
            self.seq,
            &self.hlc,
            self.schema,
            &self.op_type,
            self.payload.get(),
            &self.payload_packed,
        ) == (
            o.op_id,
            o.seq,
            &o.hlc,
            o.schema,
            &o.op_type,
            o.payload.get(),
            &o.payload_packed,
        )
    }
}

/// A household not in the baseline (usulan baru).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdProposal {
    /// Id made on the device.
    pub household_id: Uuid,
    /// 10-digit desa code.
    pub kode_desa: String,
    /// The household's editable fields, as for a baseline household (a name not yet known is
    /// empty; `null` and a missing `nama_krt` read as empty too, as older apps sent them).
    #[serde(flatten)]
    pub fields: verivali_domain::HouseholdFields,
}

impl std::ops::Deref for HouseholdProposal {
    type Target = verivali_domain::HouseholdFields;
    fn deref(&self) -> &verivali_domain::HouseholdFields {
        &self.fields
    }
}

/// The typed payloads of v1.
#[derive(Debug, Clone, PartialEq)]
pub enum OpBody {
    /// `visit.record`.
    VisitRecord(Box<VisitRecord>),
    /// `household.propose`.
    HouseholdPropose(HouseholdProposal),
    /// `batch.submit`.
    BatchSubmit(Batch),
}

impl OpBody {
    /// The wire type name.
    pub fn op_type(&self) -> &'static str {
        match self {
            OpBody::VisitRecord(_) => "visit.record",
            OpBody::HouseholdPropose(_) => "household.propose",
            OpBody::BatchSubmit(_) => "batch.submit",
        }
    }

    /// The payload as JSON.
    pub fn payload(&self) -> Result<Box<RawValue>, serde_json::Error> {
        match self {
            OpBody::VisitRecord(v) => serde_json::value::to_raw_value(v),
            OpBody::HouseholdPropose(p) => serde_json::value::to_raw_value(p),
            OpBody::BatchSubmit(b) => serde_json::value::to_raw_value(b),
        }
    }

    /// Decodes an op's payload by its type.
    pub fn decode(op_type: &str, payload: &str) -> Result<OpBody, ProtocolError> {
        fn typed<T: serde::de::DeserializeOwned>(t: &str, p: &str) -> Result<T, ProtocolError> {
            serde_json::from_str(p).map_err(|e| ProtocolError::Payload {
                op_type: t.into(),
                detail: e.to_string(),
            })
        }
        Ok(match op_type {
            "visit.record" => OpBody::VisitRecord(Box::new(typed(op_type, payload)?)),
            "household.propose" => OpBody::HouseholdPropose(typed(op_type, payload)?),
            "batch.submit" => OpBody::BatchSubmit(typed(op_type, payload)?),
            other => {
                return Err(ProtocolError::UnknownOpType(
                    other.chars().take(64).collect(),
                ));
            }
        })
    }

    /// The id of the entity the op is about (visit, household or batch).
    pub fn entity_id(&self) -> Uuid {
        match self {
            OpBody::VisitRecord(v) => v.visit_id,
            OpBody::HouseholdPropose(p) => p.household_id,
            OpBody::BatchSubmit(b) => b.batch_id,
        }
    }
}

impl Op {
    /// Decodes this op's payload.
    pub fn body(&self) -> Result<OpBody, ProtocolError> {
        OpBody::decode(&self.op_type, self.payload.get())
    }
}

/// A push of queued ops, in `seq` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    /// The pushing device.
    pub device_id: Uuid,
    /// Ops in ascending `seq`.
    pub ops: Vec<Op>,
}

/// An op on its way out of a device: the envelope of an [`Op`] and its payload as the JSON text
/// the device's store holds, or the store's frame of that text ([`OutgoingPayload::Packed`]).
/// That text was written by serialising a value when the op was
/// queued, and the store authenticates every page it reads (SQLCipher's HMAC), so it goes into
/// the body as it is: turning it into a [`RawValue`] checked all of it again, 8 % of the device's
/// CPU in a 10,000-visit sync (docs/benchmarks.md, sixteenth pass).
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingOp {
    pub op_id: Uuid,
    pub seq: u64,
    pub hlc: Hlc,
    pub schema: u32,
    pub op_type: String,
    pub payload: OutgoingPayload,
}

/// An [`OutgoingOp`]'s payload.
#[derive(Debug, Clone, PartialEq)]
pub enum OutgoingPayload {
    /// JSON text, sent as `payload`.
    Text(String),
    /// One zstd frame of the JSON text as the outbox stores it, sent as `payload_packed` (only
    /// to a server that said it takes it).
    Packed(Vec<u8>),
}

/// An [`Op`]'s fields but its payload, serialised as [`Op`] names them.
#[derive(Serialize)]
struct OpHead<'a> {
    op_id: Uuid,
    seq: u64,
    hlc: &'a Hlc,
    schema: u32,
    #[serde(rename = "type")]
    op_type: &'a str,
}

/// Appends the body of a push of `ops` to `out`: the same bytes as serialising a
/// [`PushRequest`] of them (`a_written_push_is_the_serialised_request`), with each payload's
/// text copied, not parsed, and each packed one's frame in base64 (`payload` then `null`). Text
/// payloads must be JSON texts without surrounding whitespace, as
/// `serde_json::to_string` writes them (the device's store writes every payload that way; a
/// [`RawValue`] would have trimmed such whitespace, this does not).
pub fn write_push(
    out: &mut Vec<u8>,
    device_id: Uuid,
    ops: &[OutgoingOp],
) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b"{\"device_id\":");
    serde_json::to_writer(&mut *out, &device_id)?;
    out.extend_from_slice(b",\"ops\":[");
    for (i, op) in ops.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let head = OpHead {
            op_id: op.op_id,
            seq: op.seq,
            hlc: &op.hlc,
            schema: op.schema,
            op_type: &op.op_type,
        };
        serde_json::to_writer(&mut *out, &head)?;
        // The head's closing brace gives way to the payload, the last of Op's fields.
        out.pop();
        match &op.payload {
            OutgoingPayload::Text(text) => {
                out.extend_from_slice(b",\"payload\":");
                out.extend_from_slice(text.as_bytes());
            }
            OutgoingPayload::Packed(frame) => {
                use base64::Engine;
                // Base64's alphabet needs no escaping in a JSON string.
                out.extend_from_slice(b",\"payload\":null,\"payload_packed\":\"");
                let at = out.len();
                let len = base64::encoded_len(frame.len(), true).ok_or_else(|| {
                    serde_json::Error::io(std::io::Error::other("payload too large"))
                })?;
                out.resize(at + len, 0);
                base64::engine::general_purpose::STANDARD
                    .encode_slice(frame, &mut out[at..])
                    .map_err(|e| serde_json::Error::io(std::io::Error::other(e)))?;
                out.push(b'"');
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Ok(())
}

/// What became of one op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    /// Applied now.
    Applied,
    /// Applied before; nothing changed.
    Duplicate,
    /// Refused for good (see `error`); acknowledged all the same.
    Rejected,
}

/// The reason for a rejection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpError {
    /// Stable code (`visit.locked`, `nik.format`, `area.forbidden`…).
    pub code: String,
    /// Message for people, in the language the request asked for.
    pub message: String,
    /// The field it is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Result for one op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpResult {
    /// The op.
    pub op_id: Uuid,
    /// What happened.
    pub status: OpStatus,
    /// Why, for `rejected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OpError>,
}

/// The answer to a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    /// Every op with `seq` up to this is acknowledged and may leave the outbox.
    pub acked_through: u64,
    /// One result per op of the request.
    pub results: Vec<OpResult>,
    /// The server's clock.
    pub server_time: DateTime<Utc>,
    /// This server takes [`Op::payload_packed`] (a v1 addition): the device may send its later
    /// pushes so. Absent (false) from a server before it, which then never receives one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub payload_packed: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn op(seq: u64, op_type: &str, payload: &str) -> OutgoingOp {
        with(seq, op_type, OutgoingPayload::Text(payload.into()))
    }

    fn with(seq: u64, op_type: &str, payload: OutgoingPayload) -> OutgoingOp {
        OutgoingOp {
            op_id: Uuid::now_v7(),
            seq,
            hlc: Hlc {
                wall_ms: 1_765_000_000_000 + seq as i64,
                counter: seq as u32 % 3,
                device: Uuid::now_v7(),
            },
            schema: 1,
            op_type: op_type.into(),
            payload,
        }
    }

    /// The written body is byte for byte what serde makes of the same request (so the server
    /// reads it as it reads any push), for none, one and several ops, with text that needs
    /// escaping in the envelope, payloads of every shape, and packed payloads (base64 of every
    /// padding: frames of 0, 1, 2 and 3 bytes mod 3) beside text ones.
    #[test]
    fn a_written_push_is_the_serialised_request() {
        let device = Uuid::now_v7();
        let cases = vec![
            vec![],
            vec![op(1, "visit.record", r#"{"a":1,"b":"x\"y\u00e9"}"#)],
            vec![
                op(7, "batch.submit", r#"{"visit_ids":["z"]}"#),
                op(8, "ty\"pe\\ with \u{1}", "[1,2.5,null]"),
                op(9, "household.propose", "\"text\""),
            ],
            vec![
                with(
                    10,
                    "visit.record",
                    OutgoingPayload::Packed(vec![0x28, 0xb5, 0x2f]),
                ),
                op(11, "batch.submit", r#"{"visit_ids":[]}"#),
                with(12, "visit.record", OutgoingPayload::Packed(vec![0xff; 4])),
                with(13, "visit.record", OutgoingPayload::Packed(vec![7; 5])),
                with(14, "visit.record", OutgoingPayload::Packed(Vec::new())),
            ],
        ];
        for ops in cases {
            let mut written = Vec::new();
            write_push(&mut written, device, &ops).unwrap();
            let request = PushRequest {
                device_id: device,
                ops: ops
                    .iter()
                    .map(|o| {
                        use base64::Engine;
                        let (payload, payload_packed) = match &o.payload {
                            OutgoingPayload::Text(t) => (RawValue::from_string(t.clone()), None),
                            OutgoingPayload::Packed(z) => (
                                RawValue::from_string("null".into()),
                                Some(base64::engine::general_purpose::STANDARD.encode(z)),
                            ),
                        };
                        Op {
                            op_id: o.op_id,
                            seq: o.seq,
                            hlc: o.hlc,
                            schema: o.schema,
                            op_type: o.op_type.clone(),
                            payload: payload.unwrap(),
                            payload_packed,
                        }
                    })
                    .collect(),
            };
            assert_eq!(
                String::from_utf8(written.clone()).unwrap(),
                serde_json::to_string(&request).unwrap()
            );
            let read: PushRequest = serde_json::from_slice(&written).unwrap();
            assert_eq!(read, request);
        }
    }
}

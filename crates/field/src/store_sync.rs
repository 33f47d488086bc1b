//! The device store seen by the sync client: outbox ops become protocol ops, push answers become
//! acknowledgements, pulled changes become domain items applied with their cursor.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use verivali_protocol::pull::ChangeData;
use verivali_protocol::{
    ChangeKind, OpStatus, OutgoingOp, OutgoingPayload, PullResponse, PushResponse,
};
use verivali_store::{OutboxOp, Pulled, Rejection, StoredPayload};

use crate::device::StoreAccess;
use verivali_sync::{LocalError, LocalStore};

/// A device store seen by a sync: `StoreSync(&mut store)` holds it for the whole sync,
/// `StoreSync(shared)` one call at a time (see [`StoreAccess`]).
pub struct StoreSync<A>(pub A);

fn parse_id(id: &str) -> Result<Uuid, LocalError> {
    Uuid::parse_str(id).map_err(|e| format!("change id {id:?}: {e}").into())
}

impl<A: StoreAccess> LocalStore for StoreSync<A> {
    fn device_id(&self) -> Uuid {
        self.0.device_id()
    }

    fn pending_ops(
        &mut self,
        after_seq: u64,
        max_ops: usize,
        max_bytes: usize,
        packed: bool,
    ) -> Result<Vec<OutgoingOp>, LocalError> {
        // The outbox's text or frame as it is (see `OutgoingOp`): neither checked again nor
        // rebuilt.
        let op = |o: OutboxOp<OutgoingPayload>| OutgoingOp {
            op_id: o.op_id,
            seq: o.seq,
            hlc: o.hlc,
            schema: o.schema,
            op_type: o.op_type,
            payload: o.payload,
        };
        let ops = match packed {
            true => self
                .0
                .with(|s| s.pending_ops_as_stored(after_seq, max_ops, max_bytes))?
                .into_iter()
                .map(|o| {
                    op(o.map(|p| match p {
                        StoredPayload::Text(t) => OutgoingPayload::Text(t),
                        StoredPayload::Packed(z) => OutgoingPayload::Packed(z),
                    }))
                })
                .collect(),
            false => self
                .0
                .with(|s| s.pending_ops_after(after_seq, max_ops, max_bytes))?
                .into_iter()
                .map(|o| op(o.map(OutgoingPayload::Text)))
                .collect(),
        };
        Ok(ops)
    }

    fn acknowledge(&mut self, answer: &PushResponse) -> Result<(), LocalError> {
        let rejections: Vec<Rejection> = answer
            .results
            .iter()
            .filter(|r| r.status == OpStatus::Rejected)
            .map(|r| {
                let e = r.error.clone().unwrap_or(verivali_protocol::OpError {
                    code: "op.rejected".into(),
                    message: String::new(),
                    field: None,
                });
                Rejection {
                    op_id: r.op_id,
                    code: e.code,
                    message: e.message,
                    field: e.field,
                }
            })
            .collect();
        Ok(self
            .0
            .with(|s| s.acknowledge(answer.acked_through, &rejections, answer.server_time))?)
    }

    fn pull_cursor(&mut self) -> Result<String, LocalError> {
        Ok(self.0.with(|s| s.pull_cursor())?)
    }

    fn apply_page(&mut self, page: &PullResponse) -> Result<(), LocalError> {
        let mut items = Vec::with_capacity(page.changes.len());
        for c in &page.changes {
            let item = match (c.kind, c.decode()?) {
                (ChangeKind::Household, None) => Pulled::HouseholdGone(parse_id(&c.id)?),
                (ChangeKind::Member, None) => Pulled::MemberGone(parse_id(&c.id)?),
                (_, None) => continue,
                (_, Some(ChangeData::Household(h))) => {
                    let household_id = h.id;
                    items.push(Pulled::Household(*h));
                    match c.assignment() {
                        Some(terms) => Pulled::Assignment {
                            household_id,
                            terms,
                        },
                        None => continue,
                    }
                }
                (_, Some(ChangeData::Member(m))) => Pulled::Member {
                    household_id: m.household_id,
                    member: m.member,
                },
                (_, Some(ChangeData::Visit(v))) => Pulled::Visit {
                    record: Box::new(v.record),
                    state: v.state,
                },
                (_, Some(ChangeData::Review(r))) => Pulled::Review {
                    id: parse_id(&c.id)?,
                    event: r,
                },
                (_, Some(ChangeData::Questionnaire(q))) => Pulled::Questionnaire(q),
            };
            items.push(item);
        }
        self.0
            .with(|s| s.apply_pulled(&items, &page.next_cursor, page.server_time))?;
        Ok(())
    }

    fn photos_to_upload(&mut self) -> Result<Vec<(String, u64)>, LocalError> {
        Ok(self.0.with(|s| s.photos_to_upload())?)
    }

    fn photo_chunk(&mut self, sha256: &str, offset: u64, len: u64) -> Result<Vec<u8>, LocalError> {
        self.0
            .with(|s| s.photo_chunk(sha256, offset, len))?
            .ok_or_else(|| format!("photo {sha256} is not on this device").into())
    }

    fn photo_uploaded(&mut self, sha256: &str) -> Result<(), LocalError> {
        Ok(self.0.with(|s| s.mark_photo_uploaded(sha256))?)
    }

    fn sync_finished(&mut self, at: DateTime<Utc>) -> Result<(), LocalError> {
        Ok(self.0.with(|s| s.set_last_sync(at))?)
    }
}

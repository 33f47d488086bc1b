//! `POST /api/v1/sync/push`.
//!
//! A push is one transaction: the device row is locked, duplicates (a known op id, or a seq at or
//! below the acknowledged one) answer `duplicate`, the rest must continue the device's sequence
//! without a gap (else 409 with the expected seq and nothing applied), and each op is applied or
//! rejected with a coded reason. A rejected op is acknowledged like an applied one, so it never
//! blocks the ops behind it. Every op's result is remembered by op id.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::json;
use serde_json::value::RawValue;
use std::collections::HashMap;
use uuid::Uuid;
use verivali_domain::{
    Action, Coded, Household, HouseholdFound, Lang, Report, Role, VisitContext, VisitRecord,
    VisitState, transition,
};
use verivali_protocol::{
    HouseholdProposal, OpBody, OpError, OpResult, OpStatus, PushRequest, PushResponse,
};

use crate::app::{App, Caller, Metrics, SCHEMAS};
use crate::db::{DbError, DbResult, Sql, Value};
use crate::error::{ApiError, Refusal};
use crate::repo::{self, Audit, VisitRow};

use super::{MAX_OPS_PER_PUSH, audit, pushed_change, pushed_visit_change};

/// Pushes of at least this many ops are prepared on two threads ([`App::prepare_all`]); the
/// pushes of 100 that 200 devices send at once keep the cores busy without it.
const PARALLEL_PREPARE: usize = 200;

/// What the transactional part of a push produced: the new acknowledged seq, the per-op results,
/// counts of applied, duplicate and rejected ops, and what it loaded, handed out to be freed
/// after the write lock is released (freeing a thousand decoded records is not work the pushes
/// queued behind this one should wait for). The records as stored are the exception: each
/// (packed here, or the frame a device sent) is moved into its row's statement and freed there,
/// a single free where copying it was a copy and an allocation.
type Pushed = (u64, Vec<OpResult>, [u64; 3], Loaded);

/// What a push looked up once for all its ops, kept current as the ops change it.
struct Loaded {
    /// The desa of each household in the caller's area.
    households: HashMap<Uuid, String>,
    visits: HashMap<Uuid, VisitRow>,
    /// Records of the visits recorded in this push (packed JSON), written once their
    /// flags are known, after every op: their rows in `visits` say the state they end the push in.
    pending: HashMap<Uuid, Value>,
    /// Photos `(sha256, visit)` that visits recorded again in this push used before.
    rerecorded: Vec<(String, Uuid)>,
    /// Change-feed entries of the visits recorded, written together (in op order, before any
    /// other change an op of this push makes: a proposal, a batch).
    feed: Vec<repo::PushedChange>,
    /// Visits stored before and recorded again with another finish time, each with the one the
    /// server held: a visit moved to another period is no longer the second visit of its old
    /// period's visits, and the checks count theirs again (`quality::refresh`).
    moved: HashMap<Uuid, Option<DateTime<Utc>>>,
}

impl Loaded {
    fn flush_feed(&mut self, tx: &mut dyn Sql, origin: Uuid, now: DateTime<Utc>) -> DbResult<()> {
        repo::append_pushed_visit_changes(tx, &self.feed, origin, now)?;
        self.feed.clear();
        Ok(())
    }
}

/// An op's payload as it arrived: JSON text, or packed (`payload_packed`, base64 decoded; `None`
/// when it was not base64, or came beside a `payload` that was not `null`).
enum Arrived {
    Text(Box<RawValue>),
    Packed(Option<Vec<u8>>),
}

/// An op's payload being prepared: JSON text as it arrived, or a packed one's text with its frame.
enum Payload {
    Text(Box<RawValue>),
    Unpacked(String, Vec<u8>),
}

impl Payload {
    fn get(&self) -> &str {
        match self {
            Payload::Text(raw) => raw.get(),
            Payload::Unpacked(text, _) => text,
        }
    }
}

/// An op after the checks that need no database.
enum Prepared {
    Visit {
        /// The decoded record, validated, *without its answers* (`answers` is empty): the write
        /// and the quality checks read its ids, revision, outcome, baseline version, members,
        /// photos, GPS, paradata and times, never the answers (the stored `json` keeps them).
        record: Box<VisitRecord>,
        /// The record as it will be stored ([`App::stored_record`]).
        json: Value,
    },
    Proposal(HouseholdProposal),
    Batch(verivali_domain::Batch),
    Rejected(Reject),
}

/// An op refused for good.
struct Reject {
    code: String,
    message: String,
    field: Option<String>,
}

impl Reject {
    fn new(code: &str, lang: Lang, id: &str, en: &str) -> Reject {
        Reject {
            code: code.into(),
            message: if lang == Lang::En {
                en.into()
            } else {
                id.into()
            },
            field: None,
        }
    }

    fn coded(c: &dyn Coded, lang: Lang) -> Reject {
        Reject {
            code: c.code().into(),
            message: c.message(lang),
            field: None,
        }
    }

    fn from_report(r: &Report, lang: Lang) -> Reject {
        match r.errors.first() {
            Some(first) => Reject {
                code: first.issue.code().into(),
                message: first.issue.message(lang),
                field: Some(first.field.clone()),
            },
            None => Reject::new("op.invalid", lang, "Data tidak valid", "Invalid data"),
        }
    }
}

/// A packed payload that is not one readable frame of text (that op alone is refused).
fn bad_packed(lang: Lang, why: &dyn std::fmt::Display) -> Reject {
    Reject {
        code: "op.payload_packed".into(),
        message: if lang == Lang::En {
            format!("The packed payload cannot be read: {why}")
        } else {
            format!("Data terkemas tidak dapat dibaca: {why}")
        },
        field: Some("payload_packed".into()),
    }
}

fn area_forbidden(lang: Lang) -> Reject {
    Reject::new(
        "area.forbidden",
        lang,
        "Rumah tangga ini tidak ada di wilayah tugas Anda",
        "This household is not in your assigned area",
    )
}

/// Runs the part of a push that comes before its write transaction on a thread of its own at a
/// lower CPU priority ([`crate::priority`]; the threads it starts inherit it), and waits for it.
///
/// Why: the write transaction is serial, and it is the critical path of a large sync: with a
/// device's pushes pipelined, the writer ran without a pause from one push to the next, while
/// the next push's decoding (two threads) and the checkpointer shared the two cores with it, so
/// the writer got about two thirds of one. With the preparing threads behind it, a 10,000-visit
/// sync took 0.58 s instead of 0.60 s (medians of seven, alternated; never slower in a pair),
/// and ingest with 200 devices was no lower (docs/benchmarks.md, fifth pass). Nothing waits on
/// them but their own push, which a busier CPU would have delayed anyway.
fn behind_the_writer<T: Send>(
    work: impl FnOnce() -> Result<T, ApiError> + Send,
) -> Result<T, ApiError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            crate::priority::lower();
            work()
        })
        .join()
        .map_err(|_| ApiError::from(DbError::Aborted))?
    })
}

impl App {
    /// Applies a push.
    pub fn push(&self, caller: &Caller, mut req: PushRequest) -> Result<PushResponse, ApiError> {
        let lang = caller.lang;
        if req.device_id != caller.device.id {
            return Err(ApiError::new(
                Refusal::Forbidden,
                "sync.device_mismatch",
                "Device mismatch",
                lang,
                "Token ini milik perangkat lain",
                "This token belongs to another device",
            ));
        }
        if caller.user.role != Role::Enumerator {
            return Err(ApiError::forbidden(lang));
        }
        if req.ops.len() > MAX_OPS_PER_PUSH {
            return Err(ApiError::bad_request(
                lang,
                &format!("at most {MAX_OPS_PER_PUSH} ops per push"),
            ));
        }
        if req.ops.windows(2).any(|w| w[1].seq <= w[0].seq) {
            return Err(ApiError::bad_request(
                lang,
                "ops must be in ascending seq order",
            ));
        }
        if let Some(old) = req.ops.iter().find(|o| o.schema < SCHEMAS[0]) {
            return Err(crate::app::app_too_old(lang).with("op_schema", json!(old.schema)));
        }
        let now = self.now();
        // Each op's payload moves out of the request: a visit's is stored as sent, and moving
        // its text (or its frame) into the row spares a copy per visit (4 MB of fresh memory per
        // push of 2,000 texts, each page of it faulted in). Nothing reads `req.ops[..].payload`
        // or `payload_packed` after this.
        let payloads: Vec<Arrived> = req
            .ops
            .iter_mut()
            .map(|o| {
                let text = std::mem::replace(&mut o.payload, RawValue::NULL.to_owned());
                match o.payload_packed.take() {
                    None => Arrived::Text(text),
                    Some(b64) if text.get() == "null" => {
                        Arrived::Packed(base64::engine::general_purpose::STANDARD.decode(b64).ok())
                    }
                    Some(_) => Arrived::Packed(None),
                }
            })
            .collect();
        // What the packed payloads say they hold, bounded as a body's text is: a frame of a few
        // bytes may claim megabytes, and a push of them must not be unpacked at all.
        let claimed = payloads
            .iter()
            .filter_map(|p| match p {
                Arrived::Packed(Some(z)) => verivali_domain::packed::text_len(z),
                _ => None,
            })
            .fold(0usize, usize::saturating_add);
        if claimed > crate::http::MAX_BODY {
            return Err(ApiError::new(
                Refusal::TooLarge,
                "request.too_large",
                "Request too large",
                lang,
                "Permintaan terlalu besar",
                "Request too large",
            ));
        }
        let req = &req;
        // Registered before the work outside the lock, so a later push of this device (sent
        // before this one was answered) waits for this one before its write transaction.
        let turn = req
            .ops
            .first()
            .map(|o| self.push_order.enter(caller.device.id, o.seq));
        // Decoding, validation and the evidence need no write lock: done before it, so
        // concurrent pushes share the CPUs instead of queueing behind it, and at a lower priority
        // (`behind_the_writer`), so they do not take a CPU from the push holding it.
        let (prepared, settled) = behind_the_writer(|| {
            let prepared = self.prepare_all(caller, &req.ops, payloads, now)?;
            // The quality evidence no push changes, read from a snapshot outside the write lock.
            let settled = {
                let mut tx = self.db.read()?;
                crate::quality::Settled::gather(
                    tx.as_mut(),
                    prepared.iter().filter_map(|p| match p {
                        Prepared::Visit { record, .. } => Some(&**record),
                        _ => None,
                    }),
                )?
            };
            Ok::<_, ApiError>((prepared, settled))
        })?;
        if let Some(t) = &turn {
            t.wait_for_earlier();
        }
        let mut prepared = Some(prepared);
        // This device's next push may take the writer once this one is committed, while this
        // one's commit goes to the disk (`db::sqlite`, durability outside the write lock): the
        // turn is given up then, and this push is answered only once its commit is durable.
        let turn = std::cell::Cell::new(turn);
        let mut write = || {
            self.run_write_once_then(
                |tx| self.apply_push(tx, caller, req, &mut prepared, &settled, now),
                || drop(turn.take()),
            )
        };
        let mut pushed = write();
        // Overtaken by this device's own later push on another connection: once the push ahead
        // has arrived and is done, the write is tried again (the seq check decides again), with
        // the turn back in place to be given up the same way.
        if let Err(e) = &pushed
            && e.code == "sync.seq_gap"
            && let Some(t) = turn.take()
        {
            let again = t.wait_for_predecessor();
            turn.set(Some(t));
            if again {
                pushed = write();
            }
        }
        drop(turn.take());
        let (acked, results, [applied, duplicate, rejected], spent) = pushed?;
        // Freed on a thread of its own, behind the pushes (nice 10): a push's decoded records are
        // thousands of small allocations, and the answer need not wait for them.
        let _ = std::thread::Builder::new()
            .name("push-free".into())
            .spawn(move || {
                crate::priority::lower();
                drop(spent);
            });
        Metrics::add(&self.metrics.pushes, 1);
        Metrics::add(&self.metrics.ops_applied, applied);
        Metrics::add(&self.metrics.ops_duplicate, duplicate);
        Metrics::add(&self.metrics.ops_rejected, rejected);
        Ok(PushResponse {
            acked_through: acked,
            results,
            server_time: now,
            payload_packed: true,
        })
    }

    /// The transactional part of a push: lock the device, check the sequence, apply each op,
    /// remember its result, write one audit entry per kind of change, advance the acknowledgement.
    /// `Ok(Err(_))` is a refusal of the whole push (nothing written). `prepared` is taken once
    /// the sequence is found to continue (a push refused for a gap can be tried again).
    fn apply_push(
        &self,
        tx: &mut dyn Sql,
        caller: &Caller,
        req: &PushRequest,
        prepared: &mut Option<Vec<Prepared>>,
        settled: &crate::quality::Settled,
        now: DateTime<Utc>,
    ) -> DbResult<Result<Pushed, ApiError>> {
        let lang = caller.lang;
        // The households this push records visits of, locked first (PostgreSQL; see
        // repo::lock_households).
        let touched: Vec<Uuid> = prepared
            .iter()
            .flatten()
            .filter_map(|p| match p {
                Prepared::Visit { record, .. } => Some(record.household_id),
                _ => None,
            })
            .collect();
        // A push recording visits takes the rules' lock, shared, before the households' locks
        // (the only writers of the rules take it first too); one without visits applies no rule.
        if !touched.is_empty() {
            repo::share_rules(tx)?;
        }
        repo::lock_households(tx, &touched)?;
        let Some(device) = repo::device_for_update(tx, caller.device.id)? else {
            return Ok(Err(ApiError::unauthorized(lang, "auth.invalid_token")));
        };
        let acked = device.acked_seq;
        // No gap: the ops after the acknowledged seq must continue it one by one.
        for (expected, op) in (acked + 1..).zip(req.ops.iter().filter(|o| o.seq > acked)) {
            if op.seq != expected {
                return Ok(Err(ApiError::new(
                    Refusal::Conflict,
                    "sync.seq_gap",
                    "Sequence gap",
                    lang,
                    &format!(
                        "Server menunggu seq {expected} dari perangkat ini, bukan {}",
                        op.seq
                    ),
                    &format!(
                        "The server expected seq {expected} from this device but got {}",
                        op.seq
                    ),
                )
                .with("expected_seq", json!(expected))));
            }
        }
        let prepared = prepared.take().ok_or(DbError::Aborted)?;
        // The checks' reads of the visits themselves go to a second core while the ops are
        // applied (`quality::ReadAhead`), when a snapshot taken now sees what this transaction
        // will see at the checks: the writer's first job of its group (nothing else pending, no
        // other commit until this one ends) and a large push of visit records alone (they write
        // their visits after the checks; a batch changes visit states before them).
        let visits_only = prepared
            .iter()
            .all(|p| matches!(p, Prepared::Visit { .. } | Prepared::Rejected(_)));
        let ahead_of: Option<Vec<(Uuid, Option<DateTime<Utc>>)>> = (tx.alone_with_the_writer()
            && visits_only
            && prepared.len() >= PARALLEL_PREPARE)
            .then(|| {
                prepared
                    .iter()
                    .filter_map(|p| match p {
                        Prepared::Visit { record, .. } => {
                            Some((record.household_id, record.finished_at))
                        }
                        _ => None,
                    })
                    .collect()
            });
        std::thread::scope(|scope| {
            // Without a free reader the transaction reads as before: a reader may be held by
            // someone waiting for this writer.
            // A panic stays in the thread (the scope would raise it again while the writer is
            // held, poisoning it): it is a failed read, read again in the transaction.
            let ahead = ahead_of.as_deref().map(|visits| {
                scope.spawn(move || {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let Some(mut snapshot) = self.db.try_read()? else {
                            return Ok(None);
                        };
                        let read = crate::quality::ReadAhead::read(
                            snapshot.as_mut(),
                            caller.user.id,
                            visits,
                        )?;
                        Metrics::add(&self.metrics.pushes_read_ahead, 1);
                        Ok(Some(read))
                    }))
                    .unwrap_or(Err(DbError::Aborted))
                })
            });
            self.apply_ops(tx, caller, req, prepared, settled, now, acked, ahead)
        })
    }

    /// The ops of a push that continues the device's sequence after `acked`, applied in order,
    /// with the quality checks of the visits recorded (`ahead`: their reads, if made beside).
    #[allow(clippy::too_many_arguments)]
    fn apply_ops(
        &self,
        tx: &mut dyn Sql,
        caller: &Caller,
        req: &PushRequest,
        prepared: Vec<Prepared>,
        settled: &crate::quality::Settled,
        now: DateTime<Utc>,
        mut acked: u64,
        ahead: Option<
            std::thread::ScopedJoinHandle<'_, DbResult<Option<crate::quality::ReadAhead>>>,
        >,
    ) -> DbResult<Result<Pushed, ApiError>> {
        // Everything the ops will look up, in two queries instead of two per op.
        let new_ops = || {
            req.ops
                .iter()
                .zip(prepared.iter())
                .filter(|(o, _)| o.seq > acked)
                .map(|(_, p)| p)
        };
        let mut household_ids: Vec<Uuid> = new_ops()
            .filter_map(|p| match p {
                Prepared::Visit { record, .. } => Some(record.household_id),
                _ => None,
            })
            .collect();
        // A household visited twice in one push is looked up once.
        household_ids.sort_unstable();
        household_ids.dedup();
        let visit_ids: Vec<Uuid> = new_ops()
            .flat_map(|p| match p {
                Prepared::Visit { record, .. } => vec![record.visit_id],
                Prepared::Batch(b) => b.visit_ids.clone(),
                _ => vec![],
            })
            .collect();
        let mut loaded = Loaded {
            households: repo::household_areas_scoped(tx, &caller.user.scope(), &household_ids)?,
            visits: repo::visits_for_update(tx, &visit_ids)?,
            pending: HashMap::with_capacity(visit_ids.len()),
            rerecorded: Vec::new(),
            feed: Vec::with_capacity(visit_ids.len()),
            moved: HashMap::new(),
        };
        // Room for every visit of the push at once: a row is ~1 KB moved on each rehash (growing
        // the map was 2 % of the server's CPU in a 10,000-visit sync, inside the write lock).
        loaded.visits.reserve(visit_ids.len());
        // Every new op claimed at once (a second op with an id claimed here is a duplicate).
        let claims: Vec<repo::OpClaim> = req
            .ops
            .iter()
            .filter(|o| o.seq > acked)
            .map(|o| {
                let op_type = verivali_domain::text::scrub(&o.op_type).into_owned();
                (o.op_id, o.seq, op_type, o.hlc.to_string())
            })
            .collect();
        let mut claimed = repo::claim_ops(tx, &claims, caller.device.id, now)?;
        let mut results = Vec::with_capacity(req.ops.len());
        let mut counts = [0u64; 3];
        let mut changed: Vec<(&'static str, &'static str, Vec<String>)> = vec![
            ("visit.record", "visit", vec![]),
            ("household.propose", "household", vec![]),
            ("batch.submit", "batch", vec![]),
        ];
        for (op, prep) in req.ops.iter().zip(prepared) {
            if op.seq <= acked || !claimed.remove(&op.op_id) {
                results.push(OpResult {
                    op_id: op.op_id,
                    status: OpStatus::Duplicate,
                    error: None,
                });
                counts[1] += 1;
                acked = acked.max(op.seq);
                continue;
            }
            let (outcome, slot) = match prep {
                Prepared::Rejected(r) => (Err(r), None),
                Prepared::Visit { record, json } => {
                    let id = record.visit_id;
                    (
                        self.apply_visit(tx, caller, &mut loaded, record, json)?,
                        Some((0, id)),
                    )
                }
                Prepared::Proposal(p) => {
                    loaded.flush_feed(tx, caller.device.id, now)?;
                    (
                        self.apply_proposal(tx, caller, &p, now)?,
                        Some((1, p.household_id)),
                    )
                }
                Prepared::Batch(b) => {
                    loaded.flush_feed(tx, caller.device.id, now)?;
                    (
                        self.apply_batch(tx, caller, &mut loaded, &b, now)?,
                        Some((2, b.batch_id)),
                    )
                }
            };
            match outcome {
                Ok(()) => {
                    results.push(OpResult {
                        op_id: op.op_id,
                        status: OpStatus::Applied,
                        error: None,
                    });
                    counts[0] += 1;
                    if let Some((i, id)) = slot {
                        changed[i].2.push(id.to_string());
                    }
                }
                Err(r) => {
                    repo::mark_op_rejected(
                        tx,
                        op.op_id,
                        &r.code,
                        &verivali_domain::text::scrub(&r.message),
                    )?;
                    results.push(OpResult {
                        op_id: op.op_id,
                        status: OpStatus::Rejected,
                        error: Some(OpError {
                            code: r.code,
                            message: r.message,
                            field: r.field,
                        }),
                    });
                    counts[2] += 1;
                }
            }
            acked = op.seq;
        }
        loaded.flush_feed(tx, caller.device.id, now)?;
        // The visits recorded, with their quality flags from evidence gathered for all of them
        // at once (their photos first, so a photo used twice in one push is seen).
        let mut ids: Vec<Uuid> = loaded.pending.keys().copied().collect();
        ids.sort();
        let recorded: Vec<&VisitRow> = ids.iter().filter_map(|id| loaded.visits.get(id)).collect();
        let uses: Vec<_> = recorded
            .iter()
            .flat_map(|r| {
                let (id, at) = (r.record.visit_id, r.record.finished_at);
                r.record.photos.iter().map(move |p| (p.clone(), id, at))
            })
            .collect();
        repo::set_visit_photos(tx, &uses, &loaded.rerecorded)?;
        // A read ahead that failed is read again in the transaction, as without it.
        let ahead = match ahead.map(|reading| reading.join()) {
            Some(Ok(Ok(read))) => read,
            Some(Ok(Err(e))) => {
                tracing::warn!(error = %e, "the checks' read ahead failed; reading in the transaction");
                None
            }
            // The thread catches its own panic: no join fails.
            Some(Err(_)) | None => None,
        };
        let moved: Vec<(Uuid, Option<DateTime<Utc>>)> =
            loaded.moved.iter().map(|(k, v)| (*k, *v)).collect();
        let flags = crate::quality::after_ingest(tx, &recorded, settled, ahead, &moved)?;
        let writes: Vec<repo::VisitWrite<'_>> = recorded
            .into_iter()
            .map(|row| {
                let id = row.record.visit_id;
                let (json, risk) = flags.get(&id).map_or(("[]", 0), |(j, r)| (j.as_str(), *r));
                let record = loaded.pending.remove(&id).unwrap_or(Value::Null);
                (row, record, (json, risk))
            })
            .collect();
        repo::save_visits_json(tx, writes, now)?;
        // One audit entry per kind of change in this push, naming every record it changed.
        for (action, kind, ids) in changed.into_iter().filter(|c| !c.2.is_empty()) {
            let detail = Some(format!("{} {kind}(s): {}", ids.len(), ids.join(" ")));
            repo::audit(
                tx,
                &Audit {
                    entity_kind: Some(kind),
                    entity_id: None,
                    detail,
                    ..audit(caller, action, kind, caller.device.id, None)
                },
                now,
            )?;
        }
        repo::set_device_acked(tx, caller.device.id, acked, now)?;
        Ok(Ok((acked, results, counts, loaded)))
    }

    /// [`App::prepare`] for every op, in order. A large push (one device sending its backlog on a
    /// good link) is split over two threads: its pushes come at most two at a time, one of them
    /// being written (`sync::order`), so without this a core waits while the other decodes and
    /// validates a thousand visits.
    fn prepare_all(
        &self,
        caller: &Caller,
        ops: &[verivali_protocol::Op],
        mut payloads: Vec<Arrived>,
        now: DateTime<Utc>,
    ) -> DbResult<Vec<Prepared>> {
        let prepare = |part: &[verivali_protocol::Op], payloads: Vec<Arrived>| {
            part.iter()
                .zip(payloads)
                .map(|(op, payload)| self.prepare(caller, op, payload, now))
                .collect::<DbResult<Vec<_>>>()
        };
        if ops.len() < PARALLEL_PREPARE {
            return prepare(ops, payloads);
        }
        let (first, second) = ops.split_at(ops.len() / 2);
        let later = payloads.split_off(first.len());
        std::thread::scope(|s| {
            let other = s.spawn(|| prepare(second, later));
            let mut out = prepare(first, payloads)?;
            out.extend(other.join().map_err(|_| DbError::Aborted)??);
            Ok(out)
        })
    }

    /// Checks what can be checked without the database: schema, type, payload, and the domain
    /// rules of a visit (validated against its questionnaire version).
    fn prepare(
        &self,
        caller: &Caller,
        op: &verivali_protocol::Op,
        payload: Arrived,
        now: DateTime<Utc>,
    ) -> DbResult<Prepared> {
        let lang = caller.lang;
        // A packed payload's text, and its frame to store as it came. The text is not made a
        // `RawValue` (a parse of its own): decoding it below finds what is not JSON.
        let payload = match payload {
            Arrived::Text(text) => Payload::Text(text),
            Arrived::Packed(z) => {
                let text = z.as_deref().map(verivali_domain::packed::unpack_received);
                match (text, z) {
                    (Some(Ok(text)), Some(z)) => {
                        Metrics::add(&self.metrics.payloads_packed, 1);
                        Payload::Unpacked(text, z)
                    }
                    (Some(Err(e)), _) => return Ok(Prepared::Rejected(bad_packed(lang, &e))),
                    _ => {
                        return Ok(Prepared::Rejected(bad_packed(
                            lang,
                            &"not base64, or beside a payload that is not null",
                        )));
                    }
                }
            }
        };
        if !SCHEMAS.contains(&op.schema) {
            return Ok(Prepared::Rejected(Reject::new(
                "op.schema_unsupported",
                lang,
                &format!("Versi skema {} tidak dikenal server", op.schema),
                &format!("Schema version {} is unknown to the server", op.schema),
            )));
        }
        // Before anything is decoded or stored: a string no backend can store is this op's
        // fault alone, never the whole push's.
        if let Err(e) = verivali_domain::text::check("type", &op.op_type)
            .and_then(|()| verivali_domain::text::check_json_text("payload", payload.get()))
        {
            return Ok(Prepared::Rejected(Reject {
                code: e.code().into(),
                message: e.message(lang),
                field: Some(e.field),
            }));
        }
        let body = match OpBody::decode(&op.op_type, payload.get()) {
            Ok(b) => b,
            Err(e) => {
                return Ok(Prepared::Rejected(Reject::new(
                    e.code(),
                    lang,
                    &format!("Data operasi tidak valid: {e}"),
                    &format!("Invalid op: {e}"),
                )));
            }
        };
        Ok(match body {
            OpBody::VisitRecord(v) => {
                let Some(q) = self.questionnaire_cached(v.questionnaire_version)? else {
                    return Ok(Prepared::Rejected(Reject::new(
                        "answer.questionnaire_version",
                        lang,
                        "Versi kuesioner tidak dikenal",
                        "Unknown questionnaire version",
                    )));
                };
                let report = v.validate(VisitContext {
                    questionnaire: &q,
                    today: verivali_domain::visit::validation_date(now),
                    regions: None,
                });
                if !report.is_ok() {
                    return Ok(Prepared::Rejected(Reject::from_report(&report, lang)));
                }
                // Stored as the device sent it, once decoded and validated: the record of what
                // the enumerator's phone said (as ODK Central keeps a submission as received),
                // and no re-encoding of every record (7 % of the server's CPU in a 10,000-visit
                // sync). A current device's payload is byte for byte what encoding the decoded
                // record would give (the same type, the same serializer); a field a newer app
                // added is kept for the server that will know it, where encoding again dropped
                // it. Every reader decodes the text, which decodes to the record checked here.
                // A packed payload is stored as the frame it came in: it holds this text alone
                // (`unpack_received`), which every reader unpacks. A current device's frame is
                // the bytes packing the text here would make (the same dictionary and level);
                // an older one's (no dictionary, another zstd) differs and reads the same.
                let json = match payload {
                    Payload::Unpacked(_, z) => Value::Packed(z),
                    Payload::Text(raw) => self.stored_record(raw),
                };
                // Nothing after this reads the answers (the stored text keeps them): freed here,
                // on the thread that decoded them, so the next visit's decoding reuses their memory
                // from this thread's cache. Kept, they were about half of a push's decoded
                // records, held on fresh pages until the push was written (docs/benchmarks.md,
                // nineteenth pass).
                let mut v = v;
                drop(std::mem::take(&mut v.answers));
                Prepared::Visit { record: v, json }
            }
            OpBody::HouseholdPropose(p) => Prepared::Proposal(p),
            OpBody::BatchSubmit(b) => Prepared::Batch(b),
        })
    }

    /// A validated visit's record as it is stored: the device's text, packed
    /// ([`verivali_domain::packed`], here on the prepare threads, outside the write lock). A ~2 KB
    /// record becomes ~0.35 KB: on SQLite a 10,000-visit push writes a sixth of the bytes through
    /// the WAL, the checkpoint and the page cache (docs/benchmarks.md, twelfth pass); on
    /// PostgreSQL (schema step 16) the row is no longer compressed by LZ4 or moved out of line
    /// inside the write transaction (thirteenth pass); the databases and backups shrink alike.
    fn stored_record(&self, payload: Box<RawValue>) -> Value {
        if let Ok(z) = verivali_domain::packed::pack(payload.get()) {
            return Value::Packed(z);
        }
        Value::Text(String::from(Box::<str>::from(payload)))
    }

    fn apply_visit(
        &self,
        tx: &mut dyn Sql,
        caller: &Caller,
        loaded: &mut Loaded,
        v: Box<VisitRecord>,
        json: Value,
    ) -> DbResult<Result<(), Reject>> {
        let lang = caller.lang;
        let kode_desa = match loaded.households.get(&v.household_id) {
            Some(desa) => desa.clone(),
            // Not preloaded: proposed earlier in this same push.
            None => match repo::household_scoped(tx, &caller.user.scope(), v.household_id)? {
                Some(h) => h.kode_desa,
                None => return Ok(Err(area_forbidden(lang))),
            },
        };
        let existing = loaded.visits.get(&v.visit_id);
        if let Some(e) = existing {
            if e.enumerator_id != caller.user.id {
                return Ok(Err(Reject::new(
                    "visit.not_owner",
                    lang,
                    "Kunjungan ini milik petugas lain",
                    "This visit belongs to another enumerator",
                )));
            }
            if !e.state.editable() {
                return Ok(Err(locked(e.state, lang)));
            }
            if e.record.household_id != v.household_id {
                return Ok(Err(Reject::new(
                    "visit.household_changed",
                    lang,
                    "Kunjungan tidak boleh pindah rumah tangga",
                    "A visit cannot move to another household",
                )));
            }
            if v.revision <= e.record.revision {
                return Ok(Err(Reject::new(
                    "visit.stale_revision",
                    lang,
                    "Revisi ini lebih lama dari yang ada di server",
                    "This revision is older than the server's",
                )));
            }
        }
        let state = existing.map_or(VisitState::Draft, |e| e.state);
        let batch_id = existing.and_then(|e| e.batch_id);
        if let Some(e) = existing {
            if e.record.finished_at != v.finished_at {
                // Recorded twice in this push: the first time noted stays (the second record's
                // `before` is the first's, never written; counting again is exact either way).
                loaded
                    .moved
                    .entry(v.visit_id)
                    .or_insert(e.record.finished_at);
            }
            let photos: Vec<_> = e
                .record
                .photos
                .iter()
                .map(|p| (p.clone(), v.visit_id))
                .collect();
            loaded.rerecorded.extend(photos);
        }
        // The record moves into the row (no copy: a copy of every record was a tenth of the
        // serial time of a push).
        let row = VisitRow {
            record: *v,
            enumerator_id: caller.user.id,
            device_id: caller.device.id,
            kode_desa,
            state,
            batch_id,
        };
        loaded.pending.insert(row.record.visit_id, json);
        loaded.feed.push(pushed_change(&row));
        loaded.visits.insert(row.record.visit_id, row);
        Ok(Ok(()))
    }

    fn apply_proposal(
        &self,
        tx: &mut dyn Sql,
        caller: &Caller,
        p: &HouseholdProposal,
        now: DateTime<Utc>,
    ) -> DbResult<Result<(), Reject>> {
        let lang = caller.lang;
        if !caller.user.areas.contains(&p.kode_desa) {
            return Ok(Err(area_forbidden(lang)));
        }
        if repo::household_exists(tx, p.household_id)? {
            return Ok(Err(Reject::new(
                "household.exists",
                lang,
                "Rumah tangga dengan id ini sudah ada",
                "A household with this id exists",
            )));
        }
        // A head not yet known (the field left empty) gets a placeholder the review will see.
        let mut fields = p.fields.clone();
        if fields.nama_krt.trim().is_empty() {
            fields.nama_krt = "(usulan baru)".into();
        }
        let found = HouseholdFound {
            fields,
            kode_desa: p.kode_desa.clone(),
        };
        let report = found.validate(None);
        if !report.is_ok() {
            return Ok(Err(Reject::from_report(&report, lang)));
        }
        let h = Household {
            id: p.household_id,
            id_dtsen: None,
            fields: found.fields,
            kode_desa: found.kode_desa,
            desil: None,
            version: 1,
        };
        repo::save_household(tx, &h, Some(caller.user.id), now)?;
        repo::insert_household_version(tx, &h, &[], now)?;
        repo::announce_household(tx, &h, now)?;
        Ok(Ok(()))
    }

    fn apply_batch(
        &self,
        tx: &mut dyn Sql,
        caller: &Caller,
        loaded: &mut Loaded,
        b: &verivali_domain::Batch,
        now: DateTime<Utc>,
    ) -> DbResult<Result<(), Reject>> {
        let lang = caller.lang;
        let report = b.validate();
        if !report.is_ok() {
            return Ok(Err(Reject::from_report(&report, lang)));
        }
        // Check every visit first: a batch is submitted whole or not at all.
        let mut rows = Vec::with_capacity(b.visit_ids.len());
        for id in &b.visit_ids {
            let Some(row) = loaded.visits.get(id).cloned() else {
                return Ok(Err(Reject::new(
                    "batch.unknown_visit",
                    lang,
                    &format!("Kunjungan {id} belum diterima server"),
                    &format!("Visit {id} has not reached the server"),
                )));
            };
            if row.enumerator_id != caller.user.id {
                return Ok(Err(Reject::new(
                    "visit.not_owner",
                    lang,
                    "Kunjungan ini milik petugas lain",
                    "This visit belongs to another enumerator",
                )));
            }
            let next = match transition(row.state, &Action::Submit, Role::Enumerator) {
                Ok(s) => s,
                Err(e) => return Ok(Err(Reject::coded(&e, lang))),
            };
            rows.push(VisitRow {
                state: next,
                batch_id: Some(b.batch_id),
                ..row
            });
        }
        repo::insert_batch(
            tx,
            b.batch_id,
            caller.user.id,
            caller.device.id,
            rows.len(),
            now,
        )?;
        for row in rows {
            // A visit recorded in this same push is written at its end, in this state.
            if !loaded.pending.contains_key(&row.record.visit_id) {
                repo::set_visit_state(tx, row.record.visit_id, row.state, row.batch_id, now)?;
            }
            pushed_visit_change(tx, &row, caller.device.id, now)?;
            loaded.visits.insert(row.record.visit_id, row);
        }
        Ok(Ok(()))
    }
}

fn locked(state: VisitState, lang: Lang) -> Reject {
    match state {
        VisitState::Approved => Reject::new(
            "visit.locked",
            lang,
            "Kunjungan sudah disetujui dan dikunci; tidak bisa diubah",
            "The visit is approved and locked; it cannot be changed",
        ),
        VisitState::Verified => Reject::new(
            "visit.locked",
            lang,
            "Kunjungan sudah diverifikasi dinas dan dikunci; tidak bisa diubah",
            "The visit is verified by the district and locked; it cannot be changed",
        ),
        VisitState::Superseded => Reject::new(
            "visit.locked",
            lang,
            "Pengawas menyetujui kunjungan lain untuk rumah tangga ini; kunjungan ini dikunci",
            "The supervisor approved another visit of this household; this one is locked",
        ),
        _ => Reject::new(
            "visit.locked",
            lang,
            "Kunjungan sedang diperiksa pengawas; tunggu hasilnya",
            "The visit is waiting for review; wait for the decision",
        ),
    }
}

//! The outbox: ops waiting for the server, their acknowledgement, and what the server rejected.

use crate::ExecCached;
use chrono::{DateTime, Utc};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use verivali_domain::hlc::Hlc;
use verivali_domain::packed;

use crate::error::{Result, StoreError};
use crate::{Store, tick, ts};

/// One queued op, ready to send, with its payload as JSON text (`P = String`) or as stored
/// ([`StoredPayload`], from [`Store::pending_ops_as_stored`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxOp<P = String> {
    /// Per-device sequence, gap-free.
    pub seq: u64,
    pub op_id: Uuid,
    /// When it was made (HLC).
    pub hlc: Hlc,
    /// Payload schema version.
    pub schema: u32,
    /// `visit.record`, `household.propose` or `batch.submit`.
    pub op_type: String,
    /// The visit, household or batch it is about.
    pub entity_id: Uuid,
    /// The payload.
    pub payload: P,
}

impl<P> OutboxOp<P> {
    /// The same op with its payload made another thing.
    pub fn map<Q>(self, f: impl FnOnce(P) -> Q) -> OutboxOp<Q> {
        OutboxOp {
            seq: self.seq,
            op_id: self.op_id,
            hlc: self.hlc,
            schema: self.schema,
            op_type: self.op_type,
            entity_id: self.entity_id,
            payload: f(self.payload),
        }
    }
}

/// A queued op's payload as the outbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredPayload {
    /// JSON text (stores written before schema step 9 hold text only).
    Text(String),
    /// A zstd frame of the JSON text ([`verivali_domain::packed`]), as it is: for a server that
    /// takes packed payloads, so the text is neither unpacked here nor packed there again.
    Packed(Vec<u8>),
}

/// The server's reason for rejecting an op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The op.
    pub op_id: Uuid,
    /// Stable code.
    pub code: String,
    /// Message from the server.
    pub message: String,
    /// Field it is about.
    pub field: Option<String>,
}

/// An op the server rejected, shown to the enumerator as "needs attention".
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionItem {
    /// The op.
    pub op_id: Uuid,
    /// Its seq.
    #[ts(type = "number")]
    pub seq: u64,
    /// Its type.
    pub op_type: String,
    /// The visit, household or batch.
    pub entity_id: Uuid,
    /// Server's code.
    pub code: String,
    /// Server's message.
    pub message: String,
    /// Field, when given.
    pub field: Option<String>,
    /// When the rejection arrived.
    pub at: String,
}

/// How many syncs the send screen lists.
pub const SYNC_LOG_KEPT: i64 = 10;

/// One sync, as the send screen lists it.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncLogEntry {
    /// When it ended (device time).
    pub at: DateTime<Utc>,
    /// Whether it completed.
    pub ok: bool,
    /// Ops the server acknowledged.
    #[ts(type = "number")]
    pub ops_up: u64,
    /// Photos uploaded.
    #[ts(type = "number")]
    pub photos_up: u64,
    /// Changes pulled.
    #[ts(type = "number")]
    pub pulled: u64,
    /// Why it stopped, when it failed: a stable code and a message in the app's language.
    pub code: Option<String>,
    pub message: Option<String>,
}

/// Counts for the sync screen.
#[derive(ts_rs::TS, Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OutboxCounts {
    /// Ops waiting.
    #[ts(type = "number")]
    pub pending_ops: u64,
    /// Distinct visits with a waiting `visit.record`.
    #[ts(type = "number")]
    pub pending_visits: u64,
    /// Waiting `batch.submit` ops.
    #[ts(type = "number")]
    pub pending_batches: u64,
    /// Highest seq the server acknowledged.
    #[ts(type = "number")]
    pub acked_through: u64,
    /// Rejected ops not yet dealt with.
    #[ts(type = "number")]
    pub needs_attention: u64,
}

/// The current schema version of ops.
pub const OP_SCHEMA: u32 = 1;

pub(crate) fn acked_through(conn: &rusqlite::Connection) -> Result<u64> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM sync_state WHERE key = 'acked_through'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(v.and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// The op type whose payloads the outbox keeps compressed: a visit's record, ~2 KB of JSON with
/// names and NIKs, to ~0.35 KB on synthetic visits, packed alone with the visit dictionary of
/// [`verivali_domain::packed`]; ~0.97 KB without the dictionary. A large sync then reads,
/// decrypts, frees and (SQLCipher's `secure_delete`) zeroes and re-encrypts a fraction of the
/// outbox pages, and a week offline takes less of a small phone's storage. The other payloads stay
/// JSON text: SQL reads a batch's visit ids (`json_each`, `instr`), and a proposal is small.
const COMPRESSED: &str = "visit.record";

/// The id of the dictionary the outbox packs with (its frames name it).
pub const VISIT_DICT_ID: u32 = packed::VISIT_DICT_ID;

/// How `payload` is stored for an op of `op_type` (see [`COMPRESSED`]).
fn stored_payload(op_type: &str, payload: &str) -> Result<SqlValue> {
    if op_type != COMPRESSED {
        return Ok(SqlValue::Text(payload.to_owned()));
    }
    Ok(SqlValue::Blob(packed::pack(payload).map_err(unreadable)?))
}

/// Reads stored payloads back as JSON text (one unpacker for a whole read).
#[derive(Default)]
struct Payloads(packed::Unpacker);

impl Payloads {
    /// A stored payload as JSON text: text as it is, a BLOB unpacked (stores written before
    /// schema step 9 hold text only; before the dictionary, frames without one).
    fn text(&mut self, v: ValueRef<'_>) -> Result<String> {
        match v {
            ValueRef::Text(t) => String::from_utf8(t.to_vec()).map_err(unreadable),
            ValueRef::Blob(z) => self.0.text(z).map_err(unreadable),
            _ => Err(unreadable("payload is neither text nor compressed text")),
        }
    }
}

fn unreadable(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::Json(serde_json::Error::io(std::io::Error::other(e)))
}

/// Appends an op in the caller's transaction: the next gap-free seq, a fresh HLC time and op id.
pub(crate) fn enqueue(
    tx: &Transaction<'_>,
    now: DateTime<Utc>,
    op_type: &str,
    entity_id: Uuid,
    payload: &str,
) -> Result<(u64, Uuid)> {
    let max_seq: u64 =
        tx.query_row("SELECT coalesce(max(seq), 0) FROM outbox", [], |r| r.get(0))?;
    let seq = max_seq.max(acked_through(tx)?) + 1;
    let hlc = tick(tx, now)?;
    let op_id = Uuid::now_v7();
    tx.exec_cached(
        "INSERT INTO outbox (seq, op_id, hlc, schema, type, entity_id, payload, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            seq,
            op_id.to_string(),
            hlc.to_string(),
            OP_SCHEMA,
            op_type,
            entity_id.to_string(),
            stored_payload(op_type, payload)?,
            ts(now)
        ],
    )?;
    Ok((seq, op_id))
}

/// A pending op's columns but its payload.
fn row_to_op(r: &rusqlite::Row<'_>) -> Result<(u64, String, String, u32, String, String)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(unreadable)
}

impl Store {
    /// The oldest waiting ops, up to `max_ops` and about `max_bytes` of payload (always at least
    /// one op, however large, so a big op can never block the queue).
    pub fn pending_ops(&self, max_ops: usize, max_bytes: usize) -> Result<Vec<OutboxOp>> {
        self.pending_ops_after(0, max_ops, max_bytes)
    }

    /// Like [`Store::pending_ops`], for the ops after `after_seq` only (the sync client prepares
    /// its next push while the previous one is on the wire).
    pub fn pending_ops_after(
        &self,
        after_seq: u64,
        max_ops: usize,
        max_bytes: usize,
    ) -> Result<Vec<OutboxOp>> {
        let mut payloads = Payloads::default();
        self.pending_with(after_seq, max_ops, max_bytes, |v| {
            let text = payloads.text(v)?;
            Ok((text.len(), text))
        })
    }

    /// Like [`Store::pending_ops_after`], each payload as the outbox holds it: a packed one is
    /// neither unpacked nor checked here (the server unpacks and checks it). `max_bytes` counts
    /// the payloads' text all the same (a frame states its text's size), so a push holds as many
    /// ops either way.
    pub fn pending_ops_as_stored(
        &self,
        after_seq: u64,
        max_ops: usize,
        max_bytes: usize,
    ) -> Result<Vec<OutboxOp<StoredPayload>>> {
        self.pending_with(after_seq, max_ops, max_bytes, |v| match v {
            ValueRef::Blob(z) => {
                let len = packed::text_len(z)
                    .ok_or_else(|| unreadable("packed payload without a valid size"))?;
                Ok((len, StoredPayload::Packed(z.to_vec())))
            }
            v => {
                let text = Payloads::default().text(v)?;
                Ok((text.len(), StoredPayload::Text(text)))
            }
        })
    }

    /// The pending ops after `after_seq`, each payload read by `payload` (its text's size in
    /// bytes, and the payload).
    fn pending_with<P>(
        &self,
        after_seq: u64,
        max_ops: usize,
        max_bytes: usize,
        mut payload: impl FnMut(ValueRef<'_>) -> Result<(usize, P)>,
    ) -> Result<Vec<OutboxOp<P>>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, op_id, hlc, schema, type, entity_id, payload FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let mut rows = stmt.query([after_seq as i64, max_ops as i64])?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while let Some(row) = rows.next()? {
            let (seq, op_id, hlc, schema, op_type, entity) = row_to_op(row)?;
            let (len, payload) = payload(row.get_ref(6)?)?;
            if !out.is_empty() && bytes + len > max_bytes {
                break;
            }
            bytes += len;
            out.push(OutboxOp {
                seq,
                op_id: parse_uuid(&op_id)?,
                hlc: hlc.parse().map_err(|e| {
                    StoreError::Json(serde_json::Error::io(std::io::Error::other(e)))
                })?,
                schema,
                op_type,
                entity_id: parse_uuid(&entity)?,
                payload,
            });
        }
        Ok(out)
    }

    /// Applies a push answer: ops up to `acked_through` leave the outbox (rejected ones are kept in
    /// the "needs attention" list with the server's reason) and the server time merges into the
    /// clock, all in one transaction. An acknowledgement never moves backwards, except that a
    /// power cut may take back one that did not wait for the disk (below).
    ///
    /// An answer without a rejection commits without waiting for the disk (`synchronous =
    /// NORMAL`), as a pulled page does: it is the server's to give again. It stays atomic (WAL),
    /// and the next durable commit (a visit recorded, a rejection kept) flushes it; a power cut
    /// before that brings the acknowledged ops back into the outbox, the next sync sends them
    /// again and the server answers `duplicate` for each (it applied them once), so nothing is
    /// lost or applied twice. A rejection is not given again (a re-sent rejected op is only a
    /// duplicate), so an answer with one waits for the disk: the enumerator must see it. One
    /// fsync less per push of a sync: 10 of a 10,000-visit sync's 21, on cheap flash each several
    /// milliseconds of the one thread that also prepares the next push (docs/benchmarks.md,
    /// eleventh pass). The send screen's "received" time of a re-sent visit is then that of the
    /// `duplicate` answer.
    pub fn acknowledge(
        &mut self,
        acked: u64,
        rejections: &[Rejection],
        server_time: DateTime<Utc>,
    ) -> Result<()> {
        if !rejections.is_empty() {
            return self.acknowledge_in(acked, rejections, server_time);
        }
        self.not_waiting_for_the_disk(|s| s.acknowledge_in(acked, rejections, server_time))
    }

    fn acknowledge_in(
        &mut self,
        acked: u64,
        rejections: &[Rejection],
        server_time: DateTime<Utc>,
    ) -> Result<()> {
        let now = self.clock.now();
        let tx = self.write_tx()?;
        for rej in rejections {
            let row: Option<(u64, String, String)> = tx
                .query_row(
                    "SELECT seq, type, entity_id FROM outbox WHERE op_id = ?1",
                    [rej.op_id.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((seq, op_type, entity)) = row
                && seq <= acked
            {
                tx.exec_cached(
                    "INSERT OR REPLACE INTO attention (op_id, seq, type, entity_id, code, message, field, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![rej.op_id.to_string(), seq, op_type, entity, rej.code, rej.message, rej.field, ts(now)],
                )?;
            }
        }
        // What the server now holds, for the send screen ("diterima server"): each visit's last
        // record and its submission, unless the server refused the op.
        // (In `visit_sent`, not the visit rows: rewriting each ~2 KB row was most of the work.)
        tx.exec_cached(
            "INSERT INTO visit_sent (visit_id, received_at)
                 SELECT entity_id, ?2 FROM outbox WHERE seq <= ?1 AND type = 'visit.record'
                 AND op_id NOT IN (SELECT op_id FROM attention)
                 AND entity_id IN (SELECT id FROM visits)
             ON CONFLICT (visit_id) DO UPDATE SET received_at = excluded.received_at",
            params![acked, ts(server_time)],
        )?;
        tx.exec_cached(
            "INSERT INTO visit_sent (visit_id, submitted_at)
                 SELECT j.value, ?2 FROM outbox o, json_each(o.payload, '$.visit_ids') j
                 WHERE o.seq <= ?1 AND o.type = 'batch.submit'
                 AND o.op_id NOT IN (SELECT op_id FROM attention)
                 AND j.value IN (SELECT id FROM visits)
             ON CONFLICT (visit_id) DO UPDATE SET submitted_at = excluded.submitted_at",
            params![acked, ts(server_time)],
        )?;
        // With SQLCipher's `secure_delete` on, every freed page is zeroed and written back (a third
        // of a 10,000-visit sync's device CPU while visits were stored as text; compressed
        // (`COMPRESSED`), they free less than half the pages). Kept: the payloads freed here
        // include a reassigned household's visits and a re-recorded visit's older revision,
        // which the store means to remove (issue 18, docs/benchmarks.md "Third pass").
        tx.exec_cached("DELETE FROM outbox WHERE seq <= ?1", [acked])?;
        let previous = acked_through(&tx)?;
        tx.exec_cached(
            "INSERT OR REPLACE INTO sync_state (key, value) VALUES ('acked_through', ?1)",
            [previous.max(acked).to_string()],
        )?;
        let mut clock = crate::load_clock(&tx)?;
        clock.merge_server(server_time.timestamp_millis(), now.timestamp_millis());
        tx.exec_cached(
            "UPDATE clock SET wall_ms = ?1, counter = ?2, offset_ms = ?3 WHERE id = 1",
            params![clock.wall_ms, clock.counter, clock.offset_ms],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Counts for the sync screen.
    pub fn outbox_counts(&self) -> Result<OutboxCounts> {
        let (pending_ops, pending_visits, pending_batches): (u64, u64, u64) = self.conn.query_row(
            "SELECT count(*),
                    count(DISTINCT CASE WHEN type = 'visit.record' THEN entity_id END),
                    coalesce(sum(type = 'batch.submit'), 0)
             FROM outbox",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let needs_attention: u64 =
            self.conn
                .query_row("SELECT count(*) FROM attention", [], |r| r.get(0))?;
        Ok(OutboxCounts {
            pending_ops,
            pending_visits,
            pending_batches,
            acked_through: acked_through(&self.conn)?,
            needs_attention,
        })
    }

    /// Ops the server rejected, newest first.
    pub fn needs_attention(&self) -> Result<Vec<AttentionItem>> {
        self.attention_where("1 = 1", &[])
    }

    pub(crate) fn attention_where(
        &self,
        cond: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<AttentionItem>> {
        let sql = format!(
            "SELECT op_id, seq, type, entity_id, code, message, field, at FROM attention WHERE {cond} ORDER BY seq DESC"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(args, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, String>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (op_id, seq, op_type, entity, code, message, field, at) = row?;
            out.push(AttentionItem {
                op_id: parse_uuid(&op_id)?,
                seq,
                op_type,
                entity_id: parse_uuid(&entity)?,
                code,
                message,
                field,
                at,
            });
        }
        Ok(out)
    }

    /// Records a sync that completed (for "last synced" in the app).
    pub fn set_last_sync(&mut self, at: DateTime<Utc>) -> Result<()> {
        self.conn.exec_cached(
            "INSERT OR REPLACE INTO sync_state (key, value) VALUES ('last_sync_at', ?1)",
            [ts(at)],
        )?;
        Ok(())
    }

    /// Notes a sync's outcome for the send screen (the last [`SYNC_LOG_KEPT`] are kept).
    pub fn log_sync(&mut self, entry: &SyncLogEntry) -> Result<()> {
        let tx = self.write_tx()?;
        tx.exec_cached(
            "INSERT INTO sync_log (at, ok, ops_up, photos_up, pulled, code, message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                ts(entry.at),
                entry.ok,
                entry.ops_up,
                entry.photos_up,
                entry.pulled,
                entry.code,
                entry.message
            ],
        )?;
        tx.exec_cached(
            "DELETE FROM sync_log WHERE id <= (SELECT max(id) FROM sync_log) - ?1",
            [SYNC_LOG_KEPT],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The last syncs, newest first.
    pub fn sync_log(&self) -> Result<Vec<SyncLogEntry>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at, ok, ops_up, photos_up, pulled, code, message FROM sync_log ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                SyncLogEntry {
                    at: DateTime::<Utc>::MIN_UTC,
                    ok: r.get(1)?,
                    ops_up: r.get(2)?,
                    photos_up: r.get(3)?,
                    pulled: r.get(4)?,
                    code: r.get(5)?,
                    message: r.get(6)?,
                },
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (at, mut e) = row?;
            e.at = at.parse().unwrap_or(e.at);
            out.push(e);
        }
        Ok(out)
    }

    /// When the last complete sync finished.
    pub fn last_sync(&self) -> Result<Option<DateTime<Utc>>> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM sync_state WHERE key = 'last_sync_at'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.and_then(|s| s.parse().ok()))
    }

    /// Removes an item from the "needs attention" list once the enumerator dealt with it.
    pub fn dismiss_attention(&mut self, op_id: Uuid) -> Result<bool> {
        Ok(self.conn.exec_cached(
            "DELETE FROM attention WHERE op_id = ?1",
            [op_id.to_string()],
        )? > 0)
    }
}

//! Visits as pushed and decided, their review events, and the push's batches and claimed ops
//! (which make a retried push exactly-once).

use crate::db::{DbError, DbResult, Row, Sql, Value};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;
use verivali_domain::{Household, VisitRecord, VisitState};

use super::{json, lock, to_json, ts, uuid};

/// A visit as stored.
#[derive(Debug, Clone)]
pub struct VisitRow {
    /// The latest record. A row a push has just recorded (`sync::push`, its `Loaded`) holds it
    /// without its answers, which the push frees once the visit is validated; a row read from
    /// the database holds all of it.
    pub record: VisitRecord,
    pub enumerator_id: Uuid,
    pub device_id: Uuid,
    /// Desa of the household (for scoping).
    pub kode_desa: String,
    pub state: VisitState,
    /// Batch it was submitted in.
    pub batch_id: Option<Uuid>,
}

/// Visits by id, locked for update, in one query (absent ids are missing from the map).
pub fn visits_for_update(tx: &mut dyn Sql, ids: &[Uuid]) -> DbResult<HashMap<Uuid, VisitRow>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT record, enumerator_id, device_id, kode_desa, state, batch_id FROM visits WHERE id IN ({}){}",
            marks.join(", "),
            lock(tx)
        );
        let params: Vec<Value> = chunk.iter().map(|id| (*id).into()).collect();
        for r in tx.query(&sql, &params)? {
            let v = visit_row(&r)?;
            out.insert(v.record.visit_id, v);
        }
    }
    Ok(out)
}

pub(super) fn visit_row(r: &Row) -> DbResult<VisitRow> {
    Ok(VisitRow {
        record: json(r.str(0))?,
        enumerator_id: uuid(r.str(1))?,
        device_id: uuid(r.str(2))?,
        kode_desa: r.text(3),
        state: VisitState::parse(r.str(4)).ok_or_else(|| DbError::Corrupt("state".into()))?,
        batch_id: r.opt_text(5).map(|b| uuid(&b)).transpose()?,
    })
}

/// A visit, locked for update.
pub fn visit_for_update(tx: &mut dyn Sql, id: Uuid) -> DbResult<Option<VisitRow>> {
    let sql = format!(
        "SELECT record, enumerator_id, device_id, kode_desa, state, batch_id FROM visits WHERE id = $1{}",
        lock(tx)
    );
    let Some(r) = tx.query_opt(&sql, &[id.into()])? else {
        return Ok(None);
    };
    Ok(Some(VisitRow {
        record: json(r.str(0))?,
        enumerator_id: uuid(r.str(1))?,
        device_id: uuid(r.str(2))?,
        kode_desa: r.text(3),
        state: VisitState::parse(r.str(4)).ok_or_else(|| DbError::Corrupt("state".into()))?,
        batch_id: r.opt_text(5).map(|b| uuid(&b)).transpose()?,
    }))
}

/// Locks every visit of the household of `visit`, in id order, before any of them is read for
/// update: two reviewers deciding two visits of one household (each superseding the other) then
/// wait for one another instead of deadlocking. SQLite's writer is alone already.
pub fn lock_household_visits(tx: &mut dyn Sql, visit: Uuid) -> DbResult<()> {
    if lock(tx).is_empty() {
        return Ok(());
    }
    // The household's own lock first, as a push takes it (super::lock_households).
    if let Some(r) = tx.query_opt(
        "SELECT household_id FROM visits WHERE id = $1",
        &[visit.into()],
    )? {
        super::lock_households(tx, &[uuid(r.str(0))?])?;
    }
    tx.query(
        "SELECT id FROM visits
         WHERE household_id = (SELECT household_id FROM visits WHERE id = $1)
         ORDER BY id FOR UPDATE",
        &[visit.into()],
    )?;
    Ok(())
}

/// Inserts or updates a visit whose record is already serialised (one upsert statement).
///
/// The visits columns a push writes, in the order of [`visit_values`].
const VISIT_COLUMNS: &str =
    "id, household_id, enumerator_id, device_id, kode_desa, revision, state, outcome,
    baseline_version, record, batch_id, submitted_at, finished_at, duration_s, gps, flags, risk,
    created_at, updated_at";

const VISIT_UPSERT: &str = "ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, state = excluded.state, outcome = excluded.outcome,
     baseline_version = excluded.baseline_version, record = excluded.record, batch_id = excluded.batch_id,
     submitted_at = coalesce(excluded.submitted_at, visits.submitted_at), updated_at = excluded.updated_at,
     finished_at = excluded.finished_at, duration_s = excluded.duration_s, gps = excluded.gps,
     flags = excluded.flags, risk = excluded.risk, baseline_applied = 0";

/// A visit's values for [`VISIT_COLUMNS`] but the last two (the time, shared).
fn visit_values(
    v: &VisitRow,
    record: Value,
    quality: (&str, u32),
    now: &str,
) -> DbResult<[Value; 17]> {
    let submitted = (v.state == VisitState::Submitted).then(|| now.to_owned());
    let r = &v.record;
    let gps = r.gps.map(|g| to_json(&g)).transpose()?;
    Ok([
        r.visit_id.into(),
        r.household_id.into(),
        v.enumerator_id.into(),
        v.device_id.into(),
        v.kode_desa.as_str().into(),
        r.revision.into(),
        v.state.as_str().into(),
        r.outcome.as_str().into(),
        r.baseline_version.into(),
        record,
        v.batch_id.into(),
        submitted.into(),
        r.finished_at.map(ts).into(),
        verivali_domain::quality::duration_s(r).into(),
        gps.into(),
        quality.0.into(),
        quality.1.into(),
    ])
}

/// Writes one visit (its record as JSON, moved into the statement's values: a push's ~2 KB
/// records are not copied again inside the write lock). `quality`: the visit's flags (JSON) and
/// risk, computed before it is written (a second write of the ~3 KB row only for them would cost
/// as much again). `now`: the time as stored, formatted once per push.
fn save_visit_json(
    tx: &mut dyn Sql,
    v: &VisitRow,
    record: Value,
    quality: (&str, u32),
    now: &str,
) -> DbResult<()> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let marks: Vec<String> = (1..=17).map(|i| format!("${i}")).collect();
        format!(
            "INSERT INTO visits ({VISIT_COLUMNS}) VALUES ({}, $18, $18) {VISIT_UPSERT}",
            marks.join(", ")
        )
    });
    let mut params = visit_values(v, record, quality, now)?.to_vec();
    params.push(now.into());
    tx.execute(&SQL, &params)?;
    Ok(())
}

/// One visit a push writes: the row, its record (packed, [`Value::Packed`], or JSON text if it
/// could not be), its flags (JSON) and risk.
pub type VisitWrite<'a> = (&'a VisitRow, Value, (&'a str, u32));

/// Writes the visits of a push: [`save_visit_json`] for each on SQLite; on PostgreSQL one
/// multi-row statement per 100 visits instead of a round trip each. Ids must be distinct.
pub fn save_visits_json(
    tx: &mut dyn Sql,
    visits: Vec<VisitWrite<'_>>,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let now = ts(now);
    if tx.dialect() == crate::db::Dialect::Sqlite {
        for (v, record, quality) in visits {
            save_visit_json(tx, v, record, quality, &now)?;
        }
        return Ok(());
    }
    let mut visits = visits.into_iter().peekable();
    while visits.peek().is_some() {
        let chunk: Vec<VisitWrite<'_>> = visits.by_ref().take(100).collect();
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 17 + 1);
        params.push(now.as_str().into());
        let mut rows = Vec::with_capacity(chunk.len());
        for (i, (v, record, quality)) in chunk.into_iter().enumerate() {
            params.extend(visit_values(v, record, quality, &now)?);
            let b = 2 + i * 17;
            let marks: Vec<String> = (b..b + 17).map(|n| format!("${n}")).collect();
            rows.push(format!("({}, $1, $1)", marks.join(", ")));
        }
        tx.execute(
            &format!(
                "INSERT INTO visits ({VISIT_COLUMNS}) VALUES {} {VISIT_UPSERT}",
                rows.join(", ")
            ),
            &params,
        )?;
    }
    Ok(())
}

/// Changes only a visit's review state (and batch), leaving its record as it is.
pub fn set_visit_state(
    tx: &mut dyn Sql,
    id: Uuid,
    state: VisitState,
    batch: Option<Uuid>,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let submitted = if state == VisitState::Submitted {
        Some(ts(now))
    } else {
        None
    };
    tx.execute(
        "UPDATE visits SET state = $1, batch_id = $2, submitted_at = coalesce($3, submitted_at), updated_at = $4 WHERE id = $5",
        &[state.as_str().into(), batch.into(), submitted.into(), ts(now).into(), id.into()],
    )?;
    Ok(())
}

/// A review decision (immutable; one row per decision).
pub fn insert_review(tx: &mut dyn Sql, id: Uuid, e: &verivali_domain::ReviewEvent) -> DbResult<()> {
    let decision = to_json(&e.decision)?;
    tx.execute(
        "INSERT INTO reviews (id, visit_id, decision, reason, reviewer_id, at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[id.into(), e.visit_id.into(), decision.trim_matches('"').into(), e.reason.clone().into(), e.reviewer.into(), ts(e.at).into()],
    )?;
    Ok(())
}

/// The household as it was at a baseline version.
pub fn household_version(tx: &mut dyn Sql, id: Uuid, version: i64) -> DbResult<Option<Household>> {
    let Some(r) = tx.query_opt(
        "SELECT data FROM household_versions WHERE household_id = $1 AND version = $2",
        &[id.into(), version.into()],
    )?
    else {
        return Ok(None);
    };
    let v: serde_json::Value = json(r.str(0))?;
    Ok(serde_json::from_value(v["household"].clone()).ok())
}

/// Records a batch.
pub fn insert_batch(
    tx: &mut dyn Sql,
    id: Uuid,
    enumerator: Uuid,
    device: Uuid,
    count: usize,
    now: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO batches (id, enumerator_id, device_id, visit_count, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[id.into(), enumerator.into(), device.into(), (count as i64).into(), ts(now).into()],
    )?;
    Ok(())
}

/// Claims an op id for this device as applied; false when the op id was seen before (then
/// nothing is written). A rejection is recorded afterwards with [`mark_op_rejected`].
#[allow(clippy::too_many_arguments)]
pub fn claim_op(
    tx: &mut dyn Sql,
    op_id: Uuid,
    device: Uuid,
    seq: u64,
    op_type: &str,
    hlc: &str,
    now: DateTime<Utc>,
) -> DbResult<bool> {
    let n = tx.execute(
        "INSERT INTO applied_ops (op_id, device_id, seq, type, status, error_code, error_message, hlc, applied_at)
         VALUES ($1, $2, $3, $4, 'applied', NULL, NULL, $5, $6) ON CONFLICT (op_id) DO NOTHING",
        &[op_id.into(), device.into(), seq.into(), op_type.into(), hlc.into(), ts(now).into()],
    )?;
    Ok(n == 1)
}

/// An op to claim: `(op_id, seq, type, hlc)`.
pub type OpClaim = (Uuid, u64, String, String);

/// Claims the ops of a push at once: the ids newly claimed (an id already applied, or a second
/// op with the same id in this push, is not). On PostgreSQL one multi-row statement per 500 ops
/// (a statement per op was a round trip per op inside the write transaction); on SQLite, where
/// a statement is a function call, one cached statement per op.
pub fn claim_ops(
    tx: &mut dyn Sql,
    ops: &[OpClaim],
    device: Uuid,
    now: DateTime<Utc>,
) -> DbResult<std::collections::HashSet<Uuid>> {
    let mut claimed = std::collections::HashSet::with_capacity(ops.len());
    if tx.dialect() == crate::db::Dialect::Sqlite {
        for (id, seq, op_type, hlc) in ops {
            if !claimed.contains(id) && claim_op(tx, *id, device, *seq, op_type, hlc, now)? {
                claimed.insert(*id);
            }
        }
        return Ok(claimed);
    }
    let at = ts(now);
    for chunk in ops.chunks(500) {
        let mut sql = String::from(
            "INSERT INTO applied_ops (op_id, device_id, seq, type, status, error_code, error_message, hlc, applied_at) VALUES ",
        );
        let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 4 + 2);
        params.push(device.into());
        params.push(at.as_str().into());
        for (i, (id, seq, op_type, hlc)) in chunk.iter().enumerate() {
            let b = 3 + i * 4;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${b}, $1, ${}, ${}, 'applied', NULL, NULL, ${}, $2)",
                b + 1,
                b + 2,
                b + 3
            ));
            params.push((*id).into());
            params.push((*seq).into());
            params.push(op_type.as_str().into());
            params.push(hlc.as_str().into());
        }
        sql.push_str(" ON CONFLICT (op_id) DO NOTHING RETURNING op_id");
        for r in tx.query(&sql, &params)? {
            claimed.insert(uuid(r.str(0))?);
        }
    }
    Ok(claimed)
}

/// Records why a claimed op was rejected.
pub fn mark_op_rejected(tx: &mut dyn Sql, op_id: Uuid, code: &str, message: &str) -> DbResult<()> {
    tx.execute(
        "UPDATE applied_ops SET status = 'rejected', error_code = $1, error_message = $2 WHERE op_id = $3",
        &[code.into(), message.into(), op_id.into()],
    )?;
    Ok(())
}

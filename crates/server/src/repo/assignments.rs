//! Assignments: one row per household given to an enumerator, and the events that record every
//! change of it (who gave it to whom, when; shared again when `enumerator_id` is NULL).

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;

use super::{Scope, Where, ts, uuid};
use crate::db::{DbResult, Row, Sql, Value};

/// One household's current assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentRow {
    pub household_id: Uuid,
    pub enumerator_id: Uuid,
    /// `YYYY-MM-DD`.
    pub due_date: Option<String>,
    /// Wire name of the source.
    pub source: String,
    pub note: Option<String>,
    pub assigned_by: Uuid,
    /// RFC 3339.
    pub assigned_at: String,
    /// When the enumerator's device first pulled the household (RFC 3339).
    pub received_at: Option<String>,
}

const COLS: &str = "a.household_id, a.enumerator_id, a.due_date, a.source, a.note, a.assigned_by, \
                    a.assigned_at, a.received_at";

fn row(r: &Row) -> DbResult<AssignmentRow> {
    Ok(AssignmentRow {
        household_id: uuid(r.str(0))?,
        enumerator_id: uuid(r.str(1))?,
        due_date: r.opt_text(2),
        source: r.text(3),
        note: r.opt_text(4),
        assigned_by: uuid(r.str(5))?,
        assigned_at: r.text(6),
        received_at: r.opt_text(7),
    })
}

/// The current assignments of these households, by household.
pub fn assignments_of(
    tx: &mut dyn Sql,
    households: &[Uuid],
) -> DbResult<HashMap<Uuid, AssignmentRow>> {
    let mut out = HashMap::new();
    for chunk in households.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let params: Vec<Value> = chunk.iter().map(|id| (*id).into()).collect();
        let sql = format!(
            "SELECT {COLS} FROM assignments a WHERE a.household_id IN ({})",
            marks.join(", ")
        );
        for r in tx.query(&sql, &params)? {
            let a = row(&r)?;
            out.insert(a.household_id, a);
        }
    }
    Ok(out)
}

/// The households given to one enumerator, with their desa.
pub fn assigned_to(tx: &mut dyn Sql, enumerator: Uuid) -> DbResult<Vec<(Uuid, String)>> {
    tx.query(
        "SELECT a.household_id, h.kode_desa FROM assignments a JOIN households h ON h.id = a.household_id
         WHERE a.enumerator_id = $1 ORDER BY a.household_id",
        &[enumerator.into()],
    )?
    .iter()
    .map(|r| Ok((uuid(r.str(0))?, r.text(1))))
    .collect()
}

/// Writes a household's assignment (replacing the one it had) and records the event.
pub fn put_assignment(tx: &mut dyn Sql, a: &AssignmentRow, now: DateTime<Utc>) -> DbResult<()> {
    tx.execute(
        "INSERT INTO assignments (household_id, enumerator_id, due_date, source, note, assigned_by, assigned_at, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (household_id) DO UPDATE SET enumerator_id = excluded.enumerator_id,
             due_date = excluded.due_date, source = excluded.source, note = excluded.note,
             assigned_by = excluded.assigned_by, assigned_at = excluded.assigned_at,
             received_at = excluded.received_at",
        &[
            a.household_id.into(),
            a.enumerator_id.into(),
            a.due_date.clone().into(),
            (&a.source).into(),
            a.note.clone().into(),
            a.assigned_by.into(),
            (&a.assigned_at).into(),
            a.received_at.clone().into(),
        ],
    )?;
    event(tx, a.household_id, Some(a), a.assigned_by, now)
}

/// Shares a household again; `false` when it had no assignment.
pub fn delete_assignment(
    tx: &mut dyn Sql,
    household: Uuid,
    by: Uuid,
    now: DateTime<Utc>,
) -> DbResult<bool> {
    let n = tx.execute(
        "DELETE FROM assignments WHERE household_id = $1",
        &[household.into()],
    )?;
    if n > 0 {
        event(tx, household, None, by, now)?;
    }
    Ok(n > 0)
}

fn event(
    tx: &mut dyn Sql,
    household: Uuid,
    a: Option<&AssignmentRow>,
    by: Uuid,
    now: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO assignment_events (id, household_id, enumerator_id, due_date, source, note, by_user, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            Uuid::now_v7().into(),
            household.into(),
            a.map(|a| a.enumerator_id.to_string()).into(),
            a.and_then(|a| a.due_date.clone()).into(),
            a.map(|a| a.source.clone()).into(),
            a.and_then(|a| a.note.clone()).into(),
            by.into(),
            ts(now).into(),
        ],
    )?;
    Ok(())
}

/// How many events a household's assignment has had (its history's length).
pub fn assignment_events(tx: &mut dyn Sql, household: Uuid) -> DbResult<i64> {
    Ok(tx
        .query_opt(
            "SELECT count(*) FROM assignment_events WHERE household_id = $1",
            &[household.into()],
        )?
        .map_or(0, |r| r.i64(0)))
}

/// Assignments of households in the caller's scope, optionally of one enumerator, in
/// household-id order, with the enumerator's username.
pub fn assignments_scoped(
    tx: &mut dyn Sql,
    scope: &Scope,
    enumerator: Option<Uuid>,
) -> DbResult<Vec<(AssignmentRow, String)>> {
    let mut w = Where::default();
    w.scope(scope, "h.kode_desa");
    if let Some(e) = enumerator {
        w.eq("a.enumerator_id = ?", e);
    }
    let sql = format!(
        "SELECT {COLS}, u.username FROM assignments a
         JOIN households h ON h.id = a.household_id JOIN users u ON u.id = a.enumerator_id
         WHERE {} ORDER BY a.household_id",
        w.sql()
    );
    tx.query(&sql, &w.params)?
        .iter()
        .map(|r| Ok((row(r)?, r.text(8))))
        .collect()
}

/// The ids and desa codes of every household inside the scope (an `area=` assignment).
pub fn household_ids_scoped(tx: &mut dyn Sql, scope: &Scope) -> DbResult<Vec<(Uuid, String)>> {
    let mut w = Where::default();
    w.scope(scope, "kode_desa");
    let sql = format!(
        "SELECT id, kode_desa FROM households WHERE {} ORDER BY id",
        w.sql()
    );
    tx.query(&sql, &w.params)?
        .iter()
        .map(|r| Ok((uuid(r.str(0))?, r.text(1))))
        .collect()
}

/// Marks these households received by `enumerator` where they are assigned to them and were not
/// received yet (the first pull that carried them).
///
/// On PostgreSQL a row another transaction holds is skipped, not waited for: a pull takes no
/// household lock, and a supervisor's change to several of the enumerator's assignments (which
/// holds their households' locks, then writes their rows in its own order) could otherwise meet
/// it the other way round. What a skipped row misses is only its "received" time: a change of
/// its terms announces the household again, so the next pull that carries it marks it; a
/// reassignment or an end starts it over anyway.
pub fn mark_received(
    tx: &mut dyn Sql,
    enumerator: Uuid,
    households: &[Uuid],
    now: DateTime<Utc>,
) -> DbResult<()> {
    for chunk in households.chunks(500) {
        let marks: Vec<String> = (3..chunk.len() + 3).map(|i| format!("${i}")).collect();
        let mut params: Vec<Value> = vec![ts(now).into(), enumerator.into()];
        params.extend(chunk.iter().map(|id| Value::from(*id)));
        let held = match tx.dialect() {
            crate::db::Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            crate::db::Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE assignments SET received_at = $1
             WHERE household_id IN (SELECT household_id FROM assignments
                 WHERE enumerator_id = $2 AND received_at IS NULL AND household_id IN ({}){held})",
            marks.join(", ")
        );
        tx.execute(&sql, &params)?;
    }
    Ok(())
}

/// A household of the assignment page: id, registry id, head, desa, RW, RT, and its assignment
/// with the assignee's username.
pub type BoardRow = (
    Uuid,
    Option<String>,
    String,
    String,
    String,
    String,
    Option<(AssignmentRow, String)>,
);

/// Every household inside the scope with its assignment, by desa, RW, RT and head's name; at most
/// `limit`.
pub fn board(tx: &mut dyn Sql, scope: &Scope, limit: usize) -> DbResult<Vec<BoardRow>> {
    let mut w = Where::default();
    w.scope(scope, "h.kode_desa");
    let sql = format!(
        "SELECT h.id, h.id_dtsen, h.nama_krt, h.kode_desa, h.rw, h.rt, {COLS}, u.username
         FROM households h LEFT JOIN assignments a ON a.household_id = h.id
              LEFT JOIN users u ON u.id = a.enumerator_id
         WHERE {} ORDER BY h.kode_desa, h.rw, h.rt, h.nama_krt, h.id LIMIT {}",
        w.sql(),
        limit
    );
    tx.query(&sql, &w.params)?
        .iter()
        .map(|r| {
            let assignment = match r.opt_text(6) {
                None => None,
                Some(_) => {
                    let cols: Vec<Value> = r.0[6..].to_vec();
                    let sub = Row(cols);
                    Some((row(&sub)?, sub.text(8)))
                }
            };
            Ok((
                uuid(r.str(0))?,
                r.opt_text(1),
                r.text(2),
                r.text(3),
                r.text(4),
                r.text(5),
                assignment,
            ))
        })
        .collect()
}

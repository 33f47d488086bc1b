//! Reads for reviewers: the review queue, a visit's review history, batches and progress counts,
//! each limited to the caller's [`Scope`].

use crate::db::{DbResult, Sql};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;
use verivali_domain::VisitState;
use verivali_domain::cycle::Period;

use super::{Scope, VisitRow, Where, json, uuid};

/// Which visits a reviewer asks for.
#[derive(Debug, Clone, Default)]
pub struct VisitFilter {
    /// One visit.
    pub id: Option<Uuid>,
    /// Review state.
    pub state: Option<VisitState>,
    /// A second state listed with `state` (the supervisor's queue: submitted or returned).
    pub or_state: Option<VisitState>,
    /// Enumerator's username.
    pub enumerator: Option<String>,
    /// Outcome wire name.
    pub outcome: Option<String>,
    pub batch: Option<Uuid>,
    /// Only visits with an id after this one (paging).
    pub after: Option<Uuid>,
    /// Only visits carrying this flag code.
    pub flag: Option<String>,
    /// Highest risk first (then id) instead of id order; paging then continues after `after`
    /// at the risk it had (`after_risk`).
    pub by_risk: bool,
    /// The risk of `after` when paging by risk.
    pub after_risk: Option<i64>,
    /// Page size.
    pub limit: usize,
}

/// A visit with who made it and when it was submitted.
#[derive(Debug, Clone)]
pub struct ListedVisit {
    /// The visit.
    pub row: VisitRow,
    /// When it was last submitted (RFC 3339).
    pub submitted_at: Option<String>,
    /// Enumerator's username.
    pub username: String,
    /// Enumerator's display name.
    pub display_name: String,
    /// Stored quality flags (JSON array).
    pub flags: String,
    /// Their risk score.
    pub risk: i64,
}

/// Visits in the caller's areas that match the filter, in id order, or highest risk first
/// ([`VisitFilter::by_risk`]; `by_risk`).
pub fn review_visits(
    tx: &mut dyn Sql,
    scope: &Scope,
    f: &VisitFilter,
) -> DbResult<Vec<ListedVisit>> {
    if f.by_risk && (f.after.is_none() || f.after_risk.is_some()) {
        return by_risk(tx, scope, f);
    }
    let mut w = filtered(scope, f);
    match (f.state, f.or_state) {
        (Some(s), Some(o)) => {
            w.eq("(v.state = ?", s.as_str());
            w.eq_more(" OR v.state = ?)", o.as_str());
        }
        (Some(s), None) => w.eq("v.state = ?", s.as_str()),
        _ => {}
    }
    if let Some(a) = f.after {
        w.eq("v.id > ?", a);
    }
    let order = if f.by_risk {
        "v.risk DESC, v.id"
    } else {
        "v.id"
    };
    listed(tx, &w, order, f.limit)
}

/// The conditions of a filter other than the state and the page's start.
fn filtered(scope: &Scope, f: &VisitFilter) -> Where {
    let mut w = Where::default();
    w.scope(scope, "v.kode_desa");
    if let Some(id) = f.id {
        w.eq("v.id = ?", id);
    }
    if let Some(e) = &f.enumerator {
        w.eq("u.username = ?", e.as_str());
    }
    if let Some(o) = &f.outcome {
        w.eq("v.outcome = ?", o.as_str());
    }
    if let Some(b) = f.batch {
        w.eq("v.batch_id = ?", b);
    }
    if let Some(flag) = &f.flag {
        // Codes are fixed words (checked by the caller), quoted as the JSON holds them.
        w.eq("v.flags LIKE ?", format!("%\"{flag}\"%"));
    }
    w
}

/// A page highest risk first, then oldest (id) first, read as ranges of `visits_state_risk`
/// (state, risk descending, id) that each stop at the page's size: per state asked for (every
/// state when none is), the rest of the `after` visit's risk after it, then the lower risks.
/// Those ranges read only the ids and risks, merged here; the page's visits are then read by id.
/// A single statement over the supervisor's two states, or with the page's start written as
/// `risk < r OR (risk = r AND id > a)`, read and sorted every visit of those states on every
/// page (PostgreSQL cannot take one ordered range over two values of the index's first column,
/// nor start a range at such an `OR`): a queue of tens of thousands of visits then cost a whole
/// scan per page. Here each range reads index entries until it has a page's worth that pass the
/// other conditions (the caller's areas, an enumerator, a flag): few when they hold for most of
/// the queue, more when they skip most of it.
fn by_risk(tx: &mut dyn Sql, scope: &Scope, f: &VisitFilter) -> DbResult<Vec<ListedVisit>> {
    let states: Vec<VisitState> = match (f.state, f.or_state) {
        (Some(s), Some(o)) if s != o => vec![s, o],
        (Some(s), _) => vec![s],
        (None, _) => VisitState::ALL.to_vec(),
    };
    let limit = f.limit.clamp(1, 500);
    let mut ranked: Vec<(i64, Uuid)> = Vec::new();
    for state in states {
        let mut w = filtered(scope, f);
        w.eq("v.state = ?", state.as_str());
        let mut got = 0;
        if let (Some(a), Some(r)) = (f.after, f.after_risk) {
            let mut same = w.clone();
            same.eq("v.risk = ?", r);
            same.eq("v.id > ?", a);
            let rest = ranks(tx, &same, "v.id", limit)?;
            got = rest.len();
            ranked.extend(rest);
            w.eq("v.risk < ?", r);
        }
        // Always a page's worth asked for (the merge keeps `limit`): one statement text per
        // filter, not one per count already read.
        if got < limit {
            ranked.extend(ranks(tx, &w, "v.risk DESC, v.id", limit)?);
        }
    }
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.truncate(limit);
    if ranked.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = ranked.iter().map(|(_, id)| *id).collect();
    let mut w = Where::default();
    let marks: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, _)| format!("${}", i + 1))
        .collect();
    w.params = ids.iter().map(|id| (*id).into()).collect();
    w.parts.push(format!("v.id IN ({})", marks.join(", ")));
    listed(tx, &w, "v.risk DESC, v.id", limit)
}

/// The risks and ids of the visits matching `w`, in `order`, at most `limit`.
fn ranks(tx: &mut dyn Sql, w: &Where, order: &str, limit: usize) -> DbResult<Vec<(i64, Uuid)>> {
    let sql = format!(
        "SELECT v.risk, v.id FROM visits v JOIN users u ON u.id = v.enumerator_id
         WHERE {} ORDER BY {order} LIMIT {}",
        w.sql(),
        limit.clamp(1, 500)
    );
    tx.query(&sql, &w.params)?
        .iter()
        .map(|r| Ok((r.i64(0), uuid(r.str(1))?)))
        .collect()
}

/// The visits matching `w`, in `order`, at most `limit`.
fn listed(tx: &mut dyn Sql, w: &Where, order: &str, limit: usize) -> DbResult<Vec<ListedVisit>> {
    let sql = format!(
        "SELECT v.record, v.enumerator_id, v.device_id, v.kode_desa, v.state, v.batch_id, v.submitted_at,
                u.username, u.display_name, v.flags, v.risk
         FROM visits v JOIN users u ON u.id = v.enumerator_id
         WHERE {} ORDER BY {order} LIMIT {}",
        w.sql(),
        limit.clamp(1, 500)
    );
    tx.query(&sql, &w.params)?
        .iter()
        .map(|r| {
            Ok(ListedVisit {
                row: super::visit_row(r)?,
                submitted_at: r.opt_text(6),
                username: r.text(7),
                display_name: r.text(8),
                flags: r.text(9),
                risk: r.i64(10),
            })
        })
        .collect()
}

/// The other visits to a household that weigh on `visit` (finished at `finished`), with their
/// review states, in id (time) order: the visits a supervisor compares it with and approval's
/// one-truth rule weighs (`verivali_domain::review::second_truths`). Those of its period, and of
/// later periods; a visit of an earlier period is not another visit (DESIGN.md §11: last month's
/// visit neither blocks this month's nor shows beside it), while this month's still blocks last
/// month's, whose approval would put older answers over the baseline
/// (`verivali_domain::cycle::earlier_period`). One not finished has no period and counts.
pub fn other_visit_states(
    tx: &mut dyn Sql,
    household: Uuid,
    visit: Uuid,
    finished: Option<DateTime<Utc>>,
    periods: &[Period],
) -> DbResult<Vec<(Uuid, VisitState)>> {
    let mut out = Vec::new();
    for r in tx.query(
        "SELECT id, state, finished_at FROM visits WHERE household_id = $1 AND id <> $2 ORDER BY id",
        &[household.into(), visit.into()],
    )? {
        let theirs = super::quality::finished_at(&r, 2)?;
        if theirs
            .zip(finished)
            .is_none_or(|(a, b)| !verivali_domain::cycle::earlier_period(periods, a, b))
        {
            let state = VisitState::parse(r.str(1))
                .ok_or_else(|| crate::db::DbError::Corrupt("visit state".into()))?;
            out.push((uuid(r.str(0))?, state));
        }
    }
    Ok(out)
}

/// A decision as stored: decision, reason, reviewer's username, at.
pub type ReviewRow = (String, Option<String>, String, String);

/// Decisions on a visit, oldest first.
pub fn reviews_of(tx: &mut dyn Sql, visit: Uuid) -> DbResult<Vec<ReviewRow>> {
    Ok(tx
        .query(
            "SELECT r.decision, r.reason, coalesce(u.username, r.reviewer_id), r.at
             FROM reviews r LEFT JOIN users u ON u.id = r.reviewer_id
             WHERE r.visit_id = $1 ORDER BY r.at, r.id",
            &[visit.into()],
        )?
        .iter()
        .map(|r| (r.text(0), r.opt_text(1), r.text(2), r.text(3)))
        .collect())
}

/// One batch's counts per state inside the caller's areas.
#[derive(Debug, Clone)]
pub struct BatchRow {
    /// Batch id.
    pub id: Uuid,
    /// Submitted at (RFC 3339).
    pub created_at: String,
    /// Enumerator id, username, display name.
    pub enumerator: (Uuid, String, String),
    /// Count per state.
    pub states: Vec<(String, u64)>,
}

/// Batches with at least one visit in the caller's areas, newest first.
pub fn batches(tx: &mut dyn Sql, scope: &Scope, limit: usize) -> DbResult<Vec<BatchRow>> {
    let mut w = Where::default();
    w.scope(scope, "v.kode_desa");
    let sql = format!(
        "SELECT b.id, b.created_at, u.id, u.username, u.display_name, v.state, count(*)
         FROM visits v JOIN batches b ON b.id = v.batch_id JOIN users u ON u.id = b.enumerator_id
         WHERE {} GROUP BY b.id, b.created_at, u.id, u.username, u.display_name, v.state
         ORDER BY b.created_at DESC, b.id",
        w.sql()
    );
    let mut out: Vec<BatchRow> = Vec::new();
    for r in tx.query(&sql, &w.params)? {
        let id = uuid(r.str(0))?;
        let state = (r.text(5), r.i64(6).max(0) as u64);
        match out.last_mut() {
            Some(b) if b.id == id => b.states.push(state),
            _ => {
                if out.len() == limit {
                    break;
                }
                out.push(BatchRow {
                    id,
                    created_at: r.text(1),
                    enumerator: (uuid(r.str(2))?, r.text(3), r.text(4)),
                    states: vec![state],
                });
            }
        }
    }
    Ok(out)
}

/// Counts the progress screen needs, inside the caller's areas.
#[derive(Debug, Clone, Default)]
pub struct ProgressCounts {
    /// Households per desa.
    pub households: Vec<(String, u64)>,
    /// Households visited per desa.
    pub visited: HashMap<String, u64>,
    /// Visits per (desa, state).
    pub by_desa: HashMap<(String, String), u64>,
    /// Visits per (enumerator id, state).
    pub by_enumerator: HashMap<(Uuid, String), u64>,
    /// Households visited per enumerator.
    pub visited_by: HashMap<Uuid, u64>,
    /// Enumerators: id, username, display name, area codes.
    pub enumerators: Vec<(Uuid, String, String, Vec<String>)>,
    /// Assignments per desa: given, received, overdue.
    pub given_by_desa: HashMap<String, [u64; 3]>,
    /// Assignments per enumerator: given, received, overdue.
    pub given_to: HashMap<Uuid, [u64; 3]>,
}

/// Reads the progress counts in grouped queries. `today` (`YYYY-MM-DD`, the field's date) decides
/// which assignments are overdue: due before today with no visit submitted or approved.
pub fn progress(tx: &mut dyn Sql, scope: &Scope, today: &str) -> DbResult<ProgressCounts> {
    let mut p = ProgressCounts::default();
    let (area, params) = scope.area_sql("kode_desa", 1);
    for r in tx.query(
        &format!("SELECT kode_desa, count(*) FROM households WHERE {area} GROUP BY kode_desa ORDER BY kode_desa"),
        &params,
    )? {
        p.households.push((r.text(0), r.i64(1).max(0) as u64));
    }
    for r in tx.query(
        &format!("SELECT kode_desa, count(DISTINCT household_id) FROM visits WHERE {area} GROUP BY kode_desa"),
        &params,
    )? {
        p.visited.insert(r.text(0), r.i64(1).max(0) as u64);
    }
    for r in tx.query(
        &format!(
            "SELECT kode_desa, enumerator_id, state, count(*), count(DISTINCT household_id)
             FROM visits WHERE {area} GROUP BY kode_desa, enumerator_id, state"
        ),
        &params,
    )? {
        let n = r.i64(3).max(0) as u64;
        *p.by_desa.entry((r.text(0), r.text(2))).or_default() += n;
        *p.by_enumerator
            .entry((uuid(r.str(1))?, r.text(2)))
            .or_default() += n;
    }
    for r in tx.query(
        &format!("SELECT enumerator_id, count(DISTINCT household_id) FROM visits WHERE {area} GROUP BY enumerator_id"),
        &params,
    )? {
        p.visited_by.insert(uuid(r.str(0))?, r.i64(1).max(0) as u64);
    }
    let (area_h, mut given_params) = scope.area_sql("h.kode_desa", 1);
    given_params.push(today.into());
    let due = format!("${}", given_params.len());
    for r in tx.query(
        &format!(
            "SELECT h.kode_desa, a.enumerator_id, count(*), count(a.received_at),
                    sum(CASE WHEN a.due_date < {due} AND NOT EXISTS (SELECT 1 FROM visits v
                        WHERE v.household_id = a.household_id
                              AND v.state IN ('submitted', 'approved', 'returned', 'verified'))
                        THEN 1 ELSE 0 END)
             FROM assignments a JOIN households h ON h.id = a.household_id
             WHERE {area_h} GROUP BY h.kode_desa, a.enumerator_id"
        ),
        &given_params,
    )? {
        let n = [2, 3, 4].map(|i| r.i64(i).max(0) as u64);
        let add = |slot: &mut [u64; 3]| slot.iter_mut().zip(n).for_each(|(t, v)| *t += v);
        add(p.given_by_desa.entry(r.text(0)).or_default());
        add(p.given_to.entry(uuid(r.str(1))?).or_default());
    }
    for r in tx.query(
        "SELECT id, username, display_name, areas FROM users WHERE role = 'enumerator' AND disabled = 0 ORDER BY username",
        &[],
    )? {
        let areas: Vec<String> = json(r.str(3))?;
        // Enumerators working inside the caller's areas (or covering part of them).
        if areas.iter().any(|a| scope.areas.overlaps(a)) {
            p.enumerators
                .push((uuid(r.str(0))?, r.text(1), r.text(2), areas));
        }
    }
    Ok(p)
}

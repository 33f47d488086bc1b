//! Reads for reviewers and admins: the review queue, batches, progress counts, the export walk and
//! the audit log. Each takes the caller's [`Scope`] where personal data is involved.

use std::collections::HashMap;
use uuid::Uuid;
use verivali_domain::VisitState;

use super::{Scope, VisitRow, json, uuid};
use crate::db::{DbResult, Row, Sql, Value};

/// A `WHERE` clause built from optional filters, numbering its own placeholders.
#[derive(Default)]
struct Where {
    parts: Vec<String>,
    params: Vec<Value>,
}

impl Where {
    /// Adds `sql`, whose one placeholder is written `?`.
    fn eq(&mut self, sql: &str, v: impl Into<Value>) {
        self.params.push(v.into());
        self.parts
            .push(sql.replace('?', &format!("${}", self.params.len())));
    }

    fn scope(&mut self, scope: &Scope, column: &str) {
        let (sql, params) = scope.area_sql(column, self.params.len() + 1);
        self.parts.push(sql);
        self.params.extend(params);
    }

    fn sql(&self) -> String {
        if self.parts.is_empty() {
            "1 = 1".into()
        } else {
            self.parts.join(" AND ")
        }
    }
}

/// Which visits a reviewer asks for.
#[derive(Debug, Clone, Default)]
pub struct VisitFilter {
    /// One visit.
    pub id: Option<Uuid>,
    /// Review state.
    pub state: Option<VisitState>,
    /// Enumerator's username.
    pub enumerator: Option<String>,
    /// Outcome wire name.
    pub outcome: Option<String>,
    /// Batch.
    pub batch: Option<Uuid>,
    /// Only visits with an id after this one (paging).
    pub after: Option<Uuid>,
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
}

/// Visits in the caller's areas that match the filter, in id order.
pub fn review_visits(
    tx: &mut dyn Sql,
    scope: &Scope,
    f: &VisitFilter,
) -> DbResult<Vec<ListedVisit>> {
    let mut w = Where::default();
    w.scope(scope, "v.kode_desa");
    if let Some(id) = f.id {
        w.eq("v.id = ?", id);
    }
    if let Some(s) = f.state {
        w.eq("v.state = ?", s.as_str());
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
    if let Some(a) = f.after {
        w.eq("v.id > ?", a);
    }
    let sql = format!(
        "SELECT v.record, v.enumerator_id, v.device_id, v.kode_desa, v.state, v.batch_id, v.submitted_at,
                u.username, u.display_name
         FROM visits v JOIN users u ON u.id = v.enumerator_id
         WHERE {} ORDER BY v.id LIMIT {}",
        w.sql(),
        f.limit.clamp(1, 500)
    );
    tx.query(&sql, &w.params)?
        .iter()
        .map(|r| {
            Ok(ListedVisit {
                row: super::visit_row(r)?,
                submitted_at: r.opt_text(6),
                username: r.text(7),
                display_name: r.text(8),
            })
        })
        .collect()
}

/// Ids of the other visits to a household.
pub fn other_visits(tx: &mut dyn Sql, household: Uuid, visit: Uuid) -> DbResult<Vec<Uuid>> {
    tx.query(
        "SELECT id FROM visits WHERE household_id = $1 AND id <> $2 ORDER BY id",
        &[household.into(), visit.into()],
    )?
    .iter()
    .map(|r| uuid(&r.text(0)))
    .collect()
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
        let id = uuid(&r.text(0))?;
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
                    enumerator: (uuid(&r.text(2))?, r.text(3), r.text(4)),
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
}

/// Reads the progress counts in four grouped queries.
pub fn progress(tx: &mut dyn Sql, scope: &Scope) -> DbResult<ProgressCounts> {
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
            .entry((uuid(&r.text(1))?, r.text(2)))
            .or_default() += n;
    }
    for r in tx.query(
        &format!("SELECT enumerator_id, count(DISTINCT household_id) FROM visits WHERE {area} GROUP BY enumerator_id"),
        &params,
    )? {
        p.visited_by.insert(uuid(&r.text(0))?, r.i64(1).max(0) as u64);
    }
    for r in tx.query(
        "SELECT id, username, display_name, areas FROM users WHERE role = 'enumerator' AND disabled = 0 ORDER BY username",
        &[],
    )? {
        let areas: Vec<String> = json(&r.text(3))?;
        // Enumerators working inside the caller's areas (or covering part of them).
        let relevant = areas.iter().any(|a| {
            scope.areas.contains(a)
                || scope
                    .areas
                    .codes()
                    .iter()
                    .any(|c| c.as_str().starts_with(a.as_str()))
        });
        if relevant {
            p.enumerators
                .push((uuid(&r.text(0))?, r.text(1), r.text(2), areas));
        }
    }
    Ok(p)
}

/// One approved (or otherwise chosen) visit as the export needs it.
#[derive(Debug, Clone)]
pub struct ExportRow {
    /// Visit id.
    pub id: String,
    /// The record as stored (JSON).
    pub record: String,
    /// Desa.
    pub kode_desa: String,
    /// Registry id of the household (none for proposals).
    pub id_dtsen: Option<String>,
    /// Enumerator's username.
    pub enumerator: String,
    /// Last approval: `reviewer|at`.
    pub approval: Option<String>,
}

/// One page of the export walk: visits in `state` in the caller's areas with an id after `after`.
pub fn export_page(
    tx: &mut dyn Sql,
    scope: &Scope,
    state: VisitState,
    after: &str,
    limit: usize,
) -> DbResult<Vec<ExportRow>> {
    let mut w = Where::default();
    w.eq("v.state = ?", state.as_str());
    w.eq("v.id > ?", after);
    w.scope(scope, "v.kode_desa");
    let sql = format!(
        "SELECT v.id, v.record, v.kode_desa, h.id_dtsen, u.username,
                (SELECT coalesce(ru.username, r.reviewer_id) || '|' || r.at FROM reviews r
                   LEFT JOIN users ru ON ru.id = r.reviewer_id
                  WHERE r.visit_id = v.id AND r.decision = 'approve' ORDER BY r.at DESC LIMIT 1)
         FROM visits v JOIN users u ON u.id = v.enumerator_id
              LEFT JOIN households h ON h.id = v.household_id
         WHERE {} ORDER BY v.id LIMIT {}",
        w.sql(),
        limit.max(1)
    );
    Ok(tx
        .query(&sql, &w.params)?
        .into_iter()
        .map(|r| {
            let mut cols = r.0.into_iter();
            let mut next = || match cols.next() {
                Some(Value::Text(s)) => Some(s),
                Some(Value::I64(n)) => Some(n.to_string()),
                _ => None,
            };
            ExportRow {
                id: next().unwrap_or_default(),
                record: next().unwrap_or_default(),
                kode_desa: next().unwrap_or_default(),
                id_dtsen: next(),
                enumerator: next().unwrap_or_default(),
                approval: next(),
            }
        })
        .collect())
}

/// Audit entries, newest first, before `before` (a `seq`), optionally of one action.
pub fn audit_page(
    tx: &mut dyn Sql,
    before: Option<i64>,
    action: Option<&str>,
    limit: usize,
) -> DbResult<Vec<Row>> {
    let mut w = Where::default();
    if let Some(b) = before {
        w.eq("seq < ?", b);
    }
    if let Some(a) = action {
        w.eq("action = ?", a);
    }
    let sql = format!(
        "SELECT seq, at, username, device_id, address, action, entity_kind, entity_id, detail
         FROM audit WHERE {} ORDER BY seq DESC LIMIT {}",
        w.sql(),
        limit.clamp(1, 1000)
    );
    tx.query(&sql, &w.params)
}

/// Whether a visit in the caller's areas refers to a photo (so the caller may see it).
pub fn photo_visible(tx: &mut dyn Sql, scope: &Scope, visit: Uuid, sha: &str) -> DbResult<bool> {
    let found = review_visits(
        tx,
        scope,
        &VisitFilter {
            id: Some(visit),
            limit: 1,
            ..Default::default()
        },
    )?;
    Ok(found
        .first()
        .is_some_and(|v| v.row.record.photos.iter().any(|p| p == sha)))
}

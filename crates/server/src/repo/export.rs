//! The export walk: approved (or chosen) visits in the caller's areas, page by page in id order.

use crate::db::{DbResult, Sql, Value};
use verivali_domain::VisitState;

use super::{Scope, Where};

/// One approved (or otherwise chosen) visit as the export needs it.
#[derive(Debug, Clone)]
pub struct ExportRow {
    /// Visit id.
    pub id: String,
    /// The record as stored (JSON).
    pub record: String,
    pub kode_desa: String,
    /// Registry id of the household (none for proposals).
    pub id_dtsen: Option<String>,
    /// Enumerator's username.
    pub enumerator: String,
    /// Last approval: `reviewer|at`.
    pub approval: Option<String>,
    /// Stored quality flags (JSON).
    pub flags: String,
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
                  WHERE r.visit_id = v.id AND r.decision = 'approve' ORDER BY r.at DESC LIMIT 1),
                v.flags
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
                flags: next().unwrap_or_default(),
            }
        })
        .collect())
}

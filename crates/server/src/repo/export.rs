//! The export walk: approved (or chosen) visits in the caller's areas, page by page in id order.

use crate::db::{DbResult, Sql, Value};
use verivali_domain::VisitState;

use super::{Scope, Where};

/// One approved (or otherwise chosen) visit as the export needs it.
#[derive(Debug, Clone)]
pub struct ExportRow {
    /// Visit id.
    pub id: String,
    /// The record's cells in compact form, where they were written for its revision and the
    /// export's layout ([`verivali_domain::export::ExportLayout::compact`]).
    pub cells: Option<String>,
    /// The record as stored (JSON): read only where there are no compact cells.
    pub record: Option<String>,
    pub kode_desa: String,
    /// Registry id of the household (none for proposals).
    pub id_dtsen: Option<String>,
    /// Enumerator's username.
    pub enumerator: String,
    /// Last approval: `reviewer|at`.
    pub approval: Option<String>,
    /// Stored quality flags (JSON), where there are no compact cells.
    pub flags: String,
    /// The flag codes kept with the compact cells (space-separated).
    pub flag_codes: Option<String>,
}

/// A visit's last approval as `reviewer|at` (the visit's row aliased `v`).
const LAST_APPROVAL: &str =
    "(SELECT coalesce(ru.username, r.reviewer_id) || '|' || r.at FROM reviews r
                   LEFT JOIN users ru ON ru.id = r.reviewer_id
                  WHERE r.visit_id = v.id AND r.decision = 'approve' ORDER BY r.at DESC LIMIT 1)";

/// One page of the export walk: visits in `state` in the caller's areas with an id after `after`.
/// `layout` is the key of the export's layout: compact cells written under another are ignored.
pub fn export_page(
    tx: &mut dyn Sql,
    scope: &Scope,
    state: VisitState,
    layout: &str,
    after: &str,
    limit: usize,
) -> DbResult<Vec<ExportRow>> {
    // Inlined in the join (it is ours, hex digits only), so a stale layout reads the record.
    if layout.is_empty() || !layout.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(crate::db::DbError::Corrupt(format!(
            "layout key {layout:?}"
        )));
    }
    let mut w = Where::default();
    w.eq("v.state = ?", state.as_str());
    w.eq("v.id > ?", after);
    w.scope(scope, "v.kode_desa");
    let sql = format!(
        "SELECT v.id, x.cells, CASE WHEN x.cells IS NULL THEN v.record END, v.kode_desa, h.id_dtsen, u.username,
                CASE WHEN x.cells IS NULL THEN {LAST_APPROVAL} ELSE x.approval END,
                CASE WHEN x.cells IS NULL THEN v.flags END, x.flags
         FROM visits v JOIN users u ON u.id = v.enumerator_id
              LEFT JOIN households h ON h.id = v.household_id
              LEFT JOIN visit_exports x ON x.visit_id = v.id AND x.revision = v.revision
                   AND x.layout = '{layout}'
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
                cells: next(),
                record: next(),
                kode_desa: next().unwrap_or_default(),
                id_dtsen: next(),
                enumerator: next().unwrap_or_default(),
                approval: next(),
                flags: next().unwrap_or_default(),
                flag_codes: next(),
            }
        })
        .collect())
}

/// Keeps a visit's compact export cells (written at approval, and by the backfill).
pub fn save_export_cells(
    tx: &mut dyn Sql,
    visit_id: &str,
    revision: i64,
    layout: &str,
    cells: &str,
    flag_codes: &str,
) -> DbResult<()> {
    // The approval these cells were written for: the visit's last one (in the same
    // transaction as the approval's review, or by the backfill afterwards).
    tx.execute(
        &format!(
            "INSERT INTO visit_exports (visit_id, revision, layout, cells, flags, approval)
             SELECT v.id, CAST($2 AS BIGINT), $3, $4, $5, coalesce({LAST_APPROVAL}, '') FROM visits v WHERE v.id = $1
             ON CONFLICT (visit_id) DO UPDATE SET revision = excluded.revision, layout = excluded.layout,
                 cells = excluded.cells, flags = excluded.flags, approval = excluded.approval"
        ),
        &[visit_id.into(), revision.into(), layout.into(), cells.into(), flag_codes.into()],
    )?;
    Ok(())
}

/// Approved or verified visits after `after` whose compact cells are missing or stale (another
/// revision or layout): `(id, revision, record, flags JSON)`, in id order, for the backfill. The state test
/// is written so no index on it is used: walking the primary key in order stops after `limit`
/// rows, where sorting every approved visit per page made a million-visit backfill quadratic.
pub fn export_cells_missing(
    tx: &mut dyn Sql,
    layout: &str,
    after: &str,
    limit: usize,
) -> DbResult<Vec<(String, i64, String, String)>> {
    let rows = tx.query(
        &format!(
            "SELECT v.id, v.revision, v.record, v.flags FROM visits v
               LEFT JOIN visit_exports x ON x.visit_id = v.id AND x.revision = v.revision AND x.layout = $1
              WHERE v.id > $2 AND v.state || '' IN ('approved', 'verified') AND x.visit_id IS NULL
              ORDER BY v.id LIMIT {}",
            limit.max(1)
        ),
        &[layout.into(), after.into()],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| (r.text(0), r.i64(1), r.text(2), r.text(3)))
        .collect())
}

//! The audit log of personal-data reads and every write, appended in the same transaction as the
//! act it records, and read page by page by admins.

use crate::db::{DbResult, Row, Sql};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Where, ts};

/// One audit entry: who did what to which personal data, from where.
#[derive(Debug, Clone, Default)]
pub struct Audit<'a> {
    /// Acting user.
    pub user_id: Option<Uuid>,
    /// Their username (kept even if the user is later renamed).
    pub username: Option<&'a str>,
    pub device_id: Option<Uuid>,
    /// Network address.
    pub address: Option<&'a str>,
    /// What (`sync.pull`, `visit.record`, `session.create`, `import.households`…).
    pub action: &'a str,
    /// Kind of thing.
    pub entity_kind: Option<&'a str>,
    /// Which one.
    pub entity_id: Option<String>,
    /// More (counts, outcome, reason).
    pub detail: Option<String>,
}

/// Appends to the audit log (in the caller's transaction, so it commits with the action).
pub fn audit(tx: &mut dyn Sql, a: &Audit<'_>, now: DateTime<Utc>) -> DbResult<()> {
    tx.execute(
        "INSERT INTO audit (at, user_id, username, device_id, address, action, entity_kind, entity_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[ts(now).into(), a.user_id.into(), a.username.into(), a.device_id.into(), a.address.into(), a.action.into(),
          a.entity_kind.into(), a.entity_id.clone().into(), a.detail.clone().into()],
    )?;
    Ok(())
}

/// Counts audit entries of an action (for tests and the admin view).
pub fn audit_count(tx: &mut dyn Sql, action: &str) -> DbResult<i64> {
    Ok(tx
        .query_opt(
            "SELECT count(*) FROM audit WHERE action = $1",
            &[action.into()],
        )?
        .map_or(0, |r| r.i64(0)))
}

/// Audit entries, newest first, before `before` (a `seq`), optionally of one action; each with
/// the name of the record it concerns where there is one (a visit's or household's head of
/// household, a user's display name, a device's name), so the log reads in names, not ids.
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
    // The page first, then one look-up per entry by primary key.
    let sql = format!(
        "SELECT a.seq, a.at, a.username, a.device_id, a.address, a.action, a.entity_kind,
                a.entity_id, a.detail,
                CASE a.entity_kind
                    WHEN 'visit' THEN hv.nama_krt
                    WHEN 'household' THEN h.nama_krt
                    WHEN 'user' THEN u.display_name
                    WHEN 'device' THEN d.name
                END
         FROM (SELECT * FROM audit WHERE {} ORDER BY seq DESC LIMIT {}) a
         LEFT JOIN visits v ON a.entity_kind = 'visit' AND v.id = a.entity_id
         LEFT JOIN households hv ON hv.id = v.household_id
         LEFT JOIN households h ON a.entity_kind = 'household' AND h.id = a.entity_id
         LEFT JOIN users u ON a.entity_kind = 'user' AND u.id = a.entity_id
         LEFT JOIN devices d ON a.entity_kind = 'device' AND d.id = a.entity_id
         ORDER BY a.seq DESC",
        w.sql(),
        limit.clamp(1, 1000)
    );
    tx.query(&sql, &w.params)
}

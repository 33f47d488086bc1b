//! The audit log as admins read it. Entries are written by [`crate::repo::audit`] in the same
//! transaction as the act they record; reads of personal data are audited by
//! `App::audit_read`.

use verivali_domain::Role;
use verivali_protocol::review::{AuditEntry, AuditPage};

use crate::app::{App, Caller};
use crate::error::ApiError;
use crate::repo;

impl App {
    /// `GET /api/v1/admin/audit`: the audit log, newest first (admins only).
    pub fn audit_log(
        &self,
        caller: &Caller,
        before: Option<i64>,
        action: Option<&str>,
        limit: Option<usize>,
    ) -> Result<AuditPage, ApiError> {
        if caller.user.role != Role::Admin {
            return Err(ApiError::forbidden(caller.lang));
        }
        let limit = limit.unwrap_or(100).clamp(1, 1000);
        let mut tx = self.db.read()?;
        let rows = repo::audit_page(tx.as_mut(), before, action.filter(|a| !a.is_empty()), limit)?;
        drop(tx);
        let entries: Vec<AuditEntry> = rows
            .iter()
            .map(|r| AuditEntry {
                seq: r.i64(0),
                at: r.text(1),
                username: r.opt_text(2),
                device_id: r.opt_text(3),
                address: r.opt_text(4),
                action: r.text(5),
                entity_kind: r.opt_text(6),
                entity_id: r.opt_text(7),
                detail: r.opt_text(8),
                entity_name: r.opt_text(9),
            })
            .collect();
        let next_before = (entries.len() == limit)
            .then(|| entries.last().map(|e| e.seq))
            .flatten();
        Ok(AuditPage {
            entries,
            next_before,
        })
    }
}

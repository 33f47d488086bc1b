//! `GET /api/v1/sync/pull`: one page of the change feed in commit order, limited to the caller's
//! areas and leaving out what the caller's own device pushed; a non-empty page is audited.

use serde_json::json;
use verivali_protocol::{Change, ChangeKind, PullResponse};

use crate::app::{App, Caller, Metrics};
use crate::error::ApiError;
use crate::repo::{self, Audit};

use super::{PULL_DEFAULT, PULL_MAX, audit};

impl App {
    /// A page of changes the caller may see.
    pub fn pull(
        &self,
        caller: &Caller,
        cursor: &str,
        limit: Option<usize>,
    ) -> Result<PullResponse, ApiError> {
        // The desk roles work in the dashboard, whose reads are scoped, masked and audited; the
        // sync feed carries whole households with their NIKs to a device.
        if matches!(
            caller.user.role,
            verivali_domain::Role::Operator | verivali_domain::Role::Verifier
        ) {
            return Err(ApiError::forbidden(caller.lang));
        }
        let limit = limit.unwrap_or(PULL_DEFAULT).clamp(1, PULL_MAX);
        let now = self.now();
        if cursor.is_empty() || cursor == "0" {
            // From the start: withdrawals written before now concern households this device
            // never received. A minute of margin covers an assignment committing meanwhile.
            let start = repo::ts(now - chrono::Duration::minutes(1));
            let mut tx = self.db.write()?;
            repo::set_feed_start(tx.as_mut(), caller.device.id, &start)?;
            tx.commit()?;
        }
        let mut tx = self.db.read()?;
        let withdrawn_after = repo::feed_start(tx.as_mut(), caller.device.id)?;
        let (rows, next_cursor, has_more) = repo::pull(
            tx.as_mut(),
            &caller.user.scope(),
            caller.device.id,
            cursor,
            limit,
            &withdrawn_after,
        )?;
        drop(tx);
        let mut changes = Vec::with_capacity(rows.len());
        for r in rows {
            let kind: ChangeKind =
                serde_json::from_value(json!(r.kind)).map_err(|e| ApiError::internal(&e))?;
            // As stored: checked to be JSON, not rebuilt.
            let data = if r.deleted {
                Change::null()
            } else {
                serde_json::value::RawValue::from_string(r.data)
                    .map_err(|e| ApiError::internal(&e))?
            };
            changes.push(Change {
                kind,
                id: r.entity_id,
                version: r.version,
                deleted: r.deleted,
                data,
            });
        }
        if !changes.is_empty() {
            // The households this page gave an enumerator's device: their assignments (if any)
            // are now received.
            let received: Vec<uuid::Uuid> = changes
                .iter()
                .filter(|c| c.kind == ChangeKind::Household && !c.deleted)
                .filter_map(|c| c.id.parse().ok())
                .collect();
            let mut tx = self.db.write()?;
            if caller.user.role == verivali_domain::Role::Enumerator && !received.is_empty() {
                repo::mark_received(tx.as_mut(), caller.user.id, &received, now)?;
            }
            let detail = format!(
                "{} changes, cursor {cursor:?} -> {next_cursor:?}",
                changes.len()
            );
            repo::audit(
                tx.as_mut(),
                &Audit {
                    detail: Some(detail),
                    ..audit(caller, "sync.pull", "changes", caller.device.id, None)
                },
                now,
            )?;
            tx.commit()?;
        }
        Metrics::add(&self.metrics.pulls, 1);
        let refs = if has_more {
            None
        } else {
            Some(self.reference_stamp(caller)?)
        };
        Ok(PullResponse {
            changes,
            next_cursor,
            has_more,
            server_time: now,
            refs,
        })
    }

    /// The stamp of what `GET /api/v1/regions` and `GET /api/v1/periods` answer the caller now
    /// (the first 16 hex digits of a SHA-256 of both answers): the device fetches them only when
    /// it changes ([`PullResponse::refs`]). Built from the answers themselves, so any change a
    /// device would see (a name imported, a period opened, a period's day-by-day warning)
    /// changes it, and nothing has to remember to.
    fn reference_stamp(&self, caller: &Caller) -> Result<String, ApiError> {
        use sha2::{Digest, Sha256};
        let answers = (self.regions(caller)?, self.periods(caller)?);
        let json = serde_json::to_vec(&answers).map_err(|e| ApiError::internal(&e))?;
        let digest = Sha256::digest(&json);
        Ok(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
    }
}

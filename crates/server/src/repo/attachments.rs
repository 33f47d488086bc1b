//! Photos the server holds (by SHA-256), and whether a caller may see one.

use crate::db::{DbError, DbResult, Sql};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Scope, VisitFilter, review_visits, ts};

/// Size of a complete attachment.
pub fn attachment(tx: &mut dyn Sql, sha: &str) -> DbResult<Option<u64>> {
    Ok(tx
        .query_opt(
            "SELECT size FROM attachments WHERE sha256 = $1",
            &[sha.into()],
        )?
        .map(|r| r.i64(0) as u64))
}

/// Records a verified attachment.
pub fn insert_attachment(
    tx: &mut dyn Sql,
    sha: &str,
    size: u64,
    by: Uuid,
    now: DateTime<Utc>,
) -> DbResult<()> {
    match tx.execute(
        "INSERT INTO attachments (sha256, size, uploaded_by, created_at) VALUES ($1, $2, $3, $4)",
        &[sha.into(), size.into(), by.into(), ts(now).into()],
    ) {
        Ok(_) | Err(DbError::Duplicate) => Ok(()),
        Err(e) => Err(e),
    }
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

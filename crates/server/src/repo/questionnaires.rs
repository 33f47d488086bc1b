//! The published questionnaire versions and which one is active.

use crate::db::{DbResult, Sql};
use chrono::{DateTime, Utc};
use verivali_domain::Questionnaire;

use super::{append_change, json, to_json, ts};

pub fn active_questionnaire(tx: &mut dyn Sql) -> DbResult<Option<Questionnaire>> {
    tx.query_opt(
        "SELECT json FROM questionnaires WHERE active = 1 ORDER BY version DESC LIMIT 1",
        &[],
    )?
    .map(|r| json(&r.text(0)))
    .transpose()
}

/// All questionnaire versions (visits may follow an older one).
pub fn questionnaire_version(
    tx: &mut dyn Sql,
    id: &str,
    version: u32,
) -> DbResult<Option<Questionnaire>> {
    tx.query_opt(
        "SELECT json FROM questionnaires WHERE id = $1 AND version = $2",
        &[id.into(), version.into()],
    )?
    .map(|r| json(&r.text(0)))
    .transpose()
}

/// Publishes a questionnaire version as the active one and announces it in the change feed.
pub fn publish_questionnaire(
    tx: &mut dyn Sql,
    q: &Questionnaire,
    now: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "UPDATE questionnaires SET active = 0 WHERE id = $1",
        &[(&q.id).into()],
    )?;
    let text = to_json(q)?;
    tx.execute(
        "INSERT INTO questionnaires (id, version, json, active, published_at) VALUES ($1, $2, $3, 1, $4)",
        &[(&q.id).into(), q.version.into(), text.clone().into(), ts(now).into()],
    )?;
    append_change(
        tx,
        "questionnaire",
        &format!("{}@{}", q.id, q.version),
        i64::from(q.version),
        false,
        "",
        None,
        &text,
        now,
    )
}

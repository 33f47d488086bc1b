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
    .map(|r| json(r.str(0)))
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
    .map(|r| json(r.str(0)))
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

/// The published versions, newest first: (id, version, published_at, active).
pub fn published_versions(tx: &mut dyn Sql) -> DbResult<Vec<(String, u32, String, bool)>> {
    Ok(tx
        .query(
            "SELECT id, version, published_at, active FROM questionnaires ORDER BY version DESC",
            &[],
        )?
        .iter()
        .map(|r| (r.text(0), r.i64(1) as u32, r.text(2), r.i64(3) != 0))
        .collect())
}

/// A draft as stored.
pub struct DraftRow {
    pub id: uuid::Uuid,
    pub questionnaire: Questionnaire,
    pub uploaded_by: String,
    pub uploaded_at: String,
    pub published_at: Option<String>,
}

/// Keeps an uploaded, checked questionnaire version.
pub fn insert_draft(
    tx: &mut dyn Sql,
    id: uuid::Uuid,
    q: &Questionnaire,
    by: &str,
    now: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO questionnaire_drafts (id, questionnaire_id, version, json, uploaded_by, uploaded_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[id.into(), (&q.id).into(), q.version.into(), to_json(q)?.into(), by.into(), ts(now).into()],
    )?;
    Ok(())
}

/// The drafts, newest first (or the one of `id`).
pub fn drafts(tx: &mut dyn Sql, id: Option<uuid::Uuid>) -> DbResult<Vec<DraftRow>> {
    let (filter, params): (&str, Vec<crate::db::Value>) = match id {
        Some(id) => ("WHERE id = $1", vec![id.into()]),
        None => ("", vec![]),
    };
    tx.query(
        &format!(
            "SELECT id, json, uploaded_by, uploaded_at, published_at FROM questionnaire_drafts {filter}
             ORDER BY uploaded_at DESC, id DESC"
        ),
        &params,
    )?
    .iter()
    .map(|r| {
        Ok(DraftRow {
            id: super::uuid(r.str(0))?,
            questionnaire: json(r.str(1))?,
            uploaded_by: r.text(2),
            uploaded_at: r.text(3),
            published_at: r.opt_text(4),
        })
    })
    .collect()
}

/// Marks a draft published.
pub fn mark_draft_published(tx: &mut dyn Sql, id: uuid::Uuid, now: DateTime<Utc>) -> DbResult<()> {
    tx.execute(
        "UPDATE questionnaire_drafts SET published_at = $1 WHERE id = $2",
        &[ts(now).into(), id.into()],
    )?;
    Ok(())
}

//! Questionnaire versions (DESIGN.md §10): an admin uploads a schema, sees every problem at its
//! path (verivali-domain's [`Questionnaire::check_json`]), previews it, and publishes it. Devices
//! pull the new version; a visit begun on an older one is still finished on it and accepted,
//! since each visit names its version and every published version is kept.
//!
//! A new version must keep the questionnaire's id and have a higher number than every version
//! published, so a device can never receive two schemas under one number.

use uuid::Uuid;
use verivali_domain::{Coded, Questionnaire, Role};
use verivali_protocol::admin::{
    PublishedVersion, QuestionnaireDraft, QuestionnaireVersions, SchemaProblem,
};

use crate::app::{App, Caller};
use crate::db::Sql;
use crate::error::{ApiError, Refusal};
use crate::repo::{self, DraftRow};

fn admin_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.user.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(caller.lang))
    }
}

fn draft(d: DraftRow) -> QuestionnaireDraft {
    QuestionnaireDraft {
        id: d.id,
        questionnaire_id: d.questionnaire.id.clone(),
        version: d.questionnaire.version,
        uploaded_by: d.uploaded_by,
        uploaded_at: d.uploaded_at.parse().unwrap_or_default(),
        published_at: d.published_at.and_then(|t| t.parse().ok()),
        questionnaire: d.questionnaire,
    }
}

/// 422 `questionnaire.version_not_newer` or `questionnaire.other_id` against what is published.
fn check_succession(
    tx: &mut dyn Sql,
    q: &Questionnaire,
    caller: &Caller,
) -> Result<Result<(), ApiError>, crate::db::DbError> {
    let published = repo::published_versions(tx)?;
    if let Some((id, _, _, _)) = published.iter().find(|p| p.3)
        && *id != q.id
    {
        return Ok(Err(ApiError::new(
            Refusal::Unprocessable,
            "questionnaire.other_id",
            "Another questionnaire",
            caller.lang,
            &format!("Id kuesioner harus {id:?}, bukan {:?}", q.id),
            &format!("The questionnaire id must be {id:?}, not {:?}", q.id),
        )));
    }
    let highest = published.iter().map(|p| p.1).max().unwrap_or(0);
    if q.version <= highest {
        return Ok(Err(ApiError::new(
            Refusal::Unprocessable,
            "questionnaire.version_not_newer",
            "Version not newer",
            caller.lang,
            &format!(
                "Versi {} tidak lebih baru dari versi {highest} yang sudah terbit",
                q.version
            ),
            &format!(
                "Version {} is not newer than the published version {highest}",
                q.version
            ),
        )));
    }
    Ok(Ok(()))
}

impl App {
    /// `POST /api/v1/admin/questionnaires` (the schema JSON): checked in full; a schema with
    /// problems is refused (422 `questionnaire.invalid`, each problem in `issues` with its path),
    /// a good one kept as a draft.
    pub fn upload_questionnaire(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<QuestionnaireDraft, ApiError> {
        admin_only(caller)?;
        let lang = caller.lang;
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request(lang, "the file is not UTF-8 text"))?;
        let q =
            Questionnaire::check_json(text.trim_start_matches('\u{feff}')).map_err(|issues| {
                let list: Vec<SchemaProblem> = issues
                    .iter()
                    .map(|i| SchemaProblem {
                        path: i.path.clone(),
                        code: i.problem.code().into(),
                        message: i.problem.message(lang),
                    })
                    .collect();
                let first = &list[0];
                ApiError::new(
                    Refusal::Unprocessable,
                    "questionnaire.invalid",
                    "Questionnaire invalid",
                    lang,
                    &format!(
                        "{} masalah pada kuesioner; yang pertama di {}: {}",
                        list.len(),
                        first.path,
                        first.message
                    ),
                    &format!(
                        "{} problems in the questionnaire; the first at {}: {}",
                        list.len(),
                        first.path,
                        first.message
                    ),
                )
                .with("issues", serde_json::to_value(&list).unwrap_or_default())
            })?;
        let now = self.now();
        let id = Uuid::now_v7();
        self.run_write(|tx: &mut dyn Sql| {
            if let Err(e) = check_succession(tx, &q, caller)? {
                return Ok(Err(e));
            }
            repo::insert_draft(tx, id, &q, &caller.user.username, now)?;
            let audit = repo::Audit {
                entity_kind: Some("questionnaire"),
                entity_id: Some(format!("{}@{}", q.id, q.version)),
                ..caller.audit("questionnaire.upload")
            };
            repo::audit(tx, &audit, now)?;
            Ok(Ok(()))
        })?;
        let mut tx = self.db.read()?;
        let row = repo::drafts(tx.as_mut(), Some(id))?
            .pop()
            .ok_or_else(|| ApiError::not_found(lang))?;
        Ok(draft(row))
    }

    /// `GET /api/v1/admin/questionnaires`: published versions and drafts.
    pub fn questionnaire_versions(
        &self,
        caller: &Caller,
    ) -> Result<QuestionnaireVersions, ApiError> {
        admin_only(caller)?;
        let mut tx = self.db.read()?;
        let published = repo::published_versions(tx.as_mut())?
            .into_iter()
            .map(|(id, version, at, active)| PublishedVersion {
                questionnaire_id: id,
                version,
                published_at: at.parse().unwrap_or_default(),
                active,
            })
            .collect();
        let drafts = repo::drafts(tx.as_mut(), None)?
            .into_iter()
            .map(draft)
            .collect();
        Ok(QuestionnaireVersions { published, drafts })
    }

    /// `POST /api/v1/admin/questionnaires/{draft}/publish`: the draft becomes the active version
    /// devices pull (still newer than every published one, checked again now).
    pub fn publish_draft(&self, caller: &Caller, id: Uuid) -> Result<PublishedVersion, ApiError> {
        admin_only(caller)?;
        let now = self.now();
        let published = self.run_write(|tx: &mut dyn Sql| {
            let Some(d) = repo::drafts(tx, Some(id))?.pop() else {
                return Ok(Err(ApiError::not_found(caller.lang)));
            };
            if let Err(e) = check_succession(tx, &d.questionnaire, caller)? {
                return Ok(Err(e));
            }
            repo::publish_questionnaire(tx, &d.questionnaire, now)?;
            repo::mark_draft_published(tx, id, now)?;
            let audit = repo::Audit {
                entity_kind: Some("questionnaire"),
                entity_id: Some(format!(
                    "{}@{}",
                    d.questionnaire.id, d.questionnaire.version
                )),
                ..caller.audit("questionnaire.publish")
            };
            repo::audit(tx, &audit, now)?;
            Ok(Ok(PublishedVersion {
                questionnaire_id: d.questionnaire.id.clone(),
                version: d.questionnaire.version,
                published_at: now,
                active: true,
            }))
        })?;
        Ok(published)
    }
}

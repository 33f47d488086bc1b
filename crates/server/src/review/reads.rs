//! Reads for reviewers: one page of the queue, one visit with its history and conflicts, batches,
//! progress counts per desa and enumerator, and the photos of a visit.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;
use verivali_domain::quality::{Flag, FlagCode};
use verivali_domain::{Outcome, VisitState};
use verivali_protocol::review::{
    AreaProgress, BatchList, BatchSummary, EnumeratorProgress, PhotoStatus, Progress, ReviewEntry,
    ReviewList, ReviewVisit, UserRef,
};

use crate::app::{App, Caller};
use crate::db::{DbResult, Sql};
use crate::error::ApiError;

use crate::repo::{self, ListedVisit, Scope, VisitFilter};

use super::bad_filter;

/// Query parameters of the queue (all optional).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct QueueQuery {
    /// Review state; `to_review` (submitted or returned: the supervisor's default), `all` for
    /// every state; a verifikator's default is `approved`.
    pub state: Option<String>,
    /// Region code (desa, kecamatan…) inside the caller's areas.
    pub area: Option<String>,
    /// Enumerator's username.
    pub enumerator: Option<String>,
    /// Outcome wire name.
    pub outcome: Option<String>,
    /// Batch id.
    pub batch: Option<Uuid>,
    /// Only visits carrying this flag code (`quality.gps_far`).
    pub flag: Option<String>,
    /// `risk` (default: highest risk first, then oldest) or `oldest` (id order).
    pub sort: Option<String>,
    /// Paging: the last visit id of the previous page.
    pub after: Option<Uuid>,
    /// Page size (1–200, default 50).
    pub limit: Option<usize>,
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    s.parse::<DateTime<Utc>>().ok()
}

impl App {
    /// `GET /api/v1/review/visits`: one page of visits to review.
    pub fn review_list(&self, caller: &Caller, q: &QueueQuery) -> Result<ReviewList, ApiError> {
        Self::reviewer(caller)?;
        let lang = caller.lang;
        let scope = Self::review_scope(caller, q.area.as_deref())?;
        // A verifikator's queue is what supervisors approved; a supervisor's what waits for them,
        // submitted by an enumerator or returned by the verifikator.
        let default = if caller.user.role == verivali_domain::Role::Verifier {
            "approved"
        } else {
            "to_review"
        };
        let (state, or_state) = match q.state.as_deref().unwrap_or(default) {
            "all" | "" => (None, None),
            "to_review" => (Some(VisitState::Submitted), Some(VisitState::Returned)),
            s => (
                Some(VisitState::parse(s).ok_or_else(|| bad_filter(lang, "state", s))?),
                None,
            ),
        };
        let outcome = match q.outcome.as_deref().filter(|o| !o.is_empty()) {
            None => None,
            Some(o) => Some(
                Outcome::ALL
                    .iter()
                    .find(|x| x.as_str() == o)
                    .ok_or_else(|| bad_filter(lang, "outcome", o))?
                    .as_str()
                    .to_string(),
            ),
        };
        let flag = match q.flag.as_deref().filter(|f| !f.is_empty()) {
            None => None,
            Some(f) => Some(
                FlagCode::parse(f)
                    .ok_or_else(|| bad_filter(lang, "flag", f))?
                    .as_str()
                    .to_string(),
            ),
        };
        let by_risk = match q.sort.as_deref().unwrap_or("risk") {
            "risk" | "" => true,
            "oldest" => false,
            s => return Err(bad_filter(lang, "sort", s)),
        };
        let limit = q.limit.unwrap_or(50).clamp(1, 200);
        let mut tx = self.db.read()?;
        let after_risk = match (q.after, by_risk) {
            (Some(a), true) => repo::flags_of(tx.as_mut(), a)?.map(|(_, r)| r),
            _ => None,
        };
        let filter = VisitFilter {
            state,
            or_state,
            enumerator: q.enumerator.clone().filter(|e| !e.is_empty()),
            outcome,
            batch: q.batch,
            after: q.after,
            flag,
            by_risk,
            after_risk,
            // One more than the page: whether a next page exists is known, not guessed from a
            // full page (a last page of exactly `limit` offered a "more" that found nothing).
            limit: limit + 1,
            ..Default::default()
        };
        let mut listed = repo::review_visits(tx.as_mut(), &scope, &filter)?;
        let more = listed.len() > limit;
        listed.truncate(limit);
        let periods = repo::periods(tx.as_mut())?;
        let visits = listed
            .iter()
            .map(|v| self.review_visit(tx.as_mut(), &scope, v, &periods, lang))
            .collect::<DbResult<Vec<_>>>()?;
        drop(tx);
        let next_after = more
            .then(|| visits.last().map(|v| v.found.visit_id))
            .flatten();
        self.audit_read(
            caller,
            "review.list",
            None,
            format!(
                "{} visits; state={} area={} enumerator={} outcome={} flag={}",
                visits.len(),
                q.state.as_deref().unwrap_or(default),
                q.area.as_deref().unwrap_or("*"),
                q.enumerator.as_deref().unwrap_or("*"),
                q.outcome.as_deref().unwrap_or("*"),
                q.flag.as_deref().unwrap_or("*")
            ),
        )?;
        Ok(ReviewList { visits, next_after })
    }

    /// `GET /api/v1/review/visits/{id}`: one visit, any state; 404 outside the caller's areas.
    pub fn review_one(&self, caller: &Caller, id: Uuid) -> Result<ReviewVisit, ApiError> {
        Self::reviewer(caller)?;
        let scope = caller.user.scope();
        let mut tx = self.db.read()?;
        let filter = VisitFilter {
            id: Some(id),
            limit: 1,
            ..Default::default()
        };
        let Some(listed) = repo::review_visits(tx.as_mut(), &scope, &filter)?
            .into_iter()
            .next()
        else {
            return Err(ApiError::not_found(caller.lang));
        };
        let periods = repo::periods(tx.as_mut())?;
        let visit = self.review_visit(tx.as_mut(), &scope, &listed, &periods, caller.lang)?;
        drop(tx);
        self.audit_read(
            caller,
            "review.view",
            Some(("visit", id.to_string())),
            visit.state.to_string(),
        )?;
        Ok(visit)
    }

    /// Assembles what a reviewer sees of one visit.
    fn review_visit(
        &self,
        tx: &mut dyn Sql,
        scope: &Scope,
        v: &ListedVisit,
        periods: &[verivali_domain::cycle::Period],
        lang: verivali_domain::Lang,
    ) -> DbResult<ReviewVisit> {
        let rec = &v.row.record;
        let baseline = repo::household_scoped(tx, scope, rec.household_id)?;
        let (baseline_members, conflicts) = match &baseline {
            Some(h) => (
                repo::members(tx, h.id)?,
                crate::review::decisions::baseline_conflicts(tx, &v.row, h)?.1,
            ),
            None => (vec![], vec![]),
        };
        let mut photos = Vec::new();
        for sha in &rec.photos {
            photos.push(PhotoStatus {
                sha256: sha.clone(),
                present: repo::attachment(tx, sha)?.is_some(),
                kind: rec.photo_kind(sha),
            });
        }
        let reviews = repo::reviews_of(tx, rec.visit_id)?
            .into_iter()
            .filter_map(|(decision, reason, reviewer, at)| {
                Some(ReviewEntry {
                    decision: serde_json::from_value(serde_json::Value::String(decision)).ok()?,
                    reason,
                    reviewer,
                    at: parse_time(&at)?,
                })
            })
            .collect();
        // Computed at ingest (crate::quality); a visit stored before flags existed has none.
        let mut quality: Vec<Flag> = serde_json::from_str(&v.flags).unwrap_or_default();
        for f in &mut quality {
            f.message = f.describe(lang);
        }
        let reference_gps = repo::reference_points(tx, &[rec.household_id])?
            .remove(&rec.household_id)
            .filter(|(id, _)| *id != rec.visit_id)
            .map(|(_, g)| g);
        Ok(ReviewVisit {
            reference_gps,
            flags: quality
                .iter()
                .map(|f| f.code.as_str().to_string())
                .collect(),
            risk: u32::try_from(v.risk).unwrap_or(0),
            quality,
            state: v.row.state,
            enumerator: UserRef {
                id: v.row.enumerator_id,
                username: v.username.clone(),
                display_name: v.display_name.clone(),
            },
            batch_id: v.row.batch_id,
            submitted_at: v.submitted_at.as_deref().and_then(parse_time),
            baseline,
            baseline_members,
            found: rec.clone(),
            photos,
            conflicts,
            other_visits: repo::other_visit_states(
                tx,
                rec.household_id,
                rec.visit_id,
                rec.finished_at,
                periods,
            )?
            .into_iter()
            .map(|(id, _)| id)
            .collect(),
            kode_desa: v.row.kode_desa.clone(),
            reviews,
        })
    }

    /// `GET /api/v1/review/batches`: batches with a visit in the caller's areas, newest first.
    pub fn review_batches(
        &self,
        caller: &Caller,
        area: Option<&str>,
    ) -> Result<BatchList, ApiError> {
        Self::reviewer(caller)?;
        let scope = Self::review_scope(caller, area)?;
        let mut tx = self.db.read()?;
        let rows = repo::batches(tx.as_mut(), &scope, 200)?;
        let batches = rows
            .into_iter()
            .map(|b| {
                let states: BTreeMap<String, u64> = b.states.into_iter().collect();
                BatchSummary {
                    batch_id: b.id,
                    enumerator: UserRef {
                        id: b.enumerator.0,
                        username: b.enumerator.1,
                        display_name: b.enumerator.2,
                    },
                    created_at: parse_time(&b.created_at).unwrap_or_default(),
                    visit_count: states.values().sum(),
                    states,
                }
            })
            .collect();
        Ok(BatchList { batches })
    }

    /// `GET /api/v1/review/progress`: counts per desa and per enumerator.
    pub fn progress(&self, caller: &Caller, area: Option<&str>) -> Result<Progress, ApiError> {
        Self::reviewer(caller)?;
        let scope = Self::review_scope(caller, area)?;
        let mut tx = self.db.read()?;
        let today = verivali_domain::visit::validation_date(self.now()).to_string();
        let p = repo::progress(tx.as_mut(), &scope, &today)?;
        drop(tx);
        let given = |m: &std::collections::HashMap<String, [u64; 3]>, d: &str| {
            m.get(d).copied().unwrap_or_default()
        };
        // Households of a desa nobody was given: every enumerator of the desa may visit them.
        let shared_in = |d: &str, n: u64| n.saturating_sub(given(&p.given_by_desa, d)[0]);
        let count = |m: &std::collections::HashMap<(String, String), u64>, d: &str, s: &str| {
            m.get(&(d.to_string(), s.to_string())).copied().unwrap_or(0)
        };
        let areas = p
            .households
            .iter()
            .map(|(d, n)| AreaProgress {
                kode_desa: d.clone(),
                assigned: *n,
                given: given(&p.given_by_desa, d)[0],
                received: given(&p.given_by_desa, d)[1],
                overdue: given(&p.given_by_desa, d)[2],
                visited: p.visited.get(d).copied().unwrap_or(0),
                draft: count(&p.by_desa, d, "draft"),
                // A returned visit waits for review again; a verified one is approved and more.
                submitted: count(&p.by_desa, d, "submitted") + count(&p.by_desa, d, "returned"),
                approved: count(&p.by_desa, d, "approved") + count(&p.by_desa, d, "verified"),
                rejected: count(&p.by_desa, d, "rejected"),
            })
            .collect();
        let by = |id: Uuid, s: &str| {
            p.by_enumerator
                .get(&(id, s.to_string()))
                .copied()
                .unwrap_or(0)
        };
        let enumerators = p
            .enumerators
            .iter()
            .map(|(id, username, display_name, codes)| {
                let theirs = enumerator_areas(codes);
                let own = p.given_to.get(id).copied().unwrap_or_default();
                EnumeratorProgress {
                    enumerator: UserRef {
                        id: *id,
                        username: username.clone(),
                        display_name: display_name.clone(),
                    },
                    areas: codes.clone(),
                    assigned: own[0],
                    shared: p
                        .households
                        .iter()
                        .filter(|(d, _)| theirs.contains(d))
                        .map(|(d, n)| shared_in(d, *n))
                        .sum(),
                    received: own[1],
                    overdue: own[2],
                    visited: p.visited_by.get(id).copied().unwrap_or(0),
                    draft: by(*id, "draft"),
                    submitted: by(*id, "submitted") + by(*id, "returned"),
                    approved: by(*id, "approved") + by(*id, "verified"),
                    rejected: by(*id, "rejected"),
                }
            })
            .collect();
        Ok(Progress { areas, enumerators })
    }

    /// `GET /api/v1/review/visits/{id}/photos/{sha}`: the bytes of a photo of a visit the caller
    /// may review.
    pub fn review_photo(
        &self,
        caller: &Caller,
        visit: Uuid,
        sha: &str,
    ) -> Result<Vec<u8>, ApiError> {
        Self::reviewer(caller)?;
        let visible = {
            let mut tx = self.db.read()?;
            repo::photo_visible(tx.as_mut(), &caller.user.scope(), visit, sha)?
                && repo::attachment(tx.as_mut(), sha)?.is_some()
        };
        let path = self.attachment_path(sha);
        if !visible || !path.is_file() {
            return Err(ApiError::not_found(caller.lang));
        }
        self.audit_read(
            caller,
            "review.photo",
            Some(("visit", visit.to_string())),
            sha.to_string(),
        )?;
        std::fs::read(path).map_err(|e| ApiError::internal(&e))
    }
}

/// An enumerator's areas as stored (region codes as text); codes that do not parse see nothing.
fn enumerator_areas(codes: &[String]) -> verivali_domain::Areas {
    verivali_domain::Areas::new(
        codes
            .iter()
            .filter_map(|c| verivali_domain::RegionCode::parse(c).ok()),
    )
}

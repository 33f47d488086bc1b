//! The review queue for supervisors and admins: visits to review (list and one), batches and the
//! bulk approval of a batch, progress counts, and the photos of a visit. Enumerators get 403 on
//! all of it; everything is limited to the caller's areas (narrowed further by `area=`); every
//! read of personal data is audited.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;
use verivali_domain::{Decision, Lang, Outcome, RegionCode, Role, VisitState};
use verivali_protocol::OpError;
use verivali_protocol::review::{
    AreaProgress, AuditEntry, AuditPage, BatchList, BatchSummary, BulkResponse, BulkResult,
    DecisionRequest, EnumeratorProgress, PhotoStatus, Progress, ReviewEntry, ReviewList,
    ReviewVisit, UserRef,
};

use crate::app::{App, Caller};
use crate::db::{DbResult, Sql};
use crate::error::ApiError;
use crate::repo::queue::{self, ListedVisit, VisitFilter};
use crate::repo::{self, Audit, Scope};

/// Query parameters of the queue (all optional).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct QueueQuery {
    /// Review state (`submitted` unless given; `all` for every state).
    pub state: Option<String>,
    /// Region code (desa, kecamatan…) inside the caller's areas.
    pub area: Option<String>,
    /// Enumerator's username.
    pub enumerator: Option<String>,
    /// Outcome wire name.
    pub outcome: Option<String>,
    /// Batch id.
    pub batch: Option<Uuid>,
    /// Paging: the last visit id of the previous page.
    pub after: Option<Uuid>,
    /// Page size (1–200, default 50).
    pub limit: Option<usize>,
}

fn bad_filter(lang: Lang, what: &str, value: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "review.bad_filter",
        "Bad filter",
        lang,
        &format!("Saringan {what} tidak dikenal: {value}"),
        &format!("Unknown {what} filter: {value}"),
    )
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    s.parse::<DateTime<Utc>>().ok()
}

impl App {
    /// 403 unless the caller reviews (supervisor or admin).
    pub(crate) fn reviewer(caller: &Caller) -> Result<(), ApiError> {
        match caller.user.role {
            Role::Supervisor | Role::Admin => Ok(()),
            Role::Enumerator => Err(ApiError::forbidden(caller.lang)),
        }
    }

    /// The caller's scope, narrowed by an `area=` filter.
    pub(crate) fn review_scope(caller: &Caller, area: Option<&str>) -> Result<Scope, ApiError> {
        let scope = caller.user.scope();
        match area.map(str::trim).filter(|a| !a.is_empty()) {
            None => Ok(scope),
            Some(a) => {
                let code = RegionCode::parse(a).map_err(|_| bad_filter(caller.lang, "area", a))?;
                Ok(scope.narrow(&code))
            }
        }
    }

    /// Appends one audit entry for a read (its own small write job, committed with others).
    pub(crate) fn audit_read(
        &self,
        caller: &Caller,
        action: &str,
        entity: Option<(&str, String)>,
        detail: String,
    ) -> Result<(), ApiError> {
        let now = self.now();
        let (kind, id) = entity.map_or((None, None), |(k, i)| (Some(k), Some(i)));
        self.db.write_job(&mut |tx: &mut dyn Sql| {
            repo::audit(
                tx,
                &Audit {
                    entity_kind: kind,
                    entity_id: id.clone(),
                    detail: Some(detail.clone()),
                    ..caller.audit(action)
                },
                now,
            )
        })?;
        Ok(())
    }

    /// `GET /api/v1/review/visits`: one page of visits to review.
    pub fn review_list(&self, caller: &Caller, q: &QueueQuery) -> Result<ReviewList, ApiError> {
        Self::reviewer(caller)?;
        let lang = caller.lang;
        let scope = Self::review_scope(caller, q.area.as_deref())?;
        let state = match q.state.as_deref().unwrap_or("submitted") {
            "all" | "" => None,
            s => Some(VisitState::parse(s).ok_or_else(|| bad_filter(lang, "state", s))?),
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
        let limit = q.limit.unwrap_or(50).clamp(1, 200);
        let filter = VisitFilter {
            state,
            enumerator: q.enumerator.clone().filter(|e| !e.is_empty()),
            outcome,
            batch: q.batch,
            after: q.after,
            limit,
            ..Default::default()
        };
        let mut tx = self.db.read()?;
        let listed = queue::review_visits(tx.as_mut(), &scope, &filter)?;
        let visits = listed
            .iter()
            .map(|v| self.review_visit(tx.as_mut(), &scope, v))
            .collect::<DbResult<Vec<_>>>()?;
        drop(tx);
        let next_after = (visits.len() == limit)
            .then(|| visits.last().map(|v| v.found.visit_id))
            .flatten();
        self.audit_read(
            caller,
            "review.list",
            None,
            format!(
                "{} visits; state={} area={} enumerator={} outcome={}",
                visits.len(),
                q.state.as_deref().unwrap_or("submitted"),
                q.area.as_deref().unwrap_or("*"),
                q.enumerator.as_deref().unwrap_or("*"),
                q.outcome.as_deref().unwrap_or("*")
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
        let Some(listed) = queue::review_visits(tx.as_mut(), &scope, &filter)?
            .into_iter()
            .next()
        else {
            return Err(ApiError::not_found(caller.lang));
        };
        let visit = self.review_visit(tx.as_mut(), &scope, &listed)?;
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
    ) -> DbResult<ReviewVisit> {
        let rec = &v.row.record;
        let baseline = repo::household_scoped(tx, scope, rec.household_id)?;
        let (baseline_members, conflicts) = match &baseline {
            Some(h) => (
                repo::members(tx, h.id)?,
                crate::review::baseline_conflicts(tx, &v.row, h)?.1,
            ),
            None => (vec![], vec![]),
        };
        let mut photos = Vec::new();
        for sha in &rec.photos {
            photos.push(PhotoStatus {
                sha256: sha.clone(),
                present: repo::attachment(tx, sha)?.is_some(),
            });
        }
        let reviews = queue::reviews_of(tx, rec.visit_id)?
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
        Ok(ReviewVisit {
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
            other_visits: queue::other_visits(tx, rec.household_id, rec.visit_id)?,
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
        let rows = queue::batches(tx.as_mut(), &scope, 200)?;
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

    /// `POST /api/v1/review/batches/{id}/approve`: approves every submitted visit of a batch in
    /// the caller's areas, each as its own decision; a visit that cannot be approved (photos
    /// missing, conflicts to settle) is reported and never blocks the others.
    pub fn approve_batch(&self, caller: &Caller, batch: Uuid) -> Result<BulkResponse, ApiError> {
        Self::reviewer(caller)?;
        let scope = caller.user.scope();
        let mut ids = Vec::new();
        {
            let mut tx = self.db.read()?;
            let mut filter = VisitFilter {
                state: Some(VisitState::Submitted),
                batch: Some(batch),
                limit: 500,
                ..Default::default()
            };
            loop {
                let page = queue::review_visits(tx.as_mut(), &scope, &filter)?;
                let full = page.len() == filter.limit;
                ids.extend(page.iter().map(|v| v.row.record.visit_id));
                match (full, ids.last()) {
                    (true, Some(last)) => filter.after = Some(*last),
                    _ => break,
                }
            }
        }
        if ids.is_empty() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "review.batch_empty",
                "Nothing to approve",
                caller.lang,
                "Tidak ada kunjungan menunggu pemeriksaan dalam kiriman ini",
                "No visit in this batch is waiting for review",
            ));
        }
        let req = DecisionRequest {
            decision: Decision::Approve,
            reason: None,
            resolutions: BTreeMap::new(),
        };
        let results = ids
            .into_iter()
            .map(|id| match self.decide(caller, id, &req) {
                Ok(r) => BulkResult {
                    visit_id: id,
                    state: Some(r.state),
                    error: None,
                },
                Err(e) => BulkResult {
                    visit_id: id,
                    state: None,
                    error: Some(OpError {
                        code: e.code.to_string(),
                        message: e.detail,
                        field: None,
                    }),
                },
            })
            .collect();
        Ok(BulkResponse { results })
    }

    /// `GET /api/v1/review/progress`: counts per desa and per enumerator.
    pub fn progress(&self, caller: &Caller, area: Option<&str>) -> Result<Progress, ApiError> {
        Self::reviewer(caller)?;
        let scope = Self::review_scope(caller, area)?;
        let mut tx = self.db.read()?;
        let p = queue::progress(tx.as_mut(), &scope)?;
        drop(tx);
        let count = |m: &std::collections::HashMap<(String, String), u64>, d: &str, s: &str| {
            m.get(&(d.to_string(), s.to_string())).copied().unwrap_or(0)
        };
        let areas = p
            .households
            .iter()
            .map(|(d, n)| AreaProgress {
                kode_desa: d.clone(),
                assigned: *n,
                visited: p.visited.get(d).copied().unwrap_or(0),
                draft: count(&p.by_desa, d, "draft"),
                submitted: count(&p.by_desa, d, "submitted"),
                approved: count(&p.by_desa, d, "approved"),
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
            .map(|(id, username, display_name, codes)| EnumeratorProgress {
                enumerator: UserRef {
                    id: *id,
                    username: username.clone(),
                    display_name: display_name.clone(),
                },
                areas: codes.clone(),
                assigned: p
                    .households
                    .iter()
                    .filter(|(d, _)| codes.iter().any(|c| d.starts_with(c.as_str())))
                    .map(|(_, n)| n)
                    .sum(),
                visited: p.visited_by.get(id).copied().unwrap_or(0),
                draft: by(*id, "draft"),
                submitted: by(*id, "submitted"),
                approved: by(*id, "approved"),
                rejected: by(*id, "rejected"),
            })
            .collect();
        Ok(Progress { areas, enumerators })
    }

    /// `GET /api/v1/review/visits/{id}/photos/{sha}`: a photo of a visit the caller may review.
    pub fn review_photo(
        &self,
        caller: &Caller,
        visit: Uuid,
        sha: &str,
    ) -> Result<std::path::PathBuf, ApiError> {
        Self::reviewer(caller)?;
        let visible = {
            let mut tx = self.db.read()?;
            queue::photo_visible(tx.as_mut(), &caller.user.scope(), visit, sha)?
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
        Ok(path)
    }

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
        let rows = queue::audit_page(tx.as_mut(), before, action.filter(|a| !a.is_empty()), limit)?;
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

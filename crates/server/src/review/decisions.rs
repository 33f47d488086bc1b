//! `POST /api/v1/review/visits/{id}/decision`: a supervisor's (or admin's) decision on a visit;
//! `POST /api/v1/review/batches/{id}/approve`: the same decision for each visit of a batch.
//!
//! The state machine of `verivali-domain` decides what is allowed (409 when the visit is not
//! `submitted`, 422 when a rejection has no reason, 403 for other roles). Approval needs every
//! photo of the visit present and intact, and applies what the enumerator found to the baseline
//! as a new version. When the baseline moved on since the visit's `baseline_version`, each field
//! changed on both sides must be settled (`resolutions`: `found` or `current`), else 409 with the
//! conflicts. Every decision is an immutable review event, announced to the enumerator's device.
//!
//! Two levels (DESIGN.md §12): where an active verifikator dinas covers the visit's desa, the
//! supervisor's approval no longer touches the baseline; the verifikator's `verify` applies it
//! (settling conflicts the same way) and `return` sends the visit back to the supervisor's queue
//! with a reason. A kabupaten with no verifikator keeps working as before: approval applies the
//! baseline, and a later verification applies nothing twice (`visits.baseline_applied`).
//!
//! One approved truth per household (`verivali_domain::review::second_truths`): approving a visit
//! while another visit of the household is submitted or approved answers 409
//! `review.second_visit` with those visits, unless the request says `supersede`; then they become
//! `superseded` in the same transaction (each its own review event and audit entry, announced to
//! its enumerator's device). The other way out is an ordinary rejection of this visit.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;
use verivali_domain::review::second_truths;
use verivali_domain::{Action, Decision, Household, HouseholdFields, ReviewEvent, transition};
use verivali_protocol::OpError;
use verivali_protocol::pull::MemberChange;
use verivali_protocol::review::{
    BulkApproveRequest, BulkResponse, BulkResult, DecisionRequest, DecisionResponse, FieldConflict,
};

use crate::app::{App, Caller};
use crate::db::{DbError, DbResult, Sql};
use crate::error::{ApiError, Refusal};
use crate::repo::{self, Audit, VisitFilter, VisitRow};
use verivali_domain::VisitState;

/// What the enumerator found, laid over the current baseline, and the fields that changed on both
/// sides since the baseline version the enumerator saw (none when the baseline did not move).
pub(crate) fn baseline_conflicts(
    tx: &mut dyn Sql,
    visit: &VisitRow,
    current: &Household,
) -> DbResult<(Household, Vec<FieldConflict>)> {
    let found_h = current.with_found(&visit.record.household);
    let mut conflicts = Vec::new();
    if current.version != visit.record.baseline_version {
        let seen = repo::household_version(tx, current.id, visit.record.baseline_version)?;
        for f in HouseholdFields::NAMES {
            let field = |h: &Household| h.get(f).unwrap_or(Value::Null);
            let (cur, fnd) = (field(current), field(&found_h));
            let seen_v = seen.as_ref().map_or(Value::Null, field);
            if cur != seen_v && fnd != cur {
                conflicts.push(FieldConflict {
                    field: format!("household.{f}"),
                    seen: seen_v,
                    current: cur,
                    found: fnd,
                });
            }
        }
    }
    Ok((found_h, conflicts))
}

/// Records a decision already allowed: the visit's new state, its change for the enumerator's
/// device, the immutable review event (announced to that device too) and the audit entry.
#[allow(clippy::too_many_arguments)]
fn record_decision(
    tx: &mut dyn Sql,
    caller: &Caller,
    visit: &VisitRow,
    next: VisitState,
    decision: Decision,
    reason: Option<String>,
    detail: String,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let visit_id = visit.record.visit_id;
    // The audit trail keeps which flags the reviewer saw when deciding.
    let seen = repo::flags_of(tx, visit_id)?
        .map(|(f, _)| crate::quality::codes(&f))
        .unwrap_or_default();
    let detail = if seen.is_empty() {
        detail
    } else {
        format!("{detail}; flags {}", seen.join(" "))
    };
    repo::set_visit_state(tx, visit_id, next, visit.batch_id, now)?;
    crate::sync::visit_change(
        tx,
        &VisitRow {
            state: next,
            ..visit.clone()
        },
        now,
    )?;
    let review_id = Uuid::now_v7();
    let event = ReviewEvent {
        visit_id,
        decision,
        reason,
        reviewer: caller.user.id,
        at: now,
    };
    repo::insert_review(tx, review_id, &event)?;
    if next == VisitState::Approved {
        // After the review: the cells carry this approval's reviewer and time.
        crate::export::keep_export_cells(tx, &visit.record, &seen.join(" "))?;
    }
    let data = serde_json::to_string(&event).map_err(|e| DbError::Corrupt(e.to_string()))?;
    repo::append_change(
        tx,
        "review",
        &review_id.to_string(),
        1,
        false,
        &visit.kode_desa,
        Some(visit.enumerator_id),
        &data,
        now,
    )?;
    repo::audit(
        tx,
        &Audit {
            entity_kind: Some("visit"),
            entity_id: Some(visit_id.to_string()),
            detail: Some(detail),
            ..caller.audit("review.decision")
        },
        now,
    )
}

impl App {
    /// Decides on a visit.
    pub fn decide(
        &self,
        caller: &Caller,
        visit_id: Uuid,
        req: &DecisionRequest,
    ) -> Result<DecisionResponse, ApiError> {
        let reason = req.reason.clone().unwrap_or_default();
        let action = match req.decision {
            Decision::Approve => Action::Approve,
            Decision::Reject => Action::Reject {
                reason: reason.clone(),
            },
            Decision::Reopen => Action::Reopen {
                reason: reason.clone(),
            },
            Decision::Verify => Action::Verify,
            Decision::Return => Action::Return {
                reason: reason.clone(),
            },
            // Only ever the consequence of approving another visit with `supersede`.
            Decision::Supersede => {
                return Err(ApiError::new(
                    Refusal::Unprocessable,
                    "review.supersede_by_approval",
                    "Supersede by approving the other visit",
                    caller.lang,
                    "Kunjungan diganti dengan menyetujui kunjungan lain rumah tangga ini \
                     (pilih \"gantikan\"), bukan langsung",
                    "A visit is superseded by approving the household's other visit with \
                     \"supersede\", not directly",
                ));
            }
        };
        let now = self.now();
        self.run_write(|tx| self.decide_in(tx, caller, visit_id, req, &action, now))
    }

    #[allow(clippy::too_many_arguments)]
    fn decide_in(
        &self,
        tx: &mut dyn Sql,
        caller: &Caller,
        visit_id: Uuid,
        req: &DecisionRequest,
        action: &Action,
        now: DateTime<Utc>,
    ) -> DbResult<Result<DecisionResponse, ApiError>> {
        let lang = caller.lang;
        // The household's visits in one order first: a supersession locks the others too.
        repo::lock_household_visits(tx, visit_id)?;
        // Outside the caller's areas a visit does not exist for them.
        let Some(visit) = repo::visit_for_update(tx, visit_id)?
            .filter(|v| caller.user.areas.contains(&v.kode_desa))
        else {
            return Ok(Err(ApiError::not_found(lang)));
        };
        let next = match transition(visit.state, action, caller.user.role) {
            Ok(s) => s,
            Err(e) => {
                let refusal = Refusal::from(&e);
                return Ok(Err(ApiError::coded(refusal, "Decision refused", &e, lang)));
            }
        };
        // One approved truth per household: the visits this approval would stand beside.
        let mut standing = Vec::new();
        if req.decision == Decision::Approve {
            let periods = repo::periods(tx)?;
            let others = repo::other_visit_states(
                tx,
                visit.record.household_id,
                visit_id,
                visit.record.finished_at,
                &periods,
            )?;
            standing = second_truths(&others);
            if !standing.is_empty() && !req.supersede {
                let listed: Vec<Value> = others
                    .iter()
                    .filter(|(id, _)| standing.contains(id))
                    .map(|(id, s)| json!({"visit_id": id, "state": s}))
                    .collect();
                return Ok(Err(ApiError::new(
                    Refusal::Conflict,
                    "review.second_visit",
                    "Another visit of this household",
                    lang,
                    "Rumah tangga ini punya kunjungan lain yang menunggu atau sudah disetujui; \
                     bandingkan keduanya, lalu gantikan yang lain dengan yang ini atau \
                     kembalikan yang ini",
                    "This household has another visit waiting or approved; compare them, then \
                     supersede the other with this one or send this one back",
                )
                .with("others", Value::Array(listed))));
            }
            let mut missing = Vec::new();
            for sha in &visit.record.photos {
                if repo::attachment(tx, sha)?.is_none() {
                    missing.push(sha.clone());
                }
            }
            if !missing.is_empty() {
                return Ok(Err(ApiError::new(
                    Refusal::Conflict,
                    "review.photos_missing",
                    "Photos missing",
                    lang,
                    "Foto kunjungan belum diterima utuh; tunggu sinkronisasi petugas",
                    "The visit's photos have not arrived intact; wait for the enumerator's sync",
                )
                .with("photos", json!(missing))));
            }
            // With a verifikator over this desa, the baseline waits for the verification.
            if visit.record.outcome.updates_baseline()
                && !repo::verified_in(tx, &visit.kode_desa)?
                && !repo::baseline_applied(tx, visit_id)?
            {
                if let Err(e) = self.apply_to_baseline(tx, caller, &visit, req, now)? {
                    return Ok(Err(e));
                }
                repo::set_baseline_applied(tx, visit_id)?;
            }
            for &other in &standing {
                if let Err(e) = self.supersede_in(tx, caller, other, visit_id, now)? {
                    return Ok(Err(e));
                }
            }
        }
        if req.decision == Decision::Verify
            && visit.record.outcome.updates_baseline()
            && !repo::baseline_applied(tx, visit_id)?
        {
            if let Err(e) = self.apply_to_baseline(tx, caller, &visit, req, now)? {
                return Ok(Err(e));
            }
            repo::set_baseline_applied(tx, visit_id)?;
        }
        let reason = req.reason.clone().filter(|r| !r.trim().is_empty());
        // Wire names ("approve -> approved"): the dashboard words them from the vocabulary.
        let detail = format!("{} -> {}", req.decision.as_str(), next.as_str());
        record_decision(tx, caller, &visit, next, req.decision, reason, detail, now)?;
        let opened = crate::quality::open(next) && !crate::quality::open(visit.state);
        if next == VisitState::Approved || opened {
            // Approved, its fix is now the household's reference point for the visits still open;
            // opened again (reopened, returned from approved), it is no longer, and it is open
            // to the checks again itself (checked under the rules in force, as after an upgrade
            // whose first start's check had passed its household: `check_older_visits_once`).
            crate::quality::refresh_households(tx, &[visit.record.household_id])?;
        }
        Ok(Ok(DecisionResponse {
            visit_id,
            state: next,
            decided_at: now,
            superseded: standing,
        }))
    }

    /// Moves `other` to `superseded` because `by` is being approved in its place: its own review
    /// event (announced to its enumerator's device) and audit entry, naming `by`.
    fn supersede_in(
        &self,
        tx: &mut dyn Sql,
        caller: &Caller,
        other: Uuid,
        by: Uuid,
        now: DateTime<Utc>,
    ) -> DbResult<Result<(), ApiError>> {
        let Some(visit) = repo::visit_for_update(tx, other)? else {
            return Ok(Ok(()));
        };
        // The household may have moved desa since that visit (a re-import): a reviewer decides
        // only what lies in their own areas.
        if !caller.user.areas.contains(&visit.kode_desa) {
            return Ok(Err(ApiError::new(
                Refusal::Conflict,
                "review.second_visit_outside",
                "The other visit is outside your areas",
                caller.lang,
                "Kunjungan lain rumah tangga ini tercatat di luar wilayah Anda; minta pengawas \
                 wilayah itu atau admin memutuskannya, atau kembalikan kunjungan ini",
                "The household's other visit was recorded outside your areas; ask that area's \
                 supervisor or an admin to decide it, or send this visit back",
            )
            .with("visit_id", json!(other))));
        }
        let next = match transition(visit.state, &Action::Supersede, caller.user.role) {
            Ok(s) => s,
            Err(e) => {
                let refusal = Refusal::from(&e);
                return Ok(Err(ApiError::coded(
                    refusal,
                    "Decision refused",
                    &e,
                    caller.lang,
                )));
            }
        };
        // "supersede -> superseded by <visit>": the dashboard words it and links the visit.
        let detail = format!(
            "{} -> {} by {by}",
            Decision::Supersede.as_str(),
            next.as_str()
        );
        record_decision(
            tx,
            caller,
            &visit,
            next,
            Decision::Supersede,
            None,
            detail,
            now,
        )?;
        Ok(Ok(()))
    }

    /// Applies the found household and members as a new baseline version, settling conflicts.
    fn apply_to_baseline(
        &self,
        tx: &mut dyn Sql,
        caller: &Caller,
        visit: &VisitRow,
        req: &DecisionRequest,
        now: DateTime<Utc>,
    ) -> DbResult<Result<(), ApiError>> {
        let Some(current) =
            repo::household_scoped(tx, &caller.user.scope(), visit.record.household_id)?
        else {
            return Ok(Ok(()));
        };
        let (found_h, conflicts) = baseline_conflicts(tx, visit, &current)?;
        let mut next = found_h;
        let mut unsettled = Vec::new();
        for c in conflicts {
            match req.resolutions.get(&c.field).map(String::as_str) {
                Some("found") => {}
                Some("current") => {
                    let name = c.field.trim_start_matches("household.");
                    next.fields.set(name, &c.current);
                }
                _ => unsettled.push(c),
            }
        }
        if !unsettled.is_empty() {
            return Ok(Err(ApiError::new(
                Refusal::Conflict,
                "review.conflicts",
                "Baseline changed",
                caller.lang,
                "Data dasar berubah sejak kunjungan; pilih nilai untuk setiap isian yang berbeda",
                "The baseline changed since the visit; choose a value for each conflicting field",
            )
            .with(
                "conflicts",
                serde_json::to_value(&unsettled).unwrap_or(Value::Null),
            )));
        }
        next.version = current.version + 1;
        repo::save_household(tx, &next, None, now)?;
        repo::replace_members(tx, next.id, &visit.record.members)?;
        // A member who moved to a known desa is handed to it (DESIGN.md §12): a proposal there,
        // for its desa office to bring to its musdes.
        for m in &visit.record.members {
            let Some(dest) = m
                .exit
                .as_ref()
                .and_then(|x| x.destination_desa.as_deref())
                .filter(|d| {
                    m.status == verivali_domain::PresenceStatus::Pindah && *d != next.kode_desa
                })
            else {
                continue;
            };
            let handed = verivali_domain::cycle::NewProposal {
                kind: verivali_domain::cycle::ProposalKind::UsulanBaru,
                channel: verivali_domain::cycle::Channel::Dinas,
                household_id: None,
                nik: m.nik.clone(),
                name: m.name.clone(),
                address: format!("Pindahan dari desa {}", next.kode_desa),
                kode_desa: dest.to_string(),
                reporter: None,
                reason: format!(
                    "Pindah dari rumah tangga {} (desa {}), tercatat pada kunjungan {}",
                    next.fields.nama_krt, next.kode_desa, visit.record.visit_id
                ),
            };
            // A proposal the domain refuses (a malformed NIK from the baseline) is not handed.
            if let Ok(p) = handed.checked() {
                repo::insert_proposal(tx, Uuid::now_v7(), &p, caller.user.id, now)?;
            }
        }
        repo::insert_household_version(tx, &next, &visit.record.members, now)?;
        repo::announce_household(tx, &next, now)?;
        for m in &visit.record.members {
            let data = serde_json::to_string(&MemberChange {
                household_id: next.id,
                member: m.clone(),
            })
            .map_err(|e| DbError::Corrupt(e.to_string()))?;
            repo::append_change(
                tx,
                "member",
                &m.member_id.to_string(),
                next.version,
                false,
                &next.kode_desa,
                None,
                &data,
                now,
            )?;
        }
        Ok(Ok(()))
    }

    /// `POST /api/v1/review/verify`: verifies every approved visit of an area of the caller's,
    /// finished within a period when one is named, each as its own decision; one that cannot be
    /// verified (baseline conflicts to settle one by one) is reported and never blocks the others.
    pub fn verify_many(
        &self,
        caller: &Caller,
        req: &verivali_protocol::review::VerifyRequest,
    ) -> Result<BulkResponse, ApiError> {
        use verivali_domain::cycle;
        Self::reviewer(caller)?;
        if !matches!(
            caller.user.role,
            verivali_domain::Role::Verifier | verivali_domain::Role::Admin
        ) {
            let e = verivali_domain::TransitionError::Forbidden {
                role: caller.user.role.as_str(),
                action: "verify",
            };
            return Err(ApiError::coded(
                Refusal::Forbidden,
                "Decision refused",
                &e,
                caller.lang,
            ));
        }
        let scope = Self::review_scope(caller, Some(&req.area))?;
        let mut ids = Vec::new();
        {
            let mut tx = self.db.read()?;
            // The period's days: after the cut-off of the one before, up to its own.
            let window = match req.period.as_deref().filter(|p| !p.is_empty()) {
                None => None,
                Some(name) => {
                    let periods = repo::periods(tx.as_mut())?;
                    let Some(i) = periods.iter().position(|p| p.name == name) else {
                        return Err(ApiError::coded(
                            Refusal::NotFound,
                            "Refused",
                            &cycle::CycleError::UnknownPeriod,
                            caller.lang,
                        ));
                    };
                    let before = i.checked_sub(1).map(|j| periods[j].cutoff);
                    Some((before, periods[i].clone()))
                }
            };
            let mut filter = VisitFilter {
                state: Some(VisitState::Approved),
                limit: 500,
                ..Default::default()
            };
            loop {
                let page = repo::review_visits(tx.as_mut(), &scope, &filter)?;
                let full = page.len() == filter.limit;
                for v in &page {
                    let inside = match (&window, v.row.record.finished_at) {
                        (None, _) => true,
                        (Some((before, p)), Some(at)) => p.holds(*before, at),
                        (Some(_), None) => false,
                    };
                    if inside {
                        ids.push(v.row.record.visit_id);
                    }
                }
                let last = page.last().map(|v| v.row.record.visit_id);
                match (full, last) {
                    (true, Some(last)) => filter.after = Some(last),
                    _ => break,
                }
            }
        }
        if ids.is_empty() {
            return Err(ApiError::new(
                Refusal::NotFound,
                "review.nothing_to_verify",
                "Nothing to verify",
                caller.lang,
                "Tidak ada kunjungan disetujui yang menunggu verifikasi di sini",
                "No approved visit is waiting for verification here",
            ));
        }
        let req = DecisionRequest {
            decision: Decision::Verify,
            reason: None,
            resolutions: BTreeMap::new(),
            supersede: false,
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

    /// `POST /api/v1/review/batches/{id}/approve`: approves every submitted visit of a batch in
    /// the caller's areas, each as its own decision; a visit that cannot be approved (photos
    /// missing, conflicts to settle) is reported and never blocks the others.
    ///
    /// A flagged visit (any quality flag) is refused with `review.flagged` unless the request
    /// lists it in `confirmed`: the supervisor looked at it alone first.
    pub fn approve_batch(
        &self,
        caller: &Caller,
        batch: Uuid,
        req: &BulkApproveRequest,
    ) -> Result<BulkResponse, ApiError> {
        Self::reviewer(caller)?;
        let scope = caller.user.scope();
        let mut ids = Vec::new();
        // Visits of a household with another visit waiting or approved are not approved in
        // bulk (verivali_domain::review::approvable_in_bulk): reported, decided one by one.
        let mut second: Vec<Uuid> = Vec::new();
        let mut flagged: Vec<(Uuid, Vec<String>)> = Vec::new();
        {
            let mut tx = self.db.read()?;
            let periods = repo::periods(tx.as_mut())?;
            let mut filter = VisitFilter {
                state: Some(VisitState::Submitted),
                batch: Some(batch),
                limit: 500,
                ..Default::default()
            };
            loop {
                let page = repo::review_visits(tx.as_mut(), &scope, &filter)?;
                let full = page.len() == filter.limit;
                for v in &page {
                    let (visit, household) = (v.row.record.visit_id, v.row.record.household_id);
                    let finished = v.row.record.finished_at;
                    let others: Vec<VisitState> = repo::other_visit_states(
                        tx.as_mut(),
                        household,
                        visit,
                        finished,
                        &periods,
                    )?
                    .into_iter()
                    .map(|(_, s)| s)
                    .collect();
                    // A second visit is never approved in bulk, confirmed or not.
                    let codes = crate::quality::codes(&v.flags);
                    if !verivali_domain::review::approvable_in_bulk(&others) {
                        second.push(visit);
                    } else if !codes.is_empty() && !req.confirmed.contains(&visit) {
                        flagged.push((visit, codes));
                    } else {
                        ids.push(visit);
                    }
                }
                let last = page.last().map(|v| v.row.record.visit_id);
                match (full, last) {
                    (true, Some(last)) => filter.after = Some(last),
                    _ => break,
                }
            }
        }
        if ids.is_empty() && second.is_empty() && flagged.is_empty() {
            return Err(ApiError::new(
                Refusal::NotFound,
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
            supersede: false,
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
            .chain(second.into_iter().map(|id| {
                let e = ApiError::new(
                    Refusal::Conflict,
                    "review.second_visit",
                    "Another visit of this household",
                    caller.lang,
                    "Rumah tangga ini punya kunjungan lain yang menunggu atau sudah disetujui; \
                     bandingkan dan putuskan satu per satu",
                    "This household has another visit waiting or approved; compare them and \
                     decide one at a time",
                );
                BulkResult {
                    visit_id: id,
                    state: None,
                    error: Some(OpError {
                        code: e.code.to_string(),
                        message: e.detail,
                        field: None,
                    }),
                }
            }))
            .chain(flagged.into_iter().map(|(id, codes)| {
                let e = ApiError::new(
                    Refusal::Conflict,
                    "review.flagged",
                    "Flagged visit",
                    caller.lang,
                    "Kunjungan ini bertanda mutu; periksa sendiri lalu konfirmasi sebelum \
                     disetujui bersama",
                    "This visit carries quality flags; look at it and confirm it before \
                     approving it with the others",
                );
                BulkResult {
                    visit_id: id,
                    state: None,
                    error: Some(OpError {
                        code: e.code.to_string(),
                        message: e.detail,
                        field: Some(codes.join(" ")),
                    }),
                }
            }))
            .collect();
        Ok(BulkResponse { results })
    }
}

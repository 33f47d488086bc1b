//! Writing visits: drafts (local only), recording a finished visit with its `visit.record` op,
//! submitting batches, proposing new households, and applying review decisions from the server.

use crate::ExecCached;
use rusqlite::{OptionalExtension, Transaction, params};
use uuid::Uuid;
use verivali_domain::{
    Action, Batch, Decision, Household, Report, ReviewEvent, Role, VisitRecord, VisitState,
    transition,
};

use crate::baseline::{refresh_search, refresh_status};
use crate::error::{Result, StoreError};
use crate::outbox::enqueue;
use crate::{Store, ts};

/// A visit recorded with its op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The visit.
    pub visit_id: Uuid,
    /// The revision just recorded.
    pub revision: u32,
    /// Outbox seq of its op.
    pub seq: u64,
    pub op_id: Uuid,
}

/// A batch queued for submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmittedBatch {
    /// The batch.
    pub batch_id: Uuid,
    /// Outbox seq of its op.
    pub seq: u64,
    pub op_id: Uuid,
}

struct Existing {
    household_id: Uuid,
    state: VisitState,
    revision: u32,
}

fn existing(tx: &Transaction<'_>, visit_id: Uuid) -> Result<Option<Existing>> {
    let row: Option<(String, String, u32)> = tx
        .query_row(
            "SELECT household_id, state, revision FROM visits WHERE id = ?1",
            [visit_id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    row.map(|(h, s, revision)| {
        Ok(Existing {
            household_id: Uuid::parse_str(&h)
                .map_err(|_| StoreError::UnknownHousehold(Uuid::nil()))?,
            state: VisitState::parse(&s).unwrap_or(VisitState::Draft),
            revision,
        })
    })
    .transpose()
}

fn household_exists(tx: &Transaction<'_>, id: Uuid) -> Result<bool> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM households WHERE id = ?1",
            [id.to_string()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Checks that `record` may be written: the household is here, and an existing visit belongs to
/// it and is still editable.
/// A household given to someone else keeps only the visits already begun on it.
fn check_writable(tx: &Transaction<'_>, record: &VisitRecord) -> Result<Option<Existing>> {
    if !household_exists(tx, record.household_id)? {
        return Err(StoreError::UnknownHousehold(record.household_id));
    }
    let old = existing(tx, record.visit_id)?;
    if old.is_none() && crate::pull::is_withdrawn(tx, record.household_id)? {
        return Err(StoreError::Withdrawn(record.household_id));
    }
    if let Some(old) = &old {
        if old.household_id != record.household_id {
            return Err(StoreError::VisitHouseholdMismatch(record.visit_id));
        }
        if !old.state.editable() {
            return Err(StoreError::Locked {
                visit_id: record.visit_id,
                state: old.state,
            });
        }
    }
    Ok(old)
}

fn upsert_visit(
    tx: &Transaction<'_>,
    record: &VisitRecord,
    state: VisitState,
    finished: bool,
    updated: &str,
) -> Result<()> {
    tx.exec_cached(
        "INSERT INTO visits (id, household_id, revision, outcome, state, finished, record, started_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, outcome = excluded.outcome,
             state = excluded.state, finished = excluded.finished, record = excluded.record,
             updated_at = excluded.updated_at",
        params![
            record.visit_id.to_string(),
            record.household_id.to_string(),
            record.revision,
            record.outcome.as_str(),
            state.as_str(),
            finished,
            serde_json::to_string(record)?,
            ts(record.started_at),
            updated,
        ],
    )?;
    Ok(())
}

/// Keeps a review decision in the visit's history (once per decision id).
pub(crate) fn insert_review(
    tx: &rusqlite::Connection,
    id: Uuid,
    event: &ReviewEvent,
) -> Result<()> {
    tx.exec_cached(
        "INSERT OR IGNORE INTO reviews (id, visit_id, decision, reason, reviewer, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id.to_string(),
            event.visit_id.to_string(),
            serde_json::to_value(event.decision)?.as_str().unwrap_or("approve"),
            event.reason,
            event.reviewer.to_string(),
            ts(event.at)
        ],
    )?;
    Ok(())
}

/// Whether the outbox still holds a local change for `visit_id` (a record or a batch with it).
pub(crate) fn has_pending_change(tx: &rusqlite::Connection, visit_id: Uuid) -> Result<bool> {
    let id = visit_id.to_string();
    let n: i64 = tx.query_row(
        "SELECT count(*) FROM outbox WHERE (type = 'visit.record' AND entity_id = ?1)
             OR (type = 'batch.submit' AND instr(payload, ?1) > 0)",
        [&id],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

impl Store {
    /// Saves what the enumerator has typed so far. Stays on the device (no op), may be incomplete
    /// or have errors; returns the draft validation for the form. Refused for submitted or
    /// approved visits.
    pub fn save_draft(&mut self, record: &VisitRecord) -> Result<Report> {
        let report = self.with_ctx(record.questionnaire_version, |ctx| {
            record.validate_draft(ctx)
        });
        let now = self.clock.now();
        let tx = self.write_tx()?;
        let old = check_writable(&tx, record)?;
        let mut draft = record.clone();
        draft.revision = old.as_ref().map_or(0, |o| o.revision);
        let state = old.as_ref().map_or(VisitState::Draft, |o| o.state);
        upsert_visit(&tx, &draft, state, false, &ts(now))?;
        refresh_status(&tx, record.household_id)?;
        tx.commit()?;
        Ok(report)
    }

    /// Records a finished visit: validates it fully, writes it as the next revision and queues its
    /// `visit.record` op, in one durable transaction. Nothing is written when it is invalid.
    pub fn record_visit(&mut self, record: &VisitRecord) -> Result<Recorded> {
        let mut report = self.with_ctx(record.questionnaire_version, |ctx| record.validate(ctx));
        // A death this visit reports needs its date and evidence (the phone holds this rule:
        // it knows who was alive in the baseline).
        report.errors.extend(self.new_deaths(record)?.errors);
        if !report.is_ok() {
            return Err(StoreError::Invalid(report));
        }
        let now = self.clock.now();
        let tx = self.write_tx()?;
        let old = check_writable(&tx, record)?;
        let mut rec = record.clone();
        rec.revision = old.as_ref().map_or(0, |o| o.revision) + 1;
        let state = old.as_ref().map_or(VisitState::Draft, |o| o.state);
        upsert_visit(&tx, &rec, state, true, &ts(now))?;
        let (seq, op_id) = enqueue(
            &tx,
            now,
            "visit.record",
            rec.visit_id,
            &serde_json::to_string(&rec)?,
        )?;
        refresh_status(&tx, rec.household_id)?;
        tx.commit()?;
        Ok(Recorded {
            visit_id: rec.visit_id,
            revision: rec.revision,
            seq,
            op_id,
        })
    }

    /// Throws away a draft the server never received (never recorded, nothing queued). A
    /// household given to another enumerator that this draft was keeping leaves the device with
    /// it; answers whether it did.
    pub fn discard_draft(&mut self, visit_id: Uuid) -> Result<bool> {
        let tx = self.write_tx()?;
        let old = existing(&tx, visit_id)?.ok_or(StoreError::UnknownVisit(visit_id))?;
        let finished: bool = tx.query_row(
            "SELECT finished FROM visits WHERE id = ?1",
            [visit_id.to_string()],
            |r| r.get(0),
        )?;
        if finished
            || old.revision > 0
            || old.state != VisitState::Draft
            || has_pending_change(&tx, visit_id)?
        {
            return Err(StoreError::NotDiscardable(visit_id));
        }
        tx.exec_cached("DELETE FROM visits WHERE id = ?1", [visit_id.to_string()])?;
        tx.exec_cached(
            "DELETE FROM visit_sent WHERE visit_id = ?1",
            [visit_id.to_string()],
        )?;
        refresh_status(&tx, old.household_id)?;
        let released = crate::pull::release_withdrawn(&tx)?;
        tx.commit()?;
        Ok(released.contains(&old.household_id))
    }

    /// Submits recorded visits as one batch (`batch.submit`): each must be finished and in a state
    /// the enumerator may submit from (draft, or rejected and amended).
    pub fn submit_batch(&mut self, visit_ids: &[Uuid]) -> Result<SubmittedBatch> {
        let batch = Batch {
            batch_id: Uuid::now_v7(),
            visit_ids: visit_ids.to_vec(),
        };
        let report = batch.validate();
        if !report.is_ok() {
            return Err(StoreError::Invalid(report));
        }
        let now = self.clock.now();
        let tx = self.write_tx()?;
        let mut households = Vec::new();
        for id in visit_ids {
            let row: Option<(String, String, bool)> = tx
                .query_row(
                    "SELECT household_id, state, finished FROM visits WHERE id = ?1",
                    [id.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let (household, state, finished) = row.ok_or(StoreError::UnknownVisit(*id))?;
            let state = VisitState::parse(&state).unwrap_or(VisitState::Draft);
            if !finished {
                return Err(StoreError::NotFinished(*id));
            }
            let next = transition(state, &Action::Submit, Role::Enumerator)?;
            tx.exec_cached(
                "UPDATE visits SET state = ?1, updated_at = ?2 WHERE id = ?3",
                params![next.as_str(), ts(now), id.to_string()],
            )?;
            households.push(household);
        }
        let (seq, op_id) = enqueue(
            &tx,
            now,
            "batch.submit",
            batch.batch_id,
            &serde_json::to_string(&batch)?,
        )?;
        for h in households {
            if let Ok(h) = Uuid::parse_str(&h) {
                refresh_status(&tx, h)?;
            }
        }
        tx.commit()?;
        Ok(SubmittedBatch {
            batch_id: batch.batch_id,
            seq,
            op_id,
        })
    }

    /// Proposes a household not in the baseline (usulan baru): stored locally (version 0) and
    /// queued as `household.propose`. Its visit follows with outcome `usulan_baru`.
    pub fn propose_household(&mut self, household: &Household) -> Result<(u64, Uuid)> {
        let mut report = Report::default();
        let found = verivali_domain::HouseholdFound {
            fields: household.fields.clone(),
            kode_desa: household.kode_desa.clone(),
        };
        let found_report = found.validate(None);
        report.errors.extend(found_report.errors);
        if !report.is_ok() {
            return Err(StoreError::Invalid(report));
        }
        let now = self.clock.now();
        let tx = self.write_tx()?;
        // A proposal never replaces a row (a retried tap, or an id the baseline holds).
        let known: bool = tx.query_row(
            "SELECT count(*) > 0 FROM households WHERE id = ?1",
            [household.id.to_string()],
            |r| r.get(0),
        )?;
        if known {
            return Err(StoreError::HouseholdExists(household.id));
        }
        crate::baseline::upsert_household(&tx, household, crate::baseline::Origin::Proposal)?;
        refresh_search(&tx, household.id)?;
        // The wire's `household.propose` payload: the editable fields plus id and desa.
        let mut payload = serde_json::to_value(&household.fields)?;
        payload["household_id"] = serde_json::json!(household.id);
        payload["kode_desa"] = serde_json::json!(household.kode_desa);
        let queued = enqueue(
            &tx,
            now,
            "household.propose",
            household.id,
            &payload.to_string(),
        )?;
        tx.commit()?;
        Ok(queued)
    }

    /// Applies a review decision pulled from the server: kept in the visit's history, and it sets
    /// the visit's state, unless a local change to the visit is still in the outbox (the server
    /// will answer that change, and a later pull brings the state it results in). A rejection
    /// asks for a new revision before the visit can be resubmitted.
    pub fn apply_review(&mut self, review_id: Uuid, event: &ReviewEvent) -> Result<()> {
        let tx = self.write_tx()?;
        insert_review(&tx, review_id, event)?;
        let household: Option<String> = tx
            .query_row(
                "SELECT household_id FROM visits WHERE id = ?1",
                [event.visit_id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(household) = household
            && !has_pending_change(&tx, event.visit_id)?
        {
            let (state, finished) = match event.decision {
                Decision::Approve => (VisitState::Approved, true),
                Decision::Reject => (VisitState::Rejected, false),
                Decision::Reopen => (VisitState::Submitted, true),
                Decision::Supersede => (VisitState::Superseded, true),
                // The verifikator's level: final, or back with the supervisor (still locked).
                Decision::Verify => (VisitState::Verified, true),
                Decision::Return => (VisitState::Returned, true),
            };
            tx.exec_cached(
                "UPDATE visits SET state = ?1, finished = ?2 WHERE id = ?3",
                params![state.as_str(), finished, event.visit_id.to_string()],
            )?;
            if let Ok(h) = Uuid::parse_str(&household) {
                refresh_status(&tx, h)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A visit as last saved on the device, with its state and whether it is recorded.
    pub fn visit(&self, visit_id: Uuid) -> Result<(VisitRecord, VisitState, bool)> {
        let row: Option<(String, String, bool)> = self
            .conn
            .query_row(
                "SELECT record, state, finished FROM visits WHERE id = ?1",
                [visit_id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (record, state, finished) = row.ok_or(StoreError::UnknownVisit(visit_id))?;
        Ok((
            serde_json::from_str(&record)?,
            VisitState::parse(&state).unwrap_or(VisitState::Draft),
            finished,
        ))
    }
}

//! Applying what the server sends: a pulled page and its cursor in one transaction. Server-owned
//! data (baseline households and members, review states, the questionnaire) is taken as sent;
//! a visit with a local change still in the outbox is never overwritten (the server will answer
//! that change, and a later page brings the result), nor is a draft being edited on the device.

use crate::ExecCached;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;
use verivali_domain::assignment::Terms;
use verivali_domain::{Household, Member, Questionnaire, ReviewEvent, VisitRecord, VisitState};

use crate::baseline::{Origin, refresh_search, refresh_status, upsert_household};
use crate::error::Result;
use crate::visits::{has_pending_change, insert_review};
use crate::{Store, ts};

/// One pulled change, in domain terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Pulled {
    /// A baseline household (new or a new version).
    Household(Household),
    /// A household that left the caller's view.
    HouseholdGone(Uuid),
    /// The user's assignment of a household: theirs on these terms, or shared (`None`).
    Assignment {
        household_id: Uuid,
        terms: Option<Terms>,
    },
    /// A member of a household.
    Member {
        /// The household.
        household_id: Uuid,
        member: Member,
    },
    /// A member that left the household or the view.
    MemberGone(Uuid),
    /// One of the user's visits as the server holds it.
    Visit {
        /// Latest record.
        record: Box<VisitRecord>,
        /// Review state.
        state: VisitState,
    },
    /// A review decision about one of the user's visits.
    Review {
        /// Id of the decision.
        id: Uuid,
        /// The decision.
        event: ReviewEvent,
    },
    /// The active questionnaire.
    Questionnaire(Box<Questionnaire>),
}

/// Counts of what a page changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Changes applied.
    pub applied: usize,
    /// Visits kept because a local change is pending.
    pub kept_local: usize,
}

impl Store {
    /// The cursor to pull from next ("" before the first pull).
    pub fn pull_cursor(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM sync_state WHERE key = 'pull_cursor'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_default())
    }

    /// Applies a page of pulled changes and stores its cursor, in one transaction; merges the
    /// server time into the clock.
    pub fn apply_pulled(
        &mut self,
        items: &[Pulled],
        cursor: &str,
        server_time: DateTime<Utc>,
    ) -> Result<Applied> {
        let now = self.clock.now();
        // A pulled page is the server's to give again: its commit need not wait for the disk.
        // It stays atomic with its cursor (WAL), and the next durable commit (a visit recorded)
        // flushes it; a power cut before that loses the page and its cursor together, and the
        // next pull fetches it again. One fsync less per page of a first pull.
        self.not_waiting_for_the_disk(|s| s.apply_pulled_in(items, cursor, server_time, now))
    }

    fn apply_pulled_in(
        &mut self,
        items: &[Pulled],
        cursor: &str,
        server_time: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Applied> {
        let tx = self.write_tx()?;
        let mut out = Applied::default();
        // Households whose baseline or members changed (search text), and whose visits changed
        // (work status): each recomputed once per page, and only where it can have changed.
        let mut touched: Vec<Uuid> = Vec::new();
        let mut visited: Vec<Uuid> = Vec::new();
        for item in items {
            match item {
                Pulled::Household(h) => {
                    upsert_household(&tx, h, Origin::Pulled)?;
                    touched.push(h.id);
                }
                Pulled::Assignment {
                    household_id,
                    terms,
                } => {
                    let t = terms.as_ref();
                    tx.exec_cached(
                        "UPDATE households SET assignment_source = ?1, due_date = ?2, assignment_note = ?3
                         WHERE id = ?4",
                        params![
                            t.map(|t| t.source.as_str()),
                            t.and_then(|t| t.due_date).map(|d| d.to_string()),
                            t.and_then(|t| t.note.clone()),
                            household_id.to_string()
                        ],
                    )?;
                }
                Pulled::HouseholdGone(id) => {
                    // No longer the user's: the terms go at once, the household when nothing of
                    // it is left to finish or send (`release_withdrawn`, below).
                    tx.exec_cached(
                        "UPDATE households SET withdrawn = 1, assignment_source = NULL,
                             due_date = NULL, assignment_note = NULL WHERE id = ?1",
                        [id.to_string()],
                    )?;
                }
                Pulled::Member {
                    household_id,
                    member: m,
                } => {
                    let exists: bool = tx
                        .prepare_cached("SELECT 1 FROM households WHERE id = ?1")?
                        .query_row([household_id.to_string()], |_| Ok(()))
                        .optional()?
                        .is_some();
                    if !exists {
                        continue;
                    }
                    tx.exec_cached(
                        "INSERT INTO members (id, household_id, nik, name, sex, birth_place, birth_date, relationship, status)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                         ON CONFLICT (id) DO UPDATE SET household_id = excluded.household_id, nik = excluded.nik,
                             name = excluded.name, sex = excluded.sex, birth_place = excluded.birth_place,
                             birth_date = excluded.birth_date, relationship = excluded.relationship, status = excluded.status",
                        params![
                            m.member_id.to_string(),
                            household_id.to_string(),
                            m.nik,
                            m.name,
                            m.sex.to_string(),
                            m.birth_place,
                            m.birth_date.map(|d| d.to_string()),
                            m.relationship.code(),
                            serde_json::to_value(m.status)?.as_str().unwrap_or("tinggal"),
                        ],
                    )?;
                    touched.push(*household_id);
                }
                Pulled::MemberGone(id) => {
                    let household: Option<String> = tx
                        .prepare_cached("SELECT household_id FROM members WHERE id = ?1")?
                        .query_row([id.to_string()], |r| r.get(0))
                        .optional()?;
                    tx.exec_cached("DELETE FROM members WHERE id = ?1", [id.to_string()])?;
                    if let Some(h) = household.and_then(|h| Uuid::parse_str(&h).ok()) {
                        touched.push(h);
                    }
                }
                Pulled::Visit { record, state } => {
                    if has_pending_change(&tx, record.visit_id)? {
                        out.kept_local += 1;
                        continue;
                    }
                    let local: Option<bool> = tx
                        .prepare_cached("SELECT finished FROM visits WHERE id = ?1")?
                        .query_row([record.visit_id.to_string()], |r| r.get(0))
                        .optional()?;
                    if local == Some(false) && state.editable() {
                        // A draft being edited here: only the server-owned state is taken.
                        tx.exec_cached(
                            "UPDATE visits SET state = ?1 WHERE id = ?2",
                            params![state.as_str(), record.visit_id.to_string()],
                        )?;
                        out.kept_local += 1;
                    } else {
                        let household_known: bool = tx
                            .prepare_cached("SELECT 1 FROM households WHERE id = ?1")?
                            .query_row([record.household_id.to_string()], |_| Ok(()))
                            .optional()?
                            .is_some();
                        if !household_known {
                            continue;
                        }
                        tx.exec_cached(
                            "INSERT INTO visits (id, household_id, revision, outcome, state, finished, record, started_at, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                             ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, outcome = excluded.outcome,
                                 state = excluded.state, finished = excluded.finished, record = excluded.record",
                            params![
                                record.visit_id.to_string(),
                                record.household_id.to_string(),
                                record.revision,
                                record.outcome.as_str(),
                                state.as_str(),
                                *state != VisitState::Rejected,
                                serde_json::to_string(record.as_ref())?,
                                ts(record.started_at),
                                ts(now),
                            ],
                        )?;
                    }
                    visited.push(record.household_id);
                }
                Pulled::Review { id, event } => insert_review(&tx, *id, event)?,
                Pulled::Questionnaire(q) => {
                    // The active one, and every version by number for the drafts begun on it.
                    let text = serde_json::to_string(q.as_ref())?;
                    tx.exec_cached(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES ('questionnaire', ?1)",
                        [&text],
                    )?;
                    tx.exec_cached(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                        [format!("questionnaire@{}", q.version), text],
                    )?;
                }
            }
            out.applied += 1;
        }
        touched.sort();
        touched.dedup();
        for h in touched {
            refresh_search(&tx, h)?;
        }
        visited.sort();
        visited.dedup();
        for h in visited {
            refresh_status(&tx, h)?;
        }
        release_withdrawn(&tx)?;
        tx.exec_cached(
            "INSERT OR REPLACE INTO sync_state (key, value) VALUES ('pull_cursor', ?1)",
            [cursor],
        )?;
        let mut clock = crate::load_clock(&tx)?;
        clock.merge_server(server_time.timestamp_millis(), now.timestamp_millis());
        tx.exec_cached(
            "UPDATE clock SET wall_ms = ?1, counter = ?2, offset_ms = ?3 WHERE id = 1",
            params![clock.wall_ms, clock.counter, clock.offset_ms],
        )?;
        tx.commit()?;
        if let Some(Pulled::Questionnaire(q)) = items
            .iter()
            .rev()
            .find(|i| matches!(i, Pulled::Questionnaire(_)))
        {
            self.questionnaire = (**q).clone();
        }
        Ok(out)
    }
}

/// Whether the server took the household away from this user.
pub(crate) fn is_withdrawn(conn: &rusqlite::Connection, id: Uuid) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT withdrawn FROM households WHERE id = ?1",
            [id.to_string()],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false))
}

/// Deletes the withdrawn households that hold nothing the enumerator must still finish or
/// send: every visit submitted, approved or beyond (returned, verified, superseded), no op of
/// theirs queued, no rejection waiting to be read. A draft, a recorded-but-unsubmitted visit or a sent-back one keeps the household (with
/// its members) on the device, so no work begun here is lost by a reassignment. Photos go with
/// the last visit that names them once the server holds them. Answers the deleted ids.
pub(crate) fn release_withdrawn(conn: &rusqlite::Connection) -> Result<Vec<Uuid>> {
    let mut stmt = conn.prepare_cached(
        "SELECT h.id FROM households h WHERE h.withdrawn = 1
           AND NOT EXISTS (SELECT 1 FROM visits v WHERE v.household_id = h.id
                           AND v.state NOT IN ('submitted', 'approved', 'returned', 'verified', 'superseded'))
           AND NOT EXISTS (SELECT 1 FROM visits v JOIN outbox o
                           ON (o.type = 'visit.record' AND o.entity_id = v.id)
                           OR (o.type = 'batch.submit' AND instr(o.payload, v.id) > 0)
                           WHERE v.household_id = h.id)
           AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.entity_id = h.id)
           AND NOT EXISTS (SELECT 1 FROM visits v JOIN attention a ON a.entity_id = v.id
                           WHERE v.household_id = h.id)",
    )?;
    let ids: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let records: Vec<String> = conn
            .prepare_cached("SELECT record FROM visits WHERE household_id = ?1")?
            .query_map([&id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        conn.exec_cached(
            "DELETE FROM reviews WHERE visit_id IN (SELECT id FROM visits WHERE household_id = ?1)",
            [&id],
        )?;
        conn.exec_cached(
            "DELETE FROM visit_sent WHERE visit_id IN (SELECT id FROM visits WHERE household_id = ?1)",
            [&id],
        )?;
        conn.exec_cached("DELETE FROM visits WHERE household_id = ?1", [&id])?;
        conn.exec_cached("DELETE FROM members WHERE household_id = ?1", [&id])?;
        conn.exec_cached("DELETE FROM households WHERE id = ?1", [&id])?;
        for record in records {
            let Ok(v) = serde_json::from_str::<VisitRecord>(&record) else {
                continue;
            };
            for sha in &v.photos {
                conn.exec_cached(
                    "DELETE FROM photos WHERE sha256 = ?1 AND uploaded = 1
                       AND NOT EXISTS (SELECT 1 FROM visits WHERE instr(record, ?1) > 0)",
                    [sha],
                )?;
            }
        }
        if let Ok(id) = Uuid::parse_str(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

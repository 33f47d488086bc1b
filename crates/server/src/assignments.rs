//! Assignments (DESIGN.md §9): supervisors and admins give households of their areas to an
//! enumerator of those areas, list them, and share them again. The rules are
//! [`verivali_domain::assignment`]'s; a call is one transaction, so one household outside the rules
//! refuses the whole call and nothing changes. Every call is audited and every change of a
//! household's assignment is kept as an event.
//!
//! A household newly given to an enumerator is withdrawn from every other device of its area
//! (a deleted change everyone but the assignee receives; a device keeps a household it holds
//! visits of) and announced to the assignee's; the pull then carries an enumerator their own and
//! the shared households only ([`crate::repo::pull`]) and marks assignments received.
//!
//! When a user stops being an active enumerator of a household's desa (disabled, another role,
//! other areas), their assignments there end ([`end_assignments_of`]): the households are shared
//! again, so no household waits on someone who can no longer visit it.

use uuid::Uuid;
use verivali_domain::assignment::{AssignError, Terms, may_assign, note};
use verivali_domain::{AssignmentSource, Lang, RegionCode, Role};
use verivali_protocol::assignment::{
    AssignRequest, AssignResponse, AssignmentEntry, AssignmentList,
};

use crate::app::{App, Caller};
use crate::db::{DbError, Sql};
use crate::error::{ApiError, Refusal};
use crate::repo::{self, AssignmentRow, Audit};

/// A domain refusal as an answer: 403 for a role that may not assign, 404 for households the
/// caller cannot see, 422 for the rest.
fn refused(e: &AssignError, lang: Lang) -> ApiError {
    let refusal = match e {
        AssignError::NotAssigner => Refusal::Forbidden,
        AssignError::OutsideAssigner => Refusal::NotFound,
        _ => Refusal::Unprocessable,
    };
    ApiError::coded(refusal, "Assignment refused", e, lang)
}

/// A stored assignment as the reviewer's answers show it.
fn entry(a: AssignmentRow, enumerator: String) -> Result<AssignmentEntry, ApiError> {
    Ok(AssignmentEntry {
        household_id: a.household_id,
        enumerator,
        due_date: a.due_date.as_deref().and_then(|d| d.parse().ok()),
        source: AssignmentSource::parse(&a.source).unwrap_or(AssignmentSource::Lainnya),
        note: a.note,
        assigned_at: time(&a.assigned_at)?,
        received_at: a.received_at.as_deref().map(time).transpose()?,
    })
}

fn time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    s.parse()
        .map_err(|e| ApiError::internal(&DbError::Corrupt(format!("{s:?}: {e}"))))
}

/// Gives `ids` (already checked against the rules) to `enumerator` on `terms`, counting into
/// `answer`: a household already theirs on the same terms is left as it is, so repeating a call or
/// an import changes nothing. Newly theirs, a household is withdrawn from every other device of
/// its area at its next sync and announced to theirs.
fn give(
    tx: &mut dyn Sql,
    caller: &Caller,
    enumerator: Uuid,
    ids: &[Uuid],
    terms: &Terms,
    now: chrono::DateTime<chrono::Utc>,
    answer: &mut AssignResponse,
) -> crate::db::DbResult<()> {
    // The households' locks before their assignment rows, as ending assignments and a push take
    // them: writing a row first and locking its household after, a reassignment and an admin
    // ending the old enumerator's assignments each held one and waited for the other.
    repo::lock_households(tx, ids)?;
    let current = repo::assignments_of(tx, ids)?;
    let mut changed = Vec::new();
    for &id in ids {
        let mut row = AssignmentRow {
            household_id: id,
            enumerator_id: enumerator,
            due_date: terms.due_date.map(|d| d.to_string()),
            source: terms.source.as_str().to_string(),
            note: terms.note.clone(),
            assigned_by: caller.user.id,
            assigned_at: repo::ts(now),
            received_at: None,
        };
        match current.get(&id) {
            None => answer.assigned += 1,
            Some(old) if old.enumerator_id != enumerator => answer.reassigned += 1,
            Some(old) => {
                let same = (&old.due_date, &old.source, &old.note)
                    == (&row.due_date, &row.source, &row.note);
                if same {
                    continue;
                }
                // Still theirs: it was given (and perhaps received) when it was.
                row.assigned_at = old.assigned_at.clone();
                row.received_at = old.received_at.clone();
                answer.updated += 1;
            }
        }
        repo::put_assignment(tx, &row, now)?;
        // Newly theirs (withdrawn from the others' devices), or theirs on new terms.
        changed.push((
            id,
            current
                .get(&id)
                .is_none_or(|o| o.enumerator_id != enumerator),
        ));
    }
    let ids: Vec<Uuid> = changed.iter().map(|(id, _)| *id).collect();
    let households = repo::households_scoped(tx, &caller.user.scope(), &ids)?;
    for (id, newly) in &changed {
        if let Some(h) = households.get(id) {
            let members = repo::members(tx, *id)?;
            if *newly {
                repo::withdraw_household(tx, h, enumerator, now)?;
            }
            repo::announce_household_to(tx, h, &members, enumerator, terms, now)?;
        }
    }
    // Whose visit is `quality.reassigned` may have changed.
    let newly: Vec<Uuid> = changed.iter().filter(|c| c.1).map(|c| c.0).collect();
    crate::quality::refresh_households(tx, &newly)?;
    Ok(())
}

impl App {
    /// `POST /api/v1/assignments`.
    pub fn assign(&self, caller: &Caller, req: &AssignRequest) -> Result<AssignResponse, ApiError> {
        let lang = caller.lang;
        let me = (caller.user.role, &caller.user.areas);
        if !matches!(caller.user.role, Role::Supervisor | Role::Admin) {
            return Err(refused(&AssignError::NotAssigner, lang));
        }
        let note = note(req.note.as_deref()).map_err(|e| refused(&e, lang))?;
        let source = req.source.unwrap_or(AssignmentSource::Baseline);
        let now = self.now();
        self.run_write(|tx: &mut dyn Sql| {
            let Some(enumerator) = repo::user_by_username(tx, &req.enumerator)? else {
                let e = AssignError::UnknownEnumerator(req.enumerator.clone());
                return Ok(Err(refused(&e, lang)));
            };
            let them = (
                enumerator.username.as_str(),
                enumerator.role,
                &enumerator.areas,
                !enumerator.disabled,
            );
            let targets = match self.targets(tx, caller, req)? {
                Ok(t) => t,
                Err(e) => return Ok(Err(e)),
            };
            for (_, kode_desa) in &targets {
                if let Err(e) = may_assign(me, them, kode_desa) {
                    return Ok(Err(refused(&e, lang)));
                }
            }
            let ids: Vec<Uuid> = targets.iter().map(|(id, _)| *id).collect();
            let mut answer = AssignResponse {
                assigned: 0,
                reassigned: 0,
                updated: 0,
            };
            let terms = Terms {
                due_date: req.due_date,
                source,
                note: note.clone(),
            };
            give(tx, caller, enumerator.id, &ids, &terms, now, &mut answer)?;
            let detail = format!(
                "to {} ({}): {} assigned, {} reassigned, {} updated",
                enumerator.username,
                source.as_str(),
                answer.assigned,
                answer.reassigned,
                answer.updated
            );
            let audit = Audit {
                entity_kind: Some("user"),
                entity_id: Some(enumerator.id.to_string()),
                detail: Some(detail),
                ..caller.audit("assignment.assign")
            };
            repo::audit(tx, &audit, now)?;
            Ok(Ok(answer))
        })
    }

    /// The households a call names, with their desa: listed ids (each must be one the caller
    /// can see, else 404) or every household inside an area (404 outside the caller's areas).
    fn targets(
        &self,
        tx: &mut dyn Sql,
        caller: &Caller,
        req: &AssignRequest,
    ) -> crate::db::DbResult<Result<Vec<(Uuid, String)>, ApiError>> {
        let lang = caller.lang;
        let scope = caller.user.scope();
        match (&req.household_ids, req.area.as_deref()) {
            (Some(ids), None) if !ids.is_empty() => {
                let found = repo::households_scoped(tx, &scope, ids)?;
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    match found.get(id) {
                        Some(h) => out.push((*id, h.kode_desa.clone())),
                        None => return Ok(Err(refused(&AssignError::OutsideAssigner, lang))),
                    }
                }
                out.sort();
                out.dedup();
                Ok(Ok(out))
            }
            (None, Some(area)) => {
                let Ok(code) = RegionCode::parse(area.trim()) else {
                    return Ok(Err(crate::review::bad_filter(lang, "area", area)));
                };
                let narrowed = scope.narrow(&code);
                if narrowed.areas.is_empty() {
                    return Ok(Err(refused(&AssignError::OutsideAssigner, lang)));
                }
                Ok(Ok(repo::household_ids_scoped(tx, &narrowed)?))
            }
            _ => Ok(Err(ApiError::bad_request(
                lang,
                "give either household_ids (not empty) or area",
            ))),
        }
    }

    /// `GET /api/v1/assignments?area=CODE&enumerator=USERNAME`.
    pub fn assignments(
        &self,
        caller: &Caller,
        area: Option<&str>,
        enumerator: Option<&str>,
    ) -> Result<AssignmentList, ApiError> {
        Self::reviewer(caller)?;
        let scope = Self::review_scope(caller, area)?;
        let mut tx = self.db.read()?;
        let enumerator_id = match enumerator.map(str::trim).filter(|e| !e.is_empty()) {
            None => None,
            Some(name) => match repo::user_by_username(tx.as_mut(), name)? {
                Some(u) => Some(u.id),
                None => {
                    return Ok(AssignmentList {
                        assignments: vec![],
                    });
                }
            },
        };
        let rows = repo::assignments_scoped(tx.as_mut(), &scope, enumerator_id)?;
        drop(tx);
        let mut assignments = Vec::with_capacity(rows.len());
        for (a, username) in rows {
            assignments.push(entry(a, username)?);
        }
        Ok(AssignmentList { assignments })
    }

    /// `DELETE /api/v1/assignments/{household_id}`: the household is shared again. 404 when the
    /// caller cannot see it; sharing a household that was not assigned changes nothing.
    pub fn unassign(&self, caller: &Caller, household: Uuid) -> Result<(), ApiError> {
        let lang = caller.lang;
        if !matches!(caller.user.role, Role::Supervisor | Role::Admin) {
            return Err(refused(&AssignError::NotAssigner, lang));
        }
        let now = self.now();
        self.run_write(|tx: &mut dyn Sql| {
            if repo::household_scoped(tx, &caller.user.scope(), household)?.is_none() {
                return Ok(Err(refused(&AssignError::OutsideAssigner, lang)));
            }
            // The household's lock before its assignment row (see `give`).
            repo::lock_households(tx, &[household])?;
            if repo::delete_assignment(tx, household, caller.user.id, now)? {
                // Shared again: back onto every device of the area.
                if let Some(h) = repo::household_scoped(tx, &caller.user.scope(), household)? {
                    let members = repo::members(tx, household)?;
                    repo::announce_household_shared(tx, &h, &members, now)?;
                }
                crate::quality::refresh_households(tx, &[household])?;
                let audit = Audit {
                    entity_kind: Some("household"),
                    entity_id: Some(household.to_string()),
                    ..caller.audit("assignment.unassign")
                };
                repo::audit(tx, &audit, now)?;
            }
            Ok(Ok(()))
        })
    }
}

/// Ends the assignments of `user` whose households lie outside `keep` (every one when `keep` is
/// `None`: the user is disabled or no longer an enumerator). Each household is shared again,
/// announced to every device of its area, with an event by `by`. Answers how many ended.
pub(crate) fn end_assignments_of(
    tx: &mut dyn Sql,
    user: Uuid,
    keep: Option<&verivali_domain::Areas>,
    by: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, DbError> {
    let mut ended = 0;
    let ending: Vec<Uuid> = repo::assigned_to(tx, user)?
        .into_iter()
        .filter(|(_, kode_desa)| !keep.is_some_and(|areas| areas.contains(kode_desa)))
        .map(|(household, _)| household)
        .collect();
    // All at once, in the order a push takes them (`repo::lock_households`), not one by one
    // below: a push of two of them locking the other way round would deadlock with this.
    repo::lock_households(tx, &ending)?;
    for household in ending {
        if repo::delete_assignment(tx, household, by, now)? {
            if let Some(h) = repo::household_any(tx, household)? {
                let members = repo::members(tx, household)?;
                repo::announce_household_shared(tx, &h, &members, now)?;
            }
            // Shared again: no visit of it is `quality.reassigned` any more.
            crate::quality::refresh_households(tx, &[household])?;
            ended += 1;
        }
    }
    Ok(ended)
}

/// The columns of an assignment import, in this order (`due_date`, `source` and `note` may be
/// empty or left out).
pub const IMPORT_HEADER: [&str; 5] = ["id_dtsen", "enumerator", "due_date", "source", "note"];

impl App {
    /// `POST /api/v1/assignments/import`: a CSV of `id_dtsen,enumerator,due_date,source,note`
    /// (a BOM, CRLF and quoted newlines are fine). Each row is checked on its own (the rules of
    /// [`may_assign`], the household once per file); good rows are applied in one transaction,
    /// bad ones are reported with their line. Importing the same file again changes nothing.
    pub fn import_assignments(
        &self,
        caller: &Caller,
        csv_bytes: &[u8],
    ) -> Result<verivali_protocol::assignment::AssignImportResponse, ApiError> {
        use verivali_domain::assignment::{due_date, source};
        use verivali_protocol::assignment::{AssignImportResponse, RowProblem};
        let lang = caller.lang;
        if !matches!(caller.user.role, Role::Supervisor | Role::Admin) {
            return Err(refused(&AssignError::NotAssigner, lang));
        }
        let text = std::str::from_utf8(csv_bytes)
            .map_err(|_| ApiError::bad_request(lang, "the file is not UTF-8 text"))?;
        let text = text.trim_start_matches('\u{feff}');
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| ApiError::bad_request(lang, &e.to_string()))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        if header.len() < 2 || header.iter().zip(IMPORT_HEADER).any(|(h, want)| h != want) {
            return Err(ApiError::bad_request(
                lang,
                &format!("the header must be {}", IMPORT_HEADER.join(",")),
            ));
        }
        let now = self.now();
        let me = (caller.user.role, &caller.user.areas);
        self.run_write(|tx: &mut dyn Sql| {
            let mut answer = AssignResponse {
                assigned: 0,
                reassigned: 0,
                updated: 0,
            };
            let mut rejected = Vec::new();
            let mut seen: std::collections::HashMap<Uuid, u64> = Default::default();
            let mut users: std::collections::HashMap<String, Option<repo::UserRow>> =
                Default::default();
            let reader = || {
                csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(true)
                    .from_reader(text.as_bytes())
            };
            // Every household the file names, locked at once in the order a push takes them
            // (`repo::lock_households`) before the first is given: given row by row, they were
            // locked in the file's order, and a push of two of them locking the other way round
            // could deadlock with the import. PostgreSQL only (SQLite has one writer).
            if tx.dialect() == crate::db::Dialect::Postgres {
                let mut named = Vec::new();
                for row in reader().records().flatten() {
                    if let Some(h) = repo::household_by_dtsen(tx, row.get(0).unwrap_or("").trim())?
                    {
                        named.push(h.id);
                    }
                }
                repo::lock_households(tx, &named)?;
            }
            for (i, rec) in reader().records().enumerate() {
                // The row as a spreadsheet numbers it: the header is row 1.
                let line = i as u64 + 2;
                let row = match rec {
                    Ok(r) => r,
                    Err(e) => {
                        rejected.push(RowProblem {
                            line,
                            code: "import.csv".into(),
                            message: e.to_string(),
                        });
                        continue;
                    }
                };
                let field = |i: usize| row.get(i).unwrap_or("").trim().to_string();
                let outcome: Result<(Uuid, Uuid, Terms), ApiError> = (|| {
                    for i in 0..row.len() {
                        verivali_domain::text::check(
                            IMPORT_HEADER.get(i).unwrap_or(&""),
                            &field(i),
                        )
                        .map_err(|e| ApiError::unstorable_text(lang, &e))?;
                    }
                    let bad = |e: AssignError| refused(&e, lang);
                    let terms = Terms {
                        due_date: due_date(&field(2)).map_err(bad)?,
                        source: source(&field(3)).map_err(bad)?,
                        note: note(Some(&field(4))).map_err(bad)?,
                    };
                    let id_dtsen = field(0);
                    let h = repo::household_by_dtsen(tx, &id_dtsen)
                        .map_err(ApiError::from)?
                        .filter(|h| caller.user.areas.contains(&h.kode_desa))
                        .ok_or_else(|| bad(AssignError::UnknownHousehold(id_dtsen.clone())))?;
                    let name = field(1);
                    if !users.contains_key(&name) {
                        let u = repo::user_by_username(tx, &name).map_err(ApiError::from)?;
                        users.insert(name.clone(), u);
                    }
                    let u = users[&name]
                        .as_ref()
                        .ok_or_else(|| bad(AssignError::UnknownEnumerator(name.clone())))?;
                    let them = (u.username.as_str(), u.role, &u.areas, !u.disabled);
                    may_assign(me, them, &h.kode_desa).map_err(bad)?;
                    if let Some(first) = seen.get(&h.id) {
                        return Err(bad(AssignError::DuplicateRow(*first)));
                    }
                    Ok((h.id, u.id, terms))
                })();
                match outcome {
                    Ok((household, enumerator, terms)) => {
                        seen.insert(household, line);
                        give(
                            tx,
                            caller,
                            enumerator,
                            &[household],
                            &terms,
                            now,
                            &mut answer,
                        )?;
                    }
                    Err(e) if e.refusal == Refusal::Internal => return Ok(Err(e)),
                    Err(e) => rejected.push(RowProblem {
                        line,
                        code: e.code.to_string(),
                        message: e.detail,
                    }),
                }
            }
            let detail = format!(
                "import: {} assigned, {} reassigned, {} updated, {} rows refused",
                answer.assigned,
                answer.reassigned,
                answer.updated,
                rejected.len()
            );
            let audit = Audit {
                detail: Some(detail),
                ..caller.audit("assignment.import")
            };
            repo::audit(tx, &audit, now)?;
            Ok(Ok(AssignImportResponse {
                assigned: answer.assigned,
                reassigned: answer.reassigned,
                updated: answer.updated,
                rejected,
            }))
        })
    }
}

impl App {
    /// `GET /api/v1/assignments/board?area=CODE`: the assignment page of an area (required, and
    /// inside the caller's areas). A read of names, so it is audited.
    pub fn assignment_board(
        &self,
        caller: &Caller,
        area: Option<&str>,
    ) -> Result<verivali_protocol::assignment::AssignmentBoard, ApiError> {
        use verivali_protocol::assignment::{AssignmentBoard, BOARD_MAX, BoardHousehold};
        Self::reviewer(caller)?;
        let Some(area) = area.map(str::trim).filter(|a| !a.is_empty()) else {
            return Err(ApiError::bad_request(caller.lang, "area is required"));
        };
        let scope = Self::review_scope(caller, Some(area))?;
        let mut tx = self.db.read()?;
        let mut rows = repo::board(tx.as_mut(), &scope, BOARD_MAX + 1)?;
        drop(tx);
        let truncated = rows.len() > BOARD_MAX;
        rows.truncate(BOARD_MAX);
        self.audit_read(
            caller,
            "assignment.board",
            None,
            format!("area={area} rows={}", rows.len()),
        )?;
        let mut households = Vec::with_capacity(rows.len());
        for (household_id, id_dtsen, nama_krt, kode_desa, rw, rt, a) in rows {
            let assignment = a.map(|(a, username)| entry(a, username)).transpose()?;
            households.push(BoardHousehold {
                household_id,
                id_dtsen,
                nama_krt,
                kode_desa,
                rw,
                rt,
                assignment,
            });
        }
        Ok(AssignmentBoard {
            households,
            truncated,
        })
    }
}

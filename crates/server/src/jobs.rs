//! Background jobs of the admin console (DESIGN.md §10): a baseline import started from the
//! browser runs on a thread of its own, so a 200,000-row file neither holds a request open nor
//! blocks the others (it writes in transactions of 500 households, between which every other
//! request goes on). The console follows it at `GET /api/v1/admin/jobs/{id}`.
//!
//! Jobs live in memory: a restart forgets them (the import itself is idempotent, so the file can
//! be sent again). Only the admin who started a job sees it; the last [`KEEP`] are kept.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;
use verivali_domain::Role;
use verivali_protocol::admin::{BaselineReport, JobStarted, JobState, JobStatus, LineProblem};

use crate::app::{App, Caller};
use crate::error::{ApiError, Refusal};
use crate::import::{ImportReport, LineIssue};
use crate::repo;

/// Finished jobs kept for their reports.
pub const KEEP: usize = 100;

struct Job {
    owner: Uuid,
    status: JobStatus,
}

/// The jobs of this server process.
#[derive(Default)]
pub struct Jobs(Mutex<HashMap<Uuid, Job>>);

impl Jobs {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<Uuid, Job>) -> T) -> T {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut map)
    }

    fn start(&self, owner: Uuid, kind: &str, now: DateTime<Utc>) -> Uuid {
        let id = Uuid::now_v7();
        self.with(|jobs| {
            if jobs.len() >= KEEP {
                let oldest = jobs
                    .iter()
                    .filter(|(_, j)| j.status.state != JobState::Running)
                    .min_by_key(|(_, j)| j.status.started_at)
                    .map(|(id, _)| *id);
                if let Some(old) = oldest {
                    jobs.remove(&old);
                }
            }
            jobs.insert(
                id,
                Job {
                    owner,
                    status: JobStatus {
                        id,
                        kind: kind.to_string(),
                        state: JobState::Running,
                        rows_done: 0,
                        rows_total: 0,
                        started_at: now,
                        finished_at: None,
                        report: None,
                        error: None,
                    },
                },
            );
        });
        id
    }

    fn update(&self, id: Uuid, f: impl FnOnce(&mut JobStatus)) {
        self.with(|jobs| {
            if let Some(j) = jobs.get_mut(&id) {
                f(&mut j.status);
            }
        });
    }

    /// The job's status, for its owner only.
    fn status(&self, id: Uuid, owner: Uuid) -> Option<JobStatus> {
        self.with(|jobs| {
            jobs.get(&id)
                .filter(|j| j.owner == owner)
                .map(|j| j.status.clone())
        })
    }
}

fn problems(issues: &[LineIssue]) -> Vec<LineProblem> {
    issues
        .iter()
        .map(|i| LineProblem {
            line: i.line,
            code: i.code.clone(),
            message: i.message.clone(),
        })
        .collect()
}

fn report(r: &ImportReport) -> BaselineReport {
    BaselineReport {
        created: r.created as u64,
        updated: r.updated as u64,
        unchanged: r.unchanged as u64,
        members: r.members as u64,
        bad_rows: problems(&r.bad_rows),
        warnings: problems(&r.warnings),
    }
}

fn not_found(lang: verivali_domain::Lang) -> ApiError {
    ApiError::new(
        Refusal::NotFound,
        "job.not_found",
        "No such job",
        lang,
        "Pekerjaan tidak ditemukan (server mungkin dimulai ulang; kirim berkasnya lagi)",
        "No such job (the server may have restarted; send the file again)",
    )
}

impl App {
    /// `POST /api/v1/admin/imports/households`: starts importing a baseline CSV in the background
    /// (rows of desa outside the admin's areas are refused, each with its line).
    pub fn start_baseline_import(
        self: &Arc<Self>,
        caller: &Caller,
        csv: bytes::Bytes,
    ) -> Result<JobStarted, ApiError> {
        if caller.user.role != Role::Admin {
            return Err(ApiError::forbidden(caller.lang));
        }
        let now = self.now();
        let id = self.jobs.start(caller.user.id, "import.households", now);
        {
            let mut tx = self.db.write()?;
            let audit = repo::Audit {
                entity_kind: Some("job"),
                entity_id: Some(id.to_string()),
                detail: Some(format!("{} bytes", csv.len())),
                ..caller.audit("import.households.start")
            };
            repo::audit(tx.as_mut(), &audit, now)?;
            tx.commit()?;
        }
        let app = Arc::clone(self);
        let areas = caller.user.areas.clone();
        let lang = caller.lang;
        std::thread::Builder::new()
            .name(format!("import-{id}"))
            .spawn(move || {
                let progress = |done: u64, total: u64| {
                    app.jobs.update(id, |s| {
                        s.rows_done = done;
                        s.rows_total = total;
                    })
                };
                let text = csv.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&csv);
                let result = app.import_households_in(text, Some(&areas), &progress);
                let finished = app.now();
                app.jobs.update(id, |s| {
                    s.finished_at = Some(finished);
                    match result {
                        Ok(r) => {
                            s.state = JobState::Done;
                            s.rows_done = s.rows_total;
                            s.report = Some(report(&r));
                        }
                        Err(e) => {
                            s.state = JobState::Failed;
                            s.error = Some(if lang == verivali_domain::Lang::En {
                                format!("The file was not imported: {e}")
                            } else {
                                format!("Berkas tidak diimpor: {e}")
                            });
                        }
                    }
                });
            })
            .map_err(|e| ApiError::internal(&e))?;
        Ok(JobStarted { job: id })
    }

    /// `GET /api/v1/admin/jobs/{id}`: a job the caller started.
    pub fn job(&self, caller: &Caller, id: Uuid) -> Result<JobStatus, ApiError> {
        if caller.user.role != Role::Admin {
            return Err(ApiError::forbidden(caller.lang));
        }
        self.jobs
            .status(id, caller.user.id)
            .ok_or_else(|| not_found(caller.lang))
    }

    /// `GET /api/v1/admin/jobs/{id}/bad-rows.csv`: the refused rows of a finished import, as
    /// `line,code,message` (cells a spreadsheet would run are made text).
    pub fn job_bad_rows_csv(&self, caller: &Caller, id: Uuid) -> Result<String, ApiError> {
        let status = self.job(caller, id)?;
        let rows = status.report.map(|r| r.bad_rows).unwrap_or_default();
        let mut w = csv::Writer::from_writer(Vec::new());
        let safe = verivali_domain::export::csv_safe;
        let csv_err = |e: csv::Error| ApiError::internal(&e);
        w.write_record(["line", "code", "message"])
            .map_err(csv_err)?;
        for r in rows {
            w.write_record([
                r.line.to_string(),
                safe(&r.code).into_owned(),
                safe(&r.message).into_owned(),
            ])
            .map_err(csv_err)?;
        }
        let bytes = w.into_inner().map_err(|e| ApiError::internal(&e))?;
        String::from_utf8(bytes).map_err(|e| ApiError::internal(&e))
    }
}

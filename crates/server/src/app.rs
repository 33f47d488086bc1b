//! The server's shared state and the calls of protocol v1 as plain (blocking) functions; the HTTP
//! layer in [`crate::http`] only parses, authenticates and runs these on blocking threads.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use verivali_domain::clock::Clock;
use verivali_domain::{Lang, Questionnaire};

use crate::auth::Throttle;
use crate::db::{Database, DbResult};
use crate::error::ApiError;
use crate::repo::{self, DeviceRow, UserRow};

/// Op schema versions this server accepts.
pub const SCHEMAS: &[u32] = &[1];
/// Oldest app version served.
pub const MIN_APP_VERSION: &str = "0.1.0";

/// Tries of a write job that PostgreSQL aborted to break a deadlock with another
/// ([`App::run_write_then`]): the first and two more.
pub const WRITE_ATTEMPTS: u32 = 3;

/// Waits before running again a transaction PostgreSQL aborted for a deadlock or a
/// serialization conflict (`attempt`: the tries so far, from 1). The winner usually needs a few
/// milliseconds more; a pause that grows with the tries (10 ms a try, and up to 15 ms more that
/// differ between the two losers of a three-way cycle) keeps the next try from meeting it head
/// on again.
pub(crate) fn pause_before_retry(attempt: u32) {
    let jitter = u64::from(uuid::Uuid::now_v7().as_u128() as u8 % 16);
    std::thread::sleep(std::time::Duration::from_millis(
        10 * u64::from(attempt) + jitter,
    ));
}

pub use crate::ops::Metrics;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserRow,
    /// Their device.
    pub device: DeviceRow,
    /// Network address.
    pub address: String,
    /// Language of answers.
    pub lang: Lang,
}

impl Caller {
    /// The server's operator on the command line (`verivali-server assign …`): an admin of every
    /// area, audited as `cli`. Only the CLI, which already holds the database, makes one.
    pub fn operator() -> Caller {
        let codes =
            (10..=99).filter_map(|p| verivali_domain::RegionCode::parse(&p.to_string()).ok());
        Caller {
            user: repo::UserRow {
                id: uuid::Uuid::nil(),
                username: "cli".into(),
                display_name: "command line".into(),
                role: verivali_domain::Role::Admin,
                areas: verivali_domain::Areas::new(codes),
                password_hash: String::new(),
                disabled: false,
                must_change_password: false,
            },
            device: repo::DeviceRow {
                id: uuid::Uuid::nil(),
                user_id: uuid::Uuid::nil(),
                name: "cli".into(),
                app_version: String::new(),
                acked_seq: 0,
                revoked_at: None,
                wipe_requested_at: None,
                wiped_at: None,
            },
            address: "cli".into(),
            lang: Lang::Id,
        }
    }

    /// An audit entry of this caller (who, from which device and address) for `action`.
    pub fn audit<'a>(&'a self, action: &'a str) -> repo::Audit<'a> {
        repo::Audit {
            user_id: Some(self.user.id),
            username: Some(&self.user.username),
            device_id: Some(self.device.id),
            address: Some(&self.address),
            action,
            ..Default::default()
        }
    }
}

/// The server.
pub struct App {
    /// Storage.
    pub db: Box<dyn Database>,
    pub clock: Arc<dyn Clock>,
    /// Sign-in throttle.
    pub throttle: Throttle,
    /// Hash checked for unknown users.
    pub dummy_hash: String,
    /// Where attachments live.
    pub attachments_dir: PathBuf,
    /// Counters.
    pub metrics: Metrics,
    questionnaires: Mutex<HashMap<u32, Arc<Questionnaire>>>,
    pub(crate) upload_lock: Mutex<()>,
    /// The order of one device's pushes handled at the same time (a pipelining device).
    pub(crate) push_order: crate::sync::order::PushOrder,
    /// Background jobs (a baseline import from the console).
    pub(crate) jobs: crate::jobs::Jobs,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("db", &self.db).finish()
    }
}

impl App {
    /// Builds the server over an open database; publishes the default questionnaire if none is.
    pub fn new(
        db: Box<dyn Database>,
        clock: Arc<dyn Clock>,
        data_dir: PathBuf,
    ) -> anyhow::Result<App> {
        let attachments_dir = data_dir.join("attachments");
        std::fs::create_dir_all(attachments_dir.join("partial"))?;
        let app = App {
            db,
            clock,
            throttle: Throttle::default(),
            dummy_hash: crate::auth::dummy_hash(),
            attachments_dir,
            metrics: Metrics::default(),
            questionnaires: Mutex::new(HashMap::new()),
            push_order: Default::default(),
            upload_lock: Mutex::new(()),
            jobs: crate::jobs::Jobs::default(),
        };
        let mut tx = app.db.write()?;
        if repo::active_questionnaire(tx.as_mut())?.is_none() {
            let q = Questionnaire::default_dtsen().map_err(|e| anyhow::anyhow!("{e}"))?;
            repo::publish_questionnaire(tx.as_mut(), &q, app.clock.now())?;
        }
        tx.commit()?;
        Ok(app)
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A questionnaire version (cached), read through the caller's transaction: taking a second
    /// connection while holding one can deadlock a full pool.
    pub fn questionnaire(
        &self,
        tx: &mut dyn crate::db::Sql,
        version: u32,
    ) -> DbResult<Option<Arc<Questionnaire>>> {
        if let Ok(cache) = self.questionnaires.lock()
            && let Some(q) = cache.get(&version)
        {
            return Ok(Some(q.clone()));
        }
        let q = repo::questionnaire_version(tx, "dtsen-ruta", version)?.map(Arc::new);
        if let (Some(q), Ok(mut cache)) = (&q, self.questionnaires.lock()) {
            cache.insert(version, q.clone());
        }
        Ok(q)
    }

    /// `GET /api/v1/questionnaire`: the active questionnaire, for any signed-in caller.
    pub fn active_questionnaire(&self, caller: &Caller) -> Result<Questionnaire, ApiError> {
        let mut tx = self.db.read()?;
        repo::active_questionnaire(tx.as_mut())?.ok_or_else(|| ApiError::not_found(caller.lang))
    }

    /// Runs a write job that may refuse with an [`ApiError`]: a refusal undoes the job's writes
    /// (its savepoint or transaction rolls back) and is returned; success returns once committed.
    pub(crate) fn run_write<T>(
        &self,
        job: impl FnMut(&mut dyn crate::db::Sql) -> DbResult<Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        self.run_write_then(job, || {})
    }

    /// [`App::run_write`], calling `committed` once the write is visible to the next transaction,
    /// perhaps before it is durable (on SQLite; [`crate::db::Database::write_job_then`]); not
    /// called when the job refuses or fails.
    ///
    /// A job PostgreSQL aborts to break a deadlock or a serialization conflict with another
    /// write ([`crate::db::DbError::is_transient`]) is run again in a new transaction, up to
    /// [`WRITE_ATTEMPTS`] times in all: two writers that lock some of the same rows in
    /// different orders (an approval re-checking its household, a push telling that household's
    /// visits a `burst`) are rare, and the one PostgreSQL chose to abort would otherwise answer
    /// 5xx for a decision nobody did wrong. A job is therefore run whole each time: it may keep
    /// state across tries only in what the database rolls back (every caller's closure builds its
    /// answer inside itself). The answer after the last try is 503 `server.busy`.
    pub(crate) fn run_write_then<T>(
        &self,
        job: impl FnMut(&mut dyn crate::db::Sql) -> DbResult<Result<T, ApiError>>,
        committed: impl FnMut(),
    ) -> Result<T, ApiError> {
        self.run_write_tries(WRITE_ATTEMPTS, job, committed)
    }

    /// [`App::run_write_then`] tried once: for a job that cannot run twice (a push hands its
    /// decoded records to its first try; its device sends it again after a 503).
    pub(crate) fn run_write_once_then<T>(
        &self,
        job: impl FnMut(&mut dyn crate::db::Sql) -> DbResult<Result<T, ApiError>>,
        committed: impl FnMut(),
    ) -> Result<T, ApiError> {
        self.run_write_tries(1, job, committed)
    }

    fn run_write_tries<T>(
        &self,
        attempts: u32,
        mut job: impl FnMut(&mut dyn crate::db::Sql) -> DbResult<Result<T, ApiError>>,
        mut committed: impl FnMut(),
    ) -> Result<T, ApiError> {
        let mut attempt = 1;
        loop {
            let mut answer: Option<Result<T, ApiError>> = None;
            let ran = self.db.write_job_then(
                &mut |tx: &mut dyn crate::db::Sql| {
                    let r = job(tx)?;
                    let refused = r.is_err();
                    answer = Some(r);
                    if refused {
                        Err(crate::db::DbError::Aborted)
                    } else {
                        Ok(())
                    }
                },
                &mut committed,
            );
            return match ran {
                Ok(()) | Err(crate::db::DbError::Aborted) => {
                    answer.unwrap_or_else(|| Err(ApiError::internal(&"write job did not run")))
                }
                Err(e) if e.is_transient() && attempt < attempts => {
                    crate::ops::Metrics::add(&self.metrics.writes_retried, 1);
                    tracing::info!(attempt, error = %e, "write lost to a concurrent one: run again");
                    pause_before_retry(attempt);
                    attempt += 1;
                    continue;
                }
                Err(e) if e.is_transient() => Err(ApiError::busy(&e)),
                Err(e) => Err(e.into()),
            };
        }
    }

    /// A questionnaire version from the cache, reading it with a short read transaction on a
    /// miss. Only for callers that hold no connection.
    pub fn questionnaire_cached(&self, version: u32) -> DbResult<Option<Arc<Questionnaire>>> {
        if let Ok(cache) = self.questionnaires.lock()
            && let Some(q) = cache.get(&version)
        {
            return Ok(Some(q.clone()));
        }
        let mut tx = self.db.read()?;
        self.questionnaire(tx.as_mut(), version)
    }

    /// Resolves a bearer token to a caller: 401 when unknown, expired or revoked (token or device),
    /// 426 when the device's app is older than the server serves.
    pub fn authenticate(&self, token: &str, address: &str, lang: Lang) -> Result<Caller, ApiError> {
        self.authenticate_as(token, address, lang, false)
    }

    /// As [`App::authenticate`], for the calls that carry a device's work to the server (push,
    /// photo upload, the wipe confirmation): a device revoked with a wipe to come still makes
    /// them, so nothing it holds is lost; every other call tells it `auth.device_wipe`.
    pub fn authenticate_outgoing(
        &self,
        token: &str,
        address: &str,
        lang: Lang,
    ) -> Result<Caller, ApiError> {
        self.authenticate_as(token, address, lang, true)
    }

    fn authenticate_as(
        &self,
        token: &str,
        address: &str,
        lang: Lang,
        outgoing: bool,
    ) -> Result<Caller, ApiError> {
        let mut tx = self.db.read()?;
        let row = repo::token(tx.as_mut(), &crate::auth::token_hash(token))?
            .ok_or_else(|| ApiError::unauthorized(lang, "auth.invalid_token"))?;
        drop(tx);
        if row.device.wipe_pending() {
            if !outgoing {
                return Err(ApiError::unauthorized(lang, "auth.device_wipe"));
            }
        } else if row.device.revoked_at.is_some() {
            return Err(ApiError::unauthorized(lang, "auth.device_revoked"));
        }
        // The token alone (a dashboard sign-out).
        if row.revoked_at.is_some() {
            return Err(ApiError::unauthorized(lang, "auth.token_revoked"));
        }
        // Checked on every call, so a disable stops the user's tokens at once; enabled again,
        // their phones sync what they still hold.
        if row.user.disabled {
            return Err(ApiError::unauthorized(lang, "auth.account_disabled"));
        }
        let expired = row
            .expires_at
            .parse::<DateTime<Utc>>()
            .map_or(true, |e| e <= self.now());
        if expired {
            return Err(ApiError::unauthorized(lang, "auth.token_expired"));
        }
        if version_lt(&row.device.app_version, MIN_APP_VERSION) {
            return Err(app_too_old(lang));
        }
        Ok(Caller {
            user: row.user,
            device: row.device,
            address: address.to_string(),
            lang,
        })
    }
}

/// Whether app version `a` is older than `b`, by semantic versioning (`0.10.0` > `0.9.3`,
/// `0.2.0-rc.1` < `0.2.0`). A missing minor or patch counts as 0 (`0.1` is `0.1.0`); a version
/// that is not one at all counts as older than any, so such an app is told to update.
pub fn version_lt(a: &str, b: &str) -> bool {
    fn lenient(s: &str) -> Option<semver::Version> {
        let s = s.trim().trim_start_matches('v');
        semver::Version::parse(s).ok().or_else(|| {
            // `0.1` or `1`: pad the core to three parts, keep any pre-release or build.
            let split = s.find(['-', '+']).unwrap_or(s.len());
            let (core, rest) = s.split_at(split);
            let parts = core.split('.').count();
            (parts < 3)
                .then(|| format!("{core}{}{rest}", ".0".repeat(3 - parts)))
                .and_then(|p| semver::Version::parse(&p).ok())
        })
    }
    match (lenient(a), lenient(b)) {
        (Some(a), Some(b)) => a < b,
        (None, Some(_)) => true,
        _ => false,
    }
}

/// 426: the app must be updated.
pub fn app_too_old(lang: Lang) -> ApiError {
    ApiError::new(
        crate::error::Refusal::UpgradeRequired,
        "session.app_too_old",
        "App too old",
        lang,
        &format!(
            "Versi aplikasi terlalu lama; perbarui ke versi {MIN_APP_VERSION} atau lebih baru"
        ),
        &format!("This app version is too old; update to {MIN_APP_VERSION} or newer"),
    )
    .with("min_app_version", serde_json::json!(MIN_APP_VERSION))
    .with("schemas", serde_json::json!(SCHEMAS))
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_compare_numerically() {
        assert!(super::version_lt("0.9.3", "0.10.0"));
        assert!(!super::version_lt("0.10.0", "0.10.0"));
        assert!(super::version_lt("garbage", "0.1.0"));
        assert!(!super::version_lt("0.1", "0.1.0"), "0.1 is 0.1.0");
        assert!(super::version_lt("0.1", "0.1.1"));
        assert!(super::version_lt("0.2.0-rc.1", "0.2.0"));
        assert!(!super::version_lt("1", "0.9.9"));
    }
}

//! # verivali-store
//!
//! The device database (DESIGN.md §4): one SQLCipher-encrypted SQLite file per device user, opened
//! with a key derived from the PIN by Argon2id with a random per-device salt ([`key`]). Photos are
//! kept inside the encrypted file, so they are encrypted at rest with everything else.
//!
//! * Append-only migrations run at open ([`schema`]).
//! * WAL with `synchronous = FULL`: a call that returns has its data on disk. Two commits of the
//!   sync do not wait for the disk, because the server gives their content again after a power
//!   cut: a pulled page ([`Store::apply_pulled`]) and an acknowledgement without a rejection
//!   ([`Store::acknowledge`]). Both stay atomic, and the next durable commit flushes them.
//! * The **outbox** is the only way changes leave the device: every change writes its rows and its
//!   op in one transaction ([`Store::record_visit`], [`Store::submit_batch`], [`Store::propose_household`]).
//!   `seq` is per device, gap-free from 1; ops leave only when the server acknowledged them.
//! * The hybrid logical clock is persisted and merged with the server's time
//!   ([`verivali_domain::hlc`]).
//! * Queries for the app: the work list grouped by RW/RT with text search and status filter, one
//!   household with members and visit history, outbox counts, and the "needs attention" list.
//!
//! Business rules (validation, state machine, work status) come from `verivali-domain`.

mod baseline;
pub mod error;
pub mod key;
mod outbox;
mod photos;
mod pull;
mod queries;
pub mod schema;
mod session;
mod visits;

pub use error::{Result, StoreError};
pub use key::KdfParams;
pub use outbox::{
    AttentionItem, OutboxCounts, OutboxOp, Rejection, SYNC_LOG_KEPT, StoredPayload, SyncLogEntry,
    VISIT_DICT_ID,
};
pub use pull::{Applied, Pulled};
pub use queries::{
    HouseholdDetail, HouseholdQuery, HouseholdRow, PhotoRef, RtGroup, SentVisit, VisitSummary,
};
pub use session::Session;
pub use visits::{Recorded, SubmittedBatch};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;
use verivali_domain::clock::Clock;
use verivali_domain::hlc::{ClockState, Hlc};
use verivali_domain::pin::validate_pin;
use verivali_domain::{Questionnaire, VisitContext};

/// An open device store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    device_id: Uuid,
    clock: Arc<dyn Clock>,
    questionnaire: Questionnaire,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("device_id", &self.device_id)
            .finish()
    }
}

/// Formats a time the way the store keeps it (sortable text, UTC, milliseconds).
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Store {
    /// Creates a new store at `path` for `device_id`, keyed by `pin` (which must meet the PIN
    /// policy). Fails if a store is already there.
    pub fn create(
        path: &Path,
        pin: &str,
        device_id: Uuid,
        params: KdfParams,
        clock: Arc<dyn Clock>,
    ) -> Result<Store> {
        Self::create_with_schema(path, pin, device_id, params, clock, schema::latest())
    }

    /// As [`Store::create`], but stops the migrations at `version`. Only for writing the fixtures
    /// that prove old databases still open.
    #[doc(hidden)]
    pub fn create_with_schema(
        path: &Path,
        pin: &str,
        device_id: Uuid,
        params: KdfParams,
        clock: Arc<dyn Clock>,
        version: i64,
    ) -> Result<Store> {
        validate_pin(pin).map_err(StoreError::PinPolicy)?;
        if path.exists() || key::key_file_path(path).exists() {
            return Err(StoreError::AlreadyExists(path.display().to_string()));
        }
        let (salt, params) = key::create_key_file(path, params)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = keyed_connection(path, pin, &salt, params, flags)?;
        schema::migrate(&mut conn, version)?;
        let now = clock.now();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.exec_cached(
            "INSERT INTO meta (key, value) VALUES ('device_id', ?1)",
            [device_id.to_string()],
        )?;
        tx.exec_cached(
            "INSERT INTO meta (key, value) VALUES ('created_at', ?1)",
            [ts(now)],
        )?;
        tx.exec_cached(
            "INSERT INTO clock (id, device, wall_ms, counter, offset_ms) VALUES (1, ?1, 0, 0, NULL)",
            [device_id.to_string()],
        )?;
        tx.commit()?;
        Self::finish_open(conn, path, clock)
    }

    /// Opens an existing store with the PIN. A wrong PIN fails with [`StoreError::WrongPin`] and
    /// changes nothing. Pending migrations run.
    pub fn open(path: &Path, pin: &str, clock: Arc<dyn Clock>) -> Result<Store> {
        if !path.exists() {
            return Err(StoreError::NotFound(path.display().to_string()));
        }
        let (salt, params) = key::read_key_file(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = keyed_connection(path, pin, &salt, params, flags)?;
        schema::migrate(&mut conn, schema::latest())?;
        Self::finish_open(conn, path, clock)
    }

    fn finish_open(conn: Connection, path: &Path, clock: Arc<dyn Clock>) -> Result<Store> {
        let device: String =
            conn.query_row("SELECT value FROM meta WHERE key = 'device_id'", [], |r| {
                r.get(0)
            })?;
        let device_id =
            Uuid::parse_str(&device).map_err(|e| StoreError::KeyParams(e.to_string()))?;
        let stored: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'questionnaire'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let questionnaire = match stored {
            Some(json) => serde_json::from_str(&json)?,
            None => {
                Questionnaire::default_dtsen().map_err(|e| StoreError::KeyParams(e.to_string()))?
            }
        };
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            device_id,
            clock,
            questionnaire,
        })
    }

    /// A keyed connection to an existing store without running migrations. Only for writing and
    /// inspecting test fixtures and for crash checks; the app never uses it.
    #[doc(hidden)]
    pub fn open_raw(path: &Path, pin: &str) -> Result<Connection> {
        let (salt, params) = key::read_key_file(path)?;
        keyed_connection(path, pin, &salt, params, OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    /// Re-keys the database with a new PIN (the old one must have opened it).
    pub fn change_pin(&mut self, new_pin: &str, params: KdfParams) -> Result<()> {
        validate_pin(new_pin).map_err(StoreError::PinPolicy)?;
        let old_key_file = std::fs::read(key::key_file_path(&self.path))?;
        let (salt, params) = key::create_key_file(&self.path, params)?;
        let key = key::derive_key_literal(new_pin, &salt, params)?;
        if let Err(e) = self.conn.pragma_update(None, "rekey", key.as_str()) {
            std::fs::write(key::key_file_path(&self.path), old_key_file)?;
            return Err(e.into());
        }
        Ok(())
    }

    pub fn device_id(&self) -> Uuid {
        self.device_id
    }

    /// Deletes a store's files (the database, its WAL and shared-memory files, the key
    /// parameters). For signing a device out; the store must be closed.
    pub fn delete_files(path: &Path) -> std::io::Result<()> {
        let mut files = vec![path.to_path_buf(), key::key_file_path(path)];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_os_string();
            name.push(suffix);
            files.push(PathBuf::from(name));
        }
        for f in files {
            match std::fs::remove_file(&f) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The active questionnaire (the default DTSEN one until the server sends another).
    pub fn questionnaire(&self) -> &Questionnaire {
        &self.questionnaire
    }

    /// The applied schema version.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Today's date for validation ([`verivali_domain::visit::validation_date`]).
    pub(crate) fn today(&self) -> NaiveDate {
        verivali_domain::visit::validation_date(self.clock.now())
    }

    /// Validates with the questionnaire version the record follows: a visit begun before the
    /// server published a newer version is finished on its own (DESIGN.md §10). A version this
    /// device never held falls back to the active one (and the version check then says so).
    pub(crate) fn with_ctx<T>(&self, version: u32, f: impl FnOnce(VisitContext<'_>) -> T) -> T {
        let older = (version != self.questionnaire.version)
            .then(|| self.questionnaire_version(version).ok().flatten())
            .flatten();
        f(VisitContext {
            questionnaire: older.as_ref().unwrap_or(&self.questionnaire),
            today: self.today(),
            regions: None,
        })
    }

    /// A questionnaire version this device received (each is kept, by version).
    pub fn questionnaire_version(&self, version: u32) -> Result<Option<Questionnaire>> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [format!("questionnaire@{version}")],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    /// Merges the server's time from a response into the persisted clock.
    pub fn merge_server_time(&mut self, server_time: DateTime<Utc>) -> Result<()> {
        let now = self.clock.now().timestamp_millis();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut state = load_clock(&tx)?;
        state.merge_server(server_time.timestamp_millis(), now);
        save_clock(&tx, &state)?;
        tx.commit()?;
        Ok(())
    }

    /// The clock as persisted.
    pub fn clock_state(&self) -> Result<ClockState> {
        load_clock(&self.conn)
    }

    /// Runs `PRAGMA integrity_check` (used after crashes in tests and on demand in support).
    pub fn integrity_ok(&self) -> Result<bool> {
        let r: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(r == "ok")
    }

    /// Runs `f`, whose commits do not wait for the disk (`synchronous = NORMAL`): only for the
    /// commits the server gives again after a power cut (a pulled page, an acknowledgement
    /// without a rejection). The store waits for the disk again afterwards, whether `f` returned,
    /// failed or panicked: a caller that goes on after a panic (the app keeps a store whose lock
    /// was poisoned) must not record visits without their fsync.
    pub(crate) fn not_waiting_for_the_disk<T>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<T>,
    ) -> Result<T> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)));
        let full = self.conn.pragma_update(None, "synchronous", "FULL");
        match done {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(done) => {
                full?;
                done
            }
        }
    }

    pub(crate) fn write_tx(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }
}

/// Runs SQLite's (and so SQLCipher's) one-time initialisation on one thread, before the first
/// connection opens.
///
/// Why: SQLite 3.53 marks itself initialised *before* it runs `SQLITE_EXTRA_INIT`, which is where
/// SQLCipher registers its crypto provider. A second thread opening a connection in that window
/// skips initialisation, and its `PRAGMA key` fails with "PRAGMA key requires a key of one or more
/// characters". Seen about once in 1,200 fresh processes that open eight stores at once
/// (`sqlcipher_init_race` in the store tests); `Once` makes every other caller wait for the end.
fn sqlite_initialised() -> Result<()> {
    static INIT: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    // Opening any connection runs sqlite3_initialize to its end (extra init included) on this
    // thread; OnceLock holds every other caller until it has.
    INIT.get_or_init(|| {
        Connection::open_in_memory()
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(|msg| {
        let code = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR);
        rusqlite::Error::SqliteFailure(code, Some(msg)).into()
    })
}

/// Page authentication of stores made by this build.
const HMAC_FAST: &str = "HMAC_SHA256";
/// SQLCipher 4's default, which stores made before used.
const HMAC_LEGACY: &str = "HMAC_SHA512";

/// Opens `path` with `key` and page authentication `hmac`; `None` when the key check fails
/// (a wrong PIN, or a store using the other authentication).
fn open_keyed(path: &Path, key: &str, flags: OpenFlags, hmac: &str) -> Result<Option<Connection>> {
    let conn = Connection::open_with_flags(path, flags)?;
    // A wrong PIN is an answer, not an error worth SQLCipher's stderr log.
    let _ = conn.pragma_update(None, "cipher_log_level", "NONE");
    conn.pragma_update(None, "key", key)?;
    conn.pragma_update(None, "cipher_hmac_algorithm", hmac)?;
    // The first read tells whether the key is right; nothing is written before it.
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(Some(conn)),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

fn keyed_connection(
    path: &Path,
    pin: &str,
    salt: &[u8; 16],
    params: KdfParams,
    flags: OpenFlags,
) -> Result<Connection> {
    let key = key::derive_key_literal(pin, salt, params)?;
    sqlite_initialised()?;
    // Pages are authenticated with HMAC-SHA256, which this class of CPU computes in hardware
    // (SHA extensions): SQLCipher's default, HMAC-SHA512, was half of a large sync's local CPU.
    // A store made before keeps SHA-512 and opens with it: the key check tells which.
    let conn = match open_keyed(path, key.as_str(), flags, HMAC_FAST)? {
        Some(c) => c,
        None => open_keyed(path, key.as_str(), flags, HMAC_LEGACY)?.ok_or(StoreError::WrongPin)?,
    };
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Every page read from disk is decrypted and authenticated; a 16 MiB cache keeps the work list
    // of a 5,000-household assignment in memory.
    conn.pragma_update(None, "cache_size", -16_384)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

pub(crate) fn load_clock(conn: &Connection) -> Result<ClockState> {
    Ok(conn.query_row(
        "SELECT device, wall_ms, counter, offset_ms FROM clock WHERE id = 1",
        [],
        |r| {
            let device: String = r.get(0)?;
            Ok(ClockState {
                device: Uuid::parse_str(&device).unwrap_or(Uuid::nil()),
                wall_ms: r.get(1)?,
                counter: r.get(2)?,
                offset_ms: r.get(3)?,
            })
        },
    )?)
}

fn save_clock(conn: &Connection, s: &ClockState) -> Result<()> {
    conn.exec_cached(
        "UPDATE clock SET wall_ms = ?1, counter = ?2, offset_ms = ?3 WHERE id = 1",
        params![s.wall_ms, s.counter, s.offset_ms],
    )?;
    Ok(())
}

/// Issues the next HLC timestamp inside a write transaction.
pub(crate) fn tick(tx: &Transaction<'_>, now: DateTime<Utc>) -> Result<Hlc> {
    let mut state = load_clock(tx)?;
    let t = state.tick(now.timestamp_millis());
    save_clock(tx, &state)?;
    Ok(t)
}

/// `execute` through the connection's statement cache: the store runs the same few statements
/// over and over, and re-parsing them showed up in profiles.
pub(crate) trait ExecCached {
    fn exec_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
}

impl ExecCached for Connection {
    fn exec_cached<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An acknowledgement commits without waiting for the disk only when it carries no
    /// rejection ([`Store::acknowledge`]); after either kind the store waits for the disk again,
    /// so every later call (a visit recorded) is durable and flushes the acknowledgement too.
    #[test]
    fn acknowledgements_leave_the_store_waiting_for_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(verivali_domain::clock::SystemClock);
        let mut s = Store::create(
            &dir.path().join("s.db"),
            "270814",
            Uuid::now_v7(),
            KdfParams::FAST_INSECURE,
            clock,
        )
        .unwrap();
        let level = |s: &Store| -> i64 {
            s.conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap()
        };
        const FULL: i64 = 2;
        assert_eq!(level(&s), FULL);
        s.acknowledge(0, &[], Utc::now()).unwrap();
        assert_eq!(level(&s), FULL);
        let rejected = Rejection {
            op_id: Uuid::now_v7(),
            code: "visit.invalid".into(),
            message: "ditolak".into(),
            field: None,
        };
        s.acknowledge(0, &[rejected], Utc::now()).unwrap();
        assert_eq!(level(&s), FULL);
        // A panic inside (the app goes on with a store whose lock was poisoned) or a failure.
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            s.not_waiting_for_the_disk(|_| -> Result<()> { panic!("inside the commit") })
        }));
        assert!(panicked.is_err());
        assert_eq!(level(&s), FULL);
        let failed =
            s.not_waiting_for_the_disk(|s| s.conn.execute_batch("NOT SQL").map_err(Into::into));
        assert!(failed.is_err());
        assert_eq!(level(&s), FULL);
    }

    /// A store made by an earlier build (HMAC-SHA512 pages) opens, and a new one uses the
    /// hardware-backed HMAC-SHA256: it does not open as SHA-512.
    #[test]
    fn stores_of_either_page_authentication_open() {
        let dir = tempfile::tempdir().unwrap();
        let key = "x'2DD29CA851E7B56E4697B0E1F08507293D761A05CE4D1B628663F411A8086D99'";
        let create = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        sqlite_initialised().unwrap();
        let legacy = dir.path().join("legacy.db");
        let c = open_keyed(&legacy, key, create, HMAC_LEGACY)
            .unwrap()
            .unwrap();
        c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (7);")
            .unwrap();
        drop(c);
        assert!(
            open_keyed(&legacy, key, create, HMAC_FAST)
                .unwrap()
                .is_none()
        );
        let c = open_keyed(&legacy, key, create, HMAC_LEGACY)
            .unwrap()
            .unwrap();
        let x: i64 = c.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(x, 7);
        drop(c);

        let fresh = dir.path().join("fresh.db");
        let c = open_keyed(&fresh, key, create, HMAC_FAST).unwrap().unwrap();
        c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (8);")
            .unwrap();
        drop(c);
        assert!(
            open_keyed(&fresh, key, create, HMAC_LEGACY)
                .unwrap()
                .is_none()
        );
        assert!(
            open_keyed(&fresh, key, create, HMAC_FAST)
                .unwrap()
                .is_some()
        );
    }
}

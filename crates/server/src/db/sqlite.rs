//! SQLite backend (embedded, the default): one writer connection with group commit (SQLite
//! serialises writes anyway; one writer avoids busy-waiting, and sharing commits shares fsyncs),
//! four reader connections in WAL mode, and a checkpointer thread.
//!
//! Checkpoints (copying the WAL back into the database file, with its own fsyncs) run on the
//! checkpointer's connection, woken by the writer's commit once the WAL holds
//! [`CHECKPOINT_FRAMES`] pages: SQLite's automatic checkpoint would run them inside the writer's
//! commit, where every push queued behind the writer waits for them (7 % of ingest, measured).
//! Once woken, the checkpointer waits for the writer to pause ([`QUIET`] without a commit) or for
//! the WAL to pass [`BUSY_FRAMES`]: a device sending its backlog commits a push every few dozen
//! milliseconds, and a checkpoint in the middle took a core from it (the server's two cores are
//! shared by the writer, the next push's decoding and the device), and copied index pages that
//! the next commits changed again. A WAL page is as durable as a database page, so waiting costs
//! nothing but WAL size. A passive checkpoint never blocks the writer or a reader. Should the
//! checkpointer fall behind (a long read holds old pages), the writer checkpoints itself past
//! [`WAL_BACKSTOP_FRAMES`].
//!
//! The writer's timeline: with `RUST_LOG=verivali_server::db::sqlite=debug` each write job
//! ([`Database::write_job_then`]: a push, a review decision…) logs, once its group's commit is
//! made, how long it waited for the writer (`waited_us`), ran (`job_us`) and had it
//! (`held_us`: until it handed the open transaction to the next job of its group, or until the
//! group's commit when it made it, `committed`), how long ago it let go (`released_us_ago`),
//! and whether it opened its group (`first`). A job that fails alone or first in its group
//! (which ends the group at once), and a plain transaction ([`Database::write`], as a pull's
//! audit entry), is not logged. The gaps between one job's release and the next one's start are the writer's
//! idle time: how docs/benchmarks.md's seventeenth pass found the writer waiting for a
//! device's next push to be prepared, rather than the pushes waiting for it.
//!
//! Durability outside the write lock: the writer connection commits with `synchronous=NORMAL`
//! (in WAL mode a commit then writes its pages to the WAL without waiting for the disk), and the
//! job that committed makes the WAL durable itself ([`Durability::sync`], an `fdatasync` of the
//! WAL file) after it has let go of the writer and before it returns. Nothing is answered before
//! its commit is on the disk, as with `FULL`; but the next push's transaction runs while the
//! last one's pages are flushed (5–8 ms for the ~13 MB a 2,000-visit push writes, measured here),
//! where `FULL` flushed them inside the write lock, on the sync's critical path. Jobs that
//! committed while a flush was running share the next one. The WAL is flushed through one handle
//! held from the start, so a write error the kernel reports once is seen; a failed flush (here or
//! in a checkpoint) refuses every later write until a restart. A power cut (a killed process
//! loses nothing: its writes are in the kernel) can lose only commits no writer was told of;
//! a reader may see a commit in the few milliseconds before its flush, as a reader under `FULL`
//! would have seen it a moment later (a pull that hands changes to a device writes its audit
//! entry first, whose flush covers them). What SQLite's `NORMAL` promises otherwise (no
//! corruption; checkpoints sync the WAL before they copy it) stays.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, OpenFlags};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::pool::{Pool, Pooled};
use super::{Database, DbError, DbResult, Dialect, Row, RowView, Sql, Tx, Value};
use verivali_domain::packed;

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Value::I64(n) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*n)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Packed(z) => ToSqlOutput::Borrowed(ValueRef::Blob(z)),
        })
    }
}

/// Most jobs one group commit carries.
const MAX_GROUP: usize = 64;

/// WAL pages after which a commit wakes the checkpointer (SQLite's automatic default; 8 MiB
/// with the 8 KiB pages of a database created since step 13, 4 MiB before).
const CHECKPOINT_FRAMES: i32 = 1_000;

/// WAL pages after which the checkpointer runs without waiting for the writer to pause (64 MiB
/// with 8 KiB pages; a 10,000-visit sync writes about 7,500).
const BUSY_FRAMES: i32 = 8_192;

/// A writer without a commit for this long has paused: the checkpointer runs.
const QUIET: std::time::Duration = std::time::Duration::from_millis(100);

/// WAL pages after which the writer checkpoints itself (128 MiB with 8 KiB pages).
const WAL_BACKSTOP_FRAMES: i32 = 16_384;

/// The writer's own checkpoint past [`WAL_BACKSTOP_FRAMES`], from its WAL hook, after a commit.
/// It never fails the commit: the hook runs once the transaction is committed, and an error it
/// returns becomes the `COMMIT`'s, which the writer would take for a failed commit and tell its
/// group's jobs so (a 500 for pushes and decisions that were stored). A passive checkpoint fails
/// with `SQLITE_BUSY` whenever another connection holds the checkpoint lock, as the checkpointer
/// thread does while it runs: under sustained load the WAL passes the backstop while it does
/// (200 devices pushing 20,000 visits took it to 16,500 pages; with the group commit cut to one
/// job, an experiment, 2–5 pushes in 200 answered 500 that way; docs/benchmarks.md,
/// twenty-second pass). That checkpoint does the work, and the next commit past the backstop
/// tries again. Any other failure (the disk full, a lost write-back) is the checkpointer's rule:
/// writes stop (`failed`, read by `Durability::check`), the commit itself still stands.
fn backstop(
    pages: i32,
    failed: &std::sync::atomic::AtomicBool,
    checkpoint: impl FnOnce() -> rusqlite::Result<()>,
) {
    if let Err(e) = checkpoint() {
        let busy = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        if busy {
            tracing::debug!(pages, "WAL backstop: a checkpoint is running elsewhere");
        } else {
            tracing::error!(pages, error = %e, "WAL backstop checkpoint failed: writes stop until a restart");
            failed.store(true, Ordering::SeqCst);
        }
    }
}

/// What the writer's commits tell the checkpointer and [`Durability`]: the WAL's size and how
/// many commits there were (each counted once its pages are written to the WAL).
#[derive(Default)]
struct WalState {
    frames: AtomicI32,
    commits: AtomicU64,
}

/// Makes committed transactions durable after the writer is released (module docs).
struct Durability {
    /// The WAL file, as SQLite names it (the database's resolved path and `-wal`), opened once
    /// the writer has made it and held for the server's life: Linux reports a failed write-back
    /// once, to the handles open when it failed, and SQLite never removes the WAL while a
    /// connection is open.
    wal: std::fs::File,
    state: Arc<WalState>,
    /// Commits known to be on the disk; held while flushing, so concurrent callers share a flush.
    synced: Mutex<u64>,
    /// A flush (or a checkpoint's) failed: Linux may then have dropped the unwritten pages and a
    /// later flush succeed without them, so nothing is written or called durable any more until
    /// a restart, when SQLite recovers from what the WAL holds.
    failed: Arc<std::sync::atomic::AtomicBool>,
}

impl Durability {
    /// The commits so far (call it holding the writer, right after a commit: it counts that one).
    fn commits(&self) -> u64 {
        self.state.commits.load(Ordering::Acquire)
    }

    /// Refuses once a flush has failed (checked before every write transaction).
    fn check(&self) -> DbResult<()> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(DbError::Connection(
                "a flush of the database to the disk failed: restart the server".into(),
            ));
        }
        Ok(())
    }

    /// Returns once the first `commit` commits are on the disk.
    fn sync(&self, commit: u64) -> DbResult<()> {
        let mut synced = self
            .synced
            .lock()
            .map_err(|_| DbError::Connection("durability poisoned".into()))?;
        self.check()?;
        if *synced >= commit {
            return Ok(());
        }
        // Every commit counted so far has its pages written to the WAL (the count rises after
        // the write): one flush covers them all.
        let through = self.commits();
        if let Err(e) = self.wal.sync_data() {
            self.failed.store(true, Ordering::SeqCst);
            return Err(DbError::Connection(format!("flushing the WAL: {e}")));
        }
        *synced = through;
        Ok(())
    }
}

/// The single writer connection and the transaction a group of jobs shares.
struct Writer {
    conn: Connection,
    /// A group transaction is open (jobs ran, commit pending).
    open: bool,
    /// Generation of the current or last group.
    generation: u64,
    /// Jobs in the open group.
    jobs: usize,
    /// Commit results of recent groups: the commit count once committed (for
    /// [`Durability::sync`]), `None` when rolled back.
    results: BTreeMap<u64, Option<u64>>,
}

/// The SQLite database.
pub struct SqliteDb {
    writer: Mutex<Writer>,
    changed: Condvar,
    waiting: AtomicUsize,
    readers: Pool<Connection>,
    durability: Durability,
}

impl std::fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteDb")
    }
}

fn connect(path: &Path) -> DbResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    // 8 KiB pages for a new database (an existing one keeps its size): a stored visit is ~2.6 KB,
    // one to a 4 KiB page with a third of it empty, three to an 8 KiB one; a push writes and
    // commits a third fewer bytes (DESIGN.md §7, the push budget).
    conn.pragma_update(None, "page_size", 8192)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: an acknowledged op must survive a power cut, since the device deletes it on the ack.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    // The server has a few dozen distinct statements; the default cache of 16 re-parses them.
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// Copies the WAL into the database once the writer says it has grown and then pauses (or it
/// has grown past [`BUSY_FRAMES`]); ends when the database is dropped (the sender goes).
fn checkpointer(
    conn: Connection,
    wake: Receiver<()>,
    wal: Arc<WalState>,
    failed: Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::mpsc::RecvTimeoutError;
    while wake.recv().is_ok() {
        loop {
            let seen = wal.commits.load(Ordering::Relaxed);
            let quiet = match wake.recv_timeout(QUIET) {
                Err(RecvTimeoutError::Disconnected) => return,
                // Another wake-up is another commit (perhaps one counted before `seen` was read
                // but sent after): the writer has not paused.
                Ok(()) => false,
                Err(RecvTimeoutError::Timeout) => wal.commits.load(Ordering::Relaxed) == seen,
            };
            if quiet || wal.frames.load(Ordering::Relaxed) >= BUSY_FRAMES {
                break;
            }
        }
        // Passive: what no reader still needs, without waiting for anyone. A failure (the disk
        // full, say) leaves the pages in the WAL; but its flush of the WAL may have been the one
        // the kernel told of a lost write-back, which the writer's flush would then not hear:
        // writes stop (`Durability::check`).
        if let Err(e) = conn.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE) {
            let busy = matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            );
            if !busy {
                tracing::error!(error = %e, "checkpoint failed: writes stop until a restart");
                failed.store(true, Ordering::SeqCst);
            }
        }
    }
}

impl SqliteDb {
    /// A read transaction on a reader taken from the pool.
    fn begin_read(mut conn: Pooled<'_, Connection>) -> DbResult<Box<dyn Tx + '_>> {
        conn.conn()?.execute_batch("BEGIN").map_err(map_err)?;
        Ok(Box::new(SqliteTx {
            conn: Held::Reader(conn),
            done: false,
            durability: None,
        }))
    }

    /// Opens (creating if needed) and migrates the database file.
    pub fn open(path: &Path) -> DbResult<SqliteDb> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| DbError::Connection(e.to_string()))?;
        }
        let mut writer = connect(path)?;
        crate::db::schema::migrate_sqlite(&mut writer)?;
        // Commits wait for the disk in `Durability::sync`, outside the write lock (module docs).
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let quiet = connect(path)?;
        let state = Arc::new(WalState::default());
        let told = Arc::clone(&state);
        let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hook_failed = Arc::clone(&failed);
        // SQLite's own name for the database (symbolic links resolved), whose WAL the migration
        // or the WAL mode's first read has made.
        let wal_path = format!(
            "{}-wal",
            writer
                .path()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| DbError::Connection("the database has no file name".into()))?
        );
        let durability = Durability {
            wal: std::fs::File::open(&wal_path)
                .map_err(|e| DbError::Connection(format!("opening the WAL {wal_path}: {e}")))?,
            state: Arc::clone(&state),
            synced: Mutex::new(0),
            failed: Arc::clone(&failed),
        };
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpointer(quiet, woken, state, failed))
            .map_err(|e| DbError::Connection(e.to_string()))?;
        // Replaces SQLite's automatic checkpoint (itself a WAL hook) on the writer.
        writer.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages: i32| {
            told.frames.store(pages, Ordering::Relaxed);
            // Release: a flush that reads this count covers the pages written before it.
            told.commits.fetch_add(1, Ordering::Release);
            if pages >= WAL_BACKSTOP_FRAMES {
                backstop(pages, &hook_failed, || wal.checkpoint());
            } else if pages >= CHECKPOINT_FRAMES {
                // Full: a wake-up is already pending.
                let _ = wake.try_send(());
            }
            Ok(())
        }))?;
        let readers = (0..4)
            .map(|_| connect(path))
            .collect::<DbResult<Vec<_>>>()?;
        Ok(SqliteDb {
            writer: Mutex::new(Writer {
                conn: writer,
                open: false,
                generation: 0,
                jobs: 0,
                results: BTreeMap::new(),
            }),
            changed: Condvar::new(),
            waiting: AtomicUsize::new(0),
            readers: Pool::new(readers),
            durability,
        })
    }

    fn lock(&self) -> DbResult<MutexGuard<'_, Writer>> {
        self.writer
            .lock()
            .map_err(|_| DbError::Connection("writer poisoned".into()))
    }

    fn wait<'a>(&self, w: MutexGuard<'a, Writer>) -> DbResult<MutexGuard<'a, Writer>> {
        self.changed
            .wait(w)
            .map_err(|_| DbError::Connection("writer poisoned".into()))
    }

    /// Ends the open group: commits (or rolls back when `ok` is false) and tells its jobs.
    /// Returns the commit count to make durable once committed (not yet on the disk).
    fn finish_group(&self, w: &mut Writer, ok: bool) -> Option<u64> {
        let committed =
            (ok && w.conn.execute_batch("COMMIT").is_ok()).then(|| self.durability.commits());
        if committed.is_none() {
            let _ = w.conn.execute_batch("ROLLBACK");
        }
        w.open = false;
        w.jobs = 0;
        w.results.insert(w.generation, committed);
        while w.results.len() > 4096 {
            w.results.pop_first();
        }
        self.changed.notify_all();
        committed
    }
}

fn translate(sql: &str) -> String {
    sql.replace('$', "?")
}

fn map_err(e: rusqlite::Error) -> DbError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e
        && f.code == rusqlite::ErrorCode::ConstraintViolation
        && matches!(f.extended_code, 1555 | 2067)
    {
        return DbError::Duplicate;
    }
    DbError::Sqlite(e)
}

fn execute(conn: &Connection, sql: &str, params: &[Value]) -> DbResult<u64> {
    let mut stmt = conn.prepare_cached(&translate(sql)).map_err(map_err)?;
    Ok(stmt
        .execute(rusqlite::params_from_iter(params.iter()))
        .map_err(map_err)? as u64)
}

fn query(conn: &Connection, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
    let mut stmt = conn.prepare_cached(&translate(sql)).map_err(map_err)?;
    let n = stmt.column_count();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .map_err(map_err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(map_err)? {
        let mut vals = Vec::with_capacity(n);
        for i in 0..n {
            vals.push(match r.get_ref(i).map_err(map_err)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::I64(v),
                ValueRef::Real(f) => Value::Text(f.to_string()),
                // A packed record ([`Value::Packed`]) reads as its text; a frame that does not
                // unpack is a corrupt row, said as such, never a row with its record missing.
                ValueRef::Blob(z) if packed::is_packed(z) => Value::Text(
                    packed::unpack(z).map_err(|e| DbError::Corrupt(format!("record: {e}")))?,
                ),
                // Any other BLOB is a record given as bytes: UTF-8 text, or a corrupt row, as
                // the PostgreSQL backend reads a `bytea` (`postgres::bytea_text`).
                ValueRef::Blob(t) => Value::Text(
                    std::str::from_utf8(t)
                        .map_err(|_| DbError::Corrupt("record: not UTF-8".into()))?
                        .to_owned(),
                ),
                // Valid UTF-8 (all text written through this crate) is checked with the
                // vectorised validator; the lossy walk only for what is not (a TEXT value an
                // older server or a hand edit left with stray bytes still reads).
                ValueRef::Text(t) => Value::Text(match std::str::from_utf8(t) {
                    Ok(s) => s.to_owned(),
                    Err(_) => String::from_utf8_lossy(t).into_owned(),
                }),
            });
        }
        out.push(Row(vals));
    }
    Ok(out)
}

/// A SQLite row read in place ([`Sql::query_each`]). A packed record cannot be lent as text
/// (it reads as `""`): records are read through [`Sql::query`], which unpacks them.
struct InPlace<'a, 'b>(&'a rusqlite::Row<'b>);

impl RowView for InPlace<'_, '_> {
    fn str(&self, i: usize) -> &str {
        match self.0.get_ref(i) {
            Ok(ValueRef::Text(t) | ValueRef::Blob(t)) => std::str::from_utf8(t).unwrap_or(""),
            _ => "",
        }
    }
    fn is_null(&self, i: usize) -> bool {
        matches!(self.0.get_ref(i), Ok(ValueRef::Null) | Err(_))
    }
}

fn query_each(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    each: &mut dyn FnMut(&dyn RowView) -> DbResult<()>,
) -> DbResult<()> {
    let mut stmt = conn.prepare_cached(&translate(sql)).map_err(map_err)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .map_err(map_err)?;
    while let Some(r) = rows.next().map_err(map_err)? {
        each(&InPlace(r))?;
    }
    Ok(())
}

/// The writer connection seen as [`Sql`] inside a group transaction, and whether the job is its
/// group's first.
struct InGroup<'a>(&'a Connection, bool);

impl Sql for InGroup<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        execute(self.0, sql, params)
    }
    fn query(&mut self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
        query(self.0, sql, params)
    }
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&dyn RowView) -> DbResult<()>,
    ) -> DbResult<()> {
        query_each(self.0, sql, params, each)
    }
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
    fn alone_with_the_writer(&self) -> bool {
        self.1
    }
}

enum Held<'a> {
    Reader(Pooled<'a, Connection>),
    Writer(MutexGuard<'a, Writer>),
}

struct SqliteTx<'a> {
    conn: Held<'a>,
    done: bool,
    /// A writer's: where its commit is made durable once the writer is released.
    durability: Option<&'a Durability>,
}

impl SqliteTx<'_> {
    fn conn(&mut self) -> DbResult<&Connection> {
        match &mut self.conn {
            Held::Reader(p) => p.conn().map(|c| &*c),
            Held::Writer(w) => Ok(&w.conn),
        }
    }
}

impl Sql for SqliteTx<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        execute(self.conn()?, sql, params)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
        query(self.conn()?, sql, params)
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&dyn RowView) -> DbResult<()>,
    ) -> DbResult<()> {
        query_each(self.conn()?, sql, params, each)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
}

impl Tx for SqliteTx<'_> {
    fn commit(mut self: Box<Self>) -> DbResult<()> {
        self.conn()?.execute_batch("COMMIT").map_err(map_err)?;
        self.done = true;
        let durable = self.durability.map(|d| (d, d.commits()));
        // Releases the writer before the commit goes to the disk.
        drop(self);
        match durable {
            Some((d, commit)) => d.sync(commit),
            None => Ok(()),
        }
    }
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if !self.done
            && let Ok(conn) = self.conn()
            && conn.execute_batch("ROLLBACK").is_err()
            && let Held::Reader(p) = &mut self.conn
        {
            p.discard();
        }
    }
}

impl Database for SqliteDb {
    /// A plain write transaction: waits until no group is open, then holds the writer.
    fn write(&self) -> DbResult<Box<dyn Tx + '_>> {
        self.durability.check()?;
        let mut w = self.lock()?;
        while w.open {
            w = self.wait(w)?;
        }
        w.conn.execute_batch("BEGIN IMMEDIATE").map_err(map_err)?;
        Ok(Box::new(SqliteTx {
            conn: Held::Writer(w),
            done: false,
            durability: Some(&self.durability),
        }))
    }

    fn read(&self) -> DbResult<Box<dyn Tx + '_>> {
        let conn = self.readers.get()?;
        Self::begin_read(conn)
    }

    fn try_read(&self) -> DbResult<Option<Box<dyn Tx + '_>>> {
        self.readers.try_get()?.map(Self::begin_read).transpose()
    }

    /// Group commit: the job runs in a transaction shared with the jobs queued behind it (each
    /// after the first in a savepoint of its own, so a failing one undoes only itself); the last
    /// of them (or the 64th) commits for all, so many pushes share one fsync.
    /// Every job returns only after the commit that holds it succeeded.
    fn write_job_then(
        &self,
        job: &mut dyn FnMut(&mut dyn Sql) -> DbResult<()>,
        committed_then: &mut dyn FnMut(),
    ) -> DbResult<()> {
        self.durability.check()?;
        let asked = std::time::Instant::now();
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let locked = self.lock();
        let held = std::time::Instant::now();
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let mut w = locked?;
        // The group's first job runs without a savepoint of its own: when it fails, nothing else
        // is in the transaction yet, so rolling all of it back is the same undo, and no page it
        // changes is first copied into the savepoint's journal (that copying was 2.4 % of the
        // server's CPU in a 10,000-visit sync, all of it inside the write lock, where one
        // device's pushes, one after another, are always the first job of their group).
        let first = !w.open;
        if first {
            w.conn.execute_batch("BEGIN IMMEDIATE").map_err(map_err)?;
            w.open = true;
            w.generation += 1;
            w.jobs = 0;
        } else if w.conn.execute_batch("SAVEPOINT job").is_err() {
            self.finish_group(&mut w, false);
            return Err(DbError::Connection("group transaction failed".into()));
        }
        let generation = w.generation;
        let outcome = job(&mut InGroup(&w.conn, first));
        let ran = held.elapsed();
        if first {
            if outcome.is_err() {
                // Alone in its group: the group ends with it, rolled back.
                self.finish_group(&mut w, false);
                return outcome;
            }
        } else {
            let undo = if outcome.is_err() {
                "ROLLBACK TO job; RELEASE job"
            } else {
                "RELEASE job"
            };
            if w.conn.execute_batch(undo).is_err() {
                // The shared transaction is unusable: end it for everyone in the group.
                self.finish_group(&mut w, false);
                return Err(DbError::Connection("group transaction failed".into()));
            }
        }
        w.jobs += 1;
        let more_coming = self.waiting.load(Ordering::SeqCst) > 0 && w.jobs < MAX_GROUP;
        // When this job let go of the writer: as it hands the open transaction on, or after its
        // group's commit when it is the last.
        let (committed, released) = if more_coming {
            let released = std::time::Instant::now();
            // Hand the open transaction to the next job and wait for the group's commit.
            let ok = loop {
                if let Some(ok) = w.results.get(&generation) {
                    break *ok;
                }
                w = self.wait(w)?;
            };
            (ok, released)
        } else {
            let ok = self.finish_group(&mut w, true);
            (ok, std::time::Instant::now())
        };
        // The next job may take the writer while this one's commit goes to the disk.
        drop(w);
        // When the writer waits and works (module docs, "The writer's timeline").
        tracing::debug!(
            waited_us = held.duration_since(asked).as_micros() as u64,
            job_us = ran.as_micros() as u64,
            held_us = released.duration_since(held).as_micros() as u64,
            released_us_ago = released.elapsed().as_micros() as u64,
            first,
            committed = !more_coming,
            "write job"
        );
        match (outcome, committed) {
            (Err(e), _) => Err(e),
            (Ok(()), Some(commit)) => {
                committed_then();
                self.durability.sync(commit)
            }
            (Ok(()), None) => Err(DbError::Connection("commit failed".into())),
        }
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write returns only once its commit is flushed: the writer commits without waiting for
    /// the disk (`synchronous=NORMAL`), and every write path (a group job, a plain transaction)
    /// then flushes the WAL it wrote to, outside the writer.
    #[test]
    fn every_write_returns_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("t.db")).unwrap();
        let mode: i64 = db
            .lock()
            .unwrap()
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, 1, "the writer commits with synchronous=NORMAL");
        let synced = || *db.durability.synced.lock().unwrap();
        let before = db.durability.commits();
        db.write_job(&mut |tx: &mut dyn Sql| {
            tx.execute("CREATE TABLE t (k TEXT)", &[])?;
            Ok(())
        })
        .unwrap();
        assert!(dir.path().join("t.db-wal").exists());
        assert_eq!(db.durability.commits(), before + 1);
        assert_eq!(synced(), db.durability.commits());
        let mut tx = db.write().unwrap();
        tx.execute("INSERT INTO t VALUES ($1)", &["a".into()])
            .unwrap();
        tx.commit().unwrap();
        assert_eq!(db.durability.commits(), before + 2);
        assert_eq!(synced(), db.durability.commits());
        // A job that fails commits nothing and flushes nothing.
        let failed = db.write_job(&mut |tx: &mut dyn Sql| {
            tx.execute("INSERT INTO t VALUES ($1)", &["b".into()])?;
            Err(DbError::Aborted)
        });
        assert!(failed.is_err());
        assert_eq!(db.durability.commits(), before + 2);
        assert_eq!(
            db.read()
                .unwrap()
                .query("SELECT k FROM t", &[])
                .unwrap()
                .len(),
            1
        );
        // Once a flush has failed, nothing more is written.
        db.durability.failed.store(true, Ordering::SeqCst);
        assert!(db.write().is_err());
        let refused = db.write_job(&mut |tx: &mut dyn Sql| {
            tx.execute("INSERT INTO t VALUES ($1)", &["c".into()])?;
            Ok(())
        });
        assert!(refused.is_err());
        let rows = db.read().unwrap().query("SELECT k FROM t", &[]).unwrap();
        assert_eq!(rows.len(), 1);
    }

    /// The WAL flushed is the one SQLite writes, found through a symbolic link to the database.
    #[cfg(unix)]
    #[test]
    fn the_wal_behind_a_linked_database_is_the_one_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        drop(SqliteDb::open(&real.join("t.db")).unwrap());
        std::os::unix::fs::symlink(real.join("t.db"), dir.path().join("link.db")).unwrap();
        let db = SqliteDb::open(&dir.path().join("link.db")).unwrap();
        db.write_job(&mut |tx: &mut dyn Sql| {
            tx.execute("CREATE TABLE t (k TEXT)", &[])?;
            Ok(())
        })
        .unwrap();
        assert!(real.join("t.db-wal").exists());
        assert!(!dir.path().join("link.db-wal").exists());
        assert_eq!(
            *db.durability.synced.lock().unwrap(),
            db.durability.commits()
        );
    }

    /// Rows read in place say what collected rows say: text, NULL, and a number (read as text
    /// by neither, since `str` is for text columns).
    #[test]
    fn rows_read_in_place_match_collected_rows() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("t.db")).unwrap();
        db.write_job(&mut |tx: &mut dyn Sql| {
            tx.execute("CREATE TABLE t (k TEXT, v TEXT, n INTEGER)", &[])?;
            tx.execute(
                "INSERT INTO t VALUES ($1, $2, $3), ($4, NULL, NULL)",
                &["a".into(), "ä ✓".into(), Value::I64(7), "b".into()],
            )?;
            Ok(())
        })
        .unwrap();
        let mut r = db.read().unwrap();
        let sql = "SELECT k, v, n FROM t ORDER BY k";
        let collected: Vec<(String, String, bool, bool)> = r
            .query(sql, &[])
            .unwrap()
            .iter()
            .map(|row| {
                let view: &dyn RowView = row;
                (
                    view.str(0).to_owned(),
                    view.str(1).to_owned(),
                    view.is_null(1),
                    view.is_null(2),
                )
            })
            .collect();
        let mut in_place = Vec::new();
        r.query_each(sql, &[], &mut |row| {
            in_place.push((
                row.str(0).to_owned(),
                row.str(1).to_owned(),
                row.is_null(1),
                row.is_null(2),
            ));
            Ok(())
        })
        .unwrap();
        assert_eq!(in_place, collected);
        assert_eq!(
            in_place,
            [
                ("a".into(), "ä ✓".into(), false, false),
                ("b".into(), String::new(), true, true)
            ]
        );
    }

    /// A group's first job runs without a savepoint: when it fails, the group's transaction is
    /// rolled back whole (nothing of it stays), and the next job opens a fresh one; a failing
    /// job after the first undoes only itself (`tests/server/storage.rs` mixes both under load).
    #[test]
    fn a_failing_first_job_leaves_nothing_and_the_next_one_commits() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("t.db")).unwrap();
        let insert = |tx: &mut dyn Sql, n: i64| {
            tx.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES ($1, 'v', 'now')",
                &[Value::Text(format!("k{n}"))],
            )
        };
        let failed = db.write_job(&mut |tx: &mut dyn Sql| {
            insert(tx, 1)?;
            Err(DbError::Aborted)
        });
        assert!(matches!(failed, Err(DbError::Aborted)));
        db.write_job(&mut |tx: &mut dyn Sql| insert(tx, 2).map(|_| ()))
            .unwrap();
        // A constraint failing inside the first job is the same: its earlier row goes too.
        let failed = db.write_job(&mut |tx: &mut dyn Sql| {
            insert(tx, 3)?;
            insert(tx, 2).map(|_| ())
        });
        assert!(matches!(failed, Err(DbError::Duplicate)));
        let mut tx = db.read().unwrap();
        let keys: Vec<String> = tx
            .query(
                "SELECT key FROM settings WHERE key LIKE 'k%' ORDER BY key",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.text(0).to_string())
            .collect();
        assert_eq!(keys, ["k2"]);
    }

    /// A commit that takes the WAL past the backstop is a commit, even when the writer's own
    /// checkpoint cannot run: here another connection holds the checkpoint lock (a full
    /// checkpoint waiting for the writer, as the checkpointer thread holds it while it runs), so
    /// the writer's passive checkpoint fails with `SQLITE_BUSY`. That error used to come back as
    /// the `COMMIT`'s, and the job was told its commit failed although its rows were stored.
    #[test]
    fn a_commit_past_the_backstop_stands_when_the_writers_checkpoint_is_busy() {
        use std::sync::atomic::AtomicBool;
        let holding = Arc::new(AtomicBool::new(false));
        let committed = Arc::new(AtomicBool::new(false));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = SqliteDb::open(&path).unwrap();
        let mut blocker = None;
        let written = db.write_job(&mut |tx: &mut dyn Sql| {
            tx.execute("CREATE TABLE filler (n INTEGER, b BLOB)", &[])?;
            // 2,100 blobs of 64 KiB: ~16,800 pages of 8 KiB, past WAL_BACKSTOP_FRAMES.
            tx.execute(
                "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 2100)
                 INSERT INTO filler SELECT n, zeroblob(65536) FROM c",
                &[],
            )?;
            let p = path.clone();
            let (held, done) = (holding.clone(), committed.clone());
            blocker = Some(std::thread::spawn(move || {
                let mut c = Connection::open(&p).unwrap();
                // Called while the full checkpoint holds the checkpoint lock and waits for the
                // writer; bounded by count (~10 s), then it gives up.
                c.busy_handler(Some(move |n: i32| {
                    held.store(true, Ordering::SeqCst);
                    if done.load(Ordering::SeqCst) || n > 2_000 {
                        return false;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    true
                }))
                .unwrap();
                c.query_row("PRAGMA wal_checkpoint(FULL)", [], |r| r.get::<_, i64>(0))
            }));
            for _ in 0..2_000 {
                if holding.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            assert!(
                holding.load(Ordering::SeqCst),
                "the full checkpoint never waited"
            );
            Ok(())
        });
        committed.store(true, Ordering::SeqCst);
        let _ = blocker.take().map(|t| t.join().unwrap());
        assert!(
            db.durability.state.frames.load(Ordering::Relaxed) >= WAL_BACKSTOP_FRAMES,
            "the WAL held {} pages, short of the backstop",
            db.durability.state.frames.load(Ordering::Relaxed)
        );
        written.expect("the commit stands");
        let mut r = db.read().unwrap();
        assert_eq!(
            r.query("SELECT count(*) FROM filler", &[]).unwrap()[0].i64(0),
            2_100
        );
    }

    /// The writer never checkpoints below the backstop, so the database file grows only when the
    /// checkpointer thread copies the WAL into it: it must, once the WAL passes
    /// `CHECKPOINT_FRAMES` and the writer pauses, while the WAL keeps what no checkpoint took
    /// yet.
    #[test]
    fn the_checkpointer_copies_the_wal_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = SqliteDb::open(&path).unwrap();
        let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let before = size();
        let blob = "x".repeat(3_000);
        // 3,000 rows of ~3 KB: about 3,000 pages, in 30 commits.
        for batch in 0..30 {
            db.write_job(&mut |tx: &mut dyn Sql| {
                if batch == 0 {
                    tx.execute("CREATE TABLE filler (n INTEGER, t TEXT)", &[])?;
                }
                for n in 0..100 {
                    tx.execute(
                        "INSERT INTO filler (n, t) VALUES ($1, $2)",
                        &[Value::I64(batch * 100 + n), Value::Text(blob.clone())],
                    )?;
                }
                Ok(())
            })
            .unwrap();
        }
        // Checkpoints run on their own thread: wait for one (bounded by count, not asserted on
        // time).
        let mut grown = false;
        for _ in 0..200 {
            if size() > before + 4 * 1024 * 1024 {
                grown = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(grown, "database file {} → {} bytes", before, size());
        let mut r = db.read().unwrap();
        assert_eq!(
            r.query("SELECT count(*) FROM filler", &[]).unwrap()[0].i64(0),
            3_000
        );
    }
}

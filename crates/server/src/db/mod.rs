//! Storage behind one small trait, [`Sql`], with two backends: embedded SQLite (rusqlite, the
//! default) and PostgreSQL (the `postgres` client). Every query of the server is written once in
//! [`crate::repo`] in the common subset of both dialects (`$1` placeholders, TEXT ids and times,
//! BIGINT numbers and flags, JSON as TEXT but for the record below); only the migrations and the
//! change-feed cursor differ.
//! One storage form differs: a visit's record a push writes is packed ([`Value::Packed`]: a BLOB
//! on SQLite, `bytea` on PostgreSQL since schema step 16), which both backends' reads unpack, so
//! the repositories always see its JSON text; SQL on the database itself (`json_extract(record,
//! …)`, `record::jsonb`) no longer reads pushed records.
//!
//! Connections come from a small blocking pool; the HTTP layer runs storage work on tokio's
//! blocking threads. A write transaction is one `BEGIN … COMMIT`; dropping it uncommitted rolls back.

pub mod pool;
pub mod postgres;
pub mod schema;
pub mod sqlite;

use std::fmt;

/// A value passed to or read from SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    /// Integer (BIGINT / INTEGER).
    I64(i64),
    /// Text (ids, times as RFC 3339, JSON).
    Text(String),
    /// JSON text packed by [`verivali_domain::packed`] (a visit's record, packed on a push's
    /// prepare threads, outside the write lock). It means its text on both backends: SQLite
    /// stores the frame as a BLOB, PostgreSQL as `bytea` (`visits.record`, schema step 16), and
    /// both read it back as [`Value::Text`]. Bound to a text column, it is given as its text.
    Packed(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::I64(v)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::I64(v as i64)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::I64(i64::from(v))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::I64(i64::from(v))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<uuid::Uuid> for Value {
    fn from(v: uuid::Uuid) -> Self {
        Value::Text(v.to_string())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A result row.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// Column `i` as text (`""` for NULL).
    pub fn text(&self, i: usize) -> String {
        match self.0.get(i) {
            Some(Value::Text(s)) => s.clone(),
            Some(Value::I64(n)) => n.to_string(),
            _ => String::new(),
        }
    }

    /// Column `i` as borrowed text (`""` for NULL or a number): for ids, times and JSON that are
    /// parsed at once, without a copy first (a push's quality reads parse thousands of rows
    /// inside the write lock).
    pub fn str(&self, i: usize) -> &str {
        match self.0.get(i) {
            Some(Value::Text(s)) => s,
            _ => "",
        }
    }

    /// Column `i` as optional text.
    pub fn opt_text(&self, i: usize) -> Option<String> {
        match self.0.get(i) {
            Some(Value::Text(s)) => Some(s.clone()),
            Some(Value::I64(n)) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Column `i` as an integer (0 for NULL).
    pub fn i64(&self, i: usize) -> i64 {
        match self.0.get(i) {
            Some(Value::I64(n)) => *n,
            Some(Value::Text(s)) => s.parse().unwrap_or(0),
            _ => 0,
        }
    }

    /// Column `i` as an optional integer.
    pub fn opt_i64(&self, i: usize) -> Option<i64> {
        match self.0.get(i) {
            Some(Value::I64(n)) => Some(*n),
            Some(Value::Text(s)) => s.parse().ok(),
            _ => None,
        }
    }
}

/// A row handed to [`Sql::query_each`], read in place.
pub trait RowView {
    /// Column `i` as text (`""` for NULL, a number, or text that is not UTF-8): for `TEXT`
    /// columns only (a collected row holds a SQLite REAL as text, and invalid UTF-8 as a lossy
    /// copy; a row read in place gives `""` for both).
    fn str(&self, i: usize) -> &str;
    /// Whether column `i` is NULL.
    fn is_null(&self, i: usize) -> bool;
}

impl RowView for Row {
    fn str(&self, i: usize) -> &str {
        Row::str(self, i)
    }
    fn is_null(&self, i: usize) -> bool {
        matches!(self.0.get(i), None | Some(Value::Null))
    }
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(#[from] ::postgres::Error),
    /// A unique key already exists.
    #[error("duplicate key")]
    Duplicate,
    /// The pool is closed or a connection could not be made.
    #[error("connection: {0}")]
    Connection(String),
    /// Stored data is not what the code expects.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A write job gave up (its own reason is reported by the job); its writes were undone.
    #[error("write job aborted")]
    Aborted,
}

impl DbError {
    /// A failure the same transaction, run again, may well not meet: PostgreSQL aborted it to
    /// break a deadlock or a serialization conflict with another one.
    pub fn is_transient(&self) -> bool {
        use ::postgres::error::SqlState;
        match self {
            DbError::Postgres(e) => e.code().is_some_and(|c| {
                *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
            }),
            _ => false,
        }
    }
}

/// Result of storage calls.
pub type DbResult<T> = Result<T, DbError>;

/// Which dialect a connection speaks (for the few statements that differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A connection inside a transaction. Every repository function takes `&mut dyn Sql`.
pub trait Sql {
    /// Runs a statement; returns the affected row count.
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64>;
    /// Runs a query.
    fn query(&mut self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>>;
    fn dialect(&self) -> Dialect;

    /// Whether a read transaction begun now, on another connection, sees the database as this
    /// transaction found it when it began: no other connection can commit until this one ends
    /// and nothing but this caller's own writes is pending in it. True for the first job of an
    /// SQLite write group (one writer; a later job of the group shares an uncommitted
    /// transaction); false where that is not known (PostgreSQL commits concurrently). A push
    /// then reads what its writes cannot have changed on a second core while the writer works
    /// on (`sync::push`).
    fn alone_with_the_writer(&self) -> bool {
        false
    }

    /// The first row of a query, if any.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> DbResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs a query and hands each row to `each` as it is read instead of collecting them: on
    /// SQLite no allocation per row or column (a large push's quality checks and NIK look-ups
    /// read tens of thousands of rows, inside the write lock for the checks). The default, for
    /// PostgreSQL, collects the rows first.
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&dyn RowView) -> DbResult<()>,
    ) -> DbResult<()> {
        for r in self.query(sql, params)? {
            each(&r)?;
        }
        Ok(())
    }
}

/// A database: hands out transactions.
pub trait Database: Send + Sync + fmt::Debug {
    /// Starts a write transaction (serialised on SQLite).
    fn write(&self) -> DbResult<Box<dyn Tx + '_>>;
    /// Starts a read transaction (a consistent snapshot).
    fn read(&self) -> DbResult<Box<dyn Tx + '_>>;
    /// [`Database::read`] without waiting for a connection: none when every one is in use (a
    /// caller holding the writer must not wait for a reader that may wait for the writer), or
    /// where the backend cannot tell without waiting (the default).
    fn try_read(&self) -> DbResult<Option<Box<dyn Tx + '_>>> {
        Ok(None)
    }
    /// Runs a write job and returns once it is durably committed. A job that fails leaves no
    /// trace. Backends may commit concurrent jobs together (SQLite does: one fsync for many).
    fn write_job(&self, job: &mut dyn FnMut(&mut dyn Sql) -> DbResult<()>) -> DbResult<()> {
        self.write_job_then(job, &mut || {})
    }
    /// [`Database::write_job`], calling `committed` once the job's commit is visible to the next
    /// transaction, perhaps before it is on the disk (SQLite flushes it after letting go of the
    /// writer): what only orders writes (a device's next push) need not wait for the disk. The
    /// call still returns only once the commit is durable; `committed` is not called when the
    /// job fails or its commit does.
    fn write_job_then(
        &self,
        job: &mut dyn FnMut(&mut dyn Sql) -> DbResult<()>,
        committed: &mut dyn FnMut(),
    ) -> DbResult<()> {
        let mut tx = self.write()?;
        job(tx.as_mut())?;
        tx.commit()?;
        committed();
        Ok(())
    }
    fn dialect(&self) -> Dialect;
}

/// A transaction: [`Sql`] plus commit. Dropped without commit, it rolls back.
pub trait Tx: Sql {
    fn commit(self: Box<Self>) -> DbResult<()>;
}

/// Opens the database named by a URL: `sqlite://PATH` or `postgres://…`, and migrates it.
pub fn open(url: &str) -> anyhow::Result<Box<dyn Database>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Box::new(sqlite::SqliteDb::open(std::path::Path::new(
            path,
        ))?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(postgres::PgDb::open(url)?))
    } else {
        anyhow::bail!("--database must be sqlite://PATH or postgres://URL, not {url:?}")
    }
}

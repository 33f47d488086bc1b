//! SQLite backend (embedded, the default): one writer connection (SQLite serialises writes
//! anyway, and one writer avoids busy-waiting) and four reader connections in WAL mode.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

use super::pool::{Pool, Pooled};
use super::{Database, DbError, DbResult, Dialect, Row, Sql, Tx, Value};

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Value::I64(n) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*n)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

/// The SQLite database.
#[derive(Debug)]
pub struct SqliteDb {
    writer: Pool<Connection>,
    readers: Pool<Connection>,
}

fn connect(path: &Path) -> DbResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL in WAL is durable against process crashes; a power loss may lose the last commits,
    // which devices re-send (they keep ops until acknowledged... and the ack is lost with them).
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    Ok(conn)
}

impl SqliteDb {
    /// Opens (creating if needed) and migrates the database file.
    pub fn open(path: &Path) -> DbResult<SqliteDb> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| DbError::Connection(e.to_string()))?;
        }
        let mut writer = connect(path)?;
        crate::schema::migrate_sqlite(&mut writer)?;
        let readers = (0..4)
            .map(|_| connect(path))
            .collect::<DbResult<Vec<_>>>()?;
        Ok(SqliteDb {
            writer: Pool::new(vec![writer]),
            readers: Pool::new(readers),
        })
    }
}

struct SqliteTx<'a> {
    conn: Pooled<'a, Connection>,
    done: bool,
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

impl Sql for SqliteTx<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        let conn = self.conn.conn()?;
        let mut stmt = conn.prepare_cached(&translate(sql)).map_err(map_err)?;
        Ok(stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(map_err)? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
        let conn = self.conn.conn()?;
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
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Value::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            out.push(Row(vals));
        }
        Ok(out)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
}

impl Tx for SqliteTx<'_> {
    fn commit(mut self: Box<Self>) -> DbResult<()> {
        self.conn.conn()?.execute_batch("COMMIT").map_err(map_err)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if !self.done
            && let Ok(conn) = self.conn.conn()
            && conn.execute_batch("ROLLBACK").is_err()
        {
            self.conn.discard();
        }
    }
}

impl Database for SqliteDb {
    fn write(&self) -> DbResult<Box<dyn Tx + '_>> {
        let mut conn = self.writer.get()?;
        conn.conn()?
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(map_err)?;
        Ok(Box::new(SqliteTx { conn, done: false }))
    }

    fn read(&self) -> DbResult<Box<dyn Tx + '_>> {
        let mut conn = self.readers.get()?;
        conn.conn()?.execute_batch("BEGIN").map_err(map_err)?;
        Ok(Box::new(SqliteTx { conn, done: false }))
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
}

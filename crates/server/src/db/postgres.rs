//! PostgreSQL backend: a pool of clients of the synchronous `postgres` crate (no SQLite side, so
//! it does not clash with rusqlite's bundled SQLCipher). Ids, times and JSON are TEXT, numbers
//! BIGINT, as in SQLite, so one set of queries serves both. One column is `bytea`: a visit's
//! record (schema step 16), packed or UTF-8 text, read back as text ([`bytea_text`]).

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls, Statement};
use std::collections::HashMap;

use super::pool::{Pool, Pooled};
use super::{Database, DbError, DbResult, Dialect, Row, Sql, Tx, Value};

/// A client with its prepared statements (one round trip per query instead of two).
pub struct PgConn {
    client: Client,
    cache: HashMap<String, Statement>,
}

impl PgConn {
    fn connect(url: &str) -> DbResult<PgConn> {
        let config: postgres::Config = url.parse()?;
        let client = if config.get_ssl_mode() == postgres::config::SslMode::Require {
            config.connect(tls_connector()?)?
        } else {
            // `prefer` (the default) and `disable` stay plain: `prefer` would try TLS against
            // a server whose certificate nobody set up to verify (Debian's snakeoil one).
            config.connect(NoTls)?
        };
        let mut client = client;
        // No JIT: it pays off on long analytical queries, never on the server's short ones, and
        // PostgreSQL decides by estimated cost alone. A first pull's page (a scan of the change
        // feed whose filter holds sub-queries, estimated in the millions once the tables have
        // statistics) took 0.3 s of compiling for 12 ms of work, on every page.
        client.batch_execute("SET jit = off")?;
        Ok(PgConn {
            client,
            cache: HashMap::new(),
        })
    }

    fn statement(&mut self, sql: &str) -> DbResult<Statement> {
        if let Some(s) = self.cache.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).map_err(map_err)?;
        self.cache.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

/// TLS for `sslmode=require`: the certificate is verified, name included (what libpq calls
/// `verify-full`), against the public roots and the private CA in `VERIVALI_CA_CERT`, if set.
fn tls_connector() -> DbResult<tokio_postgres_rustls::MakeRustlsConnect> {
    let extra = std::env::var_os("VERIVALI_CA_CERT").map(std::path::PathBuf::from);
    let config = crate::edge::client_tls(extra.as_deref())
        .map_err(|e| DbError::Connection(format!("{e:#}")))?;
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Connections in the pool.
pub const POOL_SIZE: usize = 8;

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::I64(n) => match *ty {
                Type::INT8 => n.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                // A number is never a record: refused rather than stored as its digits.
                Type::BYTEA => Err(format!("the number {n} given for a bytea column").into()),
                _ => n.to_string().to_sql(ty, out),
            },
            Value::Text(s) => match *ty {
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                Type::INT4 => s.parse::<i32>()?.to_sql(ty, out),
                // `visits.record` (schema step 16): a record given as text is stored as its
                // UTF-8 bytes, which read back as the same text.
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                _ => s.as_str().to_sql(ty, out),
            },
            Value::Packed(z) => match *ty {
                Type::BYTEA => z.as_slice().to_sql(ty, out),
                // A packed value bound where text is expected means its text.
                _ => verivali_domain::packed::unpack(z)?.as_str().to_sql(ty, out),
            },
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8
                | Type::INT4
                | Type::INT2
                | Type::BOOL
                | Type::TEXT
                | Type::VARCHAR
                | Type::BPCHAR
                | Type::BYTEA
                | Type::UNKNOWN
        )
    }

    to_sql_checked!();
}

/// The PostgreSQL database.
pub struct PgDb {
    url: String,
    pool: Pool<PgConn>,
}

impl std::fmt::Debug for PgDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgDb")
    }
}

impl PgDb {
    /// Connects and migrates.
    pub fn open(url: &str) -> DbResult<PgDb> {
        let mut first = PgConn::connect(url)?;
        crate::db::schema::migrate_postgres(&mut first.client)?;
        let mut conns = vec![first];
        for _ in 1..POOL_SIZE {
            conns.push(PgConn::connect(url)?);
        }
        Ok(PgDb {
            url: url.to_string(),
            pool: Pool::new(conns),
        })
    }

    fn client(&self) -> DbResult<Pooled<'_, PgConn>> {
        let mut c = self.pool.get()?;
        if c.conn()?.client.is_closed() {
            c.replace(PgConn::connect(&self.url)?);
        }
        Ok(c)
    }
}

impl Drop for PgDb {
    /// The synchronous client closes its connection by blocking on a small runtime of its own,
    /// which tokio forbids on an async thread; close the clients on a plain thread instead.
    fn drop(&mut self) {
        let conns = self.pool.drain();
        let _ = std::thread::spawn(move || drop(conns)).join();
    }
}

struct PgTx<'a> {
    client: Pooled<'a, PgConn>,
    done: bool,
    /// `enable_seqscan` is off in this transaction (for a run of key look-ups; `is_key_lookup`).
    indexed: bool,
}

impl PgTx<'_> {
    /// Turns whole-table scans off for key look-ups and back on for everything else, when the
    /// statement differs from the one before (a push's look-ups run one after another: a few
    /// round trips of a `SET` each push).
    fn plan_for(&mut self, key_lookup: bool) -> DbResult<()> {
        if key_lookup != self.indexed {
            let set = if key_lookup {
                "SET LOCAL enable_seqscan = off"
            } else {
                "SET LOCAL enable_seqscan = on"
            };
            self.client
                .conn()?
                .client
                .batch_execute(set)
                .map_err(map_err)?;
            self.indexed = key_lookup;
        }
        Ok(())
    }
}

fn map_err(e: postgres::Error) -> DbError {
    if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) {
        return DbError::Duplicate;
    }
    DbError::Postgres(e)
}

/// A read of rows by a list of keys (`… IN ($1, $2, …)`): the look-ups of a push (photos, visits
/// of its households, NIKs). These are not cached: PostgreSQL switches a cached statement to one
/// generic plan after five runs, and one made while a table was nearly empty (a new database,
/// the first pushes of a round) kept scanning it whole as it grew: ingest with 200 devices fell to
/// a third, at random, run to run (DESIGN.md §7). Sent as an unnamed statement with its
/// parameters' types, a look-up is planned for its own keys and the table's size, in the one
/// round trip a cached statement takes (one with a NULL parameter, whose type would be a guess,
/// stays cached). Custom plans for every statement instead (`plan_cache_mode`) cost a quarter of
/// ingest with pushes of 100: the multi-row inserts are slow to plan and never change plans.
///
/// They also run with `enable_seqscan` off (`PgTx::plan_for`): every one is a few hundred keys
/// at most against an indexed column, where the index is right at any table size, but a table
/// without statistics (never analysed: a new database, a server where autovacuum is off, as on
/// the CI machine) is costed from defaults, a hundred keys look like half the table, and
/// PostgreSQL scanned `members`, `visits` and `visit_photos` whole, once per push, a scan that
/// grows with every visit. With them off, ingest with 200 devices rose by 1.3x on a new database
/// (docs/benchmarks.md). Statistics kept fresh by the server instead (an `ANALYZE` thread) gained
/// a twentieth: the planner still prefers a scan of a small table.
fn is_key_lookup(sql: &str) -> bool {
    sql.trim_start().starts_with("SELECT") && sql.contains(" IN ($")
}

/// The parameters with the types an unnamed statement needs declared: `None` if one is NULL (its
/// type would be a guess).
fn typed(params: &[Value]) -> Option<Vec<(&(dyn ToSql + Sync), Type)>> {
    params
        .iter()
        .map(|p| match p {
            Value::Text(_) => Some((p as &(dyn ToSql + Sync), Type::TEXT)),
            Value::Packed(_) => Some((p as &(dyn ToSql + Sync), Type::BYTEA)),
            Value::I64(_) => Some((p as &(dyn ToSql + Sync), Type::INT8)),
            Value::Null => None,
        })
        .collect()
}

/// A `bytea` value as the text it stands for: a packed record ([`Value::Packed`]) unpacked, any
/// other value as UTF-8 (a record stored as text before schema step 16, or written outside a
/// push). A frame that does not unpack, or bytes that are not UTF-8, are a corrupt row, said as
/// such, never a row with its record missing.
fn bytea_text(b: &[u8]) -> DbResult<String> {
    if verivali_domain::packed::is_packed(b) {
        return verivali_domain::packed::unpack(b)
            .map_err(|e| DbError::Corrupt(format!("record: {e}")));
    }
    String::from_utf8(b.to_vec()).map_err(|_| DbError::Corrupt("record: not UTF-8".into()))
}

fn refs(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Sql for PgTx<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<u64> {
        self.plan_for(false)?;
        let conn = self.client.conn()?;
        let stmt = conn.statement(sql)?;
        conn.client.execute(&stmt, &refs(params)).map_err(map_err)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
        let key_lookup = is_key_lookup(sql);
        self.plan_for(key_lookup)?;
        let conn = self.client.conn()?;
        let typed = key_lookup.then(|| typed(params)).flatten();
        let rows = if let Some(typed) = typed {
            // An unnamed statement, planned for this run, in one round trip (`is_key_lookup`).
            conn.client.query_typed(sql, &typed).map_err(map_err)?
        } else {
            let stmt = conn.statement(sql)?;
            conn.client.query(&stmt, &refs(params)).map_err(map_err)?
        };
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut vals = Vec::with_capacity(r.len());
            for (i, col) in r.columns().iter().enumerate() {
                let v = match *col.type_() {
                    Type::INT8 => r
                        .try_get::<_, Option<i64>>(i)
                        .map_err(map_err)?
                        .map(Value::I64),
                    Type::INT4 => r
                        .try_get::<_, Option<i32>>(i)
                        .map_err(map_err)?
                        .map(|n| Value::I64(i64::from(n))),
                    Type::INT2 => r
                        .try_get::<_, Option<i16>>(i)
                        .map_err(map_err)?
                        .map(|n| Value::I64(i64::from(n))),
                    Type::BOOL => r
                        .try_get::<_, Option<bool>>(i)
                        .map_err(map_err)?
                        .map(|b| Value::I64(i64::from(b))),
                    // `visits.record`: packed or UTF-8 text, read as text (`bytea_text`).
                    Type::BYTEA => r
                        .try_get::<_, Option<&[u8]>>(i)
                        .map_err(map_err)?
                        .map(bytea_text)
                        .transpose()?
                        .map(Value::Text),
                    _ => r
                        .try_get::<_, Option<String>>(i)
                        .map_err(map_err)?
                        .map(Value::Text),
                };
                vals.push(v.unwrap_or(Value::Null));
            }
            out.push(Row(vals));
        }
        Ok(out)
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }
}

impl Tx for PgTx<'_> {
    fn commit(mut self: Box<Self>) -> DbResult<()> {
        self.client
            .conn()?
            .client
            .batch_execute("COMMIT")
            .map_err(map_err)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        if !self.done
            && let Ok(c) = self.client.conn()
            && c.client.batch_execute("ROLLBACK").is_err()
        {
            // A broken client is replaced by the next `client()` (it checks `is_closed`).
            let _ = &self.client;
        }
    }
}

impl Database for PgDb {
    fn write(&self) -> DbResult<Box<dyn Tx + '_>> {
        let mut client = self.client()?;
        client
            .conn()?
            .client
            .batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            .map_err(map_err)?;
        Ok(Box::new(PgTx {
            client,
            done: false,
            indexed: false,
        }))
    }

    fn read(&self) -> DbResult<Box<dyn Tx + '_>> {
        let mut client = self.client()?;
        client
            .conn()?
            .client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(map_err)?;
        Ok(Box::new(PgTx {
            client,
            done: false,
            indexed: false,
        }))
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lookups_are_selects_by_a_list_of_parameters() {
        assert!(is_key_lookup(
            "SELECT sha256, visit_id FROM visit_photos WHERE sha256 IN ($1, $2)"
        ));
        assert!(is_key_lookup(
            "\n  SELECT id FROM visits WHERE id IN ($3) ORDER BY id FOR UPDATE"
        ));
        // Inserts (slow to plan, one plan for good) and fixed lists stay cached.
        assert!(!is_key_lookup(
            "INSERT INTO visits (id) SELECT id FROM x WHERE id IN ($1)"
        ));
        assert!(!is_key_lookup(
            "SELECT id FROM visits WHERE state IN ('approved', 'verified')"
        ));
        assert!(typed(&[Value::from("a"), Value::I64(1)]).is_some());
        assert!(typed(&[Value::from("a"), Value::Null]).is_none());
    }
}

//! Every query of the server, written once over [`Sql`] for both backends, one file per entity
//! (as the device store is). Reads of personal data take a [`Scope`] and filter in SQL, so nothing
//! outside the caller's areas can leak from a forgotten check in a handler. Optional filters are
//! built with [`Where`], which numbers its placeholders itself; the area rule is always
//! [`Scope::area_sql`] (inside `Where` or, in fixed-shape queries, directly), or
//! [`Scope::area_filter_sql`] where a list of keys finds the rows.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use verivali_domain::{Areas, RegionCode, Role};

use crate::db::{DbError, DbResult, Dialect, Sql, Value};

mod assignments;
mod attachments;
mod audit;
mod changes;
mod cycle;
mod export;
mod households;
mod quality;
mod questionnaires;
mod regions;
mod review;
mod users;
mod visits;

pub use assignments::*;
pub use attachments::*;
pub use audit::*;
pub use changes::*;
pub use cycle::*;
pub use export::*;
pub use households::*;
pub use quality::*;
pub use questionnaires::*;
pub use regions::*;
pub use review::*;
pub use users::*;
pub use visits::*;

/// Formats a time as stored (sortable RFC 3339, UTC, ms).
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Reads a stored time. The form [`ts`] writes (`2026-12-05T22:15:18.660Z`) is read field by
/// field; anything else (an older row's other fraction digits, an offset) by chrono's RFC 3339
/// parser. Why: the quality checks read an enumerator's finish times for the hour around a push
/// inside the write lock, ten thousand of them per push in the side-by-side benchmark, and the
/// general parser was most of that read.
pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let stored = b.len() == 24
        && [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
            (23, b'Z'),
        ]
        .iter()
        .all(|&(i, c)| b[i] == c);
    let field = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let fast = || {
        chrono::NaiveDate::from_ymd_opt(field(0, 4)? as i32, field(5, 7)?, field(8, 10)?)?
            .and_hms_milli_opt(
                field(11, 13)?,
                field(14, 16)?,
                field(17, 19)?,
                field(20, 23)?,
            )
            .map(|t| t.and_utc())
    };
    stored
        .then(fast)
        .flatten()
        .or_else(|| s.parse::<DateTime<Utc>>().ok())
}

fn uuid(s: &str) -> DbResult<Uuid> {
    Uuid::parse_str(s).map_err(|e| DbError::Corrupt(format!("{s:?}: {e}")))
}

fn json<T: serde::de::DeserializeOwned>(s: &str) -> DbResult<T> {
    serde_json::from_str(s).map_err(|e| DbError::Corrupt(e.to_string()))
}

fn to_json<T: serde::Serialize>(v: &T) -> DbResult<String> {
    serde_json::to_string(v).map_err(|e| DbError::Corrupt(e.to_string()))
}

/// `FOR UPDATE` where the dialect has it (SQLite serialises writers anyway).
fn lock(tx: &dyn Sql) -> &'static str {
    match tx.dialect() {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    }
}

/// What a caller may see: their own id, role and areas.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The caller.
    pub user_id: Uuid,
    /// Their role.
    pub role: Role,
    /// Their areas.
    pub areas: Areas,
}

impl Scope {
    /// The scope narrowed to one region ([`Areas::narrowed_to`]).
    pub fn narrow(&self, area: &RegionCode) -> Scope {
        Scope {
            areas: self.areas.narrowed_to(area),
            ..self.clone()
        }
    }

    /// SQL that is true when `column` lies in one of the areas, with its parameters (numbered from
    /// `first`). An empty area set matches nothing. For the rows of an area (its households, its
    /// proposals), where an index by area may be the way in.
    fn area_sql(&self, column: &str, first: usize) -> (String, Vec<Value>) {
        self.area_sql_of(column, first)
    }

    /// The same rule for rows a query finds by their keys (`id IN (…)`, a push's households): the
    /// area checked on each row found, never used to find them. The column is wrapped in an
    /// expression no index matches (`(column || '')`, the same text), because PostgreSQL's
    /// planner otherwise reads the area's index too. On a table it has no statistics for (a
    /// fresh import) it read every household of the area and filtered them by the keys: 0.7 ms
    /// a push of 100 with 2,000 households in the desa, 15 ms with 20,000. With statistics, where
    /// the area is a small share of the table (a desa of a kabupaten), it intersects the keys
    /// with every entry of the area's index, its estimate taking the keys and the area for
    /// independent where every key asked for lies in the area. Either way the cost grew with the
    /// caller's area, on every push (docs/benchmarks.md, thirty-first pass). SQLite uses no index
    /// for `LIKE` on these columns either way (`case_sensitive_like` is off).
    fn area_filter_sql(&self, column: &str, first: usize) -> (String, Vec<Value>) {
        self.area_sql_of(&format!("({column} || '')"), first)
    }

    fn area_sql_of(&self, column: &str, first: usize) -> (String, Vec<Value>) {
        if self.areas.is_empty() {
            return ("1 = 0".into(), vec![]);
        }
        let mut parts = Vec::new();
        let mut params = Vec::new();
        for (i, a) in self.areas.codes().iter().enumerate() {
            parts.push(format!("{column} LIKE ${}", first + i));
            params.push(Value::Text(format!("{}%", a.as_str())));
        }
        (format!("({})", parts.join(" OR ")), params)
    }
}

/// A `WHERE` clause built from optional filters, numbering its own placeholders.
#[derive(Default, Clone)]
pub(crate) struct Where {
    pub(crate) parts: Vec<String>,
    pub(crate) params: Vec<Value>,
}

impl Where {
    /// Adds `sql`, whose one placeholder is written `?`.
    pub(crate) fn eq(&mut self, sql: &str, v: impl Into<Value>) {
        self.params.push(v.into());
        self.parts
            .push(sql.replace('?', &format!("${}", self.params.len())));
    }

    /// Continues the last part with `sql`, whose one placeholder is written `?` (for an `OR`
    /// inside one condition).
    pub(crate) fn eq_more(&mut self, sql: &str, v: impl Into<Value>) {
        self.params.push(v.into());
        let more = sql.replace('?', &format!("${}", self.params.len()));
        if let Some(last) = self.parts.last_mut() {
            last.push_str(&more);
        }
    }

    pub(crate) fn scope(&mut self, scope: &Scope, column: &str) {
        let (sql, params) = scope.area_sql(column, self.params.len() + 1);
        self.parts.push(sql);
        self.params.extend(params);
    }

    /// [`Where::scope`] for rows found by their keys ([`Scope::area_filter_sql`]).
    pub(crate) fn scope_filter(&mut self, scope: &Scope, column: &str) {
        let (sql, params) = scope.area_filter_sql(column, self.params.len() + 1);
        self.parts.push(sql);
        self.params.extend(params);
    }

    pub(crate) fn sql(&self) -> String {
        if self.parts.is_empty() {
            "1 = 1".into()
        } else {
            self.parts.join(" AND ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path reads exactly what chrono reads, and every other form still reads (or
    /// fails) as chrono has it.
    #[test]
    fn stored_times_read_as_chrono_reads_them() {
        let now = Utc::now();
        for t in [
            now,
            DateTime::<Utc>::from_timestamp(0, 0).unwrap(),
            "2026-12-31T23:59:59.999Z".parse().unwrap(),
            "2024-02-29T00:00:00.001Z".parse().unwrap(),
        ] {
            let stored = ts(t);
            assert_eq!(parse_ts(&stored), stored.parse().ok(), "{stored}");
        }
        for other in [
            "2026-12-05T22:15:18Z",
            "2026-12-05T22:15:18.660123Z",
            "2026-12-05T22:15:18.660+07:00",
            "2026-12-05T23:59:60.500Z",
            "2026-02-30T22:15:18.660Z",
            "2026-12-05T22:15:1x.660Z",
            "2026-12-05 22:15:18.660Z",
            "",
        ] {
            assert_eq!(
                parse_ts(other),
                other.parse::<DateTime<Utc>>().ok(),
                "{other}"
            );
        }
    }
}

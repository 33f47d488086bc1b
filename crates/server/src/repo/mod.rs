//! Every query of the server, written once over [`Sql`] for both backends, one file per entity
//! (as the device store is). Reads of personal data take a [`Scope`] and filter in SQL, so nothing
//! outside the caller's areas can leak from a forgotten check in a handler. Optional filters are
//! built with [`Where`], which numbers its placeholders itself; the area rule is always
//! [`Scope::area_sql`] (inside `Where` or, in fixed-shape queries, directly).

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
    /// `first`). An empty area set matches nothing.
    fn area_sql(&self, column: &str, first: usize) -> (String, Vec<Value>) {
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
#[derive(Default)]
pub(crate) struct Where {
    parts: Vec<String>,
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

    pub(crate) fn sql(&self) -> String {
        if self.parts.is_empty() {
            "1 = 1".into()
        } else {
            self.parts.join(" AND ")
        }
    }
}

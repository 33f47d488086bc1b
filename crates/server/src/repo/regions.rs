//! Kemendagri region names: reference data, read by every signed-in user for their own areas and
//! the regions above them.

use chrono::{DateTime, Utc};
use verivali_domain::RegionCode;

use crate::db::{DbResult, Sql, Value};

use super::{Scope, ts};

/// Whether a stored name was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    New,
    Changed,
    Unchanged,
}

/// Stores a region's name (a repeat with the same name changes nothing).
pub fn put_region(
    tx: &mut dyn Sql,
    code: &RegionCode,
    name: &str,
    now: DateTime<Utc>,
) -> DbResult<Written> {
    let old = tx.query_opt(
        "SELECT nama FROM regions WHERE kode = $1",
        &[code.as_str().into()],
    )?;
    match old.map(|r| r.text(0)) {
        Some(n) if n == name => Ok(Written::Unchanged),
        Some(_) => {
            tx.execute(
                "UPDATE regions SET nama = $1, updated_at = $2 WHERE kode = $3",
                &[name.into(), ts(now).into(), code.as_str().into()],
            )?;
            Ok(Written::Changed)
        }
        None => {
            tx.execute(
                "INSERT INTO regions (kode, nama, updated_at) VALUES ($1, $2, $3)",
                &[code.as_str().into(), name.into(), ts(now).into()],
            )?;
            Ok(Written::New)
        }
    }
}

/// The names of the regions inside the caller's areas and of those above them, by code.
pub fn regions_scoped(tx: &mut dyn Sql, scope: &Scope) -> DbResult<Vec<(String, String)>> {
    let (inside, mut params) = scope.area_sql("kode", 1);
    // The regions above an area are its 2-, 4- and 6-digit prefixes.
    let mut above: Vec<String> = Vec::new();
    for a in scope.areas.codes() {
        for n in [2, 4, 6] {
            if a.as_str().len() > n {
                above.push(a.as_str()[..n].to_string());
            }
        }
    }
    above.sort();
    above.dedup();
    let marks: Vec<String> = (0..above.len())
        .map(|i| format!("${}", params.len() + 1 + i))
        .collect();
    params.extend(above.into_iter().map(Value::Text));
    let up = if marks.is_empty() {
        "1 = 0".to_string()
    } else {
        format!("kode IN ({})", marks.join(", "))
    };
    let sql = format!("SELECT kode, nama FROM regions WHERE {inside} OR {up} ORDER BY kode");
    Ok(tx
        .query(&sql, &params)?
        .iter()
        .map(|r| (r.text(0), r.text(1)))
        .collect())
}

/// The stored names of some regions, by code (codes without a name are missing).
pub fn region_names(
    tx: &mut dyn Sql,
    codes: &[&str],
) -> DbResult<std::collections::HashMap<String, String>> {
    let mut out = std::collections::HashMap::new();
    if codes.is_empty() {
        return Ok(out);
    }
    let marks: Vec<String> = (1..=codes.len()).map(|i| format!("${i}")).collect();
    let params: Vec<Value> = codes
        .iter()
        .map(|c| Value::Text((*c).to_string()))
        .collect();
    let sql = format!(
        "SELECT kode, nama FROM regions WHERE kode IN ({})",
        marks.join(", ")
    );
    for r in tx.query(&sql, &params)? {
        out.insert(r.text(0), r.text(1));
    }
    Ok(out)
}

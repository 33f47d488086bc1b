//! Households and their members: the baseline, its versions, and the reads a reviewer's scope limits.

use crate::db::{DbError, DbResult, Row, Sql, Value};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;
use verivali_domain::{Household, Member, PresenceStatus, Relationship, Sex};

use super::{Scope, json, to_json, ts, uuid};

fn household_row(r: &Row) -> DbResult<Household> {
    Ok(Household {
        id: uuid(r.str(0))?,
        id_dtsen: r.opt_text(1),
        fields: verivali_domain::HouseholdFields {
            no_kk: r.opt_text(2),
            nama_krt: r.text(3),
            alamat: r.text(4),
            rt: r.text(5),
            rw: r.text(6),
        },
        kode_desa: r.text(7),
        desil: r.opt_i64(8).map(|d| d as u8),
        version: r.i64(9),
    })
}

const HH_COLS: &str = "id, id_dtsen, no_kk, nama_krt, alamat, rt, rw, kode_desa, desil, version";

/// A household wherever it lies (for the server's own jobs, never a caller's read).
pub fn household_any(tx: &mut dyn Sql, id: Uuid) -> DbResult<Option<Household>> {
    let sql = format!("SELECT {HH_COLS} FROM households WHERE id = $1");
    tx.query_opt(&sql, &[id.into()])?
        .map(|r| household_row(&r))
        .transpose()
}

/// Up to `limit` households of the caller's areas whose head's name or address holds `words`
/// (case-insensitive), or whose No. KK or DTSEN id starts with them; by name.
pub fn search_households(
    tx: &mut dyn Sql,
    scope: &Scope,
    words: &str,
    limit: usize,
) -> DbResult<Vec<Household>> {
    let mut w = super::Where::default();
    w.scope(scope, "kode_desa");
    let like = format!("%{}%", words.to_lowercase().replace(['%', '_'], ""));
    w.eq("(lower(nama_krt) LIKE ?", like.clone());
    w.eq_more(" OR lower(alamat) LIKE ?", like);
    let prefix = format!("{}%", words.replace(['%', '_'], ""));
    w.eq_more(" OR no_kk LIKE ?", prefix.clone());
    w.eq_more(" OR id_dtsen LIKE ?)", prefix);
    let sql = format!(
        "SELECT {HH_COLS} FROM households WHERE {} ORDER BY nama_krt, id LIMIT {}",
        w.sql(),
        limit.clamp(1, 100)
    );
    tx.query(&sql, &w.params)?
        .iter()
        .map(household_row)
        .collect()
}

/// A household inside the caller's areas.
pub fn household_scoped(tx: &mut dyn Sql, scope: &Scope, id: Uuid) -> DbResult<Option<Household>> {
    let (area, mut params) = scope.area_filter_sql("kode_desa", 2);
    params.insert(0, id.into());
    let sql = format!("SELECT {HH_COLS} FROM households WHERE id = $1 AND {area}");
    tx.query_opt(&sql, &params)?
        .map(|r| household_row(&r))
        .transpose()
}

/// Households inside the caller's areas, by id, in one query.
pub fn households_scoped(
    tx: &mut dyn Sql,
    scope: &Scope,
    ids: &[Uuid],
) -> DbResult<HashMap<Uuid, Household>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let (area, area_params) = scope.area_filter_sql("kode_desa", chunk.len() + 1);
        let mut params: Vec<Value> = chunk.iter().map(|id| (*id).into()).collect();
        params.extend(area_params);
        let sql = format!(
            "SELECT {HH_COLS} FROM households WHERE id IN ({}) AND {area}",
            marks.join(", ")
        );
        for r in tx.query(&sql, &params)? {
            let h = household_row(&r)?;
            out.insert(h.id, h);
        }
    }
    Ok(out)
}

/// The desa of each household of `ids` in `scope` (absent ids and households outside it are
/// missing): what a push needs of the households it records visits of, without decoding them.
pub fn household_areas_scoped(
    tx: &mut dyn Sql,
    scope: &Scope,
    ids: &[Uuid],
) -> DbResult<HashMap<Uuid, String>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let (area, area_params) = scope.area_filter_sql("kode_desa", chunk.len() + 1);
        let mut params: Vec<Value> = chunk.iter().map(|id| (*id).into()).collect();
        params.extend(area_params);
        let sql = format!(
            "SELECT id, kode_desa FROM households WHERE id IN ({}) AND {area}",
            marks.join(", ")
        );
        tx.query_each(&sql, &params, &mut |r| {
            out.insert(uuid(r.str(0))?, r.str(1).to_owned());
            Ok(())
        })?;
    }
    Ok(out)
}

/// A household by registry id (admin import only).
pub fn household_by_dtsen(tx: &mut dyn Sql, id_dtsen: &str) -> DbResult<Option<Household>> {
    tx.query_opt(
        &format!("SELECT {HH_COLS} FROM households WHERE id_dtsen = $1"),
        &[id_dtsen.into()],
    )?
    .map(|r| household_row(&r))
    .transpose()
}

/// Whether a household id exists at all (for proposals).
pub fn household_exists(tx: &mut dyn Sql, id: Uuid) -> DbResult<bool> {
    Ok(tx
        .query_opt("SELECT 1 FROM households WHERE id = $1", &[id.into()])?
        .is_some())
}

/// Inserts or replaces a household's row (the caller sets the version).
pub fn save_household(
    tx: &mut dyn Sql,
    h: &Household,
    proposed_by: Option<Uuid>,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let n = tx.execute(
        "UPDATE households SET id_dtsen = $1, no_kk = $2, nama_krt = $3, alamat = $4, rt = $5, rw = $6, kode_desa = $7,
                desil = $8, version = $9, updated_at = $10 WHERE id = $11",
        &[h.id_dtsen.clone().into(), h.no_kk.clone().into(), (&h.nama_krt).into(), (&h.alamat).into(), (&h.rt).into(),
          (&h.rw).into(), (&h.kode_desa).into(), h.desil.map(i64::from).into(), h.version.into(), ts(now).into(), h.id.into()],
    )?;
    if n == 0 {
        tx.execute(
            "INSERT INTO households (id, id_dtsen, no_kk, nama_krt, alamat, rt, rw, kode_desa, desil, version, proposed_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
            &[h.id.into(), h.id_dtsen.clone().into(), h.no_kk.clone().into(), (&h.nama_krt).into(), (&h.alamat).into(),
              (&h.rt).into(), (&h.rw).into(), (&h.kode_desa).into(), h.desil.map(i64::from).into(), h.version.into(),
              proposed_by.into(), ts(now).into()],
        )?;
    }
    Ok(())
}

/// Members of a household (head first).
pub fn members(tx: &mut dyn Sql, household: Uuid) -> DbResult<Vec<Member>> {
    let rows = tx.query(
        "SELECT id, nik, name, sex, birth_place, birth_date, relationship, status FROM members
         WHERE household_id = $1 ORDER BY relationship, birth_date, id",
        &[household.into()],
    )?;
    rows.iter()
        .map(|r| {
            Ok(Member {
                member_id: uuid(r.str(0))?,
                nik: r.opt_text(1),
                name: r.text(2),
                sex: if r.text(3) == "P" { Sex::P } else { Sex::L },
                birth_place: r.opt_text(4),
                birth_date: r.opt_text(5).and_then(|d| d.parse().ok()),
                relationship: Relationship::try_from(r.i64(6) as u8)
                    .map_err(|e| DbError::Corrupt(e.to_string()))?,
                status: json::<PresenceStatus>(&format!("\"{}\"", r.text(7)))?,
                exit: None,
            })
        })
        .collect()
}

/// Replaces a household's members.
pub fn replace_members(tx: &mut dyn Sql, household: Uuid, members: &[Member]) -> DbResult<()> {
    tx.execute(
        "DELETE FROM members WHERE household_id = $1",
        &[household.into()],
    )?;
    for m in members {
        let status = to_json(&m.status)?;
        tx.execute(
            "INSERT INTO members (id, household_id, nik, name, sex, birth_place, birth_date, relationship, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[m.member_id.into(), household.into(), m.nik.clone().into(), (&m.name).into(), m.sex.to_string().into(),
              m.birth_place.clone().into(), m.birth_date.map(|d| d.to_string()).into(), i64::from(m.relationship.code()).into(),
              status.trim_matches('"').into()],
        )?;
    }
    Ok(())
}

/// Keeps a snapshot of a baseline version (for field-by-field conflicts at review).
pub fn insert_household_version(
    tx: &mut dyn Sql,
    h: &Household,
    members: &[Member],
    now: DateTime<Utc>,
) -> DbResult<()> {
    let data = serde_json::json!({ "household": h, "members": members });
    tx.execute(
        "INSERT INTO household_versions (household_id, version, data, at) VALUES ($1, $2, $3, $4)",
        &[
            h.id.into(),
            h.version.into(),
            data.to_string().into(),
            ts(now).into(),
        ],
    )?;
    Ok(())
}

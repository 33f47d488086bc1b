//! The registry baseline on the device: households and members as the server sends them, the
//! questionnaire, and the derived columns the work list filters on.

use crate::ExecCached;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use uuid::Uuid;
use verivali_domain::{Household, Member, Questionnaire, VisitState, WorkStatus};

use crate::Store;
use crate::error::Result;

/// Where a household row comes from, which decides its `proposed` flag: every writer says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The registry baseline as loaded in bulk: never a proposal, even where the device had
    /// proposed the same id.
    Baseline,
    /// A household as the server's change feed sends it: new rows are baseline ones; a row the
    /// device proposed keeps its mark until the baseline load says otherwise.
    Pulled,
    /// The enumerator's own proposal (usulan baru), version 0 with no registry id or decile.
    Proposal,
}

/// Writes one household row, inserting or replacing it: the one place the household columns are
/// listed on the device.
pub(crate) fn upsert_household(conn: &Connection, h: &Household, origin: Origin) -> Result<()> {
    let (id_dtsen, desil, version) = match origin {
        Origin::Proposal => (None, None, 0),
        Origin::Baseline | Origin::Pulled => (h.id_dtsen.as_deref(), h.desil, h.version),
    };
    // `proposed` on insert, and on update (NULL keeps what the row had).
    let (insert, update) = match origin {
        Origin::Baseline => (0, Some(0)),
        Origin::Pulled => (0, None),
        Origin::Proposal => (1, Some(1)),
    };
    let f = &h.fields;
    conn.exec_cached(
        "INSERT INTO households (id, id_dtsen, no_kk, nama_krt, alamat, rt, rw, kode_desa, desil, version, proposed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (id) DO UPDATE SET id_dtsen = excluded.id_dtsen, no_kk = excluded.no_kk,
             nama_krt = excluded.nama_krt, alamat = excluded.alamat, rt = excluded.rt, rw = excluded.rw,
             kode_desa = excluded.kode_desa, desil = excluded.desil, version = excluded.version,
             proposed = coalesce(?12, proposed), withdrawn = 0",
        params![
            h.id.to_string(),
            id_dtsen,
            f.no_kk,
            f.nama_krt,
            f.alamat,
            f.rt,
            f.rw,
            h.kode_desa,
            desil,
            version,
            insert,
            update
        ],
    )?;
    Ok(())
}

/// Recomputes a household's search text: head's name, address, No. KK, id DTSEN and the members'
/// names and NIKs, lowercased.
pub(crate) fn refresh_search(conn: &Connection, household_id: Uuid) -> Result<()> {
    let id = household_id.to_string();
    // Cached statements throughout: a first pull runs these for thousands of households.
    let head: Option<(String, String, Option<String>, Option<String>)> = conn
        .prepare_cached("SELECT nama_krt, alamat, no_kk, id_dtsen FROM households WHERE id = ?1")?
        .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((nama, alamat, kk, dtsen)) = head else {
        return Ok(());
    };
    let mut text = format!(
        "{nama} {alamat} {} {}",
        kk.unwrap_or_default(),
        dtsen.unwrap_or_default()
    );
    let mut stmt =
        conn.prepare_cached("SELECT name, coalesce(nik, '') FROM members WHERE household_id = ?1")?;
    for row in stmt.query_map([&id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })? {
        let (name, nik) = row?;
        text.push(' ');
        text.push_str(&name);
        text.push(' ');
        text.push_str(&nik);
    }
    conn.exec_cached(
        "UPDATE households SET search = ?1 WHERE id = ?2",
        params![text.to_lowercase(), id],
    )?;
    Ok(())
}

/// Recomputes a household's work status from its latest visit (rule in `verivali-domain`).
pub(crate) fn refresh_status(conn: &Connection, household_id: Uuid) -> Result<()> {
    let id = household_id.to_string();
    let latest: Option<(String, bool)> = conn
        .prepare_cached(
            "SELECT state, finished FROM visits WHERE household_id = ?1 ORDER BY updated_at DESC, id DESC LIMIT 1",
        )?
        .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let latest = latest.map(|(s, f)| (VisitState::parse(&s).unwrap_or(VisitState::Draft), f));
    conn.exec_cached(
        "UPDATE households SET status = ?1 WHERE id = ?2",
        params![WorkStatus::of(latest).as_str(), id],
    )?;
    Ok(())
}

impl Store {
    /// Stores baseline households with their members (as pulled from the server), replacing what
    /// the device had for them, in one transaction. Visits are untouched.
    pub fn upsert_households(&mut self, items: &[(Household, Vec<Member>)]) -> Result<()> {
        let tx = self.write_tx()?;
        for (h, members) in items {
            let id = h.id.to_string();
            upsert_household(&tx, h, Origin::Baseline)?;
            tx.exec_cached("DELETE FROM members WHERE household_id = ?1", [&id])?;
            let mut stmt = tx.prepare_cached(
                "INSERT INTO members (id, household_id, nik, name, sex, birth_place, birth_date, relationship, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for m in members {
                stmt.execute(params![
                    m.member_id.to_string(),
                    id,
                    m.nik,
                    m.name,
                    m.sex.to_string(),
                    m.birth_place,
                    m.birth_date.map(|d| d.to_string()),
                    m.relationship.code(),
                    serde_json::to_value(m.status)?
                        .as_str()
                        .unwrap_or("tinggal"),
                ])?;
            }
            drop(stmt);
            refresh_search(&tx, h.id)?;
            refresh_status(&tx, h.id)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces the active questionnaire (as pulled from the server).
    pub fn set_questionnaire(&mut self, q: &Questionnaire) -> Result<()> {
        let text = serde_json::to_string(q)?;
        self.conn.exec_cached(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('questionnaire', ?1)",
            [&text],
        )?;
        self.conn.exec_cached(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            [format!("questionnaire@{}", q.version), text],
        )?;
        self.questionnaire = q.clone();
        Ok(())
    }

    /// Keeps the region names the server gave (code → name), replacing the old ones.
    pub fn set_region_names(&mut self, names: &BTreeMap<String, String>) -> Result<()> {
        self.conn.exec_cached(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('regions', ?1)",
            [serde_json::to_string(names)?],
        )?;
        Ok(())
    }

    /// Keeps the period the server had open at the last sync (name and cut-off day), or forgets
    /// it when none was open.
    pub fn set_open_period(&mut self, period: Option<(&str, chrono::NaiveDate)>) -> Result<()> {
        match period {
            Some((name, cutoff)) => self.conn.exec_cached(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('period', ?1)",
                [serde_json::json!({"name": name, "cutoff": cutoff}).to_string()],
            )?,
            None => self
                .conn
                .exec_cached("DELETE FROM meta WHERE key = 'period'", [])?,
        };
        Ok(())
    }

    /// The period kept from the last sync: `(name, cut-off day)`.
    pub fn open_period(&self) -> Result<Option<(String, chrono::NaiveDate)>> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'period'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(text) = text else { return Ok(None) };
        let v: serde_json::Value = serde_json::from_str(&text)?;
        Ok(match (v["name"].as_str(), v["cutoff"].as_str()) {
            (Some(n), Some(c)) => c.parse().ok().map(|c| (n.to_string(), c)),
            _ => None,
        })
    }

    /// The stamp of the region names and periods kept ([`Store::set_reference_stamp`]).
    pub fn reference_stamp(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'refs'", [], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Keeps the stamp a pull gave for the region names and periods just fetched, so the next
    /// sync fetches them only when the server's stamp differs (an idle sync stays one request);
    /// `None` forgets it (before writing a new answer, so a half-done fetch is never trusted).
    pub fn set_reference_stamp(&mut self, stamp: Option<&str>) -> Result<()> {
        match stamp {
            Some(s) => self.conn.exec_cached(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('refs', ?1)",
                [s],
            )?,
            None => self
                .conn
                .exec_cached("DELETE FROM meta WHERE key = 'refs'", [])?,
        };
        Ok(())
    }

    /// The region names kept from the last sync (empty before one, or while an admin has
    /// imported none).
    pub fn region_names(&self) -> Result<BTreeMap<String, String>> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'regions'", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(text
            .map(|t| serde_json::from_str(&t))
            .transpose()?
            .unwrap_or_default())
    }
}

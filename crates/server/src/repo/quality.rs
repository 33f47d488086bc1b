//! The evidence of the quality checks (DESIGN.md §11), each an indexed look-up over many visits at
//! once (never a scan per visit): the visits of some households with their fixes, the visits that
//! use some photos, the living members that hold some NIKs, an enumerator's finish times; the
//! flags stored on a visit; the settings an admin changes (the thresholds).

use crate::db::{DbResult, Dialect, Sql, Value};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;
use verivali_domain::{Gps, PresenceStatus, VisitState};

use super::{Scope, VisitRow, json, ts, uuid};

/// `IN ($a, $b, …)` over `values`, numbered from `first`, in chunks of at most 500 (PostgreSQL
/// and SQLite both take that many parameters comfortably).
fn in_chunks<'a, T: Clone + Into<Value> + 'a>(
    values: &'a [T],
    first: usize,
) -> impl Iterator<Item = (String, Vec<Value>)> + 'a {
    values.chunks(500).map(move |chunk| {
        let marks: Vec<String> = (0..chunk.len())
            .map(|i| format!("${}", first + i))
            .collect();
        (
            format!("({})", marks.join(", ")),
            chunk.iter().cloned().map(Into::into).collect(),
        )
    })
}

/// A visit of a household as the checks see it (what the covering index holds).
#[derive(Debug, Clone)]
pub struct SiblingVisit {
    pub id: Uuid,
    pub household_id: Uuid,
    pub enumerator_id: Uuid,
    pub state: VisitState,
    /// When it was finished (a draft, not yet, is not judged).
    pub finished_at: Option<DateTime<Utc>>,
}

/// A stored finish time, NULL for a visit not finished; one that does not read as a time is a
/// corrupt row, said so, never a visit taken for unfinished.
pub(crate) fn finished_at(r: &dyn crate::db::RowView, i: usize) -> DbResult<Option<DateTime<Utc>>> {
    if r.is_null(i) {
        return Ok(None);
    }
    super::parse_ts(r.str(i))
        .map(Some)
        .ok_or_else(|| crate::db::DbError::Corrupt("visit finish time".into()))
}

/// Every visit of the given households, from `visits_household_quality` alone.
pub fn household_visits(tx: &mut dyn Sql, households: &[Uuid]) -> DbResult<Vec<SiblingVisit>> {
    let mut out = Vec::new();
    for (marks, params) in in_chunks(households, 1) {
        let sql = format!(
            "SELECT id, household_id, enumerator_id, state, finished_at FROM visits
             WHERE household_id IN {marks} ORDER BY household_id, id"
        );
        tx.query_each(&sql, &params, &mut |r| {
            out.push(SiblingVisit {
                id: uuid(r.str(0))?,
                household_id: uuid(r.str(1))?,
                enumerator_id: uuid(r.str(2))?,
                state: VisitState::parse(r.str(3))
                    .ok_or_else(|| crate::db::DbError::Corrupt("visit state".into()))?,
                finished_at: finished_at(r, 4)?,
            });
            Ok(())
        })?;
    }
    Ok(out)
}

/// Each household's reference point: the fix of its last approved (or verified) visit (by id), with that
/// visit (households without one are missing).
pub fn reference_points(
    tx: &mut dyn Sql,
    households: &[Uuid],
) -> DbResult<HashMap<Uuid, (Uuid, Gps)>> {
    let mut out = HashMap::new();
    for (marks, params) in in_chunks(households, 1) {
        let sql = format!(
            "SELECT household_id, id, gps FROM visits
             WHERE household_id IN {marks} AND state IN ('approved', 'verified') AND gps IS NOT NULL
             ORDER BY id"
        );
        for r in tx.query(&sql, &params)? {
            if let Ok(g) = serde_json::from_str::<Gps>(r.str(2)) {
                out.insert(uuid(r.str(0))?, (uuid(r.str(1))?, g));
            }
        }
    }
    Ok(out)
}

/// The stored flags (JSON) and states of some visits, locked for update in id order (on
/// PostgreSQL a flag added to a neighbour is then added to what it has when the lock is granted,
/// never to a copy read before another push changed it).
pub fn flags_by_id(
    tx: &mut dyn Sql,
    ids: &[Uuid],
) -> DbResult<HashMap<Uuid, (String, VisitState)>> {
    let mut ids = ids.to_vec();
    ids.sort();
    let lock = super::lock(tx);
    let mut out = HashMap::new();
    for (marks, params) in in_chunks(&ids, 1) {
        let sql =
            format!("SELECT id, flags, state FROM visits WHERE id IN {marks} ORDER BY id{lock}");
        for r in tx.query(&sql, &params)? {
            let state = VisitState::parse(r.str(2))
                .ok_or_else(|| crate::db::DbError::Corrupt("visit state".into()))?;
            out.insert(uuid(r.str(0))?, (r.text(1), state));
        }
    }
    Ok(out)
}

/// On PostgreSQL, takes a transaction-long lock on each household (in the order of the locks'
/// keys; a transaction takes every one it needs in one call, before it locks a visit's row: a
/// second call only takes locks it holds already): two pushes, a push and a decision, or a push and a re-check that
/// touch one household then run one after the other, each seeing the other's visits (so neither
/// misses `two_visits`) and never deadlocking. SQLite's single writer serialises them already.
///
/// The keys are [`household_lock_key`]s, computed, sorted and deduplicated here, and each
/// statement locks its chunk in key order. Why not the ids' order: a lock is named by a 32-bit
/// key, two households may share one, and locking in id order then takes shared keys in
/// different orders in two transactions. The keys were PostgreSQL's `hashtext` of the id, with
/// the ids sorted as text: with `x < y < z` and `x`, `z` sharing a key (about one pair among
/// 100,000 random ids does, a hundred among a million), a push of `{x, y}` and one of `{y, z}`
/// each held one key and waited for the other's, until PostgreSQL's deadlock check failed one
/// of them, a 500 for its device (`storage::household_locks_never_deadlock`).
pub fn lock_households(tx: &mut dyn Sql, households: &[Uuid]) -> DbResult<()> {
    if super::lock(tx).is_empty() || households.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<i64> = households
        .iter()
        .map(|h| i64::from(household_lock_key(*h)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    // One statement per chunk, chunks in key order, each locking in key order: the lock function
    // is volatile, so PostgreSQL evaluates it row by row after the sort.
    for (marks, params) in in_chunks(&keys, 1) {
        let values: Vec<String> = marks
            .trim_matches(|c| c == '(' || c == ')')
            .split(", ")
            .map(|m| format!("({m}::integer)"))
            .collect();
        tx.execute(
            &format!(
                "SELECT count(*) FROM (SELECT pg_advisory_xact_lock({HOUSEHOLD_LOCKS}, x.column1)
                 FROM (VALUES {}) AS x ORDER BY x.column1) AS l",
                values.join(", ")
            ),
            &params,
        )?;
    }
    Ok(())
}

/// The one-key advisory lock between the pushes and an admin's change of the rules the checks
/// apply (periods, thresholds): [`share_rules`] and [`change_rules`].
pub const RULES_LOCK: i64 = 7_452_021;

/// On PostgreSQL, held shared by a push's transaction from its start, before any household's
/// lock: a change of the periods or thresholds ([`change_rules`]) then waits for the pushes in
/// flight to commit, and a push begun after it waits for the change, then reads the rules the
/// change wrote (`quality::after_ingest` reads them again in the transaction). The change's
/// re-check, reading the visits after the change committed, so meets every visit a push judged
/// under the old rules. SQLite's single writer orders them already.
pub fn share_rules(tx: &mut dyn Sql) -> DbResult<()> {
    if tx.dialect() == Dialect::Postgres {
        tx.execute(
            &format!("SELECT pg_advisory_xact_lock_shared({RULES_LOCK})"),
            &[],
        )?;
    }
    Ok(())
}

/// On PostgreSQL, taken alone by a transaction changing the periods or thresholds, first:
/// [`share_rules`].
pub fn change_rules(tx: &mut dyn Sql) -> DbResult<()> {
    if tx.dialect() == Dialect::Postgres {
        tx.execute(&format!("SELECT pg_advisory_xact_lock({RULES_LOCK})"), &[])?;
    }
    Ok(())
}

/// The class of the household locks (the first half of a two-key advisory lock; the migration
/// lock is a one-key lock, another space).
const HOUSEHOLD_LOCKS: i32 = 7_452_020;

/// The second key of a household's advisory lock: the id's four 32-bit words folded together
/// (a random or time-ordered UUID's random bits reach every word, so households spread over the
/// keys; two sharing one only wait for each other).
pub fn household_lock_key(household: Uuid) -> i32 {
    let n = household.as_u128();
    let folded = (n ^ (n >> 32) ^ (n >> 64) ^ (n >> 96)) as u32;
    folded as i32
}

/// `(sha256, visit, its finish time)` for every visit that uses one of the photos.
pub fn photo_users(tx: &mut dyn Sql, shas: &[String]) -> DbResult<Vec<PhotoUse>> {
    let mut out = Vec::new();
    for (marks, params) in in_chunks(shas, 1) {
        let sql = format!(
            "SELECT sha256, visit_id, finished_at FROM visit_photos WHERE sha256 IN {marks}"
        );
        for r in tx.query(&sql, &params)? {
            out.push(PhotoUse {
                sha256: r.text(0),
                visit: uuid(r.str(1))?,
                finished_at: r.opt_text(2).and_then(|t| t.parse().ok()),
            });
        }
    }
    Ok(out)
}

/// A visit that uses a photo.
#[derive(Debug, Clone)]
pub struct PhotoUse {
    pub sha256: String,
    pub visit: Uuid,
    /// When that visit was finished (none for a draft).
    pub finished_at: Option<DateTime<Utc>>,
}

/// Records which visits use which photos (`(sha256, visit, finished at)`), many rows per
/// statement, after removing the uses a re-recorded visit dropped (`dropped`: its earlier
/// `(sha256, visit)`).
pub fn set_visit_photos(
    tx: &mut dyn Sql,
    uses: &[(String, Uuid, Option<DateTime<Utc>>)],
    dropped: &[(String, Uuid)],
) -> DbResult<()> {
    for (sha, visit) in dropped {
        tx.execute(
            "DELETE FROM visit_photos WHERE sha256 = $1 AND visit_id = $2",
            &[sha.into(), (*visit).into()],
        )?;
    }
    for chunk in uses.chunks(250) {
        let marks: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
            .collect();
        let params: Vec<Value> = chunk
            .iter()
            .flat_map(|(sha, visit, at)| {
                [
                    Value::from(sha.as_str()),
                    Value::from(*visit),
                    Value::from(at.map(ts)),
                ]
            })
            .collect();
        tx.execute(
            &format!(
                "INSERT INTO visit_photos (sha256, visit_id, finished_at) VALUES {} ON CONFLICT DO NOTHING",
                marks.join(", ")
            ),
            &params,
        )?;
    }
    Ok(())
}

/// The statuses, as stored, of a member who lives in the household.
fn present_statuses() -> Vec<String> {
    PresenceStatus::ALL
        .into_iter()
        .filter(|s| s.is_present())
        .filter_map(|s| serde_json::to_value(s).ok())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// `(nik, household)` for every living member on the server that holds one of the NIKs (through
/// the `members_nik` index, which also holds the status and household: no member row is read).
/// Each NIK is looked up once, by the NIK alone, and the statuses kept here: `nik IN (…) AND
/// status IN (…)` made SQLite seek every pair of the two lists, twice the seeks for a push's few
/// thousand NIKs.
pub fn living_nik_holders(tx: &mut dyn Sql, niks: &[String]) -> DbResult<Vec<(String, Uuid)>> {
    let present = present_statuses();
    let mut niks: Vec<&String> = niks.iter().collect();
    niks.sort_unstable();
    niks.dedup();
    let mut out = Vec::new();
    for (marks, params) in in_chunks(&niks, 1) {
        let sql = format!("SELECT nik, household_id, status FROM members WHERE nik IN {marks}");
        tx.query_each(&sql, &params, &mut |r| {
            if present.iter().any(|p| p == r.str(2)) {
                out.push((r.str(0).to_owned(), uuid(r.str(1))?));
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// An enumerator's visit by its finish time.
#[derive(Debug, Clone)]
pub struct Finished {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub state: VisitState,
}

/// An enumerator's visits finished within `[from, to]`, in time order (from
/// `visits_enumerator_finished` alone).
pub fn finish_times(
    tx: &mut dyn Sql,
    enumerator: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> DbResult<Vec<Finished>> {
    let mut out = Vec::new();
    tx.query_each(
        "SELECT id, finished_at, state FROM visits
         WHERE enumerator_id = $1 AND finished_at >= $2 AND finished_at <= $3 ORDER BY finished_at",
        &[enumerator.into(), ts(from).into(), ts(to).into()],
        &mut |r| {
            if let (Some(at), Some(state)) =
                (super::parse_ts(r.str(1)), VisitState::parse(r.str(2)))
            {
                out.push(Finished {
                    id: uuid(r.str(0))?,
                    at,
                    state,
                });
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// Stores many visits' flags `(visit, JSON, risk)` in one statement per 300 (one round trip to
/// PostgreSQL instead of one per visit).
pub fn set_flags_many(tx: &mut dyn Sql, rows: &[(Uuid, String, u32)]) -> DbResult<()> {
    for chunk in rows.chunks(300) {
        let marks: Vec<String> = (0..chunk.len())
            .map(|i| {
                format!(
                    "(${}, ${}, CAST(${} AS BIGINT))",
                    3 * i + 1,
                    3 * i + 2,
                    3 * i + 3
                )
            })
            .collect();
        let params: Vec<Value> = chunk
            .iter()
            .flat_map(|(id, flags, risk)| {
                [
                    Value::from(*id),
                    Value::from(flags.as_str()),
                    Value::from(*risk),
                ]
            })
            .collect();
        tx.execute(
            &format!(
                "UPDATE visits SET flags = x.column2, risk = x.column3
                 FROM (VALUES {}) AS x WHERE visits.id = x.column1",
                marks.join(", ")
            ),
            &params,
        )?;
    }
    Ok(())
}

/// What tells a re-check that a visit's row changed since it read it, by visit, unlocked: read
/// before its evidence, for [`set_flags_if_unchanged`] to compare. On PostgreSQL the row
/// version's transaction (`xmin`), which any write changes, also one that wrote the same flags
/// again (a push telling a visit what it already had, from evidence the re-check did not see);
/// on SQLite, whose single writer leaves no write between, the flags themselves.
pub fn row_versions(tx: &mut dyn Sql, ids: &[Uuid]) -> DbResult<HashMap<Uuid, String>> {
    let version = version_column(tx);
    let mut out = HashMap::new();
    for (marks, params) in in_chunks(ids, 1) {
        let sql = format!("SELECT id, {version} FROM visits WHERE id IN {marks}");
        for r in tx.query(&sql, &params)? {
            out.insert(uuid(r.str(0))?, r.text(1));
        }
    }
    Ok(out)
}

/// The expression [`row_versions`] reads and [`set_flags_if_unchanged`] compares.
fn version_column(tx: &dyn Sql) -> &'static str {
    match tx.dialect() {
        Dialect::Postgres => "visits.xmin::text",
        Dialect::Sqlite => "visits.flags",
    }
}

/// Writes each visit's flags and risk `(visit, version read before, new flags, risk)` only where
/// its row is still the version read before ([`row_versions`]); answers the visits written. On
/// PostgreSQL a row another transaction is changing is waited for and compared as that one
/// committed it: a push that told the visit something meanwhile (from evidence the caller did
/// not see) makes the write skip it, for the caller to check it again, never to overwrite what
/// it was told.
pub fn set_flags_if_unchanged(
    tx: &mut dyn Sql,
    rows: &[(Uuid, &str, String, u32)],
) -> DbResult<Vec<Uuid>> {
    let version = version_column(tx);
    let mut written = Vec::new();
    for chunk in rows.chunks(200) {
        let marks: Vec<String> = (0..chunk.len())
            .map(|i| {
                format!(
                    "(${}, ${}, ${}, CAST(${} AS BIGINT))",
                    4 * i + 1,
                    4 * i + 2,
                    4 * i + 3,
                    4 * i + 4
                )
            })
            .collect();
        let params: Vec<Value> = chunk
            .iter()
            .flat_map(|(id, before, flags, risk)| {
                [
                    Value::from(*id),
                    Value::from(*before),
                    Value::from(flags.as_str()),
                    Value::from(*risk),
                ]
            })
            .collect();
        for r in tx.query(
            &format!(
                "UPDATE visits SET flags = x.column3, risk = x.column4
                 FROM (VALUES {}) AS x
                 WHERE visits.id = x.column1 AND {version} = x.column2
                 RETURNING visits.id",
                marks.join(", ")
            ),
            &params,
        )? {
            written.push(uuid(r.str(0))?);
        }
    }
    Ok(written)
}

/// A visit's stored flags (JSON) and risk.
pub fn flags_of(tx: &mut dyn Sql, visit: Uuid) -> DbResult<Option<(String, i64)>> {
    Ok(tx
        .query_opt(
            "SELECT flags, risk FROM visits WHERE id = $1",
            &[visit.into()],
        )?
        .map(|r| (r.text(0), r.i64(1))))
}

/// Visits as the checks read them, by id (absent ids are missing).
pub fn visits_by_id(tx: &mut dyn Sql, ids: &[Uuid]) -> DbResult<Vec<VisitRow>> {
    let mut out = Vec::new();
    for (marks, params) in in_chunks(ids, 1) {
        let sql = format!(
            "SELECT record, enumerator_id, device_id, kode_desa, state, batch_id FROM visits WHERE id IN {marks}"
        );
        for r in tx.query(&sql, &params)? {
            out.push(super::visit_row(&r)?);
        }
    }
    Ok(out)
}

/// The households with a visit still open to review (draft, submitted, rejected, returned), in
/// id order: what a change of thresholds re-checks, a household at a time. Read once, from a
/// snapshot taken after the change committed ([`change_rules`] makes it see every push judged
/// under the old thresholds): paged with `household_id > $1 … LIMIT`, SQLite's planner (no
/// statistics) took `visits_state_id` and read every open visit for each page.
pub fn households_with_open_visits(tx: &mut dyn Sql) -> DbResult<Vec<Uuid>> {
    tx.query(
        "SELECT DISTINCT household_id FROM visits
         WHERE state IN ('draft', 'submitted', 'rejected', 'returned') ORDER BY household_id",
        &[],
    )?
    .iter()
    .map(|r| uuid(r.str(0)))
    .collect()
}

/// The households with a visit finished in `[from, to)` (`from` None: since ever), in id order:
/// those whose `quality.two_visits` a new period may change ([`verivali_domain::cycle::window`]).
/// The bounds are widened by a day each way, so a finish stored in another RFC 3339 form than
/// [`super::ts`] writes (a record's own, backfilled by schema step 10) is never left out by the
/// text comparison; a household too many is only checked again for nothing. One pass over the
/// visits' finish times (no index leads with them: a scan of the table or of an index holding
/// both columns, `visits_household_quality`), done once per period created, never per push.
pub fn households_finished_between(
    tx: &mut dyn Sql,
    from: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
) -> DbResult<Vec<Uuid>> {
    let day = chrono::Duration::days(1);
    let from = from.map_or_else(String::new, |f| super::ts(f - day));
    tx.query(
        "SELECT DISTINCT household_id FROM visits WHERE finished_at >= $1 AND finished_at < $2
         ORDER BY household_id",
        &[from.into(), super::ts(to + day).into()],
    )?
    .iter()
    .map(|r| uuid(r.str(0)))
    .collect()
}

/// One setting's value, if an admin ever set it.
pub fn setting(tx: &mut dyn Sql, key: &str) -> DbResult<Option<String>> {
    Ok(tx
        .query_opt("SELECT value FROM settings WHERE key = $1", &[key.into()])?
        .map(|r| r.text(0)))
}

/// Removes a setting (none: nothing to do).
pub fn delete_setting(tx: &mut dyn Sql, key: &str) -> DbResult<()> {
    tx.execute("DELETE FROM settings WHERE key = $1", &[key.into()])?;
    Ok(())
}

/// Sets a setting.
pub fn put_setting(
    tx: &mut dyn Sql,
    key: &str,
    value: &str,
    by: Option<Uuid>,
    now: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO settings (key, value, updated_by, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by,
             updated_at = excluded.updated_at",
        &[key.into(), value.into(), by.into(), ts(now).into()],
    )?;
    Ok(())
}

/// One finished visit as the enumerator comparison counts it.
#[derive(Debug, Clone)]
pub struct VisitFacts {
    pub enumerator_id: Uuid,
    pub username: String,
    pub display_name: String,
    pub outcome: String,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_s: Option<u32>,
    /// Flag codes.
    pub flags: Vec<String>,
}

/// The finished visits in the caller's areas (drafts never count: they are not done yet).
pub fn visit_facts(tx: &mut dyn Sql, scope: &Scope) -> DbResult<Vec<VisitFacts>> {
    let mut w = super::Where::default();
    w.scope(scope, "v.kode_desa");
    let sql = format!(
        "SELECT v.enumerator_id, u.username, u.display_name, v.outcome, v.finished_at, v.duration_s, v.flags
         FROM visits v JOIN users u ON u.id = v.enumerator_id
         WHERE {} AND v.state <> 'draft' ORDER BY v.enumerator_id",
        w.sql()
    );
    tx.query(&sql, &w.params)?
        .iter()
        .map(|r| {
            let flags: Vec<serde_json::Value> = json(r.str(6)).unwrap_or_default();
            Ok(VisitFacts {
                enumerator_id: uuid(r.str(0))?,
                username: r.text(1),
                display_name: r.text(2),
                outcome: r.text(3),
                finished_at: r.opt_text(4).and_then(|t| t.parse().ok()),
                duration_s: r.opt_i64(5).and_then(|d| u32::try_from(d).ok()),
                flags: flags
                    .iter()
                    .filter_map(|f| f["code"].as_str().map(str::to_string))
                    .collect(),
            })
        })
        .collect()
}

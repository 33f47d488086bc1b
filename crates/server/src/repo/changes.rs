//! The change feed devices pull: appended in commit order, read by cursor and scoped to areas.

use crate::db::{DbError, DbResult, Dialect, Sql, Value};
use chrono::{DateTime, Utc};
use uuid::Uuid;
use verivali_domain::assignment::Terms;
use verivali_domain::{Household, Member, Role};
use verivali_protocol::pull::MemberChange;

use super::{Scope, to_json, ts};

/// Appends a change to the feed. `area` is the desa code it belongs to ("" for everyone),
/// `owner` the enumerator it belongs to (visits and reviews).
#[allow(clippy::too_many_arguments)]
pub fn append_change(
    tx: &mut dyn Sql,
    kind: &str,
    entity_id: &str,
    version: i64,
    deleted: bool,
    area: &str,
    owner: Option<Uuid>,
    data: &str,
    now: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO changes (kind, entity_id, version, deleted, area, owner, data, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[kind.into(), entity_id.into(), version.into(), deleted.into(), area.into(), owner.into(), data.into(), ts(now).into()],
    )?;
    Ok(())
}

/// Appends a visit change written by a device's own push: that device's pulls skip it.
pub fn append_pushed_visit_change(
    tx: &mut dyn Sql,
    visit_id: Uuid,
    version: i64,
    area: &str,
    owner: Uuid,
    origin: Uuid,
    now: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO changes (kind, entity_id, version, deleted, area, owner, data, at, origin_device)
         VALUES ('visit', $1, $2, 0, $3, $4, '', $5, $6)",
        &[visit_id.into(), version.into(), area.into(), owner.into(), ts(now).into(), origin.into()],
    )?;
    Ok(())
}

/// A pushed visit's change: `(visit, version, area, owner)`.
pub type PushedChange = (Uuid, i64, String, Uuid);

/// [`append_pushed_visit_change`] for a push's visits, in order: one statement per 500 on
/// PostgreSQL (rows take their `seq` in the order of the list), one each on SQLite.
pub fn append_pushed_visit_changes(
    tx: &mut dyn Sql,
    changes: &[PushedChange],
    origin: Uuid,
    now: DateTime<Utc>,
) -> DbResult<()> {
    if tx.dialect() == crate::db::Dialect::Sqlite {
        for (id, version, area, owner) in changes {
            append_pushed_visit_change(tx, *id, *version, area, *owner, origin, now)?;
        }
        return Ok(());
    }
    for chunk in changes.chunks(500) {
        let mut params: Vec<Value> = vec![ts(now).into(), origin.into()];
        let mut rows = Vec::with_capacity(chunk.len());
        for (i, (id, version, area, owner)) in chunk.iter().enumerate() {
            let b = 3 + i * 4;
            rows.push(format!(
                "('visit', ${b}, ${}, 0, ${}, ${}, '', $1, $2)",
                b + 1,
                b + 2,
                b + 3
            ));
            params.extend([
                (*id).into(),
                (*version).into(),
                area.as_str().into(),
                (*owner).into(),
            ]);
        }
        tx.execute(
            &format!(
                "INSERT INTO changes (kind, entity_id, version, deleted, area, owner, data, at, origin_device) VALUES {}",
                rows.join(", ")
            ),
            &params,
        )?;
    }
    Ok(())
}

/// Announces a household's current baseline version in the change feed.
pub fn announce_household(tx: &mut dyn Sql, h: &Household, now: DateTime<Utc>) -> DbResult<()> {
    let data = to_json(h)?;
    append_change(
        tx,
        "household",
        &h.id.to_string(),
        h.version,
        false,
        &h.kode_desa,
        None,
        &data,
        now,
    )
}

/// Announces a household and its members to one enumerator only (an assignment to them, or new
/// terms of one), with the terms under `assignment`: their device may never have held it, since
/// the feed hid it while a colleague had it.
pub fn announce_household_to(
    tx: &mut dyn Sql,
    h: &Household,
    members: &[Member],
    enumerator: Uuid,
    terms: &Terms,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let assignment = serde_json::to_value(terms).map_err(|e| DbError::Corrupt(e.to_string()))?;
    announce_with_members(tx, h, members, Some(enumerator), assignment, now)
}

/// Announces a household and its members to every device of its area again, with
/// `"assignment": null`: it is shared again after an assignment ended.
pub fn announce_household_shared(
    tx: &mut dyn Sql,
    h: &Household,
    members: &[Member],
    now: DateTime<Utc>,
) -> DbResult<()> {
    announce_with_members(tx, h, members, None, serde_json::Value::Null, now)
}

fn announce_with_members(
    tx: &mut dyn Sql,
    h: &Household,
    members: &[Member],
    owner: Option<Uuid>,
    assignment: serde_json::Value,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let id = h.id.to_string();
    let mut data = serde_json::to_value(h).map_err(|e| DbError::Corrupt(e.to_string()))?;
    data["assignment"] = assignment;
    let data = data.to_string();
    append_change(
        tx,
        "household",
        &id,
        h.version,
        false,
        &h.kode_desa,
        owner,
        &data,
        now,
    )?;
    for m in members {
        let data = to_json(&MemberChange {
            household_id: h.id,
            member: m.clone(),
        })?;
        let member = m.member_id.to_string();
        append_change(
            tx,
            "member",
            &member,
            h.version,
            false,
            &h.kode_desa,
            owner,
            &data,
            now,
        )?;
    }
    Ok(())
}

/// Takes a household off every device of its area except its new assignee's (`keeper`): a
/// deleted household change that everyone but the keeper receives. A device keeps a household
/// it holds visits of (the device store's rule), so recorded work is never dropped.
pub fn withdraw_household(
    tx: &mut dyn Sql,
    h: &Household,
    keeper: Uuid,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let id = h.id.to_string();
    append_change(
        tx,
        "household",
        &id,
        h.version,
        true,
        &h.kode_desa,
        Some(keeper),
        "null",
        now,
    )
}

/// A change read from the feed.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    pub kind: String,
    pub entity_id: String,
    pub version: i64,
    pub deleted: bool,
    /// Data (JSON text).
    pub data: String,
}

/// A page of the change feed visible to `scope`, after `cursor`.
///
/// The cursor follows commit order. SQLite has one writer, so its sequence numbers are handed
/// out in commit order and the cursor is the last seq. On PostgreSQL sequence numbers are taken
/// before commit, so a reader could see seq 11 while seq 10 is still uncommitted and skip it
/// later; there the feed is ordered by (transaction id, seq) and a page only contains changes of
/// transactions older than every transaction still open (`pg_snapshot_xmin`), a prefix that can
/// no longer grow. The cursor is `xid:seq`.
/// Changes a device's own push wrote (`origin_device`) are left out of that device's feed.
///
/// `withdrawn_after` (RFC 3339, "" for all) leaves out the withdrawals written before the device
/// began pulling from the start: it never received those households, since the feed already hid
/// them from it.
///
/// On PostgreSQL it turns sorting off for the rest of the caller's transaction (the page's plan,
/// below): call it last in a transaction of its own, as `App::pull` does.
pub fn pull(
    tx: &mut dyn Sql,
    scope: &Scope,
    device: Uuid,
    cursor: &str,
    limit: usize,
    withdrawn_after: &str,
) -> DbResult<(Vec<ChangeRow>, String, bool)> {
    // Households and members (DESIGN.md §9): an enumerator receives the area's broadcast changes
    // of households shared or assigned to them, the changes addressed to them (`owner`, written
    // when a household is assigned to them) while it is still theirs, and the withdrawals written
    // when a household went to a colleague (`deleted` with the colleague as `owner`). A broadcast
    // of a household now theirs is skipped when a later change addressed to them carries the same
    // or a newer version of it, so a first pull does not carry their households twice. Reviewers
    // see the broadcasts.
    let visible = match scope.role {
        Role::Enumerator => {
            "((kind IN ('household', 'member') AND {AREA} AND (
                 (owner IS NULL AND (deleted = 1 OR {HH} IS NOT NULL) AND NOT EXISTS (
                     SELECT 1 FROM assignments a WHERE a.household_id = {HH} AND a.enumerator_id <> $3)
                  AND NOT (deleted = 0 AND EXISTS (
                     SELECT 1 FROM assignments a WHERE a.household_id = {HH} AND a.enumerator_id = $3)
                   AND EXISTS (SELECT 1 FROM changes t WHERE t.entity_id = c.entity_id AND t.owner = $3
                     AND t.kind IN ('household', 'member') AND t.kind = c.kind AND t.deleted = 0 AND t.version >= c.version AND t.seq > c.seq)))
                 OR (owner = $3 AND deleted = 0 AND EXISTS (
                     SELECT 1 FROM assignments a WHERE a.household_id = {HH} AND a.enumerator_id = $3))
                 {WITHDRAWN}))
              OR (kind IN ('visit', 'review') AND owner = $3) OR kind = 'questionnaire')"
        }
        // The desk roles never pull (App::pull refuses them); were they to, only this.
        Role::Operator | Role::Verifier => {
            "(kind = 'questionnaire' AND CAST($3 AS TEXT) IS NOT NULL AND CAST({AFTER} AS TEXT) IS NOT NULL)"
        }
        Role::Supervisor | Role::Admin => {
            "((({AREA} AND (kind NOT IN ('household', 'member') OR owner IS NULL)) OR kind = 'questionnaire')
              AND CAST($3 AS TEXT) IS NOT NULL AND CAST({AFTER} AS TEXT) IS NOT NULL)"
        }
    };
    let (area, area_params) = scope.area_sql("area", 5);
    let not_own = format!(
        "(c.origin_device IS NULL OR c.origin_device <> ${})",
        5 + area_params.len()
    );
    // The household a household or member change is about; NULL for a member no longer in the
    // baseline, whose old details then reach nobody (only its deletion does).
    let household = "(CASE WHEN c.kind = 'household' THEN c.entity_id \
                     ELSE (SELECT m.household_id FROM members m WHERE m.id = c.entity_id) END)";
    let withdrawn = "OR (owner <> $3 AND deleted = 1 AND kind = 'household' AND c.at > {AFTER})";
    let visible = format!(
        "{} AND {not_own}",
        visible
            .replace("{AREA}", &area)
            .replace("{HH}", household)
            .replace("{WITHDRAWN}", withdrawn)
            .replace("{AFTER}", &format!("${}", 6 + area_params.len()))
    );
    let fetch = (limit + 1) as i64;
    let (sql, mut params) = match tx.dialect() {
        Dialect::Sqlite => {
            let after: i64 = cursor.parse().unwrap_or(0);
            (
                format!(
                    "SELECT c.seq, '', c.kind, c.entity_id, c.version, c.deleted, c.data, v.state, v.record
                     FROM changes c LEFT JOIN visits v ON c.kind = 'visit' AND v.id = c.entity_id
                     WHERE c.seq > $1 AND $2 = $2 AND {visible} ORDER BY c.seq LIMIT $4"
                ),
                vec![
                    after.into(),
                    Value::I64(0),
                    scope.user_id.into(),
                    fetch.into(),
                ],
            )
        }
        Dialect::Postgres => {
            // A bare number is a cursor of the SQLite server this one was migrated from: its
            // changes carry `MIGRATED_XID` here, so the device goes on right after change N.
            let migrated = crate::backup::MIGRATED_XID.to_string();
            let (xid, seq) = match cursor.split_once(':') {
                Some(parts) => parts,
                None if cursor.parse::<i64>().is_ok_and(|n| n > 0) => (migrated.as_str(), cursor),
                None => ("0", "0"),
            };
            let xid: i64 = xid.parse().unwrap_or(0);
            let seq: i64 = seq.parse().unwrap_or(0);
            (
                format!(
                    "SELECT c.seq, c.xid::text, c.kind, c.entity_id, c.version, c.deleted, c.data, v.state, v.record
                     FROM changes c LEFT JOIN visits v ON c.kind = 'visit' AND v.id = c.entity_id
                     WHERE (c.xid, c.seq) > ($1::text::xid8, $2) AND c.xid < pg_snapshot_xmin(pg_current_snapshot())
                       AND {visible} ORDER BY c.xid, c.seq LIMIT $4"
                ),
                vec![xid.to_string().into(), seq.into(), scope.user_id.into(), fetch.into()],
            )
        }
    };
    params.extend(area_params);
    params.push(device.into());
    params.push(withdrawn_after.into());
    if tx.dialect() == Dialect::Postgres {
        // The page is read along `changes_order` and stops at its limit, never sorted. The
        // visibility filter is estimated to keep a handful of rows of the whole feed, so the two
        // plans cost within a few percent of each other, and one made for a cursor's own value
        // (PostgreSQL's first five runs of a statement, and later ones while those look cheaper
        // than a generic plan) fetched every change after the cursor, filtered them and sorted
        // the survivors: each page of a first pull read the rest of the feed (5,343 changes for
        // a page of 50 in `a_postgres_feed_page_reads_no_further_than_its_limit`; a fresh
        // device's pull in the server bench took 0.21-0.31 s instead of 0.13 s with 20,000 visits
        // in the feed, 0.42 s instead of 0.18 s with 100,000). `SET LOCAL` lasts until the
        // caller's transaction ends: `App::pull` reads nothing after the page in it.
        tx.execute("SET LOCAL enable_sort = off", &[])?;
    }
    let mut rows = tx.query(&sql, &params)?;
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    let next = match rows.last() {
        None => cursor.to_string(),
        Some(r) => match tx.dialect() {
            Dialect::Sqlite => r.i64(0).to_string(),
            Dialect::Postgres => format!("{}:{}", r.text(1), r.i64(0)),
        },
    };
    let changes = rows
        .iter()
        .map(|r| {
            // Visit changes carry no copy: the visit's latest state and record are joined in.
            let data = match (r.text(2).as_str(), r.opt_text(7), r.opt_text(8)) {
                ("visit", Some(state), Some(record)) => {
                    format!(
                        "{{\"state\":\"{state}\",{}",
                        record.strip_prefix('{').unwrap_or(&record)
                    )
                }
                _ => r.text(6),
            };
            ChangeRow {
                kind: r.text(2),
                entity_id: r.text(3),
                version: r.i64(4),
                deleted: r.i64(5) != 0,
                data,
            }
        })
        .collect();
    Ok((changes, next, has_more))
}

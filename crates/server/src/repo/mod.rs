//! Every query of the server, written once over [`Sql`] for both backends. Reads of personal data
//! take a [`Scope`] and filter in SQL, so nothing outside the caller's areas can leak from a
//! forgotten check in a handler.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use uuid::Uuid;
use verivali_domain::{
    Areas, Household, Member, PresenceStatus, Questionnaire, RegionCode, Relationship, Role, Sex,
    VisitRecord, VisitState,
};

use crate::db::{DbError, DbResult, Dialect, Row, Sql, Value};

pub mod queue;

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
    /// The scope narrowed to one region (a reviewer's `area=` filter): the parts of the caller's
    /// areas inside `area`, or `area` itself where it lies inside one of them. Outside them all,
    /// the result sees nothing.
    pub fn narrow(&self, area: &RegionCode) -> Scope {
        let mut codes = Vec::new();
        for a in self.areas.codes() {
            if a.contains(area) {
                codes.push(area.clone());
            } else if area.contains(a) {
                codes.push(a.clone());
            }
        }
        Scope {
            areas: Areas::new(codes),
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

// ---------------------------------------------------------------- users, devices, tokens

/// A user.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// Id.
    pub id: Uuid,
    /// Username.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Areas.
    pub areas: Areas,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Disabled users cannot sign in.
    pub disabled: bool,
}

impl UserRow {
    /// The user as sign-in answers show them.
    pub fn info(&self) -> verivali_protocol::UserInfo {
        verivali_protocol::UserInfo {
            id: self.id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            role: self.role,
            areas: self
                .areas
                .codes()
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
        }
    }

    /// The user's scope.
    pub fn scope(&self) -> Scope {
        Scope {
            user_id: self.id,
            role: self.role,
            areas: self.areas.clone(),
        }
    }
}

const USER_COLS: &str = "id, username, display_name, role, areas, password_hash, disabled";

fn user_row(r: &Row) -> DbResult<UserRow> {
    let codes: Vec<String> = json(&r.text(4))?;
    let areas = codes
        .iter()
        .map(|c| RegionCode::parse(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| DbError::Corrupt(e.to_string()))?;
    Ok(UserRow {
        id: uuid(&r.text(0))?,
        username: r.text(1),
        display_name: r.text(2),
        role: Role::parse(&r.text(3)).ok_or_else(|| DbError::Corrupt("role".into()))?,
        areas: Areas::new(areas),
        password_hash: r.text(5),
        disabled: r.i64(6) != 0,
    })
}

/// Inserts a user; [`DbError::Duplicate`] when the username is taken.
pub fn insert_user(tx: &mut dyn Sql, u: &UserRow, now: DateTime<Utc>) -> DbResult<()> {
    let areas: Vec<&str> = u.areas.codes().iter().map(|c| c.as_str()).collect();
    tx.execute(
        "INSERT INTO users (id, username, display_name, role, areas, password_hash, disabled, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[u.id.into(), (&u.username).into(), (&u.display_name).into(), u.role.as_str().into(), to_json(&areas)?.into(),
          (&u.password_hash).into(), u.disabled.into(), ts(now).into()],
    )?;
    Ok(())
}

/// A user by username.
pub fn user_by_username(tx: &mut dyn Sql, username: &str) -> DbResult<Option<UserRow>> {
    tx.query_opt(
        &format!("SELECT {USER_COLS} FROM users WHERE username = $1"),
        &[username.into()],
    )?
    .map(|r| user_row(&r))
    .transpose()
}

/// A device.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Name.
    pub name: String,
    /// App version at the last sign-in.
    pub app_version: String,
    /// Highest seq acknowledged.
    pub acked_seq: u64,
    /// When an admin revoked it.
    pub revoked_at: Option<String>,
}

const DEVICE_COLS: &str = "id, user_id, name, app_version, acked_seq, revoked_at";

fn device_row(r: &Row) -> DbResult<DeviceRow> {
    Ok(DeviceRow {
        id: uuid(&r.text(0))?,
        user_id: uuid(&r.text(1))?,
        name: r.text(2),
        app_version: r.text(3),
        acked_seq: r.i64(4) as u64,
        revoked_at: r.opt_text(5),
    })
}

/// A device, locked for update.
pub fn device_for_update(tx: &mut dyn Sql, id: Uuid) -> DbResult<Option<DeviceRow>> {
    let sql = format!(
        "SELECT {DEVICE_COLS} FROM devices WHERE id = $1{}",
        lock(tx)
    );
    tx.query_opt(&sql, &[id.into()])?
        .map(|r| device_row(&r))
        .transpose()
}

/// Registers a device at sign-in, or refreshes its name, version and last-seen time.
pub fn upsert_device(
    tx: &mut dyn Sql,
    id: Uuid,
    user: Uuid,
    name: &str,
    app_version: &str,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let n = tx.execute(
        "UPDATE devices SET name = $1, app_version = $2, last_seen = $3 WHERE id = $4",
        &[name.into(), app_version.into(), ts(now).into(), id.into()],
    )?;
    if n == 0 {
        tx.execute(
            "INSERT INTO devices (id, user_id, name, app_version, acked_seq, revoked_at, first_seen, last_seen)
             VALUES ($1, $2, $3, $4, 0, NULL, $5, $5)",
            &[id.into(), user.into(), name.into(), app_version.into(), ts(now).into()],
        )?;
    }
    Ok(())
}

/// Records the device's new acknowledged seq.
pub fn set_device_acked(tx: &mut dyn Sql, id: Uuid, seq: u64, now: DateTime<Utc>) -> DbResult<()> {
    tx.execute(
        "UPDATE devices SET acked_seq = $1, last_seen = $2 WHERE id = $3",
        &[seq.into(), ts(now).into(), id.into()],
    )?;
    Ok(())
}

/// Revokes a device and every token it holds. Returns false when there is no such device.
pub fn revoke_device(tx: &mut dyn Sql, id: Uuid, now: DateTime<Utc>) -> DbResult<bool> {
    let n = tx.execute(
        "UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        &[ts(now).into(), id.into()],
    )?;
    tx.execute(
        "UPDATE tokens SET revoked_at = $1 WHERE device_id = $2 AND revoked_at IS NULL",
        &[ts(now).into(), id.into()],
    )?;
    Ok(n > 0
        || tx
            .query_opt("SELECT 1 FROM devices WHERE id = $1", &[id.into()])?
            .is_some())
}

/// Revokes one token (a dashboard sign-out).
pub fn revoke_token(tx: &mut dyn Sql, hash: &str, now: DateTime<Utc>) -> DbResult<()> {
    tx.execute(
        "UPDATE tokens SET revoked_at = $1 WHERE hash = $2 AND revoked_at IS NULL",
        &[ts(now).into(), hash.into()],
    )?;
    Ok(())
}

/// Stores a token (by its SHA-256, never the token itself).
pub fn insert_token(
    tx: &mut dyn Sql,
    hash: &str,
    user: Uuid,
    device: Uuid,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO tokens (hash, user_id, device_id, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, NULL)",
        &[hash.into(), user.into(), device.into(), ts(now).into(), ts(expires).into()],
    )?;
    Ok(())
}

/// What a token stands for.
#[derive(Debug, Clone)]
pub struct TokenRow {
    /// The user.
    pub user: UserRow,
    /// The device.
    pub device: DeviceRow,
    /// Expiry.
    pub expires_at: String,
    /// Revocation of the token.
    pub revoked_at: Option<String>,
}

/// Looks a token up by hash.
pub fn token(tx: &mut dyn Sql, hash: &str) -> DbResult<Option<TokenRow>> {
    let sql = "SELECT u.id, u.username, u.display_name, u.role, u.areas, u.password_hash, u.disabled,
                      d.id, d.user_id, d.name, d.app_version, d.acked_seq, d.revoked_at, t.expires_at, t.revoked_at
               FROM tokens t JOIN users u ON u.id = t.user_id JOIN devices d ON d.id = t.device_id
               WHERE t.hash = $1";
    let Some(r) = tx.query_opt(sql, &[hash.into()])? else {
        return Ok(None);
    };
    let user = user_row(&r)?;
    let device = device_row(&Row(r.0[7..13].to_vec()))?;
    Ok(Some(TokenRow {
        user,
        device,
        expires_at: r.text(13),
        revoked_at: r.opt_text(14),
    }))
}

// ---------------------------------------------------------------- households and members

fn household_row(r: &Row) -> DbResult<Household> {
    Ok(Household {
        id: uuid(&r.text(0))?,
        id_dtsen: r.opt_text(1),
        no_kk: r.opt_text(2),
        nama_krt: r.text(3),
        alamat: r.text(4),
        rt: r.text(5),
        rw: r.text(6),
        kode_desa: r.text(7),
        desil: r.opt_i64(8).map(|d| d as u8),
        version: r.i64(9),
    })
}

const HH_COLS: &str = "id, id_dtsen, no_kk, nama_krt, alamat, rt, rw, kode_desa, desil, version";

/// A household inside the caller's areas.
pub fn household_scoped(tx: &mut dyn Sql, scope: &Scope, id: Uuid) -> DbResult<Option<Household>> {
    let (area, mut params) = scope.area_sql("kode_desa", 2);
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
        let (area, area_params) = scope.area_sql("kode_desa", chunk.len() + 1);
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
                member_id: uuid(&r.text(0))?,
                nik: r.opt_text(1),
                name: r.text(2),
                sex: if r.text(3) == "P" { Sex::P } else { Sex::L },
                birth_place: r.opt_text(4),
                birth_date: r.opt_text(5).and_then(|d| d.parse().ok()),
                relationship: Relationship::try_from(r.i64(6) as u8)
                    .map_err(|e| DbError::Corrupt(e.to_string()))?,
                status: json::<PresenceStatus>(&format!("\"{}\"", r.text(7)))?,
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

// ---------------------------------------------------------------- visits, batches, ops

/// A visit as stored.
#[derive(Debug, Clone)]
pub struct VisitRow {
    /// The latest record.
    pub record: VisitRecord,
    /// Enumerator.
    pub enumerator_id: Uuid,
    /// Device.
    pub device_id: Uuid,
    /// Desa of the household (for scoping).
    pub kode_desa: String,
    /// State.
    pub state: VisitState,
    /// Batch it was submitted in.
    pub batch_id: Option<Uuid>,
}

/// Visits by id, locked for update, in one query (absent ids are missing from the map).
pub fn visits_for_update(tx: &mut dyn Sql, ids: &[Uuid]) -> DbResult<HashMap<Uuid, VisitRow>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT record, enumerator_id, device_id, kode_desa, state, batch_id FROM visits WHERE id IN ({}){}",
            marks.join(", "),
            lock(tx)
        );
        let params: Vec<Value> = chunk.iter().map(|id| (*id).into()).collect();
        for r in tx.query(&sql, &params)? {
            let v = visit_row(&r)?;
            out.insert(v.record.visit_id, v);
        }
    }
    Ok(out)
}

fn visit_row(r: &Row) -> DbResult<VisitRow> {
    Ok(VisitRow {
        record: json(&r.text(0))?,
        enumerator_id: uuid(&r.text(1))?,
        device_id: uuid(&r.text(2))?,
        kode_desa: r.text(3),
        state: VisitState::parse(&r.text(4)).ok_or_else(|| DbError::Corrupt("state".into()))?,
        batch_id: r.opt_text(5).map(|b| uuid(&b)).transpose()?,
    })
}

/// A visit, locked for update.
pub fn visit_for_update(tx: &mut dyn Sql, id: Uuid) -> DbResult<Option<VisitRow>> {
    let sql = format!(
        "SELECT record, enumerator_id, device_id, kode_desa, state, batch_id FROM visits WHERE id = $1{}",
        lock(tx)
    );
    let Some(r) = tx.query_opt(&sql, &[id.into()])? else {
        return Ok(None);
    };
    Ok(Some(VisitRow {
        record: json(&r.text(0))?,
        enumerator_id: uuid(&r.text(1))?,
        device_id: uuid(&r.text(2))?,
        kode_desa: r.text(3),
        state: VisitState::parse(&r.text(4)).ok_or_else(|| DbError::Corrupt("state".into()))?,
        batch_id: r.opt_text(5).map(|b| uuid(&b)).transpose()?,
    }))
}

/// Inserts or updates a visit whose record is already serialised (one upsert statement).
pub fn save_visit_json(
    tx: &mut dyn Sql,
    v: &VisitRow,
    record: &str,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let submitted = if v.state == VisitState::Submitted {
        Some(ts(now))
    } else {
        None
    };
    tx.execute(
        "INSERT INTO visits (id, household_id, enumerator_id, device_id, kode_desa, revision, state, outcome,
                             baseline_version, record, batch_id, submitted_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
         ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, state = excluded.state, outcome = excluded.outcome,
             baseline_version = excluded.baseline_version, record = excluded.record, batch_id = excluded.batch_id,
             submitted_at = coalesce(excluded.submitted_at, visits.submitted_at), updated_at = excluded.updated_at",
        &[v.record.visit_id.into(), v.record.household_id.into(), v.enumerator_id.into(), v.device_id.into(),
          (&v.kode_desa).into(), v.record.revision.into(), v.state.as_str().into(), v.record.outcome.as_str().into(),
          v.record.baseline_version.into(), record.into(), v.batch_id.into(), submitted.into(), ts(now).into()],
    )?;
    Ok(())
}

/// Changes only a visit's review state (and batch), leaving its record as it is.
pub fn set_visit_state(
    tx: &mut dyn Sql,
    id: Uuid,
    state: VisitState,
    batch: Option<Uuid>,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let submitted = if state == VisitState::Submitted {
        Some(ts(now))
    } else {
        None
    };
    tx.execute(
        "UPDATE visits SET state = $1, batch_id = $2, submitted_at = coalesce($3, submitted_at), updated_at = $4 WHERE id = $5",
        &[state.as_str().into(), batch.into(), submitted.into(), ts(now).into(), id.into()],
    )?;
    Ok(())
}

/// A review decision (immutable; one row per decision).
pub fn insert_review(tx: &mut dyn Sql, id: Uuid, e: &verivali_domain::ReviewEvent) -> DbResult<()> {
    let decision = to_json(&e.decision)?;
    tx.execute(
        "INSERT INTO reviews (id, visit_id, decision, reason, reviewer_id, at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[id.into(), e.visit_id.into(), decision.trim_matches('"').into(), e.reason.clone().into(), e.reviewer.into(), ts(e.at).into()],
    )?;
    Ok(())
}

/// The household as it was at a baseline version.
pub fn household_version(tx: &mut dyn Sql, id: Uuid, version: i64) -> DbResult<Option<Household>> {
    let Some(r) = tx.query_opt(
        "SELECT data FROM household_versions WHERE household_id = $1 AND version = $2",
        &[id.into(), version.into()],
    )?
    else {
        return Ok(None);
    };
    let v: serde_json::Value = json(&r.text(0))?;
    Ok(serde_json::from_value(v["household"].clone()).ok())
}

/// Records a batch.
pub fn insert_batch(
    tx: &mut dyn Sql,
    id: Uuid,
    enumerator: Uuid,
    device: Uuid,
    count: usize,
    now: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO batches (id, enumerator_id, device_id, visit_count, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[id.into(), enumerator.into(), device.into(), (count as i64).into(), ts(now).into()],
    )?;
    Ok(())
}

/// Claims an op id for this device as applied; false when the op id was seen before (then
/// nothing is written). A rejection is recorded afterwards with [`mark_op_rejected`].
#[allow(clippy::too_many_arguments)]
pub fn claim_op(
    tx: &mut dyn Sql,
    op_id: Uuid,
    device: Uuid,
    seq: u64,
    op_type: &str,
    hlc: &str,
    now: DateTime<Utc>,
) -> DbResult<bool> {
    let n = tx.execute(
        "INSERT INTO applied_ops (op_id, device_id, seq, type, status, error_code, error_message, hlc, applied_at)
         VALUES ($1, $2, $3, $4, 'applied', NULL, NULL, $5, $6) ON CONFLICT (op_id) DO NOTHING",
        &[op_id.into(), device.into(), seq.into(), op_type.into(), hlc.into(), ts(now).into()],
    )?;
    Ok(n == 1)
}

/// Records why a claimed op was rejected.
pub fn mark_op_rejected(tx: &mut dyn Sql, op_id: Uuid, code: &str, message: &str) -> DbResult<()> {
    tx.execute(
        "UPDATE applied_ops SET status = 'rejected', error_code = $1, error_message = $2 WHERE op_id = $3",
        &[code.into(), message.into(), op_id.into()],
    )?;
    Ok(())
}

// ---------------------------------------------------------------- attachments

/// Size of a complete attachment.
pub fn attachment(tx: &mut dyn Sql, sha: &str) -> DbResult<Option<u64>> {
    Ok(tx
        .query_opt(
            "SELECT size FROM attachments WHERE sha256 = $1",
            &[sha.into()],
        )?
        .map(|r| r.i64(0) as u64))
}

/// Records a verified attachment.
pub fn insert_attachment(
    tx: &mut dyn Sql,
    sha: &str,
    size: u64,
    by: Uuid,
    now: DateTime<Utc>,
) -> DbResult<()> {
    match tx.execute(
        "INSERT INTO attachments (sha256, size, uploaded_by, created_at) VALUES ($1, $2, $3, $4)",
        &[sha.into(), size.into(), by.into(), ts(now).into()],
    ) {
        Ok(_) | Err(DbError::Duplicate) => Ok(()),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------- questionnaire

/// The active questionnaire.
pub fn active_questionnaire(tx: &mut dyn Sql) -> DbResult<Option<Questionnaire>> {
    tx.query_opt(
        "SELECT json FROM questionnaires WHERE active = 1 ORDER BY version DESC LIMIT 1",
        &[],
    )?
    .map(|r| json(&r.text(0)))
    .transpose()
}

/// All questionnaire versions (visits may follow an older one).
pub fn questionnaire_version(
    tx: &mut dyn Sql,
    id: &str,
    version: u32,
) -> DbResult<Option<Questionnaire>> {
    tx.query_opt(
        "SELECT json FROM questionnaires WHERE id = $1 AND version = $2",
        &[id.into(), version.into()],
    )?
    .map(|r| json(&r.text(0)))
    .transpose()
}

/// Publishes a questionnaire version as the active one and announces it in the change feed.
pub fn publish_questionnaire(
    tx: &mut dyn Sql,
    q: &Questionnaire,
    now: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "UPDATE questionnaires SET active = 0 WHERE id = $1",
        &[(&q.id).into()],
    )?;
    let text = to_json(q)?;
    tx.execute(
        "INSERT INTO questionnaires (id, version, json, active, published_at) VALUES ($1, $2, $3, 1, $4)",
        &[(&q.id).into(), q.version.into(), text.clone().into(), ts(now).into()],
    )?;
    append_change(
        tx,
        "questionnaire",
        &format!("{}@{}", q.id, q.version),
        i64::from(q.version),
        false,
        "",
        None,
        &text,
        now,
    )
}

// ---------------------------------------------------------------- change feed

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

/// A change read from the feed.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    /// Kind.
    pub kind: String,
    /// Entity id.
    pub entity_id: String,
    /// Version.
    pub version: i64,
    /// Deleted.
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
pub fn pull(
    tx: &mut dyn Sql,
    scope: &Scope,
    device: Uuid,
    cursor: &str,
    limit: usize,
) -> DbResult<(Vec<ChangeRow>, String, bool)> {
    let visible = match scope.role {
        Role::Enumerator => {
            "((kind IN ('household', 'member') AND {AREA}) OR (kind IN ('visit', 'review') AND owner = $3) OR kind = 'questionnaire')"
        }
        Role::Supervisor | Role::Admin => {
            "(({AREA} OR kind = 'questionnaire') AND CAST($3 AS TEXT) IS NOT NULL)"
        }
    };
    let (area, area_params) = scope.area_sql("area", 5);
    let not_own = format!(
        "(c.origin_device IS NULL OR c.origin_device <> ${})",
        5 + area_params.len()
    );
    let visible = format!("{} AND {not_own}", visible.replace("{AREA}", &area));
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

// ---------------------------------------------------------------- audit

/// One audit entry: who did what to which personal data, from where.
#[derive(Debug, Clone, Default)]
pub struct Audit<'a> {
    /// Acting user.
    pub user_id: Option<Uuid>,
    /// Their username (kept even if the user is later renamed).
    pub username: Option<&'a str>,
    /// Device.
    pub device_id: Option<Uuid>,
    /// Network address.
    pub address: Option<&'a str>,
    /// What (`sync.pull`, `visit.record`, `session.create`, `import.households`…).
    pub action: &'a str,
    /// Kind of thing.
    pub entity_kind: Option<&'a str>,
    /// Which one.
    pub entity_id: Option<String>,
    /// More (counts, outcome, reason).
    pub detail: Option<String>,
}

/// Appends to the audit log (in the caller's transaction, so it commits with the action).
pub fn audit(tx: &mut dyn Sql, a: &Audit<'_>, now: DateTime<Utc>) -> DbResult<()> {
    tx.execute(
        "INSERT INTO audit (at, user_id, username, device_id, address, action, entity_kind, entity_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[ts(now).into(), a.user_id.into(), a.username.into(), a.device_id.into(), a.address.into(), a.action.into(),
          a.entity_kind.into(), a.entity_id.clone().into(), a.detail.clone().into()],
    )?;
    Ok(())
}

/// Counts audit entries of an action (for tests and the admin view).
pub fn audit_count(tx: &mut dyn Sql, action: &str) -> DbResult<i64> {
    Ok(tx
        .query_opt(
            "SELECT count(*) FROM audit WHERE action = $1",
            &[action.into()],
        )?
        .map_or(0, |r| r.i64(0)))
}

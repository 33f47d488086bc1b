//! Users, their devices and their tokens: sign-in, the device's acknowledged sequence, revocation.

use crate::db::{DbError, DbResult, Row, Sql};
use chrono::{DateTime, Utc};
use uuid::Uuid;
use verivali_domain::{Areas, RegionCode, Role};

use super::{Scope, json, lock, to_json, ts, uuid};

/// A user.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub areas: Areas,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Disabled users cannot sign in.
    pub disabled: bool,
    /// The password is a one-time one from a reset.
    pub must_change_password: bool,
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

const USER_COLS: &str =
    "id, username, display_name, role, areas, password_hash, disabled, must_change_password";

fn user_row(r: &Row) -> DbResult<UserRow> {
    let codes: Vec<String> = json(r.str(4))?;
    let areas = codes
        .iter()
        .map(|c| RegionCode::parse(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| DbError::Corrupt(e.to_string()))?;
    Ok(UserRow {
        id: uuid(r.str(0))?,
        username: r.text(1),
        display_name: r.text(2),
        role: Role::parse(r.str(3)).ok_or_else(|| DbError::Corrupt("role".into()))?,
        areas: Areas::new(areas),
        password_hash: r.text(5),
        disabled: r.i64(6) != 0,
        must_change_password: r.i64(7) != 0,
    })
}

/// Inserts a user; [`DbError::Duplicate`] when the username is taken.
pub fn insert_user(tx: &mut dyn Sql, u: &UserRow, now: DateTime<Utc>) -> DbResult<()> {
    let areas: Vec<&str> = u.areas.codes().iter().map(|c| c.as_str()).collect();
    tx.execute(
        "INSERT INTO users (id, username, display_name, role, areas, password_hash, disabled, created_at,
                            must_change_password)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[u.id.into(), (&u.username).into(), (&u.display_name).into(), u.role.as_str().into(), to_json(&areas)?.into(),
          (&u.password_hash).into(), u.disabled.into(), ts(now).into(), u.must_change_password.into()],
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

/// A user by id, locked for update: on PostgreSQL `FOR NO KEY UPDATE`, which two edits of the
/// user wait for but a foreign key's check does not. Why: an edit that ends the user's
/// assignments holds this row and then takes their households' locks, while a push of the user's
/// phone holds a household's lock and, writing its visit, checks this row for the foreign key
/// (a key-share lock, which `FOR UPDATE` blocks): each waited for the other, and PostgreSQL
/// failed one with a deadlock (`users::an_admin_ending_assignments_while_the_phone_pushes_…`).
/// The id, the only key, never changes.
pub fn user_for_update(tx: &mut dyn Sql, id: Uuid) -> DbResult<Option<UserRow>> {
    let lock = match tx.dialect() {
        crate::db::Dialect::Postgres => " FOR NO KEY UPDATE",
        crate::db::Dialect::Sqlite => "",
    };
    let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1{lock}");
    tx.query_opt(&sql, &[id.into()])?
        .map(|r| user_row(&r))
        .transpose()
}

/// A user as listed, with when it was created and last seen (any device or dashboard session).
pub struct ListedUser {
    pub user: UserRow,
    pub created_at: String,
    pub last_seen: Option<String>,
}

/// Every user (or the one of `id`), by username, with the role and disabled filters applied
/// (areas are the caller's to filter: they are JSON here).
pub fn list_users(
    tx: &mut dyn Sql,
    id: Option<Uuid>,
    role: Option<Role>,
    disabled: Option<bool>,
) -> DbResult<Vec<ListedUser>> {
    let mut w = super::Where::default();
    if let Some(id) = id {
        w.eq("u.id = ?", id);
    }
    if let Some(r) = role {
        w.eq("u.role = ?", r.as_str());
    }
    if let Some(d) = disabled {
        w.eq("u.disabled = ?", i64::from(d));
    }
    let cols = prefixed(USER_COLS, "u");
    let sql = format!(
        "SELECT {cols}, u.created_at, (SELECT max(d.last_seen) FROM devices d WHERE d.user_id = u.id)
         FROM users u WHERE {} ORDER BY u.username",
        w.sql()
    );
    tx.query(&sql, &w.params)?
        .iter()
        .map(|r| {
            Ok(ListedUser {
                user: user_row(r)?,
                created_at: r.text(8),
                last_seen: r.opt_text(9),
            })
        })
        .collect()
}

/// Active admins other than `except`.
pub fn other_active_admins(tx: &mut dyn Sql, except: Uuid) -> DbResult<u64> {
    let r = tx.query_opt(
        "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> $1",
        &[except.into()],
    )?;
    Ok(r.map_or(0, |r| r.i64(0).max(0) as u64))
}

/// Writes a user's name, role, areas, disabled mark and password (hash and one-time mark).
pub fn update_user(tx: &mut dyn Sql, u: &UserRow) -> DbResult<()> {
    let areas: Vec<&str> = u.areas.codes().iter().map(|c| c.as_str()).collect();
    tx.execute(
        "UPDATE users SET display_name = $1, role = $2, areas = $3, disabled = $4, password_hash = $5,
             must_change_password = $6 WHERE id = $7",
        &[(&u.display_name).into(), u.role.as_str().into(), to_json(&areas)?.into(), u.disabled.into(),
          (&u.password_hash).into(), u.must_change_password.into(), u.id.into()],
    )?;
    Ok(())
}

/// Sets a user's own new password (her one-time one used): the password columns alone.
pub fn set_password(tx: &mut dyn Sql, id: Uuid, hash: &str) -> DbResult<()> {
    tx.execute(
        "UPDATE users SET password_hash = $1, must_change_password = $2 WHERE id = $3",
        &[hash.into(), false.into(), id.into()],
    )?;
    Ok(())
}

/// A device.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    pub id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    pub name: String,
    /// App version at the last sign-in.
    pub app_version: String,
    /// Highest seq acknowledged.
    pub acked_seq: u64,
    /// When an admin revoked it.
    pub revoked_at: Option<String>,
    /// When an admin ordered it wiped (with the revocation): until the device confirms, its
    /// token may still send what it holds.
    pub wipe_requested_at: Option<String>,
    /// When the device confirmed the wipe.
    pub wiped_at: Option<String>,
}

impl DeviceRow {
    /// Revoked with a wipe the device has not confirmed yet: it may still push and upload.
    pub fn wipe_pending(&self) -> bool {
        self.wipe_requested_at.is_some() && self.wiped_at.is_none()
    }
}

const DEVICE_COLS: &str =
    "id, user_id, name, app_version, acked_seq, revoked_at, wipe_requested_at, wiped_at";

/// `cols` (`a, b`) with each name prefixed by a table alias (`u.a, u.b`).
fn prefixed(cols: &str, alias: &str) -> String {
    cols.split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn device_row(r: &Row) -> DbResult<DeviceRow> {
    Ok(DeviceRow {
        id: uuid(r.str(0))?,
        user_id: uuid(r.str(1))?,
        name: r.text(2),
        app_version: r.text(3),
        acked_seq: r.i64(4) as u64,
        revoked_at: r.opt_text(5),
        wipe_requested_at: r.opt_text(6),
        wiped_at: r.opt_text(7),
    })
}

/// A device, not locked (its owner never changes: a revocation reads it to lock the owner
/// first, [`device_for_update`] after).
pub fn device_by_id(tx: &mut dyn Sql, id: Uuid) -> DbResult<Option<DeviceRow>> {
    let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE id = $1");
    tx.query_opt(&sql, &[id.into()])?
        .map(|r| device_row(&r))
        .transpose()
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

/// Records the device's new acknowledged seq (a push).
pub fn set_device_acked(tx: &mut dyn Sql, id: Uuid, seq: u64, now: DateTime<Utc>) -> DbResult<()> {
    tx.execute(
        "UPDATE devices SET acked_seq = $1, last_seen = $2, last_push = $2 WHERE id = $3",
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
    pub user: UserRow,
    pub device: DeviceRow,
    /// Expiry.
    pub expires_at: String,
    /// Revocation of the token.
    pub revoked_at: Option<String>,
}

/// Looks a token up by hash.
pub fn token(tx: &mut dyn Sql, hash: &str) -> DbResult<Option<TokenRow>> {
    let sql = format!(
        "SELECT {}, {}, t.expires_at, t.revoked_at
         FROM tokens t JOIN users u ON u.id = t.user_id JOIN devices d ON d.id = t.device_id
         WHERE t.hash = $1",
        prefixed(USER_COLS, "u"),
        prefixed(DEVICE_COLS, "d")
    );
    let Some(r) = tx.query_opt(&sql, &[hash.into()])? else {
        return Ok(None);
    };
    let nu = USER_COLS.split(", ").count();
    let nd = DEVICE_COLS.split(", ").count();
    let user = user_row(&r)?;
    let device = device_row(&Row(r.0[nu..nu + nd].to_vec()))?;
    Ok(Some(TokenRow {
        user,
        device,
        expires_at: r.text(nu + nd),
        revoked_at: r.opt_text(nu + nd + 1),
    }))
}

/// A device as the admin console lists it, with its user.
pub struct ListedDevice {
    pub device: DeviceRow,
    pub user: UserRow,
    pub first_seen: String,
    pub last_seen: String,
    pub last_push: Option<String>,
}

/// Every device with its user, newest contact first (areas are the caller's to filter).
pub fn list_devices(tx: &mut dyn Sql) -> DbResult<Vec<ListedDevice>> {
    let nd = DEVICE_COLS.split(", ").count();
    let nu = USER_COLS.split(", ").count();
    let sql = format!(
        "SELECT {}, {}, d.first_seen, d.last_seen, d.last_push
         FROM devices d JOIN users u ON u.id = d.user_id ORDER BY d.last_seen DESC, d.id",
        prefixed(DEVICE_COLS, "d"),
        prefixed(USER_COLS, "u")
    );
    tx.query(&sql, &[])?
        .iter()
        .map(|r| {
            Ok(ListedDevice {
                device: device_row(r)?,
                user: user_row(&Row(r.0[nd..nd + nu].to_vec()))?,
                first_seen: r.text(nd + nu),
                last_seen: r.text(nd + nu + 1),
                last_push: r.opt_text(nd + nu + 2),
            })
        })
        .collect()
}

/// Marks a device revoked with a wipe to come. Its tokens stay, so that at its next contact it
/// can still send what it holds before it erases itself. False when there is no such device.
pub fn request_wipe(tx: &mut dyn Sql, id: Uuid, now: DateTime<Utc>) -> DbResult<bool> {
    let n = tx.execute(
        "UPDATE devices SET revoked_at = coalesce(revoked_at, $1), wipe_requested_at = coalesce(wipe_requested_at, $1)
         WHERE id = $2 AND wiped_at IS NULL",
        &[ts(now).into(), id.into()],
    )?;
    Ok(n > 0)
}

/// Records the device's confirmation that it erased itself, and ends its tokens.
pub fn confirm_wipe(tx: &mut dyn Sql, id: Uuid, now: DateTime<Utc>) -> DbResult<()> {
    tx.execute(
        "UPDATE devices SET wiped_at = $1 WHERE id = $2 AND wiped_at IS NULL",
        &[ts(now).into(), id.into()],
    )?;
    tx.execute(
        "UPDATE tokens SET revoked_at = $1 WHERE device_id = $2 AND revoked_at IS NULL",
        &[ts(now).into(), id.into()],
    )?;
    Ok(())
}

/// Records that a device begins pulling from the start, at `at` (RFC 3339).
pub fn set_feed_start(tx: &mut dyn Sql, device: Uuid, at: &str) -> DbResult<()> {
    tx.execute(
        "UPDATE devices SET feed_start = $1 WHERE id = $2",
        &[at.into(), device.into()],
    )?;
    Ok(())
}

/// When the device last began pulling from the start ("" when never recorded).
pub fn feed_start(tx: &mut dyn Sql, device: Uuid) -> DbResult<String> {
    Ok(tx
        .query_opt(
            "SELECT feed_start FROM devices WHERE id = $1",
            &[device.into()],
        )?
        .and_then(|r| r.opt_text(0))
        .unwrap_or_default())
}

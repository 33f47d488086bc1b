//! Admin jobs shared by the CLI and the API (DESIGN.md §10): users (list, create, change,
//! disable, reset a password) and devices (list, revoke, revoke with a wipe). Who may do what is
//! [`verivali_domain::user`]'s; every change is one transaction and audited.
//!
//! Disabling a user stops every token they hold at once (`auth.account_disabled`) without
//! revoking them: enabled again, their phone syncs the work it still holds, so a disable never
//! strands a visit; revoke the device as well when it is lost or the account compromised. A
//! password reset leaves the tokens alone (it is for a forgotten password): the one-time password
//! it answers is shown once (only its hash is kept) and the next sign-in must replace it. When a user stops being an
//! active enumerator somewhere, their assignments there end and the households are shared again.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use verivali_domain::user::{self as rules, Standing, UserError};
use verivali_domain::{Lang, Role};
use verivali_protocol::admin::{
    CreateUser, DeviceEntry, DeviceList, UserChanged, UserEntry, UserList, UserPatch,
};

use crate::app::{App, Caller};
use crate::db::{DbError, Sql};
use crate::error::{ApiError, Refusal};
use crate::repo::{self, Audit, ListedUser, UserRow};

/// A refusal of the user rules as an answer: 403 for a non-admin, 404 for a user outside the
/// admin's areas, 409 for a taken username, 422 for the rest.
fn refused(e: &UserError, lang: Lang) -> ApiError {
    let refusal = match e {
        UserError::NotAdmin => Refusal::Forbidden,
        UserError::OutsideAdmin => Refusal::NotFound,
        UserError::UsernameTaken(_) => Refusal::Conflict,
        _ => Refusal::Unprocessable,
    };
    ApiError::coded(refusal, "User change refused", e, lang)
}

fn time(s: &str) -> Option<DateTime<Utc>> {
    s.parse().ok()
}

fn entry(l: &ListedUser) -> UserEntry {
    let u = &l.user;
    UserEntry {
        id: u.id,
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        role: u.role,
        areas: u
            .areas
            .codes()
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
        disabled: u.disabled,
        must_change_password: u.must_change_password,
        created_at: time(&l.created_at).unwrap_or_default(),
        last_seen: l.last_seen.as_deref().and_then(time),
    }
}

/// The admin's role and areas, checked to be an admin's.
fn admin_of(caller: &Caller) -> Result<(), ApiError> {
    if caller.user.role != Role::Admin {
        return Err(refused(&UserError::NotAdmin, caller.lang));
    }
    Ok(())
}

fn hash(password: &str) -> Result<String, ApiError> {
    crate::auth::hash_password(password).map_err(|e| ApiError::internal(&e))
}

/// The listed form of one user, read in `tx`.
fn listed(tx: &mut dyn Sql, id: Uuid) -> Result<ListedUser, DbError> {
    repo::list_users(tx, Some(id), None, None)?
        .into_iter()
        .find(|l| l.user.id == id)
        .ok_or_else(|| DbError::Corrupt(format!("user {id} vanished")))
}

impl App {
    /// Creates a user (the CLI's `user add`), on the same rules as the console.
    pub fn add_user(
        &self,
        username: &str,
        display_name: &str,
        role: Role,
        areas: &[String],
        password: &str,
    ) -> anyhow::Result<Uuid> {
        let req = CreateUser {
            username: username.to_string(),
            display_name: display_name.to_string(),
            role: role.as_str().to_string(),
            areas: areas.to_vec(),
            password: password.to_string(),
        };
        let mut caller = Caller::operator();
        caller.lang = Lang::En;
        self.create_user(&caller, &req)
            .map(|c| c.user.id)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.detail))
    }

    /// `GET /api/v1/admin/users`: the users of the admin's areas (every area of theirs inside
    /// the admin's), narrowed by role, by an area they work in or cover, by disabled, and by a
    /// word of their username or name.
    pub fn list_users(
        &self,
        caller: &Caller,
        role: Option<&str>,
        area: Option<&str>,
        disabled: Option<bool>,
        q: Option<&str>,
    ) -> Result<UserList, ApiError> {
        let lang = caller.lang;
        admin_of(caller)?;
        let role = role
            .filter(|r| !r.is_empty())
            .map(rules::role)
            .transpose()
            .map_err(|e| refused(&e, lang))?;
        let q = q.map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty());
        let mut tx = self.db.read()?;
        let all = repo::list_users(tx.as_mut(), None, role, disabled)?;
        drop(tx);
        let users = all
            .iter()
            .filter(|l| rules::may_manage((Role::Admin, &caller.user.areas), &l.user.areas).is_ok())
            .filter(|l| area.is_none_or(|a| l.user.areas.overlaps(a)))
            .filter(|l| {
                q.as_ref().is_none_or(|q| {
                    l.user.username.to_lowercase().contains(q)
                        || l.user.display_name.to_lowercase().contains(q)
                })
            })
            .map(entry)
            .collect();
        Ok(UserList { users })
    }

    /// `POST /api/v1/admin/users`: a new user inside the admin's areas.
    pub fn create_user(&self, caller: &Caller, req: &CreateUser) -> Result<UserChanged, ApiError> {
        let lang = caller.lang;
        admin_of(caller)?;
        let no = |e: UserError| refused(&e, lang);
        let username = rules::username(&req.username).map_err(no)?;
        let display_name = rules::display_name(&req.display_name).map_err(no)?;
        let role = rules::role(&req.role).map_err(no)?;
        let areas = rules::areas_for(Some(&caller.user.areas), &req.areas).map_err(no)?;
        rules::areas_fit(role, &areas).map_err(no)?;
        rules::password(&req.password, &username).map_err(|w| no(UserError::WeakPassword(w)))?;
        // Argon2 before the transaction: it takes tens of milliseconds.
        let password_hash = hash(&req.password)?;
        let user = UserRow {
            id: Uuid::now_v7(),
            username,
            display_name,
            role,
            areas,
            password_hash,
            disabled: false,
            must_change_password: false,
        };
        let now = self.now();
        self.run_write(|tx: &mut dyn Sql| {
            match repo::insert_user(tx, &user, now) {
                Err(DbError::Duplicate) => {
                    return Ok(Err(no(UserError::UsernameTaken(user.username.clone()))));
                }
                r => r?,
            }
            let audit = Audit {
                entity_kind: Some("user"),
                entity_id: Some(user.id.to_string()),
                detail: Some(format!("{} {}", user.username, user.role.as_str())),
                ..caller.audit("user.add")
            };
            repo::audit(tx, &audit, now)?;
            Ok(Ok(UserChanged {
                user: entry(&listed(tx, user.id)?),
                one_time_password: None,
                assignments_ended: 0,
            }))
        })
    }

    /// `PATCH /api/v1/admin/users/{id}`: changes the given fields of a user of the admin's
    /// areas, or resets their password. Disabling stops every token they hold; their
    /// assignments where they no longer work as an active enumerator end.
    pub fn change_user(
        &self,
        caller: &Caller,
        id: Uuid,
        patch: &UserPatch,
    ) -> Result<UserChanged, ApiError> {
        let lang = caller.lang;
        admin_of(caller)?;
        let no = |e: UserError| refused(&e, lang);
        let display_name = patch
            .display_name
            .as_deref()
            .map(rules::display_name)
            .transpose()
            .map_err(no)?;
        let role = patch
            .role
            .as_deref()
            .map(rules::role)
            .transpose()
            .map_err(no)?;
        let areas = patch
            .areas
            .as_deref()
            .map(|a| rules::areas_for(Some(&caller.user.areas), a))
            .transpose()
            .map_err(no)?;
        let one_time = if patch.reset_password {
            let p = crate::auth::one_time_password().map_err(|e| ApiError::internal(&e))?;
            let h = hash(&p)?;
            Some((p, h))
        } else {
            None
        };
        let now = self.now();
        self.run_write(|tx: &mut dyn Sql| {
            let Some(old) = repo::user_for_update(tx, id)? else {
                return Ok(Err(no(UserError::OutsideAdmin)));
            };
            if let Err(e) = rules::may_manage((Role::Admin, &caller.user.areas), &old.areas) {
                return Ok(Err(no(e)));
            }
            let mut new = old.clone();
            if let Some(d) = &display_name {
                new.display_name = d.clone();
            }
            if let Some(r) = role {
                new.role = r;
            }
            if let Some(a) = &areas {
                new.areas = a.clone();
            }
            if let Some(d) = patch.disabled {
                new.disabled = d;
            }
            if let Err(e) = rules::areas_fit(new.role, &new.areas) {
                return Ok(Err(no(e)));
            }
            if let Some((_, h)) = &one_time {
                new.password_hash = h.clone();
                new.must_change_password = true;
            }
            let is_admin = |u: &UserRow| u.role == Role::Admin && !u.disabled;
            let standing = Standing {
                is_self: old.id == caller.user.id,
                active_admin: is_admin(&old),
                stays_active_admin: is_admin(&new),
                disables: new.disabled && !old.disabled,
                other_active_admins: repo::other_active_admins(tx, old.id)?,
            };
            if let Err(e) = rules::check_standing(&standing) {
                return Ok(Err(no(e)));
            }
            repo::update_user(tx, &new)?;
            let keep = (new.role == Role::Enumerator && !new.disabled).then_some(&new.areas);
            let ended =
                crate::assignments::end_assignments_of(tx, new.id, keep, caller.user.id, now)?;
            let mut what = Vec::new();
            if new.display_name != old.display_name {
                what.push("display_name".to_string());
            }
            if new.role != old.role {
                what.push(format!("role {}", new.role.as_str()));
            }
            if new.areas != old.areas {
                let codes: Vec<&str> = new.areas.codes().iter().map(|c| c.as_str()).collect();
                what.push(format!("areas {}", codes.join(" ")));
            }
            if new.disabled != old.disabled {
                what.push(if new.disabled { "disabled" } else { "enabled" }.to_string());
            }
            if one_time.is_some() {
                what.push("password reset".to_string());
            }
            if ended > 0 {
                what.push(format!("{ended} assignments ended"));
            }
            let audit = Audit {
                entity_kind: Some("user"),
                entity_id: Some(new.id.to_string()),
                detail: Some(format!("{}: {}", new.username, what.join(", "))),
                ..caller.audit("user.change")
            };
            repo::audit(tx, &audit, now)?;
            Ok(Ok(UserChanged {
                user: entry(&listed(tx, new.id)?),
                one_time_password: one_time.as_ref().map(|(p, _)| p.clone()),
                assignments_ended: ended,
            }))
        })
    }

    /// `GET /api/v1/admin/devices`: the devices of the users the admin manages (narrowed to the
    /// users working in or covering `area`), last seen first.
    pub fn list_devices(
        &self,
        caller: &Caller,
        area: Option<&str>,
    ) -> Result<DeviceList, ApiError> {
        admin_of(caller)?;
        let mut tx = self.db.read()?;
        let all = repo::list_devices(tx.as_mut())?;
        drop(tx);
        let t = |s: &Option<String>| s.as_deref().and_then(time);
        let devices = all
            .iter()
            .filter(|d| rules::may_manage((Role::Admin, &caller.user.areas), &d.user.areas).is_ok())
            .filter(|d| area.is_none_or(|a| d.user.areas.overlaps(a)))
            .map(|d| DeviceEntry {
                id: d.device.id,
                username: d.user.username.clone(),
                display_name: d.user.display_name.clone(),
                name: d.device.name.clone(),
                app_version: d.device.app_version.clone(),
                first_seen: time(&d.first_seen).unwrap_or_default(),
                last_seen: time(&d.last_seen).unwrap_or_default(),
                last_push: t(&d.last_push),
                acked_seq: d.device.acked_seq,
                revoked_at: t(&d.device.revoked_at),
                wipe_requested_at: t(&d.device.wipe_requested_at),
                wiped_at: t(&d.device.wiped_at),
            })
            .collect();
        Ok(DeviceList { devices })
    }

    /// Revokes a device: its tokens stop working at once and it cannot sign in again. With
    /// `wipe`, its token may still send what the device holds (push, photos) at its next
    /// contact; every other call answers `auth.device_wipe`, upon which the device, once nothing
    /// is left to send, confirms and erases its store and key. From the API only an admin of the
    /// device's user may do it (`caller` is `None` for the CLI).
    pub fn revoke_device(
        &self,
        caller: Option<&Caller>,
        device: Uuid,
        wipe: bool,
    ) -> Result<(), ApiError> {
        let lang = caller.map_or(Lang::En, |c| c.lang);
        if let Some(c) = caller {
            admin_of(c)?;
        }
        let not_found = || {
            ApiError::new(
                Refusal::NotFound,
                "device.not_found",
                "No such device",
                lang,
                "Perangkat tidak ditemukan",
                "No such device",
            )
        };
        let now = self.now();
        self.run_write(|tx: &mut dyn Sql| {
            // The owner's row before the device's, the order a sign-in takes them in: the other
            // way round, a revocation and a sign-in that changes the password each held one
            // and waited for the other (PostgreSQL; SQLite has one writer).
            let Some(d) = repo::device_by_id(tx, device)? else {
                return Ok(Err(not_found()));
            };
            if let Some(c) = caller {
                let Some(owner) = repo::user_for_update(tx, d.user_id)? else {
                    return Ok(Err(not_found()));
                };
                if rules::may_manage((Role::Admin, &c.user.areas), &owner.areas).is_err() {
                    return Ok(Err(not_found()));
                }
            }
            if repo::device_for_update(tx, device)?.is_none() {
                return Ok(Err(not_found()));
            }
            if wipe {
                repo::request_wipe(tx, device, now)?;
            } else {
                repo::revoke_device(tx, device, now)?;
            }
            let audit = Audit {
                user_id: caller.map(|c| c.user.id),
                username: caller.map(|c| c.user.username.as_str()),
                address: caller.map(|c| c.address.as_str()),
                action: if wipe {
                    "device.revoke_wipe"
                } else {
                    "device.revoke"
                },
                entity_kind: Some("device"),
                entity_id: Some(device.to_string()),
                ..Default::default()
            };
            repo::audit(tx, &audit, now)?;
            Ok(Ok(()))
        })
    }

    /// `POST /api/v1/sync/wiped`: the device, revoked with a wipe, sent what it held and erased
    /// itself. Its tokens end; the console shows when.
    pub fn confirm_wipe(&self, caller: &Caller) -> Result<(), ApiError> {
        if !caller.device.wipe_pending() {
            return Err(ApiError::new(
                Refusal::Conflict,
                "device.no_wipe",
                "No wipe ordered",
                caller.lang,
                "Tidak ada perintah hapus untuk perangkat ini",
                "No wipe was ordered for this device",
            ));
        }
        let now = self.now();
        self.run_write(|tx: &mut dyn Sql| {
            repo::confirm_wipe(tx, caller.device.id, now)?;
            let audit = Audit {
                entity_kind: Some("device"),
                entity_id: Some(caller.device.id.to_string()),
                ..caller.audit("device.wiped")
            };
            repo::audit(tx, &audit, now)?;
            Ok(Ok(()))
        })
    }
}

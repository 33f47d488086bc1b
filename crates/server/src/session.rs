//! `POST /api/v1/session`: sign-in of a user on a device.

use axum::http::header;
use verivali_domain::Lang;
use verivali_protocol::{SessionRequest, SessionResponse};

use crate::app::{App, MIN_APP_VERSION, Metrics, SCHEMAS, app_too_old, version_lt};
use crate::auth;
use crate::error::{ApiError, Refusal};
use crate::repo::{self, Audit};

fn invalid_credentials(lang: Lang) -> ApiError {
    ApiError::new(
        Refusal::Unauthorized,
        "auth.invalid_credentials",
        "Invalid credentials",
        lang,
        "Nama pengguna atau kata sandi salah",
        "Wrong username or password",
    )
}

/// 429 with `Retry-After`: the username is locked (`auth.throttled`) or the address sent too
/// many sign-ins (`auth.rate_limited`).
fn throttled(refusal: auth::Throttled, now: chrono::DateTime<chrono::Utc>, lang: Lang) -> ApiError {
    let (code, until, id, en) = match refusal {
        auth::Throttled::User(until) => (
            "auth.throttled",
            until,
            "Terlalu banyak percobaan masuk untuk akun ini",
            "Too many sign-in attempts for this account",
        ),
        auth::Throttled::Address(until) => (
            "auth.rate_limited",
            until,
            "Terlalu banyak percobaan masuk dari alamat ini",
            "Too many sign-in attempts from this address",
        ),
    };
    let secs = (until - now).num_seconds().max(1);
    let minutes = secs / 60 + 1;
    let mut e = ApiError::new(
        Refusal::TooManyRequests,
        code,
        "Too many attempts",
        lang,
        &format!("{id}; coba lagi dalam {minutes} menit"),
        &format!("{en}; try again in {minutes} minutes"),
    );
    e.headers.push((header::RETRY_AFTER, secs.to_string()));
    e
}

impl App {
    /// Signs a user in on a device. Unknown user and wrong password get the same answer (and take
    /// the same time); repeated failures for a username, or very many attempts from one address,
    /// answer 429 for a while ([`auth::Throttle`]).
    pub fn sign_in(
        &self,
        req: &SessionRequest,
        address: &str,
        lang: Lang,
    ) -> Result<SessionResponse, ApiError> {
        self.sign_in_as(req, address, lang, false)
    }

    /// Signs a supervisor or admin in on the dashboard: a session of
    /// [`auth::WEB_SESSION_HOURS`]; enumerators get 403 (their work is on the field app).
    pub fn sign_in_web(
        &self,
        username: &str,
        password: &str,
        new_password: Option<&str>,
        user_agent: &str,
        address: &str,
        lang: Lang,
    ) -> Result<SessionResponse, ApiError> {
        let req = SessionRequest {
            username: username.to_string(),
            password: password.to_string(),
            device: verivali_protocol::DeviceInfo {
                id: uuid::Uuid::now_v7(),
                name: format!(
                    "Dasbor web: {}",
                    user_agent.chars().take(80).collect::<String>()
                ),
                app_version: env!("CARGO_PKG_VERSION").to_string(),
            },
            new_password: new_password.map(str::to_string),
        };
        self.sign_in_as(&req, address, lang, true)
    }

    /// Ends a dashboard session: the token stops working at once.
    pub fn sign_out(&self, caller: &crate::app::Caller, token: &str) -> Result<(), ApiError> {
        let now = self.now();
        let mut tx = self.db.write()?;
        repo::revoke_token(tx.as_mut(), &auth::token_hash(token), now)?;
        repo::audit(tx.as_mut(), &caller.audit("session.end"), now)?;
        tx.commit()?;
        Ok(())
    }

    fn sign_in_as(
        &self,
        req: &SessionRequest,
        address: &str,
        lang: Lang,
        web: bool,
    ) -> Result<SessionResponse, ApiError> {
        let now = self.now();
        if req.username.len() > auth::MAX_USERNAME {
            // No such user can exist: answered like any unknown one, never counted or logged.
            return Err(invalid_credentials(lang));
        }
        if let Err(refusal) = self.throttle.attempt(&req.username, address, now) {
            return Err(throttled(refusal, now, lang));
        }
        if version_lt(&req.device.app_version, MIN_APP_VERSION) {
            return Err(app_too_old(lang));
        }
        let user = {
            let mut tx = self.db.read()?;
            repo::user_by_username(tx.as_mut(), &req.username)?
        };
        // Argon2 takes tens of milliseconds: no transaction stays open meanwhile.
        let hash = user
            .as_ref()
            .map_or(self.dummy_hash.as_str(), |u| u.password_hash.as_str());
        let password_ok = auth::verify_password(&req.password, hash);
        // A user with a one-time password sets a new one with this sign-in: checked and hashed
        // here, outside the transaction, once the old one proved right.
        let new_hash = match (&user, &req.new_password) {
            (Some(u), Some(new)) if password_ok && u.must_change_password && !u.disabled => {
                self.throttle.succeed(&req.username);
                verivali_domain::user::new_password(new, &req.password, &u.username).map_err(
                    |w| {
                        ApiError::coded(
                            Refusal::Unprocessable,
                            "Password not accepted",
                            &verivali_domain::UserError::WeakPassword(w),
                            lang,
                        )
                    },
                )?;
                Some(auth::hash_password(new).map_err(|e| ApiError::internal(&e))?)
            }
            _ => None,
        };
        let mut tx = self.db.write()?;
        // The user as she is now, locked (in the order a revocation takes her and her device):
        // the password was checked against a copy read before, and an admin may have disabled
        // her or reset her password since. Answered then as if the copy had said so; and a new
        // password is written alone, never with that copy's other columns (its `disabled` once
        // undid an admin's disabling made meanwhile).
        let current = match &user {
            Some(u) if password_ok => repo::user_for_update(tx.as_mut(), u.id)?,
            _ => None,
        };
        let checked = user.as_ref().map(|u| u.password_hash.as_str());
        let Some(user) =
            current.filter(|c| !c.disabled && Some(c.password_hash.as_str()) == checked)
        else {
            Metrics::add(&self.metrics.session_failures, 1);
            repo::audit(
                tx.as_mut(),
                &Audit {
                    username: Some(&req.username),
                    address: Some(address),
                    action: "session.failed",
                    ..Default::default()
                },
                now,
            )?;
            tx.commit()?;
            return Err(invalid_credentials(lang));
        };
        // The password was right: whatever refuses the session below is no guess.
        self.throttle.succeed(&req.username);
        if web && user.role == verivali_domain::Role::Enumerator {
            return Err(ApiError::new(
                Refusal::Forbidden,
                "auth.dashboard_role",
                "Not a reviewer",
                lang,
                "Dasbor hanya untuk pengawas dan admin; petugas memakai aplikasi lapangan",
                "The dashboard is for supervisors and admins; enumerators use the field app",
            ));
        }
        if user.must_change_password {
            let Some(hash) = new_hash else {
                return Err(ApiError::new(
                    Refusal::Forbidden,
                    "auth.password_change_required",
                    "Password change required",
                    lang,
                    "Kata sandi ini sekali pakai: buat kata sandi baru untuk masuk",
                    "This password is for one use: choose a new password to sign in",
                ));
            };
            repo::set_password(tx.as_mut(), user.id, &hash)?;
            let audit = Audit {
                user_id: Some(user.id),
                username: Some(&user.username),
                device_id: Some(req.device.id),
                address: Some(address),
                action: "user.password_changed",
                ..Default::default()
            };
            repo::audit(tx.as_mut(), &audit, now)?;
        }
        if let Some(existing) = repo::device_for_update(tx.as_mut(), req.device.id)? {
            if existing.revoked_at.is_some() {
                return Err(ApiError::unauthorized(lang, "auth.device_revoked"));
            }
            if existing.user_id != user.id {
                return Err(ApiError::new(
                    Refusal::Conflict,
                    "session.device_taken",
                    "Device belongs to another user",
                    lang,
                    "Perangkat ini terdaftar untuk petugas lain; pakai data perangkat baru",
                    "This device is registered to another user; start a new device store",
                ));
            }
        }
        repo::upsert_device(
            tx.as_mut(),
            req.device.id,
            user.id,
            &req.device.name,
            &req.device.app_version,
            now,
        )?;
        let (token, hash) = auth::new_token().map_err(|e| ApiError::internal(&e))?;
        let expires_at = if web {
            now + chrono::Duration::hours(auth::WEB_SESSION_HOURS)
        } else {
            auth::expiry(now)
        };
        repo::insert_token(tx.as_mut(), &hash, user.id, req.device.id, now, expires_at)?;
        repo::audit(
            tx.as_mut(),
            &Audit {
                user_id: Some(user.id),
                username: Some(&user.username),
                device_id: Some(req.device.id),
                address: Some(address),
                action: if web {
                    "session.create_web"
                } else {
                    "session.create"
                },
                ..Default::default()
            },
            now,
        )?;
        tx.commit()?;
        Metrics::add(&self.metrics.sessions, 1);
        Ok(SessionResponse {
            token,
            expires_at,
            user: user.info(),
            server_time: now,
            schemas: SCHEMAS.to_vec(),
            min_app_version: MIN_APP_VERSION.to_string(),
        })
    }
}

//! Accounts: Argon2id password hashes, bearer tokens that expire and can be revoked per device
//! (stored as SHA-256, never in clear), and login throttling that answers an unknown user and a
//! wrong password the same way.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a device token lives. Long enough for a week of offline work plus a margin, short
/// enough that a lost phone's token dies on its own; admins revoke sooner.
pub const TOKEN_TTL_DAYS: i64 = 14;
/// Failed sign-ins of one username within [`THROTTLE_WINDOW_MIN`] after which that username
/// answers 429 until the window has passed.
pub const MAX_FAILURES: u32 = 5;
/// Throttle window and lock time, minutes.
pub const THROTTLE_WINDOW_MIN: i64 = 15;
/// Sign-in attempts (good or bad) one client address may make per [`ADDRESS_WINDOW_MIN`]. Generous
/// on purpose: a kabupaten office, a training room or a carrier NAT puts dozens of honest people
/// behind one address, and the per-username lock already stops guessing at one account. This only
/// stops one address from spraying passwords over many accounts.
pub const ADDRESS_MAX_ATTEMPTS: u32 = 120;
/// Window of [`ADDRESS_MAX_ATTEMPTS`], minutes.
pub const ADDRESS_WINDOW_MIN: i64 = 10;

/// Hashes a password (Argon2id, random salt, PHC string).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(hash.to_string())
}

/// A hash of a password nobody has, verified against when the username is unknown so both
/// answers take the same time.
pub fn dummy_hash() -> String {
    hash_password("verivali-no-such-user").unwrap_or_default()
}

/// Checks a password against a PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// A new random token (`vv1.` + 32 random bytes, base64url) and its SHA-256 for storage.
pub fn new_token() -> anyhow::Result<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let token = format!(
        "vv1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A dashboard (browser) session lasts a working day, not the devices' two weeks.
pub const WEB_SESSION_HOURS: i64 = 12;

/// The CSRF token of a browser session: derived from the session token (which only the
/// HttpOnly cookie holds), so the server keeps no extra state and another site cannot know it.
pub fn csrf_token(token: &str) -> String {
    hex::encode(Sha256::digest(format!("verivali-csrf\0{token}").as_bytes()))
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Token expiry for a sign-in at `now`.
pub fn expiry(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::days(TOKEN_TTL_DAYS)
}

/// Sign-in throttling: a lock per username after repeated failures, and a generous rate limit per
/// client address (the address [`crate::net`] trusts, never a proxy's). In memory: a restart
/// forgets it, which only shortens a lock.
#[derive(Debug, Default)]
pub struct Throttle {
    /// Per lowercased username: failures and when the window began.
    users: Mutex<HashMap<String, (u32, DateTime<Utc>)>>,
    /// Per address: attempts and when the window began.
    addresses: Mutex<HashMap<String, (u32, DateTime<Utc>)>>,
}

/// Why a sign-in may not be tried now, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The username had [`MAX_FAILURES`] failures in the window.
    User(DateTime<Utc>),
    /// The address made [`ADDRESS_MAX_ATTEMPTS`] attempts in its window.
    Address(DateTime<Utc>),
}

/// Counts one event for `key` in a fixed window that starts at its first event.
fn count(
    map: &Mutex<HashMap<String, (u32, DateTime<Utc>)>>,
    key: &str,
    window: Duration,
    now: DateTime<Utc>,
) {
    if let Ok(mut map) = map.lock() {
        let e = map.entry(key.to_string()).or_insert((0, now));
        if now - e.1 >= window {
            *e = (0, now);
        }
        e.0 = e.0.saturating_add(1);
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| now - *since < window);
        }
    }
}

/// When `key` has `max` events in its current window: the time the window ends.
fn over(
    map: &Mutex<HashMap<String, (u32, DateTime<Utc>)>>,
    key: &str,
    max: u32,
    window: Duration,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let map = map.lock().ok()?;
    map.get(key)
        .filter(|(n, since)| *n >= max && now - *since < window)
        .map(|(_, since)| *since + window)
}

impl Throttle {
    /// Counts an attempt from `address` and says whether `username` may try now. The address is
    /// counted first, so a sprayer is limited even while each username it tries is still open.
    pub fn attempt(
        &self,
        username: &str,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let window = Duration::minutes(ADDRESS_WINDOW_MIN);
        if let Some(until) = over(&self.addresses, address, ADDRESS_MAX_ATTEMPTS, window, now) {
            return Err(Refusal::Address(until));
        }
        count(&self.addresses, address, window, now);
        let user = username.to_lowercase();
        match over(
            &self.users,
            &user,
            MAX_FAILURES,
            Duration::minutes(THROTTLE_WINDOW_MIN),
            now,
        ) {
            Some(until) => Err(Refusal::User(until)),
            None => Ok(()),
        }
    }

    /// Counts a failure against the username.
    pub fn fail(&self, username: &str, now: DateTime<Utc>) {
        count(
            &self.users,
            &username.to_lowercase(),
            Duration::minutes(THROTTLE_WINDOW_MIN),
            now,
        );
    }

    /// Clears the username's count after a success.
    pub fn succeed(&self, username: &str) {
        if let Ok(mut map) = self.users.lock() {
            map.remove(&username.to_lowercase());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens() {
        let h = hash_password("kata sandi panjang").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("kata sandi panjang", &h));
        assert!(!verify_password("salah", &h));
        assert!(!verify_password("x", "not a hash"));
        let (t, hash) = new_token().unwrap();
        assert!(t.starts_with("vv1.") && t.len() > 40);
        assert_eq!(token_hash(&t), hash);
        assert_ne!(new_token().unwrap().0, t);
    }

    #[test]
    fn a_username_locks_after_repeated_failures_and_opens_later() {
        let th = Throttle::default();
        let now = Utc::now();
        for _ in 0..MAX_FAILURES - 1 {
            assert!(th.attempt("Petugas", "10.0.0.1", now).is_ok());
            th.fail("Petugas", now);
        }
        assert!(th.attempt("petugas", "10.0.0.1", now).is_ok());
        th.fail("petugas", now);
        assert!(matches!(
            th.attempt("PETUGAS", "10.0.0.2", now),
            Err(Refusal::User(_))
        ));
        assert!(
            th.attempt("pengawas", "10.0.0.1", now).is_ok(),
            "one user's typos never lock a colleague behind the same address"
        );
        let later = now + Duration::minutes(THROTTLE_WINDOW_MIN + 1);
        assert!(th.attempt("petugas", "10.0.0.1", later).is_ok());
    }

    #[test]
    fn an_address_is_only_rate_limited() {
        let th = Throttle::default();
        let now = Utc::now();
        for i in 0..ADDRESS_MAX_ATTEMPTS {
            assert!(th.attempt(&format!("u{i}"), "10.0.0.9", now).is_ok());
        }
        assert!(matches!(
            th.attempt("u-next", "10.0.0.9", now),
            Err(Refusal::Address(_))
        ));
        assert!(th.attempt("u-next", "10.0.0.8", now).is_ok());
        let later = now + Duration::minutes(ADDRESS_WINDOW_MIN);
        assert!(th.attempt("u-next", "10.0.0.9", later).is_ok());
    }
}

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
/// Failures within [`THROTTLE_WINDOW_MIN`] after which sign-in answers 429.
pub const MAX_FAILURES: u32 = 5;
/// Throttle window and lock time, minutes.
pub const THROTTLE_WINDOW_MIN: i64 = 15;

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

/// Counts failed sign-ins per username and per address within a window. In memory: a restart
/// forgets it, which only shortens a lock.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, DateTime<Utc>)>>,
}

impl Throttle {
    /// When any of `keys` is locked, the time it opens again.
    pub fn locked_until(&self, keys: &[String], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let map = self.failures.lock().ok()?;
        keys.iter()
            .filter_map(|k| map.get(k))
            .filter(|(n, since)| {
                *n >= MAX_FAILURES && now - *since < Duration::minutes(THROTTLE_WINDOW_MIN)
            })
            .map(|(_, since)| *since + Duration::minutes(THROTTLE_WINDOW_MIN))
            .max()
    }

    /// Counts a failure against every key.
    pub fn fail(&self, keys: &[String], now: DateTime<Utc>) {
        if let Ok(mut map) = self.failures.lock() {
            for k in keys {
                let e = map.entry(k.clone()).or_insert((0, now));
                if now - e.1 >= Duration::minutes(THROTTLE_WINDOW_MIN) {
                    *e = (0, now);
                }
                e.0 += 1;
            }
            if map.len() > 100_000 {
                map.retain(|_, (_, since)| now - *since < Duration::minutes(THROTTLE_WINDOW_MIN));
            }
        }
    }

    /// Clears the username's count after a success.
    pub fn succeed(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
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
    fn throttle_locks_after_repeated_failures_and_opens_later() {
        let th = Throttle::default();
        let now = Utc::now();
        let keys = vec!["user:a".to_string(), "ip:1".to_string()];
        for _ in 0..MAX_FAILURES - 1 {
            th.fail(&keys, now);
        }
        assert!(th.locked_until(&keys, now).is_none());
        th.fail(&keys, now);
        assert!(th.locked_until(&keys, now).is_some());
        assert!(
            th.locked_until(&["ip:1".to_string()], now).is_some(),
            "the address is locked too"
        );
        assert!(
            th.locked_until(&keys, now + Duration::minutes(THROTTLE_WINDOW_MIN + 1))
                .is_none()
        );
    }
}

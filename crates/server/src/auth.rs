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
/// on purpose: a kabupaten office, a training room of 200 petugas signing in on the first day, or
/// a carrier NAT puts many honest people behind one address, and the per-username lock already
/// stops guessing at one account. This only stops one address from spraying passwords over many
/// accounts (at most 100 a minute).
pub const ADDRESS_MAX_ATTEMPTS: u32 = 1_000;
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

/// A one-time password from a reset: 12 letters and digits people do not confuse (no 0/O, 1/l/I),
/// in three groups to read aloud over the phone ("k7mq-3wzp-h9xe", about 62 bits).
pub fn one_time_password() -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let chars: Vec<char> = bytes
        .iter()
        // 256 % 31 leaves a bias of under 1 %: harmless for a password changed at first use.
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    Ok(chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
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
/// client address (the address [`crate::edge`] trusts, never a proxy's). In memory: a restart
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
pub enum Throttled {
    /// The username had [`MAX_FAILURES`] failures in the window.
    User(DateTime<Utc>),
    /// The address made [`ADDRESS_MAX_ATTEMPTS`] attempts in its window.
    Address(DateTime<Utc>),
}

/// Most keys a throttle map holds. Usernames are at most [`MAX_USERNAME`] bytes, so a full map
/// of usernames is a few megabytes.
const MAX_KEYS: usize = 100_000;
/// Longest username that can exist (`user add` refuses longer ones); longer sign-ins are refused
/// before they are counted or logged.
pub const MAX_USERNAME: usize = 64;

type Counts = Mutex<HashMap<String, (u32, DateTime<Utc>)>>;

/// Checks `key` against `max` events per window and counts this one, in one step under the
/// lock (so parallel requests cannot all pass before any is counted). `Err(until)` when `key`
/// already had `max` events in its current window.
fn check_and_count(
    map: &Counts,
    key: &str,
    max: u32,
    window: Duration,
    now: DateTime<Utc>,
    keep_when_full: fn(u32) -> bool,
) -> Result<(), DateTime<Utc>> {
    let Ok(mut map) = map.lock() else {
        return Ok(());
    };
    if let Some((n, since)) = map.get(key)
        && *n >= max
        && now - *since < window
    {
        return Err(*since + window);
    }
    if map.len() >= MAX_KEYS && !map.contains_key(key) {
        // Full: forget what has expired, then whatever the caller can spare.
        map.retain(|_, (n, since)| now - *since < window && keep_when_full(*n));
        if map.len() >= MAX_KEYS {
            map.clear();
        }
    }
    let e = map.entry(key.to_string()).or_insert((0, now));
    if now - e.1 >= window {
        *e = (0, now);
    }
    e.0 = e.0.saturating_add(1);
    Ok(())
}

/// The rate-limit key of an address: an IPv6 client is its /64 (one subscriber's prefix holds
/// billions of addresses), an IPv4 client its address.
fn address_key(address: &str) -> String {
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => address.to_string(),
    }
}

impl Throttle {
    /// Counts an attempt from `address` and one against `username`, and says whether the
    /// attempt may go on. The attempt counts against the username as a failure until
    /// [`Throttle::succeed`] clears it, so a burst of parallel guesses is limited like a
    /// sequence of them. The address is counted first, so a sprayer is limited even while each
    /// username it tries is still open.
    pub fn attempt(
        &self,
        username: &str,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Throttled> {
        check_and_count(
            &self.addresses,
            &address_key(address),
            ADDRESS_MAX_ATTEMPTS,
            Duration::minutes(ADDRESS_WINDOW_MIN),
            now,
            // Addresses under the limit can be forgotten when full.
            |n| n >= ADDRESS_MAX_ATTEMPTS,
        )
        .map_err(Throttled::Address)?;
        check_and_count(
            &self.users,
            &username.to_lowercase(),
            MAX_FAILURES,
            Duration::minutes(THROTTLE_WINDOW_MIN),
            now,
            // Locked usernames stay locked however many others are tried.
            |n| n >= MAX_FAILURES,
        )
        .map_err(Throttled::User)
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
        }
        assert!(th.attempt("petugas", "10.0.0.1", now).is_ok());
        assert!(matches!(
            th.attempt("PETUGAS", "10.0.0.2", now),
            Err(Throttled::User(_))
        ));
        assert!(
            th.attempt("pengawas", "10.0.0.1", now).is_ok(),
            "one user's typos never lock a colleague behind the same address"
        );
        let later = now + Duration::minutes(THROTTLE_WINDOW_MIN + 1);
        assert!(th.attempt("petugas", "10.0.0.1", later).is_ok());
        th.succeed("petugas");
        for _ in 0..MAX_FAILURES {
            assert!(
                th.attempt("petugas", "10.0.0.1", later).is_ok(),
                "a success clears"
            );
            th.succeed("petugas");
        }
    }

    #[test]
    fn an_ipv6_client_is_limited_by_its_prefix() {
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1"),
            address_key("2001:db8:1:2:bbbb::9")
        );
        assert_ne!(
            address_key("2001:db8:1:2::1"),
            address_key("2001:db8:1:3::1")
        );
        assert_eq!(address_key("10.1.2.3"), "10.1.2.3");
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
            Err(Throttled::Address(_))
        ));
        assert!(th.attempt("u-next", "10.0.0.8", now).is_ok());
        let later = now + Duration::minutes(ADDRESS_WINDOW_MIN);
        assert!(th.attempt("u-next", "10.0.0.9", later).is_ok());
    }
}

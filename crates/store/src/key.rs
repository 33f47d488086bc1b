//! The database key: Argon2id over the PIN with a random per-device salt. The salt and cost
//! parameters live in a small plaintext file beside the database (`<db>.keyparams`); they are not
//! secret, and without the PIN they open nothing.

use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism.
    pub p: u32,
}

impl KdfParams {
    /// For devices: OWASP's Argon2id minimum (19 MiB, 2 passes, 1 lane), about 50–150 ms on a
    /// cheap phone. The PIN has only 10^6 values, so the cost is what slows an offline guesser,
    /// with the file's encryption and the app's lockout.
    pub const DEVICE: KdfParams = KdfParams {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };
    /// For tests that open stores hundreds of times. Never for real data.
    pub const FAST_INSECURE: KdfParams = KdfParams {
        m_kib: 1024,
        t: 1,
        p: 1,
    };
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyFile {
    format: u32,
    kdf: String,
    salt: String,
    params: KdfParams,
}

/// The path of the key parameters file of a database.
pub fn key_file_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(".keyparams");
    PathBuf::from(name)
}

/// Writes a fresh random salt with `params`, atomically (temp file, fsync, rename).
pub(crate) fn create_key_file(db: &Path, params: KdfParams) -> Result<([u8; 16], KdfParams)> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| StoreError::KeyParams(e.to_string()))?;
    let file = KeyFile {
        format: 1,
        kdf: "argon2id-v19".into(),
        salt: hex::encode(salt),
        params,
    };
    let path = key_file_path(db);
    let tmp = path.with_extension("keyparams.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(serde_json::to_string_pretty(&file)?.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    Ok((salt, params))
}

/// Reads the salt and parameters.
pub(crate) fn read_key_file(db: &Path) -> Result<([u8; 16], KdfParams)> {
    let path = key_file_path(db);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| StoreError::KeyParams(format!("{}: {e}", path.display())))?;
    let file: KeyFile =
        serde_json::from_str(&text).map_err(|e| StoreError::KeyParams(e.to_string()))?;
    if file.format != 1 || file.kdf != "argon2id-v19" {
        return Err(StoreError::KeyParams(format!(
            "unknown key format {} {}",
            file.format, file.kdf
        )));
    }
    let bytes = hex::decode(&file.salt).map_err(|e| StoreError::KeyParams(e.to_string()))?;
    let salt: [u8; 16] = bytes
        .try_into()
        .map_err(|_| StoreError::KeyParams("salt must be 16 bytes".into()))?;
    Ok((salt, file.params))
}

/// Derives the 32-byte SQLCipher key from the PIN, as the `x'..'` literal `PRAGMA key` takes
/// (a raw key: SQLCipher's own PBKDF2 is skipped, Argon2id already did the stretching).
pub(crate) fn derive_key_literal(
    pin: &str,
    salt: &[u8; 16],
    p: KdfParams,
) -> Result<Zeroizing<String>> {
    let params = Params::new(p.m_kib, p.t, p.p, Some(32))
        .map_err(|e| StoreError::KeyParams(e.to_string()))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(pin.as_bytes(), salt, key.as_mut())
        .map_err(|e| StoreError::KeyParams(e.to_string()))?;
    Ok(Zeroizing::new(format!("x'{}'", hex::encode(key.as_ref()))))
}

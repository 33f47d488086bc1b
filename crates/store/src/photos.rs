//! Photos, content-addressed by SHA-256 and kept inside the encrypted database.

use crate::ExecCached;
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::{Store, ts};

/// Largest photo accepted (a phone camera JPEG resized by the app is far below this).
pub const MAX_PHOTO_BYTES: usize = 8 * 1024 * 1024;

impl Store {
    /// Stores a photo and returns its SHA-256 (lowercase hex). Storing the same bytes twice keeps
    /// one copy.
    pub fn save_photo(&mut self, bytes: &[u8], mime: &str) -> Result<String> {
        if bytes.len() > MAX_PHOTO_BYTES {
            return Err(crate::StoreError::Invalid(verivali_domain::Report {
                errors: vec![verivali_domain::At {
                    field: "photo".into(),
                    issue: verivali_domain::Invalid::PhotoTooLarge {
                        max_mb: MAX_PHOTO_BYTES / (1024 * 1024),
                    },
                }],
                warnings: vec![],
            }));
        }
        let sha = hex::encode(Sha256::digest(bytes));
        self.conn.exec_cached(
            "INSERT OR IGNORE INTO photos (sha256, mime, bytes, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![sha, mime, bytes, ts(self.clock.now())],
        )?;
        Ok(sha)
    }

    /// A photo's bytes.
    pub fn photo(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row(
                "SELECT bytes FROM photos WHERE sha256 = ?1",
                [sha256],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Photos the server does not hold yet (hash and size), oldest first.
    pub fn photos_to_upload(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT sha256, length(bytes) FROM photos WHERE uploaded = 0 ORDER BY created_at",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Records that the server holds a photo intact.
    pub fn mark_photo_uploaded(&mut self, sha256: &str) -> Result<()> {
        self.conn
            .execute("UPDATE photos SET uploaded = 1 WHERE sha256 = ?1", [sha256])?;
        Ok(())
    }

    /// A photo's size in bytes.
    pub fn photo_len(&self, sha256: &str) -> Result<Option<u64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT length(bytes) FROM photos WHERE sha256 = ?1",
                [sha256],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// `len` bytes of a photo from `offset`, for resumable upload.
    pub fn photo_chunk(&self, sha256: &str, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row(
                "SELECT substr(bytes, ?2 + 1, ?3) FROM photos WHERE sha256 = ?1",
                params![sha256, offset, len],
                |r| r.get(0),
            )
            .optional()?)
    }
}

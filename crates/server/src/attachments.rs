//! Resumable, content-addressed attachments (photos). Bytes are appended to
//! `attachments/partial/<sha256>` at the offset the client names; when the last byte arrives
//! (the `Upload-Length` header says how many there are) the SHA-256 is checked: a match moves the
//! file to `attachments/<sha256>` and records it, a mismatch discards it (422).

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::PathBuf;
use verivali_domain::Lang;
use verivali_domain::visit::is_sha256_hex;
use verivali_protocol::AttachmentStatus;

use crate::app::{App, Caller, Metrics};
use crate::error::{ApiError, Refusal};
use crate::repo::{self, Audit};

/// Largest attachment accepted.
pub const MAX_ATTACHMENT: u64 = 10 * 1024 * 1024;

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Complete and verified, with its size.
    Complete(u64),
    /// Partly uploaded, bytes held.
    Partial(u64),
    /// Nothing.
    None,
}

/// What a `PATCH` did: took bytes (or found the file already whole), or completed and stored it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patched {
    /// Bytes appended, or the file was already complete (a retried last chunk).
    Progress,
    /// This request completed the file and its hash matched.
    Created,
}

fn bad_hash(lang: Lang) -> ApiError {
    ApiError::new(
        Refusal::BadRequest,
        "attachment.bad_hash",
        "Bad hash",
        lang,
        "Nama lampiran harus SHA-256 (64 digit heksadesimal kecil)",
        "The attachment name must be a SHA-256 (64 lowercase hex digits)",
    )
}

impl App {
    fn partial_path(&self, sha: &str) -> PathBuf {
        self.attachments_dir.join("partial").join(sha)
    }

    /// The path of a complete attachment.
    pub fn attachment_path(&self, sha: &str) -> PathBuf {
        self.attachments_dir.join(sha)
    }

    /// What the server holds of an attachment.
    pub fn attachment_held(&self, sha: &str, lang: Lang) -> Result<Held, ApiError> {
        if !is_sha256_hex(sha) {
            return Err(bad_hash(lang));
        }
        let mut tx = self.db.read()?;
        if let Some(size) = repo::attachment(tx.as_mut(), sha)? {
            return Ok(Held::Complete(size));
        }
        Ok(match std::fs::metadata(self.partial_path(sha)) {
            Ok(m) => Held::Partial(m.len()),
            Err(_) => Held::None,
        })
    }

    /// Appends `bytes` at `offset` of an upload of `length` bytes in total.
    pub fn attachment_patch(
        &self,
        caller: &Caller,
        sha: &str,
        offset: u64,
        length: u64,
        bytes: &[u8],
    ) -> Result<(Patched, AttachmentStatus), ApiError> {
        let lang = caller.lang;
        if caller.user.role != verivali_domain::Role::Enumerator {
            return Err(ApiError::forbidden(lang));
        }
        if !is_sha256_hex(sha) {
            return Err(bad_hash(lang));
        }
        if length == 0 || length > MAX_ATTACHMENT {
            return Err(ApiError::new(
                Refusal::TooLarge,
                "attachment.too_large",
                "Attachment too large",
                lang,
                &format!(
                    "Lampiran harus 1 byte sampai {} MB",
                    MAX_ATTACHMENT / (1024 * 1024)
                ),
                &format!(
                    "An attachment must be 1 byte to {} MB",
                    MAX_ATTACHMENT / (1024 * 1024)
                ),
            ));
        }
        let _guard = self
            .upload_lock
            .lock()
            .map_err(|_| ApiError::internal(&"upload lock poisoned"))?;
        let status = |offset: u64, complete: bool| AttachmentStatus {
            sha256: sha.to_string(),
            upload_offset: offset,
            complete,
        };
        let current = match self.attachment_held(sha, lang)? {
            Held::Complete(size) => return Ok((Patched::Progress, status(size, true))),
            Held::Partial(n) => n,
            Held::None => 0,
        };
        if offset != current {
            return Err(ApiError::new(
                Refusal::Conflict,
                "attachment.offset_mismatch",
                "Offset mismatch",
                lang,
                &format!("Server memegang {current} byte; lanjutkan dari situ"),
                &format!("The server holds {current} bytes; continue from there"),
            )
            .with("upload_offset", serde_json::json!(current)));
        }
        let path = self.partial_path(sha);
        let new_len = current + bytes.len() as u64;
        if new_len > length {
            let _ = std::fs::remove_file(&path);
            return Err(ApiError::new(
                Refusal::Unprocessable,
                "attachment.too_long",
                "Longer than announced",
                lang,
                "Lampiran lebih panjang dari Upload-Length; dibuang",
                "The attachment is longer than Upload-Length; discarded",
            ));
        }
        let io = |e: std::io::Error| ApiError::internal(&e);
        {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io)?;
            f.write_all(bytes).map_err(io)?;
            f.sync_data().map_err(io)?;
        }
        if new_len < length {
            return Ok((Patched::Progress, status(new_len, false)));
        }
        let mut hasher = Sha256::new();
        let mut f = std::fs::File::open(&path).map_err(io)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        if hex::encode(hasher.finalize()) != sha {
            let _ = std::fs::remove_file(&path);
            return Err(ApiError::new(
                Refusal::Unprocessable,
                "attachment.hash_mismatch",
                "Hash mismatch",
                lang,
                "Isi lampiran tidak cocok dengan SHA-256-nya; dibuang, kirim ulang",
                "The content does not match its SHA-256; discarded, upload again",
            ));
        }
        std::fs::rename(&path, self.attachment_path(sha)).map_err(io)?;
        let now = self.now();
        let mut tx = self.db.write()?;
        repo::insert_attachment(tx.as_mut(), sha, length, caller.user.id, now)?;
        repo::audit(
            tx.as_mut(),
            &Audit {
                entity_kind: Some("attachment"),
                entity_id: Some(sha.to_string()),
                detail: Some(format!("{length} bytes")),
                ..caller.audit("attachment.upload")
            },
            now,
        )?;
        tx.commit()?;
        Metrics::add(&self.metrics.attachments, 1);
        Ok((Patched::Created, status(length, true)))
    }
}

//! `HEAD`/`PATCH /api/v1/attachments/{sha256}`: resumable, content-addressed photo upload.
//!
//! `HEAD` answers the bytes the server holds in the `Upload-Offset` header (404 when none).
//! `PATCH` carries bytes from `Upload-Offset`; the answer carries the new offset in the header and
//! as [`AttachmentStatus`]. On the last byte (the request's `Upload-Length` header, or the final
//! chunk flagged by `Upload-Complete: ?1`) the server checks the SHA-256: 201 when it matches, 422
//! (and the bytes are discarded) when it does not.

use serde::{Deserialize, Serialize};

/// Header with the byte offset.
pub const UPLOAD_OFFSET: &str = "Upload-Offset";
/// Header with the total length of the attachment.
pub const UPLOAD_LENGTH: &str = "Upload-Length";

/// The answer to `PATCH`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentStatus {
    /// The attachment's SHA-256 (lowercase hex).
    pub sha256: String,
    /// Bytes the server holds.
    pub upload_offset: u64,
    /// Whether the whole attachment arrived and matched its hash.
    pub complete: bool,
}

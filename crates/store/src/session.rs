//! The signed-in session of the device user: server address, token and expiry. Kept inside the
//! encrypted database, so the token is as safe as the data it opens.

use crate::ExecCached;
use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Store;
use crate::error::Result;

/// A session from the first online sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Server base URL.
    pub server_url: String,
    pub username: String,
    pub user_id: Uuid,
    /// Bearer token.
    pub token: String,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Stores the session (replacing any earlier one).
    pub fn set_session(&mut self, s: &Session) -> Result<()> {
        self.conn.exec_cached(
            "INSERT OR REPLACE INTO sync_state (key, value) VALUES ('session', ?1)",
            [serde_json::to_string(s)?],
        )?;
        Ok(())
    }

    /// The stored session, if the user signed in.
    pub fn session(&self) -> Result<Option<Session>> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM sync_state WHERE key = 'session'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.map(|s| serde_json::from_str(&s)).transpose()?)
    }
}

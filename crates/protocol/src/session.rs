//! `POST /api/v1/session`: sign-in of a user on a device.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use verivali_domain::Role;

/// The device signing in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Device id (UUIDv7, made at first start and kept).
    pub id: Uuid,
    /// A name people recognise ("HP Samsung A05 - Desa Sukamaju").
    pub name: String,
    /// App version (semver).
    pub app_version: String,
}

/// Sign-in request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRequest {
    pub username: String,
    /// Password (only ever sent over TLS in production).
    pub password: String,
    pub device: DeviceInfo,
    /// A new password, for a user whose password an admin reset: the sign-in answers
    /// `auth.password_change_required` (403) without it, and with it (checked by the password
    /// policy) sets it and signs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_password: Option<String>,
}

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// User id.
    pub id: Uuid,
    pub username: String,
    /// Name to show.
    pub display_name: String,
    pub role: Role,
    /// Region-code prefixes the user works in.
    pub areas: Vec<String>,
}

/// Sign-in answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionResponse {
    /// Bearer token for later calls.
    pub token: String,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
    pub user: UserInfo,
    /// The server's clock, for the device's HLC.
    pub server_time: DateTime<Utc>,
    /// Op schema versions the server accepts.
    #[serde(default)]
    pub schemas: Vec<u32>,
    /// Oldest app version the server still serves.
    #[serde(default)]
    pub min_app_version: String,
}

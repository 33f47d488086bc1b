//! User administration (DESIGN.md §10): `GET/POST /api/v1/admin/users` lists and creates the
//! users of the admin's areas, `PATCH /api/v1/admin/users/{id}` changes one (name, role, areas,
//! disabled) or resets its password.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use verivali_domain::Role;

/// A user as the admin console lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntry {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// Region-code prefixes the user works in.
    pub areas: Vec<String>,
    /// A disabled user cannot sign in, and their tokens do not work while disabled.
    pub disabled: bool,
    /// The password is a one-time one from a reset: the next sign-in must set a new one.
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
    /// Last contact of any of the user's devices or dashboard sessions.
    pub last_seen: Option<DateTime<Utc>>,
}

/// `GET /api/v1/admin/users?role=&area=&disabled=&q=`: by username.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserList {
    pub users: Vec<UserEntry>,
}

/// `POST /api/v1/admin/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateUser {
    pub username: String,
    pub display_name: String,
    /// `enumerator`, `supervisor` or `admin`.
    pub role: String,
    /// Region codes inside the admin's own areas.
    pub areas: Vec<String>,
    pub password: String,
}

/// `PATCH /api/v1/admin/users/{id}`: only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub areas: Option<Vec<String>>,
    /// `true` disables (every token of the user stops working at once, `auth.account_disabled`),
    /// `false` enables (the user's phones sync again what they hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// `true`: a one-time password replaces the user's, shown once in the answer; the user sets
    /// a new one at their next sign-in. Their devices' tokens keep working, so work on a phone
    /// still syncs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset_password: bool,
}

/// The answer of a create or a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserChanged {
    pub user: UserEntry,
    /// After a reset only, and only in this answer: the server keeps its hash alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_time_password: Option<String>,
    /// Households given to the user by name that went back to their area's shared list, because
    /// the user was disabled, is no longer an enumerator, or no longer works where they lie.
    #[serde(default)]
    pub assignments_ended: u64,
}

/// A device as the admin console lists it (`GET /api/v1/admin/devices?area=CODE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEntry {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    /// The device's own name ("Verivali android", "Dasbor web: …").
    pub name: String,
    pub app_version: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Last push that the server applied.
    pub last_push: Option<DateTime<Utc>>,
    /// Highest op seq acknowledged to it.
    pub acked_seq: u64,
    pub revoked_at: Option<DateTime<Utc>>,
    /// A wipe ordered with the revocation; the device erases itself at its next contact, after
    /// sending what it holds.
    pub wipe_requested_at: Option<DateTime<Utc>>,
    /// When the device confirmed it sent everything and erased itself.
    pub wiped_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/admin/devices`: the devices of the users of the admin's areas, last seen first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceList {
    pub devices: Vec<DeviceEntry>,
}

/// `POST /api/v1/admin/imports/households` (the baseline CSV as the body): the import runs in
/// the background; follow it at `GET /api/v1/admin/jobs/{job}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStarted {
    pub job: Uuid,
}

/// Where a background job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Done,
    Failed,
}

/// A line of a file that was not imported (or imported with a warning), with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineProblem {
    /// As a spreadsheet numbers it: the header is line 1.
    pub line: u64,
    pub code: String,
    pub message: String,
}

/// What a baseline import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineReport {
    /// Households new to the server.
    pub created: u64,
    /// Households whose baseline changed (a new version).
    pub updated: u64,
    /// Households already identical.
    pub unchanged: u64,
    /// Members written.
    pub members: u64,
    /// Rows refused, by line (also at `GET /api/v1/admin/jobs/{id}/bad-rows.csv`).
    pub bad_rows: Vec<LineProblem>,
    /// Rows imported with a warning.
    pub warnings: Vec<LineProblem>,
}

/// `GET /api/v1/admin/jobs/{id}`: progress (`rows_done` of `rows_total`, both 0 while the file
/// is read), then the report or why the job failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    pub id: Uuid,
    /// `import.households`.
    pub kind: String,
    pub state: JobState,
    pub rows_done: u64,
    pub rows_total: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub report: Option<BaselineReport>,
    /// Why it failed (a bad header, an unreadable file), in the caller's language.
    pub error: Option<String>,
}

/// `POST /api/v1/admin/regions` (CSV `kode,nama`, Kemendagri codes and names): rows inside the
/// admin's areas, or above them (their kabupaten and province), are kept; others are counted as
/// `outside` and left; bad rows are reported by line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionImport {
    /// Names new or changed.
    pub imported: u64,
    pub unchanged: u64,
    pub outside: u64,
    pub rejected: Vec<LineProblem>,
}

/// A region's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionName {
    pub kode: String,
    pub nama: String,
}

/// `GET /api/v1/regions`: the names of the caller's areas, the regions inside them and the
/// regions above them, by code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionList {
    pub regions: Vec<RegionName>,
}

/// A problem of an uploaded questionnaire schema, at the path of the offending part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaProblem {
    /// `sections[1].questions[3].choices`, or `line 4 column 9` of the JSON.
    pub path: String,
    pub code: String,
    pub message: String,
}

/// A questionnaire version uploaded and checked, not yet what devices pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionnaireDraft {
    pub id: Uuid,
    /// The questionnaire's own id and version.
    pub questionnaire_id: String,
    pub version: u32,
    pub uploaded_by: String,
    pub uploaded_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// The schema, for the preview.
    pub questionnaire: verivali_domain::Questionnaire,
}

/// A published version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedVersion {
    pub questionnaire_id: String,
    pub version: u32,
    pub published_at: DateTime<Utc>,
    /// The one devices pull and new visits follow.
    pub active: bool,
}

/// `GET /api/v1/admin/questionnaires`: the published versions (newest first) and the drafts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionnaireVersions {
    pub published: Vec<PublishedVersion>,
    pub drafts: Vec<QuestionnaireDraft>,
}

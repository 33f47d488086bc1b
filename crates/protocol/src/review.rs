//! Review calls: the queue (`GET /api/v1/review/visits`, one visit, batches, progress), decisions
//! (one visit, or a whole batch at once), and the admin's audit log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;
use verivali_domain::{Decision, Household, Member, VisitRecord, VisitState};

/// Who made a visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// User id.
    pub id: Uuid,
    pub username: String,
    /// Name to show.
    pub display_name: String,
}

/// A photo of a visit and whether it arrived intact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoStatus {
    /// SHA-256.
    pub sha256: String,
    /// Whether the server holds the verified bytes.
    pub present: bool,
    /// What it shows (`lainnya` for a device that sent no kind).
    #[serde(default = "other_kind")]
    pub kind: verivali_domain::PhotoKind,
}

fn other_kind() -> verivali_domain::PhotoKind {
    verivali_domain::PhotoKind::Lainnya
}

/// A field the baseline changed since the enumerator saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldConflict {
    /// Field path (`household.alamat`, `members[<id>].name`).
    pub field: String,
    /// Value in the baseline version the enumerator saw.
    pub seen: Value,
    /// Value in the baseline now.
    pub current: Value,
    /// Value the enumerator found.
    pub found: Value,
}

/// A visit as a reviewer sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewVisit {
    /// Review state.
    pub state: VisitState,
    pub enumerator: UserRef,
    /// Batch it was submitted in.
    pub batch_id: Option<Uuid>,
    /// When it was (last) submitted.
    pub submitted_at: Option<DateTime<Utc>>,
    /// The baseline household now (none for proposals).
    pub baseline: Option<Household>,
    /// Baseline members now.
    pub baseline_members: Vec<Member>,
    /// What the enumerator recorded.
    pub found: VisitRecord,
    /// Photos and whether they arrived.
    pub photos: Vec<PhotoStatus>,
    /// Baseline fields changed since the visit's `baseline_version`.
    pub conflicts: Vec<FieldConflict>,
    /// Other visits to the same household that weigh on this one: of its period (two visits to
    /// one household in a period are flagged) and of later periods (approving this one over them
    /// needs `supersede`).
    pub other_visits: Vec<Uuid>,
    /// Desa of the household.
    #[serde(default)]
    pub kode_desa: String,
    /// Earlier decisions on this visit, oldest first (decisions are immutable events).
    #[serde(default)]
    pub reviews: Vec<ReviewEntry>,
    /// Quality flags for the reviewer (codes of `flags` in the vocabulary, e.g.
    /// `quality.reassigned`: the household is assigned to someone else than the visit's
    /// enumerator).
    #[serde(default)]
    pub flags: Vec<String>,
    /// The quality flags computed at ingest (DESIGN.md §11), most severe first, each with the
    /// facts to check it by (`detail`); their codes are also in `flags`.
    #[serde(default)]
    pub quality: Vec<verivali_domain::quality::Flag>,
    /// The flags' weights added up: the queue's default order, highest first.
    #[serde(default)]
    pub risk: u32,
    /// The household's reference point: the fix of its last approved visit (another one), which
    /// `quality.gps_far` measures from; the dashboard's map draws both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_gps: Option<verivali_domain::Gps>,
}

/// One enumerator's work as the comparison shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumeratorQuality {
    pub enumerator: UserRef,
    /// Finished visits (drafts do not count).
    pub visits: u64,
    /// Visits per outcome wire name.
    pub by_outcome: BTreeMap<String, u64>,
    /// Median duration, seconds (foreground time where the device measured it).
    pub median_duration_s: Option<u32>,
    /// Share of visits with at least one flag, 0–1.
    pub flagged_share: f64,
    /// Share of visits carrying each flag code, 0–1.
    pub flagged_share_by_code: BTreeMap<String, f64>,
    /// Days with a finished visit.
    pub days: u64,
    /// Visits per such day.
    pub visits_per_day: f64,
}

/// `GET /api/v1/review/enumerators`: the enumerators of an area side by side, most flagged first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumeratorComparison {
    pub enumerators: Vec<EnumeratorQuality>,
    /// Every flag code, in the order the dashboard lists them.
    pub codes: Vec<String>,
}

/// `POST /api/v1/review/batches/{id}/approve` body (optional): the flagged visits the supervisor
/// looked at one by one and confirms; any other flagged visit is refused (`review.flagged`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkApproveRequest {
    #[serde(default)]
    pub confirmed: Vec<Uuid>,
}

/// `POST /api/v1/review/verify`: the verifikator confirms, per desa (or any area of theirs) and
/// period, every visit the supervisors approved there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyRequest {
    pub area: String,
    /// A period's name: only visits finished within it (by its cut-off); every one when absent.
    #[serde(default)]
    pub period: Option<String>,
}

/// One decision taken on a visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewEntry {
    /// Approve, reject or reopen.
    pub decision: Decision,
    /// The reviewer's reason.
    pub reason: Option<String>,
    /// Who decided (username).
    pub reviewer: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The review list: one page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewList {
    /// Visits in id order (visit ids are time-ordered: oldest first).
    pub visits: Vec<ReviewVisit>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(default)]
    pub next_after: Option<Uuid>,
}

/// A submitted batch and where its visits stand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSummary {
    pub batch_id: Uuid,
    /// Who submitted it.
    pub enumerator: UserRef,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
    /// Visits in the batch (inside the caller's areas).
    pub visit_count: u64,
    /// Count per review state (`submitted`, `approved`, `rejected`, `draft`).
    pub states: BTreeMap<String, u64>,
}

/// The batches a reviewer sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchList {
    /// Batches, newest first.
    pub batches: Vec<BatchSummary>,
}

/// The outcome of a bulk decision for one visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkResult {
    /// The visit.
    pub visit_id: Uuid,
    /// Its new state when the decision was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<VisitState>,
    /// Why it was not (photos missing, conflicts to settle, state changed…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::OpError>,
}

/// The answer to a bulk approval: one result per visit; one refusal never blocks the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkResponse {
    /// Results in visit order.
    pub results: Vec<BulkResult>,
}

/// Progress counts of one desa.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaProgress {
    /// Desa code.
    pub kode_desa: String,
    /// Households in the baseline (all to be visited, whoever visits them).
    pub assigned: u64,
    /// Of them, given to one enumerator by name; the rest are shared by the area's enumerators.
    #[serde(default)]
    pub given: u64,
    /// Given households the assignee's device has pulled.
    #[serde(default)]
    pub received: u64,
    /// Given households past their due date with no visit submitted or approved.
    #[serde(default)]
    pub overdue: u64,
    /// Households with at least one visit on the server.
    pub visited: u64,
    /// Visits per state.
    pub draft: u64,
    /// Waiting for review.
    pub submitted: u64,
    pub approved: u64,
    /// Sent back.
    pub rejected: u64,
}

/// Progress counts of one enumerator (inside the caller's areas).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnumeratorProgress {
    pub enumerator: UserRef,
    /// Their areas.
    pub areas: Vec<String>,
    /// Households given to them by name.
    pub assigned: u64,
    /// Households of their areas nobody was given, which they may visit too.
    #[serde(default)]
    pub shared: u64,
    /// Of their assigned households, those their device has pulled.
    #[serde(default)]
    pub received: u64,
    /// Of their assigned households, those past the due date with no visit submitted or approved.
    #[serde(default)]
    pub overdue: u64,
    /// Households they visited.
    pub visited: u64,
    /// Visits per state.
    pub draft: u64,
    /// Waiting for review.
    pub submitted: u64,
    pub approved: u64,
    /// Sent back.
    pub rejected: u64,
}

/// `GET /api/v1/review/progress`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Per desa.
    pub areas: Vec<AreaProgress>,
    /// Per enumerator.
    pub enumerators: Vec<EnumeratorProgress>,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log.
    pub seq: i64,
    /// When.
    pub at: String,
    /// Who (username as it was).
    pub username: Option<String>,
    /// From which device.
    pub device_id: Option<String>,
    /// From which address.
    pub address: Option<String>,
    /// What.
    pub action: String,
    /// Kind of thing.
    pub entity_kind: Option<String>,
    /// Which one.
    pub entity_id: Option<String>,
    /// More.
    pub detail: Option<String>,
    /// The record's name where it has one: a visit's or household's head of household, a user's
    /// display name, a device's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_name: Option<String>,
}

/// `GET /api/v1/admin/audit`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for older entries; absent at the start of the log.
    #[serde(default)]
    pub next_before: Option<i64>,
}

/// A decision on one visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRequest {
    /// Approve, reject (or reopen, admins only).
    pub decision: Decision,
    /// Required for reject and reopen.
    #[serde(default)]
    pub reason: Option<String>,
    /// For conflicting fields: `"found"` or `"current"` per field path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resolutions: BTreeMap<String, String>,
    /// With `approve`, when another visit of the household is submitted or approved
    /// (`verivali_domain::review::second_truths`): `true` makes those `superseded`, the
    /// reviewer's deliberate choice after comparing them. Without it such an approval answers
    /// 409 `review.second_visit` with the other visits (`others`), and nothing changes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub supersede: bool,
}

/// The answer to a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionResponse {
    /// The visit.
    pub visit_id: Uuid,
    /// Its new state.
    pub state: VisitState,
    /// When the decision was taken.
    pub decided_at: DateTime<Utc>,
    /// Other visits of the household this approval superseded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub superseded: Vec<Uuid>,
}

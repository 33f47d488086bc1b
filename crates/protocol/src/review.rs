//! Review calls: `GET /api/v1/review/visits` and `POST /api/v1/review/visits/{id}/decision`.

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
    /// Username.
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
    /// The enumerator.
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
    /// Other visits to the same household.
    pub other_visits: Vec<Uuid>,
}

/// The review list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewList {
    /// Visits, oldest submission first.
    pub visits: Vec<ReviewVisit>,
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
}

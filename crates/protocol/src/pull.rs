//! `GET /api/v1/sync/pull?cursor=C&limit=N`: what changed for the caller since a cursor.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use verivali_domain::{Household, Member, Questionnaire, ReviewEvent, VisitRecord, VisitState};

use crate::ProtocolError;

/// Kind of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A baseline household ([`Household`]).
    Household,
    /// A member ([`MemberChange`]).
    Member,
    /// One of the caller's visits ([`VisitChange`]).
    Visit,
    /// A review decision about the caller's visit ([`ReviewEvent`]).
    Review,
    /// The active questionnaire ([`Questionnaire`]).
    Questionnaire,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// Id of the thing (a UUID, or `questionnaire-id@version`).
    pub id: String,
    /// Version of the thing after the change.
    pub version: i64,
    /// Whether the thing is gone (or left the caller's view).
    pub deleted: bool,
    /// The thing itself (null when deleted).
    pub data: Value,
}

/// A member with its household.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberChange {
    /// The household.
    pub household_id: Uuid,
    #[serde(flatten)]
    pub member: Member,
}

/// One of the caller's own visits, with its review state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitChange {
    /// Review state on the server.
    pub state: VisitState,
    /// The latest revision the server holds.
    #[serde(flatten)]
    pub record: VisitRecord,
}

/// The typed data of a change.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeData {
    Household(Box<Household>),
    Member(Box<MemberChange>),
    Visit(Box<VisitChange>),
    /// Review decision.
    Review(ReviewEvent),
    Questionnaire(Box<Questionnaire>),
}

impl Change {
    /// What a household change says of the caller's assignment (DESIGN.md §9): `None` when it
    /// says nothing (a baseline update; what the device knew stands), `Some(None)` when the
    /// household is shared, `Some(Some(terms))` when it is the caller's; terms this build cannot
    /// read count as saying nothing. Older apps ignore the `assignment` key, as every unknown key.
    pub fn assignment(&self) -> Option<Option<verivali_domain::assignment::Terms>> {
        if self.kind != ChangeKind::Household || self.deleted {
            return None;
        }
        let v = self.data.get("assignment")?;
        if v.is_null() {
            return Some(None);
        }
        // Terms this app cannot read (a newer source) leave what the device knew.
        serde_json::from_value(v.clone()).ok().map(Some)
    }

    /// Decodes the data by kind (`None` for deletions).
    pub fn decode(&self) -> Result<Option<ChangeData>, ProtocolError> {
        if self.deleted {
            return Ok(None);
        }
        let err = |e: serde_json::Error| ProtocolError::ChangeData {
            kind: format!("{:?}", self.kind).to_lowercase(),
            detail: e.to_string(),
        };
        let d = &self.data;
        Ok(Some(match self.kind {
            ChangeKind::Household => {
                ChangeData::Household(Box::new(Household::deserialize(d).map_err(err)?))
            }
            ChangeKind::Member => {
                ChangeData::Member(Box::new(MemberChange::deserialize(d).map_err(err)?))
            }
            ChangeKind::Visit => {
                ChangeData::Visit(Box::new(VisitChange::deserialize(d).map_err(err)?))
            }
            ChangeKind::Review => ChangeData::Review(ReviewEvent::deserialize(d).map_err(err)?),
            ChangeKind::Questionnaire => {
                ChangeData::Questionnaire(Box::new(Questionnaire::deserialize(d).map_err(err)?))
            }
        }))
    }
}

/// A page of changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullResponse {
    /// Changes in commit order.
    pub changes: Vec<Change>,
    /// Opaque cursor to ask from next time (assigned by the server in commit order).
    pub next_cursor: String,
    /// Whether more pages wait.
    pub has_more: bool,
    /// The server's clock.
    pub server_time: DateTime<Utc>,
}

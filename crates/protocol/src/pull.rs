//! `GET /api/v1/sync/pull?cursor=C&limit=N`: what changed for the caller since a cursor.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
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

/// One change. Its data travels as raw JSON text: the server writes what it stored without
/// building a tree, and the device decodes each kind straight from the text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// Id of the thing (a UUID, or `questionnaire-id@version`).
    pub id: String,
    /// Version of the thing after the change.
    pub version: i64,
    /// Whether the thing is gone (or left the caller's view).
    pub deleted: bool,
    /// The thing itself (null when deleted).
    pub data: Box<RawValue>,
}

impl PartialEq for Change {
    fn eq(&self, o: &Change) -> bool {
        (
            self.kind,
            &self.id,
            self.version,
            self.deleted,
            self.data.get(),
        ) == (o.kind, &o.id, o.version, o.deleted, o.data.get())
    }
}

/// A key that is present, even as `null` (`Some(Value::Null)`), told from one that is absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct AssignmentKey {
    #[serde(default, deserialize_with = "present")]
    assignment: Option<Value>,
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
        let v = serde_json::from_str::<AssignmentKey>(self.data.get())
            .ok()?
            .assignment?;
        if v.is_null() {
            return Some(None);
        }
        // Terms this app cannot read (a newer source) leave what the device knew.
        serde_json::from_value(v).ok().map(Some)
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
        let d = self.data.get();
        Ok(Some(match self.kind {
            ChangeKind::Household => {
                ChangeData::Household(Box::new(serde_json::from_str(d).map_err(err)?))
            }
            ChangeKind::Member => {
                ChangeData::Member(Box::new(serde_json::from_str(d).map_err(err)?))
            }
            ChangeKind::Visit => ChangeData::Visit(Box::new(serde_json::from_str(d).map_err(err)?)),
            ChangeKind::Review => ChangeData::Review(serde_json::from_str(d).map_err(err)?),
            ChangeKind::Questionnaire => {
                ChangeData::Questionnaire(Box::new(serde_json::from_str(d).map_err(err)?))
            }
        }))
    }

    /// The data as a JSON tree (for tests and tools; the sync path decodes it by kind).
    pub fn value(&self) -> Value {
        serde_json::from_str(self.data.get()).unwrap_or(Value::Null)
    }

    /// Raw JSON `null`, the data of a deletion.
    pub fn null() -> Box<RawValue> {
        RawValue::NULL.to_owned()
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
    /// On the last page: a stamp of the reference data a device fetches beside the feed (its
    /// region names, `GET /api/v1/regions`, and the periods, `GET /api/v1/periods`). It changes
    /// when they do (with periods, also once a day: their views count the days to the cut-off);
    /// a device that kept the same stamp skips those two requests, so an idle sync is one round
    /// trip. Absent from older servers: fetch them every sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refs: Option<String>,
}

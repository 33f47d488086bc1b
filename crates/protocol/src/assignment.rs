//! Assignment calls (DESIGN.md §9): `POST /api/v1/assignments` gives households to an enumerator,
//! `GET /api/v1/assignments` lists them, `DELETE /api/v1/assignments/{household_id}` shares a
//! household again.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use verivali_domain::AssignmentSource;

/// Which households go to whom: listed by id, or every household inside an area. Exactly one of
/// `household_ids` and `area` is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignRequest {
    /// The enumerator's username.
    pub enumerator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household_ids: Option<Vec<Uuid>>,
    /// A region code (desa, or a kecamatan: every household inside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<NaiveDate>,
    /// `baseline` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<AssignmentSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How many households the call gave to the enumerator: newly (`assigned`, shared until now) or
/// from a colleague (`reassigned`). A household already theirs with the same terms counts in
/// neither, so repeating a call changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignResponse {
    pub assigned: u64,
    pub reassigned: u64,
    /// Already theirs, with the due date, source or note updated.
    pub updated: u64,
}

/// One assignment as a reviewer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentEntry {
    pub household_id: Uuid,
    /// The enumerator's username.
    pub enumerator: String,
    pub due_date: Option<NaiveDate>,
    pub source: AssignmentSource,
    pub note: Option<String>,
    pub assigned_at: DateTime<Utc>,
    /// When the enumerator's device first pulled the household; `None` until then.
    pub received_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/assignments`: the assignments in the caller's areas (narrowed by `area=` and
/// `enumerator=`), in household-id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentList {
    pub assignments: Vec<AssignmentEntry>,
}

/// A row of an assignment import that was not applied, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowProblem {
    /// The row as a spreadsheet numbers it: 1 is the header, and a line break inside a quoted
    /// cell does not start a new row.
    pub line: u64,
    pub code: String,
    /// In the caller's language.
    pub message: String,
}

/// `POST /api/v1/assignments/import` (CSV `id_dtsen,enumerator,due_date,source,note`): the good
/// rows are applied, each bad one is reported and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignImportResponse {
    pub assigned: u64,
    pub reassigned: u64,
    pub updated: u64,
    pub rejected: Vec<RowProblem>,
}

/// One household on the assignment page, with its assignment (`None`: shared by the area).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardHousehold {
    pub household_id: Uuid,
    pub id_dtsen: Option<String>,
    pub nama_krt: String,
    pub kode_desa: String,
    pub rw: String,
    pub rt: String,
    pub assignment: Option<AssignmentEntry>,
}

/// `GET /api/v1/assignments/board?area=CODE`: every household of an area (at most
/// [`BOARD_MAX`]) by RW, RT and name, for the supervisor's assignment page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentBoard {
    pub households: Vec<BoardHousehold>,
    /// More households than [`BOARD_MAX`] are in the area: narrow it.
    pub truncated: bool,
}

/// Most households one board shows (a large desa has about 3,000).
pub const BOARD_MAX: usize = 5_000;

//! The update cycle's messages (DESIGN.md §12): periods, proposals and their CSV import, and the
//! musyawarah desa with its berita acara. The rules behind them are `verivali_domain::cycle`.
//!
//! A NIK leaves the server only masked here (`nik_masked`): these lists are read on desa office
//! screens and printed.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use verivali_domain::cycle::{Attendee, Channel, PeriodState, ProposalKind, Step, Verdict};

use crate::admin::LineProblem;

/// `POST /api/v1/admin/periods`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPeriod {
    pub name: String,
    pub opens: NaiveDate,
    pub cutoff: NaiveDate,
    pub closes: NaiveDate,
}

/// A period as the dashboard and the field app show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodView {
    pub id: Uuid,
    pub name: String,
    pub opens: NaiveDate,
    pub cutoff: NaiveDate,
    pub closes: NaiveDate,
    pub state: PeriodState,
    /// Days from today (WIB) to the cut-off; negative after it.
    pub days_to_cutoff: i64,
    /// Whether to warn of the cut-off today (open, at most three days before it).
    pub warn: bool,
}

/// `GET /api/v1/periods`: every period, newest cut-off first, and the open one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodList {
    pub periods: Vec<PeriodView>,
    pub open: Option<PeriodView>,
}

/// A proposal as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalView {
    pub id: Uuid,
    pub kind: ProposalKind,
    pub channel: Channel,
    /// The registered household it is about, if any.
    pub household_id: Option<Uuid>,
    /// The household the field verification goes to: the registered one, or the one a *layak*
    /// new-family proposal created.
    pub target_household_id: Option<Uuid>,
    pub nik_masked: Option<String>,
    pub name: String,
    pub address: String,
    pub kode_desa: String,
    pub reporter: Option<String>,
    pub reason: String,
    pub entered_at: DateTime<Utc>,
    /// The period it belongs to (by when it was entered), if any.
    pub period: Option<String>,
    pub decision: Option<Verdict>,
    pub note: Option<String>,
    pub musdes_id: Option<Uuid>,
    /// The source an assignment of it carries.
    pub source: verivali_domain::AssignmentSource,
    /// How far it got.
    pub step: Step,
}

/// `GET /api/v1/proposals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalList {
    pub proposals: Vec<ProposalView>,
}

/// `POST /api/v1/proposals/import`: what a CSV of proposals did (good rows kept, bad ones
/// reported with their line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalImport {
    pub created: u64,
    pub bad_rows: Vec<LineProblem>,
}

/// One decision of a session, as shown and printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionView {
    pub proposal_id: Uuid,
    pub kind: ProposalKind,
    pub name: String,
    pub address: String,
    pub nik_masked: Option<String>,
    pub decision: Verdict,
    pub note: Option<String>,
}

/// The signed berita acara kept for a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanView {
    pub sha256: String,
    pub content_type: String,
    pub bytes: u64,
    pub at: DateTime<Utc>,
}

/// A musdes (or SPTJM) as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MusdesView {
    pub id: Uuid,
    pub kode_desa: String,
    pub date: NaiveDate,
    pub sptjm: bool,
    pub place: String,
    pub chair: String,
    pub attendees: Vec<Attendee>,
    pub decisions: Vec<DecisionView>,
    pub scan: Option<ScanView>,
    pub recorded_at: DateTime<Utc>,
}

/// `GET /api/v1/musdes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MusdesList {
    pub sessions: Vec<MusdesView>,
}

/// A household of the baseline as a desa office finds it to attach a proposal (No. KK masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdHit {
    pub id: Uuid,
    pub nama_krt: String,
    pub alamat: String,
    pub rt: String,
    pub rw: String,
    pub kode_desa: String,
    pub no_kk_masked: Option<String>,
}

/// `GET /api/v1/households/search?q=WORDS&area=CODE`: at most 20, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdHits {
    pub households: Vec<HouseholdHit>,
}

//! The monthly update cycle (DESIGN.md §12, Kepmensos 245/HUK/2025, Permensos 3/2025): periods
//! with their cut-off, the proposals (usulan, sanggah, laporan kematian, bukan keluarga) a desa
//! office enters, and the musyawarah desa (musdes) that decides which are *layak* — the rules once,
//! applied by the server's API, its CSV import and the dashboard.
//!
//! **Periods.** A period has a name (`2026-12`), the day it opens, its cut-off day and the day it
//! closes. Work belongs to the first period whose cut-off day (inclusive, in Western Indonesia
//! time, UTC+7, where the registry's kabupaten keep their office hours) it was done by: work
//! after a cut-off counts for the next period. An admin opens a period (one open at a time) and
//! closes it; nothing of a closed period is decided any more. Cut-offs are strictly increasing, so
//! every instant belongs to at most one period.
//!
//! **Proposals.** Each proposal names its kind, the channel it came by, the desa, the name and
//! address it is about, and why. A change, a death or a "not a family" report is about a household
//! of the baseline (attached by id); a new-household proposal describes one; an objection may do
//! either (a family left out has no household yet).
//!
//! **Musdes.** A session (date, place, chair, attendees with their roles) decides proposals of its
//! own desa, each once, `layak` or `tidak_layak`; an SPTJM (the kepala desa's statement of
//! responsibility) may stand in for a session, signed by its chair alone. A *layak* proposal goes
//! to the field as an assignment whose source follows the kind ([`ProposalKind::source`]).

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Offset, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use uuid::Uuid;

use crate::assignment::AssignmentSource;
use crate::i18n::{Coded, Lang};
use crate::region::{RegionCode, RegionLevel};

/// Days before a cut-off from which the dashboard and the field app warn.
pub const WARN_DAYS: i64 = 3;
/// Longest name, address, chair, place, reporter or attendee name, in characters.
pub const MAX_NAME: usize = 200;
/// Longest reason or note, in characters.
pub const MAX_REASON: usize = 1_000;
/// Most attendees of one session.
pub const MAX_ATTENDEES: usize = 200;
/// Most decisions in one session.
pub const MAX_DECISIONS: usize = 2_000;

/// The offset of Western Indonesia time (WIB), in which a cut-off day ends.
pub fn wib() -> FixedOffset {
    // Seven hours is within a day: the offset always exists.
    FixedOffset::east_opt(7 * 3600).unwrap_or(Utc.fix())
}

/// The day (WIB) an instant falls on.
pub fn wib_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&wib()).date_naive()
}

/// Where a period stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodState {
    /// Created, not open yet.
    Planned,
    /// The period work is done in.
    Open,
    /// Closed by an admin: nothing of it is decided any more.
    Closed,
}

impl PeriodState {
    /// Every state, in order.
    pub const ALL: [PeriodState; 3] =
        [PeriodState::Planned, PeriodState::Open, PeriodState::Closed];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodState::Planned => "planned",
            PeriodState::Open => "open",
            PeriodState::Closed => "closed",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<PeriodState> {
        PeriodState::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A period of the cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub id: Uuid,
    /// E.g. `2026-12`.
    pub name: String,
    pub opens: NaiveDate,
    /// The last day (WIB) whose work counts for this period.
    pub cutoff: NaiveDate,
    /// The day the bupati/walikota signs; decisions of the period are due by then.
    pub closes: NaiveDate,
    pub state: PeriodState,
}

impl Period {
    /// Whether work done at `at` belongs here, given the cut-off of the period before (if any).
    pub fn holds(&self, previous_cutoff: Option<NaiveDate>, at: DateTime<Utc>) -> bool {
        let day = wib_day(at);
        day <= self.cutoff && previous_cutoff.is_none_or(|p| day > p)
    }

    /// Days from `today` (WIB) to the cut-off: 0 on the cut-off day, negative after it.
    pub fn days_to_cutoff(&self, today: NaiveDate) -> i64 {
        (self.cutoff - today).num_days()
    }

    /// Whether the dashboard and the field app warn of the cut-off on `today`: from
    /// [`WARN_DAYS`] days before it to the day itself, while the period is open.
    pub fn warns(&self, today: NaiveDate) -> bool {
        self.state == PeriodState::Open && (0..=WARN_DAYS).contains(&self.days_to_cutoff(today))
    }
}

/// The period work done at `at` belongs to: the first by cut-off whose cut-off day it was done by
/// (`periods` in any order). `None` when it comes after every cut-off (no period created yet).
pub fn period_of(periods: &[Period], at: DateTime<Utc>) -> Option<&Period> {
    let day = wib_day(at);
    periods
        .iter()
        .filter(|p| day <= p.cutoff)
        .min_by_key(|p| p.cutoff)
}

/// Whether work done at `a` and at `b` belongs to one period (DESIGN.md §12): the rule of
/// `quality.two_visits`, "another visit of the same household in the period". Before any period
/// exists every piece of work is in one; work after every cut-off is in the next, not yet created.
pub fn same_period(periods: &[Period], a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    period_of(periods, a).map(|p| p.id) == period_of(periods, b).map(|p| p.id)
}

/// Whether work done at `a` belongs to a period before the one of work done at `b` (work after
/// every cut-off belongs to the next period, later than all). Approval lets an earlier period's
/// visit stand aside for a later one, never the reverse: approving last month's visit after this
/// month's would put older answers over the baseline (`verivali_domain::review::second_truths`).
pub fn earlier_period(periods: &[Period], a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    let key = |t| period_of(periods, t).map(|p| p.cutoff);
    match (key(a), key(b)) {
        (Some(a), Some(b)) => a < b,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// A new period, checked against the ones there are.
pub fn check_period(
    name: &str,
    opens: NaiveDate,
    cutoff: NaiveDate,
    closes: NaiveDate,
    existing: &[Period],
) -> Result<String, CycleError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 40 {
        return Err(CycleError::PeriodName);
    }
    if !(opens <= cutoff && cutoff <= closes) {
        return Err(CycleError::PeriodDates);
    }
    if existing.iter().any(|p| p.name == name) {
        return Err(CycleError::PeriodNameTaken(name.to_string()));
    }
    // Periods do not share a day: each instant has one period, and cut-offs increase with the
    // opening days.
    if existing
        .iter()
        .any(|p| !(cutoff < p.opens || opens > p.cutoff))
    {
        return Err(CycleError::PeriodOverlap);
    }
    Ok(name.to_string())
}

/// What a proposal asks for. Wire names are snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalKind {
    /// A family not in the registry asks to be.
    UsulanBaru,
    /// A registered family's data changed.
    UsulanPerubahan,
    /// An objection: a family that should (or should not) receive aid.
    Sanggah,
    /// A member died.
    LaporanKematian,
    /// The registered household is not one family (split, not living together).
    BukanKeluarga,
}

impl ProposalKind {
    /// Every kind, in the order forms offer them.
    pub const ALL: [ProposalKind; 5] = [
        ProposalKind::UsulanBaru,
        ProposalKind::UsulanPerubahan,
        ProposalKind::Sanggah,
        ProposalKind::LaporanKematian,
        ProposalKind::BukanKeluarga,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalKind::UsulanBaru => "usulan_baru",
            ProposalKind::UsulanPerubahan => "usulan_perubahan",
            ProposalKind::Sanggah => "sanggah",
            ProposalKind::LaporanKematian => "laporan_kematian",
            ProposalKind::BukanKeluarga => "bukan_keluarga",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<ProposalKind> {
        ProposalKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The source of the assignment a *layak* proposal becomes.
    pub fn source(self) -> AssignmentSource {
        match self {
            ProposalKind::Sanggah => AssignmentSource::Sanggah,
            ProposalKind::LaporanKematian => AssignmentSource::LaporanKematian,
            ProposalKind::UsulanBaru
            | ProposalKind::UsulanPerubahan
            | ProposalKind::BukanKeluarga => AssignmentSource::Usulan,
        }
    }

    /// Whether the proposal is about a household of the baseline (attached by id).
    pub fn needs_household(self) -> bool {
        matches!(
            self,
            ProposalKind::UsulanPerubahan
                | ProposalKind::LaporanKematian
                | ProposalKind::BukanKeluarga
        )
    }

    /// Whether it may not name a household (a new family has none yet).
    pub fn refuses_household(self) -> bool {
        self == ProposalKind::UsulanBaru
    }
}

/// How a proposal reached the desa.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// At the desa office.
    Desa,
    /// The ministry's Cek Bansos app.
    CekBansos,
    /// Through the RT/RW.
    RtRw,
    /// Sent on by the dinas.
    Dinas,
    Lainnya,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 5] = [
        Channel::Desa,
        Channel::CekBansos,
        Channel::RtRw,
        Channel::Dinas,
        Channel::Lainnya,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Desa => "desa",
            Channel::CekBansos => "cek_bansos",
            Channel::RtRw => "rt_rw",
            Channel::Dinas => "dinas",
            Channel::Lainnya => "lainnya",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A proposal as entered (the API's body, a CSV row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewProposal {
    pub kind: ProposalKind,
    pub channel: Channel,
    #[serde(default)]
    pub household_id: Option<Uuid>,
    /// The person it is about (the deceased, the head of the new family…).
    #[serde(default)]
    pub nik: Option<String>,
    pub name: String,
    pub address: String,
    pub kode_desa: String,
    /// Who brought it (a resident, the RT…), when they want to be named.
    #[serde(default)]
    pub reporter: Option<String>,
    pub reason: String,
}

fn text(raw: &str, max: usize, err: CycleError) -> Result<String, CycleError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max || crate::text::check("text", t).is_err() {
        return Err(err);
    }
    Ok(t.to_string())
}

fn optional(raw: Option<&str>, max: usize, err: CycleError) -> Result<Option<String>, CycleError> {
    match raw.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => text(t, max, err).map(Some),
    }
}

impl NewProposal {
    /// Checks it and returns it trimmed: texts present and bounded, the desa a desa code, a
    /// household where the kind needs one (and none for a new family), a well-formed NIK.
    pub fn checked(&self) -> Result<NewProposal, CycleError> {
        let desa = RegionCode::parse(self.kode_desa.trim())
            .ok()
            .filter(|c| c.level() == RegionLevel::DesaKelurahan)
            .ok_or_else(|| CycleError::BadDesa(self.kode_desa.clone()))?;
        if self.kind.needs_household() && self.household_id.is_none() {
            return Err(CycleError::HouseholdRequired(self.kind));
        }
        if self.kind.refuses_household() && self.household_id.is_some() {
            return Err(CycleError::HouseholdRefused);
        }
        let nik = match self.nik.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            None => None,
            Some(n) => {
                crate::nik::parse_nik(n).map_err(|_| CycleError::BadNik)?;
                Some(n.to_string())
            }
        };
        Ok(NewProposal {
            kind: self.kind,
            channel: self.channel,
            household_id: self.household_id,
            nik,
            name: text(&self.name, MAX_NAME, CycleError::Field("name"))?,
            address: text(&self.address, MAX_NAME, CycleError::Field("address"))?,
            kode_desa: desa.as_str().to_string(),
            reporter: optional(
                self.reporter.as_deref(),
                MAX_NAME,
                CycleError::Field("reporter"),
            )?,
            reason: text(&self.reason, MAX_REASON, CycleError::Field("reason"))?,
        })
    }
}

/// A musdes decision on one proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Layak,
    TidakLayak,
}

impl Verdict {
    /// Both verdicts.
    pub const ALL: [Verdict; 2] = [Verdict::Layak, Verdict::TidakLayak];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Layak => "layak",
            Verdict::TidakLayak => "tidak_layak",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Someone at the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendee {
    pub name: String,
    /// E.g. "Kepala Desa", "Ketua RT 03", "Pendamping PKH".
    pub role: String,
}

/// One decision of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionInput {
    pub proposal_id: Uuid,
    pub decision: Verdict,
    #[serde(default)]
    pub note: Option<String>,
}

/// A musdes (or SPTJM) as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMusdes {
    pub kode_desa: String,
    pub date: NaiveDate,
    /// An SPTJM of the kepala desa instead of a session: no place or attendees needed.
    #[serde(default)]
    pub sptjm: bool,
    #[serde(default)]
    pub place: String,
    pub chair: String,
    #[serde(default)]
    pub attendees: Vec<Attendee>,
    pub decisions: Vec<DecisionInput>,
}

impl NewMusdes {
    /// Checks it (not in the future of `today`, texts present, each proposal once) and returns
    /// it trimmed. Whether each proposal exists, is of this desa and still open is the server's
    /// to check against what it holds ([`check_decision`]).
    pub fn checked(&self, today: NaiveDate) -> Result<NewMusdes, CycleError> {
        let desa = RegionCode::parse(self.kode_desa.trim())
            .ok()
            .filter(|c| c.level() == RegionLevel::DesaKelurahan)
            .ok_or_else(|| CycleError::BadDesa(self.kode_desa.clone()))?;
        if self.date > today {
            return Err(CycleError::MusdesInFuture);
        }
        if self.decisions.is_empty() {
            return Err(CycleError::NoDecisions);
        }
        if self.decisions.len() > MAX_DECISIONS {
            return Err(CycleError::TooManyDecisions);
        }
        let mut seen = HashSet::new();
        if let Some(d) = self.decisions.iter().find(|d| !seen.insert(d.proposal_id)) {
            return Err(CycleError::DecidedTwice(d.proposal_id));
        }
        let place = if self.sptjm {
            self.place.trim().to_string()
        } else {
            text(&self.place, MAX_NAME, CycleError::Field("place"))?
        };
        if !self.sptjm && self.attendees.is_empty() || self.attendees.len() > MAX_ATTENDEES {
            return Err(CycleError::Attendees);
        }
        let attendees = self
            .attendees
            .iter()
            .map(|a| {
                Ok(Attendee {
                    name: text(&a.name, MAX_NAME, CycleError::Attendees)?,
                    role: text(&a.role, MAX_NAME, CycleError::Attendees)?,
                })
            })
            .collect::<Result<Vec<_>, CycleError>>()?;
        let decisions = self
            .decisions
            .iter()
            .map(|d| {
                Ok(DecisionInput {
                    proposal_id: d.proposal_id,
                    decision: d.decision,
                    note: optional(d.note.as_deref(), MAX_REASON, CycleError::Field("note"))?,
                })
            })
            .collect::<Result<Vec<_>, CycleError>>()?;
        Ok(NewMusdes {
            kode_desa: desa.as_str().to_string(),
            date: self.date,
            sptjm: self.sptjm,
            place,
            chair: text(&self.chair, MAX_NAME, CycleError::Field("chair"))?,
            attendees,
            decisions,
        })
    }
}

/// What the server holds of a proposal a session decides.
#[derive(Debug, Clone, Copy)]
pub struct Standing<'a> {
    pub kode_desa: &'a str,
    pub decided: bool,
    /// The state of its period.
    pub period: Option<PeriodState>,
}

/// Whether a session of `desa` may decide a proposal standing so (`None`: no such proposal in
/// the caller's areas).
pub fn check_decision(desa: &str, id: Uuid, p: Option<Standing<'_>>) -> Result<(), CycleError> {
    let Some(p) = p else {
        return Err(CycleError::UnknownProposal(id));
    };
    if p.kode_desa != desa {
        return Err(CycleError::OtherDesa(id));
    }
    if p.decided {
        return Err(CycleError::AlreadyDecided(id));
    }
    if p.period == Some(PeriodState::Closed) {
        return Err(CycleError::PeriodClosed);
    }
    Ok(())
}

/// The steps of a proposal's path, in order (DESIGN.md §12), as the dashboard draws it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Entered,
    Decided,
    Assigned,
    Visited,
    Approved,
    Verified,
}

impl Step {
    /// Every step in order.
    pub const ALL: [Step; 6] = [
        Step::Entered,
        Step::Decided,
        Step::Assigned,
        Step::Visited,
        Step::Approved,
        Step::Verified,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Entered => "entered",
            Step::Decided => "decided",
            Step::Assigned => "assigned",
            Step::Visited => "visited",
            Step::Approved => "approved",
            Step::Verified => "verified",
        }
    }
}

/// How far a proposal got: decided when a session decided it; a *tidak layak* one stops there.
/// A *layak* one is assigned once its household is given to an enumerator (or is visited
/// without one: a shared household), visited once a finished visit of it reached the server
/// after the decision,
/// approved or verified by that visit's state.
pub fn reached(
    verdict: Option<Verdict>,
    assigned: bool,
    visit: Option<crate::state::VisitState>,
) -> Step {
    use crate::state::VisitState as S;
    match verdict {
        None => Step::Entered,
        Some(Verdict::TidakLayak) => Step::Decided,
        Some(Verdict::Layak) => match visit {
            Some(S::Verified) => Step::Verified,
            Some(S::Approved) => Step::Approved,
            Some(S::Draft | S::Submitted | S::Rejected | S::Superseded | S::Returned) => {
                Step::Visited
            }
            None if assigned => Step::Assigned,
            None => Step::Decided,
        },
    }
}

/// The instants a period's work falls between: after the previous period's cut-off day ends
/// (none for the first), up to the end of its own cut-off day (WIB).
///
/// For a period just created these are also the only instants whose period it changed: periods
/// do not overlap and [`period_of`] takes the first cut-off on or after a day, so work in the
/// window belonged to the next period (or to none yet) before, and work outside it keeps its
/// period. The re-check of `quality.two_visits` after a new period reads no further.
pub fn window(
    periods: &[Period],
    name: &str,
) -> Option<(Option<DateTime<Utc>>, DateTime<Utc>, Period)> {
    let mut sorted: Vec<&Period> = periods.iter().collect();
    sorted.sort_by_key(|p| p.cutoff);
    let i = sorted.iter().position(|p| p.name == name)?;
    let from = i.checked_sub(1).map(|j| cutoff_ends(sorted[j].cutoff));
    Some((from, cutoff_ends(sorted[i].cutoff), sorted[i].clone()))
}

/// The columns of the BNBA list (by name, by address) of a period's decisions: a row per
/// proposal decided, with the NIK masked (a document meant for display).
pub const BNBA_COLUMNS: [&str; 13] = [
    "no",
    "kode_desa",
    "desa",
    "nama",
    "nik",
    "alamat",
    "jenis_usulan",
    "saluran",
    "tanggal_musdes",
    "keputusan",
    "catatan",
    "tahap",
    "id_usulan",
];

/// Labels of a proposal's kind, channel, verdict and step in documents (Bahasa Indonesia).
pub fn kind_label(k: ProposalKind) -> &'static str {
    match k {
        ProposalKind::UsulanBaru => "Usulan keluarga baru",
        ProposalKind::UsulanPerubahan => "Usulan perubahan data",
        ProposalKind::Sanggah => "Sanggah",
        ProposalKind::LaporanKematian => "Laporan kematian",
        ProposalKind::BukanKeluarga => "Bukan satu keluarga",
    }
}

/// See [`kind_label`].
pub fn channel_label(c: Channel) -> &'static str {
    match c {
        Channel::Desa => "Kantor desa",
        Channel::CekBansos => "Aplikasi Cek Bansos",
        Channel::RtRw => "RT/RW",
        Channel::Dinas => "Dinas sosial",
        Channel::Lainnya => "Lainnya",
    }
}

/// See [`kind_label`].
pub fn verdict_label(v: Verdict) -> &'static str {
    match v {
        Verdict::Layak => "Layak",
        Verdict::TidakLayak => "Tidak layak",
    }
}

/// See [`kind_label`].
pub fn step_label(s: Step) -> &'static str {
    match s {
        Step::Entered => "Dicatat",
        Step::Decided => "Diputuskan musdes",
        Step::Assigned => "Ditugaskan",
        Step::Visited => "Dikunjungi",
        Step::Approved => "Disetujui pengawas",
        Step::Verified => "Diverifikasi dinas",
    }
}

/// Why something of the cycle is refused. Codes are stable; messages in both languages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CycleError {
    #[error("a period name is 1-40 characters")]
    PeriodName,
    #[error("a period opens on or before its cut-off, and closes on or after it")]
    PeriodDates,
    #[error("a period named {0:?} exists")]
    PeriodNameTaken(String),
    #[error("the period overlaps another: a day belongs to one period only")]
    PeriodOverlap,
    #[error("another period is open; close it first")]
    OtherPeriodOpen,
    #[error("the period is closed")]
    PeriodClosed,
    #[error("no such period")]
    UnknownPeriod,
    #[error("a {from} period cannot be {to}")]
    PeriodMove {
        from: &'static str,
        to: &'static str,
    },
    #[error("{0:?} is not the code of a desa (10 digits)")]
    BadDesa(String),
    #[error("a {} proposal is about a household of the registry: attach it", .0.as_str())]
    HouseholdRequired(ProposalKind),
    #[error("a new-household proposal describes the family; it cannot name a registered household")]
    HouseholdRefused,
    #[error("the household is not in the desa of the proposal")]
    HouseholdOutside,
    #[error("desa {0} is outside your areas")]
    OutsideArea(String),
    #[error("the NIK is not 16 valid digits")]
    BadNik,
    #[error("{0} is required (and at most its length)")]
    Field(&'static str),
    #[error("unknown proposal kind {0:?}")]
    BadKind(String),
    #[error("unknown channel {0:?}")]
    BadChannel(String),
    #[error("the session is dated in the future")]
    MusdesInFuture,
    #[error("a session decides at least one proposal")]
    NoDecisions,
    #[error("a session decides at most 2,000 proposals")]
    TooManyDecisions,
    #[error("proposal {0} is decided twice in this session")]
    DecidedTwice(Uuid),
    #[error("a session lists its attendees, each with a name and a role")]
    Attendees,
    #[error("no proposal {0} in your areas")]
    UnknownProposal(Uuid),
    #[error("proposal {0} belongs to another desa")]
    OtherDesa(Uuid),
    #[error("proposal {0} is decided already")]
    AlreadyDecided(Uuid),
    #[error("unknown decision {0:?}")]
    BadVerdict(String),
}

impl Coded for CycleError {
    fn code(&self) -> &'static str {
        match self {
            CycleError::PeriodName => "period.name",
            CycleError::PeriodDates => "period.dates",
            CycleError::PeriodNameTaken(_) => "period.name_taken",
            CycleError::PeriodOverlap => "period.overlap",
            CycleError::OtherPeriodOpen => "period.other_open",
            CycleError::PeriodClosed => "period.closed",
            CycleError::UnknownPeriod => "period.unknown",
            CycleError::PeriodMove { .. } => "period.not_allowed",
            CycleError::BadDesa(_) => "proposal.bad_desa",
            CycleError::HouseholdRequired(_) => "proposal.household_required",
            CycleError::HouseholdRefused => "proposal.household_refused",
            CycleError::HouseholdOutside => "proposal.household_outside",
            CycleError::OutsideArea(_) => "proposal.outside_area",
            CycleError::BadNik => "proposal.bad_nik",
            CycleError::Field(_) => "proposal.field",
            CycleError::BadKind(_) => "proposal.bad_kind",
            CycleError::BadChannel(_) => "proposal.bad_channel",
            CycleError::MusdesInFuture => "musdes.future",
            CycleError::NoDecisions => "musdes.no_decisions",
            CycleError::TooManyDecisions => "musdes.too_many_decisions",
            CycleError::DecidedTwice(_) => "musdes.decided_twice",
            CycleError::Attendees => "musdes.attendees",
            CycleError::UnknownProposal(_) => "musdes.unknown_proposal",
            CycleError::OtherDesa(_) => "musdes.other_desa",
            CycleError::AlreadyDecided(_) => "musdes.already_decided",
            CycleError::BadVerdict(_) => "musdes.bad_decision",
        }
    }

    fn message(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.to_string();
        }
        let field = |f: &str| match f {
            "name" => "Nama",
            "address" => "Alamat",
            "reason" => "Alasan",
            "reporter" => "Pelapor",
            "place" => "Tempat musyawarah",
            "chair" => "Pimpinan musyawarah",
            "note" => "Catatan",
            _ => "Isian",
        };
        match self {
            CycleError::PeriodName => "Nama periode wajib diisi, paling banyak 40 karakter".into(),
            CycleError::PeriodDates => {
                "Periode dibuka paling lambat pada tanggal batas, dan ditutup pada atau sesudahnya"
                    .into()
            }
            CycleError::PeriodNameTaken(n) => format!("Periode bernama {n:?} sudah ada"),
            CycleError::PeriodOverlap => {
                "Periode bertumpang tindih dengan periode lain: satu hari hanya milik satu periode"
                    .into()
            }
            CycleError::OtherPeriodOpen => "Periode lain sedang dibuka; tutup dulu".into(),
            CycleError::PeriodClosed => "Periode sudah ditutup; keputusan tidak bisa diubah".into(),
            CycleError::UnknownPeriod => "Periode tidak ditemukan".into(),
            CycleError::PeriodMove { from, to } => {
                let s = |x: &str| match x {
                    "planned" => "direncanakan",
                    "open" => "dibuka",
                    _ => "ditutup",
                };
                format!("Periode yang {} tidak bisa {}", s(from), s(to))
            }
            CycleError::BadDesa(d) => format!("{d:?} bukan kode desa (10 digit)"),
            CycleError::HouseholdRequired(k) => format!(
                "Usulan jenis {} menyangkut rumah tangga yang terdaftar: pilih rumah tangganya",
                k.as_str()
            ),
            CycleError::HouseholdRefused => {
                "Usulan baru menggambarkan keluarga baru; tidak boleh menunjuk rumah tangga terdaftar"
                    .into()
            }
            CycleError::HouseholdOutside => "Rumah tangga tidak ada di desa usulan ini".into(),
            CycleError::OutsideArea(d) => format!("Desa {d} di luar wilayah Anda"),
            CycleError::BadNik => "NIK harus 16 digit yang sah".into(),
            CycleError::Field(f) => format!("{} wajib diisi dan tidak terlalu panjang", field(f)),
            CycleError::BadKind(k) => format!("Jenis usulan {k:?} tidak dikenal"),
            CycleError::BadChannel(c) => format!("Saluran {c:?} tidak dikenal"),
            CycleError::MusdesInFuture => "Tanggal musyawarah tidak boleh di masa depan".into(),
            CycleError::NoDecisions => "Musyawarah memutuskan paling sedikit satu usulan".into(),
            CycleError::TooManyDecisions => {
                "Satu musyawarah memutuskan paling banyak 2.000 usulan".into()
            }
            CycleError::DecidedTwice(id) => format!("Usulan {id} diputuskan dua kali"),
            CycleError::Attendees => {
                "Daftar hadir wajib diisi, masing-masing dengan nama dan jabatan".into()
            }
            CycleError::UnknownProposal(id) => format!("Usulan {id} tidak ada di wilayah Anda"),
            CycleError::OtherDesa(id) => format!("Usulan {id} milik desa lain"),
            CycleError::AlreadyDecided(id) => format!("Usulan {id} sudah diputuskan"),
            CycleError::BadVerdict(d) => format!("Keputusan {d:?} tidak dikenal"),
        }
    }
}

/// Today's date in WIB for `now`, minus nothing: the day the warnings and the musdes date check
/// use.
pub fn today(now: DateTime<Utc>) -> NaiveDate {
    wib_day(now)
}

/// The instant a cut-off day ends (midnight WIB after it), for the warnings' countdowns.
pub fn cutoff_ends(cutoff: NaiveDate) -> DateTime<Utc> {
    let midnight = cutoff
        .succ_opt()
        .unwrap_or(cutoff)
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    DateTime::<Utc>::from_naive_utc_and_offset(midnight, Utc) - Duration::hours(7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn period(name: &str, opens: &str, cutoff: &str, state: PeriodState) -> Period {
        Period {
            id: Uuid::now_v7(),
            name: name.into(),
            opens: d(opens),
            cutoff: d(cutoff),
            closes: d(cutoff) + Duration::days(5),
            state,
        }
    }

    #[test]
    fn two_pieces_of_work_share_a_period_by_their_cutoffs() {
        let nov = period("2026-11", "2026-11-01", "2026-11-25", PeriodState::Closed);
        let dec = period("2026-12", "2026-11-26", "2026-12-25", PeriodState::Open);
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let periods = [dec.clone(), nov.clone()];
        // 25 November 23:30 WIB is still November's; 26 November 00:30 WIB is December's.
        let last_of_nov = at("2026-11-25T16:30:00Z");
        let first_of_dec = at("2026-11-25T17:30:00Z");
        assert!(!same_period(&periods, last_of_nov, first_of_dec));
        assert!(same_period(
            &periods,
            first_of_dec,
            at("2026-12-20T03:00:00Z")
        ));
        assert!(same_period(
            &periods,
            at("2026-11-02T03:00:00Z"),
            last_of_nov
        ));
        // After every cut-off: the next period, not December.
        assert!(!same_period(
            &periods,
            at("2026-12-27T03:00:00Z"),
            first_of_dec
        ));
        // No period yet: one.
        assert!(same_period(&[], last_of_nov, first_of_dec));
        // Earlier: November before December, both before the next one; never the same period.
        assert!(earlier_period(&periods, last_of_nov, first_of_dec));
        assert!(!earlier_period(&periods, first_of_dec, last_of_nov));
        assert!(!earlier_period(&periods, first_of_dec, first_of_dec));
        assert!(earlier_period(
            &periods,
            first_of_dec,
            at("2026-12-27T03:00:00Z")
        ));
        assert!(!earlier_period(
            &periods,
            at("2026-12-27T03:00:00Z"),
            first_of_dec
        ));
        assert!(!earlier_period(&[], last_of_nov, first_of_dec));
    }

    #[test]
    fn work_after_a_cutoff_counts_for_the_next_period() {
        let nov = period("2026-11", "2026-11-01", "2026-11-20", PeriodState::Closed);
        let dec = period("2026-12", "2026-11-21", "2026-12-20", PeriodState::Open);
        let ps = [dec.clone(), nov.clone()];
        // 20 Nov 23:30 WIB is 16:30 UTC: still November's.
        let late = Utc.with_ymd_and_hms(2026, 11, 20, 16, 30, 0).unwrap();
        assert_eq!(period_of(&ps, late).unwrap().name, "2026-11");
        // 21 Nov 00:30 WIB is 20 Nov 17:30 UTC: December's.
        let next = Utc.with_ymd_and_hms(2026, 11, 20, 17, 30, 0).unwrap();
        assert_eq!(period_of(&ps, next).unwrap().name, "2026-12");
        assert!(dec.holds(Some(nov.cutoff), next) && !nov.holds(None, next));
        let after_all = Utc.with_ymd_and_hms(2026, 12, 21, 3, 0, 0).unwrap();
        assert!(period_of(&ps, after_all).is_none());
        assert_eq!(cutoff_ends(d("2026-11-20")), next - Duration::minutes(30));
    }

    #[test]
    fn the_warning_runs_three_days_before_the_cutoff() {
        let dec = period("2026-12", "2026-11-21", "2026-12-20", PeriodState::Open);
        assert!(!dec.warns(d("2026-12-16")));
        assert!(dec.warns(d("2026-12-17")));
        assert!(dec.warns(d("2026-12-20")));
        assert!(!dec.warns(d("2026-12-21")));
        let planned = Period {
            state: PeriodState::Planned,
            ..dec
        };
        assert!(!planned.warns(d("2026-12-18")));
    }

    #[test]
    fn periods_neither_overlap_nor_repeat() {
        let nov = period("2026-11", "2026-11-01", "2026-11-20", PeriodState::Open);
        let ok = check_period(
            "2026-12",
            d("2026-11-21"),
            d("2026-12-20"),
            d("2026-12-28"),
            std::slice::from_ref(&nov),
        );
        assert_eq!(ok.unwrap(), "2026-12");
        let e = |r: Result<String, CycleError>| r.unwrap_err().code();
        assert_eq!(
            e(check_period(
                "x",
                d("2026-12-20"),
                d("2026-12-01"),
                d("2026-12-28"),
                &[]
            )),
            "period.dates"
        );
        assert_eq!(
            e(check_period(
                " 2026-11 ",
                d("2026-12-01"),
                d("2026-12-20"),
                d("2026-12-28"),
                std::slice::from_ref(&nov)
            )),
            "period.name_taken"
        );
        // Opens inside November and runs past it.
        assert_eq!(
            e(check_period(
                "w",
                d("2026-11-10"),
                d("2026-12-20"),
                d("2026-12-28"),
                std::slice::from_ref(&nov)
            )),
            "period.overlap"
        );
        // Opens later but cuts off earlier: November's window would hold it twice.
        assert_eq!(
            e(check_period(
                "z",
                d("2026-11-05"),
                d("2026-11-10"),
                d("2026-11-28"),
                std::slice::from_ref(&nov)
            )),
            "period.overlap"
        );
        assert_eq!(
            e(check_period(
                "z",
                d("2026-11-25"),
                d("2026-11-20"),
                d("2026-11-28"),
                &[nov]
            )),
            "period.dates"
        );
        assert_eq!(
            e(check_period(
                "  ",
                d("2026-11-25"),
                d("2026-11-26"),
                d("2026-11-28"),
                &[]
            )),
            "period.name"
        );
    }

    fn proposal(kind: ProposalKind, household: Option<Uuid>) -> NewProposal {
        NewProposal {
            kind,
            channel: Channel::CekBansos,
            household_id: household,
            nik: Some(" 3308014501900003 ".into()),
            name: " Siti Aminah ".into(),
            address: "Dusun Krajan RT 02 RW 01".into(),
            kode_desa: "3308010001".into(),
            reporter: Some("  ".into()),
            reason: "Suami meninggal, tidak bekerja".into(),
        }
    }

    #[test]
    fn a_proposal_names_a_household_when_its_kind_needs_one() {
        let p = proposal(ProposalKind::UsulanBaru, None).checked().unwrap();
        assert_eq!(
            (p.name.as_str(), p.nik.as_deref(), p.reporter),
            ("Siti Aminah", Some("3308014501900003"), None)
        );
        let code = |k, h| proposal(k, h).checked().unwrap_err().code();
        assert_eq!(
            code(ProposalKind::LaporanKematian, None),
            "proposal.household_required"
        );
        assert_eq!(
            code(ProposalKind::UsulanBaru, Some(Uuid::nil())),
            "proposal.household_refused"
        );
        assert!(proposal(ProposalKind::Sanggah, None).checked().is_ok());
        assert!(
            proposal(ProposalKind::Sanggah, Some(Uuid::nil()))
                .checked()
                .is_ok()
        );
        let mut bad = proposal(ProposalKind::Sanggah, None);
        bad.kode_desa = "330801".into();
        assert_eq!(bad.checked().unwrap_err().code(), "proposal.bad_desa");
        bad = proposal(ProposalKind::Sanggah, None);
        bad.nik = Some("3308019901900003".into());
        assert_eq!(bad.checked().unwrap_err().code(), "proposal.bad_nik");
        bad = proposal(ProposalKind::Sanggah, None);
        bad.reason = " ".into();
        let e = bad.checked().unwrap_err();
        assert_eq!(
            (e.code(), e.message(Lang::Id).as_str()),
            (
                "proposal.field",
                "Alasan wajib diisi dan tidak terlalu panjang"
            )
        );
        assert_eq!(
            ProposalKind::LaporanKematian.source(),
            AssignmentSource::LaporanKematian
        );
        assert_eq!(
            ProposalKind::BukanKeluarga.source(),
            AssignmentSource::Usulan
        );
    }

    fn musdes(decisions: Vec<DecisionInput>) -> NewMusdes {
        NewMusdes {
            kode_desa: "3308010001".into(),
            date: d("2026-12-03"),
            sptjm: false,
            place: "Balai Desa".into(),
            chair: "Bapak Kades".into(),
            attendees: vec![Attendee {
                name: "Ibu Ketua RT".into(),
                role: "Ketua RT 02".into(),
            }],
            decisions,
        }
    }

    #[test]
    fn a_session_decides_each_proposal_once_and_not_in_the_future() {
        let a = Uuid::now_v7();
        let yes = |id| DecisionInput {
            proposal_id: id,
            decision: Verdict::Layak,
            note: None,
        };
        assert!(musdes(vec![yes(a)]).checked(d("2026-12-05")).is_ok());
        let code = |m: NewMusdes| m.checked(d("2026-12-05")).unwrap_err().code();
        assert_eq!(code(musdes(vec![yes(a), yes(a)])), "musdes.decided_twice");
        assert_eq!(code(musdes(vec![])), "musdes.no_decisions");
        let mut m = musdes(vec![yes(a)]);
        m.date = d("2026-12-06");
        assert_eq!(code(m), "musdes.future");
        let mut m = musdes(vec![yes(a)]);
        m.attendees.clear();
        assert_eq!(code(m.clone()), "musdes.attendees");
        m.sptjm = true;
        m.place = String::new();
        assert!(
            m.checked(d("2026-12-05")).is_ok(),
            "an SPTJM needs no session"
        );
        let standing = |desa, decided, period| {
            Some(Standing {
                kode_desa: desa,
                decided,
                period,
            })
        };
        let c = |r: Result<(), CycleError>| r.unwrap_err().code();
        assert_eq!(
            c(check_decision("3308010001", a, None)),
            "musdes.unknown_proposal"
        );
        assert_eq!(
            c(check_decision(
                "3308010001",
                a,
                standing("3308010002", false, None)
            )),
            "musdes.other_desa"
        );
        assert_eq!(
            c(check_decision(
                "3308010001",
                a,
                standing("3308010001", true, None)
            )),
            "musdes.already_decided"
        );
        assert_eq!(
            c(check_decision(
                "3308010001",
                a,
                standing("3308010001", false, Some(PeriodState::Closed))
            )),
            "period.closed"
        );
        assert!(
            check_decision(
                "3308010001",
                a,
                standing("3308010001", false, Some(PeriodState::Open))
            )
            .is_ok()
        );
    }

    #[test]
    fn the_path_of_a_proposal() {
        use crate::state::VisitState as S;
        assert_eq!(reached(None, false, None), Step::Entered);
        assert_eq!(
            reached(Some(Verdict::TidakLayak), true, None),
            Step::Decided
        );
        assert_eq!(reached(Some(Verdict::Layak), false, None), Step::Decided);
        assert_eq!(reached(Some(Verdict::Layak), true, None), Step::Assigned);
        assert_eq!(
            reached(Some(Verdict::Layak), true, Some(S::Submitted)),
            Step::Visited
        );
        assert_eq!(
            reached(Some(Verdict::Layak), false, Some(S::Approved)),
            Step::Approved
        );
    }
}

//! # verivali-domain
//!
//! The business rules of Verivali, written once and run on both the device and the server
//! (DESIGN.md §3): households and members, visits with their outcomes, batches and review
//! decisions, the visit state machine, roles and areas, and validation of NIK, No. KK, region codes,
//! outcome combinations and questionnaire answers.
//!
//! No I/O and no clock: callers pass "today" in. Every finding has a stable code and a message in
//! Bahasa Indonesia and English ([`Coded`]); errors refuse input, warnings only inform.

pub mod assignment;
pub mod clock;
pub mod cycle;
pub mod export;
pub mod hlc;
pub mod household;
pub mod i18n;
pub mod issue;
pub mod nik;
pub mod packed;
pub mod pin;
pub mod quality;
pub mod questionnaire;
pub mod region;
pub mod review;
pub mod sample;
pub mod search;
pub mod state;
pub mod text;
pub mod time_text;
pub mod user;
pub mod visit;
pub mod vocabulary;

pub use assignment::{AssignError, AssignmentSource};
pub use household::{
    Household, HouseholdFields, HouseholdFound, Member, PresenceStatus, Relationship, Sex,
};
pub use i18n::{Coded, Lang, Text};
pub use issue::{At, Invalid, Report, Warning};
pub use questionnaire::Questionnaire;
pub use region::{Areas, RegionCode};
pub use review::{Batch, Decision, ReviewEvent};
pub use state::{Action, Role, TransitionError, VisitState, WorkStatus, transition};
pub use text::ControlChar;
pub use user::UserError;
pub use visit::{
    Gps, Graduation, GraduationKind, NotFoundReason, Outcome, Paradata, PhotoKind, VisitContext,
    VisitRecord,
};

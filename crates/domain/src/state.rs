//! Roles and the visit state machine of DESIGN.md §3 and §12:
//! `draft -> submitted -> approved -> verified`, `submitted -> rejected -> submitted`, the
//! verifikator's `approved -> returned` (back in the supervisor's queue, who approves again or
//! rejects to the enumerator), an admin-only, audited reopen `approved -> submitted`, and
//! `submitted | approved | returned -> superseded` when a reviewer approves another visit of the
//! same household as its one truth ([`crate::review::second_truths`]). Nothing else moves a
//! visit. A superseded visit is kept and audited but final: out of the export and the baseline,
//! editable by nobody; a verified one is final too.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::i18n::{Coded, Lang};

/// Who a user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Petugas: records visits.
    Enumerator,
    /// Pengawas: reviews visits in their area.
    Supervisor,
    /// Admin / operator dinas sosial.
    Admin,
    /// Operator desa: enters the desa's proposals and records its musyawarah (areas: desa).
    Operator,
    /// Verifikator dinas: confirms what supervisors approved (areas: kabupaten/kota).
    Verifier,
}

impl Role {
    /// All roles.
    pub const ALL: [Role; 5] = [
        Role::Enumerator,
        Role::Supervisor,
        Role::Admin,
        Role::Operator,
        Role::Verifier,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Enumerator => "enumerator",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Verifier => "verifier",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Review state of a visit.
#[derive(ts_rs::TS, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitState {
    /// Being worked on by the enumerator.
    Draft,
    /// Waiting for review.
    Submitted,
    /// Accepted; locked on every device.
    Approved,
    /// Sent back with a reason; the enumerator may amend and resubmit.
    Rejected,
    /// Replaced by another visit of the same household that a reviewer approved instead: kept
    /// for the record, never exported, never applied to the baseline; final.
    Superseded,
    /// Confirmed by the verifikator dinas after the supervisor's approval; final.
    Verified,
    /// Sent back by the verifikator to the supervisor with a reason (not to the enumerator).
    Returned,
}

impl VisitState {
    /// All states.
    pub const ALL: [VisitState; 7] = [
        VisitState::Draft,
        VisitState::Submitted,
        VisitState::Approved,
        VisitState::Rejected,
        VisitState::Superseded,
        VisitState::Verified,
        VisitState::Returned,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            VisitState::Draft => "draft",
            VisitState::Submitted => "submitted",
            VisitState::Approved => "approved",
            VisitState::Rejected => "rejected",
            VisitState::Superseded => "superseded",
            VisitState::Verified => "verified",
            VisitState::Returned => "returned",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<VisitState> {
        VisitState::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the enumerator may record a new revision of the visit in this state.
    pub fn editable(self) -> bool {
        matches!(self, VisitState::Draft | VisitState::Rejected)
    }
}

impl fmt::Display for VisitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that moves a visit between states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The enumerator submits (in a batch).
    Submit,
    /// A reviewer approves.
    Approve,
    /// A reviewer rejects, with a reason.
    Reject {
        /// Why; must not be blank.
        reason: String,
    },
    /// An admin reopens an approved visit for review again, with a reason.
    Reopen {
        /// Why; must not be blank.
        reason: String,
    },
    /// A reviewer approves another visit of the same household in this one's place.
    Supersede,
    /// The verifikator confirms an approved visit.
    Verify,
    /// The verifikator sends an approved visit back to the supervisor, with a reason.
    Return {
        /// Why; must not be blank.
        reason: String,
    },
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Submit => "submit",
            Action::Approve => "approve",
            Action::Reject { .. } => "reject",
            Action::Reopen { .. } => "reopen",
            Action::Supersede => "supersede",
            Action::Verify => "verify",
            Action::Return { .. } => "return",
        }
    }
}

/// Why a transition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The action does not apply to the current state.
    #[error("cannot {action} a visit that is {from}")]
    NotAllowed {
        /// Current state.
        from: VisitState,
        /// Attempted action.
        action: &'static str,
    },
    /// The role may not take this action.
    #[error("a {role} may not {action} a visit")]
    Forbidden {
        /// Caller's role.
        role: &'static str,
        /// Attempted action.
        action: &'static str,
    },
    /// A rejection or reopening needs a reason.
    #[error("a reason is required")]
    ReasonRequired,
}

impl Coded for TransitionError {
    fn code(&self) -> &'static str {
        match self {
            TransitionError::NotAllowed { .. } => "state.not_allowed",
            TransitionError::Forbidden { .. } => "state.forbidden",
            TransitionError::ReasonRequired => "state.reason_required",
        }
    }

    fn message(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.to_string();
        }
        let action_id = |a: &str| match a {
            "submit" => "mengirim",
            "approve" => "menyetujui",
            "reject" => "menolak",
            "supersede" => "menggantikan",
            "verify" => "memverifikasi",
            "return" => "mengembalikan ke pengawas",
            _ => "membuka kembali",
        };
        let state_id = |s: VisitState| match s {
            VisitState::Draft => "draf",
            VisitState::Submitted => "terkirim",
            VisitState::Approved => "disetujui",
            VisitState::Rejected => "ditolak",
            VisitState::Superseded => "diganti",
            VisitState::Verified => "terverifikasi",
            VisitState::Returned => "dikembalikan dinas",
        };
        match self {
            TransitionError::NotAllowed { from, action } => {
                format!(
                    "Tidak bisa {} kunjungan yang berstatus {}",
                    action_id(action),
                    state_id(*from)
                )
            }
            TransitionError::Forbidden { role, action } => {
                format!("Peran {role} tidak boleh {} kunjungan", action_id(action))
            }
            TransitionError::ReasonRequired => "Alasan wajib diisi".into(),
        }
    }
}

/// The one place that decides whether `role` may take `action` on a visit in state `from`, and
/// what the new state is.
pub fn transition(
    from: VisitState,
    action: &Action,
    role: Role,
) -> Result<VisitState, TransitionError> {
    use VisitState::*;
    let allowed_role = match action {
        Action::Submit => role == Role::Enumerator,
        Action::Approve | Action::Reject { .. } | Action::Supersede => {
            matches!(role, Role::Supervisor | Role::Admin)
        }
        Action::Reopen { .. } => role == Role::Admin,
        Action::Verify | Action::Return { .. } => matches!(role, Role::Verifier | Role::Admin),
    };
    if !allowed_role {
        return Err(TransitionError::Forbidden {
            role: role.as_str(),
            action: action.name(),
        });
    }
    if let Action::Reject { reason } | Action::Reopen { reason } | Action::Return { reason } =
        action
        && reason.trim().is_empty()
    {
        return Err(TransitionError::ReasonRequired);
    }
    match (from, action) {
        (Draft | Rejected, Action::Submit) => Ok(Submitted),
        (Submitted | Returned, Action::Approve) => Ok(Approved),
        (Submitted | Returned, Action::Reject { .. }) => Ok(Rejected),
        (Approved, Action::Reopen { .. }) => Ok(Submitted),
        (Submitted | Approved | Returned, Action::Supersede) => Ok(Superseded),
        (Approved, Action::Verify) => Ok(Verified),
        (Approved, Action::Return { .. }) => Ok(Returned),
        _ => Err(TransitionError::NotAllowed {
            from,
            action: action.name(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn action_strategy() -> impl Strategy<Value = Action> {
        prop_oneof![
            Just(Action::Submit),
            Just(Action::Approve),
            "[ a-z]{0,3}".prop_map(|reason| Action::Reject { reason }),
            "[ a-z]{0,3}".prop_map(|reason| Action::Reopen { reason }),
            Just(Action::Supersede),
            Just(Action::Verify),
            "[ a-z]{0,3}".prop_map(|reason| Action::Return { reason }),
        ]
    }

    fn role_strategy() -> impl Strategy<Value = Role> {
        proptest::sample::select(Role::ALL.to_vec())
    }

    /// The allowed transitions, written out as a table independent of `transition`.
    fn expected(from: VisitState, action: &Action, role: Role) -> Option<VisitState> {
        use VisitState::*;
        let reason_ok = |r: &str| !r.trim().is_empty();
        match (from, action, role) {
            (Draft, Action::Submit, Role::Enumerator) => Some(Submitted),
            (Rejected, Action::Submit, Role::Enumerator) => Some(Submitted),
            (Submitted | Returned, Action::Approve, Role::Supervisor | Role::Admin) => {
                Some(Approved)
            }
            (Submitted | Returned, Action::Reject { reason }, Role::Supervisor | Role::Admin)
                if reason_ok(reason) =>
            {
                Some(Rejected)
            }
            (Approved, Action::Reopen { reason }, Role::Admin) if reason_ok(reason) => {
                Some(Submitted)
            }
            (
                Submitted | Approved | Returned,
                Action::Supersede,
                Role::Supervisor | Role::Admin,
            ) => Some(Superseded),
            (Approved, Action::Verify, Role::Verifier | Role::Admin) => Some(Verified),
            (Approved, Action::Return { reason }, Role::Verifier | Role::Admin)
                if reason_ok(reason) =>
            {
                Some(Returned)
            }
            _ => None,
        }
    }

    #[test]
    fn done_means_finished_submitted_or_approved() {
        let done: Vec<WorkStatus> = WorkStatus::ALL
            .into_iter()
            .filter(|s| s.is_done())
            .collect();
        assert_eq!(
            done,
            vec![
                WorkStatus::Finished,
                WorkStatus::Submitted,
                WorkStatus::Approved
            ]
        );
    }

    #[test]
    fn the_happy_paths() {
        let s = transition(VisitState::Draft, &Action::Submit, Role::Enumerator).unwrap();
        let reject = Action::Reject {
            reason: "foto rumah tidak jelas".into(),
        };
        let s = transition(s, &reject, Role::Supervisor).unwrap();
        assert_eq!(s, VisitState::Rejected);
        assert!(s.editable());
        let s = transition(s, &Action::Submit, Role::Enumerator).unwrap();
        let s = transition(s, &Action::Approve, Role::Supervisor).unwrap();
        assert!(!s.editable());
        let e =
            transition(s, &Action::Reopen { reason: "x".into() }, Role::Supervisor).unwrap_err();
        assert_eq!(e.code(), "state.forbidden");
        assert_eq!(
            transition(
                s,
                &Action::Reopen {
                    reason: "salah NIK".into()
                },
                Role::Admin
            )
            .unwrap(),
            VisitState::Submitted
        );
    }

    #[test]
    fn rejection_needs_a_reason() {
        let e = transition(
            VisitState::Submitted,
            &Action::Reject {
                reason: "  ".into(),
            },
            Role::Admin,
        );
        assert_eq!(e.unwrap_err(), TransitionError::ReasonRequired);
    }

    proptest! {
        /// Every (state, action, role) behaves exactly as the table says; nothing else moves.
        #[test]
        fn matches_the_table(
            from in proptest::sample::select(VisitState::ALL.to_vec()),
            action in action_strategy(),
            role in role_strategy(),
        ) {
            let got = transition(from, &action, role).ok();
            prop_assert_eq!(got, expected(from, &action, role));
        }

        /// Along any sequence of actions, an approved visit is left only by an admin's reopen, a
        /// reviewer's supersession or the verifikator's verification or return; a superseded or
        /// verified visit is never left; only a supervisor or admin moves a returned one; a visit
        /// is editable exactly when draft or rejected.
        #[test]
        fn approved_is_locked(steps in proptest::collection::vec((action_strategy(), role_strategy()), 0..30)) {
            let mut state = VisitState::Draft;
            for (action, role) in steps {
                if let Ok(next) = transition(state, &action, role) {
                    prop_assert_ne!(state, VisitState::Superseded, "a superseded visit moved");
                    prop_assert_ne!(state, VisitState::Verified, "a verified visit moved");
                    if state == VisitState::Approved {
                        let reopen = matches!(action, Action::Reopen { .. }) && role == Role::Admin;
                        let superseded = action == Action::Supersede && role != Role::Enumerator;
                        let verifier = matches!(action, Action::Verify | Action::Return { .. })
                            && matches!(role, Role::Verifier | Role::Admin);
                        prop_assert!(reopen || superseded || verifier);
                    }
                    if state == VisitState::Returned {
                        prop_assert!(matches!(role, Role::Supervisor | Role::Admin));
                    }
                    state = next;
                }
                prop_assert_eq!(state.editable(), matches!(state, VisitState::Draft | VisitState::Rejected));
            }
        }
    }
}

/// Where a household stands in an enumerator's work list, derived from its latest visit.
#[derive(ts_rs::TS, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkStatus {
    /// No visit yet.
    NotVisited,
    /// A visit is being entered (or edited after recording).
    Draft,
    /// Recorded (finished) and waiting to be submitted in a batch.
    Finished,
    /// Submitted, waiting for review.
    Submitted,
    Approved,
    /// Sent back: needs amending and resubmitting.
    Rejected,
}

impl WorkStatus {
    /// All statuses, in work order.
    pub const ALL: [WorkStatus; 6] = [
        WorkStatus::NotVisited,
        WorkStatus::Draft,
        WorkStatus::Finished,
        WorkStatus::Submitted,
        WorkStatus::Approved,
        WorkStatus::Rejected,
    ];

    /// Whether the household counts as done in the progress line: its visit is finished,
    /// submitted or approved (a draft or a sent-back visit still needs work).
    pub fn is_done(self) -> bool {
        matches!(
            self,
            WorkStatus::Finished | WorkStatus::Submitted | WorkStatus::Approved
        )
    }

    /// The status of a household whose latest visit is in `state` and, when `finished`, has been
    /// recorded since its last edit. A rejected visit stays `Rejected` until it is resubmitted.
    pub fn of(latest: Option<(VisitState, bool)>) -> WorkStatus {
        match latest {
            None => WorkStatus::NotVisited,
            Some((VisitState::Draft, false)) => WorkStatus::Draft,
            Some((VisitState::Draft, true)) => WorkStatus::Finished,
            Some((VisitState::Submitted, _)) => WorkStatus::Submitted,
            Some((VisitState::Approved, _)) => WorkStatus::Approved,
            Some((VisitState::Rejected, _)) => WorkStatus::Rejected,
            // Another visit of the household was approved in its place: the household is settled.
            Some((VisitState::Superseded | VisitState::Verified, _)) => WorkStatus::Approved,
            // The verifikator sent it back to the supervisor: waiting for review again.
            Some((VisitState::Returned, _)) => WorkStatus::Submitted,
        }
    }

    /// Wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkStatus::NotVisited => "not_visited",
            WorkStatus::Draft => "draft",
            WorkStatus::Finished => "finished",
            WorkStatus::Submitted => "submitted",
            WorkStatus::Approved => "approved",
            WorkStatus::Rejected => "rejected",
        }
    }

    /// Parses the storage name.
    pub fn parse(s: &str) -> Option<WorkStatus> {
        WorkStatus::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// Label for people.
    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (WorkStatus::NotVisited, Lang::Id) => "Belum dikunjungi",
            (WorkStatus::Draft, Lang::Id) => "Draf",
            (WorkStatus::Finished, Lang::Id) => "Selesai, belum dikirim",
            (WorkStatus::Submitted, Lang::Id) => "Terkirim",
            (WorkStatus::Approved, Lang::Id) => "Disetujui",
            (WorkStatus::Rejected, Lang::Id) => "Dikembalikan",
            (WorkStatus::NotVisited, Lang::En) => "Not visited",
            (WorkStatus::Draft, Lang::En) => "Draft",
            (WorkStatus::Finished, Lang::En) => "Finished, not sent",
            (WorkStatus::Submitted, Lang::En) => "Submitted",
            (WorkStatus::Approved, Lang::En) => "Approved",
            (WorkStatus::Rejected, Lang::En) => "Sent back",
        }
    }
}

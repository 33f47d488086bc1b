//! Batches (kiriman) and review decisions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use uuid::Uuid;

use crate::issue::{Invalid, Report};

/// Most visits one batch may carry: a day's work with room to spare, and a bounded request.
pub const MAX_BATCH_VISITS: usize = 500;

/// A set of visits an enumerator submits together for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// Batch id (UUIDv7 made on the device).
    pub batch_id: Uuid,
    /// The visits, each at most once.
    pub visit_ids: Vec<Uuid>,
}

impl Batch {
    /// Checks the size and that no visit appears twice.
    pub fn validate(&self) -> Report {
        let mut r = Report::default();
        if self.visit_ids.is_empty() || self.visit_ids.len() > MAX_BATCH_VISITS {
            r.error(
                "visit_ids",
                Invalid::BatchSize {
                    max: MAX_BATCH_VISITS,
                },
            );
        }
        let distinct: HashSet<_> = self.visit_ids.iter().collect();
        if distinct.len() != self.visit_ids.len() {
            r.error("visit_ids", Invalid::BatchDuplicate);
        }
        r
    }
}

/// A review decision.
#[derive(ts_rs::TS, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Accept the visit.
    Approve,
    /// Send it back with a reason.
    Reject,
    /// Admin only: reopen an approved visit.
    Reopen,
    /// Another visit of the household was approved in this one's place. Never asked for on its
    /// own: it is the consequence of approving the other visit with `supersede`.
    Supersede,
    /// The verifikator confirms an approved visit.
    Verify,
    /// The verifikator sends an approved visit back to the supervisor (a reason required).
    Return,
}

impl Decision {
    /// All decisions.
    pub const ALL: [Decision; 6] = [
        Decision::Approve,
        Decision::Reject,
        Decision::Reopen,
        Decision::Supersede,
        Decision::Verify,
        Decision::Return,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
            Decision::Reopen => "reopen",
            Decision::Supersede => "supersede",
            Decision::Verify => "verify",
            Decision::Return => "return",
        }
    }
}

/// One immutable review event; the latest event decides a visit's state.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewEvent {
    /// The visit decided on.
    pub visit_id: Uuid,
    pub decision: Decision,
    /// Why (required for reject and reopen).
    pub reason: Option<String>,
    /// Who decided (user id).
    pub reviewer: Uuid,
    /// When.
    pub at: DateTime<Utc>,
}

/// One approved truth per household: the other visits of the household that stand against
/// approving one more, those submitted or approved. While any is there, approving needs the
/// reviewer's choice, made with both side by side: supersede them (they become `superseded`,
/// kept and audited, out of the export and the baseline) or reject this visit with a reason.
///
/// The others are those of the visit's period and of later ones (`repo::other_visit_states` on
/// the server, by `crate::cycle::earlier_period`): a household has at most one approved visit
/// per period that is not superseded, and an earlier period's visit is not approved over a
/// later one's. Before any period exists, all work is in one.
pub fn second_truths<T: Copy>(others: &[(T, crate::VisitState)]) -> Vec<T> {
    others
        .iter()
        .filter(|(_, s)| {
            // A verified visit is final and settled (it cannot be superseded): a later visit,
            // the next period's verification, stands on its own.
            matches!(
                s,
                crate::VisitState::Submitted
                    | crate::VisitState::Approved
                    | crate::VisitState::Returned
            )
        })
        .map(|(id, _)| *id)
        .collect()
}

/// Whether a visit may be approved in bulk (with the rest of its batch, unopened), given the
/// review states of the household's other visits: not when [`second_truths`] finds any, since
/// two truths about one household must be compared side by side and decided one at a time.
pub fn approvable_in_bulk(other_visits: &[crate::VisitState]) -> bool {
    let others: Vec<((), crate::VisitState)> = other_visits.iter().map(|s| ((), *s)).collect();
    second_truths(&others).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_household_with_a_second_visit_waiting_or_approved_is_decided_one_at_a_time() {
        use crate::VisitState::*;
        assert!(approvable_in_bulk(&[]));
        assert!(approvable_in_bulk(&[Draft, Rejected]));
        assert!(!approvable_in_bulk(&[Rejected, Submitted]));
        assert!(!approvable_in_bulk(&[Approved]));
        assert!(approvable_in_bulk(&[Superseded, Rejected]));
    }

    #[test]
    fn only_waiting_and_approved_visits_stand_against_another_approval() {
        use crate::VisitState::*;
        let others = [
            (1, Draft),
            (2, Submitted),
            (3, Approved),
            (4, Rejected),
            (5, Superseded),
            (6, Returned),
            (7, Verified),
        ];
        // A returned visit waits for the supervisor again; a verified one is settled.
        assert_eq!(second_truths(&others), vec![2, 3, 6]);
        assert!(second_truths::<u8>(&[]).is_empty());
    }

    #[test]
    fn batch_rules() {
        let v = Uuid::now_v7();
        assert!(
            Batch {
                batch_id: Uuid::now_v7(),
                visit_ids: vec![v]
            }
            .validate()
            .is_ok()
        );
        let empty = Batch {
            batch_id: Uuid::now_v7(),
            visit_ids: vec![],
        };
        assert_eq!(empty.validate().error_codes(), vec!["batch.size"]);
        let twice = Batch {
            batch_id: Uuid::now_v7(),
            visit_ids: vec![v, v],
        };
        assert_eq!(twice.validate().error_codes(), vec!["batch.duplicate"]);
    }
}

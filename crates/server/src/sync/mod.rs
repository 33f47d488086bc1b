//! Sync protocol v1 on the server: [`push`] applies a device's queued ops exactly once, [`pull`]
//! pages the change feed the caller may see. Both announce visits in the feed the same way
//! ([`visit_change`]).

use chrono::{DateTime, Utc};
use uuid::Uuid;
use verivali_domain::VisitState;

use crate::app::Caller;
use crate::db::{DbResult, Sql};
use crate::repo::{self, Audit, VisitRow};

pub(crate) mod order;
mod pull;
mod push;

/// Most ops one push may carry.
pub const MAX_OPS_PER_PUSH: usize = 5_000;
/// Pull page when the caller names no limit.
pub const PULL_DEFAULT: usize = 500;
/// Largest pull page (a fresh device on a good link asks for pages this large: fewer round
/// trips and fewer commits on both sides; ~170 KiB with zstd).
pub const PULL_MAX: usize = 5_000;

/// Announces a visit in the change feed. The row carries no copy of the record: pull joins the
/// visit, so a device always receives the visit's latest revision and state.
pub(crate) fn visit_change(tx: &mut dyn Sql, row: &VisitRow, now: DateTime<Utc>) -> DbResult<()> {
    let version = i64::from(row.record.revision) * 10 + state_rank(row.state);
    repo::append_change(
        tx,
        "visit",
        &row.record.visit_id.to_string(),
        version,
        false,
        &row.kode_desa,
        Some(row.enumerator_id),
        "",
        now,
    )
}

/// A visit change written by its own device's push (left out of that device's pulls).
/// A pushed visit's change as [`repo::append_pushed_visit_changes`] writes it (a push gathers
/// them and writes them together).
fn pushed_change(row: &VisitRow) -> repo::PushedChange {
    (
        row.record.visit_id,
        i64::from(row.record.revision) * 10 + state_rank(row.state),
        row.kode_desa.clone(),
        row.enumerator_id,
    )
}

fn pushed_visit_change(
    tx: &mut dyn Sql,
    row: &VisitRow,
    origin: Uuid,
    now: DateTime<Utc>,
) -> DbResult<()> {
    repo::append_pushed_visit_change(
        tx,
        row.record.visit_id,
        i64::from(row.record.revision) * 10 + state_rank(row.state),
        &row.kode_desa,
        row.enumerator_id,
        origin,
        now,
    )
}

/// Orders state changes within one revision in the visit's change version.
fn state_rank(s: VisitState) -> i64 {
    match s {
        VisitState::Draft => 0,
        VisitState::Submitted => 1,
        VisitState::Rejected => 2,
        VisitState::Approved => 3,
        VisitState::Superseded => 4,
        VisitState::Returned => 5,
        VisitState::Verified => 6,
    }
}

fn audit<'a>(
    caller: &'a Caller,
    action: &'a str,
    kind: &'a str,
    id: Uuid,
    detail: Option<String>,
) -> Audit<'a> {
    Audit {
        entity_kind: Some(kind),
        entity_id: Some(id.to_string()),
        detail,
        ..caller.audit(action)
    }
}

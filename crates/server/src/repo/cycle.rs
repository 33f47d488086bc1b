//! The update cycle's tables (DESIGN.md §12): periods, proposals and musdes sessions. Reads of
//! proposals and sessions take a [`Scope`]: a desa office sees its desa, a dinas its kabupaten.

use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;
use uuid::Uuid;
use verivali_domain::VisitState;
use verivali_domain::cycle::{
    Attendee, Channel, NewMusdes, NewProposal, Period, PeriodState, ProposalKind, Verdict,
};

use super::{Scope, Where, json, to_json, ts, uuid};
use crate::db::{DbError, DbResult, Row, Sql, Value};

fn corrupt(what: &str) -> DbError {
    DbError::Corrupt(what.into())
}

fn date(s: &str) -> DbResult<NaiveDate> {
    s.parse().map_err(|_| corrupt("date"))
}

fn time(s: &str) -> DbResult<DateTime<Utc>> {
    s.parse().map_err(|_| corrupt("time"))
}

/// Every period.
pub fn periods(tx: &mut dyn Sql) -> DbResult<Vec<Period>> {
    tx.query(
        "SELECT id, name, opens, cutoff, closes, state FROM periods ORDER BY cutoff",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(Period {
            id: uuid(r.str(0))?,
            name: r.text(1),
            opens: date(r.str(2))?,
            cutoff: date(r.str(3))?,
            closes: date(r.str(4))?,
            state: PeriodState::parse(r.str(5)).ok_or_else(|| corrupt("period state"))?,
        })
    })
    .collect()
}

/// Stores a new period.
pub fn insert_period(tx: &mut dyn Sql, p: &Period, by: Uuid, now: DateTime<Utc>) -> DbResult<()> {
    tx.execute(
        "INSERT INTO periods (id, name, opens, cutoff, closes, state, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            p.id.into(),
            p.name.as_str().into(),
            p.opens.to_string().into(),
            p.cutoff.to_string().into(),
            p.closes.to_string().into(),
            p.state.as_str().into(),
            by.into(),
            ts(now).into(),
        ],
    )?;
    Ok(())
}

/// Moves a period to `state`.
pub fn set_period_state(
    tx: &mut dyn Sql,
    id: Uuid,
    state: PeriodState,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let column = match state {
        PeriodState::Open => "opened_at",
        _ => "closed_at",
    };
    tx.execute(
        &format!("UPDATE periods SET state = $1, {column} = $2 WHERE id = $3"),
        &[state.as_str().into(), ts(now).into(), id.into()],
    )?;
    Ok(())
}

/// A proposal as stored.
#[derive(Debug, Clone)]
pub struct ProposalRow {
    pub id: Uuid,
    pub p: NewProposal,
    pub entered_at: DateTime<Utc>,
    pub musdes_id: Option<Uuid>,
    pub decision: Option<Verdict>,
    pub note: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub target_household_id: Option<Uuid>,
}

const PROPOSAL_COLUMNS: &str = "id, kind, channel, household_id, nik, name, address, kode_desa,
    reporter, reason, entered_at, musdes_id, decision, note, decided_at, target_household_id";

fn proposal_row(r: &Row) -> DbResult<ProposalRow> {
    let opt_uuid = |i| r.opt_text(i).map(|t| uuid(&t)).transpose();
    Ok(ProposalRow {
        id: uuid(r.str(0))?,
        p: NewProposal {
            kind: ProposalKind::parse(r.str(1)).ok_or_else(|| corrupt("proposal kind"))?,
            channel: Channel::parse(r.str(2)).ok_or_else(|| corrupt("channel"))?,
            household_id: opt_uuid(3)?,
            nik: r.opt_text(4),
            name: r.text(5),
            address: r.text(6),
            kode_desa: r.text(7),
            reporter: r.opt_text(8),
            reason: r.text(9),
        },
        entered_at: time(r.str(10))?,
        musdes_id: opt_uuid(11)?,
        decision: r.opt_text(12).and_then(|d| Verdict::parse(&d)),
        note: r.opt_text(13),
        decided_at: r.opt_text(14).map(|t| time(&t)).transpose()?,
        target_household_id: opt_uuid(15)?,
    })
}

/// Stores a new proposal (checked).
pub fn insert_proposal(
    tx: &mut dyn Sql,
    id: Uuid,
    p: &NewProposal,
    by: Uuid,
    now: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO proposals (id, kind, channel, household_id, nik, name, address, kode_desa,
             reporter, reason, entered_by, entered_at, target_household_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $4)",
        &[
            id.into(),
            p.kind.as_str().into(),
            p.channel.as_str().into(),
            p.household_id.into(),
            p.nik.clone().into(),
            p.name.as_str().into(),
            p.address.as_str().into(),
            p.kode_desa.as_str().into(),
            p.reporter.clone().into(),
            p.reason.as_str().into(),
            by.into(),
            ts(now).into(),
        ],
    )?;
    Ok(())
}

/// The proposals of the caller's areas, newest first, optionally of one desa prefix.
pub fn proposals(tx: &mut dyn Sql, scope: &Scope) -> DbResult<Vec<ProposalRow>> {
    let mut w = Where::default();
    w.scope(scope, "kode_desa");
    tx.query(
        &format!(
            "SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE {} ORDER BY entered_at DESC, id",
            w.sql()
        ),
        &w.params,
    )?
    .iter()
    .map(proposal_row)
    .collect()
}

/// Proposals by id in the caller's areas (absent or outside: missing), locked for update.
pub fn proposals_for_update(
    tx: &mut dyn Sql,
    scope: &Scope,
    ids: &[Uuid],
) -> DbResult<HashMap<Uuid, ProposalRow>> {
    let mut out = HashMap::new();
    let lock = super::lock(tx);
    // Locked in id order across chunks too: two sessions deciding overlapping lists never
    // wait on each other in a circle.
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    for chunk in ids.chunks(400) {
        let mut w = Where::default();
        w.scope_filter(scope, "kode_desa");
        let first = w.params.len() + 1;
        let marks: Vec<String> = (0..chunk.len())
            .map(|i| format!("${}", first + i))
            .collect();
        let mut params = w.params.clone();
        params.extend(chunk.iter().map(|id| Value::from(*id)));
        let sql = format!(
            "SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE {} AND id IN ({}) ORDER BY id{lock}",
            w.sql(),
            marks.join(", ")
        );
        for r in tx.query(&sql, &params)? {
            let row = proposal_row(&r)?;
            out.insert(row.id, row);
        }
    }
    Ok(out)
}

/// Records a session's decision on a proposal (and the household its verification goes to).
pub fn decide_proposal(
    tx: &mut dyn Sql,
    id: Uuid,
    musdes: Uuid,
    verdict: Verdict,
    note: Option<&str>,
    target: Option<Uuid>,
    now: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "UPDATE proposals SET musdes_id = $1, decision = $2, note = $3, decided_at = $4,
             target_household_id = $5 WHERE id = $6",
        &[
            musdes.into(),
            verdict.as_str().into(),
            note.map(str::to_string).into(),
            ts(now).into(),
            target.into(),
            id.into(),
        ],
    )?;
    Ok(())
}

/// A session as stored (its decisions are on the proposals).
#[derive(Debug, Clone)]
pub struct MusdesRow {
    pub id: Uuid,
    pub m: NewMusdes,
    pub recorded_at: DateTime<Utc>,
    /// `(sha256, content type, bytes, at)` of the signed scan.
    pub scan: Option<(String, String, u64, DateTime<Utc>)>,
}

/// Stores a session (its decisions go on the proposals, [`decide_proposal`]).
pub fn insert_musdes(
    tx: &mut dyn Sql,
    id: Uuid,
    m: &NewMusdes,
    by: Uuid,
    now: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO musdes (id, kode_desa, date, sptjm, place, chair, attendees, recorded_by, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            id.into(),
            m.kode_desa.as_str().into(),
            m.date.to_string().into(),
            i64::from(m.sptjm).into(),
            m.place.as_str().into(),
            m.chair.as_str().into(),
            to_json(&m.attendees)?.into(),
            by.into(),
            ts(now).into(),
        ],
    )?;
    Ok(())
}

/// Sessions of the caller's areas, newest first; `id` narrows to one.
pub fn musdes(tx: &mut dyn Sql, scope: &Scope, id: Option<Uuid>) -> DbResult<Vec<MusdesRow>> {
    let mut w = Where::default();
    w.scope(scope, "kode_desa");
    if let Some(id) = id {
        w.eq("id = ?", id);
    }
    tx.query(
        &format!(
            "SELECT id, kode_desa, date, sptjm, place, chair, attendees, recorded_at,
                 scan_sha256, scan_type, scan_bytes, scan_at
             FROM musdes WHERE {} ORDER BY date DESC, id",
            w.sql()
        ),
        &w.params,
    )?
    .iter()
    .map(|r| {
        let attendees: Vec<Attendee> = json(r.str(6))?;
        let scan = match (r.opt_text(8), r.opt_text(9), r.opt_text(11)) {
            (Some(sha), Some(t), Some(at)) => Some((sha, t, r.i64(10) as u64, time(&at)?)),
            _ => None,
        };
        Ok(MusdesRow {
            id: uuid(r.str(0))?,
            m: NewMusdes {
                kode_desa: r.text(1),
                date: date(r.str(2))?,
                sptjm: r.i64(3) != 0,
                place: r.text(4),
                chair: r.text(5),
                attendees,
                decisions: vec![],
            },
            recorded_at: time(r.str(7))?,
            scan,
        })
    })
    .collect()
}

/// The proposals a session decided, in the order they were entered.
pub fn decided_by(tx: &mut dyn Sql, musdes: Uuid) -> DbResult<Vec<ProposalRow>> {
    tx.query(
        &format!(
            "SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE musdes_id = $1 ORDER BY entered_at, id"
        ),
        &[musdes.into()],
    )?
    .iter()
    .map(proposal_row)
    .collect()
}

/// Keeps the signed scan of a session.
pub fn set_musdes_scan(
    tx: &mut dyn Sql,
    id: Uuid,
    sha: &str,
    content_type: &str,
    bytes: u64,
    now: DateTime<Utc>,
) -> DbResult<()> {
    tx.execute(
        "UPDATE musdes SET scan_sha256 = $1, scan_type = $2, scan_bytes = $3, scan_at = $4 WHERE id = $5",
        &[
            sha.into(),
            content_type.into(),
            (bytes as i64).into(),
            ts(now).into(),
            id.into(),
        ],
    )?;
    Ok(())
}

/// Per household, its finished visits as `(received, state)`.
pub type Received = HashMap<Uuid, Vec<(DateTime<Utc>, VisitState)>>;

/// For each household, its finished visits as `(when the server first received it, state)`,
/// in that order. The server's clock, not the device's: a proposal decided at the musdes is
/// verified by a visit that reached the server after the decision.
pub fn visits_since(tx: &mut dyn Sql, households: &[Uuid]) -> DbResult<Received> {
    let mut out: HashMap<Uuid, Vec<(DateTime<Utc>, VisitState)>> = HashMap::new();
    for chunk in households.chunks(400) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let params: Vec<Value> = chunk.iter().map(|id| Value::from(*id)).collect();
        let sql = format!(
            "SELECT household_id, created_at, state FROM visits
             WHERE household_id IN ({}) AND finished_at IS NOT NULL",
            marks.join(", ")
        );
        for r in tx.query(&sql, &params)? {
            let (Ok(at), Some(state)) = (time(r.str(1)), VisitState::parse(r.str(2))) else {
                continue;
            };
            out.entry(uuid(r.str(0))?).or_default().push((at, state));
        }
    }
    for v in out.values_mut() {
        v.sort_by_key(|(at, _)| *at);
    }
    Ok(out)
}

/// Whether an active verifikator dinas covers the desa: then a supervisor's approval waits for
/// their verification before it changes the baseline.
pub fn verified_in(tx: &mut dyn Sql, kode_desa: &str) -> DbResult<bool> {
    Ok(
        super::list_users(tx, None, Some(verivali_domain::Role::Verifier), Some(false))?
            .iter()
            .any(|l| l.user.areas.contains(kode_desa)),
    )
}

/// Whether a visit's findings are in the baseline already.
pub fn baseline_applied(tx: &mut dyn Sql, visit: Uuid) -> DbResult<bool> {
    Ok(tx
        .query_opt(
            "SELECT baseline_applied FROM visits WHERE id = $1",
            &[visit.into()],
        )?
        .is_some_and(|r| r.i64(0) != 0))
}

/// Notes that a visit's findings went into the baseline.
pub fn set_baseline_applied(tx: &mut dyn Sql, visit: Uuid) -> DbResult<()> {
    tx.execute(
        "UPDATE visits SET baseline_applied = 1 WHERE id = $1",
        &[visit.into()],
    )?;
    Ok(())
}

/// Visits of a scope finished within `[from, to)` (no lower bound without `from`), counted by
/// `(desa, outcome, state)`; drafts and superseded visits are not counted.
pub fn visit_tally(
    tx: &mut dyn Sql,
    scope: &Scope,
    from: Option<DateTime<Utc>>,
    to: DateTime<Utc>,
) -> DbResult<Vec<(String, String, String, i64)>> {
    let mut w = Where::default();
    w.scope(scope, "kode_desa");
    if let Some(f) = from {
        w.eq("finished_at >= ?", ts(f));
    }
    w.eq("finished_at < ?", ts(to));
    let sql = format!(
        "SELECT kode_desa, outcome, state, count(*) FROM visits
         WHERE {} AND state NOT IN ('draft', 'superseded')
         GROUP BY kode_desa, outcome, state ORDER BY kode_desa",
        w.sql()
    );
    Ok(tx
        .query(&sql, &w.params)?
        .iter()
        .map(|r| (r.text(0), r.text(1), r.text(2), r.i64(3)))
        .collect())
}

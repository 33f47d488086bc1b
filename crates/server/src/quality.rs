//! Quality control on the server (DESIGN.md §11): the flags of a visit computed at ingest by the
//! rules of [`verivali_domain::quality`], from evidence gathered in a few indexed queries for a
//! whole push; the thresholds an admin changes (`GET`/`PUT /api/v1/admin/quality/thresholds`,
//! `verivali-server quality thresholds`); and the enumerator comparison
//! (`GET /api/v1/review/enumerators?area=CODE`).
//!
//! When flags are computed: a visit's own when it is recorded (only once finished: a draft is not
//! judged); its open siblings' when it changes what they see (another visit of the household, a
//! burst in the enumerator's hour, an approval that sets the household's reference point, a
//! reassignment); every open visit's when the thresholds change. A decided visit (approved,
//! superseded) keeps the flags the supervisor saw.
//!
//! A household's second visit is one finished in the same period as the first
//! ([`verivali_domain::cycle::same_period`]): last month's visit, decided or not, does not flag
//! this month's.
//!
//! Photo reuse is judged by finish time (then id): the later visit is flagged, the one that used
//! the photo first is not, so an honest visit whose photo another enumerator copies stays clean.

use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The checks' maps and sets, hashed with foldhash (seeded per process) instead of SipHash: a
/// large push's checks look up tens of thousands of NIKs and ids, inside the write lock for the
/// neighbours' and the visits' own flags, and SipHash was about 1 % of the server's CPU there.
/// Their keys come from an authenticated enumerator's push, bounded by its size.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type Set<T> = HashSet<T, foldhash::fast::RandomState>;
use uuid::Uuid;
use verivali_domain::quality::{self, Evidence, FlagCode, Thresholds};
use verivali_domain::{Role, VisitState};
use verivali_protocol::review::{EnumeratorComparison, EnumeratorQuality, UserRef};

use crate::app::{App, Caller};
use crate::db::{DbError, DbResult, Sql};
use crate::error::{ApiError, Refusal};
use crate::repo::{self, Audit, VisitRow};

/// The settings key of the thresholds.
const THRESHOLDS_KEY: &str = "quality.thresholds";

/// Whether a visit's flags may still change (a decided one keeps what the supervisor saw; one the
/// verifikator returned waits for the supervisor again).
pub(crate) fn open(state: VisitState) -> bool {
    matches!(
        state,
        VisitState::Draft | VisitState::Submitted | VisitState::Rejected | VisitState::Returned
    )
}

/// The thresholds in force (the defaults until an admin changes them).
pub(crate) fn thresholds(tx: &mut dyn Sql) -> DbResult<Thresholds> {
    Ok(repo::setting(tx, THRESHOLDS_KEY)?
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}

/// An enumerator's finish times in order, with, for each, how many of them lie in the hour that
/// starts there (two pointers: linear in the number of times).
struct Hours {
    times: Vec<repo::Finished>,
    from_here: Vec<u32>,
}

impl Hours {
    fn new(times: Vec<repo::Finished>) -> Hours {
        let hour = Duration::hours(1);
        let mut from_here = Vec::with_capacity(times.len());
        let mut end = 0;
        for (i, f) in times.iter().enumerate() {
            end = end.max(i);
            while end < times.len() && times[end].at - f.at <= hour {
                end += 1;
            }
            from_here.push((end - i) as u32);
        }
        Hours { times, from_here }
    }

    /// For each visit, in the order of `times`, the most visits finished in any one hour that
    /// includes its finish: the best of the hours that start within the hour before it (a
    /// sliding maximum, linear). By position, not in a map by id: an enumerator's whole hour is
    /// read at every push, ten thousand visits in the side-by-side benchmark, and two maps of
    /// them were rebuilt inside the write lock each time.
    fn busiest_all(&self) -> Vec<u32> {
        let hour = Duration::hours(1);
        let mut out = Vec::with_capacity(self.times.len());
        // Indexes of window starts with decreasing counts; the front is the window's best.
        let mut best: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
        let mut next = 0;
        for f in &self.times {
            while next < self.times.len() && self.times[next].at <= f.at {
                while best
                    .back()
                    .is_some_and(|&b| self.from_here[b] <= self.from_here[next])
                {
                    best.pop_back();
                }
                best.push_back(next);
                next += 1;
            }
            while best
                .front()
                .is_some_and(|&b| self.times[b].at < f.at - hour)
            {
                best.pop_front();
            }
            out.push(best.front().map_or(1, |&b| self.from_here[b]));
        }
        out
    }
}

/// The evidence that only decisions, imports and assignments change, never a push: who holds
/// which NIK, each household's reference point, the assignments, the thresholds. A push gathers
/// it from a snapshot before it takes the write lock (so concurrent pushes share the cores
/// instead of queueing behind these reads); a change to them in between is at most a few
/// milliseconds older than the push, as if the push had come a moment earlier. The periods and
/// thresholds are read again inside the push's transaction ([`after_ingest`]), ordered against
/// their changes (`repo::share_rules`), whose re-checks read the visits once, after committing.
#[derive(Debug, Default, Clone)]
pub(crate) struct Settled {
    /// The periods, for `two_visits` (a visit of another period is not a second one).
    periods: Vec<verivali_domain::cycle::Period>,
    holders: Map<String, Vec<Uuid>>,
    references: HashMap<Uuid, (Uuid, verivali_domain::Gps)>,
    assigned: HashMap<Uuid, repo::AssignmentRow>,
    thresholds: Thresholds,
}

impl Settled {
    /// Gathers it for these visits.
    pub(crate) fn gather<'a>(
        tx: &mut dyn Sql,
        visits: impl Iterator<Item = &'a verivali_domain::VisitRecord> + Clone,
    ) -> DbResult<Settled> {
        let households: Vec<Uuid> = visits
            .clone()
            .map(|v| v.household_id)
            .collect::<Set<_>>()
            .into_iter()
            .collect();
        let niks: Vec<String> = visits
            .flat_map(|v| v.members.iter())
            .filter(|m| m.status.is_present())
            .filter_map(|m| m.nik.clone())
            .collect();
        let mut holders: Map<String, Vec<Uuid>> = Map::default();
        if !niks.is_empty() {
            for (nik, hh) in repo::living_nik_holders(tx, &niks)? {
                holders.entry(nik).or_default().push(hh);
            }
        }
        Ok(Settled {
            periods: repo::periods(tx)?,
            holders,
            references: repo::reference_points(tx, &households)?,
            assigned: repo::assignments_of(tx, &households)?,
            thresholds: thresholds(tx)?,
        })
    }
}

/// Notes a visit's flags (JSON) and risk for writing.
fn store(out: &mut Vec<(Uuid, String, u32)>, id: Uuid, flags: &[quality::Flag]) -> DbResult<()> {
    let json = serde_json::to_string(flags).map_err(|e| DbError::Corrupt(e.to_string()))?;
    out.push((id, json, quality::risk(flags)));
    Ok(())
}

/// What the checks of a push read of the visits themselves, read ahead on a second connection
/// while the writer applies the push's ops: each household's visits and the enumerator's finish
/// times around the push's visits. On SQLite those reads were ~15 % of the writer's time in a
/// 10,000-visit sync, the one part of the serial path another core could take (docs/
/// benchmarks.md, twentieth pass). Exact only when nothing written before the checks changes
/// those rows (a push of visit records alone writes its visits after them) and the second
/// connection sees what the writer saw when its transaction began
/// ([`Sql::alone_with_the_writer`]); `sync::push` reads ahead only then.
pub(crate) struct ReadAhead {
    siblings: Vec<repo::SiblingVisit>,
    times: Option<AheadTimes>,
}

/// An enumerator, the finish times of the visits read for (first, last), and their visits
/// finished from an hour before the first to an hour after the last.
type AheadTimes = (Uuid, (DateTime<Utc>, DateTime<Utc>), Vec<repo::Finished>);

impl ReadAhead {
    /// Reads for the visits `enumerator` is pushing, each given as its household and finish
    /// time: a superset of those the checks will judge (an op the writer refuses leaves a
    /// household read for nothing, and a window that no longer matches is read again in the
    /// transaction).
    pub(crate) fn read(
        tx: &mut dyn Sql,
        enumerator: Uuid,
        visits: &[(Uuid, Option<DateTime<Utc>>)],
    ) -> DbResult<ReadAhead> {
        let households: Vec<Uuid> = visits
            .iter()
            .map(|v| v.0)
            .collect::<Set<_>>()
            .into_iter()
            .collect();
        let window = visits.iter().filter_map(|v| v.1).fold(
            None,
            |w: Option<(DateTime<Utc>, DateTime<Utc>)>, f| {
                Some(w.map_or((f, f), |(a, b)| (a.min(f), b.max(f))))
            },
        );
        let hour = Duration::hours(1);
        Ok(ReadAhead {
            siblings: repo::household_visits(tx, &households)?,
            times: match window {
                Some((from, to)) => Some((
                    enumerator,
                    (from, to),
                    repo::finish_times(tx, enumerator, from - hour, to + hour)?,
                )),
                None => None,
            },
        })
    }
}

/// Computes and stores the flags of `rows` (their records as just written), and tells the open,
/// finished visits around them what they now share: a sibling in the same household gains
/// `two_visits` when it had no other visit before, the enumerator's other visits of an hour gain
/// `burst` when these visits push that hour over the limit. A neighbour's flag is added to what
/// it has, without gathering its evidence again, and its detail (the other visits, the count) is
/// as of when it was raised: a busy household or hour does not re-write every visit on every
/// push (the visit page lists the other visits live). Two exceptions, both for a visit recorded
/// again with another finish (`moved`, with the finish the server held). One that moved to
/// another period leaves one period's visits and joins another's, and the open visits of its
/// household in either have their `two_visits` counted again (the flag goes where no other visit
/// of the period stands; so a moved visit leaves exact details on its household's flags, where
/// a new one leaves those that named another visit as they were). And one that moved to another
/// hour leaves that hour: the enumerator's open visits within an hour of the finish it left lose
/// `burst` when their busiest hour is no longer over the limit (one still over it keeps the flag
/// with its detail as raised). Through a push the finish is always set
/// (`VisitRecord::validate`); one not set is a row stored otherwise, and counts in every period.
///
/// Every read here is an index look-up for the whole push: the households' visits and the
/// enumerators' finish times from covering indexes, the reference points, the photos by hash,
/// the NIKs through `members_nik`, the assignments.
///
/// `rows` may not be written yet (a push writes its visits once their flags are known): what the
/// database says of them is replaced by the rows themselves. Their own flags are returned
/// (`visit → (JSON, risk)`), for the caller to write; the neighbours' are written here.
///
/// The visits' and finish times' reads may have been made beside the writer (`ahead`, see
/// [`ReadAhead`]).
pub(crate) fn refresh(
    tx: &mut dyn Sql,
    rows: &[&VisitRow],
    settled: &Settled,
    ahead: Option<ReadAhead>,
    moved: &[(Uuid, Option<DateTime<Utc>>)],
    tell: bool,
) -> DbResult<Map<Uuid, (String, u32)>> {
    let (ahead_siblings, mut ahead_times) = match ahead {
        Some(a) => (Some(a.siblings), a.times),
        None => (None, None),
    };
    if rows.is_empty() {
        return Ok(Map::default());
    }
    let checked: Set<Uuid> = rows.iter().map(|r| r.record.visit_id).collect();
    let t = &settled.thresholds;
    let households: Vec<Uuid> = rows
        .iter()
        .map(|r| r.record.household_id)
        .collect::<Set<_>>()
        .into_iter()
        .collect();
    // Read ahead for every household of the push: a superset of these rows' households (one
    // whose visit the writer refused, perhaps outside the caller's area). Only the rows' own
    // households are looked up below (`by_household`), so the rest is never used or shown.
    let read = match ahead_siblings {
        Some(s) => s,
        None => repo::household_visits(tx, &households)?,
    };
    let mut siblings: Vec<repo::SiblingVisit> = read
        .into_iter()
        .filter(|s| !checked.contains(&s.id))
        .collect();
    siblings.extend(rows.iter().map(|r| repo::SiblingVisit {
        id: r.record.visit_id,
        household_id: r.record.household_id,
        enumerator_id: r.enumerator_id,
        state: r.state,
        finished_at: r.record.finished_at,
    }));
    siblings.sort_by_key(|s| s.id);
    let mut by_household: Map<Uuid, Vec<&repo::SiblingVisit>> = Map::default();
    for s in &siblings {
        by_household.entry(s.household_id).or_default().push(s);
    }
    let references = &settled.references;
    let shas: Vec<String> = rows
        .iter()
        .flat_map(|r| r.record.photos.iter().cloned())
        .collect();
    let mut photo_users: Map<String, Vec<repo::PhotoUse>> = Map::default();
    for u in repo::photo_users(tx, &shas)? {
        photo_users.entry(u.sha256.clone()).or_default().push(u);
    }
    let (holders, assigned) = (&settled.holders, &settled.assigned);
    // Each enumerator's finish times around these visits (one range query per enumerator), with
    // and without these visits: a neighbour is told of a burst only when they make it one.
    let mut ranges: Map<Uuid, (DateTime<Utc>, DateTime<Utc>)> = Map::default();
    for r in rows {
        if let Some(f) = r.record.finished_at {
            let e = ranges.entry(r.enumerator_id).or_insert((f, f));
            e.0 = e.0.min(f);
            e.1 = e.1.max(f);
        }
    }
    let hour = Duration::hours(1);
    // A visit recorded again with another finish (`moved`) leaves an hour as well as joins one.
    // The enumerator's visits around the finish the server held are read too, two hours either
    // side, so that every hour holding a visit within an hour of it is read whole; those open
    // visits whose busiest hour is no longer over the limit lose `burst` (below). The range
    // read is one per enumerator, so it spans the old finish and the new one: days of that
    // enumerator's finish times for a visit finished again days later. Moves are rare (a visit
    // sent back and finished again), and a push without one reads as before (the read-ahead's
    // window no longer matches only when one is there).
    let mut left: Map<Uuid, Vec<DateTime<Utc>>> = Map::default();
    for (id, held) in moved {
        let Some(held) = *held else { continue };
        let Some(row) = rows.iter().find(|r| r.record.visit_id == *id) else {
            continue;
        };
        if row.record.finished_at == Some(held) {
            continue;
        }
        left.entry(row.enumerator_id).or_default().push(held);
        let e = ranges
            .entry(row.enumerator_id)
            .or_insert((held - hour, held + hour));
        e.0 = e.0.min(held - hour);
        e.1 = e.1.max(held + hour);
    }
    let mut times: Map<Uuid, (Hours, Hours)> = Map::default();
    for (enumerator, (from, to)) in &ranges {
        // What the database says, without these visits (perhaps not written yet), then with them.
        // Read ahead over the same window, or read now.
        let read = match ahead_times.take() {
            Some((e, window, times)) if e == *enumerator && window == (*from, *to) => times,
            other => {
                ahead_times = other;
                repo::finish_times(tx, *enumerator, *from - hour, *to + hour)?
            }
        };
        let before: Vec<repo::Finished> = read
            .into_iter()
            .filter(|f| !checked.contains(&f.id))
            .collect();
        // Stored times may differ in their fraction digits (older rows): order them as times.
        let mut before = before;
        before.sort_by_key(|f| (f.at, f.id));
        let mut all = before.clone();
        all.extend(
            rows.iter()
                .filter(|r| r.enumerator_id == *enumerator)
                .filter_map(|r| {
                    Some(repo::Finished {
                        id: r.record.visit_id,
                        at: r.record.finished_at?,
                        state: r.state,
                    })
                }),
        );
        all.sort_by_key(|f| (f.at, f.id));
        times.insert(*enumerator, (Hours::new(all), Hours::new(before)));
    }
    // Each visit's busiest hour, with and without these visits (by position in `all` and in
    // `before`).
    let busiest: Map<Uuid, (Vec<u32>, Vec<u32>)> = times
        .iter()
        .map(|(e, (all, before))| (*e, (all.busiest_all(), before.busiest_all())))
        .collect();
    // Flags to write, all at once at the end.
    let mut out: Vec<(Uuid, String, u32)> = Vec::new();
    // What each neighbour learns, by visit.
    let mut told: Map<Uuid, Vec<quality::Flag>> = Map::default();
    for row in rows {
        let v = &row.record;
        let Some(finished) = v.finished_at.filter(|_| open(row.state)) else {
            continue;
        };
        // The household's visits of this visit's period (`two_visits`); one not finished has
        // no period yet and stays, as before periods.
        let family: Vec<&repo::SiblingVisit> = by_household
            .get(&v.household_id)
            .into_iter()
            .flatten()
            .copied()
            .filter(|s| {
                s.finished_at.is_none_or(|f| {
                    verivali_domain::cycle::same_period(&settled.periods, f, finished)
                })
            })
            .collect();
        let standing: Vec<Uuid> = family
            .iter()
            .filter(|s| s.state != VisitState::Superseded)
            .map(|s| s.id)
            .collect();
        let other_visits: Vec<Uuid> = standing
            .iter()
            .copied()
            .filter(|id| *id != v.visit_id)
            .collect();
        for s in family.iter().filter(|s| {
            s.id != v.visit_id
                && open(s.state)
                && s.finished_at.is_some()
                && !checked.contains(&s.id)
        }) {
            // It had no other standing visit before this push: it does not know yet.
            let knew = standing
                .iter()
                .any(|id| *id != s.id && !checked.contains(id));
            if !knew {
                let others: Vec<Uuid> = standing.iter().copied().filter(|id| *id != s.id).collect();
                told.entry(s.id)
                    .or_default()
                    .push(quality::two_visits(&others));
            }
        }
        // A visit that finished later with one of these photos, already on the server (its
        // device synced first): it reused the photo, and learns so now.
        for sha in &v.photos {
            for u in photo_users.get(sha).into_iter().flatten() {
                let later = u
                    .finished_at
                    .is_some_and(|f| (finished, v.visit_id) < (f, u.visit));
                if later && !checked.contains(&u.visit) {
                    told.entry(u.visit).or_default().push(quality::Flag::new(
                        FlagCode::PhotoReused,
                        serde_json::json!({"sha256": sha, "other_visit": v.visit_id}),
                    ));
                }
            }
        }
        // Another finished visit that used the photo first (finish time, then id).
        let mut reused_photos = Vec::new();
        for sha in &v.photos {
            if let Some(u) = photo_users
                .get(sha)
                .into_iter()
                .flatten()
                .filter(|u| u.visit != v.visit_id)
                .filter_map(|u| u.finished_at.map(|f| (f, u.visit)))
                .filter(|earlier| *earlier < (finished, v.visit_id))
                .min()
            {
                reused_photos.push((sha.clone(), u.1));
            }
        }
        let mut duplicate_niks = Vec::new();
        for m in v.members.iter().filter(|m| m.status.is_present()) {
            let Some(nik) = &m.nik else { continue };
            if let Some(hh) = holders
                .get(nik)
                .into_iter()
                .flatten()
                .find(|hh| **hh != v.household_id)
            {
                duplicate_niks.push((nik.clone(), *hh));
            }
        }
        // `all` is in (finish, id) order and holds this visit.
        let finished_within_hour = times
            .get(&row.enumerator_id)
            .zip(busiest.get(&row.enumerator_id))
            .and_then(|((all, _), (now, _))| {
                let at = all
                    .times
                    .binary_search_by(|f| (f.at, f.id).cmp(&(finished, v.visit_id)))
                    .ok()?;
                now.get(at).copied()
            })
            .unwrap_or(1);
        let e = Evidence {
            duration_s: quality::duration_s(v),
            reference: references
                .get(&v.household_id)
                .filter(|(id, _)| *id != v.visit_id)
                .map(|(_, g)| *g),
            reused_photos,
            duplicate_niks,
            finished_within_hour,
            other_visits,
            reassigned: assigned
                .get(&v.household_id)
                .is_some_and(|a| a.enumerator_id != row.enumerator_id),
        };
        store(&mut out, v.visit_id, &quality::flags(v, &e, t))?;
    }
    // A visit not judged (a draft, a decided one) keeps no flags of its own making.
    let own: Map<Uuid, (String, u32)> = out
        .drain(..)
        .map(|(id, json, risk)| (id, (json, risk)))
        .collect();
    // The enumerator's other open visits that these visits put into a burst, and (`unburst`)
    // those within an hour of a finish a visit left whose busiest hour is over the limit no more.
    let mut unburst: Set<Uuid> = Set::default();
    for (enumerator, (all, before)) in &times {
        let Some((now, was)) = busiest.get(enumerator) else {
            continue;
        };
        // `before` is `all` without these visits, in the same order: walked side by side.
        let mut j = 0;
        for (i, f) in all.times.iter().enumerate() {
            if checked.contains(&f.id) {
                continue;
            }
            debug_assert_eq!(before.times.get(j).map(|b| b.id), Some(f.id));
            let (n, then) = (now[i], was.get(j).copied().unwrap_or(1));
            j += 1;
            if open(f.state) && n > t.burst_per_hour && then <= t.burst_per_hour {
                told.entry(f.id).or_default().push(quality::burst(n, t));
            } else if open(f.state)
                && n <= t.burst_per_hour
                && left
                    .get(enumerator)
                    .is_some_and(|held| held.iter().any(|h| (f.at - *h).abs() <= hour))
            {
                unburst.insert(f.id);
                told.entry(f.id).or_default();
            }
        }
    }
    // Visits of these rows recorded again with another finish (`moved`: visit, finish the
    // server held): an open visit of their household whose period the move left or entered has
    // its `two_visits` counted again from the household's visits as they now stand (`recounted`:
    // visit -> the standing others of its period), in the same locked pass as what the others
    // are told, so a push still locks neighbours once, in id order.
    let periods = &settled.periods;
    let in_period = |at: Option<DateTime<Utc>>, f: DateTime<Utc>| {
        // One not finished counts in every period.
        at.is_none_or(|a| verivali_domain::cycle::same_period(periods, a, f))
    };
    let mut recounted: Map<Uuid, Vec<Uuid>> = Map::default();
    for (id, before) in moved {
        let Some(row) = rows.iter().find(|r| r.record.visit_id == *id) else {
            continue;
        };
        let now = row.record.finished_at;
        let family = by_household.get(&row.record.household_id);
        for s in family.into_iter().flatten() {
            let Some(f) = s.finished_at else { continue };
            if s.id == *id
                || !open(s.state)
                || checked.contains(&s.id)
                || in_period(*before, f) == in_period(now, f)
            {
                continue;
            }
            let others: Vec<Uuid> = family
                .into_iter()
                .flatten()
                .filter(|o| o.id != s.id && o.state != VisitState::Superseded)
                .filter(|o| in_period(o.finished_at, f))
                .map(|o| o.id)
                .collect();
            recounted.insert(s.id, others);
            told.entry(s.id).or_default();
        }
    }
    if told.is_empty() || !tell {
        return Ok(own);
    }
    let ids: Vec<Uuid> = told.keys().copied().collect();
    let stored = repo::flags_by_id(tx, &ids)?;
    let mut told: Vec<_> = told.into_iter().collect();
    told.sort_by_key(|(id, _)| *id);
    for (id, news) in told {
        // Only an open visit learns anything (a decided one keeps what its reviewer saw).
        let Some((json, state)) = stored.get(&id) else {
            continue;
        };
        if !open(*state) {
            continue;
        }
        let mut flags: Vec<quality::Flag> = serde_json::from_str(json).unwrap_or_default();
        // Counted again only (nothing told): a visit whose flags stay as they are is not written.
        let was = news.is_empty().then(|| flags.clone());
        if unburst.contains(&id) {
            flags.retain(|f| f.code != FlagCode::Burst);
        }
        if let Some(others) = recounted.get(&id) {
            flags.retain(|f| f.code != FlagCode::TwoVisits);
            if !others.is_empty() {
                quality::merge(&mut flags, quality::two_visits(others));
            }
        }
        for f in news {
            // A visit already flagged for a reused photo keeps the first one it was told of.
            if f.code == FlagCode::PhotoReused && flags.iter().any(|x| x.code == f.code) {
                continue;
            }
            quality::merge(&mut flags, f);
        }
        if was.is_some_and(|w| w == flags) {
            continue;
        }
        store(&mut out, id, &flags)?;
    }
    repo::set_flags_many(tx, &out)?;
    Ok(own)
}

/// Times a re-check checks again the visits whose flags a push changed while it read their
/// evidence, before it waits for them instead ([`refresh_ids`]).
const REFRESH_ATTEMPTS: usize = 4;

/// Re-checks open visits by id (a sibling's change, a reassignment, new thresholds, the first
/// start's check of older visits).
///
/// The households' locks a re-check holds keep pushes of those households out, not the pushes
/// of other households that tell these visits something (a `burst` of their enumerator's hour,
/// a reused photo), which lock only the rows they tell. Such a push may commit after this
/// re-check read its evidence and before it writes: written over, what the push told would be
/// lost until the visit's next check. So each visit's row version is read before the evidence
/// and its flags written only if the row is still that version
/// ([`repo::set_flags_if_unchanged`]); a visit told something meanwhile is checked again, with
/// evidence that now holds the push's visits, without telling its neighbours again (the first
/// attempt told them, the push its own; a retry taking their locks again, while holding the
/// rows it wrote, would only widen the ways to deadlock with a push). After
/// [`REFRESH_ATTEMPTS`] the rest are locked first (`repo::flags_by_id`, in id order), so no
/// push can tell them anything before the write; PostgreSQL breaks a deadlock that makes, and
/// the re-check's transaction runs again ([`App::recheck_households_in_chunks`]). SQLite's
/// single writer leaves no such gap.
pub(crate) fn refresh_ids(tx: &mut dyn Sql, ids: &[Uuid], t: &Thresholds) -> DbResult<()> {
    let mut ids = ids.to_vec();
    for attempt in 0..=REFRESH_ATTEMPTS {
        if ids.is_empty() {
            return Ok(());
        }
        if attempt == REFRESH_ATTEMPTS {
            repo::flags_by_id(tx, &ids)?;
        }
        let before: HashMap<Uuid, String> = repo::row_versions(tx, &ids)?;
        let rows: Vec<VisitRow> = repo::visits_by_id(tx, &ids)?
            .into_iter()
            .filter(|r| open(r.state))
            .collect();
        let mut settled = Settled::gather(tx, rows.iter().map(|r| &r.record))?;
        settled.thresholds = t.clone();
        let rows: Vec<&VisitRow> = rows.iter().collect();
        let own = refresh(tx, &rows, &settled, None, &[], attempt == 0)?;
        let writes: Vec<(Uuid, &str, String, u32)> = own
            .into_iter()
            .filter_map(|(id, (json, risk))| before.get(&id).map(|b| (id, b.as_str(), json, risk)))
            .collect();
        let written: Set<Uuid> = repo::set_flags_if_unchanged(tx, &writes)?
            .into_iter()
            .collect();
        ids = writes
            .iter()
            .map(|w| w.0)
            .filter(|id| !written.contains(id))
            .collect();
    }
    // Locked before the last attempt's reads, none can have changed: none is left.
    debug_assert!(ids.is_empty());
    Ok(())
}

/// Checks the visits just recorded and the open visits they affect. `moved`: those of them
/// recorded again with another finish time, with the one the server held (see [`refresh`]).
pub(crate) fn after_ingest(
    tx: &mut dyn Sql,
    rows: &[&VisitRow],
    settled: &Settled,
    ahead: Option<ReadAhead>,
    moved: &[(Uuid, Option<DateTime<Utc>>)],
) -> DbResult<Map<Uuid, (String, u32)>> {
    // The periods and thresholds as this transaction sees them, not as the push's snapshot
    // did: an admin's change re-checks the households it reads once it is committed (a new
    // period those with a visit in its window, new thresholds those with an open visit),
    // which a push still waiting for the writer then did not yet have. Read here, the push is
    // judged under the change from then on; it stays a push "a moment earlier" only while it
    // is inside its transaction, and on PostgreSQL not at all: the change waits for the pushes
    // in flight (`repo::share_rules`). Two small reads a push.
    if rows.is_empty() {
        return refresh(tx, rows, settled, ahead, moved, true);
    }
    let (periods, t) = (repo::periods(tx)?, thresholds(tx)?);
    if periods != settled.periods || t != settled.thresholds {
        let settled = Settled {
            periods,
            thresholds: t,
            ..settled.clone()
        };
        return refresh(tx, rows, &settled, ahead, moved, true);
    }
    refresh(tx, rows, settled, ahead, moved, true)
}

/// Re-checks the open visits of some households (after an approval or a reassignment).
pub(crate) fn refresh_households(tx: &mut dyn Sql, households: &[Uuid]) -> DbResult<()> {
    recheck_households(tx, households).map(|_| ())
}

/// The setting that says the first start's check of older visits is done
/// ([`App::check_older_visits_once`]), named after the last rule that needed it.
pub const CHECKED: &str = "quality.checked_two_visits_by_period";

/// The setting holding the last household (id) that check went through, while it is under way.
pub const CHECKED_THROUGH: &str = "quality.checked_two_visits_by_period.through";

/// Households whose open visits one transaction of a re-check checks again (a few visits each in
/// the field; the server bench's have ten).
const RECHECK_HOUSEHOLDS: usize = 100;

/// Checks the open visits of `households` again: their locks first, as every writer of visits'
/// flags takes them (`repo::lock_households`), then the thresholds in force, then the visits
/// (`refresh_ids`: written where unchanged since read, neighbours locked in id order). Read under the households' locks, the thresholds are the
/// newest: two re-checks of one household, after two changes, write the later change's flags
/// last, whichever began first. Answers how many.
fn recheck_households(tx: &mut dyn Sql, households: &[Uuid]) -> DbResult<u64> {
    repo::lock_households(tx, households)?;
    let t = thresholds(tx)?;
    let open_ids: Vec<Uuid> = repo::household_visits(tx, households)?
        .into_iter()
        .filter(|v| open(v.state))
        .map(|v| v.id)
        .collect();
    refresh_ids(tx, &open_ids, &t)?;
    Ok(open_ids.len() as u64)
}

/// The codes of stored flags (JSON), for the export and the audit trail.
pub(crate) fn codes(flags_json: &str) -> Vec<String> {
    serde_json::from_str::<Vec<quality::Flag>>(flags_json)
        .map(|f| f.iter().map(|f| f.code.as_str().to_string()).collect())
        .unwrap_or_default()
}

/// The median of some durations, seconds.
fn median(mut v: Vec<u32>) -> Option<u32> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    })
}

impl App {
    /// `GET /api/v1/admin/quality/thresholds`: the thresholds in force (admins and supervisors,
    /// who read them beside the flags).
    pub fn quality_thresholds(&self, caller: &Caller) -> Result<Thresholds, ApiError> {
        Self::reviewer(caller)?;
        let mut tx = self.db.read()?;
        Ok(thresholds(tx.as_mut())?)
    }

    /// `PUT /api/v1/admin/quality/thresholds` (admin): stores new thresholds, re-checks every
    /// open visit under them (in pages, each its own transaction) and audits the change.
    pub fn set_quality_thresholds(&self, caller: &Caller, t: &Thresholds) -> Result<u64, ApiError> {
        let lang = caller.lang;
        if caller.user.role != Role::Admin {
            return Err(ApiError::forbidden(lang));
        }
        if let Err(e) = t.validate() {
            return Err(ApiError::new(
                Refusal::Unprocessable,
                "quality.thresholds_invalid",
                "Invalid thresholds",
                lang,
                &format!("Ambang tidak sah: {}", threshold_error_id(&e)),
                &format!("Invalid thresholds: {e}"),
            ));
        }
        let now = self.now();
        let value = serde_json::to_string(t).map_err(|e| DbError::Corrupt(e.to_string()))?;
        self.run_write(|tx| {
            // After the pushes in flight, before any later one (`repo::share_rules`).
            repo::change_rules(tx)?;
            repo::put_setting(tx, THRESHOLDS_KEY, &value, Some(caller.user.id), now)?;
            repo::audit(
                tx,
                &Audit {
                    detail: Some(value.clone()),
                    ..caller.audit("quality.thresholds")
                },
                now,
            )?;
            Ok(Ok(()))
        })?;
        self.recheck_open()
    }

    /// Checks open visits again after the period `name` was created: the visits of one household
    /// that were one period's may now be two periods' (`quality.two_visits`). Only the households
    /// with a visit finished in the new period's window ([`verivali_domain::cycle::window`]) can
    /// change, and only their open visits are checked, a hundred households per transaction.
    /// A period made ahead of its month, as an admin usually does, holds no visit yet: nothing
    /// is checked, where every open visit of the server was before. Answers how many.
    pub(crate) fn recheck_after_new_period(&self, name: &str) -> Result<u64, ApiError> {
        let households = {
            let mut tx = self.db.read()?;
            let periods = repo::periods(tx.as_mut())?;
            let Some((from, to, _)) = verivali_domain::cycle::window(&periods, name) else {
                return Ok(0);
            };
            repo::households_finished_between(tx.as_mut(), from, to)?
        };
        self.recheck_households_in_chunks(&households, None)
    }

    /// Checks every open visit again, household by household, [`RECHECK_HOUSEHOLDS`]
    /// per transaction; answers how many. The households are read once, after the change
    /// committed (`repo::change_rules`: every push judged under the old thresholds has committed
    /// by then, and every later one reads the new ones). Each household's visits are read once:
    /// paged by visit id, 500 a transaction, a page read the visits of about as many households,
    /// again on every page that held one of them (20,000 open visits: 1.5–1.9 s on SQLite and
    /// 6–10 s on PostgreSQL in the server bench, against 1.2–1.3 and 2.5–2.8 s).
    fn recheck_open(&self) -> Result<u64, ApiError> {
        let households = {
            let mut tx = self.db.read()?;
            repo::households_with_open_visits(tx.as_mut())?
        };
        self.recheck_households_in_chunks(&households, None)
    }

    /// [`recheck_households`] over `households`, [`RECHECK_HOUSEHOLDS`] per write transaction,
    /// each counted once committed; answers how many visits. A transaction PostgreSQL aborted to
    /// break a deadlock with a push (both lock visits' rows, the re-check some after others it
    /// holds: [`refresh_ids`]) runs again, up to three times, after the pause every retried
    /// write takes ([`crate::app::pause_before_retry`]): a re-check can run twice.
    /// `progress`: a setting each transaction sets to the last household it checked, in the same
    /// transaction, for a check that resumes where it stopped ([`App::check_older_visits_once`]).
    pub(crate) fn recheck_households_in_chunks(
        &self,
        households: &[Uuid],
        progress: Option<&str>,
    ) -> Result<u64, ApiError> {
        let mut checked = 0u64;
        for chunk in households.chunks(RECHECK_HOUSEHOLDS) {
            let mut n = 0;
            let mut again = 0;
            let now = self.now();
            loop {
                match self.db.write_job(&mut |tx| {
                    n = recheck_households(tx, chunk)?;
                    if let (Some(key), Some(last)) = (progress, chunk.last()) {
                        repo::put_setting(tx, key, &last.to_string(), None, now)?;
                    }
                    Ok(())
                }) {
                    Ok(()) => break,
                    Err(e) if e.is_transient() && again < 3 => {
                        again += 1;
                        crate::ops::Metrics::add(&self.metrics.writes_retried, 1);
                        tracing::warn!(%e, again, "quality: a re-check's transaction runs again");
                        crate::app::pause_before_retry(again);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            checked += n;
            crate::ops::Metrics::add(&self.metrics.visits_rechecked, n);
        }
        Ok(checked)
    }

    /// Visits stored before quality control existed carry no flags (migration step 10 cannot run
    /// the rules), and open visits flagged `two_visits` for a visit of another period carry one
    /// too many (the rule counted a household's whole history before): the first start of a
    /// server of this version checks every open visit once and notes it in `settings`, under a
    /// key naming the last rule that needed it (a server that did the first check does this one).
    /// `serve` (and `demo`) run it beside the serving, once it listens: a hundred households a
    /// transaction, under their locks as every other writer of flags, so pushes and reviews go
    /// on meanwhile ([`refresh_ids`] keeps what a push tells a visit while it is checked).
    /// Each transaction notes the last household it checked ([`CHECKED_THROUGH`], households in
    /// id order), so a check stopped half way (the server stopped, a failure) goes on from
    /// there at its next run instead of from the start: on a province's server, minutes not done
    /// twice. A household that gained an open visit behind that mark meanwhile had it checked
    /// under the rules of this version: by its push, or, for a decided visit opened again
    /// (reopened by an admin, returned by a verifikator), by that decision, which re-checks its
    /// household. Answers how many it checked in this run (0 once done).
    pub fn check_older_visits_once(&self) -> Result<u64, ApiError> {
        let (done, through) = {
            let mut tx = self.db.read()?;
            (
                repo::setting(tx.as_mut(), CHECKED)?.is_some(),
                repo::setting(tx.as_mut(), CHECKED_THROUGH)?,
            )
        };
        if done {
            return Ok(0);
        }
        let through: Option<Uuid> = through.and_then(|t| t.parse().ok());
        // In the ids' own order, whatever order the database's collation lists them in: the
        // mark then splits them the same way at every run.
        let mut households: Vec<Uuid> = {
            let mut tx = self.db.read()?;
            repo::households_with_open_visits(tx.as_mut())?
        }
        .into_iter()
        .filter(|h| through.is_none_or(|t| *h > t))
        .collect();
        households.sort_unstable();
        let n = self.recheck_households_in_chunks(&households, Some(CHECKED_THROUGH))?;
        let now = self.now();
        self.run_write(|tx| {
            repo::put_setting(tx, CHECKED, &n.to_string(), None, now)?;
            repo::delete_setting(tx, CHECKED_THROUGH)?;
            Ok(Ok(()))
        })?;
        Ok(n)
    }

    /// `GET /api/v1/review/enumerators?area=CODE`: per enumerator in the caller's areas, the
    /// finished visits by outcome, the median duration, the share flagged by code and the visits
    /// per working day, so that an outlier stands out.
    pub fn enumerator_comparison(
        &self,
        caller: &Caller,
        area: Option<&str>,
    ) -> Result<EnumeratorComparison, ApiError> {
        Self::reviewer(caller)?;
        let scope = Self::review_scope(caller, area)?;
        let mut tx = self.db.read()?;
        let facts = repo::visit_facts(tx.as_mut(), &scope)?;
        drop(tx);
        let mut out: BTreeMap<Uuid, (UserRef, Vec<repo::VisitFacts>)> = BTreeMap::new();
        for f in facts {
            out.entry(f.enumerator_id)
                .or_insert_with(|| {
                    (
                        UserRef {
                            id: f.enumerator_id,
                            username: f.username.clone(),
                            display_name: f.display_name.clone(),
                        },
                        vec![],
                    )
                })
                .1
                .push(f);
        }
        let mut enumerators: Vec<EnumeratorQuality> = out
            .into_values()
            .map(|(user, visits)| {
                let n = visits.len() as u64;
                let mut by_outcome: BTreeMap<String, u64> = BTreeMap::new();
                let mut flagged_by_code: BTreeMap<String, u64> = BTreeMap::new();
                let mut days = HashSet::new();
                let mut flagged = 0u64;
                for v in &visits {
                    *by_outcome.entry(v.outcome.clone()).or_default() += 1;
                    if !v.flags.is_empty() {
                        flagged += 1;
                    }
                    for c in v.flags.iter().collect::<HashSet<_>>() {
                        *flagged_by_code.entry(c.clone()).or_default() += 1;
                    }
                    if let Some(f) = v.finished_at {
                        days.insert(f.date_naive());
                    }
                }
                let share = |k: u64| if n == 0 { 0.0 } else { k as f64 / n as f64 };
                EnumeratorQuality {
                    enumerator: user,
                    visits: n,
                    by_outcome,
                    median_duration_s: median(visits.iter().filter_map(|v| v.duration_s).collect()),
                    flagged_share: share(flagged),
                    flagged_share_by_code: flagged_by_code
                        .into_iter()
                        .map(|(c, k)| (c, share(k)))
                        .collect(),
                    days: days.len() as u64,
                    visits_per_day: if days.is_empty() {
                        0.0
                    } else {
                        n as f64 / days.len() as f64
                    },
                }
            })
            .collect();
        enumerators.sort_by(|a, b| {
            b.flagged_share
                .total_cmp(&a.flagged_share)
                .then(a.enumerator.username.cmp(&b.enumerator.username))
        });
        self.audit_read(
            caller,
            "review.enumerators",
            None,
            format!(
                "{} enumerators; area={}",
                enumerators.len(),
                area.unwrap_or("*")
            ),
        )?;
        Ok(EnumeratorComparison {
            enumerators,
            codes: FlagCode::ALL
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
        })
    }
}

/// The Indonesian words for a refused threshold.
fn threshold_error_id(e: &quality::ThresholdError) -> String {
    match e {
        quality::ThresholdError::Metres(f) => format!("{f} harus angka meter yang positif"),
        quality::ThresholdError::Burst => "batas beruntun minimal 1 kunjungan per jam".into(),
        quality::ThresholdError::Duration => "durasi minimum paling lama 7.200 detik".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Dialect, Row, Value};
    use verivali_domain::sample::{self, Seq};

    /// A transaction that answers every query with no rows and keeps what it was asked.
    #[derive(Default)]
    struct Asked(Vec<String>);

    impl Sql for Asked {
        fn execute(&mut self, sql: &str, _: &[Value]) -> DbResult<u64> {
            self.0.push(sql.to_owned());
            Ok(0)
        }
        fn query(&mut self, sql: &str, _: &[Value]) -> DbResult<Vec<Row>> {
            self.0.push(sql.to_owned());
            Ok(vec![])
        }
        fn dialect(&self) -> Dialect {
            Dialect::Sqlite
        }
    }

    impl Asked {
        fn read_siblings(&self) -> bool {
            self.0.iter().any(|q| q.contains("WHERE household_id IN"))
        }
        fn read_times(&self) -> bool {
            self.0.iter().any(|q| q.contains("finished_at >= $2"))
        }
    }

    /// Two finished visits of one enumerator, and the window of their finish times.
    fn rows(enumerator: Uuid) -> (Vec<VisitRow>, (DateTime<Utc>, DateTime<Utc>)) {
        let mut seq = Seq::new(7);
        let now = Utc::now();
        let rows: Vec<VisitRow> = (0..2)
            .map(|i| {
                let (h, m) = sample::household(&mut seq, "3308012001", i);
                VisitRow {
                    record: sample::visit(&mut seq, &h, &m, now + Duration::minutes(i.into())),
                    enumerator_id: enumerator,
                    device_id: Uuid::now_v7(),
                    kode_desa: "3308012001".into(),
                    state: VisitState::Draft,
                    batch_id: None,
                }
            })
            .collect();
        let times: Vec<DateTime<Utc>> = rows.iter().filter_map(|r| r.record.finished_at).collect();
        let window = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
        (rows, window)
    }

    /// What a push read ahead is not read again in the transaction; a finish-time window that
    /// no longer matches the visits judged (an op refused in the transaction) is read again, and
    /// without a read ahead both are read there.
    #[test]
    fn what_was_read_ahead_is_not_read_again() {
        let enumerator = Uuid::now_v7();
        let (rows, window) = rows(enumerator);
        let rows: Vec<&VisitRow> = rows.iter().collect();
        let settled = Settled::default();
        let ahead = |window| ReadAhead {
            siblings: vec![],
            times: Some((enumerator, window, vec![])),
        };

        let mut tx = Asked::default();
        refresh(&mut tx, &rows, &settled, Some(ahead(window)), &[], true).unwrap();
        assert!(!tx.read_siblings() && !tx.read_times(), "{:?}", tx.0);

        let wider = (window.0 - Duration::minutes(5), window.1);
        let mut tx = Asked::default();
        refresh(&mut tx, &rows, &settled, Some(ahead(wider)), &[], true).unwrap();
        assert!(!tx.read_siblings() && tx.read_times(), "{:?}", tx.0);

        let mut tx = Asked::default();
        refresh(&mut tx, &rows, &settled, None, &[], true).unwrap();
        assert!(tx.read_siblings() && tx.read_times(), "{:?}", tx.0);
    }
}

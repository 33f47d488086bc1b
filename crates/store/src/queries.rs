//! Read queries for the app: the work list, one household, its visit history.

use rusqlite::{OptionalExtension, params_from_iter};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;
use verivali_domain::{
    Decision, Household, Member, Outcome, PresenceStatus, Relationship, ReviewEvent, Sex,
    VisitState, WorkStatus,
};

use crate::Store;
use crate::error::{Result, StoreError};
use crate::outbox::AttentionItem;
use verivali_domain::AssignmentSource;
use verivali_domain::assignment::Terms;

/// Filters of the work list. Text matches every word against name, NIK, No. KK, id DTSEN and
/// address (of the head and of every member).
#[derive(ts_rs::TS, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdQuery {
    /// Region-code prefix (desa or larger); all when absent.
    pub area: Option<String>,
    /// Search words.
    pub text: Option<String>,
    /// Only households in this status.
    pub status: Option<WorkStatus>,
    /// Only households given to the enumerator for this reason (`Laporan kematian`, `Sanggah`…).
    #[serde(default)]
    pub source: Option<AssignmentSource>,
}

/// One line of the work list.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdRow {
    /// Household id.
    pub id: Uuid,
    /// Registry id.
    pub id_dtsen: Option<String>,
    pub no_kk: Option<String>,
    /// Head's name.
    pub nama_krt: String,
    /// Address.
    pub alamat: String,
    pub desil: Option<u8>,
    /// Number of members in the baseline.
    pub members: u32,
    /// Work status.
    pub status: WorkStatus,
    /// Proposed on this device (usulan baru).
    pub proposed: bool,
    /// Given to this enumerator by name, with when it is due and why; `None` when shared.
    pub assignment: Option<Terms>,
    /// Given to another enumerator: kept here only until the work begun on it is finished and
    /// sent (or its draft discarded).
    pub withdrawn: bool,
    /// Why a search found it ("anggota: Dwi Rahayu"); `None` without a search.
    #[serde(default)]
    pub matched: Option<verivali_domain::search::Match>,
}

/// Households of one RT (within its RW and desa), as the list groups them. RT numbers repeat
/// across RWs, so the group key is (desa, RW, RT).
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RtGroup {
    /// Desa code.
    pub kode_desa: String,
    /// The desa's name, when the server has one ("Desa Sukamaju").
    pub nama_desa: Option<String>,
    pub rw: String,
    pub rt: String,
    /// Households: the enumerator's own first (soonest due first, then those without a date),
    /// then the shared ones, each by head's name.
    pub households: Vec<HouseholdRow>,
}

/// A visit in a household's history.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitSummary {
    pub visit_id: Uuid,
    /// Last recorded revision (0: never recorded).
    pub revision: u32,
    pub outcome: Outcome,
    /// Review state.
    pub state: VisitState,
    /// Recorded since its last edit.
    pub finished: bool,
    pub started_at: String,
    /// Last change on the device.
    pub updated_at: String,
    /// Review decisions, oldest first.
    pub reviews: Vec<ReviewEvent>,
    /// Server rejections of its ops.
    pub attention: Vec<AttentionItem>,
    /// Its photos with what each shows, in the order taken.
    #[serde(default)]
    pub photos: Vec<PhotoRef>,
}

/// A visit the server has received.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentVisit {
    pub visit_id: Uuid,
    pub household_id: Uuid,
    /// Its head.
    pub nama_krt: String,
    /// Review state on this device.
    pub state: VisitState,
    /// When the server acknowledged its last record (server time).
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// When the server acknowledged its submission to the supervisor.
    pub submitted_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A visit's photo: its SHA-256 and what it shows.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoRef {
    pub sha256: String,
    pub kind: verivali_domain::PhotoKind,
}

/// The photo fields of a stored record, read without decoding the rest.
#[derive(Deserialize)]
struct RecordPhotos {
    #[serde(default)]
    photos: Vec<String>,
    #[serde(default)]
    photo_kinds: BTreeMap<String, verivali_domain::PhotoKind>,
}

impl RecordPhotos {
    fn refs(self) -> Vec<PhotoRef> {
        let kinds = self.photo_kinds;
        self.photos
            .into_iter()
            .map(|sha256| PhotoRef {
                kind: kinds
                    .get(&sha256)
                    .copied()
                    .unwrap_or(verivali_domain::PhotoKind::Lainnya),
                sha256,
            })
            .collect()
    }
}

/// One household with everything the detail screen shows.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HouseholdDetail {
    /// Baseline data.
    pub household: Household,
    /// Proposed on this device.
    pub proposed: bool,
    /// Given to another enumerator; see [`HouseholdRow::withdrawn`].
    pub withdrawn: bool,
    /// Work status.
    pub status: WorkStatus,
    /// Baseline members (head first).
    pub members: Vec<Member>,
    /// Visits, newest first.
    pub visits: Vec<VisitSummary>,
}

fn like_escape(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('%');
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The assignment columns as terms: none without a (known) source.
fn terms(source: Option<String>, due: Option<String>, note: Option<String>) -> Option<Terms> {
    Some(Terms {
        source: AssignmentSource::parse(source.as_deref()?)?,
        due_date: due.and_then(|d| d.parse().ok()),
        note,
    })
}

fn bad(e: impl std::fmt::Display) -> StoreError {
    StoreError::Json(serde_json::Error::io(std::io::Error::other(e.to_string())))
}

impl Store {
    /// The work list: households matching `q`, grouped by (desa, RW, RT) in order.
    pub fn list_households(&self, q: &HouseholdQuery) -> Result<Vec<RtGroup>> {
        let mut sql = String::from(
            "SELECT h.id, h.id_dtsen, h.no_kk, h.nama_krt, h.alamat, h.rt, h.rw, h.kode_desa, h.desil,
                    (SELECT count(*) FROM members m WHERE m.household_id = h.id), h.status, h.proposed,
                    h.assignment_source, h.due_date, h.assignment_note, h.withdrawn
             FROM households h WHERE 1 = 1",
        );
        let mut args: Vec<String> = Vec::new();
        if let Some(area) = &q.area {
            sql.push_str(" AND h.kode_desa LIKE ? ESCAPE '\\'");
            args.push(format!("{}%", like_escape(area).trim_matches('%')));
        }
        if let Some(status) = q.status {
            sql.push_str(" AND h.status = ?");
            args.push(status.as_str().to_string());
        }
        if let Some(source) = q.source {
            sql.push_str(" AND h.assignment_source = ?");
            args.push(source.as_str().to_string());
        }
        if let Some(text) = &q.text {
            for word in text.to_lowercase().split_whitespace().take(8) {
                sql.push_str(" AND h.search LIKE ? ESCAPE '\\'");
                args.push(like_escape(word));
            }
        }
        sql.push_str(
            " ORDER BY h.kode_desa, h.rw, h.rt, h.assignment_source IS NULL, h.due_date IS NULL, \
             h.due_date, h.nama_krt, h.id",
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args.iter()))?;
        let mut found: Vec<(String, String, String, HouseholdRow)> = Vec::new();
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            let row = HouseholdRow {
                id: Uuid::parse_str(&id).map_err(bad)?,
                id_dtsen: r.get(1)?,
                no_kk: r.get(2)?,
                nama_krt: r.get(3)?,
                alamat: r.get(4)?,
                desil: r.get(8)?,
                members: r.get(9)?,
                status: WorkStatus::parse(&r.get::<_, String>(10)?)
                    .unwrap_or(WorkStatus::NotVisited),
                proposed: r.get(11)?,
                assignment: terms(r.get(12)?, r.get(13)?, r.get(14)?),
                withdrawn: r.get(15)?,
                matched: None,
            };
            found.push((r.get(5)?, r.get(6)?, r.get(7)?, row));
        }
        if let Some(text) = q.text.as_deref().filter(|t| !t.trim().is_empty()) {
            found = self.ranked(text, found)?;
        }
        let names = self.region_names()?;
        let mut groups: Vec<RtGroup> = Vec::new();
        // Consecutive rows of one RT form a group; a ranked search may repeat an RT's header.
        for (rt, rw, desa, row) in found {
            match groups.last_mut() {
                Some(g) if g.rt == rt && g.rw == rw && g.kode_desa == desa => {
                    g.households.push(row)
                }
                _ => groups.push(RtGroup {
                    nama_desa: names.get(&desa).cloned(),
                    kode_desa: desa,
                    rw,
                    rt,
                    households: vec![row],
                }),
            }
        }
        Ok(groups)
    }

    /// The search's candidates (every typed word somewhere) ranked by
    /// [`verivali_domain::search::rank`], each with why it matched; the list order breaks ties.
    fn ranked(
        &self,
        text: &str,
        found: Vec<(String, String, String, HouseholdRow)>,
    ) -> Result<Vec<(String, String, String, HouseholdRow)>> {
        use verivali_domain::search::{Searchable, rank};
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, nik FROM members WHERE household_id = ?1")?;
        let mut out = Vec::with_capacity(found.len());
        for (i, (rt, rw, desa, mut row)) in found.into_iter().enumerate() {
            let list: Vec<(String, Option<String>)> = stmt
                .query_map([row.id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let s = Searchable {
                nama_krt: &row.nama_krt,
                alamat: &row.alamat,
                no_kk: row.no_kk.as_deref(),
                id_dtsen: row.id_dtsen.as_deref(),
                members: list
                    .iter()
                    .map(|(n, k)| (n.as_str(), k.as_deref()))
                    .collect(),
            };
            if let Some(m) = rank(text, &s) {
                row.matched = Some(m);
                out.push((i, (rt, rw, desa, row)));
            }
        }
        out.sort_by_key(|(i, (_, _, _, r))| (r.matched.as_ref().map_or(u8::MAX, |m| m.tier), *i));
        Ok(out.into_iter().map(|(_, x)| x).collect())
    }

    /// How many households of an area are in each work status (every status present, maybe 0).
    pub fn work_counts(&self, area: Option<&str>) -> Result<BTreeMap<String, u64>> {
        let mut counts: BTreeMap<String, u64> = WorkStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), 0))
            .collect();
        let prefix = format!("{}%", area.unwrap_or(""));
        let mut stmt = self.conn.prepare_cached(
            "SELECT status, count(*) FROM households WHERE kode_desa LIKE ?1 GROUP BY status",
        )?;
        for row in stmt.query_map([prefix], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?))
        })? {
            let (s, n) = row?;
            counts.insert(s, n);
        }
        Ok(counts)
    }

    /// One household with members and visit history (with review decisions and rejections).
    pub fn household_detail(&self, id: Uuid) -> Result<HouseholdDetail> {
        let key = id.to_string();
        let head = self
            .conn
            .query_row(
                "SELECT id_dtsen, no_kk, nama_krt, alamat, rt, rw, kode_desa, desil, version, proposed, status,
                        withdrawn
                 FROM households WHERE id = ?1",
                [&key],
                |r| {
                    Ok((
                        Household {
                            id,
                            id_dtsen: r.get(0)?,
                            fields: verivali_domain::HouseholdFields {
                                no_kk: r.get(1)?,
                                nama_krt: r.get(2)?,
                                alamat: r.get(3)?,
                                rt: r.get(4)?,
                                rw: r.get(5)?,
                            },
                            kode_desa: r.get(6)?,
                            desil: r.get(7)?,
                            version: r.get(8)?,
                        },
                        r.get::<_, bool>(9)?,
                        r.get::<_, String>(10)?,
                        r.get::<_, bool>(11)?,
                    ))
                },
            )
            .optional()?;
        let (household, proposed, status, withdrawn) =
            head.ok_or(StoreError::UnknownHousehold(id))?;
        let members = self.members(&key)?;
        let mut visits = Vec::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, revision, outcome, state, finished, started_at, updated_at, record
             FROM visits WHERE household_id = ?1 ORDER BY updated_at DESC",
        )?;
        let rows = stmt.query_map([&key], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
            ))
        })?;
        for row in rows {
            let (vid, revision, outcome, state, finished, started_at, updated_at, record) = row?;
            let photos = serde_json::from_str::<RecordPhotos>(&record)?.refs();
            let visit_id = Uuid::parse_str(&vid).map_err(bad)?;
            visits.push(VisitSummary {
                visit_id,
                revision,
                outcome: serde_json::from_value(serde_json::Value::String(outcome))?,
                state: VisitState::parse(&state).unwrap_or(VisitState::Draft),
                finished,
                started_at,
                updated_at,
                reviews: self.reviews(&vid)?,
                attention: self.attention_where("entity_id = ?1", &[&vid])?,
                photos,
            });
        }
        Ok(HouseholdDetail {
            household,
            proposed,
            withdrawn,
            status: WorkStatus::parse(&status).unwrap_or(WorkStatus::NotVisited),
            members,
            visits,
        })
    }

    fn members(&self, household: &str) -> Result<Vec<Member>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, nik, name, sex, birth_place, birth_date, relationship, status FROM members
             WHERE household_id = ?1 ORDER BY relationship, birth_date, id",
        )?;
        let rows = stmt.query_map([household], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, u8>(6)?,
                r.get::<_, String>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, nik, name, sex, birth_place, birth_date, rel, status) = row?;
            out.push(Member {
                member_id: Uuid::parse_str(&id).map_err(bad)?,
                nik,
                name,
                sex: if sex == "P" { Sex::P } else { Sex::L },
                birth_place,
                birth_date: birth_date.and_then(|d| d.parse().ok()),
                relationship: Relationship::try_from(rel).map_err(bad)?,
                status: serde_json::from_value::<PresenceStatus>(serde_json::Value::String(
                    status,
                ))?,
                exit: None,
            });
        }
        Ok(out)
    }

    fn reviews(&self, visit: &str) -> Result<Vec<ReviewEvent>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT decision, reason, reviewer, at FROM reviews WHERE visit_id = ?1 ORDER BY at",
        )?;
        let rows = stmt.query_map([visit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let visit_id = Uuid::parse_str(visit).map_err(bad)?;
        let mut out = Vec::new();
        for row in rows {
            let (decision, reason, reviewer, at) = row?;
            out.push(ReviewEvent {
                visit_id,
                decision: serde_json::from_value::<Decision>(serde_json::Value::String(decision))?,
                reason,
                reviewer: Uuid::parse_str(&reviewer).map_err(bad)?,
                at: at.parse().map_err(bad)?,
            });
        }
        Ok(out)
    }
}

impl Store {
    /// Finished visits not yet submitted (draft, or sent back and amended), oldest first:
    /// (visit, household, head's name), for choosing a batch.
    pub fn ready_to_submit(&self) -> Result<Vec<(Uuid, Uuid, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT v.id, v.household_id, h.nama_krt FROM visits v JOIN households h ON h.id = v.household_id
             WHERE v.finished = 1 AND v.state IN ('draft', 'rejected') ORDER BY v.updated_at, v.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (v, h, name) = row?;
            if let (Ok(v), Ok(h)) = (Uuid::parse_str(&v), Uuid::parse_str(&h)) {
                out.push((v, h, name));
            }
        }
        Ok(out)
    }

    /// Visits the server has received, newest first (at most `limit`): for the send screen's
    /// "diterima server" marks.
    pub fn received_visits(&self, limit: u32) -> Result<Vec<SentVisit>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT v.id, v.household_id, h.nama_krt, v.state, s.received_at, s.submitted_at
             FROM visit_sent s JOIN visits v ON v.id = s.visit_id
                  JOIN households h ON h.id = v.household_id
             WHERE s.received_at IS NOT NULL
             ORDER BY max(s.received_at, coalesce(s.submitted_at, '')) DESC, v.id LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (v, hh, nama_krt, state, received, submitted) = row?;
            out.push(SentVisit {
                visit_id: Uuid::parse_str(&v).map_err(bad)?,
                household_id: Uuid::parse_str(&hh).map_err(bad)?,
                nama_krt,
                state: VisitState::parse(&state).unwrap_or(VisitState::Draft),
                received_at: received.parse().map_err(bad)?,
                submitted_at: submitted.and_then(|s| s.parse().ok()),
            });
        }
        Ok(out)
    }

    /// A draft's validation, without saving it (the form's live messages).
    ///
    /// Adds a warning (`nik.on_device`) for each living member whose NIK a living member of
    /// another household on this device holds: caught while the enumerator still stands at the
    /// door with the KTP in hand, rather than by the server's `quality.nik_duplicate` later.
    pub fn check_draft(&self, record: &verivali_domain::VisitRecord) -> verivali_domain::Report {
        let mut report = self.with_ctx(record.questionnaire_version, |ctx| {
            record.validate_draft(ctx)
        });
        if let Ok(deaths) = self.new_deaths(record) {
            for e in deaths.errors {
                report.errors.push(e);
            }
        }
        for (i, m) in record.members.iter().enumerate() {
            let Some(nik) = m.nik.as_deref().filter(|n| n.len() == 16) else {
                continue;
            };
            if !m.status.is_present() {
                continue;
            }
            if let Ok(Some(household)) = self.nik_elsewhere(record.household_id, nik) {
                report.warn(
                    format!("members[{i}].nik"),
                    verivali_domain::Warning::NikOnDevice { household },
                );
            }
        }
        report
    }

    /// The deaths a visit reports that the household's baseline on this device did not know, each
    /// without its exit ([`verivali_domain::household::new_deaths`]); none unless the household
    /// was found (the member list is not judged otherwise).
    pub fn new_deaths(
        &self,
        record: &verivali_domain::VisitRecord,
    ) -> Result<verivali_domain::Report> {
        if !record.outcome.needs_answers() {
            return Ok(verivali_domain::Report::default());
        }
        let baseline = self.members(&record.household_id.to_string())?;
        Ok(verivali_domain::household::new_deaths(
            &baseline,
            &record.members,
        ))
    }

    /// The head's name of another household on the device where a living member holds `nik`.
    fn nik_elsewhere(&self, household: Uuid, nik: &str) -> Result<Option<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT h.nama_krt FROM members m JOIN households h ON h.id = m.household_id
             WHERE m.nik = ?1 AND m.household_id <> ?2 AND m.status IN ('tinggal', 'anggota_baru')
             LIMIT 1",
        )?;
        Ok(stmt
            .query_row(rusqlite::params![nik, household.to_string()], |r| r.get(0))
            .optional()?)
    }
}

//! The update cycle on the server (DESIGN.md §12): periods an admin creates, opens and closes;
//! proposals an operator desa enters (or imports from a CSV); the musdes that decides them, its
//! berita acara as a PDF and the signed scan kept with it. Rules: `verivali_domain::cycle`.
//!
//! Who does what: an admin manages periods; an operator desa (or an admin, for what reaches the
//! dinas) enters proposals and records sessions of the desa in their areas; supervisors,
//! verifikators and admins read them in theirs. A *layak* proposal about no registered household
//! (a new family, an objection for a family left out) creates the household, shared by the
//! desa's enumerators, so the supervisor can assign it (the proposal list gives the household and
//! the source its assignment carries).

use std::collections::HashMap;
use uuid::Uuid;
use verivali_domain::cycle::{
    self, CycleError, NewMusdes, NewProposal, Period, PeriodState, Step, Verdict,
};
use verivali_domain::{Coded, Household, HouseholdFields, Lang, Role, nik};
use verivali_protocol::admin::LineProblem;
use verivali_protocol::cycle::{
    DecisionView, MusdesList, MusdesView, NewPeriod, PeriodList, PeriodView, ProposalImport,
    ProposalList, ProposalView, ScanView,
};

use crate::app::{App, Caller};
use crate::db::Sql;
use crate::error::{ApiError, Refusal};
use crate::repo::{self, Audit, MusdesRow, ProposalRow};

/// Largest signed scan kept (a phone photo or a scanned PDF of a few pages).
pub const MAX_SCAN: usize = 10 * 1024 * 1024;
/// Most rows of one proposal CSV.
pub const MAX_IMPORT_ROWS: usize = 5_000;

fn refused(e: &CycleError, lang: Lang) -> ApiError {
    let refusal = match e {
        CycleError::UnknownPeriod => Refusal::NotFound,
        CycleError::PeriodNameTaken(_)
        | CycleError::OtherPeriodOpen
        | CycleError::PeriodMove { .. }
        | CycleError::AlreadyDecided(_)
        | CycleError::PeriodClosed => Refusal::Conflict,
        _ => Refusal::Unprocessable,
    };
    ApiError::coded(refusal, "Refused", e, lang)
}

fn view(p: &Period, today: chrono::NaiveDate) -> PeriodView {
    PeriodView {
        id: p.id,
        name: p.name.clone(),
        opens: p.opens,
        cutoff: p.cutoff,
        closes: p.closes,
        state: p.state,
        days_to_cutoff: p.days_to_cutoff(today),
        warn: p.warns(today),
    }
}

/// Whether the caller enters proposals and records sessions.
fn desa_office(caller: &Caller) -> Result<(), ApiError> {
    match caller.user.role {
        Role::Operator | Role::Admin => Ok(()),
        _ => Err(ApiError::forbidden(caller.lang)),
    }
}

/// Whether the caller reads proposals and sessions (everyone but the enumerator, whose work
/// reaches them as assignments).
fn cycle_reader(caller: &Caller) -> Result<(), ApiError> {
    match caller.user.role {
        Role::Enumerator => Err(ApiError::forbidden(caller.lang)),
        _ => Ok(()),
    }
}

/// The household a *layak* proposal with none of its own creates: the family as described,
/// shared by the desa's enumerators until a supervisor assigns it.
fn proposed_household(p: &NewProposal) -> Household {
    Household {
        id: Uuid::now_v7(),
        id_dtsen: None,
        fields: HouseholdFields {
            no_kk: None,
            nama_krt: p.name.clone(),
            alamat: p.address.clone(),
            rt: String::new(),
            rw: String::new(),
        },
        kode_desa: p.kode_desa.clone(),
        desil: None,
        version: 1,
    }
}

impl App {
    /// `GET /api/v1/periods`: every period, newest first, with the open one and its warning.
    pub fn periods(&self, _caller: &Caller) -> Result<PeriodList, ApiError> {
        let today = cycle::today(self.now());
        let mut tx = self.db.read()?;
        let mut all = repo::periods(tx.as_mut())?;
        all.reverse();
        let periods: Vec<PeriodView> = all.iter().map(|p| view(p, today)).collect();
        let open = periods
            .iter()
            .find(|p| p.state == PeriodState::Open)
            .cloned();
        Ok(PeriodList { periods, open })
    }

    /// `POST /api/v1/admin/periods`: a new (planned) period.
    pub fn create_period(&self, caller: &Caller, req: &NewPeriod) -> Result<PeriodView, ApiError> {
        let lang = caller.lang;
        if caller.user.role != Role::Admin {
            return Err(ApiError::forbidden(lang));
        }
        let now = self.now();
        let created = self.run_write(|tx: &mut dyn Sql| {
            // After the pushes in flight, before any later one (`repo::share_rules`).
            repo::change_rules(tx)?;
            let existing = repo::periods(tx)?;
            let name = match cycle::check_period(
                &req.name, req.opens, req.cutoff, req.closes, &existing,
            ) {
                Ok(n) => n,
                Err(e) => return Ok(Err(refused(&e, lang))),
            };
            let p = Period {
                id: Uuid::now_v7(),
                name,
                opens: req.opens,
                cutoff: req.cutoff,
                closes: req.closes,
                state: PeriodState::Planned,
            };
            match repo::insert_period(tx, &p, caller.user.id, now) {
                // Another admin's period of the same name committed meanwhile.
                Err(crate::db::DbError::Duplicate) => {
                    return Ok(Err(refused(
                        &CycleError::PeriodNameTaken(p.name.clone()),
                        lang,
                    )));
                }
                r => r?,
            }
            let audit = Audit {
                entity_kind: Some("period"),
                entity_id: Some(p.id.to_string()),
                detail: Some(format!(
                    "{} {}..{} cutoff {}",
                    p.name, p.opens, p.closes, p.cutoff
                )),
                ..caller.audit("period.create")
            };
            repo::audit(tx, &audit, now)?;
            Ok(Ok(view(&p, cycle::today(now))))
        })?;
        // A new cut-off may split what was one period: the flags of the open visits it concerns
        // follow, as after a change of thresholds.
        self.recheck_after_new_period(&created.name)?;
        Ok(created)
    }

    /// `POST /api/v1/admin/periods/{id}/open|close`: a planned period opens (while no other is
    /// open); an open one closes, and nothing of it is decided any more.
    pub fn move_period(
        &self,
        caller: &Caller,
        id: Uuid,
        to: PeriodState,
    ) -> Result<PeriodView, ApiError> {
        let lang = caller.lang;
        if caller.user.role != Role::Admin {
            return Err(ApiError::forbidden(lang));
        }
        let now = self.now();
        self.run_write(|tx: &mut dyn Sql| {
            let all = repo::periods(tx)?;
            let Some(p) = all.iter().find(|p| p.id == id) else {
                return Ok(Err(refused(&CycleError::UnknownPeriod, lang)));
            };
            let allowed = matches!(
                (p.state, to),
                (PeriodState::Planned, PeriodState::Open)
                    | (PeriodState::Open, PeriodState::Closed)
            );
            if !allowed {
                let e = CycleError::PeriodMove {
                    from: p.state.as_str(),
                    to: to.as_str(),
                };
                return Ok(Err(refused(&e, lang)));
            }
            if to == PeriodState::Open && all.iter().any(|o| o.state == PeriodState::Open) {
                return Ok(Err(refused(&CycleError::OtherPeriodOpen, lang)));
            }
            match repo::set_period_state(tx, id, to, now) {
                // Another period opened meanwhile (the index allows one open).
                Err(crate::db::DbError::Duplicate) => {
                    return Ok(Err(refused(&CycleError::OtherPeriodOpen, lang)));
                }
                r => r?,
            }
            let action = if to == PeriodState::Open {
                "period.open"
            } else {
                "period.close"
            };
            let audit = Audit {
                entity_kind: Some("period"),
                entity_id: Some(id.to_string()),
                detail: Some(p.name.clone()),
                ..caller.audit(action)
            };
            repo::audit(tx, &audit, now)?;
            let moved = Period {
                state: to,
                ..p.clone()
            };
            Ok(Ok(view(&moved, cycle::today(now))))
        })
    }

    /// Checks one proposal against what the server holds: the desa in the caller's areas, the
    /// household (when named) one of theirs in that desa.
    fn check_proposal(
        tx: &mut dyn Sql,
        caller: &Caller,
        p: &NewProposal,
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::db::DbResult<Result<NewProposal, CycleError>> {
        let p = match p.checked() {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        if !caller.user.areas.contains(&p.kode_desa) {
            return Ok(Err(CycleError::OutsideArea(p.kode_desa)));
        }
        // Closed before its cut-off: what comes now could never be decided.
        let periods = repo::periods(tx)?;
        if cycle::period_of(&periods, now).is_some_and(|x| x.state == PeriodState::Closed) {
            return Ok(Err(CycleError::PeriodClosed));
        }
        if let Some(h) = p.household_id {
            match repo::household_scoped(tx, &caller.user.scope(), h)? {
                Some(h) if h.kode_desa == p.kode_desa => {}
                _ => return Ok(Err(CycleError::HouseholdOutside)),
            }
        }
        Ok(Ok(p))
    }

    /// `POST /api/v1/proposals`: one proposal entered at the desa office.
    pub fn create_proposal(
        &self,
        caller: &Caller,
        req: &NewProposal,
    ) -> Result<ProposalView, ApiError> {
        let lang = caller.lang;
        desa_office(caller)?;
        let now = self.now();
        let id = self.run_write(|tx: &mut dyn Sql| {
            let p = match Self::check_proposal(tx, caller, req, now)? {
                Ok(p) => p,
                Err(e) => return Ok(Err(refused(&e, lang))),
            };
            let id = Uuid::now_v7();
            repo::insert_proposal(tx, id, &p, caller.user.id, now)?;
            let audit = Audit {
                entity_kind: Some("proposal"),
                entity_id: Some(id.to_string()),
                detail: Some(format!(
                    "{} {} {}",
                    p.kind.as_str(),
                    p.channel.as_str(),
                    p.kode_desa
                )),
                ..caller.audit("proposal.create")
            };
            repo::audit(tx, &audit, now)?;
            Ok(Ok(id))
        })?;
        self.proposals(caller, None)?
            .proposals
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| ApiError::not_found(lang))
    }

    /// `POST /api/v1/proposals/import`: a CSV of the API's columns (`kind, channel,
    /// household_id, nik, name, address, kode_desa, reporter, reason`); good rows are kept, bad
    /// ones reported by line, all in one transaction.
    pub fn import_proposals(
        &self,
        caller: &Caller,
        csv: &[u8],
    ) -> Result<ProposalImport, ApiError> {
        let lang = caller.lang;
        desa_office(caller)?;
        let rows = parse_csv(csv, lang)?;
        let now = self.now();
        self.run_write(|tx: &mut dyn Sql| {
            let mut answer = ProposalImport {
                created: 0,
                bad_rows: vec![],
            };
            for (line, row) in &rows {
                let p = match row {
                    Ok(p) => Self::check_proposal(tx, caller, p, now)?,
                    Err(e) => Err(e.clone()),
                };
                match p {
                    Ok(p) => {
                        repo::insert_proposal(tx, Uuid::now_v7(), &p, caller.user.id, now)?;
                        answer.created += 1;
                    }
                    Err(e) => answer.bad_rows.push(LineProblem {
                        line: *line,
                        code: e.code().into(),
                        message: e.message(lang),
                    }),
                }
            }
            let audit = Audit {
                detail: Some(format!(
                    "{} created, {} bad rows",
                    answer.created,
                    answer.bad_rows.len()
                )),
                ..caller.audit("proposal.import")
            };
            repo::audit(tx, &audit, now)?;
            Ok(Ok(answer))
        })
    }

    /// `GET /api/v1/proposals?area=CODE`: the proposals of the caller's areas with their period
    /// and how far each got.
    pub fn proposals(&self, caller: &Caller, area: Option<&str>) -> Result<ProposalList, ApiError> {
        cycle_reader(caller)?;
        let scope = Self::review_scope(caller, area)?;
        let proposals: Vec<ProposalView> = {
            let mut held = self.db.read()?;
            proposal_views(held.as_mut(), &scope)?
        };
        self.audit_read(
            caller,
            "proposal.list",
            None,
            format!(
                "{} proposals; area={}",
                proposals.len(),
                area.unwrap_or("*")
            ),
        )?;
        Ok(ProposalList { proposals })
    }

    /// `GET /api/v1/households/search?q=WORDS&area=CODE`: households of the caller's areas to
    /// attach a proposal to (at least two characters; at most 20; No. KK masked; audited).
    pub fn search_households(
        &self,
        caller: &Caller,
        q: &str,
        area: Option<&str>,
    ) -> Result<verivali_protocol::cycle::HouseholdHits, ApiError> {
        cycle_reader(caller)?;
        let scope = Self::review_scope(caller, area)?;
        let words = q.trim();
        if words.chars().count() < 2 {
            return Ok(verivali_protocol::cycle::HouseholdHits { households: vec![] });
        }
        let found = {
            let mut held = self.db.read()?;
            repo::search_households(held.as_mut(), &scope, words, 20)?
        };
        self.audit_read(
            caller,
            "household.search",
            None,
            format!("{} found; area={}", found.len(), area.unwrap_or("*")),
        )?;
        Ok(verivali_protocol::cycle::HouseholdHits {
            households: found
                .into_iter()
                .map(|h| verivali_protocol::cycle::HouseholdHit {
                    id: h.id,
                    nama_krt: h.fields.nama_krt,
                    alamat: h.fields.alamat,
                    rt: h.fields.rt,
                    rw: h.fields.rw,
                    kode_desa: h.kode_desa,
                    no_kk_masked: h.fields.no_kk.as_deref().map(nik::mask),
                })
                .collect(),
        })
    }

    /// `POST /api/v1/musdes`: a session (or SPTJM) of one desa with its decisions. Each
    /// proposal must be of that desa, in the caller's areas, not decided yet and not of a closed
    /// period; one refused decision refuses the whole session and nothing changes.
    pub fn record_musdes(&self, caller: &Caller, req: &NewMusdes) -> Result<MusdesView, ApiError> {
        let lang = caller.lang;
        desa_office(caller)?;
        let now = self.now();
        let m = req
            .checked(cycle::today(now))
            .map_err(|e| refused(&e, lang))?;
        if !caller.user.areas.contains(&m.kode_desa) {
            return Err(refused(&CycleError::OutsideArea(m.kode_desa), lang));
        }
        let id = self.run_write(|tx: &mut dyn Sql| {
            let ids: Vec<Uuid> = m.decisions.iter().map(|d| d.proposal_id).collect();
            let found = repo::proposals_for_update(tx, &caller.user.scope(), &ids)?;
            let periods = repo::periods(tx)?;
            for d in &m.decisions {
                let standing = found.get(&d.proposal_id).map(|p| cycle::Standing {
                    kode_desa: &p.p.kode_desa,
                    decided: p.decision.is_some(),
                    period: cycle::period_of(&periods, p.entered_at).map(|x| x.state),
                });
                if let Err(e) = cycle::check_decision(&m.kode_desa, d.proposal_id, standing) {
                    return Ok(Err(refused(&e, lang)));
                }
            }
            let id = Uuid::now_v7();
            repo::insert_musdes(tx, id, &m, caller.user.id, now)?;
            let mut layak = 0;
            for d in &m.decisions {
                let Some(p) = found.get(&d.proposal_id) else {
                    continue;
                };
                let mut target = p.p.household_id;
                if d.decision == Verdict::Layak {
                    layak += 1;
                    if target.is_none() {
                        let h = proposed_household(&p.p);
                        repo::save_household(tx, &h, Some(caller.user.id), now)?;
                        repo::insert_household_version(tx, &h, &[], now)?;
                        repo::announce_household(tx, &h, now)?;
                        target = Some(h.id);
                    }
                }
                repo::decide_proposal(tx, p.id, id, d.decision, d.note.as_deref(), target, now)?;
            }
            let audit = Audit {
                entity_kind: Some("musdes"),
                entity_id: Some(id.to_string()),
                detail: Some(format!(
                    "{} {}: {} decisions, {layak} layak{}",
                    m.kode_desa,
                    m.date,
                    m.decisions.len(),
                    if m.sptjm { " (SPTJM)" } else { "" }
                )),
                ..caller.audit("musdes.record")
            };
            repo::audit(tx, &audit, now)?;
            Ok(Ok(id))
        })?;
        self.musdes_one(caller, id)
    }

    /// `GET /api/v1/musdes?area=CODE`: the sessions of the caller's areas, newest first.
    pub fn musdes_list(&self, caller: &Caller, area: Option<&str>) -> Result<MusdesList, ApiError> {
        cycle_reader(caller)?;
        let scope = Self::review_scope(caller, area)?;
        let sessions = {
            let mut held = self.db.read()?;
            let tx = held.as_mut();
            repo::musdes(tx, &scope, None)?
                .into_iter()
                .map(|row| {
                    let decided = repo::decided_by(tx, row.id)?;
                    Ok(musdes_view(row, &decided))
                })
                .collect::<Result<Vec<_>, ApiError>>()?
        };
        self.audit_read(
            caller,
            "musdes.list",
            None,
            format!("{} sessions; area={}", sessions.len(), area.unwrap_or("*")),
        )?;
        Ok(MusdesList { sessions })
    }

    /// `GET /api/v1/musdes/{id}` (audited: it names residents).
    pub fn musdes_read(&self, caller: &Caller, id: Uuid) -> Result<MusdesView, ApiError> {
        let m = self.musdes_one(caller, id)?;
        self.audit_read(
            caller,
            "musdes.read",
            Some(("musdes", id.to_string())),
            format!("{} {}", m.kode_desa, m.date),
        )?;
        Ok(m)
    }

    /// One session of the caller's areas (404 outside them).
    pub fn musdes_one(&self, caller: &Caller, id: Uuid) -> Result<MusdesView, ApiError> {
        cycle_reader(caller)?;
        let mut tx = self.db.read()?;
        let tx = tx.as_mut();
        let row = repo::musdes(tx, &caller.user.scope(), Some(id))?
            .pop()
            .ok_or_else(|| ApiError::not_found(caller.lang))?;
        let decided = repo::decided_by(tx, id)?;
        Ok(musdes_view(row, &decided))
    }

    /// `GET /api/v1/musdes/{id}/berita-acara.pdf`: the berita acara in Indonesian, with the
    /// decisions by name and address and the NIK masked; audited (it names residents).
    pub fn berita_acara(&self, caller: &Caller, id: Uuid) -> Result<Vec<u8>, ApiError> {
        let session = self.musdes_one(caller, id)?;
        let desa = session.kode_desa.clone();
        let codes = [&desa[..4], &desa[..6], desa.as_str()];
        let names = {
            let mut tx = self.db.read()?;
            repo::region_names(tx.as_mut(), &codes)?
        };
        let name = |code: &str| {
            names
                .get(code)
                .map_or_else(|| code.to_string(), |n| format!("{n} ({code})"))
        };
        let pdf = crate::cycle_pdf::berita_acara(
            &session,
            (&name(&desa), &name(&desa[..6]), &name(&desa[..4])),
        );
        self.audit_read(
            caller,
            "musdes.print",
            Some(("musdes", id.to_string())),
            format!("berita acara {} {}", session.kode_desa, session.date),
        )?;
        Ok(pdf)
    }

    /// `PUT /api/v1/musdes/{id}/scan`: keeps the signed berita acara (PDF, JPEG or PNG, at most
    /// [`MAX_SCAN`] bytes), content-addressed beside the photos; a new scan replaces the old.
    pub fn put_musdes_scan(
        &self,
        caller: &Caller,
        id: Uuid,
        content_type: &str,
        body: &[u8],
    ) -> Result<MusdesView, ApiError> {
        use sha2::{Digest, Sha256};
        let lang = caller.lang;
        desa_office(caller)?;
        let kind = match (content_type, body) {
            ("application/pdf", [b'%', b'P', b'D', b'F', ..]) => "application/pdf",
            ("image/jpeg", [0xFF, 0xD8, 0xFF, ..]) => "image/jpeg",
            ("image/png", [0x89, b'P', b'N', b'G', ..]) => "image/png",
            _ => {
                return Err(ApiError::new(
                    Refusal::Unprocessable,
                    "musdes.scan_type",
                    "Unsupported scan",
                    lang,
                    "Pindaian harus berkas PDF, JPEG atau PNG",
                    "The scan must be a PDF, JPEG or PNG file",
                ));
            }
        };
        if body.len() > MAX_SCAN {
            return Err(ApiError::new(
                Refusal::TooLarge,
                "musdes.scan_too_large",
                "Scan too large",
                lang,
                "Pindaian paling besar 10 MB",
                "The scan may be at most 10 MB",
            ));
        }
        // It must be a session of the caller's areas before anything is written.
        self.musdes_one(caller, id)?;
        let sha = hex::encode(Sha256::digest(body));
        let path = self.attachment_path(&sha);
        if !path.exists() {
            let tmp = self
                .attachments_dir
                .join("partial")
                .join(format!("scan-{sha}"));
            std::fs::write(&tmp, body)
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(|e| ApiError::internal(&e))?;
        }
        let now = self.now();
        self.run_write(|tx: &mut dyn Sql| {
            repo::set_musdes_scan(tx, id, &sha, kind, body.len() as u64, now)?;
            let audit = Audit {
                entity_kind: Some("musdes"),
                entity_id: Some(id.to_string()),
                detail: Some(format!("{kind} {} bytes {sha}", body.len())),
                ..caller.audit("musdes.scan")
            };
            repo::audit(tx, &audit, now)?;
            Ok(Ok(()))
        })?;
        self.musdes_one(caller, id)
    }
}

/// A period's document as served: bytes, content type, file name.
pub type Document = (Vec<u8>, &'static str, String);

impl App {
    /// `GET /api/v1/periods/{name}/bnba.csv|bnba.xlsx?area=CODE`: the BNBA list of the
    /// period's decisions in the caller's areas (a row per proposal decided, NIK masked; CSV
    /// cells safe from spreadsheet formulas); audited.
    pub fn bnba(
        &self,
        caller: &Caller,
        name: &str,
        area: Option<&str>,
        xlsx: bool,
    ) -> Result<Document, ApiError> {
        use verivali_domain::export::csv_safe;
        cycle_reader(caller)?;
        let lang = caller.lang;
        let scope = Self::review_scope(caller, area)?;
        let (rows, musdes_dates, names) = {
            let mut held = self.db.read()?;
            let tx = held.as_mut();
            let periods = repo::periods(tx)?;
            if cycle::window(&periods, name).is_none() {
                return Err(refused(&CycleError::UnknownPeriod, lang));
            }
            let rows: Vec<ProposalView> = proposal_views(tx, &scope)?
                .into_iter()
                .filter(|p| p.period.as_deref() == Some(name) && p.decision.is_some())
                .collect();
            let dates: HashMap<Uuid, String> = repo::musdes(tx, &scope, None)?
                .into_iter()
                .map(|m| (m.id, m.m.date.to_string()))
                .collect();
            let mut codes: Vec<&str> = rows.iter().map(|p| p.kode_desa.as_str()).collect();
            codes.sort();
            codes.dedup();
            let names = repo::region_names(tx, &codes)?;
            (rows, dates, names)
        };
        let mut sorted = rows;
        sorted.sort_by(|a, b| (&a.kode_desa, &a.name).cmp(&(&b.kode_desa, &b.name)));
        let table: Vec<Vec<String>> = sorted
            .iter()
            .enumerate()
            .map(|(i, p)| {
                vec![
                    (i + 1).to_string(),
                    p.kode_desa.clone(),
                    names.get(&p.kode_desa).cloned().unwrap_or_default(),
                    p.name.clone(),
                    p.nik_masked.clone().unwrap_or_default(),
                    p.address.clone(),
                    cycle::kind_label(p.kind).into(),
                    cycle::channel_label(p.channel).into(),
                    p.musdes_id
                        .and_then(|m| musdes_dates.get(&m).cloned())
                        .unwrap_or_default(),
                    p.decision
                        .map(cycle::verdict_label)
                        .unwrap_or_default()
                        .into(),
                    p.note.clone().unwrap_or_default(),
                    cycle::step_label(p.step).into(),
                    p.id.to_string(),
                ]
            })
            .collect();
        let file = format!(
            "bnba-{}",
            name.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
        );
        let doc = if xlsx {
            let mut book = rust_xlsxwriter::Workbook::new();
            let sheet = book.add_worksheet();
            let bold = rust_xlsxwriter::Format::new().set_bold();
            let cell = |e: rust_xlsxwriter::XlsxError| ApiError::internal(&e);
            for (c, h) in cycle::BNBA_COLUMNS.iter().enumerate() {
                sheet
                    .write_string_with_format(0, c as u16, *h, &bold)
                    .map_err(cell)?;
            }
            for (r, row) in table.iter().enumerate() {
                for (c, v) in row.iter().enumerate() {
                    // Strings, never formulas: a cell is text whatever it begins with.
                    sheet
                        .write_string(r as u32 + 1, c as u16, v)
                        .map_err(cell)?;
                }
            }
            let bytes = book.save_to_buffer().map_err(cell)?;
            (
                bytes,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                format!("{file}.xlsx"),
            )
        } else {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(cycle::BNBA_COLUMNS)
                .map_err(|e| ApiError::internal(&e))?;
            for row in &table {
                w.write_record(row.iter().map(|c| csv_safe(c).into_owned()))
                    .map_err(|e| ApiError::internal(&e))?;
            }
            let bytes = w.into_inner().map_err(|e| ApiError::internal(&e))?;
            (bytes, "text/csv; charset=utf-8", format!("{file}.csv"))
        };
        self.audit_read(
            caller,
            "period.bnba",
            None,
            format!("{name} {} rows; area={}", table.len(), area.unwrap_or("*")),
        )?;
        Ok(doc)
    }

    /// `GET /api/v1/periods/{name}/summary.pdf?area=KAB`: the period's summary for one
    /// kabupaten/kota: per desa the visits finished in the period by outcome and by review state
    /// (verified, waiting for verification, returned, waiting for review, sent back), the
    /// proposals (entered, layak, tidak layak, undecided), and signature lines for the kepala
    /// dinas; audited.
    pub fn period_summary(
        &self,
        caller: &Caller,
        name: &str,
        area: Option<&str>,
    ) -> Result<Vec<u8>, ApiError> {
        cycle_reader(caller)?;
        let lang = caller.lang;
        let Some(kab) = area.map(str::trim).filter(|a| a.len() == 4) else {
            return Err(ApiError::new(
                Refusal::Unprocessable,
                "period.summary_area",
                "A kabupaten is needed",
                lang,
                "Rekap dibuat per kabupaten/kota: pilih kode 4 digit",
                "The summary is per kabupaten/kota: give its 4-digit code",
            ));
        };
        if !caller.user.areas.overlaps(kab) {
            return Err(ApiError::not_found(lang));
        }
        let scope = Self::review_scope(caller, Some(kab))?;
        let (period, tally, proposals, names) = {
            let mut held = self.db.read()?;
            let tx = held.as_mut();
            let periods = repo::periods(tx)?;
            let Some((from, to, period)) = cycle::window(&periods, name) else {
                return Err(refused(&CycleError::UnknownPeriod, lang));
            };
            let tally = repo::visit_tally(tx, &scope, from, to)?;
            let proposals: Vec<ProposalView> = proposal_views(tx, &scope)?
                .into_iter()
                .filter(|p| p.period.as_deref() == Some(name))
                .collect();
            let mut codes: Vec<String> = tally.iter().map(|t| t.0.clone()).collect();
            codes.extend(proposals.iter().map(|p| p.kode_desa.clone()));
            codes.push(kab.to_string());
            codes.sort();
            codes.dedup();
            let refs: Vec<&str> = codes.iter().map(String::as_str).collect();
            let names = repo::region_names(tx, &refs)?;
            (period, tally, proposals, names)
        };
        let pdf = crate::cycle_pdf::summary(&period, kab, &names, &tally, &proposals);
        self.audit_read(caller, "period.summary", None, format!("{name} {kab}"))?;
        Ok(pdf)
    }
}

/// Parses a proposal CSV: `(line, the row or why not)` per data row (the header is line 1).
#[allow(clippy::type_complexity)]
fn parse_csv(
    csv: &[u8],
    lang: Lang,
) -> Result<Vec<(u64, Result<NewProposal, CycleError>)>, ApiError> {
    let bad_file = |id: &str, en: &str| {
        ApiError::new(
            Refusal::Unprocessable,
            "proposal.bad_file",
            "Bad file",
            lang,
            &format!("Berkas CSV tidak bisa dibaca: {id}"),
            &format!("The CSV file cannot be read: {en}"),
        )
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(csv);
    let headers = reader
        .headers()
        .map_err(|e| bad_file("bukan CSV", &e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
    };
    let need = ["kind", "channel", "name", "address", "kode_desa", "reason"];
    if let Some(missing) = need.iter().find(|n| col(n).is_none()) {
        return Err(bad_file(
            &format!("kolom {missing:?} tidak ada"),
            &format!("column {missing:?} is missing"),
        ));
    }
    let mut out = Vec::new();
    for rec in reader.records() {
        if out.len() >= MAX_IMPORT_ROWS {
            return Err(bad_file(
                &format!("lebih dari {MAX_IMPORT_ROWS} baris"),
                &format!("more than {MAX_IMPORT_ROWS} rows"),
            ));
        }
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let at = e.position().map_or(0, |p| p.line());
                return Err(bad_file(
                    &format!("baris {at} rusak"),
                    &format!("line {at}: {e}"),
                ));
            }
        };
        // As a spreadsheet numbers it (the header is line 1; blank lines count, which the csv
        // reader's own line count skips): newlines before the record's first byte, plus one.
        // The position is where the reader started looking, before any blank lines.
        let line = rec.position().map_or(0, |p| {
            let mut at = usize::try_from(p.byte())
                .unwrap_or(usize::MAX)
                .min(csv.len());
            while at < csv.len() && matches!(csv[at], b'\n' | b'\r') {
                at += 1;
            }
            csv[..at].iter().filter(|b| **b == b'\n').count() as u64 + 1
        });
        let get = |name: &str| {
            col(name)
                .and_then(|i| rec.get(i))
                .map(str::to_string)
                .unwrap_or_default()
        };
        let opt = |name: &str| Some(get(name)).filter(|v| !v.is_empty());
        let row = (|| {
            let kind = cycle::ProposalKind::parse(&get("kind"))
                .ok_or_else(|| CycleError::BadKind(get("kind")))?;
            let channel = cycle::Channel::parse(&get("channel"))
                .ok_or_else(|| CycleError::BadChannel(get("channel")))?;
            let household_id = match opt("household_id") {
                None => None,
                Some(h) => Some(Uuid::parse_str(&h).map_err(|_| CycleError::HouseholdOutside)?),
            };
            Ok(NewProposal {
                kind,
                channel,
                household_id,
                nik: opt("nik"),
                name: get("name"),
                address: get("address"),
                kode_desa: get("kode_desa"),
                reporter: opt("reporter"),
                reason: get("reason"),
            })
        })();
        out.push((line, row));
    }
    Ok(out)
}

/// The proposals of a scope as listed, with their period and step.
fn proposal_views(tx: &mut dyn Sql, scope: &repo::Scope) -> crate::db::DbResult<Vec<ProposalView>> {
    let rows = repo::proposals(tx, scope)?;
    let periods = repo::periods(tx)?;
    let targets: Vec<Uuid> = rows.iter().filter_map(|r| r.target_household_id).collect();
    let assigned = repo::assignments_of(tx, &targets)?;
    let visits = repo::visits_since(tx, &targets)?;
    Ok(rows
        .iter()
        .map(|r| proposal_view(r, &periods, &assigned, &visits))
        .collect())
}

/// A stored proposal as listed, with its period and step.
fn proposal_view(
    r: &ProposalRow,
    periods: &[Period],
    assigned: &HashMap<Uuid, repo::AssignmentRow>,
    visits: &repo::Received,
) -> ProposalView {
    let target = r.target_household_id;
    // The visit that verifies it: the last finished one of its household the server received
    // after the decision.
    let visit = match (target, r.decided_at) {
        (Some(h), Some(decided)) => visits
            .get(&h)
            .and_then(|v| {
                v.iter()
                    .rev()
                    .find(|(at, s)| *at >= decided && *s != verivali_domain::VisitState::Superseded)
            })
            .map(|(_, s)| *s),
        _ => None,
    };
    let is_assigned = target.is_some_and(|h| assigned.contains_key(&h));
    let step: Step = cycle::reached(r.decision, is_assigned, visit);
    ProposalView {
        id: r.id,
        kind: r.p.kind,
        channel: r.p.channel,
        household_id: r.p.household_id,
        target_household_id: target,
        nik_masked: r.p.nik.as_deref().map(nik::mask),
        name: r.p.name.clone(),
        address: r.p.address.clone(),
        kode_desa: r.p.kode_desa.clone(),
        reporter: r.p.reporter.clone(),
        reason: r.p.reason.clone(),
        entered_at: r.entered_at,
        period: cycle::period_of(periods, r.entered_at).map(|p| p.name.clone()),
        decision: r.decision,
        note: r.note.clone(),
        musdes_id: r.musdes_id,
        source: r.p.kind.source(),
        step,
    }
}

fn musdes_view(row: MusdesRow, decided: &[ProposalRow]) -> MusdesView {
    MusdesView {
        id: row.id,
        kode_desa: row.m.kode_desa,
        date: row.m.date,
        sptjm: row.m.sptjm,
        place: row.m.place,
        chair: row.m.chair,
        attendees: row.m.attendees,
        decisions: decided
            .iter()
            .filter_map(|p| {
                Some(DecisionView {
                    proposal_id: p.id,
                    kind: p.p.kind,
                    name: p.p.name.clone(),
                    address: p.p.address.clone(),
                    nik_masked: p.p.nik.as_deref().map(nik::mask),
                    decision: p.decision?,
                    note: p.note.clone(),
                })
            })
            .collect(),
        scan: row.scan.map(|(sha256, content_type, bytes, at)| ScanView {
            sha256,
            content_type,
            bytes,
            at,
        }),
        recorded_at: row.recorded_at,
    }
}

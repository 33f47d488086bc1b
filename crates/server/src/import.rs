//! `import households FILE.csv`: the DTSEN baseline, one row per member (DESIGN.md §6).
//!
//! Rows are grouped by `id_dtsen`. A bad row is reported with its line number and reason and
//! skipped; a household is imported when it has exactly one good head row (`hubungan_krt` 1),
//! otherwise all its rows are reported. Re-importing the same file changes nothing: households are
//! matched by `id_dtsen`, members by NIK (or name and birth date), and only real differences make
//! a new baseline version.

use chrono::NaiveDate;
use std::collections::HashMap;
use uuid::Uuid;
use verivali_domain::nik::{validate_nik, validate_no_kk};
use verivali_domain::{
    Coded, Household, Lang, Member, PresenceStatus, RegionCode, Relationship, Sex,
};
use verivali_protocol::pull::MemberChange;

use crate::app::App;
use crate::db::Sql;
use crate::repo::{self, Audit};

/// The required header.
pub const HEADER: [&str; 13] = [
    "id_dtsen",
    "no_kk",
    "kode_desa",
    "alamat",
    "rt",
    "rw",
    "desil",
    "nik",
    "nama",
    "jenis_kelamin",
    "tempat_lahir",
    "tanggal_lahir",
    "hubungan_krt",
];

/// A problem with one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIssue {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// Stable code.
    pub code: String,
    /// Reason.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Households created.
    pub created: usize,
    /// Households whose baseline changed (new version).
    pub updated: usize,
    /// Households already identical.
    pub unchanged: usize,
    /// Members written.
    pub members: usize,
    /// Rows refused.
    pub bad_rows: Vec<LineIssue>,
    /// Rows imported with a warning.
    pub warnings: Vec<LineIssue>,
}

struct Parsed {
    line: u64,
    id_dtsen: String,
    no_kk: String,
    kode_desa: String,
    alamat: String,
    rt: String,
    rw: String,
    desil: Option<u8>,
    member: Member,
}

fn issue(line: u64, code: &str, message: impl Into<String>) -> LineIssue {
    LineIssue {
        line,
        code: code.into(),
        message: message.into(),
    }
}

fn parse_row(
    line: u64,
    rec: &csv::StringRecord,
    lang: Lang,
    warnings: &mut Vec<LineIssue>,
) -> Result<Parsed, LineIssue> {
    let f = |i: usize| rec.get(i).unwrap_or("").trim().to_string();
    let id_dtsen = f(0);
    if id_dtsen.is_empty() || id_dtsen.len() > 64 {
        return Err(issue(
            line,
            "import.id_dtsen",
            "id_dtsen kosong atau terlalu panjang / id_dtsen empty or too long",
        ));
    }
    let kode_desa = f(2);
    match RegionCode::parse(&kode_desa) {
        Ok(c) if c.as_str().len() == 10 => {}
        _ => {
            return Err(issue(
                line,
                "household.desa_code",
                verivali_domain::Invalid::DesaCode.message(lang),
            ));
        }
    }
    let no_kk = f(1);
    let kk = validate_no_kk(&no_kk, None);
    if let Some(e) = kk.errors.first() {
        return Err(issue(line, e.issue.code(), e.issue.message(lang)));
    }
    for w in kk.warnings {
        warnings.push(issue(line, w.issue.code(), w.issue.message(lang)));
    }
    let desil = match f(6).as_str() {
        "" => None,
        d => match d.parse::<u8>() {
            Ok(n) if (1..=10).contains(&n) => Some(n),
            _ => {
                return Err(issue(
                    line,
                    "import.desil",
                    format!("desil {d:?} harus 1-10 / must be 1-10"),
                ));
            }
        },
    };
    let sex = match f(9).as_str() {
        "L" => Sex::L,
        "P" => Sex::P,
        s => {
            return Err(issue(
                line,
                "import.jenis_kelamin",
                format!("jenis_kelamin {s:?} harus L atau P / must be L or P"),
            ));
        }
    };
    let birth_date = match f(11).as_str() {
        "" => None,
        d => Some(NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
            issue(
                line,
                "import.tanggal_lahir",
                format!("tanggal_lahir {d:?} harus TTTT-BB-HH / must be YYYY-MM-DD"),
            )
        })?),
    };
    let relationship = f(12)
        .parse::<u8>()
        .ok()
        .and_then(|n| Relationship::try_from(n).ok())
        .ok_or_else(|| {
            issue(
                line,
                "member.relationship",
                format!("hubungan_krt {:?} harus 1-8 / must be 1-8", f(12)),
            )
        })?;
    let name = f(8);
    if name.is_empty() {
        return Err(issue(
            line,
            "member.name_required",
            verivali_domain::Invalid::NameRequired.message(lang),
        ));
    }
    let nik = Some(f(7)).filter(|n| !n.is_empty());
    if let Some(n) = &nik {
        let r = validate_nik(n, Some(sex), birth_date, None);
        if let Some(e) = r.errors.first() {
            return Err(issue(line, e.issue.code(), e.issue.message(lang)));
        }
        for w in r.warnings {
            warnings.push(issue(line, w.issue.code(), w.issue.message(lang)));
        }
    }
    Ok(Parsed {
        line,
        id_dtsen,
        no_kk,
        kode_desa,
        alamat: f(3),
        rt: f(4),
        rw: f(5),
        desil,
        member: Member {
            member_id: Uuid::nil(),
            nik,
            name,
            sex,
            birth_place: Some(f(10)).filter(|s| !s.is_empty()),
            birth_date,
            relationship,
            status: PresenceStatus::Tinggal,
            exit: None,
        },
    })
}

fn same_person(a: &Member, b: &Member) -> bool {
    match (&a.nik, &b.nik) {
        (Some(x), Some(y)) => x == y,
        _ => a.name == b.name && a.birth_date == b.birth_date,
    }
}

impl App {
    /// Imports a baseline CSV. `progress` is told how many data rows are done, of how many.
    pub fn import_households(
        &self,
        input: impl std::io::Read,
        progress: &dyn Fn(u64, u64),
    ) -> anyhow::Result<ImportReport> {
        self.import_households_in(input, None, progress)
    }

    /// As [`App::import_households`], refusing the rows of a desa outside `areas` (an admin's,
    /// from the console; `None` for the operator's CLI) with `import.area_outside`.
    pub fn import_households_in(
        &self,
        input: impl std::io::Read,
        areas: Option<&verivali_domain::Areas>,
        progress: &dyn Fn(u64, u64),
    ) -> anyhow::Result<ImportReport> {
        let lang = Lang::Id;
        let mut rows_read = 0u64;
        let mut report = ImportReport::default();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(input);
        let header: Vec<String> = reader
            .headers()?
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
            .collect();
        anyhow::ensure!(
            header == HEADER,
            "the header must be exactly {}; found {}",
            HEADER.join(","),
            header.join(",")
        );
        let mut order: Vec<String> = Vec::new();
        let mut groups: HashMap<String, Vec<Parsed>> = HashMap::new();
        for (i, rec) in reader.records().enumerate() {
            let line = i as u64 + 2;
            rows_read += 1;
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    report
                        .bad_rows
                        .push(issue(line, "import.csv", e.to_string()));
                    continue;
                }
            };
            if rec.len() != HEADER.len() {
                report.bad_rows.push(issue(
                    line,
                    "import.columns",
                    format!(
                        "{} kolom, harus {} / {} columns, expected {}",
                        rec.len(),
                        HEADER.len(),
                        rec.len(),
                        HEADER.len()
                    ),
                ));
                continue;
            }
            let unstorable = HEADER
                .iter()
                .zip(rec.iter())
                .find_map(|(col, v)| verivali_domain::text::check(col, v).err());
            if let Some(e) = unstorable {
                report.bad_rows.push(issue(line, e.code(), e.message(lang)));
                continue;
            }
            match parse_row(line, &rec, lang, &mut report.warnings) {
                Ok(p) if areas.is_some_and(|a| !a.contains(&p.kode_desa)) => {
                    report.bad_rows.push(issue(
                        line,
                        "import.area_outside",
                        format!(
                            "desa {} di luar wilayah Anda / desa {} is outside your areas",
                            p.kode_desa, p.kode_desa
                        ),
                    ));
                }
                Ok(p) => {
                    if !groups.contains_key(&p.id_dtsen) {
                        order.push(p.id_dtsen.clone());
                    }
                    groups.entry(p.id_dtsen.clone()).or_default().push(p);
                }
                Err(e) => report.bad_rows.push(e),
            }
        }
        let now = self.now();
        // Progress in data rows: the refused ones are done once read.
        let mut rows_done = rows_read - groups.values().map(|g| g.len() as u64).sum::<u64>();
        progress(rows_done, rows_read);
        let chunks = order.chunks(500).count();
        for (i, chunk) in order.chunks(500).enumerate() {
            let mut tx = self.db.write()?;
            for id in chunk {
                if let Some(rows) = groups.remove(id) {
                    rows_done += rows.len() as u64;
                    self.import_one(tx.as_mut(), rows, &mut report, now)?;
                }
            }
            if i + 1 == chunks {
                repo::audit(
                    tx.as_mut(),
                    &Audit {
                        action: "import.households",
                        detail: Some(format!(
                            "{} created, {} updated, {} unchanged, {} bad rows",
                            report.created,
                            report.updated,
                            report.unchanged,
                            report.bad_rows.len()
                        )),
                        ..Default::default()
                    },
                    now,
                )?;
            }
            tx.commit()?;
            progress(rows_done, rows_read);
            // The writer lock is not fair: without a pause this loop takes it again before a
            // request waiting for it (a phone's push or pull) wakes, and holds it for the whole
            // file. 100 chunks of a 200,000-row file spend 0.1 s here.
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        report.bad_rows.sort_by_key(|i| i.line);
        report.warnings.sort_by_key(|i| i.line);
        Ok(report)
    }

    fn import_one(
        &self,
        tx: &mut dyn Sql,
        rows: Vec<Parsed>,
        report: &mut ImportReport,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<()> {
        // Household fields come from the head row; other rows must agree.
        let heads: Vec<&Parsed> = rows
            .iter()
            .filter(|r| r.member.relationship == Relationship::Kepala)
            .collect();
        if heads.len() != 1 {
            let (code, msg) = if heads.is_empty() {
                (
                    "import.no_head",
                    "rumah tangga tanpa baris kepala (hubungan_krt 1) yang benar / household has no good head row",
                )
            } else {
                (
                    "import.two_heads",
                    "rumah tangga punya lebih dari satu kepala / household has more than one head",
                )
            };
            report
                .bad_rows
                .extend(rows.iter().map(|r| issue(r.line, code, msg)));
            return Ok(());
        }
        let head = heads[0];
        let mut members: Vec<Member> = Vec::new();
        for r in &rows {
            let agrees = r.no_kk == head.no_kk
                && r.kode_desa == head.kode_desa
                && r.alamat == head.alamat
                && r.rt == head.rt
                && r.rw == head.rw
                && r.desil == head.desil;
            if !agrees {
                report.bad_rows.push(issue(r.line, "import.household_mismatch", "data rumah tangga berbeda dengan baris kepala / household fields differ from the head row"));
            } else if members.iter().any(|m| same_person(m, &r.member)) {
                report.bad_rows.push(issue(
                    r.line,
                    "household.duplicate_nik",
                    "anggota yang sama tercatat dua kali / the same member appears twice",
                ));
            } else {
                members.push(r.member.clone());
            }
        }
        let existing = repo::household_by_dtsen(tx, &head.id_dtsen)?;
        let old_members = match &existing {
            Some(h) => repo::members(tx, h.id)?,
            None => vec![],
        };
        for m in &mut members {
            m.member_id = old_members
                .iter()
                .find(|o| same_person(o, m))
                .map_or_else(Uuid::now_v7, |o| o.member_id);
        }
        let mut h = Household {
            id: existing.as_ref().map_or_else(Uuid::now_v7, |e| e.id),
            id_dtsen: Some(head.id_dtsen.clone()),
            fields: verivali_domain::HouseholdFields {
                no_kk: Some(head.no_kk.clone()),
                nama_krt: head.member.name.clone(),
                alamat: head.alamat.clone(),
                rt: head.rt.clone(),
                rw: head.rw.clone(),
            },
            kode_desa: head.kode_desa.clone(),
            desil: head.desil,
            version: existing.as_ref().map_or(1, |e| e.version),
        };
        let mut sorted_old = old_members.clone();
        let mut sorted_new = members.clone();
        sorted_old.sort_by_key(|m| m.member_id);
        sorted_new.sort_by_key(|m| m.member_id);
        if let Some(e) = &existing {
            if *e == h && sorted_old == sorted_new {
                report.unchanged += 1;
                return Ok(());
            }
            h.version = e.version + 1;
            report.updated += 1;
        } else {
            report.created += 1;
        }
        repo::save_household(tx, &h, None, now)?;
        repo::replace_members(tx, h.id, &members)?;
        repo::insert_household_version(tx, &h, &members, now)?;
        repo::announce_household(tx, &h, now)?;
        for m in &members {
            let data = serde_json::to_string(&MemberChange {
                household_id: h.id,
                member: m.clone(),
            })?;
            repo::append_change(
                tx,
                "member",
                &m.member_id.to_string(),
                h.version,
                false,
                &h.kode_desa,
                None,
                &data,
                now,
            )?;
        }
        for gone in old_members
            .iter()
            .filter(|o| !members.iter().any(|m| m.member_id == o.member_id))
        {
            repo::append_change(
                tx,
                "member",
                &gone.member_id.to_string(),
                h.version,
                true,
                &h.kode_desa,
                None,
                "null",
                now,
            )?;
        }
        report.members += members.len();
        Ok(())
    }
}

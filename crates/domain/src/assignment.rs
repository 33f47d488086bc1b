//! Assignments (DESIGN.md §9): a household given to one enumerator, with an optional due date, a
//! source saying why it is on the list, and a note. Households nobody was given stay shared by
//! every enumerator of their area, so a kabupaten that never assigns works as before.
//!
//! The rules of who may give what to whom live here, once ([`may_assign`]); the server applies them
//! per household, so one household outside the rules refuses the whole call and nothing changes.

use serde::{Deserialize, Serialize};

use crate::i18n::{Coded, Lang};
use crate::region::Areas;
use crate::state::Role;

/// Why a household is on an enumerator's list. Wire names are the enum's snake_case names.
#[derive(ts_rs::TS, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentSource {
    /// The registry baseline itself (the default).
    Baseline,
    /// A ground check the dinas ordered (e.g. PKH families that moved into desil 5).
    Groundcheck,
    /// A resident's proposal (usulan) to be verified.
    Usulan,
    /// An objection (sanggah), e.g. from the Cek Bansos app.
    Sanggah,
    /// A reported death.
    LaporanKematian,
    /// Anything else; the note says what.
    Lainnya,
}

impl AssignmentSource {
    /// Every source, in the order lists offer them.
    pub const ALL: [AssignmentSource; 6] = [
        AssignmentSource::Baseline,
        AssignmentSource::Groundcheck,
        AssignmentSource::Usulan,
        AssignmentSource::Sanggah,
        AssignmentSource::LaporanKematian,
        AssignmentSource::Lainnya,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentSource::Baseline => "baseline",
            AssignmentSource::Groundcheck => "groundcheck",
            AssignmentSource::Usulan => "usulan",
            AssignmentSource::Sanggah => "sanggah",
            AssignmentSource::LaporanKematian => "laporan_kematian",
            AssignmentSource::Lainnya => "lainnya",
        }
    }

    /// The source of a wire name.
    pub fn parse(s: &str) -> Option<AssignmentSource> {
        AssignmentSource::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// What an assignment tells the enumerator besides that the household is theirs: when it is due,
/// why it is on their list, and a note. Carried to their device with the household.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// `YYYY-MM-DD`.
    #[ts(type = "string | null")]
    pub due_date: Option<chrono::NaiveDate>,
    pub source: AssignmentSource,
    pub note: Option<String>,
}

/// The quality flag on a visit whose household is assigned to another enumerator than the one who
/// made it (a reassignment while the work was on their phone): the visit is kept and shown to the
/// reviewer with this flag.
pub const FLAG_REASSIGNED: &str = "quality.reassigned";

/// Longest note on an assignment, in characters.
pub const MAX_NOTE: usize = 500;

/// Why an assignment is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignError {
    /// Only supervisors and admins assign.
    #[error("only supervisors and admins assign households")]
    NotAssigner,
    /// The household lies outside the assigner's areas (to them it does not exist).
    #[error("household outside your areas")]
    OutsideAssigner,
    /// No user has this username.
    #[error("no user {0}")]
    UnknownEnumerator(String),
    /// The named user is not an enumerator (or is disabled).
    #[error("{0} is not an active enumerator")]
    NotEnumerator(String),
    /// The enumerator's areas do not hold the household.
    #[error("enumerator {enumerator} does not work in desa {kode_desa}")]
    OutsideEnumerator {
        /// The enumerator's username.
        enumerator: String,
        /// The household's desa.
        kode_desa: String,
    },
    /// No household with this registry id in the caller's areas (an import row).
    #[error("no household with id_dtsen {0} in your areas")]
    UnknownHousehold(String),
    /// The same household already came on an earlier line of the same file.
    #[error("the household is already on line {0} of this file")]
    DuplicateRow(u64),
    /// A due date that is not `YYYY-MM-DD`.
    #[error("due date {0:?} is not YYYY-MM-DD")]
    BadDate(String),
    /// A source that is none of [`AssignmentSource::ALL`].
    #[error("unknown source {0:?}")]
    BadSource(String),
    /// The note is longer than [`MAX_NOTE`].
    #[error("note longer than {MAX_NOTE} characters")]
    NoteTooLong,
}

impl Coded for AssignError {
    fn code(&self) -> &'static str {
        match self {
            AssignError::NotAssigner => "auth.forbidden",
            AssignError::OutsideAssigner => "not_found",
            AssignError::UnknownEnumerator(_) => "assignment.unknown_enumerator",
            AssignError::NotEnumerator(_) => "assignment.not_enumerator",
            AssignError::OutsideEnumerator { .. } => "assignment.enumerator_outside",
            AssignError::UnknownHousehold(_) => "assignment.unknown_household",
            AssignError::DuplicateRow(_) => "assignment.duplicate_row",
            AssignError::BadDate(_) => "assignment.bad_date",
            AssignError::BadSource(_) => "assignment.bad_source",
            AssignError::NoteTooLong => "assignment.note_too_long",
        }
    }

    fn message(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            AssignError::NotAssigner => "Hanya pengawas dan admin yang membagi tugas".into(),
            AssignError::OutsideAssigner => "Rumah tangga di luar wilayah Anda".into(),
            AssignError::UnknownEnumerator(u) => format!("Tidak ada pengguna {u}"),
            AssignError::NotEnumerator(u) => format!("{u} bukan petugas aktif"),
            AssignError::OutsideEnumerator {
                enumerator,
                kode_desa,
            } => format!("Petugas {enumerator} tidak bertugas di desa {kode_desa}"),
            AssignError::UnknownHousehold(id) => {
                format!("Tidak ada rumah tangga dengan id_dtsen {id} di wilayah Anda")
            }
            AssignError::DuplicateRow(line) => {
                format!("Rumah tangga ini sudah ada di baris {line} berkas ini")
            }
            AssignError::BadDate(d) => format!("Tanggal tenggat {d:?} bukan TTTT-BB-HH"),
            AssignError::BadSource(s) => format!("Sumber {s:?} tidak dikenal"),
            AssignError::NoteTooLong => format!("Catatan lebih dari {MAX_NOTE} karakter"),
        }
    }
}

/// Who may give a household of `kode_desa` to whom: a supervisor or admin whose areas hold the
/// household, to an active enumerator whose areas hold it too. Checked in this order, so a caller
/// learns nothing about households outside their own areas.
pub fn may_assign(
    assigner: (Role, &Areas),
    enumerator: (&str, Role, &Areas, bool),
    kode_desa: &str,
) -> Result<(), AssignError> {
    let (role, areas) = assigner;
    if !matches!(role, Role::Supervisor | Role::Admin) {
        return Err(AssignError::NotAssigner);
    }
    if !areas.contains(kode_desa) {
        return Err(AssignError::OutsideAssigner);
    }
    let (username, e_role, e_areas, active) = enumerator;
    if e_role != Role::Enumerator || !active {
        return Err(AssignError::NotEnumerator(username.to_string()));
    }
    if !e_areas.contains(kode_desa) {
        return Err(AssignError::OutsideEnumerator {
            enumerator: username.to_string(),
            kode_desa: kode_desa.to_string(),
        });
    }
    Ok(())
}

/// A due date from text: empty is none, else `YYYY-MM-DD`.
pub fn due_date(text: &str) -> Result<Option<chrono::NaiveDate>, AssignError> {
    match text.trim() {
        "" => Ok(None),
        t => chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| AssignError::BadDate(t.to_string())),
    }
}

/// A source from text: empty is [`AssignmentSource::Baseline`].
pub fn source(text: &str) -> Result<AssignmentSource, AssignError> {
    match text.trim() {
        "" => Ok(AssignmentSource::Baseline),
        t => AssignmentSource::parse(t).ok_or_else(|| AssignError::BadSource(t.to_string())),
    }
}

/// A note as stored: trimmed, `None` when empty, refused when too long.
pub fn note(text: Option<&str>) -> Result<Option<String>, AssignError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) if t.chars().count() > MAX_NOTE => Err(AssignError::NoteTooLong),
        Some(t) => Ok(Some(t.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::RegionCode;

    fn areas(codes: &[&str]) -> Areas {
        Areas::new(codes.iter().map(|c| RegionCode::parse(c).unwrap()))
    }

    #[test]
    fn sources_round_trip_by_wire_name() {
        for s in AssignmentSource::ALL {
            assert_eq!(AssignmentSource::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(AssignmentSource::parse("kematian"), None);
    }

    #[test]
    fn who_may_assign_what_to_whom() {
        let kec = areas(&["330801"]);
        let desa = areas(&["3308012001"]);
        let other = areas(&["3308022001"]);
        let hh = "3308012001";
        let ok = ("ani", Role::Enumerator, &desa, true);
        assert_eq!(may_assign((Role::Supervisor, &kec), ok, hh), Ok(()));
        assert_eq!(may_assign((Role::Admin, &kec), ok, hh), Ok(()));
        assert_eq!(
            may_assign((Role::Enumerator, &kec), ok, hh),
            Err(AssignError::NotAssigner)
        );
        assert_eq!(
            may_assign((Role::Supervisor, &other), ok, hh),
            Err(AssignError::OutsideAssigner),
            "outside the assigner's areas, before anything about the enumerator"
        );
        let e = may_assign(
            (Role::Supervisor, &kec),
            ("budi", Role::Enumerator, &other, true),
            hh,
        );
        assert_eq!(e.unwrap_err().code(), "assignment.enumerator_outside");
        for bad in [
            ("sri", Role::Supervisor, &desa, true),
            ("tono", Role::Enumerator, &desa, false),
        ] {
            let e = may_assign((Role::Supervisor, &kec), bad, hh).unwrap_err();
            assert_eq!(e.code(), "assignment.not_enumerator");
        }
    }

    #[test]
    fn import_fields_parse_or_say_why() {
        assert_eq!(due_date(" "), Ok(None));
        assert_eq!(
            due_date("2026-12-20").unwrap().unwrap().to_string(),
            "2026-12-20"
        );
        for bad in ["20-12-2026", "2026-13-01", "besok"] {
            assert_eq!(due_date(bad).unwrap_err().code(), "assignment.bad_date");
        }
        assert_eq!(source(""), Ok(AssignmentSource::Baseline));
        assert_eq!(source(" sanggah "), Ok(AssignmentSource::Sanggah));
        assert_eq!(source("gosip").unwrap_err().code(), "assignment.bad_source");
    }

    #[test]
    fn notes_are_trimmed_and_bounded() {
        assert_eq!(note(None), Ok(None));
        assert_eq!(note(Some("  ")), Ok(None));
        assert_eq!(note(Some(" sakit ")), Ok(Some("sakit".into())));
        let long = "a".repeat(MAX_NOTE + 1);
        assert_eq!(note(Some(&long)), Err(AssignError::NoteTooLong));
    }
}

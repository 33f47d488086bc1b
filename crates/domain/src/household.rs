//! Households (rumah tangga) and their members (anggota rumah tangga), as in the registry
//! baseline and as an enumerator finds them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use uuid::Uuid;

use crate::issue::{Invalid, Report};
use crate::nik::{validate_nik, validate_no_kk};
use crate::region::RegionDirectory;

/// Sex as recorded by Dukcapil: `L` (laki-laki) or `P` (perempuan).
#[derive(ts_rs::TS, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sex {
    /// Laki-laki (male).
    L,
    /// Perempuan (female).
    P,
}

impl Sex {
    /// Both.
    pub const ALL: [Sex; 2] = [Sex::L, Sex::P];
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sex::L => "L",
            Sex::P => "P",
        })
    }
}

/// Relationship to the head of household (hubungan dengan kepala rumah tangga), codes 1–8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Relationship {
    /// 1 kepala rumah tangga.
    Kepala,
    /// 2 istri/suami.
    Pasangan,
    /// 3 anak.
    Anak,
    /// 4 menantu.
    Menantu,
    /// 5 cucu.
    Cucu,
    /// 6 orang tua/mertua.
    OrangTua,
    /// 7 pembantu rumah tangga.
    Pembantu,
    /// 8 lainnya.
    Lainnya,
}

impl Relationship {
    /// All relationships in code order.
    pub const ALL: [Relationship; 8] = [
        Relationship::Kepala,
        Relationship::Pasangan,
        Relationship::Anak,
        Relationship::Menantu,
        Relationship::Cucu,
        Relationship::OrangTua,
        Relationship::Pembantu,
        Relationship::Lainnya,
    ];

    /// The registry code, 1–8.
    pub fn code(self) -> u8 {
        match self {
            Relationship::Kepala => 1,
            Relationship::Pasangan => 2,
            Relationship::Anak => 3,
            Relationship::Menantu => 4,
            Relationship::Cucu => 5,
            Relationship::OrangTua => 6,
            Relationship::Pembantu => 7,
            Relationship::Lainnya => 8,
        }
    }
}

impl TryFrom<u8> for Relationship {
    type Error = Invalid;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Relationship::ALL
            .into_iter()
            .find(|r| r.code() == value)
            .ok_or(Invalid::RelationshipCode { value })
    }
}

impl From<Relationship> for u8 {
    fn from(value: Relationship) -> Self {
        value.code()
    }
}

/// Whether a member is still part of the household, as the enumerator found.
#[derive(ts_rs::TS, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    /// Still lives here.
    Tinggal,
    /// Has died.
    Meninggal,
    /// Has moved out.
    Pindah,
    /// Newly added member.
    AnggotaBaru,
    /// Never belonged here: an error in the prelist.
    KesalahanPrelist,
    /// Could not be found or confirmed.
    TidakDitemukan,
}

impl PresenceStatus {
    /// All statuses.
    pub const ALL: [PresenceStatus; 6] = [
        PresenceStatus::Tinggal,
        PresenceStatus::Meninggal,
        PresenceStatus::Pindah,
        PresenceStatus::AnggotaBaru,
        PresenceStatus::KesalahanPrelist,
        PresenceStatus::TidakDitemukan,
    ];

    /// Whether the member counts as living in the household now.
    pub fn is_present(self) -> bool {
        matches!(self, PresenceStatus::Tinggal | PresenceStatus::AnggotaBaru)
    }
}

/// A household of the registry baseline (server-owned; devices never write it).
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Household {
    /// UUIDv7, made by the server at import (or by the device for a proposal).
    pub id: Uuid,
    /// Registry id, data not a key; absent for new proposals.
    pub id_dtsen: Option<String>,
    /// What an enumerator may correct (flattened: on the wire these are the household's own keys).
    #[serde(flatten)]
    pub fields: HouseholdFields,
    /// 10-digit desa/kelurahan code.
    pub kode_desa: String,
    /// Welfare decile from BPS (1 poorest – 10); read-only.
    pub desil: Option<u8>,
    /// Baseline version, raised by the server whenever an approved visit changes it.
    #[ts(type = "number")]
    pub version: i64,
}

/// A member of a household.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Member id (UUIDv7).
    pub member_id: Uuid,
    /// NIK, when known.
    pub nik: Option<String>,
    /// Full name.
    pub name: String,
    pub sex: Sex,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_place: Option<String>,
    #[serde(default, deserialize_with = "crate::time_text::date_opt")]
    pub birth_date: Option<NaiveDate>,
    /// Relationship to the head.
    #[ts(type = "number")]
    pub relationship: Relationship,
    /// Presence status.
    pub status: PresenceStatus,
    /// How a member who died or moved out left, with its evidence (DESIGN.md §12). Absent on
    /// everyone else, and on a death or move recorded before the update cycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub exit: Option<MemberExit>,
}

/// A member's exit and its evidence: a death's date and the photo of its document (akta or surat
/// keterangan kematian) or why there is none; a move's date and destination desa when known.
#[derive(ts_rs::TS, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberExit {
    /// The day of death or of the move.
    #[serde(default)]
    pub date: Option<NaiveDate>,
    /// SHA-256 of the document photo, one of the visit's photos.
    #[serde(default)]
    pub document_photo: Option<String>,
    /// Why there is no document (a death at home, the akta not issued yet…).
    #[serde(default)]
    pub no_document_reason: Option<String>,
    /// Kemendagri code of the desa moved to, when known.
    #[serde(default)]
    pub destination_desa: Option<String>,
}

/// The household fields an enumerator may correct, defined once: the baseline [`Household`], what
/// a visit found ([`HouseholdFound`]) and a proposed household (`verivali_protocol`'s
/// `HouseholdProposal`) all flatten this struct, and review compares and settles conflicts
/// through [`HouseholdFields::NAMES`], [`get`](HouseholdFields::get) and
/// [`set`](HouseholdFields::set). A new field is added here (and in the store's and server's
/// household columns).
#[derive(ts_rs::TS, Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdFields {
    /// No. KK; changes on moves, deaths and splits. `None` when not shown.
    #[serde(default)]
    pub no_kk: Option<String>,
    /// Name of the head of household. A proposal may leave it out (or send `null`): it reads as
    /// empty.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub nama_krt: String,
    pub alamat: String,
    pub rt: String,
    pub rw: String,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

impl HouseholdFields {
    /// The editable fields by wire name, in form order.
    pub const NAMES: [&'static str; 5] = ["no_kk", "nama_krt", "alamat", "rt", "rw"];

    /// A field's value by wire name; `None` for a name that is not one.
    pub fn get(&self, name: &str) -> Option<serde_json::Value> {
        use serde_json::json;
        Some(match name {
            "no_kk" => json!(self.no_kk),
            "nama_krt" => json!(self.nama_krt),
            "alamat" => json!(self.alamat),
            "rt" => json!(self.rt),
            "rw" => json!(self.rw),
            _ => return None,
        })
    }

    /// Sets a field by wire name from a JSON string (or null for No. KK); `false` for a name that
    /// is not one or a value of the wrong type, which changes nothing.
    pub fn set(&mut self, name: &str, v: &serde_json::Value) -> bool {
        let text = v.as_str().map(str::to_string);
        match (name, text) {
            ("no_kk", t) if t.is_some() || v.is_null() => self.no_kk = t,
            ("nama_krt", Some(t)) => self.nama_krt = t,
            ("alamat", Some(t)) => self.alamat = t,
            ("rt", Some(t)) => self.rt = t,
            ("rw", Some(t)) => self.rw = t,
            _ => return false,
        }
        true
    }
}

/// The household fields as the enumerator found them at the door.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdFound {
    #[serde(flatten)]
    pub fields: HouseholdFields,
    /// 10-digit desa code.
    pub kode_desa: String,
}

impl Household {
    /// This baseline with the editable fields as an enumerator found them.
    pub fn with_found(&self, found: &HouseholdFound) -> Household {
        Household {
            fields: found.fields.clone(),
            ..self.clone()
        }
    }
}

/// The household reads its editable fields as its own (`h.nama_krt`): they are its fields, kept
/// in one struct so that the list is written once. Writes go through `fields` or `DerefMut`.
impl std::ops::Deref for Household {
    type Target = HouseholdFields;
    fn deref(&self) -> &HouseholdFields {
        &self.fields
    }
}

impl std::ops::DerefMut for Household {
    fn deref_mut(&mut self) -> &mut HouseholdFields {
        &mut self.fields
    }
}

impl std::ops::Deref for HouseholdFound {
    type Target = HouseholdFields;
    fn deref(&self) -> &HouseholdFields {
        &self.fields
    }
}

impl std::ops::DerefMut for HouseholdFound {
    fn deref_mut(&mut self) -> &mut HouseholdFields {
        &mut self.fields
    }
}

/// Upper bound for names.
pub const MAX_NAME: usize = 100;

fn valid_rt_rw(v: &str) -> bool {
    (1..=3).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit())
}

impl HouseholdFound {
    /// Validates the found household fields.
    pub fn validate(&self, regions: Option<&dyn RegionDirectory>) -> Report {
        let mut r = Report::default();
        if let Some(kk) = &self.no_kk {
            r.absorb("no_kk", validate_no_kk(kk, regions));
        }
        check_name(&mut r, "nama_krt", &self.nama_krt);
        if self.alamat.trim().is_empty() {
            r.error("alamat", Invalid::AddressRequired);
        }
        for (field, v) in [("rt", &self.rt), ("rw", &self.rw)] {
            if !valid_rt_rw(v) {
                r.error(field, Invalid::RtRwFormat { value: v.clone() });
            }
        }
        if self.kode_desa.len() != 10 || crate::region::RegionCode::parse(&self.kode_desa).is_err()
        {
            r.error("kode_desa", Invalid::DesaCode);
        }
        r
    }
}

fn check_name(r: &mut Report, field: &str, name: &str) {
    if name.trim().is_empty() {
        r.error(field, Invalid::NameRequired);
    } else if name.chars().count() > MAX_NAME {
        r.error(field, Invalid::NameTooLong { max: MAX_NAME });
    }
}

impl Member {
    /// Validates one member: name, birth date within `1900..=today`, and the NIK rules.
    pub fn validate(&self, today: NaiveDate, regions: Option<&dyn RegionDirectory>) -> Report {
        let mut r = Report::default();
        check_name(&mut r, "name", &self.name);
        if let Some(bd) = self.birth_date {
            if bd > today {
                r.error("birth_date", Invalid::BirthDateFuture);
            } else if bd < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN) {
                r.error("birth_date", Invalid::BirthDateTooOld);
            }
        }
        if let Some(nik) = &self.nik {
            r.absorb(
                "nik",
                validate_nik(nik, Some(self.sex), self.birth_date, regions),
            );
        }
        if let Some(x) = &self.exit {
            self.validate_exit(&mut r, x, today);
        }
        r
    }

    /// The exit's own rules (its presence on a new death is the visit's: [`new_deaths`]).
    fn validate_exit(&self, r: &mut Report, x: &MemberExit, today: NaiveDate) {
        if !matches!(
            self.status,
            PresenceStatus::Meninggal | PresenceStatus::Pindah
        ) {
            r.error("exit", Invalid::ExitStatus);
            return;
        }
        if let Some(d) = x.date {
            if d > today {
                r.error("exit.date", Invalid::ExitDateFuture);
            } else if self.birth_date.is_some_and(|b| d < b) {
                r.error("exit.date", Invalid::ExitBeforeBirth);
            }
        }
        if self.status == PresenceStatus::Meninggal {
            if x.date.is_none() {
                r.error("exit.date", Invalid::DeathDateMissing);
            }
            let reason = x
                .no_document_reason
                .as_deref()
                .is_some_and(|s| !s.trim().is_empty());
            if x.document_photo.is_none() && !reason {
                r.error("exit.document_photo", Invalid::DeathEvidenceMissing);
            }
        }
        if let Some(d) = &x.destination_desa
            && !(d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()))
        {
            r.error(
                "exit.destination_desa",
                Invalid::DestinationDesa { value: d.clone() },
            );
        }
    }
}

/// The deaths this visit reports that its baseline did not know (`baseline`: the household's
/// members before the visit) and that carry no exit: each needs one. A death the baseline knew is
/// carried over as it was, and an older app's record stays accepted on the server, which does not
/// hold this check: the phone holds it before a visit is finished.
pub fn new_deaths(baseline: &[Member], found: &[Member]) -> Report {
    let mut r = Report::default();
    for (i, m) in found.iter().enumerate() {
        let known_dead = baseline
            .iter()
            .any(|b| b.member_id == m.member_id && b.status == PresenceStatus::Meninggal);
        if m.status == PresenceStatus::Meninggal && !known_dead && m.exit.is_none() {
            r.error(format!("members[{i}].exit.date"), Invalid::DeathDateMissing);
        }
    }
    r
}

/// Validates the member list of a household that was found: each member, no NIK or member twice,
/// and exactly one present head.
pub fn validate_members(
    members: &[Member],
    today: NaiveDate,
    regions: Option<&dyn RegionDirectory>,
) -> Report {
    let mut r = Report::default();
    // Borrowed NIKs, room for every member, and a member's field prefix made only for a finding:
    // the server validates each pushed visit's members (a few thousand per push), where cloning
    // each NIK, growing the sets and formatting each prefix were most of this function's time.
    let mut niks: HashSet<&str> = HashSet::with_capacity(members.len());
    let mut ids = HashSet::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        let found = m.validate(today, regions);
        if !found.errors.is_empty() || !found.warnings.is_empty() {
            r.absorb(&format!("members[{i}]"), found);
        }
        if !ids.insert(m.member_id) {
            r.error(format!("members[{i}].member_id"), Invalid::DuplicateMember);
        }
        if let Some(nik) = &m.nik
            && m.status.is_present()
            && !niks.insert(nik.as_str())
        {
            r.error(
                format!("members[{i}].nik"),
                Invalid::DuplicateNik { nik: nik.clone() },
            );
        }
    }
    let heads = members
        .iter()
        .filter(|m| m.status.is_present() && m.relationship == Relationship::Kepala)
        .count();
    if heads != 1 {
        r.error("members", Invalid::HeadCount { count: heads });
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_are_exactly_the_struct_s_fields() {
        // A field added to HouseholdFields but not to NAMES, get and set fails here.
        let f = HouseholdFields {
            no_kk: Some("1".into()),
            nama_krt: "2".into(),
            alamat: "3".into(),
            rt: "4".into(),
            rw: "5".into(),
        };
        let json = serde_json::to_value(&f).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut names = HouseholdFields::NAMES.to_vec();
        names.sort_unstable();
        assert_eq!(keys, names);
        let mut copy = HouseholdFields::default();
        for name in HouseholdFields::NAMES {
            assert_eq!(f.get(name).as_ref(), json.get(name), "{name}");
            assert!(copy.set(name, &json[name]), "{name}");
        }
        assert_eq!(copy, f, "set writes back what get read, field by field");
    }

    #[test]
    fn editable_fields_read_and_write_by_name_and_nothing_else() {
        let mut h = Household {
            id: Uuid::nil(),
            id_dtsen: None,
            fields: HouseholdFields {
                no_kk: None,
                nama_krt: "Ani".into(),
                alamat: "Dusun".into(),
                rt: "001".into(),
                rw: "002".into(),
            },
            kode_desa: "3308012001".into(),
            desil: Some(1),
            version: 1,
        };
        for name in HouseholdFields::NAMES {
            let v = h.get(name).unwrap();
            assert!(h.fields.set(name, &v), "{name}");
        }
        assert!(h.fields.set("rt", &serde_json::json!("009")));
        assert_eq!(h.get("rt").unwrap(), "009");
        assert_eq!(h.get("desil"), None, "read-only fields are not editable");
        let before = h.clone();
        assert!(
            !h.fields.set("rw_baru", &serde_json::json!("x")),
            "an unknown name writes nothing"
        );
        assert!(!h.fields.set("rw", &serde_json::json!(3)));
        assert_eq!(h, before);
    }
    use crate::i18n::{Coded, Lang};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn member(rel: Relationship, status: PresenceStatus, nik: &str) -> Member {
        Member {
            member_id: Uuid::now_v7(),
            nik: Some(nik.into()),
            name: "Sutrisno Contoh".into(),
            sex: Sex::L,
            birth_place: None,
            birth_date: NaiveDate::from_ymd_opt(1980, 5, 1),
            relationship: rel,
            status,
            exit: None,
        }
    }

    #[test]
    fn relationship_codes_round_trip_and_reject_out_of_range() {
        for r in Relationship::ALL {
            assert_eq!(Relationship::try_from(r.code()).unwrap(), r);
        }
        assert_eq!(
            Relationship::try_from(9).unwrap_err().code(),
            "member.relationship"
        );
        assert!(serde_json::from_str::<Relationship>("0").is_err());
        assert_eq!(serde_json::to_string(&Relationship::Cucu).unwrap(), "5");
    }

    #[test]
    fn exactly_one_present_head() {
        let head = member(
            Relationship::Kepala,
            PresenceStatus::Tinggal,
            "3308010105800001",
        );
        let dead_head = member(
            Relationship::Kepala,
            PresenceStatus::Meninggal,
            "3308010105800002",
        );
        assert!(validate_members(&[head.clone(), dead_head], today(), None).is_ok());
        let r = validate_members(&[], today(), None);
        assert_eq!(r.error_codes(), vec!["household.head_count"]);
        let second = member(
            Relationship::Kepala,
            PresenceStatus::AnggotaBaru,
            "3308010105800003",
        );
        assert_eq!(
            validate_members(&[head, second], today(), None).error_codes(),
            vec!["household.head_count"]
        );
    }

    #[test]
    fn duplicate_nik_and_bad_member_fields_are_reported_with_paths() {
        let head = member(
            Relationship::Kepala,
            PresenceStatus::Tinggal,
            "3308010105800001",
        );
        let mut twin = member(
            Relationship::Anak,
            PresenceStatus::Tinggal,
            "3308010105800001",
        );
        twin.name = " ".into();
        twin.birth_date = NaiveDate::from_ymd_opt(2030, 1, 1);
        let r = validate_members(&[head, twin], today(), None);
        let fields: Vec<_> = r
            .errors
            .iter()
            .map(|e| (e.field.as_str(), e.issue.code()))
            .collect();
        assert!(
            fields.contains(&("members[1].name", "member.name_required")),
            "{fields:?}"
        );
        assert!(fields.contains(&("members[1].birth_date", "member.birth_date_future")));
        assert!(fields.contains(&("members[1].nik", "nik.birth_date_mismatch")));
        assert!(fields.contains(&("members[1].nik", "household.duplicate_nik")));
    }

    #[test]
    fn household_found_rules() {
        let ok = HouseholdFound {
            fields: HouseholdFields {
                no_kk: Some("3308010101200001".into()),
                nama_krt: "Contoh".into(),
                alamat: "Dusun Krajan".into(),
                rt: "001".into(),
                rw: "02".into(),
            },
            kode_desa: "3308012001".into(),
        };
        assert!(ok.validate(None).is_ok());
        let bad = HouseholdFound {
            fields: HouseholdFields {
                no_kk: Some("12".into()),
                alamat: "".into(),
                rt: "1a".into(),
                ..ok.fields.clone()
            },
            kode_desa: "330801".into(),
        };
        assert_eq!(
            bad.validate(None).error_codes(),
            vec![
                "no_kk.format",
                "household.address_required",
                "household.rt_rw",
                "household.desa_code"
            ]
        );
    }

    #[test]
    fn a_death_carries_its_date_and_evidence_and_a_move_its_desa() {
        let codes = |m: &Member| -> Vec<&'static str> {
            m.validate(today(), None)
                .errors
                .iter()
                .map(|e| e.issue.code())
                .collect()
        };
        let mut dead = member(
            Relationship::Kepala,
            PresenceStatus::Meninggal,
            "3308010105800001",
        );
        dead.exit = Some(MemberExit::default());
        assert_eq!(codes(&dead), ["member.death_date", "member.death_evidence"]);
        let x = dead.exit.as_mut().unwrap();
        x.date = NaiveDate::from_ymd_opt(2026, 11, 30);
        x.no_document_reason = Some("Meninggal di rumah, akta belum dibuat".into());
        assert_eq!(codes(&dead), ["member.exit_date_future"]);
        dead.exit.as_mut().unwrap().date = NaiveDate::from_ymd_opt(1979, 1, 1);
        assert_eq!(codes(&dead), ["member.exit_before_birth"]);
        dead.exit.as_mut().unwrap().date = NaiveDate::from_ymd_opt(2026, 11, 1);
        assert!(codes(&dead).is_empty());
        let e = dead.validate(today(), None);
        assert!(e.is_ok());
        // A move: the destination desa when known, a desa code.
        let mut moved = member(
            Relationship::Anak,
            PresenceStatus::Pindah,
            "3308010105800002",
        );
        moved.exit = Some(MemberExit {
            destination_desa: Some("330802".into()),
            ..MemberExit::default()
        });
        assert_eq!(codes(&moved), ["member.destination_desa"]);
        moved.exit.as_mut().unwrap().destination_desa = Some("3308022001".into());
        assert!(codes(&moved).is_empty(), "a move needs no date or document");
        // Only a death or a move has an exit.
        let mut alive = member(
            Relationship::Anak,
            PresenceStatus::Tinggal,
            "3308010105800003",
        );
        alive.exit = Some(MemberExit::default());
        assert_eq!(codes(&alive), ["member.exit_status"]);
        let msg = Invalid::DeathEvidenceMissing.message(Lang::Id);
        assert!(msg.contains("akta"), "{msg}");
    }

    #[test]
    fn only_a_death_the_baseline_did_not_know_needs_its_exit() {
        let before = member(
            Relationship::Kepala,
            PresenceStatus::Tinggal,
            "3308010105800001",
        );
        let long_gone = member(
            Relationship::OrangTua,
            PresenceStatus::Meninggal,
            "3308010105800004",
        );
        let mut now_dead = before.clone();
        now_dead.status = PresenceStatus::Meninggal;
        let baseline = [before, long_gone.clone()];
        let r = new_deaths(&baseline, &[now_dead.clone(), long_gone]);
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].field, "members[0].exit.date");
        now_dead.exit = Some(MemberExit::default());
        assert!(
            new_deaths(&baseline, &[now_dead]).is_ok(),
            "its own rules judge the rest"
        );
    }
}

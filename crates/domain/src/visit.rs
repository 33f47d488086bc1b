//! Visits (kunjungan verivali): outcomes with their reasons and references, GPS, photos, and the
//! whole-visit validation run on the device before recording and on the server before storing.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use uuid::Uuid;

use crate::household::{HouseholdFound, Member, validate_members};
use crate::issue::{Invalid, Report, Warning};
use crate::questionnaire::Questionnaire;
use crate::region::RegionDirectory;

/// What the enumerator found at the door.
#[derive(
    ts_rs::TS, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The household was found.
    Ditemukan,
    /// Not found; needs a [`NotFoundReason`].
    TidakDitemukan,
    /// The household refused.
    Menolak,
    /// A duplicate of another household; needs a reference.
    Ganda,
    /// Part of another household; needs a reference.
    BagianRutaLain,
    /// A household not in the baseline (usulan baru).
    UsulanBaru,
}

impl Outcome {
    /// All outcomes.
    pub const ALL: [Outcome; 6] = [
        Outcome::Ditemukan,
        Outcome::TidakDitemukan,
        Outcome::Menolak,
        Outcome::Ganda,
        Outcome::BagianRutaLain,
        Outcome::UsulanBaru,
    ];

    /// Whether the questionnaire must be answered (DESIGN.md §3).
    pub fn needs_answers(self) -> bool {
        matches!(self, Outcome::Ditemukan | Outcome::UsulanBaru)
    }

    /// Whether a reason is required (and allowed).
    pub fn needs_reason(self) -> bool {
        self == Outcome::TidakDitemukan
    }

    /// Whether a reference to another household is required (and allowed).
    pub fn needs_reference(self) -> bool {
        matches!(self, Outcome::Ganda | Outcome::BagianRutaLain)
    }

    /// Whether approving the visit applies what was found to the registry baseline: a household
    /// found at the door, or a new one proposed and met there, has verified values; the other
    /// outcomes are reports about it.
    pub fn updates_baseline(self) -> bool {
        // A proposal approved joins the baseline with the household and members found.
        matches!(self, Outcome::Ditemukan | Outcome::UsulanBaru)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ditemukan => "ditemukan",
            Outcome::TidakDitemukan => "tidak_ditemukan",
            Outcome::Menolak => "menolak",
            Outcome::Ganda => "ganda",
            Outcome::BagianRutaLain => "bagian_ruta_lain",
            Outcome::UsulanBaru => "usulan_baru",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a household was not found.
#[derive(ts_rs::TS, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotFoundReason {
    /// Moved away.
    Pindah,
    /// All members died.
    Meninggal,
    /// Nobody knows them.
    TidakTahu,
    /// The address does not exist.
    AlamatTidakAda,
}

impl NotFoundReason {
    /// All reasons.
    pub const ALL: [NotFoundReason; 4] = [
        NotFoundReason::Pindah,
        NotFoundReason::Meninggal,
        NotFoundReason::TidakTahu,
        NotFoundReason::AlamatTidakAda,
    ];
}

/// What a photo shows. The 2025 groundcheck asks for the house front, the inside and the KK (or
/// another document); anything else is `lainnya`.
#[derive(
    ts_rs::TS, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PhotoKind {
    /// The house from the front.
    Depan,
    /// Inside the house.
    Dalam,
    /// A document: the KK, a death certificate, a letter.
    Dokumen,
    /// Anything else.
    Lainnya,
}

impl PhotoKind {
    /// All kinds, in the order the form offers them.
    pub const ALL: [PhotoKind; 4] = [
        PhotoKind::Depan,
        PhotoKind::Dalam,
        PhotoKind::Dokumen,
        PhotoKind::Lainnya,
    ];
}

/// A GPS fix.
#[derive(ts_rs::TS, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gps {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Accuracy radius, metres.
    pub accuracy_m: f64,
    /// When the fix was taken.
    #[serde(deserialize_with = "crate::time_text::utc")]
    pub at: DateTime<Utc>,
    /// Whether the platform marked the fix as coming from a mock-location app (Android's
    /// `Location.isMock`). Absent where the platform does not say (desktop webviews, older
    /// devices). Kept for the supervisor and the quality checks: a mocked fix only warns, since a
    /// refusal would lose the visit and teach nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mocked: Option<bool>,
}

/// Longest [`VisitRecord::evidence_note`], characters.
pub const EVIDENCE_NOTE_MAX: usize = 500;

/// Above this accuracy radius (metres) a fix only earns a warning.
pub const GPS_GOOD_ACCURACY_M: f64 = 50.0;

/// Validation's "today": the date in Indonesia's easternmost zone (WIT, UTC+9), so that a child
/// born today anywhere in Indonesia is never "in the future". Device and server both use it.
pub fn validation_date(now: DateTime<Utc>) -> NaiveDate {
    (now + chrono::Duration::hours(9)).date_naive()
}

/// Checks that the outcome comes with exactly the reason or reference it needs.
pub fn validate_outcome(
    outcome: Outcome,
    reason: Option<NotFoundReason>,
    reference: Option<Uuid>,
    household_id: Uuid,
) -> Report {
    let mut r = Report::default();
    let name = outcome.to_string();
    match (outcome.needs_reason(), reason.is_some()) {
        (true, false) => r.error(
            "outcome_reason",
            Invalid::ReasonRequired {
                outcome: name.clone(),
            },
        ),
        (false, true) => r.error(
            "outcome_reason",
            Invalid::ReasonNotAllowed {
                outcome: name.clone(),
            },
        ),
        _ => {}
    }
    match (outcome.needs_reference(), reference) {
        (true, None) => r.error(
            "reference_household_id",
            Invalid::ReferenceRequired { outcome: name },
        ),
        (false, Some(_)) => r.error(
            "reference_household_id",
            Invalid::ReferenceNotAllowed { outcome: name },
        ),
        (true, Some(id)) if id == household_id => {
            r.error("reference_household_id", Invalid::ReferenceSelf)
        }
        _ => {}
    }
    r
}

/// Validates a GPS fix: coordinates in range; a poor accuracy only warns.
pub fn validate_gps(gps: &Gps) -> Report {
    let mut r = Report::default();
    let finite = gps.lat.is_finite() && gps.lon.is_finite() && gps.accuracy_m.is_finite();
    if !finite
        || !(-90.0..=90.0).contains(&gps.lat)
        || !(-180.0..=180.0).contains(&gps.lon)
        || gps.accuracy_m < 0.0
    {
        r.error("", Invalid::GpsRange);
        return r;
    }
    if gps.mocked == Some(true) {
        r.warn("", Warning::GpsMocked);
    }
    if gps.accuracy_m > GPS_GOOD_ACCURACY_M {
        r.warn(
            "",
            Warning::GpsLowAccuracy {
                accuracy_m: gps.accuracy_m.round() as u32,
            },
        );
    }
    r
}

/// Whether `s` is a lowercase hex SHA-256.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One revision of a visit, as recorded on the device and carried by the `visit.record` op.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitRecord {
    /// Visit id (UUIDv7 made on the device).
    pub visit_id: Uuid,
    /// The household visited (or proposed, for `usulan_baru`).
    pub household_id: Uuid,
    /// Baseline version the enumerator saw (0 for a proposed household).
    #[ts(type = "number")]
    pub baseline_version: i64,
    /// Revision, from 1, raised on every re-record of the visit.
    pub revision: u32,
    pub outcome: Outcome,
    /// Reason, for `tidak_ditemukan`.
    pub outcome_reason: Option<NotFoundReason>,
    /// Referenced household, for `ganda` and `bagian_ruta_lain`.
    pub reference_household_id: Option<Uuid>,
    /// Household fields as found.
    pub household: HouseholdFound,
    /// Members as found.
    pub members: Vec<Member>,
    /// Questionnaire version the answers follow.
    pub questionnaire_version: u32,
    /// Answers, question id -> value.
    pub answers: BTreeMap<String, serde_json::Value>,
    /// GPS fix, when one was taken.
    pub gps: Option<Gps>,
    /// SHA-256 of each photo.
    pub photos: Vec<String>,
    /// What each photo shows, by SHA-256. A photo without an entry is `lainnya`: devices before
    /// kinds sent none, and their visits stay valid.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub photo_kinds: BTreeMap<String, PhotoKind>,
    /// Why the visit has no GPS fix or no photo, in the enumerator's words ("HP tidak dapat
    /// sinyal GPS di dalam gang"); the field app asks for it before finishing without them, and
    /// the supervisor sees it. Absent from older devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_note: Option<String>,
    /// When the visit started.
    #[serde(deserialize_with = "crate::time_text::utc")]
    pub started_at: DateTime<Utc>,
    /// When it was finished; `None` while it is a draft.
    #[serde(default, deserialize_with = "crate::time_text::utc_opt")]
    pub finished_at: Option<DateTime<Utc>>,
    /// How the visit was made (DESIGN.md §11), measured by the device; absent from older devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paradata: Option<Paradata>,
    /// The household graduated from aid, with its letter (DESIGN.md §12); only on a household
    /// found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub graduation: Option<Graduation>,
}

/// How a household left the aid programmes (graduasi).
#[derive(ts_rs::TS, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraduationKind {
    /// By its own means: it no longer needs aid.
    Mandiri,
    /// Naturally: no member meets the conditions any more (children grown, no elderly…).
    Alami,
    /// Ended by the programme (it does not meet the conditions, or broke them).
    Paksa,
}

impl GraduationKind {
    /// Every kind.
    pub const ALL: [GraduationKind; 3] = [
        GraduationKind::Mandiri,
        GraduationKind::Alami,
        GraduationKind::Paksa,
    ];
}

/// A household's graduation and the photo of its letter (surat pernyataan graduasi).
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Graduation {
    pub kind: GraduationKind,
    /// SHA-256 of the letter's photo, one of the visit's photos.
    #[serde(default)]
    pub letter_photo: Option<String>,
}

/// How a visit was made, measured by the field app for the quality checks (DESIGN.md §11). Only
/// what the form saw: the app counts foreground time, so a form left open in a pocket does not
/// make a hurried visit look careful.
#[derive(ts_rs::TS, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Paradata {
    /// Seconds the form was in the foreground, over every session of the visit.
    pub duration_s: u32,
    /// Foreground seconds per questionnaire section (section id → seconds).
    #[serde(default)]
    pub sections: BTreeMap<String, u32>,
    /// Answers changed after they were first given.
    #[serde(default)]
    pub answer_changes: u32,
    /// The first fix of the visit (usually taken on arrival).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps_start: Option<Gps>,
    /// The fix when the visit was finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps_finish: Option<Gps>,
    /// Whether the platform reported any fix of the visit as mocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock_location: Option<bool>,
}

/// Longest believable foreground time of one visit, seconds (a day): above it the clock lied.
pub const PARADATA_MAX_DURATION_S: u32 = 86_400;
/// Most sections a paradata record may time (a questionnaire has a handful).
pub const PARADATA_MAX_SECTIONS: usize = 64;

impl Paradata {
    /// Bounds that keep a broken or hostile device from storing nonsense.
    pub fn validate(&self) -> Report {
        let mut r = Report::default();
        let mut bad = |field: &str, reason: &str| {
            r.error(
                field.to_string(),
                Invalid::Paradata {
                    reason: reason.into(),
                },
            )
        };
        if self.duration_s > PARADATA_MAX_DURATION_S {
            bad("paradata.duration_s", "more than a day");
        }
        if self.sections.len() > PARADATA_MAX_SECTIONS {
            bad("paradata.sections", "too many sections");
        }
        if self
            .sections
            .iter()
            .any(|(k, v)| k.is_empty() || k.len() > 64 || *v > PARADATA_MAX_DURATION_S)
        {
            bad("paradata.sections", "a section id or time is out of range");
        }
        if self.answer_changes > 100_000 {
            bad("paradata.answer_changes", "out of range");
        }
        for (field, g) in [
            ("paradata.gps_start", &self.gps_start),
            ("paradata.gps_finish", &self.gps_finish),
        ] {
            if let Some(g) = g
                && !validate_gps(g).is_ok()
            {
                r.error(field.to_string(), Invalid::GpsRange);
            }
        }
        r
    }
}

/// What validation needs besides the visit.
#[derive(Clone, Copy)]
pub struct VisitContext<'a> {
    /// The questionnaire the visit must follow.
    pub questionnaire: &'a Questionnaire,
    /// Today, for birth-date checks (passed in: no clock inside rules).
    pub today: NaiveDate,
    /// Known kecamatan, when the deployment ships a directory.
    pub regions: Option<&'a dyn RegionDirectory>,
}

impl VisitRecord {
    /// What a photo of this visit shows (`lainnya` when the device said nothing).
    pub fn photo_kind(&self, sha256: &str) -> PhotoKind {
        self.photo_kinds
            .get(sha256)
            .copied()
            .unwrap_or(PhotoKind::Lainnya)
    }

    /// A new visit of a baseline household: found as the baseline has it (outcome `ditemukan`,
    /// its members), nothing answered yet. Revision 0: the store numbers revisions.
    pub fn start(
        visit_id: Uuid,
        household: &crate::Household,
        members: &[Member],
        questionnaire_version: u32,
        now: DateTime<Utc>,
    ) -> VisitRecord {
        VisitRecord {
            visit_id,
            household_id: household.id,
            baseline_version: household.version,
            revision: 0,
            // A household proposed on the device (not yet in the baseline) is visited as a
            // proposal; every other one starts as found.
            outcome: if household.version == 0 {
                Outcome::UsulanBaru
            } else {
                Outcome::Ditemukan
            },
            outcome_reason: None,
            reference_household_id: None,
            household: HouseholdFound {
                fields: household.fields.clone(),
                kode_desa: household.kode_desa.clone(),
            },
            members: members.to_vec(),
            questionnaire_version,
            answers: BTreeMap::new(),
            gps: None,
            photos: vec![],
            photo_kinds: BTreeMap::new(),
            evidence_note: None,
            started_at: now,
            finished_at: None,
            paradata: None,
            graduation: None,
        }
    }

    /// Full validation of a finished visit. Household, member and questionnaire rules apply only
    /// when the household was found or proposed: for the other outcomes nobody could confirm them,
    /// so baseline errors must not block reporting that.
    pub fn validate(&self, ctx: VisitContext<'_>) -> Report {
        let mut r = self.validate_draft(ctx);
        match self.finished_at {
            None => r.error("finished_at", Invalid::VisitUnfinished),
            Some(f) if f < self.started_at => r.error("finished_at", Invalid::VisitTimes),
            Some(_) => {}
        }
        if self.outcome.needs_answers() {
            r.absorb("answers", ctx.questionnaire.check_complete(&self.answers));
        }
        r
    }

    /// Validation of what has been entered so far: everything except completeness. A draft with
    /// errors may still be saved; this tells the form what to show.
    pub fn validate_draft(&self, ctx: VisitContext<'_>) -> Report {
        let mut r = validate_outcome(
            self.outcome,
            self.outcome_reason,
            self.reference_household_id,
            self.household_id,
        );
        if self.outcome.needs_answers() {
            r.absorb("household", self.household.validate(ctx.regions));
            r.absorb("", validate_members(&self.members, ctx.today, ctx.regions));
            if self.questionnaire_version != ctx.questionnaire.version {
                r.error(
                    "questionnaire_version",
                    Invalid::QuestionnaireVersion {
                        expected: ctx.questionnaire.version.to_string(),
                        found: self.questionnaire_version.to_string(),
                    },
                );
            }
        }
        r.absorb("answers", ctx.questionnaire.check_answers(&self.answers));
        if let Some(gps) = &self.gps {
            r.absorb("gps", validate_gps(gps));
        }
        if let Some(p) = &self.paradata {
            r.errors.extend(p.validate().errors);
        }
        for (i, p) in self.photos.iter().enumerate() {
            if !is_sha256_hex(p) {
                r.error(
                    format!("photos[{i}]"),
                    Invalid::PhotoHash { value: p.clone() },
                );
            }
        }
        if self
            .evidence_note
            .as_ref()
            .is_some_and(|n| n.chars().count() > EVIDENCE_NOTE_MAX)
        {
            r.error(
                "evidence_note",
                Invalid::AnswerTooLong {
                    question: "evidence_note".into(),
                    max: EVIDENCE_NOTE_MAX,
                },
            );
        }
        // A graduation is of a household found, and shows its letter among the visit's photos.
        if let Some(g) = &self.graduation {
            if self.outcome != Outcome::Ditemukan {
                r.error("graduation", Invalid::GraduationOutcome);
            }
            match &g.letter_photo {
                None => r.error("graduation.letter_photo", Invalid::GraduationLetter),
                Some(sha) if !self.photos.contains(sha) => {
                    r.error("graduation.letter_photo", Invalid::ExitPhotoNotInVisit)
                }
                Some(_) => {}
            }
        }
        // A death's document is one of the visit's photos.
        for (i, m) in self.members.iter().enumerate() {
            if let Some(sha) = m.exit.as_ref().and_then(|x| x.document_photo.as_ref())
                && !self.photos.contains(sha)
            {
                r.error(
                    format!("members[{i}].exit.document_photo"),
                    Invalid::ExitPhotoNotInVisit,
                );
            }
        }
        // A kind names one of the visit's photos.
        for sha in self.photo_kinds.keys().filter(|k| !self.photos.contains(k)) {
            r.error(
                format!("photo_kinds.{sha}"),
                Invalid::PhotoHash { value: sha.clone() },
            );
        }
        // `absorb("")` prefixes with a dot; strip it for top-level member paths.
        for e in &mut r.errors {
            if let Some(rest) = e.field.strip_prefix('.') {
                e.field = rest.to_string();
            }
        }
        for w in &mut r.warnings {
            if let Some(rest) = w.field.strip_prefix('.') {
                w.field = rest.to_string();
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_graduation_is_of_a_household_found_and_shows_its_letter() {
        use crate::i18n::Coded;
        use crate::sample::{self, Seq};
        let q = Questionnaire::default_dtsen().unwrap();
        let mut seq = Seq::new(8);
        let (h, m) = sample::household(&mut seq, "3308012001", 1);
        let mut v = sample::visit(&mut seq, &h, &m, Utc::now());
        let ctx = || VisitContext {
            questionnaire: &q,
            today: validation_date(Utc::now()),
            regions: None,
        };
        let codes = |v: &VisitRecord| -> Vec<&'static str> {
            v.validate(ctx())
                .errors
                .iter()
                .map(|e| e.issue.code())
                .collect()
        };
        v.graduation = Some(Graduation {
            kind: GraduationKind::Mandiri,
            letter_photo: None,
        });
        assert_eq!(codes(&v), ["graduation.letter"]);
        v.graduation.as_mut().unwrap().letter_photo = Some("cd".repeat(32));
        assert_eq!(
            codes(&v),
            ["member.exit_photo"],
            "the letter is one of the visit's photos"
        );
        v.graduation.as_mut().unwrap().letter_photo = Some(v.photos[0].clone());
        assert!(codes(&v).is_empty());
        v.outcome = Outcome::Menolak;
        assert!(codes(&v).contains(&"graduation.outcome"));
        // On the wire: absent when there is none, so older devices and servers read it.
        v.graduation = None;
        assert!(!serde_json::to_string(&v).unwrap().contains("graduation"));
    }

    #[test]
    fn only_a_found_or_a_proposed_household_updates_the_baseline() {
        let updating: Vec<_> = Outcome::ALL
            .into_iter()
            .filter(|o| o.updates_baseline())
            .collect();
        assert_eq!(updating, [Outcome::Ditemukan, Outcome::UsulanBaru]);
    }

    #[test]
    fn the_validation_date_is_the_date_in_wit() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            validation_date(at("2026-12-01T14:59:59Z")),
            day("2026-12-01")
        );
        assert_eq!(
            validation_date(at("2026-12-01T15:00:00Z")),
            day("2026-12-02")
        );
    }

    #[test]
    fn outcome_combinations() {
        let me = Uuid::now_v7();
        let other = Uuid::now_v7();
        use NotFoundReason::*;
        use Outcome::*;
        let ok = [
            (Ditemukan, None, None),
            (TidakDitemukan, Some(Pindah), None),
            (TidakDitemukan, Some(AlamatTidakAda), None),
            (Menolak, None, None),
            (Ganda, None, Some(other)),
            (BagianRutaLain, None, Some(other)),
            (UsulanBaru, None, None),
        ];
        for (o, reason, reference) in ok {
            assert!(validate_outcome(o, reason, reference, me).is_ok(), "{o}");
        }
        let bad = [
            (TidakDitemukan, None, None, "outcome.reason_required"),
            (
                Ditemukan,
                Some(Meninggal),
                None,
                "outcome.reason_not_allowed",
            ),
            (Ganda, None, None, "outcome.reference_required"),
            (Menolak, None, Some(other), "outcome.reference_not_allowed"),
            (BagianRutaLain, None, Some(me), "outcome.reference_self"),
        ];
        for (o, reason, reference, code) in bad {
            assert_eq!(
                validate_outcome(o, reason, reference, me).error_codes(),
                vec![code]
            );
        }
    }

    #[test]
    fn gps_range_and_accuracy() {
        let at = Utc::now();
        let good = Gps {
            lat: -7.48,
            lon: 110.2,
            accuracy_m: 8.0,
            at,
            mocked: None,
        };
        assert!(validate_gps(&good).is_ok() && validate_gps(&good).warnings.is_empty());
        // A fix the platform says came from a mock-location app is kept, with a warning.
        let mocked = Gps {
            mocked: Some(true),
            ..good
        };
        assert!(validate_gps(&mocked).is_ok());
        assert_eq!(validate_gps(&mocked).warning_codes(), vec!["gps.mocked"]);
        let honest = Gps {
            mocked: Some(false),
            ..good
        };
        assert!(validate_gps(&honest).warnings.is_empty());
        let vague = Gps {
            accuracy_m: 120.0,
            ..good
        };
        assert_eq!(
            validate_gps(&vague).warning_codes(),
            vec!["gps.low_accuracy"]
        );
        for bad in [
            Gps { lat: 91.0, ..good },
            Gps {
                lon: f64::NAN,
                ..good
            },
            Gps {
                accuracy_m: -1.0,
                ..good
            },
        ] {
            assert_eq!(validate_gps(&bad).error_codes(), vec!["gps.range"]);
        }
    }

    #[test]
    fn sha256_shape() {
        assert!(is_sha256_hex(&"a".repeat(64)));
        assert!(!is_sha256_hex(&"A".repeat(64)));
        assert!(!is_sha256_hex(&"a".repeat(63)));
    }
}

//! Validation findings: errors that reject input and warnings that only inform, each with a stable
//! code and a message in Bahasa Indonesia and English. One catalogue, used by device and server.

use serde::{Deserialize, Serialize};

use crate::i18n::{Coded, Lang};

/// A rule that input broke. Input with any of these is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code_name", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Invalid {
    #[error("region code {value:?} must have 2, 4, 6 or 10 digits")]
    RegionFormat { value: String },
    #[error("region code {value:?} names no province")]
    RegionUnknownProvince { value: String },
    #[error("NIK must be exactly 16 digits")]
    NikFormat,
    #[error("NIK day {day:02} is neither 01-31 (male) nor 41-71 (female)")]
    NikDay { day: u32 },
    #[error("NIK month {month:02} is not 01-12")]
    NikMonth { month: u32 },
    #[error("NIK birth date is not a real calendar date")]
    NikDate,
    #[error("NIK serial number must be 0001 or more")]
    NikSerial,
    #[error("NIK says the person is {nik_sex}, but the member's sex is {member_sex}")]
    NikSexMismatch { nik_sex: String, member_sex: String },
    #[error("NIK birth date {nik_date} does not match the birth date {birth_date}")]
    NikBirthDateMismatch {
        nik_date: String,
        birth_date: String,
    },
    #[error("No. KK must be exactly 16 digits")]
    NoKkFormat,
    #[error("name is required")]
    NameRequired,
    #[error("name is longer than {max} characters")]
    NameTooLong { max: usize },
    #[error("birth date is in the future")]
    BirthDateFuture,
    #[error("the date of death or of the move is in the future")]
    ExitDateFuture,
    #[error("the date of death or of the move is before the birth date")]
    ExitBeforeBirth,
    #[error("a death needs its date")]
    DeathDateMissing,
    #[error(
        "a death needs a photo of its document (akta or surat keterangan) or the reason there is none"
    )]
    DeathEvidenceMissing,
    #[error("the document photo is not one of this visit's photos")]
    ExitPhotoNotInVisit,
    #[error("{value:?} is not the code of a desa (10 digits)")]
    DestinationDesa { value: String },
    #[error("only a member who died or moved out has an exit")]
    ExitStatus,
    #[error("only a household found can graduate")]
    GraduationOutcome,
    #[error("a graduation needs the photo of its letter")]
    GraduationLetter,
    #[error("birth date is before 1900")]
    BirthDateTooOld,
    #[error("relationship code {value} is not 1-8")]
    RelationshipCode { value: u8 },
    #[error("a household needs exactly one living head (hubungan 1); found {count}")]
    HeadCount { count: usize },
    #[error("NIK {nik} appears twice in the household")]
    DuplicateNik { nik: String },
    #[error("member id appears twice in the household")]
    DuplicateMember,
    #[error("RT/RW {value:?} must be 1-3 digits")]
    RtRwFormat { value: String },
    #[error("address is required")]
    AddressRequired,
    #[error("kode desa must be a 10-digit desa/kelurahan code")]
    DesaCode,
    #[error("outcome {outcome} needs a reason")]
    ReasonRequired { outcome: String },
    #[error("outcome {outcome} takes no reason")]
    ReasonNotAllowed { outcome: String },
    #[error("outcome {outcome} needs the household it refers to")]
    ReferenceRequired { outcome: String },
    #[error("outcome {outcome} takes no reference household")]
    ReferenceNotAllowed { outcome: String },
    #[error("a household cannot refer to itself")]
    ReferenceSelf,
    #[error("question {question:?} is not in questionnaire version {version}")]
    UnknownQuestion { question: String, version: u32 },
    #[error("question {question:?} expects {expected}")]
    AnswerType { question: String, expected: String },
    #[error("answer to {question:?} must be between {min} and {max}")]
    AnswerRange {
        question: String,
        min: String,
        max: String,
    },
    #[error("{value:?} is not a choice of {question:?}")]
    AnswerChoice { question: String, value: String },
    #[error("question {question:?} must be answered")]
    AnswerRequired { question: String },
    #[error("question {question:?} does not apply here and must stay empty")]
    AnswerNotRelevant { question: String },
    #[error("answer to {question:?} is longer than {max} characters")]
    AnswerTooLong { question: String, max: usize },
    #[error("questionnaire {found} is not the expected {expected}")]
    QuestionnaireVersion { expected: String, found: String },
    #[error("GPS position is outside the valid range")]
    GpsRange,
    #[error("visit finished before it started")]
    VisitTimes,
    #[error("the visit is not finished yet")]
    VisitUnfinished,
    #[error("a batch needs at least one visit and at most {max}")]
    BatchSize { max: usize },
    #[error("a visit appears twice in the batch")]
    BatchDuplicate,
    #[error("photo reference {value:?} is not a SHA-256 hash (64 lowercase hex digits)")]
    PhotoHash { value: String },
    #[error("photo is larger than {max_mb} MB")]
    PhotoTooLarge { max_mb: usize },
    #[error("paradata: {reason}")]
    Paradata { reason: String },
    #[error("PIN must be 6 digits")]
    PinFormat,
    #[error("PIN is too easy to guess")]
    PinTooSimple,
}

impl Coded for Invalid {
    fn code(&self) -> &'static str {
        use Invalid::*;
        match self {
            RegionFormat { .. } => "region.format",
            RegionUnknownProvince { .. } => "region.unknown_province",
            NikFormat => "nik.format",
            NikDay { .. } => "nik.day",
            NikMonth { .. } => "nik.month",
            NikDate => "nik.date",
            NikSerial => "nik.serial",
            NikSexMismatch { .. } => "nik.sex_mismatch",
            NikBirthDateMismatch { .. } => "nik.birth_date_mismatch",
            NoKkFormat => "no_kk.format",
            NameRequired => "member.name_required",
            NameTooLong { .. } => "member.name_too_long",
            BirthDateFuture => "member.birth_date_future",
            ExitDateFuture => "member.exit_date_future",
            ExitBeforeBirth => "member.exit_before_birth",
            DeathDateMissing => "member.death_date",
            DeathEvidenceMissing => "member.death_evidence",
            ExitPhotoNotInVisit => "member.exit_photo",
            DestinationDesa { .. } => "member.destination_desa",
            ExitStatus => "member.exit_status",
            GraduationOutcome => "graduation.outcome",
            GraduationLetter => "graduation.letter",
            BirthDateTooOld => "member.birth_date_too_old",
            RelationshipCode { .. } => "member.relationship",
            HeadCount { .. } => "household.head_count",
            DuplicateNik { .. } => "household.duplicate_nik",
            DuplicateMember => "household.duplicate_member",
            RtRwFormat { .. } => "household.rt_rw",
            AddressRequired => "household.address_required",
            DesaCode => "household.desa_code",
            ReasonRequired { .. } => "outcome.reason_required",
            ReasonNotAllowed { .. } => "outcome.reason_not_allowed",
            ReferenceRequired { .. } => "outcome.reference_required",
            ReferenceNotAllowed { .. } => "outcome.reference_not_allowed",
            ReferenceSelf => "outcome.reference_self",
            UnknownQuestion { .. } => "answer.unknown_question",
            AnswerType { .. } => "answer.type",
            AnswerRange { .. } => "answer.range",
            AnswerChoice { .. } => "answer.choice",
            AnswerRequired { .. } => "answer.required",
            AnswerNotRelevant { .. } => "answer.not_relevant",
            AnswerTooLong { .. } => "answer.too_long",
            QuestionnaireVersion { .. } => "answer.questionnaire_version",
            GpsRange => "gps.range",
            VisitTimes => "visit.times",
            VisitUnfinished => "visit.unfinished",
            BatchSize { .. } => "batch.size",
            BatchDuplicate => "batch.duplicate",
            PhotoHash { .. } => "photo.hash",
            PhotoTooLarge { .. } => "photo.too_large",
            Paradata { .. } => "paradata.invalid",
            PinFormat => "pin.format",
            PinTooSimple => "pin.too_simple",
        }
    }

    fn message(&self, lang: Lang) -> String {
        use Invalid::*;
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            RegionFormat { value } => format!("Kode wilayah {value:?} harus 2, 4, 6 atau 10 digit"),
            RegionUnknownProvince { value } => {
                format!("Kode wilayah {value:?} tidak diawali kode provinsi yang ada")
            }
            NikFormat => "NIK harus tepat 16 digit angka".into(),
            NikDay { day } => format!(
                "Tanggal lahir pada NIK ({day:02}) harus 01-31 (laki-laki) atau 41-71 (perempuan)"
            ),
            NikMonth { month } => format!("Bulan lahir pada NIK ({month:02}) harus 01-12"),
            NikDate => "Tanggal lahir pada NIK bukan tanggal yang ada di kalender".into(),
            NikSerial => "Nomor urut NIK (4 digit terakhir) minimal 0001".into(),
            NikSexMismatch {
                nik_sex,
                member_sex,
            } => format!(
                "NIK menunjukkan jenis kelamin {nik_sex}, tetapi jenis kelamin anggota {member_sex}"
            ),
            NikBirthDateMismatch {
                nik_date,
                birth_date,
            } => format!(
                "Tanggal lahir pada NIK ({nik_date}) tidak sama dengan tanggal lahir {birth_date}"
            ),
            NoKkFormat => "No. KK harus tepat 16 digit angka".into(),
            NameRequired => "Nama wajib diisi".into(),
            NameTooLong { max } => format!("Nama lebih dari {max} karakter"),
            BirthDateFuture => "Tanggal lahir tidak boleh di masa depan".into(),
            ExitDateFuture => "Tanggal meninggal atau pindah tidak boleh di masa depan".into(),
            ExitBeforeBirth => {
                "Tanggal meninggal atau pindah tidak boleh sebelum tanggal lahir".into()
            }
            DeathDateMissing => "Isi tanggal meninggal".into(),
            DeathEvidenceMissing => {
                "Foto akta atau surat keterangan kematian wajib, atau tulis alasan tidak ada".into()
            }
            ExitPhotoNotInVisit => "Foto dokumen harus salah satu foto kunjungan ini".into(),
            DestinationDesa { value } => format!("{value:?} bukan kode desa (10 digit)"),
            GraduationOutcome => "Graduasi hanya untuk rumah tangga yang ditemukan".into(),
            GraduationLetter => "Graduasi wajib disertai foto surat pernyataan graduasi".into(),
            ExitStatus => {
                "Hanya anggota yang meninggal atau pindah yang punya keterangan keluar".into()
            }
            BirthDateTooOld => "Tanggal lahir tidak boleh sebelum tahun 1900".into(),
            RelationshipCode { value } => {
                format!("Kode hubungan dengan kepala rumah tangga ({value}) harus 1-8")
            }
            HeadCount { count } => format!(
                "Rumah tangga harus punya tepat satu kepala rumah tangga yang masih tinggal; ada {count}"
            ),
            DuplicateNik { nik } => format!("NIK {nik} tercatat dua kali dalam rumah tangga"),
            DuplicateMember => "Anggota yang sama tercatat dua kali".into(),
            RtRwFormat { value } => format!("RT/RW {value:?} harus 1-3 digit angka"),
            AddressRequired => "Alamat wajib diisi".into(),
            DesaCode => "Kode desa harus kode desa/kelurahan 10 digit".into(),
            ReasonRequired { outcome } => format!("Hasil kunjungan {outcome} wajib diberi alasan"),
            ReasonNotAllowed { outcome } => {
                format!("Hasil kunjungan {outcome} tidak memakai alasan")
            }
            ReferenceRequired { outcome } => {
                format!("Hasil kunjungan {outcome} wajib menunjuk rumah tangga rujukan")
            }
            ReferenceNotAllowed { outcome } => {
                format!("Hasil kunjungan {outcome} tidak memakai rumah tangga rujukan")
            }
            ReferenceSelf => "Rumah tangga tidak boleh merujuk dirinya sendiri".into(),
            UnknownQuestion { question, version } => {
                format!("Pertanyaan {question:?} tidak ada di kuesioner versi {version}")
            }
            AnswerType { question, expected } => {
                format!(
                    "Jawaban {question:?} harus berupa {}",
                    type_name_id(expected)
                )
            }
            AnswerRange { question, min, max } => {
                format!("Jawaban {question:?} harus antara {min} dan {max}")
            }
            AnswerChoice { question, value } => {
                format!("{value:?} bukan pilihan jawaban {question:?}")
            }
            AnswerRequired { question } => format!("Pertanyaan {question:?} wajib dijawab"),
            AnswerNotRelevant { question } => {
                format!("Pertanyaan {question:?} tidak berlaku di sini dan harus dikosongkan")
            }
            AnswerTooLong { question, max } => {
                format!("Jawaban {question:?} lebih dari {max} karakter")
            }
            QuestionnaireVersion { expected, found } => {
                format!("Kuesioner {found} bukan versi yang diharapkan ({expected})")
            }
            GpsRange => "Posisi GPS di luar rentang yang sah".into(),
            VisitTimes => "Waktu selesai kunjungan lebih awal dari waktu mulai".into(),
            VisitUnfinished => "Kunjungan belum diselesaikan".into(),
            BatchSize { max } => format!("Kiriman harus berisi 1 sampai {max} kunjungan"),
            BatchDuplicate => "Ada kunjungan yang tercantum dua kali dalam kiriman".into(),
            PhotoHash { value } => format!("Rujukan foto {value:?} bukan hash SHA-256"),
            PhotoTooLarge { max_mb } => format!("Foto lebih besar dari {max_mb} MB"),
            Paradata { reason } => format!("Paradata kunjungan tidak sah: {reason}"),
            PinFormat => "PIN harus 6 digit angka".into(),
            PinTooSimple => "PIN terlalu mudah ditebak".into(),
        }
    }
}

fn type_name_id(expected: &str) -> &str {
    match expected {
        "integer" => "bilangan bulat",
        "number" => "angka",
        "text" => "teks",
        "choice code" => "kode pilihan",
        "list of choice codes" => "daftar kode pilihan",
        "date YYYY-MM-DD" => "tanggal TTTT-BB-HH",
        "yes/no" => "ya/tidak",
        other => other,
    }
}

/// Something worth telling the user that does not block the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code_name", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Warning {
    #[error("NIK starts with {prefix}, which is not a known kecamatan; check it on the KTP")]
    NikRegionUnknown { prefix: String },
    #[error("No. KK starts with {prefix}, which is not a known region; check it on the KK")]
    NoKkRegionUnknown { prefix: String },
    #[error("GPS accuracy is {accuracy_m} m; try again in the open for a better fix")]
    GpsLowAccuracy { accuracy_m: u32 },
    #[error(
        "The phone says this location came from a mock-location app; turn it off and take the GPS again"
    )]
    GpsMocked,
    #[error(
        "This NIK is already recorded on this phone for another household ({household}); check the KTP"
    )]
    NikOnDevice { household: String },
}

impl Coded for Warning {
    fn code(&self) -> &'static str {
        match self {
            Warning::NikRegionUnknown { .. } => "nik.region_unknown",
            Warning::NoKkRegionUnknown { .. } => "no_kk.region_unknown",
            Warning::GpsLowAccuracy { .. } => "gps.low_accuracy",
            Warning::GpsMocked => "gps.mocked",
            Warning::NikOnDevice { .. } => "nik.on_device",
        }
    }

    fn message(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            Warning::NikRegionUnknown { prefix } => format!(
                "NIK diawali {prefix}, bukan kode kecamatan yang dikenal; periksa lagi di KTP"
            ),
            Warning::NoKkRegionUnknown { prefix } => format!(
                "No. KK diawali {prefix}, bukan kode wilayah yang dikenal; periksa lagi di KK"
            ),
            Warning::GpsLowAccuracy { accuracy_m } => {
                format!("Akurasi GPS {accuracy_m} m; coba lagi di tempat terbuka agar lebih tepat")
            }
            Warning::GpsMocked => "HP melaporkan lokasi ini dari aplikasi lokasi palsu; matikan \
                                   aplikasi itu lalu ambil GPS lagi"
                .into(),
            Warning::NikOnDevice { household } => format!(
                "NIK ini sudah tercatat di HP ini untuk rumah tangga lain ({household}); periksa \
                 lagi di KTP"
            ),
        }
    }
}

/// A finding tied to the field it is about (`members[2].nik`, `answers.luas_lantai`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct At<T> {
    /// Path of the field in the input.
    pub field: String,
    /// What is wrong or worth knowing.
    pub issue: T,
}

/// Everything validation found in one input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Rules broken; the input is refused when there is any.
    pub errors: Vec<At<Invalid>>,
    /// Things to check that do not block.
    pub warnings: Vec<At<Warning>>,
}

impl Report {
    /// True when nothing blocks the input.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    pub(crate) fn error(&mut self, field: impl Into<String>, issue: Invalid) {
        self.errors.push(At {
            field: field.into(),
            issue,
        });
    }

    pub fn warn(&mut self, field: impl Into<String>, issue: Warning) {
        self.warnings.push(At {
            field: field.into(),
            issue,
        });
    }

    /// Adds the findings of a sub-validation, prefixing their fields.
    pub(crate) fn absorb(&mut self, prefix: &str, other: Report) {
        let join = |f: String| {
            if f.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix}.{f}")
            }
        };
        self.errors.extend(other.errors.into_iter().map(|a| At {
            field: join(a.field),
            issue: a.issue,
        }));
        self.warnings.extend(other.warnings.into_iter().map(|a| At {
            field: join(a.field),
            issue: a.issue,
        }));
    }

    /// The codes of the errors, in order (handy for tests and logs).
    pub fn error_codes(&self) -> Vec<&'static str> {
        self.errors.iter().map(|a| a.issue.code()).collect()
    }

    /// The codes of the warnings, in order.
    pub fn warning_codes(&self) -> Vec<&'static str> {
        self.warnings.iter().map(|a| a.issue.code()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_distinct_code_and_two_languages() {
        let samples = vec![
            Invalid::NikFormat,
            Invalid::NikDay { day: 35 },
            Invalid::HeadCount { count: 2 },
            Invalid::AnswerType {
                question: "q".into(),
                expected: "integer".into(),
            },
            Invalid::PinTooSimple,
        ];
        for s in samples {
            assert!(!s.message(Lang::Id).is_empty());
            assert_ne!(s.message(Lang::Id), s.message(Lang::En), "{}", s.code());
        }
        assert!(Invalid::NikDay { day: 35 }.message(Lang::En).contains("35"));
        assert!(
            Invalid::AnswerType {
                question: "q".into(),
                expected: "integer".into()
            }
            .message(Lang::Id)
            .contains("bilangan bulat")
        );
    }
}

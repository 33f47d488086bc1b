//! Store errors: each has a stable code and a message in Bahasa Indonesia and English.

use uuid::Uuid;
use verivali_domain::{Coded, Invalid, Lang, Report, TransitionError, VisitState};

/// What can go wrong in the device store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The PIN does not open the database. Nothing was changed.
    #[error("wrong PIN")]
    WrongPin,
    /// The PIN breaks the PIN policy.
    #[error("PIN not accepted: {0}")]
    PinPolicy(Invalid),
    /// A store already exists at the path.
    #[error("a store already exists at {0}")]
    AlreadyExists(String),
    /// No store at the path.
    #[error("no store at {0}")]
    NotFound(String),
    /// The key parameters file beside the database is missing or damaged.
    #[error("key parameters file is unusable: {0}")]
    KeyParams(String),
    /// The database was written by a newer app.
    #[error(
        "the database has schema version {found}, newer than this app's {supported}; update the app"
    )]
    SchemaTooNew {
        /// Version in the file.
        found: i64,
        /// Newest this build knows.
        supported: i64,
    },
    /// The input broke validation rules; nothing was written.
    #[error("input is invalid: {}", .0.error_codes().join(", "))]
    Invalid(Report),
    /// The visit is submitted or approved and cannot be changed on the device.
    #[error("visit {visit_id} is {state} and cannot be changed")]
    Locked {
        /// The visit.
        visit_id: Uuid,
        /// Its state.
        state: VisitState,
    },
    /// The visit must be recorded (finished) before it can be submitted.
    #[error("visit {0} is not finished")]
    NotFinished(Uuid),
    /// The state machine refused.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// No such household on this device.
    #[error("household {0} is not on this device")]
    UnknownHousehold(Uuid),
    /// No such visit on this device.
    #[error("visit {0} is not on this device")]
    UnknownVisit(Uuid),
    /// A proposed household's id is already on the device (nothing was written or queued).
    #[error("household {0} is already on this device")]
    HouseholdExists(Uuid),
    /// The household was given to another enumerator: its open draft may be finished or
    /// discarded, but no new visit is started here.
    #[error("household {0} was given to another enumerator")]
    Withdrawn(Uuid),
    /// Only a draft the server never received can be discarded.
    #[error("visit {0} is not a draft that can be discarded")]
    NotDiscardable(Uuid),
    /// A visit id is used by another household's visit.
    #[error("visit {0} belongs to another household")]
    VisitHouseholdMismatch(Uuid),
    /// SQLite / SQLCipher failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// File system failed.
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
    /// Stored JSON could not be read or written.
    #[error("stored data is unreadable: {0}")]
    Json(#[from] serde_json::Error),
}

impl Coded for StoreError {
    fn code(&self) -> &'static str {
        match self {
            StoreError::WrongPin => "store.wrong_pin",
            StoreError::PinPolicy(i) => i.code(),
            StoreError::AlreadyExists(_) => "store.exists",
            StoreError::NotFound(_) => "store.not_found",
            StoreError::KeyParams(_) => "store.key_params",
            StoreError::SchemaTooNew { .. } => "store.schema_too_new",
            StoreError::Invalid(_) => "store.invalid",
            StoreError::Locked { .. } => "visit.locked",
            StoreError::NotFinished(_) => "visit.unfinished",
            StoreError::Transition(t) => t.code(),
            StoreError::UnknownHousehold(_) => "store.unknown_household",
            StoreError::HouseholdExists(_) => "household.exists",
            StoreError::UnknownVisit(_) => "store.unknown_visit",
            StoreError::VisitHouseholdMismatch(_) => "store.visit_household_mismatch",
            StoreError::Withdrawn(_) => "household.withdrawn",
            StoreError::NotDiscardable(_) => "visit.not_discardable",
            StoreError::Sqlite(_) => "store.sqlite",
            StoreError::Io(_) => "store.io",
            StoreError::Json(_) => "store.json",
        }
    }

    fn message(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            StoreError::WrongPin => "PIN salah".into(),
            StoreError::PinPolicy(i) => i.message(lang),
            StoreError::AlreadyExists(p) => format!("Sudah ada penyimpanan data di {p}"),
            StoreError::NotFound(p) => format!("Tidak ada penyimpanan data di {p}"),
            StoreError::KeyParams(e) => format!("Berkas kunci penyimpanan rusak atau hilang: {e}"),
            StoreError::SchemaTooNew { .. } => {
                "Data dibuat oleh versi aplikasi yang lebih baru; perbarui aplikasi".into()
            }
            StoreError::Invalid(r) => {
                let first = r
                    .errors
                    .first()
                    .map(|e| e.issue.message(lang))
                    .unwrap_or_default();
                format!("Isian belum benar ({} kesalahan): {first}", r.errors.len())
            }
            StoreError::Locked { state, .. } => format!(
                "Kunjungan berstatus {} dan tidak bisa diubah",
                match state {
                    VisitState::Submitted => "terkirim",
                    VisitState::Approved => "disetujui",
                    VisitState::Draft => "draf",
                    VisitState::Rejected => "ditolak",
                    VisitState::Superseded => "diganti kunjungan lain",
                    VisitState::Verified => "diverifikasi dinas",
                    VisitState::Returned => "dikembalikan dinas ke pengawas",
                }
            ),
            StoreError::NotFinished(_) => "Kunjungan belum diselesaikan".into(),
            StoreError::Transition(t) => t.message(lang),
            StoreError::UnknownHousehold(_) => "Rumah tangga tidak ada di perangkat ini".into(),
            StoreError::HouseholdExists(_) => "Rumah tangga dengan id ini sudah ada".into(),
            StoreError::UnknownVisit(_) => "Kunjungan tidak ada di perangkat ini".into(),
            StoreError::VisitHouseholdMismatch(_) => "Kunjungan ini milik rumah tangga lain".into(),
            StoreError::Withdrawn(_) => {
                "Rumah tangga ini sudah dialihkan ke petugas lain; kunjungan baru tidak bisa dimulai"
                    .into()
            }
            StoreError::NotDiscardable(_) => {
                "Hanya draf yang belum pernah dikirim yang bisa dibuang".into()
            }
            StoreError::Sqlite(e) => format!("Kesalahan basis data: {e}"),
            StoreError::Io(e) => format!("Kesalahan berkas: {e}"),
            StoreError::Json(e) => format!("Data tersimpan tidak terbaca: {e}"),
        }
    }
}

/// Result of store calls.
pub type Result<T> = std::result::Result<T, StoreError>;

//! # verivali-field
//!
//! The field app's service layer, used by `src-tauri`, the `verivali-field` command-line front end
//! and the tests: first sign-in online and PIN unlock offline ([`Device`]), and the device store
//! as the sync client's local side ([`StoreSync`]), and [`FieldApp`], the whole app as the
//! Tauri window calls it (every Tauri command is a one-line delegation to a `FieldApp` method).

pub mod app;
mod device;
pub mod photo;
mod store_sync;

pub use app::{AppError, FieldApp};
pub use device::{
    APP_VERSION, Device, FieldError, Health, Returned, SharedDevice, StoreAccess, renew_with,
    sync_with,
};
pub use store_sync::StoreSync;
/// The domain types the Tauri shell passes through, for the same reason.
pub use verivali_domain::{HouseholdFields, Questionnaire, VisitRecord, clock::SystemClock};
/// The device-store types the Tauri shell passes through, so that it depends on this crate alone
/// (DESIGN.md §2: `src-tauri -> field`).
pub use verivali_store::{HouseholdDetail, HouseholdQuery, KdfParams, RtGroup};

/// Trusts a private CA (PEM) for the server's HTTPS certificate in this process, besides the
/// public roots; without a call, `VERIVALI_CA_CERT` is read. Call it before the first sign-in or
/// sync.
pub fn set_ca_cert(path: Option<std::path::PathBuf>) {
    verivali_sync::tls::set_ca_cert(path);
}

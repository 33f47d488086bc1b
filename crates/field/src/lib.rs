//! # verivali-field
//!
//! The field app's service layer, used by `src-tauri`, the `verivali-field` command-line front end
//! and the tests: first sign-in online and PIN unlock offline ([`Device`]), and the device store
//! as the sync client's local side ([`StoreSync`]).

mod device;
mod store_sync;

pub use device::{APP_VERSION, Device, FieldError, Health, Returned};
pub use store_sync::StoreSync;

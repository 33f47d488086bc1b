//! # verivali-field
//!
//! The field app's service layer, used by `src-tauri`, a command-line front end and the tests.
//! So far it joins the device store and the sync client ([`StoreSync`]); the session, PIN and
//! screen-level calls build on it.

mod store_sync;

pub use store_sync::StoreSync;

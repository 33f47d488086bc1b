//! The field app's service layer tested in one binary: the app and the device session against
//! real stores and a real server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod app;
mod device;
mod photo;
mod ts_types;

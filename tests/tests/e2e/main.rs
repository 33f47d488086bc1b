//! End-to-end tests in one binary: real server and field processes, faults and kills, HTTPS
//! and deployment, the dashboard in headless Chromium and the field app through tauri-driver.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod assignments;
mod cycle;
mod dashboard;
mod deploy;
mod faults;
mod field_app;
mod field_form;
mod kill;
mod quality;
mod questionnaires;
mod sync;
mod users;

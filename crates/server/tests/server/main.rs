//! The server's integration tests in one binary (one link on a 2-core machine instead of one
//! per file): real servers on real ports over SQLite files and fresh PostgreSQL databases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

mod api;
mod assignments;
mod baseline_jobs;
mod conformance;
mod cycle;
mod devices;
mod hardening;
mod import;
mod packed;
mod quality;
mod questionnaires;
mod regions;
mod review;
mod review_queue;
mod storage;
mod superseding;
mod users;

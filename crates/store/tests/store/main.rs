//! The device store's integration tests in one binary: real SQLCipher files, migrations from
//! fixtures, pulls, and the crash test that kills a writer process mid-write.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

mod crash;
mod migrations;
mod pull;
mod sqlcipher_init_race;
mod store;

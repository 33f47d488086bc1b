//! `verivali-field`: the enumerator's flow from a terminal, for scripting and tests.
//!
//! ```text
//! verivali-field --store PATH sign-in --server URL --username NAME   (stdin: password, then PIN)
//! verivali-field --store PATH record --count N [--photo-bytes B] [--submit]
//! verivali-field --store PATH sync
//! verivali-field --store PATH status
//! ```
//! Every command but `sign-in` reads the PIN from `VERIVALI_PIN` or the first line of stdin.
//! `--ca-cert FILE` (or `VERIVALI_CA_CERT`) trusts a private CA for an `https://` server.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use verivali_domain::clock::SystemClock;
use verivali_domain::sample::{self, Seq};
use verivali_domain::{Coded, Lang};
use verivali_field::Device;
use verivali_store::{HouseholdQuery, KdfParams};

#[derive(Parser)]
#[command(
    name = "verivali-field",
    version,
    about = "Verivali field app from a terminal"
)]
struct Cli {
    /// The device store file
    #[arg(long, global = true, default_value = "verivali-data/device.db")]
    store: PathBuf,
    /// A private CA (PEM) to trust for the server's HTTPS certificate, besides the public roots
    #[arg(long, global = true, env = "VERIVALI_CA_CERT")]
    ca_cert: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// First sign-in (online): creates the encrypted store and pulls the assignment
    SignIn {
        #[arg(long)]
        server: String,
        #[arg(long)]
        username: String,
        /// Cheap key derivation, for tests only
        #[arg(long, hide = true)]
        fast_kdf: bool,
    },
    /// Record synthetic visits (for demos and tests)
    Record {
        #[arg(long, default_value_t = 1)]
        count: usize,
        #[arg(long, default_value_t = 0)]
        photo_bytes: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Start at this household of the list (so that runs can visit different households)
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Submit them as one batch
        #[arg(long)]
        submit: bool,
    },
    /// Sync now
    Sync,
    /// Outbox and sync status
    Status,
}

fn read_lines() -> Vec<String> {
    std::io::stdin()
        .lock()
        .lines()
        .map_while(Result::ok)
        .collect()
}

/// The PIN: `VERIVALI_PIN`, else the first line of stdin (stdin is only read when needed, so a
/// scripted command with the variable set never waits on it).
fn pin() -> anyhow::Result<String> {
    match std::env::var("VERIVALI_PIN") {
        Ok(p) => Ok(p),
        Err(_) => read_lines()
            .into_iter()
            .next()
            .context("PIN: set VERIVALI_PIN or give it on stdin"),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    verivali_field::set_ca_cert(cli.ca_cert.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let coded =
        |e: verivali_field::FieldError| anyhow::anyhow!("{}: {}", e.code(), e.message(Lang::Id));
    match cli.cmd {
        Cmd::SignIn {
            server,
            username,
            fast_kdf,
        } => {
            let lines = read_lines();
            let password = lines
                .first()
                .context("password on the first line of stdin")?;
            let pin = lines.get(1).context("PIN on the second line of stdin")?;
            let kdf = if fast_kdf {
                KdfParams::FAST_INSECURE
            } else {
                KdfParams::DEVICE
            };
            let mut d = rt
                .block_on(Device::sign_in_first(
                    &cli.store,
                    &server,
                    &username,
                    password,
                    pin,
                    "verivali-field",
                    kdf,
                    Arc::new(SystemClock),
                ))
                .map_err(coded)?;
            let n: usize = d
                .store()
                .list_households(&HouseholdQuery::default())?
                .iter()
                .map(|g| g.households.len())
                .sum();
            println!("signed in as {username}; {n} households on this device");
        }
        Cmd::Record {
            count,
            photo_bytes,
            seed,
            offset,
            submit,
        } => {
            let mut d =
                Device::unlock(&cli.store, &pin()?, Arc::new(SystemClock)).map_err(coded)?;
            let store = d.store();
            let households: Vec<_> = store
                .list_households(&HouseholdQuery::default())?
                .into_iter()
                .flat_map(|g| g.households)
                .collect();
            anyhow::ensure!(
                !households.is_empty(),
                "no households on this device: sync first"
            );
            let mut s = Seq::new(seed);
            let mut ids = Vec::new();
            for i in 0..count {
                let detail =
                    store.household_detail(households[(offset + i) % households.len()].id)?;
                let mut v = sample::visit(
                    &mut s,
                    &detail.household,
                    &detail.members,
                    chrono::Utc::now(),
                );
                v.photos.clear();
                if photo_bytes > 0 {
                    let bytes: Vec<u8> = (0..photo_bytes).map(|_| s.next_u64() as u8).collect();
                    v.photos.push(store.save_photo(&bytes, "image/jpeg")?);
                }
                store.record_visit(&v)?;
                ids.push(v.visit_id);
            }
            if submit && !ids.is_empty() {
                store.submit_batch(&ids)?;
            }
            println!("recorded {count} visits");
        }
        Cmd::Sync => {
            let mut d =
                Device::unlock(&cli.store, &pin()?, Arc::new(SystemClock)).map_err(coded)?;
            let r = rt.block_on(d.sync()).map_err(coded)?;
            println!(
                "synced: {} ops acknowledged ({} rejected), {} photos, {} changes pulled, {} round trips",
                r.ops_acked, r.ops_rejected, r.photos_uploaded, r.changes_pulled, r.round_trips
            );
        }
        Cmd::Status => {
            let mut d =
                Device::unlock(&cli.store, &pin()?, Arc::new(SystemClock)).map_err(coded)?;
            let c = d.store().outbox_counts()?;
            let last = d
                .store()
                .last_sync()?
                .map_or("never".to_string(), |t| t.to_rfc3339());
            println!(
                "pending ops {} (visits {}, batches {}); acknowledged through {}; needs attention {}; last sync {last}",
                c.pending_ops,
                c.pending_visits,
                c.pending_batches,
                c.acked_through,
                c.needs_attention
            );
        }
    }
    Ok(())
}

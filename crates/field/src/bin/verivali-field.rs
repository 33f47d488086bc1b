//! `verivali-field`: the enumerator's flow from a terminal, for scripting and tests.
//!
//! ```text
//! verivali-field --store PATH sign-in --server URL --username NAME [--new-password]
//!                                      (stdin: password, PIN, and the new password if asked)
//! verivali-field --store PATH record --count N [--photo-bytes B] [--submit]
//! verivali-field --store PATH record --household ID_DTSEN… [--draft | --submit]
//! verivali-field --store PATH sign-in-again [--new-password]  (stdin: password [, new password])
//! verivali-field --store PATH discard --household ID_DTSEN
//! verivali-field --store PATH households
//! verivali-field --store PATH sync
//! verivali-field --store PATH status
//! ```
//! `record --household` finishes the household's open draft when it has one (as the app's
//! "continue" does), else starts a new visit.
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
        /// Replace a one-time password from an admin's reset: the new password is read from the
        /// third line of stdin
        #[arg(long)]
        new_password: bool,
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
        /// Visit these households (id DTSEN, or the household's id for one without it, such as a
        /// family a musdes found layak) instead of `--count` from the list
        #[arg(long, num_args = 1..)]
        household: Vec<String>,
        /// Leave them as drafts (not finished, nothing queued)
        #[arg(long, conflicts_with = "submit")]
        draft: bool,
        /// Submit them as one batch
        #[arg(long)]
        submit: bool,
    },
    /// Sign in again on this device, keeping its store and queued work (after the session
    /// expired): stdin holds the password, and the new one after a reset with --new-password
    SignInAgain {
        #[arg(long)]
        new_password: bool,
    },
    /// Throw away the open draft of a household (id DTSEN)
    Discard {
        #[arg(long)]
        household: String,
    },
    /// The households on this device, one per line: id DTSEN, assignment source (or "shared"),
    /// due date (or "-"), and "withdrawn" for one given to a colleague that is still kept here
    Households,
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
    let coded = |e: verivali_field::FieldError| {
        anyhow::anyhow!("{}: {}", e.shown_code(), e.message(Lang::Id))
    };
    match cli.cmd {
        Cmd::SignIn {
            server,
            username,
            fast_kdf,
            new_password,
        } => {
            let lines = read_lines();
            let password = lines
                .first()
                .context("password on the first line of stdin")?;
            let pin = lines.get(1).context("PIN on the second line of stdin")?;
            let new_password = if new_password {
                Some(
                    lines
                        .get(2)
                        .context("new password on the third line of stdin")?
                        .clone(),
                )
            } else {
                None
            };
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
                    new_password.as_deref(),
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
            household,
            draft,
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
            let targets: Vec<uuid::Uuid> = if household.is_empty() {
                (0..count)
                    .map(|i| households[(offset + i) % households.len()].id)
                    .collect()
            } else {
                household
                    .iter()
                    .map(|want| {
                        households
                            .iter()
                            .find(|h| {
                                h.id_dtsen.as_deref() == Some(want) || h.id.to_string() == *want
                            })
                            .map(|h| h.id)
                            .with_context(|| format!("household {want} is not on this device"))
                    })
                    .collect::<anyhow::Result<_>>()?
            };
            let mut s = Seq::new(seed);
            let mut ids = Vec::new();
            for id in &targets {
                let mut detail = store.household_detail(*id)?;
                // A family known only by name and address (a layak proposal): the enumerator
                // finds its members at the door, and its RT and RW.
                if detail.members.is_empty() {
                    let (_, found) = sample::household(&mut s, &detail.household.kode_desa, 0);
                    detail.members = found
                        .into_iter()
                        .map(|mut m| {
                            m.member_id = uuid::Uuid::now_v7();
                            m.status = verivali_domain::PresenceStatus::AnggotaBaru;
                            m
                        })
                        .collect();
                }
                let mut v = sample::visit(
                    &mut s,
                    &detail.household,
                    &detail.members,
                    chrono::Utc::now(),
                );
                if v.household.fields.rt.is_empty() {
                    v.household.fields.rt = "001".into();
                }
                if v.household.fields.rw.is_empty() {
                    v.household.fields.rw = "001".into();
                }
                // Each visit's id is made as the app makes it (`App::open_visit`): a UUIDv7 from
                // the clock, so a phone's visits reach the server in about the order of their
                // ids. The seed's random ids (still drawn, so every other field stays as the seed
                // gives it) put each visit at a random place in every index keyed by visit id,
                // which no phone does: the server wrote 38 MB for a 10,000-visit sync with them
                // and 29 MB with these (docs/benchmarks.md, sixteenth pass). Named households:
                // the open draft goes on.
                v.visit_id = match household.is_empty() {
                    true => uuid::Uuid::now_v7(),
                    false => detail
                        .visits
                        .iter()
                        .find(|v| v.state.editable())
                        .map_or_else(uuid::Uuid::now_v7, |open| open.visit_id),
                };
                v.photos.clear();
                v.photo_kinds.clear();
                if photo_bytes > 0 {
                    let bytes: Vec<u8> = (0..photo_bytes).map(|_| s.next_u64() as u8).collect();
                    let sha = store.save_photo(&bytes, "image/jpeg")?;
                    v.photo_kinds
                        .insert(sha.clone(), verivali_domain::PhotoKind::Depan);
                    v.photos.push(sha);
                }
                if draft {
                    store.save_draft(&v).map_err(|e| coded(e.into()))?;
                } else {
                    store.record_visit(&v).map_err(|e| coded(e.into()))?;
                }
                ids.push(v.visit_id);
            }
            if submit && !ids.is_empty() {
                store.submit_batch(&ids)?;
            }
            let what = if draft { "drafts saved" } else { "visits" };
            println!("recorded {} {what}", ids.len());
        }
        Cmd::SignInAgain { new_password } => {
            let pin = std::env::var("VERIVALI_PIN")
                .context("sign-in-again reads the PIN from VERIVALI_PIN (stdin holds passwords)")?;
            let lines = read_lines();
            let mut lines = lines.iter();
            let password = lines.next().context("password on stdin")?.clone();
            let new = if new_password {
                Some(
                    lines
                        .next()
                        .context("new password after the password")?
                        .clone(),
                )
            } else {
                None
            };
            let mut d = Device::unlock(&cli.store, &pin, Arc::new(SystemClock)).map_err(coded)?;
            rt.block_on(d.renew_session(&password, new.as_deref(), "verivali-field"))
                .map_err(coded)?;
            println!("signed in again; the queued work stays on this device");
        }
        Cmd::Discard { household } => {
            let mut d =
                Device::unlock(&cli.store, &pin()?, Arc::new(SystemClock)).map_err(coded)?;
            let row = d
                .store()
                .list_households(&HouseholdQuery::default())?
                .into_iter()
                .flat_map(|g| g.households)
                .find(|h| h.id_dtsen.as_deref() == Some(household.as_str()))
                .with_context(|| format!("household {household} is not on this device"))?;
            let detail = d.store().household_detail(row.id)?;
            let open = detail
                .visits
                .iter()
                .find(|v| !v.finished)
                .with_context(|| format!("household {household} has no open draft"))?;
            let gone = d.discard_draft(open.visit_id).map_err(coded)?;
            println!(
                "draft discarded{}",
                if gone {
                    "; household left this device"
                } else {
                    ""
                }
            );
        }
        Cmd::Households => {
            let d = Device::unlock(&cli.store, &pin()?, Arc::new(SystemClock)).map_err(coded)?;
            for g in d.assignments(&HouseholdQuery::default()).map_err(coded)? {
                for h in g.households {
                    let a = h.assignment.as_ref();
                    println!(
                        "{} {} {}{}",
                        h.id_dtsen.unwrap_or_else(|| h.id.to_string()),
                        a.map_or("shared", |a| a.source.as_str()),
                        a.and_then(|a| a.due_date)
                            .map_or("-".to_string(), |d| d.to_string()),
                        if h.withdrawn { " withdrawn" } else { "" }
                    );
                }
            }
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
            // The period the server had open at the last sync, whose cut-off the app warns of.
            if let Some((name, cutoff)) = d.store().open_period()? {
                println!("period {name}, cut-off {cutoff}");
            }
        }
    }
    Ok(())
}

//! `verivali-server`: the central server and its admin jobs (DESIGN.md §6).

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use verivali_domain::Role;
use verivali_domain::clock::SystemClock;
use verivali_server::App;

/// The roles by wire name, from the domain's one list (the CLI offers every one).
fn roles() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(Role::ALL.map(Role::as_str))
}

/// The review states by wire name, from the domain's one list.
fn states() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(verivali_domain::VisitState::ALL.map(|s| s.as_str()))
}

#[derive(Parser)]
#[command(name = "verivali-server", version, about = "Verivali central server")]
struct Cli {
    /// sqlite://PATH (default sqlite://verivali-data/server.db) or postgres://URL (add
    /// `sslmode=require` for TLS). From the environment, a password never shows in `ps`.
    #[arg(long, global = true, env = "VERIVALI_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// Address to listen on (serve, demo)
    #[arg(long, global = true, env = "VERIVALI_LISTEN")]
    listen: Option<String>,
    /// Folder for attachments and other files (its variable is not VERIVALI_DATA_DIR, which is
    /// the field app's own data folder and may be set in the same shell)
    #[arg(
        long,
        global = true,
        env = "VERIVALI_SERVER_DATA_DIR",
        default_value = "verivali-data"
    )]
    data_dir: PathBuf,
    /// Log format: text for a terminal, json for a log collector (level from RUST_LOG)
    #[arg(long, global = true, env = "VERIVALI_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(flatten)]
    edge: EdgeArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

/// How `serve` and `demo` meet the network (DESIGN.md §13).
#[derive(clap::Args)]
struct EdgeArgs {
    /// PEM certificate chain: serve HTTPS itself (with --tls-key)
    #[arg(long, global = true, env = "VERIVALI_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert
    #[arg(long, global = true, env = "VERIVALI_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A reverse proxy (CIDR or address) whose X-Forwarded-For names the client; repeat for
    /// several, or separate with commas in the environment
    #[arg(
        long = "trusted-proxy",
        global = true,
        env = "VERIVALI_TRUSTED_PROXY",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<verivali_server::edge::Cidr>,
    /// The proxy in front terminates HTTPS: secure cookies and HSTS although this process
    /// serves plain HTTP
    #[arg(long, global = true, env = "VERIVALI_BEHIND_HTTPS")]
    behind_https: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server
    Serve,
    /// Manage users
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Import data
    Import {
        #[command(subcommand)]
        cmd: ImportCmd,
    },
    /// Run a fresh demo server: one synthetic desa and demo accounts (printed)
    Demo {
        /// Number of synthetic households
        #[arg(long, default_value_t = 200)]
        households: u32,
    },
    /// Manage devices
    Device {
        #[command(subcommand)]
        cmd: DeviceCmd,
    },
    /// Region names
    Region {
        #[command(subcommand)]
        cmd: RegionCmd,
    },
    /// Questionnaire versions
    Questionnaire {
        #[command(subcommand)]
        cmd: QuestionnaireCmd,
    },
    /// Make a private CA and an HTTPS certificate signed by it (for a server without a
    /// certificate from a public CA); prints the files to pass to --tls-cert, --tls-key and the
    /// devices' --ca-cert
    MakeCert {
        /// A name or IP address the server is reached at (repeat for several)
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// Organisation named in the certificates
        #[arg(long, default_value = "Dinas Sosial")]
        org: String,
        /// Folder to write ca.pem, ca-key.pem, server.pem and server-key.pem to
        #[arg(long)]
        out: PathBuf,
    },
    /// Take a consistent snapshot of an SQLite server (also while it serves): database and
    /// photos in one file
    Backup {
        /// The backup file to write
        #[arg(long)]
        output: PathBuf,
    },
    /// Unpack a backup into a new --database path and --data-dir
    Restore {
        /// The backup file to read
        #[arg(long)]
        input: PathBuf,
    },
    /// Copy this SQLite server's whole state into an empty PostgreSQL database
    Migrate {
        /// postgres://… of the new, empty database
        #[arg(long, env = "VERIVALI_MIGRATE_TO", hide_env_values = true)]
        to: String,
    },
    /// Give households to an enumerator, as the operator: every household of --area, or those
    /// whose id_dtsen is in the first column of --file (a CSV with a header). Rows that cannot be
    /// given are listed, with the reason, and the exit status is then 2.
    Assign {
        /// The enumerator's username
        #[arg(long)]
        enumerator: String,
        /// A region code (desa or kecamatan): every household inside
        #[arg(long, required_unless_present = "file", conflicts_with = "file")]
        area: Option<String>,
        /// A CSV whose first column is id_dtsen (a target list)
        #[arg(long)]
        file: Option<PathBuf>,
        /// Due date, YYYY-MM-DD
        #[arg(long)]
        due: Option<String>,
        /// Why: baseline, groundcheck, usulan, sanggah, laporan_kematian or lainnya
        #[arg(long)]
        source: Option<String>,
    },
    /// Export data
    Export {
        #[command(subcommand)]
        cmd: ExportCmd,
    },
    /// Quality control (DESIGN.md §11)
    Quality {
        #[command(subcommand)]
        cmd: QualityCmd,
    },
}

#[derive(Subcommand)]
enum QualityCmd {
    /// Print the thresholds of the quality flags as JSON, or set them from a JSON file (the
    /// same shape; every open visit is checked again under them)
    Thresholds {
        /// A JSON file with the new thresholds
        #[arg(long)]
        set: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ExportCmd {
    /// Export reviewed visits for the ministry upload (CSV or XLSX)
    Visits {
        /// Review state of the visits to export
        #[arg(long, default_value = "approved", value_parser = states())]
        state: String,
        /// Region-code prefix to limit the export to (default: everything)
        #[arg(long)]
        area: Option<String>,
        #[arg(long, value_parser = ["csv", "xlsx"])]
        format: String,
        /// File to write (written under a temporary name and renamed when complete)
        #[arg(long)]
        output: PathBuf,
    },
    /// Write the compact export cells of approved visits that lack them (after an upgrade or a
    /// new questionnaire), so the next export need not decode their records
    Prepare,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user; the password is read from standard input
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = roles())]
        role: String,
        /// Region-code prefix the user works in (repeat for several)
        #[arg(long = "area", required = true)]
        areas: Vec<String>,
        /// Name to show (defaults to the username)
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input (required: never pass it as an argument)
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users: username, role, areas, state
    List {
        #[arg(long, value_parser = roles())]
        role: Option<String>,
        /// Only users working in or covering this region code
        #[arg(long)]
        area: Option<String>,
        /// Only disabled users
        #[arg(long)]
        disabled: bool,
    },
    /// Change a user: name, role, areas, disable or enable, or reset the password (a one-time
    /// password is printed once; the user sets a new one at the next sign-in)
    Set {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long, value_parser = roles())]
        role: Option<String>,
        /// New areas (repeat for several; replaces the old ones)
        #[arg(long = "area")]
        areas: Vec<String>,
        /// Disable the account (every token dies at once)
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Enable a disabled account
        #[arg(long)]
        enable: bool,
        #[arg(long)]
        reset_password: bool,
    },
}

#[derive(Subcommand)]
enum ImportCmd {
    /// Import the DTSEN household baseline (one row per member)
    Households { file: PathBuf },
}

#[derive(Subcommand)]
enum DeviceCmd {
    /// Revoke a device: its tokens stop working at once. With --wipe the device first sends what
    /// it holds at its next contact, then erases its store and key
    Revoke {
        id: uuid::Uuid,
        #[arg(long)]
        wipe: bool,
    },
    /// List devices: id, user, name, app version, last seen, last push, acknowledged seq, state
    List {
        /// Only devices of users working in or covering this region code
        #[arg(long)]
        area: Option<String>,
    },
}

#[derive(Subcommand)]
enum QuestionnaireCmd {
    /// Check a schema JSON and publish it as the active version devices pull (prints every
    /// problem with its path, and publishes nothing, when it has any)
    Publish { file: PathBuf },
}

#[derive(Subcommand)]
enum RegionCmd {
    /// Import Kemendagri region names from a CSV `kode,nama` (header optional)
    Import { file: PathBuf },
}

/// `--database`, or the SQLite file in the data folder.
fn database_url(cli: &Cli) -> String {
    cli.database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", cli.data_dir.join("server.db").display()))
}

fn print_copied(c: &verivali_server::backup::Copied) {
    for (table, n) in &c.rows {
        println!("  {table:<20} {n:>10}");
    }
    println!("  {:<20} {:>10}", "photos", c.photos);
    for (table, key) in &c.scrubbed {
        println!("  note: {table} row {key} held a NUL character, stored as U+FFFD");
    }
}

fn open(cli: &Cli) -> anyhow::Result<App> {
    let url = database_url(cli);
    let db = verivali_server::db::open(&url).with_context(|| format!("opening {url}"))?;
    App::new(db, Arc::new(SystemClock), cli.data_dir.clone())
}

/// Serves `app` on `listen` until SIGTERM or Ctrl-C, then drains the requests in flight;
/// prints `banner` lines and the address first, then starts the one-time check of older visits
/// beside the serving ([`check_older_visits_in_background`]).
fn run_server(
    app: Arc<App>,
    listen: &str,
    edge: &EdgeArgs,
    banner: &[String],
) -> anyhow::Result<()> {
    let tls = match (&edge.tls_cert, &edge.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(verivali_server::edge::server_tls(cert, key)?)),
        _ => None,
    };
    let settings = verivali_server::edge::Edge {
        trusted_proxies: edge.trusted_proxies.clone(),
        https: tls.is_some() || edge.behind_https,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        for line in banner {
            println!("{line}");
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("verivali-server listening on {scheme}://{addr}");
        tracing::info!(%addr, scheme, "listening");
        check_older_visits_in_background(&app);
        let served = match tls {
            Some(config) => {
                let tls = verivali_server::edge::TlsListener::new(listener, config)?;
                verivali_server::http::serve_with(app, tls, settings, stop_signal()).await
            }
            None => verivali_server::http::serve_with(app, listener, settings, stop_signal()).await,
        };
        served.context("server failed")?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// The first start of a server of this version checks its older open visits once
/// ([`App::check_older_visits_once`]): on a thread of its own, once the server listens (`serve`
/// and `demo`, whose new database has none). On a province's server that is every open visit,
/// minutes of work, and before it the server did not listen for as long: devices' syncs
/// refused, a health check failing, perhaps a supervisor (systemd, a container runtime)
/// restarting it in the middle. Meanwhile it serves as usual: the check takes a hundred
/// households' locks a transaction, as pushes, approvals and other re-checks do, and writes a
/// visit's flags only if no push told it something meanwhile (`quality::refresh_ids`); a visit
/// pushed meanwhile is judged by its push. Each transaction notes the last household it went
/// through, and the check notes itself done at its end, so a server stopped before then goes
/// on from the household after it at its next start. A failure (a lost connection, say) is
/// logged and the check tried again, from where it stopped, after a wait that doubles from five
/// seconds to five minutes, eight tries in all (about ten minutes of waits), then at the next
/// start: a failure that stays (a corrupt row) does not retry every five minutes for ever. `verivali_visits_rechecked_total`
/// counts the visits checked.
fn check_older_visits_in_background(app: &Arc<App>) {
    let app = app.clone();
    let spawned = std::thread::Builder::new()
        .name("older-visits".into())
        .spawn(move || {
            let mut wait = std::time::Duration::from_secs(5);
            for attempt in 1u32..=8 {
                match app.check_older_visits_once() {
                    Ok(0) => return,
                    Ok(n) => {
                        tracing::info!(
                            checked = n,
                            "quality: open visits checked again (stored before quality control, or before two_visits counted one period)"
                        );
                        return;
                    }
                    Err(e) if attempt < 8 => tracing::error!(
                        code = %e.code,
                        detail = %e.detail,
                        attempt,
                        retry_in_s = wait.as_secs(),
                        "quality: checking older visits failed; trying again"
                    ),
                    Err(e) => {
                        tracing::error!(
                            code = %e.code,
                            detail = %e.detail,
                            attempt,
                            "quality: checking older visits failed; it is tried again at the next start"
                        );
                        return;
                    }
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(std::time::Duration::from_secs(300));
            }
        });
    if let Err(e) = spawned {
        tracing::error!(%e, "quality: could not start the check of older visits");
    }
}

/// SIGTERM (systemd, a container runtime) or Ctrl-C.
async fn stop_signal() {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    // Logged, not printed: whoever started the server may have closed its standard output, and a
    // failed print would panic in the middle of draining.
    tracing::info!("stopping: draining requests in flight");
}

/// Logs to standard error: `RUST_LOG` (default `info`), as text or JSON lines.
fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logs(&cli.log_format);
    match &cli.cmd {
        Cmd::Serve => {
            let app = Arc::new(open(&cli)?);
            let listen = cli
                .listen
                .clone()
                .unwrap_or_else(|| "127.0.0.1:8080".into());
            run_server(app, &listen, &cli.edge, &[])
        }
        Cmd::User {
            cmd:
                UserCmd::Add {
                    username,
                    role,
                    areas,
                    display_name,
                    password_stdin: _,
                },
        } => {
            let app = open(&cli)?;
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            let role = Role::parse(role).context("role")?;
            let id = app.add_user(
                username,
                display_name.as_deref().unwrap_or(username),
                role,
                areas,
                password,
            )?;
            println!("user {username} ({}) added: {id}", role.as_str());
            Ok(())
        }
        Cmd::User {
            cmd:
                UserCmd::List {
                    role,
                    area,
                    disabled,
                },
        } => {
            let app = open(&cli)?;
            let caller = verivali_server::app::Caller::operator();
            let list = app
                .list_users(
                    &caller,
                    role.as_deref(),
                    area.as_deref(),
                    disabled.then_some(true),
                    None,
                )
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.detail))?;
            for u in list.users {
                println!(
                    "{}\t{}\t{}\t{}\t{}{}",
                    u.username,
                    u.role.as_str(),
                    u.areas.join(","),
                    u.display_name,
                    if u.disabled { "disabled" } else { "active" },
                    if u.must_change_password {
                        " (one-time password)"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        Cmd::User {
            cmd:
                UserCmd::Set {
                    username,
                    display_name,
                    role,
                    areas,
                    disable,
                    enable,
                    reset_password,
                },
        } => {
            let app = open(&cli)?;
            let caller = verivali_server::app::Caller::operator();
            let coded =
                |e: verivali_server::error::ApiError| anyhow::anyhow!("{}: {}", e.code, e.detail);
            let user = app
                .list_users(&caller, None, None, None, None)
                .map_err(coded)?
                .users
                .into_iter()
                .find(|u| &u.username == username)
                .with_context(|| format!("no user {username}"))?;
            let patch = verivali_protocol::admin::UserPatch {
                display_name: display_name.clone(),
                role: role.clone(),
                areas: (!areas.is_empty()).then(|| areas.clone()),
                disabled: if *disable {
                    Some(true)
                } else if *enable {
                    Some(false)
                } else {
                    None
                },
                reset_password: *reset_password,
            };
            let changed = app.change_user(&caller, user.id, &patch).map_err(coded)?;
            let u = &changed.user;
            println!(
                "user {} ({}, {}): {}",
                u.username,
                u.role.as_str(),
                u.areas.join(","),
                if u.disabled { "disabled" } else { "active" }
            );
            if changed.assignments_ended > 0 {
                println!(
                    "{} assigned households are shared again",
                    changed.assignments_ended
                );
            }
            if let Some(p) = changed.one_time_password {
                println!("one-time password (shown once): {p}");
            }
            Ok(())
        }
        Cmd::Import {
            cmd: ImportCmd::Households { file },
        } => {
            let app = open(&cli)?;
            let f =
                std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rumah tangga {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let report = app.import_households(std::io::BufReader::new(f), &|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })?;
            bar.finish_and_clear();
            for w in &report.warnings {
                eprintln!("line {}: warning {}: {}", w.line, w.code, w.message);
            }
            for b in &report.bad_rows {
                eprintln!("line {}: {}: {}", b.line, b.code, b.message);
            }
            println!(
                "{} households created, {} updated, {} unchanged; {} members; {} bad rows, {} warnings",
                report.created,
                report.updated,
                report.unchanged,
                report.members,
                report.bad_rows.len(),
                report.warnings.len()
            );
            Ok(())
        }
        Cmd::Demo { households } => {
            let dir = cli.data_dir.join("demo");
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("clearing {}", dir.display()))?;
            }
            let url = format!("sqlite://{}", dir.join("server.db").display());
            let db = verivali_server::db::open(&url)?;
            let app = Arc::new(App::new(db, Arc::new(SystemClock), dir.clone())?);
            let accounts = app.seed_demo(*households)?;
            let listen = cli
                .listen
                .clone()
                .unwrap_or_else(|| "127.0.0.1:8080".into());
            let mut banner = vec![
                format!(
                    "Verivali demo: Desa Contoh ({}), {households} rumah tangga sintetis / synthetic households",
                    verivali_server::demo::DEMO_DESA
                ),
                "Akun demo / demo accounts (kata sandi acak / random passwords):".to_string(),
            ];
            for a in &accounts {
                banner.push(format!(
                    "  {:<15} {:<24} {:<11} wilayah {}",
                    a.username,
                    a.password,
                    a.role.as_str(),
                    a.area
                ));
            }
            run_server(app, &listen, &cli.edge, &banner)
        }
        Cmd::Export {
            cmd:
                ExportCmd::Visits {
                    state,
                    area,
                    format,
                    output,
                },
        } => {
            let app = open(&cli)?;
            let n = app.export_visits_cli(state, area.as_deref(), format, output)?;
            println!("{n} visits exported to {}", output.display());
            Ok(())
        }
        Cmd::Export {
            cmd: ExportCmd::Prepare,
        } => {
            let app = open(&cli)?;
            let n = app.prepare_export_cells()?;
            println!("{n} visits prepared for export");
            Ok(())
        }
        Cmd::Backup { output } => {
            let url = database_url(&cli);
            let c = verivali_server::backup::backup(&url, &cli.data_dir, output)?;
            print_copied(&c);
            println!("backup written to {}", output.display());
            Ok(())
        }
        Cmd::Restore { input } => {
            let url = database_url(&cli);
            let photos = verivali_server::backup::restore(input, &url, &cli.data_dir)?;
            println!(
                "restored into {url} with {photos} photos in {}",
                cli.data_dir.display()
            );
            Ok(())
        }
        Cmd::Migrate { to } => {
            let url = database_url(&cli);
            anyhow::ensure!(
                to.starts_with("postgres://") || to.starts_with("postgresql://"),
                "--to must be a postgres:// URL"
            );
            let from = verivali_server::db::open(&url).with_context(|| format!("opening {url}"))?;
            let target =
                verivali_server::db::open(to).context("opening the PostgreSQL database")?;
            let c = verivali_server::backup::migrate(from.as_ref(), target.as_ref())?;
            print_copied(&c);
            println!(
                "migrated; serve with --database set to the PostgreSQL URL (photos stay in {})",
                cli.data_dir.display()
            );
            Ok(())
        }
        Cmd::MakeCert { hosts, org, out } => {
            let today = chrono::Utc::now().date_naive();
            let f = verivali_server::certs::make(out, org, hosts, today)?;
            println!(
                "CA certificate (for devices, --ca-cert): {}",
                f.ca_cert.display()
            );
            println!(
                "CA key (keep offline):                 {}",
                f.ca_key.display()
            );
            println!(
                "server certificate (--tls-cert):        {}",
                f.cert.display()
            );
            println!(
                "server key (--tls-key):                 {}",
                f.key.display()
            );
            Ok(())
        }
        Cmd::Assign {
            enumerator,
            area,
            file,
            due,
            source,
        } => {
            let app = open(&cli)?;
            let caller = verivali_server::app::Caller::operator();
            let coded =
                |e: verivali_server::error::ApiError| anyhow::anyhow!("{}: {}", e.code, e.detail);
            if let Some(area) = area {
                let req = verivali_protocol::assignment::AssignRequest {
                    enumerator: enumerator.clone(),
                    household_ids: None,
                    area: Some(area.clone()),
                    due_date: due
                        .as_deref()
                        .map(verivali_domain::assignment::due_date)
                        .transpose()
                        .map_err(|e| anyhow::anyhow!("--due: {e}"))?
                        .flatten(),
                    source: source
                        .as_deref()
                        .map(verivali_domain::assignment::source)
                        .transpose()
                        .map_err(|e| anyhow::anyhow!("--source: {e}"))?,
                    note: None,
                };
                let r = app.assign(&caller, &req).map_err(coded)?;
                println!(
                    "{} assigned, {} reassigned, {} updated",
                    r.assigned, r.reassigned, r.updated
                );
                return Ok(());
            }
            let path = file
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("--area or --file is required"))?;
            let text = std::fs::read_to_string(path)?;
            // The target list's first column, with this call's enumerator and terms, as an import.
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
            let mut import = csv::Writer::from_writer(Vec::new());
            import.write_record(verivali_server::assignments::IMPORT_HEADER)?;
            for rec in reader.records() {
                let rec = rec?;
                let id = rec.get(0).unwrap_or("");
                import.write_record([
                    id,
                    enumerator.as_str(),
                    due.as_deref().unwrap_or(""),
                    source.as_deref().unwrap_or(""),
                    "",
                ])?;
            }
            let r = app
                .import_assignments(&caller, &import.into_inner()?)
                .map_err(coded)?;
            println!(
                "{} assigned, {} reassigned, {} updated, {} rows refused",
                r.assigned,
                r.reassigned,
                r.updated,
                r.rejected.len()
            );
            for p in &r.rejected {
                eprintln!("row {}: {} ({})", p.line, p.message, p.code);
            }
            if !r.rejected.is_empty() {
                std::process::exit(2);
            }
            Ok(())
        }
        Cmd::Device {
            cmd: DeviceCmd::Revoke { id, wipe },
        } => {
            let app = open(&cli)?;
            app.revoke_device(None, *id, *wipe)
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.detail))?;
            if *wipe {
                println!("device {id} revoked; it sends what it holds, then erases itself");
            } else {
                println!("device {id} revoked");
            }
            Ok(())
        }
        Cmd::Questionnaire {
            cmd: QuestionnaireCmd::Publish { file },
        } => {
            let app = open(&cli)?;
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let mut caller = verivali_server::app::Caller::operator();
            caller.lang = verivali_domain::Lang::En;
            let d = match app.upload_questionnaire(&caller, &bytes) {
                Ok(d) => d,
                Err(e) => {
                    if let Some((_, issues)) = e.extra.iter().find(|(k, _)| *k == "issues") {
                        for i in issues.as_array().into_iter().flatten() {
                            eprintln!(
                                "{}: {} ({})",
                                i["path"].as_str().unwrap_or(""),
                                i["message"].as_str().unwrap_or(""),
                                i["code"].as_str().unwrap_or("")
                            );
                        }
                    }
                    anyhow::bail!("{}: {}", e.code, e.detail);
                }
            };
            let p = app
                .publish_draft(&caller, d.id)
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.detail))?;
            println!("published {} version {}", p.questionnaire_id, p.version);
            Ok(())
        }
        Cmd::Quality {
            cmd: QualityCmd::Thresholds { set },
        } => {
            let app = open(&cli)?;
            let op = verivali_server::app::Caller::operator();
            let fail =
                |e: verivali_server::error::ApiError| anyhow::anyhow!("{}: {}", e.code, e.detail);
            if let Some(file) = set {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?;
                let t: verivali_domain::quality::Thresholds = serde_json::from_str(&text)
                    .with_context(|| format!("{}: not thresholds JSON", file.display()))?;
                let n = app.set_quality_thresholds(&op, &t).map_err(fail)?;
                eprintln!("thresholds set; {n} open visits checked again");
            }
            let t = app.quality_thresholds(&op).map_err(fail)?;
            println!("{}", serde_json::to_string_pretty(&t)?);
            Ok(())
        }
        Cmd::Region {
            cmd: RegionCmd::Import { file },
        } => {
            let app = open(&cli)?;
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let r = app
                .import_regions(&verivali_server::app::Caller::operator(), &bytes)
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.detail))?;
            println!(
                "{} names written, {} unchanged, {} rejected",
                r.imported,
                r.unchanged,
                r.rejected.len()
            );
            for p in &r.rejected {
                eprintln!("line {}: {} ({})", p.line, p.message, p.code);
            }
            if !r.rejected.is_empty() {
                std::process::exit(2);
            }
            Ok(())
        }
        Cmd::Device {
            cmd: DeviceCmd::List { area },
        } => {
            let app = open(&cli)?;
            let list = app
                .list_devices(&verivali_server::app::Caller::operator(), area.as_deref())
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.detail))?;
            for d in list.devices {
                let state = match (d.wiped_at, d.wipe_requested_at, d.revoked_at) {
                    (Some(at), _, _) => format!("wiped {}", at.to_rfc3339()),
                    (None, Some(_), _) => "wipe pending".to_string(),
                    (None, None, Some(at)) => format!("revoked {}", at.to_rfc3339()),
                    _ => "active".to_string(),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{state}",
                    d.id,
                    d.username,
                    d.name,
                    d.app_version,
                    d.last_seen.to_rfc3339(),
                    d.last_push.map_or("-".to_string(), |t| t.to_rfc3339()),
                    d.acked_seq
                );
            }
            Ok(())
        }
    }
}

//! `verivali-server`: the central server and its admin jobs (DESIGN.md §6).

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use verivali_domain::Role;
use verivali_domain::clock::SystemClock;
use verivali_server::App;

#[derive(Parser)]
#[command(name = "verivali-server", version, about = "Verivali central server")]
struct Cli {
    /// sqlite://PATH (default sqlite://verivali-data/server.db) or postgres://URL
    #[arg(long, global = true)]
    database: Option<String>,
    /// Address to listen on (serve)
    #[arg(long, global = true)]
    listen: Option<String>,
    /// Folder for attachments and other files
    #[arg(long, global = true, default_value = "verivali-data")]
    data_dir: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
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
    /// Export data
    Export {
        #[command(subcommand)]
        cmd: ExportCmd,
    },
}

#[derive(Subcommand)]
enum ExportCmd {
    /// Export reviewed visits for the ministry upload (CSV or XLSX)
    Visits {
        /// Review state of the visits to export
        #[arg(long, default_value = "approved", value_parser = ["approved", "submitted", "rejected", "draft"])]
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
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user; the password is read from standard input
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = ["enumerator", "supervisor", "admin"])]
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
}

#[derive(Subcommand)]
enum ImportCmd {
    /// Import the DTSEN household baseline (one row per member)
    Households { file: PathBuf },
}

#[derive(Subcommand)]
enum DeviceCmd {
    /// Revoke a device: its tokens stop working at once
    Revoke { id: uuid::Uuid },
}

fn open(cli: &Cli) -> anyhow::Result<App> {
    let url = cli
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", cli.data_dir.join("server.db").display()));
    let db = verivali_server::db::open(&url).with_context(|| format!("opening {url}"))?;
    App::new(db, Arc::new(SystemClock), cli.data_dir.clone())
}

/// Serves `app` on `listen` until Ctrl-C, printing `banner` lines and the address first.
fn run_server(app: Arc<App>, listen: &str, banner: &[String]) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        for line in banner {
            println!("{line}");
        }
        println!(
            "verivali-server listening on http://{}",
            listener.local_addr()?
        );
        tokio::select! {
            r = verivali_server::http::serve(app, listener) => r.context("server failed"),
            _ = tokio::signal::ctrl_c() => { println!("stopping"); Ok(()) }
        }
    })
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.cmd {
        Cmd::Serve => {
            let app = Arc::new(open(&cli)?);
            let listen = cli
                .listen
                .clone()
                .unwrap_or_else(|| "127.0.0.1:8080".into());
            run_server(app, &listen, &[])
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
            run_server(app, &listen, &banner)
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
        Cmd::Device {
            cmd: DeviceCmd::Revoke { id },
        } => {
            let app = open(&cli)?;
            app.revoke_device(None, *id)
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.detail))?;
            println!("device {id} revoked");
            Ok(())
        }
    }
}

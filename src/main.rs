//! `hotline`: the command line. `serve` runs the engine; `check` validates configuration;
//! `migrate` applies the case database's migrations; `admin create` adds the first admin.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use hotline::config::Config;

#[derive(Parser)]
#[command(
    name = "hotline",
    version,
    about = "A self-hosted telephony engine for call centres and hotlines"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine (SIP on UDP and TCP, HTTP for /healthz and /metrics).
    Serve {
        /// Configuration file; without it the embedded default is used.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// SIP listen address (UDP and TCP), overriding the configuration.
        #[arg(long, value_name = "ADDR:PORT")]
        sip: Option<SocketAddr>,
        /// HTTP listen address, overriding the configuration.
        #[arg(long, value_name = "ADDR:PORT")]
        http: Option<SocketAddr>,
        /// Data directory, overriding the configuration.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
    /// Validate configuration files; exit 0 when all are valid, 1 with `file:line:col: message`
    /// lines when not.
    Check {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Apply the case database's migrations and exit (`DATABASE_URL`, else
    /// `<data>/hotline.db`).
    Migrate {
        /// Data directory (default: the embedded configuration's, ./data).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
    /// Administer tenants and users.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user with the admin role, creating the tenant when missing.
    Create {
        #[arg(long, value_name = "TENANT")]
        tenant: String,
        #[arg(long, value_name = "NAME")]
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Data directory (default: the embedded configuration's, ./data).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { files } => check(&files),
        Command::Migrate { data } => report(block_on(migrate(data_dir(data)))),
        Command::Admin {
            command:
                AdminCommand::Create {
                    tenant,
                    username,
                    password_stdin: _,
                    data,
                },
        } => report(block_on(admin_create(data_dir(data), tenant, username))),
        Command::Serve {
            config,
            sip,
            http,
            data,
        } => {
            hotline::logging::init();
            let mut cfg = match config {
                None => Config::embedded(),
                Some(path) => match Config::load(&path) {
                    Ok(c) => c,
                    Err(errors) => {
                        eprintln!("{errors}");
                        return ExitCode::from(1);
                    }
                },
            };
            if let Some(sip) = sip {
                cfg.sip_listen = sip;
            }
            if let Some(http) = http {
                cfg.http_listen = http;
            }
            if let Some(data) = data {
                cfg.data_dir = data;
            }
            match serve(cfg) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("hotline: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

fn serve(cfg: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hotline")
        .build()?;
    runtime.block_on(hotline::engine::run(cfg))
}

fn data_dir(data: Option<PathBuf>) -> PathBuf {
    data.unwrap_or_else(|| Config::embedded().data_dir)
}

fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hotline: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn open_db(data: &std::path::Path) -> anyhow::Result<hotline_case_api::Db> {
    use anyhow::Context;
    std::fs::create_dir_all(data)
        .with_context(|| format!("cannot create data directory {}", data.display()))?;
    let db = hotline_case_api::Db::from_env(data)
        .await
        .context("cannot open the case database")?;
    db.migrate()
        .await
        .context("cannot migrate the case database")?;
    Ok(db)
}

async fn migrate(data: PathBuf) -> anyhow::Result<()> {
    let db = open_db(&data).await?;
    db.close().await;
    println!("case database migrated ({:?})", db.backend());
    Ok(())
}

async fn admin_create(data: PathBuf, tenant: String, username: String) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        anyhow::bail!("no password on standard input");
    }
    let db = open_db(&data).await?;
    let now_ms = hotline_case_api::Clock::system().now_ms();
    let id = hotline_case_api::auth::create_user(
        &db,
        &tenant,
        &username,
        password,
        hotline_case_api::Role::Admin,
        hotline_case_api::PasswordCost::default(),
        now_ms,
    )
    .await;
    db.close().await;
    let id = id?;
    println!("created admin {username} (user {id}) in tenant {tenant}");
    Ok(())
}

fn check(files: &[PathBuf]) -> ExitCode {
    let mut ok = true;
    for file in files {
        match Config::load(file) {
            Ok(_) => {}
            Err(errors) => {
                ok = false;
                println!("{errors}");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

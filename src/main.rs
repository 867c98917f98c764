//! `hotline`: the command line. `serve` runs the engine; `check` validates configuration.

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { files } => check(&files),
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

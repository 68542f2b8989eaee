//! `winventory serve`: the read-only web dashboard of a database (`winv_report::web`).
//! Loopback by default; on any other address a token is required, read from the
//! environment (`WINVENTORY_TOKEN`) or an owner-only file (`--token-file`), never argv.

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use winv_report::{policy, web};

use crate::dbargs::DbArgs;

/// The environment variable that holds the dashboard's token.
pub const TOKEN_ENV: &str = "WINVENTORY_TOKEN";

/// Arguments of `winventory serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,

    /// The address to listen on. Loopback needs no token; any other address requires
    /// one (WINVENTORY_TOKEN or --token-file). Port 0: the system chooses.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Show this run by default (else the newest).
    #[arg(long, value_name = "ID")]
    pub run: Option<i64>,

    /// A file holding the token (owner-only permissions), instead of WINVENTORY_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

fn read_token(args: &ServeArgs) -> Result<Option<String>> {
    if let Some(path) = &args.token_file {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot read token file {}", path.display()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            bail!(
                "token file {} is readable by others: chmod 600 it",
                path.display()
            );
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read token file {}", path.display()))?;
        let t = text.trim().to_string();
        if t.is_empty() {
            bail!("token file {} is empty", path.display());
        }
        return Ok(Some(t));
    }
    Ok(std::env::var(TOKEN_ENV)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

/// Runs `serve` until interrupted.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let token = read_token(&args)?;
    policy::check_token_setup(args.listen.ip(), token.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async move {
        let store = args.db.open_existing().await?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr().context("listener address")?;
        let host = if addr.ip().is_ipv6() {
            format!("[{}]:{}", addr.ip(), addr.port())
        } else {
            addr.to_string()
        };
        // The first line on stdout is the address (scripts and tests read it).
        println!("listening on http://{host}/");
        let _ = std::io::stdout().flush();
        if token.is_some() {
            eprintln!(
                "winventory serve: a token is required on every request \
                 (Authorization: Bearer, or open http://{host}/?token=... once); read-only"
            );
        } else {
            eprintln!("winventory serve: loopback only, no token; read-only; Ctrl-C to stop");
        }
        let state = web::AppState::new(store.clone(), args.run, token, web::hosts_for(addr));
        let app = web::router(state);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("dashboard server failed")?;
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

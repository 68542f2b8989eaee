//! `winventory trace`: the network-level view of a capture.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

/// Arguments of `winventory trace`.
#[derive(Args, Debug)]
pub struct TraceArgs {
    /// A packet capture (pcap or pcapng).
    file: PathBuf,
    /// Name of an environment variable holding the NT password of the captured
    /// NTLM logon; sealed PDUs are then decrypted and every signature verified.
    #[arg(long, value_name = "VAR")]
    nt_password_env: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `trace`.
pub fn run(args: TraceArgs) -> anyhow::Result<ExitCode> {
    let data = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let _ = data;
    anyhow::bail!("trace is not implemented yet")
}

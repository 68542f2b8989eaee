//! `winventory sim`: serves simulated Windows hosts (DCOM/WMI over DCE/RPC) on
//! loopback or other local addresses until interrupted.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use winv_sim::fleet::{expand_name, Fleet};
use winv_sim::server::{Listen, ListenOptions, SimServer};

/// Arguments of `winventory sim`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// Serve one healthy host (the default profile) at this address; repeat for more.
    #[arg(long = "address", value_name = "ADDR", conflicts_with = "fleet")]
    addresses: Vec<IpAddr>,
    /// The account the single hosts accept, `DOMAIN\user`.
    #[arg(long, default_value = "LAB\\admin", conflicts_with = "fleet")]
    user: String,
    /// Environment variable holding that account's password (never on the command line).
    #[arg(long, value_name = "VAR", conflicts_with = "fleet")]
    password_env: Option<String>,
    /// A fleet file (TOML; see docs/fleet.md) describing many hosts and their faults.
    #[arg(long, value_name = "FILE")]
    fleet: Option<PathBuf>,
    /// The endpoint mapper / activation port.
    #[arg(long, default_value_t = 135)]
    port: u16,
    /// The dynamic endpoint named in the OXID bindings (0: chosen by the system).
    #[arg(long, default_value_t = 0)]
    dynamic_port: u16,
    /// Listen on this one address for every host (e.g. 0.0.0.0) instead of one
    /// socket per host address; needed for fleets of thousands of hosts.
    #[arg(long, value_name = "ADDR")]
    wildcard: Option<IpAddr>,
    /// Send each answer this many milliseconds after its request came in: a network's
    /// round trip, for benchmarks (the TCP handshake is not delayed).
    #[arg(long, default_value_t = 0, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=10_000))]
    latency_ms: u64,
}

/// Says why the command line is refused; the usage exit code.
fn usage(msg: &str) -> ExitCode {
    eprintln!("winventory: {msg}");
    ExitCode::from(crate::exitcode::USAGE)
}

/// Runs the simulator until Ctrl-C.
pub fn run(args: SimArgs) -> Result<ExitCode> {
    let fleet = match (&args.fleet, args.addresses.is_empty()) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read fleet file {}", path.display()))?;
            Fleet::parse(&text).with_context(|| format!("bad fleet file {}", path.display()))?
        }
        (None, false) => {
            let Some(var) = args.password_env.as_deref() else {
                return Ok(usage(
                    "--address needs --password-env VAR naming the password's variable",
                ));
            };
            let mut fleet = Fleet::default();
            for (i, a) in args.addresses.iter().enumerate() {
                for mut host in Fleet::single(*a, &args.user, var).hosts {
                    host.name = expand_name("SIM{n:05}", i + 1, *a);
                    host.seed = i as u64;
                    fleet.push(host);
                }
            }
            fleet
        }
        (None, true) => {
            return Ok(usage(
                "give --address ADDR (with --password-env) or --fleet FILE",
            ))
        }
    };
    // A host whose password variable is unset would start and refuse every logon: say so
    // instead of printing "ready".
    let unset = fleet.unset_password_vars();
    if !unset.is_empty() {
        return Ok(usage(&format!(
            "password variable{} {} not set or empty: the simulated hosts would refuse every \
             logon; export {} before starting",
            if unset.len() == 1 { "" } else { "s" },
            unset.join(", "),
            unset.iter().map(|v| format!("{v}=...")).collect::<Vec<_>>().join(" ")
        )));
    }
    let opts = ListenOptions {
        epm_port: args.port,
        dynamic_port: args.dynamic_port,
        listen: match args.wildcard {
            Some(a) => Listen::Wildcard(a),
            None => Listen::PerAddress,
        },
        limits: winv_sim::server::ConnLimits {
            latency: std::time::Duration::from_millis(args.latency_ms),
            ..winv_sim::server::ConnLimits::default()
        },
        ..ListenOptions::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async move {
        let sim = SimServer::start(fleet, opts)
            .await
            .context("cannot listen (port 135 needs root or CAP_NET_BIND_SERVICE)")?;
        println!(
            "winventory sim: ready hosts={} port={} dynamic_port={}",
            sim.hosts, sim.epm_port, sim.dynamic_port
        );
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
        sim.stop().await;
        Ok(ExitCode::SUCCESS)
    })
}

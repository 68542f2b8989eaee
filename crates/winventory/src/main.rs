//! `winventory`: agentless inventory of Windows fleets over WMI, from Linux.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// mimalloc instead of glibc's allocator: a scan allocates and frees per PDU, per object
/// and per row from many tasks, and the profile of the fleet benchmark put glibc's
/// malloc, free and chunk consolidation at about a quarter of the scanner's CPU
/// (benches/README.md, "profile"). The `system-allocator` feature keeps glibc's, for heap
/// profilers that wrap malloc (heaptrack: `BENCH_HEAPTRACK` in benches/scan_fleet.sh).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod accounts;
mod connopts;
mod credentials;
mod dbargs;
mod decode;
mod demo;
mod diagnose;
mod discover;
mod exitcode;
mod explain;
mod limits;
mod password;
mod perf;
mod query;
mod report;
mod scan;
mod serve;
mod sim;
mod status;
mod stop;
mod targets;
mod trace;

/// Agentless inventory of Windows fleets over WMI (DCOM/RPC, NTLMv2, signed and sealed).
#[derive(Parser, Debug)]
#[command(name = "winventory", version, about, long_about = None)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `debug` or `winv_rpc=trace`.
    #[arg(long, global = true, env = "WINVENTORY_LOG", default_value = "warn")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Inventory computers over WMI into the database (SQLite or PostgreSQL), with MAP's
    /// statuses and retry rules (resume a stopped run with --resume; share a run among
    /// scanners with --shared and --join).
    Scan(Box<scan::ScanArgs>),
    /// Read a run back from the database: the summary by status, per-class counts, and
    /// the failed computers.
    Status(status::StatusArgs),
    /// Scan a simulated fleet of a few hundred hosts (healthy and faulty) on loopback
    /// into a SQLite file, and print the summary.
    Demo(demo::DemoArgs),
    /// Walk the WMI connection flow against one host step by step, explain the first
    /// failure from the knowledge base and narrow its cause with extra probes.
    Diagnose(Box<diagnose::DiagnoseArgs>),
    /// Read a packet capture and print every DCE/RPC PDU per connection,
    /// decrypting and verifying sealed ones when given the NT password.
    Trace(trace::TraceArgs),
    /// Explain an error code or status: layer, causes, checks and remediation
    /// (hex, decimal, symbolic name or status identifier).
    Explain(explain::ExplainArgs),
    /// Find computers in Active Directory (LDAP over TLS), or expand target
    /// specifications and files, into a target file or JSON lines.
    Discover(Box<discover::DiscoverArgs>),
    /// Serve simulated Windows hosts (DCOM/WMI) on local addresses until interrupted.
    Sim(sim::SimArgs),
    /// Run one WQL query against one host over DCOM/WMI and print the rows
    /// (exit codes in `winventory query --help`).
    Query(Box<query::QueryArgs>),
    /// Decode an MS-WMIO EncodingUnit or an OBJREF from a file.
    Decode(decode::DecodeArgs),
    /// Performance metrics over time: CPU, memory, disk and network of each machine,
    /// sampled every interval from the raw performance classes.
    Perf(Box<perf::PerfArgs>),
    /// Write a run as a report: an xlsx workbook, CSV files, JSON or one HTML file.
    Report(report::ReportArgs),
    /// Serve a read-only web dashboard of the database (loopback by default).
    Serve(serve::ServeArgs),
    /// Stop a run for every scanner of it (a shared run: `scan --join RUN` continues it).
    Stop(stop::StopArgs),
}

/// The command line, with the exit-code table after every command's help (one table,
/// [`exitcode::TABLE`], whatever the command).
fn parse() -> Cli {
    let with_table = |c: clap::Command| {
        let after = match c.get_after_help() {
            Some(h) => format!("{h}\n\n{}", exitcode::TABLE),
            None => exitcode::TABLE.to_string(),
        };
        c.after_help(after)
    };
    let cmd = with_table(Cli::command()).mut_subcommands(with_table);
    let matches = cmd.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn main() -> ExitCode {
    let cli = parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    limits::raise_open_files();

    let result = match cli.command {
        Command::Scan(args) => scan::run(*args),
        Command::Status(args) => status::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Diagnose(args) => diagnose::run(*args),
        Command::Trace(args) => trace::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Discover(args) => discover::run(*args),
        Command::Sim(args) => sim::run(args),
        Command::Query(args) => query::run(*args),
        Command::Decode(args) => decode::run(args),
        Command::Perf(args) => perf::run(*args),
        Command::Report(args) => report::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Stop(args) => stop::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("winventory: {e:#}");
            ExitCode::from(exitcode::OTHER)
        }
    }
}

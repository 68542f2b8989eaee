//! `winventory discover`: computers from Active Directory over LDAP with TLS,
//! or target specifications (names, addresses, CIDR and address ranges,
//! files) expanded and normalized; written as a target file or JSON lines.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use winv_discovery::ad::{self, AdConfig, BindCredentials, SearchScope, TlsVerify};
use winv_discovery::output;
use winv_discovery::resolve::{DnsServer, ResolveConfig, Resolver};
use winv_discovery::targets::{ParseOptions, DEFAULT_MAX_ADDRESSES};

use crate::exitcode;
use crate::password::read_password;
use crate::targets::{self, Gathered, Sources};

/// Search scope below the base.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ScopeArg {
    /// The whole subtree.
    Sub,
    /// Direct children of the base only.
    One,
}

#[derive(Args, Debug)]
pub struct DiscoverArgs {
    /// Directory to search: `ldaps://HOST[:PORT]`, `ldap://HOST[:PORT]`
    /// (upgraded with StartTLS) or a DNS domain (DC found from SRV records).
    #[arg(long, value_name = "URL|DOMAIN", conflicts_with_all = ["targets", "specs"])]
    pub ad: Option<String>,
    /// Search base DN (default: the directory's defaultNamingContext).
    #[arg(long, value_name = "DN", requires = "ad")]
    pub base: Option<String>,
    /// Search scope below the base.
    #[arg(long, value_enum, default_value = "sub")]
    pub scope: ScopeArg,
    /// Extra LDAP filter, ANDed with (objectCategory=computer).
    #[arg(long, value_name = "FILTER", requires = "ad")]
    pub filter: Option<String>,
    /// Bind as this user: `user@realm`, `DOMAIN\user` or a DN.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Read the bind password from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    pub password_env: Option<String>,
    /// Read the bind password from this file (must be mode 600 or stricter).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Trust only the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure_skip_verify")]
    pub ca_file: Option<PathBuf>,
    /// DANGEROUS: do not check the directory's certificate; anyone on the path
    /// can read the bind password.
    #[arg(long)]
    pub insecure_skip_verify: bool,
    /// DNS server for the directory's name and SRV records: ADDR[:PORT]
    /// (default: the system configuration).
    #[arg(long, value_name = "ADDR[:PORT]")]
    pub dns_server: Option<String>,
    /// Computers not logged on for more than this many days are stale.
    #[arg(long, default_value_t = ad::DEFAULT_STALE_DAYS)]
    pub stale_days: u32,
    /// Keep disabled computer accounts.
    #[arg(long)]
    pub include_disabled: bool,
    /// Keep stale computer accounts.
    #[arg(long)]
    pub include_stale: bool,
    /// Entries per page of the paged search.
    #[arg(long, default_value_t = ad::DEFAULT_PAGE_SIZE, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub page_size: u32,
    /// Deadline in seconds for connect + TLS, and for the bind and each page.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
    /// Expand and normalize the targets in this file.
    #[arg(long, value_name = "FILE", help = targets::FILE_HELP)]
    pub targets: Option<PathBuf>,
    /// Most addresses one range may expand to.
    #[arg(long, default_value_t = DEFAULT_MAX_ADDRESSES)]
    pub max_addresses: u64,
    /// Target specifications: names, addresses, CIDR or address ranges; one that is none
    /// of these refuses the command line (exit 2).
    #[arg(value_name = "TARGET")]
    pub specs: Vec<String>,
    /// JSON lines, one object per computer or target.
    #[arg(long)]
    pub json: bool,
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: DiscoverArgs) -> Result<ExitCode> {
    let mut out = LazyOutput {
        path: args.output.clone(),
        w: None,
    };
    let code = if args.ad.is_some() {
        run_ad(&args, &mut out)?
    } else {
        run_targets(&args, &mut out, &mut io::stderr().lock())?
    };
    out.flush().context("write output")?;
    Ok(code)
}

/// The output (`-o FILE` or standard output), opened at the first byte written: a refused
/// target list or a failed directory search leaves an existing file as it was.
struct LazyOutput {
    path: Option<PathBuf>,
    w: Option<Box<dyn Write>>,
}

impl LazyOutput {
    fn get(&mut self) -> io::Result<&mut Box<dyn Write>> {
        if self.w.is_none() {
            let w: Box<dyn Write> = match &self.path {
                Some(p) => Box::new(BufWriter::new(File::create(p).map_err(|e| {
                    io::Error::new(e.kind(), format!("create {}: {e}", p.display()))
                })?)),
                None => Box::new(BufWriter::new(io::stdout().lock())),
            };
            self.w = Some(w);
        }
        self.w
            .as_mut()
            .ok_or_else(|| io::Error::other("output not open"))
    }
}

impl Write for LazyOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.get()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.w {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

fn ad_config(args: &DiscoverArgs) -> Result<AdConfig> {
    let target = args.ad.clone().context("--ad missing")?;
    let mut c = AdConfig::new(target);
    c.base = args.base.clone();
    c.scope = match args.scope {
        ScopeArg::Sub => SearchScope::Sub,
        ScopeArg::One => SearchScope::One,
    };
    c.filter = args.filter.clone();
    c.tls = match (&args.ca_file, args.insecure_skip_verify) {
        (Some(f), _) => TlsVerify::CaFile(f.clone()),
        (None, true) => TlsVerify::InsecureSkip,
        (None, false) => TlsVerify::SystemRoots,
    };
    c.page_size = args.page_size;
    c.stale_days = args.stale_days;
    c.include_disabled = args.include_disabled;
    c.include_stale = args.include_stale;
    c.connect_timeout = Duration::from_secs(args.timeout_secs.max(1));
    c.op_timeout = Duration::from_secs(args.timeout_secs.max(1));
    Ok(c)
}

fn run_ad(args: &DiscoverArgs, out: &mut dyn Write) -> Result<ExitCode> {
    let mut cfg = ad_config(args)?;
    if args.insecure_skip_verify {
        eprintln!(
            "winventory: WARNING: --insecure-skip-verify: the directory's certificate is NOT checked; \
             the bind password can be read by anyone on the path"
        );
    }
    if let Some(user) = &args.user {
        let pw = read_password(
            user,
            args.password_env.as_deref(),
            args.password_file.as_deref(),
            true,
        )?;
        cfg.credentials = Some(BindCredentials::new(user.clone(), pw.expose()));
    } else if args.password_env.is_some() || args.password_file.is_some() {
        bail!("a password was given without --user");
    }
    let server = match &args.dns_server {
        Some(s) => DnsServer::parse(s)?,
        None => DnsServer::System,
    };
    let resolver = Resolver::new(ResolveConfig {
        server,
        ..ResolveConfig::default()
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start runtime")?;
    let d = rt.block_on(ad::discover(&cfg, &resolver))?;
    if args.json {
        output::write_ad_json(out, &d).context("write output")?;
    } else {
        output::write_ad_targets(out, &d).context("write output")?;
    }
    eprintln!(
        "discovered {} computers in {} ({} pages): {} kept, {} skipped disabled, {} skipped stale, {} without dNSHostName",
        d.counts.found,
        d.base,
        d.pages,
        d.counts.kept,
        d.counts.skipped_disabled,
        d.counts.skipped_stale,
        d.counts.without_dns_host_name
    );
    Ok(ExitCode::SUCCESS)
}

fn run_targets(args: &DiscoverArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitCode> {
    if args.targets.is_none() && args.specs.is_empty() {
        bail!("nothing to discover: give --ad, --targets FILE or target specifications");
    }
    let sources = Sources {
        specs: &args.specs,
        file: args.targets.as_deref(),
        opts: ParseOptions {
            max_addresses: args.max_addresses,
            ..ParseOptions::default()
        },
    };
    let (set, source) = match targets::gather(&sources, err)? {
        Gathered::Targets { set, source } => (set, source),
        Gathered::Refused(code) => return Ok(code),
    };
    if args.json {
        output::write_targets_json(out, set.targets()).context("write output")?;
    } else {
        output::write_targets(out, set.targets(), &format!("targets from {source}"))
            .context("write output")?;
    }
    let _ = writeln!(
        err,
        "{} targets, {} duplicates merged, {} bad lines skipped",
        set.targets().len(),
        set.duplicates,
        set.bad.len()
    );
    Ok(ExitCode::from(exitcode::OK))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct T {
        #[command(flatten)]
        a: DiscoverArgs,
    }

    #[test]
    fn parses_ad_options() {
        let t = T::try_parse_from([
            "x",
            "--ad",
            "ldaps://dc1.corp",
            "--base",
            "OU=A,DC=corp",
            "--scope",
            "one",
            "--filter",
            "(name=PC*)",
            "--user",
            "a@corp",
            "--password-env",
            "PW",
            "--ca-file",
            "/ca.pem",
            "--stale-days",
            "30",
            "--include-disabled",
            "--page-size",
            "50",
            "--json",
            "-o",
            "out.txt",
        ])
        .unwrap();
        let c = ad_config(&t.a).unwrap();
        assert_eq!(c.scope, SearchScope::One);
        assert_eq!(c.tls, TlsVerify::CaFile("/ca.pem".into()));
        assert_eq!((c.stale_days, c.page_size), (30, 50));
        assert!(c.include_disabled && !c.include_stale);
        assert_eq!(c.base.as_deref(), Some("OU=A,DC=corp"));
    }

    #[test]
    fn refuses_conflicts_and_no_password_on_argv() {
        // No --password option exists at all.
        assert!(T::try_parse_from(["x", "--ad", "corp.test", "--password", "p"]).is_err());
        assert!(T::try_parse_from([
            "x",
            "--ad",
            "d.test",
            "--ca-file",
            "c",
            "--insecure-skip-verify"
        ])
        .is_err());
        assert!(T::try_parse_from(["x", "--ad", "d.test", "10.0.0.1"]).is_err());
        assert!(T::try_parse_from([
            "x",
            "--password-env",
            "A",
            "--password-file",
            "f",
            "--ad",
            "d.test"
        ])
        .is_err());
        assert!(T::try_parse_from(["x", "--page-size", "0", "--ad", "d.test"]).is_err());
        let t = T::try_parse_from(["x", "--ad", "d.test", "--insecure-skip-verify"]).unwrap();
        assert_eq!(ad_config(&t.a).unwrap().tls, TlsVerify::InsecureSkip);
    }

    #[test]
    fn expands_specs_to_target_file() {
        let dir = std::env::temp_dir().join(format!("winv-disc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("t.txt");
        std::fs::write(&f, "# list\npc1\nbad!\n10.0.0.1-2\n").unwrap();
        let t =
            T::try_parse_from(["x", "--targets", f.to_str().unwrap(), "10.0.0.2", "pc0"]).unwrap();
        let mut out = Vec::new();
        let mut err = Vec::new();
        // The bad line is reported and skipped; valid targets remain: success.
        let code = run_targets(&t.a, &mut out, &mut err).unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        let text = String::from_utf8(out).unwrap();
        let hosts: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(hosts, ["10.0.0.2", "pc0", "pc1", "10.0.0.1"]);
        let err = String::from_utf8(err).unwrap();
        assert!(err.contains("line 3: invalid target \"bad!\" (skipped)"), "{err}");
        // A bad argument refuses the command line.
        let t = T::try_parse_from(["x", "10.0.0.0/8"]).unwrap();
        let mut err = Vec::new();
        let code = run_targets(&t.a, &mut Vec::new(), &mut err).unwrap();
        assert_eq!(code, ExitCode::from(2));
        let err = String::from_utf8(err).unwrap();
        assert!(err.contains("more than the limit"), "{err}");
        // A refused list leaves an existing output file as it was.
        let kept = dir.join("kept.txt");
        std::fs::write(&kept, "pc9\n").unwrap();
        let bad = dir.join("bad.txt");
        std::fs::write(&bad, "not a host name!\n").unwrap();
        let t = T::try_parse_from([
            "x",
            "--targets",
            bad.to_str().unwrap(),
            "-o",
            kept.to_str().unwrap(),
        ])
        .unwrap();
        assert_eq!(run(t.a).unwrap(), ExitCode::from(2));
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "pc9\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

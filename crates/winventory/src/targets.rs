//! The one reading of targets for every command that takes them (`scan`, `discover`,
//! `perf`): TARGET arguments and a `--targets FILE` (or `-` for standard input), parsed
//! by [`winv_discovery::targets`] and reported the same way everywhere.
//!
//! The rule, documented in each command's help ([`FILE_HELP`]):
//! - a TARGET argument that is not a valid target refuses the command line (exit 2,
//!   nothing is done): the person who typed it is there to fix it;
//! - a line of a target file is one target; a bad line is reported on standard error
//!   with the file's name and the line's number and skipped whole;
//! - when no valid target remains, the command stops with exit 2.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use winv_discovery::targets::{BadLine, ParseOptions, TargetSet};

use crate::exitcode;

/// What the help of `--targets` says, the same in every command.
pub const FILE_HELP: &str = "A file of targets, one per line (`-`: standard input); `#` \
     starts a comment. A line that is not one valid name, address, range or CIDR block is \
     reported with its number and skipped whole; with no valid target left the command \
     exits 2";

/// Where the targets come from.
pub struct Sources<'a> {
    /// The TARGET arguments.
    pub specs: &'a [String],
    /// `--targets FILE`.
    pub file: Option<&'a Path>,
    /// The limits.
    pub opts: ParseOptions,
}

/// The targets read, or the exit code of a refusal already reported on standard error.
pub enum Gathered {
    /// The targets, with the bad lines that were reported and skipped.
    Targets {
        /// Every valid target, first occurrence order, duplicates merged.
        set: TargetSet,
        /// `command line`, `standard input` or the file's name.
        source: String,
    },
    /// Refused (a bad argument, or no valid target); the reason is printed.
    Refused(ExitCode),
}

/// The file name as shown in messages.
fn source_name(file: Option<&Path>) -> String {
    match file {
        Some(p) if p.as_os_str() == "-" => "standard input".to_string(),
        Some(p) => p.display().to_string(),
        None => "command line".to_string(),
    }
}

/// Reads the targets; bad lines and refusals are written to `err` (standard error).
/// An unreadable file is an error (exit 1).
pub fn gather(src: &Sources<'_>, err: &mut dyn Write) -> Result<Gathered> {
    let mut set = TargetSet::new();
    for spec in src.specs {
        if let Err(e) = set.add_spec(spec, &src.opts) {
            let _ = writeln!(err, "winventory: target argument {spec:?}: {e}");
            return Ok(Gathered::Refused(ExitCode::from(exitcode::USAGE)));
        }
    }
    let source = source_name(src.file);
    if let Some(path) = src.file {
        let read = if path.as_os_str() == "-" {
            set.add_lines(std::io::stdin().lock(), &src.opts)
        } else {
            let f = std::fs::File::open(path)
                .with_context(|| format!("cannot read targets file {}", path.display()))?;
            set.add_lines(f, &src.opts)
        };
        read.with_context(|| format!("targets file {source}"))?;
        for bad in &set.bad {
            let _ = writeln!(err, "{}", bad_line(&source, bad));
        }
    }
    if set.targets().is_empty() {
        let _ = writeln!(
            err,
            "winventory: no valid target{}: give TARGET arguments or --targets FILE",
            if set.bad.is_empty() {
                String::new()
            } else {
                format!(" ({} bad lines in {source} skipped)", set.bad.len())
            }
        );
        return Ok(Gathered::Refused(ExitCode::from(exitcode::USAGE)));
    }
    Ok(Gathered::Targets { set, source })
}

/// A bad line as reported: `winventory: FILE: line N: why (skipped)`.
pub fn bad_line(source: &str, bad: &BadLine) -> String {
    format!("winventory: {source}: {bad} (skipped)")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    fn file(name: &str, text: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("winv-targets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn run(specs: &[&str], path: Option<&Path>) -> (Option<Vec<String>>, Option<ExitCode>, String) {
        let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        let mut err = Vec::new();
        let g = gather(
            &Sources {
                specs: &specs,
                file: path,
                opts: ParseOptions::default(),
            },
            &mut err,
        )
        .unwrap();
        let err = String::from_utf8(err).unwrap();
        match g {
            Gathered::Targets { set, .. } => (
                Some(set.targets().iter().map(|t| t.host()).collect()),
                None,
                err,
            ),
            Gathered::Refused(c) => (None, Some(c), err),
        }
    }

    #[test]
    fn bad_lines_are_reported_with_file_and_number_and_skipped() {
        let p = file("a.txt", b"pc1\nnot a host name!\n10.0.0.1\n");
        let (t, code, err) = run(&[], Some(&p));
        assert_eq!(t.unwrap(), ["pc1", "10.0.0.1"]);
        assert!(code.is_none());
        assert_eq!(
            err.trim(),
            format!(
                "winventory: {}: line 2: invalid target \"not a host name!\" (skipped)",
                p.display()
            )
        );
    }

    #[test]
    fn no_valid_target_left_and_a_bad_argument_are_usage_errors() {
        let p = file("b.txt", b"# only bad\nbad name\nfe80::1%eth0\n");
        let (t, code, err) = run(&[], Some(&p));
        assert!(t.is_none());
        assert_eq!(code, Some(ExitCode::from(2)));
        assert!(err.contains("line 2:") && err.contains("line 3:"), "{err}");
        assert!(err.contains("no valid target (2 bad lines"), "{err}");
        let (t, code, err) = run(&["pc1", "two words"], None);
        assert!(t.is_none());
        assert_eq!(code, Some(ExitCode::from(2)));
        assert!(err.contains("target argument \"two words\""), "{err}");
        let (_, code, _) = run(&[], None);
        assert_eq!(code, Some(ExitCode::from(2)));
        // An unreadable file is an error of its own.
        let specs: Vec<String> = Vec::new();
        let missing = Path::new("/nonexistent/targets.txt");
        assert!(gather(
            &Sources {
                specs: &specs,
                file: Some(missing),
                opts: ParseOptions::default()
            },
            &mut Vec::new()
        )
        .is_err());
    }
}

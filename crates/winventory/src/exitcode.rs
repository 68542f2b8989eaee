//! The exit codes of every `winventory` command: one table, its constants and its text.
//! `main` appends [`TABLE`] to every command's `--help`; README.md carries the same
//! table (a test compares them).

use winv_store::RunSummary;

/// Success (`scan`: the run completed and every computer was inventoried).
pub const OK: u8 = 0;
/// Any other error: the database, a file, the output, a password source.
pub const OTHER: u8 = 1;
/// A refused command line (clap's own code for usage errors): a bad option or target
/// argument, no valid target, no credential, an unset password variable.
pub const USAGE: u8 = 2;
/// The host could not be reached (`query`, `diagnose`): name resolution, TCP refused,
/// unreachable or timed out, no answer to the binds on 135 or on the dynamic port, no
/// answer to the activation.
pub const CONNECTION: u8 = 3;
/// Authentication failed or access denied (`query`, `diagnose`): the logon was refused,
/// DCOM or WMI denied access.
pub const ACCESS: u8 = 4;
/// A WMI or RPC error after the connection (`query`, `diagnose`): invalid namespace,
/// class or query, a provider failure, an RPC fault.
pub const WMI: u8 = 5;
/// A WMI call passed its deadline after the connection was made (`query`, `diagnose`).
pub const TIMEOUT: u8 = 6;
/// `scan`: the run completed; some computers failed or were inventoried incomplete.
pub const SOME_FAILED: u8 = 7;
/// `scan`: the run completed and no computer was inventoried, even incomplete.
pub const NONE_INVENTORIED: u8 = 8;
/// `trace`: some PDUs did not decode, or a signed or sealed PDU did not verify.
pub const TRACE_ERRORS: u8 = 9;
/// Stopped by Ctrl-C (`scan`, `demo`, `perf`: resumable with `--resume`), as a shell
/// reports a command ended by SIGINT.
pub const STOPPED: u8 = 130;

/// The table, as printed after every command's help and in README.md.
pub const TABLE: &str = "\
Exit codes (the same for every command):
  0    success (scan: the run completed and every computer was inventoried)
  1    other error (database, file, output, password source)
  2    usage error (bad option or target argument, no valid target, no credential)
  3    connection failure (query, diagnose: resolve, refused, unreachable, no answer
       to the connect or bind on 135 or the dynamic port, or to the activation)
  4    authentication failed or access denied (query, diagnose: logon, DCOM, WMI)
  5    WMI or RPC error (query, diagnose: namespace, class, query, provider, RPC fault)
  6    a WMI call timed out after the connection was made (query, diagnose)
  7    scan: the run completed; some computers failed or were inventoried incomplete
  8    scan: the run completed and no computer was inventoried
  9    trace: some PDUs did not decode, or a signed or sealed PDU did not verify
  130  stopped by Ctrl-C (scan, demo, perf; resume with --resume)";

/// The exit code of a finished `scan`, from what the database holds for the whole run
/// (a resumed run counts the computers of every session).
pub fn of_run(summary: &RunSummary, stopped: bool) -> u8 {
    if stopped {
        return STOPPED;
    }
    let count = |s: winv_engine::Status| {
        summary
            .by_status
            .iter()
            .find(|(st, _)| *st == s)
            .map_or(0, |(_, n)| *n)
    };
    let inventoried = count(winv_engine::Status::Inventoried);
    let incomplete = count(winv_engine::Status::InventoriedIncomplete);
    if inventoried as usize == summary.targets {
        OK
    } else if inventoried + incomplete == 0 {
        NONE_INVENTORIED
    } else {
        SOME_FAILED
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use winv_engine::Status;

    fn summary(targets: usize, by: &[(Status, u64)]) -> RunSummary {
        RunSummary {
            run: 1,
            targets,
            finished: targets,
            by_status: by.to_vec(),
            classes: Vec::new(),
        }
    }

    #[test]
    fn run_codes() {
        let all = summary(2, &[(Status::Inventoried, 2)]);
        assert_eq!(of_run(&all, false), OK);
        assert_eq!(of_run(&all, true), STOPPED);
        let some = summary(3, &[(Status::Inventoried, 2), (Status::AccessDenied, 1)]);
        assert_eq!(of_run(&some, false), SOME_FAILED);
        let incomplete = summary(
            2,
            &[(Status::Inventoried, 1), (Status::InventoriedIncomplete, 1)],
        );
        assert_eq!(of_run(&incomplete, false), SOME_FAILED);
        let only_incomplete = summary(1, &[(Status::InventoriedIncomplete, 1)]);
        assert_eq!(of_run(&only_incomplete, false), SOME_FAILED);
        let none = summary(
            2,
            &[(Status::ConnectionRefused, 1), (Status::NoCredentials, 1)],
        );
        assert_eq!(of_run(&none, false), NONE_INVENTORIED);
    }

    /// README.md carries the same table, word for word.
    #[test]
    fn readme_has_the_table() {
        let readme = include_str!("../../../README.md");
        assert!(
            readme.contains(TABLE),
            "README.md's exit-code section differs from exitcode::TABLE:\n{TABLE}"
        );
    }

    /// Every code in the table is a constant here, and the other way round.
    #[test]
    fn table_lists_every_constant() {
        let codes: Vec<u8> = TABLE
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        assert_eq!(
            codes,
            [
                OK,
                OTHER,
                USAGE,
                CONNECTION,
                ACCESS,
                WMI,
                TIMEOUT,
                SOME_FAILED,
                NONE_INVENTORIED,
                TRACE_ERRORS,
                STOPPED
            ]
        );
    }
}

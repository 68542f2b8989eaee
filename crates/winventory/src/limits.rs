//! The open-files limit. A scan holds a socket per connection in flight (up to six per
//! computer: port 135, the dynamic endpoint, its lanes) and the simulator two listening
//! sockets per simulated host; the soft limit is often 1,024. At start the soft limit is
//! raised to the hard one, as servers do (it is the user's to lower), and a command that
//! knows what it needs says so before it starts rather than failing half-way with "too
//! many open files".

use anyhow::{bail, Result};
use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Raises the soft limit on open files to the hard limit; returns the soft limit now in
/// force, `None` when it cannot be read.
pub fn raise_open_files() -> Option<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        tracing::debug!(from = soft, to = hard, "raised the open-files limit");
        return Some(hard);
    }
    Some(soft)
}

/// Open files `demo` needs: the simulator's two listeners per host, the scan's
/// connections (six per computer in flight), and the rest of the process (database,
/// runtime, standard streams). The default demo (300 hosts, 64 at once) was seen to peak
/// at 1,070 open files; this says 1,112.
pub fn demo_needs(hosts: u32, concurrency: usize) -> u64 {
    2 * u64::from(hosts) + 6 * concurrency as u64 + 128
}

/// Refuses a demo of `hosts` that `limit` open files cannot hold, naming the most that fit.
pub fn check_demo(hosts: u32, concurrency: usize, limit: u64) -> Result<()> {
    let needed = demo_needs(hosts, concurrency);
    if needed <= limit {
        return Ok(());
    }
    let fit = limit.saturating_sub(demo_needs(0, concurrency)) / 2;
    bail!(
        "--hosts {hosts} needs about {needed} open files and this process may open {limit} \
         (ulimit -n): give --hosts {fit} or fewer, or raise the limit"
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn a_demo_that_does_not_fit_names_the_most_that_do() {
        assert!(check_demo(300, 64, 2048).is_ok());
        // The default demo does not fit 1,024 (it was seen to open 1,070).
        assert!(check_demo(300, 64, 1024).is_err());
        let e = check_demo(10_000, 32, 20_000).unwrap_err().to_string();
        assert!(e.contains("needs about 20320 open files"), "{e}");
        assert!(e.contains("give --hosts 9840 or fewer"), "{e}");
        // The most that fit fits, one more does not.
        assert!(check_demo(9_840, 32, 20_000).is_ok());
        assert!(check_demo(9_841, 32, 20_000).is_err());
        // A limit below the process's own needs: none fit.
        assert!(check_demo(1, 32, 100)
            .unwrap_err()
            .to_string()
            .contains("--hosts 0"));
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let now = raise_open_files().expect("getrlimit");
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(now, soft);
        assert_eq!(soft, hard);
    }
}

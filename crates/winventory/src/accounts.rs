//! The accounts of a run as the lockout guard counted them ([`winv_engine::guard`]), for
//! the summary of `scan` and for `status`: names only, never a secret.

use std::io::Write;

use winv_engine::AccountStats;

use crate::status::printable;

/// One line per account: computers tried, accepted, refused, and a retirement loudly.
pub fn write(stats: &[AccountStats], out: &mut dyn Write) -> std::io::Result<()> {
    if stats.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = stats.iter().map(|s| printable(&s.account)).collect();
    let w = names
        .iter()
        .map(String::len)
        .chain(["account".len()])
        .max()
        .unwrap_or(7);
    writeln!(out)?;
    writeln!(
        out,
        "{:<w$}  {:>6}  {:>8}  {:>7}  guard",
        "account", "tried", "accepted", "refused"
    )?;
    for (s, name) in stats.iter().zip(&names) {
        let guard = match s.retired_after {
            Some(n) => format!("RETIRED after {n} refusals: not tried again in this run"),
            None => "-".into(),
        };
        writeln!(
            out,
            "{name:<w$}  {:>6}  {:>8}  {:>7}  {guard}",
            s.tried, s.accepted, s.refused
        )?;
    }
    if stats.iter().any(|s| s.retired_after.is_some()) {
        writeln!(
            out,
            "a retired account was refused as a wrong password or unknown account: check it \
             (and its lockout state) before another run; --lockout-guard sets the limit"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retired_account_is_said_with_its_counts() {
        let stats = vec![
            AccountStats {
                account: "LAB\\wrong".into(),
                tried: 3,
                accepted: 0,
                refused: 3,
                retired_after: Some(3),
            },
            AccountStats {
                account: "LAB\\right\u{1b}[31m".into(),
                tried: 50,
                accepted: 50,
                refused: 0,
                retired_after: None,
            },
        ];
        let mut out = Vec::new();
        write(&stats, &mut out).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        let wrong = text
            .lines()
            .find(|l| l.starts_with("LAB\\wrong"))
            .expect("line");
        assert!(wrong.contains("RETIRED after 3"), "{text}");
        let right = text
            .lines()
            .find(|l| l.starts_with("LAB\\right"))
            .expect("line");
        assert!(right.contains("50") && !right.contains("RETIRED"), "{text}");
        assert!(
            !text.contains('\u{1b}'),
            "control characters escaped: {text:?}"
        );
        let mut none = Vec::new();
        write(&[], &mut none).expect("write");
        assert!(none.is_empty());
    }
}

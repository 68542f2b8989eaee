//! The ordered credential list of `scan`: a credentials file, or one `--user` with
//! `--password-env` / `--password-file` / a prompt. Passwords never come from the
//! command line and never leave this module except as an NT hash inside
//! [`winv_client::Credentials`].
//!
//! A credentials file has one account per line, then where its password is:
//!
//! ```text
//! # tried in this order on every computer
//! LAB\inventory        env:WINV_INVENTORY_PASSWORD
//! helpdesk@lab.local   file:/root/.config/winventory/helpdesk.pw
//! .\Administrator      env:LOCAL_ADMIN_PASSWORD
//! ```
//!
//! `env:VAR` names an environment variable; `file:PATH` a file readable only by its owner
//! (mode 600 or stricter), whose first line is the password. `.\user` is a local account
//! of each computer: NTLM sends the computer's own name as the domain, as Windows does. Blank lines
//! and lines starting with `#` are ignored. Any other line is an error naming its line
//! number; a credential whose password cannot be read is an error too, since a scan with
//! a silently shortened list would report `access-denied` for the wrong reason.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use winv_client::Credentials;
use winv_engine::Credential;

use crate::connopts::UserArgs;
use crate::password::read_password;

/// Where one credential's password is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Env(String),
    File(PathBuf),
}

/// Parses the text of a credentials file into (line, account, source).
fn parse_lines(text: &str) -> Result<Vec<(usize, String, Source)>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(account), Some(source), None) = (parts.next(), parts.next(), parts.next()) else {
            bail!("line {n}: expected ACCOUNT env:VAR or ACCOUNT file:PATH");
        };
        let source = if let Some(v) = source.strip_prefix("env:") {
            if v.is_empty() {
                bail!("line {n}: env: needs a variable name");
            }
            Source::Env(v.to_string())
        } else if let Some(p) = source.strip_prefix("file:") {
            if p.is_empty() {
                bail!("line {n}: file: needs a path");
            }
            Source::File(PathBuf::from(p))
        } else {
            bail!("line {n}: the password source must be env:VAR or file:PATH");
        };
        let (user, _) = Credentials::parse_user(account);
        if user.is_empty() {
            bail!("line {n}: empty user name in {account:?}");
        }
        out.push((n, account.to_string(), source));
    }
    Ok(out)
}

/// A credential from an account as written and its password (the one reading of
/// accounts: [`Credential::new`]).
pub fn credential(account: &str, password: &str) -> Credential {
    Credential::new(account, password)
}

/// Reads a credentials file.
pub fn read_file(path: &Path) -> Result<Vec<Credential>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read credentials file {}", path.display()))?;
    let lines =
        parse_lines(&text).with_context(|| format!("credentials file {}", path.display()))?;
    let mut out = Vec::with_capacity(lines.len());
    for (n, account, source) in lines {
        let secret = match &source {
            Source::Env(v) => read_password(&account, Some(v), None, false),
            Source::File(p) => read_password(&account, None, Some(p), false),
        }
        .with_context(|| format!("credentials file {} line {n}", path.display()))?;
        out.push(credential(&account, secret.expose()));
    }
    Ok(out)
}

/// The credential list of `scan`: the file's entries in order, then each `--user` (its
/// password from the variable, the file, or a prompt when standard input is a terminal).
pub fn gather(file: Option<&Path>, users: &UserArgs) -> Result<Vec<Credential>> {
    let mut out = match file {
        Some(f) => read_file(f)?,
        None => Vec::new(),
    };
    out.extend(users.credentials(true)?);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn parses_accounts_and_sources() {
        let l = parse_lines(
            "# comment\n\nLAB\\admin env:A_PW\n  helpdesk@lab.local\tfile:/x/y.pw  \n.\\Administrator env:L\n",
        )
        .unwrap();
        assert_eq!(
            l,
            vec![
                (3, "LAB\\admin".into(), Source::Env("A_PW".into())),
                (
                    4,
                    "helpdesk@lab.local".into(),
                    Source::File("/x/y.pw".into())
                ),
                (5, ".\\Administrator".into(), Source::Env("L".into())),
            ]
        );
    }

    #[test]
    fn bad_lines_name_their_number() {
        for (text, want) in [
            ("LAB\\admin", "line 1: expected"),
            ("\nLAB\\admin hunter2", "line 2: the password source"),
            ("a env:", "line 1: env: needs"),
            ("a file:", "line 1: file: needs"),
            ("a env:X extra", "line 1: expected"),
            ("LAB\\ env:X", "line 1: empty user"),
        ] {
            let e = parse_lines(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
            // The text of a line that might be a password is never echoed.
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn reads_passwords_from_env_and_private_files() {
        let dir = std::env::temp_dir().join(format!("winv-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("hd.pw");
        std::fs::write(&pw, "Helpdesk-Pw1\n").unwrap();
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::env::set_var("WINV_CREDS_TEST_A", "Admin-Pw1");
        let f = dir.join("creds");
        std::fs::write(
            &f,
            format!(
                "LAB\\admin env:WINV_CREDS_TEST_A\nhelpdesk@lab.local file:{}\n",
                pw.display()
            ),
        )
        .unwrap();
        let c = read_file(&f).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].account, "LAB\\admin");
        assert_eq!(
            (c[0].creds.user.as_str(), c[0].creds.domain.as_str()),
            ("admin", "LAB")
        );
        assert_eq!(
            c[0].creds.secret,
            winv_client::NtlmSecret::from_password("Admin-Pw1")
        );
        assert_eq!(
            (c[1].creds.user.as_str(), c[1].creds.domain.as_str()),
            ("helpdesk", "lab.local")
        );
        assert_eq!(
            c[1].creds.secret,
            winv_client::NtlmSecret::from_password("Helpdesk-Pw1")
        );
        // A password file others can read is refused, with the line number.
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = format!("{:#}", read_file(&f).unwrap_err());
        assert!(e.contains("line 2") && e.contains("group or others"), "{e}");
        assert!(!e.contains("Helpdesk-Pw1"));
        // A local account has no domain.
        let l = credential(".\\Administrator", "x");
        assert_eq!(
            (l.creds.user.as_str(), l.creds.domain.as_str()),
            ("Administrator", "")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

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
//! An entry may name its mechanism before the account (`kerberos:LAB\inventory
//! env:VAR`, `negotiate:...`, `ntlm:...`; otherwise `--auth`), and `ccache:FILE` alone on a
//! line takes Kerberos tickets from a credential cache (as `kinit` leaves it), its
//! default principal being the account.
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

use crate::connopts::{Auth, ConnectionArgs, Entry, UserArgs};
use crate::password::read_password;

/// Where one credential's password is (or its tickets).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Env(String),
    File(PathBuf),
    Ccache(PathBuf),
}

/// One parsed line: its number, the account, its mechanism prefix, where its secret is.
type Line = (usize, String, Option<Auth>, Source);

/// Parses the text of a credentials file into (line, account, source).
fn parse_lines(text: &str) -> Result<Vec<Line>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        if let (Some(cc), None) = (parts.next(), parts.next()) {
            if let Some(p) = cc.strip_prefix("ccache:") {
                if p.is_empty() {
                    bail!("line {n}: ccache: needs a path");
                }
                let p = p.strip_prefix("FILE:").unwrap_or(p);
                out.push((n, String::new(), Some(Auth::Kerberos), Source::Ccache(p.into())));
                continue;
            }
        }
        let mut parts = line.split_whitespace();
        let (Some(account), Some(source), None) = (parts.next(), parts.next(), parts.next()) else {
            bail!("line {n}: expected [MECHANISM:]ACCOUNT env:VAR, [MECHANISM:]ACCOUNT file:PATH or ccache:FILE");
        };
        let (auth, account) = match account.split_once(':') {
            Some((m, a)) => match Auth::from_prefix(m) {
                Some(auth) => (Some(auth), a),
                None => bail!("line {n}: unknown mechanism {m:?} (ntlm, kerberos, kerberos-raw, negotiate)"),
            },
            None => (None, account),
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
        out.push((n, account.to_string(), auth, source));
    }
    Ok(out)
}

/// Reads a credentials file.
#[cfg(test)]
pub fn read_file(path: &Path) -> Result<Vec<Credential>> {
    Ok(read_entries(path)?
        .into_iter()
        .map(|e| Credential::new(&e.account, e.password.as_ref().map_or("", |p| p.expose())))
        .collect())
}

/// Reads a credentials file into entries (password read, mechanism not yet built).
pub fn read_entries(path: &Path) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read credentials file {}", path.display()))?;
    let lines =
        parse_lines(&text).with_context(|| format!("credentials file {}", path.display()))?;
    let mut out = Vec::with_capacity(lines.len());
    for (n, account, auth, source) in lines {
        let secret = match &source {
            Source::Env(v) => read_password(&account, Some(v), None, false),
            Source::File(p) => read_password(&account, None, Some(p), false),
            Source::Ccache(p) => {
                out.push(Entry {
                    account,
                    password: None,
                    auth,
                    ccache: Some(p.clone()),
                });
                continue;
            }
        }
        .with_context(|| format!("credentials file {} line {n}", path.display()))?;
        out.push(Entry {
            account,
            password: Some(secret),
            auth,
            ccache: None,
        });
    }
    Ok(out)
}

/// The credential list of `scan`: the file's entries in order, then each `--user` (its
/// password from the variable, the file, or a prompt when standard input is a terminal),
/// each with its mechanism.
pub fn gather(
    file: Option<&Path>,
    users: &UserArgs,
    conn: &ConnectionArgs,
    workstation: &str,
) -> Result<Vec<Credential>> {
    let mut out = match file {
        Some(f) => read_entries(f)?,
        None => Vec::new(),
    };
    out.extend(users.entries(true, conn.password_optional())?);
    // Kerberos with nothing else given: the tickets `kinit` left in KRB5CCNAME.
    if out.is_empty() && conn.auth != Auth::Ntlm {
        if let Some(cc) = std::env::var_os("KRB5CCNAME") {
            let cc = cc.to_string_lossy();
            out.push(Entry {
                account: String::new(),
                password: None,
                auth: None,
                ccache: Some(cc.strip_prefix("FILE:").unwrap_or(&cc).into()),
            });
        }
    }
    conn.credentials(out, workstation)
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
                (3, "LAB\\admin".into(), None, Source::Env("A_PW".into())),
                (
                    4,
                    "helpdesk@lab.local".into(),
                    None,
                    Source::File("/x/y.pw".into())
                ),
                (5, ".\\Administrator".into(), None, Source::Env("L".into())),
            ]
        );
    }

    #[test]
    fn entries_name_their_mechanism_and_ccaches_stand_alone() {
        let l = parse_lines(
            "kerberos:LAB\\inventory env:K\nnegotiate:a@lab.local file:/p\nntlm:.\\x env:N\nccache:FILE:/tmp/cc1\n",
        )
        .unwrap();
        assert_eq!(
            l,
            vec![
                (1, "LAB\\inventory".into(), Some(Auth::Kerberos), Source::Env("K".into())),
                (2, "a@lab.local".into(), Some(Auth::Negotiate), Source::File("/p".into())),
                (3, ".\\x".into(), Some(Auth::Ntlm), Source::Env("N".into())),
                (4, String::new(), Some(Auth::Kerberos), Source::Ccache("/tmp/cc1".into())),
            ]
        );
        for (text, want) in [
            ("ldap:LAB\\x env:A", "line 1: unknown mechanism"),
            ("ccache:", "line 1: ccache: needs"),
        ] {
            let e = parse_lines(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
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
        let l = Credential::new(".\\Administrator", "x");
        assert_eq!(
            (l.creds.user.as_str(), l.creds.domain.as_str()),
            ("Administrator", "")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

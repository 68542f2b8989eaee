//! Reading a password without it ever being on the command line: from an
//! environment variable named on the command line, a file readable only by
//! its owner, or a prompt on the terminal. Shared by `discover` (LDAP bind)
//! and the WMI commands (`query`, `scan`).

use std::fmt;
use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// A password. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    #[allow(dead_code)] // for the WMI commands' credential files; tests use it now
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The password itself, for the one call that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Reads the password of `user` from, in this order of precedence:
/// `env_var` (must exist and be non-empty), `file` (must be readable only by
/// its owner: `mode & 0o077 == 0`; the first line, without its line ending), or,
/// when `allow_prompt` and standard input is a terminal, a prompt. Giving both
/// an environment variable and a file is an error.
pub fn read_password(
    user: &str,
    env_var: Option<&str>,
    file: Option<&Path>,
    allow_prompt: bool,
) -> Result<Secret> {
    match (env_var, file) {
        (Some(_), Some(_)) => {
            bail!("give the password in an environment variable or a file, not both")
        }
        (Some(var), None) => {
            let v = std::env::var(var)
                .with_context(|| format!("password environment variable {var} is not set"))?;
            if v.is_empty() {
                bail!("password environment variable {var} is empty");
            }
            Ok(Secret(v))
        }
        (None, Some(path)) => read_password_file(path),
        (None, None) => {
            if !allow_prompt {
                bail!("no password given for {user} (use --password-env or --password-file)");
            }
            if !std::io::stdin().is_terminal() {
                bail!(
                    "no password given for {user} and standard input is not a terminal \
                     (use --password-env or --password-file)"
                );
            }
            let p = rpassword::prompt_password(format!("password for {user}: "))
                .context("read password from terminal")?;
            if p.is_empty() {
                bail!("empty password for {user}");
            }
            Ok(Secret(p))
        }
    }
}

fn read_password_file(path: &Path) -> Result<Secret> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(path).with_context(|| format!("password file {}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        bail!(
            "password file {} is accessible by group or others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read password file {}", path.display()))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        bail!("password file {} is empty", path.display());
    }
    Ok(Secret(line.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn debug_redacts() {
        let s = Secret::new("hunter2-pw");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn env_var_rules() {
        std::env::set_var("WINV_TEST_PW_SET", "s3cret");
        std::env::set_var("WINV_TEST_PW_EMPTY", "");
        let s = read_password("u", Some("WINV_TEST_PW_SET"), None, false).unwrap();
        assert_eq!(s.expose(), "s3cret");
        let e = read_password("u", Some("WINV_TEST_PW_EMPTY"), None, false).unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");
        let e = read_password("u", Some("WINV_TEST_PW_UNSET_XYZ"), None, false).unwrap_err();
        assert!(e.to_string().contains("not set"), "{e}");
        assert!(read_password("u", None, None, false).is_err());
    }

    #[test]
    fn file_rules() {
        let dir = std::env::temp_dir().join(format!("winv-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pw");
        std::fs::write(&f, "filepass\nignored\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_password("u", None, Some(&f), false).unwrap_err();
        assert!(e.to_string().contains("group or others"), "{e}");
        assert!(!e.to_string().contains("filepass"));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            read_password("u", None, Some(&f), false).unwrap().expose(),
            "filepass"
        );
        assert!(read_password("u", Some("X"), Some(&f), false).is_err());
        std::fs::write(&f, "\n").unwrap();
        assert!(read_password("u", None, Some(&f), false).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The Python virtual environment with the third-party clients (impacket,
//! aiowmi) that `scripts/test.sh` creates at `.venv-tests/`.

use std::path::PathBuf;
use std::process::Command;

use crate::fixtures::{repo_root, skip_or_fail};

/// The venv's interpreter when `module` imports in it; otherwise skips (or
/// fails under CI) and returns `None`.
pub fn python_with(module: &str) -> Option<PathBuf> {
    let py = repo_root().join(".venv-tests/bin/python");
    let ok = py.is_file()
        && Command::new(&py)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success());
    if ok {
        Some(py)
    } else {
        skip_or_fail(&format!(
            "{} cannot import {module}: run scripts/test.sh to create the venv",
            py.display()
        ));
        None
    }
}

/// A script of `tests/python/`.
pub fn script(name: &str) -> PathBuf {
    repo_root().join("tests/python").join(name)
}

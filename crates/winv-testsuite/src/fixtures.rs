//! Locating `../shared/fixtures/` and deciding between skip and fail.

use std::path::PathBuf;

/// Whether we run under CI (`CI=true`), where a missing prerequisite is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Skips the current test with a message, or panics under CI.
///
/// Returns so the caller can `return` after it.
pub fn skip_or_fail(why: &str) {
    if in_ci() {
        panic!("prerequisite missing under CI: {why}");
    }
    eprintln!("SKIPPED: {why}");
}

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// `../shared/fixtures/<rel>` seen from the repository root, if present.
pub fn shared_fixture(rel: &str) -> Option<PathBuf> {
    let p = repo_root().join("../shared/fixtures").join(rel);
    p.exists().then_some(p)
}

/// Like [`shared_fixture`] but skips (or fails under CI) when absent.
pub fn require_fixture(rel: &str) -> Option<PathBuf> {
    let p = shared_fixture(rel);
    if p.is_none() {
        skip_or_fail(&format!(
            "../shared/fixtures/{rel} not found beside the repository"
        ));
    }
    p
}

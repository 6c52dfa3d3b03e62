//! What the tests share: the binary started with a clean environment, the servers they run it
//! against (the reference API, the fault servers, a TLS server), the external checkers
//! (check-jsonschema, xmllint, …) and the lock that keeps load tests from overlapping.
//!
//! The tests themselves stay in their own files; only what more than one of them needs is here.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kaizen_loadtest::fixture::{self, FixtureConfig, FixtureHandle};

pub mod faults;
pub mod measure;
pub mod proxy;
mod serve;
pub mod tls;
pub mod tools;

/// The binary built for these tests. Start it with [`bin`]; the path itself is for the scripts
/// that install or link it as a user would.
pub const BIN: &str = env!("CARGO_BIN_EXE_kaizen-loadtest");

/// The binary, ready to be given its arguments, with nothing from the developer's or the CI's
/// environment that could steer it: no `KAIZEN_LOADTEST_*` settings, no GitHub, GitLab or runner
/// variables (tokens, pull request numbers, `GITLAB_CI`), no proxy, and no stdin.
pub fn bin() -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        let lower = k.to_lowercase();
        if k.starts_with("KAIZEN_LOADTEST_")
            || k.starts_with("GITHUB_")
            || k.starts_with("GITLAB_")
            || k.starts_with("CI_")
            || k == "RUNNER_OS"
            || k == "RUNNER_ARCH"
            || lower.ends_with("_proxy")
        {
            c.env_remove(k);
        }
    }
    c.stdin(Stdio::null());
    c
}

/// The reference API on 127.0.0.1:0 with `cfg`, stopped when the handle is stopped or dropped.
pub fn api(cfg: FixtureConfig) -> FixtureHandle {
    fixture::spawn("127.0.0.1:0".parse().unwrap(), cfg).expect("the reference API starts")
}

/// Tests that send load run one at a time: the machine has 2 cores and timing matters.
pub fn load_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The repository's root, where the fixtures, examples and shipped YAML live.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `.yaml` and `.yml` files directly in `dir`, sorted by name.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

//! The external tools the tests check our output with: check-jsonschema, junitparser and
//! kubernetes-validate from the test venv, and programs on PATH (xmllint, chromium).
//!
//! A missing tool fails the test (it does not skip): CI installs them with
//! `.ci/install-test-tools.sh`, and so can you.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::root;

const INSTALL_HINT: &str = "run .ci/install-test-tools.sh (.ci/run installs it in CI)";

/// A program on PATH, or a failure that says how to install it.
pub fn tool(names: &[&str], package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "{} not found on PATH (Debian package {package}): {INSTALL_HINT}",
        names.join(" or ")
    );
}

/// The Python with check-jsonschema and junitparser: `$KAIZEN_TEST_PYTHON`, else `.venv`.
pub fn python() -> PathBuf {
    let p = std::env::var_os("KAIZEN_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(
        p.is_file(),
        "no Python at {} for check-jsonschema and junitparser: {INSTALL_HINT}",
        p.display()
    );
    let ok = Command::new(&p)
        .args(["-c", "import check_jsonschema, junitparser"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} lacks check-jsonschema or junitparser: {INSTALL_HINT}",
        p.display()
    );
    p
}

/// A program installed into the test venv next to `python()` (`.ci/install-test-tools.sh`).
pub fn venv_tool(name: &str) -> PathBuf {
    let t = python().parent().unwrap().join(name);
    assert!(
        t.is_file(),
        "no {} in the test venv: .ci/install-test-tools.sh installs it",
        t.display()
    );
    t
}

/// Validates files against one of check-jsonschema's vendored schemas. A missing
/// check-jsonschema fails the test with how to install it.
pub fn check_builtin_schema(schema: &str, files: &[PathBuf]) {
    let out = run(
        Command::new(python())
            .args(["-m", "check_jsonschema", "--builtin-schema", schema])
            .args(files),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{schema}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a command to its end or kills it after `limit`.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} did not finish in {limit:?}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Validates summaries against the published JSON Schema, `schemas/summary.schema.json`; the
/// caller judges the outcome (a drifted file must fail).
pub fn check_jsonschema(python: &Path, files: &[PathBuf]) -> Output {
    run(
        Command::new(python)
            .args(["-m", "check_jsonschema", "--schemafile"])
            .arg(root().join("schemas/summary.schema.json"))
            .args(files),
        Duration::from_secs(60),
    )
}

/// Prism, the OpenAPI mock server (`@stoplight/prism-cli`, installed into `.node` by
/// `.ci/install-test-tools.sh`): `$KAIZEN_TEST_PRISM`, else `.node/node_modules/.bin/prism`.
pub fn prism() -> PathBuf {
    let p = std::env::var_os("KAIZEN_TEST_PRISM")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".node/node_modules/.bin/prism"));
    assert!(
        p.is_file(),
        "no Prism at {}: {INSTALL_HINT} (it needs Node.js and npm)",
        p.display()
    );
    p
}

/// Prism mocking a spec on a loopback port; stopped (its process killed) when dropped.
pub struct PrismMock {
    child: std::process::Child,
    pub url: String,
}

impl PrismMock {
    /// Starts `prism mock SPEC` on 127.0.0.1 and waits (at most 60 s) until it answers.
    pub fn start(spec: &Path) -> PrismMock {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(prism())
            .args(["mock", "-h", "127.0.0.1", "-p", &port.to_string()])
            .arg(spec)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start Prism: {e}"));
        let mut mock = PrismMock {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = mock.child.try_wait() {
                panic!("Prism exited before it listened: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "Prism did not listen within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        mock
    }
}

impl Drop for PrismMock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

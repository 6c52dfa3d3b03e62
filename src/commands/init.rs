//! `init`: a starting point. Without arguments, a starter plan (`loadtest.yaml`: a smoke scenario,
//! the Kaizen default thresholds, one environment) and a GitHub Actions workflow that runs it on
//! every pull request with a comment and a baseline. With `--from-openapi SPEC` (a file, or an
//! http(s) URL), a plan generated from an OpenAPI 3 description (`openapi.rs`). Existing files
//! are kept unless `--force`; what is written always validates.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cli::InitArgs;
use super::openapi::{self, Doc, MAX_SPEC_BYTES};
use super::UsageError;
use crate::exit;
use crate::plan::LoadOptions;
use crate::redact::{errln, outln};

/// How long fetching a spec from a URL may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

const STARTER_PLAN: &str = r#"# A starter plan: `kaizen-loadtest validate` checks it, `kaizen-loadtest run smoke` runs it.
# docs/plan.md documents every key; docs/getting-started.md goes on from here.
version: 1
name: my-api
default_environment: local

environments:
  local:
    base_url: http://localhost:8000
  staging:
    base_url: ${STAGING_URL:-https://staging.example.com}   # ADJUST

vars:
  # Read from the environment, never printed: export API_TOKEN=... before `run`.
  token: { value: "${API_TOKEN:-}", secret: true }

defaults:
  headers:
    accept: application/json
    authorization: "Bearer {{vars.token}}"
  timeout: 10s

requests:
  health:
    get: /health                                              # ADJUST
    expect: { status: 200 }

# The Kaizen defaults: 95% of requests under 500 ms, under 1% failed, 99% of checks pass.
thresholds:
  http_req_duration: ["p(95)<500"]
  http_req_failed: ["rate<0.01"]
  checks: ["rate>0.99"]

scenarios:
  # Is the API up and answering? Five users for 30 seconds.
  smoke:
    executor: constant-vus
    vus: 5
    duration: 30s
    flow: [health]
    think: 1s
"#;

const STARTER_WORKFLOW: &str = r#"# Runs the smoke scenario of loadtest.yaml on every pull request: a sticky comment with the
# results, compared with the last run on main; the check fails when a threshold fails.
# docs/ci.md describes every input.
name: loadtest
on:
  pull_request:
  push:
    branches: [main]
permissions:
  contents: read
  pull-requests: write
  actions: read
jobs:
  smoke:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: kaizen/loadtest-action@v1
        env:
          API_TOKEN: ${{ secrets.API_TOKEN }}
        with:
          plan: loadtest.yaml
          scenarios: smoke
          environment: staging
          baseline: main
"#;

pub(super) fn command(args: &InitArgs) -> anyhow::Result<u8> {
    match &args.from_openapi {
        Some(spec) => from_openapi(spec, args),
        None => starter(args),
    }
}

/// `init`: the starter plan and workflow.
fn starter(args: &InitArgs) -> anyhow::Result<u8> {
    let workflow = PathBuf::from(".github/workflows/loadtest.yml");
    let files = [
        (args.out.clone(), STARTER_PLAN),
        (workflow, STARTER_WORKFLOW),
    ];
    for (path, _) in &files {
        refuse_existing(path, args.force)?;
    }
    self_check(STARTER_PLAN, &args.out)?;
    for (path, text) in &files {
        write(path, text)?;
        outln!("wrote {}", path.display());
    }
    outln!(
        "next: set base_url and the health path (ADJUST), then `kaizen-loadtest validate --plan {}`",
        args.out.display()
    );
    Ok(exit::OK)
}

/// `init --from-openapi SPEC`.
fn from_openapi(spec: &str, args: &InitArgs) -> anyhow::Result<u8> {
    refuse_existing(&args.out, args.force)?;
    let bad = |why: String| UsageError::BadSpec {
        spec: spec.to_string(),
        why,
    };
    let bytes = read_spec(spec).map_err(bad)?;
    let doc = Doc::parse(&bytes).map_err(bad)?;
    let generated = openapi::plan_from_spec(&doc, spec).map_err(bad)?;
    self_check(&generated.text, &args.out)?;
    write(&args.out, &generated.text)?;
    for w in &generated.warnings {
        errln!("warning: {spec}: {w} (a TODO in the plan)");
    }
    outln!(
        "wrote {} from {spec}: `kaizen-loadtest validate --plan {}`, then run its smoke scenario",
        args.out.display(),
        args.out.display()
    );
    Ok(exit::OK)
}

fn refuse_existing(path: &Path, force: bool) -> Result<(), UsageError> {
    if path.exists() && !force {
        return Err(UsageError::Exists(path.to_path_buf()));
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// What `init` writes validates as written: a plan that would not is this tool's bug (exit 1).
fn self_check(text: &str, out: &Path) -> anyhow::Result<()> {
    let opts = LoadOptions {
        env_lookup: &|_| None,
        strict_env: false,
    };
    crate::plan::load_bytes(text.as_bytes(), out, &opts)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("the generated plan does not validate (a bug): {e}"))
}

/// The spec's bytes: a file, or an http(s) URL fetched within [`FETCH_TIMEOUT`] and
/// [`MAX_SPEC_BYTES`].
fn read_spec(spec: &str) -> Result<Vec<u8>, String> {
    let lower = spec.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        let file = std::fs::File::open(spec).map_err(|e| format!("cannot read it: {e}"))?;
        let mut bytes = Vec::new();
        file.take(MAX_SPEC_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read it: {e}"))?;
        return Ok(bytes);
    }
    let url = crate::url::parse_request_url(spec).map_err(|e| format!("the URL {e}"))?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let mut resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("cannot fetch it: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("fetching it answered {}", resp.status()));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("cannot fetch it: {e}"))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_SPEC_BYTES {
                return Err(format!(
                    "it is more than the {MAX_SPEC_BYTES} bytes a spec may have"
                ));
            }
        }
        Ok(bytes)
    })
}

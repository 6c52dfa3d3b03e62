//! `demo`: a complete load test with nothing else to start. The reference API on a loopback port
//! in this process, `scenarios/demo.yaml`'s smoke scenario run against it, every report written.

use std::path::PathBuf;

use super::cli::DemoArgs;
use super::run::{execute, RunRequest};
use crate::fixture::{self, FixtureConfig};
use crate::plan::{self, LoadOptions};
use crate::redact::{self, errln};
use crate::report::ReportFormat;

/// The smoke scenario the demo runs against the in-process reference API.
const DEMO_PLAN: &str = include_str!("../../scenarios/demo.yaml");

pub(super) fn command(args: &DemoArgs) -> anyhow::Result<u8> {
    let server = fixture::spawn(
        "127.0.0.1:0".parse().expect("loopback address"),
        FixtureConfig {
            seed_users: 200,
            ..Default::default()
        },
    )?;
    errln!("reference API listening on {}", server.base_url());
    let dir = tempdir_for_demo()?;
    let plan_path = dir.join("demo.yaml");
    std::fs::write(&plan_path, DEMO_PLAN)?;
    let opts = LoadOptions {
        env_lookup: &|_| None,
        strict_env: true,
    };
    let plan = plan::load(&plan_path, &opts)?;
    redact::extend(|r| plan.register_secrets(r));
    let code = execute(
        plan,
        RunRequest {
            scenarios: vec!["smoke".into()],
            env: "demo".into(),
            base_url: Some(server.base_url()),
            parallel: false,
            allow_protected: false,
            out_dir: args.out_dir.clone(),
            formats: ReportFormat::ALL.to_vec(),
            quiet: args.quiet,
            vus: None,
            duration: Some(args.duration.clone()),
            dry_run: false,
            fail_on_inconclusive: false,
            baseline: None,
            segment: None,
            run_id: None,
            start_at: None,
            notify: Default::default(),
            summary_line: false,
        },
    );
    server.stop();
    let _ = std::fs::remove_dir_all(&dir);
    code
}

fn tempdir_for_demo() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("kaizen-loadtest-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

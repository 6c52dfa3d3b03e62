//! The distributed-run examples we ship validate against their platforms' schemas: Kubernetes
//! manifests with kubernetes-validate (the API's OpenAPI schemas), the GitHub matrix workflow and
//! the GitLab `parallel:` pipeline with check-jsonschema's vendored schemas.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::support::tools::{check_builtin_schema, venv_tool};
use crate::support::{self, root};

fn show(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn k8s_validate(files: &[PathBuf]) -> Output {
    Command::new(venv_tool("kubernetes-validate"))
        .args(["--strict", "--kubernetes-version", "1.31.0"])
        .args(files)
        .output()
        .unwrap()
}

fn manifests() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("deploy/k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("kustomization.yaml")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn kubernetes_manifests_match_the_api_schemas() {
    let files = manifests();
    assert!(files.len() >= 5, "{files:?}");
    let o = k8s_validate(&files);
    assert!(o.status.success(), "{}", show(&o));
    // The check can fail: a typo in a Job spec is caught.
    let dir = tempfile::tempdir().unwrap();
    let job = std::fs::read_to_string(root().join("deploy/k8s/segments-job.yaml")).unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        job.replace("completionMode: Indexed", "completionMod: Indexed"),
    )
    .unwrap();
    assert!(!k8s_validate(&[bad]).status.success());
}

#[test]
fn the_indexed_job_runs_one_segment_per_pod() {
    let job = std::fs::read_to_string(root().join("deploy/k8s/segments-job.yaml")).unwrap();
    assert!(job.contains("completionMode: Indexed"));
    assert!(job.contains("--segment \"$((JOB_COMPLETION_INDEX + 1))/$SEGMENTS\""));
    let merge = std::fs::read_to_string(root().join("deploy/k8s/merge-job.yaml")).unwrap();
    assert!(merge.contains("kaizen-loadtest merge"));
}

#[test]
fn the_plan_in_the_configmap_is_valid() {
    let cm = std::fs::read_to_string(root().join("deploy/k8s/plan-configmap.yaml")).unwrap();
    let start = cm.find("loadtest.yaml: |\n").unwrap() + "loadtest.yaml: |\n".len();
    let plan: String = cm[start..]
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("loadtest.yaml");
    std::fs::write(&p, plan).unwrap();
    let o = support::bin()
        .args(["validate", "--plan"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
}

#[test]
fn distributed_ci_examples_match_their_schemas() {
    let gh = root().join("examples/github/distributed.yml");
    check_builtin_schema("vendor.github-workflows", std::slice::from_ref(&gh));
    let gl = root().join("examples/gitlab/distributed.gitlab-ci.yml");
    check_builtin_schema("vendor.gitlab-ci", std::slice::from_ref(&gl));
    // Both pass each job its segment and merge the parts.
    let gh = std::fs::read_to_string(gh).unwrap();
    assert!(gh.contains("KAIZEN_LOADTEST_SEGMENT: ${{ matrix.segment }}/4"));
    assert!(gh.contains("kaizen-loadtest merge"));
    let gl = std::fs::read_to_string(gl).unwrap();
    assert!(gl.contains("--segment \"$CI_NODE_INDEX/$CI_NODE_TOTAL\""));
    assert!(gl.contains("load_performance"));
}

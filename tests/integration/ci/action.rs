//! The GitHub Action: `action.yml` and every workflow valid for GitHub's schemas, no expression
//! inside a `run:` script, and the Action's own install and run steps executed on a simulated
//! runner (from source, and from a release checked against its sha256).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kaizen_loadtest::fixture::FixtureConfig;
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::github::{mount_github_created, pull_request_event};
use super::{
    assert_no_secret, body, files, lines, names_after, output, plan, requests, runtime, text,
    yaml_docs, GITHUB_TOKEN,
};
use crate::support::tools::check_builtin_schema;
use crate::support::{self, root, BIN};

/// The workflows we ship and run: the examples and the repository's own.
fn workflows() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = ["examples/github", ".github/workflows"]
        .iter()
        .flat_map(|d| files(&root().join(d)))
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    out.sort();
    out
}

#[test]
fn the_action_and_every_workflow_pass_githubs_schemas() {
    check_builtin_schema("vendor.github-actions", &[root().join("action.yml")]);
    let wf = workflows();
    let names: Vec<String> = wf
        .iter()
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    for want in [
        ".github/workflows/ci.yml",
        ".github/workflows/release.yml",
        ".github/workflows/action-self-test.yml",
        "examples/github/loadtest.yml",
        "examples/github/loadtest-comment.yml",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} is missing: {names:?}"
        );
    }
    check_builtin_schema("vendor.github-workflows", &wf);
}

/// Every `run:` script of the Action and of the workflows gets its values through `env:`: an
/// expression inside a script is a shell injection waiting for a branch name.
#[test]
fn no_expression_inside_a_run_script() {
    let mut scripts = Vec::new();
    let action = &yaml_docs(&root().join("action.yml"))[0];
    for step in action["runs"]["steps"].as_vec().unwrap() {
        if let Some(run) = step["run"].as_str() {
            scripts.push(("action.yml".to_string(), run.to_string()));
        }
    }
    for wf in workflows() {
        let doc = &yaml_docs(&wf)[0];
        for (_, job) in doc["jobs"].as_hash().unwrap() {
            for step in job["steps"].as_vec().into_iter().flatten() {
                if let Some(run) = step["run"].as_str() {
                    scripts.push((wf.display().to_string(), run.to_string()));
                }
            }
        }
    }
    assert!(scripts.len() > 10);
    for (file, script) in scripts {
        assert!(
            !script.contains("${{"),
            "{file}: an expression in a run: script:\n{script}"
        );
    }
    // And every input of the Action is used somewhere.
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let used = names_after(&text, "inputs.");
    for (name, _) in action["inputs"].as_hash().unwrap() {
        let name = name.as_str().unwrap();
        assert!(used.contains(name), "input {name} is never used");
    }
}

/// Reads a `$GITHUB_OUTPUT` file: `name=value` lines and `name<<DELIMITER` blocks.
fn read_outputs(path: &Path) -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = std::collections::BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_string(), value.to_string());
        }
    }
    out
}

/// A simulated GitHub runner for the Action's composite steps.
struct Runner {
    workspace: PathBuf,
    temp: PathBuf,
    action_path: PathBuf,
    inputs: std::collections::BTreeMap<String, String>,
    step_outputs: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    path_dirs: Vec<PathBuf>,
    env: Vec<(String, String)>,
    step_summary: PathBuf,
}

impl Runner {
    /// Replaces each `${{ ... }}` of a step's `env:` value, as the runner would.
    fn eval(&self, value: &str) -> String {
        let mut out = String::new();
        let mut rest = value;
        while let Some(i) = rest.find("${{") {
            out.push_str(&rest[..i]);
            let end = rest[i..].find("}}").expect("closed expression") + i;
            let expr = rest[i + 3..end].trim();
            let v = if let Some(name) = expr.strip_prefix("inputs.") {
                self.inputs
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| panic!("unknown input {name}"))
            } else if expr == "github.action_path" {
                self.action_path.display().to_string()
            } else if expr == "github.token" {
                GITHUB_TOKEN.to_string()
            } else if let Some(rest) = expr.strip_prefix("steps.") {
                let (step, output) = rest.split_once(".outputs.").expect("steps.ID.outputs.NAME");
                self.step_outputs
                    .get(step)
                    .and_then(|o| o.get(output))
                    .cloned()
                    .unwrap_or_default()
            } else {
                panic!("the simulated runner does not know the expression {expr}")
            };
            out.push_str(&v);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// Runs one `run:` step with `bash --noprofile --norc -eo pipefail`, as GitHub does.
    fn run_step(&mut self, step: &yaml_rust2::Yaml) -> Output {
        let id = step["id"].as_str().unwrap().to_string();
        let script = self.temp.join(format!("{id}.sh"));
        std::fs::write(&script, step["run"].as_str().unwrap()).unwrap();
        let output_file = self.temp.join(format!("{id}.output"));
        let path_file = self.temp.join(format!("{id}.path"));
        let mut c = Command::new("bash");
        c.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .current_dir(&self.workspace)
            .env_clear();
        let mut path: Vec<PathBuf> = self.path_dirs.clone();
        path.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        c.env("PATH", std::env::join_paths(path).unwrap())
            .env("HOME", &self.temp)
            .env("GITHUB_ACTIONS", "true")
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("RUNNER_TEMP", &self.temp)
            .env("GITHUB_WORKSPACE", &self.workspace)
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_PATH", &path_file)
            .env("GITHUB_STEP_SUMMARY", &self.step_summary);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(env) = step["env"].as_hash() {
            for (k, v) in env {
                let v = match v {
                    yaml_rust2::Yaml::String(s) => s.clone(),
                    other => other
                        .as_bool()
                        .map_or_else(|| format!("{other:?}"), |b| b.to_string()),
                };
                c.env(k.as_str().unwrap(), self.eval(&v));
            }
        }
        let o = output(&mut c);
        self.step_outputs.insert(id, read_outputs(&output_file));
        for line in std::fs::read_to_string(&path_file)
            .unwrap_or_default()
            .lines()
        {
            self.path_dirs.insert(0, PathBuf::from(line));
        }
        o
    }
}

fn action() -> yaml_rust2::Yaml {
    yaml_docs(&root().join("action.yml")).remove(0)
}

fn runner(workspace: &Path, temp: &Path, inputs: &[(&str, String)]) -> Runner {
    let action = action();
    let mut all = std::collections::BTreeMap::new();
    for (k, v) in action["inputs"].as_hash().unwrap() {
        all.insert(
            k.as_str().unwrap().to_string(),
            v["default"].as_str().unwrap_or("").to_string(),
        );
    }
    for (k, v) in inputs {
        assert!(all.contains_key(*k), "the Action has no input {k}");
        all.insert(k.to_string(), v.clone());
    }
    let mut r = Runner {
        workspace: workspace.to_path_buf(),
        temp: temp.to_path_buf(),
        action_path: root(),
        inputs: all,
        step_outputs: Default::default(),
        path_dirs: vec![],
        env: vec![],
        step_summary: temp.join("step_summary.md"),
    };
    // The default of github-token is an expression.
    let token = r.eval(&r.inputs["github-token"].clone());
    r.inputs.insert("github-token".into(), token);
    r
}

fn step<'a>(action: &'a yaml_rust2::Yaml, id: &str) -> &'a yaml_rust2::Yaml {
    action["runs"]["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some(id))
        .unwrap()
}

/// The Action's own scripts with `version: source` (the binary built for these tests stands in
/// for the `cargo build`), on a pull request event, against the reference API and a GitHub
/// stand-in: the outputs, the files and the comment it leaves.
#[test]
fn the_actions_steps_run_on_a_simulated_runner() {
    let _lock = support::load_lock();
    let rt = runtime();
    let gh = rt.block_on(MockServer::start());
    let marker = "<!-- kaizen-loadtest:kaizen-studio:staging -->";
    rt.block_on(async {
        mount_github_created(&gh, "", marker, 9003).await;
        Mock::given(method("GET"))
            .and(path("/repos/kaizen/studio/actions/runs"))
            .and(query_param("branch", "main"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "total_count": 0, "workflow_runs": [] })),
            )
            .mount(&gh)
            .await;
    });
    let server = support::api(FixtureConfig::default());
    let ws = tempfile::tempdir().unwrap();
    let temp = tempfile::tempdir().unwrap();
    plan(ws.path(), true);
    let event = pull_request_event(temp.path());
    let mut r = runner(
        ws.path(),
        temp.path(),
        &[
            ("version", "source".into()),
            ("scenarios", "smoke".into()),
            ("environment", "staging".into()),
            ("base-url", server.base_url()),
            ("fail-on-threshold", "false".into()),
            ("baseline", "main".into()),
        ],
    );
    r.env = vec![
        ("KAIZEN_LOADTEST_PREBUILT".into(), BIN.into()),
        ("GITHUB_EVENT_NAME".into(), "pull_request".into()),
        ("GITHUB_EVENT_PATH".into(), event.display().to_string()),
        ("GITHUB_REPOSITORY".into(), "kaizen/studio".into()),
        ("GITHUB_API_URL".into(), gh.uri()),
        ("GITHUB_SERVER_URL".into(), "https://github.com".into()),
        ("GITHUB_RUN_ID".into(), "55".into()),
    ];
    let action = action();
    let o = r.run_step(step(&action, "install"));
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("kaizen-loadtest {}", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
    let bin = PathBuf::from(&r.step_outputs["install"]["bin"]);
    assert!(
        bin.starts_with(temp.path()) && bin.is_file(),
        "{}",
        bin.display()
    );
    assert_eq!(
        r.path_dirs,
        [bin.parent().unwrap()],
        "on the PATH of later steps"
    );

    let o = r.run_step(step(&action, "run"));
    let (stdout, stderr) = text(&o);
    assert!(
        o.status.success(),
        "fail-on-threshold: false lets the step pass\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("::notice title=kaizen-loadtest::thresholds failed (exit code 99)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("::error file=loadtest.yaml,line=9,"),
        "{stdout}"
    );
    assert!(
        stderr.contains("note: baseline not used: no successful workflow run on main yet"),
        "baseline: main asks for github-artifact:main\n{stderr}"
    );
    let out = &r.step_outputs["run"];
    assert_eq!(out["passed"], "false");
    assert_eq!(out["exit-code"], "99");
    assert_eq!(out["report-dir"], "reports");
    for key in ["summary-json", "junit", "markdown", "html"] {
        assert!(ws.path().join(&out[key]).is_file(), "{key}: {}", out[key]);
    }
    // Every output of the Action is one its run step wrote.
    for (name, o) in action["outputs"].as_hash().unwrap() {
        let name = name.as_str().unwrap();
        assert_eq!(
            o["value"].as_str(),
            Some(format!("${{{{ steps.run.outputs.{name} }}}}").as_str())
        );
        assert!(out.contains_key(name), "{name}");
    }
    let markdown = std::fs::read_to_string(ws.path().join(&out["markdown"])).unwrap();
    assert_eq!(
        std::fs::read_to_string(&r.step_summary).unwrap(),
        format!("{markdown}\n")
    );
    let reqs = requests(&rt, &gh);
    assert_eq!(
        lines(&reqs).last().unwrap(),
        "POST /repos/kaizen/studio/issues/7/comments",
        "comment defaults to true"
    );
    assert_eq!(body(reqs.last().unwrap()), json!({ "body": markdown }));
    // The artifact step uploads what the run step says.
    let upload = action["runs"]["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .unwrap();
    assert_eq!(
        upload["with"]["path"].as_str(),
        Some("${{ steps.run.outputs.report-dir }}")
    );
    assert_no_secret(&o, ws.path(), &[GITHUB_TOKEN]);
    server.stop();
}

/// The release path of the install step: the archive named by the manifest is fetched (here from
/// a `file://` mirror), checked against its sha256, unpacked; a tampered archive stops the job.
#[test]
fn the_action_installs_a_release_only_when_its_sha256_matches() {
    let temp = tempfile::tempdir().unwrap();
    let mirror = temp.path().join("mirror/v9.8.7");
    let pkg = temp
        .path()
        .join("pkg/kaizen-loadtest-9.8.7-x86_64-unknown-linux-musl");
    std::fs::create_dir_all(&mirror).unwrap();
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::copy(BIN, pkg.join("kaizen-loadtest")).unwrap();
    let archive = "kaizen-loadtest-9.8.7-x86_64-unknown-linux-musl.tar.gz";
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(mirror.join(archive))
        .arg("-C")
        .arg(temp.path().join("pkg"))
        .arg("kaizen-loadtest-9.8.7-x86_64-unknown-linux-musl")
        .status()
        .unwrap();
    assert!(tar.success());
    let sha = {
        use sha2::Digest as _;
        format!(
            "{:x}",
            sha2::Sha256::digest(std::fs::read(mirror.join(archive)).unwrap())
        )
    };
    let action = action();
    for (label, digest, ok) in [
        ("good", sha.clone(), true),
        ("tampered", "0".repeat(64), false),
    ] {
        // The Action's directory as the runner would have it: the manifest is all it reads.
        let action_path = temp.path().join(format!("action-{label}"));
        std::fs::create_dir_all(action_path.join("dist")).unwrap();
        let manifest = json!({
            "schema": 1,
            "download_base": "https://example.invalid/never-used",
            "versions": {
                "0.0.1": { "x86_64-unknown-linux-musl": { "archive": "old.tar.gz", "sha256": "1".repeat(64) } },
                "9.8.7": { "x86_64-unknown-linux-musl": { "archive": archive, "sha256": digest } },
                "10.0.0-rc.1": { "x86_64-unknown-linux-musl": { "archive": "rc.tar.gz", "sha256": "2".repeat(64) } }
            }
        });
        std::fs::write(action_path.join("dist/manifest.json"), manifest.to_string()).unwrap();
        let runner_temp = temp.path().join(format!("runner-{label}"));
        std::fs::create_dir_all(&runner_temp).unwrap();
        let mut r = runner(temp.path(), &runner_temp, &[]);
        r.action_path = action_path;
        r.env = vec![(
            "KAIZEN_LOADTEST_RELEASE_URL".into(),
            format!("file://{}", temp.path().join("mirror").display()),
        )];
        let o = r.run_step(step(&action, "install"));
        let (stdout, stderr) = text(&o);
        assert_eq!(o.status.success(), ok, "{label}\n{stdout}\n{stderr}");
        assert!(
            stdout.contains("downloading kaizen-loadtest 9.8.7 for x86_64-unknown-linux-musl"),
            "the newest stable version\n{stdout}"
        );
        if ok {
            let bin = PathBuf::from(&r.step_outputs["install"]["bin"]);
            assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(BIN).unwrap());
        } else {
            assert!(stdout.contains(&format!("::error title=kaizen-loadtest::checksum mismatch for {archive}: expected {digest} (dist/manifest.json), got {sha}")), "{stdout}");
            assert!(!r.step_outputs["install"].contains_key("bin"));
        }
    }
}

//! The GitHub Action: `action.yml` and every workflow valid for GitHub's schemas, no expression
//! inside a `run:` script, and the Action's own install and run steps executed on a simulated
//! runner (from source, and from a release checked against its sha256).

use std::path::{Path, PathBuf};
use std::process::Command;

use kaizen_loadtest::fixture::FixtureConfig;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::github::{mount_github_created, pull_request_event};
use super::runner::{action_inputs, scalar, Artifacts, Runner};
use super::{
    body, files, keyed, lines, names_after, plan, requests, runtime, text, yaml_docs, GITHUB_TOKEN,
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

fn action() -> yaml_rust2::Yaml {
    yaml_docs(&root().join("action.yml")).remove(0)
}

fn runner(workspace: &Path, temp: &Path, inputs: &[(&str, String)]) -> Runner {
    let mut r = Runner::new(workspace, temp);
    let with = inputs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    r.inputs = action_inputs(&action(), &with, &r.ctx());
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

/// The Action's whole composite run with `version: source` (the binary built for these tests
/// stands in for the `cargo build`), on a pull request event, against the reference API and a
/// GitHub stand-in: the outputs, the files, the comment and the artifact it leaves.
#[test]
fn the_actions_steps_run_on_a_simulated_runner() {
    let _lock = support::load_lock();
    let rt = runtime();
    let gh = rt.block_on(MockServer::start());
    let marker = "<!-- kaizen-loadtest:kaizen-studio:staging:smoke -->";
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
    let mut r = Runner::new(ws.path(), temp.path());
    r.artifacts = Some(Artifacts::new(&temp.path().join("artifacts")));
    r.env = vec![
        ("KAIZEN_LOADTEST_PREBUILT".into(), BIN.into()),
        ("GITHUB_EVENT_NAME".into(), "pull_request".into()),
        ("GITHUB_EVENT_PATH".into(), event.display().to_string()),
        ("GITHUB_REPOSITORY".into(), "kaizen/studio".into()),
        ("GITHUB_API_URL".into(), gh.uri()),
        ("GITHUB_SERVER_URL".into(), "https://github.com".into()),
        ("GITHUB_RUN_ID".into(), "55".into()),
    ];
    let with = [
        ("version", "source"),
        ("scenarios", "smoke"),
        ("environment", "staging"),
        ("fail-on-threshold", "false"),
        ("baseline", "main"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([("base-url".to_string(), server.base_url())])
    .collect();
    let (log, ok) = r.run_action(&with, &[]);
    assert!(ok, "fail-on-threshold: false lets the step pass\n{log}");
    let inner = r.action_steps.clone();
    assert_eq!(inner["install"]["source"], "true", "version: source\n{log}");
    assert!(
        log.contains(&format!("kaizen-loadtest {}", env!("CARGO_PKG_VERSION"))),
        "{log}"
    );
    let bin = PathBuf::from(&inner["build"]["bin"]);
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
    assert!(
        log.contains("::notice title=kaizen-loadtest::thresholds failed (exit code 99)"),
        "{log}"
    );
    assert!(log.contains("::error file=loadtest.yaml,line=9,"), "{log}");
    assert!(
        log.contains("note: baseline not used: no successful workflow run on main yet"),
        "baseline: main asks for github-artifact:main\n{log}"
    );
    let out = &inner["run"];
    assert_eq!(out["passed"], "false");
    assert_eq!(out["exit-code"], "99");
    assert_eq!(out["report-dir"], "reports");
    for key in ["summary-json", "junit", "markdown", "html"] {
        assert!(ws.path().join(&out[key]).is_file(), "{key}: {}", out[key]);
    }
    // Every output of the Action is one its run step wrote, and the workflow sees it.
    let action = action();
    for (name, o) in action["outputs"].as_hash().unwrap() {
        let name = name.as_str().unwrap();
        assert_eq!(
            o["value"].as_str(),
            Some(format!("${{{{ steps.run.outputs.{name} }}}}").as_str())
        );
        assert!(out.contains_key(name), "{name}");
        assert_eq!(r.step_outputs["__action"][name], out[name]);
    }
    let markdown = std::fs::read_to_string(ws.path().join(&out["markdown"])).unwrap();
    let markdown = keyed(&markdown, "kaizen-studio:staging:smoke");
    assert_eq!(
        std::fs::read_to_string(&r.step_summary).unwrap(),
        format!("{markdown}\n")
    );
    let reqs = requests(&rt, &gh);
    assert_eq!(
        lines(&reqs)
            .iter()
            .filter(|l| l.starts_with("POST"))
            .collect::<Vec<_>>(),
        ["POST /repos/kaizen/studio/issues/7/comments"],
        "comment defaults to true"
    );
    let posted = reqs.iter().find(|r| r.method.as_str() == "POST").unwrap();
    assert!(markdown.starts_with(marker));
    assert_eq!(body(posted)["body"].as_str().unwrap(), markdown);
    // The artifact: the report directory, under a name unique to this job and its scenarios.
    let store = r.artifacts.clone().unwrap();
    assert_eq!(
        *store.names.lock().unwrap(),
        ["loadtest-reports-loadtest-smoke-1"]
    );
    assert_eq!(out["artifact-name"], "loadtest-reports-loadtest-smoke-1");
    let uploaded = files(&store.dir.join("loadtest-reports-loadtest-smoke-1"));
    assert_eq!(uploaded.len(), 5, "{uploaded:?}");
    for f in files(ws.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        assert!(!text.contains(GITHUB_TOKEN), "the token in {}", f.display());
    }
    for line in log.lines() {
        assert!(
            !line.contains(GITHUB_TOKEN) || line == format!("::add-mask::{GITHUB_TOKEN}"),
            "{line}"
        );
    }
    server.stop();
}

/// The token reaches the binary only when a comment or a baseline from a branch needs it.
#[test]
fn the_token_reaches_the_binary_only_when_a_comment_or_baseline_needs_it() {
    let action = action();
    let run = step(&action, "run");
    let token = run["env"]["GITHUB_TOKEN"].as_str().unwrap();
    for (comment, baseline, passed) in [
        ("true", "", true),
        ("false", "main", true),
        ("false", "", false),
    ] {
        let temp = tempfile::tempdir().unwrap();
        let r = runner(
            temp.path(),
            temp.path(),
            &[("comment", comment.into()), ("baseline", baseline.into())],
        );
        let got = r.eval(token);
        assert_eq!(
            got == GITHUB_TOKEN,
            passed,
            "comment {comment}, baseline {baseline:?}: {got:?}"
        );
        if !passed {
            assert_eq!(got, "");
        }
    }
}

/// A release as GitHub serves it: `/{repo}/releases/download/v{version}/{file}` answering 302 to
/// short-lived storage, as github.com does.
struct Release {
    server: MockServer,
    archive: String,
    sha: String,
    bytes: Vec<u8>,
}

const VERSION: &str = env!("CARGO_PKG_VERSION");
const TARGET: &str = "x86_64-unknown-linux-musl";

/// The archive the release workflow builds, with the binary built for these tests inside.
fn release_archive(dir: &Path) -> (String, Vec<u8>) {
    let name = format!("kaizen-loadtest-{VERSION}-{TARGET}");
    let pkg = dir.join("pkg").join(&name);
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::copy(BIN, pkg.join("kaizen-loadtest")).unwrap();
    std::fs::write(pkg.join("README.md"), "readme").unwrap();
    let archive = format!("{name}.tar.gz");
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(dir.join(&archive))
        .arg("-C")
        .arg(dir.join("pkg"))
        .arg(&name)
        .status()
        .unwrap();
    assert!(tar.success());
    let bytes = std::fs::read(dir.join(&archive)).unwrap();
    (archive, bytes)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

impl Release {
    fn start(rt: &tokio::runtime::Runtime, dir: &Path) -> Release {
        let (archive, bytes) = release_archive(dir);
        let sha = sha256_hex(&bytes);
        let server = rt.block_on(MockServer::start());
        Release {
            server,
            archive,
            sha,
            bytes,
        }
    }

    /// Serves `sums` as SHA256SUMS (None: 404) and `asset` as the archive (None: 404), and the
    /// GitHub API's answer for the commit a tag points at.
    fn mount(&self, rt: &tokio::runtime::Runtime, sums: Option<String>, asset: Option<Vec<u8>>) {
        let base = format!("/kaizen/loadtest-action/releases/download/v{VERSION}");
        rt.block_on(async {
            self.server.reset().await;
            match sums {
                Some(text) => {
                    let storage = format!("{}/storage/SHA256SUMS?sig=1", self.server.uri());
                    Mock::given(method("GET"))
                        .and(path(format!("{base}/SHA256SUMS")))
                        .respond_with(
                            ResponseTemplate::new(302).insert_header("location", storage.as_str()),
                        )
                        .mount(&self.server)
                        .await;
                    Mock::given(method("GET"))
                        .and(path("/storage/SHA256SUMS"))
                        .respond_with(ResponseTemplate::new(200).set_body_string(text))
                        .mount(&self.server)
                        .await;
                }
                None => {
                    Mock::given(method("GET"))
                        .and(path(format!("{base}/SHA256SUMS")))
                        .respond_with(ResponseTemplate::new(404).set_body_string("Not Found"))
                        .mount(&self.server)
                        .await;
                }
            }
            let asset_response = match asset {
                Some(b) => ResponseTemplate::new(200).set_body_bytes(b),
                None => ResponseTemplate::new(404).set_body_string("Not Found"),
            };
            Mock::given(method("GET"))
                .and(path(format!("{base}/{}", self.archive)))
                .respond_with(asset_response)
                .mount(&self.server)
                .await;
            Mock::given(method("GET"))
                .and(path(format!(
                    "/repos/kaizen/loadtest-action/commits/v{VERSION}"
                )))
                .respond_with(ResponseTemplate::new(200).set_body_string("a".repeat(40)))
                .mount(&self.server)
                .await;
        });
    }
}

/// A runner whose Action was checked out by the runner at `_actions/kaizen/loadtest-action/REF`,
/// with the release server as github.com and a tool cache of its own unless `cache` is given.
fn release_runner(dir: &Path, release: &Release, dir_ref: &str, cache: &Path) -> Runner {
    let action_path = dir.join("_actions/kaizen/loadtest-action").join(dir_ref);
    if !action_path.exists() {
        std::fs::create_dir_all(action_path.join("scripts")).unwrap();
        for f in [
            "action.yml",
            "Cargo.toml",
            "Cargo.lock",
            "scripts/install.sh",
            "scripts/action-install.sh",
        ] {
            std::fs::copy(root().join(f), action_path.join(f)).unwrap();
        }
    }
    let temp = tempfile::Builder::new()
        .prefix("runner")
        .tempdir_in(dir)
        .unwrap()
        .keep();
    let mut r = Runner::new(dir, &temp);
    r.action_path = action_path;
    r.env = vec![
        ("GITHUB_SERVER_URL".into(), release.server.uri()),
        ("GITHUB_API_URL".into(), release.server.uri()),
        ("RUNNER_TOOL_CACHE".into(), cache.display().to_string()),
    ];
    r
}

/// Runs the Action's install step with `version` and `action_ref`: its output and outputs.
fn install(r: &mut Runner, version: &str, action_ref: &str) -> (String, bool) {
    r.inputs = action_inputs(
        &action(),
        &[("version".to_string(), version.to_string())].into(),
        &r.ctx(),
    );
    r.github.insert("action_ref".into(), json!(action_ref));
    let o = r.run_step(step(&action(), "install"));
    let (stdout, stderr) = text(&o);
    (format!("{stdout}{stderr}"), o.status.success())
}

fn downloads(rt: &tokio::runtime::Runtime, release: &Release) -> Vec<String> {
    lines(&requests(rt, &release.server))
}

/// The install path of the Action against a local release server: the version comes from the ref
/// the Action is referenced at (a moving tag, an exact tag, a release's commit) or the `version`
/// input; the archive is checked against SHA256SUMS and kept in the tool cache, so that the next
/// job downloads nothing; a branch or an unreleased commit builds from source.
#[test]
fn the_action_installs_the_release_it_is_referenced_at() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let rel = Release::start(&rt, dir.path());
    let sums = format!(
        "{}  kaizen-loadtest-{VERSION}-aarch64-unknown-linux-musl.tar.gz\n{}  {}\n",
        "1".repeat(64),
        rel.sha,
        rel.archive
    );
    rel.mount(&rt, Some(sums.clone()), Some(rel.bytes.clone()));
    let major = VERSION.split('.').next().unwrap();
    let cache = dir.path().join("toolcache");
    let base = format!("/kaizen/loadtest-action/releases/download/v{VERSION}");

    // @v0: the moving tag, with github.action_ref empty as composite actions may leave it; the
    // runner's checkout directory names the ref.
    let mut r = release_runner(dir.path(), &rel, &format!("v{major}"), &cache);
    let (log, ok) = install(&mut r, "", "");
    assert!(ok, "{log}");
    assert_eq!(
        downloads(&rt, &rel),
        [
            format!("GET {base}/SHA256SUMS"),
            "GET /storage/SHA256SUMS?sig=1".to_string(),
            format!("GET {base}/{}", rel.archive)
        ]
    );
    let bin = PathBuf::from(&r.step_outputs["install"]["bin"]);
    assert_eq!(
        bin,
        cache.join(format!("kaizen-loadtest/{VERSION}/x64/kaizen-loadtest"))
    );
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(BIN).unwrap());
    assert!(cache
        .join(format!("kaizen-loadtest/{VERSION}/x64.complete"))
        .is_file());
    assert_eq!(r.path_dirs, [bin.parent().unwrap()]);
    assert!(log.contains(&format!("kaizen-loadtest {VERSION}")), "{log}");

    // A second job on the same runner: the tool cache, no request at all.
    rel.mount(&rt, Some(sums.clone()), Some(rel.bytes.clone()));
    let mut r = release_runner(dir.path(), &rel, &format!("v{major}"), &cache);
    let (log, ok) = install(&mut r, "", &format!("v{major}"));
    assert!(ok, "{log}");
    assert!(log.contains("from the tool cache"), "{log}");
    assert_eq!(downloads(&rt, &rel), Vec::<String>::new());

    // @vX.Y.Z names its release; `version:` overrides a branch; a release's commit SHA is that
    // release (GitHub's API says which commit the tag is).
    for (version, action_ref) in [
        ("", format!("v{VERSION}")),
        (VERSION, "main".to_string()),
        ("", "a".repeat(40)),
    ] {
        rel.mount(&rt, Some(sums.clone()), Some(rel.bytes.clone()));
        let fresh = tempfile::tempdir_in(dir.path()).unwrap();
        let mut r = release_runner(dir.path(), &rel, "any", fresh.path());
        let (log, ok) = install(&mut r, version, &action_ref);
        assert!(ok, "{action_ref}: {log}");
        let got = downloads(&rt, &rel);
        assert!(
            got.contains(&format!("GET {base}/{}", rel.archive)),
            "{action_ref}: {got:?}"
        );
        assert!(r.step_outputs["install"].contains_key("bin"));
    }

    // A branch, an unreleased commit, a local `uses: ./`: built from source, with the cache key
    // of the lock file and toolchain, and the build step puts that binary on the PATH.
    for (action_ref, dir_ref, why) in [
        ("main", "main", "main is not a release tag"),
        (&*"b".repeat(40), "x", "no release is tagged at bbbb"),
        ("", "", "not referenced at a release"),
    ] {
        rel.mount(&rt, Some(sums.clone()), Some(rel.bytes.clone()));
        let fresh = tempfile::tempdir_in(dir.path()).unwrap();
        let mut r = release_runner(dir.path(), &rel, "src", fresh.path());
        if dir_ref.is_empty() {
            r.action_path = root();
        }
        r.env.push(("KAIZEN_LOADTEST_PREBUILT".into(), BIN.into()));
        let (log, ok) = install(&mut r, "", action_ref);
        assert!(ok, "{log}");
        assert!(
            log.contains("::notice title=kaizen-loadtest::building from source: "),
            "{log}"
        );
        assert!(log.contains(why), "{why}: {log}");
        let out = &r.step_outputs["install"];
        assert_eq!(out["source"], "true");
        assert!(!out.contains_key("bin"));
        assert!(
            out["cache-key"].starts_with("kaizen-loadtest-Linux-X64-"),
            "{out:?}"
        );
        assert!(
            !downloads(&rt, &rel)
                .iter()
                .any(|l| l.contains("releases/download")),
            "nothing downloaded"
        );
        let action = action();
        let o = r.run_step(step(&action, "build"));
        assert!(o.status.success(), "{:?}", text(&o));
        assert!(PathBuf::from(&r.step_outputs["build"]["bin"]).is_file());
    }
}

/// What the Action refuses, each an `::error` that names the URL and says what to do: a checksum
/// mismatch, an archive SHA256SUMS does not list, an asset missing from the release, a pinned
/// version with no release, a server that does not answer. A ref without a release builds from
/// source instead.
#[test]
fn the_action_refuses_a_release_that_does_not_match_its_sha256sums() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let rel = Release::start(&rt, dir.path());
    let base = format!(
        "{}/kaizen/loadtest-action/releases/download/v{VERSION}",
        rel.server.uri()
    );
    let good = format!("{}  {}\n", rel.sha, rel.archive);
    let mut tampered = rel.bytes.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    // (label, SHA256SUMS, the archive, the version input, the error expected)
    type Case<'a> = (&'a str, Option<String>, Option<Vec<u8>>, &'a str, String);
    let cases: Vec<Case> = vec![
        (
            "tampered",
            Some(good.clone()),
            Some(tampered.clone()),
            VERSION,
            format!(
                "::error title=kaizen-loadtest install::checksum mismatch for {base}/{}: SHA256SUMS says {}, the download is {}. Nothing was installed",
                rel.archive,
                rel.sha,
                sha256_hex(&tampered)
            ),
        ),
        (
            "not listed",
            Some(format!("{}  other.tar.gz\n", rel.sha)),
            Some(rel.bytes.clone()),
            VERSION,
            format!("::error title=kaizen-loadtest install::SHA256SUMS of v{VERSION} lists no {}: that release has no {TARGET} build", rel.archive),
        ),
        (
            "asset missing",
            Some(good.clone()),
            None,
            VERSION,
            format!("::error title=kaizen-loadtest install::{base}/{} answered 404 although SHA256SUMS lists it", rel.archive),
        ),
        (
            "no release, pinned",
            None,
            None,
            VERSION,
            format!("::error title=kaizen-loadtest::there is no release {VERSION} of kaizen/loadtest-action (version: {VERSION})"),
        ),
    ];
    for (label, sums, asset, version, want) in cases {
        rel.mount(&rt, sums, asset);
        let cache = tempfile::tempdir_in(dir.path()).unwrap();
        let mut r = release_runner(dir.path(), &rel, "main", cache.path());
        let (log, ok) = install(&mut r, version, "main");
        assert!(!ok, "{label}: {log}");
        assert!(log.contains(&want), "{label}: want {want}\n{log}");
        assert!(!r.step_outputs["install"].contains_key("bin"), "{label}");
        assert!(
            !cache
                .path()
                .join(format!("kaizen-loadtest/{VERSION}/x64.complete"))
                .exists(),
            "{label}: nothing cached"
        );
    }

    // No release at the tag's version (a fork, a release still building): source, not an error.
    rel.mount(&rt, None, None);
    let cache = tempfile::tempdir_in(dir.path()).unwrap();
    let mut r = release_runner(dir.path(), &rel, "v0", cache.path());
    r.env.push(("KAIZEN_LOADTEST_PREBUILT".into(), BIN.into()));
    let (log, ok) = install(&mut r, "", &format!("v{VERSION}"));
    assert!(ok, "{log}");
    assert!(
        log.contains(&format!(
            "building from source: kaizen/loadtest-action has no release v{VERSION}"
        )),
        "{log}"
    );

    // A server that does not answer: the URL, the reason, what to do.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let cache = tempfile::tempdir_in(dir.path()).unwrap();
    let mut r = release_runner(dir.path(), &rel, "main", cache.path());
    r.env.push((
        "KAIZEN_LOADTEST_RELEASE_URL".into(),
        format!("http://127.0.0.1:{port}/mirror"),
    ));
    let (log, ok) = install(&mut r, VERSION, "main");
    assert!(!ok);
    assert!(
        log.contains(&format!("::error title=kaizen-loadtest install::cannot download http://127.0.0.1:{port}/mirror/v{VERSION}/SHA256SUMS (curl: (7)")),
        "{log}"
    );
    assert!(
        log.contains("set KAIZEN_LOADTEST_RELEASE_URL to a mirror"),
        "{log}"
    );
}

/// Runs one job's steps on `r`: `run:` scripts, this Action (`kaizen/loadtest-action@…`), and the
/// actions GitHub provides. The log, or the log and the step that failed.
fn run_job(r: &mut Runner, job: &yaml_rust2::Yaml) -> Result<String, String> {
    let mut log = String::new();
    for step in job["steps"].as_vec().unwrap() {
        let step_env: Vec<(String, String)> = step["env"]
            .as_hash()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str().unwrap().to_string(), r.eval(&scalar(v))))
            .collect();
        if step["run"].as_str().is_some() {
            let o = r.run_step(step);
            let (out, err) = text(&o);
            log.push_str(&format!("{out}{err}"));
            if !o.status.success() {
                return Err(log);
            }
        } else if step["uses"]
            .as_str()
            .unwrap()
            .starts_with("kaizen/loadtest-action@")
        {
            let with = step["with"]
                .as_hash()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str().unwrap().to_string(), r.eval(&scalar(v))))
                .collect();
            let (l, ok) = r.run_action(&with, &step_env);
            log.push_str(&l);
            if !ok {
                return Err(log);
            }
        } else if let Err(e) = r.uses(step) {
            return Err(format!("{log}{e}"));
        }
    }
    Ok(log)
}

/// `examples/github/distributed.yml` on simulated runners, its jobs in order: the schedule, four
/// matrix legs at once (each runs the Action with its segment and uploads its reports under the
/// Action's default name, which upload-artifact v4 would refuse twice), and the merge job, which
/// downloads them by pattern and merges the four parts into one run.
#[test]
fn the_distributed_example_runs_four_legs_and_the_merge_on_simulated_runners() {
    let _lock = support::load_lock();
    let server = support::api(FixtureConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("loadtest.yaml"),
        format!(
            "version: 1\nname: kaizen-studio\nenvironments:\n  staging: {{ base_url: \"{}\" }}\n\
             requests:\n  health: {{ get: /health, expect: {{ status: 200 }} }}\n\
             thresholds:\n  http_req_failed: [\"rate<0.5\"]\n\
             scenarios:\n  stress:\n    executor: constant-vus\n    vus: 4\n    duration: 2s\n    flow: [health]\n",
            server.base_url()
        ),
    )
    .unwrap();
    let wf = yaml_docs(&root().join("examples/github/distributed.yml")).remove(0);
    let mut dispatch = serde_json::Map::new();
    for (k, v) in wf["on"]["workflow_dispatch"]["inputs"].as_hash().unwrap() {
        dispatch.insert(k.as_str().unwrap().into(), json!(scalar(&v["default"])));
    }
    dispatch.insert("start-in".into(), json!("6"));
    let artifacts = Artifacts::new(&dir.path().join("artifacts"));
    let job_runner = |name: &str, leg: &str, job_ctx: serde_json::Map<String, Value>| {
        let ws = dir.path().join(format!("{name}{leg}/ws"));
        let temp = dir.path().join(format!("{name}{leg}/temp"));
        std::fs::create_dir_all(&temp).unwrap();
        // actions/checkout
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::copy(repo.join("loadtest.yaml"), ws.join("loadtest.yaml")).unwrap();
        let mut r = Runner::new(&ws, &temp);
        r.artifacts = Some(artifacts.clone());
        r.github.insert("job".into(), json!(name));
        r.job_ctx = job_ctx;
        r.job_ctx
            .insert("inputs".into(), Value::Object(dispatch.clone()));
        // Referenced @v1 here, the local checkout of the Action stands in: its source path, with
        // the binary built for these tests as the build.
        r.env = vec![
            ("KAIZEN_LOADTEST_PREBUILT".into(), BIN.into()),
            ("GITHUB_REPOSITORY".into(), "kaizen/studio".into()),
            ("GITHUB_EVENT_NAME".into(), "workflow_dispatch".into()),
            ("GITHUB_RUN_ID".into(), "77".into()),
            ("GITHUB_RUN_ATTEMPT".into(), "1".into()),
        ];
        r
    };

    let mut r = job_runner("schedule", "", serde_json::Map::new());
    let log = run_job(&mut r, &wf["jobs"]["schedule"]).unwrap();
    let start_at = r.eval(
        wf["jobs"]["schedule"]["outputs"]["start-at"]
            .as_str()
            .unwrap(),
    );
    assert!(
        start_at.ends_with('Z') && start_at.len() == 20,
        "{start_at}\n{log}"
    );
    let needs = json!({ "schedule": { "outputs": { "start-at": start_at } } });

    let legs: Vec<i64> = wf["jobs"]["segment"]["strategy"]["matrix"]["segment"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|s| s.as_i64().unwrap())
        .collect();
    assert_eq!(legs, [1, 2, 3, 4]);
    let threads: Vec<_> = legs
        .iter()
        .map(|&seg| {
            let mut ctx = serde_json::Map::new();
            ctx.insert("matrix".into(), json!({ "segment": seg }));
            ctx.insert("needs".into(), needs.clone());
            let mut r = job_runner("segment", &seg.to_string(), ctx);
            let job = wf["jobs"]["segment"].clone();
            std::thread::spawn(move || (run_job(&mut r, &job), r))
        })
        .collect();
    let mut names = Vec::new();
    for t in threads {
        let (result, r) = t.join().unwrap();
        let log = result.unwrap_or_else(|log| panic!("a leg failed:\n{log}"));
        assert_eq!(r.step_outputs["__action"]["passed"], "true", "{log}");
        names.push(r.step_outputs["__action"]["artifact-name"].clone());
    }
    for (i, name) in names.iter().enumerate() {
        assert!(
            name.starts_with(&format!(
                "loadtest-reports-segment-segment-{}-of-4-stress-",
                i + 1
            )),
            "{name}"
        );
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "one artifact per leg: {names:?}");

    let mut ctx = serde_json::Map::new();
    ctx.insert("needs".into(), json!({ "segment": { "outputs": {} } }));
    let mut r = job_runner("merge", "", ctx);
    let log = run_job(&mut r, &wf["jobs"]["merge"]).unwrap_or_else(|log| panic!("{log}"));
    let parts: Vec<_> = files(&r.workspace.join("parts"))
        .into_iter()
        .filter(|f| f.to_string_lossy().ends_with("_summary.json"))
        .collect();
    assert_eq!(
        parts.len(),
        4,
        "each leg's part in its own directory: {parts:?}"
    );
    let merged: Value = serde_json::from_str(
        &std::fs::read_to_string(
            files(&r.workspace.join("reports"))
                .into_iter()
                .find(|f| f.to_string_lossy().ends_with("_summary.json"))
                .expect("the merged summary"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(merged["run"]["mode"], "merge", "{log}");
    let requests = |v: &Value| v["scenarios"][0]["requests"].as_u64().unwrap();
    let sum: u64 = parts
        .iter()
        .map(|p| requests(&serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()))
        .sum();
    assert!(sum > 0);
    assert_eq!(
        requests(&merged),
        sum,
        "the merge holds every leg's requests"
    );
    assert!(artifacts
        .names
        .lock()
        .unwrap()
        .contains(&"loadtest-reports-merged".to_string()));
    server.stop();
}

/// `scenarios: "smoke, auth"`, as a workflow input is often written, names two scenarios (it was
/// `unknown scenario " auth"`).
#[test]
fn scenarios_separated_by_a_comma_and_a_space_are_two_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("loadtest.yaml");
    std::fs::write(
        &plan,
        "version: 1\nname: p\nenvironments:\n  staging: { base_url: \"http://127.0.0.1:9\" }\n\
         requests:\n  health: { get: /health }\n\
         scenarios:\n  smoke: { executor: per-vu-iterations, vus: 1, iterations: 1, flow: [health] }\n  \
         auth: { executor: per-vu-iterations, vus: 1, iterations: 1, flow: [health] }\n  \
         spike: { executor: per-vu-iterations, vus: 1, iterations: 1, flow: [health] }\n",
    )
    .unwrap();
    let o = super::output(
        support::bin()
            .env("KAIZEN_LOADTEST_SCENARIOS", "smoke, auth")
            .args(["run", "--dry-run", "--env", "staging", "--plan"])
            .arg(&plan),
    );
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("smoke") && stdout.contains("auth"),
        "{stdout}"
    );
    assert!(!stdout.contains("spike"), "only the two named: {stdout}");
}

/// The examples give a secret only to the step that uses it: no workflow- or job-level `env:`
/// holds `secrets.`, and the fork comment workflow takes its pull request and links from the
/// event (`head_sha`, `head_repository`, `html_url`), never a branch name.
#[test]
fn the_examples_scope_secrets_to_steps_and_trust_the_event_not_the_fork() {
    for wf in workflows() {
        let doc = &yaml_docs(&wf)[0];
        let text = |y: &yaml_rust2::Yaml| format!("{y:?}");
        assert!(
            !text(&doc["env"]).contains("secrets."),
            "{}: workflow env",
            wf.display()
        );
        for (_, job) in doc["jobs"].as_hash().unwrap() {
            assert!(
                !text(&job["env"]).contains("secrets."),
                "{}: job env",
                wf.display()
            );
        }
    }
    let comment =
        std::fs::read_to_string(root().join("examples/github/loadtest-comment.yml")).unwrap();
    for want in [
        "github.event.workflow_run.head_sha",
        "github.event.workflow_run.head_repository.full_name",
        "github.event.workflow_run.html_url",
        "--run-url \"$RUN_URL\"",
        ".head.repo.full_name == $repo",
    ] {
        assert!(comment.contains(want), "{want}");
    }
    assert!(!comment.contains("head_branch"), "no lookup by branch name");
}

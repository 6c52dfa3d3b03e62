//! Releases: the release workflow's shape (a release per tag, nothing committed, no pull
//! request), its scripts run here (the tag against Cargo.toml and the image pins; the moving
//! major and minor tags, on a local git remote), the Dockerfile under hadolint, and the GitLab
//! mirror's catalog pipeline under GitLab's schema.
//!
//! What cannot run here: GitHub creating the release, the attestations, the pushes to ghcr.io and
//! GitLab publishing to its catalog; docs/ci.md says so.

use std::path::Path;
use std::process::Command;

use super::{output, text, yaml_docs};
use crate::support::root;
use crate::support::tools::{check_builtin_schema, venv_tool};

const VERSION: &str = env!("CARGO_PKG_VERSION");

#[test]
fn the_release_workflow_publishes_each_tag_without_a_commit_or_pull_request() {
    let wf = &yaml_docs(&root().join(".github/workflows/release.yml"))[0];
    let text = std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    let tags: Vec<&str> = wf["on"]["push"]["tags"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tags, ["v[0-9]+.[0-9]+.[0-9]+", "v[0-9]+.[0-9]+.[0-9]+-*"]);
    assert!(
        !root().join("dist/manifest.json").exists(),
        "no committed manifest"
    );
    for forbidden in [
        "gh pr create",
        "pull-requests: write",
        "git commit",
        "manifest.json",
    ] {
        assert!(!text.contains(forbidden), "release.yml: {forbidden}");
    }
    let jobs = wf["jobs"].as_hash().unwrap();
    let names: Vec<&str> = jobs.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "check",
            "build",
            "publish",
            "image",
            "image-merge",
            "move-tags"
        ]
    );
    let needs = |job: &str| -> Vec<String> {
        let n = &wf["jobs"][job]["needs"];
        match n.as_vec() {
            Some(v) => v.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
            None => n.as_str().into_iter().map(str::to_string).collect(),
        }
    };
    assert_eq!(needs("build"), ["check"]);
    assert_eq!(needs("publish"), ["check", "build"]);
    assert_eq!(needs("image"), ["check"]);
    assert_eq!(needs("move-tags"), ["check", "publish", "image-merge"]);
    assert_eq!(
        wf["jobs"]["move-tags"]["if"].as_str(),
        Some("needs.check.outputs.prerelease == 'false'")
    );
    // Every target the Action installs is built, and the publish step checks it has them all.
    let targets: Vec<&str> = wf["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|m| m["target"].as_str().unwrap())
        .collect();
    let install = std::fs::read_to_string(root().join("scripts/action-install.sh")).unwrap();
    for t in &targets {
        assert!(install.contains(&format!("target={t} ;;")), "{t}");
    }
    assert!(text.contains(&format!(
        "test \"$(wc -l < SHA256SUMS)\" = {}",
        targets.len() + 1
    )));
    // The image: built from source on a native runner per platform.
    let platforms: Vec<&str> = wf["jobs"]["image"]["strategy"]["matrix"]["include"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|m| m["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
}

fn bash(script: &str, args: &[&str], dir: &Path) -> std::process::Output {
    output(
        Command::new("bash")
            .arg(root().join("scripts").join(script))
            .args(args)
            .current_dir(dir)
            .env_remove("GITHUB_OUTPUT"),
    )
}

/// The tag must be Cargo.toml's version and every shipped image reference must pin it; the
/// image tags of a stable release are X.Y.Z, X.Y, X and latest, of a pre-release only its own.
#[test]
fn release_check_takes_the_tag_only_when_cargo_toml_and_every_image_pin_agree() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("github_output");
    let o = output(
        Command::new("bash")
            .arg(root().join("scripts/release-check.sh"))
            .arg(format!("v{VERSION}"))
            .env("GITHUB_OUTPUT", &out_file),
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let (major, rest) = VERSION.split_once('.').unwrap();
    let minor = rest.split('.').next().unwrap();
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        format!(
            "version={VERSION}\nprerelease=false\nimage-tags={VERSION} {major}.{minor} {major} latest\n"
        )
    );
    for (tag, why) in [
        (
            format!("v{VERSION}-rc.1"),
            "is not the version in Cargo.toml",
        ),
        ("v99.0.0".to_string(), "is not the version in Cargo.toml"),
        ("1.2.3".to_string(), "is not a release tag"),
    ] {
        let o = bash("release-check.sh", &[&tag], &root());
        assert!(!o.status.success(), "{tag}");
        assert!(text(&o).1.contains(why), "{tag}: {:?}", text(&o));
    }
    // A stale pin in a copy of the repository is named.
    let copy = dir.path().join("repo");
    for d in [
        "scripts",
        "templates/loadtest",
        "examples/gitlab",
        "deploy/k8s",
    ] {
        std::fs::create_dir_all(copy.join(d)).unwrap();
    }
    for f in [
        "Cargo.toml",
        "scripts/release-check.sh",
        "templates/loadtest/template.yml",
        "templates/loadtest.gitlab-ci.yml",
        "examples/gitlab/distributed.gitlab-ci.yml",
        "deploy/k8s/merge-job.yaml",
    ] {
        std::fs::copy(root().join(f), copy.join(f)).unwrap();
    }
    let job = copy.join("deploy/k8s/merge-job.yaml");
    let text_job = std::fs::read_to_string(&job).unwrap();
    std::fs::write(
        &job,
        text_job.replace(&format!("kaizen-loadtest:{VERSION}"), "kaizen-loadtest:1"),
    )
    .unwrap();
    let o = output(
        Command::new("bash")
            .arg(copy.join("scripts/release-check.sh"))
            .arg(format!("v{VERSION}")),
    );
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("deploy/k8s/merge-job.yaml:")
            && text(&o).1.contains("ghcr.io/kaizen/kaizen-loadtest:1"),
        "{:?}",
        text(&o)
    );
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = output(
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir),
    );
    assert!(o.status.success(), "git {args:?}: {:?}", text(&o));
    text(&o).0.trim().to_string()
}

/// The moving tags on a local remote: a new stable release moves v1 and v1.2 to it; a patch of an
/// older line moves only its own minor tag; a pre-release moves nothing; a new major starts its
/// own tags.
#[test]
fn release_tags_move_forward_only_and_never_for_a_prerelease() {
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("origin.git");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(
        dir.path(),
        &["init", "-q", "--bare", origin.to_str().unwrap()],
    );
    git(&work, &["init", "-q"]);
    git(
        &work,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    let mut commits = Vec::new();
    for i in 0..6 {
        git(
            &work,
            &["commit", "-q", "--allow-empty", "-m", &format!("c{i}")],
        );
        commits.push(git(&work, &["rev-parse", "HEAD"]));
    }
    let at = |tag: &str| {
        let out = git(
            &work,
            &["ls-remote", "--tags", "origin", &format!("refs/tags/{tag}")],
        );
        out.split_whitespace().next().unwrap_or("").to_string()
    };
    let release = |tag: &str, commit: &str| {
        git(
            &work,
            &["push", "-q", "origin", &format!("{commit}:refs/tags/{tag}")],
        );
        let o = bash("release-tags.sh", &[tag, commit], &work);
        assert!(o.status.success(), "{tag}: {:?}", text(&o));
        text(&o).0
    };
    release("v1.1.0", &commits[0]);
    assert_eq!(
        (at("v1"), at("v1.1")),
        (commits[0].clone(), commits[0].clone())
    );
    release("v1.2.0", &commits[1]);
    assert_eq!(
        (at("v1"), at("v1.2")),
        (commits[1].clone(), commits[1].clone())
    );
    assert_eq!(at("v1.1"), commits[0]);
    // 1.1.1 after 1.2.0: v1.1 moves, v1 stays on 1.2.0.
    let out = release("v1.1.1", &commits[2]);
    assert!(
        out.contains("v1 stays: v1.2.0 is newer than v1.1.1"),
        "{out}"
    );
    assert_eq!(
        (at("v1"), at("v1.1")),
        (commits[1].clone(), commits[2].clone())
    );
    // A pre-release moves nothing.
    let out = release("v1.3.0-rc.1", &commits[3]);
    assert!(out.contains("is a pre-release"), "{out}");
    assert_eq!(at("v1"), commits[1]);
    assert_eq!(at("v1.3"), "");
    // 1.10.0 sorts after 1.2.0 (versions, not text); v2 starts its own line.
    release("v1.10.0", &commits[4]);
    assert_eq!(at("v1"), commits[4]);
    release("v2.0.0", &commits[5]);
    assert_eq!(
        (at("v2"), at("v2.0"), at("v1")),
        (commits[5].clone(), commits[5].clone(), commits[4].clone())
    );
}

/// hadolint passes the Dockerfile (and fails a bad one, so the check can fail); the image is
/// built from source in a builder stage, runs as an unprivileged user with kaizen-loadtest as
/// its entrypoint, and its build context holds only what the build copies.
#[test]
fn the_dockerfile_passes_hadolint_and_builds_from_source_as_a_non_root_user() {
    let hadolint = venv_tool("hadolint");
    let dockerfile = root().join("Dockerfile");
    let o = output(Command::new(&hadolint).arg(&dockerfile));
    assert!(o.status.success(), "hadolint: {:?}", text(&o));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("Dockerfile");
    std::fs::write(&bad, "FROM alpine\nRUN cd /tmp && apk add curl\n").unwrap();
    let o = output(Command::new(&hadolint).arg(&bad));
    assert!(!o.status.success(), "hadolint can fail");
    assert!(
        text(&o).0.contains("DL3007") || text(&o).0.contains("DL3003"),
        "{:?}",
        text(&o)
    );

    let text_df = std::fs::read_to_string(&dockerfile).unwrap();
    let instr: Vec<&str> = text_df
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with(' ') && !l.is_empty())
        .collect();
    let froms: Vec<&&str> = instr.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a builder stage and the image: {froms:?}");
    assert!(froms[0].ends_with(" AS build"));
    assert!(text_df.contains("RUN cargo build --release --locked"));
    assert!(text_df.contains("COPY --from=build /kaizen-loadtest /usr/local/bin/kaizen-loadtest"));
    assert!(instr.contains(&"USER 10001:10001"), "non-root");
    assert!(instr.contains(&"ENTRYPOINT [\"kaizen-loadtest\"]"));
    assert!(text_df.contains("org.opencontainers.image.version=\"${VERSION}\""));

    // The context: everything the build stage copies, and nothing else (no target/, no .git).
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    let allowed: Vec<&str> = ignore
        .lines()
        .filter_map(|l| l.strip_prefix('!'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    assert!(ignore.lines().any(|l| l == "*"), "an allow-list");
    let copied: Vec<&str> = instr
        .iter()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--from"))
        .flat_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            parts[..parts.len() - 1].to_vec()
        })
        .collect();
    assert!(!copied.is_empty());
    for c in &copied {
        assert!(allowed.contains(c), "{c} is copied but not in the context");
    }
    let mut sorted_copied = copied.clone();
    sorted_copied.sort();
    let mut sorted_allowed = allowed.clone();
    sorted_allowed.sort();
    assert_eq!(
        sorted_copied, sorted_allowed,
        "the context is what is copied"
    );
    // What the source reads at compile time lies inside the context.
    for f in super::files(&root().join("src")) {
        let src = std::fs::read_to_string(&f).unwrap_or_default();
        for (i, _) in src.match_indices("include_str!(\"") {
            let rel = &src[i + 14..];
            let rel = &rel[..rel.find('"').unwrap()];
            let target = f.parent().unwrap().join(rel).canonicalize().unwrap();
            let top = target.strip_prefix(root()).unwrap();
            let first = top
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_str()
                .unwrap();
            assert!(
                allowed.contains(&first),
                "{} reads {}",
                f.display(),
                top.display()
            );
        }
    }
}

/// The GitLab mirror's own pipeline: valid for GitLab, only on release tags, and its release job
/// publishes the component under the bare version the catalog asks for.
#[test]
fn the_gitlab_catalog_release_pipeline_passes_gitlabs_schema() {
    let file = root().join(".gitlab-ci.yml");
    check_builtin_schema("vendor.gitlab-ci", std::slice::from_ref(&file));
    let doc = &yaml_docs(&file)[0];
    assert_eq!(
        doc["workflow"]["rules"][0]["if"].as_str(),
        Some("$CI_COMMIT_TAG =~ /^v[0-9]+\\.[0-9]+\\.[0-9]+$/")
    );
    let release = &doc["publish-component"]["release"];
    assert_eq!(release["tag_name"].as_str(), Some("$VERSION"));
    assert_eq!(release["ref"].as_str(), Some("$CI_COMMIT_SHA"));
    assert!(release["description"]
        .as_str()
        .unwrap()
        .contains("ghcr.io/kaizen/kaizen-loadtest:$VERSION"));
    // Its check step passes on this commit: the component pins this version's image.
    let script: Vec<&str> = doc["component-version"]["script"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("templates/loadtest")).unwrap();
    for f in ["Cargo.toml", "templates/loadtest/template.yml"] {
        std::fs::copy(root().join(f), dir.path().join(f)).unwrap();
    }
    let run = |tag: &str| {
        output(
            Command::new("sh")
                .arg("-ec")
                .arg(script.join("\n"))
                .current_dir(dir.path())
                .env("CI_COMMIT_TAG", tag),
        )
    };
    let o = run(&format!("v{VERSION}"));
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("version.env")).unwrap(),
        format!("VERSION={VERSION}\n")
    );
    assert!(
        !run("v99.0.0").status.success(),
        "another version is refused"
    );
}

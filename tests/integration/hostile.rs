//! Hostile and broken plans (issue 7, item 2): every file in `fixtures/plans/invalid/` is refused
//! by `run` as by `validate` (exit 2, bounded time), and so are inputs too big to commit (a plan
//! over the size limit, `/dev/zero`, 10 001 stages, a 300 MB CSV, a ragged row at the end of a
//! 200 000-row CSV), in bounded memory. Limits that protect the machine: VUs per process and the
//! open-file limit, raised to the hard limit or refused with what to do.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::time::Duration;

use crate::support::faults::{self, Fault};
use crate::support::measure::run_measured;
use crate::support::{self, root, yaml_files};

/// A debug build on a busy runner; a plan takes milliseconds.
const QUICK: Duration = Duration::from_secs(5);

/// Refusing a plan costs little memory whatever the plan holds (a debug build idles at ~15 MB).
const RSS_LIMIT_KB: u64 = 96 * 1024;

/// Runs `run --quiet --plan <plan> <extra…>` and notes in `problems` how it was not refused
/// (exit 2, quickly, in little memory, `expect` in stderr, no reports).
fn check_refused(
    plan: &Path,
    extra: &[&str],
    what: &str,
    expect: &str,
    problems: &mut Vec<String>,
) {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec!["run", "--quiet", "--plan", plan.to_str().unwrap()];
    args.extend_from_slice(extra);
    let r = run_measured(&args, out.path(), &[]);
    let stderr = String::from_utf8_lossy(&r.out.stderr);
    let mut p = Vec::new();
    if r.out.status.code() != Some(2) {
        p.push(format!("exit {:?}", r.out.status.code()));
    }
    if r.took > QUICK {
        p.push(format!("took {:?}", r.took));
    }
    if r.max_rss_kb > RSS_LIMIT_KB {
        p.push(format!("peak RSS {} KiB", r.max_rss_kb));
    }
    if !stderr.contains(expect) {
        p.push(format!("stderr lacks {expect:?}"));
    }
    if !r.files.is_empty() {
        p.push("wrote reports".into());
    }
    if !p.is_empty() {
        problems.push(format!("{what}: {}\n{stderr}", p.join("; ")));
    }
}

#[test]
fn every_invalid_plan_is_refused_by_run_in_bounded_time_and_memory() {
    let dir = root().join("fixtures/plans/invalid");
    let files = yaml_files(&dir);
    assert!(files.len() >= 40, "only {} invalid plans", files.len());
    let hostile = files
        .iter()
        .filter(|f| {
            f.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("hostile-")
        })
        .count();
    assert!(hostile >= 25, "only {hostile} hostile-* plans");
    let mut problems = Vec::new();
    for f in &files {
        check_refused(f, &[], &f.display().to_string(), "error: ", &mut problems);
    }
    assert!(
        problems.is_empty(),
        "{} of {} plans:\n{}",
        problems.len(),
        files.len(),
        problems.join("\n")
    );
}

const HEAD: &str = r#"version: 1
name: generated
environments:
  local: { base_url: "http://127.0.0.1:9" }
requests:
  r: { get: /x }
"#;

#[test]
fn inputs_too_big_to_commit_are_refused_in_bounded_time_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut problems = Vec::new();
    let write = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let scenario = "scenarios:\n  s: { executor: constant-vus, vus: 1, duration: 1s, flow: [r] }\n";

    // A plan over the 4 MB limit (comments only: the parser would take them).
    let big = write(
        "big.yaml",
        &format!(
            "{HEAD}{}{scenario}",
            "# padding padding padding padding\n".repeat(150_000)
        ),
    );
    check_refused(
        &big,
        &[],
        "5 MB plan",
        "a plan may be at most",
        &mut problems,
    );
    // Endless and non-files.
    check_refused(
        Path::new("/dev/zero"),
        &[],
        "/dev/zero",
        "a plan may be at most",
        &mut problems,
    );
    check_refused(d, &[], "a directory", "cannot read plan", &mut problems);
    // 10 001 stages.
    let stages = "{ duration: 1s, target: 1 }, ".repeat(10_001);
    let p = write(
        "stages.yaml",
        &format!(
            "{HEAD}scenarios:\n  s: {{ executor: ramping-vus, stages: [{stages}], flow: [r] }}\n"
        ),
    );
    check_refused(&p, &[], "10 001 stages", "stages", &mut problems);
    // A 300 MB CSV (sparse: no disk is used) is refused by its size, without being read.
    let csv = std::fs::File::create(d.join("huge.csv")).unwrap();
    csv.set_len(300 * 1024 * 1024).unwrap();
    let p = write(
        "huge-csv.yaml",
        &format!("{HEAD}data:\n  users: {{ csv: huge.csv }}\n{scenario}"),
    );
    check_refused(
        &p,
        &[],
        "300 MB CSV",
        "data files are limited to",
        &mut problems,
    );
    // A ragged row at the very end of 200 000 good ones.
    let mut rows = String::from("email,password\n");
    for i in 0..200_000 {
        rows.push_str(&format!("user{i}@example.com,secret{i}\n"));
    }
    rows.push_str("only-one-field\n");
    std::fs::write(d.join("ragged.csv"), rows).unwrap();
    let p = write(
        "ragged.yaml",
        &format!("{HEAD}data:\n  users: {{ csv: ragged.csv }}\n{scenario}"),
    );
    check_refused(
        &p,
        &[],
        "ragged row 200 002",
        "line 200002 has 1 fields but the header has 2",
        &mut problems,
    );

    // More VUs than one process runs: --vus, or --parallel scenarios that peak together.
    let p = write("vus.yaml", &format!("{HEAD}{scenario}"));
    check_refused(
        &p,
        &["--vus", "10000000"],
        "--vus 10000000",
        "one process runs at most 100000",
        &mut problems,
    );
    let two = "scenarios:\n  a: { executor: constant-vus, vus: 60000, duration: 1s, flow: [r] }\n  b: { executor: constant-vus, vus: 60000, duration: 1s, flow: [r] }\n";
    let p = write("parallel.yaml", &format!("{HEAD}{two}"));
    check_refused(
        &p,
        &["--parallel"],
        "--parallel 2 × 60 000",
        "up to 120000 VUs",
        &mut problems,
    );

    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Runs `run` with the open-file limit set to `soft`/`hard` in the child.
fn run_with_nofile(plan: &Path, out: &Path, soft: u64, hard: u64) -> std::process::Output {
    let mut cmd = support::bin();
    cmd.args(["run", "--plan"])
        .arg(plan)
        .arg("--out-dir")
        .arg(out)
        .args(["--format", "json"]);
    // SAFETY: only setrlimit, async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[test]
fn the_open_file_limit_is_raised_or_the_run_refused_with_what_to_do() {
    let _load = support::load_lock();
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) };
    let hard = current.rlim_max;
    assert!(
        hard >= 1024,
        "this test needs a hard limit of at least 1024, have {hard}"
    );
    let server = faults::start(Fault::Ok {
        body: "ok",
        headers: "",
    });
    let dir = tempfile::tempdir().unwrap();
    let plan = |vus: u64| {
        let p = dir.path().join(format!("vus{vus}.yaml"));
        let text = format!(
            "version: 1\nname: fds\nenvironments:\n  local: {{ base_url: \"{}\" }}\nrequests:\n  r: {{ get: /x }}\n\
             scenarios:\n  s: {{ executor: per-vu-iterations, vus: {vus}, iterations: 1, flow: [r] }}\n",
            server.url
        );
        std::fs::write(&p, text).unwrap();
        p
    };

    // A hard limit of 64 cannot hold 500 VUs: refused before anything is sent.
    let o = run_with_nofile(&plan(500), &dir.path().join("a"), 64, 64);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ulimit -n 564"), "{stderr}");
    assert_eq!(
        server.requests.load(std::sync::atomic::Ordering::Relaxed),
        0
    );

    // A soft limit of 64 under a hard limit of 1024 is raised, and 300 VUs run.
    let o = run_with_nofile(&plan(300), &dir.path().join("b"), 64, 1024);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("open-file limit raised from 64 to 1024"),
        "{stderr}"
    );
    assert_eq!(
        server.requests.load(std::sync::atomic::Ordering::Relaxed),
        300
    );
}

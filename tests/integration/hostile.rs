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

/// Every hostile plan is refused within this much CPU time (user + system), by the debug binary
/// the suite runs: the slowest refusal here (10 001 stages) takes ~115 ms of CPU in a debug
/// build, ~10 ms in a release build. CPU time, not wall time: the suite shares two cores with
/// other work, and a process kept waiting for a core has not done more work.
const QUICK: Duration = Duration::from_millis(200);

/// And within this much wall time (what a waiting CI job sees, on a busy machine).
const WALL: Duration = Duration::from_secs(1);

/// Refusing a plan costs little memory whatever the plan holds (a debug build idles at ~10 MB
/// and the largest refusal here peaks near 30 MB).
const RSS_LIMIT_KB: u64 = 50 * 1024;

/// Runs `run --quiet --plan <plan> <extra…>` (with `envs`) and notes in `problems` how it was not
/// refused (exit 2, quickly, in little memory, `expect` in stderr, no reports, no line a CI
/// runner would take for a command). A run that took long on the clock is run again, up to
/// twice: another test may have held both cores, but a slow refusal is slow every time.
fn check_refused_with(
    plan: &Path,
    extra: &[&str],
    envs: &[(&str, &str)],
    what: &str,
    expect: &str,
    problems: &mut Vec<String>,
) {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec!["run", "--quiet", "--plan", plan.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut r = run_measured(&args, out.path(), envs);
    for _ in 0..2 {
        if r.took <= WALL {
            break;
        }
        let again = run_measured(&args, out.path(), envs);
        if again.took < r.took {
            r = again;
        }
    }
    let stderr = String::from_utf8_lossy(&r.out.stderr);
    let mut p = Vec::new();
    if r.out.status.code() != Some(2) {
        p.push(format!("exit {:?}", r.out.status.code()));
    }
    if r.cpu > QUICK {
        p.push(format!("took {:?} of CPU", r.cpu));
    }
    if r.took > WALL {
        p.push(format!("took {:?}", r.took));
    }
    if r.max_rss_kb > RSS_LIMIT_KB {
        p.push(format!("peak RSS {} KiB", r.max_rss_kb));
    }
    if let Some(l) = command_line(&r.out.stdout).or_else(|| command_line(&r.out.stderr)) {
        p.push(format!(
            "printed a line a CI runner reads as a command: {l:?}"
        ));
    }
    if std::env::var_os("KAIZEN_TEST_SHOW_MEASURES").is_some() {
        eprintln!(
            "measured {what}: {:?} CPU, {:?} wall, {} KiB",
            r.cpu, r.took, r.max_rss_kb
        );
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

fn check_refused(
    plan: &Path,
    extra: &[&str],
    what: &str,
    expect: &str,
    problems: &mut Vec<String>,
) {
    check_refused_with(plan, extra, &[], what, expect, problems);
}

/// The first line of `out` a CI runner would act on: a GitHub Actions workflow command
/// (`::error ...`, which the runner also sees after a bare carriage return), or a line
/// holding a terminal escape.
fn command_line(out: &[u8]) -> Option<String> {
    String::from_utf8_lossy(out)
        .split(['\n', '\r'])
        .find(|l| l.trim_start().starts_with("::") || l.contains('\u{1b}'))
        .map(str::to_string)
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

// ---------------------------------------------------------------------------------------------
// Issue 17: what becomes part of a request or a log line is checked before the first request.

/// A valid plan against `base_url`, with `extra` top-level text and `req` as request `r`'s body.
fn one_request_plan(dir: &Path, base_url: &str, extra: &str, req: &str) -> std::path::PathBuf {
    let p = dir.join("plan.yaml");
    std::fs::write(
        &p,
        format!(
            "version: 1\nname: hostile\nenvironments:\n  local: {{ base_url: \"{base_url}\" }}\n{extra}\
             requests:\n  r: {req}\nscenarios:\n  s: {{ executor: per-vu-iterations, vus: 1, iterations: 1, flow: [r] }}\n"
        ),
    )
    .unwrap();
    p
}

/// The `::error` injection of issue 17 from every place a base URL or a header value comes
/// from: the plan (the fixtures `hostile-base-url-*`), an environment variable behind `${...}`,
/// `--base-url` and `KAIZEN_LOADTEST_BASE_URL`. Each is refused before the first request (exit
/// 2, nothing written, the target never asked), says where, and prints no line a CI runner
/// would read as a command.
#[test]
fn the_workflow_command_injection_is_refused_wherever_it_comes_from() {
    let server = faults::start(Fault::Ok {
        body: "ok",
        headers: "",
    });
    let dir = tempfile::tempdir().unwrap();
    let injected = format!("{}/\r\n::error title=x::pwned", server.url);
    let mut problems = Vec::new();

    let from_env = one_request_plan(dir.path(), "${INJECTED_URL}", "", "{ get: /x }");
    check_refused_with(
        &from_env,
        &[],
        &[("INJECTED_URL", &injected)],
        "base_url from ${INJECTED_URL}",
        "plan.yaml:4:22: environments.local.base_url: base URL \"${INJECTED_URL}\" (expanded to",
        &mut problems,
    );
    check_refused_with(
        &from_env,
        &[],
        &[("INJECTED_URL", &injected)],
        "base_url from ${INJECTED_URL}, why",
        "contains U+000D (carriage return)",
        &mut problems,
    );
    let dir2 = tempfile::tempdir().unwrap();
    let header = one_request_plan(
        dir2.path(),
        &server.url,
        "vars:\n  v: \"${INJECTED_VALUE}\"\n",
        "{ get: /x, headers: { x-v: \"{{vars.v}}\" } }",
    );
    check_refused_with(
        &header,
        &[],
        &[("INJECTED_VALUE", "x\r\n::error title=x::pwned")],
        "a header value from ${INJECTED_VALUE}",
        "requests.r.headers.x-v: a header value must not contain a line break",
        &mut problems,
    );
    let dir3 = tempfile::tempdir().unwrap();
    let good = one_request_plan(dir3.path(), &server.url, "", "{ get: /x }");
    check_refused_with(
        &good,
        &["--base-url", &injected],
        &[],
        "--base-url",
        "--base-url \"http://127.0.0.1:",
        &mut problems,
    );
    for (what, extra, envs) in [
        ("--base-url", vec!["--base-url", injected.as_str()], vec![]),
        (
            "KAIZEN_LOADTEST_BASE_URL",
            vec![],
            vec![("KAIZEN_LOADTEST_BASE_URL", injected.as_str())],
        ),
        (
            "--base-url with an escape sequence",
            vec!["--base-url", "http://127.0.0.1:9/\u{1b}]0;pwned\u{7}"],
            vec![],
        ),
    ] {
        check_refused_with(
            &good,
            &extra,
            &envs,
            what,
            "a URL may not hold control characters",
            &mut problems,
        );
    }
    // `validate` reads the environment too.
    let o = support::bin()
        .args(["validate", "--plan"])
        .arg(&from_env)
        .env("INJECTED_URL", &injected)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(command_line(&o.stdout), None);
    assert_eq!(command_line(&o.stderr), None);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("\\r\\n::error title=x::pwned"),
        "the value is shown escaped: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        server.requests.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `--base-url` (and `KAIZEN_LOADTEST_BASE_URL`) get exactly the checks a plan's `base_url`
/// gets: the same URLs are refused, for the same reason. A query or a fragment used to be
/// accepted (and the path then lost), and so was `ftp://`.
#[test]
fn base_url_flag_is_checked_like_a_plans_base_url() {
    let dir = tempfile::tempdir().unwrap();
    let good = one_request_plan(dir.path(), "http://127.0.0.1:9", "", "{ get: /x }");
    let mut problems = Vec::new();
    for bad in [
        "http://127.0.0.1:9/x?y=1",
        "http://127.0.0.1:9/x#frag",
        "http://h/x?y=1#frag",
        "ftp://127.0.0.1:9/",
        "http://[::1",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:0",
        "http:///api",
        "http://:80/",
        "127.0.0.1:8000",
        "http://127.0.0.1:9/a b",
        "http://127.0.0.1:9/\u{7}",
        "http://127.0.0.1:9/a\tb",
    ] {
        let shown = format!("{bad:?}");
        let why_of = |stderr: &str, prefix: &str| {
            let at = format!("{prefix} {shown} ");
            stderr.find(&at).map(|i| {
                stderr[i + at.len()..]
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
        };
        let flag = support::bin()
            .args(["run", "--quiet", "--plan"])
            .arg(&good)
            .args(["--base-url", bad])
            .output()
            .unwrap();
        let flag_err = String::from_utf8_lossy(&flag.stderr).to_string();
        let pdir = tempfile::tempdir().unwrap();
        let in_plan = one_request_plan(
            pdir.path(),
            &bad.replace('\u{7}', "\\a").replace('\t', "\\t"),
            "",
            "{ get: /x }",
        );
        let plan = support::bin()
            .args(["validate", "--plan"])
            .arg(&in_plan)
            .output()
            .unwrap();
        let plan_err = String::from_utf8_lossy(&plan.stderr).to_string();
        let (a, b) = (
            why_of(&flag_err, "--base-url"),
            why_of(&plan_err, "base URL"),
        );
        if flag.status.code() != Some(2) || plan.status.code() != Some(2) || a.is_none() || a != b {
            problems.push(format!(
                "{shown}: --base-url exit {:?} {a:?}, base_url exit {:?} {b:?}\n{flag_err}\n{plan_err}",
                flag.status.code(),
                plan.status.code()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Writes `users.csv` with one column `v` and these cells (quoted, so a cell may hold a line
/// break).
fn csv(dir: &Path, cells: &[&str]) {
    let mut text = String::from("v\n");
    for c in cells {
        text.push_str(&format!("\"{}\"\n", c.replace('"', "\"\"")));
    }
    std::fs::write(dir.join("users.csv"), text).unwrap();
}

/// Values that arrive at run time (here CSV cells) are percent-encoded where a URL cannot hold
/// them: a line break is sent as `%0A` (it used to be dropped), braces as `%7B` `%7D` (they were
/// sent raw), a `#` as `%23` (the rest of the URL would be cut off), and the URL's own
/// delimiters stay.
#[test]
fn run_time_values_are_percent_encoded_in_urls() {
    let _load = support::load_lock();
    let server = faults::start(Fault::Ok {
        body: "ok",
        headers: "",
    });
    let dir = tempfile::tempdir().unwrap();
    let cells = ["a b", "x\ny", "{id}", "p#q", "50%", "é", "a%2Fb", "1/2?x=y"];
    csv(dir.path(), &cells);
    let plan = one_request_plan(
        dir.path(),
        &server.url,
        "data:\n  users: { csv: users.csv }\n",
        "{ get: \"/items/{{users.v}}\", query: { q: \"{{users.v}}\" } }",
    )
    .to_str()
    .unwrap()
    .to_string();
    std::fs::write(
        &plan,
        std::fs::read_to_string(&plan)
            .unwrap()
            .replace("iterations: 1", &format!("iterations: {}", cells.len())),
    )
    .unwrap();
    let r = run_measured(
        &["run", "--quiet", "--plan", &plan, "--format", "json"],
        &dir.path().join("out"),
        &[],
    );
    assert_eq!(r.out.status.code(), Some(0), "{}", r.text());
    let lines: Vec<String> = server
        .heads
        .lock()
        .unwrap()
        .iter()
        .map(|h| h.lines().next().unwrap_or("").to_string())
        .collect();
    let want = [
        "GET /items/a%20b?q=a%20b HTTP/1.1",
        "GET /items/x%0Ay?q=x%0Ay HTTP/1.1",
        "GET /items/%7Bid%7D?q=%7Bid%7D HTTP/1.1",
        "GET /items/p%23q?q=p%23q HTTP/1.1",
        "GET /items/50%25?q=50%25 HTTP/1.1",
        "GET /items/%C3%A9?q=%C3%A9 HTTP/1.1",
        "GET /items/a%2Fb?q=a%252Fb HTTP/1.1",
        "GET /items/1/2?x=y&q=1%2F2%3Fx%3Dy HTTP/1.1",
    ];
    assert_eq!(lines, want, "{}", r.text());
}

/// A header value HTTP forbids, from a CSV cell: the request is not sent and does not count
/// against the target (not in `http_reqs` nor `http_req_failed`), it is counted apart as
/// `invalid_request`, the rest of the iteration is not run, the warning names the template
/// once (never the value), and the count is what the arrival-rate schedule started, not a tight
/// loop (it used to be 0.5-2 million `protocol` errors a second).
#[test]
fn a_header_a_value_made_unsendable_is_invalid_request_once_per_scheduled_iteration() {
    let _load = support::load_lock();
    let server = faults::start(Fault::Ok {
        body: "ok",
        headers: "",
    });
    let dir = tempfile::tempdir().unwrap();
    csv(dir.path(), &["bad\r\nX-Injected: 1"]);
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: invalid\nenvironments:\n  local: {{ base_url: \"{}\" }}\n\
             data:\n  users: {{ csv: users.csv }}\n\
             requests:\n  r: {{ get: /x, headers: {{ x-user: \"{{{{users.v}}}}\" }} }}\n  after: {{ get: /after }}\n\
             thresholds:\n  http_req_failed: [\"rate<0.01\"]\n\
             scenarios:\n  s: {{ executor: constant-arrival-rate, rate: 20, time_unit: 1s, duration: 2s, pre_allocated_vus: 2, flow: [r, after] }}\n",
            server.url
        ),
    )
    .unwrap();
    let r = run_measured(
        &[
            "run",
            "--quiet",
            "--plan",
            plan.to_str().unwrap(),
            "--format",
            "json",
        ],
        &dir.path().join("out"),
        &[],
    );
    let stderr = String::from_utf8_lossy(&r.out.stderr);
    // Nothing completed: the scenario tested nothing, and says it was the plan's data.
    assert_eq!(r.out.status.code(), Some(99), "{}", r.text());
    let s = r.scenario();
    assert_eq!(s.requests, 0, "{}", r.text());
    assert_eq!(s.requests_failed, 0);
    assert_eq!(
        server.requests.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    // One per iteration the schedule started (20/s for 2 s), the second request never tried.
    let started = s.iterations + s.dropped_iterations;
    assert!(
        (30..=41).contains(&s.requests_invalid) && s.requests_invalid == s.iterations,
        "invalid {} of {started} iterations\n{}",
        s.requests_invalid,
        r.text()
    );
    assert_eq!(
        s.endpoints
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["r"]
    );
    assert_eq!(
        s.endpoints[0].errors.get("invalid_request"),
        Some(&s.requests_invalid)
    );
    assert_eq!(s.metrics["http_reqs"].values["count"], 0.0);
    let summary = r.summary.as_ref().unwrap();
    assert!(
        summary.verdict.failed[0]
            .contains("could not be built and were not sent (invalid_request)"),
        "{:?}",
        summary.verdict.failed
    );
    assert_eq!(
        stderr
            .matches("could not be built and was not sent")
            .count(),
        1,
        "said once: {stderr}"
    );
    assert!(
        stderr.contains("header \"x-user\" (template \"{{users.v}}\") came out with U+000D"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("X-Injected"),
        "the value is never printed: {stderr}"
    );
    assert_eq!(command_line(&r.out.stderr), None);
}

/// A closed-model VU whose every iteration has a request it cannot build does not spin: it
/// starts an iteration at most once a second, so 4 VUs for 2 s make at most 12 attempts and
/// use little CPU (a spinning VU burns a core: 2 s of CPU here).
#[test]
fn a_closed_model_vu_does_not_spin_on_a_request_it_cannot_build() {
    let _load = support::load_lock();
    let dir = tempfile::tempdir().unwrap();
    csv(dir.path(), &["http://[::1", "http://", "http://:80"]);
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        "version: 1\nname: spin\nenvironments:\n  local: { base_url: \"http://127.0.0.1:9\" }\n\
         data:\n  users: { csv: users.csv }\n\
         requests:\n  r: { get: \"{{users.v}}/x\" }\n\
         scenarios:\n  s: { executor: constant-vus, vus: 4, duration: 2s, flow: [r] }\n",
    )
    .unwrap();
    let r = run_measured(
        &[
            "run",
            "--quiet",
            "--plan",
            plan.to_str().unwrap(),
            "--format",
            "json",
        ],
        &dir.path().join("out"),
        &[],
    );
    let s = r.scenario();
    assert_eq!(r.out.status.code(), Some(99), "{}", r.text());
    assert!(
        (4..=12).contains(&s.requests_invalid),
        "{} attempts\n{}",
        s.requests_invalid,
        r.text()
    );
    assert_eq!(
        s.endpoints[0].errors.get("protocol"),
        None,
        "not blamed on the target"
    );
    assert!(r.cpu < Duration::from_millis(1500), "CPU {:?}", r.cpu);
    assert!(
        String::from_utf8_lossy(&r.out.stderr)
            .contains("its URL cannot be requested: it is not a URL"),
        "{}",
        r.text()
    );
}

/// Some rows good, some not: the good ones are measured, the others are `invalid_request`,
/// and a threshold on `http_req_failed` passes, because the target failed nothing.
#[test]
fn invalid_requests_do_not_count_as_the_targets_failures() {
    let _load = support::load_lock();
    let server = faults::start(Fault::Ok {
        body: "ok",
        headers: "",
    });
    let dir = tempfile::tempdir().unwrap();
    csv(dir.path(), &["fine", "bad\u{7f}"]);
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "version: 1\nname: mixed\nenvironments:\n  local: {{ base_url: \"{}\" }}\n\
             data:\n  users: {{ csv: users.csv }}\n\
             requests:\n  r: {{ get: /x, headers: {{ x-user: \"{{{{users.v}}}}\" }} }}\n\
             thresholds:\n  http_req_failed: [\"rate<0.01\"]\n  http_reqs: [\"count==2\"]\n\
             scenarios:\n  s: {{ executor: per-vu-iterations, vus: 1, iterations: 4, flow: [r] }}\n",
            server.url
        ),
    )
    .unwrap();
    let r = run_measured(
        &[
            "run",
            "--plan",
            plan.to_str().unwrap(),
            "--format",
            "json,junit,markdown,html",
        ],
        &dir.path().join("out"),
        &[],
    );
    assert_eq!(r.out.status.code(), Some(0), "{}", r.text());
    let s = r.scenario();
    assert_eq!(
        (s.requests, s.requests_failed, s.requests_invalid),
        (2, 0, 2)
    );
    assert_eq!(
        server.requests.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    let stdout = String::from_utf8_lossy(&r.out.stdout);
    assert!(
        stdout.contains(
            "2 requests not sent: a value made them impossible to build (invalid_request"
        ),
        "{stdout}"
    );
    for f in &r.files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            text.contains("invalid_request"),
            "{} lacks invalid_request",
            f.display()
        );
    }
    // The summary with its new field and error class still follows the published schema.
    let summary: Vec<_> = r
        .files
        .iter()
        .filter(|f| f.to_string_lossy().ends_with("_summary.json"))
        .cloned()
        .collect();
    let v = support::tools::check_jsonschema(&support::tools::python(), &summary);
    assert!(
        v.status.success(),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
}

/// Plan text that is accepted and printed (a check named after `body_contains`) reaches no
/// output and no report as a raw line break: every report and both streams are scanned for a
/// workflow command and a carriage return.
#[test]
fn plan_text_is_printed_escaped_in_the_console_and_every_report() {
    let _load = support::load_lock();
    let server = faults::start(Fault::Ok {
        body: "ok",
        headers: "",
    });
    let dir = tempfile::tempdir().unwrap();
    let plan = one_request_plan(
        dir.path(),
        &server.url,
        "",
        "{ get: /x, expect: { status: 200, body_contains: \"ok\\r\\n::error title=x::pwned\\u001b[2J\", json: { \"$.k\": \"v\\n::error::w\" } } }",
    );
    let r = run_measured(
        &[
            "run",
            "--plan",
            plan.to_str().unwrap(),
            "--format",
            "json,junit,markdown,html,k6",
        ],
        &dir.path().join("out"),
        &[],
    );
    assert_eq!(r.out.status.code(), Some(0), "{}", r.text());
    let stdout = String::from_utf8_lossy(&r.out.stdout);
    assert!(
        stdout.contains(r#"r: body contains "ok\r\n::error title=x::pwned\u{1b}[2J""#),
        "{stdout}"
    );
    assert_eq!(command_line(&r.out.stdout), None, "{stdout}");
    assert_eq!(command_line(&r.out.stderr), None);
    assert_eq!(r.files.len(), 5);
    for f in &r.files {
        let bytes = std::fs::read(f).unwrap();
        assert!(
            !bytes.contains(&b'\r'),
            "{} holds a carriage return",
            f.display()
        );
        assert!(!bytes.contains(&0x1b), "{} holds an escape", f.display());
        assert_eq!(command_line(&bytes), None, "{}", f.display());
        assert!(
            String::from_utf8_lossy(&bytes).contains("pwned"),
            "{} names the check",
            f.display()
        );
    }
}

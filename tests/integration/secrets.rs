//! Secrets are never printed (issue 7, item 5; issue 17, item 6): a plan full of them goes
//! through `run` with every report format, `validate`, `--dry-run`, `report`, `compare`, `merge`
//! and the error paths (a broken plan's validation errors included), and every byte of stdout,
//! stderr and every report file is scanned for each secret string.

use std::path::Path;

use crate::support;
use crate::support::faults::{self, Fault};
use crate::support::measure::{run_measured, Ran};

/// Every secret the plan, the environment, the command line and the target hold.
const SECRETS: [&str; 10] = [
    "tok-ENV-7f3a9c1e",     // vars.token, from $KAIZEN_API_TOKEN
    "pw-SECRET-4b2d8e",     // vars.password, secret: true
    "pw-URL-9a8b7c",        // the base URL's password
    "cookie-PLAN-3d4e5f",   // a Cookie header the plan sets
    "key-STATIC-1a2b3c",    // an X-Api-Key header the plan sets
    "cap-TOKEN-8h9i0j",     // the token the target returns and the plan captures
    "cookie-SERVER-2k3l4m", // the cookie the target sets
    "pw-CLI-6r7s8t",        // a password in --base-url
    "ghp-PROCESS-5n6o7p8q", // $GITHUB_TOKEN of the process
    "AuthHdr-PLAN-5u6v7w",  // an Authorization header of a plan that does not validate
];

fn plan(dir: &Path, base_url: &str) -> std::path::PathBuf {
    let text = format!(
        r#"version: 1
name: secrets
environments:
  local: {{ base_url: "{base_url}" }}
vars:
  token: "${{KAIZEN_API_TOKEN}}"
  password: {{ value: "pw-SECRET-4b2d8e", secret: true }}
defaults:
  headers: {{ authorization: "Bearer {{{{vars.token}}}}" }}
requests:
  login:
    post: /login
    json: {{ password: "{{{{vars.password}}}}" }}
    headers: {{ cookie: "session=cookie-PLAN-3d4e5f", x-api-key: "key-STATIC-1a2b3c" }}
    # The target never echoes the password, so this check fails, and its name (which holds the
    # secret) is printed in the console summary and every report.
    expect: {{ status: 200, body_contains: "pw-SECRET-4b2d8e" }}
    capture: {{ token: $.access_token }}
  me:
    get: /me?t={{{{vars.token}}}}
    headers: {{ authorization: "Bearer {{{{token}}}}" }}
    expect: {{ status: 200 }}
thresholds:
  checks: ["rate>0.99"]
scenarios:
  smoke:
    executor: per-vu-iterations
    vus: 1
    iterations: 2
    flow: [login, me]
"#
    );
    let p = dir.join("plan.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

const ENV: [(&str, &str); 2] = [
    ("KAIZEN_API_TOKEN", "tok-ENV-7f3a9c1e"),
    ("GITHUB_TOKEN", "ghp-PROCESS-5n6o7p8q"),
];

/// Every secret that appears in `what`, by name of the place.
fn leaks(place: &str, bytes: &[u8], found: &mut Vec<String>) {
    let text = String::from_utf8_lossy(bytes);
    for s in SECRETS {
        if text.contains(s) {
            found.push(format!("{s} in {place}"));
        }
    }
}

fn scan(r: &Ran, found: &mut Vec<String>, label: &str) {
    leaks(&format!("{label} stdout"), &r.out.stdout, found);
    leaks(&format!("{label} stderr"), &r.out.stderr, found);
    for f in &r.files {
        leaks(&f.display().to_string(), &std::fs::read(f).unwrap(), found);
    }
}

#[test]
fn no_secret_is_printed_or_written() {
    let _load = support::load_lock();
    let server = faults::start(Fault::Ok {
        body: r#"{"access_token":"cap-TOKEN-8h9i0j"}"#,
        headers: "set-cookie: sid=cookie-SERVER-2k3l4m; Path=/\r\n",
    });
    let dir = tempfile::tempdir().unwrap();
    let url = server
        .url
        .replace("http://", "http://loaduser:pw-URL-9a8b7c@");
    let p = plan(dir.path(), &url);
    let plan_arg = p.to_str().unwrap();
    let mut found = Vec::new();

    let out = dir.path().join("run");
    let r = run_measured(
        &[
            "run",
            "--plan",
            plan_arg,
            "--format",
            "json,junit,markdown,html,k6",
        ],
        &out,
        &ENV,
    );
    assert_eq!(r.out.status.code(), Some(99), "{}", r.text());
    // The run used the secrets: the login check named after the password failed and was
    // written, masked; the captured token was used.
    let s = r.scenario();
    assert!(
        s.checks
            .iter()
            .any(|c| c.name == "login: body contains \"***\"" && c.fails == 2),
        "{:?}",
        s.checks
    );
    assert!(
        s.checks
            .iter()
            .any(|c| c.name == "login: captured token" && c.passes == 2),
        "{:?}",
        s.checks
    );
    scan(&r, &mut found, "run");

    // --base-url with a password, and one that is not even a URL (the error quotes it).
    let r = run_measured(
        &[
            "run",
            "--plan",
            plan_arg,
            "--base-url",
            &server.url.replace("http://", "http://cli:pw-CLI-6r7s8t@"),
        ],
        &dir.path().join("cli"),
        &ENV,
    );
    assert_eq!(r.out.status.code(), Some(99), "{}", r.text());
    scan(&r, &mut found, "run --base-url");
    let r = run_measured(
        &[
            "run",
            "--plan",
            plan_arg,
            "--base-url",
            "http://cli:pw-CLI-6r7s8t@[::bad",
        ],
        &dir.path().join("bad"),
        &ENV,
    );
    assert_eq!(r.out.status.code(), Some(2), "{}", r.text());
    assert!(
        String::from_utf8_lossy(&r.out.stderr).contains("***"),
        "{}",
        r.text()
    );
    scan(&r, &mut found, "run --base-url (invalid)");

    // validate and the dry run print the plan's timeline.
    for args in [
        vec!["validate", "--plan", plan_arg],
        vec!["run", "--dry-run", "--plan", plan_arg],
    ] {
        let o = support::bin().args(&args).envs(ENV).output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        leaks(&format!("{args:?} stdout"), &o.stdout, &mut found);
        leaks(&format!("{args:?} stderr"), &o.stderr, &mut found);
    }

    // A plan error that quotes the URL.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&p)
            .unwrap()
            .replace("http://loaduser", "ftp://loaduser"),
    )
    .unwrap();
    let o = support::bin()
        .args(["validate", "--plan"])
        .arg(&bad)
        .envs(ENV)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    leaks("validate (invalid) stderr", &o.stderr, &mut found);

    // Validation errors that quote what holds a secret (issue 17, item 6): a template typo in
    // an Authorization header (the error quotes the template), in an X-Api-Key header, and a
    // base URL that reads a token from the environment (the error shows what it expanded to).
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&p)
            .unwrap()
            .replace(
                "authorization: \"Bearer {{token}}\"",
                "authorization: \"Bearer AuthHdr-PLAN-5u6v7w {{tokn}}\"",
            )
            .replace("key-STATIC-1a2b3c", "key-STATIC-1a2b3c{{typo}}")
            .replace(
                &format!("base_url: \"{url}\""),
                "base_url: \"http://h/${KAIZEN_API_TOKEN}?q\"",
            ),
    )
    .unwrap();
    let broken_arg = broken.to_str().unwrap();
    for args in [
        vec!["validate", "--plan", broken_arg],
        vec!["run", "--plan", broken_arg],
        vec!["run", "--dry-run", "--plan", broken_arg],
    ] {
        let o = support::bin().args(&args).envs(ENV).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        for said in [
            "requests.me.headers.authorization: in template \"*** {{tokn}}\": unknown variable \"tokn\"",
            "requests.login.headers.x-api-key: in template \"***{{typo}}\"",
            "base URL \"http://h/${KAIZEN_API_TOKEN}?q\" (expanded to \"http://h/***?q\")",
        ] {
            assert!(stderr.contains(said), "{args:?} lacks {said:?}: {stderr}");
        }
        leaks(&format!("{args:?} stdout"), &o.stdout, &mut found);
        leaks(&format!("{args:?} stderr"), &o.stderr, &mut found);
    }

    // A dry run with credentials in --base-url.
    let o = support::bin()
        .args(["run", "--dry-run", "--plan", plan_arg, "--base-url"])
        .arg(server.url.replace("http://", "http://cli:pw-CLI-6r7s8t@"))
        .envs(ENV)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    leaks("dry run --base-url stdout", &o.stdout, &mut found);
    leaks("dry run --base-url stderr", &o.stderr, &mut found);

    // Report re-rendering reads the (already masked) summary.
    let summary = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_summary.json"))
        .unwrap();
    let again = dir.path().join("again");
    let o = support::bin()
        .args(["report"])
        .arg(&summary)
        .arg("--out-dir")
        .arg(&again)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for f in std::fs::read_dir(&again).unwrap() {
        let f = f.unwrap().path();
        leaks(
            &f.display().to_string(),
            &std::fs::read(&f).unwrap(),
            &mut found,
        );
    }

    // compare (with the plan's regression limits) and merge print and write from the summary
    // and the plan too.
    let o = support::bin()
        .arg("compare")
        .arg(&summary)
        .arg(&summary)
        .args(["--plan", plan_arg])
        .envs(ENV)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    leaks("compare stdout", &o.stdout, &mut found);
    leaks("compare stderr", &o.stderr, &mut found);
    let merged = dir.path().join("merged");
    let r = run_measured(
        &[
            "merge",
            summary.to_str().unwrap(),
            "--format",
            "json,junit,markdown,html,k6",
        ],
        &merged,
        &ENV,
    );
    assert_eq!(r.out.status.code(), Some(99), "{}", r.text());
    assert_eq!(r.files.len(), 5, "{}", r.text());
    scan(&r, &mut found, "merge");

    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
}

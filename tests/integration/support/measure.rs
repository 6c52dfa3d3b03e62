//! The binary run to its end while its peak memory is watched, and what it left behind: exit
//! code, output, time taken, the JSON summary and the report files.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaizen_loadtest::summary::schema::{ScenarioSummary as Scenario, Summary};

/// What a run left behind.
pub struct Ran {
    pub out: Output,
    pub took: Duration,
    /// The CPU time the child used (user and system), from `wait4`: what the work cost,
    /// whatever else the machine was doing.
    pub cpu: Duration,
    /// The child's peak resident set, KiB, as last seen while it ran (0 if it ended before the
    /// first look).
    pub max_rss_kb: u64,
    pub summary: Option<Summary>,
    pub files: Vec<PathBuf>,
}

impl Ran {
    pub fn text(&self) -> String {
        format!(
            "exit {:?} after {:?}\nstdout:\n{}\nstderr:\n{}",
            self.out.status.code(),
            self.took,
            String::from_utf8_lossy(&self.out.stdout),
            String::from_utf8_lossy(&self.out.stderr)
        )
    }

    pub fn scenario(&self) -> &Scenario {
        &self
            .summary
            .as_ref()
            .unwrap_or_else(|| panic!("no summary\n{}", self.text()))
            .scenarios[0]
    }
}

/// Runs the binary with `args`, measuring its peak memory; reads the summary from `out_dir`.
pub fn run_measured(args: &[&str], out_dir: &Path, envs: &[(&str, &str)]) -> Ran {
    let mut cmd = super::bin();
    cmd.args(args)
        .arg("--out-dir")
        .arg(out_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let t0 = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b);
        b
    });
    // The child's own high-water mark (VmHWM), read while it runs. Not getrusage: a child
    // started with vfork inherits the test process's peak in its ru_maxrss.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hwm_t = {
        let (done, status) = (done.clone(), format!("/proc/{}/status", child.id()));
        std::thread::spawn(move || {
            let mut max = 0u64;
            let mut looks = 0u32;
            while !done.load(Ordering::Relaxed) {
                let hwm = std::fs::read_to_string(&status).ok().and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                });
                max = max.max(hwm.unwrap_or(0));
                // Often at first, so that a child done in a few milliseconds is seen too.
                looks += 1;
                let pause = if looks < 200 { 100 } else { 2_000 };
                std::thread::sleep(Duration::from_micros(pause));
            }
            max
        })
    };
    let (status, cpu) = wait_with_cpu(&mut child);
    done.store(true, Ordering::Relaxed);
    let took = t0.elapsed();
    let out = Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    };
    let max_rss_kb = hwm_t.join().unwrap();
    let files: Vec<PathBuf> = std::fs::read_dir(out_dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    let summary = files
        .iter()
        .find(|p| p.to_string_lossy().ends_with("_summary.json"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap());
    Ran {
        out,
        took,
        cpu,
        max_rss_kb,
        summary,
        files,
    }
}

/// Waits for the child and reads the CPU time it used (user + system) from `wait4`.
fn wait_with_cpu(child: &mut std::process::Child) -> (std::process::ExitStatus, Duration) {
    use std::os::unix::process::ExitStatusExt as _;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    loop {
        // SAFETY: waits for our own child, with valid pointers.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "wait4: {e}");
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    (
        std::process::ExitStatus::from_raw(status),
        tv(ru.ru_utime) + tv(ru.ru_stime),
    )
}

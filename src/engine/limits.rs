//! Limits that protect the machine, checked before a run starts: VUs per process, and open
//! files (`RLIMIT_NOFILE`), since every busy VU holds a socket. And the CPU the process used, for
//! the run's health.
//!
//! The soft file limit is raised to the hard limit when the run needs more (as k6 advises doing
//! by hand); when even the hard limit is too low the run is refused with what to do, instead of
//! failing half-way with "too many open files" counted as connect errors.

use crate::plan::model::MAX_VUS_PER_PROCESS;

/// File descriptors the process needs besides one socket per VU: the runtime, the collector,
/// standard streams, report files, DNS.
const FD_HEADROOM: u64 = 64;

/// What [`ensure_open_files`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFiles {
    /// The soft limit was already enough.
    Enough,
    /// The soft limit was raised (to the hard limit).
    Raised { from: u64, to: u64 },
}

/// Makes sure `needed` descriptors can be open at once, raising the soft limit to the hard one
/// if that helps. The error says what to do.
fn ensure_open_files(needed: u64) -> Result<OpenFiles, String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        // Cannot tell: let the run try.
        return Ok(OpenFiles::Enough);
    }
    // rlim_t is u64 here, not on every target.
    #[allow(clippy::unnecessary_cast)]
    let (soft, hard) = (lim.rlim_cur as u64, lim.rlim_max as u64);
    if soft >= needed {
        return Ok(OpenFiles::Enough);
    }
    if hard >= needed {
        // The whole hard limit, not just `needed`: connections in TIME_WAIT and retries need slack.
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Ok(OpenFiles::Raised {
                from: soft,
                to: hard,
            });
        }
    }
    Err(format!(
        "this run needs up to {needed} open files (one socket per VU, plus {FD_HEADROOM}), but the limit is {soft} \
         (hard limit {hard}); raise it with `ulimit -n {needed}` (or `ulimit -Hn {needed}` as root, \
         `--ulimit nofile={needed}` for docker), lower the VUs, or split the run with --segment I/N"
    ))
}

/// Checks the peak VU count of a run against [`MAX_VUS_PER_PROCESS`] and the open-file limit.
pub fn check_run(peak_vus: u64) -> Result<OpenFiles, String> {
    if peak_vus > MAX_VUS_PER_PROCESS {
        return Err(format!(
            "this run would use up to {peak_vus} VUs at once; one process runs at most {MAX_VUS_PER_PROCESS}: \
             split it with --segment I/N across processes or machines"
        ));
    }
    ensure_open_files(peak_vus + FD_HEADROOM)
}

/// CPU time (user + system) this process has used so far, in seconds.
pub fn cpu_now() -> Option<f64> {
    #[cfg(unix)]
    {
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
            return None;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Some(tv(u.ru_utime) + tv(u.ru_stime))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The share of the machine's CPU this process used over `wall` seconds since it had used
/// `before` seconds of CPU, percent.
pub fn cpu_percent_since(before: Option<f64>, wall: f64) -> Option<f64> {
    match (before, cpu_now()) {
        (Some(a), Some(b)) if wall > 0.0 => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            Some((b - a) / (wall * cores) * 100.0)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_vus_are_refused_with_what_to_do() {
        let e = check_run(MAX_VUS_PER_PROCESS + 1).unwrap_err();
        assert!(e.contains("--segment"), "{e}");
    }

    #[test]
    fn a_small_run_fits() {
        assert!(check_run(1).is_ok());
    }
}

//! Limits that protect the machine, checked before a run starts: VUs per process, and open
//! files (`RLIMIT_NOFILE`), since every busy VU holds a socket.
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

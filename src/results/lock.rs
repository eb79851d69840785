//! One run at a time per results file: the [`RunLock`] a run holds from
//! start to end. Two runs of one campaign at once would each dial the rows
//! the other has not recorded yet. An advisory `flock` rather than a lock
//! file that is created and deleted: the kernel releases it however the
//! process ends, so a crash never leaves a stale lock to clear by hand.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use super::error::ResultsError;

/// Held for a whole run: one process at a time appends to a results file.
/// Two runs of one campaign at once would each dial the rows the other has
/// not recorded yet.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// Takes the run lock of a results file: an advisory `flock` on
/// `.<file name>.lock` beside it (the results file itself is replaced by
/// compaction, so it cannot carry the lock). Released when the process
/// ends, however it ends; the lock file stays, empty.
pub fn lock(path: &Path) -> Result<RunLock, ResultsError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "results".into());
    let lock_path = path.with_file_name(format!(".{name}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| ResultsError::Write {
            path: lock_path.clone(),
            source,
        })?;
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a descriptor this function owns; no memory involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            return Err(if err.kind() == io::ErrorKind::WouldBlock {
                ResultsError::Busy {
                    path: path.to_path_buf(),
                }
            } else {
                ResultsError::Write {
                    path: lock_path,
                    source: err,
                }
            });
        }
    }
    Ok(RunLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_run_at_a_time() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.csv");
        let held = lock(&p).unwrap();
        assert!(matches!(lock(&p), Err(ResultsError::Busy { .. })));
        drop(held);
        let _again = lock(&p).unwrap();
    }
}

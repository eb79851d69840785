//! Replacing a file so that a crash leaves either the old one or the new
//! one, never a mix: a temp file in the same folder, written, fsynced,
//! renamed over the target, then the folder fsynced. Compaction, the
//! rewrite of a first-layout file and the state file all go through
//! [`replace`]; [`remove_stale_temp_files`] clears what a killed one left.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// The folder a results file is in (`.` for a bare file name).
pub(super) fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Fsyncs the folder of `path`, so that a file created or renamed there
/// survives a crash.
pub(super) fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(folder_of(path))?.sync_all()
}

/// Name prefix of [`replace`]'s temp files for `target`.
fn temp_prefix(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "results".into());
    let name = name.strip_prefix('.').unwrap_or(&name);
    format!(".{name}.tmp-")
}

/// Replaces `target` atomically with what `fill` writes, keeping the
/// permissions of the file it replaces.
pub(super) fn replace(
    target: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(target))
        .tempfile_in(folder_of(target))?;
    if let Ok(meta) = std::fs::metadata(target) {
        let _ = tmp.as_file().set_permissions(meta.permissions());
    }
    {
        let mut out = io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        fill(&mut out)?;
        out.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(target).map_err(|e| e.error)?;
    sync_dir(target)
}

/// Replaces `target` with `bytes` atomically but without fsync: for a
/// cache beside the results file, which a crash may lose (the next run
/// does the work again) but never leaves half written.
pub(crate) fn replace_unsynced(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(target))
        .tempfile_in(folder_of(target))?;
    tmp.as_file_mut().write_all(bytes)?;
    tmp.persist(target).map_err(|e| e.error)?;
    Ok(())
}

/// Removes temp files a [`replace`] of one of `targets` left behind when it
/// was killed. Only call with the run lock held: then no other process is
/// replacing them.
pub(super) fn remove_stale_temp_files(targets: &[&Path]) {
    for target in targets {
        let prefix = temp_prefix(target);
        // What callplan before the state file named them.
        let old_prefix = prefix.replace(".tmp-", ".compact-");
        let Ok(entries) = std::fs::read_dir(folder_of(target)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(&prefix) || name.starts_with(&old_prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

//! `callplan export`: the recipients joined with their calls' outcomes and
//! post-call data ([`crate::outcomes::export`]), to stdout or, with
//! `--out`, to a file written atomically (a temp file in the same folder,
//! fsynced, renamed over the target), so a CRM import never reads half a
//! file and an interrupted export leaves the old one whole.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::cli::ExportArgs;
use crate::exit::Exit;
use crate::outcomes::{self, ExportOptions};
use crate::plan;
use crate::redact::Masked;

/// Runs `callplan export`.
pub fn main(args: ExportArgs) -> anyhow::Result<Exit> {
    let plan = plan::load(&args.plan)?;
    // The export carries recipients' cells and what the API said: a key
    // pasted into either must not reach the CRM file.
    crate::redact::register_env(&plan.api.api_key_env);
    let results = match &args.results {
        Some(p) => plan::absolute(p),
        None if args.sandbox => super::run::sandbox_results_path(plan.results_path()),
        None => plan.results_path().to_path_buf(),
    };
    let opts = ExportOptions {
        format: args.format,
        transcripts: args.transcripts,
    };
    let summary = match &args.out {
        None => {
            let stdout = std::io::stdout();
            let mut out = Masked::new(std::io::BufWriter::new(stdout.lock()));
            let summary = outcomes::export(&plan, &results, opts, &mut out)?;
            out.flush()?;
            summary
        }
        Some(target) => {
            refuse_own_files(target, &plan, &results)?;
            write_atomically(target, |out| {
                Ok(outcomes::export(&plan, &results, opts, out)?)
            })
            .with_context(|| format!("cannot write --out file {}", target.display()))?
        }
    };
    if !results.exists() {
        eprintln!(
            "note: no results file {} yet: every recipient has empty call columns",
            plan::display_path(&results)
        );
    }
    let to = match &args.out {
        Some(p) => format!(" to {}", p.display()),
        None => String::new(),
    };
    eprintln!(
        "exported {} rows{to}: {} in the results file, {} with post-call data",
        summary.rows, summary.in_results, summary.with_post_call
    );
    Ok(Exit::Ok)
}

/// `--out` must not be a file the export reads: replacing it would destroy it.
fn refuse_own_files(target: &Path, plan: &plan::Plan, results: &Path) -> anyhow::Result<()> {
    let Ok(out) = std::fs::canonicalize(target) else {
        return Ok(());
    };
    let store = outcomes::store_path(results);
    let own = [&plan.path, &plan.recipients, &results.to_path_buf(), &store];
    if own
        .iter()
        .any(|p| std::fs::canonicalize(p).is_ok_and(|p| p == out))
    {
        anyhow::bail!(
            "--out {} is the plan, the recipients, the results file or the post-call store: \
             writing it would destroy it; choose another file",
            target.display()
        );
    }
    Ok(())
}

/// Writes `target` through a temp file in its folder: written, fsynced,
/// renamed over `target`, folder fsynced. On error the temp file is
/// removed and `target` is untouched.
fn write_atomically<T>(
    target: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let folder = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".callplan-export-")
        .suffix(".tmp")
        .tempfile_in(folder)?;
    let mut out = Masked::new(std::io::BufWriter::new(tmp.as_file()));
    let value = write(&mut out)?;
    out.flush()?;
    drop(out);
    tmp.as_file().sync_all()?;
    tmp.persist(target).map_err(|e| e.error)?;
    if let Ok(dir) = std::fs::File::open(folder) {
        let _ = dir.sync_all();
    }
    Ok(value)
}

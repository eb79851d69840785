//! `callplan validate`: load the plan, check every row, print the report.
//!
//! Exit 0 when nothing blocks a run (warnings allowed), 1 when something
//! does, 2 when the plan or the CSV cannot be read at all.

use std::io::Write;

use anyhow::Context;

use crate::exit::Exit;
use crate::plan;
use crate::validate::{self, ErrorsOut};

pub fn main(args: crate::cli::ValidateArgs) -> anyhow::Result<Exit> {
    let plan = plan::load(&args.plan)?;
    crate::redact::register_env(&plan.api.api_key_env);
    let recipients = match &args.recipients {
        Some(p) => plan::absolute(p),
        None => plan.recipients.clone(),
    };
    if let Some(out) = &args.errors_out
        && let Ok(out) = std::fs::canonicalize(out)
        && [&recipients, &plan.path]
            .into_iter()
            .chain(&plan.suppress)
            .any(|p| std::fs::canonicalize(p).is_ok_and(|p| p == out))
    {
        anyhow::bail!(
            "--errors-out {} is the plan, the recipients file or a do-not-call list: writing \
             it would destroy it; choose another file",
            out.display()
        );
    }
    let mut errors_out = match &args.errors_out {
        Some(p) => Some(
            ErrorsOut::create(p)
                .with_context(|| format!("cannot write --errors-out file {}", p.display()))?,
        ),
        None => None,
    };
    let report = validate::check(&plan, &recipients, &mut |f| {
        if let Some(w) = errors_out.as_mut() {
            w.write(f);
        }
    })?;
    if let (Some(w), Some(p)) = (errors_out, &args.errors_out) {
        w.finish()
            .with_context(|| format!("cannot write --errors-out file {}", p.display()))?;
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    validate::write_report(&report, args.format, &mut out)?;
    out.flush()?;
    Ok(if report.has_errors() {
        Exit::Invalid
    } else {
        Exit::Ok
    })
}

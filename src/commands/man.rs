//! `callplan man`: the man page (roff) on stdout.
//!
//! clap_mangen renders the head of the page (title, name, synopsis,
//! description, global options) from the same clap `Command` that parses the
//! arguments; its own subcommand list only names `callplan-validate(1)`
//! pages that do not exist, so COMMANDS is rendered here instead, one
//! entry per subcommand with its usage, its long help (examples included)
//! and its options. EXIT STATUS comes from [`Exit::ALL`], the one table of
//! exit codes, and ENVIRONMENT lists the variables callplan reads.

use std::io::Write;

use clap::CommandFactory;
use roff::{Roff, bold, italic, roman};

use crate::cli::{Cli, ManArgs};
use crate::exit::Exit;

/// Environment variables callplan reads, and what for.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "DIALNEXA_API_KEY",
        "The API key (a plan may name another variable in api.api_key_env). \
         Never read from the plan, never printed.",
    ),
    ("DIALNEXA_BASE_URL", "Overrides the plan's api.base_url."),
    (
        "RUST_LOG",
        "Log filter (tracing's env-filter syntax); overrides -v.",
    ),
    ("NO_COLOR", "When set, log lines carry no colour."),
];

/// One of clap_mangen's section renderers.
type Piece = fn(&clap_mangen::Man, &mut dyn Write) -> std::io::Result<()>;

/// The whole page, as roff source.
pub fn page() -> Vec<u8> {
    let mut cmd = Cli::command();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    // Each clap_mangen piece starts with the same preamble; keep the first.
    let preamble = Roff::new().render();
    let mut out = Vec::new();
    let pieces: [Piece; 5] = [
        clap_mangen::Man::render_title,
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ];
    for (i, render) in pieces.into_iter().enumerate() {
        let mut piece = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = render(&man, &mut piece);
        let body = match piece.strip_prefix(preamble.as_bytes()) {
            Some(rest) if i > 0 => rest,
            _ => &piece[..],
        };
        out.extend_from_slice(body);
    }
    let mut tail = Roff::new();
    commands_section(&mut tail, &mut cmd);
    exit_status_section(&mut tail);
    environment_section(&mut tail);
    let tail = tail.render();
    out.extend_from_slice(tail.strip_prefix(&preamble).unwrap_or(&tail).as_bytes());
    let mut version = Vec::new();
    let _ = man.render_version_section(&mut version);
    out.extend_from_slice(
        version
            .strip_prefix(preamble.as_bytes())
            .unwrap_or(&version),
    );
    out
}

/// COMMANDS: per subcommand, its usage, long help and options.
fn commands_section(roff: &mut Roff, cmd: &mut clap::Command) {
    roff.control("SH", ["COMMANDS"]);
    for sub in cmd.get_subcommands_mut() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let usage = sub.render_usage().to_string();
        let usage = usage.trim().trim_start_matches("Usage:").trim();
        roff.control("SS", [format!("callplan {}", sub.get_name()).as_str()]);
        roff.text([bold(usage)]);
        if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
            roff.control("PP", []);
            roff.control("nf", []);
            for line in about.to_string().lines() {
                roff.text([roman(line)]);
            }
            roff.control("fi", []);
        }
        for arg in sub.get_arguments() {
            // Global options (-v) are listed once, under OPTIONS.
            if arg.is_hide_set()
                || arg.is_global_set()
                || matches!(arg.get_id().as_str(), "help" | "version")
            {
                continue;
            }
            roff.control("TP", []);
            roff.text(arg_heading(arg));
            if let Some(help) = arg.get_long_help().or_else(|| arg.get_help()) {
                roff.text([roman(help.to_string())]);
            }
            let defaults: Vec<_> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            if !defaults.is_empty() {
                roff.text([roman(format!("[default: {}]", defaults.join(", ")))]);
            }
            let values: Vec<_> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_string())
                .collect();
            if !values.is_empty() && arg.get_action().takes_values() {
                roff.text([roman(format!("[possible values: {}]", values.join(", ")))]);
            }
        }
    }
}

/// `-q, --quiet`, `--rate PER_SECOND`, `PLAN`: the flags bold, values italic.
fn arg_heading(arg: &clap::Arg) -> Vec<roff::Inline> {
    let value = arg
        .get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
    if arg.is_positional() {
        return vec![italic(value)];
    }
    let mut flags = Vec::new();
    if let Some(s) = arg.get_short() {
        flags.push(format!("-{s}"));
    }
    if let Some(l) = arg.get_long() {
        flags.push(format!("--{l}"));
    }
    let mut out = vec![bold(flags.join(", "))];
    if arg.get_action().takes_values() {
        out.push(roman(" "));
        out.push(italic(value));
    }
    out
}

fn exit_status_section(roff: &mut Roff) {
    roff.control("SH", ["EXIT STATUS"]);
    for exit in Exit::ALL {
        roff.control("TP", []);
        roff.text([bold(exit.code().to_string())]);
        roff.text([roman(exit.description())]);
    }
}

fn environment_section(roff: &mut Roff) {
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, what) in ENVIRONMENT {
        roff.control("TP", []);
        roff.text([bold(*name)]);
        roff.text([roman(*what)]);
    }
}

/// Runs `callplan man`.
pub fn main(_args: ManArgs) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    out.write_all(&page())?;
    out.flush()?;
    Ok(Exit::Ok)
}

//! Integration tests: the commands that fit callplan into its users' tools.
//! `completions` and `man` (generated from the clap definitions: every
//! subcommand present, and every exit code in the man page), and `init`
//! (a plan written for a recipients file that `validate` accepts once its
//! placeholders are filled in).

use std::process::{Command, Output};

use callplan::exit::Exit;
use clap::CommandFactory;

use crate::common::{bin, show};

fn callplan(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("DIALNEXA_API_KEY")
        .output()
        .expect("the callplan binary runs")
}

/// Every subcommand name, from the same clap definitions the binary parses.
fn subcommands() -> Vec<String> {
    let names: Vec<String> = callplan::cli::Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for expected in [
        "validate",
        "run",
        "status",
        "track",
        "sandbox",
        "completions",
        "man",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    names
}

#[test]
fn every_shell_gets_a_script_naming_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = callplan(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", show(&out));
        let script = String::from_utf8(out.stdout).expect("UTF-8 script");
        assert!(script.len() > 500, "{shell}: {} bytes", script.len());
        assert!(script.contains("callplan"), "{shell}");
        for sub in subcommands() {
            assert!(script.contains(&sub), "{shell} script lacks `{sub}`");
        }
        // Options of subcommands are completed too, not only their names.
        assert!(script.contains("errors-out"), "{shell} lacks --errors-out");
    }
}

#[test]
fn the_bash_script_loads_and_registers_the_completion() {
    let out = callplan(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("callplan.bash");
    std::fs::write(&file, &out.stdout).unwrap();
    let Ok(bash) = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p callplan",
            file.display()
        ))
        .output()
    else {
        return; // no bash on this machine: the script was checked above
    };
    assert_eq!(bash.status.code(), Some(0), "{}", show(&bash));
    assert!(String::from_utf8_lossy(&bash.stdout).contains("callplan"));
}

#[test]
fn an_unknown_shell_is_a_usage_error_naming_the_choices() {
    let out = callplan(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bash") && err.contains("powershell"), "{err}");
}

/// The man page with roff's escapes undone, for plain-text searching.
fn man_page() -> (String, String) {
    let out = callplan(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let roff = String::from_utf8(out.stdout).expect("UTF-8 roff");
    let plain = roff
        .replace("\\-", "-")
        .replace("\\*(Aq", "'")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "");
    (roff, plain)
}

#[test]
fn the_man_page_has_every_subcommand_and_every_exit_code() {
    let (roff, plain) = man_page();
    assert!(
        roff.starts_with(".ie") || roff.starts_with(".TH"),
        "{roff:.200}"
    );
    assert!(roff.contains(".TH callplan 1"), "{roff:.400}");
    assert_eq!(roff.matches(".SH \"EXIT STATUS\"").count(), 1);
    for sub in subcommands() {
        assert!(
            roff.contains(&format!(".SS \"callplan {sub}\"")),
            "no COMMANDS entry for {sub}"
        );
    }
    let exit_status = plain
        .split(".SH \"EXIT STATUS\"")
        .nth(1)
        .and_then(|s| s.split(".SH").next())
        .expect("an EXIT STATUS section");
    assert_eq!(Exit::ALL.len(), 6);
    for exit in Exit::ALL {
        let entry = format!(".TP\n{}\n{}\n", exit.code(), exit.description());
        assert!(exit_status.contains(&entry), "{entry:?} in {exit_status}");
    }
    // Options of a subcommand, with their values, and the environment.
    assert!(plain.contains("--errors-out CSV"), "{plain}");
    assert!(plain.contains("DIALNEXA_API_KEY"));
    // Roff control characters in help text are escaped, not executed.
    assert!(!roff.lines().any(|l| l.starts_with("\\.")), "{roff}");
}

#[test]
fn man_renders_without_roff_warnings_where_man_is_installed() {
    let out = callplan(&["man"]);
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("callplan.1");
    std::fs::write(&page, &out.stdout).unwrap();
    let Ok(rendered) = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(&page)
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
    else {
        return; // no man on this machine
    };
    if rendered.status.code() != Some(0) {
        return; // man present but unable to format here (no groff)
    }
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(text.contains("EXIT STATUS"), "{text}");
    assert!(text.contains("130"), "{text}");
    let warnings = String::from_utf8_lossy(&rendered.stderr);
    assert!(warnings.trim().is_empty(), "{warnings}");
}

//! The hardened `liballocgator.so` against one C program per heap attack (`tests/c/attacks.c`),
//! run by `LD_PRELOAD` as any program would get it: each attack must end in an abort naming
//! the problem and the address the program printed, or in a fault on a guard page; the
//! requests that must fail cleanly must do so.
//!
//! Under the default build the same program shows what it catches without hardening:
//! `cargo test --release -p allocgator-capi --test attacks -- --ignored --nocapture` prints
//! one line per attack for whichever build the test was compiled with (the README's table).
mod common;

use std::os::unix::process::ExitStatusExt;

/// How an attack must end under the hardened build.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// SIGABRT, the report naming this problem and the printed address.
    Abort(&'static str),
    /// SIGSEGV after the program printed "overflowing" (a guard page).
    Fault,
    /// Exit 0 with a line starting with "ok".
    Refused,
}

impl Expect {
    /// What the hardened build must do, in words.
    fn describe(self) -> String {
        match self {
            Expect::Abort(problem) => format!("abort naming \"{problem}\""),
            Expect::Fault => "fault on a guard page".into(),
            Expect::Refused => "refuse cleanly".into(),
        }
    }
}

/// Every attack of `attacks.c`, with what the hardened build does.
const ATTACKS: &[(&str, Expect)] = &[
    ("double_small", Expect::Abort("double free")),
    ("double_later", Expect::Abort("double free")),
    ("double_large", Expect::Abort("double free")),
    ("double_huge", Expect::Abort("huge block freed twice")),
    ("double_remote", Expect::Abort("double free")),
    ("stack", Expect::Abort("does not own")),
    ("global", Expect::Abort("does not own")),
    ("interior", Expect::Abort("interior pointer")),
    ("misaligned", Expect::Abort("misaligned")),
    (
        "write_after_free",
        Expect::Abort("free-list link overwritten"),
    ),
    ("overflow_1", Expect::Abort("heap overflow")),
    ("overflow_8", Expect::Abort("heap overflow")),
    ("overflow_large", Expect::Fault),
    ("overflow_huge", Expect::Fault),
    ("malloc_minus_8", Expect::Refused),
    ("calloc_overflow", Expect::Refused),
    ("malloc0_distinct", Expect::Refused),
];

/// Runs one attack under `LD_PRELOAD`: (signal, exit code or -1, stdout, stderr).
fn run(mode: &str) -> (Option<i32>, i32, String, String) {
    let exe = common::compile_with(
        "attacks.c",
        "attacks",
        &["-fno-builtin", "-lpthread"],
        false,
    );
    let library = common::library();
    let out = common::run(&exe, &[mode], &[("LD_PRELOAD", library.to_str().unwrap())]);
    (
        out.status.signal(),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// How an attack ended, in a few words.
fn outcome(mode: &str) -> String {
    let (signal, code, stdout, stderr) = run(mode);
    let report = stderr
        .lines()
        .find_map(|l| l.strip_prefix("allocgator: "))
        .map(|r| r.split(" at 0x").next().unwrap_or(r).to_string());
    match (signal, report) {
        (Some(6), Some(report)) => format!("abort: {report}"),
        (Some(11), _) => "fault (SIGSEGV)".to_string(),
        (Some(s), _) => format!("signal {s}"),
        (None, _) if stdout.lines().any(|l| l.starts_with("ok")) => "refused cleanly".into(),
        (None, _) if stdout.contains("not detected") => "not detected".into(),
        (None, _) => format!("exit {code}"),
    }
}

#[cfg(feature = "hardened")]
#[test]
fn every_attack_is_caught_by_the_hardened_build() {
    let mut failures = Vec::new();
    for &(mode, expect) in ATTACKS {
        let (signal, code, stdout, stderr) = run(mode);
        let printed = stdout.lines().next().unwrap_or_default().trim().to_string();
        let ok = match expect {
            Expect::Abort(problem) => {
                signal == Some(6)
                    && stderr
                        .lines()
                        .any(|l| l.starts_with("allocgator: ") && l.contains(problem))
                    && !printed.is_empty()
                    && stderr.contains(&printed)
            }
            Expect::Fault => signal == Some(11) && stdout.contains("overflowing"),
            Expect::Refused => code == 0 && stdout.starts_with("ok"),
        };
        if !ok {
            failures.push(format!(
                "{mode}: expected {expect:?}, got signal {signal:?} exit {code}\n  stdout: \
                 {stdout}\n  stderr: {stderr}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The README's table: one line per attack, for the build this test was compiled with.
#[test]
#[ignore = "prints a table; run with --ignored --nocapture, once per build"]
fn attack_outcomes() {
    let build = if cfg!(feature = "hardened") {
        "hardened"
    } else {
        "default"
    };
    println!("| attack | {build} build | the hardened build must |\n|---|---|---|");
    for &(mode, expect) in ATTACKS {
        println!("| `{mode}` | {} | {} |", outcome(mode), expect.describe());
    }
}

//! `--callgrind`: instructions per malloc+free pair for W1.
//!
//! Each (allocator, size) is run twice under `valgrind --tool=callgrind` with
//! N1 and N2 iterations; (Ir(N2) − Ir(N1)) / (N2 − N1) cancels process start,
//! allocator initialisation and exit. The same is done for the bare loop
//! (`--impl empty`) so the harness's own per-iteration instructions are known.

use std::path::{Path, PathBuf};
use std::process::{exit, Command, Stdio};

use crate::args::{Mode, Options};
use crate::driver::{build_hint, describe_status, GLOBALS};
use crate::workloads::WORKLOADS;

/// Iteration counts (N1, N2) per mode.
pub fn counts(mode: Mode) -> (u64, u64) {
    match mode {
        Mode::Smoke => (20_000, 120_000),
        Mode::Quick => (100_000, 600_000),
        Mode::Full => (1_000_000, 5_000_000),
    }
}

/// Total instructions (`summary:` or `totals:` line) of a callgrind output file.
pub fn parse_total(out: &str) -> Option<u64> {
    out.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn instructions(
    exe: &Path,
    workload: &str,
    imp: &str,
    iters: u64,
    tmp: &Path,
) -> Result<u64, String> {
    let out_file: PathBuf = tmp.join(format!(
        "{}-{workload}-{imp}-{iters}.out",
        exe.file_name().unwrap().to_string_lossy()
    ));
    let o = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("-q")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(exe)
        .args([
            "--worker",
            workload,
            "--impl",
            imp,
            "--iters",
            &iters.to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run valgrind: {e}"))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string();
        let mut m = format!("{}: {last}", describe_status(&o.status));
        if last.contains("Failed to initialise snmalloc") {
            m.push_str(
                " (snmalloc reserves a flat 256 GiB pagemap \
                 at start-up; valgrind's address-space manager refuses the reservation)",
            );
        }
        return Err(m);
    }
    let text = std::fs::read_to_string(&out_file)
        .map_err(|e| format!("cannot read {}: {e}", out_file.display()))?;
    let _ = std::fs::remove_file(&out_file);
    parse_total(&text).ok_or_else(|| format!("no totals in {}", out_file.display()))
}

fn per_pair(
    exe: &Path,
    workload: &str,
    imp: &str,
    n: (u64, u64),
    tmp: &Path,
) -> Result<f64, String> {
    let a = instructions(exe, workload, imp, n.0, tmp)?;
    let b = instructions(exe, workload, imp, n.1, tmp)?;
    Ok((b as f64 - a as f64) / (n.1 - n.0) as f64)
}

/// Runs the callgrind mode and prints the table.
pub fn run(o: &Options, dir: &Path) {
    if Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("playground: --callgrind needs valgrind on PATH (e.g. apt-get install valgrind)");
        exit(1);
    }
    let sizes: Vec<&str> = WORKLOADS
        .iter()
        .map(|w| w.id)
        .filter(|id| id.starts_with("w1-") && o.selects_workload(id))
        .collect();
    if sizes.is_empty() {
        eprintln!(
            "playground: error: --callgrind measures W1 only; --filter selects no w1-* workload"
        );
        exit(2);
    }
    let n = counts(o.mode);
    let tmp = std::env::temp_dir().join(format!("playground-callgrind-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&tmp) {
        eprintln!("playground: cannot create {}: {e}", tmp.display());
        exit(1);
    }
    eprintln!(
        "playground: callgrind, W1 with N1 = {} and N2 = {} pairs per allocator and size",
        n.0, n.1
    );
    let mut rows: Vec<(String, Vec<Result<f64, String>>)> = Vec::new();
    let sys = dir.join("pg-system");
    if sys.is_file() {
        eprintln!("  loop only …");
        rows.push((
            "(loop only)".to_string(),
            sizes
                .iter()
                .map(|s| per_pair(&sys, s, "empty", n, &tmp))
                .collect(),
        ));
    }
    for (name, exe_name) in GLOBALS {
        if !o.selects_alloc(name) {
            continue;
        }
        let exe = dir.join(exe_name);
        if !exe.is_file() {
            let m = build_hint(exe_name);
            eprintln!("warning: {m}");
            rows.push((
                name.to_string(),
                sizes.iter().map(|_| Err(format!("MISSING: {m}"))).collect(),
            ));
            continue;
        }
        let mut cells = Vec::new();
        for s in &sizes {
            eprintln!("  {name} {s} …");
            let r = per_pair(&exe, s, "global", n, &tmp);
            if let Err(e) = &r {
                eprintln!("  {name} {s}: FAILED — {e}");
            }
            cells.push(r);
        }
        rows.push((name.to_string(), cells));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    println!(
        "\nW1 under callgrind: instructions per malloc+free pair = (Ir(N2) − Ir(N1)) / (N2 − N1), \
         N1 = {}, N2 = {}\n(rows include the loop; `(loop only)` is the harness loop alone)\n",
        n.0, n.1
    );
    let mut head = format!("  {:<12}", "allocator");
    for s in &sizes {
        head.push_str(&format!(
            "{:>10}",
            format!("{} B", s.trim_start_matches("w1-"))
        ));
    }
    println!("{head}");
    let mut failures = Vec::new();
    for (name, cells) in &rows {
        let mut line = format!("  {name:<12}");
        for (s, c) in sizes.iter().zip(cells) {
            match c {
                Ok(v) => line.push_str(&format!("{v:>10.1}")),
                Err(e) => {
                    line.push_str(&format!("{:>10}", "FAILED"));
                    failures.push(format!("{name} {s}: {e}"));
                }
            }
        }
        println!("{line}");
    }
    for f in failures {
        println!("  * {f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_parsing() {
        assert_eq!(parse_total("events: Ir\nsummary: 123456\n"), Some(123456));
        assert_eq!(parse_total("events: Ir\ntotals: 42 7\n"), Some(42));
        assert_eq!(parse_total("events: Ir\n"), None);
        let (a, b) = counts(Mode::Quick);
        assert!(b > a);
    }
}

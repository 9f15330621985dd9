//! The `playground` driver: plans rows, spawns one worker process per
//! (workload, allocator, repetition), interleaves allocators, prints tables.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{exit, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::args::{self, Mode, Options, UsageError};
use crate::locals::{unavailable_note, Local};
use crate::report::{self, RowResult, RowState, WorkloadResult};
use crate::worker::{parse_result, WorkerResult};
use crate::workloads::{Workload, WORKLOADS};

/// Global allocators: (name, worker binary).
pub const GLOBALS: &[(&str, &str)] = &[
    ("glibc", "pg-system"),
    ("mimalloc", "pg-mimalloc"),
    ("jemalloc", "pg-jemalloc"),
    ("snmalloc", "pg-snmalloc"),
    ("allocgator", "pg-allocgator"),
];

/// Every name `--alloc` accepts (canonical).
pub const ALLOC_NAMES: &[&str] = &[
    "glibc",
    "mimalloc",
    "jemalloc",
    "snmalloc",
    "allocgator",
    "bumpalo",
    "bump-scope",
];

/// Worker binary of a global allocator.
pub fn exe_name(alloc: &str) -> &'static str {
    GLOBALS
        .iter()
        .find(|(n, _)| *n == alloc)
        .map(|(_, e)| *e)
        .expect("known allocator")
}

/// How to build missing worker binaries.
pub fn build_hint(exe: &str) -> String {
    let mut s = format!(
        "`{exe}` is not next to the driver; build all workers with \
         `cargo build -p playground --release` (or start the driver with \
         `cargo run -p playground --release`, which builds them)"
    );
    if exe == "pg-allocgator" {
        s.push_str(
            " (pg-allocgator needs the default `allocgator` feature and a compiling \
             allocgator library; `--no-default-features` builds the peers only)",
        );
    }
    s
}

/// One planned row.
#[derive(Clone, Debug)]
pub struct RowPlan {
    /// Label in the table.
    pub label: String,
    /// Worker executable (if it can run).
    pub exe: Option<PathBuf>,
    /// `--impl` value.
    pub impl_tag: &'static str,
    /// Initial state (Ran = runnable).
    pub state: RowState,
}

/// The rows of a workload, filtered by `--alloc`.
pub fn plan_rows(w: &Workload, o: &Options, dir: &Path) -> Vec<RowPlan> {
    let mut rows = Vec::new();
    let mut add = |label: &str, host: &str, impl_tag: &'static str, avail: Option<String>| {
        let exe = dir.join(exe_name(host));
        let state = match avail {
            Some(note) => RowState::Unavailable(note),
            None if !exe.is_file() => RowState::Missing(format!(
                "`{}` not built (see the build hint printed at the start)",
                exe_name(host)
            )),
            None => RowState::Ran,
        };
        let exe = (state == RowState::Ran).then_some(exe);
        rows.push(RowPlan {
            label: label.to_string(),
            exe,
            impl_tag,
            state,
        });
    };
    if w.globals {
        for (name, _) in GLOBALS {
            if o.selects_alloc(name) {
                add(name, name, "global", None);
            }
        }
    }
    for l in w.locals {
        if o.selects_alloc(l.alloc_name()) {
            let avail = (!l.available()).then(|| unavailable_note(*l).to_string());
            add(l.label(), l.host(), l.impl_tag(), avail);
        }
    }
    if w.globals {
        // `--worker` rows, after the built-in ones.
        for (name, path) in &o.workers {
            rows.push(RowPlan {
                label: name.clone(),
                exe: Some(path.clone()),
                impl_tag: "global",
                state: RowState::Ran,
            });
        }
    }
    rows
}

/// Describes how a worker ended.
pub fn describe_status(st: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = st.signal() {
        let name = match sig {
            4 => " (SIGILL)",
            6 => " (SIGABRT)",
            7 => " (SIGBUS)",
            8 => " (SIGFPE)",
            9 => " (SIGKILL)",
            11 => " (SIGSEGV)",
            _ => "",
        };
        let core = if st.core_dumped() {
            ", core dumped"
        } else {
            ""
        };
        format!("killed by signal {sig}{name}{core}")
    } else {
        format!("exit status {}", st.code().unwrap_or(-1))
    }
}

/// The most telling line of a worker's stderr (a panic message if any).
fn stderr_hint(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let pick = lines
        .iter()
        .position(|l| l.contains("panicked"))
        .map(|i| {
            // Rust ≥ 1.73 prints the message on the line after "panicked at file:line:".
            let mut s = lines[i].to_string();
            if let Some(next) = lines.get(i + 1) {
                s.push(' ');
                s.push_str(next);
            }
            s
        })
        .or_else(|| lines.last().map(|s| s.to_string()))?;
    let mut s: String = pick.chars().take(200).collect();
    if pick.chars().count() > 200 {
        s.push('…');
    }
    Some(s)
}

/// Runs one worker process; `Err` describes a failure.
pub fn run_worker(exe: &Path, args: &[String], timeout: Duration) -> Result<WorkerResult, String> {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let pid = child.id();
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let t_out = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let mut timed_out = false;
    let status = match rx.recv_timeout(timeout) {
        Ok(st) => st,
        Err(_) => {
            timed_out = true;
            // SAFETY: plain kill(2) of the child we spawned (it has not been reaped yet,
            // since the waiter thread has not returned).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            rx.recv()
                .unwrap_or_else(|_| Err(std::io::Error::other("waiter thread died")))
        }
    }
    .map_err(|e| format!("waiting for worker: {e}"))?;
    let stdout = t_out.join().unwrap_or_default();
    let stderr = t_err.join().unwrap_or_default();
    if timed_out {
        return Err(format!(
            "timed out after {:.0} s (killed)",
            timeout.as_secs_f64()
        ));
    }
    if !status.success() {
        let mut m = describe_status(&status);
        if let Some(h) = stderr_hint(&stderr) {
            m.push_str(": ");
            m.push_str(&h);
        }
        return Err(m);
    }
    parse_result(&stdout).ok_or_else(|| {
        format!(
            "exited 0 but printed no result line (stdout: {:?})",
            stdout.trim()
        )
    })
}

/// Progress reporting on stderr.
pub struct Progress {
    tty: bool,
    total: usize,
    done: usize,
    started: Instant,
}

impl Progress {
    /// `total` runs are planned.
    pub fn new(total: usize) -> Self {
        Progress {
            tty: std::io::stderr().is_terminal(),
            total,
            done: 0,
            started: Instant::now(),
        }
    }

    /// Before a run.
    pub fn run(&mut self, workload: &str, label: &str, rep: usize, reps: usize) {
        if self.tty {
            eprint!(
                "\r\x1b[2K[{:>4}/{}] {:>5.1}s  {workload}  {label}  rep {}/{reps}",
                self.done + 1,
                self.total,
                self.started.elapsed().as_secs_f64(),
                rep + 1
            );
            let _ = std::io::stderr().flush();
        }
        self.done += 1;
    }

    /// Before a workload starts.
    pub fn workload(&mut self, idx: usize, count: usize, w: &str, runs: usize) {
        if !self.tty {
            eprintln!(
                "[{}/{count}] {w}: {runs} runs (elapsed {:.1} s)",
                idx + 1,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    /// A message that must not be overwritten.
    pub fn note(&mut self, msg: &str) {
        self.clear();
        eprintln!("{msg}");
    }

    /// Clears the progress line (before printing on stdout).
    pub fn clear(&mut self) {
        if self.tty {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
        }
    }

    /// Seconds since start.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// Default per-run time limit.
fn default_timeout(mode: Mode) -> f64 {
    match mode {
        Mode::Smoke => 60.0,
        Mode::Quick => 120.0,
        Mode::Full => 300.0,
    }
}

/// Runs every selected workload and returns the results.
pub fn run_all(o: &Options, dir: &Path) -> Vec<WorkloadResult> {
    let reps = o.repeat();
    let timeout = Duration::from_secs_f64(o.timeout.unwrap_or_else(|| default_timeout(o.mode)));
    let selected: Vec<&'static Workload> = WORKLOADS
        .iter()
        .filter(|w| o.selects_workload(w.id))
        .collect();
    let plans: Vec<Vec<RowPlan>> = selected.iter().map(|w| plan_rows(w, o, dir)).collect();
    let total: usize = plans
        .iter()
        .map(|p| p.iter().filter(|r| r.exe.is_some()).count() * reps)
        .sum();
    let mut progress = Progress::new(total);
    let driver_mtime = std::env::current_exe()
        .and_then(std::fs::metadata)
        .and_then(|m| m.modified())
        .ok();
    for (name, exe) in GLOBALS {
        let used = o.selects_alloc(name)
            || (*name == "glibc" && (o.selects_alloc("bumpalo") || o.selects_alloc("bump-scope")));
        let path = dir.join(exe);
        if used && !path.is_file() {
            progress.note(&format!("warning: {}", build_hint(exe)));
        } else if let (true, Some(d), Ok(w)) = (
            used,
            driver_mtime,
            std::fs::metadata(&path).and_then(|m| m.modified()),
        ) {
            // `cargo run` rebuilds only the driver: warn about workers left behind.
            if let Ok(age) = d.duration_since(w) {
                if age > Duration::from_secs(60) {
                    progress.note(&format!(
                        "warning: `{exe}` is {:.0} s older than the driver and may be stale \
                         (`cargo run` rebuilds only the driver); {}",
                        age.as_secs_f64(),
                        "rebuild all workers with `cargo build -p playground --release`"
                    ));
                }
            }
        }
    }
    let mut results = Vec::new();
    let stdout = std::io::stdout();
    for (wi, (w, plan)) in selected.iter().zip(plans).enumerate() {
        let n = w.n_for(o.mode.divisor());
        let runnable: Vec<usize> = (0..plan.len()).filter(|&i| plan[i].exe.is_some()).collect();
        progress.workload(wi, selected.len(), w.id, runnable.len() * reps);
        let mut rows: Vec<RowResult> = plan
            .iter()
            .map(|p| RowResult {
                label: p.label.clone(),
                state: p.state.clone(),
                runs: vec![None; reps],
            })
            .collect();
        for rep in 0..reps {
            // Interleave: A B C …, rotating the start each repetition.
            let k = runnable.len();
            for j in 0..k {
                let i = runnable[(j + rep) % k];
                if rows[i].state != RowState::Ran {
                    continue; // failed earlier: do not retry
                }
                let p = &plan[i];
                progress.run(w.id, &p.label, rep, reps);
                let args = vec![
                    "--worker".to_string(),
                    w.id.to_string(),
                    "--mode".to_string(),
                    o.mode.name().to_string(),
                    "--impl".to_string(),
                    p.impl_tag.to_string(),
                ];
                match run_worker(p.exe.as_ref().expect("runnable"), &args, timeout) {
                    Ok(r) => rows[i].runs[rep] = Some(r),
                    Err(m) => {
                        progress.note(&format!("{} {}: FAILED — {m}", w.id, p.label));
                        rows[i].state = RowState::Failed(m);
                    }
                }
            }
        }
        let wr = WorkloadResult {
            workload: w,
            n,
            repeat: reps,
            rows,
        };
        progress.clear();
        let mut out = stdout.lock();
        let _ = out.write_all(report::text_block(&wr).as_bytes());
        let _ = out.flush();
        results.push(wr);
    }
    progress.clear();
    eprintln!("finished {} runs in {:.1} s", total, progress.elapsed());
    results
}

/// What `--help` prints after the flags: how ratios read, the allocators, the workloads.
pub fn after_help() -> String {
    let mut s = String::from(
        "Examples:
    playground                       every workload × allocator, quick (the default)
    playground --smoke               seconds: checks that everything runs
    playground --filter w1,l2 --alloc glibc,mimalloc,allocgator --repeat 7 --markdown r.md
    playground --callgrind           instructions per malloc+free pair (W1)
    playground run -- python3 -c 'print(sum(range(10**7)))'
    playground suite --mimalloc-bench ~/mimalloc-bench --markdown suite.md

Ratios: `vs glibc` / `vs mimalloc` = this row's time per operation divided by glibc's /
mimalloc's, computed per repetition (runs are interleaved) and shown as median (min–max).
Below 1 is faster.

",
    );
    s.push_str("Allocators:\n    ");
    s.push_str(&ALLOC_NAMES.join(", "));
    s.push_str("\n\nWorkloads:\n");
    for w in WORKLOADS {
        s.push_str(&format!("    {:<18}{}\n", w.id, w.title));
    }
    s
}

pub(crate) fn usage_error(e: &UsageError) -> ! {
    eprintln!("playground: error: {e}");
    eprintln!("run `playground --help` for the usage");
    exit(2);
}

/// Exits with a usage error unless every output file's directory exists (checked before any
/// work, so a typo does not cost a whole run).
pub(crate) fn check_output_dirs(files: &[&Option<PathBuf>]) {
    for p in files.iter().copied().flatten() {
        let parent = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            usage_error(&UsageError(format!(
                "cannot write {}: directory {} does not exist",
                p.display(),
                parent.display()
            )));
        }
    }
}

pub(crate) fn write_file(path: &Path, what: &str, contents: &str) {
    match std::fs::write(path, contents) {
        Ok(()) => eprintln!("wrote {what} to {}", path.display()),
        Err(e) => {
            eprintln!("playground: cannot write {what} to {}: {e}", path.display());
            exit(1);
        }
    }
}

/// When started by `cargo run` (cargo sets `$CARGO`), builds the sibling worker binaries with
/// the same profile first: `cargo run` builds only the binary it runs, and a stale or missing
/// worker would measure the wrong code.
fn build_workers_under_cargo() {
    let Some(cargo) = std::env::var_os("CARGO") else {
        return;
    };
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "playground", "--bins"]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    eprintln!("playground: building the worker binaries (cargo build -p playground --bins)");
    match cmd.status() {
        Ok(status) if status.success() => {}
        Ok(status) => {
            eprintln!("playground: building the workers failed ({status}); rows whose worker is missing are reported as such");
        }
        Err(e) => eprintln!("playground: could not run cargo to build the workers: {e}"),
    }
}

/// The directory of the running executable, where the workers and libraries are.
pub fn exe_dir() -> PathBuf {
    match std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        Some(d) => d,
        None => {
            eprintln!("playground: cannot find the directory of the running executable");
            exit(1);
        }
    }
}

/// Entry point of the `playground` binary.
pub fn main() {
    use clap::{CommandFactory, FromArgMatches};
    // clap prints `--help` and its own usage errors (status 2) and exits.
    let matches = args::Cli::command().after_help(after_help()).get_matches();
    let cli = args::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        Some(args::Command::Run(run)) => return crate::run::main(run, &exe_dir()),
        Some(args::Command::Suite(suite)) => return crate::suite::main(suite, &exe_dir()),
        None => {}
    }
    let ids: Vec<&str> = WORKLOADS.iter().map(|w| w.id).collect();
    let o = match args::resolve(cli.bench, &ids, ALLOC_NAMES) {
        Ok(o) => o,
        Err(e) => usage_error(&e),
    };
    if o.list {
        for w in WORKLOADS {
            let locals: Vec<&str> = w.locals.iter().map(|l: &Local| l.label()).collect();
            println!(
                "{:<18} {:>12} {:<12} {}{}",
                w.id,
                w.n_for(o.mode.divisor()),
                w.unit,
                w.title,
                if locals.is_empty() {
                    String::new()
                } else {
                    format!(" [+ {}]", locals.join(", "))
                }
            );
        }
        return;
    }
    check_output_dirs(&[&o.markdown, &o.csv, &o.svg]);
    let dir = exe_dir();
    build_workers_under_cargo();
    if o.callgrind {
        crate::callgrind::run(&o, &dir);
        return;
    }
    let any_worker = GLOBALS.iter().any(|(_, e)| dir.join(e).is_file());
    if !any_worker {
        eprintln!("playground: no worker binaries found in {}", dir.display());
        eprintln!("{}", build_hint("pg-system"));
        exit(1);
    }
    eprintln!(
        "playground: mode {}, {} runs per row, workers in {}",
        o.mode.name(),
        o.repeat(),
        dir.display()
    );
    let results = run_all(&o, &dir);
    if let Some(p) = &o.markdown {
        let mut md = format!(
            "# allocgator playground results\n\nMode `{}`, {} interleaved runs per row. \
             `vs X` = time per operation ÷ X's, paired per run, median (min–max); below 1 is faster.\n\n",
            o.mode.name(),
            o.repeat()
        );
        for wr in &results {
            md.push_str(&report::markdown_block(wr));
        }
        write_file(p, "Markdown", &md);
    }
    if let Some(p) = &o.csv {
        let mut csv = String::from(report::CSV_HEADER);
        csv.push('\n');
        for wr in &results {
            csv.push_str(&report::csv_rows(wr));
        }
        write_file(p, "CSV", &csv);
    }
    if let Some(p) = &o.svg {
        write_file(p, "SVG chart", &report::svg_chart(&results));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_marks_missing_and_unavailable() {
        let dir = std::env::temp_dir().join(format!("pg-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pg-system"), b"").unwrap();
        let w = crate::workloads::find("l1-reset").unwrap();
        let o = Options::default();
        let rows = plan_rows(w, &o, &dir);
        let get = |l: &str| rows.iter().find(|r| r.label == l).unwrap();
        assert_eq!(get("glibc").state, RowState::Ran);
        assert_eq!(get("bumpalo").state, RowState::Ran);
        assert!(matches!(get("mimalloc").state, RowState::Missing(_)));
        // The allocgator worker is absent from this directory, so its Arena row is missing too.
        assert!(matches!(
            get("allocgator::Arena").state,
            RowState::Missing(_)
        ));
        let o = Options {
            allocs: vec!["bumpalo".into()],
            ..Options::default()
        };
        let rows = plan_rows(w, &o, &dir);
        assert_eq!(rows.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn extra_workers_add_a_global_row() {
        let worker = PathBuf::from("/some/pg-allocgator");
        let o = Options {
            allocs: vec!["glibc".into()],
            workers: vec![("allocgator-hardened".into(), worker.clone())],
            ..Options::default()
        };
        let dir = std::env::temp_dir();
        let global = crate::workloads::find("w1-16").unwrap();
        let rows = plan_rows(global, &o, &dir);
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["glibc", "allocgator-hardened"]);
        assert_eq!(rows[1].exe.as_ref(), Some(&worker));
        assert_eq!(rows[1].impl_tag, "global");
    }

    #[test]
    fn stderr_hint_prefers_panics() {
        let e = "thread 'main' panicked at src/x.rs:1:2:\nboom\nnote: run with RUST_BACKTRACE=1\n";
        assert_eq!(
            stderr_hint(e).unwrap(),
            "thread 'main' panicked at src/x.rs:1:2: boom"
        );
        assert_eq!(stderr_hint("a\nb\n").unwrap(), "b");
        assert_eq!(stderr_hint(""), None);
    }

    #[test]
    fn failing_worker_is_reported_not_fatal() {
        let r = run_worker(Path::new("/bin/false"), &[], Duration::from_secs(5));
        assert_eq!(r.unwrap_err(), "exit status 1");
        let r = run_worker(
            Path::new("/bin/sleep"),
            &["5".into()],
            Duration::from_millis(100),
        );
        assert!(r.unwrap_err().contains("timed out"));
        let r = run_worker(Path::new("/nonexistent/pg-x"), &[], Duration::from_secs(1));
        assert!(r.unwrap_err().contains("cannot start"));
    }
}

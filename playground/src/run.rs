//! `playground run -- CMD ARGS...`: any program under each allocator, side by side.
//!
//! Each allocator is a shared library put in `LD_PRELOAD` (glibc is the run without one):
//! Debian's `libmimalloc.so.2`, `libjemalloc.so.2` and `libtcmalloc_minimal.so.4` where they
//! are installed, and this workspace's `liballocgator.so` (built first when started by
//! `cargo run`). The runs are interleaved — glibc, mimalloc, …, then glibc again — so a slow
//! moment of the machine hits every allocator alike, and each ratio to glibc is taken within
//! one round, then summarised as median (min–max). Times, peak RSS and page faults come from
//! `wait4`'s `rusage` of the program's process.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{exit, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::args::{Preloads, RunArgs, UsageError};
use crate::driver::{check_output_dirs, usage_error, write_file, Progress};
use crate::report::{fmt_kib, fmt_ratio, fmt_time, render_markdown_table, render_text};
use crate::stats::{paired_ratios, Summary};

/// An allocator `run` knows how to find.
struct Known {
    name: &'static str,
    /// File names to look for in the system's library directories.
    files: &'static [&'static str],
    /// The Debian package that provides it.
    package: &'static str,
}

/// The peers from the system, in display order (glibc and allocgator are handled apart).
const PEERS: &[Known] = &[
    Known {
        name: "mimalloc",
        files: &["libmimalloc.so.2", "libmimalloc.so"],
        package: "libmimalloc2.0",
    },
    Known {
        name: "jemalloc",
        files: &["libjemalloc.so.2", "libjemalloc.so"],
        package: "libjemalloc2",
    },
    Known {
        name: "tcmalloc",
        files: &["libtcmalloc_minimal.so.4", "libtcmalloc.so.4"],
        package: "libtcmalloc-minimal4",
    },
];

/// Every allocator name `--alloc` accepts (more come with `--lib NAME=PATH`).
pub const RUN_ALLOCS: &[&str] = &["glibc", "mimalloc", "jemalloc", "tcmalloc", "allocgator"];

/// Where Debian and others put shared libraries.
const LIB_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
];

/// One allocator to run the program under.
#[derive(Clone, Debug)]
pub struct Contender {
    /// Its name in the table.
    pub name: String,
    /// The library to preload; `None` for glibc.
    pub lib: Option<PathBuf>,
    /// Variables set in this allocator's runs only (`--env NAME:VAR=VALUE`).
    pub env: Vec<(String, String)>,
}

/// One run's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Wall-clock seconds from spawn to exit.
    pub wall: f64,
    /// User CPU seconds.
    pub user: f64,
    /// System CPU seconds.
    pub sys: f64,
    /// Peak resident set size, KiB.
    pub maxrss_kib: f64,
    /// Minor page faults.
    pub minor_faults: f64,
    /// Major page faults.
    pub major_faults: f64,
    /// `None` for exit status 0, else how the program ended.
    pub failure: Option<String>,
}

/// All runs of one allocator; `runs[i]` is round `i`.
#[derive(Clone, Debug)]
pub struct Row {
    /// The allocator.
    pub contender: Contender,
    /// One entry per round; `Err` if the program could not be started.
    pub runs: Vec<Result<Sample, String>>,
}

/// Finds the allocators to run: the selected ones (all by default) whose library exists.
/// Missing ones are named on stderr with the package or command that provides them.
pub fn contenders(preloads: &Preloads, exe_dir: &Path) -> Vec<Contender> {
    let (alloc, libs) = (&preloads.alloc, &preloads.libs);
    let mut names: Vec<String> = RUN_ALLOCS.iter().map(|s| s.to_string()).collect();
    for (name, _) in libs {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let selected = if alloc.is_empty() {
        names.clone()
    } else {
        let valid: Vec<&str> = names.iter().map(String::as_str).collect();
        match crate::args::canonical_allocs(alloc, &valid) {
            Ok(v) => v,
            Err(e) => usage_error(&UsageError(format!(
                "{e}, or one named with --lib NAME=PATH"
            ))),
        }
    };
    let mut out = Vec::new();
    for name in names.into_iter().filter(|n| selected.contains(n)) {
        if let Some((_, path)) = libs.iter().rev().find(|(n, _)| *n == name) {
            if !path.is_file() {
                usage_error(&UsageError(format!(
                    "--lib {name}={}: no such file",
                    path.display()
                )));
            }
            out.push(Contender {
                name,
                lib: Some(path.clone()),
                env: Vec::new(),
            });
            continue;
        }
        match name.as_str() {
            "glibc" => out.push(Contender {
                name,
                lib: None,
                env: Vec::new(),
            }),
            "allocgator" => {
                let lib = exe_dir.join("liballocgator.so");
                if lib.is_file() {
                    out.push(Contender {
                        name,
                        lib: Some(lib),
                        env: Vec::new(),
                    });
                } else {
                    eprintln!(
                        "playground: allocgator skipped: {} not found (cargo build --release -p allocgator-capi)",
                        lib.display()
                    );
                }
            }
            _ => {
                let known = PEERS.iter().find(|k| k.name == name).expect("a known name");
                match find_library(known.files) {
                    Some(lib) => out.push(Contender {
                        name,
                        lib: Some(lib),
                        env: Vec::new(),
                    }),
                    None => eprintln!(
                        "playground: {name} skipped: {} not found (Debian package {}; or --lib {name}=PATH)",
                        known.files[0], known.package
                    ),
                }
            }
        }
    }
    for (name, var, value) in &preloads.env {
        match out.iter_mut().find(|c| c.name == *name) {
            Some(c) => c.env.push((var.clone(), value.clone())),
            None => usage_error(&UsageError(format!(
                "--env {name}:{var}={value}: no allocator `{name}` runs (see --alloc and --lib)"
            ))),
        }
    }
    out
}

/// The first of `files` in the system's library directories.
fn find_library(files: &[&str]) -> Option<PathBuf> {
    LIB_DIRS
        .iter()
        .flat_map(|dir| files.iter().map(move |f| Path::new(dir).join(f)))
        .find(|p| p.is_file())
}

/// `LD_PRELOAD` for `lib`, ahead of whatever the environment already preloads.
fn preload_value(lib: &Path) -> OsString {
    let mut v = OsString::from(lib);
    if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|o| !o.is_empty()) {
        v.push(":");
        v.push(old);
    }
    v
}

/// What to do with the program's output.
#[derive(Clone, Debug)]
pub enum Output {
    /// Discard it.
    Hide,
    /// Let it through to the terminal.
    Show,
    /// Write stdout to this file (stderr discarded).
    Capture(PathBuf),
}

/// One program to run: its command line, and where it runs.
#[derive(Clone, Debug)]
pub struct Job {
    /// The program and its arguments.
    pub command: Vec<OsString>,
    /// Its working directory (the driver's if `None`).
    pub cwd: Option<PathBuf>,
    /// Its standard input (`/dev/null` if `None`).
    pub stdin: Option<PathBuf>,
    /// Its output.
    pub output: Output,
    /// A per-run time limit.
    pub timeout: Option<Duration>,
}

/// Runs the program once under `c`.
pub fn run_once(c: &Contender, job: &Job) -> Result<Sample, String> {
    let command = &job.command;
    let timeout = job.timeout;
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]);
    match &job.stdin {
        Some(path) => {
            let f = std::fs::File::open(path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            cmd.stdin(f);
        }
        None => {
            cmd.stdin(Stdio::null());
        }
    }
    if let Some(dir) = &job.cwd {
        cmd.current_dir(dir);
    }
    match &c.lib {
        Some(lib) => cmd.env("LD_PRELOAD", preload_value(lib)),
        None => cmd.env_remove("LD_PRELOAD"),
    };
    cmd.envs(c.env.iter().map(|(k, v)| (k, v)));
    match &job.output {
        Output::Hide => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        Output::Show => {}
        Output::Capture(path) => {
            let f = std::fs::File::create(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            cmd.stdout(f).stderr(Stdio::null());
        }
    }
    let started = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", command[0].to_string_lossy()))?;
    let pid = child.id() as libc::pid_t;
    let (done, watchdog) = mpsc::channel::<()>();
    let killer = timeout.map(|limit| {
        std::thread::spawn(move || {
            if watchdog.recv_timeout(limit).is_err() {
                // SAFETY: `pid` is our child, not yet reaped (the main thread sends on `done`
                // right after `wait4` returns, before anything can reuse the pid).
                unsafe { libc::kill(pid, libc::SIGKILL) };
                return true;
            }
            false
        })
    });
    let mut status = 0;
    // SAFETY: `rusage` is plain old data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child with valid out-pointers. `child` is dropped without
    // waiting (std's `Child` does not wait on drop), so the process is reaped only here.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = started.elapsed().as_secs_f64();
    let _ = done.send(());
    let killed = killer.map(|k| k.join().unwrap_or(false)).unwrap_or(false);
    drop(child);
    if rc != pid {
        return Err(format!("wait4 failed: {}", std::io::Error::last_os_error()));
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let failure = if killed {
        Some(format!(
            "killed after {:.0} s",
            timeout.unwrap_or_default().as_secs_f64()
        ))
    } else if libc::WIFEXITED(status) {
        match libc::WEXITSTATUS(status) {
            0 => None,
            code => Some(format!("exit {code}")),
        }
    } else if libc::WIFSIGNALED(status) {
        Some(format!("signal {}", libc::WTERMSIG(status)))
    } else {
        Some(format!("status {status:#x}"))
    };
    Ok(Sample {
        wall,
        user: secs(ru.ru_utime),
        sys: secs(ru.ru_stime),
        maxrss_kib: ru.ru_maxrss as f64,
        minor_faults: ru.ru_minflt as f64,
        major_faults: ru.ru_majflt as f64,
        failure,
    })
}

/// Per-row figures for the tables.
struct RowFigures {
    name: String,
    wall: Option<Summary>,
    user: Option<Summary>,
    sys: Option<Summary>,
    rss: Option<Summary>,
    minor: Option<Summary>,
    major: Option<Summary>,
    vs_wall: Option<Summary>,
    vs_rss: Option<Summary>,
    status: String,
}

/// The figures of every row; ratios are to the `glibc` row, paired per round.
fn figures(rows: &[Row]) -> Vec<RowFigures> {
    let series = |r: &Row, f: fn(&Sample) -> f64| -> Vec<Option<f64>> {
        r.runs.iter().map(|x| x.as_ref().ok().map(f)).collect()
    };
    let values = |v: &[Option<f64>]| -> Option<Summary> {
        Summary::of(&v.iter().flatten().copied().collect::<Vec<_>>())
    };
    let base = rows.iter().find(|r| r.contender.name == "glibc");
    rows.iter()
        .map(|r| {
            let wall = series(r, |s| s.wall);
            let rss = series(r, |s| s.maxrss_kib);
            let (vs_wall, vs_rss) = match base {
                Some(b) => (
                    Summary::of(&paired_ratios(&wall, &series(b, |s| s.wall))),
                    Summary::of(&paired_ratios(&rss, &series(b, |s| s.maxrss_kib))),
                ),
                None => (None, None),
            };
            RowFigures {
                name: r.contender.name.clone(),
                wall: values(&wall),
                user: values(&series(r, |s| s.user)),
                sys: values(&series(r, |s| s.sys)),
                rss: values(&rss),
                minor: values(&series(r, |s| s.minor_faults)),
                major: values(&series(r, |s| s.major_faults)),
                vs_wall,
                vs_rss,
                status: status_of(r),
            }
        })
        .collect()
}

/// `ok`, or what went wrong and in how many rounds.
fn status_of(r: &Row) -> String {
    let mut problems: Vec<(String, usize)> = Vec::new();
    for run in &r.runs {
        let problem = match run {
            Ok(s) => s.failure.clone(),
            Err(e) => Some(e.clone()),
        };
        if let Some(p) = problem {
            match problems.iter_mut().find(|(q, _)| *q == p) {
                Some((_, n)) => *n += 1,
                None => problems.push((p, 1)),
            }
        }
    }
    if problems.is_empty() {
        return "ok".into();
    }
    problems
        .iter()
        .map(|(p, n)| format!("{p} in {n}/{} runs", r.runs.len()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether any run of any row failed.
fn any_failed(rows: &[Row]) -> bool {
    rows.iter()
        .flat_map(|r| &r.runs)
        .any(|x| !matches!(x, Ok(Sample { failure: None, .. })))
}

const HEADERS: &[&str] = &[
    "allocator",
    "wall",
    "spread",
    "user",
    "sys",
    "peak RSS",
    "minor faults",
    "major faults",
    "wall vs glibc",
    "RSS vs glibc",
    "status",
];

fn cells(f: &RowFigures) -> Vec<String> {
    let secs = |s: &Option<Summary>| s.map(|s| fmt_time(s.median * 1e9)).unwrap_or("–".into());
    let count = |s: &Option<Summary>| s.map(|s| format!("{:.0}", s.median)).unwrap_or("–".into());
    let ratio = |s: &Option<Summary>| s.as_ref().map(fmt_ratio).unwrap_or("–".into());
    vec![
        f.name.clone(),
        secs(&f.wall),
        f.wall
            .as_ref()
            .map(crate::report::fmt_spread)
            .unwrap_or("–".into()),
        secs(&f.user),
        secs(&f.sys),
        f.rss.map(|s| fmt_kib(s.median)).unwrap_or("–".into()),
        count(&f.minor),
        count(&f.major),
        ratio(&f.vs_wall),
        ratio(&f.vs_rss),
        f.status.clone(),
    ]
}

/// The command as a shell would show it.
pub(crate) fn shown(command: &[OsString]) -> String {
    command
        .iter()
        .map(|a| {
            let a = a.to_string_lossy();
            if a.is_empty()
                || a.contains(|c: char| c.is_whitespace() || "'\"$`\\|&;<>()*?".contains(c))
            {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn subtitle(repeat: usize) -> String {
    format!(
        "{repeat} runs each, interleaved · medians · `vs glibc` = this allocator's ÷ glibc's \
         in the same round, median (min–max); below 1 is faster or smaller"
    )
}

/// The terminal table.
pub fn text_table(command: &[OsString], rows: &[Row], repeat: usize) -> String {
    let head: Vec<String> = HEADERS.iter().map(|s| s.to_string()).collect();
    let body: Vec<Vec<String>> = figures(rows).iter().map(cells).collect();
    format!(
        "\n{}\n  {}\n{}",
        shown(command),
        subtitle(repeat),
        render_text(&head, &body, "  ")
    )
}

/// The Markdown table.
pub fn markdown_table(command: &[OsString], rows: &[Row], repeat: usize) -> String {
    let head: Vec<String> = HEADERS.iter().map(|s| s.to_string()).collect();
    let body: Vec<Vec<String>> = figures(rows).iter().map(cells).collect();
    format!(
        "### `{}`\n\n{}\n\n{}\n",
        shown(command),
        subtitle(repeat),
        render_markdown_table(&head, &body)
    )
}

/// CSV header line.
pub const CSV_HEADER: &str = "command,allocator,status,runs,wall_s,wall_min_s,wall_max_s,\
user_s,sys_s,peak_rss_kib,minor_faults,major_faults,wall_vs_glibc,wall_vs_glibc_min,\
wall_vs_glibc_max,rss_vs_glibc";

/// One CSV row per allocator (no header).
pub fn csv_rows(command: &[OsString], rows: &[Row]) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let f = |x: Option<f64>| x.map(|v| format!("{v:.4}")).unwrap_or_default();
    let mut out = String::new();
    for (r, fig) in rows.iter().zip(figures(rows)) {
        let m = |s: &Option<Summary>| f(s.map(|s| s.median));
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            field(&shown(command)),
            field(&fig.name),
            field(&fig.status),
            r.runs.iter().filter(|x| x.is_ok()).count(),
            m(&fig.wall),
            f(fig.wall.map(|s| s.min)),
            f(fig.wall.map(|s| s.max)),
            m(&fig.user),
            m(&fig.sys),
            m(&fig.rss),
            m(&fig.minor),
            m(&fig.major),
            m(&fig.vs_wall),
            f(fig.vs_wall.map(|s| s.min)),
            f(fig.vs_wall.map(|s| s.max)),
            m(&fig.vs_rss),
        );
    }
    out
}

/// A bar chart: wall time and peak RSS of each allocator relative to glibc (1 = glibc).
pub fn svg_chart(command: &[OsString], rows: &[Row]) -> String {
    let figs = figures(rows);
    let bar_h = 14.0;
    let row_h = 2.0 * bar_h + 12.0;
    let (left, width) = (110.0, 420.0);
    let height = 60.0 + row_h * figs.len() as f64 + 30.0;
    let max = figs
        .iter()
        .flat_map(|f| [f.vs_wall, f.vs_rss])
        .flatten()
        .map(|s| s.median)
        .fold(1.0f64, f64::max)
        * 1.1;
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"14\">{}</text>\n\
         <text x=\"10\" y=\"38\" fill=\"#555\">relative to glibc (= 1, dashed), median of paired runs: \
         <tspan fill=\"#3b6fb6\">wall time</tspan>, <tspan fill=\"#d9822b\">peak RSS</tspan>; shorter is better</text>\n",
        esc(&shown(command)),
        w = left + width + 80.0,
    );
    let x_of = |v: f64| left + width * v / max;
    for (i, f) in figs.iter().enumerate() {
        let y = 55.0 + row_h * i as f64;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            left - 8.0,
            y + bar_h + 4.0,
            esc(&f.name)
        );
        for (k, (v, color)) in [(f.vs_wall, "#3b6fb6"), (f.vs_rss, "#d9822b")]
            .into_iter()
            .enumerate()
        {
            let Some(v) = v else { continue };
            let yy = y + k as f64 * (bar_h + 2.0);
            let _ = writeln!(
                s,
                "<rect x=\"{left}\" y=\"{yy}\" width=\"{:.1}\" height=\"{bar_h}\" fill=\"{color}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{:.2}</text>",
                x_of(v.median) - left,
                x_of(v.median) + 4.0,
                yy + bar_h - 3.0,
                v.median
            );
        }
    }
    let _ = writeln!(
        s,
        "<line x1=\"{x:.1}\" y1=\"48\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#333\" stroke-dasharray=\"4 3\"/>\n</svg>",
        height - 25.0,
        x = x_of(1.0)
    );
    s
}

/// Builds `liballocgator.so` next to the driver when started by `cargo run`.
pub(crate) fn build_library_under_cargo() {
    let Some(cargo) = std::env::var_os("CARGO") else {
        return;
    };
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "allocgator-capi"]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    eprintln!("playground: building liballocgator.so (cargo build -p allocgator-capi)");
    match cmd.status() {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("playground: building liballocgator.so failed ({status})"),
        Err(e) => eprintln!("playground: could not run cargo to build liballocgator.so: {e}"),
    }
}

/// Entry point of `playground run`.
pub fn main(args: RunArgs, exe_dir: &Path) {
    check_output_dirs(&[&args.markdown, &args.csv, &args.svg]);
    if args.preloads.alloc.is_empty()
        || args.preloads.alloc.iter().any(|a| a.contains("allocgator"))
    {
        build_library_under_cargo();
    }
    let contenders = contenders(&args.preloads, exe_dir);
    if contenders.is_empty() {
        eprintln!("playground: no allocator to run under");
        exit(1);
    }
    let repeat = args.repeat as usize;
    let job = Job {
        command: args.command.clone(),
        cwd: None,
        stdin: None,
        output: if args.show_output {
            Output::Show
        } else {
            Output::Hide
        },
        timeout: args.timeout.map(Duration::from_secs_f64),
    };
    let mut rows: Vec<Row> = contenders
        .iter()
        .map(|c| Row {
            contender: c.clone(),
            runs: Vec::new(),
        })
        .collect();
    let label = shown(&args.command);
    let total = contenders.len() * (repeat + args.warmup as usize);
    let mut progress = Progress::new(total);
    eprintln!(
        "playground: {label}: {} allocators × ({} warm-up + {repeat} timed) runs, interleaved",
        contenders.len(),
        args.warmup
    );
    for round in 0..args.warmup as usize + repeat {
        let warm = round < args.warmup as usize;
        for row in rows.iter_mut() {
            let what = if warm { "warm-up" } else { "run" };
            progress.run(
                &label,
                &format!("{} ({what})", row.contender.name),
                round,
                args.warmup as usize + repeat,
            );
            let result = run_once(&row.contender, &job);
            if let Err(e) = &result {
                progress.note(&format!("playground: {}: {e}", row.contender.name));
            }
            if !warm {
                row.runs.push(result);
            }
        }
    }
    progress.clear();
    print!("{}", text_table(&args.command, &rows, repeat));
    if let Some(p) = &args.markdown {
        write_file(p, "Markdown", &markdown_table(&args.command, &rows, repeat));
    }
    if let Some(p) = &args.csv {
        write_file(
            p,
            "CSV",
            &format!("{CSV_HEADER}\n{}", csv_rows(&args.command, &rows)),
        );
    }
    if let Some(p) = &args.svg {
        write_file(p, "SVG chart", &svg_chart(&args.command, &rows));
    }
    if any_failed(&rows) {
        eprintln!("playground: the program did not exit 0 in every run (see the status column)");
        exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(command: &[&str]) -> RunArgs {
        RunArgs {
            preloads: Preloads::default(),
            repeat: 1,
            warmup: 0,
            timeout: None,
            show_output: false,
            markdown: None,
            csv: None,
            svg: None,
            command: command.iter().map(OsString::from).collect(),
        }
    }

    fn glibc() -> Contender {
        Contender {
            name: "glibc".into(),
            lib: None,
            env: Vec::new(),
        }
    }

    #[test]
    fn a_run_reports_times_rss_and_exit_status() {
        let sh = |script: &str| Job {
            command: ["sh", "-c", script].iter().map(OsString::from).collect(),
            cwd: None,
            stdin: None,
            output: Output::Hide,
            timeout: None,
        };
        let ok = run_once(&glibc(), &sh("exit 0")).unwrap();
        assert_eq!(ok.failure, None);
        assert!(
            ok.wall > 0.0 && ok.maxrss_kib > 0.0 && ok.minor_faults > 0.0,
            "{ok:?}"
        );
        let bad = run_once(&glibc(), &sh("exit 3")).unwrap();
        assert_eq!(bad.failure.as_deref(), Some("exit 3"));
        let killed = run_once(&glibc(), &sh("kill -9 $$")).unwrap();
        assert_eq!(killed.failure.as_deref(), Some("signal 9"));
        let mut slow = sh("sleep 5");
        slow.timeout = Some(Duration::from_millis(200));
        let slow = run_once(&glibc(), &slow).unwrap();
        assert!(
            slow.failure.as_deref().unwrap().starts_with("killed"),
            "{slow:?}"
        );
        assert!(slow.wall < 4.0);
        let mut missing = sh("");
        missing.command = vec![OsString::from("/no/such/program")];
        assert!(run_once(&glibc(), &missing)
            .unwrap_err()
            .contains("/no/such/program"));
        // Captured output, standard input and working directory.
        let dir = std::env::temp_dir().join(format!("pg-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("in.txt"), "from stdin\n").unwrap();
        let mut cat = sh("cat; pwd");
        cat.stdin = Some(dir.join("in.txt"));
        cat.cwd = Some(dir.clone());
        cat.output = Output::Capture(dir.join("out.txt"));
        assert_eq!(run_once(&glibc(), &cat).unwrap().failure, None);
        let out = std::fs::read_to_string(dir.join("out.txt")).unwrap();
        assert!(
            out.starts_with("from stdin\n")
                && out
                    .trim_end()
                    .ends_with(dir.file_name().unwrap().to_str().unwrap()),
            "{out}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tables_show_ratios_and_failures_per_allocator() {
        let sample = |wall: f64, rss: f64, failure: Option<&str>| Sample {
            wall,
            user: wall / 2.0,
            sys: 0.01,
            maxrss_kib: rss,
            minor_faults: 100.0,
            major_faults: 0.0,
            failure: failure.map(String::from),
        };
        let rows = vec![
            Row {
                contender: glibc(),
                runs: vec![Ok(sample(2.0, 1000.0, None)), Ok(sample(4.0, 1000.0, None))],
            },
            Row {
                contender: Contender {
                    name: "other".into(),
                    lib: Some("/x.so".into()),
                    env: Vec::new(),
                },
                runs: vec![
                    Ok(sample(1.0, 500.0, None)),
                    Ok(sample(3.0, 2000.0, Some("exit 1"))),
                ],
            },
        ];
        let cmd: Vec<OsString> = ["prog", "a b"].iter().map(OsString::from).collect();
        let text = text_table(&cmd, &rows, 2);
        assert!(text.contains("prog 'a b'"), "{text}");
        // Paired: 1/2 and 3/4, median 0.625.
        assert!(
            text.contains("0.62 (0.50–0.75)") || text.contains("0.63 (0.50–0.75)"),
            "{text}"
        );
        assert!(text.contains("exit 1 in 1/2 runs"), "{text}");
        assert!(any_failed(&rows));
        let csv = csv_rows(&cmd, &rows);
        assert_eq!(csv.lines().count(), 2);
        assert_eq!(
            csv.lines().next().unwrap().split(',').count(),
            CSV_HEADER.split(',').count()
        );
        let md = markdown_table(&cmd, &rows, 2);
        assert!(md.contains("| other |"), "{md}");
        let svg = svg_chart(&cmd, &rows);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn unknown_allocators_and_missing_libraries() {
        let mut a = args(&["true"]);
        a.preloads.alloc = vec!["glibc".into()];
        let c = contenders(&a.preloads, Path::new("/nonexistent"));
        assert_eq!(c.len(), 1);
        assert!(c[0].lib.is_none());
        // allocgator's library is looked for next to the driver: absent here, so skipped.
        a.preloads.alloc = vec!["allocgator".into(), "glibc".into()];
        let c = contenders(&a.preloads, Path::new("/nonexistent"));
        assert_eq!(
            c.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["glibc"]
        );
        // --lib adds a name.
        a.preloads.alloc = vec!["mine".into()];
        a.preloads.libs = vec![("mine".into(), PathBuf::from("/bin/sh"))];
        let c = contenders(&a.preloads, Path::new("/nonexistent"));
        assert_eq!(c[0].lib.as_deref(), Some(Path::new("/bin/sh")));
        assert!(c[0].env.is_empty());
        // --env sets a variable for that allocator only.
        a.preloads.alloc = vec!["glibc".into(), "mine".into()];
        a.preloads.env = vec![("mine".into(), "PG_TEST_VAR".into(), "1".into())];
        let c = contenders(&a.preloads, Path::new("/nonexistent"));
        assert!(c.iter().find(|c| c.name == "glibc").unwrap().env.is_empty());
        let mine = c.iter().find(|c| c.name == "mine").unwrap();
        assert_eq!(mine.env, [("PG_TEST_VAR".to_string(), "1".to_string())]);
    }

    #[test]
    fn env_reaches_only_its_allocators_runs() {
        let job = |var: &str| Job {
            command: ["sh", "-c", &format!("test \"$PG_TEST_VAR\" = {var}")]
                .iter()
                .map(OsString::from)
                .collect(),
            cwd: None,
            stdin: None,
            output: Output::Hide,
            timeout: None,
        };
        let mut c = glibc();
        c.env = vec![("PG_TEST_VAR".into(), "on".into())];
        assert_eq!(run_once(&c, &job("on")).unwrap().failure, None);
        assert!(run_once(&glibc(), &job("on")).unwrap().failure.is_some());
    }

    #[test]
    fn preload_goes_ahead_of_the_environment() {
        let v = preload_value(Path::new("/a/lib.so"));
        assert!(v.to_string_lossy().starts_with("/a/lib.so"));
    }
}

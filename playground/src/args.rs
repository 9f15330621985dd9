//! The `playground` command line, with `clap`: the built-in workloads (the default, with the
//! flags below) and the `run` subcommand, which runs any program under each allocator.
//!
//! Names that clap cannot check by itself (workload filters, allocator names) are checked
//! afterwards; every mistake is reported with the valid choices and exits with status 2,
//! never a panic.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// How much work each run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Tiny iteration counts: checks that everything runs (CI).
    Smoke,
    /// The default: counts scaled down about 10× from `Full`.
    Quick,
    /// The full counts (each run well under ~3 s).
    Full,
}
impl Mode {
    /// Name as accepted by the worker's `--mode`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Smoke => "smoke",
            Mode::Quick => "quick",
            Mode::Full => "full",
        }
    }

    /// Parses a mode name.
    pub fn from_name(s: &str) -> Option<Mode> {
        match s {
            "smoke" => Some(Mode::Smoke),
            "quick" => Some(Mode::Quick),
            "full" => Some(Mode::Full),
            _ => None,
        }
    }

    /// Default number of interleaved repetitions.
    pub fn default_repeat(self) -> usize {
        match self {
            Mode::Smoke => 2,
            Mode::Quick => 3,
            Mode::Full => 5,
        }
    }

    /// Divisor applied to the full iteration counts.
    pub fn divisor(self) -> u64 {
        match self {
            Mode::Smoke => 1000,
            Mode::Quick => 10,
            Mode::Full => 1,
        }
    }
}

/// The command line as clap parses it.
#[derive(Parser, Debug)]
#[command(
    name = "playground",
    about = "Allocator playground: allocgator and its peers side by side, on built-in \
             workloads (the default) or on any program (`run`)",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A subcommand; without one, the built-in workloads run.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The built-in workloads' options.
    #[command(flatten)]
    pub bench: BenchArgs,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Runs any program under each allocator (by LD_PRELOAD), interleaved, and compares wall,
    /// user and system time, peak RSS and page faults.
    Run(RunArgs),
    /// Runs the C/C++ programs of a mimalloc-bench checkout (built there with its own
    /// tooling) under each allocator, interleaved, with mimalloc-bench's own arguments.
    Suite(SuiteArgs),
}

/// Flags of the built-in workloads.
#[derive(Args, Debug, Default)]
pub struct BenchArgs {
    /// Tiny work, 2 runs: checks that every workload × allocator runs (CI).
    #[arg(long, conflicts_with_all = ["quick", "full"])]
    pub smoke: bool,
    /// The default: work scaled down ~10×, 3 interleaved runs per allocator.
    #[arg(long, conflicts_with = "full")]
    pub quick: bool,
    /// The full work (each run < ~3 s), 5 runs.
    #[arg(long)]
    pub full: bool,
    /// Workloads whose id contains any of these substrings (e.g. w1,l2).
    #[arg(long, value_name = "W,..", value_delimiter = ',')]
    pub filter: Vec<String>,
    /// Allocators to run (system = glibc).
    #[arg(long, value_name = "A,..", value_delimiter = ',')]
    pub alloc: Vec<String>,
    /// Interleaved runs per allocator.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub repeat: Option<u64>,
    /// Per-run time limit in seconds; a slower run is reported as FAILED.
    #[arg(long, value_name = "SECS", value_parser = positive_seconds)]
    pub timeout: Option<f64>,
    /// Also write the tables as Markdown.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Also write one CSV row per (workload, allocator).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Also write a bar chart of throughput relative to glibc.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Instructions per malloc+free pair for W1 under valgrind --tool=callgrind.
    #[arg(long)]
    pub callgrind: bool,
    /// Print the workloads with their work per run, and the allocators.
    #[arg(long)]
    pub list: bool,
    /// Add a global-allocator row run by this worker binary (repeatable): NAME=PATH, e.g.
    /// allocgator-hardened=target/hardened/release/pg-allocgator (a `pg-allocgator` built
    /// with other features). Its rows always run, whatever `--alloc` selects.
    #[arg(long = "worker", value_name = "NAME=PATH", value_parser = name_and_path)]
    pub workers: Vec<(String, PathBuf)>,
}

/// Which allocators `run` and `suite` preload.
#[derive(Args, Debug, Clone, Default)]
pub struct Preloads {
    /// Allocators to run under (default: every one whose library is found): glibc,
    /// mimalloc, jemalloc, tcmalloc, allocgator.
    #[arg(long, value_name = "A,..", value_delimiter = ',')]
    pub alloc: Vec<String>,
    /// Use this shared library for an allocator (repeatable): NAME=PATH, e.g.
    /// mimalloc=/opt/lib/libmimalloc.so. A new NAME adds an allocator.
    #[arg(long = "lib", value_name = "NAME=PATH", value_parser = name_and_path)]
    pub libs: Vec<(String, PathBuf)>,
    /// Set an environment variable in one allocator's runs only (repeatable):
    /// NAME:VAR=VALUE, e.g. `--lib shuffle-off=target/hardened/release/liballocgator.so --env
    /// shuffle-off:ALLOCGATOR_SHUFFLE=0`.
    #[arg(long = "env", value_name = "NAME:VAR=VALUE", value_parser = name_var_value)]
    pub env: Vec<(String, String, String)>,
}

/// `NAME:VAR=VALUE`.
fn name_var_value(s: &str) -> Result<(String, String, String), String> {
    let parsed = s.split_once(':').and_then(|(name, rest)| {
        let (var, value) = rest.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        (!name.is_empty() && !var.is_empty() && !var.contains('\0') && !value.contains('\0'))
            .then(|| (name, var.to_string(), value.to_string()))
    });
    parsed.ok_or_else(|| format!("`{s}` is not NAME:VAR=VALUE"))
}

/// Flags of `run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The allocators.
    #[command(flatten)]
    pub preloads: Preloads,
    /// Timed runs per allocator, interleaved (glibc, mimalloc, …, glibc, mimalloc, …).
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub repeat: u64,
    /// Untimed runs per allocator before the timed ones (warms the page cache).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(0..=100))]
    pub warmup: u64,
    /// Per-run time limit in seconds; a slower run is killed and reported.
    #[arg(long, value_name = "SECS", value_parser = positive_seconds)]
    pub timeout: Option<f64>,
    /// Show the program's own output (hidden by default).
    #[arg(long)]
    pub show_output: bool,
    /// Also write the table as Markdown.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Also write one CSV row per allocator.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Also write a bar chart of wall time and peak RSS relative to glibc.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// The program and its arguments (after `--` if they start with `-`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD ARGS"
    )]
    pub command: Vec<OsString>,
}

/// Flags of `suite`.
#[derive(Args, Debug, Clone)]
pub struct SuiteArgs {
    /// A mimalloc-bench checkout (git clone https://github.com/daanx/mimalloc-bench).
    #[arg(long, value_name = "DIR")]
    pub mimalloc_bench: PathBuf,
    /// Where its programs are built (default: DIR/out/bench, where its
    /// `./build-bench-env.sh bench` puts them).
    #[arg(long, value_name = "DIR")]
    pub bin: Option<PathBuf>,
    /// Programs whose name contains any of these substrings (e.g. larson,xmalloc).
    #[arg(long, value_name = "P,..", value_delimiter = ',')]
    pub filter: Vec<String>,
    /// The allocators.
    #[command(flatten)]
    pub preloads: Preloads,
    /// Runs per program and allocator, interleaved.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub repeat: u64,
    /// Per-run time limit in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300.0, value_parser = positive_seconds)]
    pub timeout: f64,
    /// Also write the tables as Markdown.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Also write one CSV row per (program, allocator, round).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Also write a bar chart of each program's time relative to mimalloc.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

/// A positive, finite number of seconds.
fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(t) if t.is_finite() && t > 0.0 => Ok(t),
        _ => Err(format!("`{s}` is not a positive number of seconds")),
    }
}

/// `NAME=PATH`.
fn name_and_path(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.trim().is_empty() && !path.is_empty() => {
            Ok((name.trim().to_ascii_lowercase(), PathBuf::from(path)))
        }
        _ => Err(format!("`{s}` is not NAME=PATH")),
    }
}

/// Resolved options of the built-in workloads.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Work size.
    pub mode: Mode,
    /// Lower-case substrings selecting workloads; empty means all.
    pub filter: Vec<String>,
    /// Canonical allocator names selected; empty means all.
    pub allocs: Vec<String>,
    /// Write the result tables as Markdown here.
    pub markdown: Option<PathBuf>,
    /// Write one CSV row per (workload, allocator) here.
    pub csv: Option<PathBuf>,
    /// Write an SVG bar chart here.
    pub svg: Option<PathBuf>,
    /// Number of interleaved repetitions (default depends on the mode).
    pub repeat: Option<usize>,
    /// Per-run time limit in seconds (default depends on the mode).
    pub timeout: Option<f64>,
    /// Count instructions per W1 pair with callgrind instead of timing.
    pub callgrind: bool,
    /// Print the workloads and allocators and exit.
    pub list: bool,
    /// Extra global-allocator workers (`--worker`): label and binary.
    pub workers: Vec<(String, PathBuf)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Quick,
            filter: Vec::new(),
            allocs: Vec::new(),
            markdown: None,
            csv: None,
            svg: None,
            repeat: None,
            timeout: None,
            callgrind: false,
            list: false,
            workers: Vec::new(),
        }
    }
}

impl Options {
    /// Repetitions to run.
    pub fn repeat(&self) -> usize {
        self.repeat.unwrap_or_else(|| self.mode.default_repeat())
    }

    /// Whether `workload_id` passes `--filter`.
    pub fn selects_workload(&self, workload_id: &str) -> bool {
        let id = workload_id.to_ascii_lowercase();
        self.filter.is_empty() || self.filter.iter().any(|f| id.contains(f.as_str()))
    }

    /// Whether allocator `name` (canonical) passes `--alloc`.
    pub fn selects_alloc(&self, name: &str) -> bool {
        self.allocs.is_empty() || self.allocs.iter().any(|a| a == name)
    }
}

/// A command-line mistake, with the message to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Accepted spellings that map onto a canonical allocator name.
pub const ALLOC_ALIASES: &[(&str, &str)] = &[
    ("system", "glibc"),
    ("std", "glibc"),
    ("tikv-jemallocator", "jemalloc"),
    ("snmalloc-rs", "snmalloc"),
    ("bump_scope", "bump-scope"),
];

/// Resolves the built-in workloads' flags: checks `--filter` against the workload ids and
/// `--alloc` against the canonical allocator names (aliases accepted).
pub fn resolve(b: BenchArgs, workloads: &[&str], allocs: &[&str]) -> Result<Options, UsageError> {
    let mode = if b.smoke {
        Mode::Smoke
    } else if b.full {
        Mode::Full
    } else {
        Mode::Quick
    };
    let mut o = Options {
        mode,
        markdown: b.markdown,
        csv: b.csv,
        svg: b.svg,
        repeat: b.repeat.map(|n| n as usize),
        timeout: b.timeout,
        callgrind: b.callgrind,
        list: b.list,
        workers: b.workers,
        ..Options::default()
    };
    for (name, path) in &o.workers {
        if allocs.contains(&name.as_str()) {
            return Err(UsageError(format!(
                "--worker: `{name}` is a built-in allocator's name; give the row another"
            )));
        }
        if !path.is_file() {
            return Err(UsageError(format!(
                "--worker: `{}` is not a file (build it first, e.g. `cargo build -p \
                 playground --release --features allocgator/hardened --target-dir \
                 target/hardened`)",
                path.display()
            )));
        }
    }
    for f in b.filter.iter().flat_map(|v| split_list(v)) {
        if !workloads
            .iter()
            .any(|w| w.to_ascii_lowercase().contains(&f))
        {
            return Err(UsageError(format!(
                "--filter: `{f}` matches no workload; valid workloads: {}",
                workloads.join(", ")
            )));
        }
        o.filter.push(f);
    }
    o.allocs = canonical_allocs(&b.alloc, allocs)?;
    Ok(o)
}

/// Canonical names for `--alloc` values (aliases mapped, duplicates dropped), each checked
/// against `allocs`.
pub fn canonical_allocs(given: &[String], allocs: &[&str]) -> Result<Vec<String>, UsageError> {
    let mut out: Vec<String> = Vec::new();
    for a in given.iter().flat_map(|v| split_list(v)) {
        let canon = ALLOC_ALIASES
            .iter()
            .find(|(alias, _)| *alias == a)
            .map(|(_, c)| c.to_string())
            .unwrap_or(a);
        if !allocs.contains(&canon.as_str()) {
            return Err(UsageError(format!(
                "--alloc: unknown allocator `{canon}`; valid allocators: {} (aliases: system = glibc)",
                allocs.join(", ")
            )));
        }
        if !out.contains(&canon) {
            out.push(canon);
        }
    }
    Ok(out)
}

/// Splits `a,b, c` into lower-case non-empty items.
fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_ascii_lowercase())
        .filter(|x| !x.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: &[&str] = &["w1-16", "w1-64", "w2-a", "w2-b", "l1-reset"];
    const A: &[&str] = &["glibc", "mimalloc", "jemalloc", "bumpalo", "bump-scope"];

    /// Parses like the driver: clap first, then the name checks.
    fn p(args: &[&str]) -> Result<Options, UsageError> {
        let cli = Cli::try_parse_from(std::iter::once("playground").chain(args.iter().copied()))
            .map_err(|e| UsageError(e.to_string()))?;
        assert!(cli.command.is_none());
        resolve(cli.bench, W, A)
    }

    fn run_args(args: &[&str]) -> Result<RunArgs, String> {
        let cli = Cli::try_parse_from(
            ["playground", "run"]
                .into_iter()
                .chain(args.iter().copied()),
        )
        .map_err(|e| e.to_string())?;
        match cli.command {
            Some(Command::Run(r)) => Ok(r),
            _ => Err("not run".into()),
        }
    }

    #[test]
    fn defaults() {
        let o = p(&[]).unwrap();
        assert_eq!(o.mode, Mode::Quick);
        assert_eq!(o.repeat(), 3);
        assert!(o.filter.is_empty() && o.allocs.is_empty());
        assert!(o.selects_workload("w2-b") && o.selects_alloc("jemalloc"));
        assert!(!o.callgrind && !o.list);
    }

    #[test]
    fn modes_and_repeat() {
        assert_eq!(p(&["--full"]).unwrap().mode, Mode::Full);
        assert_eq!(p(&["--full"]).unwrap().repeat(), 5);
        assert_eq!(p(&["--smoke"]).unwrap().mode, Mode::Smoke);
        assert_eq!(p(&["--smoke", "--repeat", "7"]).unwrap().repeat(), 7);
        assert_eq!(p(&["--repeat=4"]).unwrap().repeat(), 4);
        assert!(p(&["--smoke", "--full"]).is_err());
        assert!(p(&["--quick", "--full"]).is_err());
        for bad in ["0", "x", "1.5", "1001"] {
            let e = p(&["--repeat", bad]).unwrap_err();
            assert!(e.0.contains("--repeat"), "{e}");
        }
        // `-1` reads as a flag, not a value: refused too.
        assert!(p(&["--repeat", "-1"]).is_err());
        assert!(p(&["--repeat"]).unwrap_err().0.contains("--repeat"));
    }

    #[test]
    fn filter_substrings() {
        let o = p(&["--filter", "W1,l1"]).unwrap();
        assert_eq!(o.filter, vec!["w1", "l1"]);
        assert!(o.selects_workload("w1-64"));
        assert!(o.selects_workload("l1-reset"));
        assert!(!o.selects_workload("w2-a"));
        let e = p(&["--filter", "w1,nope"]).unwrap_err();
        assert!(e.0.contains("`nope`") && e.0.contains("w2-b"), "{e}");
    }

    #[test]
    fn alloc_names_and_aliases() {
        let o = p(&["--alloc=system,mimalloc,glibc"]).unwrap();
        assert_eq!(o.allocs, vec!["glibc", "mimalloc"]);
        assert!(o.selects_alloc("glibc") && !o.selects_alloc("jemalloc"));
        let e = p(&["--alloc", "tcmalloc"]).unwrap_err();
        assert!(
            e.0.contains("tcmalloc") && e.0.contains("bump-scope"),
            "{e}"
        );
    }

    #[test]
    fn outputs_and_unknown_flags() {
        let o = p(&[
            "--markdown",
            "a.md",
            "--csv=b.csv",
            "--svg",
            "c.svg",
            "--callgrind",
        ])
        .unwrap();
        assert_eq!(o.markdown, Some(PathBuf::from("a.md")));
        assert_eq!(o.csv, Some(PathBuf::from("b.csv")));
        assert_eq!(o.svg, Some(PathBuf::from("c.svg")));
        assert!(o.callgrind);
        assert!(p(&["--csv"]).is_err());
        assert!(p(&["--frobnicate"]).unwrap_err().0.contains("--frobnicate"));
        assert!(p(&["w1"]).is_err());
        assert!(p(&["--timeout", "0"]).is_err());
        assert_eq!(p(&["--timeout", "2.5"]).unwrap().timeout, Some(2.5));
    }

    #[test]
    fn env_per_allocator() {
        assert_eq!(
            name_var_value("Hardened:ALLOCGATOR_SHUFFLE=0"),
            Ok(("hardened".into(), "ALLOCGATOR_SHUFFLE".into(), "0".into()))
        );
        assert_eq!(
            name_var_value("a:X=b=c"),
            Ok(("a".into(), "X".into(), "b=c".into()))
        );
        for bad in ["no-colon=1", "a:novalue", ":X=1", "a:=1"] {
            assert!(name_var_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn extra_workers() {
        let exe = std::env::current_exe().unwrap();
        let arg = format!("allocgator-hardened={}", exe.display());
        let o = p(&["--worker", &arg]).unwrap();
        assert_eq!(o.workers, vec![("allocgator-hardened".to_string(), exe)]);
        let e = p(&["--worker", "mimalloc=/bin/sh"]).unwrap_err();
        assert!(e.0.contains("built-in allocator"), "{e}");
        let e = p(&["--worker", "x=/nonexistent/pg-x"]).unwrap_err();
        assert!(e.0.contains("is not a file"), "{e}");
        assert!(p(&["--worker", "no-path"]).is_err());
    }

    #[test]
    fn run_subcommand() {
        let r = run_args(&[
            "--alloc",
            "glibc,allocgator",
            "--repeat",
            "3",
            "--",
            "python3",
            "-c",
            "print(1)",
        ])
        .unwrap();
        assert_eq!(r.preloads.alloc, vec!["glibc", "allocgator"]);
        assert_eq!(r.repeat, 3);
        assert_eq!(r.warmup, 1);
        assert_eq!(r.command, vec!["python3", "-c", "print(1)"]);
        // Without `--`, everything from the program on is the program's.
        let r = run_args(&["sqlite3", "-batch", "--repeat", "9"]).unwrap();
        assert_eq!(r.command, vec!["sqlite3", "-batch", "--repeat", "9"]);
        assert_eq!(r.repeat, 5);
        let r = run_args(&["--lib", "mimalloc=/x/libmimalloc.so", "true"]).unwrap();
        assert_eq!(
            r.preloads.libs,
            vec![("mimalloc".to_string(), PathBuf::from("/x/libmimalloc.so"))]
        );
        assert!(run_args(&[]).unwrap_err().contains("CMD"));
        assert!(run_args(&["--repeat", "0", "true"]).is_err());
        assert!(run_args(&["--lib", "nopath", "true"])
            .unwrap_err()
            .contains("NAME=PATH"));
        assert!(run_args(&["--timeout", "-1", "true"]).is_err());
        // The workloads' flags do not mix with a subcommand.
        assert!(Cli::try_parse_from(["playground", "--smoke", "run", "true"]).is_err());
    }
}

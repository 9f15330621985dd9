//! Hand-written command-line parser for the `playground` driver.
//!
//! Errors are returned as [`UsageError`]; the driver prints them with the
//! valid choices and exits with status 2 (never a panic).

use std::fmt;
use std::path::PathBuf;

/// How much work each run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Tiny iteration counts: checks that everything runs (CI).
    Smoke,
    /// The default: counts scaled down about 10× from `Full`.
    Quick,
    /// The counts of BENCHMARKS.md (each run well under ~3 s).
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

/// Parsed driver options.
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
    /// Print the usage text.
    pub help: bool,
    /// Print the workloads and allocators and exit.
    pub list: bool,
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
            help: false,
            list: false,
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

/// Parses the driver's arguments (without the program name).
///
/// `workloads` are the valid workload ids, `allocs` the canonical allocator
/// names; they are used to validate `--filter` and `--alloc`.
pub fn parse<I>(args: I, workloads: &[&str], allocs: &[&str]) -> Result<Options, UsageError>
where
    I: IntoIterator<Item = String>,
{
    let mut o = Options::default();
    let mut mode_flag: Option<&'static str> = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, UsageError> {
            match inline.clone().or_else(|| it.next()) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(UsageError(format!("{name} needs a value"))),
            }
        };
        let mut set_mode = |m: Mode, f: &'static str| -> Result<(), UsageError> {
            if let Some(prev) = mode_flag {
                if prev != f {
                    return Err(UsageError(format!(
                        "{prev} and {f} cannot be combined: pick one of --smoke, --quick, --full"
                    )));
                }
            }
            mode_flag = Some(f);
            o.mode = m;
            Ok(())
        };
        match flag.as_str() {
            "-h" | "--help" => o.help = true,
            "--list" => o.list = true,
            "--smoke" => set_mode(Mode::Smoke, "--smoke")?,
            "--quick" => set_mode(Mode::Quick, "--quick")?,
            "--full" => set_mode(Mode::Full, "--full")?,
            "--callgrind" => o.callgrind = true,
            "--filter" => {
                let v = value("--filter")?;
                for f in split_list(&v) {
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
            }
            "--alloc" => {
                let v = value("--alloc")?;
                for a in split_list(&v) {
                    let canon = ALLOC_ALIASES
                        .iter()
                        .find(|(alias, _)| *alias == a)
                        .map(|(_, c)| c.to_string())
                        .unwrap_or(a);
                    if !allocs.contains(&canon.as_str()) {
                        return Err(UsageError(format!(
                            "--alloc: unknown allocator `{canon}`; valid allocators: {} \
                             (aliases: system = glibc)",
                            allocs.join(", ")
                        )));
                    }
                    if !o.allocs.contains(&canon) {
                        o.allocs.push(canon);
                    }
                }
            }
            "--markdown" => o.markdown = Some(PathBuf::from(value("--markdown")?)),
            "--csv" => o.csv = Some(PathBuf::from(value("--csv")?)),
            "--svg" => o.svg = Some(PathBuf::from(value("--svg")?)),
            "--repeat" => {
                let v = value("--repeat")?;
                match v.parse::<usize>() {
                    Ok(n) if (1..=1000).contains(&n) => o.repeat = Some(n),
                    _ => {
                        return Err(UsageError(format!(
                            "--repeat: `{v}` is not a whole number from 1 to 1000"
                        )))
                    }
                }
            }
            "--timeout" => {
                let v = value("--timeout")?;
                match v.parse::<f64>() {
                    Ok(t) if t.is_finite() && t > 0.0 => o.timeout = Some(t),
                    _ => {
                        return Err(UsageError(format!(
                            "--timeout: `{v}` is not a positive number of seconds"
                        )))
                    }
                }
            }
            other => {
                return Err(UsageError(format!(
                    "unknown argument `{other}`; valid flags: --quick (default), --full, --smoke, \
                     --filter <workloads>, --alloc <allocators>, --repeat N, --timeout SECS, \
                     --markdown FILE, --csv FILE, --svg FILE, --callgrind, --list, --help"
                )))
            }
        }
    }
    Ok(o)
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

    fn p(args: &[&str]) -> Result<Options, UsageError> {
        parse(args.iter().map(|s| s.to_string()), W, A)
    }

    #[test]
    fn defaults() {
        let o = p(&[]).unwrap();
        assert_eq!(o.mode, Mode::Quick);
        assert_eq!(o.repeat(), 3);
        assert!(o.filter.is_empty() && o.allocs.is_empty());
        assert!(o.selects_workload("w2-b") && o.selects_alloc("jemalloc"));
        assert!(!o.callgrind && !o.help);
    }

    #[test]
    fn modes_and_repeat() {
        assert_eq!(p(&["--full"]).unwrap().mode, Mode::Full);
        assert_eq!(p(&["--full"]).unwrap().repeat(), 5);
        assert_eq!(p(&["--smoke"]).unwrap().mode, Mode::Smoke);
        assert_eq!(p(&["--smoke", "--repeat", "7"]).unwrap().repeat(), 7);
        assert_eq!(p(&["--repeat=4"]).unwrap().repeat(), 4);
        assert!(p(&["--smoke", "--full"]).is_err());
        assert!(p(&["--quick", "--quick"]).is_ok());
        for bad in ["0", "-1", "x", "1.5", "1001"] {
            let e = p(&["--repeat", bad]).unwrap_err();
            assert!(e.0.contains("--repeat"), "{e}");
        }
        assert!(p(&["--repeat"]).unwrap_err().0.contains("needs a value"));
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
}

//! The worker side: one process runs one workload once and prints one
//! machine-readable result line.
//!
//! Each `pg-<allocator>` binary is only a `#[global_allocator]` plus a call to
//! [`main`]. Usage:
//!
//! ```text
//! pg-mimalloc --worker <workload> [--mode smoke|quick|full] [--impl global|bumpalo|...] [--iters N]
//! ```
//!
//! Output (one line on stdout):
//!
//! ```text
//! PGRESULT workload=w1-16 alloc=mimalloc impl=global n=2000000 ops=2000000 elapsed_ns=10480000 maxrss_kib=2304 hwm_kib=2304 x.key=value ...
//! ```

use std::collections::BTreeMap;
use std::process::exit;

use crate::args::Mode;
use crate::sys;
use crate::workloads::{self, Impl};

/// Prefix of the result line.
pub const RESULT_PREFIX: &str = "PGRESULT";

/// The worker's way to give free memory back to the OS now (its allocator's `trim`), if the
/// allocator has one; set once by [`main`].
static TRIM: std::sync::OnceLock<Option<fn()>> = std::sync::OnceLock::new();

/// Gives free memory back to the OS with the worker's allocator's own call (glibc's
/// `malloc_trim`, mimalloc's `mi_collect`, jemalloc's `arena.<all>.purge`, allocgator's
/// `trim`). False if the allocator has none (snmalloc).
pub fn trim_now() -> bool {
    match TRIM.get().copied().flatten() {
        Some(trim) => {
            trim();
            true
        }
        None => false,
    }
}

/// Entry point of every `pg-<allocator>` worker binary; `trim` is the allocator's call that
/// gives free memory back to the OS now, if it has one (W7 reports RSS after it).
pub fn main(alloc_name: &str, trim: Option<fn()>) {
    let _ = TRIM.set(trim);
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(alloc_name, &args) {
        Ok(line) => println!("{line}"),
        Err(msg) => {
            eprintln!("pg-{alloc_name}: {msg}");
            eprintln!(
                "usage: pg-{alloc_name} --worker <workload> [--mode smoke|quick|full] \
                 [--impl global|bumpalo|bump-scope|empty] [--iters N]\n\
                 (normally started by the `playground` driver)"
            );
            exit(2);
        }
    }
}

fn run(alloc_name: &str, args: &[String]) -> Result<String, String> {
    let mut workload = None;
    let mut mode = Mode::Quick;
    let mut imp = Impl::Global;
    let mut imp_name = "global".to_string();
    let mut iters = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--worker" => workload = Some(val()?),
            "--mode" => {
                let v = val()?;
                mode = Mode::from_name(&v)
                    .ok_or_else(|| format!("--mode: `{v}` is not one of smoke, quick, full"))?;
            }
            "--impl" => {
                let v = val()?;
                imp = Impl::parse(&v).ok_or_else(|| format!("--impl: unknown `{v}`"))?;
                imp_name = v;
            }
            "--iters" => {
                let v = val()?;
                iters = Some(
                    v.parse::<u64>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("--iters: `{v}` is not a positive integer"))?,
                );
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let id = workload.ok_or("missing --worker <workload>")?;
    let w = workloads::find(&id).ok_or_else(|| {
        let ids: Vec<_> = workloads::WORKLOADS.iter().map(|w| w.id).collect();
        format!("unknown workload `{id}`; valid: {}", ids.join(", "))
    })?;
    let n = iters.unwrap_or_else(|| w.n_for(mode.divisor()));
    let out = (w.run)(imp, n)?;
    let mut line = format!(
        "{RESULT_PREFIX} workload={} alloc={alloc_name} impl={imp_name} n={n} ops={} elapsed_ns={} maxrss_kib={} hwm_kib={}",
        w.id,
        out.ops,
        out.elapsed_ns,
        sys::maxrss_kib(),
        sys::hwm_kib(),
    );
    for (k, v) in &out.extras {
        line.push_str(&format!(" x.{k}={v}"));
    }
    Ok(line)
}

/// A parsed result line.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerResult {
    /// Operations done.
    pub ops: u64,
    /// Measured wall time.
    pub elapsed_ns: u64,
    /// Peak RSS in KiB (max of `ru_maxrss` and `VmHWM`).
    pub peak_rss_kib: u64,
    /// Workload-specific figures.
    pub extras: BTreeMap<String, f64>,
}

impl WorkerResult {
    /// Nanoseconds per operation.
    pub fn ns_per_op(&self) -> f64 {
        self.elapsed_ns as f64 / self.ops.max(1) as f64
    }
}

/// Finds and parses the result line in a worker's stdout.
pub fn parse_result(stdout: &str) -> Option<WorkerResult> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with(RESULT_PREFIX))?;
    let mut kv = BTreeMap::new();
    for tok in line.split_whitespace().skip(1) {
        let (k, v) = tok.split_once('=')?;
        kv.insert(k, v);
    }
    let num = |k: &str| kv.get(k).and_then(|v| v.parse::<u64>().ok());
    let extras = kv
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("x.")?.to_string(), v.parse::<f64>().ok()?)))
        .collect();
    Some(WorkerResult {
        ops: num("ops")?,
        elapsed_ns: num("elapsed_ns")?,
        peak_rss_kib: num("maxrss_kib")
            .unwrap_or(0)
            .max(num("hwm_kib").unwrap_or(0)),
        extras,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_line_round_trip() {
        let line = run(
            "system",
            &[
                "--worker".into(),
                "w1-16".into(),
                "--iters".into(),
                "1000".into(),
            ],
        )
        .unwrap();
        let r = parse_result(&format!("noise\n{line}\n")).unwrap();
        assert_eq!(r.ops, 1000);
        assert!(r.peak_rss_kib > 0);
        let r = parse_result(
            "PGRESULT workload=w7-rss ops=10 elapsed_ns=500 maxrss_kib=7 hwm_kib=9 x.peak_live=1.5",
        )
        .unwrap();
        assert_eq!((r.ops, r.elapsed_ns, r.peak_rss_kib), (10, 500, 9));
        assert_eq!(r.extras.get("peak_live"), Some(&1.5));
        assert_eq!(r.ns_per_op(), 50.0);
        assert!(parse_result("PGRESULT ops=x").is_none());
        assert!(parse_result("").is_none());
    }

    #[test]
    fn worker_rejects_bad_input() {
        let e = run("system", &["--worker".into(), "w9".into()]).unwrap_err();
        assert!(e.contains("w1-16"), "{e}");
        assert!(run("system", &["--iters".into(), "0".into()]).is_err());
        assert!(run("system", &[]).is_err());
        assert!(run(
            "system",
            &[
                "--worker".into(),
                "w2-a".into(),
                "--impl".into(),
                "bumpalo".into()
            ]
        )
        .is_err());
    }
}

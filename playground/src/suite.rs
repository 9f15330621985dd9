//! `playground suite --mimalloc-bench DIR`: the C and C++ programs of a mimalloc-bench checkout,
//! under every allocator, side by side.
//!
//! mimalloc-bench (its `bench/` directory) is the allocator field's common yardstick: programs
//! written by others — a factoring program (cfrac), a logic minimiser (espresso), an n-body
//! simulation (barnes), server-like thread patterns (larson, xmalloc-test, rptest, mstress),
//! glibc's own malloc benchmarks, cache-sharing tests. The user builds them in their checkout
//! with mimalloc-bench's own tooling (`./build-bench-env.sh bench`, which runs cmake on
//! `bench/` into `out/bench`); this module runs the programs it finds there with the arguments
//! mimalloc-bench's `bench.sh` uses (threads = this machine's cores) under each allocator
//! through `run`'s machinery, interleaved. Programs that run for a fixed time and print a rate
//! are turned into a relative time as `bench.sh` does. None of mimalloc-bench's code, and no
//! recipe to build it, is part of this repository: get a checkout with
//! `git clone https://github.com/daanx/mimalloc-bench`.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;
use std::process::exit;
use std::time::Duration;

use crate::args::{SuiteArgs, UsageError};
use crate::driver::{check_output_dirs, usage_error, write_file, Progress};
use crate::report::{fmt_kib, fmt_ratio, render_markdown_table, render_text};
use crate::run::{contenders, run_once, Contender, Job, Output, Sample};
use crate::stats::{paired_ratios, Summary};

/// How a program's time is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// Wall time of the process.
    Wall,
    /// A fixed-duration program's `relative time: X` (larson).
    LarsonTime,
    /// `N memory ops/CPU second`: time = 2,000,000 / N (rptest).
    RptestOps,
    /// `rtime: X` (xmalloc-test).
    Rtime,
    /// `N iterations`: time = 1e9 / N (glibc-thread).
    Iterations,
}

/// One program of the suite.
#[derive(Clone, Debug)]
pub struct Program {
    /// Its name in the table (as `bench.sh` names it).
    pub name: &'static str,
    /// The cmake target (the executable's name).
    pub target: &'static str,
    /// Arguments; `{P}` is the number of cores, `{2P}` twice that, `{B}` the checkout's
    /// `bench/` directory.
    pub args: &'static [&'static str],
    /// Standard input, relative to `bench/`.
    pub stdin: Option<&'static str>,
    /// How the time is read.
    pub timing: Timing,
}

/// The programs, with `bench.sh`'s arguments.
pub const PROGRAMS: &[Program] = &[
    Program {
        name: "cfrac",
        target: "cfrac",
        args: &["17545186520507317056371138836327483792789528"],
        stdin: None,
        timing: Timing::Wall,
    },
    Program {
        name: "espresso",
        target: "espresso",
        args: &["{B}/espresso/largest.espresso"],
        stdin: None,
        timing: Timing::Wall,
    },
    Program {
        name: "barnes",
        target: "barnes",
        args: &[],
        stdin: Some("barnes/input"),
        timing: Timing::Wall,
    },
    Program {
        name: "larsonN",
        target: "larson",
        args: &["5", "8", "1000", "5000", "100", "4141", "{P}"],
        stdin: None,
        timing: Timing::LarsonTime,
    },
    Program {
        name: "larsonN-sized",
        target: "larson-sized",
        args: &["5", "8", "1000", "5000", "100", "4141", "{P}"],
        stdin: None,
        timing: Timing::LarsonTime,
    },
    Program {
        name: "mstressN",
        target: "mstress",
        args: &["{P}", "50", "25"],
        stdin: None,
        timing: Timing::Wall,
    },
    Program {
        name: "rptestN",
        target: "rptest",
        args: &["{P}", "0", "1", "2", "500", "1000", "100", "8", "16000"],
        stdin: None,
        timing: Timing::RptestOps,
    },
    Program {
        name: "alloc-test1",
        target: "alloc-test",
        args: &["1"],
        stdin: None,
        timing: Timing::Wall,
    },
    Program {
        name: "alloc-testN",
        target: "alloc-test",
        args: &["{P}"],
        stdin: None,
        timing: Timing::Wall,
    },
    Program {
        name: "sh6benchN",
        target: "sh6bench",
        args: &["{2P}"],
        stdin: None,
        timing: Timing::Wall,
    },
    Program {
        name: "sh8benchN",
        target: "sh8bench",
        args: &["{2P}"],
        stdin: None,
        timing: Timing::Wall,
    },
    // (Also in bench.sh, not here: programs that need other software — redis, lean, lua, gs,
    // rocksdb, z3, ruby, SPEC — and the security tests.)
    Program {
        name: "xmalloc-testN",
        target: "xmalloc-test",
        args: &["-w", "{P}", "-t", "5", "-s", "64"],
        stdin: None,
        timing: Timing::Rtime,
    },
    Program {
        name: "cache-scratch1",
        target: "cache-scratch",
        args: &["1", "1000", "1", "2000000", "{P}"],
        stdin: None,
        timing: Timing::Wall,
    },
    Program {
        name: "cache-scratchN",
        target: "cache-scratch",
        args: &["{P}", "1000", "1", "2000000", "{P}"],
        stdin: None,
        timing: Timing::Wall,
    },
    Program {
        name: "cache-thrash1",
        target: "cache-thrash",
        args: &["1", "1000", "1", "2000000", "{P}"],
        stdin: None,
        timing: Timing::Wall,
    },
    Program {
        name: "cache-thrashN",
        target: "cache-thrash",
        args: &["{P}", "1000", "1", "2000000", "{P}"],
        stdin: None,
        timing: Timing::Wall,
    },
    Program {
        name: "glibc-simple",
        target: "glibc-simple",
        args: &[],
        stdin: None,
        timing: Timing::Wall,
    },
    Program {
        name: "glibc-thread",
        target: "glibc-thread",
        args: &["{P}"],
        stdin: None,
        timing: Timing::Iterations,
    },
    Program {
        name: "malloc-large",
        target: "malloc-large",
        args: &[],
        stdin: None,
        timing: Timing::Wall,
    },
    Program {
        name: "mleak10",
        target: "mleak",
        args: &["5"],
        stdin: None,
        timing: Timing::Wall,
    },
    Program {
        name: "mleak100",
        target: "mleak",
        args: &["50"],
        stdin: None,
        timing: Timing::Wall,
    },
];

/// The number after `marker` on the first line holding it, e.g. `rtime: 1.25`.
fn number_after(text: &str, marker: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = &l[l.find(marker)? + marker.len()..];
        leading_number(rest.trim_start())
    })
}

/// The whole number just before `marker` on the first line holding it, e.g. `123 memory ops`.
fn number_before(text: &str, marker: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let head = l[..l.find(marker)?].trim_end();
        let start = head
            .rfind(|c: char| !c.is_ascii_digit())
            .map_or(0, |i| i + 1);
        head[start..].parse().ok()
    })
}

fn leading_number(s: &str) -> Option<f64> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    s[..end].parse().ok()
}

/// A program's time from its run and its output, as `bench.sh` computes it.
pub fn time_of(timing: Timing, sample: &Sample, output: &str) -> Option<f64> {
    match timing {
        Timing::Wall => Some(sample.wall),
        Timing::LarsonTime => number_after(output, "relative time:"),
        Timing::RptestOps => number_before(output, " memory ops")
            .filter(|&n| n > 0.0)
            .map(|n| 2e6 / n),
        Timing::Rtime => number_after(output, "rtime:"),
        Timing::Iterations => number_before(output, " iterations")
            .filter(|&n| n > 0.0)
            .map(|n| 1e9 / n),
    }
}

/// One program's measurements: `times[a][round]` and `rss[a][round]` per allocator.
struct Measured {
    program: &'static Program,
    times: Vec<Vec<Option<f64>>>,
    rss: Vec<Vec<Option<f64>>>,
    failures: Vec<Vec<String>>,
}

/// This machine's cores (`bench.sh`'s `procs`).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The program's command line, with `{P}`, `{2P}` and `{B}` filled in.
fn command_of(p: &Program, bin: &Path, bench: &Path) -> Vec<OsString> {
    let procs = cores();
    let mut c = vec![bin.join(p.target).into_os_string()];
    for a in p.args {
        c.push(OsString::from(
            a.replace("{2P}", &(2 * procs).to_string())
                .replace("{P}", &procs.to_string())
                .replace("{B}", &bench.display().to_string()),
        ));
    }
    c
}

/// Geometric mean of positive values.
fn geomean(v: &[f64]) -> Option<f64> {
    if v.is_empty() || v.iter().any(|&x| x <= 0.0 || !x.is_finite()) {
        return None;
    }
    Some((v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp())
}

/// The reference allocator for ratios: mimalloc if it ran, else glibc, else the first.
fn reference(contenders: &[Contender]) -> usize {
    ["mimalloc", "glibc"]
        .iter()
        .find_map(|n| contenders.iter().position(|c| c.name == *n))
        .unwrap_or(0)
}

/// The two tables (time, peak RSS), each relative to the reference allocator, as rows of cells.
fn tables(
    contenders: &[Contender],
    measured: &[Measured],
) -> (Vec<String>, Vec<Vec<String>>, Vec<Vec<String>>) {
    let r = reference(contenders);
    let mut head = vec![
        "program".to_string(),
        format!("{} (abs)", contenders[r].name),
    ];
    head.extend(contenders.iter().map(|c| c.name.clone()));
    let mut time_rows = Vec::new();
    let mut rss_rows = Vec::new();
    let mut time_ratios: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let mut rss_ratios: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    for m in measured {
        let abs_t = Summary::of(&m.times[r].iter().flatten().copied().collect::<Vec<_>>());
        let abs_m = Summary::of(&m.rss[r].iter().flatten().copied().collect::<Vec<_>>());
        let mut trow = vec![
            m.program.name.to_string(),
            abs_t
                .map(|s| format!("{:.3} s", s.median))
                .unwrap_or("–".into()),
        ];
        let mut mrow = vec![
            m.program.name.to_string(),
            abs_m.map(|s| fmt_kib(s.median)).unwrap_or("–".into()),
        ];
        for a in 0..contenders.len() {
            let cell = |series: &[Vec<Option<f64>>], acc: &mut Vec<f64>| -> String {
                if !m.failures[a].is_empty() {
                    return format!("FAILED: {}", m.failures[a][0]);
                }
                match Summary::of(&paired_ratios(&series[a], &series[r])) {
                    Some(s) => {
                        acc.push(s.median);
                        fmt_ratio(&s)
                    }
                    None => "–".into(),
                }
            };
            trow.push(cell(&m.times, &mut time_ratios[a]));
            mrow.push(cell(&m.rss, &mut rss_ratios[a]));
        }
        time_rows.push(trow);
        rss_rows.push(mrow);
    }
    let mean_row = |ratios: &[Vec<f64>]| {
        let mut row = vec![
            format!("geomean ({} programs)", measured.len()),
            String::new(),
        ];
        row.extend(ratios.iter().map(|v| {
            if v.len() == measured.len() {
                geomean(v)
                    .map(|g| format!("**{g:.3}**"))
                    .unwrap_or("–".into())
            } else {
                "–".into()
            }
        }));
        row
    };
    time_rows.push(mean_row(&time_ratios));
    rss_rows.push(mean_row(&rss_ratios));
    (head, time_rows, rss_rows)
}

/// A grouped bar chart of each program's time ratio to the reference, one bar per allocator.
fn svg_chart(contenders: &[Contender], measured: &[Measured]) -> String {
    const COLORS: &[&str] = &[
        "#888888", "#3b6fb6", "#d9822b", "#5a9e4b", "#b63b6f", "#6f3bb6", "#3bb6a8",
    ];
    let r = reference(contenders);
    let n = contenders.len();
    let (left, bar_h, gap) = (130.0, 9.0, 8.0);
    let group_h = bar_h * n as f64 + gap;
    let ratios: Vec<Vec<Option<f64>>> = measured
        .iter()
        .map(|m| {
            (0..n)
                .map(|a| Summary::of(&paired_ratios(&m.times[a], &m.times[r])).map(|s| s.median))
                .collect()
        })
        .collect();
    let max = ratios
        .iter()
        .flatten()
        .flatten()
        .fold(1.0f64, |a, &b| a.max(b))
        .min(4.0)
        * 1.05;
    let width = 480.0;
    let height = 70.0 + group_h * measured.len() as f64 + 20.0;
    let x = |v: f64| left + width * v.min(max) / max;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"18\" font-size=\"14\">mimalloc-bench: time relative to {} (dashed = 1; shorter is faster)</text>\n",
        left + width + 60.0,
        contenders[r].name
    );
    for (a, c) in contenders.iter().enumerate() {
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"30\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"39\">{}</text>",
            10.0 + 95.0 * a as f64,
            COLORS[a % COLORS.len()],
            24.0 + 95.0 * a as f64,
            c.name
        );
    }
    for (i, m) in measured.iter().enumerate() {
        let y0 = 55.0 + group_h * i as f64;
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y0 + group_h / 2.0,
            m.program.name
        );
        for (a, v) in ratios[i].iter().enumerate() {
            let Some(v) = v else { continue };
            let y = y0 + bar_h * a as f64;
            let _ = writeln!(
                s,
                "<rect x=\"{left}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\">{v:.2}</text>",
                x(*v) - left,
                bar_h - 1.0,
                COLORS[a % COLORS.len()],
                x(*v) + 3.0,
                y + bar_h - 2.0
            );
        }
    }
    let _ = writeln!(
        s,
        "<line x1=\"{0:.1}\" y1=\"48\" x2=\"{0:.1}\" y2=\"{1:.1}\" stroke=\"#333\" stroke-dasharray=\"4 3\"/>\n</svg>",
        x(1.0),
        height - 15.0
    );
    s
}

/// Entry point of `playground suite`.
pub fn main(args: SuiteArgs, exe_dir: &Path) {
    let root = &args.mimalloc_bench;
    let bench = root.join("bench");
    if !bench.join("CMakeLists.txt").is_file() {
        usage_error(&UsageError(format!(
            "--mimalloc-bench {}: no bench/CMakeLists.txt there; give the directory of a \
             mimalloc-bench checkout (git clone https://github.com/daanx/mimalloc-bench)",
            root.display()
        )));
    }
    let bin = args
        .bin
        .clone()
        .unwrap_or_else(|| root.join("out").join("bench"));
    let selected: Vec<&'static Program> = PROGRAMS
        .iter()
        .filter(|p| {
            args.filter.is_empty()
                || args.filter.iter().any(|f| {
                    p.name
                        .to_ascii_lowercase()
                        .contains(&f.to_ascii_lowercase())
                })
        })
        .collect();
    if selected.is_empty() {
        let names: Vec<&str> = PROGRAMS.iter().map(|p| p.name).collect();
        usage_error(&UsageError(format!(
            "--filter matches no program; the programs: {}",
            names.join(", ")
        )));
    }
    let (programs, missing): (Vec<&'static Program>, Vec<&'static Program>) = selected
        .into_iter()
        .partition(|p| bin.join(p.target).is_file());
    for p in &missing {
        eprintln!(
            "playground: {} skipped: {} is not built",
            p.name,
            bin.join(p.target).display()
        );
    }
    if programs.is_empty() {
        eprintln!(
            "playground: no mimalloc-bench program in {}; build them in the checkout with its own \
             `./build-bench-env.sh bench` (or cmake on its bench/ directory), or name the \
             directory with --bin",
            bin.display()
        );
        exit(1);
    }
    check_output_dirs(&[&args.markdown, &args.csv, &args.svg]);
    if args.preloads.alloc.is_empty()
        || args.preloads.alloc.iter().any(|a| a.contains("allocgator"))
    {
        crate::run::build_library_under_cargo();
    }
    let contenders = contenders(&args.preloads, exe_dir);
    if contenders.is_empty() {
        eprintln!("playground: no allocator to run under");
        exit(1);
    }
    let scratch = std::env::temp_dir().join(format!("allocgator-suite-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&scratch);
    let repeat = args.repeat as usize;
    let total = programs.len() * contenders.len() * repeat;
    let mut progress = Progress::new(total);
    eprintln!(
        "playground: {} programs × {} allocators × {repeat} runs, interleaved ({} cores)",
        programs.len(),
        contenders.len(),
        cores()
    );
    let mut measured = Vec::new();
    for p in programs {
        let out = scratch.join(format!("{}.out", p.name));
        let job = Job {
            command: command_of(p, &bin, &bench),
            cwd: Some(scratch.clone()),
            stdin: p.stdin.map(|s| bench.join(s)),
            output: Output::Capture(out.clone()),
            timeout: Some(Duration::from_secs_f64(args.timeout)),
        };
        let mut m = Measured {
            program: p,
            times: vec![Vec::new(); contenders.len()],
            rss: vec![Vec::new(); contenders.len()],
            failures: vec![Vec::new(); contenders.len()],
        };
        for round in 0..repeat {
            for (a, c) in contenders.iter().enumerate() {
                progress.run(p.name, &c.name, round, repeat);
                let (t, rss) = match run_once(c, &job) {
                    Ok(s) if s.failure.is_none() => {
                        let text = std::fs::read_to_string(&out).unwrap_or_default();
                        let t = time_of(p.timing, &s, &text);
                        if t.is_none() {
                            m.failures[a].push("no time in its output".into());
                        }
                        (t, Some(s.maxrss_kib))
                    }
                    Ok(s) => {
                        m.failures[a].push(s.failure.unwrap_or_default());
                        (None, None)
                    }
                    Err(e) => {
                        m.failures[a].push(e);
                        (None, None)
                    }
                };
                m.times[a].push(t);
                m.rss[a].push(rss);
            }
        }
        measured.push(m);
    }
    progress.clear();
    let (head, time_rows, rss_rows) = tables(&contenders, &measured);
    let r = &contenders[reference(&contenders)].name;
    let plain = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        rows.iter()
            .map(|row| row.iter().map(|c| c.replace("**", "")).collect())
            .collect()
    };
    println!(
        "\nmimalloc-bench, {} cores, {repeat} interleaved runs each: time ÷ {r}'s in the same round, median (min–max); below 1 is faster",
        cores()
    );
    print!("{}", render_text(&head, &plain(&time_rows), "  "));
    println!("\npeak RSS ÷ {r}'s");
    print!("{}", render_text(&head, &plain(&rss_rows), "  "));
    if let Some(path) = &args.markdown {
        let mut md = format!(
            "### mimalloc-bench: time ÷ {r}'s\n\n{} cores, {repeat} interleaved runs each; ratios are \
             paired per round, median (min–max); below 1 is faster. `{r} (abs)` is {r}'s own median.\n\n",
            cores()
        );
        md.push_str(&render_markdown_table(&head, &time_rows));
        let _ = write!(md, "\n### mimalloc-bench: peak RSS ÷ {r}'s\n\n");
        md.push_str(&render_markdown_table(&head, &rss_rows));
        write_file(path, "Markdown", &md);
    }
    if let Some(path) = &args.csv {
        let mut csv = String::from("program,allocator,round,time_s,peak_rss_kib,failure\n");
        for m in &measured {
            for (a, c) in contenders.iter().enumerate() {
                for round in 0..repeat {
                    let f = |x: Option<f64>| x.map(|v| format!("{v:.4}")).unwrap_or_default();
                    let _ = writeln!(
                        csv,
                        "{},{},{},{},{},{}",
                        m.program.name,
                        c.name,
                        round,
                        f(m.times[a][round]),
                        f(m.rss[a][round]),
                        m.failures[a].first().map(String::as_str).unwrap_or("")
                    );
                }
            }
        }
        write_file(path, "CSV", &csv);
    }
    if let Some(path) = &args.svg {
        write_file(path, "SVG chart", &svg_chart(&contenders, &measured));
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if measured
        .iter()
        .any(|m| m.failures.iter().any(|f| !f.is_empty()))
    {
        eprintln!("playground: some runs failed (see the FAILED cells)");
        exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(wall: f64) -> Sample {
        Sample {
            wall,
            user: 0.0,
            sys: 0.0,
            maxrss_kib: 1.0,
            minor_faults: 0.0,
            major_faults: 0.0,
            failure: None,
        }
    }

    #[test]
    fn times_are_read_as_bench_sh_reads_them() {
        let s = sample(3.5);
        assert_eq!(time_of(Timing::Wall, &s, ""), Some(3.5));
        let larson = "Throughput =  5000000 operations per second, relative time: 1.234s.\n";
        assert_eq!(time_of(Timing::LarsonTime, &s, larson), Some(1.234));
        let rptest = "blah\n...1000000 memory ops/CPU second (12MiB peak, 1MiB -> 2MiB bytes sample, 50% overhead)\n";
        assert_eq!(time_of(Timing::RptestOps, &s, rptest), Some(2.0));
        assert_eq!(
            time_of(Timing::Rtime, &s, "rtime: 0.750, free/sec: 133.3 M\n"),
            Some(0.75)
        );
        assert_eq!(
            time_of(Timing::Iterations, &s, "{json}\n500000000 iterations\n"),
            Some(2.0)
        );
        assert_eq!(time_of(Timing::Rtime, &s, "crashed\n"), None);
        assert_eq!(time_of(Timing::RptestOps, &s, "0 memory ops\n"), None);
    }

    #[test]
    fn commands_fill_in_cores_and_paths() {
        let p = PROGRAMS.iter().find(|p| p.name == "xmalloc-testN").unwrap();
        let c = command_of(p, Path::new("/b"), Path::new("/mb/bench"));
        assert_eq!(c[0], "/b/xmalloc-test");
        assert_eq!(c[2], cores().to_string().as_str());
        let e = PROGRAMS.iter().find(|p| p.name == "espresso").unwrap();
        assert_eq!(
            command_of(e, Path::new("/b"), Path::new("/mb/bench"))[1],
            "/mb/bench/espresso/largest.espresso"
        );
        let names: Vec<&str> = PROGRAMS.iter().map(|p| p.name).collect();
        let mut dedup = names.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(names.len(), dedup.len(), "program names are unique");
    }

    #[test]
    fn tables_have_paired_ratios_and_geomeans() {
        let cs: Vec<Contender> = ["glibc", "mimalloc", "allocgator"]
            .iter()
            .map(|n| Contender {
                name: n.to_string(),
                lib: None,
                env: Vec::new(),
            })
            .collect();
        let m = |t: [[f64; 2]; 3]| Measured {
            program: &PROGRAMS[0],
            times: t
                .iter()
                .map(|r| r.iter().map(|&x| Some(x)).collect())
                .collect(),
            rss: t
                .iter()
                .map(|r| r.iter().map(|&x| Some(x * 1000.0)).collect())
                .collect(),
            failures: vec![Vec::new(); 3],
        };
        let measured = vec![
            m([[2.0, 2.0], [1.0, 1.0], [0.5, 0.5]]),
            m([[4.0, 4.0], [2.0, 2.0], [4.0, 4.0]]),
        ];
        let (head, time, rss) = tables(&cs, &measured);
        assert_eq!(head[1], "mimalloc (abs)");
        // allocgator vs mimalloc: 0.5 and 2.0, geomean 1.0.
        assert_eq!(time[0][4], "0.50");
        assert_eq!(time[1][4], "2.00");
        assert_eq!(time[2][4], "**1.000**");
        assert_eq!(time[2][2], "**2.000**"); // glibc: 2 and 2
        assert_eq!(rss.len(), 3);
        assert!((geomean(&[2.0, 8.0]).unwrap() - 4.0).abs() < 1e-12);
        let svg = svg_chart(&cs, &measured);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(
            svg.contains(">allocgator<") && svg.contains(">2.00<"),
            "{svg}"
        );
        assert_eq!(geomean(&[]), None);
    }
}

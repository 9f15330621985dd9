//! Summaries and output formats: terminal table, Markdown, CSV, SVG.

use std::fmt::Write as _;

use crate::stats::{paired_ratios, Summary};
use crate::worker::WorkerResult;
use crate::workloads::{ExtraKind, Workload};

/// The row every ratio is first compared with.
pub const BASELINE: &str = "glibc";
/// The second reference row.
pub const ANCHOR: &str = "mimalloc";

/// What happened to one row of one workload.
#[derive(Clone, Debug, PartialEq)]
pub enum RowState {
    /// Ran (maybe not every repetition if it failed later).
    Ran,
    /// A run failed; the message says how. Earlier successful runs are kept
    /// but not reported.
    Failed(String),
    /// The worker executable does not exist.
    Missing(String),
    /// The implementation does not exist yet.
    Unavailable(String),
}

/// Measurements of one row.
#[derive(Clone, Debug)]
pub struct RowResult {
    /// Label shown in the tables.
    pub label: String,
    /// State.
    pub state: RowState,
    /// One entry per repetition (`None` = not run / failed).
    pub runs: Vec<Option<WorkerResult>>,
}

/// All rows of one workload.
#[derive(Clone, Debug)]
pub struct WorkloadResult {
    /// The workload.
    pub workload: &'static Workload,
    /// Work per run.
    pub n: u64,
    /// Repetitions.
    pub repeat: usize,
    /// Rows in display order.
    pub rows: Vec<RowResult>,
}

/// Derived figures of one row.
#[derive(Clone, Debug)]
pub struct RowSummary {
    /// Label.
    pub label: String,
    /// State.
    pub state: RowState,
    /// Successful runs.
    pub runs: usize,
    /// Operations per run (median).
    pub ops: u64,
    /// Elapsed ns.
    pub time: Option<Summary>,
    /// ns per operation.
    pub ns_per_op: Option<Summary>,
    /// Peak RSS in KiB.
    pub rss_kib: Option<Summary>,
    /// Paired time-per-op ratio to glibc.
    pub vs_baseline: Option<Summary>,
    /// Paired time-per-op ratio to mimalloc.
    pub vs_anchor: Option<Summary>,
    /// Paired throughput relative to glibc (glibc time / row time).
    pub speedup: Option<Summary>,
    /// Medians of the extra figures, in the workload's order.
    pub extras: Vec<Option<f64>>,
}

impl RowSummary {
    fn ok(&self) -> bool {
        self.state == RowState::Ran && self.runs > 0
    }
}

fn ns_per_op_series(r: &RowResult) -> Vec<Option<f64>> {
    r.runs
        .iter()
        .map(|x| x.as_ref().map(|w| w.ns_per_op()))
        .collect()
}

/// Computes per-row figures. Failed rows get no figures at all.
pub fn summarize(wr: &WorkloadResult) -> Vec<RowSummary> {
    let ok = |r: &RowResult| r.state == RowState::Ran;
    let series_of = |label: &str| {
        wr.rows
            .iter()
            .find(|r| r.label == label && ok(r))
            .map(ns_per_op_series)
    };
    let base = series_of(BASELINE);
    let anchor = series_of(ANCHOR);
    wr.rows
        .iter()
        .map(|r| {
            let good: Vec<&WorkerResult> = if ok(r) {
                r.runs.iter().flatten().collect()
            } else {
                Vec::new()
            };
            let of = |f: &dyn Fn(&WorkerResult) -> f64| {
                Summary::of(&good.iter().map(|w| f(w)).collect::<Vec<_>>())
            };
            let mine = ns_per_op_series(r);
            let ratio = |other: &Option<Vec<Option<f64>>>| {
                if !ok(r) {
                    return None;
                }
                other
                    .as_ref()
                    .and_then(|o| Summary::of(&paired_ratios(&mine, o)))
            };
            let speedup = if ok(r) {
                base.as_ref()
                    .and_then(|b| Summary::of(&paired_ratios(b, &mine)))
            } else {
                None
            };
            let extras = wr
                .workload
                .extras
                .iter()
                .map(|e| {
                    Summary::of(
                        &good
                            .iter()
                            .filter_map(|w| w.extras.get(e.key).copied())
                            .collect::<Vec<_>>(),
                    )
                    .map(|s| s.median)
                })
                .collect();
            RowSummary {
                label: r.label.clone(),
                state: r.state.clone(),
                runs: good.len(),
                ops: of(&|w| w.ops as f64).map(|s| s.median as u64).unwrap_or(0),
                time: of(&|w| w.elapsed_ns as f64),
                ns_per_op: of(&|w| w.ns_per_op()),
                rss_kib: of(&|w| w.peak_rss_kib as f64),
                vs_baseline: ratio(&base),
                vs_anchor: ratio(&anchor),
                speedup,
                extras,
            }
        })
        .collect()
}

// ---------------------------------------------------------------- formatting

/// `12.34 ms` style.
pub fn fmt_time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// `2.1 MiB` style from KiB.
pub fn fmt_kib(kib: f64) -> String {
    if kib >= 1024.0 * 1024.0 {
        format!("{:.2} GiB", kib / (1024.0 * 1024.0))
    } else if kib >= 1024.0 {
        format!("{:.1} MiB", kib / 1024.0)
    } else {
        format!("{kib:.0} KiB")
    }
}

/// `-1.2%/+3.4%` (min and max relative to the median).
pub fn fmt_spread(s: &Summary) -> String {
    if s.n < 2 {
        "(1 run)".to_string()
    } else {
        format!("-{:.1}%/+{:.1}%", -s.low_pct(), s.high_pct())
    }
}

/// `0.52 (0.48–0.60)`.
pub fn fmt_ratio(s: &Summary) -> String {
    if s.n < 2 || (s.max - s.min) < 0.005 {
        format!("{:.2}", s.median)
    } else {
        format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max)
    }
}

fn fmt_ns_per_op(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn fmt_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn status_word(st: &RowState) -> &'static str {
    match st {
        RowState::Ran => "no data",
        RowState::Failed(_) => "FAILED",
        RowState::Missing(_) => "MISSING",
        RowState::Unavailable(_) => "n/a",
    }
}

const HEADERS: [&str; 8] = [
    "allocator",
    "time",
    "spread",
    "ns/op",
    "Mops/s",
    "peak RSS",
    "vs glibc",
    "vs mimalloc",
];

fn row_cells(r: &RowSummary) -> Vec<String> {
    if !r.ok() {
        let mut v = vec![r.label.clone(), status_word(&r.state).to_string()];
        v.resize(HEADERS.len(), "–".to_string());
        return v;
    }
    let ratio = |s: &Option<Summary>, me: &str, name: &str| match s {
        _ if me == name => "1.00".to_string(),
        Some(s) => fmt_ratio(s),
        None => "–".to_string(),
    };
    let t = r.time.expect("ok row has time");
    let npo = r.ns_per_op.expect("ok row has ns/op");
    vec![
        r.label.clone(),
        fmt_time(t.median),
        fmt_spread(&t),
        fmt_ns_per_op(npo.median),
        format!("{:.1}", 1e3 / npo.median),
        r.rss_kib.map(|s| fmt_kib(s.median)).unwrap_or_default(),
        ratio(&r.vs_baseline, &r.label, BASELINE),
        ratio(&r.vs_anchor, &r.label, ANCHOR),
    ]
}

fn notes(rows: &[RowSummary]) -> Vec<String> {
    rows.iter()
        .filter_map(|r| match &r.state {
            RowState::Failed(m) => Some(format!("{}: FAILED — {m}", r.label)),
            RowState::Missing(m) => Some(format!("{}: MISSING — {m}", r.label)),
            RowState::Unavailable(m) => Some(format!("{}: {m}", r.label)),
            RowState::Ran if r.runs == 0 => Some(format!("{}: no successful run", r.label)),
            RowState::Ran => None,
        })
        .collect()
}

fn extra_cells(
    wr: &WorkloadResult,
    rows: &[RowSummary],
) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let ex = wr.workload.extras;
    if ex.is_empty() {
        return None;
    }
    let mut head = vec!["allocator".to_string()];
    head.extend(ex.iter().map(|e| e.header.to_string()));
    let body = rows
        .iter()
        .filter(|r| r.ok())
        .map(|r| {
            let mut v = vec![r.label.clone()];
            for (e, x) in ex.iter().zip(&r.extras) {
                v.push(match (x, e.kind) {
                    (None, _) => "–".to_string(),
                    (Some(k), ExtraKind::Kib) => fmt_kib(*k),
                    (Some(x), ExtraKind::Ratio) => format!("{x:.2}"),
                });
            }
            v
        })
        .collect();
    Some((head, body))
}

/// Renders aligned columns: first left-aligned, the others right-aligned.
pub(crate) fn render_text(head: &[String], body: &[Vec<String>], indent: &str) -> String {
    let cols = head.len();
    let mut w = vec![0; cols];
    for r in std::iter::once(head).chain(body.iter().map(|r| r.as_slice())) {
        for (i, c) in r.iter().enumerate().take(cols) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |r: &[String]| {
        let mut s = indent.to_string();
        for (i, c) in r.iter().enumerate().take(cols) {
            let pad = w[i] - c.chars().count();
            if i == 0 {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head);
    for r in body {
        out.push_str(&line(r));
    }
    out
}

pub(crate) fn render_markdown_table(head: &[String], body: &[Vec<String>]) -> String {
    let mut s = format!("| {} |\n", head.join(" | "));
    s.push('|');
    for i in 0..head.len() {
        s.push_str(if i == 0 { " :--- |" } else { " ---: |" });
    }
    s.push('\n');
    for r in body {
        s.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    s
}

/// Operations per run (the same for every row: the work is fixed).
fn ops_per_run(wr: &WorkloadResult) -> Option<u64> {
    wr.rows
        .iter()
        .filter(|r| r.state == RowState::Ran)
        .flat_map(|r| r.runs.iter().flatten())
        .map(|w| w.ops)
        .next()
}

fn subtitle(wr: &WorkloadResult) -> String {
    let work = match ops_per_run(wr) {
        Some(ops) => format!("{} {}/run", fmt_count(ops), wr.workload.unit),
        None => format!("n = {}", fmt_count(wr.n)),
    };
    format!(
        "{work} · {} runs each, interleaved · vs X = time/op ÷ X's time/op, \
         median (min–max) over paired runs; < 1 is faster",
        wr.repeat
    )
}

/// The terminal block of one workload.
pub fn text_block(wr: &WorkloadResult) -> String {
    let rows = summarize(wr);
    let head: Vec<String> = HEADERS.iter().map(|s| s.to_string()).collect();
    let body: Vec<Vec<String>> = rows.iter().map(row_cells).collect();
    let mut s = format!(
        "\n{} — {}\n  {}\n",
        wr.workload.id,
        wr.workload.title,
        subtitle(wr)
    );
    s.push_str(&render_text(&head, &body, "  "));
    if let Some((h, b)) = extra_cells(wr, &rows) {
        s.push_str("  (medians)\n");
        s.push_str(&render_text(&h, &b, "  "));
    }
    for n in notes(&rows) {
        s.push_str(&format!("  * {n}\n"));
    }
    s
}

/// The Markdown section of one workload.
pub fn markdown_block(wr: &WorkloadResult) -> String {
    let rows = summarize(wr);
    let head: Vec<String> = HEADERS.iter().map(|s| s.to_string()).collect();
    let body: Vec<Vec<String>> = rows.iter().map(row_cells).collect();
    let mut s = format!(
        "### {} — {}\n\n{}\n\n",
        wr.workload.id,
        wr.workload.title,
        subtitle(wr)
    );
    s.push_str(&render_markdown_table(&head, &body));
    if let Some((h, b)) = extra_cells(wr, &rows) {
        s.push_str("\nMedians of the workload's own figures:\n\n");
        s.push_str(&render_markdown_table(&h, &b));
    }
    let n = notes(&rows);
    if !n.is_empty() {
        s.push('\n');
        for x in n {
            s.push_str(&format!("- {x}\n"));
        }
    }
    s.push('\n');
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV header line.
pub const CSV_HEADER: &str =
    "workload,allocator,status,runs,n,ops,median_ns,min_ns,max_ns,mad_pct,\
ns_per_op,mops_per_s,peak_rss_kib,vs_glibc,vs_glibc_min,vs_glibc_max,vs_mimalloc,vs_mimalloc_min,\
vs_mimalloc_max,extras,note";

/// CSV rows of one workload (no header).
pub fn csv_rows(wr: &WorkloadResult) -> String {
    let mut out = String::new();
    for r in summarize(wr) {
        let f = |x: Option<f64>| x.map(|v| format!("{v:.4}")).unwrap_or_default();
        let s3 = |s: &Option<Summary>| {
            [
                f(s.map(|s| s.median)),
                f(s.map(|s| s.min)),
                f(s.map(|s| s.max)),
            ]
            .join(",")
        };
        let (status, note) = match &r.state {
            RowState::Ran => ("ok", String::new()),
            RowState::Failed(m) => ("failed", m.clone()),
            RowState::Missing(m) => ("missing", m.clone()),
            RowState::Unavailable(m) => ("unavailable", m.clone()),
        };
        let extras: Vec<String> = wr
            .workload
            .extras
            .iter()
            .zip(&r.extras)
            .filter_map(|(e, x)| x.map(|x| format!("{}={x:.1}", e.key)))
            .collect();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            wr.workload.id,
            csv_field(&r.label),
            status,
            r.runs,
            wr.n,
            r.ops,
            f(r.time.map(|s| s.median)),
            f(r.time.map(|s| s.min)),
            f(r.time.map(|s| s.max)),
            f(r.time.map(|s| s.mad_pct())),
            f(r.ns_per_op.map(|s| s.median)),
            f(r.ns_per_op.map(|s| 1e3 / s.median)),
            f(r.rss_kib.map(|s| s.median)),
            s3(&r.vs_baseline),
            s3(&r.vs_anchor),
            csv_field(&extras.join(";")),
            csv_field(&note),
        );
    }
    out
}

fn color(label: &str) -> &'static str {
    match label {
        "glibc" => "#7f7f7f",
        "mimalloc" => "#1f77b4",
        "jemalloc" => "#ff7f0e",
        "snmalloc" => "#2ca02c",
        "allocgator" => "#d62728",
        "bumpalo" => "#9467bd",
        "bump-scope" => "#8c564b",
        _ => "#e377c2",
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A diverging bar chart: per workload, throughput relative to glibc on a
/// log2 axis (right of the centre line: faster than glibc).
pub fn svg_chart(results: &[WorkloadResult]) -> String {
    const W: f64 = 960.0;
    const LABEL_W: f64 = 300.0;
    const BAR_H: f64 = 14.0;
    const GAP: f64 = 4.0;
    const MAX_LOG2: f64 = 4.0; // the axis runs from 1/16× to 16×
    let half = (W - LABEL_W - 80.0) / 2.0;
    let cx = LABEL_W + half;
    let x_of = |v: f64| cx + v.log2().clamp(-MAX_LOG2, MAX_LOG2) / MAX_LOG2 * half;
    let mut body = String::new();
    let mut y = 56.0;
    for wr in results {
        let rows = summarize(wr);
        let _ = writeln!(
            body,
            r#"<text x="8" y="{:.0}" font-weight="bold">{}</text>"#,
            y + 12.0,
            xml(wr.workload.id)
        );
        y += 18.0;
        for r in &rows {
            let _ = writeln!(
                body,
                r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{}</text>"#,
                LABEL_W - 8.0,
                y + BAR_H - 3.0,
                xml(&r.label)
            );
            match (&r.state, r.speedup) {
                (RowState::Ran, Some(s)) => {
                    let (a, b) = (cx, x_of(s.median));
                    let _ = writeln!(
                        body,
                        r#"<rect x="{:.1}" y="{y:.0}" width="{:.1}" height="{BAR_H}" fill="{}"/>"#,
                        a.min(b),
                        (b - a).abs().max(1.0),
                        color(&r.label)
                    );
                    if s.n > 1 {
                        let _ = writeln!(
                            body,
                            r##"<line x1="{:.1}" x2="{:.1}" y1="{:.0}" y2="{:.0}" stroke="#000" stroke-width="1"/>"##,
                            x_of(s.min),
                            x_of(s.max),
                            y + BAR_H / 2.0,
                            y + BAR_H / 2.0
                        );
                    }
                    let tx = if b >= a {
                        b.max(x_of(s.max)) + 4.0
                    } else {
                        b.min(x_of(s.min)) - 4.0
                    };
                    let anchor = if b >= a { "start" } else { "end" };
                    let _ = writeln!(
                        body,
                        r#"<text x="{tx:.1}" y="{:.0}" text-anchor="{anchor}">{:.2}×</text>"#,
                        y + BAR_H - 3.0,
                        s.median
                    );
                }
                (st, _) => {
                    let word = match st {
                        RowState::Ran => "no glibc baseline",
                        other => status_word(other),
                    };
                    let _ = writeln!(
                        body,
                        r##"<text x="{:.0}" y="{:.0}" fill="#888">{word}</text>"##,
                        cx + 6.0,
                        y + BAR_H - 3.0
                    );
                }
            }
            y += BAR_H + GAP;
        }
        y += 10.0;
    }
    let h = y + 20.0;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h:.0}" viewBox="0 0 {W} {h:.0}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="8" y="20" font-size="15" font-weight="bold">allocgator playground: throughput relative to glibc (log scale, median; whisker = min–max)</text>
<text x="8" y="38" fill="#555">right of the line: faster than glibc; left: slower. Each bar is a ratio of paired, interleaved runs.</text>
"##
    );
    for k in -(MAX_LOG2 as i32)..=(MAX_LOG2 as i32) {
        let v = 2f64.powi(k);
        let x = x_of(v);
        let stroke = if k == 0 { "#000" } else { "#ddd" };
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="46" y2="{:.0}" stroke="{stroke}"/>"#,
            h - 16.0
        );
        let lab = if k >= 0 {
            format!("{v}×")
        } else {
            format!("1/{}×", 1 << -k)
        };
        let _ = writeln!(
            svg,
            r##"<text x="{x:.1}" y="{:.0}" text-anchor="middle" fill="#555">{lab}</text>"##,
            h - 4.0
        );
    }
    svg.push_str(&body);
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::find;
    use std::collections::BTreeMap;

    fn wr(ns: u64) -> WorkerResult {
        WorkerResult {
            ops: 10,
            elapsed_ns: ns,
            peak_rss_kib: 2048,
            extras: BTreeMap::new(),
        }
    }

    fn sample() -> WorkloadResult {
        WorkloadResult {
            workload: find("w1-16").unwrap(),
            n: 10,
            repeat: 3,
            rows: vec![
                RowResult {
                    label: "glibc".into(),
                    state: RowState::Ran,
                    runs: vec![Some(wr(100)), Some(wr(200)), Some(wr(100))],
                },
                RowResult {
                    label: "mimalloc".into(),
                    state: RowState::Ran,
                    runs: vec![Some(wr(50)), Some(wr(100)), Some(wr(25))],
                },
                RowResult {
                    label: "allocgator".into(),
                    state: RowState::Failed("killed by signal 11 (SIGSEGV)".into()),
                    runs: vec![Some(wr(1)), None, None],
                },
            ],
        }
    }

    #[test]
    fn ratios_are_paired_medians() {
        let s = summarize(&sample());
        // mimalloc / glibc per run: 0.5, 0.5, 0.25 → median 0.5, min 0.25.
        let m = s[1].vs_baseline.unwrap();
        assert_eq!((m.median, m.min, m.max), (0.5, 0.25, 0.5));
        assert_eq!(s[1].speedup.unwrap().median, 2.0);
        // glibc / mimalloc: 2, 2, 4.
        assert_eq!(s[0].vs_anchor.unwrap().median, 2.0);
        assert_eq!(s[0].time.unwrap().median, 100.0);
        // A failed row has no figures even though one run succeeded.
        assert!(s[2].time.is_none() && s[2].vs_baseline.is_none());
    }

    #[test]
    fn text_and_csv_show_failures() {
        let t = text_block(&sample());
        assert!(t.contains("FAILED") && t.contains("SIGSEGV"), "{t}");
        assert!(t.contains("0.50 (0.25–0.50)"), "{t}");
        let c = csv_rows(&sample());
        assert_eq!(c.lines().count(), 3);
        assert!(c.lines().all(|l| l.split(',').count() >= 21), "{c}");
        assert!(svg_chart(&[sample()]).starts_with("<svg"));
        assert!(markdown_block(&sample()).contains("| :--- |"));
    }

    #[test]
    fn formatting() {
        assert_eq!(fmt_time(1.5e9), "1.500 s");
        assert_eq!(fmt_time(21_400_000.0), "21.40 ms");
        assert_eq!(fmt_time(850.0), "850 ns");
        assert_eq!(fmt_kib(2048.0), "2.0 MiB");
        assert_eq!(fmt_count(1234567), "1,234,567");
        assert_eq!(fmt_count(999), "999");
        let s = Summary::of(&[90.0, 100.0, 110.0]).unwrap();
        assert_eq!(fmt_spread(&s), "-10.0%/+10.0%");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }
}

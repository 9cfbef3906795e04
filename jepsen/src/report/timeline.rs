//! `timeline.html`: one self-contained page (inline SVG and CSS, no script, no fetches) with
//! send throughput and latency over time by outcome, fault windows shaded and labelled, and the
//! verdict with each anomaly count. Latency points are thinned to a few thousand so a long
//! soak still gives a small page; `fail` and `info` points are always kept.

use std::fmt::Write as _;

use super::RunInfo;
use crate::checker::stats::windows;
use crate::checker::Results;
use crate::history::{Func, Op, OpType};

const W: f64 = 1100.0;
const H: f64 = 260.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
/// Label rows above the plot, and the room they take.
const LABEL_ROWS: usize = 3;
const TOP: f64 = 6.0 + 11.0 * LABEL_ROWS as f64;
/// Roughly how wide one character of a 10 px label is, to keep labels from overlapping.
const LABEL_CHAR_W: f64 = 5.8;
const BOTTOM: f64 = 30.0;
const MAX_OK_POINTS: usize = 4000;

fn colour(t: OpType) -> &'static str {
    match t {
        OpType::Ok => "#2e9e44",
        OpType::Fail => "#d62728",
        OpType::Info => "#ff9f1c",
        OpType::Invoke => "#777",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Completed sends as (invoke s, complete s, outcome).
fn sends(ops: &[Op]) -> Vec<(f64, f64, OpType)> {
    let mut open: std::collections::HashMap<&str, f64> = Default::default();
    let mut out = Vec::new();
    for op in ops.iter().filter(|o| o.f == Func::Send) {
        if op.kind == OpType::Invoke {
            open.insert(&op.process, op.secs());
        } else if let Some(t0) = open.remove(op.process.as_str()) {
            out.push((t0, op.secs(), op.kind));
        }
    }
    out
}

struct Frame {
    x_max: f64,
}

impl Frame {
    fn x(&self, t: f64) -> f64 {
        LEFT + (t / self.x_max.max(1.0)) * (W - LEFT - RIGHT)
    }
}

/// The shaded fault windows, each labelled above the plot with its number in the fault table
/// and, where there is room before the next label, its name. Labels go on a few rows; a long
/// soak with many short faults then shows numbers instead of overlapping names.
fn faults_svg(f: &Frame, wins: &[(String, String, u64, Option<u64>)], end: f64) -> String {
    let mut s = String::new();
    let mut row_end = [f64::MIN; LABEL_ROWS];
    for (i, (name, desc, start, stop)) in wins.iter().enumerate() {
        let a = f.x(*start as f64 / 1e6);
        let b = f.x(stop.map_or(end, |e| e as f64 / 1e6));
        let n = i + 1;
        let label = place_label(
            &mut row_end,
            a,
            W - 2.0,
            &[format!("{n} {name}"), n.to_string()],
        );
        let text = label.map_or(String::new(), |(row, text)| {
            format!(
                r#"<text x="{a:.1}" y="{:.1}" class="fl">{}</text>"#,
                10.0 + 11.0 * row as f64,
                esc(&text)
            )
        });
        let _ = write!(
            s,
            r##"<g><title>#{n} {} {:.1}–{:.1} s: {}</title><rect x="{a:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#8888cc" opacity="0.18"/>{text}</g>"##,
            esc(name),
            *start as f64 / 1e6,
            stop.map_or(end, |e| e as f64 / 1e6),
            esc(desc),
            (b - a).max(1.0),
            H - TOP - BOTTOM,
        );
    }
    s
}

/// Picks the first candidate text that fits on a row at `x`, without overlapping the previous
/// label there or running past `max_x`; returns (row, text), or `None` when nothing fits (the
/// hover title remains).
fn place_label(
    row_end: &mut [f64],
    x: f64,
    max_x: f64,
    candidates: &[String],
) -> Option<(usize, String)> {
    for text in candidates {
        let width = text.chars().count() as f64 * LABEL_CHAR_W;
        if x + width > max_x {
            continue;
        }
        for (row, end) in row_end.iter_mut().enumerate() {
            if x >= *end + 4.0 {
                *end = x + width;
                return Some((row, text.clone()));
            }
        }
    }
    None
}

fn axes(f: &Frame, y_label: &str, ticks: &[(f64, String)]) -> String {
    let mut s = String::new();
    let bottom = H - BOTTOM;
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{bottom}" x2="{}" y2="{bottom}" stroke="#444"/>"##,
        W - RIGHT
    );
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#444"/>"##
    );
    let step = nice_step(f.x_max / 10.0);
    let mut t = 0.0;
    while t <= f.x_max + 1e-9 {
        let x = f.x(t);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{bottom}" x2="{x:.1}" y2="{}" stroke="#444"/><text x="{x:.1}" y="{}" class="tx">{t:.0}s</text>"##,
            bottom + 4.0,
            bottom + 16.0
        );
        t += step;
    }
    for (y, label) in ticks {
        let _ = write!(
            s,
            r##"<line x1="{}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" class="ty">{}</text>"##,
            LEFT,
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            esc(label)
        );
    }
    let _ = write!(
        s,
        r#"<text x="12" y="{:.1}" class="yl" transform="rotate(-90 12 {:.1})">{}</text>"#,
        H / 2.0,
        H / 2.0,
        esc(y_label)
    );
    s
}

fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * mag >= raw {
            return m * mag;
        }
    }
    10.0 * mag
}

fn throughput(f: &Frame, data: &[(f64, f64, OpType)], wins: &str) -> String {
    let buckets = f.x_max.ceil().max(1.0) as usize + 1;
    let mut series: Vec<(OpType, Vec<u32>)> = [OpType::Ok, OpType::Fail, OpType::Info]
        .into_iter()
        .map(|t| (t, vec![0u32; buckets]))
        .collect();
    for (_, done, t) in data {
        let b = (*done as usize).min(buckets - 1);
        if let Some((_, v)) = series.iter_mut().find(|(k, _)| k == t) {
            v[b] += 1;
        }
    }
    let y_max = series
        .iter()
        .flat_map(|(_, v)| v.iter())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let y = |v: f64| H - BOTTOM - v / y_max * (H - TOP - BOTTOM);
    let step = nice_step(y_max / 4.0);
    let mut ticks = Vec::new();
    let mut v = 0.0;
    while v <= y_max {
        ticks.push((y(v), format!("{v:.0}")));
        v += step;
    }
    let mut s = format!(
        r#"<svg viewBox="0 0 {W} {H}" class="chart">{wins}{}"#,
        axes(f, "sends/s", &ticks)
    );
    for (t, v) in &series {
        let pts: Vec<String> = v
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{:.1},{:.1}", f.x(i as f64 + 0.5), y(*n as f64)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
            colour(*t),
            pts.join(" ")
        );
    }
    s.push_str("</svg>");
    s
}

fn latency(f: &Frame, data: &[(f64, f64, OpType)], wins: &str) -> String {
    let max_ms = data
        .iter()
        .map(|(a, b, _)| (b - a) * 1000.0)
        .fold(10.0, f64::max);
    let (lo, hi) = (0.1f64.log10(), max_ms.log10().ceil());
    let y = |ms: f64| H - BOTTOM - (ms.max(0.1).log10() - lo) / (hi - lo) * (H - TOP - BOTTOM);
    let mut ticks = Vec::new();
    let mut d: f64 = 0.1;
    while d.log10() <= hi + 1e-9 {
        ticks.push((
            y(d),
            if d < 1.0 {
                format!("{d}")
            } else {
                format!("{d:.0}")
            },
        ));
        d *= 10.0;
    }
    let mut s = format!(
        r#"<svg viewBox="0 0 {W} {H}" class="chart">{wins}{}"#,
        axes(f, "latency ms (log)", &ticks)
    );
    let oks = data.iter().filter(|d| d.2 == OpType::Ok).count();
    let keep_every = oks.div_ceil(MAX_OK_POINTS).max(1);
    let mut seen_ok = 0usize;
    for (t0, t1, t) in data {
        if *t == OpType::Ok {
            seen_ok += 1;
            if !seen_ok.is_multiple_of(keep_every) {
                continue;
            }
        }
        let _ = write!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="1.6" fill="{}"/>"#,
            f.x(*t0),
            y((t1 - t0) * 1000.0),
            colour(*t)
        );
    }
    s.push_str("</svg>");
    s
}

/// The whole page.
pub fn render(info: &RunInfo<'_>, r: &Results, ops: &[Op]) -> String {
    let data = sends(ops);
    let end = r.stats.duration_s.max(1.0);
    let f = Frame { x_max: end };
    let wins = faults_svg(&f, &windows(ops), end);
    let verdict = match r.verdict() {
        crate::checker::Verdict::Valid => "valid",
        v => v.name(),
    };
    let mut anomalies = String::new();
    for u in &r.unapplied {
        let _ = write!(anomalies, "<li>{}</li>", esc(u));
    }
    // A few examples of each kind, as in results.json (which keeps up to 20).
    let examples = serde_json::to_value(&r.anomalies).unwrap_or_default();
    for (k, n) in r.anomaly_counts.nonzero() {
        let key = match k {
            "incomplete-drain" => "incomplete_drains".to_string(),
            other => other.replace('-', "_"),
        };
        let shown: Vec<String> = examples
            .get(&key)
            .and_then(|v| v.as_array())
            .map(|items| {
                items
                    .iter()
                    .take(3)
                    .map(|e| format!("<li><code>{}</code></li>", esc(&e.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let _ = write!(
            anomalies,
            "<li><b>{k}</b>: {n}<ul class=\"ex\">{}</ul></li>",
            shown.join("")
        );
    }
    if anomalies.is_empty() {
        anomalies.push_str("<li>none</li>");
    }
    let mut faults = String::new();
    for (i, w) in r.stats.faults.iter().enumerate() {
        let ms = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.2} s", v / 1000.0));
        let _ = write!(
            faults,
            "<tr><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            w.start_s,
            w.end_s.map_or("…".into(), |e| format!("{e:.1}")),
            esc(&w.fault),
            esc(&w.description),
            w.availability * 100.0,
            ms(w.first_ok_after_start_ms),
            ms(w.recovery_ms)
        );
    }
    let s = &r.stats;
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>LedgerMQ Jepsen: {name} ({verdict})</title>
<style>
body {{ font-family: sans-serif; margin: 20px; color: #222; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 16px; margin-top: 24px; }}
.valid {{ color: #2e9e44; }} .invalid {{ color: #d62728; }}
.chart {{ width: 100%; max-width: {W}px; border: 1px solid #eee; }}
.tx {{ font-size: 10px; text-anchor: middle; fill: #444; }}
.ty {{ font-size: 10px; text-anchor: end; fill: #444; }}
.yl {{ font-size: 11px; text-anchor: middle; fill: #444; }}
.fl {{ font-size: 10px; fill: #446; }}
.ex {{ font-size: 12px; }} .ex code {{ word-break: break-all; }}
.key span {{ display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; vertical-align: middle; }}
table {{ border-collapse: collapse; font-size: 12px; }} td, th {{ border: 1px solid #ddd; padding: 3px 6px; }}
</style></head><body>
<h1>LedgerMQ Jepsen run <code>{name}</code> (seed {seed}): <span class="{vclass}">{verdict}</span></h1>
<p>{sends} sends: {ok} ok, {fail} fail, {info} info; {polls} polls; {drained} distinct values in the final drain;
ok-send latency p50 {p50:.1} ms, p99 {p99:.1} ms. Replay: <code>{replay}</code></p>
<div class="key"><span style="background:#2e9e44"></span>ok<span style="background:#d62728"></span>fail<span style="background:#ff9f1c"></span>info (indeterminate)<span style="background:#8888cc;opacity:.4"></span>fault active</div>
<h2>Send throughput (completions per second, by outcome)</h2>
{tp}
<h2>Send latency (each send at its start time)</h2>
{lat}
<h2>Anomalies</h2><ul>{anomalies}</ul>
<h2>Faults</h2>
<table><tr><th>#</th><th>start s</th><th>end s</th><th>fault</th><th>what</th><th>availability</th><th>first ok after start</th><th>recovery after heal</th></tr>{faults}</table>
</body></html>
"##,
        name = esc(info.name),
        seed = info.seed,
        vclass = if r.valid { "valid" } else { "invalid" },
        sends = s.sends.total(),
        ok = s.sends.ok,
        fail = s.sends.fail,
        info = s.sends.info,
        polls = s.polls.total(),
        drained = s.drained_values,
        p50 = s.send_latency.p50_ms,
        p99 = s.send_latency.p99_ms,
        replay = esc(info.replay),
        tp = throughput(&f, &data, &wins),
        lat = latency(&f, &data, &wins),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Op;

    #[test]
    fn the_page_is_self_contained_and_shows_faults() {
        let mut ops = Vec::new();
        let mut push = |mut op: Op, t: u64| {
            op.index = ops.len() as u64;
            op.time_us = t;
            ops.push(op);
        };
        push(Op::new(OpType::Invoke, Func::Send, "p0").value("p0-1"), 0);
        push(
            Op::new(OpType::Ok, Func::Send, "p0")
                .value("p0-1")
                .queue(0)
                .offset(0),
            2_000,
        );
        push(
            Op::new(OpType::Invoke, Func::Fault, "nemesis").value("kill-leader"),
            1_000_000,
        );
        push(
            Op::new(OpType::Ok, Func::Fault, "nemesis")
                .value("kill-leader")
                .error("kill -9 leader n0 <x>"),
            1_000_100,
        );
        push(
            Op::new(OpType::Invoke, Func::Send, "p0").value("p0-2"),
            1_100_000,
        );
        push(
            Op::new(OpType::Info, Func::Send, "p0").value("p0-2"),
            3_100_000,
        );
        push(
            Op::new(OpType::Invoke, Func::Heal, "nemesis").value("kill-leader"),
            4_000_000,
        );
        push(
            Op::new(OpType::Ok, Func::Heal, "nemesis").value("kill-leader"),
            4_100_000,
        );
        let r = crate::checker::check(&ops);
        let dir = std::path::PathBuf::from("/tmp");
        let info = RunInfo {
            name: "t",
            seed: 1,
            dir: &dir,
            replay: "jepsen test --seed 1",
        };
        let page = render(&info, &r, &ops);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(
            !page.contains("http://") && !page.contains("https://") && !page.contains("<script")
        );
        assert!(page.contains(">1 kill-leader</text>") && page.contains("&lt;x&gt;"));
        assert!(
            page.contains(r##"fill="#ff9f1c""##),
            "the info point is drawn"
        );
        assert!(page.contains("INVALID"), "no final drain");

        // A drain without the acknowledged p0-1: the page shows the lost write as an example.
        let mut drain = Op::new(OpType::Ok, Func::Drain, "drain-n0")
            .node("n0")
            .queue(0)
            .offset(0);
        drain.msgs = Some(Vec::new());
        ops.push(
            Op::new(OpType::Invoke, Func::Drain, "drain-n0")
                .node("n0")
                .queue(0)
                .offset(0),
        );
        ops.push(drain);
        let r = crate::checker::check(&ops);
        let page = render(&info, &r, &ops);
        assert!(page.contains("<b>lost</b>: 1"));
        assert!(
            page.contains("&quot;value&quot;:&quot;p0-1&quot;"),
            "an example is shown"
        );
    }

    #[test]
    fn crowded_fault_labels_fall_back_to_numbers_and_never_overlap() {
        let mut rows = [f64::MIN; 2];
        let c = |n: usize, name: &str| [format!("{n} {name}"), n.to_string()];
        let max = 1000.0;
        assert_eq!(
            place_label(&mut rows, 100.0, max, &c(1, "partition-halves")),
            Some((0, "1 partition-halves".into()))
        );
        // 20 px further: row 0 is taken by the long label, row 1 is free.
        assert_eq!(
            place_label(&mut rows, 120.0, max, &c(2, "kill")),
            Some((1, "2 kill".into()))
        );
        // Both rows busy: nothing fits, not even the number.
        assert_eq!(place_label(&mut rows, 130.0, max, &c(3, "pause")), None);
        // Once row 1's label has ended, the next full label fits there again.
        assert_eq!(
            place_label(&mut rows, 160.0, max, &c(4, "bridge")),
            Some((1, "4 bridge".into()))
        );
        // At the right edge only the number fits.
        assert_eq!(
            place_label(&mut rows, 980.0, max, &c(25, "partition-leader")),
            Some((0, "25".into()))
        );
    }
}

//! What a run leaves behind and prints: `results.json`, the one-screen summary
//! (`summary.txt` too) and `timeline.html`.

pub mod timeline;

use std::fmt::Write as _;
use std::path::Path;

use crate::checker::Results;

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct ReportError {
    path: String,
    #[source]
    source: std::io::Error,
}

fn write(path: &Path, text: &str) -> Result<(), ReportError> {
    std::fs::write(path, text).map_err(|source| ReportError {
        path: path.display().to_string(),
        source,
    })
}

/// What the summary needs besides the results.
pub struct RunInfo<'a> {
    pub name: &'a str,
    pub seed: u64,
    pub dir: &'a Path,
    /// The command that replays the same schedule.
    pub replay: &'a str,
}

/// Writes `results.json`, `summary.txt` and `timeline.html` into the run directory and
/// returns the summary text.
pub fn write_all(
    info: &RunInfo<'_>,
    results: &Results,
    ops: &[crate::history::Op],
) -> Result<String, ReportError> {
    let json =
        serde_json::to_string_pretty(results).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    write(&info.dir.join("results.json"), &json)?;
    let text = summary(info, results);
    write(&info.dir.join("summary.txt"), &text)?;
    write(
        &info.dir.join("timeline.html"),
        &timeline::render(info, results, ops),
    )?;
    Ok(text)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The one-screen summary printed at the end of a run.
pub fn summary(info: &RunInfo<'_>, r: &Results) -> String {
    let s = &r.stats;
    let mut out = String::new();
    let verdict = r.verdict().name();
    let _ = writeln!(
        out,
        "==== LedgerMQ Jepsen: {} (seed {}) — {verdict} ====",
        info.name, info.seed
    );
    let _ = writeln!(out, "run dir   {}", info.dir.display());
    for u in &r.unapplied {
        let _ = writeln!(out, "UNKNOWN   {u}");
    }
    let _ = writeln!(
        out,
        "sends     {} in {:.0} s: ok {} ({}), fail {}, info {}",
        s.sends.total(),
        s.duration_s,
        s.sends.ok,
        pct(s.sends.availability()),
        s.sends.fail,
        s.sends.info
    );
    let _ = writeln!(
        out,
        "reads     polls {} (ok {}, {} messages); final drain {} distinct values",
        s.polls.total(),
        s.polls.ok,
        s.polled_messages,
        s.drained_values
    );
    let l = &s.send_latency;
    let _ = writeln!(
        out,
        "latency   ok sends p50 {:.1} ms, p95 {:.1}, p99 {:.1}, max {:.0}",
        l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
    );
    let _ = writeln!(
        out,
        "available {} without faults, {} during faults; slowest recovery after a heal {}",
        pct(s.availability_healthy),
        pct(s.availability_faulty),
        s.max_recovery_ms
            .map_or("n/a".into(), |ms| format!("{:.2} s", ms / 1000.0))
    );
    if !s.faults.is_empty() {
        let _ = writeln!(
            out,
            "faults    (window, availability, first ok after start / after heal)"
        );
    }
    for w in s.faults.iter().take(12) {
        let end = w.end_s.map_or("…".into(), |e| format!("{e:.1}"));
        let ms = |v: Option<f64>| v.map_or("none".into(), |v| format!("{:.2}s", v / 1000.0));
        let mut desc = w.description.clone();
        if desc.len() > 60 {
            desc.truncate(57);
            desc.push_str("...");
        }
        let _ = writeln!(
            out,
            "  {:>6.1}-{:<6} {:<17} {:>6}  {} / {}  {}",
            w.start_s,
            end,
            w.fault,
            pct(w.availability),
            ms(w.first_ok_after_start_ms),
            ms(w.recovery_ms),
            desc
        );
    }
    if s.faults.len() > 12 {
        let _ = writeln!(out, "  ... {} more in results.json", s.faults.len() - 12);
    }
    let bad = r.anomaly_counts.nonzero();
    if bad.is_empty() {
        let _ = writeln!(out, "anomalies none");
    } else {
        let list: Vec<String> = bad.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(out, "anomalies {}", list.join(", "));
        let a = &r.anomalies;
        let mut ex = |name: &str, v: Option<String>| {
            if let Some(v) = v {
                let _ = writeln!(out, "  e.g. {name}: {v}");
            }
        };
        ex(
            "lost",
            a.lost.first().map(|x| {
                let at = match (x.queue, x.offset) {
                    (Some(q), Some(o)) if o >= 0 => format!("queue {q} offset {o}"),
                    (Some(q), _) => format!("queue {q}, offset unknown"),
                    _ => "position unknown".to_string(),
                };
                format!(
                    "{} acked by {} at {:.1}s ({at})",
                    x.value,
                    x.node.as_deref().unwrap_or("?"),
                    x.acked_at_s,
                )
            }),
        );
        ex(
            "false-fail",
            a.false_fail.first().map(|x| {
                format!(
                    "{} failed ({}) but read at {}",
                    x.value,
                    x.error.as_deref().unwrap_or("?"),
                    x.seen.join(", ")
                )
            }),
        );
        ex(
            "duplicate",
            a.duplicate
                .first()
                .map(|x| format!("{} at {:?}", x.value, x.positions)),
        );
        ex(
            "inconsistent-offsets",
            a.inconsistent_offsets
                .first()
                .map(|x| format!("queue {} offset {}: {:?}", x.queue, x.offset, x.values)),
        );
        ex(
            "poll-skip",
            a.poll_skip.first().map(|x| {
                format!(
                    "{} queue {} {} -> {} skipped {:?}",
                    x.process, x.queue, x.from, x.to, x.skipped
                )
            }),
        );
        ex(
            "nonmonotonic-poll",
            a.nonmonotonic_poll
                .first()
                .map(|x| format!("{} queue {} {} -> {}", x.process, x.queue, x.from, x.to)),
        );
        ex(
            "nonmonotonic-send",
            a.nonmonotonic_send
                .first()
                .map(|x| format!("{} queue {} {:?} -> {:?}", x.process, x.queue, x.from, x.to)),
        );
        ex(
            "unexpected",
            a.unexpected
                .first()
                .map(|x| format!("{} seen {:?}", x.value, x.seen)),
        );
        ex(
            "divergent-drain",
            a.divergent_drain
                .first()
                .map(|x| format!("queue {} offset {}: {:?}", x.queue, x.offset, x.nodes)),
        );
    }
    if !r.anomalies.incomplete_drains.is_empty() {
        let _ = writeln!(
            out,
            "note      incomplete final drain on {}",
            r.anomalies.incomplete_drains.join(" ")
        );
    }
    let _ = writeln!(
        out,
        "files     history.jsonl results.json timeline.html logs/"
    );
    let _ = writeln!(out, "replay    {}", info.replay);
    out
}

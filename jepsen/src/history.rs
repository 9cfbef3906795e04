//! The history: every client operation and every nemesis event, in the order they happened,
//! as Jepsen records it — an `invoke` when a process starts an operation and exactly one
//! completion (`ok`, `fail` or `info`) when it ends. `fail` means the operation certainly did
//! not happen; `info` means nobody knows (a timeout, a lost connection), so a checker must allow
//! both outcomes. Each process runs one operation at a time, so pairing is by process.
//!
//! The recorder appends each op to `history.jsonl` as it happens (a crashed run still leaves
//! its history) and keeps them in memory for the checker.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// invoke / ok / fail / info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Func {
    /// A producer sends one value (synchronously, one attempt).
    Send,
    /// A consumer pulls one queue from an offset.
    Poll,
    /// The final read of a queue from offset 0 on one node, after every fault is healed.
    Drain,
    /// The nemesis starts a fault.
    Fault,
    /// The nemesis heals the fault it started.
    Heal,
    /// The wait for every node to agree again after the final heal.
    Converge,
}

/// One history entry. Optional fields are left out of the JSON when absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history, from 0.
    pub index: u64,
    #[serde(rename = "type")]
    pub kind: OpType,
    pub f: Func,
    /// `p3` (producer), `c1.2` (consumer 1, second incarnation), `drain-n0`, `nemesis`.
    pub process: String,
    /// Microseconds since the test started (monotonic clock).
    pub time_us: u64,
    /// Milliseconds since the Unix epoch.
    pub wall_ms: i64,
    /// The node the operation went to (`n0`..), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Send: the value (`p3-17`). Fault/heal: the fault's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<u32>,
    /// Send ok: the queue offset the broker acknowledged (-1: not given). Poll/drain: the
    /// offset asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// Poll/drain ok: the messages read, as `[queue offset, value]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgs: Option<Vec<(i64, String)>>,
    /// Poll/drain ok: the offset the broker said to read next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<i64>,
    /// Why it failed, or what a fault did (targets, rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Op {
    /// An op with only the required fields; the recorder sets index and times.
    pub fn new(kind: OpType, f: Func, process: impl Into<String>) -> Op {
        Op {
            index: 0,
            kind,
            f,
            process: process.into(),
            time_us: 0,
            wall_ms: 0,
            node: None,
            value: None,
            queue: None,
            offset: None,
            msgs: None,
            next: None,
            error: None,
        }
    }

    pub fn node(mut self, node: impl Into<String>) -> Op {
        self.node = Some(node.into());
        self
    }

    pub fn value(mut self, value: impl Into<String>) -> Op {
        self.value = Some(value.into());
        self
    }

    pub fn queue(mut self, queue: u32) -> Op {
        self.queue = Some(queue);
        self
    }

    pub fn offset(mut self, offset: i64) -> Op {
        self.offset = Some(offset);
        self
    }

    pub fn error(mut self, error: impl Into<String>) -> Op {
        self.error = Some(error.into());
        self
    }

    /// Seconds since the test started.
    pub fn secs(&self) -> f64 {
        self.time_us as f64 / 1e6
    }
}

/// Errors of reading or writing a history file.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a history op: {source}")]
    Parse {
        path: String,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

struct Inner {
    ops: Vec<Op>,
    out: Option<BufWriter<File>>,
    write_error: Option<String>,
}

/// Records ops with their index and time; cheap to clone (shared).
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
    start: Instant,
}

impl Recorder {
    /// A recorder that also appends to `path` (created or truncated).
    pub fn to_file(path: &Path) -> Result<Recorder, HistoryError> {
        let f = File::create(path).map_err(|source| HistoryError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Recorder::with_output(Some(BufWriter::new(f))))
    }

    /// A recorder that keeps ops in memory only (tests).
    pub fn in_memory() -> Recorder {
        Recorder::with_output(None)
    }

    fn with_output(out: Option<BufWriter<File>>) -> Recorder {
        Recorder {
            inner: Arc::new(Mutex::new(Inner {
                ops: Vec::new(),
                out,
                write_error: None,
            })),
            start: Instant::now(),
        }
    }

    /// Time since the test started.
    pub fn elapsed(&self) -> std::time::Duration {
        self.start.elapsed()
    }

    /// Appends `op` (index and times are set here) and returns its index.
    pub fn record(&self, mut op: Op) -> u64 {
        op.time_us = self.start.elapsed().as_micros() as u64;
        op.wall_ms = ledgermq::time::now_ms();
        let mut inner = self.inner.lock();
        op.index = inner.ops.len() as u64;
        let index = op.index;
        if let Some(out) = inner.out.as_mut() {
            let line = serde_json::to_string(&op).unwrap_or_default();
            if let Err(e) = writeln!(out, "{line}") {
                inner.write_error.get_or_insert(e.to_string());
            }
        }
        inner.ops.push(op);
        index
    }

    /// Writes buffered lines to the file; returns the first write error seen, if any.
    pub fn flush(&self) -> Result<(), String> {
        let mut inner = self.inner.lock();
        if let Some(out) = inner.out.as_mut() {
            if let Err(e) = out.flush() {
                inner.write_error.get_or_insert(e.to_string());
            }
        }
        match &inner.write_error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// A copy of every op so far.
    pub fn ops(&self) -> Vec<Op> {
        self.inner.lock().ops.clone()
    }

    /// Runs `f` over the ops recorded so far without copying them (progress lines).
    pub fn with_ops<R>(&self, f: impl FnOnce(&[Op]) -> R) -> R {
        f(&self.inner.lock().ops)
    }
}

/// Reads a `history.jsonl` back (for `jepsen check`).
pub fn read_history(path: &Path) -> Result<Vec<Op>, HistoryError> {
    let text = std::fs::read_to_string(path).map_err(|source| HistoryError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut ops = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let op = serde_json::from_str(line).map_err(|source| HistoryError::Parse {
            path: path.display().to_string(),
            line: i + 1,
            source,
        })?;
        ops.push(op);
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip_as_json_lines_without_empty_fields() {
        let dir = std::env::temp_dir().join(format!("jepsen-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.jsonl");
        let r = Recorder::to_file(&path).unwrap();
        r.record(Op::new(OpType::Invoke, Func::Send, "p0").value("p0-1"));
        let mut ok = Op::new(OpType::Ok, Func::Poll, "c0.1").queue(2).offset(5);
        ok.msgs = Some(vec![(5, "p0-1".into())]);
        ok.next = Some(6);
        r.record(ok);
        r.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap();
        assert!(first.contains(r#""type":"invoke""#), "{first}");
        assert!(!first.contains("msgs"), "{first}");
        let back = read_history(&path).unwrap();
        assert_eq!(back, r.ops());
        assert_eq!(back[1].index, 1);
        assert_eq!(back[1].msgs.as_ref().unwrap()[0].1, "p0-1");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

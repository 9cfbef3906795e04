//! Flushing: `SYNC_FLUSH` group commit and `ASYNC_FLUSH` background flushing.
//!
//! One thread owns every `fdatasync` of the CommitLog. Under `SYNC_FLUSH` an append registers a
//! callback with the sequence number it reached; the thread syncs everything written so far and
//! completes every callback the sync covered — many appends, one fsync. Under `ASYNC_FLUSH` the
//! caller completes its own callback at once (the bytes are in the page cache, which survives a
//! process crash but not a power cut, as in RocketMQ) and the thread syncs every interval.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// How appends become durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// An append counts as persisted only after an fsync that covers it.
    Sync,
    /// Appends count as persisted once in the page cache; fsync runs every `interval`.
    Async { interval: Duration },
}

/// Called once the append it was registered for is durable, or with the error that stopped it.
pub type FlushCallback = Box<dyn FnOnce(std::io::Result<()>) + Send>;

/// What the flusher thread needs from the CommitLog: sync everything written so far and return
/// the append sequence number that is now durable.
pub(crate) trait SyncTarget: Send + Sync + 'static {
    fn sync_all(&self) -> std::io::Result<u64>;
}

struct State {
    waiters: VecDeque<(u64, FlushCallback)>,
    stop: bool,
    kick: bool,
}

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
}

pub(crate) struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    pub fn start<T: SyncTarget>(target: Weak<T>, mode: FlushMode) -> std::io::Result<Flusher> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                waiters: VecDeque::new(),
                stop: false,
                kick: false,
            }),
            cond: Condvar::new(),
        });
        let s = shared.clone();
        let interval = match mode {
            FlushMode::Sync => Duration::from_millis(500),
            FlushMode::Async { interval } => interval,
        };
        let thread = std::thread::Builder::new()
            .name("commitlog-flush".into())
            .spawn(move || run(s, target, interval))?;
        Ok(Flusher {
            shared,
            thread: Some(thread),
        })
    }

    /// Completes `cb` once append sequence `seq` is durable.
    pub fn wait(&self, seq: u64, cb: FlushCallback) {
        let mut st = self.shared.state.lock();
        if st.stop {
            drop(st);
            cb(Err(std::io::Error::other("commit log is closed")));
            return;
        }
        st.waiters.push_back((seq, cb));
        self.shared.cond.notify_one();
    }

    /// Stops the thread after a last flush; pending callbacks are completed.
    pub fn stop(&mut self) {
        {
            let mut st = self.shared.state.lock();
            st.stop = true;
            self.shared.cond.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run<T: SyncTarget>(shared: Arc<Shared>, target: Weak<T>, interval: Duration) {
    loop {
        let stopping = {
            let mut st = shared.state.lock();
            if st.waiters.is_empty() && !st.stop && !st.kick {
                shared.cond.wait_for(&mut st, interval);
            }
            st.kick = false;
            st.stop
        };
        let result = match target.upgrade() {
            Some(t) => {
                let started = std::time::Instant::now();
                let r = t.sync_all();
                metrics::histogram!(crate::metrics::names::FSYNC_DURATION)
                    .record(started.elapsed().as_secs_f64());
                r
            }
            None => Err(std::io::Error::other("commit log is closed")),
        };
        let done: Vec<(FlushCallback, std::io::Result<()>)> = {
            let mut st = shared.state.lock();
            let mut done = Vec::new();
            match &result {
                Ok(durable) => {
                    while st.waiters.front().is_some_and(|(seq, _)| seq <= durable) {
                        if let Some((_, cb)) = st.waiters.pop_front() {
                            done.push((cb, Ok(())));
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "commit log fsync failed; the writes it covered are not acknowledged");
                    for (_, cb) in st.waiters.drain(..) {
                        done.push((cb, Err(std::io::Error::new(e.kind(), e.to_string()))));
                    }
                }
            }
            if stopping {
                for (_, cb) in st.waiters.drain(..) {
                    done.push((cb, Err(std::io::Error::other("commit log is closed"))));
                }
            }
            done
        };
        for (cb, r) in done {
            cb(r);
        }
        if stopping {
            return;
        }
    }
}

//! [`NodeThread`]: a Raft node's own thread, a current-thread tokio runtime that runs every
//! task the node spawns (openraft's core, its replication and state-machine tasks, the peer
//! server and connections, the write batcher, the election driver).
//!
//! Why: almost all of a follower's work, and the Raft half of a leader's, is a chain of small
//! tasks handing each AppendEntries on (peer connection → openraft core → log append → state
//! machine → answer), and on a multi-threaded runtime each hand-off can wake a parked worker
//! on another CPU (a futex wake, a context switch, on a VM an inter-processor interrupt). On
//! this project's two-core machine, a follower on one thread spent about a fifth less CPU per
//! replicated message than on two (BENCHMARKS.md, "One thread per Raft node"). The client
//! side (frames, headers, answers) stays on the process's multi-threaded runtime, so a
//! leader's request path still uses every core; the two meet once per group-commit entry
//! (the batcher's proposal and its answers), not once per hand-off.
//!
//! One thread per node, not per process: the groups of a multi-Raft process keep their
//! isolation (one group's slow disk write or long apply never delays another group's
//! heartbeats), as DLedger gives each group its own threads.

use std::thread::JoinHandle;
use std::time::Duration;

use openraft::AnyError;
use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// Runs `work` on tokio's blocking pool and waits for it. For a node's file-system work that
/// can take milliseconds on a slow disk (fsyncs, unlinking whole segments or queue
/// directories): on the node's thread it would hold every other task of the node meanwhile (a
/// leader's replication streams and heartbeats, a follower's answers). A blocking task that
/// panicked or was cancelled comes back as an error like any other.
pub(crate) async fn off_node_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, AnyError> + Send + 'static,
) -> Result<T, AnyError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done,
        Err(join) => Err(AnyError::new(&join)),
    }
}

/// How long the runtime waits, once the node has stopped, for tasks that did not finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// The running thread; [`NodeThread::stop`] ends it.
pub(crate) struct NodeThread {
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl NodeThread {
    /// Starts the thread (named `name`, truncated by the OS to 15 bytes) and returns a handle
    /// to spawn the node's tasks on.
    pub(crate) fn spawn(name: String) -> std::io::Result<(NodeThread, Handle)> {
        let runtime = Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            // Runs the node's tasks until told to stop (or until the owner is dropped).
            runtime.block_on(async {
                let _ = stopped.await;
            });
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        })?;
        Ok((NodeThread { stop, thread }, handle))
    }

    /// Stops the runtime (dropping tasks still on it) and waits for the thread to end.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let thread = self.thread;
        if tokio::task::spawn_blocking(move || thread.join())
            .await
            .is_err()
        {
            tracing::warn!("the raft node's thread did not stop cleanly");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tasks_spawned_from_the_node_thread_stay_on_it_and_stop_with_it() {
        let (thread, handle) = NodeThread::spawn("raft-test".into()).expect("thread");
        // A task started on the handle, and a task that one spawns, run on the node's thread.
        let names = handle
            .spawn(async {
                let outer = std::thread::current().name().map(str::to_string);
                let inner =
                    tokio::spawn(async { std::thread::current().name().map(str::to_string) })
                        .await
                        .expect("inner task");
                (outer, inner)
            })
            .await
            .expect("outer task");
        assert_eq!(names.0.as_deref(), Some("raft-test"));
        assert_eq!(names.1.as_deref(), Some("raft-test"));

        // A task still pending when the thread stops is dropped, and stop returns.
        let (tx, rx) = oneshot::channel::<()>();
        let pending = handle.spawn(async move {
            let _keep = tx;
            std::future::pending::<()>().await
        });
        tokio::time::timeout(Duration::from_secs(5), thread.stop())
            .await
            .expect("the thread stops");
        assert!(rx.await.is_err(), "the pending task was dropped");
        assert!(pending.await.is_err());
    }
}

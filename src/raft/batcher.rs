//! Group commit above openraft.
//!
//! openraft 0.9's core waits for each append's flush before it runs the next command, so 64
//! writes proposed one by one cost 64 sequential fsyncs on the leader (and on each follower).
//! The batcher turns concurrent writes into few entries instead: it keeps at most
//! `max_outstanding` proposals in flight, and while they are being committed it gathers the
//! writes that arrive into the next proposal — one `Group` entry, one append, one fsync per node.
//! A write that arrives to an idle batcher is proposed at once, alone, so batching never adds
//! latency at low load. Writes keep their arrival order, and each caller gets its own result.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::ClientWriteError;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::codec;
use super::group_entry;
use super::rpc::{FatalError, WriteError};
use super::types::{ApplyResult, LogCommand, LogId, Raft, RejectReason};

type Reply = oneshot::Sender<Result<(LogId, ApplyResult), WriteError>>;

struct Pending {
    cmd: LogCommand,
    reply: Reply,
}

/// Limits of one proposal.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Proposals in flight at once (appended or being committed).
    pub max_outstanding: usize,
    pub max_commands: usize,
    pub max_bytes: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_outstanding: 2,
            max_commands: 1024,
            max_bytes: 4 << 20,
        }
    }
}

/// How many times a proposal yields to let more writes in while another is in flight.
const MAX_FILL_YIELDS: u32 = 4;

#[derive(Clone)]
pub struct WriteBatcher {
    tx: mpsc::Sender<Pending>,
    /// Writes submitted and not yet answered (queued, or in a proposal being filled,
    /// proposed or committed).
    taken: Arc<AtomicUsize>,
}

/// Bytes `cmd` adds to a proposal's record.
fn command_size(cmd: &LogCommand) -> usize {
    group_entry::ITEM_HEADER + codec::payload_len(cmd) as usize
}

impl WriteBatcher {
    pub fn start(raft: Raft, limits: BatchLimits) -> WriteBatcher {
        WriteBatcher::start_on(&tokio::runtime::Handle::current(), raft, limits)
    }

    /// Runs the batcher on `runtime`: the one its writers run on, so that submitting and
    /// answering them are wakes within that runtime, and only each proposal and its outcome
    /// cross to openraft (which may run on the node's own thread).
    pub fn start_on(
        runtime: &tokio::runtime::Handle,
        raft: Raft,
        limits: BatchLimits,
    ) -> WriteBatcher {
        let (tx, rx) = mpsc::channel(64 * 1024);
        let taken = Arc::new(AtomicUsize::new(0));
        runtime.spawn(propose_loop(raft, rx, limits, taken.clone()));
        WriteBatcher { tx, taken }
    }

    /// No write is queued and no proposal is in flight (every one proposed so far has been
    /// answered). A leadership transfer waits for this, so that no write proposed before it
    /// began lands in the leader's log after the target caught up.
    pub fn is_idle(&self) -> bool {
        self.taken.load(Ordering::SeqCst) == 0
    }

    /// Counts a write that is about to be checked and submitted, before its caller looks at
    /// the write gate: with both sides sequentially consistent, a leadership transfer that
    /// closes the gate and then finds the batcher idle knows that every write which passed
    /// the gate is already counted (see `election::transfer_leadership`). Dropping the
    /// admission uncounts it, e.g. when the gate refuses the write.
    pub fn admit(&self) -> Admission<'_> {
        self.taken.fetch_add(1, Ordering::SeqCst);
        Admission {
            taken: &self.taken,
            counted: true,
        }
    }

    /// Queues `cmd` and waits at most `timeout` for its commit.
    pub async fn submit(
        &self,
        cmd: LogCommand,
        timeout: Duration,
    ) -> Result<(LogId, ApplyResult), WriteError> {
        self.submit_admitted(self.admit(), cmd, timeout).await
    }

    /// [`WriteBatcher::submit`] of a write counted by [`WriteBatcher::admit`].
    pub async fn submit_admitted(
        &self,
        mut admission: Admission<'_>,
        cmd: LogCommand,
        timeout: Duration,
    ) -> Result<(LogId, ApplyResult), WriteError> {
        let (reply, rx) = oneshot::channel();
        // A caller dropped while waiting for room in the queue drops its admission, which
        // uncounts it; once queued, the count is the propose loop's to take back.
        let Ok(slot) = self.tx.reserve().await else {
            return Err(WriteError::Fatal(FatalError::BatcherStopped));
        };
        slot.send(Pending { cmd, reply });
        admission.counted = false;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(WriteError::Fatal(FatalError::NoAnswer)),
            Err(_) => Err(WriteError::Timeout {
                millis: timeout.as_millis() as u64,
            }),
        }
    }
}

/// A write counted by [`WriteBatcher::is_idle`] and not yet queued; see
/// [`WriteBatcher::admit`].
pub struct Admission<'a> {
    taken: &'a AtomicUsize,
    counted: bool,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.taken.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

async fn propose_loop(
    raft: Raft,
    mut rx: mpsc::Receiver<Pending>,
    limits: BatchLimits,
    taken: Arc<AtomicUsize>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_outstanding.max(1)));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut bytes = command_size(&first.cmd);
        let mut batch = vec![first];
        let full = |batch: &Vec<Pending>, bytes: usize| {
            batch.len() >= limits.max_commands || bytes >= limits.max_bytes
        };
        let mut yields = 0;
        loop {
            while !full(&batch, bytes) {
                match rx.try_recv() {
                    Ok(p) => {
                        bytes += command_size(&p.cmd);
                        batch.push(p);
                    }
                    Err(_) => break,
                }
            }
            // While another proposal is in flight this one has time to fill up. The writers
            // answered by the last commit were all woken together, but the first of them to
            // submit wakes this loop, which the runtime runs next; proposing then would take
            // one write and leave the rest for another entry (each entry costs a replication
            // round to every follower). Yielding lets the others submit first.
            let others_in_flight = permits.available_permits() + 1 < limits.max_outstanding.max(1);
            if !others_in_flight || full(&batch, bytes) || yields >= MAX_FILL_YIELDS {
                break;
            }
            tokio::task::yield_now().await;
            yields += 1;
            if rx.is_empty() {
                break;
            }
        }
        let (mut cmds, replies): (Vec<LogCommand>, Vec<Reply>) =
            batch.into_iter().map(|p| (p.cmd, p.reply)).unzip();
        let grouped = cmds.len() > 1;
        let writes = replies.len();
        let proposal = if grouped {
            LogCommand::Group(cmds)
        } else {
            match cmds.pop() {
                Some(c) => c,
                None => continue,
            }
        };
        let response = match raft.client_write_ff(proposal).await {
            Ok(rx) => rx,
            Err(fatal) => {
                taken.fetch_sub(writes, Ordering::SeqCst);
                for r in replies {
                    let _ = r.send(Err(WriteError::Fatal(fatal.clone().into())));
                }
                continue;
            }
        };
        let taken = taken.clone();
        tokio::spawn(async move {
            let outcome = response.await;
            drop(permit);
            // Before the answers, so a writer that has its answer sees the batcher idle.
            taken.fetch_sub(writes, Ordering::SeqCst);
            deliver(outcome, replies, grouped);
        });
    }
}

type Outcome = Result<
    openraft::raft::ClientWriteResult<super::types::TypeConfig>,
    tokio::sync::oneshot::error::RecvError,
>;

fn deliver(outcome: Outcome, replies: Vec<Reply>, grouped: bool) {
    let fail = |replies: Vec<Reply>, e: WriteError| {
        for r in replies {
            let _ = r.send(Err(e.clone()));
        }
    };
    match outcome {
        Ok(Ok(resp)) => {
            let log_id = resp.log_id;
            match (grouped, resp.data) {
                (true, ApplyResult::Group(results)) if results.len() == replies.len() => {
                    for (r, res) in replies.into_iter().zip(results) {
                        let _ = r.send(Ok((log_id, res)));
                    }
                }
                (true, other) => fail(
                    replies,
                    WriteError::Fatal(FatalError::GroupMismatch {
                        log_id,
                        applied: format!("{other:?}"),
                    }),
                ),
                (false, data) => {
                    for r in replies {
                        let _ = r.send(Ok((log_id, data.clone())));
                    }
                }
            }
        }
        Ok(Err(ClientWriteError::ForwardToLeader(f))) => fail(
            replies,
            WriteError::NotLeader {
                leader: f.leader_id.zip(f.leader_node.map(|n| n.addr)),
            },
        ),
        Ok(Err(e)) => fail(
            replies,
            WriteError::Rejected(RejectReason::Raft(e.to_string())),
        ),
        Err(_) => fail(replies, WriteError::Fatal(FatalError::NoAnswer)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use bytes::Bytes;

    use super::*;
    use crate::raft::codec::{KIND_GROUP, KIND_RAW};
    use crate::raft::node::{GroupRole, RaftNode};
    use crate::raft::test_support::{free_addr, node_config, single_leader, voters};

    const WAIT: Duration = Duration::from_secs(10);

    fn raw(i: usize) -> LogCommand {
        LogCommand::Raw(Bytes::from(format!("write-{i}")))
    }

    /// Submits writes `0..n` together. Outside tokio's cooperative budget and on one thread,
    /// every submit has queued its write before the batcher's task next runs.
    async fn submit_together(
        batcher: &WriteBatcher,
        n: usize,
    ) -> Vec<Result<(LogId, ApplyResult), WriteError>> {
        tokio::task::unconstrained(futures::future::join_all(
            (0..n).map(|i| batcher.submit(raw(i), WAIT)),
        ))
        .await
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_lone_write_is_proposed_at_once_as_its_own_entry() {
        let dir = tempfile::tempdir().unwrap();
        let node = single_leader(dir.path()).await;
        let core = node.core();
        let batcher = WriteBatcher::start(core.raft().clone(), BatchLimits::default());
        for i in 0..3 {
            let (log_id, result) = batcher.submit(raw(i), WAIT).await.expect("committed");
            let ApplyResult::Raw { commit_log_offset } = result else {
                panic!("{result:?}");
            };
            let entry = core.read_committed(log_id.index, 1).unwrap();
            assert_eq!(
                entry[0].kind, KIND_RAW,
                "a lone write is not wrapped in a group"
            );
            let want = format!("write-{i}");
            let stored = core
                .commit_log()
                .read_at(commit_log_offset, want.len())
                .unwrap();
            assert_eq!(&stored[..], want.as_bytes());
        }
        node.shutdown().await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_writes_share_one_entry_and_each_caller_gets_its_own_result() {
        let dir = tempfile::tempdir().unwrap();
        let node = single_leader(dir.path()).await;
        let core = node.core();
        let batcher = WriteBatcher::start(core.raft().clone(), BatchLimits::default());
        let n = 40;
        let results = submit_together(&batcher, n).await;
        let mut entries = HashSet::new();
        let mut offsets = HashSet::new();
        for (i, r) in results.into_iter().enumerate() {
            let (log_id, result) = r.expect("committed");
            let ApplyResult::Raw { commit_log_offset } = result else {
                panic!("write {i}: {result:?}");
            };
            let want = format!("write-{i}");
            let stored = core
                .commit_log()
                .read_at(commit_log_offset, want.len())
                .unwrap();
            assert_eq!(&stored[..], want.as_bytes(), "write {i} got its own offset");
            entries.insert(log_id.index);
            offsets.insert(commit_log_offset);
        }
        assert_eq!(entries.len(), 1, "one entry for all: {entries:?}");
        assert!(
            batcher.is_idle(),
            "every write answered: nothing queued or in flight"
        );
        assert_eq!(offsets.len(), n);
        let index = entries.into_iter().next().unwrap();
        let entry = core.read_committed(index, 1).unwrap();
        assert_eq!(entry[0].kind, KIND_GROUP);
        assert_eq!(entry[0].items.len(), n);

        // Limits split a burst: at most `max_commands` per entry, in arrival order.
        let batcher = WriteBatcher::start(
            core.raft().clone(),
            BatchLimits {
                max_commands: 8,
                ..BatchLimits::default()
            },
        );
        let results = submit_together(&batcher, 20).await;
        let indexes: Vec<u64> = results
            .into_iter()
            .map(|r| r.expect("committed").0.index)
            .collect();
        assert!(indexes.windows(2).all(|w| w[0] <= w[1]), "{indexes:?}");
        let per_entry = indexes.iter().fold(BTreeMap::new(), |mut m, i| {
            *m.entry(*i).or_insert(0) += 1;
            m
        });
        assert!(per_entry.len() >= 3, "{per_entry:?}");
        assert!(per_entry.values().all(|n| *n <= 8), "{per_entry:?}");
        node.shutdown().await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_admitted_write_counts_until_answered_or_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let node = single_leader(dir.path()).await;
        let batcher = WriteBatcher::start(node.core().raft().clone(), BatchLimits::default());
        assert!(batcher.is_idle());
        let refused = batcher.admit();
        assert!(!batcher.is_idle(), "counted from before the gate is read");
        drop(refused);
        assert!(
            batcher.is_idle(),
            "a write the gate refused leaves no count"
        );
        let r = batcher.submit_admitted(batcher.admit(), raw(0), WAIT).await;
        assert!(r.is_ok(), "{r:?}");
        assert!(batcher.is_idle(), "answered");
        node.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_does_not_commit_in_time_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let (mut nodes, leader) = voters(dir.path(), 2).await;
        let follower = nodes.remove(1 - leader);
        // Without its only peer the leader appends but cannot commit.
        follower.shutdown().await;
        let leader = nodes.remove(0);
        let batcher = WriteBatcher::start(leader.core().raft().clone(), BatchLimits::default());
        let r = batcher.submit(raw(0), Duration::from_millis(300)).await;
        assert_eq!(r, Err(WriteError::Timeout { millis: 300 }));
        assert!(
            !batcher.is_idle(),
            "the proposal is still in flight after its caller gave up"
        );
        leader.shutdown().await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_error_from_openraft_reaches_every_caller() {
        let dir = tempfile::tempdir().unwrap();
        // A slave that no master has added: openraft has no group and answers "forward to
        // the leader", without knowing one.
        let peers = BTreeMap::from([(1, free_addr())]);
        let slave = RaftNode::start(node_config(dir.path(), 1, &peers, GroupRole::Slave))
            .await
            .expect("start");
        let batcher = WriteBatcher::start(slave.core().raft().clone(), BatchLimits::default());
        for r in submit_together(&batcher, 5).await {
            assert_eq!(r, Err(WriteError::NotLeader { leader: None }));
        }
        assert!(batcher.is_idle(), "refused writes leave no count behind");
        slave.shutdown().await;

        // A stopped openraft refuses the proposal itself.
        let node = single_leader(&dir.path().join("stopped")).await;
        let batcher = WriteBatcher::start(node.core().raft().clone(), BatchLimits::default());
        node.core().raft().shutdown().await.expect("raft stops");
        for r in submit_together(&batcher, 5).await {
            match r {
                Err(e @ WriteError::Fatal(_)) => assert!(!e.is_retryable()),
                other => panic!("{other:?}"),
            }
        }
        assert!(batcher.is_idle(), "refused proposals leave no count behind");
        node.shutdown().await;
    }
}

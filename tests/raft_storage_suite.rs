//! openraft's own storage conformance suite, run against the CommitLog-backed log store and the
//! broker state machine.

// openraft's suite returns its own `StorageError`.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use ledgermq::raft::log_store::LogStore;
use ledgermq::raft::meta::RaftMeta;
use ledgermq::raft::state_machine::StateMachine;
use ledgermq::raft::TypeConfig;
use ledgermq::store::{CommitLog, CommitLogConfig, FlushMode};
use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;

struct Builder {
    flush: FlushMode,
}

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = CommitLog::open(CommitLogConfig {
            dir: dir.path().join("commitlog"),
            checkpoint_path: dir.path().join("checkpoint"),
            segment_size: 64 * 1024,
            flush: self.flush,
        })
        .expect("open commit log");
        let meta = Arc::new(RaftMeta::open(&dir.path().join("raft")).expect("open raft meta"));
        let sm = StateMachine::open(
            &dir.path().join("raft"),
            &dir.path().join("consumequeue"),
            20 * 1024,
            log.clone(),
        )
        .expect("open state machine");
        Ok((dir, LogStore::new(log, meta), sm))
    }
}

#[test]
fn openraft_suite_async_flush() -> Result<(), StorageError<u64>> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    Suite::test_all(Builder {
        flush: FlushMode::Async {
            interval: Duration::from_millis(200),
        },
    })
}

#[test]
fn openraft_suite_sync_flush() -> Result<(), StorageError<u64>> {
    Suite::test_all(Builder {
        flush: FlushMode::Sync,
    })
}

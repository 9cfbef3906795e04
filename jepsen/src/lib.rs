//! LedgerMQ's Jepsen-style suite: real `ledgermq` processes in network namespaces, a nemesis
//! that partitions, kills, pauses and degrades them, a workload that records every operation,
//! and a checker that says whether any acknowledged message was lost, duplicated or reordered.
//!
//! ```text
//! topology/   network namespaces, the bridge, veth links, the start-up sweep, teardown
//! cluster.rs  the ledgermq processes inside them: configs, start, kill -9, pause, restart
//! nemesis/    faults and their heals, and the schedules that order them
//! workload/   producers, consumers and the final drain, through the ledgermq client
//! history.rs  the JSON-lines history every operation is recorded in
//! checker/    anomalies and statistics over a finished history
//! report/     results.json, the one-screen summary, timeline.html
//! scenario.rs named schedules
//! runner.rs   one test run, from sweep to report
//! ```

pub mod checker;
pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod topology;
pub mod workload;

#!/usr/bin/env python3
"""Split a folded perf profile of a LedgerMQ broker into request-path stages (BENCHMARKS.md).

Usage: perf-stages.py FOLDED [CPU_US_PER_MSG]
FOLDED is `perf script | inferno-collapse-perf` output; with the process's CPU µs per message
the table also gives each stage's µs per message (its share of the samples times that).
Each stack goes to the first stage (in table order) with a pattern matching any of its frames;
kernel frames match nothing, so a syscall counts for the user function that made it."""
import sys, collections
STAGES = [  # (stage, substrings): the first stage with a pattern in any frame of a stack wins
 ("metrics/stats", ["ledgermq::metrics::", "BrokerStats::", "metrics_util::", "metrics_exporter"]),
 ("tracing span", ["tracing_subscriber::", "tracing_core::", "sharded_slab::", "tracing::span::", "drop_in_place<tracing::"]),
 ("answer encode", ["SendMessageResponseHeader", "protocol::reply::", "create_offset_msg_id", "codec::encode_head", "codec::json::write", "remoting::codec::encode"]),
 ("header decode", ["remoting::codec::json::read", "SendMessageRequestHeader::decode", "SendMessageRequestHeaderRef", "protocol::header::"]),
 ("property parse", ["message::properties::", "MessageProperties"]),
 ("stored-message encode", ["encode_stored_into", "encode_stored_parts", "properties::canonical", "store_format::body_crc", "drop_in_place<ledgermq::message::store_format::MessageExt>"]),
 ("read/parse frame", ["remoting::connection::FrameReader", "remoting::codec::decode", "remoting::codec::parse", "remoting::codec::check"]),
 ("write syscall (answers)", ["remoting::connection::write_loop", "remoting::connection::write_one", "Channel::send"]),
 ("apply (state machine)", ["raft::state_machine::", "raft::broker_state::", "consume_queue::", "KeyIndex"]),
 ("raft: log append", ["store::commit_log::", "store::segment::", "store::record::", "raft::log_store::", "store::flush::"]),
 ("raft: replication send/recv", ["raft::network::", "raft::rpc::", "raft::frame_bytes", "raft::server::"]),
 ("raft: batcher", ["raft::batcher::", "NodeCore::write"]),
 ("raft: openraft core", ["openraft::"]),
 ("send processor (rest)", ["processor::send::", "BrokerHandler", "broker::topics", "broker::context"]),
 ("request task (rest)", ["remoting::server::spawn_request", "drop_in_place<ledgermq::remoting::command::RemotingCommand>"]),
 ("remoting server (rest)", ["remoting::server::run_connection"]),
 ("broker background", ["broker::register::", "raft::election::", "raft::node::"]),
]
def classify(frames):
    for stage, pats in STAGES:
        if any(p in f for f in frames for p in pats):
            return stage
    # no project frame: runtime / idle / kernel
    j = ";".join(frames)
    if "tokio::" in j: return "tokio runtime (scheduling, wake-ups)"
    return "other (kernel, libc)"
def main():
    path = sys.argv[1]; us_per_msg = float(sys.argv[2]) if len(sys.argv) > 2 else None
    tot = 0; by = collections.Counter()
    for line in open(path):
        stack, n = line.rsplit(" ", 1); n = float(n); tot += n
        by[classify(stack.split(";"))] += n
    order = [s for s, _ in STAGES] + ["tokio runtime (scheduling, wake-ups)", "other (kernel, libc)"]
    print("| stage | share | CPU µs/msg |\n|---|---|---|")
    for s in order:
        if by[s] == 0: continue
        sh = by[s] / tot
        print(f"| {s} | {100*sh:.1f} % | " + (f"{sh*us_per_msg:.2f}" if us_per_msg else "") + " |")
    print(f"| total | 100 % | {us_per_msg or ''} |")
main()

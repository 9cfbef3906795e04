//! Three real `ledgermq broker` processes on loopback: election, quorum commit, kill -9 of the
//! leader, minority writes, an isolated follower rejoining, an isolated leader, and the
//! preferred leader. Needs root and iptables for the partition cases.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::Cluster;
use ledgermq::client::RaftAdminClient;
use ledgermq::raft::rpc::{PeerRequest, PeerResponse};
use ledgermq::raft::LogCommand;
use parking_lot::Mutex;

fn raw(v: &str) -> LogCommand {
    LogCommand::Raw(Bytes::from(v.to_string()))
}

/// Every raw value the node at `addr` has committed.
async fn committed_values(client: &RaftAdminClient, addr: &str) -> HashSet<String> {
    client
        .read_all(addr, 0)
        .await
        .unwrap_or_else(|e| panic!("read from {addr}: {e}"))
        .into_iter()
        .flat_map(|e| e.items)
        .filter(|(kind, _)| *kind == ledgermq::raft::codec::KIND_RAW)
        .map(|(_, payload)| String::from_utf8_lossy(&payload).to_string())
        .collect()
}

fn assert_contains_all(have: &HashSet<String>, acked: &[String], who: &str) {
    let missing: Vec<&String> = acked.iter().filter(|v| !have.contains(*v)).collect();
    assert!(
        missing.is_empty(),
        "{who} lost {} acknowledged writes, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_leader_during_10000_appends_loses_nothing() {
    let mut c = Cluster::start(11, 3, "");
    let leader = c.wait_leader(Duration::from_secs(15)).await;
    let client = Arc::new(RaftAdminClient::new(
        c.nodes.iter().map(|n| n.addr.clone()).collect(),
    ));
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let failed = Arc::new(Mutex::new(Vec::<String>::new()));
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    const TOTAL: u64 = 10_000;
    let mut writers = Vec::new();
    for _ in 0..16 {
        let (client, acked, failed, next) =
            (client.clone(), acked.clone(), failed.clone(), next.clone());
        writers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= TOTAL {
                    return;
                }
                let v = format!("w-{n}");
                match client.write(raw(&v), Duration::from_secs(20)).await {
                    Ok(_) => acked.lock().push(v),
                    Err(_) => failed.lock().push(v),
                }
            }
        }));
    }
    // Kill the leader once a third of the appends are in.
    while acked.lock().len() < 3_000 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed_at = Instant::now();
    c.kill(leader.id);
    for w in writers {
        w.await.expect("writer task");
    }
    let acked = acked.lock().clone();
    eprintln!(
        "acked {} of {TOTAL}, {} not acked; the kill was {:?} ago",
        acked.len(),
        failed.lock().len(),
        killed_at.elapsed()
    );
    assert!(
        acked.len() as u64 >= TOTAL - 20,
        "the group kept accepting writes after the kill"
    );

    let new_leader = c.wait_leader(Duration::from_secs(10)).await;
    assert_ne!(new_leader.id, leader.id, "a new leader took over");
    let survivors: Vec<u64> = (0..3).filter(|i| *i != leader.id).collect();
    let last = new_leader.applied.expect("leader applied index");
    for &s in &survivors {
        c.wait_applied(s, last, Duration::from_secs(10)).await;
        let have = committed_values(&client, c.addr(s)).await;
        assert_contains_all(&have, &acked, &format!("survivor n{s}"));
    }

    c.start_node(leader.id);
    c.wait_applied(leader.id, last, Duration::from_secs(30))
        .await;
    let have = committed_values(&client, c.addr(leader.id)).await;
    assert_contains_all(&have, &acked, &format!("restarted n{}", leader.id));

    // Byte-identical CommitLogs up to the common applied index.
    let mut common = u64::MAX;
    for i in 0..3 {
        let s = c.status(i).await.expect("status");
        common = common.min(s.applied.expect("applied"));
    }
    let mut digests = Vec::new();
    for i in 0..3 {
        digests.push(client.digest(c.addr(i), 0, common).await.expect("digest"));
    }
    assert!(
        digests.windows(2).all(|w| w[0] == w[1]),
        "CommitLogs differ up to index {common}: {digests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn minority_never_commits_and_recovers() {
    let mut c = Cluster::start(12, 3, "");
    let leader = c.wait_leader(Duration::from_secs(15)).await;
    for i in 0..10 {
        c.client
            .write(raw(&format!("before-{i}")), Duration::from_secs(10))
            .await
            .expect("write before");
    }
    let before = c.status(leader.id).await.expect("status");
    for f in (0..3).filter(|i| *i != leader.id) {
        c.kill(f);
    }
    // The old leader is alone: nothing it is asked to write may be acknowledged.
    let alone = RaftAdminClient::new(vec![c.addr(leader.id).to_string()]);
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut attempts = 0;
    while Instant::now() < deadline {
        attempts += 1;
        let r = alone
            .write(
                raw(&format!("minority-{attempts}")),
                Duration::from_millis(500),
            )
            .await;
        assert!(r.is_err(), "a minority acknowledged a write: {r:?}");
    }
    let after = c.status(leader.id).await.expect("status");
    assert!(
        after.applied <= before.applied.map(|a| a + 1),
        "the minority applied new entries: {before:?} -> {after:?}"
    );
    for f in (0..3).filter(|i| *i != leader.id) {
        c.start_node(f);
    }
    c.wait_leader(Duration::from_secs(15)).await;
    c.client
        .write(raw("after"), Duration::from_secs(10))
        .await
        .expect("write after the majority returns");
    let have = committed_values(&c.client, c.addr(leader.id)).await;
    for i in 0..10 {
        assert!(have.contains(&format!("before-{i}")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn isolated_follower_rejoins_without_deposing_the_leader() {
    let mut c = Cluster::start(13, 3, "");
    let leader = c.wait_leader(Duration::from_secs(15)).await;
    let follower = (0..3).find(|i| *i != leader.id).expect("a follower");
    c.isolate(follower);
    // Several election timeouts pass while the leader keeps committing with the other node.
    let until = Instant::now() + Duration::from_secs(4);
    let mut n = 0;
    while Instant::now() < until {
        c.client
            .write(raw(&format!("during-{n}")), Duration::from_secs(5))
            .await
            .expect("majority writes");
        n += 1;
    }
    let cut_off = c
        .status(follower)
        .await
        .expect("status of the isolated node");
    assert_eq!(
        cut_off.term, leader.term,
        "pre-vote kept the isolated node's term: {cut_off:?}"
    );
    c.heal();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let now = c.wait_leader(Duration::from_secs(5)).await;
    assert_eq!(now.id, leader.id, "the rejoining node deposed the leader");
    assert_eq!(
        now.term, leader.term,
        "the term changed when the node rejoined"
    );
    c.wait_applied(follower, now.applied.unwrap_or(0), Duration::from_secs(10))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_cut_off_at_its_first_start_joins_the_group_instead_of_forming_its_own() {
    // n1 never hears from anyone before the others elect a leader. It used to form a group of
    // its own after two election timeouts, and on rejoining could make the leader step down.
    let mut c = Cluster::configure(19, 3, "");
    c.isolate(1);
    for i in 0..3 {
        c.start_node(i);
    }
    let leader = c.wait_leader(Duration::from_secs(15)).await;
    assert_ne!(leader.id, 1, "the cut-off node cannot lead");
    // Past n1's formation delay (two election timeouts) and a retry.
    let until = Instant::now() + Duration::from_secs(4);
    let mut n = 0;
    while Instant::now() < until {
        c.client
            .write(raw(&format!("during-{n}")), Duration::from_secs(5))
            .await
            .expect("majority writes");
        n += 1;
    }
    let cut_off = c.status(1).await.expect("status of the cut-off node");
    assert_eq!(
        cut_off.last_index, None,
        "the cut-off node formed a group of its own: {cut_off:?}"
    );
    c.heal();
    let applied = c
        .status(leader.id)
        .await
        .expect("leader status")
        .applied
        .unwrap_or(0);
    c.wait_applied(1, applied, Duration::from_secs(10)).await;
    let now = c.wait_leader(Duration::from_secs(5)).await;
    assert_eq!(
        (now.id, now.term),
        (leader.id, leader.term),
        "the leader changed when the node joined"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_group_forms_while_its_first_node_is_down() {
    // n0 forms the group at once; when it is down the next node does, once a quorum of voters
    // (itself and n2) answers that it is new.
    let mut c = Cluster::configure(20, 3, "");
    c.start_node(1);
    c.start_node(2);
    let leader = c.wait_leader(Duration::from_secs(20)).await;
    assert_ne!(leader.id, 0);
    c.client
        .write(raw("without n0"), Duration::from_secs(10))
        .await
        .expect("two of three commit");
    c.start_node(0);
    let applied = c
        .status(leader.id)
        .await
        .expect("leader status")
        .applied
        .unwrap_or(0);
    c.wait_applied(0, applied, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn isolated_leader_never_acknowledges_and_loses_nothing() {
    let mut c = Cluster::start(14, 3, "");
    let old = c.wait_leader(Duration::from_secs(15)).await;
    let mut acked = Vec::new();
    for i in 0..20 {
        let v = format!("pre-{i}");
        c.client
            .write(raw(&v), Duration::from_secs(10))
            .await
            .expect("write");
        acked.push(v);
    }
    c.isolate(old.id);
    // Writes sent to the isolated leader (clients still reach it) must never be acknowledged.
    let old_addr = c.addr(old.id).to_string();
    let isolated_writes = tokio::spawn(async move {
        let alone = RaftAdminClient::new(vec![old_addr]);
        let mut results = Vec::new();
        for i in 0..5 {
            results.push(
                alone
                    .write(raw(&format!("isolated-{i}")), Duration::from_millis(1500))
                    .await,
            );
        }
        results
    });
    // Meanwhile the majority elects a new leader and keeps going.
    let others: Vec<String> = (0..3)
        .filter(|i| *i != old.id)
        .map(|i| c.addr(i).to_string())
        .collect();
    let majority = RaftAdminClient::new(others);
    for i in 0..20 {
        let v = format!("post-{i}");
        majority
            .write(raw(&v), Duration::from_secs(15))
            .await
            .expect("majority write");
        acked.push(v);
    }
    for r in isolated_writes.await.expect("isolated writer") {
        assert!(
            r.is_err(),
            "the isolated leader acknowledged a write: {r:?}"
        );
    }
    c.heal();
    let leader = c.wait_leader(Duration::from_secs(10)).await;
    assert_ne!(leader.id, old.id, "leadership moved to the majority side");
    c.wait_applied(old.id, leader.applied.unwrap_or(0), Duration::from_secs(10))
        .await;
    for i in 0..3 {
        let have = committed_values(&c.client, c.addr(i)).await;
        assert_contains_all(&have, &acked, &format!("n{i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn preferred_leader_takes_over_when_healthy() {
    let mut c = Cluster::start(15, 3, "preferredLeaderId=n1");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let l = c.wait_leader(Duration::from_secs(15)).await;
        if l.id == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "leadership never moved to preferred n1 (leader n{})",
            l.id
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.kill(1);
    let interim = c.wait_leader(Duration::from_secs(10)).await;
    assert_ne!(interim.id, 1);
    c.client
        .write(raw("while-n1-down"), Duration::from_secs(10))
        .await
        .expect("write");
    c.start_node(1);
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let l = c.wait_leader(Duration::from_secs(15)).await;
        if l.id == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "leadership did not return to n1 after it recovered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.client
        .write(raw("after-return"), Duration::from_secs(10))
        .await
        .expect("write after transfer");
    let have = committed_values(&c.client, c.addr(1)).await;
    assert!(have.contains("while-n1-down") && have.contains("after-return"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_peer_frames_close_only_that_connection() {
    use tokio::io::AsyncWriteExt;
    let c = Cluster::start(16, 1, "");
    c.wait_leader(Duration::from_secs(15)).await;
    for garbage in [
        &b"\xff\xff\xff\xff"[..],
        &b"\x00\x00\x00\x03abc"[..],
        &b"\x00\x00"[..],
    ] {
        let mut s = tokio::net::TcpStream::connect(c.addr(0))
            .await
            .expect("connect");
        s.write_all(garbage).await.expect("send garbage");
        drop(s);
    }
    // An unknown request variant index decodes as an error, too.
    let client = ledgermq::raft::network::PeerClient::spawn(0, c.addr(0).to_string(), None);
    let r = client
        .call(PeerRequest::Status, Duration::from_secs(5))
        .await;
    assert!(
        matches!(r, Ok(PeerResponse::Status(_))),
        "the node still serves: {r:?}"
    );
    c.client
        .write(raw("still-ok"), Duration::from_secs(5))
        .await
        .expect("write after garbage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follower_behind_retention_installs_snapshot_and_keeps_offsets() {
    let hours = (0..24)
        .map(|h| format!("{h:02}"))
        .collect::<Vec<_>>()
        .join(";");
    let extra = format!(
        "mappedFileSizeCommitLog=65536\nmaxMessageSize=16384\nfileReservedTime=0\ndeleteWhen={hours}\n\
         cleanResourceInterval=300\nraftSnapshotLogsSinceLast=500"
    );
    let mut c = Cluster::start(17, 3, &extra);
    let leader = c.wait_leader(Duration::from_secs(15)).await;
    let lagging = (0..3).find(|i| *i != leader.id).expect("a follower");
    c.kill(lagging);
    let payload = "x".repeat(300);
    for i in 0..2_000 {
        c.client
            .write(raw(&format!("{i}-{payload}")), Duration::from_secs(10))
            .await
            .expect("write while a follower is down");
    }
    // Retention purges the leader's old segments.
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        let s = c.wait_leader(Duration::from_secs(5)).await;
        if let Some(f) = s.first_index.filter(|f| *f > 100) {
            break f;
        }
        assert!(
            Instant::now() < deadline,
            "retention never purged the leader's log: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    c.start_node(lagging);
    let l = c.wait_leader(Duration::from_secs(10)).await;
    c.wait_applied(lagging, l.applied.unwrap_or(0), Duration::from_secs(30))
        .await;
    let caught_up = c.status(lagging).await.expect("status");
    assert!(
        caught_up.first_index.is_none_or(|f| f > 1) && caught_up.commit_log_min_offset > 0,
        "the lagging node continued from a snapshot, not from entry 0: {caught_up:?}"
    );
    eprintln!("leader first index {first}; lagging node after catch-up: {caught_up:?}");
    // Entries after the snapshot sit at the same CommitLog offsets as on the leader.
    c.client
        .write(raw("after-install"), Duration::from_secs(10))
        .await
        .expect("write");
    let l = c.wait_leader(Duration::from_secs(5)).await;
    let upto = l.applied.expect("applied");
    c.wait_applied(lagging, upto, Duration::from_secs(10)).await;
    let from = c
        .status(lagging)
        .await
        .and_then(|s| s.first_index)
        .expect("the lagging node holds the new entry")
        .max(first);
    let a = c
        .client
        .digest(c.addr(l.id), from, upto)
        .await
        .expect("leader digest");
    let b = c
        .client
        .digest(c.addr(lagging), from, upto)
        .await
        .expect("follower digest");
    assert_eq!(
        a, b,
        "CommitLog bytes and offsets agree after the snapshot install"
    );
}

/// A paused (SIGSTOPped) leader keeps its sockets open, so every request to it waits out its
/// timeout, pre-votes included. The follower that wins the election must keep leadership: a
/// pre-vote it granted the other follower just before must not let that one depose it a
/// moment later (a second election, seen as ~2x the failover time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_is_replaced_by_one_election() {
    let mut c = Cluster::start(18, 3, "");
    let client = RaftAdminClient::new((0..3).map(|i| c.addr(i).to_string()).collect())
        .with_call_timeout(Duration::from_millis(300));
    for round in 0..3 {
        let old = c.wait_leader(Duration::from_secs(30)).await;
        c.pause(old.id);
        let others: Vec<u64> = (0..3).filter(|i| *i != old.id).collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        let new = loop {
            let mut found = None;
            for &o in &others {
                if let Ok(s) = client.status(c.addr(o)).await {
                    if s.state == "Leader" {
                        found = Some(s);
                    }
                }
            }
            if let Some(s) = found {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: no new leader 10 s after pausing n{}",
                old.id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // Past any pre-vote still in flight when the new leader won (they give up after
        // 300 ms), but shorter than an election timeout (600-1000 ms): a loaded machine that
        // delays heartbeats can then cause a real re-election, which is not what this checks.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for &o in &others {
            let s = client
                .status(c.addr(o))
                .await
                .unwrap_or_else(|e| panic!("status of n{o}: {e}"));
            assert_eq!(
                (s.term, s.leader),
                (new.term, Some(new.id)),
                "round {round}: n{} won term {} after n{} was paused, but n{o} now says {s:?}",
                new.id,
                new.term,
                old.id
            );
        }
        c.resume(old.id);
    }
}

/// A leader stopped gracefully (SIGTERM, as `mqshutdown` does) hands leadership to a follower
/// before its Raft node stops: the group's next leader wins the very next term (one election,
/// started by TimeoutNow rather than by a follower's timeout after the silence), the old
/// leader's log says so, and no write acknowledged around the stop is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gracefully_stopped_leader_hands_leadership_off() {
    let mut c = Cluster::start(29, 3, "");
    let old = c.wait_leader(Duration::from_secs(15)).await;
    let client = Arc::new(RaftAdminClient::new(
        c.nodes.iter().map(|n| n.addr.clone()).collect(),
    ));
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, acked, stop) = (client.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let v = format!("g-{w}-{n}");
                n += 1;
                if client.write(raw(&v), Duration::from_secs(10)).await.is_ok() {
                    acked.lock().push(v);
                }
            }
        }));
    }
    while acked.lock().len() < 500 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    c.stop(old.id);
    let at_stop = acked.lock().len();
    let new = c.wait_leader(Duration::from_secs(10)).await;
    // Writes keep being acknowledged by the new leader.
    let deadline = Instant::now() + Duration::from_secs(10);
    while acked.lock().len() < at_stop + 200 {
        assert!(
            Instant::now() < deadline,
            "no writes acknowledged after the hand-off"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer task");
    }

    assert_ne!(new.id, old.id);
    assert_eq!(
        new.term,
        old.term + 1,
        "n{} was elected in term {} after n{} (term {}) stopped: not one hand-off election",
        new.id,
        new.term,
        old.id,
        old.term
    );
    let log = std::fs::read_to_string(&c.nodes[old.id as usize].log).expect("old leader's log");
    assert!(
        log.contains("handed leadership off before stopping"),
        "n{}'s log does not record the hand-off",
        old.id
    );
    let acked = acked.lock().clone();
    let last = c
        .status(new.id)
        .await
        .and_then(|s| s.applied)
        .expect("new leader's applied index");
    for s in (0..3).filter(|i| *i != old.id) {
        c.wait_applied(s, last, Duration::from_secs(10)).await;
        let have = committed_values(&client, c.addr(s)).await;
        assert_contains_all(&have, &acked, &format!("n{s} after the hand-off"));
    }
}

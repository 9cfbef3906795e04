//! A full store file system, on a real three-node group whose stores each live on their own
//! size-limited tmpfs (needs root, like the other cluster tests):
//!
//! - the leader whose disk is full refuses sends with SERVICE_NOT_AVAILABLE and a remark that
//!   says the disk is full, keeps serving pulls, stays leader of its group, and accepts sends
//!   again once space is freed;
//! - a follower whose disk is full does not crash or leave the group: it stops appending and
//!   waits, the leader keeps committing with the other follower, and once space returns it
//!   catches up;
//! - nothing acknowledged is lost and nothing refused is stored: every node serves exactly the
//!   acknowledged messages at the end.
//!
//! Every tmpfs is unmounted when the test ends, also when it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Cluster;
use ledgermq::message::{decode_all, properties::MessageProperties};
use ledgermq::protocol::header::CommandHeader;
use ledgermq::protocol::headers::{PullMessageResponseHeader, SendMessageRequestHeader};
use ledgermq::remoting::{
    request_code as rc, response_code as code, ClientConfig, RemotingClient, RemotingCommand,
};
use ledgermq::store::disk_space;

const T: Duration = Duration::from_secs(5);
const TOPIC: &str = "DiskFull";
/// Each node's store file system.
const TMPFS_MIB: u64 = 48;
/// Bodies large enough that the sends after a fill need a new 1 MiB CommitLog segment.
const BODY: usize = 24 * 1024;

/// A tmpfs mounted over a directory; unmounted (lazily, so it works while files are open) on
/// drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, mib: u64) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -t tmpfs {} failed (the test needs root): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The cluster first (its processes are killed), then the file systems under it.
struct Rig {
    cluster: Option<Cluster>,
    mounts: Vec<Tmpfs>,
}

impl Rig {
    fn c(&self) -> &Cluster {
        self.cluster.as_ref().expect("cluster")
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let root = self.cluster.as_ref().map(|c| c.dir.path().to_path_buf());
        drop(self.cluster.take());
        self.mounts.clear();
        // The temp dir could not remove its mount points while they were mounted.
        if let Some(root) = root {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

/// Fills the file system holding `dir` with a filler file until at most `leave` bytes are
/// available to this process; returns the filler's path.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let filler = dir.join("filler");
    let avail = disk_space(dir).expect("statvfs").available;
    let size = avail.saturating_sub(leave);
    let f = std::fs::File::create(&filler).expect("create filler");
    // Written, not just sized: tmpfs counts only pages that exist.
    use std::io::Write;
    let mut w = std::io::BufWriter::new(f);
    let chunk = vec![0xAAu8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        if w.write_all(&chunk[..n]).is_err() {
            break;
        }
        left -= n as u64;
    }
    let _ = w.flush();
    filler
}

fn send_request(body: &str) -> RemotingCommand {
    let mut props = MessageProperties::new();
    props.insert("KEYS", body).expect("keys");
    let h = SendMessageRequestHeader {
        producer_group: "P".into(),
        topic: TOPIC.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 1,
        queue_id: 0,
        sys_flag: 0,
        born_timestamp: 1,
        flag: 0,
        properties: Some(props.encode()),
        reconsume_times: None,
        unit_mode: false,
        max_reconsume_times: None,
        batch: false,
        broker_name: None,
    };
    let payload = format!("{body}|{}", "x".repeat(BODY));
    let mut req = RemotingCommand::request(rc::SEND_MESSAGE_V2).with_body(payload.into_bytes());
    req.ext_fields = h.to_v2();
    req
}

/// Sends `names` to `addr`; every one must be acknowledged.
async fn send_all(client: &RemotingClient, addr: &str, names: &[String]) {
    for n in names {
        let resp = client
            .invoke(addr, send_request(n), T)
            .await
            .unwrap_or_else(|e| panic!("send {n}: {e}"));
        assert_eq!(resp.code, code::SUCCESS, "send {n}: {:?}", resp.remark);
    }
}

/// Every message of the queue on `addr`, by key, in queue order (waits for `want` of them).
async fn read_all(client: &RemotingClient, addr: &str, want: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut keys = Vec::new();
        let mut offset = 0;
        loop {
            let Ok(resp) = client
                .invoke(addr, common::requests::pull_request(TOPIC, 0, offset), T)
                .await
            else {
                break;
            };
            if resp.code != code::SUCCESS {
                break;
            }
            let h = PullMessageResponseHeader::from_ext(&resp.ext_fields).expect("pull header");
            for m in decode_all(&resp.body, true).expect("pull body") {
                keys.push(m.properties.get("KEYS").unwrap_or_default().to_string());
            }
            if h.next_begin_offset <= offset {
                break;
            }
            offset = h.next_begin_offset;
        }
        if keys.len() >= want || Instant::now() > deadline {
            return keys;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_refuses_sends_keeps_reads_and_membership_and_loses_nothing() {
    let mut cluster = Cluster::configure(41, 3, "mappedFileSizeConsumeQueue=12000\n");
    let mounts = (0..3)
        .map(|i| Tmpfs::mount(&cluster.store_dir(i), TMPFS_MIB))
        .collect();
    for i in 0..3 {
        cluster.start_node(i);
    }
    let rig = Rig {
        cluster: Some(cluster),
        mounts,
    };
    let c = rig.c();
    let (client, _inbound) = RemotingClient::new(ClientConfig::default());
    let leader = c.wait_leader(Duration::from_secs(30)).await.id;
    let leader_addr = c.broker_addr(leader);
    let followers: Vec<u64> = (0..3).filter(|i| *i != leader).collect();
    let mut acked = names("before", 20);
    send_all(&client, &leader_addr, &acked).await;

    // 1. The leader's disk fills up: sends are refused with RocketMQ's code and a clear remark.
    let filler = fill(&c.store_dir(leader), 5 << 20);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut tries = 0;
    let remark = loop {
        tries += 1;
        let name = format!("maybe-{tries}");
        let resp = client
            .invoke(&leader_addr, send_request(&name), T)
            .await
            .expect("send while full");
        if resp.code == code::SUCCESS {
            // Not noticed yet (the disk is checked every few seconds): this one counts.
            acked.push(name);
        } else {
            assert_eq!(resp.code, code::SERVICE_NOT_AVAILABLE, "{:?}", resp.remark);
            break resp.remark.unwrap_or_default();
        }
        assert!(
            Instant::now() < deadline,
            "sends never refused on a full disk"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(remark.contains("disk is full"), "{remark}");
    // Still refused; reads are still served; the node is still the group's leader.
    let resp = client
        .invoke(&leader_addr, send_request("refused-again"), T)
        .await
        .expect("send");
    assert_eq!(resp.code, code::SERVICE_NOT_AVAILABLE);
    assert_eq!(
        read_all(&client, &leader_addr, acked.len()).await,
        acked,
        "the full leader serves every acknowledged message"
    );
    let s = c.status(leader).await.expect("the full leader answers");
    assert_eq!(s.state, "Leader", "{s:?}");

    // 2. Space returns: sends are accepted again.
    std::fs::remove_file(&filler).expect("free space");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let name = format!("resumed-{}", acked.len());
        let resp = client
            .invoke(&leader_addr, send_request(&name), T)
            .await
            .expect("send after freeing");
        if resp.code == code::SUCCESS {
            acked.push(name);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sends never resumed: {:?}",
            resp.remark
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // 3. A follower's disk fills up: it stays in the group and waits; the leader commits with
    // the other follower. The sends below need more than one new segment on every node.
    let full = followers[0];
    let filler = fill(&c.store_dir(full), 1 << 20);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let more = names("follower-full", 60);
    send_all(&client, &leader_addr, &more).await;
    acked.extend(more);
    let leader_last = c
        .status(leader)
        .await
        .and_then(|s| s.last_index)
        .expect("leader's last index");
    c.wait_applied(followers[1], leader_last, Duration::from_secs(20))
        .await;
    let s = c.status(full).await.expect("the full follower is alive");
    assert_eq!(s.state, "Follower", "{s:?}");
    assert_eq!(s.leader, Some(leader), "{s:?}");
    assert!(
        s.last_index.unwrap_or(0) < leader_last,
        "the full follower stopped appending: {s:?} vs leader {leader_last}"
    );

    // 4. Its space returns: it catches up, and every node serves exactly what was acknowledged.
    std::fs::remove_file(&filler).expect("free space");
    c.wait_applied(full, leader_last, Duration::from_secs(30))
        .await;
    assert_eq!(c.wait_leader(T).await.id, leader, "no election was needed");
    for i in 0..3 {
        assert_eq!(
            read_all(&client, &c.broker_addr(i), acked.len()).await,
            acked,
            "node n{i} serves every acknowledged message and nothing refused"
        );
    }
}

//! `ledgermq bench floor`: what this machine's kernel alone allows for replicating messages,
//! with no Raft, no encoding and no client.
//!
//! The leader thread writes each batch of `batch` messages into its own file with one `pwrite`
//! and sends it to every follower over loopback TCP; each follower thread reads it, writes it
//! into its own file and answers 8 bytes. At most `window` batches are unacknowledged by a
//! quorum. That is the byte work a replicated CommitLog cannot avoid (a page-cache write per
//! node, a TCP transfer per follower, a round trip per batch), so its throughput bounds what
//! any implementation of `bench raft` with the same layout can reach on the same cores. The
//! last line is the summary:
//! `floor-bench nodes=3 size=1024 batch=32 window=2 msgs_per_s=... cpu_pct=... cpu_us_per_msg=...`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use parking_lot::{Condvar, Mutex};

use super::process_cpu_secs;

#[derive(Args, Debug)]
pub struct FloorBench {
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Message size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Messages per batch (`bench raft` at 64 in flight makes entries of about 32).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Batches sent and not yet acknowledged by a quorum, at most.
    #[arg(long, default_value_t = 2)]
    window: u64,
    /// Messages written.
    #[arg(long, default_value_t = 100_000)]
    count: usize,
    /// Where the nodes' files go (removed afterwards).
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

/// How far followers have acknowledged, in batches, one slot per follower.
struct Acks {
    done: Mutex<Vec<u64>>,
    changed: Condvar,
}

impl Acks {
    /// Batches acknowledged by a quorum: the leader plus the `quorum - 1` most advanced
    /// followers.
    fn committed(done: &[u64], quorum: usize) -> u64 {
        if quorum <= 1 {
            return u64::MAX;
        }
        let mut v = done.to_vec();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v.get(quorum - 2).copied().unwrap_or(0)
    }

    fn wait_until(&self, batches: u64, quorum: usize) -> anyhow::Result<()> {
        let mut done = self.done.lock();
        while Self::committed(&done, quorum) < batches {
            if self
                .changed
                .wait_for(&mut done, Duration::from_secs(10))
                .timed_out()
            {
                bail!("followers stopped acknowledging (a follower thread failed)");
            }
        }
        Ok(())
    }
}

fn node_file(dir: &Path, id: usize, len: u64) -> anyhow::Result<File> {
    let path = dir.join(format!("n{id}"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    // Reserved like a CommitLog segment, so writes see the same extent state.
    crate::store::reserve(&file, &path, len)?;
    Ok(file)
}

/// A follower: read a batch, write it at the next offset, acknowledge it. Returns how many
/// batches it wrote once the leader closes the link.
fn follower(mut conn: TcpStream, file: File, batch_bytes: usize) -> std::io::Result<u64> {
    let mut buf = vec![0u8; batch_bytes];
    let mut offset = 0u64;
    let mut batches = 0u64;
    loop {
        match conn.read_exact(&mut buf) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(batches),
            Err(e) => return Err(e),
        }
        file.write_all_at(&buf, offset)?;
        offset += batch_bytes as u64;
        batches += 1;
        conn.write_all(&batches.to_le_bytes())?;
    }
}

fn ack_reader(mut conn: TcpStream, slot: usize, acks: Arc<Acks>) {
    let mut b = [0u8; 8];
    while conn.read_exact(&mut b).is_ok() {
        let n = u64::from_le_bytes(b);
        acks.done.lock()[slot] = n;
        acks.changed.notify_all();
    }
}

/// What one run measured.
struct FloorResult {
    msgs: u64,
    secs: f64,
    cpu_secs: f64,
}

fn run_floor(b: &FloorBench) -> anyhow::Result<FloorResult> {
    if b.nodes == 0 || b.batch == 0 || b.size == 0 || b.window == 0 {
        bail!("--nodes, --batch, --size and --window must be at least 1");
    }
    let batches = (b.count / b.batch).max(1) as u64;
    let batch_bytes = b.batch * b.size;
    let file_len = batches * batch_bytes as u64;
    let root = b.dir.join(format!("ledgermq-floor-{}", std::process::id()));
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let quorum = b.nodes / 2 + 1;
    let acks = Arc::new(Acks {
        done: Mutex::new(vec![0; b.nodes - 1]),
        changed: Condvar::new(),
    });
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    let addr = listener.local_addr()?;
    let mut links = Vec::new();
    let mut threads = Vec::new();
    for id in 1..b.nodes {
        let link = TcpStream::connect(addr).context("connecting to a follower")?;
        let (conn, _) = listener.accept().context("accepting the leader")?;
        link.set_nodelay(true)?;
        conn.set_nodelay(true)?;
        let file = node_file(&root, id, file_len)?;
        threads.push(std::thread::spawn(move || {
            follower(conn, file, batch_bytes)
        }));
        let reader = link.try_clone()?;
        let acks = acks.clone();
        std::thread::spawn(move || ack_reader(reader, id - 1, acks));
        links.push(link);
    }
    let file = node_file(&root, 0, file_len)?;
    let data = vec![b'x'; batch_bytes];
    let cpu_before = process_cpu_secs();
    let started = Instant::now();
    for n in 0..batches {
        if n >= b.window {
            acks.wait_until(n + 1 - b.window, quorum)?;
        }
        file.write_all_at(&data, n * batch_bytes as u64)
            .context("leader write")?;
        for link in links.iter_mut() {
            link.write_all(&data).context("sending to a follower")?;
        }
    }
    acks.wait_until(batches, quorum)?;
    let secs = started.elapsed().as_secs_f64();
    let cpu = process_cpu_secs() - cpu_before;
    // The acknowledgement readers hold clones of the links, so dropping them would not close
    // the sockets; shutting the write side down is what tells the followers to stop.
    for link in &links {
        let _ = link.shutdown(std::net::Shutdown::Write);
    }
    for t in threads {
        match t.join() {
            Ok(Ok(n)) if n == batches => {}
            Ok(Ok(n)) => bail!("a follower wrote {n} of {batches} batches"),
            Ok(Err(e)) => bail!("follower failed: {e}"),
            Err(_) => bail!("follower thread panicked"),
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(FloorResult {
        msgs: batches * b.batch as u64,
        secs,
        cpu_secs: cpu,
    })
}

pub async fn floor(b: FloorBench) -> anyhow::Result<()> {
    let r = tokio::task::spawn_blocking(move || run_floor(&b).map(|r| (b, r)))
        .await
        .context("floor benchmark thread")?;
    let (b, r) = r?;
    let msgs = r.msgs as f64;
    println!(
        "floor-bench nodes={} size={} batch={} window={} msgs_per_s={:.0} cpu_pct={:.0} cpu_us_per_msg={:.2}",
        b.nodes,
        b.size,
        b.batch,
        b.window,
        msgs / r.secs,
        r.cpu_secs / r.secs * 100.0,
        r.cpu_secs / msgs * 1e6
    );
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_counts_the_leader() {
        assert_eq!(
            Acks::committed(&[5, 3], 2),
            5,
            "3 nodes: one follower suffices"
        );
        assert_eq!(
            Acks::committed(&[5, 3, 9, 1], 3),
            5,
            "5 nodes: two followers"
        );
        assert_eq!(
            Acks::committed(&[], 1),
            u64::MAX,
            "1 node: the leader alone"
        );
    }

    #[test]
    fn a_small_run_sends_every_batch_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let b = FloorBench {
            nodes: 3,
            size: 100,
            batch: 4,
            window: 2,
            count: 400,
            dir: dir.path().to_path_buf(),
        };
        let r = run_floor(&b).unwrap();
        // run_floor fails unless every follower wrote all 100 batches.
        assert_eq!(r.msgs, 400);
        assert!(r.secs > 0.0);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the files are removed"
        );
    }
}

//! The RocketMQ-named tools (`producer`, `consumer`, `mqadmin ...`, `mqshutdown`) run as
//! processes against a real `ledgermq namesrv` and a single-node `ledgermq broker` (a Raft
//! group of one), the way a user runs them. Every process is killed when the test ends,
//! also when it panics.

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ledgermq::client::{
    ClientOptions, Consumer, ConsumerConfig, Message, MessageStream, Producer, ProducerConfig,
    SendStatus,
};
use ledgermq::protocol::body::ConsumeFromWhere;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ledgermq")
}

/// A free port on `ip`, found by binding port 0 (the tiny race with other tests is accepted).
fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A child process killed (and reaped) on drop.
struct Proc {
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    fn spawn(args: &[&str], log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin())
            .args(args)
            .env("RUST_LOG", "info,openraft=error")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("spawn ledgermq");
        Proc {
            child: Some(child),
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Waits for the process to exit by itself; true if it did within `within`.
    fn exited_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            match self.child.as_mut().map(|c| c.try_wait()) {
                Some(Ok(Some(_))) | None => {
                    self.child = None;
                    return true;
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        false
    }

    /// True while the process runs.
    fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What a tool run printed.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "tool failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        &self.stdout
    }
}

/// Runs `ledgermq args...` with `env`, killing it after `timeout`.
fn run_tool(dir: &Path, args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Run {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let out_path = dir.join(format!("tool-{n}.out"));
    let err_path = dir.join(format!("tool-{n}.err"));
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("NAMESRV_ADDR")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("out"))
        .stderr(std::fs::File::create(&err_path).expect("err"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn tool");
    let deadline = Instant::now() + timeout;
    let code = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    Run {
        code,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

struct Env {
    dir: tempfile::TempDir,
    namesrv: Proc,
    broker: Proc,
    ns: String,
    broker_addr: String,
    namesrv_conf: PathBuf,
    broker_conf: PathBuf,
}

impl Env {
    fn start() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let ns_port = free_port("0.0.0.0");
        let broker_port = free_port("127.0.0.1");
        let raft_port = free_port("127.0.0.1");
        let ns = format!("127.0.0.1:{ns_port}");
        let namesrv_conf = dir.path().join("namesrv.conf");
        std::fs::write(&namesrv_conf, format!("listenPort={ns_port}\n")).expect("namesrv.conf");
        let broker_conf = dir.path().join("broker.conf");
        std::fs::write(
            &broker_conf,
            format!(
                "brokerClusterName=ToolsCluster\nbrokerName=RaftNode00\nbrokerIP1=127.0.0.1\n\
                 listenPort={broker_port}\nnamesrvAddr={ns}\nstorePathRootDir={}\n\
                 enableDLegerCommitLog=true\ndLegerGroup=RaftNode00\n\
                 dLegerPeers=n0-127.0.0.1:{raft_port}\ndLegerSelfId=n0\n\
                 mappedFileSizeCommitLog=16777216\n",
                dir.path().join("store").display()
            ),
        )
        .expect("broker.conf");
        let namesrv = Proc::spawn(
            &["namesrv", "-c", &namesrv_conf.to_string_lossy()],
            dir.path().join("namesrv.log"),
        );
        let broker = Proc::spawn(
            &["broker", "-c", &broker_conf.to_string_lossy()],
            dir.path().join("broker.log"),
        );
        Env {
            dir,
            namesrv,
            broker,
            ns,
            broker_addr: format!("127.0.0.1:{broker_port}"),
            namesrv_conf,
            broker_conf,
        }
    }

    fn tool(&self, args: &[&str]) -> Run {
        self.tool_timeout(args, Duration::from_secs(30))
    }

    fn tool_timeout(&self, args: &[&str], timeout: Duration) -> Run {
        run_tool(self.dir.path(), args, &[], timeout)
    }

    fn admin(&self, args: &[&str]) -> Run {
        let mut all = vec!["mqadmin"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-n", &self.ns]);
        self.tool(&all)
    }

    /// Waits until clusterList shows the broker as BID 0 (the Raft leader registered).
    fn wait_master(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(
                self.broker.running() && self.namesrv.running(),
                "a server exited\nbroker log:\n{}\nnamesrv log:\n{}",
                self.broker.log_tail(),
                self.namesrv.log_tail()
            );
            let r = self.admin(&["clusterList"]);
            if r.code == Some(0)
                && r.stdout.lines().any(|l| {
                    let cols: Vec<&str> = l.split_whitespace().collect();
                    cols.get(2) == Some(&"0") && cols.get(3) == Some(&self.broker_addr.as_str())
                })
            {
                return r.stdout;
            }
            assert!(
                Instant::now() < deadline,
                "the broker never showed up as BID 0\nclusterList: {}{}\nbroker log:\n{}\nnamesrv log:\n{}",
                r.stdout,
                r.stderr,
                self.broker.log_tail(),
                self.namesrv.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Extracts `key=value` from a `..., key=value, ...` line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    let rest = &line[start..];
    let end = rest.find([',', ']']).unwrap_or(rest.len());
    Some(&rest[..end])
}

#[test]
fn tools_against_a_single_node_broker() {
    let mut env = Env::start();
    let cluster = env.wait_master();
    assert!(
        cluster.starts_with("#Cluster Name     #Broker Name            #BID  #Addr"),
        "{cluster}"
    );
    let row = cluster
        .lines()
        .find(|l| l.contains(&env.broker_addr))
        .expect("a row for the broker");
    assert!(
        row.starts_with("ToolsCluster      RaftNode00              0     "),
        "{row}"
    );
    assert!(row.contains("V4_9_7"), "{row}");

    // The quickstart producer: 20 messages, one SendResult line each, topic auto-created.
    let topic = "ToolsTopic";
    let out = env.tool(&[
        "producer", "-n", &env.ns, "-t", topic, "-c", "20", "--keys", "K",
    ]);
    let sends: Vec<&str> = out.ok().lines().collect();
    assert_eq!(sends.len(), 20, "{}", out.stdout);
    let mut msg_ids = BTreeSet::new();
    let mut offset_ids = Vec::new();
    for line in &sends {
        assert!(
            line.starts_with("SendResult [sendStatus=SEND_OK, msgId="),
            "{line}"
        );
        assert_eq!(field(line, "topic"), Some(topic));
        assert_eq!(field(line, "brokerName"), Some("RaftNode00"));
        msg_ids.insert(field(line, "msgId").expect("msgId").to_string());
        offset_ids.push(field(line, "offsetMsgId").expect("offsetMsgId").to_string());
    }
    assert_eq!(msg_ids.len(), 20, "msgIds must be unique");

    // The quickstart consumer (name server from NAMESRV_ADDR) receives all 20, bodies intact.
    let group = "tools_cli_group";
    let out = run_tool(
        env.dir.path(),
        &[
            "consumer",
            "-t",
            topic,
            "-g",
            group,
            "--count",
            "20",
            "--from-first",
        ],
        &[("NAMESRV_ADDR", &env.ns)],
        Duration::from_secs(60),
    );
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines.first(), Some(&"Consumer Started."), "{}", out.stdout);
    let received = &lines[1..];
    assert_eq!(received.len(), 20, "{}\n{}", out.stdout, out.stderr);
    let bodies: BTreeSet<String> = received
        .iter()
        .map(|l| l.split_once(", body=").expect("body").1.to_string())
        .collect();
    let expected: BTreeSet<String> = (0..20).map(|i| format!("Hello RocketMQ {i}")).collect();
    assert_eq!(bodies, expected);
    let got_ids: BTreeSet<String> = received
        .iter()
        .map(|l| field(l, "msgId").expect("msgId").to_string())
        .collect();
    assert_eq!(got_ids, msg_ids);
    for l in received {
        assert_eq!(field(l, "topic"), Some(topic), "{l}");
        assert_eq!(field(l, "tags"), Some("TagA"), "{l}");
        assert_eq!(field(l, "brokerName"), Some("RaftNode00"), "{l}");
    }

    // topicRoute: the broker is the master of the auto-created topic's 4 queues.
    let route: serde_json::Value =
        serde_json::from_str(env.admin(&["topicRoute", "-t", topic]).ok()).expect("route JSON");
    assert_eq!(
        route["brokerDatas"][0]["brokerAddrs"]["0"],
        env.broker_addr.as_str()
    );
    assert_eq!(route["queueDatas"][0]["writeQueueNums"], 4);

    // topicStatus: one row per queue, 20 messages in all.
    let out = env.admin(&["topicStatus", "-t", topic]);
    let rows: Vec<&str> = out.ok().lines().skip(1).collect();
    assert!(out.stdout.starts_with("#Broker Name"), "{}", out.stdout);
    assert_eq!(rows.len(), 4, "{}", out.stdout);
    let total: i64 = rows
        .iter()
        .map(|r| {
            r.split_whitespace()
                .nth(3)
                .and_then(|v| v.parse::<i64>().ok())
                .expect("max offset")
        })
        .sum();
    assert_eq!(total, 20);

    // consumerProgress: the consumer committed everything before it left.
    let out = env.admin(&["consumerProgress", "-g", group]);
    let text = out.ok();
    assert!(text.starts_with("#Topic"), "{text}");
    let consumed: i64 = text
        .lines()
        .filter(|l| l.starts_with(topic))
        .map(|l| {
            l.split_whitespace()
                .nth(4)
                .and_then(|v| v.parse::<i64>().ok())
                .expect("consumer offset")
        })
        .sum();
    assert_eq!(consumed, 20, "{text}");
    assert!(text.contains("Diff Total: 0"), "{text}");

    // queryMsgById with the offsetMsgId of message 7; queryMsgByKey finds message 3.
    let out = env.admin(&["queryMsgById", "-i", &offset_ids[7], "-f", "UTF-8"]);
    let text = out.ok();
    assert!(
        text.contains(&format!("OffsetID:            {}", offset_ids[7])),
        "{text}"
    );
    assert!(
        text.contains(&format!("Topic:               {topic}")),
        "{text}"
    );
    assert!(text.contains("Keys:                [K7]"), "{text}");
    assert!(
        text.contains("Message Body:        Hello RocketMQ 7"),
        "{text}"
    );
    assert!(
        text.contains(&format!("Store Host:          {}", env.broker_addr)),
        "{text}"
    );
    let out = env.admin(&["queryMsgByKey", "-t", topic, "-k", "K3"]);
    assert!(out.ok().contains(&offset_ids[3]), "{}", out.stdout);

    // updateTopic on the cluster, then the topic is listed.
    let out = env.admin(&[
        "updateTopic",
        "-t",
        "CreatedByTool",
        "-c",
        "ToolsCluster",
        "-r",
        "2",
        "-w",
        "2",
    ]);
    let text = out.ok();
    assert!(
        text.contains(&format!("create topic to {} success.", env.broker_addr)),
        "{text}"
    );
    assert!(
        text.contains(
            "TopicConfig [topicName=CreatedByTool, readQueueNums=2, writeQueueNums=2, perm=RW-"
        ),
        "{text}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = env.admin(&["topicList"]);
        let topics: Vec<&str> = list.ok().lines().collect();
        if topics.contains(&"CreatedByTool") {
            assert!(topics.contains(&topic), "{}", list.stdout);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "CreatedByTool never listed: {}",
            list.stdout
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // brokerStatus prints the runtime table.
    let out = env.admin(&["brokerStatus", "-b", &env.broker_addr]);
    let text = out.ok();
    assert!(
        text.contains("brokerVersionDesc               : V4_9_7"),
        "{text}"
    );
    assert!(
        text.contains("brokerRole                      : MASTER"),
        "{text}"
    );
    assert!(
        text.contains("msgPutTotalTodayNow             : 20"),
        "{text}"
    );

    // Errors: one readable line, exit status 1.
    for (args, needle) in [
        (
            vec!["queryMsgById", "-i", "NOT-A-MSG-ID"],
            "not an offsetMsgId",
        ),
        (
            vec!["topicRoute", "-t", "NoSuchTopic"],
            "topic NoSuchTopic does not exist",
        ),
        (
            vec!["topicStatus", "-t", "NoSuchTopic"],
            "topic NoSuchTopic does not exist",
        ),
    ] {
        let out = env.admin(&args);
        assert_eq!(out.code, Some(1), "{args:?}: {}{}", out.stdout, out.stderr);
        let err: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(err.len(), 1, "{args:?}: {}", out.stderr);
        assert!(
            err[0].starts_with("ledgermq: ") && err[0].contains(needle),
            "{args:?}: {}",
            out.stderr
        );
    }

    // mqshutdown, narrowed to this test's processes by their config files.
    let broker_pid = env.broker.pid();
    let out = env.tool(&[
        "mqshutdown",
        "broker",
        "-c",
        &env.broker_conf.to_string_lossy(),
    ]);
    assert!(
        out.ok()
            .contains(&format!("The mqbroker({broker_pid}) is running...")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&format!(
        "Send shutdown request to mqbroker({broker_pid}) OK"
    )));
    assert!(
        env.broker.exited_within(Duration::from_secs(20)),
        "the broker ignored SIGTERM"
    );
    let out = env.tool(&[
        "mqshutdown",
        "namesrv",
        "-c",
        &env.namesrv_conf.to_string_lossy(),
    ]);
    assert!(
        out.ok().contains("Send shutdown request to mqnamesrv("),
        "{}",
        out.stdout
    );
    assert!(
        env.namesrv.exited_within(Duration::from_secs(20)),
        "the name server ignored SIGTERM"
    );
    let out = env.tool(&[
        "mqshutdown",
        "namesrv",
        "-c",
        &env.namesrv_conf.to_string_lossy(),
    ]);
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stdout.trim(), "No mqnamesrv running.");
}

/// `mqshutdown` also finds a process of its own executable kept under another name (a
/// versioned install, the binary of an A/B run), not only processes named `ledgermq`.
#[test]
fn mqshutdown_finds_its_own_executable_under_another_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let renamed = dir.path().join("ledgermq-renamed");
    if std::fs::hard_link(bin(), &renamed).is_err() {
        std::fs::copy(bin(), &renamed).expect("copy the binary");
    }
    let port = free_port("127.0.0.1");
    let conf = dir.path().join("namesrv.conf");
    std::fs::write(&conf, format!("listenPort={port}\n")).expect("namesrv.conf");
    let conf = conf.to_string_lossy().to_string();
    let child = Command::new(&renamed)
        .args(["namesrv", "-c", &conf])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the renamed binary");
    let mut namesrv = Proc {
        child: Some(child),
        log: dir.path().join("no-log"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the name server never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = Command::new(&renamed)
        .args(["mqshutdown", "namesrv", "-c", &conf])
        .output()
        .expect("run mqshutdown");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && stdout.contains(&format!(
                "Send shutdown request to mqnamesrv({}) OK",
                namesrv.pid()
            )),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        namesrv.exited_within(Duration::from_secs(20)),
        "the name server ignored SIGTERM"
    );
}

/// The next `n` messages of `stream`, or a panic after `within`.
async fn take(
    stream: &mut MessageStream,
    n: usize,
    within: Duration,
) -> Vec<ledgermq::client::ReceivedMessage> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while got.len() < n {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(m)) => got.push(m),
            Ok(None) => panic!("the stream ended after {} messages", got.len()),
            Err(_) => panic!("only {} of {n} messages arrived", got.len()),
        }
    }
    got
}

/// Waits until `check` holds, polling every 100 ms.
async fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The library under the tools: a batch send lands in one queue with consecutive offsets, a
/// tag subscription filters, and two consumers of one group split the queues and take them
/// back when one leaves (NOTIFY_CONSUMER_IDS_CHANGED).
#[test]
fn library_batch_send_tag_filter_and_group_rebalance() {
    let mut env = Env::start();
    env.wait_master();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let opts = ClientOptions::new(env.ns.clone());
        let producer =
            Producer::new(opts.clone(), ProducerConfig::new("lib_producer")).expect("producer");
        let topic = "LibTopic";
        let first = producer
            .send(
                Message::new(topic, &b"not for B"[..])
                    .with_tags("A")
                    .expect("tags"),
            )
            .await
            .expect("first send");
        assert_eq!(first.status, SendStatus::SendOk);
        let batch: Vec<Message> = (0..10)
            .map(|i| {
                Message::new(topic, format!("b-{i}").into_bytes())
                    .with_tags("B")
                    .expect("tags")
            })
            .collect();
        let r = producer.send_batch(batch).await.expect("batch send");
        assert_eq!(r.status, SendStatus::SendOk);
        assert_eq!(r.msg_id.split(',').count(), 10, "{r}");
        assert_eq!(r.offset_msg_id.split(',').count(), 10, "{r}");

        let mut cfg = ConsumerConfig::new("lib_group").subscribe(topic, "B");
        cfg.consume_from_where = ConsumeFromWhere::ConsumeFromFirstOffset;
        let (c1, mut s1) = Consumer::start(opts.clone(), cfg.clone())
            .await
            .expect("consumer 1");
        let got = take(&mut s1, 10, Duration::from_secs(20)).await;
        let bodies: Vec<String> = got
            .iter()
            .map(|m| String::from_utf8_lossy(&m.message.body).into_owned())
            .collect();
        let expected: Vec<String> = (0..10).map(|i| format!("b-{i}")).collect();
        assert_eq!(bodies, expected, "a batch keeps its order in one queue");
        for (i, m) in got.iter().enumerate() {
            assert_eq!(m.queue, r.queue);
            assert_eq!(m.message.queue_offset, r.queue_offset + i as i64);
            assert_eq!(m.message.tags(), Some("B"));
        }

        let (c2, _s2) = Consumer::start(opts.clone(), cfg)
            .await
            .expect("consumer 2");
        let topic_queues = |c: &Consumer| -> BTreeSet<i32> {
            c.assigned_queues()
                .into_iter()
                .filter(|q| q.topic == topic)
                .map(|q| q.queue_id)
                .collect()
        };
        eventually(
            "the two consumers to split the queues",
            Duration::from_secs(15),
            || {
                let (a, b) = (topic_queues(&c1), topic_queues(&c2));
                !a.is_empty() && !b.is_empty() && a.is_disjoint(&b) && a.len() + b.len() == 4
            },
        )
        .await;
        c2.shutdown().await;
        eventually(
            "consumer 1 to take every queue back",
            Duration::from_secs(15),
            || topic_queues(&c1).len() == 4,
        )
        .await;
        c1.shutdown().await;
    });
}

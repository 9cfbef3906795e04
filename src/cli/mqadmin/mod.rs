//! `ledgermq mqadmin <command>`: RocketMQ's `mqadmin` with its command names, flags and
//! output columns (4.9.x `ClusterListSubCommand`, `TopicStatusSubCommand`,
//! `ConsumerProgressSubCommand`, `QueryMsgByIdSubCommand`, `BrokerStatusSubCommand`, ...),
//! so scripts and habits built on the Java tool keep working. The calls live in
//! `client::MqAdmin`; this file only parses flags and prints.
//!
//! One difference on purpose: `clusterList` prints one line per node of a Raft group — every
//! node shares the broker name, BID 0 is the current leader, the others are followers.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

mod java_format;

use super::credentials::CredentialArgs;
use super::say;
use crate::client::MqAdmin;
use crate::protocol::body::{ConsumeType, KVTable, MessageModel};
use crate::protocol::topic::TopicConfig;
use crate::protocol::topic_names::{is_dlq_topic, is_retry_topic, retry_group};
use java_format::{
    cluster_row, front, java_double, local_time, properties_line, topic_config_line, version_desc,
};

#[derive(Args, Debug)]
pub struct MqadminArgs {
    /// Name server address list, e.g. '192.168.0.1:9876;192.168.0.2:9876'.
    #[arg(
        short = 'n',
        long = "namesrvAddr",
        env = "NAMESRV_ADDR",
        default_value = "127.0.0.1:9876",
        global = true
    )]
    namesrv: String,
    #[command(flatten)]
    credentials: CredentialArgs,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// List all of clusters: one line per broker node.
    #[command(name = "clusterList")]
    ClusterList,
    /// Fetch all topic list from name server.
    #[command(name = "topicList")]
    TopicList {
        /// Print cluster, topic and consumer groups.
        #[arg(short = 'c', long = "clusterModel")]
        cluster_model: bool,
    },
    /// Examine topic route info.
    #[command(name = "topicRoute")]
    TopicRoute {
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// Update or create topic.
    #[command(name = "updateTopic")]
    UpdateTopic(UpdateTopicArgs),
    /// Examine topic Status info.
    #[command(name = "topicStatus")]
    TopicStatus {
        #[arg(short = 't', long = "topic")]
        topic: String,
    },
    /// Query consumers's progress, speed.
    #[command(name = "consumerProgress")]
    ConsumerProgress {
        /// Consumer group name; without it, every group with a retry topic.
        #[arg(short = 'g', long = "groupName")]
        group: Option<String>,
    },
    /// Query Message by Id (offsetMsgId; several separated by ',').
    #[command(name = "queryMsgById")]
    QueryMsgById {
        #[arg(short = 'i', long = "msgId")]
        msg_id: String,
        /// Print the message body in this charset (UTF-8).
        #[arg(short = 'f', long = "bodyFormat")]
        body_format: Option<String>,
    },
    /// Query Message by Key.
    #[command(name = "queryMsgByKey")]
    QueryMsgByKey {
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'k', long = "msgKey")]
        key: String,
    },
    /// Fetch broker runtime status data.
    #[command(name = "brokerStatus")]
    BrokerStatus {
        #[arg(short = 'b', long = "brokerAddr", required_unless_present = "cluster")]
        broker: Option<String>,
        #[arg(short = 'c', long = "clusterName")]
        cluster: Option<String>,
    },
    /// Delete topic from broker and NameServer.
    #[command(name = "deleteTopic")]
    DeleteTopic {
        #[arg(short = 't', long = "topic")]
        topic: String,
        #[arg(short = 'c', long = "clusterName")]
        cluster: String,
    },
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(false).args(["broker", "cluster"])))]
struct UpdateTopicArgs {
    /// Create topic to which broker (its group's master).
    #[arg(short = 'b', long = "brokerAddr")]
    broker: Option<String>,
    /// Create topic to which cluster (every broker group's master).
    #[arg(short = 'c', long = "clusterName")]
    cluster: Option<String>,
    #[arg(short = 't', long = "topic")]
    topic: String,
    #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
    read: u32,
    #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
    write: u32,
    /// Permission: 2 write, 4 read, 6 read+write.
    #[arg(short = 'p', long = "perm", default_value_t = 6)]
    perm: u32,
    /// Ordered topic (true|false).
    #[arg(short = 'o', long = "order", default_value = "false")]
    order: String,
}

pub async fn run(args: MqadminArgs) -> anyhow::Result<()> {
    let admin = MqAdmin::new(args.credentials.options(args.namesrv.clone())?)?;
    let result = match args.command {
        AdminCommand::ClusterList => cluster_list(&admin).await,
        AdminCommand::TopicList { cluster_model } => topic_list(&admin, cluster_model).await,
        AdminCommand::TopicRoute { topic } => {
            let route = admin.topic_route(topic.trim()).await?;
            say(serde_json::to_string_pretty(&route)?);
            Ok(())
        }
        AdminCommand::UpdateTopic(a) => update_topic(&admin, a).await,
        AdminCommand::TopicStatus { topic } => topic_status(&admin, topic.trim()).await,
        AdminCommand::ConsumerProgress { group } => match group {
            Some(g) => consumer_progress(&admin, g.trim()).await,
            None => all_groups_progress(&admin).await,
        },
        AdminCommand::QueryMsgById {
            msg_id,
            body_format,
        } => {
            for id in msg_id.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                query_msg_by_id(&admin, id, body_format.is_some()).await?;
            }
            Ok(())
        }
        AdminCommand::QueryMsgByKey { topic, key } => {
            query_msg_by_key(&admin, topic.trim(), key.trim()).await
        }
        AdminCommand::BrokerStatus { broker, cluster } => {
            broker_status(&admin, broker, cluster).await
        }
        AdminCommand::DeleteTopic { topic, cluster } => {
            delete_topic(&admin, topic.trim(), cluster.trim()).await
        }
    };
    admin.client().close_all();
    result
}

async fn cluster_list(admin: &MqAdmin) -> anyhow::Result<()> {
    let nodes = admin
        .nodes()
        .await
        .context("cannot read the cluster info from the name server")?;
    let stats = admin.runtime_infos(&nodes).await;
    say(cluster_row([
        "#Cluster Name",
        "#Broker Name",
        "#BID",
        "#Addr",
        "#Version",
        "#InTPS(LOAD)",
        "#OutTPS(LOAD)",
        "#PCWait(ms)",
        "#Hour",
        "#SPACE",
    ]));
    let now = crate::time::now_ms();
    for (node, kv) in nodes.iter().zip(stats) {
        let t = match kv {
            Ok(kv) => kv.table,
            Err(e) => {
                eprintln!(
                    "{} ({}): cannot read its runtime info: {e}",
                    node.addr, node.broker_name
                );
                BTreeMap::new()
            }
        };
        let get = |k: &str| t.get(k).cloned().unwrap_or_default();
        let first_tps = |k: &str| {
            get(k)
                .split(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let or0 = |k: &str| t.get(k).cloned().unwrap_or_else(|| "0".into());
        let in_tps = format!(
            "{:9.2}({},{}ms)",
            first_tps("putTps"),
            or0("sendThreadPoolQueueSize"),
            or0("sendThreadPoolQueueHeadWaitTimeMills")
        );
        let out_tps = format!(
            "{:9.2}({},{}ms)",
            first_tps("getTransferedTps"),
            or0("pullThreadPoolQueueSize"),
            or0("pullThreadPoolQueueHeadWaitTimeMills")
        );
        let hour = get("earliestMessageTimeStamp")
            .parse::<i64>()
            .map(|t| (now - t) as f64 / 3_600_000.0)
            .unwrap_or(0.0);
        let space = get("commitLogDiskRatio").parse::<f64>().unwrap_or(0.0);
        say(cluster_row([
            &node.cluster,
            &node.broker_name,
            &node.broker_id.to_string(),
            &node.addr,
            &get("brokerVersionDesc"),
            &in_tps,
            &out_tps,
            &get("pageCacheLockTimeMills"),
            &format!("{hour:2.2}"),
            &format!("{space:.4}"),
        ]));
    }
    Ok(())
}

async fn topic_list(admin: &MqAdmin, cluster_model: bool) -> anyhow::Result<()> {
    let topics = admin
        .topic_list()
        .await
        .context("cannot read the topic list")?;
    if !cluster_model {
        for t in &topics.topic_list {
            say(t);
        }
        return Ok(());
    }
    let info = admin.cluster_info().await?;
    say(format!(
        "{:<20}  {:<48}  {:<48}",
        "#Cluster Name", "#Topic", "#Consumer Group"
    ));
    for topic in &topics.topic_list {
        if is_retry_topic(topic) || is_dlq_topic(topic) {
            continue;
        }
        let cluster = match admin.topic_route(topic).await {
            Ok(route) => route
                .broker_datas
                .first()
                .and_then(|bd| {
                    info.cluster_addr_table
                        .iter()
                        .find(|(_, names)| names.contains(&bd.broker_name))
                        .map(|(c, _)| c.clone())
                })
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        let mut groups = admin.consumed_by(topic).await.unwrap_or_default();
        if groups.is_empty() {
            groups.push(String::new());
        }
        for g in groups {
            say(format!(
                "{:<20}  {:<48}  {:<48}",
                front(&cluster, 20),
                front(topic, 48),
                front(&g, 48)
            ));
        }
    }
    Ok(())
}

async fn update_topic(admin: &MqAdmin, a: UpdateTopicArgs) -> anyhow::Result<()> {
    let order = match a.order.trim() {
        o if o.eq_ignore_ascii_case("true") => true,
        o if o.eq_ignore_ascii_case("false") => false,
        o => bail!("-o/--order must be true or false, not {o:?}"),
    };
    let tc = TopicConfig {
        read_queue_nums: a.read,
        write_queue_nums: a.write,
        perm: a.perm,
        order,
        ..TopicConfig::new(a.topic.trim(), 8)
    };
    if let Some(addr) = a.broker {
        let addr = addr.trim();
        admin
            .create_topic(addr, &tc)
            .await
            .with_context(|| format!("create topic {} on {addr} failed", tc.topic_name))?;
        say(format!("create topic to {addr} success."));
    } else if let Some(cluster) = a.cluster {
        let cluster = cluster.trim();
        for bd in admin.cluster_brokers(cluster).await? {
            let Some(addr) = bd.master_addr() else {
                bail!("broker group {} of cluster {cluster} has no master now (election in progress?); try again", bd.broker_name);
            };
            admin
                .create_topic(addr, &tc)
                .await
                .with_context(|| format!("create topic {} on {addr} failed", tc.topic_name))?;
            say(format!("create topic to {addr} success."));
        }
    }
    say(topic_config_line(&tc));
    Ok(())
}

async fn topic_status(admin: &MqAdmin, topic: &str) -> anyhow::Result<()> {
    let stats = admin
        .topic_stats(topic)
        .await
        .with_context(|| format!("topicStatus of {topic} failed"))?;
    say(format!(
        "{:<32}  {:<4}  {:<20}  {:<20}    {}",
        "#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated"
    ));
    for (mq, o) in &stats.offset_table {
        let when = if o.last_update_timestamp > 0 {
            local_time(o.last_update_timestamp, true)
        } else {
            String::new()
        };
        say(format!(
            "{:<32}  {:<4}  {:<20}  {:<20}    {}",
            front(&mq.broker_name, 32),
            mq.queue_id,
            o.min_offset,
            o.max_offset,
            when
        ));
    }
    Ok(())
}

async fn consumer_progress(admin: &MqAdmin, group: &str) -> anyhow::Result<()> {
    let stats = admin
        .consume_stats(group, None)
        .await
        .with_context(|| format!("consumerProgress of group {group} failed"))?;
    say(format!(
        "{:<32}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20}  {}",
        "#Topic",
        "#Broker Name",
        "#QID",
        "#Broker Offset",
        "#Consumer Offset",
        "#Client IP",
        "#Diff",
        "#LastTime"
    ));
    let mut diff_total = 0i64;
    for (mq, w) in &stats.offset_table {
        let diff = w.broker_offset - w.consumer_offset;
        diff_total += diff;
        say(format!(
            "{:<32}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20}  {}",
            front(&mq.topic, 32),
            front(&mq.broker_name, 32),
            mq.queue_id,
            w.broker_offset,
            w.consumer_offset,
            "NA",
            diff,
            local_time(w.last_timestamp, false)
        ));
    }
    say("");
    say(format!("Consume TPS: {}", java_double(stats.consume_tps)));
    say(format!("Diff Total: {diff_total}"));
    Ok(())
}

async fn all_groups_progress(admin: &MqAdmin) -> anyhow::Result<()> {
    let topics = admin
        .topic_list()
        .await
        .context("cannot read the topic list")?;
    say(format!(
        "{:<32}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  {}",
        "#Group", "#Count", "#Version", "#Type", "#Model", "#TPS", "#Diff Total"
    ));
    for topic in &topics.topic_list {
        let Some(group) = retry_group(topic) else {
            continue;
        };
        let stats = admin.consume_stats(group, None).await.ok();
        let conn = admin.consumer_connection(group).await.ok();
        let count = conn.as_ref().map_or(0, |c| c.connection_set.len());
        let (version, kind, model) = match &conn {
            Some(c) if count > 0 => {
                let min = c
                    .connection_set
                    .iter()
                    .map(|x| x.version)
                    .min()
                    .unwrap_or(0);
                let passive = c.consume_type != Some(ConsumeType::ConsumeActively);
                let model = match (passive, c.message_model) {
                    (true, Some(MessageModel::Clustering)) => "CLUSTERING",
                    (true, Some(MessageModel::Broadcasting)) => "BROADCASTING",
                    _ => "",
                };
                (
                    version_desc(min),
                    if passive { "PUSH" } else { "PULL" },
                    model,
                )
            }
            _ => ("OFFLINE".to_string(), "", ""),
        };
        say(format!(
            "{:<32}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  {}",
            front(group, 32),
            count,
            version,
            kind,
            model,
            stats.as_ref().map_or(0, |s| s.consume_tps as i64),
            stats.as_ref().map_or(0, |s| s.total_diff())
        ));
    }
    Ok(())
}

async fn query_msg_by_id(admin: &MqAdmin, id: &str, print_body: bool) -> anyhow::Result<()> {
    let m = admin
        .view_message(id)
        .await
        .with_context(|| format!("queryMsgById {id} failed"))?;
    let body_path = format!("/tmp/rocketmq/msgbodys/{}", m.offset_msg_id());
    let body_path = match std::fs::create_dir_all("/tmp/rocketmq/msgbodys")
        .and_then(|_| std::fs::write(&body_path, &m.body))
    {
        Ok(()) => body_path,
        Err(e) => format!("(not written: {e})"),
    };
    let line = |k: &str, v: String| say(format!("{k:<20} {v}"));
    line("OffsetID:", m.offset_msg_id());
    line("Topic:", m.topic.clone());
    line("Tags:", format!("[{}]", m.tags().unwrap_or("null")));
    line("Keys:", format!("[{}]", m.keys().unwrap_or("null")));
    line("Queue ID:", m.queue_id.to_string());
    line("Queue Offset:", m.queue_offset.to_string());
    line("CommitLog Offset:", m.commit_log_offset.to_string());
    line("Reconsume Times:", m.reconsume_times.to_string());
    line("Born Timestamp:", local_time(m.born_timestamp, true));
    line("Store Timestamp:", local_time(m.store_timestamp, true));
    line("Born Host:", m.born_host.to_string());
    line("Store Host:", m.store_host.to_string());
    line("System Flag:", m.sys_flag.to_string());
    line("Properties:", properties_line(&m));
    line("Message Body Path:", body_path);
    if print_body {
        line(
            "Message Body:",
            String::from_utf8_lossy(&m.body).into_owned(),
        );
    }
    let store_host = m.store_host.to_string();
    let broker_name = admin.nodes().await.ok().and_then(|nodes| {
        nodes
            .into_iter()
            .find(|n| n.addr == store_host)
            .map(|n| n.broker_name)
    });
    let tracks = match broker_name {
        Some(b) => admin.message_track(&m, &b).await.unwrap_or_default(),
        None => Vec::new(),
    };
    say("");
    if tracks.is_empty() {
        say("WARN: No Consumer");
    } else {
        for t in tracks {
            say(t);
        }
    }
    Ok(())
}

async fn query_msg_by_key(admin: &MqAdmin, topic: &str, key: &str) -> anyhow::Result<()> {
    let msgs = admin
        .query_message(topic, key, 64, 0, i64::MAX)
        .await
        .with_context(|| format!("queryMsgByKey {key} in {topic} failed"))?;
    say(format!(
        "{:<50} {:>4} {:>40}",
        "#Message ID", "#QID", "#Offset"
    ));
    for m in msgs {
        say(format!(
            "{:<50} {:>4} {:>40}",
            m.offset_msg_id(),
            m.queue_id,
            m.queue_offset
        ));
    }
    Ok(())
}

fn print_kv(kv: &KVTable, prefix: Option<&str>) {
    for (k, v) in &kv.table {
        match prefix {
            Some(addr) => say(format!("{addr:<24} {k:<32}: {v}")),
            None => say(format!("{k:<32}: {v}")),
        }
    }
}

async fn broker_status(
    admin: &MqAdmin,
    broker: Option<String>,
    cluster: Option<String>,
) -> anyhow::Result<()> {
    if let Some(addr) = broker {
        let addr = addr.trim();
        let kv = admin
            .broker_runtime_info(addr)
            .await
            .with_context(|| format!("brokerStatus of {addr} failed"))?;
        print_kv(&kv, None);
        return Ok(());
    }
    let cluster = cluster.unwrap_or_default();
    let cluster = cluster.trim();
    let nodes: Vec<String> = admin
        .cluster_brokers(cluster)
        .await?
        .iter()
        .flat_map(|bd| bd.broker_addrs.values().cloned())
        .collect();
    for addr in nodes {
        match admin.broker_runtime_info(&addr).await {
            Ok(kv) => print_kv(&kv, Some(&addr)),
            Err(e) => eprintln!("{addr}: cannot read its runtime info: {e}"),
        }
    }
    Ok(())
}

async fn delete_topic(admin: &MqAdmin, topic: &str, cluster: &str) -> anyhow::Result<()> {
    for bd in admin.cluster_brokers(cluster).await? {
        let Some(addr) = bd.master_addr() else {
            bail!(
                "broker group {} of cluster {cluster} has no master now; try again",
                bd.broker_name
            );
        };
        admin
            .delete_topic_in_broker(addr, topic)
            .await
            .with_context(|| format!("delete topic {topic} on {addr} failed"))?;
    }
    say(format!(
        "delete topic [{topic}] from cluster [{cluster}] success."
    ));
    admin
        .delete_topic_in_namesrv(topic)
        .await
        .with_context(|| format!("delete topic {topic} from the name servers failed"))?;
    say(format!("delete topic [{topic}] from NameServer success."));
    Ok(())
}

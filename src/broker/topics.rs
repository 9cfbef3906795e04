//! Topic config on top of Raft: every create, update and delete is a Raft entry, so all nodes
//! of the group serve the same topics. Reads come from the replicated state.
//!
//! RocketMQ's semantics: the leader makes sure the system topics exist (TBW102, SELF_TEST_TOPIC,
//! OFFSET_MOVED_EVENT, the cluster's and the broker's own name); with `autoCreateTopicEnable` a
//! send to an unknown topic creates it with min(defaultTopicQueueNums, TBW102's write queues)
//! queues when TBW102 carries the inherit permission; a consumer group's `%RETRY%` topic is made
//! on its first heartbeat.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::config::BrokerConfig;
use crate::protocol::topic::{perm, TopicConfig};
use crate::protocol::topic_names::{
    dlq_topic, retry_topic, AUTO_CREATE_TOPIC_KEY, OFFSET_MOVED_EVENT, SELF_TEST_TOPIC,
};
use crate::raft::{LogCommand, MetaCommand, NodeCore, WriteError};

pub struct TopicManager {
    core: Arc<NodeCore>,
    auto_create: bool,
    default_queues: u32,
    cluster: String,
    broker_name: String,
    /// Poked after every topic change so the broker re-registers with the name servers at once.
    changed: Arc<Notify>,
}

impl TopicManager {
    pub fn new(core: Arc<NodeCore>, cfg: &BrokerConfig, changed: Arc<Notify>) -> TopicManager {
        TopicManager {
            core,
            auto_create: cfg.auto_create_topic_enable,
            default_queues: cfg.default_topic_queue_nums,
            cluster: cfg.broker_cluster_name.clone(),
            broker_name: cfg.broker_name.clone(),
            changed,
        }
    }

    pub fn get(&self, topic: &str) -> Option<TopicConfig> {
        self.core.broker_state().topic(topic)
    }

    pub fn all(&self) -> Vec<TopicConfig> {
        self.core.broker_state().topics()
    }

    /// Creates or updates a topic through Raft (leader only).
    pub async fn put(&self, tc: TopicConfig) -> Result<(), WriteError> {
        let ok = self
            .core
            .write(LogCommand::Meta(MetaCommand::UpdateTopic(tc.clone())))
            .await?;
        if let crate::raft::ApplyResult::Rejected(why) = ok.result {
            return Err(WriteError::Rejected(why));
        }
        tracing::info!(topic = %tc.topic_name, read = tc.read_queue_nums, write = tc.write_queue_nums, perm = tc.perm, "topic config updated");
        self.changed.notify_one();
        Ok(())
    }

    pub async fn delete(&self, topic: &str) -> Result<(), WriteError> {
        self.core
            .write(LogCommand::Meta(MetaCommand::DeleteTopic(
                topic.to_string(),
            )))
            .await?;
        tracing::info!(topic, "topic deleted");
        self.changed.notify_one();
        Ok(())
    }

    /// Creates `topic` for a send whose header names `default_topic`, if RocketMQ's rules allow.
    pub async fn auto_create(
        &self,
        topic: &str,
        default_topic: &str,
        requested_queues: i32,
    ) -> Result<Option<TopicConfig>, WriteError> {
        if !self.auto_create {
            return Ok(None);
        }
        // A new group's first leader creates TBW102 just after its election
        // (`ensure_system_topics`), and a send can arrive before that write is applied; a
        // RocketMQ broker with autoCreateTopicEnable has it from start-up, so its template is
        // what counts meanwhile.
        let template = match self.get(default_topic) {
            Some(t) => t,
            None if default_topic == AUTO_CREATE_TOPIC_KEY => self.auto_create_template(),
            None => return Ok(None),
        };
        if template.perm & perm::INHERIT == 0 {
            return Ok(None);
        }
        let queues = (requested_queues.max(1) as u32).min(template.write_queue_nums.max(1));
        let tc = TopicConfig {
            perm: template.perm & !perm::INHERIT,
            ..TopicConfig::new(topic, queues)
        };
        self.put(tc.clone()).await?;
        Ok(Some(tc))
    }

    /// A consumer group's retry topic (1 queue, read+write), created if missing.
    pub async fn ensure_retry_topic(&self, group: &str) -> Result<TopicConfig, WriteError> {
        let name = retry_topic(group);
        if let Some(tc) = self.get(&name) {
            return Ok(tc);
        }
        let tc = TopicConfig::new(name, 1);
        self.put(tc.clone()).await?;
        Ok(tc)
    }

    /// A consumer group's dead-letter topic (1 queue, read+write as since RocketMQ 4.9.2),
    /// created if missing.
    pub async fn ensure_dlq_topic(&self, group: &str) -> Result<TopicConfig, WriteError> {
        let name = dlq_topic(group);
        if let Some(tc) = self.get(&name) {
            return Ok(tc);
        }
        let tc = TopicConfig::new(name, 1);
        self.put(tc.clone()).await?;
        Ok(tc)
    }

    /// TBW102 as a broker with autoCreateTopicEnable makes it: the template of auto-created
    /// topics.
    fn auto_create_template(&self) -> TopicConfig {
        TopicConfig {
            perm: perm::INHERIT | perm::READ_WRITE,
            ..TopicConfig::new(AUTO_CREATE_TOPIC_KEY, self.default_queues)
        }
    }

    /// The system topics a RocketMQ broker always has; run by a new leader.
    pub async fn ensure_system_topics(&self) -> Result<(), WriteError> {
        let mut wanted = vec![
            TopicConfig::new(SELF_TEST_TOPIC, 1),
            TopicConfig::new(OFFSET_MOVED_EVENT, 1),
            TopicConfig {
                perm: perm::READ_WRITE,
                ..TopicConfig::new(self.cluster.clone(), 16)
            },
            TopicConfig {
                perm: perm::READ_WRITE,
                ..TopicConfig::new(self.broker_name.clone(), 1)
            },
        ];
        if self.auto_create {
            wanted.push(self.auto_create_template());
        }
        for tc in wanted {
            if self.get(&tc.topic_name).is_none() {
                self.put(tc).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::test_support::single_leader;

    /// A send that reaches a new group's leader before it has written TBW102 still creates its
    /// topic from the template autoCreateTopicEnable stands for; without that setting, none.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn auto_creation_before_tbw102_is_written_uses_its_template() {
        let dir = tempfile::tempdir().unwrap();
        let node = single_leader(dir.path()).await;
        let cfg = BrokerConfig {
            auto_create_topic_enable: true,
            default_topic_queue_nums: 4,
            ..BrokerConfig::default()
        };
        let topics = TopicManager::new(node.core().clone(), &cfg, Arc::new(Notify::new()));
        assert!(
            topics.get(AUTO_CREATE_TOPIC_KEY).is_none(),
            "not written yet"
        );
        let tc = topics
            .auto_create("NewTopic", AUTO_CREATE_TOPIC_KEY, 8)
            .await
            .expect("written")
            .expect("created");
        assert_eq!(tc.write_queue_nums, 4, "min(requested, TBW102's queues)");
        assert_eq!(tc.perm, perm::READ_WRITE);
        assert_eq!(topics.get("NewTopic"), Some(tc));
        // Another default topic that does not exist is still no template.
        assert_eq!(
            topics.auto_create("Other", "NoSuchDefault", 8).await,
            Ok(None)
        );

        let off = TopicManager::new(
            node.core().clone(),
            &BrokerConfig {
                auto_create_topic_enable: false,
                ..cfg
            },
            Arc::new(Notify::new()),
        );
        assert_eq!(
            off.auto_create("Third", AUTO_CREATE_TOPIC_KEY, 8).await,
            Ok(None)
        );
        node.shutdown().await;
    }
}

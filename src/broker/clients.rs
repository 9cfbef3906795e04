//! Producer and consumer connections by group (RocketMQ's ProducerManager/ConsumerManager).
//!
//! A client appears with its first HEART_BEAT and leaves with UNREGISTER_CLIENT, with its
//! connection closing, or after 120 s without a heartbeat. Whenever the set of client ids of a
//! consumer group changes, every consumer of the group gets NOTIFY_CONSUMER_IDS_CHANGED so it
//! rebalances at once instead of within 20 s.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::protocol::body::{
    ConsumeFromWhere, ConsumeType, ConsumerData, MessageModel, SubscriptionData,
};
use crate::protocol::header::CommandHeader;
use crate::protocol::headers::NotifyConsumerIdsChangedRequestHeader;
use crate::remoting::codes::request_code;
use crate::remoting::{ChannelContext, RemotingCommand};

/// A client silent for this long is dropped (RocketMQ: 120 s).
pub const CHANNEL_EXPIRY: Duration = Duration::from_secs(120);

#[derive(Clone)]
pub struct ClientChannel {
    pub ctx: Arc<ChannelContext>,
    pub client_id: String,
    pub language: String,
    pub version: i32,
    pub last_update: Instant,
}

#[derive(Clone, Default)]
pub struct ConsumerGroupInfo {
    pub channels: BTreeMap<u64, ClientChannel>,
    pub subscriptions: BTreeMap<String, SubscriptionData>,
    pub consume_type: Option<ConsumeType>,
    pub message_model: Option<MessageModel>,
    pub consume_from_where: Option<ConsumeFromWhere>,
}

impl ConsumerGroupInfo {
    fn client_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .channels
            .values()
            .map(|c| c.client_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

#[derive(Default)]
pub struct ClientManager {
    consumers: Mutex<HashMap<String, ConsumerGroupInfo>>,
    producers: Mutex<HashMap<String, BTreeMap<u64, ClientChannel>>>,
}

impl ClientManager {
    /// Records a consumer's heartbeat; returns true if the group's client ids changed.
    pub fn register_consumer(
        &self,
        ctx: &Arc<ChannelContext>,
        client_id: &str,
        language: &str,
        version: i32,
        data: &ConsumerData,
    ) -> bool {
        let mut consumers = self.consumers.lock();
        let info = consumers.entry(data.group_name.clone()).or_default();
        let before = info.client_ids();
        info.channels.insert(
            ctx.id,
            ClientChannel {
                ctx: ctx.clone(),
                client_id: client_id.to_string(),
                language: language.to_string(),
                version,
                last_update: Instant::now(),
            },
        );
        info.consume_type = data.consume_type.or(info.consume_type);
        info.message_model = data.message_model.or(info.message_model);
        info.consume_from_where = data.consume_from_where.or(info.consume_from_where);
        for sub in &data.subscription_data_set {
            let newer = info
                .subscriptions
                .get(&sub.topic)
                .is_none_or(|old| old.sub_version <= sub.sub_version);
            if newer {
                info.subscriptions.insert(sub.topic.clone(), sub.clone());
            }
        }
        // Topics no longer subscribed by this heartbeat are dropped, as in Java.
        if !data.subscription_data_set.is_empty() {
            info.subscriptions
                .retain(|t, _| data.subscription_data_set.iter().any(|s| &s.topic == t));
        }
        before != info.client_ids()
    }

    pub fn register_producer(
        &self,
        ctx: &Arc<ChannelContext>,
        group: &str,
        client_id: &str,
        language: &str,
        version: i32,
    ) {
        self.producers
            .lock()
            .entry(group.to_string())
            .or_default()
            .insert(
                ctx.id,
                ClientChannel {
                    ctx: ctx.clone(),
                    client_id: client_id.to_string(),
                    language: language.to_string(),
                    version,
                    last_update: Instant::now(),
                },
            );
    }

    /// Removes a client from a consumer group; returns true if the group's ids changed.
    pub fn unregister_consumer(&self, group: &str, client_id: &str) -> bool {
        let mut consumers = self.consumers.lock();
        let Some(info) = consumers.get_mut(group) else {
            return false;
        };
        let before = info.client_ids();
        info.channels.retain(|_, c| c.client_id != client_id);
        let changed = before != info.client_ids();
        if info.channels.is_empty() {
            consumers.remove(group);
        }
        changed
    }

    pub fn unregister_producer(&self, group: &str, client_id: &str) {
        let mut producers = self.producers.lock();
        if let Some(chs) = producers.get_mut(group) {
            chs.retain(|_, c| c.client_id != client_id);
            if chs.is_empty() {
                producers.remove(group);
            }
        }
    }

    /// Forgets a closed connection; returns the consumer groups whose ids changed.
    pub fn on_close(&self, channel: u64) -> Vec<String> {
        self.remove_where(|id, _| id == channel)
    }

    /// Drops clients silent for `CHANNEL_EXPIRY`; returns the consumer groups that changed.
    pub fn scan_expired(&self, now: Instant) -> Vec<String> {
        self.remove_where(|_, c| now.saturating_duration_since(c.last_update) > CHANNEL_EXPIRY)
    }

    fn remove_where(&self, gone: impl Fn(u64, &ClientChannel) -> bool) -> Vec<String> {
        let mut changed = Vec::new();
        {
            let mut consumers = self.consumers.lock();
            for (group, info) in consumers.iter_mut() {
                let before = info.client_ids();
                info.channels.retain(|id, c| !gone(*id, c));
                if before != info.client_ids() {
                    changed.push(group.clone());
                }
            }
            consumers.retain(|_, info| !info.channels.is_empty());
        }
        let mut producers = self.producers.lock();
        for chs in producers.values_mut() {
            chs.retain(|id, c| !gone(*id, c));
        }
        producers.retain(|_, chs| !chs.is_empty());
        changed
    }

    /// An open connection of a producer of `group`, for a transaction check-back (RocketMQ's
    /// `getAvailableChannel`): the most recently heard-from.
    pub fn producer_channel(&self, group: &str) -> Option<Arc<ChannelContext>> {
        self.producers
            .lock()
            .get(group)?
            .values()
            .filter(|c| !c.ctx.is_closed())
            .max_by_key(|c| c.last_update)
            .map(|c| c.ctx.clone())
    }

    pub fn consumer_group(&self, group: &str) -> Option<ConsumerGroupInfo> {
        self.consumers.lock().get(group).cloned()
    }

    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        self.consumers
            .lock()
            .get(group)
            .map(|i| i.client_ids())
            .unwrap_or_default()
    }

    pub fn subscription(&self, group: &str, topic: &str) -> Option<SubscriptionData> {
        self.consumers
            .lock()
            .get(group)?
            .subscriptions
            .get(topic)
            .cloned()
    }

    /// Consumer groups currently subscribed to `topic`.
    pub fn groups_subscribing(&self, topic: &str) -> Vec<String> {
        let mut g: Vec<String> = self
            .consumers
            .lock()
            .iter()
            .filter(|(_, i)| i.subscriptions.contains_key(topic))
            .map(|(g, _)| g.clone())
            .collect();
        g.sort();
        g
    }

    pub fn consumer_groups(&self) -> Vec<String> {
        let mut g: Vec<String> = self.consumers.lock().keys().cloned().collect();
        g.sort();
        g
    }

    /// Tells every consumer of `group` that its membership changed (oneway, best effort).
    pub fn notify_ids_changed(&self, group: &str) {
        let channels: Vec<ClientChannel> = self
            .consumers
            .lock()
            .get(group)
            .map(|i| i.channels.values().cloned().collect())
            .unwrap_or_default();
        let header = NotifyConsumerIdsChangedRequestHeader {
            consumer_group: group.to_string(),
        };
        for ch in channels {
            let mut cmd = RemotingCommand::request(request_code::NOTIFY_CONSUMER_IDS_CHANGED);
            cmd.ext_fields = header.to_ext();
            cmd.mark_oneway();
            if let Err(e) = ch.ctx.send_request_oneway(cmd) {
                tracing::debug!(group, client = %ch.client_id, error = %e, "could not notify consumer of a group change");
            }
        }
    }
}

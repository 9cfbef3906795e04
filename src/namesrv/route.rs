//! The name server's route tables (RocketMQ's RouteInfoManager): which brokers exist, which
//! topics they serve with how many queues, and which brokers are alive.
//!
//! Brokers keep this fresh by registering every 30 s and at once on any role change. A broker
//! whose address is registered under a new id (a slave that became master after a Raft
//! election) replaces its old entry; a broker that stops registering for 120 s, or whose
//! connection closes, is removed. Only a master's registration updates a topic's queues.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::protocol::body::{BrokerData, ClusterInfo, QueueData, TopicRouteData};
use crate::protocol::body::{DataVersion, TopicConfigSerializeWrapper};

/// What the name server remembers about a live broker address.
#[derive(Debug, Clone)]
struct BrokerLive {
    last_update: Instant,
    data_version: DataVersion,
    ha_server_addr: String,
    channel: Option<u64>,
    cluster: String,
    broker_name: String,
}

/// One REGISTER_BROKER request.
#[derive(Debug, Clone)]
pub struct Registration {
    pub cluster: String,
    pub broker_addr: String,
    pub broker_name: String,
    pub broker_id: i64,
    pub ha_server_addr: String,
    pub topics: Option<TopicConfigSerializeWrapper>,
    /// The connection it came on; its closing unregisters the broker.
    pub channel: Option<u64>,
}

/// The answer to a slave: whom to follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterResult {
    pub master_addr: Option<String>,
    pub ha_server_addr: Option<String>,
}

#[derive(Debug, Default)]
pub struct RouteInfoManager {
    topic_queues: BTreeMap<String, BTreeMap<String, QueueData>>,
    brokers: BTreeMap<String, BrokerData>,
    clusters: BTreeMap<String, BTreeSet<String>>,
    live: HashMap<String, BrokerLive>,
}

impl RouteInfoManager {
    pub fn register(&mut self, r: Registration, now: Instant) -> RegisterResult {
        self.clusters
            .entry(r.cluster.clone())
            .or_default()
            .insert(r.broker_name.clone());
        let data = self
            .brokers
            .entry(r.broker_name.clone())
            .or_insert_with(|| BrokerData {
                broker_addrs: BTreeMap::new(),
                broker_name: r.broker_name.clone(),
                cluster: r.cluster.clone(),
                enable_acting_master: false,
            });
        // The same address under another id: a role change. Keep only the new id.
        data.broker_addrs
            .retain(|id, addr| *addr != r.broker_addr || *id == r.broker_id);
        let previous = data.broker_addrs.insert(r.broker_id, r.broker_addr.clone());
        if let Some(prev) = previous.as_ref().filter(|p| **p != r.broker_addr) {
            tracing::info!(broker = %r.broker_name, id = r.broker_id, old = %prev, new = %r.broker_addr, "broker id now served by another address");
        }
        let first_time = previous.is_none();
        let version = r
            .topics
            .as_ref()
            .map(|t| t.data_version)
            .unwrap_or_default();
        let changed = self
            .live
            .get(&r.broker_addr)
            .is_none_or(|l| l.data_version != version);
        if r.broker_id == 0 {
            if let Some(wrapper) = &r.topics {
                if first_time || changed {
                    for (topic, tc) in &wrapper.topic_config_table {
                        self.topic_queues.entry(topic.clone()).or_default().insert(
                            r.broker_name.clone(),
                            QueueData {
                                broker_name: r.broker_name.clone(),
                                perm: tc.perm,
                                read_queue_nums: tc.read_queue_nums,
                                topic_sys_flag: tc.topic_sys_flag,
                                write_queue_nums: tc.write_queue_nums,
                            },
                        );
                    }
                }
            }
        }
        self.live.insert(
            r.broker_addr.clone(),
            BrokerLive {
                last_update: now,
                data_version: version,
                ha_server_addr: r.ha_server_addr.clone(),
                channel: r.channel,
                cluster: r.cluster.clone(),
                broker_name: r.broker_name.clone(),
            },
        );
        let mut result = RegisterResult::default();
        if r.broker_id != 0 {
            if let Some(master) = self
                .brokers
                .get(&r.broker_name)
                .and_then(|d| d.master_addr())
            {
                if let Some(l) = self.live.get(master) {
                    result.master_addr = Some(master.to_string());
                    result.ha_server_addr = Some(l.ha_server_addr.clone());
                }
            }
        }
        result
    }

    /// Removes the broker at `addr` (UNREGISTER_BROKER, expiry, or its connection closing).
    pub fn unregister_addr(&mut self, addr: &str) {
        let Some(live) = self.live.remove(addr) else {
            return;
        };
        let name = live.broker_name;
        let mut gone = false;
        if let Some(data) = self.brokers.get_mut(&name) {
            data.broker_addrs.retain(|_, a| a != addr);
            gone = data.broker_addrs.is_empty();
        }
        if gone {
            self.brokers.remove(&name);
            if let Some(names) = self.clusters.get_mut(&live.cluster) {
                names.remove(&name);
                if names.is_empty() {
                    self.clusters.remove(&live.cluster);
                }
            }
            self.topic_queues.retain(|_, by_broker| {
                by_broker.remove(&name);
                !by_broker.is_empty()
            });
        }
        tracing::info!(broker = %name, %addr, group_gone = gone, "broker unregistered");
    }

    /// Removes brokers that have not registered within `timeout`; returns their addresses.
    pub fn scan_not_active(&mut self, now: Instant, timeout: Duration) -> Vec<String> {
        let expired: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| now.saturating_duration_since(l.last_update) > timeout)
            .map(|(a, _)| a.clone())
            .collect();
        for a in &expired {
            tracing::warn!(addr = %a, "broker expired: no registration for {timeout:?}");
            self.unregister_addr(a);
        }
        expired
    }

    /// Removes brokers that registered over the connection that just closed.
    pub fn on_channel_closed(&mut self, channel: u64) {
        let addrs: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| l.channel == Some(channel))
            .map(|(a, _)| a.clone())
            .collect();
        for a in addrs {
            self.unregister_addr(&a);
        }
    }

    pub fn route(&self, topic: &str) -> Option<TopicRouteData> {
        let queues = self.topic_queues.get(topic)?;
        let queue_datas: Vec<QueueData> = queues.values().cloned().collect();
        let broker_datas: Vec<BrokerData> = queues
            .keys()
            .filter_map(|name| self.brokers.get(name).cloned())
            .collect();
        if broker_datas.is_empty() {
            return None;
        }
        Some(TopicRouteData {
            broker_datas,
            queue_datas,
            ..TopicRouteData::default()
        })
    }

    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            broker_addr_table: self.brokers.clone(),
            cluster_addr_table: self.clusters.clone(),
        }
    }

    pub fn topics(&self) -> BTreeSet<String> {
        self.topic_queues.keys().cloned().collect()
    }

    pub fn topics_of_cluster(&self, cluster: &str) -> BTreeSet<String> {
        let Some(names) = self.clusters.get(cluster) else {
            return BTreeSet::new();
        };
        self.topic_queues
            .iter()
            .filter(|(_, by)| by.keys().any(|n| names.contains(n)))
            .map(|(t, _)| t.clone())
            .collect()
    }

    pub fn delete_topic(&mut self, topic: &str) {
        self.topic_queues.remove(topic);
    }

    /// True if `addr`'s last registration carried `version`.
    pub fn data_version_matches(&self, addr: &str, version: &DataVersion) -> bool {
        self.live
            .get(addr)
            .is_some_and(|l| l.data_version == *version)
    }

    /// Refreshes a broker's liveness without a full registration (QUERY_DATA_VERSION).
    pub fn touch(&mut self, addr: &str, now: Instant) {
        if let Some(l) = self.live.get_mut(addr) {
            l.last_update = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::topic::TopicConfig;

    fn reg(addr: &str, id: i64, topics: &[&str], version: i64) -> Registration {
        Registration {
            cluster: "RaftCluster".into(),
            broker_addr: addr.into(),
            broker_name: "RaftNode00".into(),
            broker_id: id,
            ha_server_addr: format!("{addr}-ha"),
            topics: Some(TopicConfigSerializeWrapper {
                data_version: DataVersion {
                    counter: version,
                    timestamp: 1,
                },
                topic_config_table: topics
                    .iter()
                    .map(|t| (t.to_string(), TopicConfig::new(*t, 4)))
                    .collect(),
            }),
            channel: Some(id as u64 + 100),
        }
    }

    #[test]
    fn master_registration_builds_routes_and_slaves_learn_the_master() {
        let mut r = RouteInfoManager::default();
        let now = Instant::now();
        r.register(reg("a:1", 0, &["TopicTest", "TBW102"], 1), now);
        let slave = r.register(reg("b:1", 2, &["TopicTest"], 1), now);
        assert_eq!(slave.master_addr.as_deref(), Some("a:1"));
        assert_eq!(slave.ha_server_addr.as_deref(), Some("a:1-ha"));
        let route = r.route("TopicTest").expect("route");
        assert_eq!(route.queue_datas.len(), 1);
        assert_eq!(route.queue_datas[0].write_queue_nums, 4);
        assert_eq!(route.broker_datas[0].broker_addrs.len(), 2);
        assert!(r.route("Unknown").is_none());
        assert_eq!(r.cluster_info().cluster_addr_table["RaftCluster"].len(), 1);
        assert_eq!(r.topics().len(), 2);
    }

    #[test]
    fn failover_moves_id_zero_and_expiry_removes_the_dead_master() {
        let mut r = RouteInfoManager::default();
        let t0 = Instant::now();
        r.register(reg("a:1", 0, &["T"], 1), t0);
        r.register(reg("b:1", 2, &["T"], 1), t0);
        // b wins the election and registers as master.
        let t1 = t0 + Duration::from_secs(60);
        r.register(reg("b:1", 0, &["T"], 2), t1);
        let route = r.route("T").expect("route");
        assert_eq!(
            route.broker_datas[0].broker_addrs,
            BTreeMap::from([(0, "b:1".to_string())])
        );
        // a never registers again and expires; b stays the master.
        let gone = r.scan_not_active(t0 + Duration::from_secs(125), Duration::from_secs(120));
        assert_eq!(gone, vec!["a:1".to_string()]);
        assert_eq!(
            r.route("T").expect("route").broker_datas[0].master_addr(),
            Some("b:1")
        );
        // b's connection closes: the whole group is gone, and so are its topics.
        r.on_channel_closed(100);
        assert!(r.route("T").is_none());
        assert!(r.cluster_info().broker_addr_table.is_empty());
    }
}

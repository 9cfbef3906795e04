//! From a topic route to the queues a client may use: writable queues of broker groups that
//! have a master (producer), readable queues (consumer rebalance). Pure functions of the
//! route, so they are tested without a network.

use std::collections::BTreeSet;

use crate::protocol::body::{MessageQueue, TopicRouteData};
use crate::protocol::topic::perm;

/// The queues a producer may send to: each writable queue of each broker group whose route
/// names a master (brokerId 0), ordered by broker name then queue id, as Java's
/// `topicRouteData2TopicPublishInfo`. `cap` limits each group's queue count (the default
/// topic's route is capped at `defaultTopicQueueNums`).
pub fn publish_queues(topic: &str, route: &TopicRouteData, cap: Option<u32>) -> Vec<MessageQueue> {
    let mut datas: Vec<_> = route.queue_datas.iter().collect();
    datas.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    let mut out = Vec::new();
    for qd in datas {
        if qd.perm & perm::WRITE == 0 {
            continue;
        }
        let has_master = route
            .broker_datas
            .iter()
            .any(|bd| bd.broker_name == qd.broker_name && bd.master_addr().is_some());
        if !has_master {
            continue;
        }
        let n = cap.map_or(qd.write_queue_nums, |c| qd.write_queue_nums.min(c));
        for q in 0..n {
            out.push(MessageQueue::new(topic, qd.broker_name.clone(), q as i32));
        }
    }
    out
}

/// The queues a consumer group shares: each readable queue of each broker group, sorted
/// (Java's `topicRouteData2TopicSubscribeInfo`, then sorted for allocation).
pub fn subscribe_queues(topic: &str, route: &TopicRouteData) -> Vec<MessageQueue> {
    let mut out = BTreeSet::new();
    for qd in &route.queue_datas {
        if qd.perm & perm::READ == 0 {
            continue;
        }
        for q in 0..qd.read_queue_nums {
            out.insert(MessageQueue::new(topic, qd.broker_name.clone(), q as i32));
        }
    }
    out.into_iter().collect()
}

/// Picks the queue after `counter` round-robin, preferring a broker group other than
/// `avoid` (the one the last attempt failed on) when there is one — Java's
/// `selectOneMessageQueue(lastBrokerName)` without latency tracking.
pub fn select_queue<'a>(
    queues: &'a [MessageQueue],
    counter: usize,
    avoid: Option<&str>,
) -> Option<&'a MessageQueue> {
    if queues.is_empty() {
        return None;
    }
    if let Some(avoid) = avoid {
        for i in 0..queues.len() {
            let mq = &queues[(counter + i) % queues.len()];
            if mq.broker_name != avoid {
                return Some(mq);
            }
        }
    }
    queues.get(counter % queues.len())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::protocol::body::{BrokerData, QueueData};

    fn route() -> TopicRouteData {
        let bd = |name: &str, ids: &[i64]| BrokerData {
            broker_addrs: ids
                .iter()
                .map(|i| (*i, format!("127.0.0.1:{}", 10911 + i)))
                .collect::<BTreeMap<_, _>>(),
            broker_name: name.into(),
            cluster: "C".into(),
            ..BrokerData::default()
        };
        let qd = |name: &str, perm: u32, r: u32, w: u32| QueueData {
            broker_name: name.into(),
            perm,
            read_queue_nums: r,
            topic_sys_flag: 0,
            write_queue_nums: w,
        };
        TopicRouteData {
            broker_datas: vec![bd("b", &[0, 1]), bd("a", &[0]), bd("c", &[1, 2])],
            queue_datas: vec![qd("b", 6, 2, 3), qd("a", 6, 2, 2), qd("c", 6, 1, 1)],
            ..TopicRouteData::default()
        }
    }

    #[test]
    fn publish_skips_groups_without_master() {
        let qs = publish_queues("T", &route(), None);
        let names: Vec<(String, i32)> = qs
            .iter()
            .map(|q| (q.broker_name.clone(), q.queue_id))
            .collect();
        assert_eq!(
            names,
            vec![
                ("a".into(), 0),
                ("a".into(), 1),
                ("b".into(), 0),
                ("b".into(), 1),
                ("b".into(), 2)
            ]
        );
        assert_eq!(publish_queues("T", &route(), Some(1)).len(), 2);
    }

    #[test]
    fn subscribe_takes_every_readable_queue_sorted() {
        let qs = subscribe_queues("T", &route());
        assert_eq!(qs.len(), 5);
        assert_eq!(qs[0], MessageQueue::new("T", "a", 0));
        assert_eq!(qs[4], MessageQueue::new("T", "c", 0));
        let mut r = route();
        r.queue_datas[0].perm = 2;
        assert_eq!(subscribe_queues("T", &r).len(), 3);
    }

    #[test]
    fn selection_round_robins_and_avoids_the_failed_group() {
        let qs = publish_queues("T", &route(), None);
        assert_eq!(select_queue(&qs, 0, None), Some(&qs[0]));
        assert_eq!(select_queue(&qs, 6, None), Some(&qs[1]));
        assert_eq!(
            select_queue(&qs, 0, Some("a")).map(|q| q.broker_name.as_str()),
            Some("b")
        );
        let only_a = &qs[..2];
        assert_eq!(select_queue(only_a, 1, Some("a")), Some(&qs[1]));
        assert_eq!(select_queue(&[], 0, None), None);
    }
}

//! What each request code needs (RocketMQ 4.9's `PlainAccessResource.parse`): the topics and
//! groups it touches and the permission it needs on each. A group is checked as its retry topic
//! `%RETRY%group`, which is also how a send to a retry topic is checked (against the group,
//! with SUB), so a consumer that may consume a group may send its messages back.
//!
//! Codes not listed need no resource permission: a valid signature is enough, as in RocketMQ
//! (admin codes are checked separately, see [`super::permission::needs_admin`]). One addition
//! to RocketMQ's table: SEND_BATCH_MESSAGE needs PUB on its topic like the other sends, so a
//! DENY topic refuses batches too.

use super::permission::Perm;
use crate::protocol::body::{parse_fastjson, HeartbeatData};
use crate::protocol::topic_names::{retry_group, retry_topic};
use crate::remoting::codes::request_code as rc;
use crate::remoting::RemotingCommand;

/// A resource (topic or `%RETRY%group`) and the permission needed on it.
pub type Needed = Vec<(String, Perm)>;

/// The resources `req` needs. `Err` when the request cannot be read well enough to know (a
/// malformed heartbeat body): such a request is refused, never let through unchecked.
pub fn needed(req: &RemotingCommand) -> Result<Needed, String> {
    let field = |k: &str| req.ext_fields.get(k);
    let mut out: Needed = Vec::new();
    let group = |out: &mut Needed, g: Option<&str>| {
        if let Some(g) = g {
            out.push((retry_topic(g), Perm::SUB));
        }
    };
    let send = |out: &mut Needed, topic: Option<&str>, producer_group: Option<&str>| {
        if let Some(t) = topic {
            if retry_group(t).is_some() {
                // A send to a retry topic is checked against the group it names.
                group(out, producer_group.or(retry_group(t)));
            } else {
                out.push((t.to_string(), Perm::PUB));
            }
        }
    };
    match req.code {
        rc::SEND_MESSAGE => send(&mut out, field("topic"), field("producerGroup")),
        rc::SEND_MESSAGE_V2 | rc::SEND_BATCH_MESSAGE => send(&mut out, field("b"), field("a")),
        rc::CONSUMER_SEND_MSG_BACK => {
            if let Some(g) = field("group") {
                out.push((retry_topic(g), Perm::SUB));
            }
            if let Some(t) = field("originTopic") {
                out.push((t.to_string(), Perm::PUB));
            }
        }
        rc::PULL_MESSAGE => {
            if let Some(t) = field("topic") {
                out.push((t.to_string(), Perm::SUB));
            }
            if let Some(g) = field("consumerGroup") {
                out.push((retry_topic(g), Perm::SUB));
            }
        }
        rc::QUERY_MESSAGE => {
            if let Some(t) = field("topic") {
                out.push((t.to_string(), Perm::SUB));
            }
        }
        rc::HEART_BEAT => {
            let hb: HeartbeatData =
                parse_fastjson(&req.body).map_err(|e| format!("bad HeartbeatData: {e}"))?;
            for consumer in &hb.consumer_data_set {
                out.push((retry_topic(&consumer.group_name), Perm::SUB));
                for sub in &consumer.subscription_data_set {
                    out.push((sub.topic.clone(), Perm::SUB));
                }
            }
        }
        rc::UNREGISTER_CLIENT | rc::GET_CONSUMER_LIST_BY_GROUP => {
            if let Some(g) = field("consumerGroup") {
                out.push((retry_topic(g), Perm::SUB));
            }
        }
        rc::UPDATE_CONSUMER_OFFSET => {
            if let Some(g) = field("consumerGroup") {
                out.push((retry_topic(g), Perm::SUB));
            }
            if let Some(t) = field("topic") {
                out.push((t.to_string(), Perm::SUB));
            }
        }
        _ => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn req(code: i32, fields: &[(&str, &str)]) -> RemotingCommand {
        let mut r = RemotingCommand::request(code);
        for (k, v) in fields {
            r.ext_fields.insert(k.to_string(), v);
        }
        r
    }

    #[test]
    fn sends_need_pub_and_retry_sends_need_the_group() {
        assert_eq!(
            needed(&req(rc::SEND_MESSAGE_V2, &[("a", "PG"), ("b", "T")])).unwrap(),
            vec![("T".to_string(), Perm::PUB)]
        );
        assert_eq!(
            needed(&req(rc::SEND_BATCH_MESSAGE, &[("b", "T")])).unwrap(),
            vec![("T".to_string(), Perm::PUB)]
        );
        assert_eq!(
            needed(&req(
                rc::SEND_MESSAGE,
                &[("topic", "%RETRY%G"), ("producerGroup", "G")]
            ))
            .unwrap(),
            vec![("%RETRY%G".to_string(), Perm::SUB)]
        );
    }

    #[test]
    fn pulls_and_offsets_need_sub_on_topic_and_group() {
        let pull = needed(&req(
            rc::PULL_MESSAGE,
            &[("topic", "T"), ("consumerGroup", "G")],
        ))
        .unwrap();
        assert_eq!(
            pull,
            vec![("T".into(), Perm::SUB), ("%RETRY%G".into(), Perm::SUB)]
        );
        let commit = needed(&req(
            rc::UPDATE_CONSUMER_OFFSET,
            &[("topic", "T"), ("consumerGroup", "G")],
        ))
        .unwrap();
        assert_eq!(
            commit,
            vec![("%RETRY%G".into(), Perm::SUB), ("T".into(), Perm::SUB)]
        );
        assert!(needed(&req(rc::GET_ROUTEINFO_BY_TOPIC, &[("topic", "T")]))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn heartbeat_needs_each_group_and_subscription_and_bad_bodies_are_refused() {
        let mut hb = req(rc::HEART_BEAT, &[]);
        hb.body = Bytes::from_static(
            br#"{"clientID":"c","consumerDataSet":[{"groupName":"G","subscriptionDataSet":[{"topic":"T","subString":"*"}]}],"producerDataSet":[]}"#,
        );
        assert_eq!(
            needed(&hb).unwrap(),
            vec![("%RETRY%G".into(), Perm::SUB), ("T".into(), Perm::SUB)]
        );
        hb.body = Bytes::from_static(b"{not json");
        assert!(needed(&hb).is_err());
    }
}

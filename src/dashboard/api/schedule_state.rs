//! A message's scheduled-delivery state, for the Messages page, read from its own properties:
//! waiting in a schedule topic (delay level, or delivery time) for its real topic, delivered
//! from a delivery time, or a consumer's retry.

use serde_json::Value;

use crate::message::properties as keys;
use crate::message::MessageExt;
use crate::protocol::topic_names::SCHEDULE_TOPIC;
use crate::raft::schedule::{TIMER_OUT_MS, TIMER_TOPIC};

/// `{"state", "detail", "dueMs"}`, or null for a message that was never delayed.
pub fn delay_state(m: &MessageExt) -> Value {
    let p = &m.properties;
    let real = p.get(keys::REAL_TOPIC).unwrap_or("?");
    let due = p.get(TIMER_OUT_MS).and_then(|v| v.parse::<i64>().ok());
    let (state, detail) = if m.topic == SCHEDULE_TOPIC {
        let level = p.get(keys::DELAY).unwrap_or("?");
        ("waiting", format!("delay level {level}, for {real}"))
    } else if m.topic == TIMER_TOPIC {
        ("waiting", format!("delivery time, for {real}"))
    } else if due.is_some() {
        ("delivered", "at its delivery time".to_string())
    } else if p.get(keys::RETRY_TOPIC).is_some() && m.reconsume_times > 0 {
        (
            "retry",
            format!(
                "retry {} of a message to {}",
                m.reconsume_times,
                p.get(keys::RETRY_TOPIC).unwrap_or("?")
            ),
        )
    } else {
        return Value::Null;
    };
    serde_json::json!({"state": state, "detail": detail, "dueMs": due})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageProperties;

    fn msg(topic: &str, props: &str, reconsume: i32) -> MessageExt {
        MessageExt {
            topic: topic.into(),
            reconsume_times: reconsume,
            properties: MessageProperties::decode(props),
            ..MessageExt::default()
        }
    }

    #[test]
    fn waiting_delivered_retry_or_nothing() {
        let w = delay_state(&msg(SCHEDULE_TOPIC, "DELAY\u{1}3\u{2}REAL_TOPIC\u{1}T", 0));
        assert_eq!(w["state"], "waiting");
        assert_eq!(w["detail"], "delay level 3, for T");
        let t = delay_state(&msg(
            TIMER_TOPIC,
            "TIMER_OUT_MS\u{1}99\u{2}REAL_TOPIC\u{1}T",
            0,
        ));
        assert_eq!(t["dueMs"], 99);
        let d = delay_state(&msg("T", "TIMER_OUT_MS\u{1}99", 0));
        assert_eq!(d["state"], "delivered");
        let r = delay_state(&msg("%RETRY%G", "RETRY_TOPIC\u{1}T", 2));
        assert_eq!(r["state"], "retry");
        assert!(delay_state(&msg("T", "KEYS\u{1}k", 0)).is_null());
    }
}

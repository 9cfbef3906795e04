//! Turning a message that asks to wait into its scheduled form, and back into its real form
//! when it falls due. Pure functions of the message, the config and a time given by the
//! caller.
//!
//! - A 4.x delay level (`DELAY` = n > 0; above the last level means the last, as RocketMQ
//!   has it) goes to `SCHEDULE_TOPIC_XXXX` queue n - 1 with `REAL_TOPIC` / `REAL_QID`.
//! - A 5.x delivery time (`TIMER_DELIVER_MS` absolute, `TIMER_DELAY_SEC` / `TIMER_DELAY_MS`
//!   relative, or ONS's `__STARTDELIVERTIME` absolute) goes to `rmq_sys_wheel_timer` queue 0
//!   with `REAL_TOPIC` / `REAL_QID` and `TIMER_OUT_MS` = the due time. A time already past is
//!   stored in its topic at once; one beyond `timerMaxDelaySec` is MESSAGE_ILLEGAL.
//! - Transactional half messages and rollbacks are never delayed (RocketMQ delays only
//!   ordinary and committed messages).

use crate::message::properties as keys;
use crate::message::sysflag::{
    TRANSACTION_COMMIT_TYPE, TRANSACTION_NOT_TYPE, TRANSACTION_TYPE_MASK,
};
use crate::message::MessageExt;
use crate::protocol::topic_names::SCHEDULE_TOPIC;
use crate::raft::schedule::{TIMER_OUT_MS, TIMER_TOPIC};

/// RocketMQ 5's delivery-time properties.
pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
/// Alibaba Cloud ONS clients' absolute delivery time.
pub const START_DELIVER_TIME: &str = "__STARTDELIVERTIME";

/// Why a message cannot be scheduled: answered MESSAGE_ILLEGAL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// RocketMQ 5's answer (`WHEEL_TIMER_MSG_ILLEGAL`), word for word.
    #[error("timer message illegal, the delay time should not be bigger than the max delay {max_ms}ms; or if set del msg, the delay time should be bigger than the current time")]
    TooFar { max_ms: u64 },
    #[error("the {key} property {value:?} is not a whole number of milliseconds or seconds")]
    BadTime { key: &'static str, value: String },
    #[error(transparent)]
    Property(#[from] crate::message::MessageError),
}

/// True if a properties string may ask for a delay: the cheap test on the send path, before
/// any decoding.
pub fn may_be_delayed(properties: &str) -> bool {
    properties.contains("DELAY\u{1}")
        || properties.contains("TIMER_")
        || properties.contains(START_DELIVER_TIME)
}

/// The delivery time a message asks for, if any, ms since the epoch.
fn delivery_time(msg: &MessageExt, now_ms: u64) -> Result<Option<u64>, ScheduleError> {
    let read = |key: &'static str| -> Result<Option<u64>, ScheduleError> {
        match msg.properties.get(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(|n| Some(n.max(0) as u64))
                .map_err(|_| ScheduleError::BadTime {
                    key,
                    value: v.to_string(),
                }),
        }
    };
    if let Some(at) = read(TIMER_DELIVER_MS)? {
        return Ok(Some(at));
    }
    if let Some(sec) = read(TIMER_DELAY_SEC)? {
        return Ok(Some(now_ms.saturating_add(sec.saturating_mul(1000))));
    }
    if let Some(ms) = read(TIMER_DELAY_MS)? {
        return Ok(Some(now_ms.saturating_add(ms)));
    }
    read(START_DELIVER_TIME)
}

/// Re-addresses `msg` (about to be stored at `now_ms`) to the schedule if it asks to wait;
/// returns whether it did.
pub fn divert(
    msg: &mut MessageExt,
    levels: &[u64],
    timer_max_delay_sec: u64,
    now_ms: u64,
) -> Result<bool, ScheduleError> {
    let tran = msg.sys_flag & TRANSACTION_TYPE_MASK;
    if tran != TRANSACTION_NOT_TYPE && tran != TRANSACTION_COMMIT_TYPE {
        return Ok(false);
    }
    if let Some(at) = delivery_time(msg, now_ms)? {
        let max_ms = timer_max_delay_sec.saturating_mul(1000);
        if at > now_ms.saturating_add(max_ms) {
            return Err(ScheduleError::TooFar { max_ms });
        }
        if at <= now_ms {
            return Ok(false);
        }
        park(msg, TIMER_TOPIC, 0)?;
        msg.properties.insert(TIMER_OUT_MS, at.to_string())?;
        return Ok(true);
    }
    let level = msg
        .properties
        .get(keys::DELAY)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0);
    if level <= 0 || levels.is_empty() {
        return Ok(false);
    }
    let level = level.min(levels.len() as i64);
    msg.properties.insert(keys::DELAY, level.to_string())?;
    park(msg, SCHEDULE_TOPIC, (level - 1) as i32)?;
    Ok(true)
}

fn park(msg: &mut MessageExt, topic: &str, queue_id: i32) -> Result<(), ScheduleError> {
    msg.properties
        .insert(keys::REAL_TOPIC, std::mem::take(&mut msg.topic))?;
    msg.properties
        .insert(keys::REAL_QID, msg.queue_id.to_string())?;
    msg.topic = topic.to_string();
    msg.queue_id = queue_id;
    Ok(())
}

/// The message a due scheduled message becomes: its real topic and queue back, the schedule's
/// properties removed (its UNIQ_KEY, and so the client's msgId, kept). `None` if it does not
/// name its real topic (it was never diverted, e.g. sent straight to the schedule topic).
pub fn restore(mut msg: MessageExt) -> Option<MessageExt> {
    let topic = msg.properties.remove(keys::REAL_TOPIC)?;
    let queue_id = msg
        .properties
        .remove(keys::REAL_QID)
        .and_then(|q| q.parse::<i32>().ok())
        .filter(|q| *q >= 0)
        .unwrap_or(0);
    msg.properties.remove(keys::DELAY);
    msg.topic = topic;
    msg.queue_id = queue_id;
    Some(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageProperties;

    const LEVELS: [u64; 3] = [1_000, 5_000, 10_000];

    fn msg(props: &str) -> MessageExt {
        MessageExt {
            topic: "TopicTest".into(),
            queue_id: 3,
            properties: MessageProperties::decode(props),
            ..MessageExt::default()
        }
    }

    #[test]
    fn a_delay_level_goes_to_its_schedule_queue_and_comes_back() {
        let mut m = msg("DELAY\u{1}2\u{2}UNIQ_KEY\u{1}U1");
        assert!(divert(&mut m, &LEVELS, 10, 1_000).unwrap());
        assert_eq!(m.topic, SCHEDULE_TOPIC);
        assert_eq!(m.queue_id, 1);
        assert_eq!(m.properties.get(keys::REAL_TOPIC), Some("TopicTest"));
        assert_eq!(m.properties.get(keys::REAL_QID), Some("3"));
        let back = restore(m).unwrap();
        assert_eq!((back.topic.as_str(), back.queue_id), ("TopicTest", 3));
        assert_eq!(back.properties.get(keys::DELAY), None);
        assert_eq!(back.properties.get(keys::REAL_TOPIC), None);
        assert_eq!(back.properties.uniq_key(), Some("U1"));
    }

    #[test]
    fn a_level_above_the_last_waits_the_last_and_zero_or_junk_does_not_wait() {
        let mut m = msg("DELAY\u{1}40");
        assert!(divert(&mut m, &LEVELS, 10, 0).unwrap());
        assert_eq!(m.queue_id, 2);
        assert_eq!(m.properties.get(keys::DELAY), Some("3"));
        for props in ["DELAY\u{1}0", "DELAY\u{1}-1", "DELAY\u{1}x", ""] {
            let mut m = msg(props);
            assert!(!divert(&mut m, &LEVELS, 10, 0).unwrap(), "{props:?}");
            assert_eq!(m.topic, "TopicTest");
        }
    }

    #[test]
    fn delivery_times_absolute_relative_past_and_too_far() {
        let now = 1_000_000;
        let mut m = msg("TIMER_DELIVER_MS\u{1}1003000");
        assert!(divert(&mut m, &LEVELS, 10, now).unwrap());
        assert_eq!(m.topic, TIMER_TOPIC);
        assert_eq!(m.properties.get(TIMER_OUT_MS), Some("1003000"));
        let mut m = msg("TIMER_DELAY_SEC\u{1}3");
        divert(&mut m, &LEVELS, 10, now).unwrap();
        assert_eq!(m.properties.get(TIMER_OUT_MS), Some("1003000"));
        let mut m = msg("TIMER_DELAY_MS\u{1}250");
        divert(&mut m, &LEVELS, 10, now).unwrap();
        assert_eq!(m.properties.get(TIMER_OUT_MS), Some("1000250"));
        let mut m = msg("__STARTDELIVERTIME\u{1}1000500");
        divert(&mut m, &LEVELS, 10, now).unwrap();
        assert_eq!(m.properties.get(TIMER_OUT_MS), Some("1000500"));
        // Past: stored in its topic at once.
        let mut m = msg("TIMER_DELIVER_MS\u{1}5");
        assert!(!divert(&mut m, &LEVELS, 10, now).unwrap());
        assert_eq!(m.topic, "TopicTest");
        // Beyond timerMaxDelaySec (10 s here).
        let mut m = msg("TIMER_DELAY_SEC\u{1}11");
        assert_eq!(
            divert(&mut m, &LEVELS, 10, now),
            Err(ScheduleError::TooFar { max_ms: 10_000 })
        );
        let mut m = msg("TIMER_DELIVER_MS\u{1}soon");
        assert!(matches!(
            divert(&mut m, &LEVELS, 10, now),
            Err(ScheduleError::BadTime { .. })
        ));
    }

    #[test]
    fn half_messages_are_not_delayed() {
        let mut m = msg("DELAY\u{1}2");
        m.sys_flag = crate::message::sysflag::TRANSACTION_PREPARED_TYPE;
        assert!(!divert(&mut m, &LEVELS, 10, 0).unwrap());
        assert!(may_be_delayed("a\u{1}b\u{2}DELAY\u{1}3"));
        assert!(may_be_delayed("TIMER_DELAY_SEC\u{1}3"));
        assert!(!may_be_delayed("KEYS\u{1}DELAYED"));
    }

    #[test]
    fn a_message_without_its_real_topic_cannot_be_restored() {
        assert!(restore(msg("DELAY\u{1}2")).is_none());
    }
}

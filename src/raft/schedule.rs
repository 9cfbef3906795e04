//! The replicated schedule: which stored messages wait for a delay level or a delivery time,
//! kept in the state machine (and so in every snapshot), never in a side file or in the
//! leader's memory.
//!
//! A delayed message is stored like any other, in `SCHEDULE_TOPIC_XXXX` (queue = level - 1) or,
//! for a 5.x delivery time, in `rmq_sys_wheel_timer` queue 0. When the state machine applies
//! it, it also records it here as *pending*, keyed by its lane (the level's queue, or the timer
//! lane), the time its wait counts from, and its queue offset. The wait itself is the broker's
//! config (`messageDelayLevel`) and is applied by whoever asks what is due, so this state is a
//! function of the log's bytes alone and every node holds the same.
//!
//! Only the leader fires: for each due message it proposes one [`Delivery`] entry that carries
//! the message re-built for its real topic. Applying it removes the slot from the pending set
//! *and* stores the message, in the same entry; a delivery whose slot is no longer pending (the
//! old leader's proposal committed, and the new leader proposed the same slot again) is ignored
//! on every node alike. So each scheduled message is delivered exactly once across leader
//! changes, and a new leader (or a node restarted long after) fires whatever came due.
//!
//! This module must never read a clock: what is due is the caller's question.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::message::StoredMessageView;
use crate::protocol::topic_names::SCHEDULE_TOPIC;

/// Where RocketMQ 5 keeps messages with a delivery time (`TimerMessageStore.TIMER_TOPIC`).
pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";
/// The property holding a timer message's due time, ms since the epoch (RocketMQ 5's).
pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
/// The lane of 5.x delivery-time messages; delay level `n` is lane `n - 1`.
pub const TIMER_LANE: u32 = u32::MAX;

/// Bytes before the message in a delivery entry's payload: lane u32, at u64, queue offset u64,
/// big-endian.
pub const DELIVERY_HEADER_LEN: usize = 20;

/// One waiting message: which lane, the time its wait counts from (the store time for a delay
/// level; the due time itself for the timer lane), and its offset in the schedule queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ScheduleSlot {
    pub lane: u32,
    pub at_ms: u64,
    pub queue_offset: u64,
}

/// Where a waiting message's bytes are in the CommitLog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub commit_log_offset: u64,
    pub size: u32,
}

/// A due message, re-built for its real topic by the leader: the Raft command that stores it
/// and retires its slot together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub slot: ScheduleSlot,
    /// The message in store format, topic and queue already the real ones.
    #[serde(with = "super::frame_bytes")]
    pub message: Bytes,
}

impl Delivery {
    /// The entry payload: the header, then the message (which therefore sits at
    /// `payload offset + DELIVERY_HEADER_LEN` in the CommitLog).
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(DELIVERY_HEADER_LEN + self.message.len());
        b.put_u32(self.slot.lane);
        b.put_u64(self.slot.at_ms);
        b.put_u64(self.slot.queue_offset);
        b.extend_from_slice(&self.message);
        b.freeze()
    }

    /// The payload [`encode`](Self::encode) wrote; `None` if it is shorter than the header.
    pub fn decode(payload: &Bytes) -> Option<Delivery> {
        if payload.len() < DELIVERY_HEADER_LEN {
            return None;
        }
        let u64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&payload[at..at + 8]);
            u64::from_be_bytes(a)
        };
        let mut lane = [0u8; 4];
        lane.copy_from_slice(&payload[0..4]);
        Some(Delivery {
            slot: ScheduleSlot {
                lane: u32::from_be_bytes(lane),
                at_ms: u64_at(4),
                queue_offset: u64_at(12),
            },
            message: payload.slice(DELIVERY_HEADER_LEN..),
        })
    }

    pub fn encoded_len(&self) -> u64 {
        (DELIVERY_HEADER_LEN + self.message.len()) as u64
    }
}

/// Every pending scheduled message, by lane, in the order they fall due within the lane.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleState {
    lanes: BTreeMap<u32, BTreeMap<(u64, u64), Pending>>,
}

/// The lane a stored message waits in, if its topic is a schedule topic.
pub fn lane_of(topic: &str, queue_id: u32) -> Option<u32> {
    if topic == SCHEDULE_TOPIC {
        Some(queue_id)
    } else if topic == TIMER_TOPIC {
        Some(TIMER_LANE)
    } else {
        None
    }
}

/// The wait of a lane: its level's delay (levels above the last wait the last, as RocketMQ's
/// do), none for the timer lane, whose `at` is already the due time.
pub fn lane_delay_ms(lane: u32, levels: &[u64]) -> u64 {
    if lane == TIMER_LANE {
        return 0;
    }
    levels
        .get(lane as usize)
        .or(levels.last())
        .copied()
        .unwrap_or(0)
}

/// A lane's name for metrics and the dashboard: `level3` (1-based, as clients name levels) or
/// `timer`.
pub fn lane_name(lane: u32) -> String {
    if lane == TIMER_LANE {
        "timer".to_string()
    } else {
        format!("level{}", lane as u64 + 1)
    }
}

impl ScheduleState {
    /// Records a message just applied to a schedule topic; anything else is ignored.
    pub fn on_put(
        &mut self,
        view: &StoredMessageView<'_>,
        queue_offset: u64,
        commit_log_offset: u64,
        size: u32,
    ) {
        let Some(lane) = lane_of(view.topic(), view.queue_id().max(0) as u32) else {
            return;
        };
        let store = view.store_timestamp().max(0) as u64;
        let at_ms = if lane == TIMER_LANE {
            view.property(TIMER_OUT_MS)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(store)
        } else {
            store
        };
        self.lanes.entry(lane).or_default().insert(
            (at_ms, queue_offset),
            Pending {
                commit_log_offset,
                size,
            },
        );
    }

    /// Retires a slot; `None` if it is not pending (already delivered, or never scheduled).
    pub fn take(&mut self, slot: &ScheduleSlot) -> Option<Pending> {
        let lane = self.lanes.get_mut(&slot.lane)?;
        let p = lane.remove(&(slot.at_ms, slot.queue_offset));
        if lane.is_empty() {
            self.lanes.remove(&slot.lane);
        }
        p
    }

    /// Up to `limit` slots due at `now_ms`, earliest first within each lane.
    pub fn due(&self, now_ms: u64, levels: &[u64], limit: usize) -> Vec<(ScheduleSlot, Pending)> {
        let mut out = Vec::new();
        for (&lane, entries) in &self.lanes {
            let delay = lane_delay_ms(lane, levels);
            for (&(at_ms, queue_offset), &p) in entries {
                if out.len() >= limit || at_ms.saturating_add(delay) > now_ms {
                    break;
                }
                out.push((
                    ScheduleSlot {
                        lane,
                        at_ms,
                        queue_offset,
                    },
                    p,
                ));
            }
        }
        out
    }

    /// When the next pending message falls due, if any is pending.
    pub fn next_due(&self, levels: &[u64]) -> Option<u64> {
        self.lanes
            .iter()
            .filter_map(|(&lane, entries)| {
                let (&(at, _), _) = entries.iter().next()?;
                Some(at.saturating_add(lane_delay_ms(lane, levels)))
            })
            .min()
    }

    /// Pending messages per lane (lanes with none are left out).
    pub fn backlog(&self) -> Vec<(u32, usize)> {
        self.lanes.iter().map(|(&l, e)| (l, e.len())).collect()
    }

    /// The due time of the pending message stored at `commit_log_offset`, if it is pending.
    pub fn due_of(&self, commit_log_offset: u64, levels: &[u64]) -> Option<u64> {
        self.lanes.iter().find_map(|(&lane, entries)| {
            entries.iter().find_map(|(&(at, _), p)| {
                (p.commit_log_offset == commit_log_offset)
                    .then(|| at.saturating_add(lane_delay_ms(lane, levels)))
            })
        })
    }

    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{encode_stored, MessageExt, MessageProperties};

    fn stored(topic: &str, queue_id: i32, store_ts: i64, props: &str) -> Bytes {
        encode_stored(&MessageExt {
            topic: topic.into(),
            queue_id,
            store_timestamp: store_ts,
            body: Bytes::from_static(b"x"),
            properties: MessageProperties::decode(props),
            ..MessageExt::default()
        })
        .unwrap()
    }

    fn put(s: &mut ScheduleState, bytes: &Bytes, qoff: u64, off: u64) {
        let view = StoredMessageView::parse(bytes).unwrap();
        s.on_put(&view, qoff, off, bytes.len() as u32);
    }

    #[test]
    fn level_messages_fall_due_after_their_levels_wait_and_others_are_ignored() {
        let levels = [1_000, 5_000, 10_000];
        let mut s = ScheduleState::default();
        put(&mut s, &stored("TopicTest", 0, 100, ""), 0, 10);
        assert!(s.is_empty(), "an ordinary topic is not scheduled");
        put(
            &mut s,
            &stored(SCHEDULE_TOPIC, 1, 100, "DELAY\u{1}2"),
            0,
            20,
        );
        put(
            &mut s,
            &stored(SCHEDULE_TOPIC, 1, 200, "DELAY\u{1}2"),
            1,
            30,
        );
        // A queue beyond the configured levels waits the last level.
        put(
            &mut s,
            &stored(SCHEDULE_TOPIC, 7, 100, "DELAY\u{1}8"),
            0,
            40,
        );
        assert_eq!(s.next_due(&levels), Some(5_100));
        assert!(s.due(5_099, &levels, 10).is_empty());
        let due = s.due(5_150, &levels, 10);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1.commit_log_offset, 20);
        assert_eq!(s.due(10_100, &levels, 10).len(), 3);
        assert_eq!(s.due(10_100, &levels, 2).len(), 2, "limit honoured");
        assert_eq!(s.due_of(40, &levels), Some(10_100));
        assert_eq!(s.backlog(), vec![(1, 2), (7, 1)]);
    }

    #[test]
    fn a_slot_is_taken_once() {
        let mut s = ScheduleState::default();
        put(&mut s, &stored(SCHEDULE_TOPIC, 0, 100, ""), 0, 20);
        let (slot, p) = s.due(u64::MAX, &[1_000], 10)[0];
        assert_eq!(s.take(&slot), Some(p));
        assert_eq!(
            s.take(&slot),
            None,
            "a second delivery of the slot is ignored"
        );
        assert!(s.is_empty());
    }

    #[test]
    fn timer_messages_fall_due_at_timer_out_ms_in_due_order() {
        let mut s = ScheduleState::default();
        put(
            &mut s,
            &stored(TIMER_TOPIC, 0, 100, "TIMER_OUT_MS\u{1}9000"),
            0,
            20,
        );
        put(
            &mut s,
            &stored(TIMER_TOPIC, 0, 150, "TIMER_OUT_MS\u{1}3000"),
            1,
            30,
        );
        assert_eq!(s.next_due(&[]), Some(3_000));
        let due = s.due(3_000, &[], 10);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0.queue_offset, 1);
        assert_eq!(s.backlog(), vec![(TIMER_LANE, 2)]);
        assert_eq!(lane_name(TIMER_LANE), "timer");
        assert_eq!(lane_name(2), "level3");
    }

    #[test]
    fn a_delivery_round_trips_through_its_payload() {
        let d = Delivery {
            slot: ScheduleSlot {
                lane: TIMER_LANE,
                at_ms: 1_700_000_000_123,
                queue_offset: 42,
            },
            message: Bytes::from_static(b"message bytes"),
        };
        let payload = d.encode();
        assert_eq!(payload.len() as u64, d.encoded_len());
        assert_eq!(Delivery::decode(&payload), Some(d));
        assert_eq!(Delivery::decode(&Bytes::from_static(b"short")), None);
    }
}

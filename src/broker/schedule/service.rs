//! The send-path hook that diverts delayed messages, and the leader's firing task.
//!
//! The firing task wakes when the next pending message falls due (at most every
//! [`IDLE_WAIT`], so a message scheduled meanwhile or a new leadership is noticed), asks the
//! replicated schedule what is due, and proposes one `Deliver` entry per due slot: the stored
//! message read back from the CommitLog, re-addressed to its real topic, stamped with a new
//! store time. The entries go through the write batcher like sends, so a thousand messages
//! falling due together commit in a few entries. A proposal that fails (leadership lost, no
//! quorum) is simply retried at the next wake-up by whoever leads then; one that commits twice
//! is ignored by the state machine the second time.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::watch;

use super::divert::{divert, may_be_delayed, restore};
use crate::broker::context::BrokerContext;
use crate::broker::message_store::message_at;
use crate::message::{decode_stored, encode_stored_into, MessageExt};
use crate::metrics::names::{SCHEDULE_DELIVERED, SCHEDULE_LATENESS};
use crate::protocol::topic_names::{DLQ_PREFIX, SCHEDULE_TOPIC};
use crate::raft::schedule::{lane_name, Delivery, Pending, ScheduleSlot, TIMER_TOPIC};
use crate::raft::{ApplyResult, LogCommand};
use crate::remoting::codes::response_code as code;
use crate::time::now_ms;

/// The longest the firing task sleeps.
const IDLE_WAIT: Duration = Duration::from_millis(50);
/// Slots proposed per wake-up at most; the rest follow at the next.
const MAX_PER_ROUND: usize = 4096;

/// The send path's hook: a single message that asks for a delay level or a delivery time is
/// re-encoded for its schedule topic. Sends straight to a schedule topic are refused, as
/// RocketMQ refuses them (`TopicValidator.isNotAllowedSendTopic`); a batch may not ask for a
/// delay (RocketMQ answers MESSAGE_ILLEGAL too). `Err` is (response code, remark).
pub fn divert_send(
    bc: &BrokerContext,
    topic: &str,
    properties: Option<&str>,
    bytes: Bytes,
    batch: bool,
) -> Result<Bytes, (i32, String)> {
    if topic == SCHEDULE_TOPIC || topic == TIMER_TOPIC {
        return Err((
            code::NO_PERMISSION,
            format!("Sending message to topic[{topic}] is forbidden."),
        ));
    }
    if !properties.is_some_and(may_be_delayed) {
        return Ok(bytes);
    }
    if batch {
        return Err((
            code::MESSAGE_ILLEGAL,
            "a batch message cannot carry a delay level or a delivery time".into(),
        ));
    }
    let (msg, _) = decode_stored(&bytes, false).map_err(|e| {
        (
            code::MESSAGE_ILLEGAL,
            format!("stored message unreadable: {e}"),
        )
    })?;
    // A retry past maxReconsumeTimes, routed to the dead-letter topic, is stored at once
    // (RocketMQ resets its delay level there).
    if msg.topic.starts_with(DLQ_PREFIX) {
        return Ok(bytes);
    }
    match schedule_message(bc, msg) {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Ok(bytes),
        Err(remark) => Err((code::MESSAGE_ILLEGAL, remark)),
    }
}

/// `msg` (store time already stamped) re-encoded for its schedule topic if it asks to wait;
/// `None` if it does not. `Err` is a MESSAGE_ILLEGAL remark.
pub fn schedule_message(bc: &BrokerContext, mut msg: MessageExt) -> Result<Option<Bytes>, String> {
    let now = msg.store_timestamp.max(0) as u64;
    let levels = &bc.cfg.message_delay_level;
    match divert(&mut msg, levels, bc.cfg.timer_max_delay_sec, now) {
        Ok(false) => Ok(None),
        Ok(true) => {
            let mut out = BytesMut::new();
            encode_stored_into(&msg, &mut out).map_err(|e| e.to_string())?;
            Ok(Some(out.freeze()))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The schedule's entries of GET_BROKER_RUNTIME_INFO (shown by the dashboard's node page):
/// RocketMQ's `scheduleMessageOffset_<level>` = `<delivered offset>,<max offset>` of each level's
/// queue in `SCHEDULE_TOPIC_XXXX` (delivered = max - still waiting, since a new leader may
/// deliver out of queue order), and LedgerMQ's `scheduleBacklog_<lane>` = messages waiting.
pub fn runtime_entries(bc: &BrokerContext) -> Vec<(String, String)> {
    let state = bc.core.broker_state();
    let backlog: std::collections::BTreeMap<u32, usize> =
        state.with_schedule(|s| s.backlog()).into_iter().collect();
    let mut out = Vec::new();
    for lane in 0..bc.cfg.message_delay_level.len() as u32 {
        let waiting = backlog.get(&lane).copied().unwrap_or(0) as u64;
        let max = state
            .consume_queue(SCHEDULE_TOPIC, lane)
            .map_or(0, |q| q.max_offset());
        out.push((
            format!("scheduleMessageOffset_{}", lane + 1),
            format!("{},{max}", max.saturating_sub(waiting)),
        ));
        out.push((
            format!("scheduleBacklog_{}", lane_name(lane)),
            waiting.to_string(),
        ));
    }
    let timer = backlog
        .get(&crate::raft::schedule::TIMER_LANE)
        .copied()
        .unwrap_or(0);
    out.push(("scheduleBacklog_timer".into(), timer.to_string()));
    out
}

/// The firing task of one group member: runs until shutdown, fires only while this node leads.
pub async fn run(bc: Arc<BrokerContext>, mut shutdown: watch::Receiver<bool>) {
    let in_flight: Arc<Mutex<HashSet<ScheduleSlot>>> = Arc::default();
    loop {
        let wait = if bc.core.is_leader() {
            fire_due(&bc, &in_flight)
        } else {
            IDLE_WAIT
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Proposes every due slot not already in flight; returns how long to sleep.
fn fire_due(bc: &Arc<BrokerContext>, in_flight: &Arc<Mutex<HashSet<ScheduleSlot>>>) -> Duration {
    let now = now_ms().max(0) as u64;
    let levels = &bc.cfg.message_delay_level;
    let (due, next) = bc
        .core
        .broker_state()
        .with_schedule(|s| (s.due(now, levels, MAX_PER_ROUND), s.next_due(levels)));
    let mut waiting_on_flight = false;
    for (slot, pending) in due {
        if !in_flight.lock().insert(slot) {
            waiting_on_flight = true;
            continue;
        }
        let bc = bc.clone();
        let in_flight = in_flight.clone();
        let due_ms = now.min(slot.at_ms + crate::raft::schedule::lane_delay_ms(slot.lane, levels));
        tokio::spawn(async move {
            fire(&bc, slot, pending, due_ms).await;
            in_flight.lock().remove(&slot);
        });
    }
    match next {
        // Something due is still in flight: look again soon, but do not spin.
        Some(n) if n <= now => {
            if waiting_on_flight {
                Duration::from_millis(5)
            } else {
                Duration::from_millis(1)
            }
        }
        Some(n) => Duration::from_millis(n - now).min(IDLE_WAIT),
        None => IDLE_WAIT,
    }
}

/// Proposes the delivery of one due slot and records the outcome.
async fn fire(bc: &BrokerContext, slot: ScheduleSlot, pending: Pending, due_ms: u64) {
    let message = match real_message(bc, pending) {
        Some(m) => m,
        None => {
            // Unreadable here (purged by retention, or this node installed a snapshot that
            // predates it) or never diverted (sent straight to the schedule topic): retire the
            // slot with an empty message, which the state machine refuses to store.
            tracing::warn!(
                ?slot,
                offset = pending.commit_log_offset,
                "scheduled message cannot be read or has no REAL_TOPIC; retiring its slot"
            );
            Bytes::new()
        }
    };
    let topic = crate::message::StoredMessageView::parse(&message)
        .map(|v| v.topic().to_string())
        .unwrap_or_default();
    let size = message.len() as u64;
    match bc
        .core
        .write(LogCommand::Deliver(Delivery { slot, message }))
        .await
    {
        Ok(w) => match w.result {
            ApplyResult::Put(_) => {
                bc.stats.on_put(&topic, 1, size);
                let lane = lane_name(slot.lane);
                let group = bc.cfg.d_leger_group.clone();
                metrics::counter!(SCHEDULE_DELIVERED, "group" => group.clone(), "lane" => lane.clone()).increment(1);
                let late = (now_ms().max(0) as u64).saturating_sub(due_ms);
                metrics::histogram!(SCHEDULE_LATENESS, "group" => group, "lane" => lane)
                    .record(late as f64 / 1000.0);
            }
            ApplyResult::None => tracing::debug!(?slot, "scheduled slot was already delivered"),
            other => tracing::warn!(?slot, result = ?other, "scheduled delivery refused"),
        },
        Err(e) => tracing::debug!(?slot, error = %e, "scheduled delivery not committed; retried"),
    }
}

/// The due message as it is stored in its real topic: read back, restored, stamped now by
/// this node. `None` if it cannot be read or names no real topic.
fn real_message(bc: &BrokerContext, pending: Pending) -> Option<Bytes> {
    let stored = message_at(bc.core.broker_state(), pending.commit_log_offset)?;
    let (msg, _) = decode_stored(&stored, false).ok()?;
    let mut real = restore(msg)?;
    real.store_timestamp = now_ms();
    real.store_host = bc.store_host;
    real.queue_offset = 0;
    real.commit_log_offset = 0;
    let mut out = BytesMut::new();
    encode_stored_into(&real, &mut out).ok()?;
    Some(out.freeze())
}

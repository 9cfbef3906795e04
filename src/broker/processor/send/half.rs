//! A prepared send (`TRAN_MSG=true`): the message is stored as a half message in
//! `RMQ_SYS_TRANS_HALF_TOPIC` instead of its topic (see `broker::transaction`). The route
//! checks already ran against the real topic, and the answer still names the real queue with
//! the half's queue offset, which the producer echoes in END_TRANSACTION.

use super::encode::{Refusal, Stamp};
use crate::broker::transaction::half::{half_placement, is_prepared};
use crate::protocol::headers::SendMessageRequestHeaderRef;

/// For a prepared single send: re-aims `stamp` at the half topic and returns the properties
/// the half is stored with, which carry the real topic and queue. `None` for any other send.
pub(super) fn prepare_half(
    h: &SendMessageRequestHeaderRef<'_>,
    batch: bool,
    stamp: &mut Stamp,
) -> Result<Option<String>, Refusal> {
    let properties = h.properties.unwrap_or("");
    if batch || !is_prepared(properties) {
        return Ok(None);
    }
    let (topic, queue_id, sys_flag, properties) =
        half_placement(properties, h.sys_flag, &stamp.topic, stamp.queue_id)
            .map_err(|e| Refusal::illegal(e.to_string()))?;
    stamp.topic = topic;
    stamp.queue_id = queue_id;
    stamp.sys_flag = sys_flag;
    Ok(Some(properties))
}

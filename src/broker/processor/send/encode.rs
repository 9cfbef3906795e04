//! The pure steps of a send, with no broker behind them: where a retry past its limit goes,
//! which messages a request carries, and the stored-message bytes they become. Each refusal
//! carries the RocketMQ code the client gets, so the steps are tested without a Raft node.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};

use crate::message::properties::canonical;
use crate::message::{decode_batch, encode_stored_parts, MessageProperties, StoredFields};
use crate::protocol::headers::SendMessageRequestHeaderRef;
use crate::protocol::topic_names::retry_group;
use crate::remoting::codes::response_code as code;
use crate::remoting::RemotingCommand;

/// RocketMQ's `maxReconsumeTimes` when the client does not say: 16 deliveries, then the DLQ.
pub(super) const DEFAULT_MAX_RECONSUME_TIMES: i32 = 16;

/// A send answered without being written: the response code and the remark the client sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    pub code: i32,
    pub remark: String,
}

impl Refusal {
    /// MESSAGE_ILLEGAL (13): the message itself is wrong; retrying it elsewhere cannot help.
    pub fn illegal(remark: impl Into<String>) -> Refusal {
        Refusal {
            code: code::MESSAGE_ILLEGAL,
            remark: remark.into(),
        }
    }

    pub fn answer(self, req: &RemotingCommand) -> RemotingCommand {
        super::error(req, self.code, self.remark)
    }
}

/// The consumer group whose dead-letter topic a send to `topic` goes to instead: a message
/// re-sent to group G's retry topic after `reconsume_times` deliveries, at or past
/// `max_reconsume_times` (16 if the client did not say), is dead (Java's
/// `handleRetryAndDLQ`). `None`: the send goes where it was addressed.
pub(super) fn dead_letter_group(
    topic: &str,
    reconsume_times: i32,
    max_reconsume_times: Option<i32>,
) -> Option<&str> {
    let group = retry_group(topic)?;
    let max = max_reconsume_times.unwrap_or(DEFAULT_MAX_RECONSUME_TIMES);
    (reconsume_times >= max).then_some(group)
}

/// One message of a send, before it is stamped and encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outgoing {
    pub flag: i32,
    pub body: Bytes,
    pub properties: MessageProperties,
}

/// The messages a send carries. SEND_MESSAGE(_V2): one, the request body with the header's
/// flag and properties. SEND_BATCH_MESSAGE: each frame of the body, with the header's
/// properties (`WAIT`, ...) merged into each message that does not set them itself. An empty
/// batch or a malformed frame is MESSAGE_ILLEGAL.
pub(super) fn outgoing_messages(
    h: &SendMessageRequestHeaderRef<'_>,
    batch: bool,
    body: &Bytes,
) -> Result<Vec<Outgoing>, Refusal> {
    let header_props = MessageProperties::decode(h.properties.unwrap_or(""));
    if !batch {
        return Ok(vec![Outgoing {
            flag: h.flag,
            body: body.clone(),
            properties: header_props,
        }]);
    }
    let list = decode_batch(body).map_err(|e| Refusal::illegal(format!("bad batch body: {e}")))?;
    if list.is_empty() {
        return Err(Refusal::illegal("the batch is empty"));
    }
    Ok(list
        .into_iter()
        .map(|m| {
            let mut properties = m.properties;
            properties.inherit(&header_props);
            Outgoing {
                flag: m.flag,
                body: m.body,
                properties,
            }
        })
        .collect())
}

/// What every stored message of one send shares: where it goes, from the header and the
/// connection, and when and where it was stored.
#[derive(Debug, Clone)]
pub(super) struct Stamp {
    pub topic: String,
    pub queue_id: u32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
}

impl Stamp {
    /// The fixed fields of one stored message of this send.
    fn fields(&self, flag: i32) -> StoredFields {
        StoredFields {
            queue_id: self.queue_id as i32,
            flag,
            queue_offset: 0,
            commit_log_offset: 0,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_timestamp: self.store_timestamp,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: 0,
        }
    }
}

fn oversize(max_body: usize) -> Refusal {
    Refusal::illegal(format!(
        "the message body size over max value, MAX: {max_body}"
    ))
}

/// The stored-message bytes of `messages`, back to back (one CommitLog entry). A body over
/// `max_body` bytes (`maxMessageSize`), or a message the store format cannot carry (such as
/// properties over 32767 bytes once the header's were merged in), is MESSAGE_ILLEGAL, and
/// nothing is written.
pub(super) fn encode_stored_messages(
    messages: &[Outgoing],
    stamp: &Stamp,
    max_body: usize,
) -> Result<Bytes, Refusal> {
    let mut bytes = BytesMut::new();
    for m in messages {
        if m.body.len() > max_body {
            return Err(oversize(max_body));
        }
        encode_stored_parts(
            &stamp.fields(m.flag),
            &stamp.topic,
            &m.properties.encode(),
            &m.body,
            &mut bytes,
        )
        .map_err(|e| Refusal::illegal(e.to_string()))?;
    }
    Ok(bytes.freeze())
}

/// The stored-message bytes of a single send (SEND_MESSAGE(_V2)): what
/// `encode_stored_messages(&outgoing_messages(h, false, body)?, ..)` gives, built straight
/// from the request. The producer's properties string is copied as it is when it is already
/// in the form decoding and re-encoding would give (what clients send), and the body goes
/// from the frame into the entry: no map of the properties, no `MessageExt` of copies (issue
/// 16: they were a tenth of the leader's CPU per send).
pub(super) fn encode_single(
    h: &SendMessageRequestHeaderRef<'_>,
    body: &Bytes,
    stamp: &Stamp,
    max_body: usize,
) -> Result<Bytes, Refusal> {
    if body.len() > max_body {
        return Err(oversize(max_body));
    }
    let properties = canonical(h.properties.unwrap_or(""));
    let mut bytes = BytesMut::new();
    encode_stored_parts(
        &stamp.fields(h.flag),
        &stamp.topic,
        &properties,
        body,
        &mut bytes,
    )
    .map_err(|e| Refusal::illegal(e.to_string()))?;
    Ok(bytes.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{decode_all, encode_batch, BatchMessage};

    fn header(properties: &str) -> SendMessageRequestHeaderRef<'_> {
        SendMessageRequestHeaderRef {
            producer_group: "P",
            topic: "T",
            default_topic: "TBW102",
            default_topic_queue_nums: 4,
            queue_id: 1,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            flag: 7,
            properties: Some(properties),
            reconsume_times: None,
            unit_mode: false,
            max_reconsume_times: None,
            batch: false,
            broker_name: None,
        }
    }

    fn props(s: &str) -> MessageProperties {
        MessageProperties::decode(s)
    }

    fn stamp() -> Stamp {
        Stamp {
            topic: "T".into(),
            queue_id: 2,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            born_host: "10.0.0.1:5555".parse().expect("addr"),
            store_timestamp: 1_700_000_000_100,
            store_host: "127.0.0.1:10911".parse().expect("addr"),
            reconsume_times: 3,
        }
    }

    #[test]
    fn a_retry_past_its_limit_goes_to_the_groups_dead_letter_topic() {
        // The default limit is 16 deliveries.
        assert_eq!(dead_letter_group("%RETRY%G1", 16, None), Some("G1"));
        assert_eq!(dead_letter_group("%RETRY%G1", 15, None), None);
        // The client's maxReconsumeTimes replaces it, both ways.
        assert_eq!(dead_letter_group("%RETRY%G1", 3, Some(3)), Some("G1"));
        assert_eq!(dead_letter_group("%RETRY%G1", 16, Some(20)), None);
        assert_eq!(dead_letter_group("%RETRY%G1", 0, Some(0)), Some("G1"));
        // Only retry topics are redirected, however often the message was consumed.
        assert_eq!(dead_letter_group("TopicTest", 100, None), None);
        assert_eq!(dead_letter_group("%DLQ%G1", 100, None), None);
    }

    #[test]
    fn a_single_send_is_the_body_with_the_headers_flag_and_properties() {
        let h = header("TAGS\u{1}a\u{2}WAIT\u{1}true");
        let out = outgoing_messages(&h, false, &Bytes::from_static(b"hello")).expect("single");
        assert_eq!(
            out,
            vec![Outgoing {
                flag: 7,
                body: Bytes::from_static(b"hello"),
                properties: props("TAGS\u{1}a\u{2}WAIT\u{1}true"),
            }]
        );
        // An empty body is a message with an empty body, not a refusal (as in RocketMQ).
        assert_eq!(
            outgoing_messages(&h, false, &Bytes::new())
                .expect("empty")
                .len(),
            1
        );
    }

    #[test]
    fn batch_messages_inherit_the_headers_properties_they_do_not_set() {
        let body = encode_batch(&[
            BatchMessage {
                flag: 1,
                body: Bytes::from_static(b"one"),
                properties: props("TAGS\u{1}own\u{2}KEYS\u{1}k1"),
            },
            BatchMessage {
                flag: 2,
                body: Bytes::from_static(b"two"),
                properties: MessageProperties::new(),
            },
        ])
        .expect("batch");
        let h = header("WAIT\u{1}true\u{2}TAGS\u{1}header");
        let out = outgoing_messages(&h, true, &body).expect("batch");
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].flag, &out[0].body[..]), (1, &b"one"[..]));
        assert_eq!(
            out[0].properties,
            props("TAGS\u{1}own\u{2}KEYS\u{1}k1\u{2}WAIT\u{1}true"),
            "a message's own TAGS wins; WAIT comes from the header"
        );
        assert_eq!((out[1].flag, &out[1].body[..]), (2, &b"two"[..]));
        assert_eq!(
            out[1].properties,
            props("WAIT\u{1}true\u{2}TAGS\u{1}header")
        );
    }

    #[test]
    fn an_empty_or_malformed_batch_is_message_illegal() {
        let h = header("");
        assert_eq!(
            outgoing_messages(&h, true, &Bytes::new()),
            Err(Refusal::illegal("the batch is empty"))
        );
        let bad = outgoing_messages(&h, true, &Bytes::from_static(&[0, 0, 0, 9, 1, 2]))
            .expect_err("a truncated frame");
        assert_eq!(bad.code, code::MESSAGE_ILLEGAL);
        assert!(bad.remark.starts_with("bad batch body: "), "{}", bad.remark);
    }

    #[test]
    fn a_body_over_max_message_size_is_message_illegal() {
        let at = |n: usize| Outgoing {
            flag: 0,
            body: Bytes::from(vec![b'x'; n]),
            properties: MessageProperties::new(),
        };
        assert!(encode_stored_messages(&[at(100)], &stamp(), 100).is_ok());
        assert_eq!(
            encode_stored_messages(&[at(10), at(101)], &stamp(), 100),
            Err(Refusal::illegal(
                "the message body size over max value, MAX: 100"
            )),
            "one oversize message refuses the whole batch"
        );
    }

    #[test]
    fn properties_too_long_after_the_merge_are_message_illegal() {
        let long = "v".repeat(20_000);
        let body = encode_batch(&[BatchMessage {
            flag: 0,
            body: Bytes::from_static(b"x"),
            properties: props(&format!("A\u{1}{long}")),
        }])
        .expect("each half fits");
        let properties = format!("B\u{1}{long}");
        let h = header(&properties);
        let out = outgoing_messages(&h, true, &body).expect("merged");
        let refused = encode_stored_messages(&out, &stamp(), 1 << 20).expect_err("too long");
        assert_eq!(refused.code, code::MESSAGE_ILLEGAL);
    }

    #[test]
    fn a_single_send_encodes_as_its_outgoing_message_does() {
        let body = Bytes::from_static(b"hello");
        for properties in [
            "TAGS\u{1}a\u{2}WAIT\u{1}true",
            "",
            // Not canonical: a trailing separator, a repeated key, a pair without a value.
            "TAGS\u{1}a\u{2}",
            "TAGS\u{1}a\u{2}TAGS\u{1}b\u{2}K\u{1}",
        ] {
            let h = header(properties);
            let reference = outgoing_messages(&h, false, &body)
                .and_then(|m| encode_stored_messages(&m, &stamp(), 1024))
                .expect("reference");
            assert_eq!(
                encode_single(&h, &body, &stamp(), 1024),
                Ok(reference),
                "{properties:?}"
            );
        }
        assert_eq!(
            encode_single(&header(""), &body, &stamp(), 4),
            Err(Refusal::illegal(
                "the message body size over max value, MAX: 4"
            ))
        );
        let long = format!("A\u{1}{}", "v".repeat(40_000));
        let refused = encode_single(&header(&long), &body, &stamp(), 1024).expect_err("long");
        assert_eq!(refused.code, code::MESSAGE_ILLEGAL);
    }

    #[test]
    fn stored_messages_carry_the_stamp() {
        let out = vec![
            Outgoing {
                flag: 1,
                body: Bytes::from_static(b"a"),
                properties: props("TAGS\u{1}t"),
            },
            Outgoing {
                flag: 2,
                body: Bytes::from_static(b"bb"),
                properties: MessageProperties::new(),
            },
        ];
        let s = stamp();
        let bytes = encode_stored_messages(&out, &s, 1024).expect("encode");
        let stored = decode_all(&bytes, true).expect("decode");
        assert_eq!(stored.len(), 2);
        for (m, o) in stored.iter().zip(&out) {
            assert_eq!((m.topic.as_str(), m.queue_id), ("T", 2));
            assert_eq!(
                (m.flag, &m.body, &m.properties),
                (o.flag, &o.body, &o.properties)
            );
            assert_eq!((m.born_host, m.store_host), (s.born_host, s.store_host));
            assert_eq!(
                (m.born_timestamp, m.store_timestamp, m.reconsume_times),
                (s.born_timestamp, s.store_timestamp, 3)
            );
        }
    }
}

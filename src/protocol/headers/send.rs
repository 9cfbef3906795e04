//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and the send response.
//!
//! Code 10 carries `SendMessageRequestHeader` with long field names; 310 and 320 carry
//! `SendMessageRequestHeaderV2`, the same fields renamed `a`..`n` to shrink the JSON. Both decode
//! into one [`SendMessageRequestHeader`] through one name table per form, so the two can never
//! drift apart. SEND_REPLY_MESSAGE (324) / _V2 (325) use the same two forms. The broker reads
//! it as a [`SendMessageRequestHeaderRef`], borrowed from the request, in one pass.

use crate::protocol::header::{
    opt_bool, opt_str, parse_bool, parse_value, put, put_opt, req_i32, req_i64, req_str,
    CommandHeader, ExtFields, HeaderError, ValueKind,
};

/// Request codes whose send header uses the V2 short names.
pub const SEND_MESSAGE_V2: i32 = 310;
pub const SEND_BATCH_MESSAGE: i32 = 320;
pub const SEND_REPLY_MESSAGE_V2: i32 = 325;

/// The send request header, whichever form it arrived in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMessageRequestHeader {
    pub producer_group: String,
    pub topic: String,
    /// `TBW102` from Java producers: the topic whose config seeds an auto-created topic.
    pub default_topic: String,
    pub default_topic_queue_nums: i32,
    /// Target queue; negative means "broker picks a writable queue" (the value is kept as sent).
    pub queue_id: i32,
    /// MessageSysFlag bits (`crate::message::sysflag`).
    pub sys_flag: i32,
    pub born_timestamp: i64,
    /// The user flag, stored verbatim.
    pub flag: i32,
    /// Encoded properties (`name\u{1}value\u{2}`...); may be absent or empty.
    pub properties: Option<String>,
    pub reconsume_times: Option<i32>,
    pub unit_mode: bool,
    pub max_reconsume_times: Option<i32>,
    /// True for SEND_BATCH_MESSAGE.
    pub batch: bool,
    /// The broker name the client addressed (`bname` / `n`, 4.9.5+); informational.
    pub broker_name: Option<String>,
}

/// A [`SendMessageRequestHeader`] borrowed from a request's [`ExtFields`]: what the broker's
/// send path reads, with no string copied out of the request (issue 16: the owned header cost
/// five allocations and copies per send, the properties among them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendMessageRequestHeaderRef<'a> {
    pub producer_group: &'a str,
    pub topic: &'a str,
    pub default_topic: &'a str,
    pub default_topic_queue_nums: i32,
    pub queue_id: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub flag: i32,
    pub properties: Option<&'a str>,
    pub reconsume_times: Option<i32>,
    pub unit_mode: bool,
    pub max_reconsume_times: Option<i32>,
    pub batch: bool,
    pub broker_name: Option<&'a str>,
}

/// The header's fields, in [`SendMessageRequestHeader`]'s order (also the V2 letters' order,
/// `a`..`n`): the index of each in a [`Form`]'s names and in the one-pass decoder's slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    ProducerGroup,
    Topic,
    DefaultTopic,
    DefaultTopicQueueNums,
    QueueId,
    SysFlag,
    BornTimestamp,
    Flag,
    Properties,
    ReconsumeTimes,
    UnitMode,
    MaxReconsumeTimes,
    Batch,
    BrokerName,
}

const FIELDS: usize = 14;

impl Field {
    const ALL: [Field; FIELDS] = [
        Field::ProducerGroup,
        Field::Topic,
        Field::DefaultTopic,
        Field::DefaultTopicQueueNums,
        Field::QueueId,
        Field::SysFlag,
        Field::BornTimestamp,
        Field::Flag,
        Field::Properties,
        Field::ReconsumeTimes,
        Field::UnitMode,
        Field::MaxReconsumeTimes,
        Field::Batch,
        Field::BrokerName,
    ];
}

/// One wire form of the header: its Java class name, each field's name, and the reverse
/// lookup the decoder matches every wire name with once (a test holds the two together).
struct Form {
    request: &'static str,
    names: [&'static str; FIELDS],
    /// The V2 letters: [`v2_field`] rather than [`v1_field`] (a flag, not a fn pointer, so
    /// both inline into the decoder's loop).
    short: bool,
}

impl Form {
    fn name(&self, f: Field) -> &'static str {
        self.names[f as usize]
    }

    fn field(&self, name: &str) -> Option<Field> {
        if self.short {
            v2_field(name)
        } else {
            v1_field(name)
        }
    }
}

const V1: Form = Form {
    request: "SendMessageRequestHeader",
    names: [
        "producerGroup",
        "topic",
        "defaultTopic",
        "defaultTopicQueueNums",
        "queueId",
        "sysFlag",
        "bornTimestamp",
        "flag",
        "properties",
        "reconsumeTimes",
        "unitMode",
        "maxReconsumeTimes",
        "batch",
        "bname",
    ],
    short: false,
};

const V2: Form = Form {
    request: "SendMessageRequestHeaderV2",
    names: [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n",
    ],
    short: true,
};

fn v1_field(name: &str) -> Option<Field> {
    Some(match name {
        "producerGroup" => Field::ProducerGroup,
        "topic" => Field::Topic,
        "defaultTopic" => Field::DefaultTopic,
        "defaultTopicQueueNums" => Field::DefaultTopicQueueNums,
        "queueId" => Field::QueueId,
        "sysFlag" => Field::SysFlag,
        "bornTimestamp" => Field::BornTimestamp,
        "flag" => Field::Flag,
        "properties" => Field::Properties,
        "reconsumeTimes" => Field::ReconsumeTimes,
        "unitMode" => Field::UnitMode,
        "maxReconsumeTimes" => Field::MaxReconsumeTimes,
        "batch" => Field::Batch,
        "bname" => Field::BrokerName,
        _ => return None,
    })
}

/// `a`..`n` are the fields in order: one byte compared, no string compare.
fn v2_field(name: &str) -> Option<Field> {
    match name.as_bytes() {
        [c @ b'a'..=b'n'] => Field::ALL.get(usize::from(c - b'a')).copied(),
        _ => None,
    }
}

impl SendMessageRequestHeader {
    /// Decodes the header of a send request, choosing the form by request code: V2 short names
    /// for 310, 320 and 325, long names otherwise (10, 324).
    pub fn decode_for_code(code: i32, ext: &ExtFields) -> Result<Self, HeaderError> {
        if uses_v2_names(code) {
            Self::from_v2(ext)
        } else {
            Self::from_v1(ext)
        }
    }

    /// Decodes the long-name form (code 10).
    pub fn from_v1(ext: &ExtFields) -> Result<Self, HeaderError> {
        Self::decode(ext, &V1)
    }

    /// Decodes the short-name form (codes 310/320).
    pub fn from_v2(ext: &ExtFields) -> Result<Self, HeaderError> {
        Self::decode(ext, &V2)
    }

    /// Encodes the long-name form.
    pub fn to_v1(&self) -> ExtFields {
        self.encode(&V1)
    }

    /// Encodes the short-name form.
    pub fn to_v2(&self) -> ExtFields {
        self.encode(&V2)
    }

    fn decode(ext: &ExtFields, form: &Form) -> Result<Self, HeaderError> {
        SendMessageRequestHeaderRef::decode(ext, form).map(|h| h.to_owned_header())
    }

    fn encode(&self, form: &Form) -> ExtFields {
        let n = |f: Field| form.name(f);
        let mut ext = ExtFields::with_capacity(FIELDS);
        put(&mut ext, n(Field::ProducerGroup), &self.producer_group);
        put(&mut ext, n(Field::Topic), &self.topic);
        put(&mut ext, n(Field::DefaultTopic), &self.default_topic);
        put(
            &mut ext,
            n(Field::DefaultTopicQueueNums),
            self.default_topic_queue_nums,
        );
        put(&mut ext, n(Field::QueueId), self.queue_id);
        put(&mut ext, n(Field::SysFlag), self.sys_flag);
        put(&mut ext, n(Field::BornTimestamp), self.born_timestamp);
        put(&mut ext, n(Field::Flag), self.flag);
        put_opt(&mut ext, n(Field::Properties), self.properties.as_ref());
        put_opt(&mut ext, n(Field::ReconsumeTimes), self.reconsume_times);
        put(&mut ext, n(Field::UnitMode), self.unit_mode);
        put_opt(
            &mut ext,
            n(Field::MaxReconsumeTimes),
            self.max_reconsume_times,
        );
        put(&mut ext, n(Field::Batch), self.batch);
        put_opt(&mut ext, n(Field::BrokerName), self.broker_name.as_ref());
        ext
    }
}

impl<'a> SendMessageRequestHeaderRef<'a> {
    /// [`SendMessageRequestHeader::decode_for_code`], borrowing the strings from `ext`.
    pub fn decode_for_code(code: i32, ext: &'a ExtFields) -> Result<Self, HeaderError> {
        Self::decode(ext, if uses_v2_names(code) { &V2 } else { &V1 })
    }

    /// One pass over the fields, matching each wire name once, rather than a lookup by name
    /// per field (14 scans of up to 14 string compares each, per send). Names are unique in
    /// an [`ExtFields`], so each slot is set at most once; the checks then run in the fields'
    /// order, so the error for a header with several faults is the one it always was.
    fn decode(ext: &'a ExtFields, form: &Form) -> Result<Self, HeaderError> {
        let mut slots: [Option<&'a str>; FIELDS] = [None; FIELDS];
        for (name, value) in ext {
            if let Some(f) = form.field(name) {
                slots[f as usize] = Some(value);
            }
        }
        let r = form.request;
        let value = |f: Field| slots[f as usize];
        let string = |f: Field| {
            value(f).ok_or(HeaderError::Missing {
                request: r,
                name: form.name(f),
            })
        };
        let int = |f: Field| parse_value::<i32>(value(f), r, form.name(f), ValueKind::Int);
        let required = |f: Field, v: Option<i32>| {
            v.ok_or(HeaderError::Missing {
                request: r,
                name: form.name(f),
            })
        };
        Ok(SendMessageRequestHeaderRef {
            producer_group: string(Field::ProducerGroup)?,
            topic: string(Field::Topic)?,
            default_topic: string(Field::DefaultTopic)?,
            default_topic_queue_nums: required(
                Field::DefaultTopicQueueNums,
                int(Field::DefaultTopicQueueNums)?,
            )?,
            queue_id: required(Field::QueueId, int(Field::QueueId)?)?,
            sys_flag: required(Field::SysFlag, int(Field::SysFlag)?)?,
            born_timestamp: parse_value::<i64>(
                value(Field::BornTimestamp),
                r,
                form.name(Field::BornTimestamp),
                ValueKind::Long,
            )?
            .ok_or(HeaderError::Missing {
                request: r,
                name: form.name(Field::BornTimestamp),
            })?,
            flag: required(Field::Flag, int(Field::Flag)?)?,
            properties: value(Field::Properties),
            reconsume_times: int(Field::ReconsumeTimes)?,
            unit_mode: value(Field::UnitMode).and_then(parse_bool).unwrap_or(false),
            max_reconsume_times: int(Field::MaxReconsumeTimes)?,
            batch: value(Field::Batch).and_then(parse_bool).unwrap_or(false),
            broker_name: value(Field::BrokerName),
        })
    }

    /// The owned header, for code that keeps it beyond the request.
    fn to_owned_header(self) -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            producer_group: self.producer_group.to_owned(),
            topic: self.topic.to_owned(),
            default_topic: self.default_topic.to_owned(),
            default_topic_queue_nums: self.default_topic_queue_nums,
            queue_id: self.queue_id,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            flag: self.flag,
            properties: self.properties.map(str::to_owned),
            reconsume_times: self.reconsume_times,
            unit_mode: self.unit_mode,
            max_reconsume_times: self.max_reconsume_times,
            batch: self.batch,
            broker_name: self.broker_name.map(str::to_owned),
        }
    }
}

/// True for the request codes whose send header uses the V2 short names.
pub fn uses_v2_names(code: i32) -> bool {
    matches!(
        code,
        SEND_MESSAGE_V2 | SEND_BATCH_MESSAGE | SEND_REPLY_MESSAGE_V2
    )
}

/// The long-name form (code 10).
impl CommandHeader for SendMessageRequestHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        Self::from_v1(ext)
    }
    fn to_ext(&self) -> ExtFields {
        self.to_v1()
    }
}

/// The send response header, required by the Java client for codes 0, 10, 11 and 12.
///
/// `msg_region` / `trace_on` are the `MSG_REGION` and `TRACE_ON` extFields the Java broker adds
/// to every send response (`DefaultRegion`, `true`); the client reads them when present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMessageResponseHeader {
    /// The offsetMsgId (or a comma-separated list of them for a batch).
    pub msg_id: String,
    pub queue_id: i32,
    /// The queue offset of the (first) stored message.
    pub queue_offset: i64,
    pub transaction_id: Option<String>,
    pub msg_region: Option<String>,
    pub trace_on: Option<bool>,
}

impl CommandHeader for SendMessageResponseHeader {
    fn from_ext(ext: &ExtFields) -> Result<Self, HeaderError> {
        const R: &str = "SendMessageResponseHeader";
        Ok(SendMessageResponseHeader {
            msg_id: req_str(ext, R, "msgId")?,
            queue_id: req_i32(ext, R, "queueId")?,
            queue_offset: req_i64(ext, R, "queueOffset")?,
            transaction_id: opt_str(ext, "transactionId"),
            msg_region: opt_str(ext, "MSG_REGION"),
            trace_on: opt_bool(ext, "TRACE_ON"),
        })
    }

    fn to_ext(&self) -> ExtFields {
        // Sized for every field: every send is answered with this header.
        let mut ext = ExtFields::with_capacity(6);
        put(&mut ext, "msgId", &self.msg_id);
        put(&mut ext, "queueId", self.queue_id);
        put(&mut ext, "queueOffset", self.queue_offset);
        put_opt(&mut ext, "transactionId", self.transaction_id.as_ref());
        put_opt(&mut ext, "MSG_REGION", self.msg_region.as_ref());
        put_opt(&mut ext, "TRACE_ON", self.trace_on);
        ext
    }
}

#[cfg(test)]
mod tests;

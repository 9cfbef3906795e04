//! Round trips, a hand-built vector and hostile input for the stored format. The fixtures here
//! are shared with the other tests of this module.

use super::*;
use crate::message::properties::{KEYS, TAGS, UNIQ_KEY};

/// A message with both hosts IPv4 or both IPv6.
pub(crate) fn sample(v6: bool) -> MessageExt {
    let (born, store) = if v6 {
        ("[2001:db8::1]:53000", "[::1]:10911")
    } else {
        ("192.168.1.10:53000", "127.0.0.1:10911")
    };
    let mut properties = MessageProperties::new();
    properties.insert(TAGS, "TagA").unwrap();
    properties.insert(KEYS, "order-1 order-2").unwrap();
    properties
        .insert(UNIQ_KEY, "C0A8010A1F40FFFFFFFF010203040000")
        .unwrap();
    let born_host: SocketAddr = born.parse().unwrap();
    let store_host: SocketAddr = store.parse().unwrap();
    MessageExt {
        topic: "TopicTest".to_owned(),
        queue_id: 3,
        flag: 0x55,
        queue_offset: 5,
        commit_log_offset: 1000,
        sys_flag: sysflag::set_store_host_v6(
            sysflag::set_born_host_v6(sysflag::MULTI_TAGS_FLAG, born_host.is_ipv6()),
            store_host.is_ipv6(),
        ),
        born_timestamp: 1_700_000_000_000,
        born_host,
        store_timestamp: 1_700_000_000_123,
        store_host,
        reconsume_times: 2,
        prepared_transaction_offset: -1,
        body: Bytes::from_static(b"Hello RocketMQ"),
        properties,
    }
}

/// The stored bytes of a small IPv4 message, written out by hand from the layout table.
fn hand_built() -> Vec<u8> {
    let body = b"Hello RocketMQ";
    let props = b"TAGS\x01TagA\x02KEYS\x01order-1";
    let total = 84 + 4 + body.len() + 1 + 5 + 2 + props.len();
    let mut v = Vec::new();
    v.extend_from_slice(&(total as i32).to_be_bytes()); //  0 TOTALSIZE
    v.extend_from_slice(&[0xDA, 0xA3, 0x20, 0xA7]); //      4 MAGICCODE
    v.extend_from_slice(&java_crc32(body).to_be_bytes()); //  8 BODYCRC
    v.extend_from_slice(&[0, 0, 0, 1]); //                 12 QUEUEID 1
    v.extend_from_slice(&[0, 0, 0, 0]); //                 16 FLAG 0
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]); //     20 QUEUEOFFSET 7
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 0]); //     28 PHYSICALOFFSET 256
    v.extend_from_slice(&[0, 0, 0, 0]); //                 36 SYSFLAG 0
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 100]); //   40 BORNTIMESTAMP 100
    v.extend_from_slice(&[10, 0, 0, 2, 0, 0, 0xC3, 0x50]); // 48 BORNHOST 10.0.0.2:50000
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 200]); //   56 STORETIMESTAMP 200
    v.extend_from_slice(&[127, 0, 0, 1, 0, 0, 0x2A, 0x9F]); // 64 STOREHOST 127.0.0.1:10911
    v.extend_from_slice(&[0, 0, 0, 0]); //                 72 RECONSUMETIMES 0
    v.extend_from_slice(&[0; 8]); //                       76 PREPAREDTRANSACTIONOFFSET 0
    v.extend_from_slice(&(body.len() as i32).to_be_bytes()); // 84 BODY length
    v.extend_from_slice(body);
    v.push(5);
    v.extend_from_slice(b"Topic");
    v.extend_from_slice(&(props.len() as i16).to_be_bytes());
    v.extend_from_slice(props);
    assert_eq!(v.len(), total);
    v
}

#[test]
fn hand_built_vector_decodes_field_by_field_and_re_encodes_identically() {
    let raw = hand_built();
    let (msg, used) = decode_stored(&raw, true).unwrap();
    assert_eq!(used, raw.len());
    assert_eq!(msg.topic, "Topic");
    assert_eq!(msg.queue_id, 1);
    assert_eq!(msg.flag, 0);
    assert_eq!(msg.queue_offset, 7);
    assert_eq!(msg.commit_log_offset, 256);
    assert_eq!(msg.sys_flag, 0);
    assert_eq!(msg.born_timestamp, 100);
    assert_eq!(msg.born_host, "10.0.0.2:50000".parse().unwrap());
    assert_eq!(msg.store_timestamp, 200);
    assert_eq!(msg.store_host, "127.0.0.1:10911".parse().unwrap());
    assert_eq!(msg.reconsume_times, 0);
    assert_eq!(msg.prepared_transaction_offset, 0);
    assert_eq!(&msg.body[..], b"Hello RocketMQ");
    assert_eq!(msg.tags(), Some("TagA"));
    assert_eq!(msg.keys(), Some("order-1"));
    assert_eq!(msg.uniq_key(), None);
    assert_eq!(msg.offset_msg_id(), "7F00000100002A9F0000000000000100");
    assert_eq!(&encode_stored(&msg).unwrap()[..], &raw[..]);
}

#[test]
fn round_trips_ipv4_and_ipv6() {
    for (v6, fixed) in [(false, 84), (true, 108)] {
        let msg = sample(v6);
        let raw = encode_stored(&msg).unwrap();
        let expected = fixed + 4 + 14 + 1 + 9 + 2 + msg.properties.encoded_len();
        assert_eq!(raw.len(), expected);
        assert_eq!(msg.stored_size(), Ok(expected));
        assert_eq!(decode_stored(&raw, true), Ok((msg.clone(), raw.len())));
        let (shared, used) = decode_stored_bytes(&raw, true).unwrap();
        assert_eq!((&shared, used), (&msg, raw.len()));
        let start = raw.as_ptr() as usize;
        let body = shared.body.as_ptr() as usize;
        assert!(body >= start && body < start + raw.len(), "body was copied");
    }
}

#[test]
fn every_prefix_is_an_error_never_a_panic() {
    for v6 in [false, true] {
        let raw = encode_stored(&sample(v6)).unwrap();
        for len in 0..raw.len() {
            assert!(
                decode_stored(&raw[..len], false).is_err(),
                "prefix of {len} bytes decoded"
            );
        }
    }
}

#[test]
fn any_single_corrupt_byte_never_panics() {
    let raw = encode_stored(&sample(true)).unwrap();
    for pos in 0..raw.len() {
        for value in [0x00, 0x7F, 0x80, 0xFF] {
            let mut bad = raw.to_vec();
            bad[pos] = value;
            let _ = decode_stored(&bad, true);
        }
    }
}

fn with_i32(raw: &[u8], pos: usize, value: i32) -> Vec<u8> {
    let mut v = raw.to_vec();
    v[pos..pos + 4].copy_from_slice(&value.to_be_bytes());
    v
}

#[test]
fn hostile_total_size() {
    let raw = encode_stored(&sample(false)).unwrap();
    for size in [i32::MIN, -1, 0, 8, 90] {
        assert_eq!(
            decode_stored(&with_i32(&raw, 0, size), false),
            Err(MessageError::TotalSizeTooSmall {
                at: 0,
                total_size: size,
                min: MIN_STORED_SIZE
            })
        );
    }
    assert!(matches!(
        decode_stored(&with_i32(&raw, 0, i32::MAX), false),
        Err(MessageError::Truncated { at: 0, .. })
    ));
    // One byte more than the fields take, with the byte present: a mismatch.
    let mut longer = with_i32(&raw, 0, raw.len() as i32 + 1);
    longer.push(0);
    assert_eq!(
        decode_stored(&longer, false),
        Err(MessageError::TotalSizeMismatch {
            at: 0,
            declared: raw.len() as i32 + 1,
            actual: raw.len()
        })
    );
    // One byte less: the last field no longer fits.
    assert!(matches!(
        decode_stored(&with_i32(&raw, 0, raw.len() as i32 - 1), false),
        Err(MessageError::Truncated {
            field: "PROPERTIES",
            ..
        })
    ));
}

#[test]
fn hostile_fields() {
    let raw = encode_stored(&sample(false)).unwrap();
    let topic_len_pos = 84 + 4 + 14;
    let props_len_pos = topic_len_pos + 1 + 9;
    assert_eq!(
        decode_stored(&with_i32(&raw, 4, 0x1234_5678), false),
        Err(MessageError::BadMagic {
            at: 4,
            found: 0x1234_5678
        })
    );
    assert!(matches!(
        decode_stored(&with_i32(&raw, 84, -1), false),
        Err(MessageError::NegativeLength {
            at: 84,
            len: -1,
            ..
        })
    ));
    assert!(matches!(
        decode_stored(&with_i32(&raw, 84, i32::MAX), false),
        Err(MessageError::Truncated {
            at: 88,
            field: "BODY",
            ..
        })
    ));
    assert!(matches!(
        decode_stored(&with_i32(&raw, 52, 65_536), false),
        Err(MessageError::BadPort {
            at: 52,
            field: "BORNHOST",
            ..
        })
    ));
    let mut bad = raw.to_vec();
    bad[topic_len_pos] = 0x80;
    assert!(matches!(
        decode_stored(&bad, false),
        Err(MessageError::NegativeLength { len: -128, .. })
    ));
    let mut bad = raw.to_vec();
    bad[props_len_pos] = 0xFF;
    assert!(matches!(
        decode_stored(&bad, false),
        Err(MessageError::NegativeLength {
            field: "PROPERTIES length",
            ..
        })
    ));
    let mut bad = raw.to_vec();
    bad[topic_len_pos + 1] = 0xC3; // a lone UTF-8 lead byte
    assert_eq!(
        decode_stored(&bad, false),
        Err(MessageError::InvalidUtf8 {
            at: topic_len_pos + 1,
            field: "TOPIC"
        })
    );
}

#[test]
fn body_crc_is_verified_only_when_asked() {
    let mut raw = encode_stored(&sample(false)).unwrap().to_vec();
    raw[88] ^= 0x01; // first body byte
    assert!(decode_stored(&raw, false).is_ok());
    assert!(matches!(
        decode_stored(&raw, true),
        Err(MessageError::BodyCrcMismatch { at: 0, .. })
    ));
}

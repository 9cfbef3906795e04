//! Text fields a client controls: the message properties string (name\x01value\x02...), the
//! offset msgId a client asks VIEW_MESSAGE_BY_ID for, and a subscription's tag expression.
#![no_main]
use ledgermq::message::{decode_offset_msg_id, MessageProperties, TagSubscription};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let props = MessageProperties::decode(&s);
    // Whatever was kept survives a round trip.
    let again = MessageProperties::decode(&props.encode());
    assert_eq!(again.encode(), props.encode());
    let _ = decode_offset_msg_id(&s);
    let _ = TagSubscription::parse(&s);
});

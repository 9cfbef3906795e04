//! The remoting stream as a server reads it: frames back to back (any length prefix, any
//! serialize type, any header), each decoded command's ext fields then read as every typed
//! request header the broker and name server accept, and send bodies as batches.
#![no_main]
use bytes::BytesMut;
use ledgermq::protocol::headers::*;
use ledgermq::protocol::CommandHeader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    // The declared length is checked before anything is buffered for it.
    if let Ok(Some(wire)) = ledgermq::remoting::codec::check(&buf, ledgermq_fuzz::MAX_FRAME) {
        assert!(wire <= ledgermq_fuzz::MAX_FRAME);
    }
    while let Ok(Some(cmd)) = ledgermq::remoting::decode(&mut buf, ledgermq_fuzz::MAX_FRAME) {
        let ext = &cmd.ext_fields;
        let _ = SendMessageRequestHeader::decode_for_code(cmd.code, ext);
        let _ = PullMessageRequestHeader::from_ext(ext);
        let _ = QueryConsumerOffsetRequestHeader::from_ext(ext);
        let _ = UpdateConsumerOffsetRequestHeader::from_ext(ext);
        let _ = SearchOffsetRequestHeader::from_ext(ext);
        let _ = GetMaxOffsetRequestHeader::from_ext(ext);
        let _ = GetMinOffsetRequestHeader::from_ext(ext);
        let _ = GetEarliestMsgStoretimeRequestHeader::from_ext(ext);
        let _ = ConsumerSendMsgBackRequestHeader::from_ext(ext);
        let _ = EndTransactionRequestHeader::from_ext(ext);
        let _ = UnregisterClientRequestHeader::from_ext(ext);
        let _ = GetConsumerListByGroupRequestHeader::from_ext(ext);
        let _ = QueryMessageRequestHeader::from_ext(ext);
        let _ = ViewMessageRequestHeader::from_ext(ext);
        let _ = CreateTopicRequestHeader::from_ext(ext);
        let _ = DeleteTopicRequestHeader::from_ext(ext);
        let _ = GetConsumeStatsRequestHeader::from_ext(ext);
        let _ = GetTopicStatsInfoRequestHeader::from_ext(ext);
        let _ = GetConsumerConnectionListRequestHeader::from_ext(ext);
        let _ = RegisterBrokerRequestHeader::from_ext(ext);
        let _ = UnRegisterBrokerRequestHeader::from_ext(ext);
        let _ = GetRouteInfoRequestHeader::from_ext(ext);
        let _ = GetKVConfigRequestHeader::from_ext(ext);
        let _ = PutKVConfigRequestHeader::from_ext(ext);
        let _ = DeleteKVConfigRequestHeader::from_ext(ext);
        let _ = GetTopicsByClusterRequestHeader::from_ext(ext);
        let _ = QueryDataVersionRequestHeader::from_ext(ext);
        if !cmd.body.is_empty() {
            let _ = ledgermq::message::decode_batch(&cmd.body);
        }
        // What is decoded must encode again (answers echo request fields).
        let _ = ledgermq::remoting::encode(&cmd, &mut BytesMut::new());
    }
});

//! The JSON (fastjson-style) command header, inside a well-formed frame.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (header, body) = ledgermq_fuzz::split(data);
    let frame = ledgermq_fuzz::frame(0, header, body);
    if let Ok(cmd) = ledgermq::remoting::codec::parse(frame.into()) {
        // A decoded header must encode back into a frame that decodes to the same command.
        let mut out = bytes::BytesMut::new();
        if ledgermq::remoting::encode(&cmd, &mut out).is_ok() {
            let again = ledgermq::remoting::codec::parse(out.freeze())
                .expect("a command we encoded must decode");
            assert_eq!(again.code, cmd.code);
            assert_eq!(again.opaque, cmd.opaque);
            assert_eq!(again.ext_fields, cmd.ext_fields);
        }
    }
});

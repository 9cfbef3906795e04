//! [`RemotingCommand`]: the one message type of RocketMQ's remoting protocol, for requests and
//! responses alike, with its [`LanguageCode`] and [`SerializeType`].
//!
//! A command is a header (code, language, version, opaque, flag, remark, extFields) plus an
//! opaque body. Which header fields a code needs (`topic`, `queueId`, ...) is the `protocol`
//! module's business; this type only carries them as strings, as the wire does.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicI32, Ordering};

use bytes::Bytes;

use super::codes::{request_code_name, response_code, response_code_name};
use super::ext_fields::ExtFields;

/// Flag bit 0: this command is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// Flag bit 1: this request expects no response.
pub const FLAG_ONEWAY: i32 = 1 << 1;

/// The `version` we put on commands we create: the ordinal of `MQVersion.Version.V4_9_7`.
///
/// Java 4.9.7 clients, brokers and name servers all send this in requests *and* responses, and
/// some Java processors switch behaviour on a request's version (e.g. the name server sends
/// standard JSON route data to clients `>= V4_9_4`), so we speak as a 4.9.7 peer.
pub const LEDGERMQ_VERSION: i32 = 407;

/// Which language the peer says it is written in (`LanguageCode.java`). Informational only:
/// nothing in the transport depends on it, so an unknown value is kept, never rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum LanguageCode {
    #[default]
    Java,
    Cpp,
    DotNet,
    Python,
    Delphi,
    Erlang,
    Ruby,
    /// RocketMQ's own `OTHER` (7), not an unknown value.
    Other,
    Http,
    Go,
    Php,
    Oms,
    Rust,
    /// A JSON header's `language` name this table does not know; kept verbatim.
    UnknownName(String),
    /// A ROCKETMQ binary header's language byte this table does not know; kept verbatim.
    UnknownByte(u8),
}

const LANGUAGES: [(LanguageCode, &str, u8); 13] = [
    (LanguageCode::Java, "JAVA", 0),
    (LanguageCode::Cpp, "CPP", 1),
    (LanguageCode::DotNet, "DOTNET", 2),
    (LanguageCode::Python, "PYTHON", 3),
    (LanguageCode::Delphi, "DELPHI", 4),
    (LanguageCode::Erlang, "ERLANG", 5),
    (LanguageCode::Ruby, "RUBY", 6),
    (LanguageCode::Other, "OTHER", 7),
    (LanguageCode::Http, "HTTP", 8),
    (LanguageCode::Go, "GO", 9),
    (LanguageCode::Php, "PHP", 10),
    (LanguageCode::Oms, "OMS", 11),
    (LanguageCode::Rust, "RUST", 12),
];

impl LanguageCode {
    /// From a JSON header's name (`"JAVA"`, `"CPP"`, ...); exact match, as Java's enum.
    pub fn from_name(name: &str) -> LanguageCode {
        LANGUAGES
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(l, _, _)| l.clone())
            .unwrap_or_else(|| LanguageCode::UnknownName(name.to_string()))
    }

    /// From a ROCKETMQ binary header's byte.
    pub fn from_byte(byte: u8) -> LanguageCode {
        LANGUAGES
            .iter()
            .find(|(_, _, b)| *b == byte)
            .map(|(l, _, _)| l.clone())
            .unwrap_or(LanguageCode::UnknownByte(byte))
    }

    /// The JSON name. An unknown byte is written as `"OTHER"`.
    pub fn name(&self) -> &str {
        match self {
            LanguageCode::UnknownName(name) => name,
            LanguageCode::UnknownByte(_) => "OTHER",
            known => LANGUAGES
                .iter()
                .find(|(l, _, _)| l == known)
                .map(|(_, n, _)| *n)
                .unwrap_or("OTHER"),
        }
    }

    /// The binary byte. An unknown name is written as `OTHER` (7).
    pub fn to_byte(&self) -> u8 {
        match self {
            LanguageCode::UnknownByte(b) => *b,
            LanguageCode::UnknownName(_) => 7,
            known => LANGUAGES
                .iter()
                .find(|(l, _, _)| l == known)
                .map(|(_, _, b)| *b)
                .unwrap_or(7),
        }
    }
}

impl fmt::Display for LanguageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LanguageCode::UnknownByte(b) => write!(f, "UNKNOWN({b})"),
            other => f.write_str(other.name()),
        }
    }
}

/// How the header is encoded: the high byte of the frame's header-length word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerializeType {
    /// 0: fastjson text; what every client uses by default.
    #[default]
    Json,
    /// 1: RocketMQ's compact binary layout (`RocketMQSerializable`).
    RocketMq,
}

impl SerializeType {
    pub fn from_byte(byte: u8) -> Option<SerializeType> {
        match byte {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }

    pub fn to_byte(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }

    /// The name Java writes in `serializeTypeCurrentRPC`.
    pub fn name(self) -> &'static str {
        match self {
            SerializeType::Json => "JSON",
            SerializeType::RocketMq => "ROCKETMQ",
        }
    }
}

/// Process-wide opaque counter, as Java's `RemotingCommand.requestId` (starts at 0, wraps).
static NEXT_OPAQUE: AtomicI32 = AtomicI32::new(0);

/// A fresh request id. Unique per process until it wraps after 2^32 requests; a connection
/// never has that many requests in flight, and a collision is resolved when the request is sent.
pub fn next_opaque() -> i32 {
    NEXT_OPAQUE.fetch_add(1, Ordering::Relaxed)
}

/// One request or response.
///
/// `ext_fields` is RocketMQ's "custom header": every value a string, as Java sends them (numbers
/// and booleans from other clients were turned into their string form by the codec). `body` is
/// never part of the header and is shared, not copied, with the frame it came in.
///
/// The body on the wire is `body` followed by every buffer of `body_parts`. A decoded command
/// always has its whole body in `body` and no parts; an answer may carry its body as parts
/// instead ([`RemotingCommand::with_body_parts`]), which the connection's writer sends with
/// vectored writes without joining them: a pull answer is each message's bytes sliced from the
/// mapped CommitLog segment, so they go from the page cache to the socket with no copy in
/// between. Code that reads a body it did not decode uses [`RemotingCommand::body_len`] and
/// [`RemotingCommand::body_bytes`], which see the parts too.
#[derive(Clone, PartialEq, Eq)]
pub struct RemotingCommand {
    pub code: i32,
    pub language: LanguageCode,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    pub ext_fields: ExtFields,
    pub body: Bytes,
    /// The rest of the body, after `body`, in order; empty unless set by
    /// [`RemotingCommand::with_body_parts`]. A `Vec::new()` does not allocate, so a command
    /// without parts costs what it did before they existed.
    pub body_parts: Vec<Bytes>,
    pub serialize_type: SerializeType,
}

impl RemotingCommand {
    /// A new request with a fresh opaque, JSON header, language JAVA and [`LEDGERMQ_VERSION`].
    pub fn request(code: i32) -> RemotingCommand {
        RemotingCommand {
            code,
            language: LanguageCode::Java,
            version: LEDGERMQ_VERSION,
            opaque: next_opaque(),
            flag: 0,
            remark: None,
            ext_fields: ExtFields::new(),
            body: Bytes::new(),
            body_parts: Vec::new(),
            serialize_type: SerializeType::Json,
        }
    }

    /// The response to `req`: same opaque, response flag set, same serialize type as the request
    /// (a client that sent ROCKETMQ binary reads the answer with the same codec), language JAVA
    /// (every Java peer can parse it) and [`LEDGERMQ_VERSION`].
    pub fn response_to(req: &RemotingCommand, code: i32) -> RemotingCommand {
        RemotingCommand {
            code,
            language: LanguageCode::Java,
            version: LEDGERMQ_VERSION,
            opaque: req.opaque,
            flag: FLAG_RESPONSE,
            remark: None,
            ext_fields: ExtFields::new(),
            body: Bytes::new(),
            body_parts: Vec::new(),
            serialize_type: req.serialize_type,
        }
    }

    /// A response not yet tied to a request (opaque 0, JSON). The server sets opaque, flag and
    /// serialize type from the request when it sends a handler's answer, so a handler that no
    /// longer holds the request can use this; prefer [`RemotingCommand::response_to`] elsewhere.
    pub fn response(code: i32) -> RemotingCommand {
        RemotingCommand {
            code,
            language: LanguageCode::Java,
            version: LEDGERMQ_VERSION,
            opaque: 0,
            flag: FLAG_RESPONSE,
            remark: None,
            ext_fields: ExtFields::new(),
            body: Bytes::new(),
            body_parts: Vec::new(),
            serialize_type: SerializeType::Json,
        }
    }

    pub fn with_remark(mut self, remark: impl Into<String>) -> RemotingCommand {
        self.remark = Some(remark.into());
        self
    }

    pub fn with_body(mut self, body: impl Into<Bytes>) -> RemotingCommand {
        self.body = body.into();
        self.body_parts.clear();
        self
    }

    /// Sets the body to the concatenation of `parts`, kept as separate buffers: the writer sends
    /// them with vectored writes, so bytes shared with something else (a mapped CommitLog
    /// segment) are never copied into the answer.
    pub fn with_body_parts(mut self, parts: Vec<Bytes>) -> RemotingCommand {
        self.body = Bytes::new();
        self.body_parts = parts;
        self
    }

    /// Length of the whole body, parts included: what the frame's length prefix counts.
    pub fn body_len(&self) -> usize {
        self.body.len() + self.body_parts.iter().map(Bytes::len).sum::<usize>()
    }

    /// The whole body as one buffer: `body` itself (shared, not copied) when there are no
    /// parts, else a copy joining them. For tests and tools, never for the send path.
    pub fn body_bytes(&self) -> Bytes {
        if self.body_parts.is_empty() {
            return self.body.clone();
        }
        let mut joined = bytes::BytesMut::with_capacity(self.body_len());
        joined.extend_from_slice(&self.body);
        for part in &self.body_parts {
            joined.extend_from_slice(part);
        }
        joined.freeze()
    }

    /// Adds one custom-header field. Numbers and booleans take their Java string form
    /// (`3` → `"3"`, `true` → `"true"`).
    pub fn with_ext(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl std::fmt::Display,
    ) -> RemotingCommand {
        self.set_ext(key, value);
        self
    }

    pub fn with_serialize_type(mut self, serialize_type: SerializeType) -> RemotingCommand {
        self.serialize_type = serialize_type;
        self
    }

    pub fn set_ext(&mut self, key: impl Into<Cow<'static, str>>, value: impl std::fmt::Display) {
        self.ext_fields.insert_display(key, value);
    }

    /// One custom-header field, if present.
    pub fn ext(&self, key: &str) -> Option<&str> {
        self.ext_fields.get(key)
    }

    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    pub fn mark_response(&mut self) {
        self.flag |= FLAG_RESPONSE;
    }

    /// Marks a request as oneway: the peer sends no response, even on error.
    pub fn mark_oneway(&mut self) {
        self.flag |= FLAG_ONEWAY;
    }

    /// The RocketMQ name of `code`, looked up in the request or the response table by the flag.
    pub fn code_name(&self) -> Option<&'static str> {
        if self.is_response() {
            response_code_name(self.code)
        } else {
            request_code_name(self.code)
        }
    }
}

/// The answer to a request whose code no processor handles: `REQUEST_CODE_NOT_SUPPORTED` with
/// Java's remark, byte for byte (clients show it to users).
///
/// The remoting server does not send this by itself: every [`RequestHandler`] (broker, name
/// server) must end its dispatch with it, so what is "supported" stays the handler's decision.
///
/// [`RequestHandler`]: super::server::RequestHandler
pub fn not_supported(req: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(req, response_code::REQUEST_CODE_NOT_SUPPORTED)
        .with_remark(format!(" request type {} not supported", req.code))
}

impl fmt::Debug for RemotingCommand {
    /// Everything but the body's bytes, which can be megabytes: only its length is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemotingCommand")
            .field("code", &self.code)
            .field("name", &self.code_name().unwrap_or("?"))
            .field("language", &self.language)
            .field("version", &self.version)
            .field("opaque", &self.opaque)
            .field("flag", &self.flag)
            .field("remark", &self.remark)
            .field("ext_fields", &self.ext_fields)
            .field("body_len", &self.body_len())
            .field("body_parts", &self.body_parts.len())
            .field("serialize_type", &self.serialize_type)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::codes::request_code;
    use super::*;

    #[test]
    fn request_and_response_flags() {
        let mut req = RemotingCommand::request(request_code::PULL_MESSAGE)
            .with_ext("queueId", 3)
            .with_ext("suspend", true)
            .with_serialize_type(SerializeType::RocketMq);
        assert!(!req.is_response());
        assert!(!req.is_oneway());
        assert_eq!(req.ext("queueId"), Some("3"));
        assert_eq!(req.ext("suspend"), Some("true"));
        assert_eq!(req.ext("missing"), None);
        assert_eq!(req.code_name(), Some("PULL_MESSAGE"));
        req.mark_oneway();
        assert!(req.is_oneway() && !req.is_response());

        let resp = RemotingCommand::response_to(&req, response_code::PULL_NOT_FOUND)
            .with_body(&b"x"[..])
            .with_remark("nothing yet");
        assert!(resp.is_response());
        assert!(!resp.is_oneway());
        assert_eq!(resp.opaque, req.opaque);
        assert_eq!(resp.serialize_type, SerializeType::RocketMq);
        assert_eq!(resp.language, LanguageCode::Java);
        assert_eq!(resp.version, LEDGERMQ_VERSION);
        assert_eq!(resp.code_name(), Some("PULL_NOT_FOUND"));
        assert!(format!("{resp:?}").contains("body_len: 1"));
    }

    #[test]
    fn opaques_are_fresh() {
        let a = RemotingCommand::request(request_code::HEART_BEAT);
        let b = RemotingCommand::request(request_code::HEART_BEAT);
        assert_ne!(a.opaque, b.opaque);
    }

    #[test]
    fn not_supported_matches_java() {
        let req = RemotingCommand::request(9999);
        let resp = not_supported(&req);
        assert_eq!(resp.code, response_code::REQUEST_CODE_NOT_SUPPORTED);
        assert_eq!(
            resp.remark.as_deref(),
            Some(" request type 9999 not supported")
        );
        assert_eq!(resp.opaque, req.opaque);
        assert!(resp.is_response());
    }

    #[test]
    fn languages_keep_unknown_values() {
        for (lang, name, byte) in LANGUAGES.iter() {
            assert_eq!(&LanguageCode::from_name(name), lang);
            assert_eq!(&LanguageCode::from_byte(*byte), lang);
            assert_eq!(lang.name(), *name);
            assert_eq!(lang.to_byte(), *byte);
        }
        let cobol = LanguageCode::from_name("COBOL");
        assert_eq!(cobol, LanguageCode::UnknownName("COBOL".into()));
        assert_eq!(cobol.name(), "COBOL");
        assert_eq!(cobol.to_byte(), 7);
        let b = LanguageCode::from_byte(200);
        assert_eq!(b, LanguageCode::UnknownByte(200));
        assert_eq!(b.to_byte(), 200);
        assert_eq!(b.name(), "OTHER");
    }
}

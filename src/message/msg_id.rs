//! Message ids.
//!
//! * offsetMsgId — what a SEND reply carries as `msgId` and VIEW_MESSAGE_BY_ID takes: the store
//!   host (IPv4 4 bytes or IPv6 16) + port (int) + CommitLog offset (long), as uppercase hex.
//!   32 characters for IPv4, 56 for IPv6. Decoding it tells a client which broker to ask and
//!   where the message is.
//! * UNIQ_KEY — the client's own id (`SendResult.msgId`, property `UNIQ_KEY`): IP, pid (short),
//!   class-loader hash (int), ms since the start of the month (int) and a counter (short). The
//!   broker never makes one; [`UniqIdGenerator`] exists for our own producers and tools.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use super::cursor::Cursor;
use super::MessageError;

const HEX: &[u8; 16] = b"0123456789ABCDEF";
const MS_PER_DAY: i64 = 86_400_000;

/// Length of an IPv4 offsetMsgId in hex characters.
pub const OFFSET_MSG_ID_LEN_V4: usize = 32;
/// Length of an IPv6 offsetMsgId in hex characters.
pub const OFFSET_MSG_ID_LEN_V6: usize = 56;

fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0F)]));
    }
}

fn ip_octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    }
}

/// The offsetMsgId of the message stored at `commit_log_offset` by the broker at `store_host`.
pub fn create_offset_msg_id(store_host: SocketAddr, commit_log_offset: i64) -> String {
    let mut id = String::with_capacity(OFFSET_MSG_ID_LEN_V6);
    push_hex(&mut id, &ip_octets(store_host.ip()));
    push_hex(&mut id, &i32::from(store_host.port()).to_be_bytes());
    push_hex(&mut id, &commit_log_offset.to_be_bytes());
    id
}

/// Reads an offsetMsgId back into (store host, CommitLog offset). Lowercase hex is accepted,
/// as Java upper-cases before decoding.
pub fn decode_offset_msg_id(msg_id: &str) -> Result<(SocketAddr, i64), MessageError> {
    let ip_len = match msg_id.len() {
        OFFSET_MSG_ID_LEN_V4 => 4,
        OFFSET_MSG_ID_LEN_V6 => 16,
        len => return Err(MessageError::BadMsgIdLength { len }),
    };
    let mut bytes = [0u8; OFFSET_MSG_ID_LEN_V6 / 2];
    for (i, (at, found)) in msg_id.char_indices().enumerate() {
        let nibble = found
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
            .ok_or(MessageError::BadMsgIdHex { at, found })?;
        // A non-hex char fails above, so every char here is one byte and i < msg_id.len() <= 56.
        let byte = bytes
            .get_mut(i / 2)
            .ok_or(MessageError::BadMsgIdHex { at, found })?;
        *byte = if i % 2 == 0 {
            nibble << 4
        } else {
            *byte | nibble
        };
    }
    let mut c = Cursor::new(bytes.get(..msg_id.len() / 2).unwrap_or_default(), 0);
    let ip = if ip_len == 16 {
        IpAddr::V6(Ipv6Addr::from(c.bytes16("msgId host")?))
    } else {
        IpAddr::V4(Ipv4Addr::from(c.bytes4("msgId host")?))
    };
    let port_at = ip_len * 2;
    let port = c.i32("msgId port")?;
    let port = u16::try_from(port).map_err(|_| MessageError::BadPort {
        at: port_at,
        field: "msgId port",
        port,
    })?;
    let offset = c.i64("msgId offset")?;
    Ok((SocketAddr::new(ip, port), offset))
}

/// Milliseconds from the start of the current month (UTC) to `now_ms` (ms since the epoch).
///
/// Java uses the JVM's local time zone here; we use UTC so the function is pure. The value only
/// feeds the id's "nearly time" field, so the choice is visible to nobody but a human reading it.
pub fn ms_since_month_start_utc(now_ms: i64) -> i64 {
    let days = now_ms.div_euclid(MS_PER_DAY);
    let day_of_month = day_of_month(days);
    now_ms.rem_euclid(MS_PER_DAY) + (day_of_month - 1) * MS_PER_DAY
}

/// Day of the month (1..=31) of a day count since 1970-01-01, proleptic Gregorian calendar
/// (H. Hinnant's civil-from-days).
fn day_of_month(days_since_epoch: i64) -> i64 {
    let z = days_since_epoch + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    doy - (153 * mp + 2) / 5 + 1
}

/// Makes UNIQ_KEYs in the Java client's layout: a fixed prefix (IP, pid, class-loader hash), then
/// per id the ms since month start (int, wraps after ~24.8 days as in Java) and a counter (short).
/// An IPv4 address gives 32 hex characters, an IPv6 one 56.
#[derive(Debug)]
pub struct UniqIdGenerator {
    prefix: String,
    counter: AtomicU32,
}

impl UniqIdGenerator {
    /// `pid` is truncated to 16 bits and `class_loader_hash` is any per-process int (Java uses the
    /// class loader's identity hash; a random number serves the same purpose).
    pub fn new(ip: IpAddr, pid: u32, class_loader_hash: i32) -> Self {
        let mut prefix = String::with_capacity(OFFSET_MSG_ID_LEN_V6);
        push_hex(&mut prefix, &ip_octets(ip));
        push_hex(&mut prefix, &(pid as u16).to_be_bytes());
        push_hex(&mut prefix, &class_loader_hash.to_be_bytes());
        UniqIdGenerator {
            prefix,
            counter: AtomicU32::new(0),
        }
    }

    /// The next id at `now_ms` (ms since the epoch). Safe to call from many threads.
    pub fn next_id(&self, now_ms: i64) -> String {
        let counter = self.counter.fetch_add(1, Ordering::Relaxed) as u16;
        let since_month = ms_since_month_start_utc(now_ms) as i32;
        let mut id = String::with_capacity(self.prefix.len() + 12);
        id.push_str(&self.prefix);
        push_hex(&mut id, &since_month.to_be_bytes());
        push_hex(&mut id, &counter.to_be_bytes());
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ipv4_msg_id() {
        let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
        assert_eq!(
            create_offset_msg_id(host, 0),
            "7F00000100002A9F0000000000000000"
        );
        assert_eq!(
            decode_offset_msg_id("7F00000100002A9F0000000000000000"),
            Ok((host, 0))
        );
        assert_eq!(
            decode_offset_msg_id("7f00000100002a9f0000000000000000"),
            Ok((host, 0))
        );
    }

    #[test]
    fn round_trips_ipv4_and_ipv6() {
        let cases: [(&str, i64); 4] = [
            ("10.1.2.3:10911", 1_073_741_824),
            ("192.168.0.1:65535", i64::MAX),
            ("[::1]:10911", 123_456),
            ("[2001:db8::ff00:42:8329]:1", -1),
        ];
        for (addr, offset) in cases {
            let host: SocketAddr = addr.parse().unwrap();
            let id = create_offset_msg_id(host, offset);
            assert_eq!(id.len(), if host.is_ipv4() { 32 } else { 56 });
            assert_eq!(id, id.to_uppercase());
            assert_eq!(decode_offset_msg_id(&id), Ok((host, offset)));
        }
    }

    #[test]
    fn bad_ids_are_clear_errors() {
        assert_eq!(
            decode_offset_msg_id("7F000001"),
            Err(MessageError::BadMsgIdLength { len: 8 })
        );
        assert_eq!(
            decode_offset_msg_id(""),
            Err(MessageError::BadMsgIdLength { len: 0 })
        );
        assert_eq!(
            decode_offset_msg_id("7F00000100002A9F00000000000000G0"),
            Err(MessageError::BadMsgIdHex { at: 30, found: 'G' })
        );
        // 30 ASCII chars + one 2-byte char = 32 bytes: still rejected, not sliced mid-char.
        assert!(matches!(
            decode_offset_msg_id("7F00000100002A9F00000000000000é"),
            Err(MessageError::BadMsgIdHex { found: 'é', .. })
        ));
        // Port 0x7FFFFFFF is not a port.
        assert!(matches!(
            decode_offset_msg_id("7F0000017FFFFFFF0000000000000000"),
            Err(MessageError::BadPort { at: 8, .. })
        ));
    }

    #[test]
    fn month_start_is_utc() {
        // 2024-03-15T12:00:00Z; the month began 2024-03-01T00:00:00Z = 1709251200000.
        assert_eq!(
            ms_since_month_start_utc(1_710_504_000_000),
            1_710_504_000_000 - 1_709_251_200_000
        );
        // Exactly at a month start (2024-02-01T00:00:00Z), and the last ms of the epoch's month.
        assert_eq!(ms_since_month_start_utc(1_706_745_600_000), 0);
        assert_eq!(
            ms_since_month_start_utc(31 * MS_PER_DAY - 1),
            31 * MS_PER_DAY - 1
        );
        // 1969-12-31T23:59:59.999Z is in a December that began 30 days + 1 day - 1 ms earlier.
        assert_eq!(ms_since_month_start_utc(-1), 31 * MS_PER_DAY - 1);
        // 2024-02-29 (leap day) 00:00Z.
        assert_eq!(ms_since_month_start_utc(1_709_164_800_000), 28 * MS_PER_DAY);
    }

    #[test]
    fn uniq_key_layout() {
        let generator = UniqIdGenerator::new("192.168.1.2".parse().unwrap(), 0x1_2345, -1);
        let now = 1_709_251_200_000 + 0x0102_0304; // 2024-03-01T00:00:00Z + 16909060 ms
        let first = generator.next_id(now);
        let second = generator.next_id(now);
        assert_eq!(first, "C0A801022345FFFFFFFF010203040000");
        assert_eq!(second, "C0A801022345FFFFFFFF010203040001");
        let v6 = UniqIdGenerator::new("::1".parse().unwrap(), 1, 0);
        assert_eq!(v6.next_id(now).len(), 56);
    }
}

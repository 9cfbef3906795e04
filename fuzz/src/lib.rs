//! Helpers shared by the fuzz targets: building a well-formed remoting frame around fuzzed
//! header bytes, and a scratch directory per run for the disk-facing targets.

use std::path::PathBuf;

/// Frame limit the targets decode with: small, so a declared length over it is exercised often.
pub const MAX_FRAME: usize = 1 << 20;

/// A remoting frame: length prefix, serialize-type byte + 24-bit header length, header, body.
pub fn frame(serialize_type: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    let header_len = header.len().min(0x00FF_FFFF);
    let total = 4 + header_len + body.len();
    let mut out = Vec::with_capacity(4 + total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&((u32::from(serialize_type) << 24) | header_len as u32).to_be_bytes());
    out.extend_from_slice(&header[..header_len]);
    out.extend_from_slice(body);
    out
}

/// Splits `data` at a position taken from its first two bytes (so the fuzzer can move the
/// boundary between a header and a body).
pub fn split(data: &[u8]) -> (&[u8], &[u8]) {
    if data.len() < 2 {
        return (data, &[]);
    }
    let at = usize::from(u16::from_be_bytes([data[0], data[1]]));
    let rest = &data[2..];
    rest.split_at(at.min(rest.len()))
}

/// An empty directory of this process's own, emptied again on every call (the disk targets
/// run one input at a time per process). In `/dev/shm` when there is one: the store fsyncs
/// its files and directories, which on a real disk held the disk targets to ~10 inputs/s.
pub fn scratch_dir(name: &str) -> PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("ledgermq-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// `bytes` with a correct CRC32C prefix, as `raft::meta::write_atomic` writes it: lets the
/// fuzzer reach the bincode decoding behind the checksum.
pub fn with_crc(bytes: &[u8]) -> Vec<u8> {
    let mut out = crc32c::crc32c(bytes).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

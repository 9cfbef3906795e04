//! The ROCKETMQ binary header (serialize type 1, `RocketMQSerializable`), big-endian:
//!
//! ```text
//! size  field
//! 2     code             i16
//! 1     language         LanguageCode byte
//! 2     version          i16
//! 4     opaque           i32
//! 4     flag             i32
//! 4     remarkLength     i32, 0 = no remark
//! R     remark           UTF-8
//! 4     extFieldsLength  i32, total bytes of the entries below, 0 = none
//! E     entries until E bytes are used: keyLength u16, key, valueLength i32, value
//! ```
//!
//! A Java client uses it only when `rocketmq.serialize.type=ROCKETMQ`. Strings that are not
//! UTF-8 are decoded lossily (as Java's `new String(bytes, UTF_8)` does); bytes after the ext
//! fields are ignored (as Java does). Lengths that point past the header are errors.

use bytes::{BufMut, BytesMut};

use super::CodecError;
use crate::remoting::command::{LanguageCode, RemotingCommand, SerializeType};
use crate::remoting::ext_fields::ExtFields;

/// A bounds-checked reader over the header bytes.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], CodecError> {
        if self.rest.len() < n {
            return Err(CodecError::TruncatedBinaryHeader {
                field,
                needed: n,
                available: self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], CodecError> {
        let bytes = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// An i32 length that must not be negative.
    fn len32(&mut self, field: &'static str) -> Result<usize, CodecError> {
        let length = i32::from_be_bytes(self.array(field)?);
        usize::try_from(length).map_err(|_| CodecError::NegativeLength { field, length })
    }
}

pub(super) fn read(header: &[u8]) -> Result<RemotingCommand, CodecError> {
    let mut c = Cursor { rest: header };
    let code = i16::from_be_bytes(c.array("code")?);
    let [language] = c.array::<1>("language")?;
    let version = i16::from_be_bytes(c.array("version")?);
    let opaque = i32::from_be_bytes(c.array("opaque")?);
    let flag = i32::from_be_bytes(c.array("flag")?);
    let remark_len = c.len32("remarkLength")?;
    let remark = match c.take(remark_len, "remark")? {
        [] => None,
        bytes => Some(String::from_utf8_lossy(bytes).into_owned()),
    };
    let ext_len = c.len32("extFieldsLength")?;
    let ext_bytes = c.take(ext_len, "extFields")?;
    let mut ext = Cursor { rest: ext_bytes };
    // One text for every name and value: the entries' bytes bound it (unless some need
    // U+FFFD replacements), so it is allocated once.
    let mut ext_fields = ExtFields::with_text_capacity(count_entries(ext_bytes), ext_len);
    while !ext.rest.is_empty() {
        let key_len = u16::from_be_bytes(ext.array("extFields key length")?);
        let key = ext.take(usize::from(key_len), "extFields key")?;
        let value_len = ext.len32("extFields value length")?;
        let value = ext.take(value_len, "extFields value")?;
        // As UTF-8, invalid sequences replaced by U+FFFD (Java's `new String(bytes, UTF_8)`);
        // valid bytes are borrowed, not copied twice.
        ext_fields.push_wire_str(
            &String::from_utf8_lossy(key),
            &String::from_utf8_lossy(value),
        );
    }
    ext_fields.dedup_wire();
    Ok(RemotingCommand {
        code: i32::from(code),
        language: LanguageCode::from_byte(language),
        version: i32::from(version),
        opaque,
        flag,
        remark,
        ext_fields,
        body: bytes::Bytes::new(),
        body_parts: Vec::new(),
        serialize_type: SerializeType::RocketMq,
    })
}

/// How many whole entries `ext` holds, to size the map once; a torn tail is not counted (the
/// reader reports it).
fn count_entries(mut ext: &[u8]) -> usize {
    let mut n = 0;
    while let [k0, k1, rest @ ..] = ext {
        let key_len = usize::from(u16::from_be_bytes([*k0, *k1]));
        let Some([v0, v1, v2, v3, rest @ ..]) = rest.get(key_len..) else {
            break;
        };
        let value_len = u32::from_be_bytes([*v0, *v1, *v2, *v3]) as usize;
        let Some(rest) = rest.get(value_len..) else {
            break;
        };
        n += 1;
        ext = rest;
    }
    n
}

fn narrow16(field: &'static str, value: i64) -> Result<i16, CodecError> {
    i16::try_from(value).map_err(|_| CodecError::FieldOutOfRange {
        field,
        value,
        bits: 16,
    })
}

fn len32(field: &'static str, len: usize) -> Result<u32, CodecError> {
    i32::try_from(len)
        .map(|l| l as u32)
        .map_err(|_| CodecError::FieldOutOfRange {
            field,
            value: len as i64,
            bits: 32,
        })
}

pub(super) fn write(cmd: &RemotingCommand, out: &mut BytesMut) -> Result<(), CodecError> {
    // Validate everything before writing anything.
    let code = narrow16("code", i64::from(cmd.code))?;
    let version = narrow16("version", i64::from(cmd.version))?;
    let remark = cmd.remark.as_deref().unwrap_or("").as_bytes();
    let remark_len = len32("remark length", remark.len())?;
    let mut entries: Vec<(&str, &str)> = cmd.ext_fields.iter().collect();
    entries.sort_unstable();
    let mut ext_len: usize = 0;
    for (k, v) in &entries {
        // Java reads the key length as a signed short: keep it below 2^15.
        narrow16("extFields key length", k.len() as i64)?;
        len32("extFields value length", v.len())?;
        ext_len = ext_len.saturating_add(2 + k.len() + 4 + v.len());
    }
    let ext_len32 = len32("extFields length", ext_len)?;

    out.reserve(2 + 1 + 2 + 4 + 4 + 4 + remark.len() + 4 + ext_len);
    out.put_i16(code);
    out.put_u8(cmd.language.to_byte());
    out.put_i16(version);
    out.put_i32(cmd.opaque);
    out.put_i32(cmd.flag);
    out.put_u32(remark_len);
    out.put_slice(remark);
    out.put_u32(ext_len32);
    for (k, v) in entries {
        out.put_u16(k.len() as u16);
        out.put_slice(k.as_bytes());
        out.put_u32(v.len() as u32);
        out.put_slice(v.as_bytes());
    }
    Ok(())
}

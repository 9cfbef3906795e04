//! A bounds-checked big-endian reader over a byte slice.
//!
//! Every read either returns the bytes or a [`MessageError::Truncated`] naming the field, so the
//! decoders above it never index a slice directly. `base` is the absolute position of `buf[0]`
//! in the caller's buffer, so errors point at the right byte of a pull body or a batch.

use super::MessageError;

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Cursor { buf, pos: 0, base }
    }

    /// Bytes consumed so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Absolute position of the next byte, for error messages.
    pub(crate) fn at(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], MessageError> {
        let slice = self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end));
        match slice {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(MessageError::Truncated {
                at: self.at(),
                need: n,
                available: self.remaining(),
                field,
            }),
        }
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], MessageError> {
        let at = self.at();
        let available = self.remaining();
        self.take(N, field)?
            .try_into()
            .map_err(|_| MessageError::Truncated {
                at,
                need: N,
                available,
                field,
            })
    }

    pub(crate) fn i8(&mut self, field: &'static str) -> Result<i8, MessageError> {
        Ok(i8::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, MessageError> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, MessageError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, MessageError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, MessageError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn bytes4(&mut self, field: &'static str) -> Result<[u8; 4], MessageError> {
        self.array(field)
    }

    pub(crate) fn bytes16(&mut self, field: &'static str) -> Result<[u8; 16], MessageError> {
        self.array(field)
    }

    /// Reads a length prefix that must not be negative.
    pub(crate) fn len_i32(&mut self, field: &'static str) -> Result<usize, MessageError> {
        let at = self.at();
        let len = self.i32(field)?;
        usize::try_from(len).map_err(|_| MessageError::NegativeLength { at, field, len })
    }

    pub(crate) fn len_i16(&mut self, field: &'static str) -> Result<usize, MessageError> {
        let at = self.at();
        let len = self.i16(field)?;
        usize::try_from(len).map_err(|_| MessageError::NegativeLength {
            at,
            field,
            len: i32::from(len),
        })
    }

    pub(crate) fn len_i8(&mut self, field: &'static str) -> Result<usize, MessageError> {
        let at = self.at();
        let len = self.i8(field)?;
        usize::try_from(len).map_err(|_| MessageError::NegativeLength {
            at,
            field,
            len: i32::from(len),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_reports_absolute_positions() {
        let buf = [0, 0, 0, 7, 0xFF, 0xFF];
        let mut c = Cursor::new(&buf, 100);
        assert_eq!(c.i32("A"), Ok(7));
        assert_eq!(c.i16("B"), Ok(-1));
        assert_eq!(
            c.i64("C"),
            Err(MessageError::Truncated {
                at: 106,
                need: 8,
                available: 0,
                field: "C"
            })
        );
    }

    #[test]
    fn negative_lengths_are_errors() {
        let buf = [0xFF, 0xFF, 0xFF, 0xFE];
        let mut c = Cursor::new(&buf, 0);
        assert_eq!(
            c.len_i32("BODY length"),
            Err(MessageError::NegativeLength {
                at: 0,
                field: "BODY length",
                len: -2
            })
        );
    }

    #[test]
    fn huge_take_does_not_overflow() {
        let buf = [1u8; 4];
        let mut c = Cursor::new(&buf, 0);
        assert!(c.take(2, "x").is_ok());
        assert!(c.take(usize::MAX, "y").is_err());
    }
}

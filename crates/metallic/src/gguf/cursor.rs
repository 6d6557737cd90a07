//! A bounds-checked little-endian reader over untrusted bytes: every read
//! checks what is left first, so a truncated or lying file becomes an
//! `Error::Format` naming the byte offset and what was being read.

use crate::error::{Error, Result};

pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The next `n` bytes; `what` names the field for the error.
    pub(crate) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::Format(format!(
                "truncated at byte {}: {what} needs {n} bytes, {} left",
                self.pos,
                self.remaining()
            )));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// The bytes read since position `start`.
    pub(crate) fn since(&self, start: usize) -> &'a [u8] {
        &self.bytes[start..self.pos]
    }

    /// A GGUF string: a u64 byte length, then that many UTF-8 bytes. The
    /// length is checked against the bytes left before anything is copied.
    pub(crate) fn string(&mut self, what: &str) -> Result<String> {
        self.str(what).map(str::to_owned)
    }

    /// `string`, borrowed from the bytes.
    pub(crate) fn str(&mut self, what: &str) -> Result<&'a str> {
        let start = self.pos;
        let len = self.u64(what)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= self.remaining())
            .ok_or_else(|| {
                Error::Format(format!(
                    "{what} at byte {start} claims {len} bytes, but only {} remain in the file",
                    self.remaining()
                ))
            })?;
        let raw = self.take(len, what)?;
        std::str::from_utf8(raw)
            .map_err(|e| Error::Format(format!("{what} at byte {start} is not UTF-8: {e}")))
    }

    /// A count of items that each take at least `min_item_bytes` in the file,
    /// checked against the bytes left: the caller may size an allocation by it.
    pub(crate) fn count(&mut self, min_item_bytes: usize, what: &str) -> Result<usize> {
        let start = self.pos;
        let n = self.u64(what)?;
        let fits = self.remaining() / min_item_bytes.max(1);
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= fits)
            .ok_or_else(|| {
                Error::Format(format!(
                    "{what} at byte {start} is {n}, more than the {} bytes left could hold",
                    self.remaining()
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_reports_truncation() {
        let bytes = [1u8, 0, 2, 0, 0, 0, 9];
        let mut c = Cursor::new(&bytes);
        assert_eq!(c.u16("a").unwrap(), 1);
        assert_eq!(c.u32("b").unwrap(), 2);
        let err = c.u64("the field").unwrap_err().to_string();
        assert!(err.contains("truncated at byte 6"), "{err}");
        assert!(err.contains("the field"), "{err}");
    }

    #[test]
    fn string_longer_than_the_rest_is_refused_before_copying() {
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        let err = Cursor::new(&bytes).string("key").unwrap_err().to_string();
        assert!(err.contains("only 3 remain"), "{err}");
    }

    #[test]
    fn count_is_bounded_by_the_bytes_left() {
        let mut bytes = 4u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 8]);
        assert_eq!(Cursor::new(&bytes).count(2, "n").unwrap(), 4);
        assert!(Cursor::new(&bytes).count(3, "n").is_err());
    }
}

//! Kafka's zigzag varints (records and their headers use them); bounded reads, never a panic.

use bytes::{BufMut, BytesMut};

use super::BatchError;

pub(super) fn put_varint(buf: &mut BytesMut, v: i32) {
    put_varlong(buf, i64::from(v));
}

pub(super) fn put_varlong(buf: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

/// A zigzag varint of at most 10 bytes (Kafka's varlong; varints are a subset).
pub(super) fn get_varlong(buf: &mut &[u8]) -> Result<i64, BatchError> {
    let mut z: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *take(buf, 1)?.first().ok_or(truncated())?;
        z |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    Err(BatchError::Records("varint too long".into()))
}

/// A length that is either -1 (null) or a count of bytes still to come.
pub(super) fn get_length(buf: &mut &[u8]) -> Result<Option<usize>, BatchError> {
    match get_varlong(buf)? {
        -1 => Ok(None),
        n => usize::try_from(n)
            .ok()
            .filter(|n| *n <= buf.len())
            .map(Some)
            .ok_or(truncated()),
    }
}

pub(super) fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], BatchError> {
    if buf.len() < n {
        return Err(truncated());
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

fn truncated() -> BatchError {
    BatchError::Records("truncated".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ] {
            let mut buf = BytesMut::new();
            put_varlong(&mut buf, v);
            let mut slice = &buf[..];
            assert_eq!(get_varlong(&mut slice), Ok(v));
            assert!(slice.is_empty());
        }
    }

    #[test]
    fn lengths_past_the_end_are_refused() {
        let mut buf = BytesMut::new();
        put_varint(&mut buf, 5);
        buf.put_slice(b"abc");
        assert!(get_length(&mut &buf[..]).is_err());
        let mut buf = BytesMut::new();
        put_varint(&mut buf, -1);
        assert_eq!(get_length(&mut &buf[..]), Ok(None));
    }
}

//! Size-prefixed frames off a byte stream: the 4-byte length is checked against the limit before a
//! byte of the body is buffered, and the buffer grows only as body bytes actually arrive.
//! `connection.rs` owns the socket; `request.rs` reads what is inside a frame.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Read granularity while a frame's body is still arriving; the buffer at most doubles per read,
/// so a client announcing a large frame and sending little costs little.
const READ_CHUNK_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("negative frame size {0}")]
    Negative(i32),
    #[error("frame size {size} is over socket.request.max.bytes ({max})")]
    TooLarge { size: i32, max: u32 },
    #[error("connection closed {have} bytes into a frame of {need}")]
    Truncated { have: usize, need: usize },
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Buffers bytes from a stream and cuts them into frames (size prefix removed).
#[derive(Debug)]
pub struct FrameReader {
    buf: BytesMut,
    max_frame_bytes: u32,
}

impl FrameReader {
    pub fn new(max_frame_bytes: u32) -> Self {
        FrameReader {
            buf: BytesMut::with_capacity(4096),
            max_frame_bytes,
        }
    }

    /// The next frame, or `None` on a clean end of stream between frames.
    ///
    /// Cancel-safe: the only await is `read_buf` into the buffer kept in `self`, so dropping this
    /// future (e.g. in `select!`) loses no bytes.
    pub async fn read_frame<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
    ) -> Result<Option<Bytes>, FrameError> {
        loop {
            if let Some(frame) = self.try_frame()? {
                return Ok(Some(frame));
            }
            let want = self.wanted();
            self.buf.reserve(want);
            if stream.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated {
                        have: self.buf.len(),
                        need: self.needed_total(),
                    })
                };
            }
        }
    }

    /// Cuts a whole frame off the buffer if one is there; fails as soon as the prefix is bad.
    pub fn try_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        let Some(body_len) = self.announced()? else {
            return Ok(None);
        };
        if self.buf.len() < 4 + body_len {
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(body_len).freeze()))
    }

    /// The announced body length, once the 4-byte prefix is in and checked.
    fn announced(&self) -> Result<Option<usize>, FrameError> {
        let Some(prefix) = self.buf.get(..4) else {
            return Ok(None);
        };
        let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if size < 0 {
            return Err(FrameError::Negative(size));
        }
        if size as u32 > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                size,
                max: self.max_frame_bytes,
            });
        }
        Ok(Some(size as usize))
    }

    fn needed_total(&self) -> usize {
        match self.announced() {
            Ok(Some(len)) => 4 + len,
            _ => 4,
        }
    }

    /// How much room to make before the next read: what the current frame still lacks, capped at
    /// one chunk or the bytes already buffered (growth follows arrivals).
    fn wanted(&self) -> usize {
        let lacking = self.needed_total().saturating_sub(self.buf.len());
        lacking.clamp(1, READ_CHUNK_BYTES.max(self.buf.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: u32) -> Vec<Result<Option<Bytes>, String>> {
        let mut reader = FrameReader::new(max);
        let mut stream = input;
        let mut out = Vec::new();
        loop {
            let r = reader
                .read_frame(&mut stream)
                .await
                .map_err(|e| e.to_string());
            let stop = !matches!(r, Ok(Some(_)));
            out.push(r);
            if stop {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn splits_pipelined_frames_and_ends_cleanly() {
        let input = [0, 0, 0, 2, b'a', b'b', 0, 0, 0, 0, 0, 0, 0, 1, b'c'];
        let got = frames(&input, 100).await;
        let want: Vec<Result<Option<Bytes>, String>> = vec![
            Ok(Some(Bytes::from_static(b"ab"))),
            Ok(Some(Bytes::new())),
            Ok(Some(Bytes::from_static(b"c"))),
            Ok(None),
        ];
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn bad_prefixes_fail_before_the_body_is_read() {
        for (prefix, expect) in [
            ([0x7f, 0xff, 0xff, 0xff], "over socket.request.max.bytes"),
            ([0xff, 0xff, 0xff, 0xff], "negative frame size -1"),
            ([0x80, 0, 0, 0], "negative frame size -2147483648"),
            ([0, 0, 0, 101], "over socket.request.max.bytes"),
        ] {
            let mut reader = FrameReader::new(100);
            let mut stream = &prefix[..];
            let err = reader
                .read_frame(&mut stream)
                .await
                .expect_err("bad prefix");
            assert!(err.to_string().contains(expect), "{err}");
            assert!(
                reader.buf.capacity() <= 4096 + READ_CHUNK_BYTES,
                "no body allocation"
            );
        }
    }

    #[tokio::test]
    async fn truncated_body_is_an_error() {
        let got = frames(&[0, 0, 0, 10, 1, 2, 3], 100).await;
        assert_eq!(
            got,
            vec![Err(
                "connection closed 7 bytes into a frame of 14".to_string()
            )]
        );
    }

    #[test]
    fn buffer_grows_with_arrivals_not_with_the_announcement() {
        let mut reader = FrameReader::new(u32::MAX >> 1);
        reader.buf.extend_from_slice(&0x7fff_0000_i32.to_be_bytes());
        assert_eq!(reader.try_frame().expect("valid prefix"), None);
        assert_eq!(reader.wanted(), READ_CHUNK_BYTES);
        reader.buf.extend_from_slice(&vec![0u8; 1 << 20]);
        assert_eq!(reader.wanted(), (1 << 20) + 4);
    }
}

//! The Raft transport's frames: header layout, kinds, response statuses, the handshake bodies,
//! and the bounded frame reader. `append.rs` lays out the AppendEntries body; `conn.rs` moves
//! frames over a socket.
//!
//! Every frame, big-endian:
//! ```text
//!  0          4         5                13              15
//!  | len u32  | kind u8 | request_id u64 | group_len u16 | group (UTF-8, group_len bytes) | body |
//! ```
//! `len` counts the bytes after itself (`11 + group_len + body`) and is checked against
//! `FRAME_MIN_LEN..=max_frame_bytes` before anything is allocated. `request_id` is chosen by the
//! side that sends a request (each side counts its own) and echoed by the [`RESPONSE`] to it.
//! `group` names the Raft instance (`"<topic>-<partition>.<topic id>"`, `"__cluster_metadata-0"`);
//! handshake frames carry an empty group and request id 0.
//!
//! Handshake (the dialer speaks first; nothing else may precede it):
//! ```text
//!  HELLO    | version u16 | node_id u64 | target_id u64 | cluster_len u16 | cluster_id |
//!  WELCOME  | version u16 | node_id u64 | cluster_len u16 | cluster_id |
//!  REFUSED  | reason (UTF-8) |            then the refusing side closes the connection
//! ```
//! A response body is `| status u8 | payload |`: [`STATUS_OK`] with the JSON of the RPC's answer
//! (AppendEntries answers are JSON too: they are small), any other status with a UTF-8 reason.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

pub const HELLO: u8 = 1;
pub const WELCOME: u8 = 2;
pub const REFUSED: u8 = 3;
pub const APPEND: u8 = 16;
pub const VOTE: u8 = 17;
pub const PRE_VOTE: u8 = 18;
pub const SNAPSHOT: u8 = 19;
pub const TRANSFER_LEADER: u8 = 20;
/// A record batch for the group's leader to propose (`forward.rs`).
pub const FORWARD_WRITE: u8 = 21;
pub const RESPONSE: u8 = 32;

/// The request was handled; the payload is the answer's JSON.
pub const STATUS_OK: u8 = 0;
/// No group of that name runs on the answering node (yet): the sender backs off and retries.
pub const STATUS_UNKNOWN_GROUP: u8 = 1;
/// The group is shutting down or stopped on the answering node.
pub const STATUS_GROUP_STOPPED: u8 = 2;
/// An earlier AppendEntries of the same pipeline failed; this one's outcome is unknown.
pub const STATUS_RESET: u8 = 3;
/// A forwarded write reached a node that does not lead the group; the payload names the leader
/// it knows (JSON `Option<u64>`).
pub const STATUS_NOT_LEADER: u8 = 4;
/// A forwarded write whose batch does not parse.
pub const STATUS_BAD_REQUEST: u8 = 5;

/// How a status reads in logs and errors.
pub fn status_name(status: u8) -> &'static str {
    match status {
        STATUS_OK => "ok",
        STATUS_UNKNOWN_GROUP => "group not served there",
        STATUS_GROUP_STOPPED => "group stopped there",
        STATUS_RESET => "append stream reset",
        STATUS_NOT_LEADER => "not the leader there",
        STATUS_BAD_REQUEST => "bad request",
        _ => "unknown status",
    }
}

pub const PROTOCOL_VERSION: u16 = 1;
/// Bytes of the header after the length field: kind, request id, group length.
pub const FRAME_MIN_LEN: u32 = 1 + 8 + 2;
pub const LEN_BYTES: usize = 4;
/// Longest group name a frame may carry (Kafka topic names stop at 249 bytes).
pub const MAX_GROUP_BYTES: usize = 512;
/// Largest handshake frame; a first frame claiming more closes the connection.
pub const MAX_HELLO_FRAME_BYTES: u32 = 1024;
/// A frame is read into memory at most this much at a time, so a hostile length reserves
/// little before the bytes arrive.
const READ_CHUNK_BYTES: usize = 1 << 20;

/// One decoded frame. `group` and `body` share the receive buffer: payloads sliced out of
/// `body` are never copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub request_id: u64,
    pub group: Bytes,
    pub body: Bytes,
}

/// Why the bytes on a Raft connection are not frames.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame length {len} outside {FRAME_MIN_LEN}..={max}")]
    Length { len: u32, max: u32 },
    #[error("frame group name of {0} bytes exceeds {MAX_GROUP_BYTES} or the frame")]
    Group(usize),
    #[error("{what}: {need} bytes needed, {left} left")]
    Truncated {
        what: &'static str,
        need: usize,
        left: usize,
    },
    #[error("{0} is not UTF-8")]
    Utf8(&'static str),
    #[error("{0}")]
    Invalid(String),
}

impl From<FrameError> for std::io::Error {
    fn from(e: FrameError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

/// The header of a frame whose body (`body_len` bytes) follows in other chunks.
pub fn header(
    kind: u8,
    request_id: u64,
    group: &str,
    body_len: usize,
) -> Result<Bytes, FrameError> {
    if group.len() > MAX_GROUP_BYTES {
        return Err(FrameError::Group(group.len()));
    }
    let len = FRAME_MIN_LEN as usize + group.len() + body_len;
    let len = u32::try_from(len).map_err(|_| FrameError::Length {
        len: u32::MAX,
        max: u32::MAX,
    })?;
    let mut out = BytesMut::with_capacity(LEN_BYTES + FRAME_MIN_LEN as usize + group.len());
    out.put_u32(len);
    out.put_u8(kind);
    out.put_u64(request_id);
    out.put_u16(group.len() as u16);
    out.put_slice(group.as_bytes());
    Ok(out.freeze())
}

/// A whole frame as one buffer (handshakes, responses, tests).
pub fn encode(kind: u8, request_id: u64, group: &str, body: &[u8]) -> Result<Bytes, FrameError> {
    let head = header(kind, request_id, group, body.len())?;
    let mut out = BytesMut::with_capacity(head.len() + body.len());
    out.put_slice(&head);
    out.put_slice(body);
    Ok(out.freeze())
}

/// Splits one complete frame (without its length field) into its parts.
pub fn decode(mut frame: Bytes) -> Result<Frame, FrameError> {
    let mut r = Reader::new(&frame);
    let kind = r.u8("frame kind")?;
    let request_id = r.u64("request id")?;
    let group_len = usize::from(r.u16("group length")?);
    if group_len > MAX_GROUP_BYTES || group_len > r.left() {
        return Err(FrameError::Group(group_len));
    }
    let start = FRAME_MIN_LEN as usize;
    frame.advance(start);
    let group = frame.split_to(group_len);
    Ok(Frame {
        kind,
        request_id,
        group,
        body: frame,
    })
}

/// Reads the next frame from `reader`, keeping read-ahead in `buf`. `Ok(None)` is a clean end
/// of stream between frames; a length outside `FRAME_MIN_LEN..=max_len`, a stream that ends
/// inside a frame, or a malformed header is an error (the caller closes the connection).
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    max_len: u32,
) -> std::io::Result<Option<Frame>> {
    loop {
        if buf.len() >= LEN_BYTES {
            let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            if !(FRAME_MIN_LEN..=max_len).contains(&len) {
                return Err(FrameError::Length { len, max: max_len }.into());
            }
            let total = LEN_BYTES + len as usize;
            if buf.len() >= total {
                let mut frame = buf.split_to(total);
                frame.advance(LEN_BYTES);
                return Ok(Some(decode(frame.freeze())?));
            }
            buf.reserve((total - buf.len()).min(READ_CHUNK_BYTES));
        } else {
            buf.reserve(READ_CHUNK_BYTES.min(64 << 10));
        }
        if reader.read_buf(buf).await? == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("stream ended {} bytes into a frame", buf.len()),
            ));
        }
    }
}

/// The dialer's first frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub version: u16,
    pub node_id: u64,
    pub target_id: u64,
    pub cluster_id: String,
}

/// The acceptor's answer to a [`Hello`] it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub version: u16,
    pub node_id: u64,
    pub cluster_id: String,
}

impl Hello {
    pub fn encode(&self) -> Result<Bytes, FrameError> {
        let mut body = BytesMut::new();
        body.put_u16(self.version);
        body.put_u64(self.node_id);
        body.put_u64(self.target_id);
        put_str(&mut body, &self.cluster_id)?;
        encode(HELLO, 0, "", &body)
    }

    pub fn decode(body: &[u8]) -> Result<Hello, FrameError> {
        let mut r = Reader::new(body);
        Ok(Hello {
            version: r.u16("hello version")?,
            node_id: r.u64("hello node id")?,
            target_id: r.u64("hello target id")?,
            cluster_id: r.str("hello cluster id")?,
        })
    }
}

impl Welcome {
    pub fn encode(&self) -> Result<Bytes, FrameError> {
        let mut body = BytesMut::new();
        body.put_u16(self.version);
        body.put_u64(self.node_id);
        put_str(&mut body, &self.cluster_id)?;
        encode(WELCOME, 0, "", &body)
    }

    pub fn decode(body: &[u8]) -> Result<Welcome, FrameError> {
        let mut r = Reader::new(body);
        Ok(Welcome {
            version: r.u16("welcome version")?,
            node_id: r.u64("welcome node id")?,
            cluster_id: r.str("welcome cluster id")?,
        })
    }
}

fn put_str(out: &mut BytesMut, s: &str) -> Result<(), FrameError> {
    let len = u16::try_from(s.len()).map_err(|_| FrameError::Invalid("string too long".into()))?;
    out.put_u16(len);
    out.put_slice(s.as_bytes());
    Ok(())
}

/// A response frame: status, then the JSON answer or a reason.
pub fn response(request_id: u64, status: u8, payload: &[u8]) -> Result<Bytes, FrameError> {
    let head = header(RESPONSE, request_id, "", 1 + payload.len())?;
    let mut out = BytesMut::with_capacity(head.len() + 1 + payload.len());
    out.put_slice(&head);
    out.put_u8(status);
    out.put_slice(payload);
    Ok(out.freeze())
}

/// Checked big-endian reads over a byte slice: every read names what it wanted when the
/// bytes run out, none panics.
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    pub fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    pub fn position(&self) -> usize {
        self.at
    }

    pub fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], FrameError> {
        if n > self.left() {
            return Err(FrameError::Truncated {
                what,
                need: n,
                left: self.left(),
            });
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], FrameError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(what, N)?);
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, FrameError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, FrameError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, FrameError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, FrameError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// A `u16`-length-prefixed UTF-8 string.
    pub fn str(&mut self, what: &'static str) -> Result<String, FrameError> {
        let len = usize::from(self.u16(what)?);
        let bytes = self.take(what, len)?;
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| FrameError::Utf8(what))
    }
}

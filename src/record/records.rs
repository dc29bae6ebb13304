//! The records inside a batch: decompressed with the batch's codec, then read one by one.
//! Keys, values and header values of an uncompressed batch are zero-copy slices of it.

use std::ops::Range;

use bytes::{Buf, Bytes};
use kafka_protocol::compression::{self, Decompressor};

use super::batch::BATCH_HEADER_BYTES;
use super::varint::{get_length, get_varlong, take};
use super::{BatchError, Compression, RecordBatch, TimestampType};

/// The fewest bytes one record can take: length, attributes, timestamp delta, offset delta,
/// key length, value length and header count, one byte each.
const MIN_RECORD_BYTES: usize = 7;

/// One record, with its absolute offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// What [`RecordBatch::scan_records`] reads of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RecordSummary {
    pub offset: i64,
    pub timestamp: i64,
    pub has_key: bool,
}

/// A record and the bytes it takes in its batch's decompressed body.
pub(super) type SpannedRecord = (Record, Range<usize>);

impl RecordBatch {
    /// The records of this batch, decompressed. Counts are checked against the bytes before
    /// anything is allocated for them.
    pub fn records(&self) -> Result<Vec<Record>, BatchError> {
        let (_, records) = self.records_with_spans()?;
        Ok(records.into_iter().map(|(record, _)| record).collect())
    }

    /// The decompressed body and each record with the byte range it takes in that body
    /// (length prefix included), so a record can be copied out without encoding it again.
    pub(super) fn records_with_spans(&self) -> Result<(Bytes, Vec<SpannedRecord>), BatchError> {
        let (body, count) = self.body_and_count()?;
        let mut cursor = Cursor { body: &body, at: 0 };
        let mut records = Vec::with_capacity(count);
        for _ in 0..count {
            let start = cursor.at;
            let length = cursor
                .length()?
                .ok_or_else(|| BatchError::Records("null record length".into()))?;
            let end = cursor.at + length;
            let record = self.read_record(&mut cursor)?;
            if cursor.at != end {
                return Err(BatchError::Records(
                    "record length does not match its fields".into(),
                ));
            }
            records.push((record, start..end));
        }
        if cursor.at != body.len() {
            return Err(BatchError::Records("bytes after the last record".into()));
        }
        Ok((body, records))
    }

    /// Walks the records reading only what the append checks need (timestamp, offset, whether
    /// there is a key) and calls `each` with the record's position in the batch: nothing is
    /// copied out, and an uncompressed batch is not copied at all.
    pub(super) fn scan_records(
        &self,
        mut each: impl FnMut(usize, RecordSummary),
    ) -> Result<(), BatchError> {
        let (body, count) = self.body_and_count()?;
        let mut rest: &[u8] = &body;
        for index in 0..count {
            let length = get_length(&mut rest)?
                .ok_or_else(|| BatchError::Records("null record length".into()))?;
            let mut record = take(&mut rest, length)?;
            take(&mut record, 1)?; // attributes, unused in v2
            let timestamp_delta = get_varlong(&mut record)?;
            let offset_delta = get_varlong(&mut record)?;
            let has_key = get_length(&mut record)?.is_some();
            each(
                index,
                RecordSummary {
                    offset: self.base_offset().0.saturating_add(offset_delta),
                    timestamp: self.base_timestamp().saturating_add(timestamp_delta),
                    has_key,
                },
            );
        }
        if !rest.is_empty() {
            return Err(BatchError::Records("bytes after the last record".into()));
        }
        Ok(())
    }

    /// The decompressed body and the record count, checked against the bytes and the offsets
    /// before anything is allocated for the records.
    fn body_and_count(&self) -> Result<(Bytes, usize), BatchError> {
        let body = self.decompressed_body()?;
        let count = usize::try_from(self.record_count())
            .map_err(|_| BatchError::Records("negative record count".into()))?;
        if count > body.len() / MIN_RECORD_BYTES || count > self.offset_count() as usize {
            return Err(BatchError::Records(format!(
                "record count {count} does not fit the batch"
            )));
        }
        Ok((body, count))
    }

    fn read_record(&self, cursor: &mut Cursor<'_>) -> Result<Record, BatchError> {
        cursor.skip(1)?; // attributes, unused in v2
        let timestamp_delta = cursor.varlong()?;
        let offset_delta = cursor.varlong()?;
        let key = cursor.nullable_bytes()?;
        let value = cursor.nullable_bytes()?;
        let header_count = cursor.varlong()?;
        let header_count = usize::try_from(header_count)
            .ok()
            .filter(|n| *n <= cursor.remaining() / 2)
            .ok_or_else(|| BatchError::Records(format!("header count {header_count}")))?;
        let mut headers = Vec::with_capacity(header_count);
        for _ in 0..header_count {
            let key = cursor
                .nullable_bytes()?
                .ok_or_else(|| BatchError::Records("null header key".into()))?;
            let key = String::from_utf8(key.to_vec())
                .map_err(|_| BatchError::Records("header key is not UTF-8".into()))?;
            headers.push((key, cursor.nullable_bytes()?));
        }
        // A LogAppendTime batch's records all read as the time the broker stamped on it.
        let timestamp = match self.timestamp_type() {
            TimestampType::CreateTime => self.base_timestamp().saturating_add(timestamp_delta),
            TimestampType::LogAppendTime => self.max_timestamp(),
        };
        Ok(Record {
            offset: self.base_offset().0.saturating_add(offset_delta),
            timestamp,
            key,
            value,
            headers,
        })
    }

    /// The bytes after the header, decompressed when the batch is compressed.
    pub(super) fn decompressed_body(&self) -> Result<Bytes, BatchError> {
        let mut body = self.bytes().slice(BATCH_HEADER_BYTES..);
        let whole = |buf: &mut Bytes| Ok(buf.copy_to_bytes(buf.remaining()));
        let result = match self.compression() {
            Compression::None => return Ok(body),
            Compression::Gzip => compression::Gzip::decompress(&mut body, whole),
            Compression::Snappy => compression::Snappy::decompress(&mut body, whole),
            Compression::Lz4 => compression::Lz4::decompress(&mut body, whole),
            Compression::Zstd => compression::Zstd::decompress(&mut body, whole),
        };
        result.map_err(|e| BatchError::Records(format!("does not decompress: {e}")))
    }
}

/// Reads the fields of records from a body, handing out zero-copy slices of it.
struct Cursor<'a> {
    body: &'a Bytes,
    at: usize,
}

impl Cursor<'_> {
    fn remaining(&self) -> usize {
        self.body.len() - self.at
    }

    /// Runs `read` over the unread bytes and moves past what it consumed.
    fn read<T>(
        &mut self,
        read: impl FnOnce(&mut &[u8]) -> Result<T, BatchError>,
    ) -> Result<T, BatchError> {
        let mut rest = &self.body[self.at..];
        let before = rest.len();
        let value = read(&mut rest)?;
        self.at += before - rest.len();
        Ok(value)
    }

    fn varlong(&mut self) -> Result<i64, BatchError> {
        self.read(get_varlong)
    }

    fn length(&mut self) -> Result<Option<usize>, BatchError> {
        self.read(get_length)
    }

    fn skip(&mut self, n: usize) -> Result<(), BatchError> {
        self.read(|rest| take(rest, n).map(|_| ()))
    }

    fn nullable_bytes(&mut self) -> Result<Option<Bytes>, BatchError> {
        let Some(len) = self.length()? else {
            return Ok(None);
        };
        let bytes = self.body.slice(self.at..self.at + len);
        self.at += len;
        Ok(Some(bytes))
    }
}

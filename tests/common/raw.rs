//! Raw requests for the tests that choose what no client lets them choose: an idempotent
//! producer's id, epoch and sequences, each batch's records and timestamps, the acks, and the
//! exact moment of a retry (InitProducerId, Produce of hand-built batches, DeleteRecords).

use std::net::TcpStream;

use bytes::Bytes;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::WAIT;
use super::wire::call;

pub const NONE: i16 = 0;
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;

/// A producer as the raw tests drive it.
#[derive(Debug, Clone, Copy)]
pub struct Producer {
    pub id: i64,
    pub epoch: i16,
}

impl Producer {
    /// No producer id: a batch of it is never deduplicated.
    pub const ANONYMOUS: Producer = Producer { id: -1, epoch: -1 };
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// A new idempotent producer (InitProducerId at `version`), at epoch 0.
pub fn init_producer_id(conn: &mut TcpStream, version: i16) -> Producer {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id((-1).into())
        .with_producer_epoch(-1);
    let response: InitProducerIdResponse = call(conn, ApiKey::InitProducerId, version, &request);
    assert_eq!(response.error_code, NONE, "{response:?}");
    assert_eq!(response.producer_epoch, 0, "{response:?}");
    Producer {
        id: response.producer_id.0,
        epoch: response.producer_epoch,
    }
}

/// One batch of `producer` holding a record for each of `values`, every record stamped
/// `timestamp`; sequences from `first_sequence` (-1 for an anonymous producer).
pub fn batch(
    producer: Producer,
    first_sequence: i32,
    values: impl IntoIterator<Item = Bytes>,
    timestamp: i64,
) -> Bytes {
    let records = values.into_iter().map(|value| (None, value));
    keyed_batch(producer, first_sequence, records, timestamp)
}

/// [`batch`] with a key (or none) for each record: `(key, value)` pairs.
pub fn keyed_batch(
    producer: Producer,
    first_sequence: i32,
    records: impl IntoIterator<Item = (Option<Bytes>, Bytes)>,
    timestamp: i64,
) -> Bytes {
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: producer.id,
            producer_epoch: producer.epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // Consecutive from `first_sequence` even without a producer (-1, 0, 1, ...):
            // the encoder starts a new batch wherever they are not.
            sequence: first_sequence.wrapping_add(i as i32),
            timestamp,
            key,
            value: Some(value),
            headers: Default::default(),
        })
        .collect();
    let mut out = bytes::BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut out, &records, &options).expect("encode");
    out.freeze()
}

/// A Produce (acks=all) of `records` to partition 0 of `topic`.
pub fn produce_request(topic: &str, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        // Answered before the connection's read timeout.
        .with_timeout_ms((WAIT / 2).as_millis() as i32)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ])
}

/// Produces `records` with `acks` to partition 0 of `topic`: the error code and base offset.
pub fn produce_acks(conn: &mut TcpStream, topic: &str, records: Bytes, acks: i16) -> (i16, i64) {
    let request = produce_request(topic, records).with_acks(acks);
    let response: ProduceResponse = call(conn, ApiKey::Produce, 9, &request);
    let answer = &response.responses[0].partition_responses[0];
    (answer.error_code, answer.base_offset)
}

/// Produces `records` (acks=all) to partition 0 of `topic`: the error code and base offset.
pub fn produce(conn: &mut TcpStream, topic: &str, records: Bytes) -> (i16, i64) {
    produce_acks(conn, topic, records, -1)
}

/// DeleteRecords v2 of `topic`-0 below `offset`: the error code and the low watermark.
pub fn delete_records(conn: &mut TcpStream, topic: &str, offset: i64) -> (i16, i64) {
    let request = DeleteRecordsRequest::default()
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(name(topic))
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(offset),
                ]),
        ])
        .with_timeout_ms((WAIT / 2).as_millis() as i32);
    let response: DeleteRecordsResponse = call(conn, ApiKey::DeleteRecords, 2, &request);
    let answer = &response.topics[0].partitions[0];
    (answer.error_code, answer.low_watermark)
}

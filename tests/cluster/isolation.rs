//! The leader of a partition cut off from both peers and from clients on their side (its Raft
//! links and advertised Kafka listener go through `proxy.rs`): a producer connected only to it
//! (at its real address) gets no acknowledgement, while the other two elect a new
//! leader and take acks=all writes. After healing, the old leader steps down and drops its
//! uncommitted tail: its log equals the others' and every acknowledged message is read once,
//! none of the unacknowledged ones.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rdkafka::producer::Producer;
use tracing::info;

use crate::common::{WAIT, init_logs, unique_name};
use crate::faults::{high_watermark, send_all, stop_and_compare};
use crate::harness::{leaders, metadata_until};
use crate::proxy::Links;
use crate::{Deliveries, create_topic, payload, producer, read_all};

/// Ids of the messages sent to the isolated leader, apart from the acknowledged ones.
const MINORITY_IDS: usize = 1_000_000;
/// How long the minority producer keeps trying while cut off, at least.
const ISOLATION: Duration = Duration::from_secs(4);

#[test]
fn isolated_leader_acknowledges_nothing_and_drops_its_tail() {
    init_logs();
    let (mut cluster, links) = Links::start_cluster(&[1, 2, 3]);
    let topic = unique_name("isolated");
    create_topic(&cluster.bootstrap(&[1, 2, 3]), &topic, 1);
    let old_leader = leaders(&cluster.bootstrap(&[1]), &topic, WAIT)[0] as u64;
    let majority: Vec<u64> = (1..=3).filter(|id| *id != old_leader).collect();

    info!(old_leader, "acks=all writes before the cut");
    let deliveries = Deliveries::default();
    let before = producer(&cluster.bootstrap(&[1, 2, 3]), &deliveries);
    send_all(&before, &topic, 0..500, 1, None);
    before.flush(WAIT).expect("flush");
    drop(before);
    let mut minority = RawProducer::connect(cluster.addr(old_leader), &topic);
    assert_eq!(
        minority.produce(MINORITY_IDS),
        Some(0),
        "a producer on the leader is acknowledged before the cut"
    );

    info!("cut every link of the leader; a producer connected only to it keeps trying");
    links.isolate(old_leader);
    let cut_at = Instant::now();
    let mut answers = Vec::new();
    let mut next_minority = MINORITY_IDS + 1;
    // Made once the majority answers with the new leader, bootstrapped at the majority: like
    // any client on that side it cannot reach the old leader (its Kafka proxy is cut too).
    let mut majority_producer = None;
    let mut majority_done = false;
    while !majority_done || cut_at.elapsed() < ISOLATION {
        answers.push(minority.produce(next_minority));
        next_minority += 1;
        if !majority_done {
            let new_leader = metadata_until(
                &cluster.bootstrap(&majority),
                Some(&topic),
                WAIT,
                "a new leader on the majority side",
                |m| {
                    m.topics()[0]
                        .partitions()
                        .iter()
                        .all(|p| p.leader() >= 1 && p.leader() as u64 != old_leader)
                },
            );
            info!(
                after_ms = cut_at.elapsed().as_millis() as u64,
                leader = new_leader.topics()[0].partitions()[0].leader(),
                "the majority elected a new leader; it takes acks=all writes"
            );
            let producer = producer(&cluster.bootstrap(&majority), &deliveries);
            send_all(&producer, &topic, 500..1_000, 1, None);
            producer.flush(WAIT).expect("flush on the majority side");
            majority_producer = Some(producer);
            majority_done = true;
        }
    }
    info!(
        ?answers,
        "error codes the isolated leader answered (None: no answer in time)"
    );
    assert!(
        answers.iter().all(|a| *a != Some(0)),
        "the isolated leader acknowledged a write: {answers:?}"
    );
    let tail = cluster.node(old_leader).dump_log(&topic, 0);
    info!(
        next_offset = tail.next_offset,
        "the isolated leader's log, uncommitted tail included"
    );

    info!("heal: the old leader learns the new term and steps down");
    links.heal_all();
    metadata_until(
        &cluster.bootstrap(&[old_leader]),
        Some(&topic),
        WAIT,
        "the old leader reporting another leader",
        |m| {
            m.topics()[0]
                .partitions()
                .iter()
                .all(|p| p.leader() >= 1 && p.leader() as u64 != old_leader)
        },
    );
    drop(majority_producer);
    assert!(deliveries.failed().is_empty(), "{:?}", deliveries.failed());
    let acked: HashSet<usize> = deliveries.acked().into_iter().collect();
    assert_eq!(acked.len(), 1_000);
    let hw = high_watermark(&cluster.bootstrap(&majority), &topic, 0);
    let deadline = Instant::now() + WAIT;
    while cluster.node(old_leader).dump_log(&topic, 0).next_offset != hw {
        assert!(
            Instant::now() < deadline,
            "the old leader's log did not converge to {hw}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    info!("every acknowledged message is read once; none of the cut-off ones");
    let seen = read_all(
        &cluster.bootstrap(&[1, 2, 3]),
        &topic,
        1,
        &acked,
        Duration::from_secs(60),
    );
    let lost = acked.iter().filter(|id| !seen.contains_key(id)).count();
    assert_eq!(lost, 0, "acknowledged messages lost");
    assert!(seen.values().all(|n| *n == 1), "a message read twice");
    let resurrected: Vec<&usize> = seen.keys().filter(|id| **id > MINORITY_IDS).collect();
    assert!(
        resurrected.is_empty(),
        "unacknowledged writes of the cut-off leader were committed: {resurrected:?}"
    );
    stop_and_compare(&mut cluster, &topic, &[hw]);
}

/// A Produce (v7, acks=-1) client on one connection to one broker: nothing else is reached.
struct RawProducer {
    stream: TcpStream,
    topic: String,
    correlation_id: i32,
}

impl RawProducer {
    /// Longest wait for one answer; a produce times out on the broker after a second.
    const ANSWER: Duration = Duration::from_secs(5);
    const VERSION: i16 = 7;

    fn connect(addr: SocketAddr, topic: &str) -> RawProducer {
        let stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
        stream
            .set_read_timeout(Some(Self::ANSWER))
            .expect("timeout");
        stream.set_write_timeout(Some(WAIT)).expect("timeout");
        RawProducer {
            stream,
            topic: topic.to_string(),
            correlation_id: 0,
        }
    }

    /// Sends message `id` to partition 0; the partition's error code, or `None` without an
    /// answer in time (then the connection is replaced, so answers never pair up wrongly).
    fn produce(&mut self, id: usize) -> Option<i16> {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Produce as i16)
            .with_request_api_version(Self::VERSION)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("minority")));
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(self.topic.clone())))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch(id))),
                    ]),
            ]);
        let mut body = BytesMut::new();
        header
            .encode(
                &mut body,
                ApiKey::Produce.request_header_version(Self::VERSION),
            )
            .expect("encode header");
        request
            .encode(&mut body, Self::VERSION)
            .expect("encode produce");
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).expect("send produce");
        let answer = self.read_answer();
        if answer.is_none() {
            let addr = self.stream.peer_addr().expect("peer");
            *self = RawProducer::connect(addr, &self.topic.clone());
        }
        answer
    }

    fn read_answer(&mut self) -> Option<i16> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).ok()?;
        let size = i32::from_be_bytes(size);
        assert!((0..1 << 20).contains(&size), "answer of {size} bytes");
        let mut body = vec![0u8; size as usize];
        self.stream.read_exact(&mut body).ok()?;
        let mut body = Bytes::from(body);
        let header =
            ResponseHeader::decode(&mut body, ProduceResponse::header_version(Self::VERSION))
                .expect("response header");
        assert_eq!(header.correlation_id, self.correlation_id);
        let response = ProduceResponse::decode(&mut body, Self::VERSION).expect("produce answer");
        assert_eq!(body.remaining(), 0);
        Some(response.responses[0].partition_responses[0].error_code)
    }
}

/// One RecordBatch holding message `id`.
fn batch(id: usize) -> Bytes {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: None,
        value: Some(Bytes::from(payload(id))),
        headers: IndexMap::new(),
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, [&record], &options).expect("encode batch");
    buf.freeze()
}

//! Helpers for the Raft-over-storage tests: real RecordBatches and a single-member group on a
//! directory, in the test's process.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use openraft::{BasicNode, ServerState};
use raftka::raft::{self, LogStoreReader, NoPeers, PartitionStorage, Raft};
use raftka::record::RecordBatch;
use raftka::storage::LogConfig;
use tokio::sync::watch;

use super::WAIT;

pub const NODE: u64 = 1;

/// The records of batch `i`: 1 to 3 records with keys and values no other batch has.
pub fn records_of(i: usize) -> Vec<Record> {
    (0..1 + i % 3)
        .map(|j| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: j as i64,
            sequence: j as i32,
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from(format!("key-{i}-{j}"))),
            value: Some(Bytes::from(format!(
                "value-{i}-{j}-{}",
                "x".repeat(i % 200)
            ))),
            headers: IndexMap::new(),
        })
        .collect()
}

/// One RecordBatch v2, as a producer would send it (base offset 0).
pub fn encode_batch(records: &[Record]) -> RecordBatch {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, records, &options).expect("encode batch");
    RecordBatch::new(buf.freeze()).expect("a valid batch")
}

/// A started single-member group and the read side of its partition.
pub struct Single {
    pub raft: Raft,
    pub reader: LogStoreReader,
    pub high_watermark: watch::Receiver<raftka::types::KafkaOffset>,
}

/// Opens the partition in `dir` and starts a single-member group on it, leader when this returns.
pub async fn start_single(dir: &Path, log: LogConfig) -> Single {
    let PartitionStorage {
        log_store,
        state_machine,
        reader,
        high_watermark,
        ..
    } = raft::open(dir, log).expect("open partition");
    let config = raft::partition_raft_config("test")
        .validate()
        .expect("valid config");
    let raft = Raft::new(NODE, Arc::new(config), NoPeers, log_store, state_machine)
        .await
        .expect("start raft");
    if !raft.is_initialized().await.expect("is_initialized") {
        let members = BTreeMap::from([(NODE, BasicNode::new("127.0.0.1:0"))]);
        raft.initialize(members).await.expect("initialize");
    }
    raft.wait(Some(WAIT))
        .state(ServerState::Leader, "single member leads")
        .await
        .expect("leader");
    Single {
        raft,
        reader,
        high_watermark,
    }
}

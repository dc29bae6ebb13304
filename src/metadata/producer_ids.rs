//! Producer ids for InitProducerId. Each broker takes a block of [`BLOCK_SIZE`] ids through the
//! metadata log (Kafka's AllocateProducerIds) and hands them out one by one: ids are unique
//! cluster-wide and only one in [`BLOCK_SIZE`] costs a metadata write. A restarted broker
//! takes a fresh block; the rest of its old one is never used.

use std::ops::Range;
use std::sync::Arc;

use super::{Command, MetadataStore, NodeId, ProposeError};

/// Ids per block, as Kafka's controller hands them out.
pub const BLOCK_SIZE: u32 = 1000;

#[derive(Debug)]
pub struct ProducerIds {
    metadata: Arc<MetadataStore>,
    node_id: NodeId,
    /// What is left of this broker's current block.
    block: tokio::sync::Mutex<Range<i64>>,
}

impl ProducerIds {
    pub fn new(metadata: Arc<MetadataStore>, node_id: NodeId) -> ProducerIds {
        ProducerIds {
            metadata,
            node_id,
            block: tokio::sync::Mutex::new(0..0),
        }
    }

    /// A producer id no other producer of the cluster has been given.
    pub async fn next(&self) -> Result<i64, ProposeError> {
        let mut block = self.block.lock().await;
        if let Some(id) = block.next() {
            return Ok(id);
        }
        let allocate = Command::AllocateProducerIds {
            broker: self.node_id,
            count: BLOCK_SIZE,
        };
        self.metadata.propose(&allocate).await?;
        // Applied here when `propose` returns, and no other allocation of this broker can have
        // followed it while the lock is held.
        let given = self
            .metadata
            .current()
            .state
            .producer_id_blocks
            .get(&self.node_id)
            .copied()
            .expect("the block just allocated is recorded");
        *block = given.first..given.first + i64::from(given.count);
        Ok(block.next().expect("a block is never empty"))
    }
}

//! openraft's storage conformance suite over the partition log store and state machine, on real
//! files: every case gets a fresh temp directory. The suite is the contract with openraft.

use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};
use raftka::raft::{self, LogStore, StateMachine, TypeConfig};
use raftka::storage::LogConfig;
use tempfile::TempDir;

/// Small segments so the cases cross segment boundaries where they can.
const LOG_CONFIG: LogConfig = LogConfig {
    segment_bytes: 4096,
    index_interval_bytes: 256,
    ..LogConfig::DEFAULT
};

struct TempDirBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for TempDirBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().map_err(|e| {
            StorageError::from_io_error(
                openraft::ErrorSubject::Store,
                openraft::ErrorVerb::Write,
                e,
            )
        })?;
        let partition = raft::open(dir.path(), LOG_CONFIG).map_err(|e| {
            StorageError::from_io_error(
                openraft::ErrorSubject::Store,
                openraft::ErrorVerb::Read,
                e.into(),
            )
        })?;
        Ok((dir, partition.log_store, partition.state_machine))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openraft_storage_suite() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    tracing::info!("every case of openraft's suite runs on a fresh directory");
    if let Err(e) = Suite::test_all(TempDirBuilder).await {
        panic!("storage suite failed: {e}");
    }
}

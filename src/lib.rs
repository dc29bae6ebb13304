pub mod metadata;
pub mod raft;
pub mod storage;

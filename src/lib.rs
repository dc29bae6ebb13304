pub mod metadata;
pub mod storage;

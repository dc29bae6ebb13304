//! The black-box protocol suite: real clients (librdkafka through rdkafka, and kcat) and raw
//! frames over TCP, against a `raftka` process each test starts on a free port in a temp dir, or
//! against any broker named by `RAFTKA_BOOTSTRAP=host:port`. `harness.rs` owns the broker under
//! test, `clients.rs` the rdkafka clients; `tests/common/` holds what the other test targets
//! share with this one. Crash tests (`kill -9` of the broker) are a target of their own,
//! `tests/crash.rs`.

mod admin;
mod admin_raw;
mod admin_restart;
mod api_versions;
mod clients;
#[path = "../tests/common/mod.rs"]
mod common;
mod connection;
mod coordinator;
mod groups_clients;
mod groups_raw;
mod harness;
mod hostile;
mod kcat;
mod leader_epoch;
mod offsets;
mod offsets_cleanup;
mod produce_consume;
mod rdkafka_smoke;

//! The black-box protocol suite: real clients (librdkafka through rdkafka, and kcat) and raw
//! frames over TCP, against a `raftka` process each test starts on a free port in a temp dir, or
//! against any broker named by `RAFTKA_BOOTSTRAP=host:port`. `harness.rs` owns the broker under
//! test, `clients.rs` the rdkafka clients; `tests/common/` holds what the other test targets
//! share with this one. Crash tests (`kill -9` of the broker) are a target of their own,
//! `tests/crash.rs`.
//!
//! Some tests need a broker of their own: settings of their own, a restart, a signal. They
//! cannot judge an external broker, and must not pass there without running. libtest decides
//! what is ignored when the suite is compiled, not by the environment, so such a test is marked
//! `#[ignore = "needs a broker of its own: <why>"]` and the test command decides:
//!
//! - `./test.sh` (CI, README) adds `--include-ignored` unless `RAFTKA_BOOTSTRAP` is set: by
//!   default every test runs; against an external broker these are listed as ignored, with
//!   their reason, and the rest run against it.
//! - `cargo test` alone lists them as ignored with their reason; add `-- --include-ignored` to
//!   run them (they start their own broker whether `RAFTKA_BOOTSTRAP` is set or not).
//!
//! So `#[ignore]` means only this in the project: the test command runs every ignored test.

mod admin;
mod admin_raw;
mod admin_restart;
mod api_versions;
mod clients;
#[path = "../tests/common/mod.rs"]
mod common;
mod compaction;
mod connection;
mod coordinator;
mod delete_records;
mod fetch_limits;
mod groups_clients;
mod groups_raw;
mod harness;
mod hostile;
mod idempotence;
mod internal_topics;
mod kcat;
mod leader_epoch;
mod limits;
mod offsets;
mod offsets_cleanup;
mod produce_consume;
mod rdkafka_smoke;
mod topic_configs;

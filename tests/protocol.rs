//! The black-box protocol suite in `protocol-tests/`, run by `cargo test`: against a `raftka` process
//! each test starts itself, or against any broker named by `RAFTKA_BOOTSTRAP=host:port`.

#[path = "../protocol-tests/admin.rs"]
mod admin;
#[path = "../protocol-tests/admin_raw.rs"]
mod admin_raw;
#[path = "../protocol-tests/admin_restart.rs"]
mod admin_restart;
#[path = "../protocol-tests/api_versions.rs"]
mod api_versions;
#[path = "../protocol-tests/clients.rs"]
mod clients;
#[path = "../protocol-tests/connection.rs"]
mod connection;
#[path = "../protocol-tests/coordinator.rs"]
mod coordinator;
#[path = "../protocol-tests/groups_clients.rs"]
mod groups_clients;
#[path = "../protocol-tests/groups_raw.rs"]
mod groups_raw;
#[path = "../protocol-tests/harness.rs"]
mod harness;
#[path = "../protocol-tests/hostile.rs"]
mod hostile;
#[path = "../protocol-tests/kcat.rs"]
mod kcat;
#[path = "../protocol-tests/leader_epoch.rs"]
mod leader_epoch;
#[path = "../protocol-tests/offsets.rs"]
mod offsets;
#[path = "../protocol-tests/offsets_cleanup.rs"]
mod offsets_cleanup;
#[path = "../protocol-tests/produce_consume.rs"]
mod produce_consume;
#[path = "../protocol-tests/rdkafka_smoke.rs"]
mod rdkafka_smoke;
#[path = "../protocol-tests/wire.rs"]
mod wire;

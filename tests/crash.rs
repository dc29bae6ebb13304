//! Crash tests from `protocol-tests/crash.rs`: they kill and restart broker processes they start
//! themselves, so they run in their own binary, apart from the protocol suite.

#[path = "../protocol-tests/clients.rs"]
#[allow(dead_code)]
mod clients;
#[path = "../protocol-tests/crash.rs"]
mod crash;
#[path = "../protocol-tests/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "../protocol-tests/wire.rs"]
#[allow(dead_code)]
mod wire;

//! librdkafka (through rdkafka) against the broker: it negotiates versions with our ApiVersions
//! answer, at v3, without an UNSUPPORTED_VERSION. What it does next is in `produce_consume.rs`,
//! `offsets.rs`, `admin.rs` and `groups_clients.rs`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use tracing::info;

use crate::common::{WAIT, init_logs};
use crate::harness::Target;

#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<String>>>);

impl ClientContext for CapturedLogs {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, message: &str) {
        if let Ok(mut lines) = self.0.lock() {
            lines.push(format!("{fac}: {message}"));
        }
    }
}

impl ProducerContext for CapturedLogs {
    type DeliveryOpaque = ();
    fn delivery(&self, _result: &DeliveryResult<'_>, _opaque: ()) {}
}

impl CapturedLogs {
    fn find(&self, needle: &str) -> Option<String> {
        self.0
            .lock()
            .ok()?
            .iter()
            .find(|l| l.contains(needle))
            .cloned()
    }
}

#[test]
fn librdkafka_negotiates_api_versions() {
    init_logs();
    let target = Target::any();
    let logs = CapturedLogs::default();
    let producer: BaseProducer<CapturedLogs> = ClientConfig::new()
        .set("bootstrap.servers", target.addr.to_string())
        .set("debug", "broker,protocol")
        .set("api.version.request", "true")
        .set_log_level(RDKafkaLogLevel::Debug)
        .create_with_context(logs.clone())
        .expect("create producer");
    info!("waiting for librdkafka to read our ApiVersions answer");
    let deadline = Instant::now() + WAIT;
    let mut found = None;
    while Instant::now() < deadline && found.is_none() {
        producer.poll(Duration::from_millis(100));
        found = logs.find("Broker changed state APIVERSION_QUERY -> UP");
    }
    let all = logs.0.lock().map(|l| l.join("\n")).unwrap_or_default();
    assert!(
        found.is_some(),
        "librdkafka never finished version negotiation; its log:\n{all}"
    );
    assert!(
        logs.find("Received ApiVersionResponse (v3").is_some(),
        "{all}"
    );
    assert!(logs.find("UNSUPPORTED_VERSION").is_none(), "{all}");
    drop(producer.flush(Duration::from_millis(100)));
}

//! Per-topic settings under their Kafka names: which exist, their broker-wide defaults, how a
//! value is validated, what a topic's replicas apply. `admin/` serves them to the admin APIs.
//! `state.rs` stores the overrides a topic has.

use std::collections::BTreeMap;

use crate::config::SettingType;
use crate::partition::{CleanupPolicy, EffectiveConfig};

/// Broker-wide defaults a topic inherits unless it overrides them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDefaults {
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub segment_bytes: i64,
    pub max_message_bytes: i64,
    pub index_interval_bytes: i64,
    /// Broker-wide only (`log.preallocate.step.bytes`); no topic overrides it.
    pub preallocate_step_bytes: u64,
    /// The largest batch the Raft transport carries to followers: no topic's
    /// `max.message.bytes` may exceed it, or its followers could never receive such a batch
    /// and the partition would commit nothing after it.
    pub largest_replicated_batch_bytes: i64,
}

impl Default for TopicDefaults {
    fn default() -> Self {
        TopicDefaults {
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            segment_bytes: 1 << 30,
            max_message_bytes: 1_048_588,
            index_interval_bytes: 4096,
            preallocate_step_bytes: crate::config::DEFAULT_PREALLOCATE_STEP_BYTES,
            largest_replicated_batch_bytes: 64 << 20,
        }
    }
}

/// One supported topic setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigKey {
    pub name: &'static str,
    /// The broker setting that gives the default (Kafka's synonym, e.g. `log.retention.ms`).
    pub broker_name: &'static str,
    pub doc: &'static str,
    kind: Kind,
}

impl ConfigKey {
    /// The type of the setting's value, as DescribeConfigs reports it.
    pub fn value_type(&self) -> SettingType {
        match self.kind {
            Kind::Long { max, .. } if max <= i64::from(i32::MAX) => SettingType::Int,
            Kind::Long { .. } => SettingType::Long,
            Kind::OneOf(_) => SettingType::String,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An integer in `[min, max]`; `-1` allowed when `unlimited` (Kafka's "no limit").
    Long { min: i64, max: i64, unlimited: bool },
    /// One of a fixed set of words.
    OneOf(&'static [&'static str]),
}

/// Every topic setting raftka honours. Others are rejected rather than silently ignored.
pub const TOPIC_CONFIGS: &[ConfigKey] = &[
    ConfigKey {
        name: "cleanup.policy",
        broker_name: "log.cleanup.policy",
        doc: "delete: whole segments go when retention says so; compact: the newest record of each key stays",
        kind: Kind::OneOf(&["delete", "compact", "compact,delete"]),
    },
    ConfigKey {
        name: "segment.ms",
        broker_name: "log.roll.ms",
        doc: "age at which the active segment is rolled",
        kind: Kind::Long {
            min: 1,
            max: i64::MAX,
            unlimited: false,
        },
    },
    ConfigKey {
        name: "retention.ms",
        broker_name: "log.retention.ms",
        doc: "age after which a whole segment is deleted; -1 keeps forever",
        kind: Kind::Long {
            min: 0,
            max: i64::MAX,
            unlimited: true,
        },
    },
    ConfigKey {
        name: "retention.bytes",
        broker_name: "log.retention.bytes",
        doc: "size above which the oldest segments are deleted; -1 keeps everything",
        kind: Kind::Long {
            min: 0,
            max: i64::MAX,
            unlimited: true,
        },
    },
    ConfigKey {
        name: "segment.bytes",
        broker_name: "log.segment.bytes",
        doc: "size at which a segment file is rolled",
        kind: Kind::Long {
            min: 1024,
            max: u32::MAX as i64,
            unlimited: false,
        },
    },
    ConfigKey {
        name: "max.message.bytes",
        broker_name: "message.max.bytes",
        doc: "largest record batch accepted by Produce",
        kind: Kind::Long {
            min: 0,
            max: i32::MAX as i64,
            unlimited: false,
        },
    },
    ConfigKey {
        name: "index.interval.bytes",
        broker_name: "log.index.interval.bytes",
        doc: "bytes between two entries of the sparse offset index",
        kind: Kind::Long {
            min: 0,
            max: i32::MAX as i64,
            unlimited: false,
        },
    },
    ConfigKey {
        name: "message.timestamp.type",
        broker_name: "log.message.timestamp.type",
        doc: "CreateTime: timestamps are the producer's (batches are never rewritten)",
        kind: Kind::OneOf(&["CreateTime"]),
    },
];

/// Why a topic setting was refused; the message names the key and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown topic config '{0}'; supported: {list}", list = supported_names())]
    Unknown(String),
    #[error("invalid value '{value}' for topic config '{key}': {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: String,
    },
}

fn supported_names() -> String {
    TOPIC_CONFIGS
        .iter()
        .map(|k| k.name)
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn lookup(name: &str) -> Option<&'static ConfigKey> {
    TOPIC_CONFIGS.iter().find(|k| k.name == name)
}

/// Checks one setting; returns it normalised.
pub fn validate(name: &str, value: &str) -> Result<String, ConfigError> {
    let key = lookup(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
    let invalid = |expected: String| ConfigError::Invalid {
        key: name.to_string(),
        value: value.to_string(),
        expected,
    };
    match key.kind {
        Kind::Long {
            min,
            max,
            unlimited,
        } => {
            let n: i64 = value
                .trim()
                .parse()
                .map_err(|_| invalid(format!("an integer in [{min}, {max}]")))?;
            if (unlimited && n == -1) || (min..=max).contains(&n) {
                Ok(n.to_string())
            } else {
                let also = if unlimited { " or -1" } else { "" };
                Err(invalid(format!("an integer in [{min}, {max}]{also}")))
            }
        }
        Kind::OneOf(words) => words
            .iter()
            .find(|w| w.eq_ignore_ascii_case(value.trim()))
            .map(|w| w.to_string())
            .ok_or_else(|| invalid(format!("one of {}", words.join(", ")))),
    }
}

/// Validates a whole set of overrides.
pub fn validate_all(
    configs: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    configs
        .iter()
        .map(|(k, v)| validate(k, v).map(|v| (k.clone(), v)))
        .collect()
}

/// The default of a setting, as Kafka reports it.
pub fn default_value(name: &str, defaults: &TopicDefaults) -> Option<String> {
    Some(match name {
        "cleanup.policy" => "delete".to_string(),
        "retention.ms" => defaults.retention_ms.to_string(),
        "retention.bytes" => defaults.retention_bytes.to_string(),
        "segment.bytes" => defaults.segment_bytes.to_string(),
        "max.message.bytes" => defaults.max_message_bytes.to_string(),
        "index.interval.bytes" => defaults.index_interval_bytes.to_string(),
        "message.timestamp.type" => "CreateTime".to_string(),
        "segment.ms" => "604800000".to_string(),
        _ => return None,
    })
}

/// Where a setting's value comes from (Kafka's config sources, as far as raftka has them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic (Kafka: DYNAMIC_TOPIC_CONFIG).
    Topic,
    /// Set in this broker's configuration (Kafka: STATIC_BROKER_CONFIG).
    StaticBroker,
    /// The built-in default (Kafka: DEFAULT_CONFIG).
    Default,
}

/// One setting as DescribeConfigs and CreateTopics report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedConfig {
    pub name: &'static str,
    pub value: String,
    /// [`ConfigSource::Topic`] or [`ConfigSource::Default`]: the broker's own value of the
    /// synonym is not looked at here.
    pub source: ConfigSource,
    /// The broker setting that gives the default.
    pub broker_name: &'static str,
    pub value_type: SettingType,
    pub doc: &'static str,
}

/// Every supported setting of a topic with its value and where that value comes from.
pub fn describe(
    overrides: &BTreeMap<String, String>,
    defaults: &TopicDefaults,
) -> Vec<DescribedConfig> {
    TOPIC_CONFIGS
        .iter()
        .map(|key| {
            let (value, source) = match overrides.get(key.name) {
                Some(v) => (v.clone(), ConfigSource::Topic),
                None => (
                    default_value(key.name, defaults).unwrap_or_default(),
                    ConfigSource::Default,
                ),
            };
            DescribedConfig {
                name: key.name,
                value,
                source,
                broker_name: key.broker_name,
                value_type: key.value_type(),
                doc: key.doc,
            }
        })
        .collect()
}

/// A topic's effective settings: its overrides on top of the broker defaults, as the replicas
/// apply them.
pub fn effective(
    overrides: &BTreeMap<String, String>,
    defaults: &TopicDefaults,
) -> EffectiveConfig {
    let long = |name: &str, default: i64| {
        overrides
            .get(name)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(default)
    };
    let retention_ms = long("retention.ms", defaults.retention_ms);
    let retention_bytes = long("retention.bytes", defaults.retention_bytes);
    EffectiveConfig {
        retention_ms: (retention_ms >= 0).then_some(retention_ms),
        retention_bytes: u64::try_from(retention_bytes).ok(),
        segment_bytes: long("segment.bytes", defaults.segment_bytes).max(1) as u64,
        max_message_bytes: long("max.message.bytes", defaults.max_message_bytes).max(0) as usize,
        index_interval_bytes: long("index.interval.bytes", defaults.index_interval_bytes)
            .clamp(1, i64::from(u32::MAX)) as u32,
        preallocate_step_bytes: defaults.preallocate_step_bytes,
        cleanup_policy: match overrides.get("cleanup.policy").map(String::as_str) {
            Some("compact") => CleanupPolicy {
                delete: false,
                compact: true,
            },
            Some("compact,delete") => CleanupPolicy {
                delete: true,
                compact: true,
            },
            _ => CleanupPolicy::default(),
        },
        delete_retention_ms: 86_400_000,
        min_compaction_lag_ms: 0,
        max_compaction_lag_ms: i64::MAX,
        min_cleanable_dirty_ratio: 0.5,
        segment_ms: long("segment.ms", 604_800_000),
    }
}

/// Refuses overrides under which a topic's replicas could not carry its largest batch (see
/// [`TopicDefaults::largest_replicated_batch_bytes`]).
pub fn check_replicable(
    overrides: &BTreeMap<String, String>,
    defaults: &TopicDefaults,
) -> Result<(), ConfigError> {
    let max = effective(overrides, defaults).max_message_bytes as i64;
    let limit = defaults.largest_replicated_batch_bytes;
    if max > limit {
        return Err(ConfigError::Invalid {
            key: "max.message.bytes".to_string(),
            value: max.to_string(),
            expected: format!(
                "at most {limit}: the largest batch replication carries to the other replicas"
            ),
        });
    }
    Ok(())
}

/// The settings of the metadata log itself: it is small and its whole history is the state,
/// so it keeps everything.
pub fn metadata_log(defaults: &TopicDefaults) -> EffectiveConfig {
    const SEGMENT_BYTES: i64 = 64 << 20;
    effective(
        &BTreeMap::new(),
        &TopicDefaults {
            retention_ms: -1,
            retention_bytes: -1,
            segment_bytes: SEGMENT_BYTES,
            // No metadata record may outgrow the segment that must hold it, whatever
            // message.max.bytes allows clients.
            max_message_bytes: defaults.max_message_bytes.min(SEGMENT_BYTES / 4),
            ..defaults.clone()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_and_named_in_errors() {
        assert_eq!(validate("retention.ms", " 60000 ").unwrap(), "60000");
        assert_eq!(validate("retention.bytes", "-1").unwrap(), "-1");
        assert_eq!(validate("cleanup.policy", "DELETE").unwrap(), "delete");
        let err = validate("retention.ms", "-5").unwrap_err().to_string();
        assert!(err.contains("retention.ms") && err.contains("-1"), "{err}");
        let err = validate("segment.bytes", "lots").unwrap_err().to_string();
        assert!(
            err.contains("segment.bytes") && err.contains("integer"),
            "{err}"
        );
        let err = validate("flush.ms", "1").unwrap_err().to_string();
        assert!(
            err.contains("flush.ms") && err.contains("retention.ms"),
            "{err}"
        );
    }

    #[test]
    fn every_key_has_a_default_and_overrides_win() {
        let defaults = TopicDefaults::default();
        for key in TOPIC_CONFIGS {
            let value = default_value(key.name, &defaults).expect("default");
            assert_eq!(validate(key.name, &value).unwrap(), value);
        }
        let overrides = BTreeMap::from([
            ("retention.ms".to_string(), "-1".to_string()),
            ("segment.bytes".to_string(), "4096".to_string()),
        ]);
        let eff = effective(&overrides, &defaults);
        assert_eq!(eff.retention_ms, None);
        assert_eq!(eff.retention_bytes, None);
        assert_eq!(eff.segment_bytes, 4096);
        assert_eq!(eff.max_message_bytes, 1_048_588);
    }

    #[test]
    fn value_types_follow_the_ranges() {
        let of = |name| lookup(name).expect("key").value_type();
        assert_eq!(of("retention.ms"), SettingType::Long);
        assert_eq!(of("max.message.bytes"), SettingType::Int);
        assert_eq!(of("cleanup.policy"), SettingType::String);
        let mut synonyms: Vec<_> = TOPIC_CONFIGS.iter().map(|k| k.broker_name).collect();
        synonyms.sort_unstable();
        synonyms.dedup();
        assert_eq!(
            synonyms.len(),
            TOPIC_CONFIGS.len(),
            "one broker synonym per setting"
        );
    }
}

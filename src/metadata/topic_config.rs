//! Per-topic settings under their Kafka names: how a value is validated, its default, how a
//! topic is described, what a topic's replicas apply. `keys.rs` beside it lists every key;
//! `admin/` serves them to the admin APIs; `state.rs` stores the overrides a topic has.

use std::collections::BTreeMap;

use crate::config::SettingType;
use crate::partition::{CleanupPolicy, EffectiveConfig};
use crate::record::{Compression, CompressionLevels, TimestampType};

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

mod keys;

use keys::Kind;
pub use keys::{ConfigKey, TOPIC_CONFIGS};

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

/// Checks one value against its key's type and range; returns it normalised.
fn validate_value(name: &str, value: &str) -> Result<String, ConfigError> {
    let key = lookup(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
    let invalid = |expected: String| ConfigError::Invalid {
        key: name.to_string(),
        value: value.to_string(),
        expected,
    };
    match key.kind {
        Kind::Integer { min, max, also } => {
            let range = match also {
                Some(v) => format!("an integer in [{min}, {max}] or {v}"),
                None => format!("an integer in [{min}, {max}]"),
            };
            let n: i64 = value.trim().parse().map_err(|_| invalid(range.clone()))?;
            if also == Some(n) || (min..=max).contains(&n) {
                Ok(n.to_string())
            } else {
                Err(invalid(range))
            }
        }
        Kind::Double { min, max } => {
            let expected = || invalid(format!("a number in [{min}, {max}]"));
            let n: f64 = value.trim().parse().map_err(|_| expected())?;
            if (min..=max).contains(&n) {
                Ok(value.trim().to_string())
            } else {
                Err(expected())
            }
        }
        Kind::Boolean => match value.trim().to_ascii_lowercase().as_str() {
            b @ ("true" | "false") => Ok(b.to_string()),
            _ => Err(invalid("true or false".to_string())),
        },
        Kind::OneOf(words) => words
            .iter()
            .find(|w| w.eq_ignore_ascii_case(value.trim()))
            .map(|w| w.to_string())
            .ok_or_else(|| invalid(format!("one of {}", words.join(", ")))),
        Kind::ListOf(words) => {
            let expected = || invalid(format!("a comma-separated list of {}", words.join(", ")));
            let mut picked: Vec<&str> = Vec::new();
            for item in value.split(',') {
                let word = words
                    .iter()
                    .find(|w| w.eq_ignore_ascii_case(item.trim()))
                    .ok_or_else(expected)?;
                if !picked.contains(word) {
                    picked.push(word);
                }
            }
            Ok(picked.join(","))
        }
        Kind::ThrottledReplicas => {
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            let number = |n: &str| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit());
            let pair = |item: &&str| {
                item.split_once(':')
                    .is_some_and(|(p, b)| number(p) && number(b))
            };
            match items.as_slice() {
                [""] => Ok(String::new()),
                ["*"] => Ok("*".to_string()),
                _ if items.iter().all(pair) => Ok(items.join(",")),
                _ => Err(invalid(
                    "* or a comma-separated list of partition:broker pairs".to_string(),
                )),
            }
        }
    }
}

/// Checks one setting, and what Kafka refuses of it on a broker without tiered storage
/// (raftka has none: `remote.storage.enable=true` is refused as Kafka refuses it while
/// `remote.log.storage.system.enable` is off); returns it normalised.
pub fn validate(name: &str, value: &str) -> Result<String, ConfigError> {
    let value = validate_value(name, value)?;
    if name == "remote.storage.enable" && value == "true" {
        return Err(ConfigError::Invalid {
            key: name.to_string(),
            value,
            expected: "false: this broker has no tiered storage".to_string(),
        });
    }
    Ok(value)
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

/// The default of a setting: the broker's value of its synonym where raftka has that broker
/// setting, else Kafka's built-in default.
pub fn default_value(name: &str, defaults: &TopicDefaults) -> Option<String> {
    let key = lookup(name)?;
    Some(match name {
        "retention.ms" => defaults.retention_ms.to_string(),
        "retention.bytes" => defaults.retention_bytes.to_string(),
        "segment.bytes" => defaults.segment_bytes.to_string(),
        "max.message.bytes" => defaults.max_message_bytes.to_string(),
        "index.interval.bytes" => defaults.index_interval_bytes.to_string(),
        _ => key.default.to_string(),
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
    /// The broker setting that gives the default, where Kafka has one.
    pub broker_name: Option<&'static str>,
    /// The value without the topic's override.
    pub default: String,
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
            let default = default_value(key.name, defaults).unwrap_or_default();
            let (value, source) = match overrides.get(key.name) {
                Some(v) => (v.clone(), ConfigSource::Topic),
                None => (default.clone(), ConfigSource::Default),
            };
            DescribedConfig {
                name: key.name,
                value,
                source,
                broker_name: key.broker_name,
                default,
                value_type: key.value_type,
                doc: key.doc,
            }
        })
        .collect()
}

/// The words of a `cleanup.policy` value.
pub fn cleanup_policy(value: &str) -> CleanupPolicy {
    let has = |word: &str| {
        value
            .split(',')
            .any(|w| w.trim().eq_ignore_ascii_case(word))
    };
    CleanupPolicy {
        delete: has("delete"),
        compact: has("compact"),
    }
}

/// The codec a `compression.type` value makes the leader store batches with; `None` keeps
/// the producer's.
pub fn target_compression(value: &str) -> Option<Compression> {
    match value.trim().to_ascii_lowercase().as_str() {
        "uncompressed" => Some(Compression::None),
        "gzip" => Some(Compression::Gzip),
        "snappy" => Some(Compression::Snappy),
        "lz4" => Some(Compression::Lz4),
        "zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// A topic's effective settings: its overrides on top of the broker defaults, as the replicas
/// apply them.
pub fn effective(
    overrides: &BTreeMap<String, String>,
    defaults: &TopicDefaults,
) -> EffectiveConfig {
    let value = |name: &str| {
        overrides
            .get(name)
            .cloned()
            .or_else(|| default_value(name, defaults))
            .unwrap_or_default()
    };
    // Every value was validated when it was set; a default is valid by construction (tested).
    let long = |name: &str| value(name).trim().parse::<i64>().unwrap_or(i64::MAX);
    let level = |name: &str| long(name).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    let retention_ms = long("retention.ms");
    let retention_bytes = long("retention.bytes");
    let timestamp_type = if value("message.timestamp.type") == "LogAppendTime" {
        TimestampType::LogAppendTime
    } else {
        TimestampType::CreateTime
    };
    EffectiveConfig {
        retention_ms: (retention_ms >= 0).then_some(retention_ms),
        retention_bytes: u64::try_from(retention_bytes).ok(),
        segment_bytes: long("segment.bytes").max(1) as u64,
        max_message_bytes: long("max.message.bytes").max(0) as usize,
        index_interval_bytes: long("index.interval.bytes").clamp(1, i64::from(u32::MAX)) as u32,
        preallocate_step_bytes: defaults.preallocate_step_bytes,
        cleanup_policy: cleanup_policy(&value("cleanup.policy")),
        delete_retention_ms: long("delete.retention.ms"),
        min_compaction_lag_ms: long("min.compaction.lag.ms"),
        max_compaction_lag_ms: long("max.compaction.lag.ms"),
        min_cleanable_dirty_ratio: value("min.cleanable.dirty.ratio")
            .trim()
            .parse()
            .unwrap_or(0.5),
        segment_ms: long("segment.ms"),
        timestamp_type,
        compression: target_compression(&value("compression.type")),
        compression_levels: CompressionLevels {
            gzip: level("compression.gzip.level"),
            lz4: level("compression.lz4.level"),
            zstd: level("compression.zstd.level"),
        },
        timestamp_before_max_ms: long("message.timestamp.before.max.ms"),
        timestamp_after_max_ms: long("message.timestamp.after.max.ms"),
    }
}

/// Refuses overrides under which a topic's replicas could not carry its largest batch (see
/// [`TopicDefaults::largest_replicated_batch_bytes`]).
pub fn check_replicable(
    overrides: &BTreeMap<String, String>,
    defaults: &TopicDefaults,
) -> Result<(), ConfigError> {
    let config = effective(overrides, defaults);
    let max = config.max_message_bytes as i64;
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
    // Every batch (never larger than max.message.bytes, also once the broker recompressed or
    // stamped it) is one entry of one segment, with its entry header.
    let smallest_segment = max + ENTRY_FRAMING_BYTES;
    if (config.segment_bytes as i64) < smallest_segment {
        return Err(ConfigError::Invalid {
            key: "segment.bytes".to_string(),
            value: config.segment_bytes.to_string(),
            expected: format!(
                "at least max.message.bytes + {ENTRY_FRAMING_BYTES} ({smallest_segment}): a \
                 segment holds whole batches"
            ),
        });
    }
    Ok(())
}

/// Room for an entry's header around a batch in a segment (46 bytes, rounded up).
const ENTRY_FRAMING_BYTES: i64 = 1024;

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
mod tests;

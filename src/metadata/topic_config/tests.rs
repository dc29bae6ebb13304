use super::*;

fn refused(name: &str, value: &str) -> String {
    match validate(name, value) {
        Err(e @ ConfigError::Invalid { .. }) => {
            let text = e.to_string();
            assert!(text.contains(name), "{text}");
            text
        }
        other => panic!("{name}={value:?} gave {other:?}"),
    }
}

#[test]
fn values_are_checked_and_named_in_errors() {
    assert_eq!(validate("retention.ms", " 60000 ").unwrap(), "60000");
    assert_eq!(validate("retention.bytes", "-1").unwrap(), "-1");
    assert_eq!(validate("cleanup.policy", "DELETE").unwrap(), "delete");
    let err = refused("retention.ms", "-5");
    assert!(err.contains("-1"), "{err}");
    let err = refused("segment.bytes", "lots");
    assert!(err.contains("integer"), "{err}");
    let err = refused("cleanup.policy", "shred");
    assert!(err.contains("compact") && err.contains("delete"), "{err}");
    let err = validate("no.such.key", "1").unwrap_err().to_string();
    assert!(
        err.contains("no.such.key") && err.contains("retention.ms"),
        "{err}"
    );
}

#[test]
fn keys_kafka_4_removed_are_unknown() {
    for name in [
        "message.downconversion.enable",
        "message.format.version",
        "message.timestamp.difference.max.ms",
    ] {
        assert_eq!(
            validate(name, "1"),
            Err(ConfigError::Unknown(name.to_string()))
        );
    }
}

#[test]
fn integer_ranges_are_kafkas() {
    // (key, lowest accepted, highest accepted)
    let cases: &[(&str, i64, i64)] = &[
        ("compression.gzip.level", 1, 9),
        ("compression.lz4.level", 1, 17),
        ("compression.zstd.level", -131_072, 22),
        ("delete.retention.ms", 0, i64::MAX),
        ("file.delete.delay.ms", 0, i64::MAX),
        ("flush.messages", 1, i64::MAX),
        ("flush.ms", 0, i64::MAX),
        ("index.interval.bytes", 0, i64::from(i32::MAX)),
        ("local.retention.bytes", -2, i64::MAX),
        ("local.retention.ms", -2, i64::MAX),
        ("max.compaction.lag.ms", 1, i64::MAX),
        ("max.message.bytes", 0, i64::from(i32::MAX)),
        ("message.timestamp.after.max.ms", 0, i64::MAX),
        ("message.timestamp.before.max.ms", 0, i64::MAX),
        ("min.compaction.lag.ms", 0, i64::MAX),
        ("min.insync.replicas", 1, i64::from(i32::MAX)),
        ("retention.bytes", 0, i64::MAX),
        ("retention.ms", 0, i64::MAX),
        ("segment.bytes", 1024, i64::from(i32::MAX)),
        ("segment.index.bytes", 4, i64::from(i32::MAX)),
        ("segment.jitter.ms", 0, i64::MAX),
        ("segment.ms", 1, i64::MAX),
    ];
    for &(name, min, max) in cases {
        assert_eq!(validate(name, &min.to_string()).unwrap(), min.to_string());
        assert_eq!(validate(name, &max.to_string()).unwrap(), max.to_string());
        let below = if validate(name, "-1").is_ok() && min == 0 {
            -2
        } else {
            min - 1
        };
        refused(name, &below.to_string());
        if max < i64::MAX {
            refused(name, &(max + 1).to_string());
        }
        refused(name, "1.5");
        refused(name, "");
    }
    // The one extra value some keys take.
    assert_eq!(validate("compression.gzip.level", "-1").unwrap(), "-1");
    assert_eq!(validate("retention.ms", "-1").unwrap(), "-1");
    assert_eq!(validate("retention.bytes", "-1").unwrap(), "-1");
    refused("compression.gzip.level", "-2");
    refused("compression.gzip.level", "0");
    let integers = TOPIC_CONFIGS
        .iter()
        .filter(|k| matches!(k.value_type, SettingType::Int | SettingType::Long))
        .count();
    assert_eq!(integers, cases.len(), "every integer key has a case");
}

#[test]
fn doubles_booleans_words_and_lists() {
    assert_eq!(validate("min.cleanable.dirty.ratio", "0").unwrap(), "0");
    assert_eq!(validate("min.cleanable.dirty.ratio", "1.0").unwrap(), "1.0");
    assert_eq!(
        validate("min.cleanable.dirty.ratio", " 0.25").unwrap(),
        "0.25"
    );
    for bad in ["1.01", "-0.1", "half", "NaN", ""] {
        refused("min.cleanable.dirty.ratio", bad);
    }
    assert_eq!(validate("remote.storage.enable", "FALSE").unwrap(), "false");
    let err = refused("remote.storage.enable", "true");
    assert!(err.contains("tiered storage"), "{err}");
    for name in [
        "preallocate",
        "unclean.leader.election.enable",
        "remote.log.copy.disable",
        "remote.log.delete.on.disable",
    ] {
        assert_eq!(validate(name, "TRUE").unwrap(), "true");
        assert_eq!(validate(name, "false").unwrap(), "false");
        refused(name, "yes");
        refused(name, "1");
    }
    for codec in ["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"] {
        assert_eq!(validate("compression.type", codec).unwrap(), codec);
    }
    assert_eq!(validate("compression.type", "ZSTD").unwrap(), "zstd");
    refused("compression.type", "none");
    refused("compression.type", "brotli");
    assert_eq!(
        validate("message.timestamp.type", "logappendtime").unwrap(),
        "LogAppendTime"
    );
    assert_eq!(
        validate("message.timestamp.type", "CreateTime").unwrap(),
        "CreateTime"
    );
    refused("message.timestamp.type", "NowTime");
    assert_eq!(
        validate("cleanup.policy", "compact, delete").unwrap(),
        "compact,delete"
    );
    assert_eq!(
        validate("cleanup.policy", "Delete,compact").unwrap(),
        "delete,compact"
    );
    assert_eq!(validate("cleanup.policy", "compact").unwrap(), "compact");
    assert_eq!(
        validate("cleanup.policy", "delete,delete").unwrap(),
        "delete"
    );
    refused("cleanup.policy", "compact,shred");
    refused("cleanup.policy", "");
    refused("cleanup.policy", "compact,");
    for name in [
        "leader.replication.throttled.replicas",
        "follower.replication.throttled.replicas",
    ] {
        assert_eq!(validate(name, "").unwrap(), "");
        assert_eq!(validate(name, "*").unwrap(), "*");
        assert_eq!(validate(name, "0:1, 1:2").unwrap(), "0:1,1:2");
        refused(name, "0:1,*");
        refused(name, "0-1");
        refused(name, "a:1");
        refused(name, "0:");
    }
}

#[test]
fn every_key_has_a_valid_default_and_overrides_win() {
    let defaults = TopicDefaults::default();
    let mut names: Vec<_> = TOPIC_CONFIGS.iter().map(|k| k.name).collect();
    let sorted = {
        let mut n = names.clone();
        n.sort_unstable();
        n
    };
    assert_eq!(names, sorted, "the table is sorted by name");
    names.dedup();
    assert_eq!(names.len(), TOPIC_CONFIGS.len(), "no key twice");
    for key in TOPIC_CONFIGS {
        let value = default_value(key.name, &defaults).expect("default");
        assert_eq!(validate(key.name, &value).unwrap(), value, "{}", key.name);
        assert!(!key.doc.is_empty());
    }
    let eff = effective(&BTreeMap::new(), &defaults);
    assert_eq!(eff.cleanup_policy, CleanupPolicy::default());
    assert_eq!(eff.delete_retention_ms, 86_400_000);
    assert_eq!(eff.min_compaction_lag_ms, 0);
    assert_eq!(eff.max_compaction_lag_ms, i64::MAX);
    assert_eq!(eff.min_cleanable_dirty_ratio, 0.5);
    assert_eq!(eff.segment_ms, 604_800_000);
    assert_eq!(eff.timestamp_type, TimestampType::CreateTime);
    assert_eq!(eff.compression, None);
    assert_eq!(eff.timestamp_before_max_ms, i64::MAX);
    assert_eq!(eff.timestamp_after_max_ms, 3_600_000);
    let overrides = BTreeMap::from([
        ("retention.ms".to_string(), "-1".to_string()),
        ("segment.bytes".to_string(), "4096".to_string()),
        ("cleanup.policy".to_string(), "compact,delete".to_string()),
        ("min.cleanable.dirty.ratio".to_string(), "0.1".to_string()),
        (
            "message.timestamp.type".to_string(),
            "LogAppendTime".to_string(),
        ),
        ("compression.type".to_string(), "uncompressed".to_string()),
        ("segment.ms".to_string(), "1000".to_string()),
    ]);
    let eff = effective(&overrides, &defaults);
    assert_eq!(eff.retention_ms, None);
    assert_eq!(eff.retention_bytes, None);
    assert_eq!(eff.segment_bytes, 4096);
    assert_eq!(eff.max_message_bytes, 1_048_588);
    assert_eq!(
        eff.cleanup_policy,
        CleanupPolicy {
            delete: true,
            compact: true
        }
    );
    assert_eq!(eff.min_cleanable_dirty_ratio, 0.1);
    assert_eq!(eff.timestamp_type, TimestampType::LogAppendTime);
    assert_eq!(eff.compression, Some(Compression::None));
    assert_eq!(eff.segment_ms, 1000);
}

#[test]
fn value_types_and_synonyms_are_kafkas() {
    let of = |name| lookup(name).expect("key").value_type;
    assert_eq!(of("retention.ms"), SettingType::Long);
    assert_eq!(of("max.message.bytes"), SettingType::Int);
    assert_eq!(of("segment.bytes"), SettingType::Int);
    assert_eq!(of("cleanup.policy"), SettingType::List);
    assert_eq!(of("min.cleanable.dirty.ratio"), SettingType::Double);
    assert_eq!(of("preallocate"), SettingType::Boolean);
    assert_eq!(of("compression.type"), SettingType::String);
    assert_eq!(
        of("leader.replication.throttled.replicas"),
        SettingType::List
    );
    let synonym = |name| lookup(name).expect("key").broker_name;
    for (name, broker) in [
        ("cleanup.policy", "log.cleanup.policy"),
        ("compression.type", "compression.type"),
        ("min.insync.replicas", "min.insync.replicas"),
        ("segment.ms", "log.roll.ms"),
        ("segment.jitter.ms", "log.roll.jitter.ms"),
        ("segment.index.bytes", "log.index.size.max.bytes"),
        ("delete.retention.ms", "log.cleaner.delete.retention.ms"),
        (
            "min.cleanable.dirty.ratio",
            "log.cleaner.min.cleanable.ratio",
        ),
        ("min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms"),
        ("max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms"),
        ("file.delete.delay.ms", "log.segment.delete.delay.ms"),
        ("flush.messages", "log.flush.interval.messages"),
        ("flush.ms", "log.flush.interval.ms"),
        ("max.message.bytes", "message.max.bytes"),
        ("local.retention.ms", "log.local.retention.ms"),
        (
            "message.timestamp.after.max.ms",
            "log.message.timestamp.after.max.ms",
        ),
    ] {
        assert_eq!(synonym(name), Some(broker), "{name}");
    }
    // Kafka gives the throttle lists and the tiered-storage switches no broker synonym.
    assert_eq!(synonym("remote.storage.enable"), None);
    assert_eq!(synonym("leader.replication.throttled.replicas"), None);
    // Where a broker synonym exists it belongs to one topic key only.
    let mut synonyms: Vec<_> = TOPIC_CONFIGS.iter().filter_map(|k| k.broker_name).collect();
    let all = synonyms.len();
    synonyms.sort_unstable();
    synonyms.dedup();
    assert_eq!(synonyms.len(), all, "one topic key per broker synonym");
}

#[test]
fn the_description_lists_every_key_with_its_default() {
    let overrides = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
    let described = describe(&overrides, &TopicDefaults::default());
    assert_eq!(described.len(), TOPIC_CONFIGS.len());
    let policy = described
        .iter()
        .find(|c| c.name == "cleanup.policy")
        .expect("cleanup.policy");
    assert_eq!(
        (policy.value.as_str(), policy.default.as_str()),
        ("compact", "delete")
    );
    assert_eq!(policy.source, ConfigSource::Topic);
}

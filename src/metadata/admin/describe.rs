//! DescribeConfigs: every supported setting of a topic (its value, where the value comes from,
//! synonyms down to the built-in default) or of this broker (static, read-only).
//! `configs.rs` beside this names the resources and alters topic settings.

use super::configs::Resource;
use super::{Admin, AdminError, ConfigResource};
use crate::config::{BrokerSetting, SettingType};
use crate::metadata::ConfigSource;
use crate::metadata::topic_config::{self, DescribedConfig};

/// One setting as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: &'static str,
    pub value: String,
    pub source: ConfigSource,
    pub read_only: bool,
    /// Where the value could come from, most specific first, down to the built-in default.
    pub synonyms: Vec<Synonym>,
    pub value_type: SettingType,
    pub doc: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    pub name: &'static str,
    pub value: String,
    pub source: ConfigSource,
}

impl Admin {
    /// Every supported setting of each resource, or those of `keys` (all when `None` or
    /// empty, as Kafka does).
    pub fn describe_configs(
        &self,
        resources: Vec<(ConfigResource, Option<Vec<String>>)>,
    ) -> Vec<Result<Vec<ConfigEntry>, AdminError>> {
        resources
            .into_iter()
            .map(|(resource, keys)| {
                let keep = |name: &str| match &keys {
                    Some(keys) if !keys.is_empty() => keys.iter().any(|k| k == name),
                    _ => true,
                };
                let described = self.describe(&resource).map(|entries| {
                    entries
                        .into_iter()
                        .filter(|e| keep(e.name))
                        .collect::<Vec<_>>()
                });
                if let Err(e) = &described {
                    tracing::info!(resource = %resource.name, error = %e, "configs not described");
                }
                described
            })
            .collect()
    }

    fn describe(&self, resource: &ConfigResource) -> Result<Vec<ConfigEntry>, AdminError> {
        match self.resource(resource)? {
            Resource::Broker => Ok(self.broker_settings.iter().map(broker_entry).collect()),
            Resource::Topic(name) => {
                let state = self.state();
                let topic = state
                    .topics
                    .get(&name)
                    .ok_or(AdminError::UnknownTopic(name))?;
                Ok(topic_config::describe(&topic.configs, &self.defaults)
                    .into_iter()
                    .map(|c| topic_entry(c, &self.broker_settings))
                    .collect())
            }
        }
    }
}

/// A broker setting: read-only (settings are static), synonyms from the value to the default.
fn broker_entry(s: &BrokerSetting) -> ConfigEntry {
    ConfigEntry {
        name: s.name,
        value: s.value.clone(),
        source: broker_source(s),
        read_only: true,
        synonyms: broker_synonyms(s),
        value_type: s.value_type,
        doc: s.doc,
    }
}

/// A topic setting: the override if any, else the broker's value of its synonym.
fn topic_entry(c: DescribedConfig, broker_settings: &[BrokerSetting]) -> ConfigEntry {
    let broker_setting = c
        .broker_name
        .and_then(|name| broker_settings.iter().find(|s| s.name == name));
    let mut synonyms = Vec::with_capacity(3);
    if c.source == ConfigSource::Topic {
        synonyms.push(Synonym {
            name: c.name,
            value: c.value.clone(),
            source: ConfigSource::Topic,
        });
    }
    let mut source = c.source;
    match (broker_setting, c.broker_name) {
        (Some(s), _) => {
            synonyms.extend(broker_synonyms(s));
            if source == ConfigSource::Default {
                source = broker_source(s);
            }
        }
        // A broker setting raftka does not take: Kafka's default stands for it.
        (None, Some(name)) => synonyms.push(Synonym {
            name,
            value: c.default.clone(),
            source: ConfigSource::Default,
        }),
        (None, None) => {}
    }
    ConfigEntry {
        name: c.name,
        value: c.value,
        source,
        read_only: false,
        synonyms,
        value_type: c.value_type,
        doc: c.doc,
    }
}

fn broker_source(s: &BrokerSetting) -> ConfigSource {
    if s.is_default {
        ConfigSource::Default
    } else {
        ConfigSource::StaticBroker
    }
}

/// The broker's own value (when set) and the built-in default.
fn broker_synonyms(s: &BrokerSetting) -> Vec<Synonym> {
    let mut synonyms = Vec::with_capacity(2);
    if !s.is_default {
        synonyms.push(Synonym {
            name: s.name,
            value: s.value.clone(),
            source: ConfigSource::StaticBroker,
        });
    }
    synonyms.push(Synonym {
        name: s.name,
        value: s.default.clone(),
        source: ConfigSource::Default,
    });
    synonyms
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::Config;
    use crate::metadata::TopicDefaults;

    #[test]
    fn sources_and_synonyms_follow_the_override_and_the_broker_setting() {
        let config = Config {
            num_partitions: 4,
            ..Config::default()
        };
        let settings = config.describe(&config.advertised_listeners);
        let overrides = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        let topic: Vec<ConfigEntry> = topic_config::describe(&overrides, &TopicDefaults::default())
            .into_iter()
            .map(|c| topic_entry(c, &settings))
            .collect();
        let entry = |name: &str| topic.iter().find(|e| e.name == name).expect("entry");
        let retention = entry("retention.ms");
        assert_eq!(retention.source, ConfigSource::Topic);
        assert_eq!(
            retention.synonyms.len(),
            2,
            "topic override, then the default"
        );
        assert_eq!(retention.synonyms[1].name, "log.retention.ms");
        assert_eq!(entry("segment.bytes").source, ConfigSource::Default);
        let ratio = entry("min.cleanable.dirty.ratio");
        assert_eq!(ratio.value_type, SettingType::Double);
        assert_eq!(
            ratio.synonyms.len(),
            1,
            "Kafka's default of the broker setting"
        );
        assert_eq!(ratio.synonyms[0].name, "log.cleaner.min.cleanable.ratio");
        assert_eq!(ratio.synonyms[0].value, "0.5");
        assert!(entry("remote.storage.enable").synonyms.is_empty());
        let partitions = settings
            .iter()
            .find(|s| s.name == "num.partitions")
            .map(broker_entry)
            .expect("entry");
        assert_eq!(partitions.source, ConfigSource::StaticBroker);
        assert!(partitions.read_only);
        assert_eq!(partitions.synonyms.len(), 2);
    }
}

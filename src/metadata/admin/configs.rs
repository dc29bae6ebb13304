//! Settings of config resources as DescribeConfigs, AlterConfigs and IncrementalAlterConfigs
//! name them: a topic's (described with where each value comes from, changed through the
//! metadata log) and this broker's (static: described, never altered).
//! `topic_config.rs` knows the topic settings; `topics.rs` beside this creates the topics.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use super::{Admin, AdminError, START_WAIT, repeated};
use crate::config::{BrokerSetting, SettingType};
use crate::metadata::topic_config::{self, DescribedConfig};
use crate::metadata::{Command, ConfigSource, state};

/// The kinds of resource a config request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    Topic,
    Broker,
    BrokerLogger,
    /// A resource type Kafka may define but raftka does not serve (the client's code).
    Unknown(i8),
}

/// A resource a config request names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConfigResource {
    pub kind: ResourceKind,
    /// A topic name; a broker id, or "" for the cluster-wide broker defaults.
    pub name: String,
}

impl fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ResourceKind::Topic => write!(f, "topic '{}'", self.name),
            ResourceKind::Broker => write!(f, "broker '{}'", self.name),
            ResourceKind::BrokerLogger => write!(f, "broker logger '{}'", self.name),
            ResourceKind::Unknown(code) => write!(f, "{code}/'{}'", self.name),
        }
    }
}

/// Keys with the values a request gives them (`None`: null on the wire).
pub type ConfigValues = Vec<(String, Option<String>)>;

/// Keys with the change IncrementalAlterConfigs asks for each.
pub type ConfigOps = Vec<(String, ConfigOp)>;

/// One change of IncrementalAlterConfigs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOp {
    /// Set the key; a `None` value is refused.
    Set(Option<String>),
    /// Back to the default.
    Delete,
    /// List settings only, of which raftka has none.
    Append,
    Subtract,
    /// An operation Kafka does not define (the client's code).
    Unknown(i8),
}

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

/// A resource a request names, as this broker serves it.
enum Resource {
    Topic(String),
    /// This broker (named by its id, or by "" for the cluster-wide defaults, which are the
    /// same settings here).
    Broker,
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

    /// AlterConfigs: replaces the whole set of each topic's overrides (settings left out go
    /// back to the defaults). A key given twice or without a value is refused.
    pub async fn alter_configs(
        &self,
        resources: Vec<(ConfigResource, ConfigValues)>,
        validate_only: bool,
    ) -> Vec<Result<(), AdminError>> {
        let repeated = repeated(resources.iter().map(|(r, _)| r.clone()));
        let mut results = Vec::with_capacity(resources.len());
        for (resource, entries) in resources {
            let outcome = if repeated.contains(&resource) {
                Err(AdminError::DuplicateResource(resource.clone()))
            } else {
                self.replace(&resource, entries, validate_only).await
            };
            results.push(logged(&resource, outcome));
        }
        results
    }

    async fn replace(
        &self,
        resource: &ConfigResource,
        entries: ConfigValues,
        validate_only: bool,
    ) -> Result<(), AdminError> {
        let name = self.alterable_topic(resource)?;
        let mut overrides = BTreeMap::new();
        for (key, value) in entries {
            let value = value.ok_or_else(|| AdminError::NullConfigValue(key.clone()))?;
            if overrides.contains_key(&key) {
                return Err(AdminError::DuplicateConfig(key));
            }
            overrides.insert(key, value);
        }
        let cmd = Command::ReplaceTopicConfigs {
            name: name.clone(),
            configs: overrides,
        };
        self.apply(&cmd, validate_only, START_WAIT).await?;
        if !validate_only {
            tracing::info!(topic = %name, "topic configs replaced");
        }
        Ok(())
    }

    /// IncrementalAlterConfigs: sets and deletes single settings of each topic, leaving the
    /// others as they are.
    pub async fn incremental_alter_configs(
        &self,
        resources: Vec<(ConfigResource, ConfigOps)>,
        validate_only: bool,
    ) -> Vec<Result<(), AdminError>> {
        let repeated = repeated(resources.iter().map(|(r, _)| r.clone()));
        let mut results = Vec::with_capacity(resources.len());
        for (resource, ops) in resources {
            let outcome = if repeated.contains(&resource) {
                Err(AdminError::DuplicateResource(resource.clone()))
            } else {
                self.change(&resource, ops, validate_only).await
            };
            results.push(logged(&resource, outcome));
        }
        results
    }

    async fn change(
        &self,
        resource: &ConfigResource,
        ops: ConfigOps,
        validate_only: bool,
    ) -> Result<(), AdminError> {
        let name = self.alterable_topic(resource)?;
        let (set, remove) = changes(ops)?;
        let cmd = Command::AlterTopicConfigs {
            name: name.clone(),
            set,
            remove,
        };
        self.apply(&cmd, validate_only, START_WAIT).await?;
        if !validate_only {
            tracing::info!(topic = %name, "topic configs altered");
        }
        Ok(())
    }

    /// Which resource `resource` means on this broker.
    fn resource(&self, resource: &ConfigResource) -> Result<Resource, AdminError> {
        let name = &resource.name;
        match resource.kind {
            ResourceKind::Topic => {
                state::validate_topic_name(name)?;
                Ok(Resource::Topic(name.clone()))
            }
            ResourceKind::Broker => {
                let me = self.settings.node_id;
                if name.is_empty() || name.parse::<u64>().ok() == Some(me) {
                    Ok(Resource::Broker)
                } else {
                    Err(AdminError::OtherBroker {
                        me,
                        name: name.clone(),
                    })
                }
            }
            ResourceKind::BrokerLogger => Err(AdminError::BrokerLoggers),
            ResourceKind::Unknown(code) => Err(AdminError::UnknownResourceType(code)),
        }
    }

    /// The topic an alter request may change; broker settings are static.
    fn alterable_topic(&self, resource: &ConfigResource) -> Result<String, AdminError> {
        match self.resource(resource)? {
            Resource::Topic(name) => Ok(name),
            Resource::Broker => Err(AdminError::StaticBrokerConfigs),
        }
    }
}

fn logged(resource: &ConfigResource, outcome: Result<(), AdminError>) -> Result<(), AdminError> {
    if let Err(e) = &outcome {
        tracing::info!(resource = %resource.name, error = %e, "configs not altered");
    }
    outcome
}

/// Operations on keys -> keys to set and keys to drop. The metadata state checks the keys and
/// values themselves.
fn changes(ops: ConfigOps) -> Result<(BTreeMap<String, String>, Vec<String>), AdminError> {
    let mut seen = HashSet::new();
    let mut set = BTreeMap::new();
    let mut remove = Vec::new();
    for (name, op) in ops {
        if !seen.insert(name.clone()) {
            return Err(AdminError::DuplicateConfig(name));
        }
        match op {
            ConfigOp::Set(Some(value)) => {
                set.insert(name, value);
            }
            ConfigOp::Set(None) => return Err(AdminError::NullSet(name)),
            ConfigOp::Delete => remove.push(name),
            ConfigOp::Append | ConfigOp::Subtract => return Err(AdminError::NotAList(name)),
            ConfigOp::Unknown(op) => return Err(AdminError::UnknownConfigOperation { name, op }),
        }
    }
    Ok((set, remove))
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
    let broker_setting = broker_settings.iter().find(|s| s.name == c.broker_name);
    let mut synonyms = Vec::with_capacity(3);
    if c.source == ConfigSource::Topic {
        synonyms.push(Synonym {
            name: c.name,
            value: c.value.clone(),
            source: ConfigSource::Topic,
        });
    }
    let mut source = c.source;
    if let Some(s) = broker_setting {
        synonyms.extend(broker_synonyms(s));
        if source == ConfigSource::Default {
            source = broker_source(s);
        }
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
    use super::*;
    use crate::config::Config;
    use crate::metadata::TopicDefaults;

    #[test]
    fn operations_become_sets_and_removals() {
        let op = |name: &str, op: ConfigOp| (name.to_string(), op);
        let (set, remove) = changes(vec![
            op("retention.ms", ConfigOp::Set(Some("100".into()))),
            op("segment.bytes", ConfigOp::Delete),
        ])
        .expect("valid");
        assert_eq!(set, BTreeMap::from([("retention.ms".into(), "100".into())]));
        assert_eq!(remove, vec!["segment.bytes".to_string()]);
        let refused = |ops: ConfigOps| changes(ops).expect_err("refused");
        assert!(matches!(
            refused(vec![op("cleanup.policy", ConfigOp::Append)]),
            AdminError::NotAList(_)
        ));
        assert!(matches!(
            refused(vec![op("cleanup.policy", ConfigOp::Subtract)]),
            AdminError::NotAList(_)
        ));
        assert!(matches!(
            refused(vec![op("retention.ms", ConfigOp::Set(None))]),
            AdminError::NullSet(_)
        ));
        assert!(matches!(
            refused(vec![op("retention.ms", ConfigOp::Unknown(7))]),
            AdminError::UnknownConfigOperation { op: 7, .. }
        ));
        let twice = refused(vec![
            op("retention.ms", ConfigOp::Set(Some("1".into()))),
            op("retention.ms", ConfigOp::Delete),
        ]);
        assert!(matches!(&twice, AdminError::DuplicateConfig(_)));
        assert!(twice.to_string().contains("retention.ms"), "{twice}");
    }

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

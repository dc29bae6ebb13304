//! Config resources as DescribeConfigs, AlterConfigs and IncrementalAlterConfigs name them, and
//! the two Alter APIs: a topic's settings change through the metadata log; this broker's are
//! static. `describe.rs` describes both; `topic_config.rs` knows the topic settings.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::future::Future;

use super::{Admin, AdminError, START_WAIT, repeated};
use crate::metadata::{Command, state, topic_config};

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
    /// List settings only: adds the listed items missing from the current value (the
    /// topic's, else the default).
    Append(Option<String>),
    /// List settings only: removes the listed items from the current value.
    Subtract(Option<String>),
    /// An operation Kafka does not define (the client's code).
    Unknown(i8),
}

/// A resource a request names, as this broker serves it.
pub(super) enum Resource {
    Topic(String),
    /// This broker (named by its id, or by "" for the cluster-wide defaults, which are the
    /// same settings here).
    Broker,
}

impl Admin {
    /// AlterConfigs: replaces the whole set of each topic's overrides (settings left out go
    /// back to the defaults). A key given twice or without a value is refused.
    pub async fn alter_configs(
        &self,
        resources: Vec<(ConfigResource, ConfigValues)>,
        validate_only: bool,
    ) -> Vec<Result<(), AdminError>> {
        alter_each(resources, |resource, entries| {
            self.alter_topic(resource, validate_only, |name| {
                Ok(Command::ReplaceTopicConfigs {
                    name,
                    configs: overrides(entries)?,
                })
            })
        })
        .await
    }

    /// IncrementalAlterConfigs: sets and deletes single settings of each topic, leaving the
    /// others as they are.
    pub async fn incremental_alter_configs(
        &self,
        resources: Vec<(ConfigResource, ConfigOps)>,
        validate_only: bool,
    ) -> Vec<Result<(), AdminError>> {
        alter_each(resources, |resource, ops| {
            self.alter_topic(resource, validate_only, |name| {
                let current = |key: &str| {
                    let state = self.state();
                    let set = state.topics.get(&name).and_then(|t| t.configs.get(key));
                    set.cloned()
                        .or_else(|| topic_config::default_value(key, &self.defaults))
                };
                let (set, remove) = changes(ops, current)?;
                Ok(Command::AlterTopicConfigs { name, set, remove })
            })
        })
        .await
    }

    /// Applies (or with `validate_only`, checks) the change `command` makes of the topic
    /// `resource` names; the running replicas have the new settings when this returns.
    async fn alter_topic(
        &self,
        resource: ConfigResource,
        validate_only: bool,
        command: impl FnOnce(String) -> Result<Command, AdminError>,
    ) -> Result<(), AdminError> {
        let name = self.alterable_topic(&resource)?;
        let cmd = command(name.clone())?;
        self.apply(&cmd, validate_only, START_WAIT).await?;
        if !validate_only {
            tracing::info!(topic = %name, "topic configs altered");
        }
        Ok(())
    }

    /// Which resource `resource` means on this broker.
    pub(super) fn resource(&self, resource: &ConfigResource) -> Result<Resource, AdminError> {
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
            // The broker's `offsets.topic.*` settings decide an internal topic's.
            Resource::Topic(name) if crate::metadata::is_internal_topic(&name) => {
                Err(AdminError::InternalTopic(name))
            }
            Resource::Topic(name) => Ok(name),
            Resource::Broker => Err(AdminError::StaticBrokerConfigs),
        }
    }
}

/// Alters each resource on its own with `alter`, in request order; a resource named twice is
/// refused both times, as Kafka does.
async fn alter_each<T, F, Fut>(
    resources: Vec<(ConfigResource, T)>,
    alter: F,
) -> Vec<Result<(), AdminError>>
where
    F: Fn(ConfigResource, T) -> Fut,
    Fut: Future<Output = Result<(), AdminError>>,
{
    let repeated = repeated(resources.iter().map(|(r, _)| r.clone()));
    let mut results = Vec::with_capacity(resources.len());
    for (resource, change) in resources {
        let name = resource.name.clone();
        let outcome = if repeated.contains(&resource) {
            Err(AdminError::DuplicateResource(resource))
        } else {
            alter(resource, change).await
        };
        if let Err(e) = &outcome {
            tracing::info!(resource = %name, error = %e, "configs not altered");
        }
        results.push(outcome);
    }
    results
}

/// The overrides AlterConfigs asks for; a key given twice or without a value is refused.
fn overrides(entries: ConfigValues) -> Result<BTreeMap<String, String>, AdminError> {
    let mut overrides = BTreeMap::new();
    for (key, value) in entries {
        let value = value.ok_or_else(|| AdminError::NullConfigValue(key.clone()))?;
        if overrides.contains_key(&key) {
            return Err(AdminError::DuplicateConfig(key));
        }
        overrides.insert(key, value);
    }
    Ok(overrides)
}

/// Operations on keys -> keys to set and keys to drop; APPEND and SUBTRACT edit the list
/// `current` gives for their key. The metadata state checks the keys and values themselves.
fn changes(
    ops: ConfigOps,
    current: impl Fn(&str) -> Option<String>,
) -> Result<(BTreeMap<String, String>, Vec<String>), AdminError> {
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
            ConfigOp::Append(ref items) | ConfigOp::Subtract(ref items) => {
                let is_list = topic_config::lookup(&name)
                    .is_some_and(|k| k.value_type == crate::config::SettingType::List);
                if !is_list {
                    return Err(AdminError::NotAList(name));
                }
                let items = items
                    .clone()
                    .ok_or_else(|| AdminError::NullSet(name.clone()))?;
                let was = current(&name).unwrap_or_default();
                let mut list: Vec<String> = split_list(&was);
                if matches!(op, ConfigOp::Append(_)) {
                    for item in split_list(&items) {
                        if !list.contains(&item) {
                            list.push(item);
                        }
                    }
                } else {
                    let gone = split_list(&items);
                    list.retain(|item| !gone.contains(item));
                }
                set.insert(name, list.join(","));
            }
            ConfigOp::Unknown(op) => return Err(AdminError::UnknownConfigOperation { name, op }),
        }
    }
    Ok((set, remove))
}

/// The items of a list setting's value.
fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_and_subtract_edit_the_current_list() {
        let policy = |ops: Vec<ConfigOp>, current: &str| {
            let ops = ops
                .into_iter()
                .map(|op| ("cleanup.policy".to_string(), op))
                .collect();
            let (set, _) = changes(ops, |_| Some(current.to_string())).expect("valid");
            set["cleanup.policy"].clone()
        };
        let append = |v: &str| ConfigOp::Append(Some(v.into()));
        let subtract = |v: &str| ConfigOp::Subtract(Some(v.into()));
        assert_eq!(policy(vec![append("compact")], "delete"), "delete,compact");
        assert_eq!(policy(vec![append("delete")], "delete"), "delete");
        assert_eq!(
            policy(vec![subtract("delete")], "compact,delete"),
            "compact"
        );
    }

    #[test]
    fn operations_become_sets_and_removals() {
        let op = |name: &str, op: ConfigOp| (name.to_string(), op);
        let (set, remove) = changes(
            vec![
                op("retention.ms", ConfigOp::Set(Some("100".into()))),
                op("segment.bytes", ConfigOp::Delete),
            ],
            |_| None,
        )
        .expect("valid");
        assert_eq!(set, BTreeMap::from([("retention.ms".into(), "100".into())]));
        assert_eq!(remove, vec!["segment.bytes".to_string()]);
        let refused = |ops: ConfigOps| changes(ops, |_| None).expect_err("refused");
        assert!(matches!(
            refused(vec![op("retention.ms", ConfigOp::Append(Some("1".into())))]),
            AdminError::NotAList(_)
        ));
        assert!(matches!(
            refused(vec![op("segment.ms", ConfigOp::Subtract(Some("1".into())))]),
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
}

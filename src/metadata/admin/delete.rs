//! Deleting topics: each through the metadata log on its own, answered once this broker's
//! replicas of it are stopped and their directories gone.

use std::time::Duration;

use uuid::Uuid;

use super::{Admin, AdminError, effect_wait, repeated};
use crate::metadata::{Command, TopicMeta};
use crate::partition::partition_dir;

/// How DeleteTopics names a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TopicRef {
    Name(String),
    Id(Uuid),
    /// Both a name and an id, or neither.
    Malformed,
}

/// One topic's answer to DeleteTopics: the name and id it had, as far as known.
#[derive(Debug)]
pub struct DeletedTopic {
    pub name: Option<String>,
    pub id: Uuid,
    pub outcome: Result<(), AdminError>,
}

impl Admin {
    /// Deletes each topic on its own, answering once this broker's replicas of it are stopped
    /// and their directories gone; waits at most the client's `timeout_ms` for that.
    pub async fn delete_topics(&self, topics: Vec<TopicRef>, timeout_ms: i32) -> Vec<DeletedTopic> {
        let repeated = repeated(topics.iter().cloned());
        let wait = effect_wait(timeout_ms);
        let mut results = Vec::with_capacity(topics.len());
        for named in topics {
            let deleted = if repeated.contains(&named) {
                DeletedTopic {
                    name: known_name(&named),
                    id: known_id(&named),
                    outcome: Err(AdminError::DuplicateTopicRef),
                }
            } else {
                self.delete(&named, wait).await
            };
            if let Err(e) = &deleted.outcome {
                tracing::info!(topic = ?deleted.name, error = %e, "topic not deleted");
            }
            results.push(deleted);
        }
        results
    }

    async fn delete(&self, named: &TopicRef, wait: Duration) -> DeletedTopic {
        let state = self.state();
        let found = match named {
            TopicRef::Name(name) => state
                .topics
                .get(name)
                .ok_or_else(|| AdminError::UnknownTopic(name.clone())),
            TopicRef::Id(id) => state
                .topic_by_id(*id)
                .ok_or(AdminError::UnknownTopicId(*id)),
            TopicRef::Malformed => Err(AdminError::MalformedTopicRef),
        };
        let found = found.and_then(|topic| {
            if crate::metadata::is_internal_topic(&topic.name) {
                Err(AdminError::InternalTopic(topic.name.clone()))
            } else {
                Ok(topic)
            }
        });
        let topic = match found {
            Ok(topic) => topic.clone(),
            Err(e) => {
                return DeletedTopic {
                    name: known_name(named),
                    id: known_id(named),
                    outcome: Err(e),
                };
            }
        };
        let cmd = Command::DeleteTopic {
            name: topic.name.clone(),
        };
        let mut outcome = self.apply(&cmd, false, wait).await.map(drop);
        if outcome.is_ok() {
            outcome = self.check_files_gone(&topic);
        }
        if outcome.is_ok() {
            tracing::info!(topic = %topic.name, id = %topic.id, "topic deleted");
        }
        DeletedTopic {
            name: Some(topic.name),
            id: topic.id,
            outcome,
        }
    }

    /// The reconciler logs a failed removal; the client hears of it here.
    fn check_files_gone(&self, topic: &TopicMeta) -> Result<(), AdminError> {
        let recreated = self
            .state()
            .topics
            .get(&topic.name)
            .is_some_and(|t| t.id != topic.id);
        if recreated {
            // Someone created the topic again meanwhile: its new files are not leftovers.
            return Ok(());
        }
        for p in 0..topic.partitions.len() as i32 {
            let dir = partition_dir(self.partitions.data_dir(), &topic.name, p, Some(topic.id));
            if self.partitions.contains(&topic.name, p) || dir.exists() {
                return Err(AdminError::FilesRemain(dir));
            }
        }
        Ok(())
    }
}

fn known_name(n: &TopicRef) -> Option<String> {
    match n {
        TopicRef::Name(name) => Some(name.clone()),
        _ => None,
    }
}

fn known_id(n: &TopicRef) -> Uuid {
    match n {
        TopicRef::Id(id) => *id,
        _ => Uuid::nil(),
    }
}

//! Topic-level work shared by several handlers: creating a topic (CreateTopics and auto-creation
//! from Metadata/Produce) and finding the replica a partition request is for.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use tokio::time::Instant;
use uuid::Uuid;

use super::context::BrokerContext;
use super::error_map::{self, Refusal};
use crate::metadata::{Command, LeaderRecord, METADATA_TOPIC, MetadataState, TopicMeta, state};
use crate::partition::Replica;

/// How long a new topic's replicas may take to start here.
const START_WAIT: Duration = Duration::from_secs(30);

/// A refusal with a message for the client.
#[derive(Debug, Clone)]
pub(crate) struct TopicError {
    pub error: ResponseError,
    pub message: String,
}

impl TopicError {
    pub(crate) fn new(error: ResponseError, message: impl Into<String>) -> Self {
        TopicError {
            error,
            message: message.into(),
        }
    }
}

/// What to create.
#[derive(Debug, Clone)]
pub(crate) struct NewTopic {
    pub name: String,
    /// `None` = `num.partitions`.
    pub partitions: Option<i32>,
    /// `None` = `default.replication.factor`.
    pub replication_factor: Option<i16>,
    /// Replicas of each partition chosen by the client; `None` = spread by the broker.
    pub assignments: Option<Vec<Vec<u64>>>,
    pub configs: BTreeMap<String, String>,
}

/// Validates and (unless `validate_only`) creates a topic, waiting until its replicas run
/// here. Returns the topic as the metadata now holds it.
pub(crate) async fn create(
    ctx: &BrokerContext,
    topic: NewTopic,
    validate_only: bool,
) -> Result<TopicMeta, TopicError> {
    if topic.name == METADATA_TOPIC {
        return Err(TopicError::new(
            error_map::refusal(Refusal::InvalidTopic),
            format!("{METADATA_TOPIC} is internal"),
        ));
    }
    let partitions = topic.partitions.unwrap_or(ctx.config.num_partitions as i32);
    let rf = topic
        .replication_factor
        .unwrap_or(ctx.config.default_replication_factor as i16);
    if partitions <= 0 {
        return Err(TopicError::new(
            error_map::refusal(Refusal::InvalidPartitions),
            format!("partition count {partitions} must be at least 1"),
        ));
    }
    let view = ctx.services.metadata.current();
    let assignments = match topic.assignments {
        Some(chosen) => chosen,
        None => view
            .state
            .assign(0, partitions as usize, rf.max(0) as usize)
            .map_err(|e| TopicError::new(error_map::metadata_error(&e), e.to_string()))?,
    };
    let cmd = Command::CreateTopic {
        name: topic.name.clone(),
        id: Uuid::new_v4(),
        assignments,
        configs: topic.configs,
    };
    let started = Instant::now();
    let state = apply(ctx, &cmd, validate_only, START_WAIT).await?;
    let created = state
        .topics
        .get(&topic.name)
        .cloned()
        .ok_or_else(|| TopicError::new(ResponseError::UnknownServerError, "topic vanished"))?;
    if !validate_only {
        wait_for_leaders(ctx, &created, started + START_WAIT).await;
    }
    Ok(created)
}

/// How often [`wait_for_leaders`] looks at the replicas.
const LEADER_POLL: Duration = Duration::from_millis(20);

/// Waits (until `deadline` at most) for every replica of `topic` hosted here to know a leader,
/// so a client that asks for Metadata right after creating the topic finds them led. A replica
/// group of several nodes elects within an election timeout once its members run.
pub(crate) async fn wait_for_leaders(ctx: &BrokerContext, topic: &TopicMeta, deadline: Instant) {
    let partitions = &ctx.services.partitions;
    let hosted: Vec<Arc<Replica>> = (0..topic.partitions.len() as i32)
        .filter_map(|p| partitions.get(&topic.name, p))
        .collect();
    while hosted.iter().any(|r| r.leadership().leader.is_none()) {
        if Instant::now() + LEADER_POLL > deadline {
            tracing::info!(topic = %topic.name, "created; some partitions have no leader yet");
            return;
        }
        tokio::time::sleep(LEADER_POLL).await;
    }
}

/// How long a request waits for its change to take effect here: the client's timeout when it
/// gives one, at most [`START_WAIT`].
pub(crate) fn effect_wait(timeout_ms: i32) -> Duration {
    match u64::try_from(timeout_ms) {
        Ok(ms) if ms > 0 => Duration::from_millis(ms).min(START_WAIT),
        _ => START_WAIT,
    }
}

/// With `validate_only`, runs `cmd` through the checks the metadata log would make, on a copy;
/// otherwise proposes it and waits (up to `wait`) until this broker's replicas reflect it
/// (started, stopped, reconfigured). Returns the metadata with the change.
pub(crate) async fn apply(
    ctx: &BrokerContext,
    cmd: &Command,
    validate_only: bool,
    wait: Duration,
) -> Result<Arc<MetadataState>, TopicError> {
    let metadata = &ctx.services.metadata;
    if validate_only {
        let mut scratch = (*metadata.current().state).clone();
        scratch
            .apply(cmd)
            .map_err(|e| TopicError::new(error_map::metadata_error(&e), e.to_string()))?;
        return Ok(Arc::new(scratch));
    }
    metadata
        .propose(cmd)
        .await
        .map_err(|e| TopicError::new(error_map::propose_error(&e), e.to_string()))?;
    let after = metadata.current();
    let deadline = Instant::now() + wait;
    if !ctx
        .services
        .partitions
        .wait_reconciled(after.next_offset, deadline)
        .await
    {
        return Err(TopicError::new(
            error_map::refusal(Refusal::RequestTimedOut),
            format!("the change did not take effect on this broker within {wait:?}"),
        ));
    }
    Ok(after.state)
}

/// Creates `name` with the broker defaults if auto-creation is on and the name is valid;
/// `Ok(None)` when auto-creation is off.
pub(crate) async fn auto_create(
    ctx: &BrokerContext,
    name: &str,
) -> Result<Option<TopicMeta>, TopicError> {
    if !ctx.config.auto_create_topics || state::validate_topic_name(name).is_err() {
        return Ok(None);
    }
    let new = NewTopic {
        name: name.to_string(),
        partitions: None,
        replication_factor: None,
        assignments: None,
        configs: BTreeMap::new(),
    };
    match create(ctx, new, false).await {
        Ok(topic) => Ok(Some(topic)),
        // Another request created it meanwhile.
        Err(e) if e.error == ResponseError::TopicAlreadyExists => Ok(ctx
            .services
            .metadata
            .current()
            .state
            .topics
            .get(name)
            .cloned()),
        Err(e) => Err(e),
    }
}

/// The replica serving `topic`/`partition` on this broker, or the error for the client.
pub(crate) fn replica(
    ctx: &BrokerContext,
    topic: &str,
    partition: i32,
) -> Result<Arc<Replica>, ResponseError> {
    let view = ctx.services.metadata.current();
    let Some(meta) = view.state.topics.get(topic) else {
        return Err(error_map::refusal(Refusal::UnknownTopicOrPartition));
    };
    if partition < 0 || partition as usize >= meta.partitions.len() {
        return Err(error_map::refusal(Refusal::UnknownTopicOrPartition));
    }
    ctx.services
        .partitions
        .get(topic, partition)
        .ok_or_else(|| {
            error_map::partition_error(&crate::partition::Error::NotLeader { leader: None })
        })
}

/// Who leads `partition`, in which epoch, with which replicas in sync: from the hosted replica
/// when it knows a leader at least as recent as the recorded one (its own ISR if it leads,
/// else the recorded ISR of that same leadership, else just the leader), otherwise as recorded;
/// no leader when it is a broker this one cannot reach.
pub(crate) fn leader_view(
    broker: &BrokerContext,
    topic: &TopicMeta,
    partition: i32,
) -> Option<LeaderRecord> {
    let recorded = topic.leaders.get(&partition);
    let local = broker
        .services
        .partitions
        .get(&topic.name, partition)
        .and_then(|replica| {
            let leadership = replica.leadership();
            let leader = leadership.leader?;
            let lag = Duration::from_millis(broker.config.replica_lag_time_max_ms);
            let isr = replica.in_sync_replicas(lag).unwrap_or_else(|| {
                recorded
                    .filter(|r| r.leader == leader && r.epoch == leadership.term)
                    .map_or_else(|| vec![leader], |r| r.isr.clone())
            });
            Some(LeaderRecord {
                leader,
                epoch: leadership.term,
                isr,
            })
        });
    let known = match (local, recorded) {
        (Some(local), Some(recorded)) if recorded.epoch > local.epoch => Some(recorded.clone()),
        (Some(local), _) => Some(local),
        (None, recorded) => recorded.cloned(),
    };
    // A leader this broker has lost its link to is most likely dead and about to be replaced:
    // reporting none makes clients ask again soon instead of waiting on a dead broker.
    let reachable = broker.services.partitions.reachable_peers();
    known.filter(|view| {
        view.leader == broker.node_id()
            || reachable
                .as_ref()
                .is_none_or(|peers| peers.contains(&view.leader))
    })
}

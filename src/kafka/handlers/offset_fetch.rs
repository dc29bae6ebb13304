//! OffsetFetch v1-v9: a group's committed offsets, from the coordinator's replica of the
//! group's offsets partition. One group until v7 (all partitions when no topics are named,
//! from v2); a batch of groups from v8. A partition without a commit answers offset -1, and so
//! does one whose commit was made to a topic since deleted.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use super::coordinator::GroupRequestError;
use crate::group::offsets::{Committed, GroupOffsets};
use crate::kafka::context::BrokerContext;
use crate::kafka::error_map;

fn batched(version: i16) -> bool {
    version >= 8
}
/// From v2 a group-level error exists and a null topic list means every committed partition.
fn has_group_error(version: i16) -> bool {
    version >= 2
}
fn has_leader_epoch(version: i16) -> bool {
    version >= 5
}

/// One topic's partitions with their commits (if any).
type TopicCommits = (String, Vec<(i32, Option<Committed>)>);
/// What one group's answer holds: per topic, per partition, the commit (if any).
type Answer = Result<Vec<TopicCommits>, GroupRequestError>;

pub(crate) async fn handle(
    ctx: RequestContext,
    request: OffsetFetchRequest,
) -> Option<OffsetFetchResponse> {
    let version = ctx.api_version;
    if batched(version) {
        let mut groups = Vec::with_capacity(request.groups.len());
        for group in &request.groups {
            let wanted = group.topics.as_ref().map(|topics| {
                topics
                    .iter()
                    .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
                    .collect()
            });
            let answer = fetch(&ctx.broker, &group.group_id, wanted).await;
            groups.push(group_answer(group.group_id.clone(), answer));
        }
        return Some(OffsetFetchResponse::default().with_groups(groups));
    }
    let wanted = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let answer = fetch(&ctx.broker, &request.group_id, wanted.clone()).await;
    let mut response = OffsetFetchResponse::default();
    let (topics, partition_code) = match answer {
        Ok(topics) => (topics, error_map::NONE),
        Err(e) if has_group_error(version) => {
            response.error_code = error_map::group_request_code(&e);
            (Vec::new(), error_map::NONE)
        }
        // v1 has no group-level error: each named partition carries it.
        Err(e) => {
            let named = wanted
                .unwrap_or_default()
                .into_iter()
                .map(|(name, partitions)| {
                    (name, partitions.into_iter().map(|p| (p, None)).collect())
                })
                .collect();
            (named, error_map::group_request_code(&e))
        }
    };
    response.topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|(p, c)| classic_partition(version, p, c.as_ref(), partition_code))
                        .collect(),
                )
        })
        .collect();
    Some(response)
}

/// The commits of `group` for `wanted` (topic, partitions), or all it has when `None`.
async fn fetch(
    broker: &BrokerContext,
    group: &GroupId,
    wanted: Option<Vec<(String, Vec<i32>)>>,
) -> Answer {
    let offsets = broker.services.groups.offsets(group)?;
    let mut committed: GroupOffsets = offsets.group(group).await?;
    // Commits of a deleted topic are not answered, even before cleanup removes them.
    let state = broker.services.metadata.current().state;
    committed.retain(|(topic, _), c| !state.topic_deleted(topic, c.topic_id));
    Ok(match wanted {
        Some(wanted) => wanted
            .into_iter()
            .map(|(topic, partitions)| {
                let found = partitions
                    .into_iter()
                    .map(|p| (p, committed.get(&(topic.clone(), p)).cloned()))
                    .collect();
                (topic, found)
            })
            .collect(),
        None => {
            let mut by_topic: Vec<TopicCommits> = Vec::new();
            for ((topic, p), c) in committed {
                match by_topic.last_mut() {
                    Some((name, partitions)) if *name == topic => partitions.push((p, Some(c))),
                    _ => by_topic.push((topic, vec![(p, Some(c))])),
                }
            }
            by_topic
        }
    })
}

/// What a partition reports: offset, leader epoch and metadata of its commit, or -1, -1 and ""
/// without one.
fn reported(committed: Option<&Committed>) -> (i64, i32, StrBytes) {
    match committed {
        Some(c) => (
            c.offset,
            c.leader_epoch,
            StrBytes::from_string(c.metadata.clone().unwrap_or_default()),
        ),
        None => (-1, -1, StrBytes::default()),
    }
}

fn classic_partition(
    version: i16,
    partition: i32,
    committed: Option<&Committed>,
    error_code: i16,
) -> OffsetFetchResponsePartition {
    let (offset, epoch, metadata) = reported(committed);
    OffsetFetchResponsePartition::default()
        .with_partition_index(partition)
        .with_error_code(error_code)
        .with_committed_offset(offset)
        .with_committed_leader_epoch(if has_leader_epoch(version) { epoch } else { -1 })
        .with_metadata(Some(metadata))
}

fn group_answer(group: GroupId, answer: Answer) -> OffsetFetchResponseGroup {
    let base = OffsetFetchResponseGroup::default().with_group_id(group);
    match answer {
        Err(e) => base.with_error_code(error_map::group_request_code(&e)),
        Ok(topics) => base.with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    OffsetFetchResponseTopics::default()
                        .with_name(TopicName(StrBytes::from_string(name)))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|(p, c)| {
                                    let (offset, epoch, metadata) = reported(c.as_ref());
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(offset)
                                        .with_committed_leader_epoch(epoch)
                                        .with_metadata(Some(metadata))
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
    }
}

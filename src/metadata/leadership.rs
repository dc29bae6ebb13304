//! Partition leadership seen from the whole cluster. Each leader records itself (epoch and
//! in-sync replicas) in the metadata log whenever that changes, so every broker can answer
//! Metadata for partitions it does not lead or host; and it hands a partition back to its
//! preferred replica (the first assigned) once that replica is in sync again, so leadership
//! spreads evenly after a node returns.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::{Command, LeaderRecord, MetadataStore, NodeId};
use crate::partition::Partitions;

/// How often leaders compare what they are with what the metadata says of them.
const TICK: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct LeadershipSettings {
    pub node_id: NodeId,
    /// `replica.lag.time.max.ms`.
    pub replica_lag: Duration,
    /// `auto.leader.rebalance.enable`.
    pub rebalance: bool,
    /// `leader.imbalance.check.interval.seconds`.
    pub rebalance_every: Duration,
}

/// Runs until aborted: records leadership changes and hands partitions back.
pub async fn run(
    metadata: Arc<MetadataStore>,
    partitions: Arc<Partitions>,
    settings: LeadershipSettings,
) {
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut next_rebalance = Instant::now() + settings.rebalance_every;
    loop {
        ticks.tick().await;
        let rebalance = settings.rebalance && Instant::now() >= next_rebalance;
        if rebalance {
            next_rebalance = Instant::now() + settings.rebalance_every;
        }
        let state = metadata.current().state;
        for replica in partitions.all() {
            let Some(isr) = replica.in_sync_replicas(settings.replica_lag) else {
                continue;
            };
            // A replica of an earlier incarnation of the topic speaks for nothing.
            let Some(topic) = state
                .topics
                .get(&replica.topic)
                .filter(|t| replica.topic_id == Some(t.id))
            else {
                continue;
            };
            let record = LeaderRecord {
                leader: settings.node_id,
                epoch: replica.leader_epoch(),
                isr,
            };
            if topic.leaders.get(&replica.partition) != Some(&record) {
                let command = Command::RecordLeader {
                    name: replica.topic.clone(),
                    partition: replica.partition,
                    record: record.clone(),
                };
                // Retried at the next tick while it differs; a refusal (topic just deleted)
                // resolves itself the same way.
                if let Err(e) = metadata.propose(&command).await {
                    tracing::debug!(topic = %replica.topic, partition = replica.partition, error = %e, "recording leadership");
                }
            }
            let preferred = usize::try_from(replica.partition)
                .ok()
                .and_then(|p| topic.partitions.get(p))
                .and_then(|replicas| replicas.first().copied());
            if let Some(preferred) = preferred.filter(|p| rebalance && *p != settings.node_id)
                && record.isr.contains(&preferred)
            {
                match replica.transfer_leadership(preferred).await {
                    Ok(true) => tracing::info!(
                        topic = %replica.topic,
                        partition = replica.partition,
                        to = preferred,
                        "handing leadership back to the preferred replica"
                    ),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(topic = %replica.topic, partition = replica.partition, error = %e, "leadership transfer")
                    }
                }
            }
        }
    }
}

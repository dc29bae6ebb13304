//! Domain problems -> Kafka error codes. The only module that picks a code.
//! Exhaustive on purpose: a new variant must not compile until someone decides what a client sees.
//! Handlers name a meaning (`Refusal`, a partition, admin or group error) and get the code.

use kafka_protocol::ResponseError;

use super::handlers::coordinator::GroupRequestError;
use crate::group::CoordinatorError;
use crate::group::commit::CommitError;
use crate::group::membership::GroupError;
use crate::group::offsets::OffsetsError;
use crate::metadata::admin::AdminError;
use crate::metadata::{MetadataError, ProposeError};
use crate::partition;
use crate::producer::SequenceError;
use crate::record::{BatchError, RejectReason};

/// The code of an answer without an error.
pub(crate) const NONE: i16 = 0;

/// Requests the frontend itself turns down, before any partition is involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A version newer than served (answered only for ApiVersions; other APIs close the connection).
    UnsupportedVersion,
    /// Well-formed on the wire but not acceptable (e.g. a malformed client software name).
    InvalidRequest,
    /// The topic or partition does not exist (and is not created on demand).
    UnknownTopicOrPartition,
    /// A topic id that names no topic.
    UnknownTopicId,
    /// The request's own timeout passed before the work was done.
    RequestTimedOut,
    /// Internal topics are not written or altered by clients.
    InvalidTopic,
    /// Produce with an `acks` other than -1, 0 or 1.
    InvalidRequiredAcks,
    /// DescribeCluster asking a broker listener about controllers (KIP-919).
    MismatchedEndpointType,
    /// DescribeCluster with an endpoint type Kafka does not define.
    UnsupportedEndpointType,
    /// No leader of the partition is known right now: an election is under way, or no replica
    /// of it opens (Kafka answers the same for an offline leader, listing it as offline).
    LeaderNotAvailable,
}

fn refusal(r: Refusal) -> ResponseError {
    match r {
        Refusal::UnsupportedVersion => ResponseError::UnsupportedVersion,
        Refusal::InvalidRequest => ResponseError::InvalidRequest,
        Refusal::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
        Refusal::UnknownTopicId => ResponseError::UnknownTopicId,
        Refusal::RequestTimedOut => ResponseError::RequestTimedOut,
        Refusal::InvalidTopic => ResponseError::InvalidTopicException,
        Refusal::InvalidRequiredAcks => ResponseError::InvalidRequiredAcks,
        Refusal::MismatchedEndpointType => ResponseError::MismatchedEndpointType,
        Refusal::UnsupportedEndpointType => ResponseError::UnsupportedEndpointType,
        Refusal::LeaderNotAvailable => ResponseError::LeaderNotAvailable,
    }
}

pub(crate) fn refusal_code(r: Refusal) -> i16 {
    refusal(r).code()
}

/// What a client sees when a partition cannot serve it.
fn partition_error(err: &partition::Error) -> ResponseError {
    use partition::Error as E;
    match err {
        // A stopping replica will not lead again here: the client must look for the new leader.
        E::NotLeader { .. } | E::Stopped(_) => ResponseError::NotLeaderOrFollower,
        E::UnknownPartition => ResponseError::UnknownTopicOrPartition,
        E::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        E::CorruptBatch(BatchError::Invalid(_)) => ResponseError::InvalidRecord,
        E::CorruptBatch(_) => ResponseError::CorruptMessage,
        E::BatchTooLarge { .. } => ResponseError::MessageTooLarge,
        E::Rejected(r) => match r.reason {
            RejectReason::InvalidTimestamp => ResponseError::InvalidTimestamp,
            RejectReason::InvalidRecord => ResponseError::InvalidRecord,
        },
        E::FencedLeaderEpoch { .. } => ResponseError::FencedLeaderEpoch,
        E::UnknownLeaderEpoch { .. } => ResponseError::UnknownLeaderEpoch,
        // Also a replica here that would not open: Kafka's answer for a partition in an
        // offline log directory.
        E::Storage(_) => ResponseError::KafkaStorageError,
        // Kafka's answer for a replica whose log directory cannot take writes; clients retry
        // it (after a metadata refresh), so their writes resume once space is back.
        E::DiskFull { .. } => ResponseError::KafkaStorageError,
        E::Sequence(e) => sequence_error(e),
    }
}

/// What an idempotent producer sees for a batch out of its sequence (Kafka's answers for a
/// Produce; a fenced epoch is INVALID_PRODUCER_EPOCH there, not PRODUCER_FENCED, since KIP-588).
fn sequence_error(err: &SequenceError) -> ResponseError {
    match err {
        SequenceError::InvalidEpoch { .. } => ResponseError::InvalidProducerEpoch,
        SequenceError::OutOfOrder { .. } => ResponseError::OutOfOrderSequenceNumber,
        SequenceError::NoSequence { .. } => ResponseError::InvalidRecord,
    }
}

pub(crate) fn partition_code(err: &partition::Error) -> i16 {
    partition_error(err).code()
}

/// What a client sees when this broker cannot coordinate a group.
pub(crate) fn coordinator_error(err: &CoordinatorError) -> ResponseError {
    match err {
        CoordinatorError::NotCoordinator(_) => ResponseError::NotCoordinator,
        CoordinatorError::NotAvailable(_) => ResponseError::CoordinatorNotAvailable,
    }
}

/// What a client sees when committed offsets cannot be read or written.
pub(crate) fn offsets_error(err: &OffsetsError) -> ResponseError {
    match err {
        // The offsets partition's leader is the coordinator; losing it means moving on.
        OffsetsError::Partition(
            partition::Error::NotLeader { .. } | partition::Error::Stopped(_),
        ) => ResponseError::NotCoordinator,
        OffsetsError::Partition(e) => partition_error(e),
        OffsetsError::Loading => ResponseError::CoordinatorLoadInProgress,
    }
}

/// What a client sees when a group request is refused by the group's membership.
pub(crate) fn group_error(err: &GroupError) -> ResponseError {
    use GroupError as E;
    match err {
        E::InvalidGroupId => ResponseError::InvalidGroupId,
        E::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        E::UnknownMemberId => ResponseError::UnknownMemberId,
        E::IllegalGeneration => ResponseError::IllegalGeneration,
        E::RebalanceInProgress => ResponseError::RebalanceInProgress,
        E::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        E::MemberIdRequired => ResponseError::MemberIdRequired,
        E::FencedInstanceId => ResponseError::FencedInstanceId,
        E::NonEmptyGroup => ResponseError::NonEmptyGroup,
        E::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
        E::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        E::NotCoordinator => ResponseError::NotCoordinator,
    }
}

/// What a client sees for an offset that was not committed.
fn commit_error(err: &CommitError) -> ResponseError {
    match err {
        CommitError::Coordinator(e) => coordinator_error(e),
        CommitError::Refused(e) => group_error(e),
        CommitError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
        CommitError::MetadataTooLarge { .. } => ResponseError::OffsetMetadataTooLarge,
        CommitError::Offsets(e) => offsets_error(e),
    }
}

/// The error code of an optional refused commit (0 when the offset was written).
pub(crate) fn commit_code(err: Option<&CommitError>) -> i16 {
    err.map_or(0, |e| commit_error(e).code())
}

/// The error code of an optional group refusal (0 when there is none).
pub(crate) fn group_code(err: Option<&GroupError>) -> i16 {
    err.map_or(0, |e| group_error(e).code())
}

/// What a client sees when a metadata change is refused.
fn metadata_error(err: &MetadataError) -> ResponseError {
    use MetadataError as E;
    match err {
        E::TopicExists(_) => ResponseError::TopicAlreadyExists,
        E::UnknownTopic(_) | E::UnknownPartition { .. } => ResponseError::UnknownTopicOrPartition,
        E::InvalidTopicName { .. } => ResponseError::InvalidTopicException,
        E::NoPartitions | E::NoNewPartitions { .. } => ResponseError::InvalidPartitions,
        E::NoReplicas
        | E::RepeatedReplica(_)
        | E::UnregisteredBroker(_)
        | E::TooFewBrokers { .. }
        | E::NotAReplica { .. } => ResponseError::InvalidReplicationFactor,
        E::InvalidConfig(_) => ResponseError::InvalidConfig,
        E::ProducerIdsExhausted => ResponseError::UnknownServerError,
    }
}

/// What a client sees when a proposed metadata change did not go through.
fn propose_error(err: &ProposeError) -> ResponseError {
    match err {
        ProposeError::Rejected(e) => metadata_error(e),
        // The metadata log's leader is the controller.
        ProposeError::Partition(partition::Error::NotLeader { .. }) => ResponseError::NotController,
        ProposeError::Partition(e) => partition_error(e),
        ProposeError::Timeout(_) => ResponseError::RequestTimedOut,
    }
}

pub(crate) fn propose_code(err: &ProposeError) -> i16 {
    propose_error(err).code()
}

pub(crate) fn metadata_code(err: &MetadataError) -> i16 {
    metadata_error(err).code()
}

pub(crate) fn coordinator_code(err: &CoordinatorError) -> i16 {
    coordinator_error(err).code()
}

/// What a client sees when a group request fails at the coordinator, its membership or its
/// committed offsets.
pub(crate) fn group_request_code(err: &GroupRequestError) -> i16 {
    let error = match err {
        GroupRequestError::Group(e) => group_error(e),
        GroupRequestError::Coordinator(e) => coordinator_error(e),
        GroupRequestError::Offsets(e) => offsets_error(e),
        GroupRequestError::GroupNotFound => ResponseError::GroupIdNotFound,
        GroupRequestError::GroupInUse => ResponseError::GroupSubscribedToTopic,
    };
    error.code()
}

/// What a client sees when an admin request (or one topic or resource of it) is refused.
pub(crate) fn admin_code(err: &AdminError) -> i16 {
    use AdminError as E;
    let error = match err {
        E::DuplicateTopic(_)
        | E::DuplicateTopicRef
        | E::DuplicateResource(_)
        | E::DuplicateConfig(_)
        | E::MalformedTopicRef
        | E::AssignmentsWithCounts
        | E::NullConfigValue(_)
        | E::NullSet(_)
        | E::UnknownConfigOperation { .. }
        | E::UnknownResourceType(_)
        | E::OtherBroker { .. }
        | E::BrokerLoggers
        | E::StaticBrokerConfigs => ResponseError::InvalidRequest,
        E::InternalTopic(_) => ResponseError::InvalidTopicException,
        E::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
        E::UnknownTopicId(_) => ResponseError::UnknownTopicId,
        E::NoPartitions(_) | E::FewerPartitions { .. } | E::TooManyPartitions { .. } => {
            ResponseError::InvalidPartitions
        }
        E::Assignment(_) => ResponseError::InvalidReplicaAssignment,
        E::ConfigWithoutValue(_) | E::NotAList(_) => ResponseError::InvalidConfig,
        E::Refused(e) => metadata_error(e),
        E::Propose(e) => propose_error(e),
        E::NotInEffect(_) => ResponseError::RequestTimedOut,
        // The replica's files could not be created or removed.
        E::FilesRemain(_) | E::ReplicaNotStarted { .. } => ResponseError::KafkaStorageError,
        // As for Produce: the log directory cannot take more.
        E::DiskFull { .. } => ResponseError::KafkaStorageError,
        E::Vanished => ResponseError::UnknownServerError,
    };
    error.code()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::admin::AssignmentError;
    use crate::types::KafkaOffset;

    #[test]
    fn codes_are_kafkas() {
        assert_eq!(refusal_code(Refusal::UnsupportedVersion), 35);
        assert_eq!(refusal_code(Refusal::InvalidRequest), 42);
        assert_eq!(refusal_code(Refusal::InvalidRequiredAcks), 21);
        assert_eq!(refusal_code(Refusal::UnknownTopicId), 100);
        assert_eq!(
            partition_code(&partition::Error::CorruptBatch(BatchError::Empty)),
            2
        );
        assert_eq!(admin_code(&AdminError::NotAList("k".into())), 40);
        assert_eq!(admin_code(&AdminError::NoPartitions(0)), 37);
        assert_eq!(
            admin_code(&AdminError::Assignment(AssignmentError::Gaps)),
            39
        );
        assert_eq!(admin_code(&AdminError::FilesRemain("d".into())), 56);
        assert_eq!(admin_code(&AdminError::DuplicateTopicRef), 42);
        assert_eq!(group_request_code(&GroupRequestError::GroupNotFound), 69);
        assert_eq!(group_request_code(&GroupRequestError::GroupInUse), 86);
        assert_eq!(refusal_code(Refusal::MismatchedEndpointType), 114);
        assert_eq!(
            partition_code(&partition::Error::NotLeader { leader: None }),
            6
        );
        assert_eq!(
            partition_code(&partition::Error::BatchTooLarge { bytes: 2, max: 1 }),
            10
        );
        assert_eq!(
            partition_code(&partition::Error::OffsetOutOfRange {
                offset: KafkaOffset(9),
                log_start_offset: KafkaOffset(0),
                log_end_offset: KafkaOffset(1),
                high_watermark: KafkaOffset(1)
            }),
            1
        );
        assert_eq!(
            metadata_error(&MetadataError::TopicExists("t".into())).code(),
            36
        );
        let unopened = partition::Error::Storage(partition::StorageError::Io {
            path: "t-0".into(),
            source: partition::Shared::new(std::io::Error::other("damaged")),
        });
        assert_eq!(partition_code(&unopened), 56);
        assert_eq!(refusal_code(Refusal::LeaderNotAvailable), 5);
        assert_eq!(group_code(None), 0);
        assert_eq!(group_code(Some(&GroupError::IllegalGeneration)), 22);
        assert_eq!(group_code(Some(&GroupError::UnknownMemberId)), 25);
        assert_eq!(group_code(Some(&GroupError::RebalanceInProgress)), 27);
        assert_eq!(group_code(Some(&GroupError::NonEmptyGroup)), 68);
        assert_eq!(group_code(Some(&GroupError::MemberIdRequired)), 79);
        assert_eq!(group_code(Some(&GroupError::FencedInstanceId)), 82);
        let commit_code = |e: CommitError| commit_code(Some(&e));
        assert_eq!(commit_code(CommitError::UnknownTopicOrPartition), 3);
        assert_eq!(
            commit_code(CommitError::MetadataTooLarge { bytes: 5000 }),
            12
        );
        assert_eq!(commit_code(OffsetsError::Loading.into()), 14);
        assert_eq!(
            commit_code(CoordinatorError::NotCoordinator("g".into()).into()),
            16
        );
        assert_eq!(commit_code(GroupError::IllegalGeneration.into()), 22);
    }
}

//! Domain problems -> Kafka error codes. The only module that picks a code.
//! Exhaustive on purpose: a new variant must not compile until someone decides what a client sees.
//! Handlers name a meaning (`Refusal`, a partition or metadata error), never a number.

use kafka_protocol::ResponseError;

use crate::group::CoordinatorError;
use crate::group::commit::CommitError;
use crate::group::membership::GroupError;
use crate::group::offsets::OffsetsError;
use crate::metadata::{MetadataError, ProposeError};
use crate::partition;

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
    /// A record batch whose CRC or framing does not check out.
    CorruptMessage,
    /// The request's own timeout passed before the work was done.
    RequestTimedOut,
    /// Internal topics are not written or altered by clients.
    InvalidTopic,
    /// A partition count that is not larger than the current one.
    InvalidPartitions,
    /// An unknown or malformed config in a Describe/Alter request.
    InvalidConfig,
    /// Replicas chosen by the client that do not fit the topic or the cluster.
    InvalidReplicaAssignment,
    /// DescribeCluster asking a broker listener about controllers (KIP-919).
    MismatchedEndpointType,
    /// DescribeCluster with an endpoint type Kafka does not define.
    UnsupportedEndpointType,
    /// A replica's files could not be created or removed.
    StorageFailed,
    /// No leader of the partition is known right now (an election is under way).
    LeaderNotAvailable,
}

pub(crate) fn refusal(r: Refusal) -> ResponseError {
    match r {
        Refusal::UnsupportedVersion => ResponseError::UnsupportedVersion,
        Refusal::InvalidRequest => ResponseError::InvalidRequest,
        Refusal::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
        Refusal::UnknownTopicId => ResponseError::UnknownTopicId,
        Refusal::CorruptMessage => ResponseError::CorruptMessage,
        Refusal::RequestTimedOut => ResponseError::RequestTimedOut,
        Refusal::InvalidTopic => ResponseError::InvalidTopicException,
        Refusal::InvalidPartitions => ResponseError::InvalidPartitions,
        Refusal::InvalidConfig => ResponseError::InvalidConfig,
        Refusal::InvalidReplicaAssignment => ResponseError::InvalidReplicaAssignment,
        Refusal::MismatchedEndpointType => ResponseError::MismatchedEndpointType,
        Refusal::UnsupportedEndpointType => ResponseError::UnsupportedEndpointType,
        Refusal::StorageFailed => ResponseError::KafkaStorageError,
        Refusal::LeaderNotAvailable => ResponseError::LeaderNotAvailable,
    }
}

pub(crate) fn refusal_code(r: Refusal) -> i16 {
    refusal(r).code()
}

/// What a client sees when a partition cannot serve it.
pub(crate) fn partition_error(err: &partition::Error) -> ResponseError {
    use partition::Error as E;
    match err {
        // A stopping replica will not lead again here: the client must look for the new leader.
        E::NotLeader { .. } | E::Stopped(_) => ResponseError::NotLeaderOrFollower,
        E::UnknownPartition => ResponseError::UnknownTopicOrPartition,
        E::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        E::CorruptBatch(_) => ResponseError::CorruptMessage,
        E::BatchTooLarge { .. } => ResponseError::MessageTooLarge,
        E::FencedLeaderEpoch { .. } => ResponseError::FencedLeaderEpoch,
        E::UnknownLeaderEpoch { .. } => ResponseError::UnknownLeaderEpoch,
        E::Storage(_) => ResponseError::KafkaStorageError,
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
        E::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        E::NotCoordinator => ResponseError::NotCoordinator,
    }
}

/// What a client sees for an offset that was not committed.
pub(crate) fn commit_error(err: &CommitError) -> ResponseError {
    match err {
        CommitError::Coordinator(e) => coordinator_error(e),
        CommitError::Refused(e) => group_error(e),
        CommitError::UnknownTopicOrPartition => ResponseError::UnknownTopicOrPartition,
        CommitError::MetadataTooLarge { .. } => ResponseError::OffsetMetadataTooLarge,
        CommitError::Offsets(e) => offsets_error(e),
    }
}

/// The error code of an optional group refusal (0 when there is none).
pub(crate) fn group_code(err: Option<&GroupError>) -> i16 {
    err.map_or(0, |e| group_error(e).code())
}

/// What a client sees when a metadata change is refused.
pub(crate) fn metadata_error(err: &MetadataError) -> ResponseError {
    use MetadataError as E;
    match err {
        E::TopicExists(_) => ResponseError::TopicAlreadyExists,
        E::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
        E::InvalidTopicName { .. } => ResponseError::InvalidTopicException,
        E::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        E::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
        E::InvalidConfig(_) => ResponseError::InvalidConfig,
    }
}

/// What a client sees when a proposed metadata change did not go through.
pub(crate) fn propose_error(err: &ProposeError) -> ResponseError {
    match err {
        ProposeError::Rejected(e) => metadata_error(e),
        // The metadata log's leader is the controller.
        ProposeError::Partition(partition::Error::NotLeader { .. }) => ResponseError::NotController,
        ProposeError::Partition(e) => partition_error(e),
        ProposeError::Timeout(_) => ResponseError::RequestTimedOut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kafkas() {
        assert_eq!(refusal_code(Refusal::UnsupportedVersion), 35);
        assert_eq!(refusal_code(Refusal::InvalidRequest), 42);
        assert_eq!(refusal_code(Refusal::CorruptMessage), 2);
        assert_eq!(refusal_code(Refusal::InvalidConfig), 40);
        assert_eq!(refusal_code(Refusal::InvalidPartitions), 37);
        assert_eq!(refusal_code(Refusal::InvalidReplicaAssignment), 39);
        assert_eq!(refusal_code(Refusal::UnknownTopicId), 100);
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
                offset: 9,
                log_start_offset: 0,
                high_watermark: 1
            }),
            1
        );
        assert_eq!(
            metadata_error(&MetadataError::TopicExists("t".into())).code(),
            36
        );
        assert_eq!(group_code(None), 0);
        assert_eq!(group_code(Some(&GroupError::IllegalGeneration)), 22);
        assert_eq!(group_code(Some(&GroupError::UnknownMemberId)), 25);
        assert_eq!(group_code(Some(&GroupError::RebalanceInProgress)), 27);
        assert_eq!(group_code(Some(&GroupError::NonEmptyGroup)), 68);
        assert_eq!(group_code(Some(&GroupError::MemberIdRequired)), 79);
        assert_eq!(group_code(Some(&GroupError::FencedInstanceId)), 82);
        let commit_code = |e: CommitError| commit_error(&e).code();
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

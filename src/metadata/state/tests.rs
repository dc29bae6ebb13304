//! Unit tests of the metadata state machine: every command applied and refused, ids of deleted
//! topics, leader records, assignment spread.

use super::*;

fn cluster(nodes: u64) -> MetadataState {
    let mut state = MetadataState::default();
    for node_id in 1..=nodes {
        state
            .apply(&Command::RegisterBroker(BrokerInfo {
                node_id,
                host: "127.0.0.1".into(),
                port: 9091 + node_id as u16,
            }))
            .unwrap();
    }
    state
}

fn create(state: &mut MetadataState, name: &str, partitions: usize) -> Result<(), MetadataError> {
    let assignments = state.assign(0, partitions, 1)?;
    state.apply(&Command::CreateTopic {
        name: name.into(),
        id: Uuid::new_v4(),
        assignments,
        configs: BTreeMap::new(),
    })
}

#[test]
fn a_deleted_topic_is_known_by_its_id_not_its_name() {
    let mut state = cluster(1);
    create(&mut state, "orders", 1).unwrap();
    let old = state.topics["orders"].id;
    state
        .apply(&Command::DeleteTopic {
            name: "orders".into(),
        })
        .unwrap();
    create(&mut state, "orders", 1).unwrap();
    let new = state.topics["orders"].id;
    assert!(state.topic_deleted("orders", Some(old)));
    assert!(!state.topic_deleted("orders", Some(new)));
    assert!(
        !state.topic_deleted("unseen", Some(Uuid::new_v4())),
        "a topic not known yet is not deleted"
    );
    assert!(!state.topic_deleted("orders", None));
    assert!(state.topic_deleted("unseen", None));
}

#[test]
fn topics_are_created_once_and_deleted() {
    let mut state = cluster(1);
    create(&mut state, "orders", 3).unwrap();
    assert_eq!(
        create(&mut state, "orders", 1),
        Err(MetadataError::TopicExists("orders".into()))
    );
    assert_eq!(state.topics["orders"].partitions.len(), 3);
    state
        .apply(&Command::DeleteTopic {
            name: "orders".into(),
        })
        .unwrap();
    assert!(state.topics.is_empty());
    assert!(matches!(
        state.apply(&Command::DeleteTopic {
            name: "orders".into()
        }),
        Err(MetadataError::UnknownTopic(_))
    ));
}

#[test]
fn bad_names_partitions_and_configs_change_nothing() {
    let mut state = cluster(1);
    for bad in ["", ".", "..", "a/b", "é", &"x".repeat(250)] {
        assert!(
            matches!(
                create(&mut state, bad, 1),
                Err(MetadataError::InvalidTopicName { .. })
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        create(&mut state, "t", 0),
        Err(MetadataError::NoPartitions)
    ));
    let bad_config = Command::CreateTopic {
        name: "t".into(),
        id: Uuid::new_v4(),
        assignments: vec![vec![1]],
        configs: BTreeMap::from([("retention.ms".into(), "soon".into())]),
    };
    assert!(matches!(
        state.apply(&bad_config),
        Err(MetadataError::InvalidConfig(_))
    ));
    assert!(state.topics.is_empty());
}

#[test]
fn leader_records_keep_the_newest_epoch() {
    let mut state = cluster(3);
    let replicas = state.assign(0, 1, 3).unwrap();
    state
        .apply(&Command::CreateTopic {
            name: "t".into(),
            id: Uuid::new_v4(),
            assignments: replicas,
            configs: BTreeMap::new(),
        })
        .unwrap();
    let record = |leader, epoch, isr: &[NodeId]| Command::RecordLeader {
        name: "t".into(),
        partition: 0,
        record: LeaderRecord {
            leader,
            epoch: LeaderEpoch(epoch),
            isr: isr.to_vec(),
        },
    };
    state.apply(&record(2, 5, &[2, 1, 3])).unwrap();
    state.apply(&record(2, 5, &[2, 3])).unwrap();
    assert_eq!(state.topics["t"].leaders[&0].isr, [2, 3]);
    // A deposed leader's late report changes nothing.
    state.apply(&record(1, 4, &[1])).unwrap();
    assert_eq!(state.topics["t"].leaders[&0].leader, 2);
    state.apply(&record(3, 6, &[3])).unwrap();
    assert_eq!(state.topics["t"].leaders[&0].epoch, LeaderEpoch(6));
    assert!(state.apply(&record(9, 7, &[9])).is_err(), "not a replica");
    let unknown = Command::RecordLeader {
        name: "t".into(),
        partition: 1,
        record: LeaderRecord {
            leader: 1,
            epoch: LeaderEpoch(7),
            isr: vec![1],
        },
    };
    assert!(state.apply(&unknown).is_err(), "no such partition");
    assert_eq!(state.topics["t"].leaders.len(), 1);
    let round_trip: MetadataState =
        serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    assert_eq!(round_trip, state);
}

#[test]
fn partitions_grow_and_configs_alter() {
    let mut state = cluster(1);
    create(&mut state, "t", 2).unwrap();
    let more = state.assign(2, 3, 1).unwrap();
    state
        .apply(&Command::CreatePartitions {
            name: "t".into(),
            assignments: more,
        })
        .unwrap();
    assert_eq!(state.topics["t"].partitions.len(), 5);
    state
        .apply(&Command::AlterTopicConfigs {
            name: "t".into(),
            set: BTreeMap::from([("retention.ms".into(), "1000".into())]),
            remove: vec![],
        })
        .unwrap();
    assert_eq!(state.topics["t"].configs["retention.ms"], "1000");
    state
        .apply(&Command::AlterTopicConfigs {
            name: "t".into(),
            set: BTreeMap::new(),
            remove: vec!["retention.ms".into()],
        })
        .unwrap();
    assert!(state.topics["t"].configs.is_empty());
    let replace = |configs: &[(&str, &str)]| Command::ReplaceTopicConfigs {
        name: "t".into(),
        configs: configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    state
        .apply(&replace(&[
            ("retention.ms", "5"),
            ("segment.bytes", "4096"),
        ]))
        .unwrap();
    state.apply(&replace(&[("segment.bytes", "8192")])).unwrap();
    assert_eq!(
        state.topics["t"].configs,
        BTreeMap::from([("segment.bytes".to_string(), "8192".to_string())])
    );
    assert!(matches!(
        state.apply(&replace(&[("message.downconversion.enable", "true")])),
        Err(MetadataError::InvalidConfig(_))
    ));
    assert_eq!(
        state.topics["t"].configs.len(),
        1,
        "a refused replace changes nothing"
    );
}

#[test]
fn assignment_spreads_replicas_and_leaders() {
    let state = cluster(3);
    let a = state.assign(0, 12, 3).unwrap();
    for node in 1..=3 {
        assert_eq!(
            a.iter().filter(|r| r[0] == node).count(),
            4,
            "preferred leaders on {node}"
        );
    }
    assert!(a.iter().all(|r| r.len() == 3));
    assert!(matches!(
        state.assign(0, 1, 4),
        Err(MetadataError::TooFewBrokers { .. })
    ));
    let round_trip: MetadataState =
        serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    assert_eq!(round_trip, state);
}

//! Unit tests of config loading: defaults, both file layouts, environment and CLI precedence, and
//! one error per kind of mistake (each must name the key at fault).

use std::io::Write;
use std::path::PathBuf;

use super::sources::env_name;
use super::*;

fn file(ext: &str, text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(ext)
        .tempfile()
        .expect("temp file");
    f.write_all(text.as_bytes()).expect("write temp file");
    f
}

fn load(ext: &str, text: &str) -> Result<Config, ConfigError> {
    let f = file(ext, text);
    Config::load(Some(f.path()), Vec::new(), &Overrides::default())
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

#[test]
fn defaults_serve_one_node_on_9092_under_data() {
    let c = Config::load(None, no_env(), &Overrides::default()).expect("defaults are valid");
    assert_eq!(c, Config::default());
    assert_eq!(c.listeners[0].to_string(), "PLAINTEXT://127.0.0.1:9092");
    assert_eq!(c.advertised_listeners, c.listeners);
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert!(c.auto_create_topics);
    assert!(!c.cluster.enabled);
}

#[test]
fn toml_accepts_dotted_quoted_and_table_keys_alike() {
    let c = load(
        ".toml",
        r#"
        log.dirs = "/tmp/a"
        "log.segment.bytes" = 2097152
        num.partitions = 3
        [connections.max.idle]
        ms = 1234
        "#,
    )
    .expect("valid");
    assert_eq!(c.data_dir, PathBuf::from("/tmp/a"));
    assert_eq!(c.segment_bytes, 2 * 1024 * 1024);
    assert_eq!(c.num_partitions, 3);
    assert_eq!(c.connections_max_idle_ms, 1234);
}

#[test]
fn seed_json_layout_is_accepted() {
    let c = load(
        ".json",
        r#"{"cluster": {"enabled": true, "node_id": 2, "raft_address": "10.0.0.2:8001",
            "initial_members": ["10.0.0.1:8001", "10.0.0.2:8001", "10.0.0.3:8001"],
            "data_dir": "./raft-data/node2", "election_rtt": 10, "heartbeat_rtt": 1,
            "snapshot_entries": 10000}}"#,
    )
    .expect("valid");
    assert_eq!(c.node_id, 2);
    assert!(c.cluster.enabled);
    assert_eq!(c.cluster.initial_members.len(), 3);
    assert_eq!(c.data_dir, PathBuf::from("./raft-data/node2"));
}

#[test]
fn unknown_key_is_named_with_the_accepted_list() {
    let err = load(".toml", "log.dirz = \"x\"\n").expect_err("unknown key");
    let text = err.to_string();
    assert!(
        matches!(err, ConfigError::UnknownKey { ref key, .. } if key == "log.dirz"),
        "{text}"
    );
    assert!(
        text.contains("log.dirs") && text.contains("socket.request.max.bytes"),
        "{text}"
    );
}

#[test]
fn bad_type_names_the_key() {
    let err = load(".toml", "num.partitions = \"many\"\n").expect_err("bad type");
    assert!(
        matches!(err, ConfigError::BadValue { ref key, .. } if key == "num.partitions"),
        "{err}"
    );
    let err = load(".json", r#"{"cluster": {"heartbeat_rtt": -3}}"#).expect_err("bad type");
    assert!(
        matches!(err, ConfigError::BadValue { ref key, .. } if key == "cluster.heartbeat_rtt"),
        "{err}"
    );
}

#[test]
fn out_of_range_values_name_the_key_and_the_range() {
    let cases = [
        ("num.partitions = 0", "num.partitions"),
        ("node.id = 0", "node.id"),
        ("message.max.bytes = 200000000", "message.max.bytes"),
        ("socket.request.max.bytes = 10", "message.max.bytes"),
        ("log.segment.bytes = 1000", "log.segment.bytes"),
        ("log.retention.ms = -5", "log.retention.ms"),
        ("log.retention.ms = 0", "log.retention.ms"),
        (
            "default.replication.factor = 3",
            "default.replication.factor",
        ),
        ("connections.max.idle.ms = 0", "connections.max.idle.ms"),
        (
            "connection.max.in.flight.requests = 0",
            "connection.max.in.flight.requests",
        ),
        ("log.level = \"[[[\"", "log.level"),
        (
            "advertised.listeners = \"PLAINTEXT://localhost:9092\"",
            "advertised.listeners",
        ),
        (
            "listeners = \"PLAINTEXT://0.0.0.0:9092\"",
            "advertised.listeners",
        ),
        ("listeners = \"PLAINTEXT://myhost:9092\"", "listeners"),
        ("listeners = \"SSL://127.0.0.1:9092\"", "listeners"),
        ("listeners = \"127.0.0.1:99999\"", "listeners"),
        ("log.dirs = \"/a,/b\"", "log.dirs"),
        ("cluster.election_rtt = 1", "cluster.election_rtt"),
    ];
    for (line, key) in cases {
        let err = load(".toml", line).expect_err(line);
        let text = err.to_string();
        assert!(text.contains(&format!("`{key}`")), "{line}: {text}");
    }
}

#[test]
fn cluster_membership_is_checked() {
    let even = r#"{"cluster": {"enabled": true, "raft_address": "a:1", "initial_members": ["a:1", "b:1"]}}"#;
    assert!(
        load(".json", even)
            .expect_err("even")
            .to_string()
            .contains("odd")
    );
    let absent = r#"{"cluster": {"enabled": true, "raft_address": "z:1", "initial_members": ["a:1", "b:1", "c:1"]}}"#;
    assert!(
        load(".json", absent)
            .expect_err("absent")
            .to_string()
            .contains("cluster.raft_address")
    );
    let wrong_id = r#"{"node.id": 1, "cluster": {"enabled": true, "raft_address": "b:1", "initial_members": ["a:1", "b:1", "c:1"]}}"#;
    assert!(
        load(".json", wrong_id)
            .expect_err("id")
            .to_string()
            .contains("`node.id`")
    );
    let conflict = r#"{"node.id": 1, "cluster": {"node_id": 2}}"#;
    assert!(matches!(
        load(".json", conflict),
        Err(ConfigError::Conflict { .. })
    ));
}

#[test]
fn environment_overrides_file_and_cli_overrides_environment() {
    let f = file(".toml", "num.partitions = 2\nlog.dirs = \"/from/file\"\n");
    let env = vec![
        ("RAFTKA_NUM_PARTITIONS".to_string(), "4".to_string()),
        ("RAFTKA_LOG_DIRS".to_string(), "/from/env".to_string()),
        ("RAFTKA_BOOTSTRAP".to_string(), "ignored:1".to_string()),
        ("UNRELATED".to_string(), "x".to_string()),
        (
            "RAFTKA_CLUSTER_INITIAL_MEMBERS".to_string(),
            "127.0.0.1:9093".to_string(),
        ),
    ];
    let cli = Overrides(vec![("log.dirs".into(), "/from/cli".into())]);
    let c = Config::load(Some(f.path()), env, &cli).expect("valid");
    assert_eq!(c.num_partitions, 4);
    assert_eq!(c.data_dir, PathBuf::from("/from/cli"));
    assert_eq!(
        c.cluster.initial_members,
        vec!["127.0.0.1:9093".to_string()]
    );
}

#[test]
fn unknown_or_bad_environment_variables_are_errors() {
    let env = vec![("RAFTKA_NUM_PARTITION".to_string(), "4".to_string())];
    let err = Config::load(None, env, &Overrides::default()).expect_err("typo");
    assert!(err.to_string().contains("RAFTKA_NUM_PARTITION"), "{err}");
    let env = vec![("RAFTKA_NUM_PARTITIONS".to_string(), "four".to_string())];
    let err = Config::load(None, env, &Overrides::default()).expect_err("bad value");
    assert!(
        err.to_string().contains("num.partitions")
            && err.to_string().contains("RAFTKA_NUM_PARTITIONS"),
        "{err}"
    );
    let cli = Overrides(vec![("nope".into(), "1".into())]);
    assert!(matches!(
        Config::load(None, no_env(), &cli),
        Err(ConfigError::UnknownKey { .. })
    ));
}

#[test]
fn every_key_has_a_distinct_environment_name_and_is_read() {
    let mut names: Vec<String> = KEYS.iter().map(|k| env_name(k)).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), KEYS.len());
    for key in KEYS {
        let err = Config::load(
            None,
            no_env(),
            &Overrides(vec![(key.to_string(), "{bad".into())]),
        );
        // Every key is known: a bad value is never reported as an unknown key.
        assert!(!matches!(err, Err(ConfigError::UnknownKey { .. })), "{key}");
    }
}

#[test]
fn listener_port_zero_and_all_interfaces_parse() {
    let l = parse_listeners("listeners", "PLAINTEXT://:0, 10.1.2.3:9092").expect("parse");
    assert_eq!(
        l[0],
        Listener {
            host: "0.0.0.0".into(),
            port: 0
        }
    );
    assert_eq!(l[1].host, "10.1.2.3");
}

#[test]
fn missing_file_and_syntax_errors_are_reported() {
    let err = Config::load(
        Some(std::path::Path::new("/nonexistent/x.toml")),
        no_env(),
        &Overrides::default(),
    );
    assert!(matches!(err, Err(ConfigError::Read { .. })));
    assert!(matches!(
        load(".toml", "a = = 1"),
        Err(ConfigError::Syntax { .. })
    ));
    assert!(matches!(
        load(".json", "[1]"),
        Err(ConfigError::Syntax { .. })
    ));
}

#[test]
fn every_file_in_configs_parses_and_validates() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("configs/ exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "toml" || e == "json") {
            Config::load(Some(&path), no_env(), &Overrides::default())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(
        seen >= 2,
        "expected the single-node TOML and JSON configs, found {seen}"
    );
}

#[test]
fn the_commented_single_node_config_states_the_defaults() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs/single-node.toml");
    let loaded = Config::load(Some(&path), no_env(), &Overrides::default()).unwrap();
    assert_eq!(loaded, Config::default());
}

#[test]
fn cluster_configs_in_toml_and_the_seed_json_layout_agree() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs");
    for n in 1..=3 {
        let toml = dir.join(format!("cluster-node{n}.toml"));
        let json = dir.join(format!("broker-cluster-node{n}.json"));
        let from_toml = Config::load(Some(&toml), no_env(), &Overrides::default()).unwrap();
        let from_json = Config::load(Some(&json), no_env(), &Overrides::default()).unwrap();
        assert_eq!(from_toml, from_json, "node {n}");
        assert_eq!(from_toml.node_id, n);
        assert!(from_toml.cluster.enabled);
    }
}

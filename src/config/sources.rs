//! Config sources (a TOML or JSON file, `RAFTKA_*` variables, CLI overrides) flattened to one map of
//! Kafka-named keys (`log.dirs`, `cluster.node_id`) and read into `Settings`; unknown keys are refused.
//! `settings.rs` lists the keys and writes them into a `Config`; `config.rs` owns what each means.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::settings::{KEYS, Settings};
use super::{ConfigError, SyntaxError};

/// Environment variables with this prefix override the file: `RAFTKA_LOG_DIRS` sets `log.dirs`.
pub const ENV_PREFIX: &str = "RAFTKA_";
/// `RAFTKA_*` variables that are not broker settings (read by the test suite, ignored here).
pub const RESERVED_ENV: &[&str] = &["RAFTKA_BOOTSTRAP", "RAFTKA_CONFIG"];

/// `key=value` settings from the command line, applied after the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides(pub Vec<(String, String)>);

/// Reads every source into one `Settings`, later sources overriding earlier ones key by key.
pub(super) fn collect(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &Overrides,
) -> Result<Settings, ConfigError> {
    let mut flat: BTreeMap<String, (Value, String)> = BTreeMap::new();
    if let Some(path) = file {
        let origin = format!("in {}", path.display());
        let mut keys = Map::new();
        flatten("", read_file(path)?, &mut keys);
        for (key, value) in keys {
            flat.insert(key, (value, origin.clone()));
        }
    }
    let mut env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with(ENV_PREFIX) && !RESERVED_ENV.contains(&name.as_str()))
        .collect();
    env.sort();
    for (name, text) in env {
        let origin = format!("from environment variable {name}");
        let Some(key) = KEYS.iter().find(|k| env_name(k) == name) else {
            return Err(unknown(&name, origin));
        };
        flat.insert(key.to_string(), (typed(key, &text, &origin)?, origin));
    }
    for (key, text) in &overrides.0 {
        let origin = "from the command line".to_string();
        flat.insert(key.clone(), (typed(key, text, &origin)?, origin));
    }
    let all: Map<String, Value> = flat
        .iter()
        .map(|(k, (v, _))| (k.clone(), v.clone()))
        .collect();
    match Settings::deserialize(Value::Object(all)) {
        Ok(settings) => Ok(settings),
        // Find the key at fault by reading each one alone, so the error can name it.
        Err(whole) => Err(flat
            .iter()
            .find_map(|(key, (value, origin))| single(key, value.clone(), origin).err())
            .unwrap_or_else(|| ConfigError::BadValue {
                key: "(several)".into(),
                origin: "combined sources".into(),
                message: whole.to_string(),
            })),
    }
}

/// The environment variable that sets `key`: `log.dirs` -> `RAFTKA_LOG_DIRS`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase().replace('.', "_"))
}

fn unknown(key: &str, origin: String) -> ConfigError {
    ConfigError::UnknownKey {
        key: key.to_string(),
        origin,
        accepted: KEYS.join(", "),
    }
}

fn single(key: &str, value: Value, origin: &str) -> Result<Settings, ConfigError> {
    if !KEYS.contains(&key) {
        return Err(unknown(key, origin.to_string()));
    }
    let mut map = Map::new();
    map.insert(key.to_string(), value);
    Settings::deserialize(Value::Object(map)).map_err(|e| ConfigError::BadValue {
        key: key.to_string(),
        origin: origin.to_string(),
        message: e.to_string(),
    })
}

/// Text from the environment or the command line, typed by what the key accepts: tried as a
/// string, then as a JSON scalar (numbers, booleans), then as a comma-separated list.
fn typed(key: &str, text: &str, origin: &str) -> Result<Value, ConfigError> {
    let as_string = Value::String(text.to_string());
    let first_error = match single(key, as_string.clone(), origin) {
        Ok(_) => return Ok(as_string),
        Err(e @ ConfigError::UnknownKey { .. }) => return Err(e),
        Err(e) => e,
    };
    let candidates = [
        serde_json::from_str::<Value>(text).ok(),
        Some(Value::Array(
            text.split(',')
                .map(|s| Value::String(s.trim().to_string()))
                .collect(),
        )),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|v| single(key, v.clone(), origin).is_ok())
        .ok_or(first_error)
}

fn read_file(path: &Path) -> Result<Value, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let syntax = |source: SyntaxError| ConfigError::Syntax {
        path: path.to_path_buf(),
        source,
    };
    let value = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        serde_json::from_str::<Value>(&text).map_err(|e| syntax(e.into()))?
    } else {
        let table = toml::from_str::<toml::Table>(&text).map_err(|e| syntax(e.into()))?;
        serde_json::to_value(table).map_err(|e| syntax(e.into()))?
    };
    if !value.is_object() {
        return Err(syntax(SyntaxError::NotATable));
    }
    Ok(value)
}

/// `{"log": {"dirs": "x"}}` and `{"log.dirs": "x"}` both become `log.dirs = "x"`.
fn flatten(prefix: &str, value: Value, out: &mut Map<String, Value>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let full = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&full, inner, out);
            }
        }
        leaf => {
            out.insert(prefix.to_string(), leaf);
        }
    }
}

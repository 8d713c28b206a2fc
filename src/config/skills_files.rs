//! `skills.files`: the settings of the `file.read`, `file.write` and `file.list` skills.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `file.read`, `file.write` and `file.list` skills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSkillConfig {
    /// Whether the skills are registered at all. Off by default: file access is opt-in.
    #[serde(default)]
    pub enabled: bool,
    /// The directory the skills work in; no path leaves it. Required when enabled.
    #[serde(default)]
    pub workspace: Option<PathBuf>,
    /// A read returns at most this many bytes of a file; the rest is cut.
    #[serde(default = "default_max_read_bytes")]
    pub max_read_bytes: usize,
    /// A write of more than this many bytes is refused.
    #[serde(default = "default_max_write_bytes")]
    pub max_write_bytes: usize,
    /// A listing holds at most this many entries; the rest is cut.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
}

impl Default for FileSkillConfig {
    fn default() -> Self {
        FileSkillConfig {
            enabled: false,
            workspace: None,
            max_read_bytes: default_max_read_bytes(),
            max_write_bytes: default_max_write_bytes(),
            max_entries: default_max_entries(),
        }
    }
}

fn default_max_read_bytes() -> usize {
    1024 * 1024
}
fn default_max_write_bytes() -> usize {
    1024 * 1024
}
fn default_max_entries() -> usize {
    1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_is_the_default_and_unknown_keys_are_refused() {
        let config: FileSkillConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, FileSkillConfig::default());
        assert!(!config.enabled, "file access must be opt-in");
        assert_eq!(config.max_read_bytes, 1_048_576);
        assert_eq!(config.max_write_bytes, 1_048_576);
        assert_eq!(config.max_entries, 1000);

        let unknown = serde_json::from_str::<FileSkillConfig>(r#"{"workdir": "/tmp"}"#);
        assert!(unknown.is_err(), "{unknown:?}");
    }
}

//! Configuration: purpose, contacts, authorizations, limits, channels, store, planner and
//! skills, loaded from TOML, YAML or JSON files plus `OPENMOG_` environment variables.

mod duration;
mod load;
mod rate;
mod settings;
mod skills_files;
mod skills_mcp;
mod skills_ws;
pub mod starter;
mod types;
mod validate;

pub use duration::ConfigDuration;
pub use load::{ConfigSource, json_schema, load};
pub use rate::Rate;
pub use settings::{SettingError, channel_settings, secret_setting, setting_key};
pub use skills_files::FileSkillConfig;
pub use skills_mcp::{McpConfig, McpServerConfig, is_valid_server_name};
pub use skills_ws::WebSocketSkillConfig;
pub use types::*;

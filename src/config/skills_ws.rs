//! The `websocket.exchange` skill's settings, `[skills.websocket]`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ConfigDuration;

/// The `websocket.exchange` skill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebSocketSkillConfig {
    /// Hosts it may connect to (exact names, or `*.example.com`). Empty: none.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// Longest wait for the connection: TCP, TLS and the WebSocket handshake.
    #[serde(default = "default_ws_connect_timeout")]
    pub connect_timeout: ConfigDuration,
    /// Longest whole exchange, connecting included; also the most a step may ask for.
    #[serde(default = "default_ws_timeout")]
    pub timeout: ConfigDuration,
    /// Largest message, sent or received, in bytes; a larger one fails the exchange.
    #[serde(default = "default_ws_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Most messages sent, and most awaited, in one exchange.
    #[serde(default = "default_ws_max_messages")]
    pub max_messages: usize,
}

impl Default for WebSocketSkillConfig {
    fn default() -> Self {
        WebSocketSkillConfig {
            allow_hosts: Vec::new(),
            connect_timeout: default_ws_connect_timeout(),
            timeout: default_ws_timeout(),
            max_message_bytes: default_ws_max_message_bytes(),
            max_messages: default_ws_max_messages(),
        }
    }
}

fn default_ws_connect_timeout() -> ConfigDuration {
    ConfigDuration::secs(10)
}
fn default_ws_timeout() -> ConfigDuration {
    ConfigDuration::secs(30)
}
fn default_ws_max_message_bytes() -> usize {
    64 * 1024
}
fn default_ws_max_messages() -> usize {
    100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_gives_the_defaults() {
        let parsed: WebSocketSkillConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, WebSocketSkillConfig::default());
        assert_eq!(parsed.timeout, ConfigDuration::secs(30));
        assert_eq!(parsed.max_message_bytes, 65_536);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let parsed = serde_json::from_str::<WebSocketSkillConfig>(r#"{"max_bytes": 1}"#);
        assert!(parsed.is_err());
    }
}

//! `skills.mcp`: the MCP servers whose tools become skills named `mcp.<server>.<tool>`. The
//! settings are always compiled; connecting to the servers needs the `mcp` feature.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ConfigDuration;

/// Headers the MCP transport sets itself (or HTTP owns): a secret header must not replace one.
const RESERVED_HEADERS: &[&str] = &[
    "accept",
    "content-type",
    "content-length",
    "host",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

/// MCP servers whose tools become skills named `mcp.<server>.<tool>` (needs the `mcp`
/// feature).
///
/// The servers are connected when the engine starts and the tools they offer then are
/// registered; a server that is down at start is skipped with a warning and its tools are
/// missing until the next start. A server that goes away later is reconnected in the
/// background (after 1 s, doubling up to 60 s). To the policy these are skills like any
/// other: a rule `skill = "mcp.*"`, `decision = "approve"` puts them all behind an approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    /// Servers by name. The name is the middle part of their skills' names, so it holds only
    /// ASCII letters, digits, `_` and `-`.
    #[serde(default)]
    pub servers: BTreeMap<String, McpServerConfig>,
    /// Longest wait for one tool call, and for connecting to a server and listing its tools.
    #[serde(default = "default_call_timeout")]
    pub call_timeout: ConfigDuration,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            servers: BTreeMap::new(),
            call_timeout: default_call_timeout(),
        }
    }
}

impl McpConfig {
    /// What serde cannot check, as `(key, problem)` pairs with keys under `skills.mcp`: the
    /// server names, and each server's combination of fields.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        if self.call_timeout.0.is_zero() {
            found.push((
                "skills.mcp.call_timeout".to_owned(),
                "must be longer than 0s".to_owned(),
            ));
        }
        for (name, server) in &self.servers {
            let key = format!("skills.mcp.servers.{name}");
            if !is_valid_server_name(name) {
                found.push((
                    key.clone(),
                    "a server name holds only ASCII letters, digits, `_` and `-`".to_owned(),
                ));
            }
            for (field, problem) in server.problems() {
                let key = if field.is_empty() {
                    key.clone()
                } else {
                    format!("{key}.{field}")
                };
                found.push((key, problem));
            }
        }
        found
    }
}

/// Whether `name` can be a server name: non-empty ASCII letters, digits, `_` and `-`, so that
/// `mcp.<server>.<tool>` splits unambiguously.
pub fn is_valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// One MCP server: a program spoken to over its stdin and stdout (`command`), or a
/// streamable-HTTP endpoint (`url`). Exactly one of the two.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// stdio: the program to start (looked up in `PATH` if it has no `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// stdio: the program's arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// stdio: variables passed through from openmog's own environment; every other one is
    /// cleared. This is how to hand the server a secret.
    #[serde(default = "default_env_allow")]
    pub env_allow: Vec<String>,
    /// stdio: variables set to these values, after `env_allow`. Not for secrets: the
    /// configuration is shown and logged as it is.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// stdio: the program's working directory (default: openmog's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Streamable HTTP: the endpoint, an `http` or `https` URL (e.g. `https://host/mcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Streamable HTTP: the header that carries the secret on every request (e.g.
    /// `Authorization` or `X-Api-Key`); needs `header_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_name: Option<String>,
    /// Streamable HTTP: the environment variable holding the header's whole value (e.g.
    /// `Bearer …`). It is read at start and never logged or shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_env: Option<String>,
}

impl Default for McpServerConfig {
    fn default() -> Self {
        McpServerConfig {
            command: None,
            args: Vec::new(),
            env_allow: default_env_allow(),
            env: BTreeMap::new(),
            cwd: None,
            url: None,
            header_name: None,
            header_env: None,
        }
    }
}

impl McpServerConfig {
    /// What is wrong with this server's fields, as `(field, problem)` pairs (the field is
    /// empty when the problem is the combination).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut found = Vec::new();
        match (&self.command, &self.url) {
            (None, None) => found.push(("", "give `command` (stdio) or `url` (HTTP)".to_owned())),
            (Some(_), Some(_)) => found.push((
                "",
                "give either `command` (stdio) or `url` (HTTP), not both".to_owned(),
            )),
            (Some(command), None) => {
                if command.trim().is_empty() {
                    found.push(("command", "must not be empty".to_owned()));
                }
                if self.header_name.is_some() || self.header_env.is_some() {
                    found.push((
                        "",
                        "`header_name` and `header_env` are for `url` servers".to_owned(),
                    ));
                }
            }
            (None, Some(url)) => {
                self.url_problems(url, &mut found);
                if !self.args.is_empty() || !self.env.is_empty() || self.cwd.is_some() {
                    found.push((
                        "",
                        "`args`, `env` and `cwd` are for `command` servers".to_owned(),
                    ));
                }
            }
        }
        for name in &self.env_allow {
            if !is_valid_env_name(name) {
                found.push(("env_allow", format!("`{name}` is not a variable name")));
            }
        }
        for name in self.env.keys() {
            if !is_valid_env_name(name) {
                found.push(("env", format!("`{name}` is not a variable name")));
            }
        }
        found
    }

    fn url_problems(&self, url: &str, found: &mut Vec<(&'static str, String)>) {
        match reqwest::Url::parse(url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                if let Err(reason) = crate::net::require_tls(url) {
                    found.push(("url", reason));
                }
            }
            Ok(parsed) => found.push((
                "url",
                format!("scheme `{}` is not allowed (use https)", parsed.scheme()),
            )),
            Err(e) => found.push(("url", format!("not a valid URL: {e}"))),
        }
        match (&self.header_name, &self.header_env) {
            (None, None) => {}
            (Some(_), None) => found.push((
                "header_env",
                "`header_name` needs `header_env`, the variable holding the value".to_owned(),
            )),
            (None, Some(_)) => found.push((
                "header_name",
                "`header_env` needs `header_name`, the header to send".to_owned(),
            )),
            (Some(name), Some(var)) => {
                if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    found.push(("header_name", format!("`{name}` is not a header name")));
                } else if RESERVED_HEADERS
                    .iter()
                    .any(|r| name.eq_ignore_ascii_case(r))
                {
                    found.push((
                        "header_name",
                        format!("`{name}` is set by the MCP transport itself"),
                    ));
                }
                if !is_valid_env_name(var) {
                    found.push(("header_env", format!("`{var}` is not a variable name")));
                }
            }
        }
    }
}

/// A name `std::env` and `Command::env` accept.
fn is_valid_env_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0'])
}

fn default_call_timeout() -> ConfigDuration {
    ConfigDuration::secs(60)
}

fn default_env_allow() -> Vec<String> {
    vec!["PATH".to_owned(), "HOME".to_owned(), "LANG".to_owned()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(config: &McpConfig) -> Vec<String> {
        config.problems().into_iter().map(|(key, _)| key).collect()
    }

    fn with_server(server: McpServerConfig) -> McpConfig {
        McpConfig {
            servers: BTreeMap::from([("tools".to_owned(), server)]),
            ..McpConfig::default()
        }
    }

    #[test]
    fn an_empty_table_gives_the_defaults_and_unknown_keys_are_refused() {
        let parsed: McpConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, McpConfig::default());
        assert_eq!(parsed.call_timeout, ConfigDuration::secs(60));
        assert!(parsed.problems().is_empty());

        let server: McpServerConfig = serde_json::from_str(r#"{"command": "srv"}"#).unwrap();
        assert_eq!(server.env_allow, ["PATH", "HOME", "LANG"]);

        assert!(serde_json::from_str::<McpConfig>(r#"{"timeout": "5s"}"#).is_err());
        let unknown = r#"{"servers": {"a": {"command": "srv", "header": "x"}}}"#;
        assert!(serde_json::from_str::<McpConfig>(unknown).is_err());
    }

    #[test]
    fn a_server_is_either_a_command_or_a_url() {
        let stdio = McpServerConfig {
            command: Some("mcp-server-git".to_owned()),
            args: vec!["--repository".to_owned(), ".".to_owned()],
            ..McpServerConfig::default()
        };
        assert!(with_server(stdio.clone()).problems().is_empty());

        let http = McpServerConfig {
            url: Some("https://tools.example.com/mcp".to_owned()),
            header_name: Some("Authorization".to_owned()),
            header_env: Some("TOOLS_TOKEN".to_owned()),
            ..McpServerConfig::default()
        };
        assert!(with_server(http.clone()).problems().is_empty());

        let neither = McpServerConfig::default();
        assert_eq!(keys(&with_server(neither)), ["skills.mcp.servers.tools"]);
        let both = McpServerConfig {
            url: http.url.clone(),
            ..stdio.clone()
        };
        assert_eq!(keys(&with_server(both)), ["skills.mcp.servers.tools"]);
        let stdio_with_header = McpServerConfig {
            header_env: Some("TOOLS_TOKEN".to_owned()),
            ..stdio
        };
        assert_eq!(
            keys(&with_server(stdio_with_header)),
            ["skills.mcp.servers.tools"]
        );
    }

    #[test]
    fn bad_urls_headers_and_names_are_named_by_key() {
        let server = McpServerConfig {
            url: Some("ftp://tools.example.com/".to_owned()),
            header_name: Some("Mcp-Session-Id".to_owned()),
            header_env: Some("TOOLS_TOKEN".to_owned()),
            ..McpServerConfig::default()
        };
        assert_eq!(
            keys(&with_server(server)),
            [
                "skills.mcp.servers.tools.url",
                "skills.mcp.servers.tools.header_name"
            ]
        );

        let half = McpServerConfig {
            url: Some("http://127.0.0.1:8080/mcp".to_owned()),
            header_name: Some("X-Api-Key".to_owned()),
            ..McpServerConfig::default()
        };
        assert_eq!(
            keys(&with_server(half)),
            ["skills.mcp.servers.tools.header_env"]
        );

        let config = McpConfig {
            servers: BTreeMap::from([(
                "my.tools".to_owned(),
                McpServerConfig {
                    command: Some("srv".to_owned()),
                    ..McpServerConfig::default()
                },
            )]),
            call_timeout: ConfigDuration::secs(0),
        };
        assert_eq!(
            keys(&config),
            ["skills.mcp.call_timeout", "skills.mcp.servers.my.tools"]
        );
    }

    #[test]
    fn debug_output_names_the_secret_variable_only() {
        let server = McpServerConfig {
            url: Some("https://tools.example.com/mcp".to_owned()),
            header_name: Some("X-Api-Key".to_owned()),
            header_env: Some("TOOLS_TOKEN".to_owned()),
            ..McpServerConfig::default()
        };
        // Only the variable's name is held, so no value can be shown.
        let shown = format!("{:?}", with_server(server));
        assert!(
            shown.contains("header_env: Some(\"TOOLS_TOKEN\")"),
            "{shown}"
        );
    }
}

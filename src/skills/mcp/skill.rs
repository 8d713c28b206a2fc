//! One MCP tool as the skill `mcp.<server>.<tool>`: described and validated as the server
//! described the tool at start, and run as one `tools/call` with a timeout.

use std::sync::Arc;

use async_trait::async_trait;
use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::service::ServiceError;
use serde_json::{Map, Value, json};

use super::connection::Connection;
use crate::config::ConfigDuration;
use crate::skills::{Skill, SkillContext, SkillError};

/// A tool as its server listed it.
#[derive(Debug, Clone)]
pub(super) struct ToolSpec {
    /// The tool's name on the server.
    pub(super) name: String,
    /// Its description, for humans and planners.
    pub(super) description: String,
    /// The JSON Schema of its arguments.
    pub(super) schema: Value,
}

impl ToolSpec {
    /// Reads a listed tool through its JSON form, which is the protocol's and so does not
    /// change with rmcp's types. `None` (with a warning) for a tool that cannot be a skill.
    pub(super) fn from_tool(server: &str, tool: &Tool) -> Option<ToolSpec> {
        let listed = match serde_json::to_value(tool) {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(server = %server, "an MCP tool could not be read, skipped: {e}");
                return None;
            }
        };
        let name = listed
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            tracing::warn!(server = %server, tool = %name, "an MCP tool's name cannot be a skill name, skipped");
            return None;
        }
        let text = |key: &str| {
            listed
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
        };
        let description = text("description")
            .or_else(|| text("title"))
            .unwrap_or_else(|| format!("The tool `{name}` of the MCP server `{server}`."));
        let schema = listed
            .get("inputSchema")
            .filter(|schema| schema.is_object())
            .cloned()
            .unwrap_or_else(|| json!({ "type": "object" }));
        Some(ToolSpec {
            name: name.to_owned(),
            description,
            schema,
        })
    }
}

/// Calls one tool of an MCP server and returns `{content, structured, is_error}`:
/// the result's content blocks as the protocol has them, its `structuredContent` (or
/// null), and `false` (a result with `isError` set fails the step with its text).
///
/// A call fails cleanly when the server is unreachable, when it goes away during the call,
/// and when it does not answer within `skills.mcp.call_timeout`.
pub(super) struct McpTool {
    skill: String,
    spec: ToolSpec,
    connection: Arc<Connection>,
}

impl McpTool {
    /// The skill `mcp.<server>.<tool>` for `spec`, called through `connection`.
    pub(super) fn new(connection: Arc<Connection>, spec: ToolSpec) -> Self {
        McpTool {
            skill: format!("mcp.{}.{}", connection.name, spec.name),
            spec,
            connection,
        }
    }

    /// The skill's output for a tool result, read through its JSON form; a result marked
    /// as an error becomes [`SkillError::Failed`] with the result's text.
    fn output(&self, result: &CallToolResult) -> Result<Value, SkillError> {
        let result = serde_json::to_value(result).map_err(|e| {
            SkillError::Failed(format!(
                "the result of `{}` could not be read: {e}",
                self.skill
            ))
        })?;
        let content = result
            .get("content")
            .cloned()
            .unwrap_or_else(|| Value::Array(Vec::new()));
        if result.get("isError").and_then(Value::as_bool) == Some(true) {
            return Err(SkillError::Failed(
                self.connection.redact(error_text(&content)),
            ));
        }
        Ok(json!({
            "content": content,
            "structured": result.get("structuredContent").cloned().unwrap_or(Value::Null),
            "is_error": false,
        }))
    }

    fn disconnected(&self, detail: &str) -> SkillError {
        SkillError::Failed(self.connection.redact(format!(
            "MCP server `{}` disconnected{detail}; it is being reconnected in the background",
            self.connection.name
        )))
    }
}

#[async_trait]
impl Skill for McpTool {
    fn name(&self) -> &str {
        &self.skill
    }

    fn description(&self) -> &str {
        &self.spec.description
    }

    fn args_schema(&self) -> Value {
        self.spec.schema.clone()
    }

    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        let arguments = match args {
            Value::Object(arguments) => arguments,
            Value::Null => Map::new(),
            _ => {
                return Err(SkillError::InvalidArgs(
                    "arguments must be an object".into(),
                ));
            }
        };
        let Some((epoch, peer)) = self.connection.current() else {
            return Err(self.disconnected(""));
        };
        let tool = &self.spec.name;
        let during = format!(" during the call to `{tool}`");
        let timeout = self.connection.call_timeout;
        let params = CallToolRequestParams::new(tool.clone()).with_arguments(arguments);
        tokio::select! {
            answer = peer.call_tool(params) => match answer {
                Ok(result) => self.output(&result),
                Err(error @ (ServiceError::TransportSend(_) | ServiceError::TransportClosed)) => {
                    // The background task reconnects once it sees the session marked lost.
                    self.connection.mark_lost(epoch);
                    Err(self.disconnected(&format!("{during} ({error})")))
                }
                Err(error) => Err(SkillError::Failed(self.connection.redact(format!(
                    "MCP server `{}` refused the call to `{tool}`: {error}",
                    self.connection.name
                )))),
            },
            () = self.connection.lost(epoch) => Err(self.disconnected(&during)),
            () = tokio::time::sleep(timeout) => Err(SkillError::Failed(format!(
                "MCP server `{}` did not answer the call to `{tool}` within {}",
                self.connection.name,
                ConfigDuration(timeout)
            ))),
        }
    }
}

/// The text blocks of an error result, one per line; a generic message if it has none.
fn error_text(content: &Value) -> String {
    let texts: Vec<&str> = content
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|block| block.get("text").and_then(Value::as_str))
        .collect();
    if texts.is_empty() {
        "the tool reported an error without a message".to_owned()
    } else {
        texts.join("\n")
    }
}

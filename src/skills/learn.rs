//! `skills.add_mcp`: the declaration of the engine-native step that teaches the agent new
//! skills at run time by connecting an MCP server. Policy puts it behind an owner's
//! approval whatever the rules say; the engine runs it (`engine::learn`, feature `mcp`).

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Risk, Skill, SkillContext, SkillError};

/// The name of the step that connects an MCP server at run time.
pub const ADD_MCP: &str = "skills.add_mcp";

/// Connects an MCP server and adds its tools as skills (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct AddMcpServer;

#[async_trait]
impl Skill for AddMcpServer {
    fn name(&self) -> &str {
        ADD_MCP
    }

    fn description(&self) -> &str {
        "Connects an MCP server (a stdio command, or a streamable-HTTP url with a secret header read from an environment variable) and adds its tools as skills mcp.<name>.<tool>; always needs an owner's approval. Arguments: name, command, args, env_allow, cwd, url, header_name, header_env."
    }

    fn risk(&self) -> Risk {
        Risk::High
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "the server's name: letters, digits, _ and -"},
                "command": {"type": "string", "description": "a program speaking MCP on stdio"},
                "args": {"type": "array", "items": {"type": "string"}},
                "env_allow": {"type": "array", "items": {"type": "string"}, "description": "variables of this process the server may see"},
                "cwd": {"type": "string", "description": "its working directory"},
                "url": {"type": "string", "description": "or a streamable-HTTP endpoint"},
                "header_name": {"type": "string", "description": "the header carrying the secret"},
                "header_env": {"type": "string", "description": "the environment variable holding it"}
            },
            "required": ["name"],
            "additionalProperties": false
        })
    }

    async fn run(&self, _args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        Err(SkillError::Refused(
            "this step runs only inside the engine".into(),
        ))
    }
}

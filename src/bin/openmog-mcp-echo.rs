//! `openmog-mcp-echo`: a small MCP server on stdin and stdout, built with rmcp, that the MCP
//! tests start as a real process (feature `mcp-test-server`; not for production). Its tools:
//! `echo {text}` returns the text, `add {a, b}` returns the sum as structured content,
//! `fail {}` returns a result marked as an error, `sleep {ms}` answers after `ms`
//! milliseconds, and `exit {}` ends the process without answering.

use std::time::Duration;

use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{CallToolResult, Content};
use rmcp::{ErrorData, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Arguments of `echo`.
#[derive(Debug, Deserialize, JsonSchema)]
struct EchoArgs {
    /// The text to send back.
    text: String,
}

/// Arguments of `add`.
#[derive(Debug, Deserialize, JsonSchema)]
struct AddArgs {
    /// The first number.
    a: f64,
    /// The second number.
    b: f64,
}

/// What `add` returns.
#[derive(Debug, Serialize, JsonSchema)]
struct Sum {
    /// `a + b`.
    sum: f64,
}

/// Arguments of `sleep`.
#[derive(Debug, Deserialize, JsonSchema)]
struct SleepArgs {
    /// How long to wait before answering, in milliseconds.
    ms: u64,
}

#[derive(Debug, Clone, Copy)]
struct EchoServer;

#[tool_router]
impl EchoServer {
    #[tool(description = "Returns the text it is given.")]
    async fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> String {
        args.text
    }

    #[tool(description = "Adds two numbers; the sum comes as structured content.")]
    async fn add(&self, Parameters(args): Parameters<AddArgs>) -> Json<Sum> {
        Json(Sum {
            sum: args.a + args.b,
        })
    }

    #[tool(description = "Always fails: answers with a result marked as an error.")]
    async fn fail(&self) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::error(vec![Content::text(
            "failed on purpose",
        )]))
    }

    #[tool(description = "Waits `ms` milliseconds, then says so.")]
    async fn sleep(&self, Parameters(args): Parameters<SleepArgs>) -> String {
        tokio::time::sleep(Duration::from_millis(args.ms)).await;
        format!("slept {} ms", args.ms)
    }

    #[tool(description = "Ends the server process at once, without answering.")]
    async fn exit(&self) -> String {
        std::process::exit(3)
    }
}

// Without a `get_info` of its own, the macro writes one that announces the tools.
#[tool_handler]
impl ServerHandler for EchoServer {}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = EchoServer.serve(rmcp::transport::stdio()).await?;
    // Ends when openmog closes the server's stdin.
    server.waiting().await?;
    Ok(())
}

//! MCP servers as skills (feature `mcp`): [`connect_all`] connects the servers of
//! `skills.mcp` when the engine starts, [`McpServers::register`] adds every tool they offer
//! then as the skill `mcp.<server>.<tool>`, and one background task per server reconnects it
//! whenever it goes away.
//!
//! The skill registry is built once, at start, so the tools are the ones found then: a
//! server that is down at start is skipped with a warning and its tools are missing until the
//! next start; a tool a server adds later is not seen, and one it drops fails when called.
//! The policy treats these skills like any other; a rule `skill = "mcp.*"`,
//! `decision = "approve"` puts them all behind an approval.

mod connection;
mod skill;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::connection::{Connection, Session, Target, supervise};
use self::skill::{McpTool, ToolSpec};
use crate::config::{ConfigDuration, McpConfig, McpServerConfig, is_valid_server_name};
use crate::skills::SkillRegistry;

/// The MCP servers connected at start, the tools they offered then, and the tasks that keep
/// them connected.
///
/// Keep it as long as its skills may run: dropping it, like [`McpServers::shutdown`], stops
/// the reconnecting and the servers' processes, and the skills fail from then on.
pub struct McpServers {
    servers: Vec<Server>,
    unavailable: Vec<(String, String)>,
    stop: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// A server connected at start.
struct Server {
    connection: Arc<Connection>,
    tools: Vec<ToolSpec>,
}

/// Connects every server of `config` at once, lists their tools, and starts one task per
/// connected server that reconnects it when it goes away.
///
/// It does not fail: a server that cannot be reached, or whose tools cannot be listed,
/// within `call_timeout`, is logged as a warning, left out, and reported by
/// [`McpServers::unavailable`].
pub async fn connect_all(config: &McpConfig) -> McpServers {
    let timeout = config.call_timeout.0;
    let attempts = config
        .servers
        .iter()
        .map(|(name, server)| async move { (name.clone(), start(name, server, timeout).await) });
    let stop = CancellationToken::new();
    let mut servers = Vec::new();
    let mut unavailable = Vec::new();
    let mut tasks = Vec::new();
    for (name, started) in futures::future::join_all(attempts).await {
        match started {
            Ok((target, session, tools)) => {
                let connection = Arc::new(Connection::new(name.clone(), timeout, target.secret()));
                // Published before the task starts, so the skills work as soon as they are
                // registered.
                let epoch = connection.publish(session.peer());
                tracing::info!(server = %name, tools = tools.len(), "MCP server connected");
                tasks.push(tokio::spawn(supervise(
                    Arc::clone(&connection),
                    target,
                    session,
                    epoch,
                    stop.clone(),
                )));
                servers.push(Server { connection, tools });
            }
            Err(why) => {
                tracing::warn!(
                    server = %name,
                    "MCP server unavailable, its tools are missing until the next start: {why}"
                );
                unavailable.push((name, why));
            }
        }
    }
    McpServers {
        servers,
        unavailable,
        stop,
        tasks: Mutex::new(tasks),
    }
}

/// Connects to one server and lists its tools.
async fn start(
    name: &str,
    config: &McpServerConfig,
    timeout: Duration,
) -> Result<(Target, Session, Vec<ToolSpec>), String> {
    if !is_valid_server_name(name) {
        return Err("a server name holds only ASCII letters, digits, `_` and `-`".to_owned());
    }
    let target = Target::resolve(config, timeout)?;
    let session = connection::connect(name, &target, timeout).await?;
    let listed = tokio::time::timeout(timeout, session.peer().list_all_tools()).await;
    let tools = match listed {
        Ok(Ok(tools)) => tools,
        Ok(Err(e)) => {
            session.close().await;
            let why = format!("listing its tools failed: {e}");
            return Err(connection::redact(why, target.secret().as_deref()));
        }
        Err(_) => {
            session.close().await;
            return Err(format!(
                "listing its tools took longer than {}",
                ConfigDuration(timeout)
            ));
        }
    };
    let tools = tools
        .iter()
        .filter_map(|tool| ToolSpec::from_tool(name, tool))
        .collect();
    Ok((target, session, tools))
}

impl McpServers {
    /// Adds a skill `mcp.<server>.<tool>` for every tool the servers offered at start,
    /// replacing a skill of the same name.
    pub fn register(&self, registry: &mut SkillRegistry) {
        for server in &self.servers {
            for tool in &server.tools {
                registry.register(McpTool::new(Arc::clone(&server.connection), tool.clone()));
            }
        }
    }

    /// The names of the skills [`McpServers::register`] adds.
    pub fn skill_names(&self) -> Vec<String> {
        self.servers
            .iter()
            .flat_map(|server| {
                server
                    .tools
                    .iter()
                    .map(|tool| format!("mcp.{}.{}", server.connection.name, tool.name))
            })
            .collect()
    }

    /// The servers left out at start, each with the reason, in name order.
    pub fn unavailable(&self) -> &[(String, String)] {
        &self.unavailable
    }

    /// Whether server `name` is connected now; false for a server left out at start.
    pub fn is_connected(&self, name: &str) -> bool {
        self.servers
            .iter()
            .any(|server| server.connection.name == name && server.connection.is_connected())
    }

    /// Stops the reconnecting and closes every session: each server's stdin is closed, and
    /// a process still running after a moment is killed with its process group. Calls from
    /// the skills fail from then on.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for McpServers {
    fn drop(&mut self) {
        // The tasks close their sessions when they see this; a process whose task cannot
        // run any more is killed when its handle is dropped.
        self.stop.cancel();
    }
}

// Names and states only: the servers' configuration may hold secrets.
impl fmt::Debug for McpServers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let connected: Vec<_> = self
            .servers
            .iter()
            .map(|server| {
                (
                    server.connection.name.as_str(),
                    server.connection.is_connected(),
                    server.tools.len(),
                )
            })
            .collect();
        let unavailable: Vec<&str> = self
            .unavailable
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        f.debug_struct("McpServers")
            .field("servers (name, reachable, tools)", &connected)
            .field("unavailable", &unavailable)
            .finish()
    }
}

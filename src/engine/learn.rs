//! Learning at run time (feature `mcp`): a `skills.add_mcp` step — always behind an owner's
//! approval — connects an MCP server, adds its tools as skills, and remembers the server in
//! the store (the `skills` state, key `mcp.servers`; only names of secrets, never their
//! values), so every later start connects it again. The completion is audited as
//! `skills.learned` with the tools learned.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::Inner;
use super::executor::{Claimed, Outcome};
use crate::channel::ChannelState;
use crate::config::{McpConfig, McpServerConfig, is_valid_server_name};
use crate::skills::mcp::{McpServers, connect_all};
use crate::store::SharedStore;

const STATE: &str = "skills";
const KEY: &str = "mcp.servers";

/// The servers learned earlier, connected again (at start).
pub(super) async fn reconnect(store: &SharedStore, config: &McpConfig) -> Option<McpServers> {
    let state = ChannelState::new(STATE, Arc::clone(store));
    let learned = match state.get::<BTreeMap<String, McpServerConfig>>(KEY).await {
        Ok(Some(learned)) if !learned.is_empty() => learned,
        Ok(_) => return None,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the MCP servers learned earlier");
            return None;
        }
    };
    let config = McpConfig {
        servers: learned,
        call_timeout: config.call_timeout,
    };
    Some(connect_all(&config).await)
}

/// Runs a claimed `skills.add_mcp` step.
pub(super) async fn add_mcp(inner: &Inner, claimed: &Claimed) -> Outcome {
    let mut args = match &claimed.args {
        Ok(Value::Object(args)) => args.clone(),
        Ok(_) => return Outcome::failed("arguments must be an object".into()),
        Err(why) => return Outcome::failed(format!("cannot resolve arguments: {why}")),
    };
    let name = match args.remove("name") {
        Some(Value::String(name)) if is_valid_server_name(&name) => name,
        _ => {
            return Outcome::failed("`name` must be letters, digits, `_` and `-` only".to_owned());
        }
    };
    let server: McpServerConfig = match serde_json::from_value(Value::Object(args)) {
        Ok(server) => server,
        Err(err) => return Outcome::failed(format!("invalid MCP server: {err}")),
    };
    // These names come from a plan's arguments: only variables meant for MCP servers may be
    // handed to a learned server or sent as its header, never openmog's own secrets.
    let offered = server.env_allow.iter().map(|v| (v, true));
    if let Some((var, _)) = offered
        .chain(server.header_env.iter().map(|v| (v, false)))
        .find(|(var, plain_allowed)| !learnable(var, *plain_allowed))
    {
        return Outcome::failed(format!(
            "`{var}` cannot be given to a learned MCP server: only variables named \
             OPENMOG_MCP_* (and PATH, HOME, LANG for its environment) can"
        ));
    }
    let prefix = format!("mcp.{name}.");
    if inner.skills().iter().any(|s| s.name().starts_with(&prefix)) {
        return Outcome::failed(format!("an MCP server named `{name}` is already connected"));
    }
    let config = McpConfig {
        servers: BTreeMap::from([(name.clone(), server.clone())]),
        call_timeout: inner.config.skills.mcp.call_timeout,
    };
    if let Some((key, problem)) = config.problems().into_iter().next() {
        return Outcome::failed(format!("{key}: {problem}"));
    }
    let servers = connect_all(&config).await;
    if let Some((_, why)) = servers.unavailable().first() {
        let why = why.clone();
        servers.shutdown().await;
        return Outcome::failed(format!("cannot connect MCP server `{name}`: {why}"));
    }
    // Remembered before it is used, so a skill learned is a skill kept.
    if let Err(err) = remember(&inner.store, &name, &server).await {
        servers.shutdown().await;
        return Outcome::failed(format!("cannot remember MCP server `{name}`: {err}"));
    }
    let tools = servers.skill_names();
    // The new tools get the limits configured for their names, as at start.
    let mut learned = crate::skills::SkillRegistry::new();
    servers.register(&mut learned);
    learned.limit(&inner.config.skills.limits);
    inner.learn(|skills| {
        for skill in learned.iter() {
            skills.register_arc(Arc::clone(skill));
        }
    });
    inner.keep_mcp(servers);
    Outcome::Succeeded(json!({"server": name, "tools": tools}))
}

/// Whether a learned server may see (or send) the variable `name`.
fn learnable(name: &str, plain_allowed: bool) -> bool {
    name.starts_with("OPENMOG_MCP_") || (plain_allowed && matches!(name, "PATH" | "HOME" | "LANG"))
}

async fn remember(store: &SharedStore, name: &str, server: &McpServerConfig) -> crate::Result<()> {
    let state = ChannelState::new(STATE, Arc::clone(store));
    let mut learned: BTreeMap<String, McpServerConfig> = state.get(KEY).await?.unwrap_or_default();
    learned.insert(name.to_owned(), server.clone());
    state.put(KEY, &learned).await
}

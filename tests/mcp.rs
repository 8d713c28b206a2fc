//! MCP servers as skills, end to end: an in-process streamable-HTTP server (rmcp behind
//! axum on 127.0.0.1) that demands a secret header, and the real stdio server
//! `openmog-mcp-echo` started as a process, which can be made to fail, hang and die mid-call.
//!
//! Needs the `mcp-test-server` feature (the stdio server is a binary of this package, and a
//! binary cannot use dev-dependencies).

#![cfg(feature = "mcp-test-server")]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use openmog::config::{ConfigDuration, McpConfig, McpServerConfig};
use openmog::skills::mcp::{McpServers, connect_all};
use openmog::skills::{Skill, SkillContext, SkillError, SkillRegistry};
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;

fn ctx() -> SkillContext {
    SkillContext::detached("test-plan/step/1")
}

fn skill(registry: &SkillRegistry, name: &str) -> Arc<dyn Skill> {
    Arc::clone(
        registry
            .get(name)
            .unwrap_or_else(|| panic!("no skill `{name}` in {registry:?}")),
    )
}

fn registered(servers: &McpServers) -> (SkillRegistry, Vec<String>) {
    let mut registry = SkillRegistry::new();
    servers.register(&mut registry);
    let mut names = servers.skill_names();
    names.sort();
    (registry, names)
}

// ---------------------------------------------------------------------------------------
// Streamable HTTP, in process, behind a secret header
// ---------------------------------------------------------------------------------------

/// The header the HTTP server demands.
const KEY_HEADER: &str = "x-openmog-key";

/// Arguments of `greet`.
#[derive(Debug, Deserialize, JsonSchema)]
struct GreetArgs {
    /// Who to greet.
    name: String,
}

/// Arguments of `stats`.
#[derive(Debug, Deserialize, JsonSchema)]
struct StatsArgs {
    /// The numbers to sum up.
    values: Vec<f64>,
}

/// What `stats` returns.
#[derive(Debug, Serialize, JsonSchema)]
struct Stats {
    /// How many numbers there were.
    count: usize,
    /// Their sum.
    total: f64,
}

#[derive(Debug, Clone, Copy)]
struct Greeter;

#[tool_router]
impl Greeter {
    #[tool(description = "Greets someone by name.")]
    async fn greet(&self, Parameters(args): Parameters<GreetArgs>) -> String {
        format!("Hello, {}!", args.name)
    }

    #[tool(description = "Counts and adds up numbers.")]
    async fn stats(&self, Parameters(args): Parameters<StatsArgs>) -> Json<Stats> {
        Json(Stats {
            count: args.values.len(),
            total: args.values.iter().sum(),
        })
    }
}

#[tool_handler]
impl ServerHandler for Greeter {}

/// Lets through the requests that carry the expected key, and counts both kinds.
struct Gate {
    expected: &'static str,
    accepted: AtomicUsize,
    rejected: AtomicUsize,
}

async fn check_key(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    let sent = request
        .headers()
        .get(KEY_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    if sent.as_deref() == Some(gate.expected) {
        gate.accepted.fetch_add(1, Ordering::SeqCst);
        next.run(request).await
    } else {
        gate.rejected.fetch_add(1, Ordering::SeqCst);
        // Quotes the rejected key, as careless servers do, so that the test sees openmog
        // keep it out of its errors.
        let body = format!("wrong key: {}", sent.unwrap_or_default());
        (StatusCode::UNAUTHORIZED, body).into_response()
    }
}

/// Serves `Greeter` at `/mcp` on 127.0.0.1 behind `gate`.
async fn start_http_server(gate: Arc<Gate>) -> SocketAddr {
    let service = StreamableHttpService::new(
        || Ok(Greeter),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn_with_state(gate, check_key));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the MCP server");
    let addr = listener.local_addr().expect("the MCP server's address");
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            eprintln!("MCP test server failed: {err}");
        }
    });
    addr
}

#[tokio::test]
async fn http_tools_become_skills_and_need_the_secret_header() {
    // Cargo sets its CARGO_PKG_* variables for a test at run time too, so they serve as
    // secrets to read from the environment without setting any (which needs `unsafe`).
    let secret = env!("CARGO_PKG_DESCRIPTION");
    let wrong = env!("CARGO_PKG_REPOSITORY");
    let gate = Arc::new(Gate {
        expected: secret,
        accepted: AtomicUsize::new(0),
        rejected: AtomicUsize::new(0),
    });
    let addr = start_http_server(Arc::clone(&gate)).await;
    let http = |header_env: Option<&str>| McpServerConfig {
        url: Some(format!("http://{addr}/mcp")),
        header_name: header_env.map(|_| KEY_HEADER.to_owned()),
        header_env: header_env.map(str::to_owned),
        ..McpServerConfig::default()
    };
    let config = McpConfig {
        servers: BTreeMap::from([
            ("good".to_owned(), http(Some("CARGO_PKG_DESCRIPTION"))),
            ("wrong".to_owned(), http(Some("CARGO_PKG_REPOSITORY"))),
            ("bare".to_owned(), http(None)),
        ]),
        call_timeout: ConfigDuration::secs(10),
    };
    assert!(config.problems().is_empty(), "{:?}", config.problems());

    let servers = connect_all(&config).await;
    let (registry, names) = registered(&servers);
    assert_eq!(names, ["mcp.good.greet", "mcp.good.stats"]);
    assert!(servers.is_connected("good"));

    // The tools' descriptions and schemas are the skills'.
    let greet = skill(&registry, "mcp.good.greet");
    assert_eq!(greet.description(), "Greets someone by name.");
    let schema = greet.args_schema();
    assert_eq!(schema["properties"]["name"]["type"], "string", "{schema}");
    assert!(
        schema["required"]
            .as_array()
            .is_some_and(|required| required.contains(&json!("name"))),
        "{schema}"
    );
    assert!(greet.validate(&json!({})).is_err(), "`name` is required");
    let stats = skill(&registry, "mcp.good.stats");
    assert_eq!(stats.args_schema()["properties"]["values"]["type"], "array");

    // Running a skill calls the tool.
    let out = greet
        .run(json!({"name": "Ada"}), ctx())
        .await
        .expect("greet");
    assert_eq!(out["content"][0]["type"], "text", "{out}");
    assert_eq!(out["content"][0]["text"], "Hello, Ada!", "{out}");
    assert_eq!(out["structured"], Value::Null);
    assert_eq!(out["is_error"], false);
    let out = stats
        .run(json!({"values": [1.5, 2.5, 4]}), ctx())
        .await
        .expect("stats");
    assert_eq!(
        out["structured"],
        json!({"count": 3, "total": 8.0}),
        "{out}"
    );

    // The good server's requests carried the key; the others were refused.
    assert!(gate.accepted.load(Ordering::SeqCst) >= 3);
    assert!(gate.rejected.load(Ordering::SeqCst) >= 2);
    let left_out: Vec<&str> = servers
        .unavailable()
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(left_out, ["bare", "wrong"]);

    // No secret shows in an error, in a Debug output, or after the manager stopped.
    for (name, why) in servers.unavailable() {
        assert!(!why.is_empty(), "{name}");
        assert!(
            !why.contains(secret) && !why.contains(wrong),
            "{name}: a secret leaked into `{why}`"
        );
    }
    for shown in [
        format!("{config:?}"),
        format!("{servers:?}"),
        format!("{registry:?}"),
    ] {
        assert!(
            !shown.contains(secret) && !shown.contains(wrong),
            "a secret leaked into `{shown}`"
        );
    }
    servers.shutdown().await;
    let stopped = greet
        .run(json!({"name": "Ada"}), ctx())
        .await
        .expect_err("the server is closed");
    assert!(
        matches!(&stopped, SkillError::Failed(m) if m.contains("disconnected")),
        "{stopped:?}"
    );
    assert!(!stopped.to_string().contains(secret));
}

// ---------------------------------------------------------------------------------------
// stdio, against the real `openmog-mcp-echo` process
// ---------------------------------------------------------------------------------------

fn echo_server(call_timeout: ConfigDuration) -> McpConfig {
    let server = McpServerConfig {
        command: Some(env!("CARGO_BIN_EXE_openmog-mcp-echo").to_owned()),
        ..McpServerConfig::default()
    };
    McpConfig {
        servers: BTreeMap::from([("echo".to_owned(), server)]),
        call_timeout,
    }
}

#[tokio::test]
async fn stdio_tools_run_fail_and_time_out() {
    let servers = connect_all(&echo_server(ConfigDuration::secs(5))).await;
    assert!(
        servers.unavailable().is_empty(),
        "{:?}",
        servers.unavailable()
    );
    let (registry, names) = registered(&servers);
    assert_eq!(
        names,
        [
            "mcp.echo.add",
            "mcp.echo.echo",
            "mcp.echo.exit",
            "mcp.echo.fail",
            "mcp.echo.sleep"
        ]
    );

    let echo = skill(&registry, "mcp.echo.echo");
    assert_eq!(echo.description(), "Returns the text it is given.");
    assert_eq!(echo.args_schema()["properties"]["text"]["type"], "string");
    let out = echo.run(json!({"text": "hi"}), ctx()).await.expect("echo");
    assert_eq!(out["content"][0]["text"], "hi", "{out}");
    assert_eq!(out["is_error"], false);

    let add = skill(&registry, "mcp.echo.add");
    assert_eq!(add.args_schema()["properties"]["a"]["type"], "number");
    let out = add
        .run(json!({"a": 2, "b": 3.5}), ctx())
        .await
        .expect("add");
    assert_eq!(out["structured"], json!({"sum": 5.5}), "{out}");

    let failed = skill(&registry, "mcp.echo.fail")
        .run(json!({}), ctx())
        .await
        .expect_err("fail fails");
    assert_eq!(failed, SkillError::Failed("failed on purpose".to_owned()));

    // A tool that outlasts the call timeout fails the step, and the server stays usable.
    let started = Instant::now();
    let slow = skill(&registry, "mcp.echo.sleep")
        .run(json!({"ms": 60_000}), ctx())
        .await
        .expect_err("the call times out");
    assert!(
        matches!(&slow, SkillError::Failed(m) if m.contains("did not answer")),
        "{slow:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let out = echo
        .run(json!({"text": "still here"}), ctx())
        .await
        .expect("echo");
    assert_eq!(out["content"][0]["text"], "still here");

    servers.shutdown().await;
}

#[tokio::test]
async fn a_server_dying_mid_call_fails_the_step_and_is_reconnected() {
    let servers = connect_all(&echo_server(ConfigDuration::secs(10))).await;
    let (registry, _) = registered(&servers);
    let echo = skill(&registry, "mcp.echo.echo");

    // `exit` ends the process while its call is in flight.
    let started = Instant::now();
    let died = skill(&registry, "mcp.echo.exit")
        .run(json!({}), ctx())
        .await
        .expect_err("the server died");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no hang until the timeout: {:?}",
        started.elapsed()
    );
    assert!(
        matches!(&died, SkillError::Failed(m) if m.starts_with("MCP server `echo` disconnected")),
        "{died:?}"
    );

    // The background task starts the server again (after 1 s); calls fail cleanly until then.
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = loop {
        match echo.run(json!({"text": "back"}), ctx()).await {
            Ok(out) => break out,
            Err(SkillError::Failed(m))
                if m.contains("disconnected") && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(other) => panic!("the server did not come back: {other:?}"),
        }
    };
    assert_eq!(out["content"][0]["text"], "back");
    assert!(servers.is_connected("echo"));

    servers.shutdown().await;
    assert!(!servers.is_connected("echo"));
}

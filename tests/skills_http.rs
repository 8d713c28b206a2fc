//! Integration tests of `http.request`, `graphql.query` and `websocket.exchange` against real
//! servers on 127.0.0.1 (axum, plus a bare listener that only counts connections).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use openmog::config::{ConfigDuration, HttpSkillConfig, WebSocketSkillConfig};
use openmog::skills::{
    GraphqlQuery, HttpRequest, Skill, SkillContext, SkillError, WebSocketExchange,
};
use serde_json::{Value, json};
use tokio::net::TcpListener;

fn ctx() -> SkillContext {
    SkillContext::detached("t/1/1")
}

// ---------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------

/// The axum server every test talks to; `elsewhere` counts hits on the redirect's target.
struct Server {
    addr: SocketAddr,
    elsewhere: Arc<AtomicUsize>,
}

impl Server {
    async fn start() -> anyhow::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let hits = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .route("/echo", any(echo))
            .route("/items", post(create_item))
            .route("/big", get(big))
            .route("/redirect", any(redirect))
            .route("/elsewhere", any(elsewhere))
            .route("/slow", any(slow))
            .route("/graphql", post(graphql))
            .route("/not-graphql", post(not_graphql))
            .route("/ws/echo", get(ws_echo))
            .route("/ws/close", get(ws_close))
            .route("/ws/big", get(ws_big))
            .with_state(Arc::clone(&hits));
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                eprintln!("test server failed: {err}");
            }
        });
        Ok(Server {
            addr,
            elsewhere: hits,
        })
    }

    fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.addr.port())
    }

    fn ws(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.addr.port())
    }
}

/// A listener that accepts, counts and drops connections: proof of whether a skill
/// connected at all.
async fn counting_listener() -> anyhow::Result<(SocketAddr, Arc<AtomicUsize>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    Ok((addr, count))
}

/// Answers with what it received: method, query, two headers, and the body (as JSON when it
/// parses).
async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Json<Value> {
    let text = String::from_utf8_lossy(&body).into_owned();
    let body = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
    Json(json!({
        "method": method.as_str(),
        "query": uri.query(),
        "content_type": headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        "x_test": headers.get("x-test").and_then(|v| v.to_str().ok()),
        "body": body,
    }))
}

/// POST only (else 405), JSON only (else 415), and only with the right key (else 401).
async fn create_item(headers: HeaderMap, Json(item): Json<Value>) -> Response {
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some("k-123") {
        return (StatusCode::UNAUTHORIZED, "missing key").into_response();
    }
    (StatusCode::CREATED, Json(json!({ "created": item }))).into_response()
}

/// A JSON array of about 10 kB.
async fn big() -> impl IntoResponse {
    let body = format!("[{}1]", "1,".repeat(5_000));
    ([(header::CONTENT_TYPE, "application/json")], body)
}

async fn redirect() -> impl IntoResponse {
    (StatusCode::FOUND, [(header::LOCATION, "/elsewhere")])
}

async fn elsewhere(State(hits): State<Arc<AtomicUsize>>) -> &'static str {
    hits.fetch_add(1, Ordering::SeqCst);
    "elsewhere"
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "late"
}

/// A GraphQL endpoint: a query naming `broken` gets a GraphQL error (status 200); any other
/// gets data echoing its variables, operation name and the `Accept` header.
async fn graphql(headers: HeaderMap, Json(request): Json<Value>) -> Json<Value> {
    let query = request["query"].as_str().unwrap_or_default();
    if query.contains("broken") {
        return Json(json!({
            "data": null,
            "errors": [{ "message": "Cannot query field \"broken\" on type \"Query\"." }]
        }));
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Json(json!({
        "data": {
            "hello": "world",
            "variables": request["variables"].clone(),
            "operationName": request["operationName"].clone(),
            "accept": accept,
        }
    }))
}

async fn not_graphql() -> impl IntoResponse {
    (
        StatusCode::BAD_GATEWAY,
        [(header::CONTENT_TYPE, "text/html")],
        "<html>bad gateway</html>",
    )
}

/// Echoes every text message until the client closes.
async fn ws_echo(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            match message {
                Message::Text(text) if socket.send(Message::Text(text.clone())).await.is_err() => {
                    break;
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    })
}

/// Answers the first message with `bye`, then closes.
async fn ws_close(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket: WebSocket| async move {
        if let Some(Ok(_)) = socket.recv().await {
            let _ = socket.send(Message::Text("bye".into())).await;
            let _ = socket.send(Message::Close(None)).await;
        }
    })
}

/// Answers the first message with 10 000 bytes.
async fn ws_big(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket: WebSocket| async move {
        if let Some(Ok(_)) = socket.recv().await {
            let _ = socket.send(Message::Text("x".repeat(10_000).into())).await;
            // Stay open, so the client's failure comes from the size, not a close.
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    })
}

fn http_config(allow: &[&str], timeout: Duration) -> HttpSkillConfig {
    HttpSkillConfig {
        allow_hosts: allow.iter().map(|h| (*h).to_owned()).collect(),
        timeout: ConfigDuration(timeout),
        max_body_bytes: 1000,
    }
}

fn request_skill() -> anyhow::Result<HttpRequest> {
    Ok(HttpRequest::new(&http_config(
        &["127.0.0.1"],
        Duration::from_secs(10),
    ))?)
}

fn ws_config(allow: &[&str]) -> WebSocketSkillConfig {
    WebSocketSkillConfig {
        allow_hosts: allow.iter().map(|h| (*h).to_owned()).collect(),
        connect_timeout: ConfigDuration(Duration::from_secs(5)),
        timeout: ConfigDuration(Duration::from_secs(10)),
        max_message_bytes: 1000,
        max_messages: 10,
    }
}

// ---------------------------------------------------------------------------------------
// http.request
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn http_request_posts_json_that_the_server_checks_and_echoes() -> anyhow::Result<()> {
    let server = Server::start().await?;
    let skill = request_skill()?;
    assert_eq!(skill.name(), "http.request");
    let item = json!({ "name": "widget", "qty": 3 });

    let out = skill
        .run(
            json!({
                "url": server.http("/items"),
                "method": "POST",
                "headers": { "X-Api-Key": "k-123" },
                "json": item,
            }),
            ctx(),
        )
        .await?;
    assert_eq!(out["status"], 201, "{out}");
    assert_eq!(out["body"], json!({ "created": item }));
    assert_eq!(out["headers"]["content-type"], "application/json");
    assert_eq!(out["truncated"], false);

    // The server's checks are real: without the key it answers 401, which is an output.
    let out = skill
        .run(
            json!({ "url": server.http("/items"), "method": "post", "json": item }),
            ctx(),
        )
        .await?;
    assert_eq!(out["status"], 401, "{out}");
    Ok(())
}

#[tokio::test]
async fn http_request_sends_put_delete_and_head_with_query_and_text_body() -> anyhow::Result<()> {
    let server = Server::start().await?;
    let skill = request_skill()?;

    let out = skill
        .run(
            json!({
                "url": server.http("/echo?keep=1"),
                "method": "PUT",
                "headers": { "X-Test": "yes" },
                "query": { "q": "a b", "n": [1, 2], "flag": true },
                "body": "plain words",
            }),
            ctx(),
        )
        .await?;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["body"]["method"], "PUT");
    assert_eq!(out["body"]["x_test"], "yes");
    assert_eq!(out["body"]["content_type"], "text/plain; charset=utf-8");
    assert_eq!(out["body"]["body"], "plain words");
    // The URL's own parameter stays first; the added ones follow in whatever order the
    // arguments' map keeps, so only their set is checked.
    let query = out["body"]["query"].as_str().unwrap_or_default();
    assert!(query.starts_with("keep=1&"), "{query}");
    let mut added: Vec<&str> = query.split('&').skip(1).collect();
    added.sort_unstable();
    assert_eq!(added, ["flag=true", "n=1", "n=2", "q=a+b"], "{query}");

    let out = skill
        .run(
            json!({ "url": server.http("/echo"), "method": "DELETE" }),
            ctx(),
        )
        .await?;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["body"]["method"], "DELETE");
    assert_eq!(out["body"]["body"], "");
    assert_eq!(out["body"]["query"], Value::Null);

    let out = skill
        .run(
            json!({ "url": server.http("/echo"), "method": "HEAD" }),
            ctx(),
        )
        .await?;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["body"], "");

    let result = skill
        .run(
            json!({ "url": server.http("/echo"), "method": "TRACE" }),
            ctx(),
        )
        .await;
    assert!(
        matches!(result, Err(SkillError::InvalidArgs(_))),
        "{result:?}"
    );

    let result = skill
        .run(
            json!({ "url": server.http("/echo"), "method": "POST", "json": {}, "body": "x" }),
            ctx(),
        )
        .await;
    assert!(
        matches!(result, Err(SkillError::InvalidArgs(_))),
        "{result:?}"
    );
    Ok(())
}

#[tokio::test]
async fn http_request_refuses_hosts_off_the_allowlist_without_connecting() -> anyhow::Result<()> {
    let (addr, connections) = counting_listener().await?;
    let port = addr.port();
    let skill = request_skill()?;

    for url in [
        format!("http://localhost:{port}/x"),
        format!("ftp://127.0.0.1:{port}/x"),
    ] {
        let result = skill
            .run(json!({ "url": url, "method": "POST", "json": {} }), ctx())
            .await;
        assert!(matches!(result, Err(SkillError::Refused(_))), "{result:?}");
    }
    let nobody = HttpRequest::new(&http_config(&[], Duration::from_secs(10)))?;
    let result = nobody
        .run(
            json!({ "url": format!("http://127.0.0.1:{port}/x") }),
            ctx(),
        )
        .await;
    assert!(matches!(result, Err(SkillError::Refused(_))), "{result:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(connections.load(Ordering::SeqCst), 0);

    // The counter does count: an allowed host is connected to (and hung up on).
    let result = skill
        .run(
            json!({ "url": format!("http://127.0.0.1:{port}/x") }),
            ctx(),
        )
        .await;
    assert!(matches!(result, Err(SkillError::Failed(_))), "{result:?}");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test]
async fn http_request_truncates_large_bodies_and_does_not_parse_them() -> anyhow::Result<()> {
    let server = Server::start().await?;
    let out = request_skill()?
        .run(json!({ "url": server.http("/big") }), ctx())
        .await?;
    assert_eq!(out["status"], 200);
    assert_eq!(out["truncated"], true);
    let body = out["body"].as_str().unwrap_or_default();
    assert_eq!(body.len(), 1000, "{out}");
    assert!(body.starts_with("[1,1,"));
    Ok(())
}

#[tokio::test]
async fn http_request_does_not_follow_redirects() -> anyhow::Result<()> {
    let server = Server::start().await?;
    let out = request_skill()?
        .run(
            json!({ "url": server.http("/redirect"), "method": "POST", "json": { "a": 1 } }),
            ctx(),
        )
        .await?;
    assert_eq!(out["status"], 302, "{out}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.elsewhere.load(Ordering::SeqCst), 0);
    Ok(())
}

#[tokio::test]
async fn http_request_timeout_names_the_host_but_no_secret() -> anyhow::Result<()> {
    let server = Server::start().await?;
    let skill = HttpRequest::new(&http_config(&["127.0.0.1"], Duration::from_millis(300)))?;
    let started = Instant::now();
    let result = skill
        .run(
            json!({
                "url": server.http("/slow?token=sekrit-in-query"),
                "method": "POST",
                "headers": { "Authorization": "Bearer hunter2-secret" },
                "query": { "api_key": "sekrit-param" },
                "json": { "password": "s3cret-body" },
            }),
            ctx(),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the timeout applied"
    );
    match result {
        Err(SkillError::Failed(message)) => {
            assert!(message.contains("127.0.0.1"), "{message}");
            assert!(message.contains("timed out"), "{message}");
            for secret in ["hunter2", "Bearer", "sekrit", "s3cret", "token="] {
                assert!(!message.contains(secret), "`{secret}` leaked: {message}");
            }
        }
        other => panic!("expected a timeout failure, got {other:?}"),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// graphql.query
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn graphql_query_returns_data() -> anyhow::Result<()> {
    let server = Server::start().await?;
    let skill = GraphqlQuery::new(&http_config(&["127.0.0.1"], Duration::from_secs(10)))?;
    assert_eq!(skill.name(), "graphql.query");
    let out = skill
        .run(
            json!({
                "url": server.http("/graphql"),
                "query": "query Hello($who: String) { hello(who: $who) }",
                "variables": { "who": "me" },
                "operationName": "Hello",
            }),
            ctx(),
        )
        .await?;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["data"]["hello"], "world");
    assert_eq!(out["data"]["variables"], json!({ "who": "me" }));
    assert_eq!(out["data"]["operationName"], "Hello");
    assert!(
        out["data"]["accept"]
            .as_str()
            .is_some_and(|a| a.contains("application/json")),
        "{out}"
    );
    assert_eq!(out["errors"], Value::Null);
    assert_eq!(out["truncated"], false);
    Ok(())
}

#[tokio::test]
async fn graphql_errors_in_a_200_come_back_in_the_output() -> anyhow::Result<()> {
    let server = Server::start().await?;
    let skill = GraphqlQuery::new(&http_config(&["127.0.0.1"], Duration::from_secs(10)))?;
    let out = skill
        .run(
            json!({ "url": server.http("/graphql"), "query": "{ broken }" }),
            ctx(),
        )
        .await?;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["data"], Value::Null);
    let message = out["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("broken"), "{out}");
    Ok(())
}

#[tokio::test]
async fn graphql_non_json_responses_fail_saying_so() -> anyhow::Result<()> {
    let server = Server::start().await?;
    let skill = GraphqlQuery::new(&http_config(&["127.0.0.1"], Duration::from_secs(10)))?;
    let result = skill
        .run(
            json!({ "url": server.http("/not-graphql"), "query": "{ hello }" }),
            ctx(),
        )
        .await;
    match result {
        Err(SkillError::Failed(message)) => {
            assert!(message.contains("not JSON"), "{message}");
            assert!(message.contains("502"), "{message}");
            assert!(!message.contains("<html>"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }

    let result = skill
        .run(
            json!({
                "url": server.http("/graphql").replace("127.0.0.1", "localhost"),
                "query": "{ hello }",
            }),
            ctx(),
        )
        .await;
    assert!(matches!(result, Err(SkillError::Refused(_))), "{result:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// websocket.exchange
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn websocket_exchange_sends_messages_and_collects_the_replies() -> anyhow::Result<()> {
    let server = Server::start().await?;
    let skill = WebSocketExchange::new(&ws_config(&["127.0.0.1"]))?;
    assert_eq!(skill.name(), "websocket.exchange");
    let out = skill
        .run(
            json!({
                "url": server.ws("/ws/echo"),
                "send": [{ "op": "ping", "n": 1 }, "hello"],
                "expect": 2,
            }),
            ctx(),
        )
        .await?;
    // The JSON value went out serialized and came back parsed; the text stayed text.
    assert_eq!(
        out["received"],
        json!([{ "op": "ping", "n": 1 }, "hello"]),
        "{out}"
    );
    assert_eq!(out["complete"], true);
    assert_eq!(out["closed"], false);
    Ok(())
}

#[tokio::test]
async fn websocket_exchange_is_incomplete_when_fewer_replies_come_in_time() -> anyhow::Result<()> {
    let server = Server::start().await?;
    let skill = WebSocketExchange::new(&ws_config(&["127.0.0.1"]))?;
    let started = Instant::now();
    let out = skill
        .run(
            json!({
                "url": server.ws("/ws/echo"),
                "send": ["one"],
                "expect": 3,
                "timeout": "300ms",
            }),
            ctx(),
        )
        .await?;
    let elapsed = started.elapsed();
    assert_eq!(out["received"], json!(["one"]), "{out}");
    assert_eq!(out["complete"], false);
    assert_eq!(out["closed"], false);
    assert!(elapsed >= Duration::from_millis(250), "waited {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "waited {elapsed:?}");
    Ok(())
}

#[tokio::test]
async fn websocket_exchange_reports_the_server_closing() -> anyhow::Result<()> {
    let server = Server::start().await?;
    let skill = WebSocketExchange::new(&ws_config(&["127.0.0.1"]))?;
    let started = Instant::now();
    let out = skill
        .run(
            json!({ "url": server.ws("/ws/close"), "send": ["hi"], "expect": 3 }),
            ctx(),
        )
        .await?;
    assert_eq!(out["received"], json!(["bye"]), "{out}");
    assert_eq!(out["complete"], false);
    assert_eq!(out["closed"], true);
    // The close ended the wait; the 10 s timeout did not.
    assert!(started.elapsed() < Duration::from_secs(5));
    Ok(())
}

#[tokio::test]
async fn websocket_exchange_fails_on_messages_over_the_size_cap() -> anyhow::Result<()> {
    let server = Server::start().await?;
    let skill = WebSocketExchange::new(&ws_config(&["127.0.0.1"]))?;

    // Received: the exchange fails rather than pass a cut message off as whole.
    let result = skill
        .run(
            json!({ "url": server.ws("/ws/big"), "send": ["go"], "expect": 1 }),
            ctx(),
        )
        .await;
    match result {
        Err(SkillError::Failed(message)) => {
            assert!(message.contains("max_message_bytes"), "{message}");
            assert!(message.contains("127.0.0.1"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }

    // Sent: refused before connecting.
    let result = skill
        .run(
            json!({ "url": server.ws("/ws/echo"), "send": ["y".repeat(1001)] }),
            ctx(),
        )
        .await;
    assert!(
        matches!(result, Err(SkillError::InvalidArgs(_))),
        "{result:?}"
    );

    // Exactly at the cap is fine.
    let at_cap = "z".repeat(1000);
    let out = skill
        .run(
            json!({ "url": server.ws("/ws/echo"), "send": [at_cap] }),
            ctx(),
        )
        .await?;
    assert_eq!(out["received"], json!([at_cap]));
    Ok(())
}

#[tokio::test]
async fn websocket_exchange_refuses_hosts_off_the_allowlist_without_connecting()
-> anyhow::Result<()> {
    let (addr, connections) = counting_listener().await?;
    let port = addr.port();
    let skill = WebSocketExchange::new(&ws_config(&["127.0.0.1"]))?;

    for url in [
        format!("ws://localhost:{port}/ws"),
        format!("http://127.0.0.1:{port}/ws"),
    ] {
        let result = skill.run(json!({ "url": url, "send": ["x"] }), ctx()).await;
        assert!(matches!(result, Err(SkillError::Refused(_))), "{result:?}");
    }
    let nobody = WebSocketExchange::new(&ws_config(&[]))?;
    let result = nobody
        .run(json!({ "url": format!("ws://127.0.0.1:{port}/ws") }), ctx())
        .await;
    assert!(matches!(result, Err(SkillError::Refused(_))), "{result:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(connections.load(Ordering::SeqCst), 0);

    // The counter does count; and the failure names the host but not the query or headers.
    let result = skill
        .run(
            json!({
                "url": format!("ws://127.0.0.1:{port}/ws?token=sekrit-in-query"),
                "headers": { "Authorization": "Bearer hunter2-secret" },
            }),
            ctx(),
        )
        .await;
    match result {
        Err(SkillError::Failed(message)) => {
            assert!(message.contains("127.0.0.1"), "{message}");
            for secret in ["hunter2", "sekrit", "token="] {
                assert!(!message.contains(secret), "`{secret}` leaked: {message}");
            }
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    Ok(())
}

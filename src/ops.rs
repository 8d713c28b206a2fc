//! The operator's HTTP endpoints: `/healthz` (the process answers), `/readyz` (the store
//! answers in time and every channel is connected, or held by another instance) and `/metrics` (whatever the installed exporter renders, after the
//! gauges read from the store are brought up to date). The binary binds the listener and
//! installs the exporter; the library only routes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::channel::Links;
use crate::clock::SharedClock;
use crate::store::SharedStore;

/// How long a readiness probe waits for the store.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// At most this many plans are read to find the oldest open approval.
const APPROVAL_SCAN: usize = 500;

/// Renders the metrics in the exporter's text format (Prometheus text for the binary).
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Clone)]
struct Ops {
    store: SharedStore,
    links: Links,
    clock: SharedClock,
    render: RenderMetrics,
}

/// The routes, over `store` (probed for readiness and read for gauges) and the engine's
/// channel `links` (see [`crate::engine::Engine::links`]), with `render` producing the
/// `/metrics` body.
pub fn router(
    store: SharedStore,
    links: Links,
    clock: SharedClock,
    render: RenderMetrics,
) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(Ops {
            store,
            links,
            clock,
            render,
        })
}

/// Ready when the store answers within [`STORE_PROBE_TIMEOUT`] and every channel is
/// connected or on standby; the body says why not.
async fn ready(State(ops): State<Ops>) -> impl IntoResponse {
    let store = probe(&ops.store).await.map(|_| ());
    match store.and_then(|()| ops.links.readiness()) {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

/// The outbox depth, timed: one cheap round trip.
async fn probe(store: &SharedStore) -> Result<u64, String> {
    let started = tokio::time::Instant::now();
    let answer = tokio::time::timeout(STORE_PROBE_TIMEOUT, store.outbox_depth()).await;
    metrics::histogram!(crate::metrics::STORE_LATENCY).record(started.elapsed().as_secs_f64());
    match answer {
        Ok(Ok(depth)) => Ok(depth),
        Ok(Err(err)) => Err(format!("store unreachable: {err}")),
        Err(_) => Err(format!(
            "store did not answer within {STORE_PROBE_TIMEOUT:?}"
        )),
    }
}

async fn metrics(State(ops): State<Ops>) -> impl IntoResponse {
    if let Err(why) = refresh_gauges(&ops).await {
        tracing::warn!(error = %why, "metrics: gauges from the store are stale");
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        (ops.render)(),
    )
}

/// Sets the gauges that describe what waits in the store.
async fn refresh_gauges(ops: &Ops) -> Result<(), String> {
    let depth = probe(&ops.store).await?;
    metrics::gauge!(crate::metrics::OUTBOX_DEPTH).set(depth as f64);
    let now = ops.clock.now();
    let steps = ops
        .store
        .runnable_steps(now, 100_000)
        .await
        .map_err(|e| e.to_string())?;
    metrics::gauge!(crate::metrics::STEP_QUEUE).set(steps.len() as f64);
    let open = ops
        .store
        .plans_with_open_approvals()
        .await
        .map_err(|e| e.to_string())?;
    metrics::gauge!(crate::metrics::OPEN_APPROVALS).set(open.len() as f64);
    let mut oldest = None;
    for id in open.iter().take(APPROVAL_SCAN) {
        let Some(plan) = ops.store.plan(id).await.map_err(|e| e.to_string())? else {
            continue;
        };
        for approval in plan.approvals.iter().filter(|a| a.state.is_open()) {
            oldest = Some(
                oldest.map_or(approval.created_at, |o: crate::clock::Timestamp| {
                    o.min(approval.created_at)
                }),
            );
        }
    }
    let age = oldest.map_or(0.0, |t| now.since(t).as_secs_f64());
    metrics::gauge!(crate::metrics::OLDEST_APPROVAL_AGE).set(age);
    Ok(())
}

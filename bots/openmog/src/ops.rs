//! Serves the library's operator endpoints (`openmog::ops`) on `ops.listen`, with the
//! Prometheus exporter installed as the process's metrics recorder.

use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusBuilder;
use openmog::channel::Links;
use openmog::clock::SystemClock;
use openmog::config::OpsConfig;
use openmog::store::SharedStore;
use tokio_util::sync::CancellationToken;

/// The running endpoints (nothing when `ops.listen` is empty).
pub struct Ops {
    stop: CancellationToken,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// Installs the recorder and binds `ops.listen`; readiness follows `store` and `links`.
pub async fn start(config: &OpsConfig, store: &SharedStore, links: Links) -> anyhow::Result<Ops> {
    let stop = CancellationToken::new();
    let listen = config.listen.trim();
    if listen.is_empty() {
        return Ok(Ops { stop, server: None });
    }
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("ops.listen: cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let render: openmog::ops::RenderMetrics = Arc::new(move || handle.render());
    let router = openmog::ops::router(Arc::clone(store), links, Arc::new(SystemClock), render);
    let shutdown = stop.clone();
    let server = tokio::spawn(async move {
        let serving = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await });
        if let Err(err) = serving.await {
            tracing::error!(error = %err, "ops endpoints stopped");
        }
    });
    tracing::info!(%addr, "ops endpoints: /healthz /readyz /metrics");
    Ok(Ops {
        stop,
        server: Some(server),
    })
}

impl Ops {
    /// Stops serving.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Some(server) = self.server {
            let _ = server.await;
        }
    }
}

//! One MCP server: how to reach it ([`Target`]), a live session with it ([`Session`]), the
//! state its skills read ([`Connection`]), and the task that reconnects it with backoff
//! ([`supervise`]).

use crate::skills::shell::kill_group;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue};
use rmcp::ServiceExt;
use rmcp::service::{Peer, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigDuration, McpServerConfig};

/// The wait before the first reconnection attempt; it doubles after each one.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between reconnection attempts. A session that lasted this long counts
/// as healthy, so the next outage starts again from [`FIRST_BACKOFF`].
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long a closing session may take to end by itself before it is cut off (the
/// service loop) or killed (the process).
const STOP_GRACE: Duration = Duration::from_secs(2);
/// A server's stderr lines are logged cut to this many characters.
const STDERR_LINE_CHARS: usize = 1000;

/// How to reach a server, from its configuration, with the HTTP secret read from the
/// environment.
pub(super) enum Target {
    /// A program spoken to over its stdin and stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        env_allow: Vec<String>,
        env: BTreeMap<String, String>,
        cwd: Option<PathBuf>,
    },
    /// A streamable-HTTP endpoint.
    Http {
        url: String,
        header: Option<(HeaderName, Arc<SecretString>)>,
        client: reqwest::Client,
    },
}

// Written out so that nothing but names is ever shown: variables passed through may hold
// secrets, and the header's value always does.
impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Stdio {
                command,
                args,
                env_allow,
                env,
                cwd,
            } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .field("env_allow", env_allow)
                .field("env", &env.keys().collect::<Vec<_>>())
                .field("cwd", cwd)
                .finish(),
            Target::Http { url, header, .. } => f
                .debug_struct("Http")
                .field("url", url)
                .field("header", &header.as_ref().map(|(name, _)| name))
                .finish_non_exhaustive(),
        }
    }
}

impl Target {
    /// Resolves `config`: checks it, and for HTTP reads the header's value from
    /// `header_env` and builds the HTTP client. Errors never hold the secret.
    pub(super) fn resolve(config: &McpServerConfig, timeout: Duration) -> Result<Self, String> {
        if let Some((field, problem)) = config.problems().into_iter().next() {
            return Err(if field.is_empty() {
                problem
            } else {
                format!("`{field}`: {problem}")
            });
        }
        if let Some(command) = &config.command {
            return Ok(Target::Stdio {
                command: command.clone(),
                args: config.args.clone(),
                env_allow: config.env_allow.clone(),
                env: config.env.clone(),
                cwd: config.cwd.clone(),
            });
        }
        let url = config
            .url
            .clone()
            .ok_or_else(|| "give `command` or `url`".to_owned())?;
        let header = match (&config.header_name, &config.header_env) {
            (Some(name), Some(var)) => {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("`{name}` is not a header name"))?;
                let value = std::env::var(var).map_err(|_| {
                    format!("the environment variable `{var}` (header_env) is not set")
                })?;
                // Checked here, once, so that every later failure is about the server.
                HeaderValue::from_str(&value).map_err(|_| {
                    format!("the value of `{var}` (header_env) is not a valid header value")
                })?;
                Some((name, Arc::new(SecretString::from(value))))
            }
            _ => None,
        };
        // reqwest is built without a default crypto provider. An error here means a
        // provider is already installed for the process, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            // A redirect would replay the secret header to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            // No overall timeout: the server's event stream stays open for the whole
            // session. Each call has its own timeout.
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Target::Http {
            url,
            header,
            client,
        })
    }

    /// The secret this target sends, if any, to scrub from texts that may quote it.
    pub(super) fn secret(&self) -> Option<Arc<SecretString>> {
        match self {
            Target::Http {
                header: Some((_, secret)),
                ..
            } => Some(Arc::clone(secret)),
            _ => None,
        }
    }
}

/// `text` with every occurrence of `secret` replaced: a server may quote the header it
/// rejected in its answer, and that answer ends up in error messages.
pub(super) fn redact(text: String, secret: Option<&SecretString>) -> String {
    match secret.map(|secret| secret.expose_secret()) {
        Some(value) if !value.is_empty() && text.contains(value) => {
            text.replace(value, "[redacted]")
        }
        _ => text,
    }
}

/// A live session with a server: the peer to call, the rmcp service loop, and for stdio the
/// server's process.
pub(super) struct Session {
    peer: Peer<RoleClient>,
    /// Cancels the service loop.
    stop: CancellationToken,
    /// The service loop; it ends when the transport closes or `stop` is cancelled.
    ended: JoinHandle<()>,
    child: Option<Child>,
    /// The child's process group (its pid at spawn), kept because the pid is gone once the
    /// child is reaped, while processes it started may live on in the group.
    group: Option<u32>,
}

impl Session {
    fn new(
        service: RunningService<RoleClient, ()>,
        stop: CancellationToken,
        child: Option<Child>,
    ) -> Self {
        let peer = service.peer().clone();
        let ended = tokio::spawn(async move {
            let _ = service.waiting().await;
        });
        let group = child.as_ref().and_then(Child::id);
        Session {
            peer,
            stop,
            ended,
            child,
            group,
        }
    }

    /// The peer to send requests to.
    pub(super) fn peer(&self) -> Peer<RoleClient> {
        self.peer.clone()
    }

    /// Waits until this session is over, and says why: the process exited, the connection
    /// closed, a call found the server unreachable, or openmog is stopping.
    async fn lost(
        &mut self,
        connection: &Connection,
        epoch: u64,
        stop: &CancellationToken,
    ) -> String {
        let Session { child, ended, .. } = self;
        let exited = async {
            match child.as_mut() {
                Some(child) => match child.wait().await {
                    Ok(status) => format!("its process exited ({status})"),
                    Err(e) => format!("waiting for its process failed: {e}"),
                },
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = stop.cancelled() => "openmog is stopping".to_owned(),
            why = exited => why,
            _ = ended => "the connection closed".to_owned(),
            () = connection.lost(epoch) => "a call found it unreachable".to_owned(),
        }
    }

    /// Ends the session: stops the service loop (which closes the transport, and so the
    /// server's stdin), gives the process a moment to exit, then kills it.
    pub(super) async fn close(mut self) {
        self.stop.cancel();
        if !self.ended.is_finished()
            && tokio::time::timeout(STOP_GRACE, &mut self.ended)
                .await
                .is_err()
        {
            self.ended.abort();
        }
        if let Some(mut child) = self.child.take()
            && tokio::time::timeout(STOP_GRACE, child.wait())
                .await
                .is_err()
        {
            kill(&mut child).await;
        }
        // Whatever the server started dies with it, even after the server itself exited.
        if let Some(group) = self.group.take() {
            kill_group(group).await;
        }
    }
}

/// Opens a session with `target` (named `server` in logs), the MCP handshake included,
/// within `timeout`. Errors never hold the HTTP secret.
pub(super) async fn connect(
    server: &str,
    target: &Target,
    timeout: Duration,
) -> Result<Session, String> {
    match target {
        Target::Stdio {
            command,
            args,
            env_allow,
            env,
            cwd,
        } => {
            let mut cmd = Command::new(command);
            cmd.args(args)
                .env_clear()
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            for name in env_allow {
                if let Some(value) = std::env::var_os(name) {
                    cmd.env(name, value);
                }
            }
            cmd.envs(env);
            if let Some(dir) = cwd {
                cmd.current_dir(dir);
            }
            // Its own process group: a terminal's Ctrl-C does not reach it (openmog stops
            // it), and killing the group also stops what it started (e.g. `npx`'s node).
            #[cfg(unix)]
            cmd.process_group(0);
            let mut child = cmd
                .spawn()
                .map_err(|e| format!("cannot start `{command}`: {e}"))?;
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                kill(&mut child).await;
                return Err("the process has no stdin or stdout pipe".to_owned());
            };
            if let Some(stderr) = child.stderr.take() {
                tokio::spawn(log_stderr(server.to_owned(), stderr));
            }
            let stop = CancellationToken::new();
            let handshake = ().serve_with_ct((stdout, stdin), stop.clone());
            match tokio::time::timeout(timeout, handshake).await {
                Ok(Ok(service)) => Ok(Session::new(service, stop, Some(child))),
                Ok(Err(e)) => {
                    kill(&mut child).await;
                    Err(format!("the MCP handshake failed: {e}"))
                }
                Err(_) => {
                    stop.cancel();
                    kill(&mut child).await;
                    Err(format!(
                        "no MCP handshake within {}",
                        ConfigDuration(timeout)
                    ))
                }
            }
        }
        Target::Http {
            url,
            header,
            client,
        } => {
            let mut headers = HashMap::new();
            if let Some((name, secret)) = header {
                let mut value = HeaderValue::from_str(secret.expose_secret()).map_err(|_| {
                    "the header value from `header_env` is not a valid header value".to_owned()
                })?;
                // `Debug` of a sensitive value prints `Sensitive`, so no log shows it.
                value.set_sensitive(true);
                headers.insert(name.clone(), value);
            }
            let config =
                StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(headers);
            let transport = StreamableHttpClientTransport::with_client(client.clone(), config);
            let stop = CancellationToken::new();
            let handshake = ().serve_with_ct(transport, stop.clone());
            let secret = header.as_ref().map(|(_, secret)| &**secret);
            match tokio::time::timeout(timeout, handshake).await {
                Ok(Ok(service)) => Ok(Session::new(service, stop, None)),
                Ok(Err(e)) => Err(redact(
                    format!("the MCP handshake with {url} failed: {e}"),
                    secret,
                )),
                Err(_) => {
                    stop.cancel();
                    Err(format!(
                        "no MCP handshake with {url} within {}",
                        ConfigDuration(timeout)
                    ))
                }
            }
        }
    }
}

/// Kills the process and, on Unix, its whole process group.
async fn kill(child: &mut Child) {
    if let Some(pid) = child.id() {
        kill_group(pid).await;
    }
    let _ = child.kill().await;
}

/// Logs what a server writes to stderr, at debug level: MCP servers log there, and it is
/// where the reason for a crash usually is.
async fn log_stderr(server: String, stderr: ChildStderr) {
    // Read to the end whatever it writes (bytes, not text): a reader that stopped would
    // leave the server writing to a closed pipe. Lines are cut to a bounded length.
    let mut stderr = BufReader::new(stderr);
    let mut line: Vec<u8> = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        let read = match stderr.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &byte in &chunk[..read] {
            if byte == b'\n' {
                let text = String::from_utf8_lossy(&line);
                tracing::debug!(server = %server, "MCP server stderr: {text}");
                line.clear();
            } else if line.len() < STDERR_LINE_CHARS * 4 {
                line.push(byte);
            }
        }
    }
}

/// Whether a server is reachable now, and through which peer. `epoch` counts sessions, so
/// that a call can tell "its" session ended even when a new one has begun since.
struct Link {
    epoch: u64,
    peer: Option<Peer<RoleClient>>,
}

/// What a server's skills share: its name, the call timeout, and the current session's
/// peer, which the background task replaces after each reconnection.
pub(super) struct Connection {
    /// The server's name, as configured.
    pub(super) name: String,
    /// The longest wait for one tool call.
    pub(super) call_timeout: Duration,
    /// The HTTP secret, to scrub from the texts of errors.
    secret: Option<Arc<SecretString>>,
    link: watch::Sender<Link>,
}

impl Connection {
    /// A connection with no session yet.
    pub(super) fn new(
        name: String,
        call_timeout: Duration,
        secret: Option<Arc<SecretString>>,
    ) -> Self {
        let (link, _) = watch::channel(Link {
            epoch: 0,
            peer: None,
        });
        Connection {
            name,
            call_timeout,
            secret,
            link,
        }
    }

    /// The current session's epoch and peer, or `None` while the server is unreachable.
    pub(super) fn current(&self) -> Option<(u64, Peer<RoleClient>)> {
        let link = self.link.borrow();
        link.peer.clone().map(|peer| (link.epoch, peer))
    }

    /// Whether the server is reachable now.
    pub(super) fn is_connected(&self) -> bool {
        self.link.borrow().peer.is_some()
    }

    /// Resolves once session `epoch` is over.
    pub(super) async fn lost(&self, epoch: u64) {
        let mut link = self.link.subscribe();
        let _ = link
            .wait_for(|state| state.epoch != epoch || state.peer.is_none())
            .await;
    }

    /// Marks session `epoch` as over: a call found its transport broken. The background
    /// task sees it and reconnects.
    pub(super) fn mark_lost(&self, epoch: u64) {
        self.link.send_if_modified(|link| {
            let current = link.epoch == epoch && link.peer.is_some();
            if current {
                link.peer = None;
            }
            current
        });
    }

    /// Makes `peer` the current session's; returns the session's epoch.
    pub(super) fn publish(&self, peer: Peer<RoleClient>) -> u64 {
        let mut epoch = 0;
        self.link.send_modify(|link| {
            link.epoch += 1;
            link.peer = Some(peer);
            epoch = link.epoch;
        });
        epoch
    }

    /// `text` without this server's secret.
    pub(super) fn redact(&self, text: String) -> String {
        redact(text, self.secret.as_deref())
    }
}

/// Keeps `connection` connected until `stop`: waits for the session `epoch` to be lost,
/// closes it, and opens a new one, waiting 1 s before the first attempt and twice as long
/// after each (at most 60 s).
pub(super) async fn supervise(
    connection: Arc<Connection>,
    target: Target,
    mut session: Session,
    mut epoch: u64,
    stop: CancellationToken,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let began = Instant::now();
        let why = session.lost(&connection, epoch, &stop).await;
        connection.mark_lost(epoch);
        session.close().await;
        if stop.is_cancelled() {
            return;
        }
        let server = connection.name.as_str();
        tracing::warn!(server = %server, "MCP server lost: {why}; reconnecting in the background");
        if began.elapsed() >= MAX_BACKOFF {
            backoff = FIRST_BACKOFF;
        }
        session = loop {
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stop.cancelled() => return,
            }
            backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
            let attempt = tokio::select! {
                attempt = connect(server, &target, connection.call_timeout) => attempt,
                () = stop.cancelled() => return,
            };
            match attempt {
                Ok(session) => break session,
                Err(why) => tracing::warn!(
                    server = %server,
                    "reconnecting the MCP server failed: {why}; next attempt in {}",
                    ConfigDuration(backoff)
                ),
            }
        };
        epoch = connection.publish(session.peer());
        tracing::info!(server = %server, "MCP server reconnected");
    }
}

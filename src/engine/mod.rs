//! The engine: inbound events become plans, policy judges their steps, approvals are asked
//! and settled, ready steps run within limits, and everything said goes through the outbox.
//!
//! Every state change is a compare-and-swap of a whole plan ([`crate::store::Store::save_plan`])
//! together with the messages and audit events it causes, so a crash can never separate
//! them, and a second decision or a stale executor can never apply twice.

mod commands;
mod decide;
mod executor;
mod gate;
mod inbound;
#[cfg(feature = "mcp")]
mod learn;
mod lease;
mod message;
mod open;
mod progress;
mod render;
mod review;
mod status;
mod subagent;
mod sweep;
mod timers;
mod tx;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::channel::{InboundSink, Link, Links, Paced, SharedChannel};
use crate::clock::{SharedClock, SystemClock, Timestamp};
use crate::config::{Config, Pacing};
use crate::domain::{ApprovalId, PlanId, PlanRecord};
use crate::outbox::{OutboxSender, RetryPolicy};
use crate::planner::{Planner, RulePlanner};
use crate::policy::Policy;
use crate::skills::SkillRegistry;
use crate::store::{Effects, SaveOutcome, SharedStore};
use crate::{Error, Result};

pub use commands::{Command, parse as parse_command};
pub(crate) use tx::{Asker, Tx};

/// Builds an [`Engine`].
pub struct EngineBuilder {
    config: Config,
    store: Option<SharedStore>,
    planner: Option<Arc<dyn Planner>>,
    skills: Option<SkillRegistry>,
    channels: Vec<SharedChannel>,
    clock: SharedClock,
    poll: Duration,
    retry: RetryPolicy,
    instance: String,
}

impl EngineBuilder {
    /// The store (default: the one `store.url` names).
    pub fn store(mut self, store: SharedStore) -> Self {
        self.store = Some(store);
        self
    }

    /// The planner (default: the rule planner from `planner.rules`).
    pub fn planner(mut self, planner: Arc<dyn Planner>) -> Self {
        self.planner = Some(planner);
        self
    }

    /// The skills (default: the built-ins, configured from `skills`).
    pub fn skills(mut self, skills: SkillRegistry) -> Self {
        self.skills = Some(skills);
        self
    }

    /// Adds a channel. It is paced as `channels.<name>.pacing` says, or by its kind's
    /// defaults.
    pub fn channel<C: crate::channel::Channel>(mut self, channel: C) -> Self {
        let configured = self.config.channels.get(channel.name());
        let pacing = configured
            .and_then(|c| c.pacing)
            .unwrap_or_else(|| Pacing::default_for(configured.map_or("", |c| c.kind.as_str())));
        self.channels.push(Arc::new(Paced::new(channel, pacing)));
        self
    }

    /// Adds a channel as it is, without a pacing layer (it paces itself).
    pub fn channel_unpaced(mut self, channel: SharedChannel) -> Self {
        self.channels.push(channel);
        self
    }

    /// The wall clock (default: the system clock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// How often loops look for work they were not woken for (expired approvals, leases,
    /// retries). Default 1 s.
    pub fn poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Backoff for outbound retries.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// This engine's name in step leases (default: random).
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance = id.into();
        self
    }

    /// Builds the engine, opening the configured store if none was given.
    pub async fn build(self) -> Result<Engine> {
        let store = match self.store {
            Some(store) => store,
            None => crate::store::open(&self.config.store.url).await?,
        };
        let planner: Arc<dyn Planner> = match self.planner {
            Some(p) => p,
            None => configured_planner(&self.config, &store)?,
        };
        let mut skills = match self.skills {
            Some(s) => s,
            None => crate::skills::builtin(&self.config.skills)?,
        };
        if self.config.limits.max_subagents > 0 {
            skills.register(crate::skills::Subagent);
        }
        // The skills that keep state keep it in this engine's store.
        skills
            .register(crate::skills::Remember::new(
                Arc::clone(&store),
                Arc::clone(&self.clock),
            ))
            .register(crate::skills::Recall::new(Arc::clone(&store)))
            .register(crate::skills::ScheduleAt::new(
                Arc::clone(&store),
                Arc::clone(&self.clock),
            ))
            .register(crate::skills::ScheduleEvery::new(
                Arc::clone(&store),
                Arc::clone(&self.clock),
            ))
            .register(crate::skills::ScheduleList::new(Arc::clone(&store)))
            .register(crate::skills::ScheduleCancel::new(Arc::clone(&store)))
            .register(crate::skills::MessageSend);
        let has_email = self.channels.iter().any(|c| {
            self.config
                .channels
                .get(c.name())
                .is_some_and(|configured| configured.kind == "email")
        });
        if has_email {
            skills.register(crate::skills::EmailSend);
        }
        #[cfg(feature = "mcp")]
        let mut mcp = Vec::new();
        #[cfg(feature = "mcp")]
        {
            if !self.config.skills.mcp.servers.is_empty() {
                mcp.push(crate::skills::mcp::connect_all(&self.config.skills.mcp).await);
            }
            if let Some(learned) = learn::reconnect(&store, &self.config.skills.mcp).await {
                mcp.push(learned);
            }
            for servers in &mcp {
                servers.register(&mut skills);
            }
            skills.register(crate::skills::AddMcpServer);
        }
        skills.limit(&self.config.skills.limits);
        let policy = Policy::new(&self.config)?
            .with_risks(skills.iter().map(|s| (s.name().to_owned(), s.risk())));
        let channels: BTreeMap<String, SharedChannel> = self
            .channels
            .into_iter()
            .map(|c| (c.name().to_owned(), c))
            .collect();
        Ok(Engine {
            inner: Arc::new(Inner {
                step_slots: Arc::new(Semaphore::new(self.config.limits.max_concurrent_steps)),
                gate: gate::Gate::new(
                    &self.config.limits.inbound,
                    &self.config.authorizations.unknown_senders,
                ),
                subagent_slots: Arc::new(Semaphore::new(self.config.limits.max_subagents)),
                config: self.config,
                policy,
                store,
                planner,
                skills: std::sync::RwLock::new(Arc::new(skills)),
                channels: Arc::new(channels),
                clock: self.clock,
                poll: self.poll,
                retry: self.retry,
                instance: self.instance,
                inbox_wake: Arc::new(Notify::new()),
                work_wake: Arc::new(Notify::new()),
                outbox_wake: Arc::new(Notify::new()),
                links: Links::new(),
                running: std::sync::Mutex::new(BTreeMap::new()),
                #[cfg(feature = "mcp")]
                mcp: std::sync::Mutex::new(mcp),
            }),
        })
    }
}

/// The planner `config` names: the rules, or (with the `llm` feature) a language model with
/// the rules as its fallback.
#[cfg_attr(not(feature = "llm"), allow(unused_variables))]
fn configured_planner(config: &Config, store: &SharedStore) -> Result<Arc<dyn Planner>> {
    let rules = RulePlanner::new(&config.planner.rules)?;
    #[cfg(feature = "llm")]
    if config.planner.kind == "llm"
        && let Some(llm) = &config.planner.llm
    {
        // reqwest is built without a default crypto provider; an error here means one is
        // already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().build().map_err(|err| {
            crate::Error::Config(format!("planner.llm: cannot build the HTTP client: {err}"))
        })?;
        let planner = crate::planner::LlmPlanner::new(
            llm,
            &config.purpose,
            rules,
            http,
            Some(Arc::clone(store)),
        )?;
        return Ok(Arc::new(planner));
    }
    Ok(Arc::new(rules))
}

/// The core engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: Config,
    policy: Policy,
    store: SharedStore,
    planner: Arc<dyn Planner>,
    /// The skills; replaced whole when one is learned at run time.
    skills: std::sync::RwLock<Arc<SkillRegistry>>,
    channels: tx::Channels,
    clock: SharedClock,
    poll: Duration,
    retry: RetryPolicy,
    instance: String,
    step_slots: Arc<Semaphore>,
    /// Child plans being waited for at once (`limits.max_subagents`).
    subagent_slots: Arc<Semaphore>,
    /// Inbound sizes and rates, and answers to unknown senders.
    gate: gate::Gate,
    inbox_wake: Arc<Notify>,
    work_wake: Arc<Notify>,
    outbox_wake: Arc<Notify>,
    /// Whether each channel is connected, for readiness.
    links: Links,
    /// Cancellation of steps running in this process, so `cancel` stops them.
    running: std::sync::Mutex<BTreeMap<(PlanId, String), CancellationToken>>,
    /// The MCP servers whose tools are skills (configured, and learned): kept while the
    /// engine lives.
    #[cfg(feature = "mcp")]
    mcp: std::sync::Mutex<Vec<crate::skills::mcp::McpServers>>,
}

impl Engine {
    /// A builder for an engine with `config`.
    pub fn builder(config: Config) -> EngineBuilder {
        EngineBuilder {
            config,
            store: None,
            planner: None,
            skills: None,
            channels: Vec::new(),
            clock: Arc::new(SystemClock),
            poll: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            instance: format!("openmog-{}", crate::domain::new_short_id(8)),
        }
    }

    /// The store.
    pub fn store(&self) -> &SharedStore {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// A sink that stores events for `channel` into this engine's inbox (for adapters
    /// driven from outside, e.g. webhooks).
    pub fn sink(&self, channel: &str) -> InboundSink {
        InboundSink::new(
            channel,
            Arc::clone(&self.inner.store),
            Arc::clone(&self.inner.clock),
            Arc::clone(&self.inner.inbox_wake),
        )
        .reporting_to(self.inner.links.clone())
    }

    /// Whether each channel is connected (for readiness probes and status).
    pub fn links(&self) -> &Links {
        &self.inner.links
    }

    /// Starts the receive loops, the inbox processor, the executor, the expiry sweeper and
    /// one outbox sender per channel. Dropping the returned handle aborts them all, as a
    /// crash would; [`RunningEngine::shutdown`] stops them gracefully.
    pub fn start(&self) -> RunningEngine {
        let intake = CancellationToken::new();
        let sending = CancellationToken::new();
        let mut receivers = JoinSet::new();
        let mut workers = JoinSet::new();
        let mut senders = JoinSet::new();
        for (name, channel) in self.inner.channels.iter() {
            let receiver = Arc::clone(channel);
            let sink = self.sink(name);
            let channel_name = name.clone();
            let (links, shutdown) = (self.inner.links.clone(), intake.clone());
            let receive = move |token: CancellationToken| {
                let (receiver, sink, name) =
                    (Arc::clone(&receiver), sink.clone(), channel_name.clone());
                let (links, shutdown) = (links.clone(), shutdown.clone());
                async move {
                    links.set(&name, Link::Connecting);
                    let ended = receiver.receive(sink, token.clone()).await;
                    let link = match ended {
                        Err(err) => {
                            tracing::error!(channel = %name, error = %err, "receive loop ended");
                            Link::Down(format!("receive loop ended: {err}"))
                        }
                        // Cancelled without a shutdown: the lease went to another instance.
                        Ok(()) if token.is_cancelled() && !shutdown.is_cancelled() => Link::Standby,
                        Ok(()) => Link::Stopped,
                    };
                    links.set(&name, link);
                }
            };
            let waits_for_lease = !channel.receives_everywhere() && self.inner.store.is_shared();
            self.inner.links.set(
                name,
                if waits_for_lease {
                    Link::Standby
                } else {
                    Link::Connecting
                },
            );
            if channel.receives_everywhere() {
                receivers.spawn(receive(intake.clone()));
            } else {
                receivers.spawn(lease::hold(
                    Arc::clone(&self.inner),
                    format!("channel:{name}:receive"),
                    intake.clone(),
                    receive,
                ));
            }
            let (inner, channel) = (Arc::clone(&self.inner), Arc::clone(channel));
            let send = move |token: CancellationToken| {
                OutboxSender::new(
                    Arc::clone(&channel),
                    Arc::clone(&inner.store),
                    Arc::clone(&inner.clock),
                    Arc::clone(&inner.outbox_wake),
                    inner.retry,
                    inner.poll,
                )
                .run(token)
            };
            // One sender per channel across instances: the platform's limits are one
            // budget, so they are paced in one place.
            senders.spawn(lease::hold(
                Arc::clone(&self.inner),
                format!("channel:{name}:send"),
                sending.clone(),
                send,
            ));
        }
        let inner = Arc::clone(&self.inner);
        workers.spawn(lease::hold(
            Arc::clone(&self.inner),
            "inbox".to_owned(),
            intake.clone(),
            move |token| inbound::run(Arc::clone(&inner), token),
        ));
        workers.spawn(executor::run(Arc::clone(&self.inner), intake.clone()));
        workers.spawn(sweep::run(Arc::clone(&self.inner), intake.clone()));
        workers.spawn(timers::run(Arc::clone(&self.inner), intake.clone()));
        if let Some(review) = self.inner.config.planner.review.clone() {
            let inner = Arc::clone(&self.inner);
            workers.spawn(lease::hold(
                Arc::clone(&self.inner),
                "review".to_owned(),
                intake.clone(),
                move |token| review::run(Arc::clone(&inner), review.clone(), token),
            ));
        }
        if let Some(wakeups) = self.inner.store.wakeups() {
            workers.spawn(forward_wakeups(
                Arc::clone(&self.inner),
                wakeups,
                intake.clone(),
            ));
        }
        RunningEngine {
            inner: Arc::clone(&self.inner),
            intake,
            sending,
            receivers,
            workers,
            senders,
        }
    }

    /// Replaces a plan's steps with a new version (e.g. from a replanning planner):
    /// unchanged steps keep their state and approvals; removed or changed steps' open
    /// approvals are superseded; new and changed steps are judged and asked again.
    pub async fn replan(&self, plan: &PlanId, draft: crate::domain::PlanDraft) -> Result<()> {
        if let Err(problems) = crate::planner::validate_draft(
            &draft,
            &self.inner.skills(),
            self.inner.config.limits.max_steps_per_plan,
        ) {
            return Err(Error::InvalidPlan(problems.join("; ")));
        }
        let inner = &self.inner;
        inner
            .update_plan(plan, |plan, tx| {
                if plan.state.is_terminal() {
                    return Change::Skip(Err(Error::InvalidPlan(format!(
                        "plan {} is already {}",
                        plan.id,
                        plan.state.as_str()
                    ))));
                }
                progress::apply_replan(inner, plan, &draft, tx);
                progress::advance(inner, plan, tx);
                Change::Save(Ok(()))
            })
            .await?
    }
}

/// A started engine. Dropping it aborts every task without a graceful stop.
pub struct RunningEngine {
    inner: Arc<Inner>,
    intake: CancellationToken,
    sending: CancellationToken,
    /// Channel receive loops: they end on shutdown, or when their channel closes.
    receivers: JoinSet<()>,
    /// Inbox processor, executor and sweeper: they end only on shutdown.
    workers: JoinSet<()>,
    /// Outbox senders: stopped last, after the outbox drained.
    senders: JoinSet<()>,
}

impl RunningEngine {
    /// Stops taking work, waits up to `grace` for running steps and the outbox to drain,
    /// then stops. Whatever is left stays in the store for the next start.
    pub async fn shutdown(mut self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        self.intake.cancel();
        join_until(&mut self.receivers, deadline).await;
        join_until(&mut self.workers, deadline).await;
        while tokio::time::Instant::now() < deadline {
            match self.inner.store.outbox_depth().await {
                Ok(0) | Err(_) => break,
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        self.sending.cancel();
        join_until(&mut self.senders, deadline).await;
        #[cfg(feature = "mcp")]
        {
            let servers = std::mem::take(
                &mut *self
                    .inner
                    .mcp
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            for servers in servers {
                servers.shutdown().await;
            }
        }
        // Whatever did not stop in time is aborted when the sets drop.
    }

    /// Waits, up to `patience`, until nothing is left to do without new input: the inbox
    /// is handled, no step runs or is due, and the outbox is empty (plans waiting for a
    /// decision stay waiting). For a conversation whose input ended, e.g. piped into
    /// `openmog chat`, so its answers are sent before the engine stops.
    pub async fn settle(&self, patience: Duration) {
        // Work moves between the inbox, the steps and the outbox in separate
        // transactions; only a quiet spell of several looks in a row counts as settled.
        const QUIET_LOOKS: u32 = 5;
        let deadline = tokio::time::Instant::now() + patience;
        let mut quiet = 0;
        while quiet < QUIET_LOOKS && tokio::time::Instant::now() < deadline {
            quiet = if self.is_idle().await { quiet + 1 } else { 0 };
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn is_idle(&self) -> bool {
        let inner = &self.inner;
        let running = inner.running.lock().map_or(1, |r| r.len());
        let now = inner.clock.now();
        running == 0
            && matches!(inner.store.inbox_pending(1).await, Ok(v) if v.is_empty())
            && matches!(inner.store.runnable_steps(now, 1).await, Ok(v) if v.is_empty())
            && matches!(inner.store.outbox_depth().await, Ok(0))
    }

    /// Resolves when every channel's receive loop has ended on its own (e.g. the terminal's
    /// input closed).
    pub async fn channels_closed(&mut self) {
        while self.receivers.join_next().await.is_some() {}
    }
}

/// Wakes every loop of this engine when another process sharing the store changed
/// something (the loops then look at the store again).
async fn forward_wakeups(
    inner: Arc<Inner>,
    mut wakeups: tokio::sync::broadcast::Receiver<()>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            received = wakeups.recv() => {
                if let Err(tokio::sync::broadcast::error::RecvError::Closed) = received {
                    return;
                }
                // Lagged or not, one wake-up makes every loop look again.
                inner.inbox_wake.notify_waiters();
                inner.work_wake.notify_waiters();
                inner.outbox_wake.notify_waiters();
            }
            () = stop.cancelled() => return,
        }
    }
}

/// Joins the tasks of `set` that end before `deadline`.
async fn join_until(set: &mut JoinSet<()>, deadline: tokio::time::Instant) {
    while let Ok(Some(_)) = tokio::time::timeout_at(deadline, set.join_next()).await {}
}

/// What a plan update decided: save the changed plan, or leave it as it was.
pub(crate) enum Change<T> {
    Save(T),
    Skip(T),
}

impl Inner {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Loads a plan, lets `f` change it, and saves it if its revision is unchanged; on a
    /// conflict, loads it again and retries. Runs in a `plan` span.
    async fn update_plan<T>(
        &self,
        id: &PlanId,
        f: impl FnMut(&mut PlanRecord, &mut Tx) -> Change<T>,
    ) -> Result<T> {
        let span = tracing::debug_span!("plan", plan = %id);
        tracing::Instrument::instrument(self.update_plan_inner(id, f), span).await
    }

    async fn update_plan_inner<T>(
        &self,
        id: &PlanId,
        mut f: impl FnMut(&mut PlanRecord, &mut Tx) -> Change<T>,
    ) -> Result<T> {
        for _ in 0..64 {
            let Some(mut plan) = self.store.plan(id).await? else {
                return Err(Error::NotFound(format!("plan {id}")));
            };
            let revision = plan.revision;
            let now = self.now();
            let mut tx = self.tx(format!("{id}:r{}", revision + 1), now);
            let open_before: Vec<ApprovalId> = plan
                .approvals
                .iter()
                .filter(|a| a.state.is_open())
                .map(|a| a.id.clone())
                .collect();
            match f(&mut plan, &mut tx) {
                Change::Skip(out) => {
                    // Nothing was saved, so the next save will use this revision's key
                    // prefix: these messages need keys of their own. Keys only need to be
                    // unique — the effects commit atomically with the inbox item they
                    // answer, so an event is never answered twice.
                    let prefix =
                        format!("{id}:r{revision}:skip-{}", crate::domain::new_short_id(6));
                    for (i, message) in tx.effects.outbox.iter_mut().enumerate() {
                        message.idempotency_key = format!("{prefix}:{i}");
                    }
                    self.apply(&tx.effects).await?;
                    return Ok(out);
                }
                Change::Save(out) => {
                    plan.updated_at = now;
                    status::show_settled(&open_before, &plan, self.policy.directory(), &mut tx);
                    match self
                        .store
                        .save_plan(&plan, Some(revision), &tx.effects, now)
                        .await?
                    {
                        SaveOutcome::Saved => {
                            self.after_write(&tx.effects);
                            return Ok(out);
                        }
                        SaveOutcome::Conflict => continue,
                    }
                }
            }
        }
        Err(Error::Store(format!(
            "plan {id} is changing too fast to update"
        )))
    }

    /// Applies effects that go with no plan change.
    async fn apply(&self, effects: &Effects) -> Result<()> {
        if effects == &Effects::none() {
            return Ok(());
        }
        self.store.apply(effects, self.now()).await?;
        self.after_write(effects);
        Ok(())
    }

    fn after_write(&self, effects: &Effects) {
        if !effects.outbox.is_empty() {
            self.outbox_wake.notify_waiters();
        }
        self.work_wake.notify_waiters();
    }

    /// Effects of a transition whose messages are keyed `prefix:n`.
    fn tx(&self, prefix: String, now: Timestamp) -> Tx {
        Tx::new(prefix, now, Arc::clone(&self.channels))
    }

    /// The skills as they are now.
    fn skills(&self) -> Arc<SkillRegistry> {
        Arc::clone(
            &self
                .skills
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Keeps MCP servers learned at run time alive with the engine.
    #[cfg(feature = "mcp")]
    fn keep_mcp(&self, servers: crate::skills::mcp::McpServers) {
        self.mcp
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(servers);
    }

    /// Adds skills learned at run time.
    #[cfg_attr(not(feature = "mcp"), allow(dead_code))]
    fn learn(&self, add: impl FnOnce(&mut SkillRegistry)) {
        let mut skills = self
            .skills
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = SkillRegistry::clone(&skills);
        add(&mut next);
        *skills = Arc::new(next);
    }

    fn has_channel(&self, name: &str) -> bool {
        self.channels.contains_key(name)
    }

    /// Stops the steps of `plan` running in this process (after the plan was cancelled).
    fn stop_running(&self, plan: &PlanId) {
        if let Ok(mut running) = self.running.lock() {
            running.retain(|(p, _), token| {
                if p == plan {
                    token.cancel();
                }
                p != plan
            });
        }
    }
}

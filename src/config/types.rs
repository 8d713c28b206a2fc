//! The configuration's shape. Every struct refuses unknown keys.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ConfigDuration, FileSkillConfig, McpConfig, Rate, WebSocketSkillConfig};
use crate::domain::{OnTimeout, PostCondition};

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What the agent is for, in plain words; shown by `help`.
    #[serde(default)]
    pub purpose: String,
    /// People the agent knows: their roles and their address on each channel.
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// Who may chat, and what runs on its own, needs approval, or is forbidden.
    #[serde(default)]
    pub authorizations: Authorizations,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// Channels by name (the name is what contacts' addresses refer to).
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelConfig>,
    /// Where state is kept.
    #[serde(default)]
    pub store: StoreConfig,
    /// How requests become plans.
    #[serde(default)]
    pub planner: PlannerConfig,
    /// Settings of the built-in skills.
    #[serde(default)]
    pub skills: SkillsConfig,
    /// Where the encrypted vault of secrets is, and what unlocks it.
    #[serde(default)]
    pub vault: VaultConfig,
    /// The operator's endpoints and how `openmog run` stops.
    #[serde(default)]
    pub ops: OpsConfig,
}

/// Health, readiness and metrics over HTTP, and graceful shutdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpsConfig {
    /// Where `openmog run` serves `/healthz`, `/readyz` and `/metrics`; empty turns them
    /// off. Loopback by default: the metrics name channels and skills.
    #[serde(default = "default_ops_listen")]
    pub listen: String,
    /// On SIGTERM or Ctrl-C: how long running steps and the outbox get to finish before
    /// the process exits (what is left stays in the store for the next start).
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: ConfigDuration,
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            listen: default_ops_listen(),
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

fn default_ops_listen() -> String {
    "127.0.0.1:9464".to_owned()
}

fn default_shutdown_grace() -> ConfigDuration {
    ConfigDuration::secs(10)
}

/// The vault: secrets that settings name as `vault:NAME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// The age-encrypted vault file. It is opened at start when it exists.
    #[serde(default = "default_vault_path")]
    pub path: PathBuf,
    /// An age identity file that unlocks the vault. Without it, the passphrase is read
    /// from `OPENMOG_VAULT_PASSPHRASE`, or asked for on a terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<PathBuf>,
}

impl Default for VaultConfig {
    fn default() -> Self {
        VaultConfig {
            path: default_vault_path(),
            identity: None,
        }
    }
}

fn default_vault_path() -> PathBuf {
    PathBuf::from(".openmog/vault.age")
}

/// A person the agent knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Stable id, used in authorizations (e.g. `alice`).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Roles, used in authorizations as `role:NAME`.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The platform user id on each channel, by channel name (e.g. `telegram = "123456"`).
    #[serde(default)]
    pub addresses: BTreeMap<String, String>,
    /// The channel to reach them on when they are not in the conversation.
    #[serde(default)]
    pub preferred: Option<String>,
}

/// Who may chat and what needs whose approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Authorizations {
    /// Who may make requests: `role:NAME`, a contact id, or `*` for every known contact.
    /// Kept apart from approvers: being allowed to chat never lets anyone approve.
    #[serde(default = "default_chat")]
    pub chat: Vec<String>,
    /// Rules, first match wins. A step that no rule matches is judged by `unmatched`.
    #[serde(default)]
    pub rules: Vec<AuthorizationRule>,
    /// What happens to a step no rule matches.
    #[serde(default)]
    pub unmatched: Unmatched,
    /// Also send approval requests to each approver on their preferred channel when it
    /// differs from the conversation's.
    #[serde(default = "yes")]
    pub notify_approvers_directly: bool,
    /// What happens when someone who is no contact writes.
    #[serde(default)]
    pub unknown_senders: UnknownSenders,
}

/// The policy for senders whose platform user id no contact has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnknownSenders {
    /// `ignore` (audit only), `answer` ("not authorized", with their channel and user id),
    /// or `pair` (a one-time code an owner confirms with `openmog contacts pair CODE --as
    /// CONTACT`).
    #[serde(default)]
    pub policy: UnknownPolicy,
    /// At most this many answers to one unknown sender (the rest are audited only).
    #[serde(default = "default_unknown_answers")]
    pub answers: Rate,
    /// How long a pairing code can be confirmed.
    #[serde(default = "default_pairing_ttl")]
    pub pairing_ttl: ConfigDuration,
}

impl Default for UnknownSenders {
    fn default() -> Self {
        UnknownSenders {
            policy: UnknownPolicy::default(),
            answers: default_unknown_answers(),
            pairing_ttl: default_pairing_ttl(),
        }
    }
}

fn default_unknown_answers() -> Rate {
    Rate::parse("2/h").expect("valid")
}

fn default_pairing_ttl() -> ConfigDuration {
    ConfigDuration::secs(3600)
}

/// What an unknown sender gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnknownPolicy {
    /// Nothing: the message is audited and dropped.
    Ignore,
    /// A reply saying they are not authorized, naming their channel and user id.
    #[default]
    Answer,
    /// A one-time pairing code for an owner to confirm.
    Pair,
}

/// The policy for a step no authorization rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unmatched {
    /// By the skill's risk: `low` runs on its own; `medium` needs an owner's approval (the
    /// whole plan may be approved at once); `high` needs an owner's approval for each step.
    #[default]
    ByRisk,
    /// Forbidden: the rules are an allowlist.
    Forbid,
}

impl Default for Authorizations {
    fn default() -> Self {
        Authorizations {
            chat: default_chat(),
            rules: Vec::new(),
            unmatched: Unmatched::default(),
            notify_approvers_directly: true,
            unknown_senders: UnknownSenders::default(),
        }
    }
}

fn default_chat() -> Vec<String> {
    vec!["*".to_owned()]
}

fn yes() -> bool {
    true
}

/// What a matching rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleDecision {
    /// Run without asking.
    Auto,
    /// Ask `approvers`.
    Approve,
    /// Never run.
    Forbid,
}

/// One authorization rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationRule {
    /// Skill-name pattern; `*` matches any run of characters (e.g. `http.*`).
    pub skill: String,
    /// Conditions on the step's arguments; all must hold for the rule to match.
    #[serde(default)]
    pub when: Vec<ArgCondition>,
    /// What happens to a matching step.
    pub decision: RuleDecision,
    /// With `approve`: who may decide, as `role:NAME` or contact ids.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// With `approve`: how many distinct approvers must approve.
    #[serde(default = "one")]
    pub quorum: u32,
    /// With `approve`: how long the request stays open.
    #[serde(default = "default_approval_timeout")]
    pub timeout: ConfigDuration,
    /// With `approve`: what a timeout does (`deny`, or `park` the plan until someone answers).
    #[serde(default)]
    pub on_timeout: OnTimeout,
    /// With `approve`: an approver may approve every step of the plan this rule covers at once.
    #[serde(default)]
    pub whole_plan: bool,
    /// With `forbid`: the reason shown to the user.
    #[serde(default)]
    pub reason: Option<String>,
}

fn one() -> u32 {
    1
}

pub(crate) fn default_approval_timeout() -> ConfigDuration {
    ConfigDuration::secs(3600)
}

/// A condition on one argument of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArgCondition {
    /// Dot-separated path into the arguments (e.g. `command` or `headers.host`).
    pub arg: String,
    /// The argument equals this value.
    #[serde(default)]
    pub equals: Option<Value>,
    /// The argument, as text, matches this regular expression.
    #[serde(default)]
    pub matches: Option<String>,
}

/// Resource limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Steps running at once in this process.
    #[serde(default = "default_concurrent_steps")]
    pub max_concurrent_steps: usize,
    /// Child plans running at once (used by planners that delegate sub-goals).
    #[serde(default = "default_subagents")]
    pub max_subagents: usize,
    /// A step running longer is stopped and fails.
    #[serde(default = "default_step_timeout")]
    pub step_timeout: ConfigDuration,
    /// Plan budget: the most steps one plan may have.
    #[serde(default = "default_max_steps")]
    pub max_steps_per_plan: usize,
    /// Plan budget: a plan still active after this long is cancelled.
    #[serde(default = "default_plan_timeout")]
    pub plan_timeout: ConfigDuration,
    /// Limits on what arrives.
    #[serde(default)]
    pub inbound: InboundLimits,
}

/// Limits on inbound events, checked before anything else looks at them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundLimits {
    /// Events from one sender (a platform user id on one channel), with a burst of the
    /// whole count.
    #[serde(default = "default_inbound_per_sender")]
    pub per_sender: Rate,
    /// Events in one conversation, whoever sends them.
    #[serde(default = "default_inbound_per_conversation")]
    pub per_conversation: Rate,
    /// The longest message text accepted, in bytes (attachments are limited by each
    /// adapter, e.g. the email adapter's `max_attachment_bytes`).
    #[serde(default = "default_max_text_bytes")]
    pub max_text_bytes: usize,
}

impl Default for InboundLimits {
    fn default() -> Self {
        InboundLimits {
            per_sender: default_inbound_per_sender(),
            per_conversation: default_inbound_per_conversation(),
            max_text_bytes: default_max_text_bytes(),
        }
    }
}

fn default_inbound_per_sender() -> Rate {
    Rate::per_minute(20)
}
fn default_inbound_per_conversation() -> Rate {
    Rate::per_minute(60)
}
fn default_max_text_bytes() -> usize {
    16 * 1024
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent_steps: default_concurrent_steps(),
            max_subagents: default_subagents(),
            step_timeout: default_step_timeout(),
            max_steps_per_plan: default_max_steps(),
            plan_timeout: default_plan_timeout(),
            inbound: InboundLimits::default(),
        }
    }
}

fn default_concurrent_steps() -> usize {
    4
}
fn default_subagents() -> usize {
    2
}
fn default_step_timeout() -> ConfigDuration {
    ConfigDuration::secs(300)
}
fn default_max_steps() -> usize {
    20
}
fn default_plan_timeout() -> ConfigDuration {
    ConfigDuration::secs(86_400)
}

/// One configured channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// The adapter: `terminal` here; adapter crates add `telegram`, `discord`, `email`.
    pub kind: String,
    /// Whether `openmog run` starts it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Outbound pacing; defaults depend on the kind.
    #[serde(default)]
    pub pacing: Option<Pacing>,
    /// Adapter-specific settings, validated by the adapter.
    #[serde(default)]
    pub settings: BTreeMap<String, Value>,
}

/// Outbound message pacing for one channel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pacing {
    /// Messages to one conversation.
    pub per_conversation: Rate,
    /// Messages through the whole channel.
    pub per_channel: Rate,
    /// Messages to one group chat, on top of `per_conversation` (all its topics together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_group: Option<Rate>,
    /// A hard cap through the whole channel over a long window, e.g. `500/d` for a mail
    /// provider's daily sending limit: never more than the count in any window of that
    /// length (half of it may go in a burst, the other half refills steadily).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Rate>,
}

impl Pacing {
    /// The published limits of each platform, or generous ones for local channels.
    pub fn default_for(kind: &str) -> Pacing {
        match kind {
            "telegram" => Pacing {
                per_conversation: Rate::per_second(1),
                per_channel: Rate::per_second(30),
                per_group: Some(Rate::per_minute(20)),
                cap: None,
            },
            "discord" => Pacing {
                per_conversation: Rate::parse("5/5s").expect("valid"),
                per_channel: Rate::per_second(50),
                per_group: None,
                cap: None,
            },
            "email" => Pacing {
                per_conversation: Rate::per_minute(10),
                per_channel: Rate::per_minute(20),
                per_group: None,
                cap: Some(Rate::parse("500/d").expect("valid")),
            },
            _ => Pacing {
                per_conversation: Rate::per_second(50),
                per_channel: Rate::per_second(200),
                per_group: None,
                cap: None,
            },
        }
    }
}

/// Where state is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` (created if missing), `postgres://USER@HOST/DB` (shared by several
    /// instances) or `memory:` (lost on exit).
    #[serde(default = "default_store_url")]
    pub url: String,
    /// On a shared store: how long a lease on a channel connection or the inbox lasts
    /// unrenewed, so how soon another instance takes over from one that died.
    #[serde(default = "default_lease")]
    pub lease: ConfigDuration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: default_store_url(),
            lease: default_lease(),
        }
    }
}

fn default_lease() -> ConfigDuration {
    ConfigDuration::secs(10)
}

fn default_store_url() -> String {
    "sqlite://.openmog/openmog.db".to_owned()
}

/// How requests become plans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannerConfig {
    /// The planner: `rules` (deterministic, the default) or `llm` (a language model, with
    /// the rules as its fallback; needs the `llm` feature).
    #[serde(default = "default_planner_kind")]
    pub kind: String,
    /// Rules of the rule planner, tried in order.
    #[serde(default)]
    pub rules: Vec<PlanRule>,
    /// The language model, for `kind = "llm"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmConfig>,
    /// Purpose review (off when absent): on a schedule the planner reviews the purpose,
    /// recent and open work, and may propose a plan to the owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewConfig>,
}

/// When and to whom the planner proposes plans of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    /// How often, e.g. `1d`. A review is skipped while nothing has happened since the last
    /// one, or while an earlier proposal is still open.
    pub every: ConfigDuration,
    /// The contact the proposals go to (on their preferred channel); every step of a
    /// proposal needs at least their approval.
    pub owner: String,
    /// How long the owner has to approve a proposal's step before it lapses.
    #[serde(default = "default_proposal_timeout")]
    pub proposal_timeout: ConfigDuration,
}

fn default_proposal_timeout() -> ConfigDuration {
    ConfigDuration::secs(86_400)
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            kind: default_planner_kind(),
            rules: Vec::new(),
            llm: None,
            review: None,
        }
    }
}

/// Which API a language model speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LlmProvider {
    /// OpenAI's chat completions, as OpenAI, Ollama, vLLM and llama.cpp's server speak it.
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
}

/// A language-model planner's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// The API it speaks.
    pub provider: LlmProvider,
    /// The model, e.g. `gpt-4o-mini`, `claude-sonnet-4-5`, `qwen2.5:7b`.
    pub model: String,
    /// The API's base URL, ending in `/v1/` (default: the provider's public API; for
    /// Ollama `http://localhost:11434/v1/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The environment variable holding the API key (none for a local server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// How often the model may try to produce a valid plan for one request.
    #[serde(default = "default_llm_tries")]
    pub max_tries: u32,
    /// How long one model call may take.
    #[serde(default = "default_llm_timeout")]
    pub timeout: ConfigDuration,
    /// Tokens (prompt and answer) one request may use for planning, over all tries.
    #[serde(default = "default_tokens_per_plan")]
    pub max_tokens_per_plan: u64,
    /// Tokens all planning may use per day (UTC); then the rule planner answers.
    #[serde(default = "default_tokens_per_day")]
    pub max_tokens_per_day: u64,
    /// Earlier plans of the same conversation the model is shown, at most.
    #[serde(default = "default_memory_plans")]
    pub memory_plans: usize,
    /// Tokens (estimated at four characters each) those earlier plans may take in the
    /// prompt; the newest that fit are shown.
    #[serde(default = "default_memory_tokens")]
    pub memory_tokens: usize,
    /// What the model costs, per million tokens, in the currency budgets are counted in;
    /// needed for `max_cost_per_plan` and `max_cost_per_day`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<LlmPrice>,
    /// Money one request's planning may cost, over all tries and replans (none: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_per_plan: Option<f64>,
    /// Money all planning may cost per day (UTC); then the rule planner answers (none: no
    /// limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cost_per_day: Option<f64>,
}

/// A language model's price list, per million tokens, in the currency budgets are counted in
/// (e.g. USD).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmPrice {
    /// The price of a million prompt tokens.
    pub input_per_million: f64,
    /// The price of a million answer tokens.
    pub output_per_million: f64,
}

fn default_llm_tries() -> u32 {
    3
}

fn default_llm_timeout() -> ConfigDuration {
    ConfigDuration::secs(60)
}

fn default_tokens_per_plan() -> u64 {
    50_000
}

fn default_tokens_per_day() -> u64 {
    1_000_000
}

fn default_memory_plans() -> usize {
    5
}

fn default_memory_tokens() -> usize {
    2_000
}

fn default_planner_kind() -> String {
    "rules".to_owned()
}

/// A rule of the rule planner: a message pattern and the plan it becomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRule {
    /// Name, shown by `help`.
    pub name: String,
    /// Regular expression matched against the whole message (case-insensitive); named
    /// captures `(?P<name>...)` fill `${name}` in the title and arguments.
    pub pattern: String,
    /// An example request, shown by `help`.
    #[serde(default)]
    pub example: Option<String>,
    /// The plan's title.
    pub title: String,
    /// The steps.
    pub steps: Vec<StepTemplate>,
}

/// A step of a plan rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepTemplate {
    /// Unique within the plan.
    pub key: String,
    /// The skill to call.
    pub skill: String,
    /// Arguments; strings may hold `${capture}` and `${steps.KEY.output.PATH}`.
    #[serde(default = "empty_object")]
    pub args: Value,
    /// Keys of steps that must succeed first.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Checks on the output before the step counts as done.
    #[serde(default)]
    pub post: Vec<PostCondition>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// Settings of the built-in skills.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillsConfig {
    /// The `http.get`, `http.request` and `graphql.query` skills.
    #[serde(default)]
    pub http: HttpSkillConfig,
    /// The `shell.run` skill.
    #[serde(default)]
    pub shell: ShellSkillConfig,
    /// The `file.read`, `file.write` and `file.list` skills (off unless enabled).
    #[serde(default)]
    pub files: FileSkillConfig,
    /// The `websocket.exchange` skill.
    #[serde(default)]
    pub websocket: WebSocketSkillConfig,
    /// MCP servers whose tools become skills `mcp.<server>.<tool>` (needs the `mcp` feature).
    #[serde(default)]
    pub mcp: McpConfig,
    /// Rate and concurrency limits by skill name; a name may end in `*` (`mcp.*`), and the
    /// first matching entry in name order applies.
    #[serde(default)]
    pub limits: BTreeMap<String, SkillLimits>,
}

/// How often and how many at once a skill may run, across all plans of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillLimits {
    /// At most this often, evenly spaced (e.g. `30/min`); a run waits for its turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// At most this many runs at once; more wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
}

/// The `http.get`, `http.request` and `graphql.query` skills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSkillConfig {
    /// Hosts it may reach (exact names, or `*.example.com`). Empty: none.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// Per-request timeout.
    #[serde(default = "default_http_timeout")]
    pub timeout: ConfigDuration,
    /// Larger bodies are cut to this many bytes.
    #[serde(default = "default_http_max_body")]
    pub max_body_bytes: usize,
}

impl Default for HttpSkillConfig {
    fn default() -> Self {
        HttpSkillConfig {
            allow_hosts: Vec::new(),
            timeout: default_http_timeout(),
            max_body_bytes: default_http_max_body(),
        }
    }
}

fn default_http_timeout() -> ConfigDuration {
    ConfigDuration::secs(10)
}
fn default_http_max_body() -> usize {
    64 * 1024
}

/// The `shell.run` skill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellSkillConfig {
    /// Whether the skill is registered at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Working directory of commands (default: the current directory).
    #[serde(default)]
    pub workdir: Option<PathBuf>,
    /// Environment variables passed through to commands; all others are cleared.
    #[serde(default = "default_env_allow")]
    pub env_allow: Vec<String>,
    /// A command running longer is killed.
    #[serde(default = "default_shell_timeout")]
    pub timeout: ConfigDuration,
    /// Output beyond this many bytes (per stream) is cut.
    #[serde(default = "default_shell_max_output")]
    pub max_output_bytes: usize,
    /// Unix: CPU seconds each process of a command may use (`ulimit -t`); none: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<u64>,
    /// Unix: virtual memory each process of a command may map, in MiB (`ulimit -v`); none:
    /// no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
}

impl Default for ShellSkillConfig {
    fn default() -> Self {
        ShellSkillConfig {
            enabled: true,
            workdir: None,
            env_allow: default_env_allow(),
            timeout: default_shell_timeout(),
            max_output_bytes: default_shell_max_output(),
            cpu_seconds: None,
            memory_mb: None,
        }
    }
}

fn default_env_allow() -> Vec<String> {
    vec!["PATH".to_owned(), "HOME".to_owned(), "LANG".to_owned()]
}
fn default_shell_timeout() -> ConfigDuration {
    ConfigDuration::secs(60)
}
fn default_shell_max_output() -> usize {
    64 * 1024
}

//! Shared set-up of the email tests: real mail servers (Dovecot, and an SMTP server that
//! stamps Authentication-Results as a receiving server would), an engine with the real
//! email channel, and people who send mail with lettre and read their Maildir.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mail_parser::MessageParser;
use openmog::channel::ChannelState;
use openmog::config::{Config, ConfigSource};
use openmog::engine::{Engine, RunningEngine};
use openmog::skills::{Skill, SkillContext, SkillError, SkillRegistry};
use openmog::store::SharedStore;
use openmog_email::testkit::MailServers;
use openmog_email::{EmailChannel, EmailSettings};
use serde_json::{Value, json};

/// How long a test waits for mail to arrive (IDLE wakes within about half a second).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The agent's address.
pub const AGENT: &str = "agent@example.test";

/// Starts the mail servers, or says why the test is skipped (outside CI only).
pub fn servers() -> Option<MailServers> {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
    openmog_email::testkit::start()
}

/// Contacts, rules and plans; `{settings}` is filled in.
const CONFIG: &str = r#"
[[contacts]]
id = "ann"
name = "Ann"
roles = ["member", "oncall"]
addresses = { mail = "ann@example.test" }

[[contacts]]
id = "bob"
name = "Bob"
roles = ["member"]
addresses = { mail = "bob@example.test" }

[authorizations]
chat = ["role:member"]

[[authorizations.rules]]
skill = "restart"
decision = "approve"
approvers = ["role:oncall"]
timeout = "1h"
on_timeout = "deny"

[[authorizations.rules]]
skill = "*"
decision = "auto"

[channels.mail]
kind = "email"
pacing = { per_conversation = "100/s", per_channel = "100/s" }

[channels.mail.settings]
{settings}

[store]
url = "memory:"

[[planner.rules]]
name = "deploy"
pattern = 'deploy (?P<svc>\w+)'
title = "Deploy ${svc}"
steps = [
  { key = "check", skill = "echo", args = { text = "checked ${svc}" } },
  { key = "restart", skill = "restart", args = { service = "${svc}" }, depends_on = ["check"] },
]

[[planner.rules]]
name = "say"
pattern = 'say (?P<n>\d+)'
title = "Say ${n}"
steps = [{ key = "say", skill = "echo", args = { text = "line ${n}" } }]
"#;

/// The channel's settings table for `servers`, IMAP over `imap` (`tls`, `starttls` or
/// `plain`), SMTP with STARTTLS.
pub fn settings_toml(servers: &MailServers, imap: &str) -> String {
    servers.channel_settings_toml(AGENT, imap)
}

/// The configuration for `servers`.
pub fn config(servers: &MailServers, imap: &str) -> Config {
    let toml = CONFIG.replace("{settings}", &settings_toml(servers, imap));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("openmog.toml");
    std::fs::write(&path, toml).expect("write config");
    openmog::config::load(&[ConfigSource::File(path)]).expect("valid test config")
}

/// The email channel of `config`, keeping its state in `store`.
pub fn channel(config: &Config, store: &SharedStore) -> EmailChannel {
    let settings =
        EmailSettings::from_config("mail", &config.channels["mail"]).expect("channel settings");
    EmailChannel::new("mail", settings, ChannelState::new("mail", store.clone()))
        .expect("channel builds")
}

/// A stand-in for a service restart that counts its runs.
#[derive(Clone, Default)]
pub struct Restart {
    pub runs: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait]
impl Skill for Restart {
    fn name(&self) -> &str {
        "restart"
    }
    fn description(&self) -> &str {
        "restarts a service (pretend)"
    }
    fn args_schema(&self) -> Value {
        json!({"type": "object", "properties": {"service": {"type": "string"}}, "required": ["service"]})
    }
    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(json!({"text": format!("restarted {}", args["service"].as_str().unwrap_or("?"))}))
    }
}

/// An engine with the real email channel.
pub struct Bot {
    pub engine: Engine,
    pub running: Option<RunningEngine>,
    pub restart: Restart,
}

impl Bot {
    pub async fn start(servers: &MailServers, store: SharedStore) -> Bot {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = config(servers, "starttls");
        let channel = channel(&config, &store);
        let restart = Restart::default();
        let mut skills = SkillRegistry::new();
        skills.register(openmog::skills::Echo);
        skills.register(restart.clone());
        let engine = Engine::builder(config)
            .store(store)
            .skills(skills)
            .channel(channel)
            .poll_interval(Duration::from_millis(20))
            .build()
            .await
            .expect("engine builds");
        let running = Some(engine.start());
        Bot {
            engine,
            running,
            restart,
        }
    }

    pub fn restarts(&self) -> usize {
        self.restart.runs.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub async fn audit_of(&self, kind: &str) -> Vec<(String, String, Value)> {
        self.engine
            .store()
            .audit_records(1, 100_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.event.kind == kind)
            .map(|r| (r.event.actor, r.event.subject, r.event.data))
            .collect()
    }

    /// Waits until the audit log holds at least `n` events of `kind`.
    pub async fn wait_audit(&self, kind: &str, n: usize) -> Vec<(String, String, Value)> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let found = self.audit_of(kind).await;
            if found.len() >= n {
                return found;
            }
            if tokio::time::Instant::now() >= deadline {
                let all: Vec<String> = self
                    .engine
                    .store()
                    .audit_records(1, 100_000)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| format!("{} {} {}", r.event.kind, r.event.actor, r.event.data))
                    .collect();
                panic!(
                    "expected {n} `{kind}` audit events, got {found:?}; the audit log:\n{}",
                    all.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown(Duration::from_secs(5)).await;
        }
    }
}

/// A mail as it arrived in someone's Maildir.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub subject: String,
    pub text: String,
    pub reply_to: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub auto_submitted: Option<String>,
    pub file: PathBuf,
}

/// Someone with a mailbox on the test server.
#[derive(Clone)]
pub struct Person {
    pub address: String,
    password: String,
    smtp_port: u16,
    maildir: PathBuf,
}

impl Person {
    pub fn new(servers: &MailServers, address: &str) -> Person {
        let user = address.split('@').next().unwrap_or(address);
        let domain = address.split('@').nth(1).unwrap_or("example.test");
        Person {
            address: address.to_owned(),
            password: servers.password(address),
            smtp_port: servers.smtp_port,
            maildir: servers
                .dir()
                .join("mail")
                .join(domain)
                .join(user)
                .join("Maildir"),
        }
    }

    /// Sends a mail authenticated as this person, written as `from` (their own address
    /// unless forging); returns its Message-ID without brackets.
    pub async fn send_as(
        &self,
        from: &str,
        to: &str,
        subject: &str,
        body: &str,
        thread: Option<&Received>,
        message_id: Option<&str>,
    ) -> String {
        let id = message_id
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}@example.test", openmog::domain::new_short_id(12)));
        let mut builder = Message::builder()
            .from(from.parse::<Mailbox>().expect("from"))
            .to(to.parse::<Mailbox>().expect("to"))
            .subject(subject)
            .message_id(Some(format!("<{id}>")));
        if let Some(thread) = thread {
            builder = builder.in_reply_to(format!("<{}>", thread.message_id));
            let mut cited: Vec<String> =
                thread.references.iter().map(|r| format!("<{r}>")).collect();
            cited.push(format!("<{}>", thread.message_id));
            builder = builder.references(cited.join(" "));
        }
        let mail = builder.body(body.to_owned()).expect("mail builds");
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(self.smtp_port)
            .tls(Tls::None)
            .credentials(Credentials::new(
                self.address.clone(),
                self.password.clone(),
            ))
            .build();
        transport
            .send(mail)
            .await
            .expect("the test mail is accepted");
        id
    }

    /// Writes a new mail to the agent.
    pub async fn mail_agent(&self, subject: &str, body: &str) -> String {
        self.send_as(&self.address, AGENT, subject, body, None, None)
            .await
    }

    /// Replies to `mail` as a mail client would: to its Reply-To, in its thread.
    pub async fn reply(&self, mail: &Received, body: &str) -> String {
        let to = mail.reply_to.clone().unwrap_or_else(|| AGENT.to_owned());
        let subject = format!("Re: {}", mail.subject.trim_start_matches("Re: "));
        let quoted: String = mail.text.lines().map(|l| format!("> {l}\n")).collect();
        let body =
            format!("{body}\n\nOn Tue, 24 Nov 2026 at 10:00, openmog <{AGENT}> wrote:\n{quoted}");
        self.send_as(&self.address, &to, &subject, &body, Some(mail), None)
            .await
    }

    /// Every mail in this person's Maildir, oldest first.
    pub fn inbox(&self) -> Vec<Received> {
        let mut files: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir.join(sub)).ok())
            .flatten()
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        // Maildir names start with the delivery time in seconds and microseconds.
        files.sort_by_key(|f| {
            std::fs::metadata(f)
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH)
        });
        files.iter().filter_map(|f| parse(f)).collect()
    }

    /// Waits for a mail whose text contains `needle`.
    pub async fn expect(&self, needle: &str) -> Received {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(mail) = self.inbox().into_iter().find(|m| m.text.contains(needle)) {
                return mail;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} got no mail containing {needle:?}; inbox:\n{}",
                self.address,
                self.inbox()
                    .iter()
                    .map(|m| format!("[{}] {}", m.subject, m.text))
                    .collect::<Vec<_>>()
                    .join("\n---\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How many mails contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.inbox()
            .iter()
            .filter(|m| m.text.contains(needle))
            .count()
    }
}

fn parse(file: &std::path::Path) -> Option<Received> {
    let raw = std::fs::read(file).ok()?;
    let mail = MessageParser::default().parse(&raw)?;
    let ids = |value: &mail_parser::HeaderValue<'_>| -> Vec<String> {
        match value {
            mail_parser::HeaderValue::Text(id) => vec![id.to_string()],
            mail_parser::HeaderValue::TextList(ids) => ids.iter().map(|i| i.to_string()).collect(),
            _ => Vec::new(),
        }
    };
    Some(Received {
        message_id: mail.message_id().unwrap_or_default().to_owned(),
        subject: mail.subject().unwrap_or_default().to_owned(),
        text: mail
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
        reply_to: mail
            .reply_to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_owned),
        in_reply_to: ids(mail.in_reply_to()),
        references: ids(mail.references()),
        auto_submitted: mail
            .header_raw("Auto-Submitted")
            .map(|v| v.trim().to_owned()),
        file: file.to_owned(),
    })
}

/// A raw mail with the given headers and body, CRLF line ends.
pub fn raw_mail(headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut raw = String::new();
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    raw.push_str(&body.replace('\n', "\r\n"));
    raw.into_bytes()
}

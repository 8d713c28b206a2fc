//! Checks that serde cannot express: references between sections, regexes, quorums.

use std::collections::BTreeSet;

use figment::Figment;

use super::{Config, RuleDecision};
use crate::{Error, Result};

/// Collects problems, each tied to a key, and reports them with the file that set the key.
struct Problems<'a> {
    figment: &'a Figment,
    found: Vec<String>,
}

impl Problems<'_> {
    fn add(&mut self, key: &str, lookup: &str, message: impl Into<String>) {
        let origin = match self.figment.find_metadata(lookup) {
            Some(md) => match &md.source {
                Some(figment::Source::File(path)) => path.display().to_string(),
                _ => md.name.to_string(),
            },
            None => "configuration".to_owned(),
        };
        self.found
            .push(format!("{origin}: key `{key}`: {}", message.into()));
    }
}

pub(super) fn validate(config: &Config, figment: &Figment) -> Result<()> {
    let mut problems = Problems {
        figment,
        found: Vec::new(),
    };

    let mut ids = BTreeSet::new();
    let mut roles = BTreeSet::new();
    for (i, contact) in config.contacts.iter().enumerate() {
        let key = format!("contacts[{i}]");
        if contact.id.trim().is_empty() || contact.id.starts_with("role:") || contact.id == "*" {
            problems.add(
                &format!("{key}.id"),
                "contacts",
                "a contact id must be a plain name",
            );
        }
        if !ids.insert(contact.id.as_str()) {
            problems.add(
                &format!("{key}.id"),
                "contacts",
                format!("duplicate contact id `{}`", contact.id),
            );
        }
        roles.extend(contact.roles.iter().map(String::as_str));
        if let Some(preferred) = &contact.preferred
            && !contact.addresses.contains_key(preferred)
        {
            problems.add(
                &format!("{key}.preferred"),
                "contacts",
                format!("`{preferred}` has no entry in this contact's addresses"),
            );
        }
    }

    let check_principal = |problems: &mut Problems<'_>, key: &str, lookup: &str, p: &str| {
        if p == "*" {
            return;
        }
        if let Some(role) = p.strip_prefix("role:") {
            if !roles.contains(role) {
                problems.add(key, lookup, format!("no contact has the role `{role}`"));
            }
        } else if !ids.contains(p) {
            problems.add(
                key,
                lookup,
                format!("`{p}` is not a contact id (write `role:NAME` for a role)"),
            );
        }
    };

    for (i, p) in config.authorizations.chat.iter().enumerate() {
        check_principal(
            &mut problems,
            &format!("authorizations.chat[{i}]"),
            "authorizations.chat",
            p,
        );
    }
    for (i, rule) in config.authorizations.rules.iter().enumerate() {
        let key = format!("authorizations.rules[{i}]");
        let lookup = "authorizations.rules";
        for (j, cond) in rule.when.iter().enumerate() {
            if let Some(re) = &cond.matches
                && let Err(e) = regex::Regex::new(re)
            {
                problems.add(
                    &format!("{key}.when[{j}].matches"),
                    lookup,
                    format!("invalid regex: {e}"),
                );
            }
            if cond.matches.is_none() && cond.equals.is_none() {
                problems.add(
                    &format!("{key}.when[{j}]"),
                    lookup,
                    "give `equals` or `matches`",
                );
            }
        }
        match rule.decision {
            RuleDecision::Approve => {
                if rule.approvers.is_empty() {
                    problems.add(
                        &format!("{key}.approvers"),
                        lookup,
                        "an `approve` rule needs approvers",
                    );
                }
                if rule.approvers.iter().any(|p| p == "*") {
                    problems.add(
                        &format!("{key}.approvers"),
                        lookup,
                        "`*` is not allowed among approvers: name roles or contacts",
                    );
                }
                for (j, p) in rule.approvers.iter().enumerate() {
                    check_principal(&mut problems, &format!("{key}.approvers[{j}]"), lookup, p);
                }
                let eligible = config
                    .contacts
                    .iter()
                    .filter(|c| {
                        rule.approvers
                            .iter()
                            .any(|p| match p.strip_prefix("role:") {
                                Some(role) => c.roles.iter().any(|r| r == role),
                                None => p == &c.id,
                            })
                    })
                    .count();
                if rule.quorum == 0 {
                    problems.add(
                        &format!("{key}.quorum"),
                        lookup,
                        "quorum must be at least 1",
                    );
                } else if (rule.quorum as usize) > eligible && !rule.approvers.is_empty() {
                    problems.add(
                        &format!("{key}.quorum"),
                        lookup,
                        format!(
                            "quorum {} but only {eligible} contact(s) may approve",
                            rule.quorum
                        ),
                    );
                }
            }
            RuleDecision::Auto | RuleDecision::Forbid => {
                if !rule.approvers.is_empty() {
                    problems.add(
                        &format!("{key}.approvers"),
                        lookup,
                        "approvers only apply to `approve` rules",
                    );
                }
            }
        }
    }

    if config.limits.max_concurrent_steps == 0 {
        problems.add(
            "limits.max_concurrent_steps",
            "limits",
            "must be at least 1",
        );
    }
    if config.limits.max_steps_per_plan == 0 {
        problems.add("limits.max_steps_per_plan", "limits", "must be at least 1");
    }

    let listen = config.ops.listen.trim();
    if !listen.is_empty() && listen.parse::<std::net::SocketAddr>().is_err() {
        problems.add(
            "ops.listen",
            "ops",
            format!("`{listen}` is not an address like 127.0.0.1:9464 (empty turns it off)"),
        );
    }

    let url = &config.store.url;
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !(url.starts_with("sqlite:") || url == "memory:" || postgres) {
        // Only the scheme is shown: a database URL may carry a password.
        let scheme = url.split(':').next().unwrap_or_default();
        problems.add(
            "store.url",
            "store.url",
            format!("`{scheme}:…`: use sqlite://PATH, postgres://USER@HOST/DB or memory:"),
        );
    }

    match (config.planner.kind.as_str(), &config.planner.llm) {
        ("rules", _) => {}
        ("llm", None) => problems.add(
            "planner.llm",
            "planner.kind",
            "planner.kind = \"llm\" needs a [planner.llm] table with `provider` and `model`"
                .to_owned(),
        ),
        ("llm", Some(llm)) => {
            if !cfg!(feature = "llm") {
                problems.add(
                    "planner.kind",
                    "planner.kind",
                    "this build has no language-model planner (build with the `llm` feature)"
                        .to_owned(),
                );
            }
            if let Some(url) = &llm.base_url
                && let Err(reason) = crate::net::require_tls(url)
            {
                problems.add("planner.llm.base_url", "planner.llm.base_url", reason);
            }
            if llm.max_tries == 0 {
                problems.add(
                    "planner.llm.max_tries",
                    "planner.llm.max_tries",
                    "must be at least 1".to_owned(),
                );
            }
            check_llm_money(llm, &mut problems);
        }
        (other, _) => problems.add(
            "planner.kind",
            "planner.kind",
            format!("unknown planner `{other}` (known: rules, llm)"),
        ),
    }
    for (name, limits) in &config.skills.limits {
        if limits.concurrency == Some(0) {
            let key = format!("skills.limits.{name}.concurrency");
            problems.add(&key, "skills.limits", "must be at least 1".to_owned());
        }
    }
    for (key, message) in config.skills.mcp.problems() {
        problems.add(&key, "skills.mcp", message);
    }
    if !cfg!(feature = "mcp") && !config.skills.mcp.servers.is_empty() {
        problems.add(
            "skills.mcp.servers",
            "skills.mcp",
            "this build cannot connect to MCP servers (build with the `mcp` feature)".to_owned(),
        );
    }
    let files = &config.skills.files;
    if files.enabled && files.workspace.is_none() {
        problems.add(
            "skills.files.workspace",
            "skills.files",
            "the file skills need a `workspace` directory".to_owned(),
        );
    }
    let shell = &config.skills.shell;
    for (key, limit) in [
        ("cpu_seconds", shell.cpu_seconds),
        ("memory_mb", shell.memory_mb),
    ] {
        if limit == Some(0) {
            let key = format!("skills.shell.{key}");
            problems.add(
                &key,
                &key,
                "must be at least 1 (0 would let nothing run)".to_owned(),
            );
        }
    }
    if let Some(review) = &config.planner.review {
        check_review(config, review, &mut problems);
    }
    for (i, rule) in config.planner.rules.iter().enumerate() {
        let key = format!("planner.rules[{i}]");
        let lookup = "planner.rules";
        if let Err(e) = regex::Regex::new(&rule.pattern) {
            problems.add(
                &format!("{key}.pattern"),
                lookup,
                format!("invalid regex: {e}"),
            );
        }
        let mut keys = BTreeSet::new();
        for (j, step) in rule.steps.iter().enumerate() {
            if !keys.insert(step.key.as_str()) {
                problems.add(
                    &format!("{key}.steps[{j}].key"),
                    lookup,
                    format!("duplicate step key `{}`", step.key),
                );
            }
            for dep in &step.depends_on {
                if !keys.contains(dep.as_str()) {
                    problems.add(
                        &format!("{key}.steps[{j}].depends_on"),
                        lookup,
                        format!("`{dep}` is not an earlier step of this rule"),
                    );
                }
            }
        }
        if rule.steps.is_empty() {
            problems.add(
                &format!("{key}.steps"),
                lookup,
                "a rule needs at least one step",
            );
        }
    }

    if problems.found.is_empty() {
        Ok(())
    } else {
        Err(Error::Config(problems.found.join("; ")))
    }
}

/// Prices and money limits: finite and not negative; a money limit needs a price.
fn check_llm_money(llm: &super::LlmConfig, problems: &mut Problems<'_>) {
    let amounts = [
        (
            "price.input_per_million",
            llm.price.as_ref().map(|p| p.input_per_million),
        ),
        (
            "price.output_per_million",
            llm.price.as_ref().map(|p| p.output_per_million),
        ),
        ("max_cost_per_plan", llm.max_cost_per_plan),
        ("max_cost_per_day", llm.max_cost_per_day),
    ];
    for (key, amount) in amounts {
        if let Some(amount) = amount
            && !(amount.is_finite() && amount >= 0.0)
        {
            let key = format!("planner.llm.{key}");
            problems.add(&key, &key, format!("`{amount}` is not an amount of money"));
        }
    }
    if llm.price.is_none() {
        for (key, limit) in [
            ("max_cost_per_plan", llm.max_cost_per_plan),
            ("max_cost_per_day", llm.max_cost_per_day),
        ] {
            if limit.is_some() {
                let key = format!("planner.llm.{key}");
                problems.add(
                    &key,
                    &key,
                    "a money limit needs the model's `price` (input_per_million, \
                     output_per_million)"
                        .to_owned(),
                );
            }
        }
    }
}

/// A purpose review needs a planner that can review, a sensible period, and an owner who
/// can be reached on a configured channel.
fn check_review(config: &Config, review: &super::ReviewConfig, problems: &mut Problems<'_>) {
    if config.planner.kind != "llm" {
        problems.add(
            "planner.review",
            "planner.review",
            "a purpose review needs the language-model planner (planner.kind = \"llm\")".to_owned(),
        );
    }
    if review.every.0 < std::time::Duration::from_secs(60) {
        problems.add(
            "planner.review.every",
            "planner.review.every",
            format!("`{}` is too often: at least 1m", review.every),
        );
    }
    let reachable = config
        .contacts
        .iter()
        .find(|c| c.id == review.owner)
        .map(|c| {
            c.addresses
                .keys()
                .any(|channel| config.channels.contains_key(channel))
        });
    match reachable {
        None => problems.add(
            "planner.review.owner",
            "planner.review.owner",
            format!("`{}` is not a contact", review.owner),
        ),
        Some(false) => problems.add(
            "planner.review.owner",
            "planner.review.owner",
            format!(
                "contact `{}` has no address on a configured channel",
                review.owner
            ),
        ),
        Some(true) => {}
    }
}

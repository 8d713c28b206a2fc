//! What runs and what waits on whom, for `openmog status`: who holds each lease, the open
//! plans, and every open approval with the people who may decide it and how long it has
//! waited. Read from the store only, so it works whether or not openmog runs.

use std::time::Duration;

use crate::Result;
use crate::clock::Timestamp;
use crate::config::Config;
use crate::policy::Directory;
use crate::store::Store;

/// A lease and its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseLine {
    /// The lease (`channel:<name>:receive`, `channel:<name>:send`, `inbox`).
    pub name: String,
    /// The instance holding it now, if any.
    pub holder: Option<String>,
}

/// An approval waiting for someone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The approval.
    pub approval: String,
    /// `plan/step`.
    pub step: String,
    /// The plan's title.
    pub title: String,
    /// Who may decide, by name (principals that name nobody are shown as written).
    pub approvers: Vec<String>,
    /// How long it has waited.
    pub waited: Duration,
    /// `pending` or `parked`.
    pub state: String,
}

/// The whole picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Leases of the configured channels and the inbox (on a shared store).
    pub leases: Vec<LeaseLine>,
    /// Open plans (active or parked).
    pub open_plans: usize,
    /// Messages not yet sent.
    pub outbox: u64,
    /// Open approvals, longest waiting first.
    pub waiting: Vec<Waiting>,
}

/// Reads the status from `store` for the channels `config` names.
pub async fn read(store: &dyn Store, config: &Config, now: Timestamp) -> Result<Status> {
    let mut leases = Vec::new();
    if store.is_shared() {
        let mut names = vec!["inbox".to_owned()];
        for channel in config.channels.keys() {
            names.push(format!("channel:{channel}:receive"));
            names.push(format!("channel:{channel}:send"));
        }
        for name in names {
            let holder = store.lease_holder(&name, now).await?;
            leases.push(LeaseLine { name, holder });
        }
    }
    let directory = Directory::new(&config.contacts);
    let mut waiting = Vec::new();
    for id in store.plans_with_open_approvals().await? {
        let Some(plan) = store.plan(&id).await? else {
            continue;
        };
        for approval in plan.approvals.iter().filter(|a| a.state.is_open()) {
            let mut approvers: Vec<String> = approval
                .approvers
                .iter()
                .flat_map(|principal| {
                    let names = directory.member_names(principal);
                    if names.is_empty() {
                        vec![principal.clone()]
                    } else {
                        names
                    }
                })
                .collect();
            approvers.dedup();
            waiting.push(Waiting {
                approval: approval.id.to_string(),
                step: format!("{}/{}", plan.id, approval.step),
                title: plan.title.clone(),
                approvers,
                waited: now.since(approval.created_at),
                state: approval.state.as_str().to_owned(),
            });
        }
    }
    waiting.sort_by_key(|w| std::cmp::Reverse(w.waited));
    Ok(Status {
        leases,
        open_plans: store.plans(true, 100_000).await?.len(),
        outbox: store.outbox_depth().await?,
        waiting,
    })
}

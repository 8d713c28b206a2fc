//! An in-memory channel for tests and embedding: push events in, read what was sent, inject
//! send failures. Several channel instances can share one handle, so a test can "restart"
//! the engine and keep observing the same conversation.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Channel, InboundSink, ReceiveError, SendError};
use crate::domain::{
    ApprovalId, Capabilities, ConversationRef, DecisionScope, Inbound, InboundKind, Outbound,
    Sender, SentRef, Verdict, new_short_id,
};

/// A message the channel accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    /// The message as sent.
    pub message: Outbound,
    /// When (tokio's clock: exact under paused time).
    pub at: tokio::time::Instant,
    /// The platform id the channel gave it.
    pub message_id: String,
}

#[derive(Default)]
struct Shared {
    inbound: Mutex<VecDeque<Inbound>>,
    inbound_ready: Notify,
    delivered: Mutex<Vec<Delivered>>,
    delivered_changed: Notify,
    failures: Mutex<VecDeque<SendError>>,
    send_attempts: AtomicU64,
    next_event: AtomicU64,
    session: String,
    capabilities: Capabilities,
    working: Mutex<Vec<ConversationRef>>,
}

/// The channel half: give it to the engine.
pub struct MemoryChannel {
    name: String,
    shared: Arc<Shared>,
}

/// The test half: talk to the engine and watch what it says.
#[derive(Clone)]
pub struct MemoryChannelHandle {
    name: String,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MemoryChannelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryChannelHandle")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl MemoryChannel {
    /// A channel named `name` and its handle. It has buttons, cannot edit and has no
    /// length limit.
    pub fn new(name: &str) -> (MemoryChannel, MemoryChannelHandle) {
        Self::with_capabilities(
            name,
            Capabilities {
                edit: false,
                buttons: true,
                max_message_chars: 0,
                decisions_need_proof: false,
            },
        )
    }

    /// A channel named `name` that claims `capabilities` (to see how the engine uses them).
    pub fn with_capabilities(
        name: &str,
        capabilities: Capabilities,
    ) -> (MemoryChannel, MemoryChannelHandle) {
        let shared = Arc::new(Shared {
            session: new_short_id(6),
            capabilities,
            ..Shared::default()
        });
        let handle = MemoryChannelHandle {
            name: name.to_owned(),
            shared: Arc::clone(&shared),
        };
        (
            MemoryChannel {
                name: name.to_owned(),
                shared,
            },
            handle,
        )
    }
}

impl MemoryChannelHandle {
    /// Another channel instance on the same conversations (for a restarted engine).
    pub fn channel(&self) -> MemoryChannel {
        MemoryChannel {
            name: self.name.clone(),
            shared: Arc::clone(&self.shared),
        }
    }

    /// The conversation `id` on this channel.
    pub fn conversation(&self, id: &str) -> ConversationRef {
        ConversationRef::new(self.name.clone(), id)
    }

    fn event_id(&self) -> String {
        format!(
            "{}-{}",
            self.shared.session,
            self.shared.next_event.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// Queues any inbound event.
    pub fn push(&self, event: Inbound) {
        self.shared.inbound.lock().expect("lock").push_back(event);
        self.shared.inbound_ready.notify_one();
    }

    /// `user_id` writes `text` in conversation `conversation`.
    pub fn say(&self, conversation: &str, user_id: &str, text: &str) {
        self.push(Inbound {
            conversation: self.conversation(conversation),
            sender: Sender {
                user_id: user_id.to_owned(),
                display_name: user_id.to_owned(),
            },
            event_id: self.event_id(),
            kind: InboundKind::Message {
                text: text.to_owned(),
            },
        });
    }

    /// `user_id` presses a decision button.
    pub fn press(
        &self,
        conversation: &str,
        user_id: &str,
        approval: &ApprovalId,
        verdict: Verdict,
        scope: DecisionScope,
    ) {
        self.push(Inbound {
            conversation: self.conversation(conversation),
            sender: Sender {
                user_id: user_id.to_owned(),
                display_name: user_id.to_owned(),
            },
            event_id: self.event_id(),
            kind: InboundKind::Decision {
                approval: approval.clone(),
                verdict,
                scope,
                nonce: None,
                comment: None,
            },
        });
    }

    /// Makes the next sends fail with these errors, in order.
    pub fn fail_next_sends(&self, errors: impl IntoIterator<Item = SendError>) {
        self.shared.failures.lock().expect("lock").extend(errors);
    }

    /// Drops the failures still queued by [`Self::fail_next_sends`].
    pub fn clear_failures(&self) {
        self.shared.failures.lock().expect("lock").clear();
    }

    /// Every message accepted so far, in order.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.shared.delivered.lock().expect("lock").clone()
    }

    /// Texts accepted so far in one conversation, in order.
    pub fn texts(&self, conversation: &str) -> Vec<String> {
        self.delivered()
            .into_iter()
            .filter(|d| d.message.conversation.id == conversation)
            .map(|d| d.message.body.plain_text())
            .collect()
    }

    /// What the conversation shows now: every message in order, with edits applied in
    /// place (an edit of a message never delivered shows as a message of its own).
    pub fn visible(&self, conversation: &str) -> Vec<String> {
        let mut shown: Vec<(String, String)> = Vec::new();
        for d in self.delivered() {
            if d.message.conversation.id != conversation {
                continue;
            }
            let text = d.message.body.plain_text();
            let target = d
                .message
                .replaces
                .as_ref()
                .and_then(|r| r.message_id.clone());
            match target.and_then(|id| shown.iter_mut().find(|(m, _)| *m == id)) {
                Some((_, shown_text)) => *shown_text = text,
                None => shown.push((d.message_id, text)),
            }
        }
        shown.into_iter().map(|(_, text)| text).collect()
    }

    /// Conversations a typing indicator was shown in, in order.
    pub fn working_in(&self) -> Vec<ConversationRef> {
        self.shared.working.lock().expect("lock").clone()
    }

    /// Number of send calls, including failed ones.
    pub fn send_attempts(&self) -> u64 {
        self.shared.send_attempts.load(Ordering::SeqCst)
    }

    /// Idempotency keys that were accepted more than once (should be none).
    pub fn duplicate_keys(&self) -> Vec<String> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for d in self.delivered() {
            *seen.entry(d.message.idempotency_key).or_default() += 1;
        }
        seen.into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(k, _)| k)
            .collect()
    }

    /// Waits until a delivered message satisfies `pred` and returns it; panics after
    /// `timeout` with what was delivered (these are test helpers).
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&Delivered) -> bool,
    ) -> Delivered {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.shared.delivered_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(found) = self.delivered().into_iter().find(|d| pred(d)) {
                return found;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let texts: Vec<String> = self
                    .delivered()
                    .iter()
                    .map(|d| d.message.body.plain_text())
                    .collect();
                panic!(
                    "no matching message within {timeout:?}; delivered so far:\n{}",
                    texts.join("\n---\n")
                );
            }
        }
    }

    /// Waits for a message in `conversation` whose text contains `needle`.
    pub async fn wait_for_text(&self, conversation: &str, needle: &str) -> Delivered {
        let conversation = conversation.to_owned();
        let needle = needle.to_owned();
        self.wait_for(Duration::from_secs(10), move |d| {
            d.message.conversation.id == conversation
                && d.message.body.plain_text().contains(&needle)
        })
        .await
    }
}

#[async_trait]
impl Channel for MemoryChannel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn receive(
        &self,
        sink: InboundSink,
        shutdown: CancellationToken,
    ) -> Result<(), ReceiveError> {
        sink.connected();
        loop {
            let ready = self.shared.inbound_ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            // Like a platform's update offset: an event leaves the queue only once it is
            // stored, so a receiver killed mid-delivery leaves it for the next one (whose
            // delivery the inbox drops if the first one's got through).
            let next = self.shared.inbound.lock().expect("lock").front().cloned();
            match next {
                Some(event) => {
                    if let Err(err) = sink.deliver(event.clone()).await {
                        return Err(ReceiveError(err.to_string()));
                    }
                    let mut queue = self.shared.inbound.lock().expect("lock");
                    if queue
                        .front()
                        .is_some_and(|front| front.event_id == event.event_id)
                    {
                        queue.pop_front();
                    }
                }
                None => tokio::select! {
                    () = &mut ready => {}
                    () = shutdown.cancelled() => return Ok(()),
                },
            }
        }
    }

    async fn send(&self, message: &Outbound) -> Result<SentRef, SendError> {
        self.shared.send_attempts.fetch_add(1, Ordering::SeqCst);
        if let Some(err) = self.shared.failures.lock().expect("lock").pop_front() {
            return Err(err);
        }
        let mut delivered = self.shared.delivered.lock().expect("lock");
        // An edit keeps the edited message's id, as platforms do.
        let edited = message
            .replaces
            .as_ref()
            .and_then(|r| r.message_id.clone())
            .filter(|_| self.shared.capabilities.edit);
        let message_id = edited.unwrap_or_else(|| format!("m{}", delivered.len() + 1));
        delivered.push(Delivered {
            message: message.clone(),
            at: tokio::time::Instant::now(),
            message_id: message_id.clone(),
        });
        drop(delivered);
        self.shared.delivered_changed.notify_waiters();
        Ok(SentRef {
            message_id: Some(message_id),
        })
    }

    fn capabilities(&self) -> Capabilities {
        self.shared.capabilities
    }

    async fn working(&self, conversation: &ConversationRef) -> Result<(), SendError> {
        self.shared
            .working
            .lock()
            .expect("lock")
            .push(conversation.clone());
        Ok(())
    }
}

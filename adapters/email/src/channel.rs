//! [`EmailChannel`]: the core's adapter trait on IMAP (receiving) and SMTP (sending).

use std::sync::Arc;

use async_trait::async_trait;
use openmog::channel::{Channel, ChannelState, InboundSink, ProbeFailure, ReceiveError, SendError};
use openmog::domain::{Capabilities, Outbound, SentRef};
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::compose::compose;
use crate::imap::{Watcher, thread_key};
use crate::settings::EmailSettings;
use crate::smtp::Smtp;
use crate::thread::{self, ThreadState};
use crate::tls::Tls;

/// An email channel: requests by mail, replies in the thread, approvals by authenticated
/// reply carrying the approval's nonce.
#[derive(Clone)]
pub struct EmailChannel {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) name: String,
    pub(crate) settings: EmailSettings,
    pub(crate) tls: Tls,
    pub(crate) smtp: Smtp,
    pub(crate) state: ChannelState,
}

impl std::fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailChannel")
            .field("name", &self.inner.name)
            .field("address", &self.inner.settings.address)
            .finish_non_exhaustive()
    }
}

impl EmailChannel {
    /// A channel named `name`, keeping its progress and thread state in `state`. Opens no
    /// connection: IMAP connects when `receive` starts, SMTP on the first send.
    pub fn new(
        name: impl Into<String>,
        settings: EmailSettings,
        state: ChannelState,
    ) -> Result<Self, Error> {
        Ok(EmailChannel {
            inner: Arc::new(Inner {
                name: name.into(),
                tls: Tls::new(settings.ca_pem.as_deref())?,
                smtp: Smtp::new(&settings)?,
                settings,
                state,
            }),
        })
    }

    /// The channel configured as `name`, with its state in `store`.
    pub fn from_config(
        name: &str,
        config: &openmog::config::ChannelConfig,
        store: openmog::store::SharedStore,
    ) -> Result<Self, Error> {
        let settings = EmailSettings::from_config(name, config)?;
        Self::new(name, settings, ChannelState::new(name, store))
    }

    /// The settings in force.
    pub fn settings(&self) -> &EmailSettings {
        &self.inner.settings
    }

    async fn thread(&self, conversation: &str) -> Result<Option<ThreadState>, SendError> {
        if thread::is_direct(conversation) {
            return Ok(None);
        }
        self.inner
            .state
            .get(&thread_key(conversation))
            .await
            .map_err(|err| SendError::Transient(format!("thread state: {err}")))
    }
}

#[async_trait]
impl Channel for EmailChannel {
    fn name(&self) -> &str {
        &self.inner.name
    }

    async fn receive(
        &self,
        sink: InboundSink,
        shutdown: CancellationToken,
    ) -> Result<(), ReceiveError> {
        let watcher = Watcher {
            channel: &self.inner.name,
            settings: &self.inner.settings,
            tls: &self.inner.tls,
            state: &self.inner.state,
        };
        watcher.run(&sink, &shutdown).await;
        Ok(())
    }

    async fn send(&self, message: &Outbound) -> Result<SentRef, SendError> {
        let conversation = &message.conversation.id;
        let thread = self.thread(conversation).await?;
        let composed = compose(&self.inner.settings, message, thread.as_ref())?;
        self.inner.smtp.send(composed.mail).await?;
        if let Some(mut thread) = thread {
            thread.cite(&composed.message_id);
            if let Err(err) = self
                .inner
                .state
                .put(&thread_key(conversation), &thread)
                .await
            {
                // The mail went out; the next one cites an older message, which still threads.
                tracing::warn!(channel = %self.inner.name, error = %err, "cannot record a sent mail in its thread");
            }
        }
        Ok(SentRef {
            message_id: Some(composed.message_id),
        })
    }

    /// An IMAP login and an SMTP connection with AUTH; nothing read or sent.
    async fn probe(&self) -> Result<String, ProbeFailure> {
        crate::probe::probe(&self.inner).await
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            edit: false,
            buttons: false,
            max_message_chars: 0,
            decisions_need_proof: true,
        }
    }
}

//! The IMAP side: log in, select the mailbox, hand every new mail to the engine, then wait
//! with IDLE (or poll). Progress is the mailbox's UIDVALIDITY and the last UID handled,
//! kept as channel state and moved only after the mail is stored in the engine's inbox, so
//! a crash at any point neither loses a mail nor processes it twice (the inbox drops a
//! Message-ID it has seen). Lost connections are retried with doubling backoff.

use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::{Client, Session};
use futures::TryStreamExt;
use openmog::channel::{ChannelState, InboundSink};
use openmog::domain::Inbound;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::inbound::{Incoming, convert};
use crate::mail::IncomingMail;
use crate::settings::{EmailSettings, Security};
use crate::thread::{self, ThreadState};
use crate::tls::{Io, Tls, tcp};
use crate::{Error, attachments};

type ImapSession = Session<Box<dyn Io>>;

/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Where the watcher got to in one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Progress {
    uid_validity: u32,
    last_uid: u32,
}

/// Reads the mailbox for one channel.
pub(crate) struct Watcher<'a> {
    pub channel: &'a str,
    pub settings: &'a EmailSettings,
    pub tls: &'a Tls,
    pub state: &'a ChannelState,
}

impl Watcher<'_> {
    /// Watches until `shutdown`, reconnecting with backoff after any failure.
    pub(crate) async fn run(&self, sink: &InboundSink, shutdown: &CancellationToken) {
        let mut backoff = Duration::from_secs(1);
        while !shutdown.is_cancelled() {
            let mut connected = false;
            let result = self.session(sink, shutdown, &mut connected).await;
            if shutdown.is_cancelled() {
                return;
            }
            if connected {
                backoff = Duration::from_secs(1);
            }
            if let Err(err) = result {
                tracing::warn!(channel = self.channel, error = %err, retry_in = ?backoff, "IMAP session ended");
                sink.disconnected(format!("IMAP: {err}"));
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shutdown.cancelled() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection: select, catch up, wait for more, until it fails or `shutdown`.
    async fn session(
        &self,
        sink: &InboundSink,
        shutdown: &CancellationToken,
        connected: &mut bool,
    ) -> Result<(), Error> {
        let mut session = self.connect().await?;
        let select = format!("SELECT {}", self.settings.mailbox);
        let mailbox = self
            .timed(&select, session.select(&self.settings.mailbox))
            .await?;
        *connected = true;
        sink.connected();
        let validity = mailbox
            .uid_validity
            .ok_or_else(|| self.error("the server reports no UIDVALIDITY".to_owned()))?;
        let idle = self.settings.idle
            && self
                .timed("CAPABILITY", session.capabilities())
                .await?
                .has_str("IDLE");
        let mut progress = match self.progress(validity).await? {
            Some(progress) => progress,
            None => {
                // A first look at this mailbox (or its UIDs were reset): what is unread is
                // new. Handled mail is marked read, so a crash here repeats only the rest.
                let mut unread = Progress {
                    uid_validity: validity,
                    last_uid: 0,
                };
                self.handle_all(&mut session, "UNSEEN", &mut unread, false, sink, shutdown)
                    .await?;
                if shutdown.is_cancelled() {
                    return Ok(());
                }
                let start = Progress {
                    last_uid: unread
                        .last_uid
                        .max(mailbox.uid_next.unwrap_or(1).saturating_sub(1)),
                    ..unread
                };
                self.save(start).await?;
                start
            }
        };
        while !shutdown.is_cancelled() {
            let query = format!("UID {}:*", progress.last_uid.saturating_add(1));
            self.handle_all(&mut session, &query, &mut progress, true, sink, shutdown)
                .await?;
            session = if idle {
                self.idle(session, shutdown).await?
            } else {
                tokio::select! {
                    () = tokio::time::sleep(self.settings.poll_interval) => session,
                    () = shutdown.cancelled() => session,
                }
            };
        }
        Ok(())
    }

    /// Logs in and out once (`openmog doctor`).
    pub(crate) async fn check_login(&self) -> Result<(), Error> {
        let mut session = self.connect().await?;
        // The login is what was checked; a failed LOGOUT changes nothing.
        let _ = tokio::time::timeout(self.settings.timeout, session.logout()).await;
        Ok(())
    }

    async fn connect(&self) -> Result<ImapSession, Error> {
        let server = &self.settings.imap;
        let stream = tokio::time::timeout(self.settings.timeout, tcp(&server.host, server.port))
            .await
            .map_err(|_| self.error("connection timed out".to_owned()))?
            .map_err(|err| self.error(format!("cannot connect to port {}: {err}", server.port)))?;
        let stream: Box<dyn Io> = match server.security {
            Security::Tls => self.tls.wrap(&server.host, stream).await?,
            Security::Plain => Box::new(stream),
            Security::Starttls => {
                let mut client = Client::new(stream);
                self.greeting(&mut client).await?;
                client
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|err| self.error(format!("STARTTLS: {err}")))?;
                self.tls.wrap(&server.host, client.into_inner()).await?
            }
        };
        let mut client = Client::new(stream);
        // After STARTTLS the server sends no second greeting.
        if server.security != Security::Starttls {
            self.greeting(&mut client).await?;
        }
        let login = client.login(&server.username, server.password.expose_secret());
        tokio::time::timeout(self.settings.timeout, login)
            .await
            .map_err(|_| self.error("LOGIN timed out".to_owned()))?
            .map_err(|(err, _)| self.error(format!("LOGIN as {}: {err}", server.username)))
    }

    async fn greeting<T>(&self, client: &mut Client<T>) -> Result<(), Error>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
    {
        match tokio::time::timeout(self.settings.timeout, client.read_response()).await {
            Ok(Ok(Some(_))) => Ok(()),
            Ok(Ok(None)) => Err(self.error("closed before its greeting".to_owned())),
            Ok(Err(err)) => Err(self.error(format!("greeting: {err}"))),
            Err(_) => Err(self.error("no greeting".to_owned())),
        }
    }

    /// Handles every mail `query` finds above `progress`, oldest first, moving `progress`
    /// past each once the engine has stored it (and saving it, if `save`). Stops early on
    /// `shutdown`.
    async fn handle_all(
        &self,
        session: &mut ImapSession,
        query: &str,
        progress: &mut Progress,
        save: bool,
        sink: &InboundSink,
        shutdown: &CancellationToken,
    ) -> Result<(), Error> {
        let found = self
            .timed(&format!("UID SEARCH {query}"), session.uid_search(query))
            .await?;
        // `n:*` always matches the highest UID, even one below `n`.
        let mut uids: Vec<u32> = found
            .into_iter()
            .filter(|uid| *uid > progress.last_uid)
            .collect();
        uids.sort_unstable();
        for uid in uids {
            if let Some(event) = self.read(session, uid).await?
                && !sink.deliver_until_stored(event, shutdown).await
            {
                return Ok(());
            }
            self.mark_read(session, uid).await?;
            progress.last_uid = uid;
            if save {
                self.save(*progress).await?;
            }
        }
        Ok(())
    }

    /// Fetches and converts one mail; `None` if there is nothing to hand on.
    async fn read(&self, session: &mut ImapSession, uid: u32) -> Result<Option<Inbound>, Error> {
        let size = self.fetch(session, uid, "(UID RFC822.SIZE)").await?;
        let size = size.first().and_then(|f| f.size).unwrap_or(0) as usize;
        if size > self.settings.max_message_bytes {
            tracing::warn!(
                channel = self.channel,
                uid,
                size,
                "mail over max_message_bytes left unread"
            );
            return Ok(None);
        }
        let fetched = self.fetch(session, uid, "(UID BODY.PEEK[])").await?;
        let Some(raw) = fetched.first().and_then(|f| f.body()) else {
            return Err(self.error(format!("UID {uid} vanished while being read")));
        };
        let Some(mut mail) = IncomingMail::parse(raw, self.settings.max_attachment_bytes) else {
            tracing::warn!(channel = self.channel, uid, "not a mail; skipped");
            return Ok(None);
        };
        if let Some(dir) = &self.settings.attachments_dir {
            attachments::keep(dir, &mut mail);
        }
        match convert(self.channel, self.settings, &mail) {
            Incoming::Skip(why) => {
                tracing::debug!(channel = self.channel, uid, why, "mail skipped");
                Ok(None)
            }
            Incoming::Deliver(event) => {
                self.remember_thread(&event.conversation.id, &mail).await?;
                Ok(Some(event))
            }
        }
    }

    async fn fetch(
        &self,
        session: &mut ImapSession,
        uid: u32,
        items: &str,
    ) -> Result<Vec<async_imap::types::Fetch>, Error> {
        let fetch = async {
            session
                .uid_fetch(uid.to_string(), items)
                .await?
                .try_collect()
                .await
        };
        self.timed(&format!("UID FETCH {uid} {items}"), fetch).await
    }

    /// A thread's state exists before the engine can answer in it.
    async fn remember_thread(&self, conversation: &str, mail: &IncomingMail) -> Result<(), Error> {
        let key = thread_key(conversation);
        let state = match self.state.get::<ThreadState>(&key).await? {
            Some(mut known) => {
                known.cite(&mail.id);
                known
            }
            None => ThreadState::started_by(mail, &self.settings.address),
        };
        Ok(self.state.put(&key, &state).await?)
    }

    /// Marks `uid` read: only ever after the engine stored it.
    async fn mark_read(&self, session: &mut ImapSession, uid: u32) -> Result<(), Error> {
        let store = async {
            session
                .uid_store(uid.to_string(), "+FLAGS.SILENT (\\Seen)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        };
        self.timed(&format!("UID STORE {uid}"), store).await?;
        Ok(())
    }

    /// Waits in IDLE until the mailbox changes, `poll_interval` passes, or `shutdown`.
    async fn idle(
        &self,
        session: ImapSession,
        shutdown: &CancellationToken,
    ) -> Result<ImapSession, Error> {
        let mut idle = session.idle();
        self.timed("IDLE", idle.init()).await?;
        let woke = {
            let (wait, _stop) = idle.wait_with_timeout(self.settings.poll_interval);
            tokio::select! {
                woke = wait => Some(woke),
                () = shutdown.cancelled() => None,
            }
        };
        match woke {
            Some(Err(err)) => return Err(self.error(format!("IDLE: {err}"))),
            Some(Ok(IdleResponse::NewData(_))) => {
                tracing::debug!(channel = self.channel, "IDLE: mailbox changed");
            }
            Some(Ok(IdleResponse::Timeout | IdleResponse::ManualInterrupt)) | None => {}
        }
        self.timed("DONE", idle.done()).await
    }

    /// Runs one IMAP command within `timeout`: a connection that went silent is given up
    /// (and reconnected), never waited on forever.
    async fn timed<T>(
        &self,
        what: &str,
        command: impl std::future::Future<Output = async_imap::error::Result<T>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.settings.timeout, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(self.error(format!("{what}: {err}"))),
            Err(_) => Err(self.error(format!(
                "{what}: no answer within {:?}",
                self.settings.timeout
            ))),
        }
    }

    /// The stored progress for this mailbox if it is still valid for `validity`.
    async fn progress(&self, validity: u32) -> Result<Option<Progress>, Error> {
        let stored: Option<Progress> = self
            .state
            .get(&progress_key(&self.settings.mailbox))
            .await?;
        Ok(match stored {
            Some(p) if p.uid_validity == validity => Some(p),
            Some(p) => {
                tracing::warn!(
                    channel = self.channel,
                    was = p.uid_validity,
                    now = validity,
                    "UIDVALIDITY changed: unread mail is looked at again (the inbox drops what it has seen)"
                );
                None
            }
            None => None,
        })
    }

    async fn save(&self, progress: Progress) -> Result<(), Error> {
        Ok(self
            .state
            .put(&progress_key(&self.settings.mailbox), &progress)
            .await?)
    }

    fn error(&self, reason: String) -> Error {
        Error::Imap {
            host: self.settings.imap.host.clone(),
            reason,
        }
    }
}

fn progress_key(mailbox: &str) -> String {
    format!("imap:{mailbox}")
}

/// The channel-state key of a thread's state.
pub(crate) fn thread_key(conversation: &str) -> String {
    debug_assert!(!thread::is_direct(conversation));
    format!("thread:{conversation}")
}

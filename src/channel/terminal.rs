//! The terminal channel: one conversation on stdin and stdout, for `openmog chat`.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::{Channel, InboundSink, ReceiveError, SendError};
use crate::domain::{
    ConversationRef, Inbound, InboundKind, Outbound, Sender, SentRef, new_short_id,
};

/// The conversation id of the terminal.
pub const TERMINAL_CONVERSATION: &str = "console";
/// The user id the terminal's user has (bind a contact to it with `addresses.terminal = "local"`).
pub const TERMINAL_USER: &str = "local";

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Reads requests line by line and prints what openmog says.
pub struct TerminalChannel {
    name: String,
    input: Mutex<Option<BufReader<Reader>>>,
    output: Mutex<Writer>,
    /// Distinguishes this run's line numbers from an earlier run's in the inbox.
    session: String,
    sent: AtomicU64,
}

impl TerminalChannel {
    /// The terminal on the process's stdin and stdout.
    pub fn stdio(name: &str) -> Self {
        Self::with_io(
            name,
            Box::new(tokio::io::stdin()),
            Box::new(tokio::io::stdout()),
        )
    }

    /// The terminal on any reader and writer (for tests).
    pub fn with_io(name: &str, input: Reader, output: Writer) -> Self {
        TerminalChannel {
            name: name.to_owned(),
            input: Mutex::new(Some(BufReader::new(input))),
            output: Mutex::new(output),
            session: new_short_id(8),
            sent: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl Channel for TerminalChannel {
    fn name(&self) -> &str {
        &self.name
    }

    /// Returns when the input ends (Ctrl-D) or on shutdown.
    async fn receive(
        &self,
        sink: InboundSink,
        shutdown: CancellationToken,
    ) -> Result<(), ReceiveError> {
        let Some(mut input) = self.input.lock().await.take() else {
            return Err(ReceiveError("the terminal is already being read".into()));
        };
        sink.connected();
        let user = std::env::var("USER").unwrap_or_else(|_| "you".to_owned());
        let mut number = 0u64;
        loop {
            let mut line = String::new();
            let read = tokio::select! {
                read = input.read_line(&mut line) => read,
                () = shutdown.cancelled() => return Ok(()),
            };
            match read {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(err) => return Err(ReceiveError(format!("reading the terminal: {err}"))),
            }
            let text = line.trim();
            if text.is_empty() {
                continue;
            }
            number += 1;
            let event = Inbound {
                conversation: ConversationRef::new(self.name.clone(), TERMINAL_CONVERSATION),
                sender: Sender {
                    user_id: TERMINAL_USER.to_owned(),
                    display_name: user.clone(),
                },
                event_id: format!("{}-{number}", self.session),
                kind: InboundKind::Message {
                    text: text.to_owned(),
                },
            };
            sink.deliver(event)
                .await
                .map_err(|e| ReceiveError(e.to_string()))?;
        }
    }

    async fn send(&self, message: &Outbound) -> Result<SentRef, SendError> {
        let text = message.body.plain_text();
        let mut out = self.output.lock().await;
        let mut block = String::new();
        for (i, line) in text.lines().enumerate() {
            block.push_str(if i == 0 { "openmog> " } else { "         " });
            block.push_str(line);
            block.push('\n');
        }
        out.write_all(block.as_bytes())
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?;
        out.flush()
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?;
        let n = self.sent.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(SentRef {
            message_id: Some(format!("{}-{n}", self.session)),
        })
    }
}

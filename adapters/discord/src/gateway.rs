//! The receive side: serenity's gateway client with an event handler that stores each
//! message and interaction in the inbox, opens a thread for a request made in a server
//! channel, and acknowledges interactions within Discord's three seconds. serenity resumes
//! dropped sessions (Discord replays what was missed); the inbox drops anything seen twice
//! by its message or interaction id.

use std::sync::Arc;

use openmog::channel::{InboundSink, ReceiveError};
use openmog::domain::Inbound;
use serenity::all::{
    ChannelType, CommandInteraction, CommandOptionType, ComponentInteraction, Context,
    CreateCommand, CreateCommandOption, CreateInteractionResponse,
    CreateInteractionResponseMessage, EventHandler, GatewayIntents, Interaction, Message, Ready,
};
use serenity::http::{LightMethod, Route};
use serenity::model::id::MessageId;
use tokio_util::sync::CancellationToken;

use crate::channel::Inner;
use crate::inbound::{addressed, click_inbound, command_inbound, message_inbound};

struct Handler {
    inner: Arc<Inner>,
    sink: InboundSink,
    shutdown: CancellationToken,
}

pub(crate) async fn run(
    inner: Arc<Inner>,
    sink: InboundSink,
    shutdown: CancellationToken,
) -> Result<(), ReceiveError> {
    let mut intents =
        GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES | GatewayIntents::DIRECT_MESSAGES;
    if inner.settings.message_content {
        intents |= GatewayIntents::MESSAGE_CONTENT;
    }
    let handler = Handler {
        inner: Arc::clone(&inner),
        sink,
        shutdown: shutdown.clone(),
    };
    let mut client = serenity::client::ClientBuilder::new_with_http(inner.gateway_http(), intents)
        .event_handler(handler)
        .await
        .map_err(|err| ReceiveError(inner.redact(&err.to_string())))?;
    let shards = Arc::clone(&client.shard_manager);
    tokio::select! {
        started = client.start() => started.map_err(|err| ReceiveError(inner.redact(&err.to_string())))?,
        () = shutdown.cancelled() => shards.shutdown_all().await,
    }
    Ok(())
}

impl Handler {
    /// Stores `event`, retrying while the store is unavailable; `false` on shutdown.
    async fn deliver(&self, event: Inbound) -> bool {
        self.sink.deliver_until_stored(event, &self.shutdown).await
    }

    /// Answers an interaction right away (Discord allows three seconds).
    async fn respond(&self, id: u64, token: &str, response: &CreateInteractionResponse) {
        let route = Route::InteractionResponse {
            interaction_id: id.into(),
            token,
        };
        if let Err(failure) = self
            .inner
            .execute(route, LightMethod::Post, Some(response))
            .await
        {
            tracing::warn!(interaction = id, error = %failure.error, "could not acknowledge an interaction");
        }
    }

    /// The conversation for a request in a server text channel: a thread opened on the
    /// message (its id is the message's), or the channel itself if threads are off, the
    /// channel is a thread already, or the thread cannot be made.
    async fn conversation_for(&self, ctx: &Context, message: &Message, text: &str) -> u64 {
        let channel = message.channel_id.get();
        if !self.inner.settings.open_threads || message.guild_id.is_none() {
            return channel;
        }
        let is_thread = match message.channel(ctx).await {
            Ok(serenity::model::channel::Channel::Guild(c)) => matches!(
                c.kind,
                ChannelType::PublicThread | ChannelType::PrivateThread | ChannelType::NewsThread
            ),
            _ => false,
        };
        if is_thread {
            return channel;
        }
        let name: String = text.chars().take(80).collect();
        let body = serde_json::json!({"name": name, "auto_archive_duration": 1440});
        let route = Route::ChannelMessageThreads {
            channel_id: message.channel_id,
            message_id: MessageId::new(message.id.get()),
        };
        match self
            .inner
            .execute(route, LightMethod::Post, Some(&body))
            .await
        {
            Ok(_) => message.id.get(),
            // A thread already exists on this message (a replayed event): it is that one.
            Err(failure) if failure.code == 160_004 => message.id.get(),
            Err(failure) => {
                tracing::warn!(error = %failure.error, "could not open a thread; answering in the channel");
                channel
            }
        }
    }

    async fn on_click(&self, click: ComponentInteraction) {
        let Some(event) = click_inbound(&self.inner.name, &click) else {
            let notice = CreateInteractionResponseMessage::new()
                .content("This button is not one of mine.")
                .ephemeral(true);
            self.respond(
                click.id.get(),
                &click.token,
                &CreateInteractionResponse::Message(notice),
            )
            .await;
            return;
        };
        self.inner
            .remember(click.id.get(), click.application_id, &click.token);
        if self.deliver(event).await {
            // Acknowledge without changing the message; the outcome edits it later.
            self.respond(
                click.id.get(),
                &click.token,
                &CreateInteractionResponse::Acknowledge,
            )
            .await;
        }
    }

    async fn on_command(&self, command: CommandInteraction) {
        let Some(event) = command_inbound(&self.inner.name, &command) else {
            let notice = CreateInteractionResponseMessage::new()
                .content("I do not know that command.")
                .ephemeral(true);
            self.respond(
                command.id.get(),
                &command.token,
                &CreateInteractionResponse::Message(notice),
            )
            .await;
            return;
        };
        let text = match &event.kind {
            openmog::domain::InboundKind::Message { text } => text.clone(),
            openmog::domain::InboundKind::Decision { .. }
            | openmog::domain::InboundKind::Refused { .. }
            | openmog::domain::InboundKind::Scheduled { .. } => String::new(),
        };
        self.inner
            .remember(command.id.get(), command.application_id, &command.token);
        if !self.deliver(event).await {
            return;
        }
        // `/task` shows what was asked, for everyone; decisions are answered privately.
        let ack = if command.data.name == "task" {
            CreateInteractionResponseMessage::new()
                .content(format!("📝 {}", crate::render::escape_markdown(&text)))
        } else {
            CreateInteractionResponseMessage::new()
                .content("Received; the answer follows.")
                .ephemeral(true)
        };
        self.respond(
            command.id.get(),
            &command.token,
            &CreateInteractionResponse::Message(ack),
        )
        .await;
    }
}

/// The slash commands the bot registers.
pub fn commands() -> Vec<CreateCommand> {
    let id = |verb: &str| {
        CreateCommandOption::new(
            CommandOptionType::String,
            "id",
            format!("the approval to {verb}"),
        )
        .required(true)
    };
    vec![
        CreateCommand::new("task")
            .description("Ask openmog to do something")
            .add_option(
                CreateCommandOption::new(CommandOptionType::String, "request", "what to do")
                    .required(true),
            ),
        CreateCommand::new("approve")
            .description("Approve a step (or its whole plan)")
            .add_option(id("approve"))
            .add_option(
                CreateCommandOption::new(CommandOptionType::String, "scope", "step or plan")
                    .add_string_choice("this step", "step")
                    .add_string_choice("the whole plan", "plan"),
            ),
        CreateCommand::new("deny")
            .description("Deny a step")
            .add_option(id("deny")),
    ]
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        tracing::info!(channel = %self.inner.name, bot = %ready.user.name, "connected to the Discord gateway");
        self.sink.connected();
        if self.inner.settings.register_commands
            && let Err(err) =
                serenity::model::application::Command::set_global_commands(&ctx.http, commands())
                    .await
        {
            tracing::warn!(error = %self.inner.redact(&err.to_string()), "could not register slash commands");
        }
    }

    async fn resume(&self, _ctx: Context, _resumed: serenity::model::event::ResumedEvent) {
        self.sink.connected();
    }

    async fn shard_stage_update(
        &self,
        _ctx: Context,
        update: serenity::gateway::ShardStageUpdateEvent,
    ) {
        use serenity::gateway::ConnectionStage;
        match update.new {
            ConnectionStage::Connected => self.sink.connected(),
            ConnectionStage::Disconnected => {
                self.sink
                    .disconnected("the gateway session dropped; reconnecting");
            }
            _ => {}
        }
    }

    async fn message(&self, ctx: Context, message: Message) {
        // The cache holds READY's user before any later event is dispatched, whereas the
        // `ready` handler may still be running.
        let bot = ctx.cache.current_user().id.get();
        let Some(read) = addressed(bot, &message) else {
            return;
        };
        let conversation = if read.in_guild {
            self.conversation_for(&ctx, &message, &read.text).await
        } else {
            message.channel_id.get()
        };
        self.deliver(message_inbound(
            &self.inner.name,
            conversation,
            &message,
            read.text,
        ))
        .await;
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Component(click) => self.on_click(click).await,
            Interaction::Command(command) => self.on_command(command).await,
            _ => {}
        }
    }
}

//! Interaction responses of the fake Discord: the callback (acknowledge once), follow-ups and the
//! original response, recorded as [`InteractionReply`]s and messages.

use serde_json::Value;

use super::json::EPHEMERAL;
use super::messages::{Draft, validate};
use super::rest::ApiError;
use super::state::State;
use super::{APPLICATION_ID, InteractionReply};

/// An interaction the fake created (by a click or a slash command).
#[derive(Debug, Clone)]
pub(super) struct InteractionInfo {
    /// The continuation token (`itok-<id>`).
    pub(super) token: String,
    /// Where it happened.
    pub(super) channel_id: u64,
    /// The message whose component was clicked.
    pub(super) component_message: Option<u64>,
    /// Whether the callback was answered.
    pub(super) answered: bool,
    /// The message `@original` refers to, once there is one.
    pub(super) original: Option<u64>,
    /// Whether a deferred response (type 5) asked to be ephemeral.
    pub(super) deferred_ephemeral: bool,
}

impl InteractionInfo {
    /// A fresh, unanswered interaction.
    pub(super) fn new(token: String, channel_id: u64, component_message: Option<u64>) -> Self {
        InteractionInfo {
            token,
            channel_id,
            component_message,
            answered: false,
            original: None,
            deferred_ephemeral: false,
        }
    }
}

impl State {
    /// `POST /interactions/{id}/{token}/callback`.
    pub(super) fn interaction_callback(
        &mut self,
        id: u64,
        token: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let info = self
            .interactions
            .get(&id)
            .filter(|i| i.token == token)
            .cloned()
            .ok_or_else(|| ApiError::new(404, 10062, "Unknown interaction"))?;
        if info.answered {
            return Err(ApiError::new(
                400,
                40060,
                "Interaction has already been acknowledged.",
            ));
        }
        let kind = body["type"].as_u64().unwrap_or(0);
        let data = &body["data"];
        let draft = Draft::parse(data);
        let ephemeral = draft.flags & EPHEMERAL != 0;
        let mut original = info.original;
        let mut deferred_ephemeral = info.deferred_ephemeral;
        match kind {
            // PONG, autocomplete result, modal, premium required, launch activity.
            1 | 8 | 9 | 10 | 12 => {}
            // CHANNEL_MESSAGE_WITH_SOURCE: the original response is a new message.
            4 => original = Some(self.webhook_message(info.channel_id, &draft, ephemeral)?),
            // DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: the message comes with the first edit.
            5 => deferred_ephemeral = ephemeral,
            // DEFERRED_UPDATE_MESSAGE: `@original` is the clicked message.
            6 => original = info.component_message.or(original),
            // UPDATE_MESSAGE: edit the clicked message.
            7 => {
                let Some(clicked) = info.component_message else {
                    return Err(ApiError::form(
                        "type",
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        "Interaction response type is invalid for this interaction",
                    ));
                };
                self.edit_bot_message(clicked, &draft)?;
                original = Some(clicked);
            }
            _ => {
                return Err(ApiError::form(
                    "type",
                    "BASE_TYPE_CHOICES",
                    "Value must be one of {1, 4, 5, 6, 7, 8, 9, 10, 12}.",
                ));
            }
        }
        if let Some(stored) = self.interactions.get_mut(&id) {
            stored.answered = true;
            stored.original = original;
            stored.deferred_ephemeral = deferred_ephemeral;
        }
        self.replies.push(InteractionReply {
            interaction_id: id,
            kind: u8::try_from(kind).unwrap_or(u8::MAX),
            content: draft.content,
            ephemeral,
            components_removed: draft.components.as_ref().is_some_and(Vec::is_empty),
        });
        Ok(())
    }

    /// `POST /webhooks/{app}/{token}`: a follow-up message.
    pub(super) fn followup(
        &mut self,
        app: u64,
        token: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let (interaction, info) = self.answered_interaction(app, token)?;
        let draft = Draft::parse(body);
        let ephemeral = draft.flags & EPHEMERAL != 0;
        let id = self.webhook_message(info.channel_id, &draft, ephemeral)?;
        self.followups.push((
            interaction,
            draft.content.clone().unwrap_or_default(),
            ephemeral,
        ));
        Ok(self.message_json(id, false).unwrap_or_default())
    }

    /// `GET /webhooks/{app}/{token}/messages/@original`.
    pub(super) fn get_original(&self, app: u64, token: &str) -> Result<Value, ApiError> {
        let (_, info) = self.answered_interaction(app, token)?;
        info.original
            .and_then(|m| self.message_json(m, false))
            .ok_or_else(ApiError::unknown_message)
    }

    /// `PATCH /webhooks/{app}/{token}/messages/@original`: edits the original response (after a
    /// deferred response: creates it).
    pub(super) fn edit_original(
        &mut self,
        app: u64,
        token: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let (id, info) = self.answered_interaction(app, token)?;
        let draft = Draft::parse(body);
        let message = match info.original {
            Some(original) => {
                self.edit_bot_message(original, &draft)?;
                original
            }
            None => {
                let created =
                    self.webhook_message(info.channel_id, &draft, info.deferred_ephemeral)?;
                if let Some(stored) = self.interactions.get_mut(&id) {
                    stored.original = Some(created);
                }
                created
            }
        };
        Ok(self.message_json(message, false).unwrap_or_default())
    }

    /// `PATCH /webhooks/{app}/{token}/messages/{message}`: edits a follow-up.
    pub(super) fn edit_followup(
        &mut self,
        app: u64,
        token: &str,
        message: u64,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let (_, info) = self.answered_interaction(app, token)?;
        if !self
            .message(message)
            .is_some_and(|m| m.channel_id == info.channel_id && m.author.is_none())
        {
            return Err(ApiError::unknown_message());
        }
        self.edit_bot_message(message, &Draft::parse(body))?;
        Ok(self.message_json(message, false).unwrap_or_default())
    }

    /// The interaction with this token, if it belongs to the fake's application and was answered
    /// (Discord only accepts the webhook routes after the callback).
    fn answered_interaction(
        &self,
        app: u64,
        token: &str,
    ) -> Result<(u64, InteractionInfo), ApiError> {
        if app != APPLICATION_ID {
            return Err(ApiError::unknown_webhook());
        }
        let id = token
            .strip_prefix("itok-")
            .and_then(|id| id.parse::<u64>().ok())
            .ok_or_else(ApiError::unknown_webhook)?;
        self.interactions
            .get(&id)
            .filter(|i| i.token == token && i.answered)
            .map(|i| (id, i.clone()))
            .ok_or_else(ApiError::unknown_webhook)
    }

    /// A validated new bot message sent through an interaction; returns its id.
    fn webhook_message(
        &mut self,
        channel: u64,
        draft: &Draft,
        ephemeral: bool,
    ) -> Result<u64, ApiError> {
        let content = draft.content.clone().unwrap_or_default();
        let embeds = draft.embeds.clone().unwrap_or_default();
        let components = draft.components.clone().unwrap_or_default();
        validate(&content, &embeds, &components)?;
        let mut m = State::bot_draft(channel, content, embeds);
        m.components = components;
        m.ephemeral = ephemeral;
        m.webhook = true;
        Ok(self.push_message(m))
    }

    /// Applies `draft` to the bot's message `message` (validated) and counts the edit.
    fn edit_bot_message(&mut self, message: u64, draft: &Draft) -> Result<(), ApiError> {
        let existing = self
            .message(message)
            .filter(|m| m.author.is_none())
            .ok_or_else(ApiError::unknown_message)?;
        let (content, embeds, components) = draft.apply(existing);
        validate(&content, &embeds, &components)?;
        self.apply_edit(message, content, embeds, components);
        Ok(())
    }
}

//! The bot's REST effects on messages: create, edit and fetch, with Discord's validation.

use std::collections::HashSet;

use serde_json::Value;

use super::json;
use super::rest::{ApiError, Headers};
use super::state::{State, StoredMessage};

/// What a message body asks for: fields absent from the body are `None`.
#[derive(Debug, Default)]
pub(super) struct Draft {
    pub(super) content: Option<String>,
    pub(super) embeds: Option<Vec<Value>>,
    pub(super) components: Option<Vec<Value>>,
    pub(super) flags: u64,
}

impl Draft {
    /// Reads `content`, `embeds`, `components` and `flags` (null counts as absent).
    pub(super) fn parse(body: &Value) -> Draft {
        Draft {
            content: body["content"].as_str().map(str::to_owned),
            embeds: body["embeds"].as_array().cloned(),
            components: body["components"].as_array().cloned(),
            flags: body["flags"].as_u64().unwrap_or(0),
        }
    }

    /// The message fields after applying this draft to `(content, embeds, components)`.
    pub(super) fn apply(&self, m: &StoredMessage) -> (String, Vec<Value>, Vec<Value>) {
        (
            self.content.clone().unwrap_or_else(|| m.content.clone()),
            self.embeds.clone().unwrap_or_else(|| m.embeds.clone()),
            self.components
                .clone()
                .unwrap_or_else(|| m.components.clone()),
        )
    }
}

impl State {
    /// `POST /channels/{channel}/messages`.
    pub(super) fn create_message(
        &mut self,
        channel: u64,
        body: &Value,
    ) -> Result<(Value, Headers), ApiError> {
        if !self.channels.contains_key(&channel) {
            return Err(ApiError::unknown_channel());
        }
        let draft = Draft::parse(body);
        let content = draft.content.unwrap_or_default();
        let embeds = draft.embeds.unwrap_or_default();
        let components = draft.components.unwrap_or_default();
        validate(&content, &embeds, &components)?;
        let reference = &body["message_reference"];
        let reply_to = reference["message_id"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok())
            .or_else(|| reference["message_id"].as_u64());
        if let Some(to) = reply_to
            && self.message(to).is_none()
            && reference["fail_if_not_exists"].as_bool() != Some(false)
        {
            return Err(ApiError::form(
                "message_reference",
                "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                "Unknown message",
            ));
        }
        let headers = self.admit(channel)?;
        let mut m = State::bot_draft(channel, content, embeds);
        m.components = components;
        m.reply_to = reply_to.filter(|&to| self.message(to).is_some());
        let id = self.push_message(m);
        let reply = self.message_json(id, false).unwrap_or_default();
        Ok((reply, headers))
    }

    /// `PATCH /channels/{channel}/messages/{message}`.
    pub(super) fn edit_message(
        &mut self,
        channel: u64,
        message: u64,
        body: &Value,
    ) -> Result<(Value, Headers), ApiError> {
        if !self.channels.contains_key(&channel) {
            return Err(ApiError::unknown_channel());
        }
        let existing = self
            .message(message)
            .filter(|m| m.channel_id == channel && !m.ephemeral)
            .ok_or_else(ApiError::unknown_message)?;
        if existing.author.is_some() {
            return Err(ApiError::new(
                403,
                50005,
                "Cannot edit a message authored by another user",
            ));
        }
        let (content, embeds, components) = Draft::parse(body).apply(existing);
        validate(&content, &embeds, &components)?;
        let headers = self.admit(channel)?;
        self.apply_edit(message, content, embeds, components);
        let reply = self.message_json(message, false).unwrap_or_default();
        Ok((reply, headers))
    }

    /// Replaces a message's fields and counts the edit.
    pub(super) fn apply_edit(
        &mut self,
        message: u64,
        content: String,
        embeds: Vec<Value>,
        components: Vec<Value>,
    ) {
        if let Some(m) = self.message_mut(message) {
            m.content = content;
            m.embeds = embeds;
            m.components = components;
            m.edits += 1;
            m.edited_timestamp = Some(json::now());
        }
    }

    /// `GET /channels/{channel}/messages/{message}`.
    pub(super) fn get_message(&self, channel: u64, message: u64) -> Result<Value, ApiError> {
        if !self.channels.contains_key(&channel) {
            return Err(ApiError::unknown_channel());
        }
        self.message(message)
            .filter(|m| m.channel_id == channel && !m.ephemeral)
            .and_then(|m| self.message_json(m.id, false))
            .ok_or_else(ApiError::unknown_message)
    }
}

/// Longest message content, in characters.
const MAX_CONTENT: usize = 2000;

/// Discord's checks on a message's resulting fields: content length, embed count, component
/// layout (rows of 1-5 buttons, unique custom ids of 1-100 characters, labels up to 80), and
/// not empty.
pub(super) fn validate(
    content: &str,
    embeds: &[Value],
    components: &[Value],
) -> Result<(), ApiError> {
    if content.chars().count() > MAX_CONTENT {
        return Err(ApiError::form(
            "content",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 2000 or fewer in length.",
        ));
    }
    if embeds.len() > 10 {
        return Err(ApiError::form(
            "embeds",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 10 or fewer in length.",
        ));
    }
    if components.len() > 5 {
        return Err(ApiError::form(
            "components",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 5 or fewer in length.",
        ));
    }
    let mut ids = HashSet::new();
    for (i, row) in components.iter().enumerate() {
        let children = row["components"].as_array().map_or(&[][..], Vec::as_slice);
        if row["type"].as_u64() != Some(1) || children.is_empty() || children.len() > 5 {
            return Err(ApiError::form(
                &format!("components.{i}.components"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 5 in length.",
            ));
        }
        for (j, child) in children.iter().enumerate() {
            let at = format!("components.{i}.components.{j}");
            if child["label"]
                .as_str()
                .is_some_and(|l| l.chars().count() > 80)
            {
                return Err(ApiError::form(
                    &format!("{at}.label"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 80 or fewer in length.",
                ));
            }
            let link = child["style"].as_u64() == Some(5);
            match child["custom_id"].as_str() {
                None if link => {}
                Some(id) if !link && (1..=100).contains(&id.chars().count()) => {
                    if !ids.insert(id.to_owned()) {
                        return Err(ApiError::form(
                            &format!("{at}.custom_id"),
                            "COMPONENT_CUSTOM_ID_DUPLICATED",
                            "Component custom id cannot be duplicated",
                        ));
                    }
                }
                _ => {
                    return Err(ApiError::form(
                        &format!("{at}.custom_id"),
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 100 in length.",
                    ));
                }
            }
        }
    }
    if content.trim().is_empty() && embeds.is_empty() && components.is_empty() {
        return Err(ApiError::new(400, 50006, "Cannot send an empty message"));
    }
    Ok(())
}

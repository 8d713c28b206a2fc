//! Application commands and the application info of the fake Discord: bulk overwrite (with
//! Discord's name and description checks) and listing.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::json::{bot_user, id};
use super::rest::ApiError;
use super::state::State;
use super::{APPLICATION_ID, BOT_NAME};

/// The application info (`GET /oauth2/applications/@me`); the bot user is the owner.
pub(super) fn application_info() -> Value {
    json!({
        "id": id(APPLICATION_ID),
        "name": BOT_NAME,
        "icon": null,
        "description": "",
        "summary": "",
        "rpc_origins": [],
        "bot_public": true,
        "bot_require_code_grant": false,
        "verify_key": "0".repeat(64),
        "owner": bot_user(),
        "team": null,
        "flags": 0,
        "tags": [],
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "role_connections_verification_url": null,
        "approximate_guild_count": 1,
        "bot": bot_user(),
    })
}

/// A registered command: the request's fields plus what Discord adds.
pub(super) fn command(request: &Value, command_id: u64, version: u64, guild: Option<u64>) -> Value {
    let mut c: Map<String, Value> = request.as_object().cloned().unwrap_or_default();
    c.insert("id".into(), id(command_id));
    c.insert("application_id".into(), id(APPLICATION_ID));
    c.insert("version".into(), id(version));
    if let Some(guild) = guild {
        c.insert("guild_id".into(), id(guild));
    }
    let defaults = [
        ("type", json!(1)),
        ("description", json!("")),
        ("options", json!([])),
        ("default_member_permissions", Value::Null),
        ("dm_permission", json!(guild.is_none())),
        ("nsfw", json!(false)),
        ("integration_types", json!([0])),
        ("contexts", Value::Null),
    ];
    for (key, value) in defaults {
        match c.get(key) {
            Some(present) if !present.is_null() => {}
            _ => {
                c.insert(key.into(), value);
            }
        }
    }
    Value::Object(c)
}

impl State {
    /// `PUT /applications/{app}/commands` (`guild` is `None`) or
    /// `PUT /applications/{app}/guilds/{guild}/commands`: replaces the registered set, returns it.
    pub(super) fn overwrite_commands(
        &mut self,
        guild: Option<u64>,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let Some(requests) = body.as_array() else {
            return Err(ApiError::form(
                "_root",
                "LIST_TYPE_CONVERT",
                "Only iterables may be used in a ListType",
            ));
        };
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(requests.len());
        for (i, request) in requests.iter().enumerate() {
            let name = request["name"].as_str().unwrap_or_default();
            check_command(i, request, name)?;
            if !seen.insert(name.to_owned()) {
                return Err(ApiError::form(
                    &format!("{i}.name"),
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                ));
            }
            let command_id = match self.command_ids.get(name) {
                Some(&known) => known,
                None => {
                    let fresh = self.next_id();
                    self.command_ids.insert(name.to_owned(), fresh);
                    fresh
                }
            };
            let version = self.next_id();
            out.push(command(request, command_id, version, guild));
        }
        match guild {
            None => self.global_commands.clone_from(&out),
            Some(guild) => {
                self.guild_commands.insert(guild, out.clone());
            }
        }
        Ok(Value::Array(out))
    }

    /// `GET /applications/{app}/commands` or `.../guilds/{guild}/commands`.
    pub(super) fn get_commands(&self, guild: Option<u64>) -> Value {
        let list = match guild {
            None => self.global_commands.clone(),
            Some(guild) => self.guild_commands.get(&guild).cloned().unwrap_or_default(),
        };
        Value::Array(list)
    }
}

/// Discord's checks on command `i`: a 1-32 character name, lowercase without spaces for slash
/// commands, which also need a 1-100 character description.
fn check_command(i: usize, request: &Value, name: &str) -> Result<(), ApiError> {
    let length = name.chars().count();
    if length == 0 || length > 32 {
        return Err(ApiError::form(
            &format!("{i}.name"),
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 32 in length.",
        ));
    }
    let slash = request["type"].as_u64().unwrap_or(1) == 1;
    if slash && name.chars().any(|c| c.is_uppercase() || c.is_whitespace()) {
        return Err(ApiError::form(
            &format!("{i}.name"),
            "APPLICATION_COMMAND_INVALID_NAME",
            "Command name is invalid",
        ));
    }
    let description = request["description"].as_str().unwrap_or_default();
    let length = description.chars().count();
    if slash && (length == 0 || length > 100) {
        return Err(ApiError::form(
            &format!("{i}.description"),
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 in length.",
        ));
    }
    Ok(())
}

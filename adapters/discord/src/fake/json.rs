//! Builders for the Discord JSON objects the fake sends: users, members, messages, channels,
//! interactions, READY, GUILD_CREATE and `GET /gateway/bot`, plus timestamps and snowflakes.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::state::{ChannelInfo, ChannelKind, StoredMessage};
use super::{APPLICATION_ID, BOT_ID, BOT_NAME, DcUser, GUILD_ID};

/// Message flag: only the invoking user sees the message.
pub(super) const EPHEMERAL: u64 = 1 << 6;

/// Permissions a plain member has in interactions: view, send, history, reactions, application
/// commands and sending in threads.
const MEMBER_PERMISSIONS: &str = "277025459264";

/// A snowflake as Discord sends it: a JSON string.
pub(super) fn id(value: u64) -> Value {
    Value::String(value.to_string())
}

/// An RFC 3339 timestamp with microseconds (Discord's format) for `at`.
pub(super) fn timestamp(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// The current time as a Discord timestamp.
pub(super) fn now() -> String {
    timestamp(SystemTime::now())
}

/// Converts days since 1970-01-01 to a proleptic Gregorian `(year, month, day)`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A user object.
fn user(user_id: u64, username: &str, global_name: Option<&str>, bot: bool) -> Value {
    json!({
        "id": id(user_id),
        "username": username,
        "global_name": global_name,
        "discriminator": "0",
        "avatar": null,
        "bot": bot,
        "system": false,
        "banner": null,
        "accent_color": null,
        "public_flags": 0,
        "flags": 0,
    })
}

/// The user object of a (human) test user.
pub(super) fn dc_user(who: &DcUser) -> Value {
    user(who.id, &who.name.to_lowercase(), Some(&who.name), false)
}

/// The bot's own user object (as `GET /users/@me` returns it).
pub(super) fn bot_user() -> Value {
    let mut bot = user(BOT_ID, BOT_NAME, None, true);
    bot["verified"] = json!(true);
    bot["mfa_enabled"] = json!(false);
    bot["locale"] = json!("en-US");
    bot
}

/// A partial member (as in `MESSAGE_CREATE`): no `user`.
pub(super) fn partial_member(joined_at: &str) -> Value {
    json!({
        "roles": [],
        "joined_at": joined_at,
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
        "premium_since": null,
        "nick": null,
        "avatar": null,
        "communication_disabled_until": null,
    })
}

/// A full member with its `user` (as in interactions and `GUILD_CREATE`).
pub(super) fn member(user: Value, joined_at: &str, with_permissions: bool) -> Value {
    let mut member = partial_member(joined_at);
    member["user"] = user;
    if with_permissions {
        member["permissions"] = json!(MEMBER_PERMISSIONS);
    }
    member
}

/// A message. `author` is the author's user object; `referenced` the replied-to message (without
/// its own reference). `gateway` adds `guild_id` and the author's `member`, as `MESSAGE_CREATE`
/// does (REST responses carry neither).
pub(super) fn message(
    m: &StoredMessage,
    author: Value,
    referenced: Option<Value>,
    gateway: bool,
    joined_at: &str,
) -> Value {
    let mentions = if m.mentions_bot {
        vec![bot_user()]
    } else {
        Vec::new()
    };
    let flags = if m.ephemeral { EPHEMERAL } else { 0 };
    let kind = if m.reply_to.is_some() { 19 } else { 0 };
    let mut v = json!({
        "id": id(m.id),
        "channel_id": id(m.channel_id),
        "author": author,
        "content": m.content,
        "timestamp": m.timestamp,
        "edited_timestamp": m.edited_timestamp,
        "tts": false,
        "mention_everyone": false,
        "mentions": mentions,
        "mention_roles": [],
        "attachments": [],
        "embeds": m.embeds,
        "components": m.components,
        "pinned": false,
        "type": kind,
        "flags": flags,
    });
    if let Some(to) = m.reply_to {
        let mut reference = json!({
            "type": 0,
            "message_id": id(to),
            "channel_id": id(m.channel_id),
        });
        if let Some(guild) = m.guild_id {
            reference["guild_id"] = id(guild);
        }
        v["message_reference"] = reference;
        v["referenced_message"] = referenced.unwrap_or_default();
    }
    if m.webhook {
        v["webhook_id"] = id(APPLICATION_ID);
        v["application_id"] = id(APPLICATION_ID);
    }
    if gateway && let Some(guild) = m.guild_id {
        v["guild_id"] = id(guild);
        if m.author.is_some() {
            v["member"] = partial_member(joined_at);
        }
    }
    v
}

/// A channel: guild text, thread, or DM (`recipient` is the DM user's object).
pub(super) fn channel(info: &ChannelInfo, recipient: Option<Value>) -> Value {
    let last = info.last_message_id.map(id);
    match info.kind {
        ChannelKind::Text => json!({
            "id": id(info.id),
            "type": 0,
            "guild_id": id(GUILD_ID),
            "name": info.name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": false,
            "topic": null,
            "last_message_id": last,
            "rate_limit_per_user": 0,
            "parent_id": null,
            "flags": 0,
        }),
        ChannelKind::Thread {
            parent,
            kind,
            auto_archive,
        } => json!({
            "id": id(info.id),
            "type": kind,
            "guild_id": id(GUILD_ID),
            "parent_id": id(parent),
            "owner_id": id(BOT_ID),
            "name": info.name,
            "last_message_id": last,
            "rate_limit_per_user": 0,
            "message_count": info.message_count,
            "member_count": 1,
            "total_message_sent": info.message_count,
            "flags": 0,
            "thread_metadata": {
                "archived": false,
                "auto_archive_duration": auto_archive,
                "archive_timestamp": info.created,
                "locked": false,
                "create_timestamp": info.created,
            },
        }),
        ChannelKind::Dm { .. } => json!({
            "id": id(info.id),
            "type": 1,
            "last_message_id": last,
            "recipients": [recipient.unwrap_or_default()],
            "flags": 0,
        }),
    }
}

/// The parts of an `INTERACTION_CREATE` payload.
pub(super) struct InteractionParts {
    /// Interaction id.
    pub(super) id: u64,
    /// 2 (application command) or 3 (message component).
    pub(super) kind: u8,
    /// The `data` object.
    pub(super) data: Value,
    /// The channel object.
    pub(super) channel: Value,
    /// The channel id.
    pub(super) channel_id: u64,
    /// The guild, if not in a DM.
    pub(super) guild_id: Option<u64>,
    /// The invoking user's object.
    pub(super) user: Value,
    /// The continuation token.
    pub(super) token: String,
    /// The message a component belongs to.
    pub(super) message: Option<Value>,
}

/// An interaction object.
pub(super) fn interaction(p: InteractionParts, joined_at: &str) -> Value {
    // 0: in a guild, 1: in the bot's DM.
    let context = u8::from(p.guild_id.is_none());
    let mut v = json!({
        "id": id(p.id),
        "application_id": id(APPLICATION_ID),
        "type": p.kind,
        "data": p.data,
        "channel_id": id(p.channel_id),
        "channel": p.channel,
        "token": p.token,
        "version": 1,
        "app_permissions": "0",
        "locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {},
        "context": context,
        "attachment_size_limit": 10_485_760,
    });
    match p.guild_id {
        Some(guild) => {
            v["guild_id"] = id(guild);
            v["guild_locale"] = json!("en-US");
            v["member"] = member(p.user, joined_at, true);
        }
        None => v["user"] = p.user,
    }
    if let Some(message) = p.message {
        v["message"] = message;
    }
    v
}

/// The READY payload.
pub(super) fn ready(session_id: &str, resume_url: &str, shard: Option<Value>) -> Value {
    let mut v = json!({
        "v": 10,
        "user": bot_user(),
        "guilds": [{ "id": id(GUILD_ID), "unavailable": true }],
        "session_id": session_id,
        "resume_gateway_url": resume_url,
        "application": { "id": id(APPLICATION_ID), "flags": 0 },
        "private_channels": [],
        "relationships": [],
        "presences": [],
    });
    if let Some(shard) = shard {
        v["shard"] = shard;
    }
    v
}

/// `GET /gateway/bot`: the gateway URL, one shard, and a generous session start limit.
pub(super) fn gateway_bot(url: &str) -> Value {
    json!({
        "url": url,
        "shards": 1,
        "session_start_limit": {
            "total": 1000,
            "remaining": 1000,
            "reset_after": 0,
            "max_concurrency": 1,
        },
    })
}

/// The GUILD_CREATE payload for [`GUILD_ID`]: the bot is the owner (so serenity's cache grants it
/// every permission) and its only member listed.
pub(super) fn guild_create(channels: Vec<Value>, threads: Vec<Value>, joined_at: &str) -> Value {
    json!({
        "id": id(GUILD_ID),
        "name": "openmog test guild",
        "icon": null,
        "icon_hash": null,
        "splash": null,
        "discovery_splash": null,
        "owner_id": id(BOT_ID),
        "widget_enabled": false,
        "widget_channel_id": null,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [],
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "application_id": null,
        "system_channel_id": null,
        "system_channel_flags": 0,
        "rules_channel_id": null,
        "max_presences": null,
        "max_members": 500_000,
        "vanity_url_code": null,
        "description": null,
        "banner": null,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": null,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "nsfw_level": 0,
        "stickers": [],
        "premium_progress_bar_enabled": false,
        "safety_alerts_channel_id": null,
        "joined_at": joined_at,
        "large": false,
        "unavailable": false,
        "member_count": 2,
        "voice_states": [],
        "members": [member(bot_user(), joined_at, false)],
        "channels": channels,
        "threads": threads,
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    })
}

/// `(label, custom_id or url)` of every button, action rows flattened.
pub(super) fn buttons(components: &[Value]) -> Vec<(String, String)> {
    components
        .iter()
        .filter_map(|row| row["components"].as_array())
        .flatten()
        .filter(|c| c["type"].as_u64() == Some(2))
        .map(|c| {
            let label = c["label"].as_str().unwrap_or_default().to_owned();
            let target = c["custom_id"]
                .as_str()
                .or_else(|| c["url"].as_str())
                .unwrap_or_default()
                .to_owned();
            (label, target)
        })
        .collect()
}

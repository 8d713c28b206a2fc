//! `openmog doctor`'s check of a Telegram channel: one `getMe`, which proves that the Bot
//! API answers and takes the token, and says which bot the token belongs to.

use openmog::channel::ProbeFailure;
use teloxide::prelude::*;
use teloxide::{ApiError, RequestError};

use crate::channel::TelegramChannel;

pub(crate) async fn probe(channel: &TelegramChannel) -> Result<String, ProbeFailure> {
    let api = &channel.settings().api_url;
    let asked = tokio::time::timeout(channel.settings().request_timeout, channel.bot.get_me());
    match asked.await {
        Ok(Ok(me)) => Ok(format!(
            "bot @{} answers at {api}",
            me.user.username.as_deref().unwrap_or("?")
        )),
        Ok(Err(RequestError::Api(ApiError::InvalidToken))) => Err(ProbeFailure::new(
            "the bot token was refused (401 Unauthorized)",
            "ask @BotFather for the bot's token (/mybots → API Token), then `openmog vault set \
             telegram.token` or set the variable that settings.token_env names",
        )),
        Ok(Err(err @ (RequestError::Network(_) | RequestError::Io(_)))) => Err(ProbeFailure::new(
            format!("cannot reach {api}: {}", channel.describe(&err)),
            "check the network, a proxy, or settings.api_url",
        )),
        Ok(Err(err)) => Err(ProbeFailure::new(
            format!("getMe failed: {}", channel.describe(&err)),
            "see docs/adapters/telegram.md",
        )),
        Err(_) => Err(ProbeFailure::new(
            format!(
                "{api} did not answer within {:?}",
                channel.settings().request_timeout
            ),
            "check the network, or raise settings.request_timeout",
        )),
    }
}

//! `openmog doctor`'s check of a Discord channel: one `GET /users/@me`, which proves that
//! the API answers and takes the bot token, and says which bot the token belongs to.

use openmog::channel::{ProbeFailure, SendError};
use serenity::http::{LightMethod, Route};

use crate::channel::Inner;

pub(crate) async fn probe(inner: &Inner) -> Result<String, ProbeFailure> {
    let api = inner
        .settings
        .api_url
        .as_deref()
        .unwrap_or("https://discord.com");
    let timeout = inner.settings.request_timeout;
    let asked = inner.execute(Route::UserMe, LightMethod::Get, None::<&()>);
    let failure = match tokio::time::timeout(timeout, asked).await {
        Err(_) => {
            return Err(ProbeFailure::new(
                format!("{api} did not answer within {timeout:?}"),
                "check the network, or raise settings.request_timeout",
            ));
        }
        Ok(Ok(response)) => {
            let me: serde_json::Value = response.json().await.unwrap_or_default();
            let name = me["username"].as_str().unwrap_or("?");
            return Ok(format!("bot {name} answers at {api}"));
        }
        Ok(Err(failure)) => failure,
    };
    Err(match (failure.status, failure.error) {
        (401, _) => ProbeFailure::new(
            "the bot token was refused (401 Unauthorized)",
            "copy the token from the Developer Portal (Applications → your app → Bot → Reset \
             Token), then `openmog vault set discord.token` or set the variable that \
             settings.token_env names",
        ),
        // No HTTP status: the request never got an answer.
        (0, SendError::Transient(why)) => ProbeFailure::new(
            format!("cannot reach {api}: {why}"),
            "check the network, a proxy, or settings.api_url",
        ),
        (_, error) => ProbeFailure::new(
            format!("GET /users/@me failed: {error}"),
            "see docs/adapters/discord.md",
        ),
    })
}

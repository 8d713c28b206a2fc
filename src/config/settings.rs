//! Reading an adapter's `[channels.<name>.settings]`: typed, with every error naming the
//! full key, and secrets given inline or by the name of an environment variable.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A bad setting: the full key (`channels.<name>.settings.<path>`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct SettingError {
    /// The full config key.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The full key of setting `path` of channel `name`.
pub fn setting_key(name: &str, path: &str) -> String {
    format!("channels.{name}.settings.{path}")
}

/// Deserializes channel `name`'s `settings` into `T` (use `deny_unknown_fields`); an error
/// names the key it is about.
pub fn channel_settings<T: DeserializeOwned>(
    name: &str,
    settings: &BTreeMap<String, Value>,
) -> Result<T, SettingError> {
    let object = Value::Object(settings.clone().into_iter().collect());
    serde_path_to_error::deserialize(object).map_err(|err| {
        let path = err.path().to_string();
        SettingError {
            key: setting_key(name, if path == "." { "" } else { &path }),
            reason: err.into_inner().to_string(),
        }
    })
}

/// A secret given inline (`key`) or by the name of an environment variable holding it
/// (`key_env`): exactly one of the two. Either may be a reference `vault:NAME` to a secret
/// of the vault the process opened ([`crate::vault`]). Errors never contain the value.
pub fn secret_setting(
    inline: Option<SecretString>,
    env: Option<&str>,
    key: &str,
) -> Result<SecretString, SettingError> {
    let from_vault = |value: SecretString, key: String| {
        crate::vault::resolve_reference(value).map_err(|reason| SettingError { key, reason })
    };
    match (inline, env) {
        (Some(value), None) => from_vault(value, key.to_owned()),
        (None, Some(var)) => match std::env::var(var) {
            Ok(value) => from_vault(SecretString::from(value), format!("{key}_env")),
            Err(_) => Err(SettingError {
                key: format!("{key}_env"),
                reason: format!("environment variable `{var}` is not set"),
            }),
        },
        (Some(_), Some(_)) => Err(SettingError {
            key: key.to_owned(),
            reason: format!("give either `{key}` or `{key}_env`, not both"),
        }),
        (None, None) => Err(SettingError {
            key: key.to_owned(),
            reason: format!("missing: set it, or `{key}_env` to the name of a variable holding it"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        port: u16,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        depth: u8,
    }

    fn map(value: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn errors_name_the_full_key() {
        let err = channel_settings::<Sample>("x", &map(json!({"port": "eighty"}))).unwrap_err();
        assert_eq!(err.key, "channels.x.settings.port");
        let err =
            channel_settings::<Sample>("x", &map(json!({"port": 1, "inner": {"depth": 999}})))
                .unwrap_err();
        assert_eq!(err.key, "channels.x.settings.inner.depth");
        let err = secret_setting(None, None, "channels.x.settings.token").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("channels.x.settings.token: missing")
        );
        let err = secret_setting(None, Some("OPENMOG_SURELY_UNSET_VAR_42"), "k").unwrap_err();
        assert_eq!(err.key, "k_env");
    }
}

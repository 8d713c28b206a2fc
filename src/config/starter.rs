//! The configuration `openmog init` writes: the shipped example (`config/openmog.toml`,
//! comments kept) with the operator's name, store and chat accounts filled in.

use toml_edit::{DocumentMut, InlineTable, Item, Table, value};

/// The example configuration every starter is made from.
const TEMPLATE: &str = include_str!("../../config/openmog.toml");

/// Where a bot token comes from. Never the token itself: it stays out of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A secret of the vault, by name (`token = "vault:NAME"`).
    Vault(String),
    /// An environment variable, by name (`token_env = "NAME"`).
    Env(String),
}

/// The operator's account on a chat platform, and the bot's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The operator's user id on the platform (digits).
    pub user_id: String,
    /// Where the bot's token is.
    pub token: TokenSource,
}

/// The answers `openmog init` collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Starter {
    /// The operator's name, as the bot calls them.
    pub name: String,
    /// `store.url`.
    pub store_url: String,
    /// A Telegram channel, with the operator's Telegram user id.
    pub telegram: Option<Account>,
    /// A Discord channel, with the operator's Discord user id.
    pub discord: Option<Account>,
}

/// An answer that cannot go into the configuration, naming the question.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{question}: {reason}")]
pub struct StarterError {
    /// What was asked, e.g. "Telegram user id".
    pub question: &'static str,
    /// What is wrong with the answer.
    pub reason: String,
}

impl Starter {
    /// The configuration text, or which answer is unusable.
    pub fn render(&self) -> Result<String, StarterError> {
        self.check()?;
        let mut doc: DocumentMut = TEMPLATE.parse().expect("the shipped example is valid TOML");
        doc.decor_mut().set_prefix(
            "# Written by `openmog init`. Check it with `openmog doctor`; every key is in\n\
             # docs/configuration.md.\n\n",
        );
        let operator = doc["contacts"]
            .as_array_of_tables_mut()
            .and_then(|contacts| contacts.get_mut(0))
            .expect("the example has an operator contact");
        operator["name"] = value(self.name.trim());
        let addresses = operator["addresses"]
            .as_inline_table_mut()
            .expect("the operator has addresses");
        for (platform, account) in self.accounts() {
            addresses.insert(platform, account.user_id.trim().into());
        }
        doc["store"]["url"] = value(self.store_url.trim());
        let channels = doc["channels"]
            .as_table_mut()
            .expect("the example has channels");
        for (platform, account) in self.accounts() {
            channels.insert(
                platform,
                Item::Table(channel_table(platform, &account.token)),
            );
        }
        Ok(doc.to_string())
    }

    fn accounts(&self) -> impl Iterator<Item = (&'static str, &Account)> {
        [("telegram", &self.telegram), ("discord", &self.discord)]
            .into_iter()
            .filter_map(|(platform, account)| Some((platform, account.as_ref()?)))
    }

    fn check(&self) -> Result<(), StarterError> {
        if self.name.trim().is_empty() {
            return Err(StarterError {
                question: "your name",
                reason: "must not be empty".into(),
            });
        }
        if self.store_url.trim().is_empty() {
            return Err(StarterError {
                question: "store",
                reason: "must not be empty".into(),
            });
        }
        for (question, account) in [
            ("Telegram user id", &self.telegram),
            ("Discord user id", &self.discord),
        ] {
            let Some(account) = account else { continue };
            let id = account.user_id.trim();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(StarterError {
                    question,
                    reason: format!("`{id}` is not a number (the platform's numeric user id)"),
                });
            }
            let name = match &account.token {
                TokenSource::Vault(name) | TokenSource::Env(name) => name,
            };
            if name.trim().is_empty() {
                return Err(StarterError {
                    question,
                    reason: "the token's vault secret or variable has no name".into(),
                });
            }
        }
        Ok(())
    }
}

/// `[channels.PLATFORM]` with its token setting.
fn channel_table(platform: &str, token: &TokenSource) -> Table {
    let mut settings = InlineTable::new();
    match token {
        TokenSource::Vault(name) => settings.insert("token", format!("vault:{name}").into()),
        TokenSource::Env(name) => settings.insert("token_env", name.as_str().into()),
    };
    let mut table = Table::new();
    table.insert("kind", value(platform));
    table.insert("settings", value(settings));
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigSource, load};

    fn starter() -> Starter {
        Starter {
            name: "Ann Operator".into(),
            store_url: "sqlite://state/bot.db".into(),
            telegram: Some(Account {
                user_id: "4242".into(),
                token: TokenSource::Vault("telegram.token".into()),
            }),
            discord: Some(Account {
                user_id: "81234567890".into(),
                token: TokenSource::Env("DISCORD_BOT_TOKEN".into()),
            }),
        }
    }

    #[test]
    fn the_answers_land_in_a_configuration_that_loads() {
        let text = starter().render().unwrap();
        let config = load(&[ConfigSource::Text {
            format: "toml".into(),
            text: text.clone(),
        }])
        .unwrap();
        let operator = &config.contacts[0];
        assert_eq!(operator.name, "Ann Operator");
        assert_eq!(operator.addresses["telegram"], "4242");
        assert_eq!(operator.addresses["discord"], "81234567890");
        assert_eq!(operator.addresses["terminal"], "local");
        assert_eq!(config.store.url, "sqlite://state/bot.db");
        assert_eq!(config.channels["telegram"].kind, "telegram");
        assert_eq!(config.channels["discord"].kind, "discord");
        assert!(text.contains(r#"token = "vault:telegram.token""#), "{text}");
        assert!(
            text.contains(r#"token_env = "DISCORD_BOT_TOKEN""#),
            "{text}"
        );
        assert!(
            text.contains("# People I know."),
            "the example's comments are kept"
        );
        assert!(!config.planner.rules.is_empty(), "the example's rules too");
    }

    #[test]
    fn a_bad_answer_names_its_question() {
        let mut bad = starter();
        bad.telegram.as_mut().unwrap().user_id = "@ann".into();
        let err = bad.render().unwrap_err();
        assert_eq!(err.question, "Telegram user id");
        assert!(err.to_string().contains("`@ann` is not a number"), "{err}");
        let mut nameless = starter();
        nameless.name = "  ".into();
        assert_eq!(nameless.render().unwrap_err().question, "your name");
    }

    #[test]
    fn names_that_need_quoting_stay_data() {
        let mut odd = starter();
        odd.name = "Ann \"the\" Operator\n[store]\nurl = 'x'".into();
        let text = odd.render().unwrap();
        let config = load(&[ConfigSource::Text {
            format: "toml".into(),
            text,
        }])
        .unwrap();
        assert_eq!(config.contacts[0].name, odd.name.trim());
        assert_eq!(config.store.url, "sqlite://state/bot.db");
    }
}

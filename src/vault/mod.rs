//! The vault: named secrets in one age-encrypted file, unlocked by a passphrase or an age
//! identity file, and `vault:NAME` references in the configuration resolved from it.
//!
//! The file holds a JSON object of names to values, encrypted as a whole. Values are
//! [`SecretString`]s from the moment they are decrypted; the file is rewritten whole (to a
//! temporary file, then renamed) on every change, readable by its owner only on Unix.

mod file;
mod reference;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

pub use file::{PASSPHRASE_ENV, VaultKey};
pub use reference::{VAULT_PREFIX, install, installed, resolve_reference};

use crate::{Error, Result};

/// An open vault: its file, the key that unlocks it, and its secrets.
pub struct Vault {
    path: PathBuf,
    key: VaultKey,
    secrets: BTreeMap<String, SecretString>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: a vault's values never reach Debug output.
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("names", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Vault {
    /// Creates an empty vault at `path`, which must not exist yet. With
    /// [`VaultKey::Identity`], a missing identity file is generated first.
    pub fn init(path: &Path, key: VaultKey) -> Result<Vault> {
        if path.exists() {
            return Err(Error::Vault(format!(
                "{} already exists; remove it first to start an empty vault",
                path.display()
            )));
        }
        if let VaultKey::Identity(identity) = &key {
            file::ensure_identity(identity)?;
        }
        let vault = Vault {
            path: path.to_owned(),
            key,
            secrets: BTreeMap::new(),
        };
        vault.save()?;
        Ok(vault)
    }

    /// Opens and decrypts the vault at `path`.
    pub fn open(path: &Path, key: VaultKey) -> Result<Vault> {
        let secrets = file::read(path, &key)?;
        Ok(Vault {
            path: path.to_owned(),
            key,
            secrets,
        })
    }

    /// The file this vault lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The secret called `name`.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.secrets.get(name)
    }

    /// The names of every secret, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(String::as_str)
    }

    /// Sets (or replaces) the secret `name` and rewrites the file.
    pub fn set(&mut self, name: &str, value: SecretString) -> Result<()> {
        check_name(name)?;
        self.secrets.insert(name.to_owned(), value);
        self.save()
    }

    /// Removes the secret `name` and rewrites the file; false if there was none.
    pub fn remove(&mut self, name: &str) -> Result<bool> {
        if self.secrets.remove(name).is_none() {
            return Ok(false);
        }
        self.save().map(|()| true)
    }

    fn save(&self) -> Result<()> {
        file::write(&self.path, &self.key, &self.secrets)
    }
}

/// Whether `name` may name a secret: 1 to 128 characters of ASCII letters, digits, `.`,
/// `_` and `-` (so a reference `vault:NAME` is never ambiguous).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn check_name(name: &str) -> Result<()> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(Error::Vault(format!(
            "`{name}` is not a valid secret name (letters, digits, `.`, `_`, `-`; at most 128)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn identity_key(dir: &Path) -> VaultKey {
        VaultKey::Identity(dir.join("vault.key"))
    }

    #[test]
    fn secrets_survive_a_reopen_and_the_file_holds_no_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.age");
        let mut vault = Vault::init(&path, identity_key(dir.path())).unwrap();
        vault
            .set("telegram.token", SecretString::from("123:very-secret"))
            .unwrap();
        vault.set("smtp", SecretString::from("hunter2")).unwrap();
        assert!(vault.remove("smtp").unwrap());
        assert!(!vault.remove("smtp").unwrap());

        let raw = std::fs::read(&path).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("very-secret"));
        assert!(!format!("{vault:?}").contains("very-secret"));

        let reopened = Vault::open(&path, identity_key(dir.path())).unwrap();
        assert_eq!(reopened.names().collect::<Vec<_>>(), ["telegram.token"]);
        assert_eq!(
            reopened.get("telegram.token").unwrap().expose_secret(),
            "123:very-secret"
        );
    }

    #[test]
    fn a_passphrase_vault_opens_only_with_its_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.age");
        let key = || VaultKey::Passphrase(SecretString::from("correct horse"));
        let mut vault = Vault::init(&path, key()).unwrap();
        vault.set("a", SecretString::from("b")).unwrap();
        assert_eq!(
            Vault::open(&path, key())
                .unwrap()
                .get("a")
                .unwrap()
                .expose_secret(),
            "b"
        );
        let wrong = Vault::open(&path, VaultKey::Passphrase(SecretString::from("wrong")))
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("cannot decrypt"), "{wrong}");
        assert!(!wrong.contains("wrong\""), "{wrong}");
    }

    #[test]
    fn init_refuses_an_existing_vault_and_names_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.age");
        let mut vault = Vault::init(&path, identity_key(dir.path())).unwrap();
        assert!(Vault::init(&path, identity_key(dir.path())).is_err());
        assert!(vault.set("bad name", SecretString::from("x")).is_err());
        assert!(vault.set("", SecretString::from("x")).is_err());
    }
}

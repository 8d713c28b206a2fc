//! The vault file on disk: age encryption to a passphrase (scrypt) or to an x25519
//! identity, atomic rewrites, owner-only permissions.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

use crate::{Error, Result};

/// What unlocks a vault.
pub enum VaultKey {
    /// A passphrase (from a prompt or `OPENMOG_VAULT_PASSPHRASE`), stretched by scrypt.
    Passphrase(SecretString),
    /// An age identity file (`AGE-SECRET-KEY-1...` lines): the vault is encrypted to its
    /// public keys and decrypted with it.
    Identity(PathBuf),
}

impl std::fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VaultKey::Passphrase(_) => f.write_str("Passphrase([REDACTED])"),
            VaultKey::Identity(path) => f.debug_tuple("Identity").field(path).finish(),
        }
    }
}

/// The environment variable a vault passphrase may be given in.
pub const PASSPHRASE_ENV: &str = "OPENMOG_VAULT_PASSPHRASE";

impl VaultKey {
    /// The key the configuration or the environment gives: `vault.identity` if set, else
    /// the passphrase in [`PASSPHRASE_ENV`]; `None` when neither does (ask a person).
    pub fn from_config_or_env(config: &crate::config::VaultConfig) -> Option<VaultKey> {
        if let Some(identity) = &config.identity {
            return Some(VaultKey::Identity(identity.clone()));
        }
        std::env::var(PASSPHRASE_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .map(|p| VaultKey::Passphrase(SecretString::from(p)))
    }
}

/// Decrypts the vault at `path`.
pub(super) fn read(path: &Path, key: &VaultKey) -> Result<BTreeMap<String, SecretString>> {
    let encrypted = std::fs::read(path)
        .map_err(|err| Error::Vault(format!("cannot read {}: {err}", path.display())))?;
    let cannot = |why: String| Error::Vault(format!("cannot decrypt {}: {why}", path.display()));
    let decryptor = age::Decryptor::new(&encrypted[..]).map_err(|err| cannot(err.to_string()))?;
    let mut plaintext = Vec::new();
    let mut reader = match key {
        VaultKey::Passphrase(passphrase) => {
            let identity = age::scrypt::Identity::new(passphrase.clone());
            decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity))
        }
        VaultKey::Identity(file) => {
            let identities = identities(file)?;
            decryptor.decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        }
    }
    .map_err(|err| cannot(err.to_string()))?;
    reader
        .read_to_end(&mut plaintext)
        .map_err(|err| cannot(err.to_string()))?;
    let parsed: Result<BTreeMap<String, String>> = serde_json::from_slice(&plaintext)
        .map_err(|_| cannot("the decrypted content is not a vault".to_owned()));
    zeroize::Zeroize::zeroize(&mut plaintext);
    Ok(parsed?
        .into_iter()
        .map(|(name, mut value)| {
            let secret = SecretString::from(value.as_str());
            zeroize::Zeroize::zeroize(&mut value);
            (name, secret)
        })
        .collect())
}

/// Encrypts `secrets` and replaces the file at `path` with them.
pub(super) fn write(
    path: &Path,
    key: &VaultKey,
    secrets: &BTreeMap<String, SecretString>,
) -> Result<()> {
    let plaintext = plaintext(secrets);
    let failed = |why: String| Error::Vault(format!("cannot write {}: {why}", path.display()));
    let encryptor = match key {
        VaultKey::Passphrase(passphrase) => {
            age::Encryptor::with_user_passphrase(passphrase.clone())
        }
        VaultKey::Identity(file) => {
            let recipients: Vec<age::x25519::Recipient> =
                identities(file)?.iter().map(|i| i.to_public()).collect();
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|err| failed(err.to_string()))?
        }
    };
    let mut encrypted = Vec::new();
    let mut writer = encryptor
        .wrap_output(&mut encrypted)
        .map_err(|err| failed(err.to_string()))?;
    writer
        .write_all(plaintext.expose_secret().as_bytes())
        .and_then(|()| writer.finish().map(drop))
        .map_err(|err| failed(err.to_string()))?;
    replace_file(path, &encrypted).map_err(|err| failed(err.to_string()))
}

/// The vault's content as it is encrypted: a JSON object, held as a secret itself.
fn plaintext(secrets: &BTreeMap<String, SecretString>) -> SecretString {
    let exposed: BTreeMap<&str, &str> = secrets
        .iter()
        .map(|(name, value)| (name.as_str(), value.expose_secret()))
        .collect();
    SecretString::from(serde_json::to_string(&exposed).expect("strings serialize"))
}

/// The x25519 identities in an age identity file.
fn identities(file: &Path) -> Result<Vec<age::x25519::Identity>> {
    let text = std::fs::read_to_string(file).map_err(|err| {
        Error::Vault(format!(
            "cannot read identity file {}: {err}",
            file.display()
        ))
    })?;
    let found: Vec<age::x25519::Identity> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.parse::<age::x25519::Identity>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            // The parse error could quote the line, which is a secret key.
            Error::Vault(format!(
                "{} is not an age identity file (lines of AGE-SECRET-KEY-1...)",
                file.display()
            ))
        })?;
    if found.is_empty() {
        return Err(Error::Vault(format!(
            "{} holds no identity",
            file.display()
        )));
    }
    Ok(found)
}

/// Generates an identity file at `file` unless one exists.
pub(super) fn ensure_identity(file: &Path) -> Result<()> {
    if file.exists() {
        return identities(file).map(drop);
    }
    let identity = age::x25519::Identity::generate();
    let text = format!(
        "# openmog vault identity, public key: {}\n{}\n",
        identity.to_public(),
        identity.to_string().expose_secret()
    );
    replace_file(file, text.as_bytes()).map_err(|err| {
        Error::Vault(format!(
            "cannot write identity file {}: {err}",
            file.display()
        ))
    })
}

/// Writes `bytes` to a temporary file beside `path` (owner-only on Unix) and renames it over
/// `path`, so a crash leaves the old file or the new one, never half of one.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|err| err.error)?;
    Ok(())
}

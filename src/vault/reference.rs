//! `vault:NAME` references: a configuration value that names a secret in the vault the
//! process opened, resolved where the setting is read, so the value is a secret from the
//! start and the configuration itself never holds it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use secrecy::{ExposeSecret, SecretString};

use super::Vault;

/// What starts a reference to a vault secret in a configuration value.
pub const VAULT_PREFIX: &str = "vault:";

type Secrets = BTreeMap<String, SecretString>;

/// The secrets of the vault this process opened: set once by the binary at start, read by
/// every `secret_setting` (adapters read their settings without a handle to pass).
static INSTALLED: RwLock<Option<Arc<Secrets>>> = RwLock::new(None);

/// Makes `vault`'s secrets what `vault:NAME` references resolve to in this process.
pub fn install(vault: &Vault) {
    let secrets = Arc::new(vault.secrets.clone());
    *INSTALLED.write().unwrap_or_else(|e| e.into_inner()) = Some(secrets);
}

/// Whether a vault was installed.
pub fn installed() -> bool {
    INSTALLED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .is_some()
}

/// `value` itself, or, when it is `vault:NAME`, the secret `NAME` of the installed vault.
/// The error names what is missing, never a value.
pub fn resolve_reference(value: SecretString) -> Result<SecretString, String> {
    let guard = INSTALLED.read().unwrap_or_else(|e| e.into_inner());
    resolve_in(value, guard.as_deref())
}

fn resolve_in(value: SecretString, vault: Option<&Secrets>) -> Result<SecretString, String> {
    let Some(name) = value.expose_secret().strip_prefix(VAULT_PREFIX) else {
        return Ok(value);
    };
    let Some(vault) = vault else {
        return Err(format!(
            "refers to vault secret `{name}`, but no vault is open (create one with `openmog vault init`; unlock it with OPENMOG_VAULT_PASSPHRASE or vault.identity)"
        ));
    };
    vault
        .get(name)
        .cloned()
        .ok_or_else(|| format!("refers to vault secret `{name}`, which the vault does not hold (`openmog vault set {name}`)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_and_plain_values_pass_through() {
        let mut vault = Secrets::new();
        vault.insert("tg".to_owned(), SecretString::from("123:abc"));
        let resolved = resolve_in(SecretString::from("vault:tg"), Some(&vault)).unwrap();
        assert_eq!(resolved.expose_secret(), "123:abc");
        let plain = resolve_in(SecretString::from("inline"), Some(&vault)).unwrap();
        assert_eq!(plain.expose_secret(), "inline");

        let missing = resolve_in(SecretString::from("vault:nope"), Some(&vault)).unwrap_err();
        assert!(missing.contains("`nope`"), "{missing}");
        let locked = resolve_in(SecretString::from("vault:tg"), None).unwrap_err();
        assert!(locked.contains("no vault is open"), "{locked}");
    }
}

//! Loading: files (by extension) merged in order, then `OPENMOG_` environment variables.
//! Every error names the file (or variable) and the key.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Json, Toml, Yaml};

use super::Config;
use crate::{Error, Result};

/// Environment variables with the `OPENMOG_` prefix that are not configuration keys.
const NOT_CONFIG_VARS: &[&str] = &[
    "config",
    "log",
    "log_format",
    "data_dir",
    "vault_passphrase",
];

/// Where configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A file; the extension (`.toml`, `.yaml`/`.yml`, `.json`) picks the format.
    File(PathBuf),
    /// `OPENMOG_*` environment variables; `__` separates nested keys
    /// (`OPENMOG_LIMITS__MAX_CONCURRENT_STEPS=8`).
    Env,
    /// Text in the format its extension-like `format` names (`toml`, `yaml`, `json`): for
    /// configuration that is not in a file (tests, fuzzing, an embedding application).
    Text {
        /// `toml`, `yaml` or `json`.
        format: String,
        /// The configuration.
        text: String,
    },
}

/// Loads and validates configuration from `sources`, later sources overriding earlier ones.
pub fn load(sources: &[ConfigSource]) -> Result<Config> {
    let mut figment = Figment::new();
    for source in sources {
        figment = match source {
            ConfigSource::File(path) => match format_of(path)? {
                FileFormat::Toml => figment.merge(Toml::file_exact(path)),
                FileFormat::Yaml => figment.merge(Yaml::file_exact(path)),
                FileFormat::Json => figment.merge(Json::file_exact(path)),
            },
            ConfigSource::Text { format, text } => match format_named(format)? {
                FileFormat::Toml => figment.merge(Toml::string(text)),
                FileFormat::Yaml => figment.merge(Yaml::string(text)),
                FileFormat::Json => figment.merge(Json::string(text)),
            },
            ConfigSource::Env => figment.merge(env_provider()),
        };
    }
    let config: Config = figment.extract().map_err(describe_figment_error)?;
    super::validate::validate(&config, &figment)?;
    Ok(config)
}

enum FileFormat {
    Toml,
    Yaml,
    Json,
}

/// Checks that the file exists (figment silently treats a missing file as empty) and picks
/// its format by extension.
fn format_of(path: &Path) -> Result<FileFormat> {
    std::fs::metadata(path).map_err(|reason| Error::ConfigFile {
        path: path.to_owned(),
        reason,
    })?;
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    format_named(extension).map_err(|_| {
        Error::Config(format!(
            "{}: unknown format (use a .toml, .yaml, .yml or .json file)",
            path.display()
        ))
    })
}

fn format_named(name: &str) -> Result<FileFormat> {
    match name.to_ascii_lowercase().as_str() {
        "toml" => Ok(FileFormat::Toml),
        "yaml" | "yml" => Ok(FileFormat::Yaml),
        "json" => Ok(FileFormat::Json),
        other => Err(Error::Config(format!(
            "unknown configuration format `{other}` (toml, yaml or json)"
        ))),
    }
}

fn env_provider() -> Env {
    Env::prefixed("OPENMOG_")
        .split("__")
        .ignore(NOT_CONFIG_VARS)
}

/// Turns figment's errors into one message listing each, with file and key.
fn describe_figment_error(err: figment::Error) -> Error {
    let lines: Vec<String> = err
        .into_iter()
        .map(|e| {
            let mut key = e.path.join(".");
            let what = match &e.kind {
                figment::error::Kind::UnknownField(field, expected) => {
                    // figment's path sometimes ends with the field already.
                    if e.path.last() != Some(field) {
                        if !key.is_empty() {
                            key.push('.');
                        }
                        key.push_str(field);
                    }
                    format!("unknown key (expected one of: {})", expected.join(", "))
                }
                other => other.to_string(),
            };
            let origin = match &e.metadata {
                Some(md) => match &md.source {
                    Some(figment::Source::File(path)) => path.display().to_string(),
                    _ if md.name.contains("environment") => {
                        let keys: Vec<String> =
                            e.path.iter().map(|k| k.to_ascii_uppercase()).collect();
                        format!("environment variable OPENMOG_{}", keys.join("__"))
                    }
                    _ => md.name.to_string(),
                },
                None => "configuration".to_owned(),
            };
            if key.is_empty() {
                format!("{origin}: {what}")
            } else {
                format!("{origin}: key `{key}`: {what}")
            }
        })
        .collect();
    Error::Config(lines.join("; "))
}

/// The JSON Schema of the configuration, for editors (kept in `docs/config.schema.json`).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Config);
    serde_json::to_string_pretty(&schema).expect("a schema always serializes") + "\n"
}

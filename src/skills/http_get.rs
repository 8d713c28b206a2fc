//! `http.get`: fetches a URL whose host is on the allowlist, without following redirects,
//! with a timeout and a cap on the body read.

use std::error::Error as _;

use async_trait::async_trait;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Url, redirect};
use serde_json::{Map, Value, json};

use super::{Skill, SkillContext, SkillError};
use crate::config::{ConfigDuration, HttpSkillConfig};

/// GETs a URL on the host allowlist and returns `{status, headers, body, truncated}`.
///
/// The host is checked before any connection is made, and redirects are returned as they
/// are (status 3xx) instead of being followed, so a redirect cannot leave the allowlist.
/// A non-2xx status is not an error: post-conditions decide what status is acceptable.
#[derive(Debug, Clone)]
pub struct HttpGet {
    client: Client,
    allow_hosts: Vec<String>,
    timeout: ConfigDuration,
    max_body_bytes: usize,
}

impl HttpGet {
    /// Builds the skill and its HTTP client from the configuration.
    ///
    /// # Errors
    ///
    /// [`SkillError::Failed`] when the HTTP client cannot be built.
    pub fn new(config: &HttpSkillConfig) -> Result<Self, SkillError> {
        // reqwest is built without a default crypto provider. An error here means a
        // provider is already installed for the process, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::builder()
            .redirect(redirect::Policy::none())
            .timeout(config.timeout.0)
            .build()
            .map_err(|e| {
                SkillError::Failed(format!("cannot build the HTTP client: {}", error_chain(&e)))
            })?;
        let allow_hosts = config
            .allow_hosts
            .iter()
            .map(String::as_str)
            .map(normalize_host)
            .filter(|h| !h.is_empty())
            .collect();
        Ok(HttpGet {
            client,
            allow_hosts,
            timeout: config.timeout,
            max_body_bytes: config.max_body_bytes,
        })
    }

    /// The error for a failed request or body read. Never mentions header values (they may
    /// carry secrets) nor the full URL (its query may).
    fn request_error(&self, host: &str, error: reqwest::Error) -> SkillError {
        if error.is_timeout() {
            return SkillError::Failed(format!("GET {host} timed out after {}", self.timeout));
        }
        SkillError::Failed(format!(
            "GET {host} failed: {}",
            error_chain(&error.without_url())
        ))
    }
}

#[async_trait]
impl Skill for HttpGet {
    fn name(&self) -> &str {
        "http.get"
    }

    fn description(&self) -> &str {
        "Fetches a URL with GET (allowed hosts only; redirects are not followed). Arguments: url, headers."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "url": { "type": "string", "description": "http or https URL; its host must be on the allowlist" },
                "headers": {
                    "type": "object",
                    "additionalProperties": { "type": "string" },
                    "description": "request headers, name to value"
                }
            },
            "required": ["url"],
            "additionalProperties": false
        })
    }

    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        let raw_url = args
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| SkillError::InvalidArgs("`url` must be a string".into()))?;
        let url = Url::parse(raw_url.trim())
            .map_err(|e| SkillError::InvalidArgs(format!("`url` is not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SkillError::Refused(format!(
                "scheme `{}` is not allowed (only http and https)",
                url.scheme()
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| SkillError::Refused("the URL has no host".into()))?
            .to_owned();
        if !host_allowed(&self.allow_hosts, &host) {
            return Err(SkillError::Refused(format!(
                "host `{host}` is not on the allowlist"
            )));
        }
        let headers = request_headers(args.get("headers"))?;

        let mut response = self
            .client
            .get(url)
            .headers(headers)
            .send()
            .await
            .map_err(|e| self.request_error(&host, e))?;

        let status = response.status().as_u16();
        let content_type = header_text(response.headers(), &CONTENT_TYPE);
        let content_length = header_text(response.headers(), &CONTENT_LENGTH);

        let mut body: Vec<u8> = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.request_error(&host, e))?
        {
            let room = self.max_body_bytes.saturating_sub(body.len());
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        drop(response);

        let parsed = if !truncated && content_type.as_deref().is_some_and(is_json_media_type) {
            serde_json::from_slice::<Value>(&body).ok()
        } else {
            None
        };
        let body =
            parsed.unwrap_or_else(|| Value::String(String::from_utf8_lossy(&body).into_owned()));

        let mut out_headers = Map::new();
        if let Some(ct) = content_type {
            out_headers.insert("content-type".to_owned(), Value::String(ct));
        }
        if let Some(cl) = content_length {
            out_headers.insert("content-length".to_owned(), Value::String(cl));
        }

        Ok(json!({
            "status": status,
            "headers": Value::Object(out_headers),
            "body": body,
            "truncated": truncated,
        }))
    }
}

/// Lowercase, without surrounding whitespace or IPv6 brackets.
fn normalize_host(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// Whether `host` matches an (already normalized) allowlist entry: an exact name, or
/// `*.example.com` for subdomains of `example.com` (not `example.com` itself).
fn host_allowed(allow_hosts: &[String], host: &str) -> bool {
    let host = normalize_host(host);
    allow_hosts
        .iter()
        .any(|pattern| match pattern.strip_prefix("*.") {
            Some(suffix) => {
                !suffix.is_empty()
                    && host
                        .strip_suffix(suffix)
                        .and_then(|rest| rest.strip_suffix('.'))
                        .is_some_and(|label| !label.is_empty())
            }
            None => *pattern == host,
        })
}

/// The request headers from the `headers` argument. Errors name the header, never its value.
fn request_headers(arg: Option<&Value>) -> Result<HeaderMap, SkillError> {
    let mut headers = HeaderMap::new();
    let map = match arg {
        None | Some(Value::Null) => return Ok(headers),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(SkillError::InvalidArgs(
                "`headers` must be an object of strings".into(),
            ));
        }
    };
    for (name, value) in map {
        let Some(value) = value.as_str() else {
            return Err(SkillError::InvalidArgs(format!(
                "header `{name}` must be a string"
            )));
        };
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| SkillError::InvalidArgs(format!("`{name}` is not a valid header name")))?;
        if header_name == HOST {
            return Err(SkillError::Refused(
                "the `Host` header cannot be set".into(),
            ));
        }
        let mut header_value = HeaderValue::from_str(value).map_err(|_| {
            SkillError::InvalidArgs(format!("the value of header `{name}` is not valid"))
        })?;
        header_value.set_sensitive(true);
        headers.append(header_name, header_value);
    }
    Ok(headers)
}

/// A response header as text, when present and printable.
fn header_text(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `application/json`, `text/json` or `application/<anything>+json`, with any parameters.
fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

/// An error and its causes, joined with `: `.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(hosts: &[&str]) -> Vec<String> {
        hosts.iter().copied().map(normalize_host).collect()
    }

    #[test]
    fn exact_hosts_match_case_insensitively() {
        let list = allow(&["API.Example.com", "127.0.0.1", "[::1]"]);
        assert!(host_allowed(&list, "api.example.com"));
        assert!(host_allowed(&list, "127.0.0.1"));
        assert!(host_allowed(&list, "[::1]"));
        assert!(!host_allowed(&list, "example.com"));
        assert!(!host_allowed(&list, "localhost"));
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let list = allow(&["*.example.com"]);
        assert!(host_allowed(&list, "a.example.com"));
        assert!(host_allowed(&list, "a.b.example.com"));
        assert!(!host_allowed(&list, "example.com"));
        assert!(!host_allowed(&list, "badexample.com"));
        assert!(!host_allowed(&list, "example.com.evil.org"));
    }

    #[test]
    fn empty_allowlist_refuses_everything() {
        assert!(!host_allowed(&[], "example.com"));
        assert!(!host_allowed(&allow(&["*."]), "a."));
    }

    #[test]
    fn json_media_types() {
        assert!(is_json_media_type("application/json; charset=utf-8"));
        assert!(is_json_media_type("application/problem+json"));
        assert!(!is_json_media_type("text/plain"));
    }
}

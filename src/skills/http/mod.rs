//! The network skills (`http.get`, `http.request`, `graphql.query`, `websocket.exchange`) and
//! what they share: the host allowlist, request headers, the capped response read, and error
//! text that never carries header values, bodies or query strings (they may hold secrets).

mod get;
mod graphql;
mod request;
mod websocket;

use std::error::Error as _;

use reqwest::header::{
    CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue, TRANSFER_ENCODING,
};
use reqwest::{Client, RequestBuilder, Url, redirect};
use serde_json::{Map, Value, json};

use super::SkillError;
use crate::config::{ConfigDuration, HttpSkillConfig};

pub use get::HttpGet;
pub use graphql::GraphqlQuery;
pub use request::HttpRequest;
pub use websocket::WebSocketExchange;

/// What the HTTP skills share: a client that never follows redirects (so a redirect cannot
/// leave the allowlist) and times out, the normalized allowlist, and the body cap.
#[derive(Debug, Clone)]
struct HttpCore {
    client: Client,
    allow_hosts: Vec<String>,
    timeout: ConfigDuration,
    max_body_bytes: usize,
}

impl HttpCore {
    /// The client and limits from `[skills.http]`.
    fn new(config: &HttpSkillConfig) -> Result<Self, SkillError> {
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
        Ok(HttpCore {
            client,
            allow_hosts: normalize_allowlist(&config.allow_hosts),
            timeout: config.timeout,
            max_body_bytes: config.max_body_bytes,
        })
    }

    /// The `url` argument, checked before anything is sent: http or https, and a host on the
    /// allowlist. Returns the URL and its host.
    fn target(&self, args: &Value) -> Result<(Url, String), SkillError> {
        allowed_url(args, &["http", "https"], &self.allow_hosts)
    }

    /// Sends the request and reads at most `max_body_bytes` of the response body.
    /// `method` and `host` are only for error text.
    async fn fetch(
        &self,
        method: &str,
        host: &str,
        request: RequestBuilder,
    ) -> Result<Fetched, SkillError> {
        let mut response = request
            .send()
            .await
            .map_err(|e| self.request_error(method, host, e))?;

        let status = response.status().as_u16();
        let content_type = header_text(response.headers(), &CONTENT_TYPE);
        let content_length = header_text(response.headers(), &CONTENT_LENGTH);

        let mut body: Vec<u8> = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.request_error(method, host, e))?
        {
            let room = self.max_body_bytes.saturating_sub(body.len());
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        // Dropping the response now closes the connection instead of draining the rest.
        drop(response);

        Ok(Fetched {
            status,
            content_type,
            content_length,
            body,
            truncated,
        })
    }

    /// The error for a failed request or body read. Never mentions header values (they may
    /// carry secrets) nor the full URL (its query may).
    fn request_error(&self, method: &str, host: &str, error: reqwest::Error) -> SkillError {
        if error.is_timeout() {
            return SkillError::Failed(format!("{method} {host} timed out after {}", self.timeout));
        }
        SkillError::Failed(format!(
            "{method} {host} failed: {}",
            error_chain(&error.without_url())
        ))
    }
}

/// A response as read: its status, the two headers the skills report, and the body (cut at
/// the cap).
#[derive(Debug)]
struct Fetched {
    status: u16,
    content_type: Option<String>,
    content_length: Option<String>,
    body: Vec<u8>,
    truncated: bool,
}

impl Fetched {
    /// `{content-type, content-length}`, each only when the response had it.
    fn headers_json(&self) -> Value {
        let mut headers = Map::new();
        if let Some(ct) = &self.content_type {
            headers.insert("content-type".to_owned(), Value::String(ct.clone()));
        }
        if let Some(cl) = &self.content_length {
            headers.insert("content-length".to_owned(), Value::String(cl.clone()));
        }
        Value::Object(headers)
    }

    /// The body parsed as JSON when the response says it is JSON and was read whole (a cut
    /// body cannot parse), else as text.
    fn body_json(&self) -> Value {
        let parsed =
            if !self.truncated && self.content_type.as_deref().is_some_and(is_json_media_type) {
                serde_json::from_slice::<Value>(&self.body).ok()
            } else {
                None
            };
        parsed.unwrap_or_else(|| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
    }

    /// The output of `http.get` and `http.request`: `{status, headers, body, truncated}`.
    fn into_output(self) -> Value {
        json!({
            "status": self.status,
            "headers": self.headers_json(),
            "body": self.body_json(),
            "truncated": self.truncated,
        })
    }
}

/// The `url` argument, parsed and checked: its scheme is one of `schemes` and its host is on
/// the (normalized) allowlist. Returns the URL and its host. Nothing is connected to here.
fn allowed_url(
    args: &Value,
    schemes: &[&str],
    allow_hosts: &[String],
) -> Result<(Url, String), SkillError> {
    let raw_url = args
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| SkillError::InvalidArgs("`url` must be a string".into()))?;
    // `url::ParseError` describes the problem without quoting the input.
    let url = Url::parse(raw_url.trim())
        .map_err(|e| SkillError::InvalidArgs(format!("`url` is not a valid URL: {e}")))?;
    if !schemes.contains(&url.scheme()) {
        return Err(SkillError::Refused(format!(
            "scheme `{}` is not allowed (only {})",
            url.scheme(),
            schemes.join(" and ")
        )));
    }
    let host = url
        .host_str()
        .ok_or_else(|| SkillError::Refused("the URL has no host".into()))?
        .to_owned();
    if !host_allowed(allow_hosts, &host) {
        return Err(SkillError::Refused(format!(
            "host `{host}` is not on the allowlist"
        )));
    }
    crate::net::require_tls(url.as_str()).map_err(SkillError::Refused)?;
    Ok((url, host))
}

/// The configured allowlist, normalized once so each check is a plain comparison.
fn normalize_allowlist(hosts: &[String]) -> Vec<String> {
    hosts
        .iter()
        .map(String::as_str)
        .map(normalize_host)
        .filter(|h| !h.is_empty())
        .collect()
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
        // The host was checked against the allowlist; a `Host` header could address another.
        if header_name == HOST {
            return Err(SkillError::Refused(
                "the `Host` header cannot be set".into(),
            ));
        }
        let mut header_value = HeaderValue::from_str(value).map_err(|_| {
            SkillError::InvalidArgs(format!("the value of header `{name}` is not valid"))
        })?;
        // Keeps the value out of `Debug` output, should the map ever be logged.
        header_value.set_sensitive(true);
        headers.append(header_name, header_value);
    }
    Ok(headers)
}

/// Refuses `Content-Length` and `Transfer-Encoding` for requests that carry a body: the
/// client frames the body itself, and a disagreeing header would desynchronize the
/// connection (request smuggling).
fn refuse_framing_headers(headers: &HeaderMap) -> Result<(), SkillError> {
    for name in [CONTENT_LENGTH, TRANSFER_ENCODING] {
        if headers.contains_key(&name) {
            return Err(SkillError::Refused(format!(
                "the `{name}` header cannot be set (the body's framing is computed)"
            )));
        }
    }
    Ok(())
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
        let hosts: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
        normalize_allowlist(&hosts)
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
        assert!(allow(&["  ", ""]).is_empty());
    }

    #[test]
    fn json_media_types() {
        assert!(is_json_media_type("application/json; charset=utf-8"));
        assert!(is_json_media_type("application/problem+json"));
        assert!(is_json_media_type("application/graphql-response+json"));
        assert!(!is_json_media_type("text/plain"));
    }

    #[test]
    fn urls_are_checked_for_scheme_and_host() {
        let list = allow(&["api.example.com"]);
        let ok = allowed_url(
            &json!({ "url": "https://API.example.com/x?token=s3cret" }),
            &["http", "https"],
            &list,
        );
        assert!(
            matches!(ok, Ok((_, ref host)) if host == "api.example.com"),
            "{ok:?}"
        );

        let scheme = allowed_url(
            &json!({ "url": "ws://api.example.com/" }),
            &["http", "https"],
            &list,
        );
        assert!(matches!(scheme, Err(SkillError::Refused(_))), "{scheme:?}");

        let host = allowed_url(
            &json!({ "url": "https://other.example.com/?token=s3cret" }),
            &["https"],
            &list,
        );
        match host {
            Err(SkillError::Refused(message)) => assert!(!message.contains("s3cret"), "{message}"),
            other => panic!("expected a refusal, got {other:?}"),
        }

        let missing = allowed_url(&json!({}), &["https"], &list);
        assert!(
            matches!(missing, Err(SkillError::InvalidArgs(_))),
            "{missing:?}"
        );
    }

    #[test]
    fn header_errors_name_the_header_but_not_the_value() {
        let err = request_headers(Some(&json!({ "X-Key": "line\nbreak-s3cret" }))).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("X-Key") && !text.contains("s3cret"), "{text}");

        let host = request_headers(Some(&json!({ "Host": "evil.example" })));
        assert!(matches!(host, Err(SkillError::Refused(_))), "{host:?}");

        let headers = request_headers(Some(&json!({ "Content-Length": "3" }))).unwrap();
        assert!(matches!(
            refuse_framing_headers(&headers),
            Err(SkillError::Refused(_))
        ));
        let headers = request_headers(Some(&json!({ "X-Ok": "1" }))).unwrap();
        assert!(refuse_framing_headers(&headers).is_ok());
    }
}

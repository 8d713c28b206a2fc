//! `http.request`: one REST call with any common method, headers, query parameters and a JSON
//! or text body, to a host on the allowlist, without following redirects.

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Url};
use serde_json::{Value, json};

use super::{HttpCore, refuse_framing_headers, request_headers};
use crate::config::HttpSkillConfig;
use crate::skills::{Skill, SkillContext, SkillError};

/// The methods accepted, as written in the schema.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Sends one HTTP request to a host on the allowlist and returns
/// `{status, headers, body, truncated}`, like `http.get`.
///
/// The body is `json` (sent as `application/json`) or `body` (text, sent as
/// `text/plain; charset=utf-8` unless a `Content-Type` header says otherwise), not both.
/// The host is checked before any connection is made; redirects are returned as they are
/// (3xx), not followed. A non-2xx status is not an error: post-conditions decide.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    core: HttpCore,
}

impl HttpRequest {
    /// Builds the skill and its HTTP client from `[skills.http]`.
    ///
    /// # Errors
    ///
    /// [`SkillError::Failed`] when the HTTP client cannot be built.
    pub fn new(config: &HttpSkillConfig) -> Result<Self, SkillError> {
        Ok(HttpRequest {
            core: HttpCore::new(config)?,
        })
    }
}

#[async_trait]
impl Skill for HttpRequest {
    fn name(&self) -> &str {
        "http.request"
    }

    fn description(&self) -> &str {
        "Sends an HTTP request with any method (allowed hosts only; redirects are not followed). Arguments: url, method, headers, query, json, body."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "url": { "type": "string", "description": "http or https URL; its host must be on the allowlist" },
                "method": { "type": "string", "enum": METHODS, "description": "HTTP method (default GET)" },
                "headers": {
                    "type": "object",
                    "additionalProperties": { "type": "string" },
                    "description": "request headers, name to value"
                },
                "query": {
                    "type": "object",
                    "additionalProperties": { "type": ["string", "number", "boolean", "array"] },
                    "description": "query parameters added to the URL's; an array repeats the name"
                },
                "json": { "description": "a JSON body, sent as application/json (null: no body)" },
                "body": { "type": "string", "description": "a text body (not with `json`)" }
            },
            "required": ["url"],
            "additionalProperties": false
        })
    }

    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        let (mut url, host) = self.core.target(&args)?;
        let method = parse_method(args.get("method"))?;
        append_query(&mut url, args.get("query"))?;
        let headers = request_headers(args.get("headers"))?;
        let json_body = args.get("json").filter(|v| !v.is_null());
        let text_body = match args.get("body") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => return Err(SkillError::InvalidArgs("`body` must be a string".into())),
        };
        if json_body.is_some() && text_body.is_some() {
            return Err(SkillError::InvalidArgs(
                "give `json` or `body`, not both".into(),
            ));
        }
        // With or without a body: a bodiless request claiming a length would desynchronise
        // a pooled connection.
        refuse_framing_headers(&headers)?;
        let has_content_type = headers.contains_key(CONTENT_TYPE);

        // Headers go first: `json` keeps a caller's `Content-Type`, and `headers` would
        // replace the one `json` sets.
        let mut request = self
            .core
            .client
            .request(method.clone(), url)
            .headers(headers);
        if let Some(value) = json_body {
            request = request.json(value);
        } else if let Some(text) = text_body {
            if !has_content_type {
                request = request.header(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
            }
            request = request.body(text);
        }
        let fetched = self.core.fetch(method.as_str(), &host, request).await?;
        Ok(fetched.into_output())
    }
}

/// The `method` argument (any case), GET when absent.
fn parse_method(arg: Option<&Value>) -> Result<Method, SkillError> {
    let name = match arg {
        None | Some(Value::Null) => return Ok(Method::GET),
        Some(Value::String(name)) => name.trim().to_ascii_uppercase(),
        Some(_) => return Err(SkillError::InvalidArgs("`method` must be a string".into())),
    };
    Ok(match name.as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        "HEAD" => Method::HEAD,
        "OPTIONS" => Method::OPTIONS,
        _ => {
            return Err(SkillError::InvalidArgs(format!(
                "`method` must be one of {}",
                METHODS.join(", ")
            )));
        }
    })
}

/// Adds the `query` argument's parameters after those already in the URL. Errors name the
/// parameter, never its value.
fn append_query(url: &mut Url, arg: Option<&Value>) -> Result<(), SkillError> {
    let map = match arg {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(SkillError::InvalidArgs("`query` must be an object".into())),
    };
    let mut pairs = Vec::new();
    for (name, value) in map {
        match value {
            Value::Array(items) => {
                for item in items {
                    pairs.push((name.as_str(), query_text(name, item)?));
                }
            }
            other => pairs.push((name.as_str(), query_text(name, other)?)),
        }
    }
    // An empty list would still leave a bare `?` behind.
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    Ok(())
}

/// One query value as text.
fn query_text(name: &str, value: &Value) -> Result<String, SkillError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(SkillError::InvalidArgs(format!(
            "query parameter `{name}` must be a string, a number, a boolean, or an array of them"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_case_insensitive_and_default_to_get() {
        assert_eq!(parse_method(None).ok(), Some(Method::GET));
        assert_eq!(
            parse_method(Some(&json!("patch"))).ok(),
            Some(Method::PATCH)
        );
        assert!(matches!(
            parse_method(Some(&json!("TRACE"))),
            Err(SkillError::InvalidArgs(_))
        ));
    }

    #[test]
    fn query_parameters_are_appended_and_encoded() {
        let mut url = Url::parse("http://h/p?a=1").unwrap();
        append_query(
            &mut url,
            Some(&json!({ "b": "x y", "n": 2, "t": [true, "z"] })),
        )
        .unwrap();
        assert_eq!(url.query(), Some("a=1&b=x+y&n=2&t=true&t=z"));

        let mut url = Url::parse("http://h/p").unwrap();
        append_query(&mut url, Some(&json!({}))).unwrap();
        assert_eq!(url.as_str(), "http://h/p");

        let err =
            append_query(&mut url, Some(&json!({ "k": { "secret": "s3cret" } }))).unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}

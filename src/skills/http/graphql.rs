//! `graphql.query`: POSTs a GraphQL query (with variables and an operation name) as JSON to
//! an allowed URL and returns the response's `data` and `errors`.

use async_trait::async_trait;
use reqwest::header::{ACCEPT, HeaderValue};
use serde_json::{Map, Value, json};

use super::{HttpCore, refuse_framing_headers, request_headers};
use crate::config::HttpSkillConfig;
use crate::skills::{Skill, SkillContext, SkillError};

/// Runs a GraphQL query or mutation and returns `{status, data, errors, truncated}`.
///
/// GraphQL reports its own errors in the response body, often with status 200: they come
/// back in `errors`, not as a failure, for post-conditions to judge. A response that is not
/// JSON is a failure. A response cut at `max_body_bytes` cannot be parsed: it comes back
/// with `data` and `errors` null and `truncated` true. Same allowlist, timeout and cap as
/// `http.get`; redirects are not followed.
#[derive(Debug, Clone)]
pub struct GraphqlQuery {
    core: HttpCore,
}

impl GraphqlQuery {
    /// Builds the skill and its HTTP client from `[skills.http]`.
    ///
    /// # Errors
    ///
    /// [`SkillError::Failed`] when the HTTP client cannot be built.
    pub fn new(config: &HttpSkillConfig) -> Result<Self, SkillError> {
        Ok(GraphqlQuery {
            core: HttpCore::new(config)?,
        })
    }
}

#[async_trait]
impl Skill for GraphqlQuery {
    fn name(&self) -> &str {
        "graphql.query"
    }

    fn description(&self) -> &str {
        "Runs a GraphQL query or mutation over HTTP POST (allowed hosts only); GraphQL errors are returned, not raised. Arguments: url, query, variables, operationName, headers."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "url": { "type": "string", "description": "the GraphQL endpoint, http or https; its host must be on the allowlist" },
                "query": { "type": "string", "description": "the GraphQL document" },
                "variables": { "type": "object", "description": "values of the document's variables" },
                "operationName": { "type": "string", "description": "which operation of the document to run" },
                "headers": {
                    "type": "object",
                    "additionalProperties": { "type": "string" },
                    "description": "request headers, name to value"
                }
            },
            "required": ["url", "query"],
            "additionalProperties": false
        })
    }

    async fn run(&self, args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        let (url, host) = self.core.target(&args)?;
        let payload = payload(&args)?;
        let mut headers = request_headers(args.get("headers"))?;
        refuse_framing_headers(&headers)?;
        if !headers.contains_key(ACCEPT) {
            // The GraphQL-over-HTTP media type first; older servers only know JSON.
            headers.insert(
                ACCEPT,
                HeaderValue::from_static("application/graphql-response+json, application/json"),
            );
        }
        // Headers go first so `json` keeps a caller's `Content-Type`.
        let request = self.core.client.post(url).headers(headers).json(&payload);
        let fetched = self.core.fetch("POST", &host, request).await?;
        let status = fetched.status;

        if fetched.truncated {
            return Ok(json!({
                "status": status,
                "data": Value::Null,
                "errors": Value::Null,
                "truncated": true,
            }));
        }
        // The body is parsed whatever the content type says: servers differ on it.
        let parsed: Value = serde_json::from_slice(&fetched.body).map_err(|_| {
            SkillError::Failed(format!(
                "POST {host}: the response (status {status}) is not JSON, so not a GraphQL response"
            ))
        })?;
        let Value::Object(mut response) = parsed else {
            return Err(SkillError::Failed(format!(
                "POST {host}: the response (status {status}) is JSON but not an object, so not a GraphQL response"
            )));
        };
        Ok(json!({
            "status": status,
            "data": response.remove("data").unwrap_or(Value::Null),
            "errors": response.remove("errors").unwrap_or(Value::Null),
            "truncated": false,
        }))
    }
}

/// The request body: `{query, variables?, operationName?}`.
fn payload(args: &Value) -> Result<Value, SkillError> {
    let query = args
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| SkillError::InvalidArgs("`query` must be a string".into()))?;
    if query.trim().is_empty() {
        return Err(SkillError::InvalidArgs("`query` is empty".into()));
    }
    let mut body = Map::new();
    body.insert("query".to_owned(), Value::String(query.to_owned()));
    match args.get("variables") {
        None | Some(Value::Null) => {}
        Some(Value::Object(vars)) => {
            body.insert("variables".to_owned(), Value::Object(vars.clone()));
        }
        Some(_) => {
            return Err(SkillError::InvalidArgs(
                "`variables` must be an object".into(),
            ));
        }
    }
    match args.get("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => {
            body.insert("operationName".to_owned(), Value::String(name.clone()));
        }
        Some(_) => {
            return Err(SkillError::InvalidArgs(
                "`operationName` must be a string".into(),
            ));
        }
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_carries_only_what_was_given() {
        let body = payload(&json!({ "url": "u", "query": "{ a }" })).unwrap();
        assert_eq!(body, json!({ "query": "{ a }" }));

        let body = payload(&json!({
            "url": "u", "query": "query Q($x: Int) { a(x: $x) }",
            "variables": { "x": 1 }, "operationName": "Q"
        }))
        .unwrap();
        assert_eq!(body["variables"], json!({ "x": 1 }));
        assert_eq!(body["operationName"], "Q");

        assert!(matches!(
            payload(&json!({ "query": "{ a }", "variables": [1] })),
            Err(SkillError::InvalidArgs(_))
        ));
        assert!(matches!(
            payload(&json!({ "query": "  " })),
            Err(SkillError::InvalidArgs(_))
        ));
    }
}

//! `http.get`: fetches a URL whose host is on the allowlist, without following redirects,
//! with a timeout and a cap on the body read.

use async_trait::async_trait;

use serde_json::{Value, json};

use super::{HttpCore, request_headers};
use crate::config::HttpSkillConfig;
use crate::skills::{Risk, Skill, SkillContext, SkillError};

/// GETs a URL on the host allowlist and returns `{status, headers, body, truncated}`.
///
/// The host is checked before any connection is made, and redirects are returned as they
/// are (status 3xx) instead of being followed, so a redirect cannot leave the allowlist.
/// A non-2xx status is not an error: post-conditions decide what status is acceptable.
#[derive(Debug, Clone)]
pub struct HttpGet {
    core: HttpCore,
}

impl HttpGet {
    /// Builds the skill and its HTTP client from the configuration.
    ///
    /// # Errors
    ///
    /// [`SkillError::Failed`] when the HTTP client cannot be built.
    pub fn new(config: &HttpSkillConfig) -> Result<Self, SkillError> {
        Ok(HttpGet {
            core: HttpCore::new(config)?,
        })
    }
}

#[async_trait]
impl Skill for HttpGet {
    fn risk(&self) -> Risk {
        Risk::Medium
    }

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
        let (url, host) = self.core.target(&args)?;
        let headers = request_headers(args.get("headers"))?;
        let request = self.core.client.get(url).headers(headers);
        let fetched = self.core.fetch("GET", &host, request).await?;
        Ok(fetched.into_output())
    }
}

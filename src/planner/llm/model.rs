//! One call of a language model through genai: OpenAI-compatible chat completions or
//! Anthropic's Messages API, at a configured base URL, with our own HTTP client (rustls on
//! ring) and the API key as a secret until the request is built.

use std::time::Duration;

use genai::adapter::AdapterKind;
use genai::chat::{ChatMessage, ChatOptions, ChatRequest, Tool, ToolCall};
use genai::resolver::{AuthData, Endpoint};
use genai::{Client, ModelIden, ServiceTarget};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{LlmConfig, LlmProvider};

/// What the model answered.
#[derive(Debug, Clone)]
pub(super) struct Answer {
    /// Its first tool call, if it made one.
    pub call: Option<ToolCall>,
    /// Its text, if it wrote any.
    pub text: Option<String>,
    /// Tokens of the prompt.
    pub input_tokens: u64,
    /// Tokens of the answer.
    pub output_tokens: u64,
}

/// Why a call failed, in words fit for the requester (no payloads, no keys).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(super) struct Unavailable(pub String);

/// A configured model.
pub(super) struct Model {
    client: Client,
    endpoint: String,
    kind: AdapterKind,
    name: String,
    key: Option<SecretString>,
    timeout: Duration,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("endpoint", &self.endpoint)
            .field("model", &self.name)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// The model `config` names, called through `http`.
    pub(super) fn new(
        config: &LlmConfig,
        key: Option<SecretString>,
        http: reqwest::Client,
    ) -> crate::Result<Self> {
        let (kind, default_url) = match config.provider {
            LlmProvider::Openai => (AdapterKind::OpenAI, "https://api.openai.com/v1/"),
            LlmProvider::Anthropic => (AdapterKind::Anthropic, "https://api.anthropic.com/v1/"),
        };
        let mut endpoint = config
            .base_url
            .clone()
            .unwrap_or_else(|| default_url.to_owned());
        if !endpoint.ends_with('/') {
            endpoint.push('/');
        }
        let client = Client::builder()
            .with_reqwest(http)
            .build()
            .map_err(|err| crate::Error::Config(format!("planner.llm: {err}")))?;
        Ok(Model {
            client,
            endpoint,
            kind,
            name: config.model.clone(),
            key,
            timeout: config.timeout.0,
        })
    }

    /// Asks the model, offering `tools`.
    pub(super) async fn ask(
        &self,
        system: &str,
        messages: &[ChatMessage],
        tools: &[Tool],
    ) -> Result<Answer, Unavailable> {
        let request = ChatRequest::new(messages.to_vec())
            .with_system(system)
            .with_tools(tools.iter().cloned());
        let target = ServiceTarget {
            endpoint: Endpoint::from_owned(self.endpoint.clone()),
            // A local server needs no key; genai still wants one to put in the header.
            auth: AuthData::from_single(
                self.key
                    .as_ref()
                    .map_or("none", |key| key.expose_secret())
                    .to_owned(),
            ),
            model: ModelIden::new(self.kind, self.name.clone()),
        };
        let options = ChatOptions::default()
            .with_temperature(0.0)
            .with_max_tokens(4096);
        let call = self.client.exec_chat(target, request, Some(&options));
        let response = match tokio::time::timeout(self.timeout, call).await {
            Err(_) => {
                return Err(Unavailable(format!("no answer within {:?}", self.timeout)));
            }
            Ok(Err(err)) => return Err(Unavailable(describe(&err))),
            Ok(Ok(response)) => response,
        };
        let count = |n: Option<i32>| n.map_or(0, |n| u64::try_from(n).unwrap_or(0));
        Ok(Answer {
            call: response.tool_calls().first().map(|call| (*call).clone()),
            text: response.first_text().map(str::to_owned),
            input_tokens: count(response.usage.prompt_tokens),
            output_tokens: count(response.usage.completion_tokens),
        })
    }
}

/// A short reason: genai's own messages can carry the whole request payload.
fn describe(err: &genai::Error) -> String {
    match err {
        genai::Error::HttpError { status, .. } => format!("it answered HTTP {status}"),
        genai::Error::WebModelCall { webc_error, .. }
        | genai::Error::WebAdapterCall { webc_error, .. } => match webc_error.status() {
            Some(status) => format!("it answered HTTP {status}"),
            None => "it cannot be reached".to_owned(),
        },
        _ => "its answer could not be read".to_owned(),
    }
}

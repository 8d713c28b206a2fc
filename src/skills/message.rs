//! `message.send` and `email.send`: declarations of engine-native steps that say something
//! to someone. The engine runs them (`engine::message`): the message is queued in the outbox
//! in the same transaction that records the step as done, so it goes out exactly once, paced
//! like everything else said on that channel.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Risk, Skill, SkillContext, SkillError};

/// The name of the step that messages a contact.
pub const MESSAGE_SEND: &str = "message.send";
/// The name of the step that mails an address.
pub const EMAIL_SEND: &str = "email.send";

/// Messages a contact on their preferred channel (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct MessageSend;

/// Mails an address through the email channel (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct EmailSend;

fn engine_only() -> SkillError {
    SkillError::Refused("this step runs only inside the engine".into())
}

#[async_trait]
impl Skill for MessageSend {
    fn risk(&self) -> Risk {
        Risk::Medium
    }

    fn name(&self) -> &str {
        MESSAGE_SEND
    }

    fn description(&self) -> &str {
        "Sends a message to a contact (by contact id) on their preferred channel, saying which plan it comes from. Arguments: to, text."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "to": {"type": "string", "description": "a contact id"},
                "text": {"type": "string", "description": "the message"}
            },
            "required": ["to", "text"],
            "additionalProperties": false
        })
    }

    async fn run(&self, _args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        Err(engine_only())
    }
}

#[async_trait]
impl Skill for EmailSend {
    fn risk(&self) -> Risk {
        Risk::High
    }

    fn name(&self) -> &str {
        EMAIL_SEND
    }

    fn description(&self) -> &str {
        "Sends an email to an address through the email channel. Arguments: to, subject, text."
    }

    fn args_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "to": {"type": "string", "description": "an email address"},
                "subject": {"type": "string", "description": "one line"},
                "text": {"type": "string", "description": "the body"}
            },
            "required": ["to", "subject", "text"],
            "additionalProperties": false
        })
    }

    async fn run(&self, _args: Value, _ctx: SkillContext) -> Result<Value, SkillError> {
        Err(engine_only())
    }
}

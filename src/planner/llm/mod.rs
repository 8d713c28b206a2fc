//! [`LlmPlanner`]: a language model makes the plan, through tool calling. Its answer is
//! untrusted: the draft is validated (skills, arguments, dependencies, references) and the
//! model is told the problems and asked again, up to `max_tries`; policy is applied to the
//! plan afterwards as to any other. When the model is unreachable or the day's token
//! budget is spent, the rule planner stands in and the requester is told why. After a
//! failed step the model may propose a revised plan; the engine shows the diff and asks
//! approval again only for changed or new steps.

mod budget;
mod model;
mod prompt;

use async_trait::async_trait;
use genai::chat::{ChatMessage, ToolResponse};

use self::budget::{DailyBudget, Spend, micros};
use self::model::{Model, Unavailable};
use super::{
    PlanOutcome, PlanRequest, Planner, Replan, ReplanRequest, ReviewRequest, RulePlanner,
    validate_draft,
};
use crate::config::LlmConfig;
use crate::domain::PlanDraft;
use crate::{Error, Result};

/// Plans with a language model; the rules are its fallback.
#[derive(Debug)]
pub struct LlmPlanner {
    model: Model,
    config: LlmConfig,
    purpose: String,
    fallback: RulePlanner,
    daily: DailyBudget,
}

impl LlmPlanner {
    /// A planner for `config`, reading the API key from `config.api_key_env`, calling the
    /// model through `http`, with `fallback` standing in when the model cannot answer. The
    /// day's spending is kept in `store` (if given), so it survives a restart.
    pub fn new(
        config: &LlmConfig,
        purpose: &str,
        fallback: RulePlanner,
        http: reqwest::Client,
        store: Option<crate::store::SharedStore>,
    ) -> Result<Self> {
        // The variable may hold the key itself or a `vault:NAME` reference.
        let key = match &config.api_key_env {
            Some(var) => Some(
                crate::config::secret_setting(None, Some(var), "planner.llm.api_key")
                    .map_err(|err| Error::Config(err.to_string()))?,
            ),
            None => None,
        };
        Ok(LlmPlanner {
            model: Model::new(config, key, http)?,
            config: config.clone(),
            purpose: purpose.to_owned(),
            fallback,
            daily: DailyBudget::new(
                Spend {
                    tokens: config.max_tokens_per_day,
                    micros: micros(config.max_cost_per_day),
                },
                store.map(|store| crate::channel::ChannelState::new("planner", store)),
            ),
        })
    }

    /// What one plan's planning may spend: the configured budget, with a plan's own
    /// tighter token limit (a sub-goal's) if it has one.
    fn plan_budget(&self, own_tokens: Option<u64>) -> Spend {
        let tokens = self.config.max_tokens_per_plan;
        Spend {
            tokens: own_tokens.map_or(tokens, |own| own.min(tokens)),
            micros: micros(self.config.max_cost_per_plan),
        }
    }

    /// The rule planner's answer, with `why` the model did not answer.
    async fn stand_in(&self, request: PlanRequest<'_>, why: String) -> Result<PlanOutcome> {
        let outcome = self.fallback.plan(request).await?;
        Ok(PlanOutcome::Fallback {
            notice: format!("{why}; the rule planner answered instead."),
            outcome: Box::new(outcome),
        })
    }
}

/// How a conversation with the model about one plan ended.
enum Drafted {
    /// A valid draft.
    Plan(PlanDraft),
    /// The model answered in words.
    Reply(String),
    /// No valid draft: the reply to give.
    GaveUp(String),
    /// The model could not be asked: why.
    Unavailable(String),
}

impl LlmPlanner {
    /// Asks the model for a plan, starting from `opening`, telling it the problems with each
    /// invalid draft, spending at most `budget` (checked before each call) and never past
    /// the day's budget. A draft carries what it cost.
    async fn draft(&self, ground: &prompt::Ground<'_>, opening: String, budget: Spend) -> Drafted {
        let system = prompt::system(&self.purpose, ground);
        let names: Vec<String> = ground.skills.iter().map(|s| s.name().to_owned()).collect();
        let tools = prompt::tools(&names);
        let mut messages = vec![ChatMessage::user(opening)];
        let mut spent = Spend::default();
        let mut problems = Vec::new();
        for attempt in 1..=self.config.max_tries {
            if let Some(used) = self.daily.exhausted().await {
                return Drafted::Unavailable(format!(
                    "The language model's daily budget is used up ({used})"
                ));
            }
            if let Some(used) = spent.exhausts(budget) {
                return Drafted::GaveUp(format!(
                    "planning used up its budget ({used}) after {} tries; the last \
                     problems: {}",
                    attempt - 1,
                    problems.join("; ")
                ));
            }
            let answer = match self.model.ask(&system, &messages, &tools).await {
                Ok(answer) => answer,
                Err(Unavailable(why)) => {
                    tracing::warn!(model = ?self.model, %why, "language model unavailable");
                    return Drafted::Unavailable(format!(
                        "The language model is unavailable ({why})"
                    ));
                }
            };
            let cost = Spend::of_call(
                answer.input_tokens,
                answer.output_tokens,
                self.config.price.as_ref(),
            );
            spent = spent.plus(cost);
            self.daily.spend(cost).await;
            let Some(call) = answer.call else {
                // Text without a tool call is an answer to the requester.
                return Drafted::Reply(answer.text.unwrap_or_default());
            };
            problems = match call.fn_name.as_str() {
                prompt::REPLY => {
                    let text = call.fn_arguments["text"].as_str().unwrap_or_default();
                    return Drafted::Reply(text.to_owned());
                }
                prompt::SUBMIT_PLAN => {
                    match serde_json::from_value::<PlanDraft>(call.fn_arguments.clone()) {
                        Ok(draft) => {
                            match validate_draft(&draft, ground.skills, ground.max_steps) {
                                Ok(()) => {
                                    return Drafted::Plan(PlanDraft {
                                        tokens: spent.tokens,
                                        cost_micros: spent.micros,
                                        ..draft
                                    });
                                }
                                Err(problems) => problems,
                            }
                        }
                        Err(err) => vec![format!("the plan does not have the right shape: {err}")],
                    }
                }
                other => vec![format!(
                    "`{other}` is not a tool; call `{}` or `{}`",
                    prompt::SUBMIT_PLAN,
                    prompt::REPLY
                )],
            };
            tracing::info!(attempt, problems = ?problems, "the model's plan was rejected");
            let feedback = format!(
                "The plan was rejected:\n- {}\nCall `{}` again with a corrected plan.",
                problems.join("\n- "),
                prompt::SUBMIT_PLAN
            );
            messages.push(ChatMessage::from(vec![call.clone()]));
            messages.push(ChatMessage::from(ToolResponse::new(
                call.call_id.clone(),
                feedback,
            )));
        }
        Drafted::GaveUp(format!(
            "no valid plan in {} tries; the last problems: {}",
            self.config.max_tries,
            problems.join("; ")
        ))
    }
}

#[async_trait]
impl Planner for LlmPlanner {
    async fn plan(&self, request: PlanRequest<'_>) -> Result<PlanOutcome> {
        let ground = prompt::Ground::from(&request);
        let opening = prompt::request_message(&request, self.config.memory_tokens);
        match self
            .draft(&ground, opening, self.plan_budget(request.max_tokens))
            .await
        {
            Drafted::Plan(draft) => Ok(PlanOutcome::Plan(draft)),
            Drafted::Reply(text) => Ok(PlanOutcome::Reply(text)),
            Drafted::GaveUp(why) => Ok(PlanOutcome::Reply(format!(
                "I could not make a valid plan: {why}. Nothing was planned."
            ))),
            Drafted::Unavailable(why) => self.stand_in(request, why).await,
        }
    }

    async fn replan(&self, request: ReplanRequest<'_>) -> Result<Replan> {
        let plan = request.plan;
        let spent = Spend {
            tokens: plan.tokens_spent(),
            micros: plan.cost_spent_micros(),
        };
        let budget = self.plan_budget(plan.token_limit());
        if let Some(used) = spent.exhausts(budget) {
            return Ok(Replan::Declined(Some(format!(
                "its planning has used up its budget ({used})"
            ))));
        }
        let left = budget.minus(spent);
        let ground = prompt::Ground::from(&request);
        match self
            .draft(&ground, prompt::replan_message(&request), left)
            .await
        {
            Drafted::Plan(draft) => Ok(Replan::Revised(draft)),
            Drafted::Reply(why) | Drafted::GaveUp(why) | Drafted::Unavailable(why) => {
                tracing::info!(plan = %request.plan.id, %why, "no revised plan");
                Ok(Replan::Declined(Some(why)))
            }
        }
    }

    async fn review(&self, request: ReviewRequest<'_>) -> Result<Option<PlanDraft>> {
        let ground = prompt::Ground::from(&request);
        let opening = prompt::review_message(&request);
        match self.draft(&ground, opening, self.plan_budget(None)).await {
            Drafted::Plan(draft) => Ok(Some(draft)),
            Drafted::Reply(why) => {
                tracing::info!(%why, "the purpose review proposes nothing");
                Ok(None)
            }
            Drafted::GaveUp(why) | Drafted::Unavailable(why) => Err(Error::Planner(why)),
        }
    }

    fn capabilities(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "Anything the skills can do, in plain words (planned by {}).",
            self.config.model
        )];
        lines.extend(self.fallback.capabilities());
        lines
    }

    fn memory(&self) -> usize {
        self.config.memory_plans
    }
}

//! The language-model planner's test set-up: the test configuration pointed at a fake
//! model server.

use openmog::config::{Config, ConfigDuration, LlmConfig, LlmProvider};

use super::fake_llm::FakeLlm;
use super::{CONFIG, config};

/// The test configuration with the language-model planner pointed at `fake`.
pub fn llm_config(
    fake: &FakeLlm,
    provider: LlmProvider,
    tweak: impl FnOnce(&mut LlmConfig),
) -> Config {
    let mut config = config(CONFIG);
    let mut llm = LlmConfig {
        provider,
        model: "test-model".to_owned(),
        base_url: Some(fake.base_url()),
        api_key_env: None,
        max_tries: 3,
        timeout: ConfigDuration::secs(10),
        max_tokens_per_plan: 50_000,
        max_tokens_per_day: 1_000_000,
        memory_plans: 5,
        memory_tokens: 2_000,
        price: None,
        max_cost_per_plan: None,
        max_cost_per_day: None,
    };
    tweak(&mut llm);
    config.planner.kind = "llm".to_owned();
    config.planner.llm = Some(llm);
    config
}

//! Fuzzes plan validation: any JSON a planner (or a model) might produce is decoded as a
//! plan draft and validated against the built-in skills; whatever it holds, validation
//! answers without panicking, and a draft it accepts is judged by policy without
//! panicking either.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use openmog::config::Config;
use openmog::domain::PlanDraft;
use openmog::planner::validate_draft;
use openmog::policy::Policy;
use openmog::skills::SkillRegistry;

static SKILLS: LazyLock<SkillRegistry> = LazyLock::new(|| {
    let _ = rustls::crypto::ring::default_provider().install_default();
    openmog::skills::builtin(&Config::default().skills).expect("the built-in skills")
});

static POLICY: LazyLock<Policy> =
    LazyLock::new(|| Policy::new(&Config::default()).expect("the default policy"));

fuzz_target!(|data: &[u8]| {
    let Ok(draft) = serde_json::from_slice::<PlanDraft>(data) else {
        return;
    };
    if validate_draft(&draft, &SKILLS, 20).is_ok() {
        for step in &draft.steps {
            let _ = POLICY.judge(&step.skill, &step.args);
        }
    }
});

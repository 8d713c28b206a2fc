//! Configuration loading: the same config in TOML, YAML and JSON loads equal; every error
//! names the file and the key; the committed JSON Schema is current; the example config
//! is valid.

use std::path::{Path, PathBuf};

use openmog::config::{ConfigSource, json_schema, load};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn error_of(name: &str, text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), name, text);
    let err = load(&[ConfigSource::File(path.clone())])
        .expect_err("the config is invalid")
        .to_string();
    assert!(
        err.contains(&path.display().to_string()),
        "error does not name the file: {err}"
    );
    err
}

#[test]
fn the_same_config_in_toml_yaml_and_json_loads_equal() {
    let toml = load(&[ConfigSource::File(fixture("same.toml"))]).unwrap();
    let yaml = load(&[ConfigSource::File(fixture("same.yaml"))]).unwrap();
    let json = load(&[ConfigSource::File(fixture("same.json"))]).unwrap();
    assert_eq!(toml, yaml);
    assert_eq!(toml, json);
    assert!(
        toml.contacts.len() >= 2
            && !toml.authorizations.rules.is_empty()
            && !toml.planner.rules.is_empty()
    );
}

#[test]
fn the_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/openmog.toml");
    let config = load(&[ConfigSource::File(example)]).unwrap();
    assert_eq!(config.store.url, "sqlite://.openmog/openmog.db");
}

#[test]
fn an_unknown_key_is_named_with_its_file() {
    let err = error_of("a.toml", "[limits]\nmax_concurent_steps = 3\n");
    assert!(err.contains("key `limits.max_concurent_steps`:"), "{err}");
    assert!(err.contains("unknown key"), "{err}");
}

#[test]
fn a_wrong_type_is_named_with_its_file_and_key() {
    let err = error_of("b.yaml", "limits:\n  max_concurrent_steps: eighty\n");
    assert!(err.contains("limits.max_concurrent_steps"), "{err}");
}

#[test]
fn a_bad_duration_is_named_with_its_key() {
    let err = error_of("c.json", r#"{"limits": {"step_timeout": "five minutes"}}"#);
    assert!(err.contains("limits.step_timeout"), "{err}");
}

#[test]
fn references_between_sections_are_checked() {
    let err = error_of(
        "d.toml",
        r#"
        [[contacts]]
        id = "ann"
        roles = ["member"]
        [[authorizations.rules]]
        skill = "shell.run"
        decision = "approve"
        approvers = ["role:oncall"]
        "#,
    );
    assert!(
        err.contains("authorizations.rules[0].approvers[0]"),
        "{err}"
    );
    assert!(err.contains("no contact has the role `oncall`"), "{err}");

    let err = error_of(
        "e.toml",
        r#"
        [[contacts]]
        id = "ann"
        roles = ["oncall"]
        [[authorizations.rules]]
        skill = "shell.run"
        decision = "approve"
        approvers = ["role:oncall"]
        quorum = 2
        "#,
    );
    assert!(err.contains("authorizations.rules[0].quorum"), "{err}");

    let err = error_of(
        "f.toml",
        "[[planner.rules]]\nname = \"x\"\npattern = \"(\"\ntitle = \"t\"\nsteps = []\n",
    );
    assert!(err.contains("planner.rules[0].pattern"), "{err}");
}

#[test]
fn a_missing_file_is_an_error_not_an_empty_config() {
    let err = load(&[ConfigSource::File(PathBuf::from(
        "/nonexistent/openmog.toml",
    ))])
    .unwrap_err()
    .to_string();
    assert!(err.contains("/nonexistent/openmog.toml"), "{err}");
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail fixes the error type
fn environment_variables_override_files_and_are_named_in_errors() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("base.toml", "[limits]\nmax_concurrent_steps = 2\n")?;
        jail.set_env("OPENMOG_LIMITS__MAX_CONCURRENT_STEPS", "7");
        let sources = [ConfigSource::File("base.toml".into()), ConfigSource::Env];
        let config = load(&sources).map_err(|e| e.to_string())?;
        assert_eq!(config.limits.max_concurrent_steps, 7);

        jail.set_env("OPENMOG_LIMITS__STEP_TIMEOUT", "soon");
        let err = load(&sources).unwrap_err().to_string();
        assert!(
            err.contains("environment variable OPENMOG_LIMITS__STEP_TIMEOUT"),
            "{err}"
        );
        assert!(err.contains("limits.step_timeout"), "{err}");
        Ok(())
    });
}

#[test]
fn the_committed_json_schema_is_current() {
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/config.schema.json"),
    )
    .unwrap();
    // Compared as JSON values: with the `llm` feature, genai turns on serde_json's
    // `preserve_order`, which changes the order keys are printed in, not the schema.
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    assert!(
        parse(&committed) == parse(&json_schema()),
        "docs/config.schema.json is stale: run `cargo run -p openmog-bot -- config schema > docs/config.schema.json`"
    );
}

#[test]
fn the_language_model_planner_is_checked() {
    let err = error_of("llm.toml", "[planner]\nkind = \"llm\"\n");
    assert!(err.contains("planner.llm"), "{err}");
    let err = error_of(
        "llm2.toml",
        "[planner]\nkind = \"llm\"\n[planner.llm]\nprovider = \"openai\"\nmodel = \"m\"\nbase_url = \"localhost:11434\"\nmax_tries = 0\n",
    );
    assert!(err.contains("planner.llm.base_url"), "{err}");
    assert!(err.contains("planner.llm.max_tries"), "{err}");
    let err = error_of("llm3.toml", "[planner]\nkind = \"magic\"\n");
    assert!(err.contains("known: rules, llm"), "{err}");
    let err = error_of(
        "llm4.toml",
        "[planner]\nkind = \"llm\"\n[planner.llm]\nprovider = \"openai\"\nmodel = \"m\"\nmax_cost_per_day = 5.0\n[planner.llm.price]\ninput_per_million = -1.0\noutput_per_million = 2.0\n",
    );
    assert!(
        err.contains("llm4.toml: key `planner.llm.price.input_per_million`"),
        "{err}"
    );
    let err = error_of(
        "llm5.toml",
        "[planner]\nkind = \"llm\"\n[planner.llm]\nprovider = \"openai\"\nmodel = \"m\"\nmax_cost_per_plan = 0.5\n",
    );
    assert!(
        err.contains(
            "key `planner.llm.max_cost_per_plan`: a money limit needs the model's `price`"
        ),
        "{err}"
    );
}

#[test]
fn a_purpose_review_needs_the_model_a_sane_period_and_a_reachable_owner() {
    let err = error_of(
        "review.toml",
        "[planner.review]\nevery = \"10s\"\nowner = \"nobody\"\n",
    );
    assert!(
        err.contains(
            "review.toml: key `planner.review`: a purpose review needs the language-model planner"
        ),
        "{err}"
    );
    assert!(
        err.contains("key `planner.review.every`: `10s` is too often"),
        "{err}"
    );
    assert!(
        err.contains("key `planner.review.owner`: `nobody` is not a contact"),
        "{err}"
    );
}

#[test]
fn security_settings_name_file_and_key() {
    let err = error_of(
        "a.toml",
        "[authorizations.unknown_senders]\npolicy = \"welcome\"\n",
    );
    assert!(
        err.contains("authorizations.unknown_senders.policy"),
        "{err}"
    );
    let err = error_of("b.yaml", "limits:\n  inbound:\n    per_sender: lots\n");
    assert!(err.contains("limits.inbound.per_sender"), "{err}");
    let err = error_of("c.json", r#"{"vault": {"passphrase": "no"}}"#);
    assert!(err.contains("vault.passphrase"), "{err}");
    let err = error_of(
        "d.toml",
        "[planner]\nkind = \"llm\"\n[planner.llm]\nprovider = \"openai\"\nmodel = \"m\"\nbase_url = \"http://models.example.com/v1\"\n",
    );
    assert!(err.contains("planner.llm.base_url"), "{err}");
    assert!(err.contains("use `https`"), "{err}");
}

#[test]
fn configuration_given_as_text_loads_like_a_file() {
    let text = std::fs::read_to_string(fixture("same.yaml")).unwrap();
    let from_text = load(&[ConfigSource::Text {
        format: "yaml".into(),
        text,
    }])
    .unwrap();
    let from_file = load(&[ConfigSource::File(fixture("same.yaml"))]).unwrap();
    assert_eq!(from_text, from_file);
    let err = load(&[ConfigSource::Text {
        format: "ini".into(),
        text: String::new(),
    }])
    .unwrap_err();
    assert!(err.to_string().contains("`ini`"), "{err}");
}

//! References from a step's arguments to earlier outputs: `{"$from": {"step", "path"}}`
//! (or, as planners are told to write it, `{"$from": "<step>.output[.<path>]"}`) and
//! `{"$concat": [...]}`, found at validation and resolved when the step runs.

use serde_json::{Map, Value, json};

use super::{ArgRef, StepKey};

/// A `$from` reference as JSON.
pub fn reference(step: &str, path: &str) -> Value {
    json!({ "$from": { "step": step, "path": path } })
}

/// Whether `value` is a reference (`$from`) or a concatenation (`$concat`) still to be
/// resolved when the step runs.
pub fn is_reference(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|o| o.contains_key("$from") || o.contains_key("$concat"))
}

/// Every reference inside `args`; a malformed one as the error saying so.
pub fn references(args: &Value) -> Vec<Result<ArgRef, String>> {
    let mut found = Vec::new();
    collect(args, &mut found);
    found
}

fn collect(value: &Value, found: &mut Vec<Result<ArgRef, String>>) {
    match value {
        Value::Object(map) => {
            if let Some(raw) = map.get("$from") {
                found.push(parse_ref(raw).ok_or_else(|| malformed(raw)));
            } else {
                map.values().for_each(|v| collect(v, found));
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, found)),
        _ => {}
    }
}

fn malformed(raw: &Value) -> String {
    format!(
        "malformed reference {raw}: write {{\"$from\": \"<step>.output\"}} or \
         {{\"$from\": \"<step>.output.<path>\"}}"
    )
}

fn parse_ref(value: &Value) -> Option<ArgRef> {
    if let Some(text) = value.as_str() {
        let mut parts = text.splitn(3, '.');
        let step = parts.next().filter(|s| !s.is_empty())?;
        if parts.next()? != "output" {
            return None;
        }
        return Some(ArgRef {
            step: StepKey(step.to_owned()),
            path: parts.next().unwrap_or("").to_owned(),
        });
    }
    let step = value.get("step")?.as_str()?;
    let path = value.get("path").and_then(Value::as_str).unwrap_or("");
    Some(ArgRef {
        step: StepKey(step.to_owned()),
        path: path.to_owned(),
    })
}

/// The value at a dot-separated `path` (array indices as numbers); the whole value if empty.
pub fn value_at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(value);
    }
    path.split('.').try_fold(value, |v, part| match v {
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        other => other.get(part),
    })
}

/// Replaces every reference with the referenced output. `output_of` gives a step's output.
pub fn resolve(
    args: &Value,
    output_of: &dyn Fn(&StepKey) -> Option<Value>,
) -> Result<Value, String> {
    match args {
        Value::Object(map) => {
            if let Some(raw) = map.get("$from") {
                let r = parse_ref(raw).ok_or_else(|| malformed(raw))?;
                let output =
                    output_of(&r.step).ok_or_else(|| format!("step `{}` has no output", r.step))?;
                return value_at(&output, &r.path).cloned().ok_or_else(|| {
                    format!("the output of `{}` has nothing at `{}`", r.step, r.path)
                });
            }
            if let Some(Value::Array(parts)) = map.get("$concat") {
                let mut text = String::new();
                for part in parts {
                    match resolve(part, output_of)? {
                        Value::String(s) => text.push_str(&s),
                        other => text.push_str(&other.to_string()),
                    }
                }
                return Ok(Value::String(text));
            }
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), resolve(v, output_of)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|v| resolve(v, output_of))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_nested_references_and_concatenation() {
        let args = json!({
            "url": { "$concat": ["http://x/", reference("a", "body.id")] },
            "n": reference("a", "status"),
        });
        let out = resolve(&args, &|k| {
            (k.0 == "a").then(|| json!({"status": 200, "body": {"id": 7}}))
        })
        .unwrap();
        assert_eq!(out, json!({"url": "http://x/7", "n": 200}));
        assert_eq!(references(&args).len(), 2);
        assert!(resolve(&json!(reference("b", "")), &|_| None).is_err());
    }

    #[test]
    fn the_written_form_names_a_step_and_a_path_in_its_output() {
        let out = json!({"status": 200, "body": {"id": 7}});
        let lookup = |k: &StepKey| (k.0 == "a").then(|| out.clone());
        let args = json!({"id": {"$from": "a.output.body.id"}, "all": {"$from": "a.output"}});
        assert_eq!(
            resolve(&args, &lookup).unwrap(),
            json!({"id": 7, "all": out})
        );
        for bad in ["a", "a.body.id", ".output", ""] {
            let found = references(&json!({"x": {"$from": bad}}));
            assert!(
                matches!(found.as_slice(), [Err(why)] if why.contains("malformed")),
                "{bad:?}: {found:?}"
            );
        }
    }
}

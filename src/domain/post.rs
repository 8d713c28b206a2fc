//! Post-conditions checked against a step's output before it counts as done.

use serde_json::Value;

use super::PostCondition;
use super::refs::value_at;

impl PostCondition {
    /// `Ok` if `output` meets the condition, else why not.
    pub fn check(&self, output: &Value) -> Result<(), String> {
        match self {
            PostCondition::ExitStatus { equals } => {
                match output.get("exit_code").and_then(Value::as_i64) {
                    Some(code) if code == *equals => Ok(()),
                    Some(code) => Err(format!("exit status {code}, expected {equals}")),
                    None => Err("the output has no exit status".to_owned()),
                }
            }
            PostCondition::HttpStatus { equals } => {
                match output.get("status").and_then(Value::as_u64) {
                    Some(status) if status == u64::from(*equals) => Ok(()),
                    Some(status) => Err(format!("HTTP status {status}, expected {equals}")),
                    None => Err("the output has no HTTP status".to_owned()),
                }
            }
            PostCondition::JsonEquals { path, value } => match value_at(output, path) {
                Some(found) if found == value => Ok(()),
                Some(found) => Err(format!("`{path}` is {found}, expected {value}")),
                None => Err(format!("the output has nothing at `{path}`")),
            },
            PostCondition::JsonContains { path, value } => {
                let Some(found) = value_at(output, path) else {
                    return Err(format!("the output has nothing at `{path}`"));
                };
                let contains = match (found, value) {
                    (Value::String(haystack), Value::String(needle)) => {
                        haystack.contains(needle.as_str())
                    }
                    (Value::Array(items), needle) => items.contains(needle),
                    (Value::Object(map), Value::String(key)) => map.contains_key(key),
                    _ => false,
                };
                if contains {
                    Ok(())
                } else {
                    Err(format!("`{path}` does not contain {value}"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn checks_each_kind() {
        let out =
            json!({"exit_code": 0, "status": 200, "body": {"state": "healthy", "tags": ["a"]}});
        assert!(PostCondition::ExitStatus { equals: 0 }.check(&out).is_ok());
        assert!(
            PostCondition::HttpStatus { equals: 503 }
                .check(&out)
                .is_err()
        );
        assert!(
            PostCondition::JsonEquals {
                path: "body.state".into(),
                value: json!("healthy")
            }
            .check(&out)
            .is_ok()
        );
        assert!(
            PostCondition::JsonContains {
                path: "body.state".into(),
                value: json!("heal")
            }
            .check(&out)
            .is_ok()
        );
        assert!(
            PostCondition::JsonContains {
                path: "body.tags".into(),
                value: json!("b")
            }
            .check(&out)
            .is_err()
        );
        assert!(
            PostCondition::JsonEquals {
                path: "nope".into(),
                value: json!(1)
            }
            .check(&out)
            .is_err()
        );
    }
}

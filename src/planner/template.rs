//! Plan-rule templates: `${capture}` is filled with text from the request, and
//! `${steps.KEY.output.PATH}` becomes a reference resolved when the step runs.
//!
//! Captured text is inserted as data only: it is never parsed again, so a request cannot
//! smuggle in a reference or change the shape of the arguments.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::domain::refs::reference;

enum Piece {
    Text(String),
    Ref { step: String, path: String },
}

/// Fills a template value with `captures`.
pub(super) fn fill(template: &Value, captures: &BTreeMap<String, String>) -> Result<Value, String> {
    match template {
        Value::String(s) => fill_string(s, captures),
        Value::Array(items) => items
            .iter()
            .map(|v| fill(v, captures))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), fill(v, captures)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

/// Fills `${name}` placeholders in plain text (titles); references are not allowed there.
pub(super) fn fill_text(
    template: &str,
    captures: &BTreeMap<String, String>,
) -> Result<String, String> {
    let mut out = String::new();
    for piece in pieces(template, captures)? {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Ref { step, .. } => {
                return Err(format!("a title cannot refer to step `{step}`"));
            }
        }
    }
    Ok(out)
}

fn fill_string(s: &str, captures: &BTreeMap<String, String>) -> Result<Value, String> {
    let pieces = pieces(s, captures)?;
    let refs = pieces
        .iter()
        .filter(|p| matches!(p, Piece::Ref { .. }))
        .count();
    if refs == 0 {
        let text = pieces
            .into_iter()
            .map(|p| {
                if let Piece::Text(t) = p {
                    t
                } else {
                    String::new()
                }
            })
            .collect();
        return Ok(Value::String(text));
    }
    if let [Piece::Ref { step, path }] = pieces.as_slice() {
        return Ok(reference(step, path));
    }
    let parts = pieces
        .into_iter()
        .map(|p| match p {
            Piece::Text(t) => Value::String(t),
            Piece::Ref { step, path } => reference(&step, &path),
        })
        .collect();
    let mut concat = Map::new();
    concat.insert("$concat".to_owned(), Value::Array(parts));
    Ok(Value::Object(concat))
}

fn pieces(s: &str, captures: &BTreeMap<String, String>) -> Result<Vec<Piece>, String> {
    let mut out: Vec<Piece> = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        text.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in `{s}`"))?;
        let name = after[..end].trim();
        if let Some(step_ref) = name.strip_prefix("steps.") {
            let (step, path) = step_ref.split_once(".output").ok_or_else(|| {
                format!(
                    "`${{{name}}}`: write `${{steps.KEY.output}}` or `${{steps.KEY.output.PATH}}`"
                )
            })?;
            if !text.is_empty() {
                out.push(Piece::Text(std::mem::take(&mut text)));
            }
            out.push(Piece::Ref {
                step: step.to_owned(),
                path: path.trim_start_matches('.').to_owned(),
            });
        } else {
            let value = captures
                .get(name)
                .ok_or_else(|| format!("`${{{name}}}` is not a capture of the pattern"))?;
            text.push_str(value);
        }
        rest = &after[end + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() || out.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn captures_are_data_and_step_references_become_objects() {
        let captures = BTreeMap::from([("svc".to_owned(), "${steps.x.output}".to_owned())]);
        let out = fill(
            &json!({"a": "restart ${svc}", "b": "${steps.check.output.status}"}),
            &captures,
        )
        .unwrap();
        assert_eq!(out["a"], json!("restart ${steps.x.output}"));
        assert_eq!(out["b"], reference("check", "status"));
        let mixed = fill(&json!("id=${steps.c.output.body.id}!"), &captures).unwrap();
        assert_eq!(
            mixed,
            json!({"$concat": ["id=", reference("c", "body.id"), "!"]})
        );
        assert!(fill(&json!("${nope}"), &captures).is_err());
    }
}

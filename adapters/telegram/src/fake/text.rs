//! Text rules of the fake Bot API: the HTML parser and the entities of users' texts.

use serde_json::{Value, json};

/// Tags the Bot API accepts in `parse_mode: HTML`.
const HTML_TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "code",
    "pre",
    "a",
    "tg-spoiler",
    "blockquote",
    "span",
];

/// The visible text of an HTML-formatted message: tags removed, entities decoded. Unknown or
/// unbalanced tags and a bare `<` or `&` are errors, as in the Bot API.
pub(super) fn html_visible(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut open: Vec<String> = Vec::new();
    let mut pos = 0;
    while let Some(found) = raw[pos..].find(['<', '&']) {
        let at = pos + found;
        out.push_str(&raw[pos..at]);
        let tail = &raw[at..];
        if tail.starts_with('&') {
            let (decoded, len) = decode_entity(tail).ok_or_else(|| {
                format!("character '&' at byte offset {at} must be escaped as \"&amp;\"")
            })?;
            out.push(decoded);
            pos = at + len;
        } else {
            let len = tag_len(tail)
                .ok_or_else(|| format!("can't find end of the tag at byte offset {at}"))?;
            html_tag(&tail[1..len - 1], at, &mut open)?;
            pos = at + len;
        }
    }
    out.push_str(&raw[pos..]);
    match open.last() {
        Some(tag) => Err(format!(
            "can't find end tag corresponding to start tag \"{tag}\""
        )),
        None => Ok(out),
    }
}

/// Length in bytes of the tag at the start of `tail` (which starts with `<`), quotes respected.
fn tag_len(tail: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in tail.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i + 1),
            (None, '<') => return None,
            (None, _) => {}
        }
    }
    None
}

/// Checks one tag (`inner` is what is between `<` and `>`) against the open-tag stack.
fn html_tag(inner: &str, at: usize, open: &mut Vec<String>) -> Result<(), String> {
    if let Some(end) = inner.strip_prefix('/') {
        let name = end.trim().to_ascii_lowercase();
        return match open.pop() {
            Some(top) if top == name => Ok(()),
            Some(top) => Err(format!(
                "unmatched end tag at byte offset {at}, expected \"</{top}>\", found \"</{name}>\""
            )),
            None => Err(format!("unexpected end tag at byte offset {at}")),
        };
    }
    let name = inner
        .split(|c: char| c.is_whitespace() || c == '/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !HTML_TAGS.contains(&name.as_str()) || inner.trim_end().ends_with('/') {
        return Err(format!(
            "unsupported start tag \"{name}\" at byte offset {at}"
        ));
    }
    open.push(name);
    Ok(())
}

/// The character and byte length of the entity at the start of `tail` (which starts with `&`).
fn decode_entity(tail: &str) -> Option<(char, usize)> {
    let end = tail.char_indices().take(12).find(|&(_, c)| c == ';')?.0;
    let decoded = match &tail[1..end] {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        name => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((decoded, end + 1))
}

/// Entities Telegram would attach to a user's text: a `bot_command` for a leading
/// `/command[@bot]`, and a `mention` per `@username`. Offsets and lengths are UTF-16 units.
pub(super) fn text_entities(text: &str) -> Vec<Value> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let word_len = |s: &str| s.find(|c: char| !is_word(c)).unwrap_or(s.len());
    let mut entities = Vec::new();
    let mut skip_to = 0;
    if let Some(rest) = text.strip_prefix('/') {
        let name = word_len(rest);
        if name > 0 {
            let mut len = 1 + name;
            if let Some(bot) = rest[name..].strip_prefix('@') {
                let bot_len = word_len(bot);
                if bot_len > 0 {
                    len += 1 + bot_len;
                }
            }
            // The command is ASCII, so bytes and UTF-16 units agree.
            entities.push(json!({"type": "bot_command", "offset": 0, "length": len}));
            skip_to = len;
        }
    }
    let mut utf16 = 0;
    let mut after_word = false;
    for (i, c) in text.char_indices() {
        if i >= skip_to && c == '@' && !after_word {
            let name = word_len(&text[i + 1..]);
            if name > 0 {
                entities.push(json!({"type": "mention", "offset": utf16, "length": name + 1}));
                skip_to = i + 1 + name;
            }
        }
        after_word = is_word(c);
        utf16 += c.len_utf16();
    }
    entities
}

#[cfg(test)]
mod tests {
    use super::{html_visible, text_entities};

    #[test]
    fn html_strips_tags_and_decodes_entities() {
        let cases = [
            (
                "<b>bold</b> &lt;x&gt; &amp; &quot;q&quot;",
                "bold <x> & \"q\"",
            ),
            (r#"<a href="https://e.com/?a=1&amp;b=2">link</a>"#, "link"),
            (r#"<pre><code class="language-rust">fn</code></pre>"#, "fn"),
            (
                "<tg-spoiler>s</tg-spoiler><span class=\"tg-spoiler\">t</span>",
                "st",
            ),
            ("<B>loud</B>", "loud"),
            ("&#65;&#x42;", "AB"),
            ("a > b", "a > b"),
            ("plain", "plain"),
        ];
        for (raw, visible) in cases {
            assert_eq!(html_visible(raw).as_deref(), Ok(visible), "{raw}");
        }
    }

    #[test]
    fn html_rejects_bad_markup() {
        let bad = [
            "<b>x",
            "<b>x</i>",
            "x</b>",
            "<div>x</div>",
            "a < b",
            "fish & chips",
            "&bogus;",
            "<br/>",
        ];
        for raw in bad {
            assert!(html_visible(raw).is_err(), "{raw} should be rejected");
        }
    }

    #[test]
    fn entities_use_utf16_offsets() {
        let entities = text_entities("/start@openmog_bot 😀 @bob, mail a@b");
        let spans: Vec<(&str, u64, u64)> = entities
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap_or_default(),
                    e["offset"].as_u64().unwrap_or(u64::MAX),
                    e["length"].as_u64().unwrap_or(u64::MAX),
                )
            })
            .collect();
        assert_eq!(spans, vec![("bot_command", 0, 18), ("mention", 22, 4)]);
    }
}

//! Splitting long messages for platforms with a length limit, on the most natural boundary
//! that fits: a paragraph, then a line, then a word, then anywhere. A fenced code block cut
//! in two is closed at the end of one part and reopened at the start of the next.

/// Length as platforms with a limit count it: UTF-16 code units (Telegram's measure; never
/// fewer than characters, so it is safe for platforms that count characters).
pub fn message_units(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Room kept in each part for closing a code fence and reopening it (with a language tag of
/// up to [`MAX_FENCE_TAG`] characters) in the next.
const FENCE_ROOM: usize = 3 + MAX_FENCE_TAG + 1 + 1 + 3;

/// The longest language tag carried over when a code block is reopened.
const MAX_FENCE_TAG: usize = 16;

/// Splits `text` into chunks of at most `max_units` ([`message_units`]), cutting at the last
/// paragraph break that fits, else the last line break, else the last space, else the last
/// character that fits. Only whitespace at the cuts is lost; every other character is kept,
/// in order. A ```` ``` ```` code block that is cut is closed and reopened, so each part
/// renders as code. `max_units == 0` means no limit.
pub fn split_message(text: &str, max_units: usize) -> Vec<String> {
    split_message_by(text, max_units, &message_units)
}

/// [`split_message`] with the platform's own measure of a text, e.g. its length once the
/// channel has escaped it ([`super::Channel::measure`]). `measure` must grow with the text.
pub fn split_message_by(
    text: &str,
    max_units: usize,
    measure: &dyn Fn(&str) -> usize,
) -> Vec<String> {
    if max_units == 0 || measure(text) <= max_units {
        return vec![text.to_owned()];
    }
    if !text.contains("```") || max_units <= FENCE_ROOM * 2 {
        return split_plain(text, max_units, measure);
    }
    let mut open: Option<String> = None;
    split_plain(text, max_units - FENCE_ROOM, measure)
        .into_iter()
        .map(|part| {
            let mut fenced = String::with_capacity(part.len() + FENCE_ROOM);
            if let Some(opening) = &open {
                fenced.push_str(opening);
                fenced.push('\n');
            }
            for line in part.lines() {
                let line = line.trim_start();
                if let Some(tag) = line.strip_prefix("```") {
                    open = match open {
                        Some(_) => None,
                        None => Some(format!(
                            "```{}",
                            tag.chars()
                                .take_while(|c| c.is_ascii_alphanumeric())
                                .take(MAX_FENCE_TAG)
                                .collect::<String>()
                        )),
                    };
                }
            }
            fenced.push_str(&part);
            if open.is_some() {
                fenced.push_str("\n```");
            }
            fenced
        })
        .collect()
}

fn split_plain(text: &str, max_units: usize, measure: &dyn Fn(&str) -> usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut rest = text;
    while measure(rest) > max_units {
        let cut = cut_point(rest, max_units, measure);
        let (head, tail) = rest.split_at(cut);
        let head = head.trim_end();
        if !head.is_empty() {
            chunks.push(head.to_owned());
        }
        rest = tail.trim_start();
    }
    if !rest.is_empty() {
        chunks.push(rest.to_owned());
    }
    chunks
}

/// The byte index to cut `text` at so the head fits in `max_units`; always > 0.
fn cut_point(text: &str, max_units: usize, measure: &dyn Fn(&str) -> usize) -> usize {
    // The longest prefix (on a character boundary) that fits: a binary search, since the
    // measure grows with the text.
    let ends: Vec<usize> = text.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
    let fitting = ends.partition_point(|&end| measure(&text[..end]) <= max_units);
    let fits = if fitting == 0 { 0 } else { ends[fitting - 1] };
    if fits == 0 {
        // Not even one character fits (max_units 1 and a surrogate pair): take it anyway.
        return text.chars().next().map_or(text.len(), char::len_utf8);
    }
    let head = &text[..fits];
    // A boundary in the first quarter would make a uselessly short chunk.
    let useful = |at: usize| at > fits / 4;
    for separator in ["\n\n", "\n", " "] {
        if let Some(at) = head.rfind(separator).filter(|&at| useful(at)) {
            return at + separator.len();
        }
    }
    fits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn without_whitespace(text: &str) -> String {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    }

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(split_message("hello", 10), ["hello"]);
        assert_eq!(split_message("hello", 0), ["hello"]);
    }

    #[test]
    fn prefers_paragraphs_then_lines_then_words() {
        let text = "first paragraph\n\nsecond paragraph";
        assert_eq!(
            split_message(text, 20),
            ["first paragraph", "second paragraph"]
        );
        let text = "line one\nline two\nline three";
        assert_eq!(
            split_message(text, 18),
            ["line one\nline two", "line three"]
        );
        assert_eq!(
            split_message("alpha beta gamma", 11),
            ["alpha beta", "gamma"]
        );
        assert_eq!(split_message("abcdefghij", 4), ["abcd", "efgh", "ij"]);
    }

    #[test]
    fn counts_utf16_units_and_never_splits_a_character() {
        // Each emoji is two UTF-16 units.
        let text = "😀😀😀😀😀";
        let chunks = split_message(text, 4);
        assert_eq!(chunks, ["😀😀", "😀😀", "😀"]);
        assert!(chunks.iter().all(|c| message_units(c) <= 4));
    }

    #[test]
    fn the_platform_measure_decides_where_to_cut() {
        // A platform that escapes every `*` with a backslash counts them twice.
        let escaped = |t: &str| t.chars().count() + t.matches('*').count();
        let text = "*a* *b* *c* *d* *e* *f*";
        let parts = split_message_by(text, 8, &escaped);
        assert!(parts.iter().all(|p| escaped(p) <= 8), "{parts:?}");
        assert_eq!(parts.concat().replace(' ', ""), text.replace(' ', ""));
    }

    #[test]
    fn a_cut_code_block_is_closed_and_reopened() {
        let code: String = (0..40).map(|i| format!("let x{i} = {i};\n")).collect();
        let text = format!("Output:\n```rust\n{code}```\nDone.");
        let parts = split_message(&text, 200);
        assert!(parts.len() > 2, "{parts:#?}");
        for part in &parts {
            assert!(message_units(part) <= 200, "{part}");
            assert_eq!(
                part.matches("```").count() % 2,
                0,
                "balanced fences: {part}"
            );
        }
        assert!(
            parts[1].starts_with("```rust\n"),
            "reopened with its language: {}",
            parts[1]
        );
        let joined = parts.concat();
        for i in 0..40 {
            assert!(joined.contains(&format!("let x{i} = {i};")));
        }
        assert!(joined.ends_with("Done."));
    }

    #[test]
    fn nothing_but_whitespace_is_lost_and_every_chunk_fits() {
        let mut text = String::new();
        for i in 0..500 {
            text.push_str(&format!("Paragraph {i}: "));
            for j in 0..(i % 37) {
                text.push_str(&format!("word{j}ü "));
            }
            text.push_str(if i % 5 == 0 { "\n\n" } else { "\n" });
        }
        text.push_str(&"x".repeat(9000));
        for max in [7, 64, 4096] {
            let chunks = split_message(&text, max);
            assert!(
                chunks
                    .iter()
                    .all(|c| message_units(c) <= max && !c.is_empty())
            );
            assert_eq!(
                without_whitespace(&chunks.concat()),
                without_whitespace(&text)
            );
        }
    }
}

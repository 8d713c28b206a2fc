//! RFC 8601 `Authentication-Results`: reading the header our receiving server adds, and
//! deciding from it whether a mail's From domain is authenticated (DMARC, or DKIM aligned
//! with the From domain).
//!
//! Everything here works on plain `&str` and never panics.

/// The longest domain or result shown in a failure reason, in characters.
const MAX_SHOWN_CHARS: usize = 255;

/// One `Authentication-Results` header, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthResults {
    /// The server that added it (`authserv-id`), as written; empty when the header has
    /// none (Microsoft 365 omits it).
    pub authserv_id: String,
    /// Its method results, in order; empty for `none`.
    pub results: Vec<MethodResult>,
}

/// One method's result, e.g. `dkim=pass header.d=example.com`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MethodResult {
    /// The method, lowercase, without a version: `dmarc`, `dkim`, `spf`, `arc`, ….
    pub method: String,
    /// The result, lowercase: `pass`, `fail`, `none`, `neutral`, `temperror`, ….
    pub result: String,
    /// The properties in order, keys lowercase (`header.from`, `header.d`, `header.i`,
    /// `smtp.mailfrom`, `reason`, …), values unquoted and as written.
    pub props: Vec<(String, String)>,
}

impl MethodResult {
    /// The first value of property `key` (lowercase, e.g. `header.from`), if any.
    pub fn prop(&self, key: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }
}

/// A token of a header value, comments already removed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A run of characters other than whitespace, `=` and `"`.
    Word(String),
    /// A quoted string, unescaped.
    Quoted(String),
    /// `=`.
    Equals,
}

/// Parses one `Authentication-Results` header value; `None` if it has no authserv-id.
///
/// Tolerant: folding whitespace is unfolded, comments (nested) are removed, quoted strings
/// may contain `;`, the authserv-id may be followed by a version, each result may carry
/// `reason="…"` and `ptype.property=value` pairs, and `none` means no results. A value
/// that starts with a result (Microsoft 365 writes no authserv-id) parses with an empty
/// authserv-id.
pub fn parse(value: &str) -> Option<AuthResults> {
    let text = strip_comments(&unfold(value));
    let mut segments = split_outside_quotes(&text, ';').into_iter();
    let head = tokenize(segments.next()?);
    let (authserv_id, first_result) = match head.as_slice() {
        [Token::Word(_), Token::Equals, ..] => (String::new(), method_result(&head)),
        [Token::Word(id) | Token::Quoted(id), ..] if !id.is_empty() => (id.clone(), None),
        _ => return None,
    };
    let results = first_result
        .into_iter()
        .chain(segments.filter_map(|segment| method_result(&tokenize(segment))))
        .collect();
    Some(AuthResults {
        authserv_id,
        results,
    })
}

/// `value` with line breaks and tabs as spaces.
fn unfold(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if matches!(c, '\r' | '\n' | '\t') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// `text` without RFC 5322 comments (nested, with quoted pairs); each becomes a space.
/// Quoted strings are kept as written, escapes included.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0_usize;
    let mut in_quote = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if depth > 0 {
            match c {
                '\\' => {
                    chars.next();
                }
                '(' => depth = depth.saturating_add(1),
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push(' ');
                    }
                }
                _ => {}
            }
        } else if in_quote {
            out.push(c);
            match c {
                '\\' => out.extend(chars.next()),
                '"' => in_quote = false,
                _ => {}
            }
        } else {
            match c {
                '(' => depth = 1,
                '"' => {
                    in_quote = true;
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
    }
    out
}

/// `text` split at every `separator` outside quoted strings.
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let mut escaped = false;
    for (index, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            c if c == separator && !in_quote => {
                parts.push(text.get(start..index).unwrap_or_default());
                start = index + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(text.get(start..).unwrap_or_default());
    parts
}

/// The tokens of one `;`-separated segment.
fn tokenize(segment: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = segment.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '=' => tokens.push(Token::Equals),
            '"' => tokens.push(Token::Quoted(quoted_rest(&mut chars))),
            c if c.is_whitespace() => {}
            c => {
                let mut word = String::from(c);
                while let Some(&next) = chars.peek() {
                    if next.is_whitespace() || next == '=' || next == '"' {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    tokens
}

/// The rest of a quoted string whose opening `"` was read, unescaped.
fn quoted_rest(chars: &mut impl Iterator<Item = char>) -> String {
    let mut out = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// `method[/version]=result` followed by properties; `None` if `tokens` do not start so
/// (e.g. `none`).
fn method_result(tokens: &[Token]) -> Option<MethodResult> {
    let mut pairs = pairs(tokens).into_iter();
    let (key, result) = pairs.next()?;
    let method = key
        .split_once('/')
        .map_or(key.as_str(), |(method, _)| method)
        .to_ascii_lowercase();
    let props = pairs
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    Some(MethodResult {
        method,
        result: result.to_ascii_lowercase(),
        props,
    })
}

/// The `name=value` pairs among `tokens`, skipping anything that is not one.
fn pairs(tokens: &[Token]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tokens;
    while !rest.is_empty() {
        if let [
            Token::Word(name),
            Token::Equals,
            Token::Word(value) | Token::Quoted(value),
            tail @ ..,
        ] = rest
        {
            out.push((name.clone(), value.clone()));
            rest = tail;
        } else {
            rest = rest.get(1..).unwrap_or_default();
        }
    }
    out
}

/// What the configuration accepts as proof that the From domain sent a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Requirement {
    /// `dmarc=pass` for the From domain.
    #[default]
    Dmarc,
    /// `dmarc=pass`, or — when the server reports no DMARC verdict (no result, `none`, or
    /// an error) — a passing DKIM signature aligned with the From domain. An explicit
    /// `dmarc=fail` is final.
    DkimAligned,
}

/// Whether a mail's From domain is authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// It is.
    Pass {
        /// How: `dmarc` or `dkim`.
        method: &'static str,
    },
    /// It is not.
    Fail {
        /// Why, for a human: e.g. "DMARC result is fail for example.test".
        reason: String,
    },
}

impl Verification {
    /// Whether it passed.
    pub fn is_pass(&self) -> bool {
        matches!(self, Verification::Pass { .. })
    }
}

/// What the trusted header says about DMARC for the From domain.
enum Dmarc {
    /// `dmarc=pass` for it.
    Pass,
    /// A verdict against it; final.
    Fail(String),
    /// No verdict (no result, `none`, an error): DKIM may still do.
    Missing(String),
}

/// Decides whether a mail from `from_domain` is authenticated.
///
/// `headers` are the values of every `Authentication-Results` header, topmost first.
/// Only the topmost header whose authserv-id equals (ASCII case-insensitively) one of
/// `trusted_authserv_ids` counts: that is the one our receiving server added; headers
/// further down may have been written by the sender. Every other header is ignored. (If a
/// server splits its results over several headers, only the topmost one counts.) To trust
/// Microsoft 365, whose headers carry no authserv-id, list the empty string.
///
/// DMARC passes with `dmarc=pass` whose `header.from` (if given) is `from_domain`
/// (case-insensitive). With [`Requirement::DkimAligned`], a `dkim=pass` whose `header.d`
/// (or the domain of `header.i`) is aligned with `from_domain` also passes when DMARC
/// gave no verdict. Alignment is relaxed, see [`aligned`].
pub fn verify(
    headers: &[&str],
    trusted_authserv_ids: &[String],
    from_domain: &str,
    accept: Requirement,
) -> Verification {
    let from = domain_of(from_domain);
    if !is_plausible_domain(&from) {
        return fail(format!(
            "the sender's domain {:?} is not valid",
            shown(&from)
        ));
    }
    if trusted_authserv_ids.is_empty() {
        return fail("no trusted authentication server is configured".to_owned());
    }
    let trusted = |id: &str| {
        trusted_authserv_ids
            .iter()
            .any(|known| known.trim().eq_ignore_ascii_case(id))
    };
    let Some(ours) = headers
        .iter()
        .filter_map(|header| parse(header))
        .find(|header| trusted(header.authserv_id.as_str()))
    else {
        return fail(format!(
            "no Authentication-Results header from a trusted server ({})",
            trusted_authserv_ids.join(", ")
        ));
    };
    match (dmarc(&ours, &from), accept) {
        (Dmarc::Pass, _) => Verification::Pass { method: "dmarc" },
        (Dmarc::Fail(reason), _) | (Dmarc::Missing(reason), Requirement::Dmarc) => fail(reason),
        (Dmarc::Missing(reason), Requirement::DkimAligned) => match dkim(&ours, &from) {
            Ok(()) => Verification::Pass { method: "dkim" },
            Err(dkim_reason) => fail(format!("{reason}, and {dkim_reason}")),
        },
    }
}

/// A failed verification.
fn fail(reason: String) -> Verification {
    Verification::Fail { reason }
}

/// What `header` says about DMARC for `from`.
///
/// A `fail` for `from` wins over a `pass`; a result for another domain (a `header.from`
/// that is not `from`) is a failure, as the server looked at another From than we did.
fn dmarc(header: &AuthResults, from: &str) -> Dmarc {
    let results: Vec<(String, &str)> = header
        .results
        .iter()
        .filter(|result| result.method == "dmarc")
        .map(|result| {
            let domain = result
                .prop("header.from")
                .map_or_else(|| from.to_owned(), domain_of);
            (domain, result.result.as_str())
        })
        .collect();
    let ours = |wanted: &str| {
        results
            .iter()
            .any(|(domain, result)| domain == from && *result == wanted)
    };
    if ours("fail") {
        return Dmarc::Fail(format!("DMARC result is fail for {}", shown(from)));
    }
    if ours("pass") {
        return Dmarc::Pass;
    }
    if let Some((domain, result)) = results.iter().find(|(domain, _)| domain != from) {
        return Dmarc::Fail(if *result == "pass" {
            format!(
                "DMARC passed for {}, not for {}",
                shown(domain),
                shown(from)
            )
        } else {
            format!(
                "DMARC result is {} for {}, not for {}",
                shown(result),
                shown(domain),
                shown(from)
            )
        });
    }
    match results.first() {
        Some((_, result)) => Dmarc::Missing(format!(
            "DMARC result is {} for {}",
            shown(result),
            shown(from)
        )),
        None => Dmarc::Missing(format!(
            "{} reported no DMARC result",
            server_name(&header.authserv_id)
        )),
    }
}

/// Whether `header` has a passing DKIM signature aligned with `from`; why not otherwise.
fn dkim(header: &AuthResults, from: &str) -> Result<(), String> {
    let results: Vec<&MethodResult> = header
        .results
        .iter()
        .filter(|result| result.method == "dkim")
        .collect();
    let passed: Vec<&MethodResult> = results
        .iter()
        .copied()
        .filter(|result| result.result == "pass")
        .collect();
    let domains: Vec<String> = passed
        .iter()
        .filter_map(|result| signing_domain(result))
        .collect();
    if domains.iter().any(|domain| aligned(domain, from)) {
        return Ok(());
    }
    if !domains.is_empty() {
        let shown_domains: Vec<String> = domains.iter().map(|domain| shown(domain)).collect();
        return Err(format!(
            "DKIM passed only for {}, which is not aligned with {}",
            shown_domains.join(", "),
            shown(from)
        ));
    }
    if !passed.is_empty() {
        return Err("DKIM passed without naming a signing domain".to_owned());
    }
    if results.is_empty() {
        return Err("there is no DKIM result".to_owned());
    }
    let verdicts: Vec<String> = results.iter().map(|result| shown(&result.result)).collect();
    Err(format!(
        "no DKIM signature passed (dkim={})",
        verdicts.join(", ")
    ))
}

/// The domain a DKIM result names: `header.d`, or the domain of `header.i`.
fn signing_domain(result: &MethodResult) -> Option<String> {
    result
        .prop("header.d")
        .or_else(|| result.prop("header.i"))
        .map(domain_of)
        .filter(|domain| is_plausible_domain(domain))
}

/// How a failure reason names a server.
fn server_name(authserv_id: &str) -> String {
    if authserv_id.is_empty() {
        "the receiving server".to_owned()
    } else {
        shown(authserv_id)
    }
}

/// `text` capped for a failure reason.
fn shown(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_SHOWN_CHARS).collect();
    if text.chars().nth(MAX_SHOWN_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Whether two domains are aligned under DMARC's relaxed alignment: equal, or with the
/// same organizational domain (so `sub.example.com` and `example.com` are).
///
/// The organizational domain is approximated without the public suffix list as the last
/// two labels, or the last three when the last two look like a public suffix of the
/// `co.uk`/`com.au` kind (a two-letter top-level label after a label of at most three
/// characters). That is conservative: `www.ibm.de` and `ibm.de` count as unaligned,
/// never the other way round for such suffixes; a suffix like `github.io` is not known,
/// so `a.github.io` and `b.github.io` count as aligned.
pub fn aligned(a: &str, b: &str) -> bool {
    let (a, b) = (domain_of(a), domain_of(b));
    is_plausible_domain(&a)
        && is_plausible_domain(&b)
        && (a == b || organizational_domain(&a) == organizational_domain(&b))
}

/// The approximate organizational domain of a plausible, lowercase `domain`.
fn organizational_domain(domain: &str) -> &str {
    let mut labels = domain.rsplit('.');
    let top = labels.next().unwrap_or_default();
    let second = labels.next().unwrap_or_default();
    let keep = if top.len() == 2 && second.len() <= 3 {
        3
    } else {
        2
    };
    domain
        .rmatch_indices('.')
        .nth(keep - 1)
        .and_then(|(dot, _)| domain.get(dot + 1..))
        .unwrap_or(domain)
}

/// The lowercase domain of an address (`Ann <ann@Example.COM>` → `example.com`); `None`
/// if it has no plausible domain.
pub fn from_domain(address: &str) -> Option<String> {
    let (_, domain) = addr_spec(address).rsplit_once('@')?;
    let domain = normalize_domain(domain);
    is_plausible_domain(&domain).then_some(domain)
}

/// The address in `address`: inside the last `<…>`, else its first word.
fn addr_spec(address: &str) -> &str {
    match address.rsplit_once('<') {
        Some((_, inner)) => inner.split_once('>').map_or(inner, |(addr, _)| addr).trim(),
        None => address.split_whitespace().next().unwrap_or_default(),
    }
}

/// A domain as written in a header value: a domain, or an address whose domain counts.
fn domain_of(value: &str) -> String {
    let value = value.trim();
    normalize_domain(value.rsplit_once('@').map_or(value, |(_, domain)| domain))
}

/// `domain` trimmed, lowercase, without a trailing dot.
fn normalize_domain(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `domain` looks like a domain name: dot-separated labels of letters, digits,
/// `-` and `_` (non-ASCII letters allowed, for internationalized names).
fn is_plausible_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests;

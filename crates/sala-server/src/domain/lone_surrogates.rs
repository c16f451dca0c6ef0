//! JSON that escapes a lone UTF-16 surrogate (`"\ud800"` with no pair, or `"\udc00"`
//! alone). Such an escape names no Unicode character: no Rust string and no database column
//! can hold it, and serde_json refuses the whole document. A request holding one is answered
//! as `invalid`, like any other text the rules refuse, rather than as malformed JSON; to
//! learn what the request was about (a send's room and `client_id`), the escapes are
//! replaced by U+FFFD and the document read again, for its addressing only.

use super::ValidationError;

/// The refusal of a request that holds a lone surrogate.
pub fn lone_surrogate_error() -> ValidationError {
    ValidationError::new(
        "json",
        "must not escape a lone surrogate (\\uD800 to \\uDFFF without its pair): it is no character",
    )
}

/// `json` with each escaped lone surrogate replaced by `\uFFFD`; `None` if it has none.
/// Other text, escapes and pairs are kept byte for byte.
pub fn mark_lone_surrogates(json: &str) -> Option<String> {
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let mut copied = 0;
    let mut found = false;
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'\\' {
            at += 1;
            continue;
        }
        let Some(unit) = escaped_unit(bytes, at) else {
            // Another escape (`\\`, `\"`, `\n`…): both characters are skipped, so the
            // backslash of `\\u` is never read as the start of an escape.
            at += 2;
            continue;
        };
        match unit {
            0xD800..=0xDBFF
                if escaped_unit(bytes, at + 6)
                    .is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)) =>
            {
                at += 12;
            }
            0xD800..=0xDFFF => {
                out.push_str(&json[copied..at]);
                out.push_str("\\uFFFD");
                at += 6;
                copied = at;
                found = true;
            }
            _ => at += 6,
        }
    }
    found.then(|| {
        out.push_str(&json[copied..]);
        out
    })
}

/// The code unit of the `\uXXXX` escape at `at`, if there is one.
fn escaped_unit(bytes: &[u8], at: usize) -> Option<u16> {
    let escape = bytes.get(at..at + 6)?;
    if escape[0] != b'\\' || escape[1] != b'u' {
        return None;
    }
    let hex = std::str::from_utf8(&escape[2..]).ok()?;
    u16::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::mark_lone_surrogates;

    #[test]
    fn lone_surrogates_are_marked_and_nothing_else_changes() {
        let cases = [
            (r#"{"text":"a\ud800b"}"#, Some(r#"{"text":"a\uFFFDb"}"#)),
            (r#"{"text":"\uDC00"}"#, Some(r#"{"text":"\uFFFD"}"#)),
            (
                r#"{"text":"\ud800\ud800"}"#,
                Some(r#"{"text":"\uFFFD\uFFFD"}"#),
            ),
            (
                r#"{"text":"\ud800\u0041"}"#,
                Some(r#"{"text":"\uFFFD\u0041"}"#),
            ),
            (r#"{"text":"end\ud800"}"#, Some(r#"{"text":"end\uFFFD"}"#)),
            (r#"{"text":"😀 \ud83d\ude00"}"#, None),
            (r#"{"text":"\\ud800 is text"}"#, None),
            (r#"{"text":"\\\ud800"}"#, Some(r#"{"text":"\\\uFFFD"}"#)),
            (r#"{"text":"\u00e9\"\n"}"#, None),
            (r#"{"text":"\u12"}"#, None),
        ];
        for (json, expected) in cases {
            assert_eq!(mark_lone_surrogates(json).as_deref(), expected, "{json}");
        }
    }

    #[test]
    fn what_is_marked_parses() {
        let marked = mark_lone_surrogates(r#"{"a":"x\udfffy","b":"\ud834\udd1e"}"#).unwrap();
        let value: serde_json::Value = serde_json::from_str(&marked).unwrap();
        assert_eq!(value["a"], "x\u{fffd}y");
        assert_eq!(value["b"], "𝄞");
    }
}

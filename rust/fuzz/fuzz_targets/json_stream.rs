//! `JsonStreamParser` never panics, its result does not depend on how the text is
//! split into fragments, and on every document the strict scanner (`jscan`) accepts it
//! completes with the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenwire_core::jscan::{self, Kind, Value};
use tokenwire_core::json_stream::{JsonStreamParser, JsonValue, DEFAULT_MAX_DEPTH};
use tokenwire_core::Error;

#[path = "common.rs"]
mod common;

/// Feed `fragments`, reading the partial value after each; returns the final state.
fn parse(fragments: &[&str], peek: bool) -> (Result<(), Error>, Option<JsonValue>) {
    let mut parser = JsonStreamParser::new(DEFAULT_MAX_DEPTH);
    for fragment in fragments {
        if let Err(e) = parser.feed(fragment) {
            return (Err(e), None);
        }
        if peek {
            let _ = parser.value();
            let _ = parser.is_complete();
        }
    }
    let result = parser.finish();
    (result, parser.value())
}

/// The scanner's view of a document as a `JsonValue` (numbers as their text).
fn to_json_value(v: Value<'_>) -> JsonValue {
    match v.kind() {
        Kind::Null => JsonValue::Null,
        Kind::Bool => JsonValue::Bool(v.is_true()),
        Kind::Number => JsonValue::Number(v.raw().to_owned()),
        Kind::String => JsonValue::String(v.as_str().unwrap_or_default().into_owned()),
        Kind::Array => JsonValue::Array(v.items().map(to_json_value).collect()),
        Kind::Object => JsonValue::Object(
            v.members()
                .map(|(k, m)| (k.decoded().into_owned(), to_json_value(m)))
                .collect(),
        ),
    }
}

/// Cut `text` at the chunk boundaries, moved back to char boundaries.
fn fragments<'a>(text: &'a str, chunks: &[&[u8]]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for chunk in chunks {
        end += chunk.len();
        let mut cut = end.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut > start {
            out.push(&text[start..cut]);
            start = cut;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = common::split(data) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(input.body) else {
        return;
    };
    // Reading the partial value between fragments must not change the outcome.
    let whole = parse(&[text], false);
    let split = parse(&fragments(text, &input.chunks), input.header & 1 == 1);
    assert_eq!(whole, split, "result depends on fragmentation");
    // Bounded recursion in the reference conversion: the scanner limits depth anyway.
    if let Some(value) = jscan::parse(text) {
        assert!(
            whole.0.is_ok(),
            "jscan accepts {text:?} but JsonStreamParser fails: {:?}",
            whole.0
        );
        assert_eq!(
            whole.1,
            Some(to_json_value(value)),
            "values differ for {text:?}"
        );
    }
});

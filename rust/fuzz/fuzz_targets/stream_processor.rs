//! `StreamProcessor` never panics, for every dialect; its tokens and errors do not
//! depend on chunking (with coalescing off; invalid-JSON offsets legitimately do, as
//! they count the bytes fed), and coalescing only merges adjacent text/reasoning
//! tokens of one call. Header bit 6 turns on the dialect's option: `think_tags`
//! (openai-chat, ndjson) or `envelope = Response` (gemini).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenwire_core::processor::{Envelope, ProcessorOptions, StreamProcessor, DIALECTS};
use tokenwire_core::{Error, StreamToken};

#[path = "common.rs"]
mod common;

/// Tokens of each call (feeds, then finish) and the error that ended the stream.
fn run(
    dialect: &str,
    options: ProcessorOptions,
    chunks: &[&[u8]],
) -> (Vec<Vec<StreamToken>>, Option<Error>) {
    let mut processor = StreamProcessor::new(dialect, options).expect("known dialect");
    let mut calls = Vec::new();
    for chunk in chunks {
        let mut out = Vec::new();
        let result = processor.feed(chunk, &mut out);
        calls.push(out);
        if let Err(e) = result {
            // Sticky: every later call raises the same error.
            let mut out = Vec::new();
            assert_eq!(processor.finish(&mut out), Err(e.clone()));
            assert!(out.is_empty());
            return (calls, Some(e));
        }
    }
    let mut out = Vec::new();
    let result = processor.finish(&mut out);
    calls.push(out);
    if let Err(e) = result {
        assert_eq!(processor.feed(b"", &mut Vec::new()), Err(e.clone()));
        return (calls, Some(e));
    }
    // finish() twice returns nothing; feed() after finish() is an error.
    let mut out = Vec::new();
    assert_eq!(processor.finish(&mut out), Ok(()));
    assert!(out.is_empty());
    assert!(matches!(
        processor.feed(b"x", &mut out),
        Err(Error::Value(_))
    ));
    (calls, None)
}

/// The error with chunking-dependent offsets (invalid JSON) normalized.
fn normalize(e: Option<Error>) -> Option<Error> {
    match e {
        Some(Error::StreamDecode { message, .. }) if message.starts_with("invalid JSON") => {
            Some(Error::StreamDecode { message, offset: 0 })
        }
        other => other,
    }
}

/// Merge adjacent text and adjacent reasoning tokens (what coalescing does per call).
fn coalesced(tokens: &[StreamToken]) -> Vec<StreamToken> {
    let mut out: Vec<StreamToken> = Vec::new();
    for token in tokens {
        match (out.last_mut(), token) {
            (Some(StreamToken::Text(a)), StreamToken::Text(b)) => a.push_str(b),
            (Some(StreamToken::Reasoning(a)), StreamToken::Reasoning(b)) => a.push_str(b),
            _ => out.push(token.clone()),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = common::split(data) else {
        return;
    };
    let dialect = DIALECTS[usize::from(input.header) % DIALECTS.len()];
    let max_event_bytes = if input.header & 0x80 == 0 {
        1 << 20
    } else {
        1 + usize::from(input.header & 0x3f) * 4
    };
    // Header bit 6: the think_tags option where it applies. Byte chunking never changes
    // the deltas, so tokens stay chunking-independent with it on.
    let think_tags = input.header & 0x40 != 0 && matches!(dialect, "openai-chat" | "ndjson");
    let envelope = if input.header & 0x40 != 0 && dialect == "gemini" {
        Envelope::Response
    } else {
        Envelope::None
    };
    let plain = ProcessorOptions {
        coalesce: false,
        max_event_bytes,
        think_tags,
        envelope,
    };

    let (whole_calls, whole_err) = run(dialect, plain, &[input.body]);
    let (chunked_calls, chunked_err) = run(dialect, plain, &input.chunks);
    let whole: Vec<StreamToken> = whole_calls.concat();
    let chunked: Vec<StreamToken> = chunked_calls.concat();
    assert_eq!(whole, chunked, "{dialect}: tokens depend on chunking");
    assert_eq!(
        normalize(whole_err.clone()),
        normalize(chunked_err),
        "{dialect}: error depends on chunking"
    );

    for token in &whole {
        match token {
            StreamToken::Text(t) | StreamToken::Reasoning(t) => {
                assert!(!t.is_empty(), "empty text token")
            }
            StreamToken::Usage(u) => assert!(
                u.cost.is_none_or(|c| c.is_finite() && c.is_sign_positive()),
                "cost {:?}",
                u.cost
            ),
            _ => {}
        }
    }
    assert!(
        whole
            .iter()
            .filter(|t| matches!(t, StreamToken::Finish(_)))
            .count()
            <= 1,
        "two Finish tokens"
    );
    assert!(
        whole
            .iter()
            .filter(|t| matches!(t, StreamToken::Usage(_)))
            .count()
            <= 1,
        "two Usage tokens"
    );

    let (merged_calls, merged_err) = run(
        dialect,
        ProcessorOptions {
            coalesce: true,
            max_event_bytes,
            think_tags,
            envelope,
        },
        &[input.body],
    );
    assert_eq!(merged_err, whole_err);
    let expected: Vec<Vec<StreamToken>> = whole_calls.iter().map(|call| coalesced(call)).collect();
    assert_eq!(
        merged_calls, expected,
        "{dialect}: coalescing did more than merge adjacent text"
    );
});

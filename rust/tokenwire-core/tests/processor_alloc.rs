//! Proof that steady-state stream processing allocates only the tokens it hands out
//! (DESIGN §2): framing, JSON validation, the tape and field extraction reuse their
//! buffers, so with coalescing off each text event costs exactly one allocation (the
//! token's `String`).
//!
//! A counting global allocator wraps the system one; only allocations made on a
//! thread that switched counting on are counted.

mod common;

use common::allocations_during;
use tokenwire_core::processor::{Envelope, ProcessorOptions, StreamProcessor};
use tokenwire_core::StreamToken;

#[global_allocator]
static GLOBAL: common::CountingAlloc = common::CountingAlloc;

const WORDS: [&str; 6] = ["Hello", " wörld", ", how", " are", " you", " 🙂"];

/// One SSE / NDJSON event per item, each carrying exactly one text fragment.
fn stream(dialect: &str, events: std::ops::Range<usize>) -> Vec<u8> {
    let mut out = String::new();
    for i in events {
        let w = WORDS[i % WORDS.len()];
        match dialect {
            "openai-chat" => out.push_str(&format!(
                "data: {{\"id\":\"chatcmpl-{i}\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\
                 \"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{w}\"}},\
                 \"logprobs\":null,\"finish_reason\":null}}],\"usage\":null,\"obfuscation\":\"abc\"}}\n\n"
            )),
            "anthropic" => out.push_str(&format!(
                "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\
                 \"delta\":{{\"type\":\"text_delta\",\"text\":\"{w}\"}}}}\n\n"
            )),
            "openai-responses" => out.push_str(&format!(
                "event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\
                 \"item_id\":\"msg_{i}\",\"output_index\":0,\"content_index\":0,\"delta\":\"{w}\",\"sequence_number\":{i}}}\n\n"
            )),
            "gemini" => out.push_str(&format!(
                "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"{w}\"}}],\"role\":\"model\"}}}}],\
                 \"usageMetadata\":{{\"promptTokenCount\":5,\"candidatesTokenCount\":{i}}},\"modelVersion\":\"g\"}}\r\n\r\n"
            )),
            "ndjson" => out.push_str(&format!(
                "{{\"model\":\"m\",\"created_at\":\"t\",\"message\":{{\"role\":\"assistant\",\"content\":\"{w}\"}},\"done\":false}}\n"
            )),
            _ => unreachable!(),
        }
    }
    out.into_bytes()
}

#[test]
fn steady_state_allocates_one_string_per_token() {
    for dialect in [
        "openai-chat",
        "openai-responses",
        "anthropic",
        "gemini",
        "ndjson",
    ] {
        let body = stream(dialect, 0..2000);
        for chunk_size in [1usize, 64, 16384, body.len()] {
            let options = ProcessorOptions {
                coalesce: false,
                ..Default::default()
            };
            let mut processor = StreamProcessor::new(dialect, options).unwrap();
            let mut out: Vec<StreamToken> = Vec::new();
            // Warm up: buffers reach the size of the longest line/event, byte by byte.
            for byte in stream(dialect, 1990..2000).chunks(1) {
                processor.feed(byte, &mut out).unwrap();
            }
            out = Vec::with_capacity(body.len());
            let allocations = allocations_during(|| {
                for chunk in body.chunks(chunk_size) {
                    processor.feed(chunk, &mut out).unwrap();
                }
            });
            assert_eq!(out.len(), 2000, "{dialect} chunk size {chunk_size}");
            assert!(out.iter().all(|t| matches!(t, StreamToken::Text(_))));
            assert_eq!(
                allocations,
                out.len(),
                "{dialect} chunk size {chunk_size}: {allocations} allocations"
            );
        }
    }
}

#[test]
fn coalescing_allocates_far_less_than_one_per_event() {
    let body = stream("openai-chat", 0..2000);
    let mut processor = StreamProcessor::new("openai-chat", ProcessorOptions::default()).unwrap();
    let mut out: Vec<StreamToken> = Vec::with_capacity(16);
    processor
        .feed(&stream("openai-chat", 0..10), &mut out)
        .unwrap();
    out.clear();
    let allocations = allocations_during(|| processor.feed(&body, &mut out).unwrap());
    assert_eq!(out.len(), 1);
    // One String, grown by doubling.
    assert!(allocations < 32, "{allocations} allocations");
}

/// Events of the newer shapes: Mistral's content-part arrays (one reasoning and one
/// text fragment per event, usage with a reported cost) and Gemini Code Assist's
/// `response` envelope.
fn newer_shapes(dialect: &str, events: std::ops::Range<usize>) -> Vec<u8> {
    let mut out = String::new();
    for i in events {
        let w = WORDS[i % WORDS.len()];
        match dialect {
            "openai-chat" => out.push_str(&format!(
                "data: {{\"id\":\"m{i}\",\"object\":\"chat.completion.chunk\",\"model\":\"magistral-medium-2507\",\
                 \"choices\":[{{\"index\":0,\"delta\":{{\"content\":[{{\"type\":\"thinking\",\"thinking\":\
                 [{{\"type\":\"text\",\"text\":\"{w}\"}}]}},{{\"type\":\"text\",\"text\":\"{w}\"}}]}},\
                 \"finish_reason\":null}}],\"usage\":{{\"prompt_tokens\":3,\"completion_tokens\":{i},\
                 \"cost\":0.0{i},\"cost_details\":{{\"upstream_inference_cost\":1e-{}}}}}}}\n\n",
                i % 9 + 1
            )),
            "gemini" => out.push_str(&format!(
                "data: {{\"response\":{{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"{w}\"}}],\
                 \"role\":\"model\"}}}}],\"usageMetadata\":{{\"promptTokenCount\":5}}}},\"traceId\":\"t{i}\"}}\r\n\r\n"
            )),
            _ => unreachable!(),
        }
    }
    out.into_bytes()
}

/// The newer shapes take the same allocation-free path (a `Usage`, cost included, owns
/// no heap memory).
#[test]
fn content_parts_and_envelopes_allocate_one_string_per_token() {
    for (dialect, envelope, per_event) in [
        ("openai-chat", Envelope::None, 2),
        ("gemini", Envelope::Response, 1),
    ] {
        let options = ProcessorOptions {
            coalesce: false,
            envelope,
            ..Default::default()
        };
        let mut processor = StreamProcessor::new(dialect, options).unwrap();
        let mut out: Vec<StreamToken> = Vec::new();
        // Warm up on the longest events, byte by byte.
        for byte in newer_shapes(dialect, 990..1000).chunks(1) {
            processor.feed(byte, &mut out).unwrap();
        }
        let body = newer_shapes(dialect, 0..1000);
        out = Vec::with_capacity(body.len());
        let allocations = allocations_during(|| {
            for chunk in body.chunks(64) {
                processor.feed(chunk, &mut out).unwrap();
            }
        });
        assert_eq!(out.len(), 1000 * per_event, "{dialect}");
        assert_eq!(
            allocations,
            out.len(),
            "{dialect}: {allocations} allocations"
        );
    }
}

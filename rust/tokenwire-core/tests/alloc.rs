//! Proof that steady-state SSE decoding allocates nothing (DESIGN §2).
//!
//! A counting global allocator wraps the system one. Only allocations made on a thread
//! that has switched counting on are counted, so the test harness's own threads cannot
//! pollute the measurement.

mod common;

use common::allocations_during;
use tokenwire_core::sse::SseDecoder;

#[global_allocator]
static GLOBAL: common::CountingAlloc = common::CountingAlloc;

/// A typical OpenAI-style stream: chat-completion chunks numbered `ids`, varied in length, with
/// the odd keep-alive comment, multi-line data and an Anthropic-style typed event.
fn stream(ids: std::ops::Range<usize>) -> Vec<u8> {
    let mut out = Vec::new();
    for i in ids {
        let word = [
            "Hello", " world", ", how", " are", " you", " doing", " today", "?",
        ][i % 8];
        out.extend_from_slice(
            format!(
                "data: {{\"id\":\"chatcmpl-{i}\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\
                 \"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{word}\"}},\
                 \"finish_reason\":null}}]}}\n\n"
            )
            .as_bytes(),
        );
        match i % 50 {
            7 => out.extend_from_slice(b": keep-alive\n\n"),
            19 => out.extend_from_slice(b"event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n"),
            33 => out.extend_from_slice(b"id: 33\rdata: a\rdata: b\r\r"),
            _ => {}
        }
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}

#[test]
fn steady_state_feeding_does_not_allocate() {
    let body = stream(0..3000);
    // The tail of the body has the longest ids and one of each kind of block.
    let warmup = stream(2950..3000);
    let expected = {
        let mut dec = SseDecoder::new();
        let mut n = 0usize;
        dec.feed(&body, |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        n
    };
    assert!(expected > 3000);

    for chunk_size in [1usize, 7, 64, 1000, 4096, body.len()] {
        let mut dec = SseDecoder::new();
        // Warm the buffers: the line buffer must have held a partial line as long as the
        // longest one in the body, which a byte-by-byte pass over the warm-up guarantees.
        for byte in warmup.chunks(1) {
            dec.feed(byte, |_| Ok(())).unwrap();
        }
        let mut events = 0usize;
        let mut data_bytes = 0usize;
        let allocations = allocations_during(|| {
            for chunk in body.chunks(chunk_size) {
                dec.feed(chunk, |ev| {
                    events += 1;
                    data_bytes += ev.data.len() + ev.event.len();
                    Ok(())
                })
                .unwrap();
            }
        });
        assert_eq!(events, expected, "chunk size {chunk_size}");
        assert!(data_bytes > body.len() / 2);
        assert_eq!(
            allocations, 0,
            "chunk size {chunk_size}: {allocations} allocations in steady state"
        );
    }

    // The counter does count: a sanity check that the harness above can fail.
    let allocations = allocations_during(|| {
        let mut fresh = SseDecoder::new();
        fresh.feed(b"data: x\n\n", |_| Ok(())).unwrap();
    });
    assert!(allocations > 0, "the counting allocator saw nothing");
}

//! The SSE decoder never panics, and its events and errors do not depend on how the
//! stream is chunked; after `flush` it decodes a new stream like a fresh decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenwire_core::sse::SseDecoder;
use tokenwire_core::Error;

#[path = "common.rs"]
mod common;

type Event = (String, String, Option<String>, Option<u64>);

fn decode(decoder: &mut SseDecoder, chunks: &[&[u8]]) -> (Vec<Event>, Option<Error>) {
    let mut events = Vec::new();
    for chunk in chunks {
        let result = decoder.feed(chunk, |ev| {
            events.push((
                ev.event.to_owned(),
                ev.data.to_owned(),
                ev.id.map(str::to_owned),
                ev.retry,
            ));
            Ok(())
        });
        if let Err(e) = result {
            return (events, Some(e));
        }
    }
    (events, None)
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = common::split(data) else {
        return;
    };
    // A small limit (from the header) makes the size check reachable.
    let max = if input.header & 1 == 0 {
        1 << 20
    } else {
        1 + usize::from(input.header >> 1)
    };
    let mut whole = SseDecoder::with_max_event_bytes(max);
    let expected = decode(&mut whole, &[input.body]);
    let whole_pending = whole.has_pending();
    let mut chunked = SseDecoder::with_max_event_bytes(max);
    let got = decode(&mut chunked, &input.chunks);
    assert_eq!(expected, got, "events or error depend on chunking");
    if expected.1.is_none() {
        assert_eq!(whole_pending, chunked.has_pending());
        assert_eq!(whole.last_event_id(), chunked.last_event_id());
        assert_eq!(whole.retry(), chunked.retry());
        assert_eq!(chunked.bytes_fed(), input.body.len() as u64);
    }
    // After flush the decoder reads a new stream exactly like a fresh one (events only;
    // the last event ID legitimately carries over).
    chunked.flush();
    let mut fresh = SseDecoder::with_max_event_bytes(max);
    let again = decode(&mut chunked, &input.chunks);
    let reference = decode(&mut fresh, &input.chunks);
    let strip = |(events, err): (Vec<Event>, Option<Error>)| {
        (
            events
                .into_iter()
                .map(|(e, d, _, r)| (e, d, r))
                .collect::<Vec<_>>(),
            err,
        )
    };
    assert_eq!(strip(again), strip(reference));
});

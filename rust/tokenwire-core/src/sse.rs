//! Incremental decoder for `text/event-stream` (WHATWG HTML, "parsing an event stream").
//!
//! The decoder is fed raw byte chunks as they arrive and hands each completed event to a
//! callback as a borrowed [`SseEvent`], so steady-state decoding allocates nothing: complete
//! lines are parsed in place from the chunk, only a partial tail is copied into one reusable
//! line buffer, and the data / event-type / last-event-id buffers are cleared, never freed.
//!
//! Decisions where the spec leaves room, or where decoders in the wild differ:
//!
//! - **Line ends**: CRLF, LF and CR. A CR ending one chunk and an LF starting the next are
//!   one line end (a "skip one LF" flag survives the chunk boundary).
//! - **BOM**: one UTF-8 BOM (`EF BB BF`) at stream start is stripped, even when split
//!   across chunks; a BOM anywhere else is ordinary content.
//! - **UTF-8**: each complete field value is decoded lossily (invalid sequences become
//!   U+FFFD, one per maximal invalid subpart, like Python's `errors="replace"`). Only
//!   complete lines are decoded, so a code point split across chunks decodes correctly.
//! - **Empty data dispatches nothing** (the spec's rule): a block with only `event:`, `id:`,
//!   `retry:` or comments produces no event, while `data:` with an empty value does
//!   dispatch an event whose data is `""`.
//! - **`id`** persists across events (the spec's last event ID); one containing NUL is
//!   ignored; an empty value sets it to `""`. **`retry`** is honoured only when it is a
//!   non-empty run of ASCII digits that fits a `u64`; [`SseEvent::retry`] reports a retry set
//!   in the event's own block, [`SseDecoder::retry`] the most recent one.
//! - **End of stream**: [`SseDecoder::flush`] discards an unterminated event (the spec's
//!   rule), resets the per-stream state (line buffers, BOM detection, [`SseDecoder::bytes_fed`])
//!   and keeps the last event ID and retry, which a reconnecting client needs.
//!   [`SseDecoder::has_partial_event`] tells beforehand whether the stream was cut inside
//!   an event (a partial line, or data not yet dispatched; an `event:` field alone would
//!   dispatch nothing and does not count).
//! - **`max_event_bytes`** bounds the memory one event can take. The accounted size of an
//!   event is the raw bytes of its data values so far (each plus one for its LF) plus the
//!   raw bytes of the line being read (terminator excluded). The first byte that takes it
//!   past the limit fails the stream with [`Error::StreamDecode`] whose `offset` is that
//!   byte's absolute offset in the stream; the result does not depend on chunking.
//! - **Failure is sticky**: after `feed` returns an error (the limit, or an error from the
//!   callback) the rest of that chunk is dropped and every later `feed` returns the same
//!   error until `flush` starts a new stream.

use memchr::{memchr, memchr2};

use crate::error::{Error, Result};

/// Default bound on the bytes buffered for one event (16 MiB).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
/// `bom_matched` value once BOM detection is over for this stream.
const BOM_DONE: u8 = 3;

/// One dispatched event, borrowing the decoder's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The event type; `"message"` when the block had no `event` field (or an empty one).
    pub event: &'a str,
    /// The data lines joined with `'\n'` (the trailing LF stripped).
    pub data: &'a str,
    /// The last event ID in effect (it persists across events); `None` until an `id`
    /// field was seen.
    pub id: Option<&'a str>,
    /// The reconnection time set by a valid `retry` field in this event's block, if any.
    pub retry: Option<u64>,
}

/// Incremental `text/event-stream` decoder. See the module docs for the exact rules.
#[derive(Debug, Clone)]
pub struct SseDecoder {
    max_event_bytes: usize,
    /// A partial line carried over from the previous chunk (never holds a terminator).
    line: Vec<u8>,
    data: String,
    event_type: String,
    last_id: String,
    has_id: bool,
    retry: Option<u64>,
    event_retry: Option<u64>,
    /// Raw bytes accounted to the data buffer for the `max_event_bytes` limit.
    data_bytes: usize,
    /// The previous chunk ended with CR: one LF at the start of the next is part of it.
    skip_lf: bool,
    /// BOM bytes matched so far at stream start, or [`BOM_DONE`].
    bom_matched: u8,
    bytes_fed: u64,
    /// The error that failed the stream (boxed: it is rare and `Error` is large).
    failed: Option<Box<Error>>,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    /// A decoder with the default [`DEFAULT_MAX_EVENT_BYTES`] limit.
    pub fn new() -> Self {
        Self::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder failing any event whose accounted size exceeds `max_event_bytes`.
    pub fn with_max_event_bytes(max_event_bytes: usize) -> Self {
        SseDecoder {
            max_event_bytes,
            line: Vec::new(),
            data: String::new(),
            event_type: String::new(),
            last_id: String::new(),
            has_id: false,
            retry: None,
            event_retry: None,
            data_bytes: 0,
            skip_lf: false,
            bom_matched: 0,
            bytes_fed: 0,
            failed: None,
        }
    }

    /// The configured bound on one event's buffered bytes.
    pub fn max_event_bytes(&self) -> usize {
        self.max_event_bytes
    }

    /// Decode one chunk; `on_event` is called for every event completed. If `on_event`
    /// returns `Err`, decoding stops and that error is returned (the rest of the chunk is
    /// discarded and the decoder stays failed until [`flush`](Self::flush)).
    pub fn feed<F>(&mut self, chunk: &[u8], mut on_event: F) -> Result<()>
    where
        F: FnMut(SseEvent<'_>) -> Result<()>,
    {
        if let Some(err) = &self.failed {
            return Err(Error::clone(err));
        }
        let base = self.bytes_fed;
        self.bytes_fed += chunk.len() as u64;
        let result = self.feed_inner(chunk, base, &mut on_event);
        if let Err(err) = &result {
            self.failed = Some(Box::new(err.clone()));
        }
        result
    }

    fn feed_inner<F>(&mut self, chunk: &[u8], base: u64, on_event: &mut F) -> Result<()>
    where
        F: FnMut(SseEvent<'_>) -> Result<()>,
    {
        let mut pos = 0;
        if self.bom_matched != BOM_DONE {
            while pos < chunk.len() && self.bom_matched < BOM_DONE {
                if chunk[pos] != BOM[usize::from(self.bom_matched)] {
                    break;
                }
                self.bom_matched += 1;
                pos += 1;
            }
            if self.bom_matched < BOM_DONE {
                if pos == chunk.len() {
                    // Still a possible BOM prefix; decide on the next chunk.
                    return Ok(());
                }
                // Not a BOM: the bytes matched so far (stream offsets 0..n) start the first line.
                let n = usize::from(self.bom_matched);
                self.check_limit(n, 0)?;
                self.line.extend_from_slice(&BOM[..n]);
            }
            self.bom_matched = BOM_DONE;
        }
        if self.skip_lf && pos < chunk.len() {
            self.skip_lf = false;
            if chunk[pos] == b'\n' {
                pos += 1;
            }
        }
        while pos < chunk.len() {
            let rest = &chunk[pos..];
            // The blank line ending each event needs no search.
            let found = match rest[0] {
                b'\r' | b'\n' => Some(0),
                _ => memchr2(b'\r', b'\n', rest),
            };
            let Some(i) = found else {
                self.check_limit(rest.len(), base + pos as u64)?;
                self.line.extend_from_slice(rest);
                return Ok(());
            };
            self.check_limit(i, base + pos as u64)?;
            if self.line.is_empty() {
                self.process_line(&rest[..i], on_event)?;
            } else {
                self.line.extend_from_slice(&rest[..i]);
                // Take the buffer so the line can be borrowed while `self` is mutated; the
                // capacity comes back below, so nothing is reallocated.
                let line = std::mem::take(&mut self.line);
                let result = self.process_line(&line, on_event);
                self.line = line;
                self.line.clear();
                result?;
            }
            pos += i + 1;
            if rest[i] == b'\r' {
                if pos < chunk.len() {
                    if chunk[pos] == b'\n' {
                        pos += 1;
                    }
                } else {
                    self.skip_lf = true;
                }
            }
        }
        Ok(())
    }

    /// Fail if appending `seg_len` bytes (starting at absolute offset `seg_abs`) to the
    /// current line would take the event past `max_event_bytes`.
    fn check_limit(&self, seg_len: usize, seg_abs: u64) -> Result<()> {
        // Invariant: data_bytes + line.len() <= max_event_bytes.
        let room = self.max_event_bytes - self.data_bytes - self.line.len();
        if seg_len > room {
            return Err(Error::StreamDecode {
                message: format!(
                    "SSE event exceeds max_event_bytes ({})",
                    self.max_event_bytes
                ),
                offset: seg_abs + room as u64,
            });
        }
        Ok(())
    }

    fn process_line<F>(&mut self, line: &[u8], on_event: &mut F) -> Result<()>
    where
        F: FnMut(SseEvent<'_>) -> Result<()>,
    {
        if line.is_empty() {
            return self.dispatch(on_event);
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (name, value) = match memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &line[line.len()..]),
        };
        match name {
            b"event" => {
                self.event_type.clear();
                push_lossy(&mut self.event_type, value);
            }
            b"data" => {
                push_lossy(&mut self.data, value);
                self.data.push('\n');
                self.data_bytes += value.len() + 1;
            }
            // An id containing NUL is ignored (the spec's rule).
            b"id" if memchr(0, value).is_none() => {
                self.last_id.clear();
                push_lossy(&mut self.last_id, value);
                self.has_id = true;
            }
            b"retry" => {
                if let Some(ms) = parse_retry(value) {
                    self.retry = Some(ms);
                    self.event_retry = Some(ms);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch<F>(&mut self, on_event: &mut F) -> Result<()>
    where
        F: FnMut(SseEvent<'_>) -> Result<()>,
    {
        let result = if self.data.is_empty() {
            Ok(())
        } else {
            // Every data line appended an LF; the spec strips the last one.
            self.data.pop();
            let event = if self.event_type.is_empty() {
                "message"
            } else {
                self.event_type.as_str()
            };
            on_event(SseEvent {
                event,
                data: &self.data,
                id: if self.has_id {
                    Some(self.last_id.as_str())
                } else {
                    None
                },
                retry: self.event_retry,
            })
        };
        self.data.clear();
        self.event_type.clear();
        self.event_retry = None;
        self.data_bytes = 0;
        result
    }

    /// End of stream: discard any unterminated event (per the spec) and reset the
    /// per-stream state so the decoder can read a new stream (the last event ID and retry
    /// are kept). Returns `true` if a partial line or buffered data/event fields were dropped,
    /// or if the stream had failed (the rest of the failing chunk was dropped).
    pub fn flush(&mut self) -> bool {
        let discarded = self.has_pending() || self.failed.is_some();
        self.line.clear();
        self.data.clear();
        self.event_type.clear();
        self.event_retry = None;
        self.data_bytes = 0;
        self.skip_lf = false;
        self.bom_matched = 0;
        self.bytes_fed = 0;
        self.failed = None;
        discarded
    }

    /// Whether the stream stopped inside an event: a partial line (a partial BOM at
    /// stream start counts, as it would begin the first line) or data fields that no
    /// blank line has dispatched yet. Unlike [`has_pending`](Self::has_pending), an
    /// `event:` field alone (it would dispatch nothing) and a pending CR do not count:
    /// this is what a consumer checks at end of input to tell a clean end from a
    /// stream cut inside an event.
    pub fn has_partial_event(&self) -> bool {
        !self.line.is_empty()
            || (self.bom_matched != 0 && self.bom_matched != BOM_DONE)
            || !self.data.is_empty()
    }

    /// Whether a partial line or undispatched fields (data or an event type) are buffered.
    pub fn has_pending(&self) -> bool {
        !self.line.is_empty()
            || (self.bom_matched != 0 && self.bom_matched != BOM_DONE)
            || !self.data.is_empty()
            || !self.event_type.is_empty()
    }

    /// The last event ID buffer; `None` until an `id` field was seen.
    pub fn last_event_id(&self) -> Option<&str> {
        if self.has_id {
            Some(&self.last_id)
        } else {
            None
        }
    }

    /// The reconnection time (ms) most recently set by a valid `retry` field.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Bytes fed since the stream started (construction or the last [`flush`](Self::flush)).
    pub fn bytes_fed(&self) -> u64 {
        self.bytes_fed
    }
}

/// Append `bytes` to `out`, replacing invalid UTF-8 with U+FFFD. Allocation-free when `out`
/// has the capacity (unlike `String::from_utf8_lossy`, which allocates on invalid input).
#[inline]
fn push_lossy(out: &mut String, bytes: &[u8]) {
    // Valid input is the rule: `from_utf8` validates a word at a time, where the chunk
    // iterator below goes byte by byte (it was a fifth of the processor's time).
    if let Ok(text) = std::str::from_utf8(bytes) {
        out.push_str(text);
        return;
    }
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
}

/// A `retry` value: a non-empty run of ASCII digits that fits a `u64`.
fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An owned copy of an [`SseEvent`]: (event, data, id, retry).
    type Ev = (String, String, Option<String>, Option<u64>);

    fn ev(event: &str, data: &str, id: Option<&str>, retry: Option<u64>) -> Ev {
        (
            event.to_owned(),
            data.to_owned(),
            id.map(str::to_owned),
            retry,
        )
    }

    fn msg(data: &str) -> Ev {
        ev("message", data, None, None)
    }

    fn feed_into(dec: &mut SseDecoder, chunk: &[u8], out: &mut Vec<Ev>) -> Result<()> {
        dec.feed(chunk, |e| {
            out.push(ev(e.event, e.data, e.id, e.retry));
            Ok(())
        })
    }

    /// Decode `chunks` in order on a fresh decoder; panics on error.
    fn decode_chunks(chunks: &[&[u8]]) -> Vec<Ev> {
        let mut dec = SseDecoder::new();
        let mut out = Vec::new();
        for chunk in chunks {
            feed_into(&mut dec, chunk, &mut out).unwrap();
        }
        out
    }

    fn decode(input: &[u8]) -> Vec<Ev> {
        decode_chunks(&[input])
    }

    /// Decoding `input` one-shot, byte by byte and at every two-chunk split must agree.
    fn decode_all_ways(input: &[u8]) -> Vec<Ev> {
        let whole = decode(input);
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            assert_eq!(
                decode_chunks(&[a, b]),
                whole,
                "split at {split} of {input:?}"
            );
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(decode_chunks(&bytes), whole, "byte by byte: {input:?}");
        whole
    }

    #[test]
    fn line_endings_lf_crlf_cr() {
        for input in [
            &b"data: a\n\ndata: b\n\n"[..],
            b"data: a\r\n\r\ndata: b\r\n\r\n",
            b"data: a\r\rdata: b\r\r",
            b"data: a\r\n\rdata: b\n\r\n",
        ] {
            assert_eq!(
                decode_all_ways(input),
                vec![msg("a"), msg("b")],
                "{input:?}"
            );
        }
    }

    #[test]
    fn cr_then_lf_across_chunks_is_one_line_end() {
        // If the split CRLF counted as two line ends, the blank line would dispatch "a" early.
        let got = decode_chunks(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
        assert_eq!(got, vec![msg("a\nb")]);
        // The flag only skips an LF that comes immediately next, even after an empty chunk.
        let got = decode_chunks(&[b"data: a\r", b"", b"\n", b"data: b\n\n"]);
        assert_eq!(got, vec![msg("a\nb")]);
        // A CR followed by a non-LF byte in the next chunk is a line end of its own.
        let got = decode_chunks(&[b"data: a\r", b"\r"]);
        assert_eq!(got, vec![msg("a")]);
    }

    #[test]
    fn lone_lf_after_cr_is_consumed_only_once() {
        // CR LF LF: the CRLF ends the line, the second LF is the blank line.
        assert_eq!(decode_all_ways(b"data: x\r\n\n"), vec![msg("x")]);
        // LF CR: two line ends.
        assert_eq!(decode_all_ways(b"data: x\n\r"), vec![msg("x")]);
    }

    #[test]
    fn bom_is_stripped_once_at_stream_start() {
        let with_bom = b"\xEF\xBB\xBFdata: a\n\n";
        assert_eq!(decode_all_ways(with_bom), vec![msg("a")]);
        // A BOM in front of a field name would otherwise make it an unknown field.
        assert_eq!(
            decode(b"\xEF\xBB\xBFevent: e\ndata: a\n\n"),
            vec![ev("e", "a", None, None)]
        );
        // Only one: a second BOM becomes part of the first line's field name.
        assert_eq!(
            decode_all_ways(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n"),
            vec![msg("b")]
        );
        // Not at stream start: ordinary (here, data) content.
        assert_eq!(
            decode_all_ways(b"data: \xEF\xBB\xBFa\n\n"),
            vec![msg("\u{FEFF}a")]
        );
        assert_eq!(
            decode_all_ways(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"),
            vec![msg("a")]
        );
    }

    #[test]
    fn bom_prefix_that_is_not_a_bom_is_kept() {
        // EF BB then not BF: the bytes are the start of the first line (invalid UTF-8 here).
        assert_eq!(
            decode_all_ways(b"\xEF\xBBdata: a\n\ndata: b\n\n"),
            vec![msg("b")]
        );
        assert_eq!(decode_all_ways(b"\xEF\xBB\n\ndata: b\n\n"), vec![msg("b")]);
        // A field name made of the prefix: "\u{FFFD}" is an unknown field, ignored.
        let mut dec = SseDecoder::new();
        let mut out = Vec::new();
        feed_into(&mut dec, b"\xEF", &mut out).unwrap();
        assert!(dec.has_pending(), "a possible BOM prefix is pending");
        feed_into(&mut dec, b"\xBB", &mut out).unwrap();
        feed_into(&mut dec, b"X", &mut out).unwrap();
        assert!(dec.has_pending());
        assert!(dec.flush());
        assert!(out.is_empty());
    }

    #[test]
    fn comments_are_ignored() {
        let input = b": OPENROUTER PROCESSING\n\n:\ndata: a\n: mid-event comment\ndata: b\n\n";
        assert_eq!(decode_all_ways(input), vec![msg("a\nb")]);
    }

    #[test]
    fn field_parsing() {
        // One leading space is removed, not two; no space is fine; colons in the value stay.
        assert_eq!(decode(b"data:  two\n\n"), vec![msg(" two")]);
        assert_eq!(decode(b"data:none\n\n"), vec![msg("none")]);
        assert_eq!(decode(b"data: a: b:c\n\n"), vec![msg("a: b:c")]);
        // A line without a colon is a field name with an empty value.
        assert_eq!(decode(b"data\n\n"), vec![msg("")]);
        assert_eq!(decode(b"data\ndata\n\n"), vec![msg("\n")]);
        // Unknown fields and case-mismatched names are ignored.
        assert_eq!(decode(b"Data: x\nfoo: bar\ndata: y\n\n"), vec![msg("y")]);
        // Tabs are not stripped.
        assert_eq!(decode(b"data:\tt\n\n"), vec![msg("\tt")]);
        // A field name with a trailing space is a different field.
        assert_eq!(decode(b"data : x\ndata: y\n\n"), vec![msg("y")]);
    }

    #[test]
    fn multi_line_data_joined_with_lf() {
        let input = b"data: {\"a\":\ndata: 1}\ndata:\n\n";
        assert_eq!(decode_all_ways(input), vec![msg("{\"a\":\n1}\n")]);
    }

    #[test]
    fn event_type() {
        let input = b"event: ping\ndata: {}\n\ndata: x\n\nevent:\ndata: y\n\nevent: a\nevent: b\ndata: z\n\n";
        assert_eq!(
            decode_all_ways(input),
            vec![
                ev("ping", "{}", None, None),
                // The type does not leak into the next event.
                msg("x"),
                // An empty event field means "message".
                msg("y"),
                // The last event field wins.
                ev("b", "z", None, None),
            ]
        );
    }

    #[test]
    fn empty_data_dispatches_nothing_but_empty_data_field_does() {
        // Only an event field (or only comments/id/retry): nothing, and the type is reset.
        assert_eq!(decode(b"event: x\n\n"), vec![]);
        assert_eq!(decode(b"event: x\n\ndata: d\n\n"), vec![msg("d")]);
        assert_eq!(decode(b": c\n\nid: 1\n\nretry: 5\n\n\n\n"), vec![]);
        // A data field with an empty value makes the data buffer "\n": it dispatches "".
        assert_eq!(
            decode(b"event: x\ndata:\n\n"),
            vec![ev("x", "", None, None)]
        );
        assert_eq!(decode(b"data: \n\n"), vec![msg("")]);
    }

    #[test]
    fn id_rules() {
        let input = b"data: a\n\nid: 7\ndata: b\n\ndata: c\n\nid: 8\0x\ndata: d\n\nid\ndata: e\n\nid: \xFF\ndata: f\n\n";
        assert_eq!(
            decode_all_ways(input),
            vec![
                msg("a"),
                ev("message", "b", Some("7"), None),
                // The id persists.
                ev("message", "c", Some("7"), None),
                // An id with NUL is ignored.
                ev("message", "d", Some("7"), None),
                // An empty id sets it to "".
                ev("message", "e", Some(""), None),
                // Lossy like every other value.
                ev("message", "f", Some("\u{FFFD}"), None),
            ]
        );
        // An id in a block without data still takes effect.
        let mut dec = SseDecoder::new();
        let mut out = Vec::new();
        feed_into(&mut dec, b"id: 42\n\n", &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(dec.last_event_id(), Some("42"));
        feed_into(&mut dec, b"data: x\n\n", &mut out).unwrap();
        assert_eq!(out, vec![ev("message", "x", Some("42"), None)]);
    }

    #[test]
    fn retry_rules() {
        let mut dec = SseDecoder::new();
        let mut out = Vec::new();
        assert_eq!(dec.retry(), None);
        feed_into(&mut dec, b"retry: 3000\ndata: a\n\ndata: b\n\n", &mut out).unwrap();
        // Reported on the event of its own block only; the decoder remembers it.
        assert_eq!(out, vec![ev("message", "a", None, Some(3000)), msg("b")]);
        assert_eq!(dec.retry(), Some(3000));
        for bad in [
            &b"retry: 12a\n"[..],
            b"retry: -1\n",
            b"retry: 1.5\n",
            b"retry:\n",
            b"retry\n",
            b"retry:  5\n",
            b"retry: 5 \n",
            b"retry: \xEF\xBC\x95\n",         // a fullwidth digit: not ASCII
            b"retry: 18446744073709551616\n", // u64::MAX + 1
        ] {
            feed_into(&mut dec, bad, &mut out).unwrap();
            assert_eq!(dec.retry(), Some(3000), "{bad:?}");
        }
        feed_into(&mut dec, b"retry: 0\n", &mut out).unwrap();
        assert_eq!(dec.retry(), Some(0));
        feed_into(&mut dec, b"retry: 18446744073709551615\n", &mut out).unwrap();
        assert_eq!(dec.retry(), Some(u64::MAX));
        // A retry in a data-less block takes effect but dispatches nothing.
        feed_into(&mut dec, b"retry: 10\n\ndata: c\n\n", &mut out).unwrap();
        assert_eq!(dec.retry(), Some(10));
        assert_eq!(out.last(), Some(&msg("c")));
        // The last valid retry in a block wins.
        out.clear();
        feed_into(
            &mut dec,
            b"retry: 1\nretry: x\nretry: 2\ndata: d\n\n",
            &mut out,
        )
        .unwrap();
        assert_eq!(out, vec![ev("message", "d", None, Some(2))]);
    }

    #[test]
    fn unterminated_final_event_is_discarded_by_flush() {
        let mut dec = SseDecoder::new();
        let mut out = Vec::new();
        feed_into(&mut dec, b"data: a\n\ndata: b\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("a")]);
        assert!(dec.has_pending());
        assert!(dec.flush());
        assert!(!dec.has_pending());
        // Nothing of "b" leaks into the next stream.
        feed_into(&mut dec, b"data: c\n\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("a"), msg("c")]);
        // Partial line only; an event type only.
        feed_into(&mut dec, b"data: partial", &mut out).unwrap();
        assert!(dec.flush());
        feed_into(&mut dec, b"event: x\n", &mut out).unwrap();
        assert!(dec.flush());
        // Nothing pending: a clean end.
        feed_into(&mut dec, b"data: d\n\n: comment\n", &mut out).unwrap();
        assert!(!dec.has_pending());
        assert!(!dec.flush());
        assert_eq!(out.last(), Some(&msg("d")));
    }

    #[test]
    fn partial_event_is_a_partial_line_or_undispatched_data() {
        let partial = |chunks: &[&[u8]]| {
            let mut dec = SseDecoder::new();
            for chunk in chunks {
                dec.feed(chunk, |_| Ok(())).unwrap();
            }
            (dec.has_partial_event(), dec.has_pending())
        };
        // Inside an event: a partial line, a partial BOM, data without its blank line.
        assert_eq!(partial(&[b"data: {}\n\ndata: {"]), (true, true));
        assert_eq!(partial(&[b"event: x"]), (true, true));
        assert_eq!(partial(&[b"\xEF\xBB"]), (true, true));
        assert_eq!(partial(&[b"data: a\n"]), (true, true));
        assert_eq!(partial(&[b"data: a\r"]), (true, true));
        assert_eq!(partial(&[b"data:\n"]), (true, true));
        // Between events: an event type alone is pending but would dispatch nothing.
        assert_eq!(partial(&[b"event: message\n"]), (false, true));
        assert_eq!(partial(&[b"event: x\nid: 7\nretry: 5\n"]), (false, true));
        // Clean: nothing buffered (a pending CR, comments, id and retry fields).
        assert_eq!(partial(&[b""]), (false, false));
        assert_eq!(partial(&[b"data: a\n\r"]), (false, false));
        assert_eq!(partial(&[b": c\nid: 1\nretry: 2\n"]), (false, false));
        assert_eq!(partial(&[b"\xEF\xBB\xBF"]), (false, false));
    }

    #[test]
    fn flush_resets_the_stream_but_keeps_id_and_retry() {
        let mut dec = SseDecoder::new();
        let mut out = Vec::new();
        feed_into(
            &mut dec,
            b"\xEF\xBB\xBFid: 5\nretry: 9\ndata: a\n\ndata: b\r",
            &mut out,
        )
        .unwrap();
        assert_eq!(dec.bytes_fed(), 35);
        dec.flush();
        assert_eq!(dec.bytes_fed(), 0);
        assert_eq!(dec.last_event_id(), Some("5"));
        assert_eq!(dec.retry(), Some(9));
        // The pending CR is forgotten (an LF now is a blank line, dispatching nothing)
        // and BOM detection is re-armed for the new stream.
        feed_into(&mut dec, b"\ndata: c\n\n", &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                ev("message", "a", Some("5"), Some(9)),
                ev("message", "c", Some("5"), None)
            ]
        );
        out.clear();
        dec.flush();
        feed_into(&mut dec, b"\xEF\xBB\xBFdata: d\n\n", &mut out).unwrap();
        assert_eq!(out, vec![ev("message", "d", Some("5"), None)]);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(
            decode_all_ways(b"data: a\xFFb\n\n"),
            vec![msg("a\u{FFFD}b")]
        );
        // One replacement per maximal invalid subpart (as Python's errors="replace").
        assert_eq!(decode(b"data: \xF0\x9F\x98\n\n"), vec![msg("\u{FFFD}")]);
        assert_eq!(
            decode(b"data: \xED\xA0\x80\n\n"),
            vec![msg("\u{FFFD}\u{FFFD}\u{FFFD}")]
        );
        assert_eq!(decode(b"data: \xC0\xAF\n\n"), vec![msg("\u{FFFD}\u{FFFD}")]);
        // A truncated sequence right before the line end does not swallow the terminator.
        assert_eq!(
            decode_all_ways(b"data: \xE2\x82\ndata: x\n\n"),
            vec![msg("\u{FFFD}\nx")]
        );
        assert_eq!(
            decode(b"event: \xFF\ndata: x\n\n"),
            vec![ev("\u{FFFD}", "x", None, None)]
        );
    }

    #[test]
    fn code_point_split_across_chunks() {
        let input = "data: h\u{e9}llo \u{20ac} \u{1F600}\n\n".as_bytes();
        assert_eq!(
            decode_all_ways(input),
            vec![msg("h\u{e9}llo \u{20ac} \u{1F600}")]
        );
    }

    #[test]
    fn typical_provider_streams() {
        let openai = b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n";
        assert_eq!(
            decode_all_ways(openai),
            vec![
                msg("{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}"),
                msg("[DONE]")
            ]
        );
        let anthropic = b"event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n";
        assert_eq!(
            decode_all_ways(anthropic),
            vec![
                ev("message_start", "{\"type\":\"message_start\"}", None, None),
                ev("ping", "{\"type\": \"ping\"}", None, None),
            ]
        );
        let gemini = b"data: {\"candidates\":[]}\r\n\r\ndata: {\"usageMetadata\":{}}\r\n\r\n";
        assert_eq!(
            decode_all_ways(gemini),
            vec![msg("{\"candidates\":[]}"), msg("{\"usageMetadata\":{}}")]
        );
    }

    fn limit_error(max: usize, chunks: &[&[u8]]) -> (Vec<Ev>, Error) {
        let mut dec = SseDecoder::with_max_event_bytes(max);
        let mut out = Vec::new();
        for chunk in chunks {
            if let Err(e) = feed_into(&mut dec, chunk, &mut out) {
                return (out, e);
            }
        }
        panic!("no error; events {out:?}");
    }

    fn offset_of(e: &Error) -> u64 {
        match e {
            Error::StreamDecode { offset, .. } => *offset,
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn max_event_bytes_exact_boundary() {
        // "data: 0123" is a 10-byte line: exactly at a limit of 10 it passes.
        let input = b"data: 0123\n\n";
        let mut dec = SseDecoder::with_max_event_bytes(10);
        let mut out = Vec::new();
        feed_into(&mut dec, input, &mut out).unwrap();
        assert_eq!(out, vec![msg("0123")]);
        // At 9 the 10th byte of the line (offset 9) crosses it, whatever the chunking.
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            let (events, err) = limit_error(9, &[a, b]);
            assert!(events.is_empty());
            assert_eq!(offset_of(&err), 9, "split {split}");
        }
        let (_, err) = limit_error(9, &input.chunks(1).collect::<Vec<_>>());
        assert_eq!(offset_of(&err), 9);
        assert_eq!(
            err,
            Error::StreamDecode {
                message: "SSE event exceeds max_event_bytes (9)".into(),
                offset: 9
            }
        );
    }

    #[test]
    fn max_event_bytes_counts_data_across_lines_and_resets_per_event() {
        // Each "data: xx" line accounts 3 bytes (value + LF) once complete; the 8-byte line
        // itself must fit while it is read.
        let mut dec = SseDecoder::with_max_event_bytes(11);
        let mut out = Vec::new();
        // data 3 + line 8 = 11: fits; then data 6 + 8 = 14 > 11 at the line's 6th byte.
        let input = b"data: xx\ndata: yy\ndata: zz\n\n";
        let err = feed_into(&mut dec, input, &mut out).unwrap_err();
        // Third line starts at 18; room is 11 - 6 = 5 bytes, so byte 18 + 5 = 23 crosses.
        assert_eq!(offset_of(&err), 23);
        // The same events, one per block, never accumulate.
        let mut dec = SseDecoder::with_max_event_bytes(8);
        out.clear();
        feed_into(&mut dec, &b"data: xx\n\n".repeat(100), &mut out).unwrap();
        assert_eq!(out.len(), 100);
        // Comment and event lines count only while they are being read.
        let mut dec = SseDecoder::with_max_event_bytes(8);
        feed_into(
            &mut dec,
            b": 345678\n: 345678\nevent: 8\ndata: xx\n\n",
            &mut out,
        )
        .unwrap();
        let (_, err) = limit_error(8, &[b": 3456789\n"]);
        assert_eq!(offset_of(&err), 8);
        // The BOM is not counted in the line but is counted in the offset.
        let (_, err) = limit_error(4, &[b"\xEF\xBB", b"\xBFdata\n\ndata:\n\n"]);
        assert_eq!(offset_of(&err), 3 + 6 + 4);
        // A failed BOM prefix is counted like any line byte.
        let (_, err) = limit_error(1, &[b"\xEF", b"\xBB", b"a"]);
        assert_eq!(offset_of(&err), 1);
    }

    #[test]
    fn decoder_stays_failed_until_flush() {
        let mut dec = SseDecoder::with_max_event_bytes(16);
        let mut out = Vec::new();
        let err = feed_into(
            &mut dec,
            b"data: a\n\ndata: 0123456789abcdef\n\ndata: b\n\n",
            &mut out,
        )
        .unwrap_err();
        // Events completed before the overflow were delivered; the rest of the chunk is dropped.
        assert_eq!(out, vec![msg("a")]);
        assert_eq!(offset_of(&err), 9 + 16);
        assert_eq!(
            feed_into(&mut dec, b"data: c\n\n", &mut out),
            Err(err.clone())
        );
        assert_eq!(out, vec![msg("a")]);
        assert!(dec.flush());
        feed_into(&mut dec, b"data: c\n\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("a"), msg("c")]);
    }

    #[test]
    fn callback_error_aborts_the_chunk() {
        let mut dec = SseDecoder::new();
        let mut seen = Vec::new();
        let stop = Error::Value("stop".into());
        let result = dec.feed(b"data: a\n\ndata: b\n\ndata: c\n\n", |e| {
            seen.push(e.data.to_owned());
            if e.data == "b" {
                Err(Error::Value("stop".into()))
            } else {
                Ok(())
            }
        });
        assert_eq!(result, Err(stop.clone()));
        assert_eq!(seen, vec!["a", "b"]);
        // Sticky: later feeds return the same error without calling back.
        let again = dec.feed(b"data: d\n\n", |_| panic!("called after failure"));
        assert_eq!(again, Err(stop));
        dec.flush();
        let mut after = Vec::new();
        feed_into(&mut dec, b"data: d\n\n", &mut after).unwrap();
        assert_eq!(after, vec![msg("d")]);
    }

    #[test]
    fn bytes_fed_counts_every_byte() {
        let mut dec = SseDecoder::new();
        let mut out = Vec::new();
        for chunk in [&b"\xEF\xBB"[..], b"\xBFdata: a\r", b"", b"\n\r\n"] {
            feed_into(&mut dec, chunk, &mut out).unwrap();
        }
        assert_eq!(dec.bytes_fed(), 14);
        assert_eq!(out, vec![msg("a")]);
    }

    #[test]
    fn zero_limit_rejects_any_line_byte_but_not_blank_lines() {
        let mut dec = SseDecoder::with_max_event_bytes(0);
        let mut out = Vec::new();
        feed_into(&mut dec, b"\n\r\n\r", &mut out).unwrap();
        let err = feed_into(&mut dec, b"\nd", &mut out).unwrap_err();
        assert_eq!(offset_of(&err), 5);
        assert!(out.is_empty());
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // A cheap deterministic xorshift stream over a byte alphabet rich in syntax.
        let alphabet = b"data:eventidretry \r\n\r\n:\0\xEF\xBB\xBF\xFF\xC3\xA9\x80";
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..300 {
            let len = (next() % 200) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let whole = decode(&input);
            let split = (next() % (len as u64 + 1)) as usize;
            let (a, b) = input.split_at(split);
            assert_eq!(decode_chunks(&[a, b]), whole);
            let mut small = SseDecoder::with_max_event_bytes((next() % 16) as usize);
            match small.feed(&input, |_| Ok(())) {
                Ok(()) => {}
                Err(Error::StreamDecode { offset, .. }) => assert!(offset < len as u64),
                Err(other) => panic!("unexpected error {other:?}"),
            }
        }
    }
}

//! `StreamProcessor`: raw provider stream bytes in, normalized tokens out, in one pass.
//!
//! Framing (SSE through [`SseDecoder`], or LF-separated lines for `ndjson`), strict
//! JSON validation and field extraction ([`crate::jscan`]), and the dialect state
//! machine ([`crate::dialects`]) run in a single call per chunk; no JSON tree is
//! built, and the only allocations on the hot path are the strings of the tokens
//! handed out (adjacent text deltas of one call are appended to one `String`).
//!
//! Errors (provider errors in the stream, invalid JSON, framing errors) are
//! *deferred* when tokens were already decoded from the same chunk: `feed` returns
//! those tokens and the next `feed`/`finish` raises the error. Once failed, the
//! processor raises the same error forever.
//!
//! Options ([`ProcessorOptions`]): `coalesce`, `max_event_bytes`, `think_tags`
//! (`openai-chat` and `ndjson`: `<think>` blocks in the text content become reasoning,
//! see [`crate::dialects::think`]; `Error::Value` for the other dialects) and `envelope`
//! (`gemini`: [`Envelope::Response`] reads each event's `response` member, as Gemini
//! Code Assist wraps them; `Error::Value` for the other dialects).
//!
//! `finish()` fails with "stream ended inside an event" only when the framing holds a
//! partial line or undispatched SSE data ([`SseDecoder::has_partial_event`]); a stream
//! ending after an `event:` line alone ends between events.

use memchr::memchr;

use crate::dialects::{is_ascii_space, Dialect, Sink};
use crate::error::{Error, Result};
use crate::eventstream::EventStreamDecoder;
use crate::sse::{SseDecoder, DEFAULT_MAX_EVENT_BYTES};
use crate::stream_token::StreamToken;

pub use crate::dialects::gemini::Envelope;
pub use crate::dialects::DIALECTS;

/// Construction options of a [`StreamProcessor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessorOptions {
    /// Merge adjacent text (and adjacent reasoning) deltas decoded by one call.
    pub coalesce: bool,
    /// Bound on the bytes buffered for one SSE event or NDJSON line.
    pub max_event_bytes: usize,
    /// `openai-chat` and `ndjson`: `<think>…</think>` blocks in the text content become
    /// reasoning ([`crate::dialects::think`]); other dialects refuse it.
    pub think_tags: bool,
    /// `gemini`: where each event's response is ([`Envelope`]); other dialects refuse
    /// any but `Envelope::None`.
    pub envelope: Envelope,
}

impl Default for ProcessorOptions {
    fn default() -> Self {
        ProcessorOptions {
            coalesce: true,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            think_tags: false,
            envelope: Envelope::None,
        }
    }
}

/// Splits a byte stream into LF-terminated lines (NDJSON), bounded like the SSE decoder.
#[derive(Debug, Clone)]
struct LineSplitter {
    max_line_bytes: usize,
    /// A partial line carried over from earlier chunks (never holds the LF).
    line: Vec<u8>,
}

impl LineSplitter {
    /// Feed `chunk` (starting at absolute offset `base`), calling `on_line` for every
    /// complete line that is not blank.
    fn feed<F>(&mut self, chunk: &[u8], base: u64, mut on_line: F) -> Result<()>
    where
        F: FnMut(&str) -> Result<()>,
    {
        let mut pos = 0usize;
        while pos < chunk.len() {
            let rest = &chunk[pos..];
            let seg_abs = base + pos as u64;
            let Some(i) = memchr(b'\n', rest) else {
                self.check_limit(rest.len(), seg_abs)?;
                self.line.extend_from_slice(rest);
                return Ok(());
            };
            self.check_limit(i, seg_abs)?;
            if self.line.is_empty() {
                process_line(&rest[..i], &mut on_line)?;
            } else {
                self.line.extend_from_slice(&rest[..i]);
                let result = process_line(&self.line, &mut on_line);
                self.line.clear();
                result?;
            }
            pos += i + 1;
        }
        Ok(())
    }

    /// The pending line's bytes plus `seg_len` more must fit `max_line_bytes`; the
    /// error's offset is the first byte past the limit, whatever the chunking.
    fn check_limit(&self, seg_len: usize, seg_abs: u64) -> Result<()> {
        let room = self.max_line_bytes.saturating_sub(self.line.len());
        if seg_len > room {
            return Err(Error::StreamDecode {
                message: format!(
                    "ndjson line exceeds max_event_bytes ({})",
                    self.max_line_bytes
                ),
                offset: seg_abs + room as u64,
            });
        }
        Ok(())
    }

    /// The stream stopped inside a line that has content.
    fn has_partial_event(&self) -> bool {
        !self.line.iter().all(|&c| is_ascii_space(c))
    }
}

fn process_line<F>(line: &[u8], on_line: &mut F) -> Result<()>
where
    F: FnMut(&str) -> Result<()>,
{
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(|&c| is_ascii_space(c)) {
        return Ok(());
    }
    match std::str::from_utf8(line) {
        Ok(text) => on_line(text),
        // Invalid UTF-8 is replaced, as the SSE decoder does.
        Err(_) => on_line(&String::from_utf8_lossy(line)),
    }
}

#[derive(Debug, Clone)]
enum Framing {
    Sse(SseDecoder),
    Lines(LineSplitter),
    /// Binary AWS event-stream messages (`bedrock`).
    Events(EventStreamDecoder),
}

/// Provider stream bytes in, [`StreamToken`]s out. See the module docs.
#[derive(Debug, Clone)]
pub struct StreamProcessor {
    dialect: Dialect,
    framing: Framing,
    coalesce: bool,
    /// Total bytes fed.
    fed: u64,
    /// The error every later call raises (set when an error was raised or deferred).
    failed: Option<Error>,
    finished: bool,
}

impl StreamProcessor {
    /// A processor for `dialect` (one of [`DIALECTS`]); `Error::Value` otherwise.
    pub fn new(dialect: &str, options: ProcessorOptions) -> Result<Self> {
        Self::with_invoke_model(dialect, options, None)
    }

    /// As [`new`](Self::new), with the `bedrock` dialect's `invoke_model` payload family
    /// (`"anthropic"`, `"titan"`, `"llama"`; `None` = ConverseStream).
    pub fn with_invoke_model(
        dialect: &str,
        options: ProcessorOptions,
        invoke_model: Option<&str>,
    ) -> Result<Self> {
        let mut dialect = Dialect::with_invoke_model(dialect, invoke_model)?;
        if options.think_tags {
            dialect.enable_think_tags()?;
        }
        dialect.set_envelope(options.envelope)?;
        let framing = if dialect.is_event_stream() {
            // The bound applies to a whole event-stream message.
            Framing::Events(EventStreamDecoder::new(options.max_event_bytes))
        } else if dialect.is_ndjson() {
            Framing::Lines(LineSplitter {
                max_line_bytes: options.max_event_bytes,
                line: Vec::new(),
            })
        } else {
            Framing::Sse(SseDecoder::with_max_event_bytes(options.max_event_bytes))
        };
        Ok(StreamProcessor {
            dialect,
            framing,
            coalesce: options.coalesce,
            fed: 0,
            failed: None,
            finished: false,
        })
    }

    /// The dialect's name.
    pub fn dialect(&self) -> &'static str {
        self.dialect.name()
    }

    /// Whether adjacent text/reasoning deltas are merged.
    pub fn coalesce(&self) -> bool {
        self.coalesce
    }

    /// True once the stream's terminal marker was seen (Gemini: a finish reason).
    pub fn done(&self) -> bool {
        self.dialect.done()
    }

    /// Total bytes fed so far.
    pub fn bytes_fed(&self) -> u64 {
        self.fed
    }

    /// Decode `chunk`, appending its tokens to `out`.
    ///
    /// On an error with tokens already decoded from this chunk, returns `Ok` with
    /// those tokens and raises the error on the next call.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamToken>) -> Result<()> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.finished {
            return Err(Error::Value("feed() called after finish()".to_owned()));
        }
        let base = self.fed;
        self.fed += chunk.len() as u64;
        let mut sink = Sink::new(out, self.coalesce, self.fed);
        let dialect = &mut self.dialect;
        let result = match &mut self.framing {
            Framing::Sse(decoder) => {
                decoder.feed(chunk, |ev| dialect.on_event(ev.event, ev.data, &mut sink))
            }
            Framing::Lines(lines) => {
                lines.feed(chunk, base, |line| dialect.on_event("", line, &mut sink))
            }
            Framing::Events(decoder) => decoder.feed(chunk, |m| dialect.on_message(m, &mut sink)),
        };
        self.settle(result, sink.has_tokens())
    }

    /// End of input: appends the pending end tokens (Gemini citations, `Usage`).
    ///
    /// Fails with `StreamDecode` if the stream stopped inside an event. A second
    /// call appends nothing.
    pub fn finish(&mut self, out: &mut Vec<StreamToken>) -> Result<()> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.finished {
            return Ok(());
        }
        let inside_event = match &self.framing {
            Framing::Sse(decoder) => decoder.has_partial_event(),
            Framing::Lines(lines) => lines.has_partial_event(),
            Framing::Events(decoder) => decoder.has_pending(),
        };
        if inside_event {
            let err = Error::StreamDecode {
                message: "stream ended inside an event".to_owned(),
                offset: self.fed,
            };
            self.failed = Some(err.clone());
            return Err(err);
        }
        self.finished = true;
        let mut sink = Sink::new(out, self.coalesce, self.fed);
        self.dialect.finish(&mut sink);
        Ok(())
    }

    /// Record a failure; defer it if this call produced tokens.
    fn settle(&mut self, result: Result<()>, produced_tokens: bool) -> Result<()> {
        match result {
            Ok(()) => Ok(()),
            Err(err) => {
                self.failed = Some(err.clone());
                if produced_tokens {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialects::testing::*;

    fn processor(dialect: &str, coalesce: bool) -> StreamProcessor {
        StreamProcessor::new(
            dialect,
            ProcessorOptions {
                coalesce,
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn feed(p: &mut StreamProcessor, chunk: &[u8]) -> Result<Vec<StreamToken>> {
        let mut out = Vec::new();
        p.feed(chunk, &mut out).map(|()| out)
    }

    fn finish_tokens(p: &mut StreamProcessor) -> Result<Vec<StreamToken>> {
        let mut out = Vec::new();
        p.finish(&mut out).map(|()| out)
    }

    /// Every token of a stream fed whole, then finished.
    fn whole(dialect: &str, stream: &[u8], coalesce: bool) -> Vec<StreamToken> {
        let mut p = processor(dialect, coalesce);
        let mut out = feed(&mut p, stream).unwrap();
        out.extend(finish_tokens(&mut p).unwrap());
        out
    }

    fn chat(content: &str) -> String {
        format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}}}}]}}\n\n"
        )
    }

    #[test]
    fn options_and_properties() {
        let p = StreamProcessor::new("gemini", ProcessorOptions::default()).unwrap();
        assert_eq!(p.dialect(), "gemini");
        assert!(p.coalesce());
        assert!(!p.done());
        assert_eq!(
            DIALECTS,
            [
                "openai-chat",
                "openai-responses",
                "anthropic",
                "gemini",
                "ndjson",
                "bedrock"
            ]
        );
        assert!(matches!(
            StreamProcessor::new("nope", ProcessorOptions::default()),
            Err(Error::Value(_))
        ));
    }

    #[test]
    fn coalescing_within_one_feed_only() {
        let stream = format!("{}{}{}", chat("a"), chat("b"), chat("c"));
        let mut p = processor("openai-chat", true);
        assert_eq!(feed(&mut p, stream.as_bytes()).unwrap(), [text("abc")]);
        assert_eq!(feed(&mut p, chat("d").as_bytes()).unwrap(), [text("d")]);
        let mut p = processor("openai-chat", false);
        assert_eq!(
            feed(&mut p, stream.as_bytes()).unwrap(),
            [text("a"), text("b"), text("c")]
        );
        // Reasoning coalesces separately; tool calls break runs.
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"r1\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"r2\",\"content\":\"t1\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"t2\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"t3\"}}]}\n\n",
        );
        assert_eq!(
            whole("openai-chat", stream.as_bytes(), true),
            [
                reasoning("r1r2"),
                text("t1t2"),
                tool(0, Some("c"), Some("f"), ""),
                text("t3"),
            ]
        );
    }

    #[test]
    fn done_and_finish_rules() {
        let mut p = processor("openai-chat", true);
        let out = feed(
            &mut p,
            b"data: {\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n",
        )
        .unwrap();
        assert_eq!(out, [usage(1, 0, 0, 0, 0)]);
        assert!(p.done());
        // After done: events are ignored, even invalid ones.
        assert!(feed(&mut p, b"data: {bad json\n\n").unwrap().is_empty());
        assert!(finish_tokens(&mut p).unwrap().is_empty());
        // finish() twice returns nothing the second time; feed after finish is a ValueError.
        assert!(finish_tokens(&mut p).unwrap().is_empty());
        assert_eq!(
            feed(&mut p, b"").unwrap_err(),
            Error::Value("feed() called after finish()".into())
        );
        // Usage comes out of finish() when the stream had no terminal marker.
        let mut p = processor("openai-chat", true);
        assert!(feed(&mut p, b"data: {\"usage\":{\"prompt_tokens\":2}}\n\n")
            .unwrap()
            .is_empty());
        assert_eq!(finish_tokens(&mut p).unwrap(), [usage(2, 0, 0, 0, 0)]);
        assert!(finish_tokens(&mut p).unwrap().is_empty());
    }

    #[test]
    fn stream_ended_inside_an_event() {
        for (dialect, stream) in [
            (
                "openai-chat",
                &b"data: {\"choices\":[]}\n\ndata: {\"cho"[..],
            ),
            ("openai-chat", b"data: {}\n"),
            ("openai-chat", b"data: {}\r"),
            ("anthropic", b"event: ping\ndata: {\"type\":\"ping\"}"),
            ("ndjson", b"{\"done\":false}\n{\"do"),
        ] {
            let mut p = processor(dialect, true);
            feed(&mut p, stream).unwrap();
            let err = finish_tokens(&mut p).unwrap_err();
            let want = Error::StreamDecode {
                message: "stream ended inside an event".into(),
                offset: stream.len() as u64,
            };
            assert_eq!(err, want, "{dialect}");
            // Sticky.
            assert_eq!(finish_tokens(&mut p).unwrap_err(), want);
            assert_eq!(feed(&mut p, b"\n\n").unwrap_err(), want);
        }
        // Blank state, comments, and whitespace-only NDJSON tails are fine.
        for (dialect, stream) in [
            ("openai-chat", &b"data: {}\n\n"[..]),
            ("openai-chat", b"data: {}\r\n\r\n"),
            ("gemini", b""),
            ("ndjson", b"{}\n  \t"),
            ("ndjson", b"{}\r\n\r\n"),
            // Fields that would dispatch nothing: the stream ended between events.
            ("openai-chat", b"data: {}\n\nevent: message\n"),
            ("anthropic", b"event: ping\nid: 7\nretry: 100\n"),
        ] {
            let mut p = processor(dialect, true);
            feed(&mut p, stream).unwrap();
            assert!(finish_tokens(&mut p).is_ok(), "{dialect} {stream:?}");
        }
    }

    #[test]
    fn invalid_json_offset_counts_the_whole_chunk() {
        let mut p = processor("openai-chat", true);
        feed(&mut p, b"data: {}\n\n").unwrap();
        let chunk = b"data: {\"a\":}\n\ndata: {}\n\n";
        let err = feed(&mut p, chunk).unwrap_err();
        let want = Error::StreamDecode {
            message: "invalid JSON in openai-chat event".into(),
            offset: 10 + chunk.len() as u64,
        };
        assert_eq!(err, want);
        assert_eq!(feed(&mut p, b"data: {}\n\n").unwrap_err(), want);
        assert_eq!(finish_tokens(&mut p).unwrap_err(), want);
    }

    #[test]
    fn errors_are_deferred_after_tokens_of_the_same_chunk() {
        let error_event =
            "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"overloaded_error\"}}\n\n";
        let want = provider("overloaded", Some("overloaded_error"), None, None);
        // Tokens before the error in the same chunk come out; the error follows.
        let mut p = processor("openai-chat", true);
        let chunk = format!("{}{}{error_event}{}", chat("a"), chat("b"), chat("lost"));
        assert_eq!(feed(&mut p, chunk.as_bytes()).unwrap(), [text("ab")]);
        assert_eq!(feed(&mut p, chat("x").as_bytes()).unwrap_err(), want);
        assert_eq!(feed(&mut p, chat("x").as_bytes()).unwrap_err(), want);
        assert_eq!(finish_tokens(&mut p).unwrap_err(), want);
        // Deferred into finish().
        let mut p = processor("openai-chat", true);
        assert_eq!(
            feed(&mut p, format!("{}{error_event}", chat("a")).as_bytes()).unwrap(),
            [text("a")]
        );
        assert_eq!(finish_tokens(&mut p).unwrap_err(), want);
        // No tokens pending: raised at once.
        let mut p = processor("openai-chat", true);
        assert_eq!(feed(&mut p, chat("a").as_bytes()).unwrap(), [text("a")]);
        assert_eq!(feed(&mut p, error_event.as_bytes()).unwrap_err(), want);
        // Framing errors follow the same rule.
        let mut p = StreamProcessor::new(
            "openai-chat",
            ProcessorOptions {
                coalesce: true,
                max_event_bytes: 64,
                ..Default::default()
            },
        )
        .unwrap();
        let chunk = format!("{}data: {}\n\n", chat("a"), "x".repeat(100));
        assert_eq!(feed(&mut p, chunk.as_bytes()).unwrap(), [text("a")]);
        assert!(matches!(
            feed(&mut p, b"").unwrap_err(),
            Error::StreamDecode { .. }
        ));
    }

    #[test]
    fn ndjson_framing() {
        let stream = b"{\"message\":{\"content\":\"a\"}}\r\n\n  \n\x0c\r\n{\"message\":{\"content\":\"b\"}}\n{\"done\":true,\"eval_count\":2}\n";
        assert_eq!(
            whole("ndjson", stream, false),
            [text("a"), text("b"), finish("stop"), usage(0, 2, 0, 0, 0)]
        );
        // Invalid UTF-8 is replaced.
        let stream = b"{\"message\":{\"content\":\"\xff\xc3\"}}\n";
        assert_eq!(whole("ndjson", stream, false), [text("\u{FFFD}\u{FFFD}")]);
        // A bad line fails with the ndjson dialect name.
        let mut p = processor("ndjson", false);
        let err = feed(&mut p, b"{\"a\":1}\nnot json\n").unwrap_err();
        assert_eq!(
            err,
            Error::StreamDecode {
                message: "invalid JSON in ndjson event".into(),
                offset: 17
            }
        );
    }

    #[test]
    fn ndjson_line_limit_offset_is_chunking_independent() {
        let stream = b"{\"a\":1}\n{\"message\":{\"content\":\"0123456789\"}}\n";
        let limit = 20;
        // Line 2 starts at offset 8; its 21st byte (offset 8 + 20) crosses the limit.
        for split in 0..=stream.len() {
            let mut p = StreamProcessor::new(
                "ndjson",
                ProcessorOptions {
                    coalesce: true,
                    max_event_bytes: limit,
                    ..Default::default()
                },
            )
            .unwrap();
            let mut err = None;
            for part in [&stream[..split], &stream[split..]] {
                if let Err(e) = feed(&mut p, part) {
                    err = Some(e);
                    break;
                }
            }
            match err {
                Some(Error::StreamDecode { offset, .. }) => assert_eq!(offset, 28, "split {split}"),
                other => panic!("split {split}: {other:?}"),
            }
        }
        // A line of exactly the limit is fine.
        let line = format!("{{\"message\":{{\"content\":\"{}\"}}}}\n", "x".repeat(10));
        let mut p = StreamProcessor::new(
            "ndjson",
            ProcessorOptions {
                coalesce: true,
                max_event_bytes: line.len() - 1,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            feed(&mut p, line.as_bytes()).unwrap(),
            [text(&"x".repeat(10))]
        );
    }

    /// Recorded-style streams for each dialect.
    fn sample_streams() -> Vec<(&'static str, Vec<u8>)> {
        let anthropic = [
            r#"{"type":"message_start","message":{"usage":{"input_tokens":10,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hé"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"llo 😀"}}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":":1}"}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}"#,
            r#"{"type":"message_stop"}"#,
        ]
        .iter()
        .map(|p| {
            let kind = crate::jscan::parse(p).unwrap().get("type").unwrap().as_str().unwrap().into_owned();
            format!("event: {kind}\ndata: {p}\n\n")
        })
        .collect::<String>();
        let responses = [
            r#"{"type":"response.output_text.delta","delta":"Hi"}"#,
            r#"{"type":"response.output_text.delta","delta":" there"}"#,
            r#"{"type":"response.completed","response":{"status":"completed","usage":{"input_tokens":3,"output_tokens":2}}}"#,
        ]
        .iter()
        .map(|p| format!("event: x\r\ndata: {p}\r\n\r\n"))
        .collect::<String>();
        let gemini = [
            r#"{"candidates":[{"content":{"parts":[{"text":"Hel"}]}}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","willContinue":true}}]}}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{"partialArgs":[{"jsonPath":"$.a[0]","stringValue":"x","willContinue":true}],"willContinue":true}}]}}]}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"lo"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1}}"#,
        ]
        .iter()
        .map(|p| format!("data: {p}\r\n\r\n"))
        .collect::<String>();
        let chat = format!(
            "{}: keep-alive\n\n{}data: {{\"choices\":[{{\"delta\":{{}},\"finish_reason\":\"stop\"}}],\"usage\":{{\"prompt_tokens\":4}}}}\n\ndata: [DONE]\n\n",
            chat("Hé"),
            chat("llo")
        );
        let ndjson = "{\"message\":{\"content\":\"Hé\"}}\n{\"message\":{\"content\":\"llo\"}}\r\n{\"done\":true,\"prompt_eval_count\":1}\n";
        vec![
            ("openai-chat", chat.into_bytes()),
            ("openai-responses", responses.into_bytes()),
            ("anthropic", anthropic.into_bytes()),
            ("gemini", gemini.into_bytes()),
            ("ndjson", ndjson.as_bytes().to_vec()),
        ]
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        for (dialect, stream) in sample_streams() {
            let all = whole(dialect, &stream, false);
            assert!(!all.is_empty(), "{dialect}");
            let mut p = processor(dialect, false);
            let mut out = Vec::new();
            for b in &stream {
                out.extend(feed(&mut p, std::slice::from_ref(b)).unwrap());
            }
            out.extend(finish_tokens(&mut p).unwrap());
            assert_eq!(out, all, "{dialect}");
            // Every two-way split, with coalescing off, gives the same tokens too.
            for split in 0..=stream.len() {
                let mut p = processor(dialect, false);
                let mut out = feed(&mut p, &stream[..split]).unwrap();
                out.extend(feed(&mut p, &stream[split..]).unwrap());
                out.extend(finish_tokens(&mut p).unwrap());
                assert_eq!(out, all, "{dialect} split {split}");
            }
        }
    }

    #[test]
    fn sample_stream_tokens() {
        let streams = sample_streams();
        let get = |d: &str| whole(d, &streams.iter().find(|(n, _)| *n == d).unwrap().1, true);
        assert_eq!(
            get("openai-chat"),
            [text("Héllo"), finish("stop"), usage(4, 0, 0, 0, 0)]
        );
        assert_eq!(
            get("openai-responses"),
            [text("Hi there"), finish("completed"), usage(3, 2, 0, 0, 0)]
        );
        assert_eq!(
            get("anthropic"),
            [
                text("Héllo 😀"),
                tool(0, Some("t"), Some("f"), ""),
                tool(0, None, None, "{\"a\""),
                tool(0, None, None, ":1}"),
                finish("tool_use"),
                usage(10, 9, 0, 0, 0),
            ]
        );
        assert_eq!(
            get("gemini"),
            [
                text("Hel"),
                tool(0, None, Some("f"), ""),
                tool(0, None, None, "{\"a\":[\"x"),
                text("lo"),
                tool(0, None, None, "\"]}"),
                finish("STOP"),
                usage(1, 0, 0, 0, 0),
            ]
        );
        assert_eq!(
            get("ndjson"),
            [text("Héllo"), finish("stop"), usage(1, 0, 0, 0, 0)]
        );
    }

    fn think_processor(dialect: &str) -> Result<StreamProcessor> {
        StreamProcessor::new(
            dialect,
            ProcessorOptions {
                coalesce: false,
                think_tags: true,
                ..Default::default()
            },
        )
    }

    #[test]
    fn think_tags_option() {
        for dialect in ["openai-responses", "anthropic", "gemini"] {
            assert_eq!(
                think_processor(dialect).unwrap_err(),
                Error::Value(format!(
                    "think_tags applies to the openai-chat and ndjson dialects, not '{dialect}'"
                ))
            );
        }
        // A tag split across events and chunks; held text comes out before the Finish.
        let stream = format!(
            "{}{}{}data: {{\"choices\":[{{\"delta\":{{\"content\":\"x<th\"}},\"finish_reason\":\"stop\"}}]}}\n\ndata: [DONE]\n\n",
            chat("a<thi"),
            chat("nk>r</think"),
            chat(">b"),
        );
        let mut p = think_processor("openai-chat").unwrap();
        let mut out = Vec::new();
        for b in stream.as_bytes() {
            out.extend(feed(&mut p, std::slice::from_ref(b)).unwrap());
        }
        out.extend(finish_tokens(&mut p).unwrap());
        assert_eq!(
            out,
            [
                text("a"),
                reasoning("r"),
                text("b"),
                text("x"),
                text("<th"),
                finish("stop")
            ]
        );
        // Without the option the tags are text; finish() releases held text (ndjson).
        assert_eq!(
            whole("openai-chat", chat("<think>r</think>").as_bytes(), false),
            [text("<think>r</think>")]
        );
        let mut p = think_processor("ndjson").unwrap();
        let mut out = feed(
            &mut p,
            b"{\"message\":{\"content\":\"<think>r</think>t<\"}}\n",
        )
        .unwrap();
        out.extend(finish_tokens(&mut p).unwrap());
        assert_eq!(out, [reasoning("r"), text("t"), text("<")]);
        let mut p = think_processor("ndjson").unwrap();
        let out = feed(
            &mut p,
            b"{\"message\":{\"content\":\"<think>r</thi\"}}\n{\"done\":true,\"eval_count\":1}\n",
        )
        .unwrap();
        assert_eq!(
            out,
            [
                reasoning("r"),
                reasoning("</thi"),
                finish("stop"),
                usage(0, 1, 0, 0, 0)
            ]
        );
    }

    #[test]
    fn envelope_option() {
        let options = ProcessorOptions {
            coalesce: false,
            envelope: Envelope::Response,
            ..Default::default()
        };
        for dialect in [
            "openai-chat",
            "openai-responses",
            "anthropic",
            "ndjson",
            "bedrock",
        ] {
            assert_eq!(
                StreamProcessor::new(dialect, options).unwrap_err(),
                Error::Value(format!(
                    "envelope applies to the gemini dialect, not '{dialect}'"
                ))
            );
        }
        let stream = concat!(
            "data: {\"response\":{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]},\"finishReason\":\"STOP\"}]},\"traceId\":\"t\"}\r\n\r\n",
            "data: {\"response\":{\"usageMetadata\":{\"promptTokenCount\":3}},\"traceId\":\"t\"}\r\n\r\n",
        );
        let mut p = StreamProcessor::new("gemini", options).unwrap();
        let mut out = Vec::new();
        for b in stream.as_bytes() {
            out.extend(feed(&mut p, std::slice::from_ref(b)).unwrap());
        }
        assert!(p.done());
        out.extend(finish_tokens(&mut p).unwrap());
        assert_eq!(out, [text("Hi"), finish("STOP"), usage(3, 0, 0, 0, 0)]);
        // The default reads the event itself: the envelope hides everything.
        assert!(whole("gemini", stream.as_bytes(), false).is_empty());
    }

    #[test]
    fn gemini_done_does_not_stop_processing() {
        let mut p = processor("gemini", true);
        let out = feed(&mut p, b"data: {\"candidates\":[{\"finishReason\":\"STOP\"}]}\n\ndata: {\"usageMetadata\":{\"promptTokenCount\":3}}\n\n").unwrap();
        assert_eq!(out, [finish("STOP")]);
        assert!(p.done());
        assert_eq!(finish_tokens(&mut p).unwrap(), [usage(3, 0, 0, 0, 0)]);
    }
}

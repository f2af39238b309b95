//! Provider stream dialects: one JSON event in, normalized [`StreamToken`]s out.
//!
//! Each dialect is a small state machine fed one event at a time (the SSE data of
//! an event, or one NDJSON line) by [`crate::processor::StreamProcessor`], which owns
//! framing, validation errors and error deferral. The exact semantics of every
//! dialect are the shared spec of the native core and its pure-Python twin; the
//! per-dialect modules document the fields they read.
//!
//! Rules common to all dialects live here: the [`Sink`] (coalescing of adjacent
//! text / reasoning tokens, no empty text tokens) and [`Common`] (at most one
//! `Finish`, at most one `Usage` carrying the latest values).

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::jscan::{Tape, Value};
use crate::stream_token::{StreamToken, Usage};

pub mod anthropic;
pub mod bedrock;
pub mod gemini;
pub mod ndjson;
pub mod openai_chat;
pub mod openai_responses;
pub mod think;

/// Where a dialect puts its tokens during one `feed()`/`finish()` call.
pub struct Sink<'o> {
    out: &'o mut Vec<StreamToken>,
    /// Tokens before this index belong to earlier calls and never coalesce.
    start: usize,
    coalesce: bool,
    /// Total bytes fed to the processor, for error offsets.
    offset: u64,
}

impl<'o> Sink<'o> {
    /// A sink appending to `out`; coalescing only merges tokens appended through it.
    pub fn new(out: &'o mut Vec<StreamToken>, coalesce: bool, offset: u64) -> Self {
        let start = out.len();
        Sink {
            out,
            start,
            coalesce,
            offset,
        }
    }

    /// True if tokens were appended through this sink.
    pub fn has_tokens(&self) -> bool {
        self.out.len() > self.start
    }

    /// Total bytes fed to the processor so far (including the current chunk).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Append a text fragment (dropped if empty; merged into a preceding text token
    /// of the same call when coalescing).
    pub fn text(&mut self, text: Cow<'_, str>) {
        if text.is_empty() {
            return;
        }
        if self.coalesce && self.out.len() > self.start {
            if let Some(StreamToken::Text(last)) = self.out.last_mut() {
                last.push_str(&text);
                return;
            }
        }
        self.out.push(StreamToken::Text(text.into_owned()));
    }

    /// Append a reasoning fragment (same rules as [`text`](Self::text)).
    pub fn reasoning(&mut self, text: Cow<'_, str>) {
        if text.is_empty() {
            return;
        }
        if self.coalesce && self.out.len() > self.start {
            if let Some(StreamToken::Reasoning(last)) = self.out.last_mut() {
                last.push_str(&text);
                return;
            }
        }
        self.out.push(StreamToken::Reasoning(text.into_owned()));
    }

    pub fn tool_call(
        &mut self,
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    ) {
        self.out.push(StreamToken::ToolCall {
            index,
            id,
            name,
            arguments,
        });
    }

    pub fn citation(&mut self, url: String, title: Option<String>) {
        self.out.push(StreamToken::Citation { url, title });
    }

    fn push(&mut self, token: StreamToken) {
        self.out.push(token);
    }
}

/// Per-stream bookkeeping shared by every dialect.
#[derive(Debug, Default, Clone)]
pub struct Common {
    /// The terminal marker was seen (or, for Gemini, a finish reason).
    pub done: bool,
    finish_emitted: bool,
    /// The latest usage reported, if any was.
    pub usage: Option<Usage>,
    usage_emitted: bool,
}

impl Common {
    /// Emit `Finish(reason)` unless one was already emitted (the first reason wins).
    pub fn finish(&mut self, reason: Cow<'_, str>, sink: &mut Sink<'_>) {
        if !self.finish_emitted {
            self.finish_emitted = true;
            sink.push(StreamToken::Finish(reason.into_owned()));
        }
    }

    /// True once a `Finish` was emitted.
    pub fn finish_emitted(&self) -> bool {
        self.finish_emitted
    }

    /// The latest usage, starting from zeros if none was reported yet.
    pub fn usage_mut(&mut self) -> &mut Usage {
        self.usage.get_or_insert_with(Usage::default)
    }

    /// Emit the pending `Usage` once, if any usage was reported.
    pub fn emit_usage(&mut self, sink: &mut Sink<'_>) {
        if let Some(usage) = self.usage {
            if !self.usage_emitted {
                self.usage_emitted = true;
                sink.push(StreamToken::Usage(usage));
            }
        }
    }
}

/// The dialect names, in the order of the public `DIALECTS` tuple.
pub const DIALECTS: [&str; 6] = [
    "openai-chat",
    "openai-responses",
    "anthropic",
    "gemini",
    "ndjson",
    "bedrock",
];

/// The state machine of one dialect, with the JSON tape its events are parsed into.
#[derive(Debug, Clone)]
pub struct Dialect {
    state: State,
    tape: Tape,
}

#[derive(Debug, Clone)]
enum State {
    OpenAiChat(openai_chat::OpenAiChat),
    OpenAiResponses(openai_responses::OpenAiResponses),
    Anthropic(anthropic::Anthropic),
    Gemini(gemini::Gemini),
    Ndjson(ndjson::Ndjson),
    Bedrock(bedrock::Bedrock),
}

impl Dialect {
    /// The dialect called `name`, or `Error::Value` naming the valid ones.
    pub fn new(name: &str) -> Result<Self> {
        Self::with_invoke_model(name, None)
    }

    /// As [`new`](Self::new); `invoke_model` picks the payload family of a `bedrock`
    /// stream ([`bedrock::Format::from_option`]) and is refused for other dialects.
    pub fn with_invoke_model(name: &str, invoke_model: Option<&str>) -> Result<Self> {
        if invoke_model.is_some() && name != "bedrock" {
            return Err(Error::Value(
                "invoke_model is only valid with the bedrock dialect".to_owned(),
            ));
        }
        let state = match name {
            "bedrock" => State::Bedrock(bedrock::Bedrock::new(bedrock::Format::from_option(
                invoke_model,
            )?)),
            "openai-chat" => State::OpenAiChat(Default::default()),
            "openai-responses" => State::OpenAiResponses(Default::default()),
            "anthropic" => State::Anthropic(Default::default()),
            "gemini" => State::Gemini(Default::default()),
            "ndjson" => State::Ndjson(Default::default()),
            _ => {
                return Err(Error::Value(format!(
                    "unknown dialect {}; expected one of: {}",
                    py_repr(name),
                    DIALECTS.join(", ")
                )))
            }
        };
        Ok(Dialect {
            state,
            tape: Tape::new(),
        })
    }

    /// The dialect's name (one of [`DIALECTS`]).
    pub fn name(&self) -> &'static str {
        match self.state {
            State::OpenAiChat(_) => DIALECTS[0],
            State::OpenAiResponses(_) => DIALECTS[1],
            State::Anthropic(_) => DIALECTS[2],
            State::Gemini(_) => DIALECTS[3],
            State::Ndjson(_) => DIALECTS[4],
            State::Bedrock(_) => DIALECTS[5],
        }
    }

    /// True for `bedrock`, framed as binary AWS event-stream messages.
    pub fn is_event_stream(&self) -> bool {
        matches!(self.state, State::Bedrock(_))
    }

    /// One event-stream message (`bedrock` only; other dialects ignore it).
    pub fn on_message(
        &mut self,
        message: &crate::eventstream::Message<'_>,
        sink: &mut Sink<'_>,
    ) -> Result<()> {
        if self.done() {
            return Ok(());
        }
        match &mut self.state {
            State::Bedrock(d) => d.on_message(message, &mut self.tape, sink),
            _ => Ok(()),
        }
    }

    /// Turn on the `think_tags` option ([`think`]): `<think>` blocks in the text
    /// content become reasoning. `Error::Value` for dialects without it (only
    /// `openai-chat` and `ndjson` carry such content).
    pub fn enable_think_tags(&mut self) -> Result<()> {
        let think = match &mut self.state {
            State::OpenAiChat(d) => &mut d.think,
            State::Ndjson(d) => &mut d.think,
            _ => {
                return Err(Error::Value(format!(
                    "think_tags applies to the openai-chat and ndjson dialects, not {}",
                    py_repr(self.name())
                )))
            }
        };
        *think = think::ThinkTags::new(true);
        Ok(())
    }

    /// Set the `gemini` dialect's `envelope` option ([`gemini::Envelope`]);
    /// `Error::Value` for another dialect unless it is `Envelope::None`.
    pub fn set_envelope(&mut self, envelope: gemini::Envelope) -> Result<()> {
        match &mut self.state {
            State::Gemini(d) => d.envelope = envelope,
            _ if envelope == gemini::Envelope::None => {}
            _ => {
                return Err(Error::Value(format!(
                    "envelope applies to the gemini dialect, not {}",
                    py_repr(self.name())
                )))
            }
        }
        Ok(())
    }

    /// True for the line-framed `ndjson` dialect (the others are SSE).
    pub fn is_ndjson(&self) -> bool {
        matches!(self.state, State::Ndjson(_))
    }

    fn common(&self) -> &Common {
        match &self.state {
            State::OpenAiChat(d) => &d.common,
            State::OpenAiResponses(d) => &d.common,
            State::Anthropic(d) => &d.common,
            State::Gemini(d) => &d.common,
            State::Ndjson(d) => &d.common,
            State::Bedrock(d) => d.common(),
        }
    }

    /// The `done` property: the terminal marker (or Gemini's finish reason) was seen.
    pub fn done(&self) -> bool {
        self.common().done
    }

    /// One event: `data` is the SSE data (or NDJSON line), `event` the SSE event
    /// name (`"message"` by default; empty for NDJSON).
    pub fn on_event(&mut self, event: &str, data: &str, sink: &mut Sink<'_>) -> Result<()> {
        // Gemini has no terminal marker: its `done` only reports a finish reason.
        if self.done() && !matches!(self.state, State::Gemini(_)) {
            return Ok(());
        }
        if let State::OpenAiChat(d) = &mut self.state {
            if is_done_marker(data) {
                d.on_done(sink);
                return Ok(());
            }
        }
        let name = self.name();
        let Some(value) = self.tape.parse(data) else {
            return Err(Error::StreamDecode {
                message: format!("invalid JSON in {name} event"),
                offset: sink.offset(),
            });
        };
        if !value.is_object() {
            return Ok(());
        }
        match &mut self.state {
            State::OpenAiChat(d) => d.on_object(value, sink),
            State::OpenAiResponses(d) => d.on_object(value, event, sink),
            State::Anthropic(d) => d.on_object(value, event, sink),
            State::Gemini(d) => d.on_object(value, sink),
            State::Ndjson(d) => d.on_object(value, sink),
            // Bedrock messages arrive through `on_message`, never as text events.
            State::Bedrock(_) => Ok(()),
        }
    }

    /// End of stream: the dialect's pending end tokens.
    pub fn finish(&mut self, sink: &mut Sink<'_>) {
        match &mut self.state {
            State::Gemini(d) => d.finish(sink),
            State::OpenAiChat(d) => d.finish(sink),
            State::OpenAiResponses(d) => d.common.emit_usage(sink),
            State::Anthropic(d) => d.common.emit_usage(sink),
            State::Ndjson(d) => d.finish(sink),
            State::Bedrock(d) => d.finish(sink),
        }
    }
}

/// ASCII whitespace as WHATWG defines it (space, tab, LF, FF, CR; no vertical tab).
pub(crate) fn is_ascii_space(b: u8) -> bool {
    b.is_ascii_whitespace()
}

/// OpenAI's terminal `data: [DONE]`, tolerating surrounding ASCII whitespace.
fn is_done_marker(data: &str) -> bool {
    let b = data.as_bytes();
    let start = b
        .iter()
        .position(|&c| !is_ascii_space(c))
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| !is_ascii_space(c))
        .map_or(start, |k| k + 1);
    b.get(start..end) == Some(b"[DONE]".as_slice())
}

/// Python's `repr()` of a str, for error messages that quote user input.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if !is_printable(c) => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// An approximation of `str.isprintable()` for the characters likely in a dialect
/// name typo: C1 controls, separators and format/unassigned-ish code points are
/// escaped, everything else is printed.
fn is_printable(c: char) -> bool {
    let n = c as u32;
    !(0x80..=0xa0).contains(&n)
        && n != 0xad
        && !(0x2000..=0x200f).contains(&n)
        && !(0x2028..=0x202f).contains(&n)
        && !(0x205f..=0x206f).contains(&n)
        && n != 0x3000
        && n != 0xfeff
        && !(0xd800..=0xdfff).contains(&n)
        && !(0xfff9..=0xfffb).contains(&n)
}

// ---------------------------------------------------------------------------
// Field helpers shared by the dialects (typing rule 3 of the spec)
// ---------------------------------------------------------------------------

/// A non-empty string field as an owned `String` (`x or None` in the spec).
pub(crate) fn opt_string(v: Option<Value<'_>>) -> Option<String> {
    v.and_then(|v| v.as_nonempty_str()).map(Cow::into_owned)
}

/// A non-empty string field, borrowed when possible.
pub(crate) fn opt_str<'a>(v: Option<Value<'a>>) -> Option<Cow<'a, str>> {
    v.and_then(|v| v.as_nonempty_str())
}

/// A usage count: an integer in `0..=u64::MAX`, else absent.
pub(crate) fn opt_u64(v: Option<Value<'_>>) -> Option<u64> {
    v.and_then(|v| v.as_u64())
}

/// An `index` field: an integer in `0..=u32::MAX`, else absent.
pub(crate) fn opt_u32(v: Option<Value<'_>>) -> Option<u32> {
    v.and_then(|v| v.as_u32())
}

/// The value if it is an object.
pub(crate) fn opt_obj(v: Option<Value<'_>>) -> Option<Value<'_>> {
    v.filter(Value::is_object)
}

/// An error `code`: a string as-is, an integer (in `0..=u64::MAX`, rule 3) as its
/// decimal text.
pub(crate) fn code_text(v: Option<Value<'_>>) -> Option<String> {
    let v = v?;
    if v.is_string() {
        return v.as_str().map(Cow::into_owned);
    }
    v.as_u64().map(|n| n.to_string())
}

/// An integer status in 100..=599 (an HTTP status carried in an error payload).
pub(crate) fn http_status(v: Option<Value<'_>>) -> Option<u16> {
    opt_u64(v)
        .filter(|n| (100..=599).contains(n))
        .and_then(|n| u16::try_from(n).ok())
}

/// The message of an error object: its non-empty `message`, else "unknown error".
pub(crate) fn error_message(v: Option<Value<'_>>) -> String {
    opt_string(v).unwrap_or_else(|| "unknown error".to_owned())
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the dialect unit tests: run payloads through a dialect directly.

    use super::*;

    /// Feed `(event, data)` pairs to a fresh dialect; returns tokens and the first error.
    pub fn run_events(
        dialect: &str,
        events: &[(&str, &str)],
        coalesce: bool,
    ) -> (Vec<StreamToken>, Option<Error>) {
        let mut d = Dialect::new(dialect).unwrap();
        let mut out = Vec::new();
        for (event, data) in events {
            let mut sink = Sink::new(&mut out, coalesce, 0);
            if let Err(e) = d.on_event(event, data, &mut sink) {
                return (out, Some(e));
            }
        }
        let mut sink = Sink::new(&mut out, coalesce, 0);
        d.finish(&mut sink);
        (out, None)
    }

    /// Feed payloads (SSE data with event name "message") without coalescing.
    pub fn run(dialect: &str, payloads: &[&str]) -> Vec<StreamToken> {
        let events: Vec<(&str, &str)> = payloads.iter().map(|p| ("message", *p)).collect();
        let (tokens, err) = run_events(dialect, &events, false);
        assert!(err.is_none(), "unexpected error {err:?}");
        tokens
    }

    /// Feed payloads and return the error they raise.
    pub fn run_err(dialect: &str, payloads: &[&str]) -> Error {
        let events: Vec<(&str, &str)> = payloads.iter().map(|p| ("message", *p)).collect();
        run_events(dialect, &events, false)
            .1
            .expect("expected an error")
    }

    pub fn text(s: &str) -> StreamToken {
        StreamToken::Text(s.to_owned())
    }

    pub fn reasoning(s: &str) -> StreamToken {
        StreamToken::Reasoning(s.to_owned())
    }

    pub fn finish(s: &str) -> StreamToken {
        StreamToken::Finish(s.to_owned())
    }

    pub fn tool(index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> StreamToken {
        StreamToken::ToolCall {
            index,
            id: id.map(str::to_owned),
            name: name.map(str::to_owned),
            arguments: args.to_owned(),
        }
    }

    pub fn citation(url: &str, title: Option<&str>) -> StreamToken {
        StreamToken::Citation {
            url: url.to_owned(),
            title: title.map(str::to_owned),
        }
    }

    pub fn usage(
        input: u64,
        output: u64,
        cache_read: u64,
        cache_write: u64,
        reasoning: u64,
    ) -> StreamToken {
        StreamToken::Usage(Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: cache_read,
            cache_write_tokens: cache_write,
            reasoning_tokens: reasoning,
            cost: None,
        })
    }

    pub fn provider(
        message: &str,
        error_type: Option<&str>,
        code: Option<&str>,
        status: Option<u16>,
    ) -> Error {
        Error::Provider {
            message: message.to_owned(),
            error_type: error_type.map(str::to_owned),
            code: code.map(str::to_owned),
            status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn unknown_dialect_message() {
        let err = Dialect::new("bedrockx").unwrap_err();
        assert_eq!(
            err,
            Error::Value(
                "unknown dialect 'bedrockx'; expected one of: openai-chat, openai-responses, anthropic, gemini, ndjson, bedrock"
                    .into()
            )
        );
        assert_eq!(
            Dialect::new("it's").unwrap_err().to_string(),
            "unknown dialect \"it's\"; expected one of: openai-chat, openai-responses, anthropic, gemini, ndjson, bedrock"
        );
        for name in DIALECTS {
            assert_eq!(Dialect::new(name).unwrap().name(), name);
        }
    }

    #[test]
    fn done_marker_whitespace() {
        assert!(is_done_marker("[DONE]"));
        assert!(is_done_marker(" \t[DONE]\r\n\x0c"));
        assert!(!is_done_marker("[DONE]\x0b"));
        assert!(!is_done_marker("[DONE"));
        assert!(!is_done_marker("\"[DONE]\""));
        assert!(!is_done_marker("\u{a0}[DONE]"));
        assert!(!is_done_marker(""));
    }

    #[test]
    fn invalid_json_and_non_objects() {
        // Bedrock payloads come through `on_message` (tested in `bedrock`).
        for dialect in DIALECTS.into_iter().filter(|d| *d != "bedrock") {
            let err = run_err(dialect, &["{\"a\":"]);
            assert_eq!(
                err,
                Error::StreamDecode {
                    message: format!("invalid JSON in {dialect} event"),
                    offset: 0
                },
            );
            assert_eq!(
                run_err(dialect, &["NaN"]).to_string(),
                format!("invalid JSON in {dialect} event (at byte 0)")
            );
            assert!(run(dialect, &["[1, 2]", "\"text\"", "3", "null", " true "]).is_empty());
        }
    }

    #[test]
    fn sink_coalesces_only_within_a_call_and_only_same_kind() {
        let mut out = vec![text("old")];
        let mut sink = Sink::new(&mut out, true, 0);
        sink.text("a".into());
        sink.text("b".into());
        sink.reasoning("r".into());
        sink.reasoning("s".into());
        sink.text("".into());
        sink.text("c".into());
        sink.tool_call(0, None, None, String::new());
        sink.text("d".into());
        assert_eq!(
            out,
            [
                text("old"),
                text("ab"),
                reasoning("rs"),
                text("c"),
                tool(0, None, None, ""),
                text("d")
            ]
        );
        let mut out = Vec::new();
        let mut sink = Sink::new(&mut out, false, 0);
        sink.text("a".into());
        sink.text("b".into());
        sink.reasoning("".into());
        assert_eq!(out, [text("a"), text("b")]);
    }
}

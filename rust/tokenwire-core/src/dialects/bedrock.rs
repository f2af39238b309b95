//! AWS Bedrock runtime streams: binary event-stream messages (framed by
//! [`crate::eventstream`]), each with a JSON payload.
//!
//! The `:message-type` header selects what a message is:
//! - `event`: `:event-type` names the event; the payload is one JSON value, parsed
//!   strictly as every dialect parses its events ("invalid JSON in bedrock event").
//! - `exception`: a provider error — `error_type` = `:exception-type`
//!   (`ThrottlingException`, `ValidationException`, `ModelStreamErrorException`, …),
//!   message = the payload's `message` (else `Message`) string, else "unknown error".
//! - `error`: a provider error — `error_type` and `code` = `:error-code`, message =
//!   `:error-message`, else "unknown error".
//! - anything else (or no such string header): ignored.
//!
//! Two payload families, chosen when the processor is built ([`Format`]):
//!
//! **ConverseStream** (default): `messageStart` → nothing; `contentBlockStart` with
//! `start.toolUse` → `ToolCall(n, toolUseId, name, "")` where `n` is the 0-based tool
//! ordinal, remembered for its `contentBlockIndex`; `contentBlockDelta` → in this order
//! `ReasoningDelta(delta.reasoningContent.text)` (a `signature` gives nothing),
//! `TextDelta(delta.text)`, `ToolCall(n, None, None, delta.toolUse.input)` for a mapped
//! block; `contentBlockStop` → nothing; `messageStop` → `Finish(stopReason)`;
//! `metadata.usage` → usage (`inputTokens`, `outputTokens`, `cacheReadInputTokens`,
//! `cacheWriteInputTokens`). Bedrock sends `metadata` and `messageStop` in either order
//! (recorded streams have `metadata` first), so the stream is `done` — and the `Usage`
//! emitted — once both were seen; otherwise `finish()` emits the `Usage`.
//!
//! **InvokeModelWithResponseStream** (`Format::{Anthropic, Titan, Llama}`): `chunk`
//! events carry `{"bytes": "<base64>"}`; the decoded bytes are the model's own JSON
//! chunk (invalid base64 → "invalid base64 in bedrock chunk", invalid JSON → "invalid
//! JSON in bedrock event"):
//! - Anthropic Claude: a Messages API event, handled by the `anthropic` dialect itself
//!   (same tokens, `message_stop` ends the stream).
//! - Amazon Titan text: `TextDelta(outputText)`; `inputTextTokenCount` and
//!   `totalOutputTextTokenCount` (cumulative) → usage; a non-empty `completionReason` →
//!   `Finish`, `Usage`, done.
//! - Meta Llama: `TextDelta(generation)`; `prompt_token_count` and
//!   `generation_token_count` (cumulative) → usage; a non-empty `stop_reason` →
//!   `Finish`, `Usage`, done.
//!   Other event types are ignored.

use std::collections::HashMap;

use base64::Engine as _;

use super::anthropic::Anthropic;
use super::{opt_obj, opt_str, opt_string, opt_u32, opt_u64, Common, Sink};
use crate::error::{Error, Result};
use crate::eventstream::Message;
use crate::jscan::{self, Tape, Value};

/// The payload family of a Bedrock stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `ConverseStream` events.
    #[default]
    Converse,
    /// `InvokeModelWithResponseStream` with Anthropic Claude messages chunks.
    Anthropic,
    /// `InvokeModelWithResponseStream` with Amazon Titan text chunks.
    Titan,
    /// `InvokeModelWithResponseStream` with Meta Llama chunks.
    Llama,
}

/// The `invoke_model` option names, in order.
pub const INVOKE_MODEL_FORMATS: [&str; 3] = ["anthropic", "titan", "llama"];

impl Format {
    /// The format for an `invoke_model` option (`None` → Converse).
    pub fn from_option(invoke_model: Option<&str>) -> Result<Self> {
        match invoke_model {
            None => Ok(Format::Converse),
            Some("anthropic") => Ok(Format::Anthropic),
            Some("titan") => Ok(Format::Titan),
            Some("llama") => Ok(Format::Llama),
            Some(other) => Err(Error::Value(format!(
                "unknown invoke_model {}; expected one of: {}",
                super::py_repr(other),
                INVOKE_MODEL_FORMATS.join(", ")
            ))),
        }
    }
}

/// State of a `bedrock` stream.
#[derive(Debug, Default, Clone)]
pub struct Bedrock {
    pub(crate) common: Common,
    format: Format,
    /// Invoke-model Claude chunks are delegated to the anthropic dialect's state.
    anthropic: Anthropic,
    /// Content block index → tool ordinal (Converse).
    tool_blocks: HashMap<u32, u32>,
    tool_count: u32,
    stop_seen: bool,
    metadata_seen: bool,
    /// Reused base64-decoding buffer for invoke-model chunks.
    chunk: Vec<u8>,
}

const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
);

impl Bedrock {
    pub(crate) fn new(format: Format) -> Self {
        Bedrock {
            format,
            ..Default::default()
        }
    }

    /// The bookkeeping that answers `done` and holds the usage.
    pub(crate) fn common(&self) -> &Common {
        match self.format {
            Format::Anthropic => &self.anthropic.common,
            _ => &self.common,
        }
    }

    pub(crate) fn finish(&mut self, sink: &mut Sink<'_>) {
        match self.format {
            Format::Anthropic => self.anthropic.common.emit_usage(sink),
            _ => self.common.emit_usage(sink),
        }
    }

    pub(crate) fn on_message(
        &mut self,
        message: &Message<'_>,
        tape: &mut Tape,
        sink: &mut Sink<'_>,
    ) -> Result<()> {
        match message.header_str(":message-type") {
            Some("event") => {}
            Some("exception") => {
                let parsed = std::str::from_utf8(message.payload)
                    .ok()
                    .and_then(jscan::parse)
                    .filter(Value::is_object);
                let text = parsed.and_then(|p| {
                    let [lower, upper] = p.fields(["message", "Message"]);
                    opt_string(lower).or_else(|| opt_string(upper))
                });
                return Err(Error::Provider {
                    message: text.unwrap_or_else(|| "unknown error".to_owned()),
                    error_type: message.header_str(":exception-type").map(str::to_owned),
                    code: None,
                    status: None,
                });
            }
            Some("error") => {
                let code = message.header_str(":error-code").map(str::to_owned);
                let text = message
                    .header_str(":error-message")
                    .filter(|m| !m.is_empty())
                    .unwrap_or("unknown error");
                return Err(Error::Provider {
                    message: text.to_owned(),
                    error_type: code.clone(),
                    code,
                    status: None,
                });
            }
            _ => return Ok(()),
        }
        let event_type = message.header_str(":event-type").unwrap_or("");
        let Some(payload) = parse(tape, message.payload, sink)? else {
            return Ok(());
        };
        if self.format == Format::Converse {
            self.converse(event_type, payload, sink);
            return Ok(());
        }
        if event_type != "chunk" {
            return Ok(());
        }
        let Some(encoded) = payload.get("bytes").and_then(|b| b.as_str()) else {
            return Ok(());
        };
        self.chunk.clear();
        if BASE64
            .decode_vec(encoded.as_bytes(), &mut self.chunk)
            .is_err()
        {
            return Err(Error::StreamDecode {
                message: "invalid base64 in bedrock chunk".to_owned(),
                offset: sink.offset(),
            });
        }
        let Some(inner) = parse(tape, &self.chunk, sink)? else {
            return Ok(());
        };
        match self.format {
            Format::Anthropic => self.anthropic.on_object(inner, "", sink),
            Format::Titan => {
                let [text, input, output, reason] = inner.fields([
                    "outputText",
                    "inputTextTokenCount",
                    "totalOutputTextTokenCount",
                    "completionReason",
                ]);
                simple_chunk(&mut self.common, text, input, output, reason, sink);
                Ok(())
            }
            Format::Llama => {
                let [text, input, output, reason] = inner.fields([
                    "generation",
                    "prompt_token_count",
                    "generation_token_count",
                    "stop_reason",
                ]);
                simple_chunk(&mut self.common, text, input, output, reason, sink);
                Ok(())
            }
            Format::Converse => Ok(()),
        }
    }

    fn converse(&mut self, event_type: &str, payload: Value<'_>, sink: &mut Sink<'_>) {
        match event_type {
            "contentBlockStart" => {
                let [index, start] = payload.fields(["contentBlockIndex", "start"]);
                let Some(tool) = opt_obj(opt_obj(start).and_then(|s| s.get("toolUse"))) else {
                    return;
                };
                let n = self.tool_count;
                self.tool_count = self.tool_count.saturating_add(1);
                if let Some(i) = opt_u32(index) {
                    self.tool_blocks.insert(i, n);
                }
                let [id, name] = tool.fields(["toolUseId", "name"]);
                sink.tool_call(n, opt_string(id), opt_string(name), String::new());
            }
            "contentBlockDelta" => {
                let [index, delta] = payload.fields(["contentBlockIndex", "delta"]);
                let Some(delta) = opt_obj(delta) else {
                    return;
                };
                let [reasoning, text, tool] = delta.fields(["reasoningContent", "text", "toolUse"]);
                if let Some(r) = opt_str(opt_obj(reasoning).and_then(|r| r.get("text"))) {
                    sink.reasoning(r);
                }
                if let Some(text) = opt_str(text) {
                    sink.text(text);
                }
                let n = opt_u32(index).and_then(|i| self.tool_blocks.get(&i).copied());
                let input = opt_str(opt_obj(tool).and_then(|t| t.get("input")));
                if let (Some(n), Some(input)) = (n, input) {
                    sink.tool_call(n, None, None, input.into_owned());
                }
            }
            "messageStop" => {
                if let Some(reason) = opt_str(payload.get("stopReason")) {
                    self.common.finish(reason, sink);
                }
                self.stop_seen = true;
                self.end_if_complete(sink);
            }
            "metadata" => {
                if let Some(usage) = opt_obj(payload.get("usage")) {
                    let [input, output, cache_read, cache_write] = usage.fields([
                        "inputTokens",
                        "outputTokens",
                        "cacheReadInputTokens",
                        "cacheWriteInputTokens",
                    ]);
                    let u = self.common.usage_mut();
                    *u = Default::default();
                    u.input_tokens = opt_u64(input).unwrap_or(0);
                    u.output_tokens = opt_u64(output).unwrap_or(0);
                    u.cache_read_tokens = opt_u64(cache_read).unwrap_or(0);
                    u.cache_write_tokens = opt_u64(cache_write).unwrap_or(0);
                }
                self.metadata_seen = true;
                self.end_if_complete(sink);
            }
            _ => {}
        }
    }

    fn end_if_complete(&mut self, sink: &mut Sink<'_>) {
        if self.stop_seen && self.metadata_seen {
            self.common.done = true;
            self.common.emit_usage(sink);
        }
    }
}

/// A Titan or Llama chunk: text, cumulative counts, and a final reason.
fn simple_chunk(
    common: &mut Common,
    text: Option<Value<'_>>,
    input: Option<Value<'_>>,
    output: Option<Value<'_>>,
    reason: Option<Value<'_>>,
    sink: &mut Sink<'_>,
) {
    if let Some(text) = opt_str(text) {
        sink.text(text);
    }
    let (input, output) = (opt_u64(input), opt_u64(output));
    if input.is_some() || output.is_some() {
        let u = common.usage_mut();
        if let Some(n) = input {
            u.input_tokens = n;
        }
        if let Some(n) = output {
            u.output_tokens = n;
        }
    }
    if let Some(reason) = opt_str(reason) {
        common.finish(reason, sink);
        common.done = true;
        common.emit_usage(sink);
    }
}

/// Parse a JSON payload strictly; `None` for a valid value that is not an object.
fn parse<'a>(tape: &'a mut Tape, bytes: &'a [u8], sink: &Sink<'_>) -> Result<Option<Value<'a>>> {
    let value = std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| tape.parse(text));
    match value {
        Some(v) => Ok(v.is_object().then_some(v)),
        None => Err(Error::StreamDecode {
            message: "invalid JSON in bedrock event".to_owned(),
            offset: sink.offset(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::error::Error;
    use crate::eventstream::{encode_message, Header, HeaderValue};
    use crate::processor::{ProcessorOptions, StreamProcessor};
    use crate::stream_token::StreamToken;

    fn frame(headers: &[(&str, &str)], payload: &str) -> Vec<u8> {
        let headers: Vec<Header<'_>> = headers
            .iter()
            .map(|(name, value)| Header {
                name,
                value: HeaderValue::String(value),
            })
            .collect();
        encode_message(&headers, payload.as_bytes())
    }

    fn event(event_type: &str, payload: &str) -> Vec<u8> {
        frame(
            &[
                (":event-type", event_type),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            payload,
        )
    }

    fn b64(s: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn chunk(inner: &str) -> Vec<u8> {
        event("chunk", &format!("{{\"bytes\":\"{}\"}}", b64(inner)))
    }

    fn run_stream(
        invoke_model: Option<&str>,
        stream: &[u8],
        split: Option<usize>,
    ) -> (Vec<StreamToken>, Option<Error>) {
        let mut p = StreamProcessor::with_invoke_model(
            "bedrock",
            ProcessorOptions {
                coalesce: false,
                ..Default::default()
            },
            invoke_model,
        )
        .unwrap();
        let mut out = Vec::new();
        let parts: Vec<&[u8]> = match split {
            Some(at) => vec![&stream[..at], &stream[at..]],
            None => stream.chunks(1).collect(),
        };
        for part in parts {
            if let Err(e) = p.feed(part, &mut out) {
                return (out, Some(e));
            }
        }
        let err = p.finish(&mut out).err();
        (out, err)
    }

    fn converse_stream() -> Vec<u8> {
        [
            event("messageStart", r#"{"role":"assistant"}"#),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"think"}}}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"sig"}}}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":1,"delta":{"text":"Hé"}}"#,
            ),
            event(
                "contentBlockStart",
                r#"{"contentBlockIndex":2,"start":{"toolUse":{"toolUseId":"t1","name":"f"}}}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":2,"delta":{"toolUse":{"input":"{\"a\":"}}}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":2,"delta":{"toolUse":{"input":"1}"}}}"#,
            ),
            event("contentBlockStop", r#"{"contentBlockIndex":2}"#),
            event(
                "metadata",
                r#"{"usage":{"inputTokens":5,"outputTokens":7,"totalTokens":12,"cacheReadInputTokens":2,"cacheWriteInputTokens":3}}"#,
            ),
            event("messageStop", r#"{"stopReason":"tool_use"}"#),
            // After done: ignored.
            event("contentBlockDelta", r#"{"delta":{"text":"late"}}"#),
        ]
        .concat()
    }

    #[test]
    fn converse_tokens_at_every_split() {
        let stream = converse_stream();
        let want = vec![
            reasoning("think"),
            text("Hé"),
            tool(0, Some("t1"), Some("f"), ""),
            tool(0, None, None, "{\"a\":"),
            tool(0, None, None, "1}"),
            finish("tool_use"),
            usage(5, 7, 2, 3, 0),
        ];
        assert_eq!(run_stream(None, &stream, None), (want.clone(), None));
        for split in 0..=stream.len() {
            assert_eq!(
                run_stream(None, &stream, Some(split)),
                (want.clone(), None),
                "{split}"
            );
        }
    }

    #[test]
    fn usage_without_message_stop_comes_from_finish() {
        let stream = [
            event("contentBlockDelta", r#"{"delta":{"text":"a"}}"#),
            event("metadata", r#"{"usage":{"inputTokens":1}}"#),
        ]
        .concat();
        assert_eq!(
            run_stream(None, &stream, Some(0)),
            (vec![text("a"), usage(1, 0, 0, 0, 0)], None)
        );
    }

    #[test]
    fn exceptions_and_errors() {
        let exception = frame(
            &[
                (":exception-type", "ThrottlingException"),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ],
            r#"{"message":"Too many requests, please wait before trying again."}"#,
        );
        let stream = [
            event("contentBlockDelta", r#"{"delta":{"text":"a"}}"#),
            exception,
        ]
        .concat();
        let (tokens, err) = run_stream(None, &stream, Some(stream.len()));
        assert_eq!(tokens, [text("a")]);
        assert_eq!(
            err,
            Some(provider(
                "Too many requests, please wait before trying again.",
                Some("ThrottlingException"),
                None,
                None
            ))
        );
        let upper = frame(
            &[
                (":exception-type", "ValidationException"),
                (":message-type", "exception"),
            ],
            r#"{"Message":"bad"}"#,
        );
        assert_eq!(
            run_stream(None, &upper, Some(0)).1,
            Some(provider("bad", Some("ValidationException"), None, None))
        );
        let junk = frame(&[(":message-type", "exception")], "not json");
        assert_eq!(
            run_stream(None, &junk, Some(0)).1,
            Some(provider("unknown error", None, None, None))
        );
        let error = frame(
            &[
                (":error-code", "InternalFailure"),
                (":error-message", "boom"),
                (":message-type", "error"),
            ],
            "",
        );
        assert_eq!(
            run_stream(None, &error, Some(0)).1,
            Some(provider(
                "boom",
                Some("InternalFailure"),
                Some("InternalFailure"),
                None
            ))
        );
        // Unknown message types and missing headers are ignored.
        let other = [frame(&[(":message-type", "other")], "{}"), frame(&[], "{}")].concat();
        assert_eq!(run_stream(None, &other, Some(0)), (vec![], None));
    }

    #[test]
    fn invalid_payloads_and_truncation() {
        let bad = event("contentBlockDelta", "{\"delta\":");
        assert_eq!(
            run_stream(None, &bad, Some(bad.len())).1,
            Some(Error::StreamDecode {
                message: "invalid JSON in bedrock event".into(),
                offset: bad.len() as u64
            })
        );
        let stream = converse_stream();
        let cut = &stream[..stream.len() - 3];
        assert_eq!(
            run_stream(None, cut, Some(0)).1,
            Some(Error::StreamDecode {
                message: "stream ended inside an event".into(),
                offset: cut.len() as u64
            })
        );
        let bad64 = event("chunk", r#"{"bytes":"!!!"}"#);
        assert_eq!(
            run_stream(Some("titan"), &bad64, Some(0)).1,
            Some(Error::StreamDecode {
                message: "invalid base64 in bedrock chunk".into(),
                offset: bad64.len() as u64
            })
        );
    }

    #[test]
    fn invoke_model_families() {
        let claude = [
            chunk(r#"{"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}}"#),
            chunk(r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
            chunk(r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#),
            chunk(r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":4}}"#),
            chunk(r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":3}}"#),
        ]
        .concat();
        assert_eq!(
            run_stream(Some("anthropic"), &claude, None),
            (
                vec![text("Hi"), finish("end_turn"), usage(3, 4, 0, 0, 0)],
                None
            )
        );
        let titan = [
            chunk(r#"{"outputText":"Hel","index":0,"inputTextTokenCount":4,"totalOutputTextTokenCount":1,"completionReason":null}"#),
            chunk(r#"{"outputText":"lo","index":0,"totalOutputTextTokenCount":2,"completionReason":"FINISH"}"#),
        ]
        .concat();
        assert_eq!(
            run_stream(Some("titan"), &titan, Some(7)),
            (
                vec![
                    text("Hel"),
                    text("lo"),
                    finish("FINISH"),
                    usage(4, 2, 0, 0, 0)
                ],
                None
            )
        );
        let llama = [
            chunk(r#"{"generation":"Yo","prompt_token_count":9,"generation_token_count":1,"stop_reason":null}"#),
            chunk(r#"{"generation":"","prompt_token_count":null,"generation_token_count":2,"stop_reason":"stop"}"#),
        ]
        .concat();
        assert_eq!(
            run_stream(Some("llama"), &llama, Some(30)),
            (vec![text("Yo"), finish("stop"), usage(9, 2, 0, 0, 0)], None)
        );
        // Converse ignores chunks; invoke formats ignore Converse events.
        assert_eq!(run_stream(None, &llama, Some(0)), (vec![], None));
        assert_eq!(
            run_stream(Some("llama"), &converse_stream(), Some(0)),
            (vec![], None)
        );
    }

    #[test]
    fn invoke_model_option_is_checked() {
        let opts = ProcessorOptions::default();
        assert_eq!(
            StreamProcessor::with_invoke_model("bedrock", opts, Some("mistral")).unwrap_err(),
            Error::Value(
                "unknown invoke_model 'mistral'; expected one of: anthropic, titan, llama".into()
            )
        );
        assert_eq!(
            StreamProcessor::with_invoke_model("anthropic", opts, Some("titan")).unwrap_err(),
            Error::Value("invoke_model is only valid with the bedrock dialect".into())
        );
    }
}

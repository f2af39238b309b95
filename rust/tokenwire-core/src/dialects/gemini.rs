//! Gemini `streamGenerateContent?alt=sse` streams (Google AI and Vertex).
//!
//! Only `candidates[0]` is read (multiple candidates are unsupported). Parts give
//! text / thought text / function calls; `finishReason` gives the `Finish` (and
//! sets `done`, though events keep being processed because usage often follows);
//! the last `usageMetadata` and `groundingMetadata` are released at `finish()`.
//!
//! Function calls arrive whole (`args`), or — with streamed function-call
//! arguments — as a call opened with `willContinue: true` followed by nameless
//! `functionCall`s whose `partialArgs` items each set one leaf by JSON path.
//! `ArgsWriter` turns those items into argument JSON text fragments, so a
//! streamed call looks exactly like an OpenAI one downstream.
//!
//! The `envelope` option ([`Envelope`]): Gemini Code Assist (the Gemini CLI's
//! endpoint) wraps every streamed GenerateContentResponse as `{"response": {…},
//! "traceId": …}`. With `Envelope::Response` an event's `response` member, when it is an
//! object, is read in place of the event; an event without one is read as it is (an
//! `error` object still raises; one with neither candidates nor usage yields nothing).

use std::borrow::Cow;

use super::{
    code_text, error_message, http_status, opt_obj, opt_str, opt_string, opt_u64, py_repr, Common,
    Sink,
};
use crate::error::{Error, Result};
use crate::jscan::{self, Value};
use crate::stream_token::Usage;

/// Where the GenerateContentResponse of a `gemini` event is (the `envelope` option).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// The event is the response (Google AI, Vertex AI).
    #[default]
    None,
    /// The event's `response` member is (Gemini Code Assist).
    Response,
}

impl Envelope {
    /// The option's value: `None` (no envelope) or `"response"`; `Error::Value` otherwise.
    pub fn from_option(value: Option<&str>) -> Result<Self> {
        match value {
            None => Ok(Envelope::None),
            Some("response") => Ok(Envelope::Response),
            Some(other) => Err(Error::Value(format!(
                "unknown envelope {}; expected 'response'",
                py_repr(other)
            ))),
        }
    }
}

/// State of a `gemini` stream.
#[derive(Debug, Default, Clone)]
pub struct Gemini {
    pub(crate) common: Common,
    pub(crate) envelope: Envelope,
    call_count: u32,
    /// The ordinal of the call whose arguments are streaming, if one is open.
    open_call: Option<u32>,
    writer: ArgsWriter,
    /// Citations from the latest `groundingMetadata`, released at `finish()`.
    citations: Vec<(String, String)>,
    /// Reused buffer for a path's segments.
    path: Vec<Segment>,
}

impl Gemini {
    pub(crate) fn on_object(&mut self, obj: Value<'_>, sink: &mut Sink<'_>) -> Result<()> {
        let obj = match self.envelope {
            Envelope::None => obj,
            Envelope::Response => opt_obj(obj.get("response")).unwrap_or(obj),
        };
        let [error, candidates, usage, prompt_feedback] =
            obj.fields(["error", "candidates", "usageMetadata", "promptFeedback"]);
        if let Some(error) = opt_obj(error) {
            let [message, status, code] = error.fields(["message", "status", "code"]);
            // Only an integer code counts here (Gemini's code is the HTTP status).
            let code = code.filter(|c| !c.is_string());
            return Err(Error::Provider {
                message: error_message(message),
                error_type: status.and_then(|s| s.as_str()).map(Cow::into_owned),
                code: code_text(code),
                status: http_status(code),
            });
        }
        let first_candidate = candidates.and_then(|c| c.items().next());
        if let Some(candidate) = first_candidate.filter(Value::is_object) {
            self.on_candidate(candidate, sink);
        }
        if let Some(usage) = opt_obj(usage) {
            let [prompt, candidates_count, cached, thoughts] = usage.fields([
                "promptTokenCount",
                "candidatesTokenCount",
                "cachedContentTokenCount",
                "thoughtsTokenCount",
            ]);
            let counts = [
                opt_u64(prompt),
                opt_u64(candidates_count),
                opt_u64(cached),
                opt_u64(thoughts),
            ];
            if counts.iter().any(Option::is_some) {
                self.common.usage = Some(Usage {
                    input_tokens: counts[0].unwrap_or(0),
                    output_tokens: counts[1].unwrap_or(0),
                    cache_read_tokens: counts[2].unwrap_or(0),
                    cache_write_tokens: 0,
                    reasoning_tokens: counts[3].unwrap_or(0),
                    cost: None,
                });
            }
        }
        if first_candidate.is_none() {
            let reason = opt_str(opt_obj(prompt_feedback).and_then(|p| p.get("blockReason")));
            if let Some(reason) = reason {
                self.common.finish(reason, sink);
                self.common.done = true;
            }
        }
        Ok(())
    }

    fn on_candidate(&mut self, candidate: Value<'_>, sink: &mut Sink<'_>) {
        let [content, finish_reason, grounding] =
            candidate.fields(["content", "finishReason", "groundingMetadata"]);
        let parts = opt_obj(content).and_then(|c| c.get("parts"));
        for part in parts.iter().flat_map(Value::items) {
            let [text, thought, function_call] = part.fields(["text", "thought", "functionCall"]);
            if let Some(text) = opt_str(text) {
                if thought.is_some_and(|t| t.is_true()) {
                    sink.reasoning(text);
                } else {
                    sink.text(text);
                }
            }
            if let Some(call) = opt_obj(function_call) {
                self.on_function_call(call, sink);
            }
        }
        if let Some(reason) = opt_str(finish_reason) {
            self.close_call(sink);
            self.common.finish(reason, sink);
            self.common.done = true;
        }
        if let Some(grounding) = opt_obj(grounding) {
            self.citations.clear();
            for chunk in grounding
                .get("groundingChunks")
                .iter()
                .flat_map(Value::items)
            {
                let [uri, title] = match opt_obj(chunk.get("web")) {
                    Some(web) => web.fields(["uri", "title"]),
                    None => continue,
                };
                if let Some(uri) = opt_string(uri) {
                    let title = opt_string(title).unwrap_or_else(|| uri.clone());
                    self.citations.push((uri, title));
                }
            }
        }
    }

    fn on_function_call(&mut self, call: Value<'_>, sink: &mut Sink<'_>) {
        let [name, id, args, will_continue, partial_args] =
            call.fields(["name", "id", "args", "willContinue", "partialArgs"]);
        let will_continue = will_continue.is_some_and(|w| w.is_true());
        if let Some(name) = opt_string(name) {
            self.close_call(sink);
            let n = self.call_count;
            self.call_count = self.call_count.saturating_add(1);
            let id = opt_string(id);
            if let Some(args) = args {
                sink.tool_call(n, id, Some(name), jscan::compact(args));
            } else if will_continue {
                sink.tool_call(n, id, Some(name), String::new());
                self.open_call = Some(n);
            } else {
                sink.tool_call(n, id, Some(name), "{}".to_owned());
            }
            return;
        }
        let Some(n) = self.open_call else { return };
        for item in partial_args.iter().flat_map(Value::items) {
            let mut fragment = String::new();
            self.write_partial_arg(item, &mut fragment);
            if !fragment.is_empty() {
                sink.tool_call(n, None, None, fragment);
            }
        }
        if !will_continue {
            self.close_call(sink);
        }
    }

    fn write_partial_arg(&mut self, item: Value<'_>, out: &mut String) {
        let [json_path, string_value, number_value, bool_value, null_value, will_continue] = item
            .fields([
                "jsonPath",
                "stringValue",
                "numberValue",
                "boolValue",
                "nullValue",
                "willContinue",
            ]);
        let Some(path) = json_path.and_then(|p| p.as_str()) else {
            return;
        };
        let value = if let Some(s) = string_value.and_then(|s| s.as_str()) {
            ArgValue::Str(s)
        } else if let Some(n) = number_value.filter(Value::is_number) {
            ArgValue::Raw(n.raw())
        } else if let Some(b) = bool_value.filter(|b| b.as_bool().is_some()) {
            ArgValue::Raw(b.raw())
        } else if null_value.is_some() {
            ArgValue::Raw("null")
        } else {
            return;
        };
        if !parse_path(&path, &mut self.path) {
            return;
        }
        let will_continue = will_continue.is_some_and(|w| w.is_true());
        self.writer.write(&self.path, value, will_continue, out);
    }

    /// Close the streaming call, if one is open, emitting its closing fragment.
    fn close_call(&mut self, sink: &mut Sink<'_>) {
        if let Some(n) = self.open_call.take() {
            let mut fragment = String::new();
            self.writer.close(&mut fragment);
            sink.tool_call(n, None, None, fragment);
        }
    }

    pub(crate) fn finish(&mut self, sink: &mut Sink<'_>) {
        self.close_call(sink);
        for (url, title) in self.citations.drain(..) {
            sink.citation(url, Some(title));
        }
        self.common.emit_usage(sink);
    }
}

/// One step of a `partialArgs` JSON path: `.name` or `[digits]`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Name(String),
    /// The index's digits without leading zeros (so `[01]` is `[1]`).
    Index(String),
}

impl Segment {
    fn is_name(&self) -> bool {
        matches!(self, Segment::Name(_))
    }
}

/// Parse `$` followed by one or more `.name` / `[digits]` segments into `out`.
/// A name runs to the next `.` or `[`.
fn parse_path(path: &str, out: &mut Vec<Segment>) -> bool {
    out.clear();
    let Some(mut rest) = path.strip_prefix('$') else {
        return false;
    };
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            out.push(Segment::Name(after[..end].to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || after.as_bytes().get(digits) != Some(&b']') {
                return false;
            }
            let trimmed = after[..digits].trim_start_matches('0');
            out.push(Segment::Index(
                if trimmed.is_empty() { "0" } else { trimmed }.to_owned(),
            ));
            rest = &after[digits + 1..];
        } else {
            return false;
        }
    }
    !out.is_empty()
}

/// A leaf value of a `partialArgs` item.
enum ArgValue<'a> {
    Str(Cow<'a, str>),
    /// A number (source text verbatim), `true`, `false` or `null`.
    Raw(&'a str),
}

#[derive(Debug, Clone)]
struct Frame {
    segment: Segment,
    is_object: bool,
    has_members: bool,
}

/// Incremental writer of one streamed call's argument JSON.
#[derive(Debug, Default, Clone)]
struct ArgsWriter {
    /// `None` until the root container is opened; then whether it is an object.
    root: Option<bool>,
    root_has_members: bool,
    /// Open containers below the root, outermost first.
    stack: Vec<Frame>,
    /// The path of the string value left open by `willContinue`.
    open_string: Option<Vec<Segment>>,
}

impl ArgsWriter {
    fn innermost_has_members(&mut self) -> &mut bool {
        match self.stack.last_mut() {
            Some(frame) => &mut frame.has_members,
            None => &mut self.root_has_members,
        }
    }

    fn write(
        &mut self,
        path: &[Segment],
        value: ArgValue<'_>,
        will_continue: bool,
        out: &mut String,
    ) {
        let Some((leaf, parents)) = path.split_last() else {
            return;
        };
        if let Some(open) = &self.open_string {
            if let (true, ArgValue::Str(s)) = (open.as_slice() == path, &value) {
                jscan::escape_into(s, out);
                if !will_continue {
                    out.push('"');
                    self.open_string = None;
                }
                return;
            }
            out.push('"');
            self.open_string = None;
        }
        if self.root.is_none() {
            let is_object = path[0].is_name();
            out.push(if is_object { '{' } else { '[' });
            self.root = Some(is_object);
        }
        let common = parents
            .iter()
            .zip(&self.stack)
            .take_while(|(p, f)| **p == f.segment)
            .count();
        while self.stack.len() > common {
            if let Some(frame) = self.stack.pop() {
                out.push(if frame.is_object { '}' } else { ']' });
            }
            *self.innermost_has_members() = true;
        }
        for (k, segment) in parents.iter().enumerate().skip(common) {
            let has_members = self.innermost_has_members();
            if *has_members {
                out.push(',');
            }
            *has_members = true;
            if let Segment::Name(name) = segment {
                write_key(name, out);
            }
            let is_object = path.get(k + 1).is_some_and(Segment::is_name);
            out.push(if is_object { '{' } else { '[' });
            self.stack.push(Frame {
                segment: segment.clone(),
                is_object,
                has_members: false,
            });
        }
        let has_members = self.innermost_has_members();
        if *has_members {
            out.push(',');
        }
        *has_members = true;
        if let Segment::Name(name) = leaf {
            write_key(name, out);
        }
        match value {
            ArgValue::Str(s) => {
                out.push('"');
                jscan::escape_into(&s, out);
                if will_continue {
                    self.open_string = Some(path.to_vec());
                } else {
                    out.push('"');
                }
            }
            ArgValue::Raw(raw) => out.push_str(raw),
        }
    }

    /// Close everything (an open string, the containers, the root) and reset.
    fn close(&mut self, out: &mut String) {
        if self.open_string.take().is_some() {
            out.push('"');
        }
        while let Some(frame) = self.stack.pop() {
            out.push(if frame.is_object { '}' } else { ']' });
        }
        match self.root.take() {
            Some(true) => out.push('}'),
            Some(false) => out.push(']'),
            None => out.push_str("{}"),
        }
        self.root_has_members = false;
    }
}

fn write_key(name: &str, out: &mut String) {
    out.push('"');
    jscan::escape_into(name, out);
    out.push_str("\":");
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::stream_token::StreamToken;

    const D: &str = "gemini";

    /// Concatenated argument text per call index, and the call names.
    fn calls(tokens: &[StreamToken]) -> Vec<(Option<String>, String)> {
        let mut calls: Vec<(Option<String>, String)> = Vec::new();
        for t in tokens {
            if let StreamToken::ToolCall {
                index,
                name,
                arguments,
                ..
            } = t
            {
                let i = *index as usize;
                if calls.len() <= i {
                    calls.resize(i + 1, (None, String::new()));
                }
                if name.is_some() {
                    calls[i].0 = name.clone();
                }
                calls[i].1.push_str(arguments);
            }
        }
        calls
    }

    fn fixture(name: &str) -> Option<String> {
        let path = format!(
            "{}/../../../shared/fixtures/recorded/vercel-ai/google/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).ok()
    }

    /// Run `payloads` through a `gemini` dialect with the given envelope.
    fn run_enveloped(envelope: Envelope, payloads: &[&str]) -> Result<Vec<StreamToken>> {
        let mut d = crate::dialects::Dialect::new(D).unwrap();
        d.set_envelope(envelope).unwrap();
        let mut out = Vec::new();
        for payload in payloads {
            let mut sink = Sink::new(&mut out, false, 0);
            d.on_event("message", payload, &mut sink)?;
        }
        let mut sink = Sink::new(&mut out, false, 0);
        d.finish(&mut sink);
        Ok(out)
    }

    #[test]
    fn envelope_option_values() {
        assert_eq!(Envelope::from_option(None).unwrap(), Envelope::None);
        assert_eq!(
            Envelope::from_option(Some("response")).unwrap(),
            Envelope::Response
        );
        for bad in ["", "Response", "response ", "it's"] {
            let err = Envelope::from_option(Some(bad)).unwrap_err();
            assert_eq!(
                err,
                Error::Value(format!(
                    "unknown envelope {}; expected 'response'",
                    py_repr(bad)
                ))
            );
        }
        // Only gemini takes it; Envelope::None is accepted everywhere.
        for name in crate::dialects::DIALECTS {
            let mut d = crate::dialects::Dialect::new(name).unwrap();
            assert!(d.set_envelope(Envelope::None).is_ok());
            let result = d.set_envelope(Envelope::Response);
            if name == D {
                assert!(result.is_ok());
            } else {
                assert_eq!(
                    result.unwrap_err(),
                    Error::Value(format!(
                        "envelope applies to the gemini dialect, not '{name}'"
                    ))
                );
            }
        }
    }

    #[test]
    fn code_assist_envelope() {
        let wrapped = [
            r#"{"response":{"candidates":[{"content":{"role":"model","parts":[{"text":"plan","thought":true}]}}]},"traceId":"t1"}"#,
            r#"{"traceId":"t1","response":{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"},{"functionCall":{"name":"f","args":{"a":1.50}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2}}}"#,
        ];
        let plain = [
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"plan","thought":true}]}}]}"#,
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"},{"functionCall":{"name":"f","args":{"a":1.50}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2}}"#,
        ];
        let want = [
            reasoning("plan"),
            text("Hi"),
            tool(0, None, Some("f"), "{\"a\":1.50}"),
            finish("STOP"),
            usage(4, 2, 0, 0, 0),
        ];
        assert_eq!(run_enveloped(Envelope::Response, &wrapped).unwrap(), want);
        assert_eq!(run(D, &plain), want);
        // Without the option the envelope hides everything.
        assert!(run(D, &wrapped).is_empty());
    }

    #[test]
    fn envelope_events_without_a_response_object() {
        // No `response` object: the event is read as it is.
        let tokens = run_enveloped(
            Envelope::Response,
            &[
                r#"{"traceId":"t"}"#,
                r#"{"response":null,"traceId":"t"}"#,
                r#"{"response":"text","candidates":[{"content":{"parts":[{"text":"bare"}]}}]}"#,
                r#"{"response":{"candidates":[]},"candidates":[{"content":{"parts":[{"text":"outer"}]}}]}"#,
                r#"{"response":{}}"#,
                r#"{"response":[{"candidates":[]}]}"#,
            ],
        )
        .unwrap();
        assert_eq!(tokens, [text("bare")]);
        // Duplicate keys: the last `response` counts, as json.loads reads it.
        let tokens = run_enveloped(
            Envelope::Response,
            &[
                r#"{"response":{"candidates":[{"content":{"parts":[{"text":"first"}]}}]},"response":{"candidates":[{"content":{"parts":[{"text":"last"}]}}]}}"#,
            ],
        )
        .unwrap();
        assert_eq!(tokens, [text("last")]);
        // Errors raise, outside the envelope or inside it.
        let outside = run_enveloped(
            Envelope::Response,
            &[r#"{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED"}}"#],
        );
        assert_eq!(
            outside.unwrap_err(),
            provider("Quota", Some("RESOURCE_EXHAUSTED"), Some("429"), Some(429))
        );
        let inside = run_enveloped(
            Envelope::Response,
            &[r#"{"response":{"error":{"code":503,"message":"busy"}},"traceId":"t"}"#],
        );
        assert_eq!(
            inside.unwrap_err(),
            provider("busy", None, Some("503"), Some(503))
        );
    }

    fn run_fixture(name: &str) -> Option<Vec<StreamToken>> {
        let body = fixture(name)?;
        let lines: Vec<&str> = body.lines().filter(|l| !l.trim().is_empty()).collect();
        Some(run(D, &lines))
    }

    #[test]
    fn text_thoughts_finish_and_usage_at_finish() {
        let t = run(
            D,
            &[
                r#"{"candidates":[{"content":{"parts":[{"text":"think","thought":true},{"text":"Hi"},{"text":""},{"thoughtSignature":"x"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":3}}"#,
                r#"{"candidates":[{"content":{"parts":[{"text":" there","thought":false}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"thoughtsTokenCount":1,"cachedContentTokenCount":1,"totalTokenCount":6}}"#,
                r#"{"candidates":[{"content":{"parts":[{"text":"late"}]},"finishReason":"MAX_TOKENS"}],"usageMetadata":{"trafficType":"ON_DEMAND"}}"#,
            ],
        );
        assert_eq!(
            t,
            [
                reasoning("think"),
                text("Hi"),
                text(" there"),
                finish("STOP"),
                text("late"),
                usage(3, 2, 1, 0, 1)
            ]
        );
    }

    #[test]
    fn only_first_candidate() {
        let t = run(
            D,
            &[
                r#"{"candidates":[{"content":{"parts":[{"text":"a"}]}},{"content":{"parts":[{"text":"b"}]}}]}"#,
            ],
        );
        assert_eq!(t, [text("a")]);
    }

    #[test]
    fn whole_function_calls() {
        let t = run(
            D,
            &[
                r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"a","args":{"x":1.50,"s":"\u00e9\n","n":null,"l":[true,{}],"x":2e0}}},{"functionCall":{"name":"b","id":"call_b"}},{"functionCall":{"name":"c","args":null}},{"functionCall":{"args":{"no":"name"}}}]}}]}"#,
            ],
        );
        assert_eq!(
            t,
            [
                tool(
                    0,
                    None,
                    Some("a"),
                    r#"{"x":2e0,"s":"é\n","n":null,"l":[true,{}]}"#
                ),
                tool(1, Some("call_b"), Some("b"), "{}"),
                tool(2, None, Some("c"), "null"),
            ]
        );
    }

    #[test]
    fn errors() {
        let e = run_err(
            D,
            &[
                r#"{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED"}}"#,
            ],
        );
        assert_eq!(
            e,
            provider(
                "Resource exhausted",
                Some("RESOURCE_EXHAUSTED"),
                Some("429"),
                Some(429)
            )
        );
        let e = run_err(D, &[r#"{"error":{"code":"429","message":""}}"#]);
        assert_eq!(e, provider("unknown error", None, None, None));
        let e = run_err(D, &[r#"{"error":{"code":7}}"#]);
        assert_eq!(e, provider("unknown error", None, Some("7"), None));
        let e = run_err(D, &[r#"{"error":{"code":-7,"status":5}}"#]);
        assert_eq!(e, provider("unknown error", None, None, None));
        assert!(run(D, &[r#"{"error":"not an object"}"#]).is_empty());
    }

    #[test]
    fn block_reason_without_candidates() {
        let t = run(
            D,
            &[
                r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4}}"#,
            ],
        );
        assert_eq!(t, [finish("SAFETY"), usage(4, 0, 0, 0, 0)]);
        let t = run(
            D,
            &[r#"{"candidates":[],"promptFeedback":{"blockReason":"OTHER"}}"#],
        );
        assert_eq!(t, [finish("OTHER")]);
        let t = run(
            D,
            &[
                r#"{"candidates":[{"content":{"parts":[]}}],"promptFeedback":{"blockReason":"OTHER"}}"#,
            ],
        );
        assert!(t.is_empty());
    }

    #[test]
    fn grounding_citations_latest_wins() {
        let t = run(
            D,
            &[
                r#"{"candidates":[{"groundingMetadata":{"groundingChunks":[{"web":{"uri":"https://old","title":"Old"}}]}}]}"#,
                r#"{"candidates":[{"content":{"parts":[{"text":"x"}]},"groundingMetadata":{"groundingChunks":[{"web":{"uri":"https://a","title":"A"}},{"web":{"uri":"https://b","title":""}},{"web":{"uri":""}},{"retrievedContext":{"uri":"https://c"}},5]}}],"usageMetadata":{"candidatesTokenCount":1}}"#,
            ],
        );
        assert_eq!(
            t,
            [
                text("x"),
                citation("https://a", Some("A")),
                citation("https://b", Some("https://b")),
                usage(0, 1, 0, 0, 0)
            ]
        );
    }

    #[test]
    fn usage_needs_a_count() {
        let t = run(
            D,
            &[
                r#"{"usageMetadata":{"promptTokenCount":5}}"#,
                r#"{"usageMetadata":{"totalTokenCount":9}}"#,
            ],
        );
        assert_eq!(t, [usage(5, 0, 0, 0, 0)]);
        assert!(run(D, &[r#"{"usageMetadata":{"trafficType":"ON_DEMAND"}}"#]).is_empty());
    }

    #[test]
    fn streamed_args_fixture_simple() {
        let Some(t) = run_fixture("google-stream-tool-call-arguments.chunks.txt") else {
            eprintln!("skipped: recorded fixtures not present");
            return;
        };
        assert_eq!(t[0], tool(0, None, Some("getWeather"), ""));
        assert_eq!(
            calls(&t),
            [
                (
                    Some("getWeather".to_owned()),
                    r#"{"location":"Boston"}"#.to_owned()
                ),
                (
                    Some("getWeather".to_owned()),
                    r#"{"location":"San Francisco"}"#.to_owned()
                ),
            ]
        );
        assert_eq!(
            &t[t.len() - 2..],
            [finish("STOP"), usage(26, 23, 0, 0, 132)]
        );
        // The fragments themselves.
        let fragments: Vec<&str> = t
            .iter()
            .filter_map(|t| match t {
                StreamToken::ToolCall {
                    index: 0,
                    arguments,
                    ..
                } => Some(arguments.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(fragments, ["", "{\"location\":\"Boston", "\"", "}"]);
    }

    #[test]
    fn streamed_args_fixture_array() {
        let Some(t) = run_fixture(
            "google-stream-tool-call-array-arguments-missing-terminal-function-call.chunks.txt",
        ) else {
            return;
        };
        let want = r#"{"operations":[{"action":"add","description":"Fresh red apple","itemid":"apple_001","price":0.5},{"action":"add","description":"Ripe yellow banana","itemid":"banana_001","price":0.3}]}"#;
        assert_eq!(
            calls(&t),
            [(Some("writeItems".to_owned()), want.to_owned())]
        );
        assert_eq!(
            &t[t.len() - 2..],
            [finish("STOP"), usage(54, 74, 0, 0, 121)]
        );
    }

    #[test]
    fn streamed_args_fixture_nested() {
        let Some(t) = run_fixture("google-vertex-stream-tool-call-arguments-nested.1.chunks.txt")
        else {
            return;
        };
        let c = calls(&t);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].0.as_deref(), Some("cookRecipe"));
        let args = &c[0].1;
        assert!(args.starts_with(r#"{"recipe":{"ingredients":[{"amount":"16 oz","name":"Lasagna noodles"},{"amount":"1 lb""#), "{args}");
        assert!(args.contains(r#"{"amount":"1/2 tsp","name":"Pepper"}],"name":"Lasagna","steps":["Preheat oven to 375°F (190°C).","Cook lasagna noodles according to package directions, drain and set aside.","#), "{args}");
        assert!(
            args.ends_with(r#""Let stand for 15 minutes before serving."]}}"#),
            "{args}"
        );
        assert!(jscan::is_valid(args));
    }

    #[test]
    fn no_args_fixture() {
        let Some(t) = run_fixture("google-stream-no-args-tool-call.chunks.txt") else {
            return;
        };
        assert!(
            matches!(&t[0], StreamToken::Reasoning(r) if r.starts_with("**Processing User Requests**"))
        );
        assert_eq!(t[1], tool(0, None, Some("read_theme"), "{}"));
        assert_eq!(
            calls(&t)[1..],
            [
                (Some("read_screen".to_owned()), r#"{"id":"A"}"#.to_owned()),
                (Some("read_screen".to_owned()), r#"{"id":"B"}"#.to_owned()),
                (Some("read_screen".to_owned()), r#"{"id":"C"}"#.to_owned()),
            ]
        );
        assert_eq!(
            &t[t.len() - 2..],
            [finish("STOP"), usage(249, 58, 0, 0, 183)]
        );
    }

    fn fc(body: &str) -> String {
        format!(r#"{{"candidates":[{{"content":{{"parts":[{{"functionCall":{body}}}]}}}}]}}"#)
    }

    fn streamed(items: &[&str]) -> Vec<StreamToken> {
        let mut payloads = vec![fc(r#"{"name":"f","willContinue":true}"#)];
        for item in items {
            payloads.push(fc(&format!(
                r#"{{"partialArgs":[{item}],"willContinue":true}}"#
            )));
        }
        payloads.push(fc("{}"));
        let refs: Vec<&str> = payloads.iter().map(String::as_str).collect();
        run(D, &refs)
    }

    fn streamed_args(items: &[&str]) -> String {
        calls(&streamed(items)).remove(0).1
    }

    #[test]
    fn writer_value_kinds_and_escaping() {
        let args = streamed_args(&[
            r#"{"jsonPath":"$.s","stringValue":"q\"\\\n\u0001é"}"#,
            r#"{"jsonPath":"$.n","numberValue":-1.50e+3}"#,
            r#"{"jsonPath":"$.b","boolValue":false}"#,
            r#"{"jsonPath":"$.z","nullValue":"NULL_VALUE"}"#,
            r#"{"jsonPath":"$.k\"ey","stringValue":""}"#,
            r#"{"jsonPath":"$.first","stringValue":"wins","numberValue":1}"#,
            r#"{"jsonPath":"$.typed","stringValue":1,"boolValue":true}"#,
            r#"{"jsonPath":"$.none"}"#,
            r#"{"jsonPath":"bad","stringValue":"x"}"#,
            r#"{"jsonPath":"$","stringValue":"x"}"#,
            r#"{"jsonPath":"$.a[x]","stringValue":"x"}"#,
            r#"{"jsonPath":5,"stringValue":"x"}"#,
        ]);
        assert_eq!(
            args,
            r#"{"s":"q\"\\\n\u0001é","n":-1.50e+3,"b":false,"z":null,"k\"ey":"","first":"wins","typed":true}"#
        );
    }

    #[test]
    fn writer_open_string_continues_only_on_same_path() {
        let t = streamed(&[
            r#"{"jsonPath":"$.a","stringValue":"x","willContinue":true}"#,
            r#"{"jsonPath":"$.a","stringValue":"y","willContinue":true}"#,
            r#"{"jsonPath":"$.a","stringValue":"","willContinue":true}"#,
            r#"{"jsonPath":"$.b","stringValue":"p","willContinue":true}"#,
            r#"{"jsonPath":"$.b","numberValue":1}"#,
            r#"{"jsonPath":"$.c","stringValue":"open at close","willContinue":true}"#,
        ]);
        let fragments: Vec<&str> = t
            .iter()
            .filter_map(|t| match t {
                StreamToken::ToolCall { arguments, .. } => Some(arguments.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            fragments,
            [
                "",
                "{\"a\":\"x",
                "y",
                "\",\"b\":\"p",
                "\",\"b\":1",
                ",\"c\":\"open at close",
                "\"}"
            ]
        );
    }

    #[test]
    fn writer_nesting_and_arrays() {
        let args = streamed_args(&[
            r#"{"jsonPath":"$.a.b[0].c","numberValue":1}"#,
            r#"{"jsonPath":"$.a.b[0].d","numberValue":2}"#,
            r#"{"jsonPath":"$.a.b[1][0]","numberValue":3}"#,
            r#"{"jsonPath":"$.a.b[1][01]","numberValue":4}"#,
            r#"{"jsonPath":"$.a.e","boolValue":true}"#,
            r#"{"jsonPath":"$.f[0]","stringValue":"s"}"#,
        ]);
        assert_eq!(
            args,
            r#"{"a":{"b":[{"c":1,"d":2},[3,4]],"e":true},"f":["s"]}"#
        );
        assert!(jscan::is_valid(&args));
        let args = streamed_args(&[
            r#"{"jsonPath":"$[0].x","numberValue":1}"#,
            r#"{"jsonPath":"$[1]","numberValue":2}"#,
        ]);
        assert_eq!(args, r#"[{"x":1},2]"#);
        let args = streamed_args(&[r#"{"jsonPath":"$.","numberValue":1}"#]);
        assert_eq!(args, r#"{"":1}"#);
    }

    #[test]
    fn streamed_call_closing_rules() {
        // No args ever written → "{}" on close; finishReason closes before Finish.
        let t = run(
            D,
            &[
                &fc(r#"{"name":"f","willContinue":true}"#),
                r#"{"candidates":[{"content":{"parts":[]},"finishReason":"STOP"}]}"#,
            ],
        );
        assert_eq!(
            t,
            [
                tool(0, None, Some("f"), ""),
                tool(0, None, None, "{}"),
                finish("STOP")
            ]
        );
        // A new named call closes the open one; finish() closes the last.
        let t = run(
            D,
            &[
                &fc(r#"{"name":"f","id":"i1","willContinue":true}"#),
                &fc(r#"{"partialArgs":[{"jsonPath":"$.a","numberValue":1}],"willContinue":true}"#),
                &fc(r#"{"name":"g","willContinue":true}"#),
                &fc(
                    r#"{"partialArgs":[{"jsonPath":"$.b","stringValue":"x","willContinue":true}],"willContinue":true}"#,
                ),
            ],
        );
        assert_eq!(
            t,
            [
                tool(0, Some("i1"), Some("f"), ""),
                tool(0, None, None, "{\"a\":1"),
                tool(0, None, None, "}"),
                tool(1, None, Some("g"), ""),
                tool(1, None, None, "{\"b\":\"x"),
                tool(1, None, None, "\"}"),
            ]
        );
        // A nameless call with no call open is ignored; willContinue false closes.
        let t = run(
            D,
            &[
                &fc(r#"{"partialArgs":[{"jsonPath":"$.a","numberValue":1}]}"#),
                &fc(r#"{"name":"f","willContinue":true}"#),
                &fc(r#"{"partialArgs":[{"jsonPath":"$.a","numberValue":1}]}"#),
                &fc(r#"{"partialArgs":[{"jsonPath":"$.a","numberValue":2}]}"#),
            ],
        );
        assert_eq!(
            t,
            [
                tool(0, None, Some("f"), ""),
                tool(0, None, None, "{\"a\":1"),
                tool(0, None, None, "}")
            ]
        );
        // Several items in one functionCall: one fragment per item.
        let t = run(
            D,
            &[
                &fc(r#"{"name":"f","willContinue":true}"#),
                &fc(
                    r#"{"partialArgs":[{"jsonPath":"$.a","numberValue":1},{"jsonPath":"$.b","numberValue":2}],"willContinue":true}"#,
                ),
            ],
        );
        assert_eq!(
            t,
            [
                tool(0, None, Some("f"), ""),
                tool(0, None, None, "{\"a\":1"),
                tool(0, None, None, ",\"b\":2"),
                tool(0, None, None, "}")
            ]
        );
    }

    #[test]
    fn path_parsing() {
        let mut segs = Vec::new();
        assert!(parse_path("$.a.b[12][0].c", &mut segs));
        assert_eq!(
            segs,
            [
                Segment::Name("a".into()),
                Segment::Name("b".into()),
                Segment::Index("12".into()),
                Segment::Index("0".into()),
                Segment::Name("c".into()),
            ]
        );
        assert!(parse_path("$.a]b", &mut segs));
        assert_eq!(segs, [Segment::Name("a]b".into())]);
        assert!(parse_path("$[007]", &mut segs));
        assert_eq!(segs, [Segment::Index("7".into())]);
        for bad in [
            "", "$", "a.b", "$a", "$[", "$[]", "$[1", "$[a]", "$[-1]", "$.a[1]x", "$[1 ]",
        ] {
            assert!(!parse_path(bad, &mut segs), "{bad}");
        }
    }
}

//! Ollama's native `/api/chat` stream: one JSON object per line.
//!
//! `message.thinking` / `message.content` / `message.tool_calls` per line (tool
//! calls arrive whole, arguments as a JSON object); `"done": true` ends the stream
//! with `done_reason` and the eval counts. With the `think_tags` option
//! `message.content` goes through [`ThinkTags`] (`<think>` blocks become reasoning).

use super::think::ThinkTags;
use super::{error_message, opt_obj, opt_str, opt_string, opt_u64, Common, Sink};
use crate::error::{Error, Result};
use crate::jscan::{self, Value};

/// State of an `ndjson` stream.
#[derive(Debug, Default, Clone)]
pub struct Ndjson {
    pub(crate) common: Common,
    /// The `think_tags` option's splitter for `message.content`.
    pub(crate) think: ThinkTags,
    call_count: u32,
}

impl Ndjson {
    /// End of input without a `done` line: held-back text, then `Usage`.
    pub(crate) fn finish(&mut self, sink: &mut Sink<'_>) {
        self.think.flush(sink);
        self.common.emit_usage(sink);
    }

    pub(crate) fn on_object(&mut self, obj: Value<'_>, sink: &mut Sink<'_>) -> Result<()> {
        let [error, message, done, done_reason, prompt_eval_count, eval_count] = obj.fields([
            "error",
            "message",
            "done",
            "done_reason",
            "prompt_eval_count",
            "eval_count",
        ]);
        if let Some(error) = error {
            if error.is_string() {
                return Err(provider(
                    error.as_str().map(|m| m.into_owned()).unwrap_or_default(),
                ));
            }
            if error.is_object() {
                return Err(provider(error_message(error.get("message"))));
            }
        }
        if let Some(message) = opt_obj(message) {
            let [thinking, content, tool_calls] =
                message.fields(["thinking", "content", "tool_calls"]);
            if let Some(thinking) = opt_str(thinking) {
                sink.reasoning(thinking);
            }
            if let Some(content) = opt_str(content) {
                self.think.text(content, sink);
            }
            for item in tool_calls.iter().flat_map(Value::items) {
                if !item.is_object() {
                    continue;
                }
                let [id, function] = item.fields(["id", "function"]);
                let [name, arguments] = match opt_obj(function) {
                    Some(f) => f.fields(["name", "arguments"]),
                    None => [None, None],
                };
                let arguments = arguments.map_or_else(|| "{}".to_owned(), jscan::compact);
                let n = self.call_count;
                self.call_count = self.call_count.saturating_add(1);
                sink.tool_call(n, opt_string(id), opt_string(name), arguments);
            }
        }
        if done.is_some_and(|d| d.is_true()) {
            self.think.flush(sink);
            let reason = opt_str(done_reason).unwrap_or("stop".into());
            self.common.finish(reason, sink);
            let (input, output) = (opt_u64(prompt_eval_count), opt_u64(eval_count));
            if input.is_some() || output.is_some() {
                let u = self.common.usage_mut();
                *u = Default::default();
                u.input_tokens = input.unwrap_or(0);
                u.output_tokens = output.unwrap_or(0);
            }
            self.common.emit_usage(sink);
            self.common.done = true;
        }
        Ok(())
    }
}

fn provider(message: String) -> Error {
    Error::Provider {
        message,
        error_type: None,
        code: None,
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    const D: &str = "ndjson";

    #[test]
    fn a_full_stream() {
        let t = run(
            D,
            &[
                r#"{"model":"qwen3","message":{"role":"assistant","content":"","thinking":"hmm"},"done":false}"#,
                r#"{"model":"qwen3","message":{"role":"assistant","content":"Hi"},"done":false}"#,
                r#"{"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get","arguments":{"city":"Paris","n":1.0}}},{"id":"call_2","function":{"name":"put"}},"skip",{"function":{"arguments":null}}]},"done":false}"#,
                r#"{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":12,"eval_count":34,"total_duration":1}"#,
                r#"{"message":{"content":"after done"}}"#,
            ],
        );
        assert_eq!(
            t,
            [
                reasoning("hmm"),
                text("Hi"),
                tool(0, None, Some("get"), r#"{"city":"Paris","n":1.0}"#),
                tool(1, Some("call_2"), Some("put"), "{}"),
                tool(2, None, None, "null"),
                finish("stop"),
                usage(12, 34, 0, 0, 0),
            ]
        );
    }

    #[test]
    fn done_defaults() {
        let t = run(D, &[r#"{"done":true,"done_reason":""}"#]);
        assert_eq!(t, [finish("stop")]);
        let t = run(
            D,
            &[r#"{"done":true,"done_reason":"length","eval_count":3}"#],
        );
        assert_eq!(t, [finish("length"), usage(0, 3, 0, 0, 0)]);
        let t = run(D, &[r#"{"done":"true","message":{"content":"x"}}"#]);
        assert_eq!(t, [text("x")]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            run_err(D, &[r#"{"error":"model not found"}"#]),
            provider("model not found", None, None, None)
        );
        assert_eq!(
            run_err(D, &[r#"{"error":{"message":"boom"}}"#]),
            provider("boom", None, None, None)
        );
        assert_eq!(
            run_err(D, &[r#"{"error":{}}"#]),
            provider("unknown error", None, None, None)
        );
        assert_eq!(
            run(D, &[r#"{"error":null,"message":{"content":"ok"}}"#]),
            [text("ok")]
        );
    }
}

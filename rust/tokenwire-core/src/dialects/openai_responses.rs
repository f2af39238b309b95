//! OpenAI Responses API streams.
//!
//! The event kind is the payload's `type` (falling back to the SSE event name).
//! Function calls get 0-based ordinals, found again by `item_id` or `output_index`;
//! `response.completed` / `response.incomplete` carry the usage and end the stream;
//! `response.failed` and `error` raise.

use std::borrow::Cow;
use std::collections::HashMap;

use super::{
    code_text, error_message, opt_obj, opt_str, opt_string, opt_u32, opt_u64, Common, Sink,
};
use crate::error::{Error, Result};
use crate::jscan::Value;
use crate::stream_token::Usage;

/// State of an `openai-responses` stream.
#[derive(Debug, Default, Clone)]
pub struct OpenAiResponses {
    pub(crate) common: Common,
    calls_by_item: HashMap<String, u32>,
    calls_by_output: HashMap<u32, u32>,
    call_count: u32,
}

impl OpenAiResponses {
    pub(crate) fn on_object(
        &mut self,
        obj: Value<'_>,
        event: &str,
        sink: &mut Sink<'_>,
    ) -> Result<()> {
        let [kind, delta, item, item_id, output_index, annotation, response, error] = obj.fields([
            "type",
            "delta",
            "item",
            "item_id",
            "output_index",
            "annotation",
            "response",
            "error",
        ]);
        let kind = kind.and_then(|k| k.as_str());
        let kind = kind.as_deref().unwrap_or(event);
        match kind {
            "response.output_text.delta" => {
                if let Some(text) = opt_str(delta) {
                    sink.text(text);
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                if let Some(text) = opt_str(delta) {
                    sink.reasoning(text);
                }
            }
            "response.output_item.added" => {
                let Some(item) = opt_obj(item) else {
                    return Ok(());
                };
                let [item_type, id, call_id, name, arguments] =
                    item.fields(["type", "id", "call_id", "name", "arguments"]);
                if item_type.and_then(|t| t.as_str()).as_deref() != Some("function_call") {
                    return Ok(());
                }
                let n = self.call_count;
                self.call_count = self.call_count.saturating_add(1);
                if let Some(id) = id.and_then(|i| i.as_str()) {
                    self.calls_by_item.insert(id.into_owned(), n);
                }
                if let Some(i) = opt_u32(output_index) {
                    self.calls_by_output.insert(i, n);
                }
                let arguments = arguments
                    .and_then(|a| a.as_str())
                    .map(|a| a.into_owned())
                    .unwrap_or_default();
                sink.tool_call(n, opt_string(call_id), opt_string(name), arguments);
            }
            "response.function_call_arguments.delta" => {
                let by_item = item_id
                    .and_then(|i| i.as_str())
                    .and_then(|i| self.calls_by_item.get(i.as_ref()).copied());
                let n = by_item.or_else(|| {
                    opt_u32(output_index).and_then(|i| self.calls_by_output.get(&i).copied())
                });
                if let (Some(n), Some(delta)) = (n, opt_str(delta)) {
                    sink.tool_call(n, None, None, delta.into_owned());
                }
            }
            "response.output_text.annotation.added" => {
                let Some(annotation) = opt_obj(annotation) else {
                    return Ok(());
                };
                let [annotation_type, url, title] = annotation.fields(["type", "url", "title"]);
                if annotation_type.and_then(|t| t.as_str()).as_deref() == Some("url_citation") {
                    if let Some(url) = opt_string(url) {
                        sink.citation(url, opt_string(title));
                    }
                }
            }
            "response.completed" | "response.incomplete" => {
                let [usage, incomplete_details, status] = match opt_obj(response) {
                    Some(r) => r.fields(["usage", "incomplete_details", "status"]),
                    None => [None, None, None],
                };
                if let Some(usage) = opt_obj(usage) {
                    self.common.usage = Some(map_usage(usage));
                }
                let reason = opt_str(opt_obj(incomplete_details).and_then(|d| d.get("reason")))
                    .or_else(|| opt_str(status))
                    .unwrap_or(Cow::Borrowed(
                        kind.strip_prefix("response.").unwrap_or(kind),
                    ));
                self.common.finish(reason, sink);
                self.common.emit_usage(sink);
                self.common.done = true;
            }
            "response.failed" => {
                self.common.done = true;
                // Without an error object the stream just ends.
                let Some(error) = opt_obj(opt_obj(response).and_then(|r| r.get("error"))) else {
                    return Ok(());
                };
                let [message, code] = error.fields(["message", "code"]);
                return Err(Error::Provider {
                    message: error_message(message),
                    error_type: None,
                    code: code_text(code),
                    status: None,
                });
            }
            "error" => {
                let err = opt_obj(error).unwrap_or(obj);
                let [message, error_type, code] = err.fields(["message", "type", "code"]);
                return Err(Error::Provider {
                    message: error_message(message),
                    error_type: error_type.and_then(|t| t.as_str()).map(|t| t.into_owned()),
                    code: code_text(code),
                    status: None,
                });
            }
            _ => {}
        }
        Ok(())
    }
}

fn map_usage(usage: Value<'_>) -> Usage {
    let [input, output, input_details, output_details] = usage.fields([
        "input_tokens",
        "output_tokens",
        "input_tokens_details",
        "output_tokens_details",
    ]);
    Usage {
        input_tokens: opt_u64(input).unwrap_or(0),
        output_tokens: opt_u64(output).unwrap_or(0),
        cache_read_tokens: opt_u64(opt_obj(input_details).and_then(|d| d.get("cached_tokens")))
            .unwrap_or(0),
        cache_write_tokens: 0,
        reasoning_tokens: opt_u64(opt_obj(output_details).and_then(|d| d.get("reasoning_tokens")))
            .unwrap_or(0),
        cost: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    const D: &str = "openai-responses";

    #[test]
    fn text_reasoning_and_completion() {
        let t = run(
            D,
            &[
                r#"{"type":"response.created","response":{"status":"in_progress"}}"#,
                r#"{"type":"response.reasoning_summary_text.delta","delta":"plan"}"#,
                r#"{"type":"response.reasoning_text.delta","delta":"raw"}"#,
                r#"{"type":"response.output_text.delta","delta":"Hel"}"#,
                r#"{"type":"response.output_text.delta","delta":""}"#,
                r#"{"type":"response.output_text.delta","delta":"lo"}"#,
                r#"{"type":"response.output_text.done","text":"Hello"}"#,
                r#"{"type":"response.completed","response":{"status":"completed","usage":{"input_tokens":5,"output_tokens":7,"input_tokens_details":{"cached_tokens":2},"output_tokens_details":{"reasoning_tokens":3}}}}"#,
                r#"{"type":"response.output_text.delta","delta":"after"}"#,
            ],
        );
        assert_eq!(
            t,
            [
                reasoning("plan"),
                reasoning("raw"),
                text("Hel"),
                text("lo"),
                finish("completed"),
                usage(5, 7, 2, 0, 3)
            ]
        );
    }

    #[test]
    fn finish_reason_precedence() {
        let t = run(
            D,
            &[
                r#"{"type":"response.incomplete","response":{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"}}}"#,
            ],
        );
        assert_eq!(t, [finish("max_output_tokens")]);
        let t = run(
            D,
            &[
                r#"{"type":"response.incomplete","response":{"status":"","incomplete_details":null}}"#,
            ],
        );
        assert_eq!(t, [finish("incomplete")]);
        let t = run(D, &[r#"{"type":"response.completed"}"#]);
        assert_eq!(t, [finish("completed")]);
        let (t, _) = run_events(D, &[("response.completed", "{}")], false);
        assert_eq!(t, [finish("completed")]);
    }

    #[test]
    fn function_calls() {
        let t = run(
            D,
            &[
                r#"{"type":"response.output_item.added","output_index":0,"item":{"type":"message","id":"msg"}}"#,
                r#"{"type":"response.output_item.added","output_index":1,"item":{"type":"function_call","id":"fc_1","call_id":"call_1","name":"get","arguments":""}}"#,
                r#"{"type":"response.output_item.added","output_index":2,"item":{"type":"function_call","id":"fc_2","call_id":"","name":"put","arguments":"{"}}"#,
                r#"{"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":2,"delta":"{\"a\""}"#,
                r#"{"type":"response.function_call_arguments.delta","item_id":"unknown","output_index":2,"delta":"}"}"#,
                r#"{"type":"response.function_call_arguments.delta","output_index":1,"delta":":1}"}"#,
                r#"{"type":"response.function_call_arguments.delta","item_id":"nope","output_index":9,"delta":"lost"}"#,
                r#"{"type":"response.function_call_arguments.delta","item_id":"fc_1","delta":""}"#,
            ],
        );
        assert_eq!(
            t,
            [
                tool(0, Some("call_1"), Some("get"), ""),
                tool(1, None, Some("put"), "{"),
                tool(0, None, None, "{\"a\""),
                tool(1, None, None, "}"),
                tool(0, None, None, ":1}"),
            ]
        );
    }

    #[test]
    fn url_citations() {
        let t = run(
            D,
            &[
                r#"{"type":"response.output_text.annotation.added","annotation":{"type":"url_citation","url":"https://a","title":"A"}}"#,
                r#"{"type":"response.output_text.annotation.added","annotation":{"type":"url_citation","url":"https://b"}}"#,
                r#"{"type":"response.output_text.annotation.added","annotation":{"type":"file_citation","url":"https://c"}}"#,
                r#"{"type":"response.output_text.annotation.added","annotation":{"type":"url_citation","url":""}}"#,
            ],
        );
        assert_eq!(
            t,
            [
                citation("https://a", Some("A")),
                citation("https://b", None)
            ]
        );
    }

    #[test]
    fn errors() {
        let e = run_err(
            D,
            &[
                r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"boom"}}}"#,
            ],
        );
        assert_eq!(e, provider("boom", None, Some("server_error"), None));
        let e = run_err(
            D,
            &[r#"{"type":"response.failed","response":{"error":{"code":42}}}"#],
        );
        assert_eq!(e, provider("unknown error", None, Some("42"), None));
        let t = run(
            D,
            &[
                r#"{"type":"response.failed","response":{"error":null}}"#,
                r#"{"type":"response.output_text.delta","delta":"after done"}"#,
            ],
        );
        assert!(t.is_empty());
        let e = run_err(
            D,
            &[
                r#"{"type":"error","code":"rate_limit_exceeded","message":"slow down","param":null}"#,
            ],
        );
        assert_eq!(
            e,
            provider(
                "slow down",
                Some("error"),
                Some("rate_limit_exceeded"),
                None
            )
        );
        let e = run_err(
            D,
            &[
                r#"{"type":"error","error":{"type":"invalid_request_error","code":400,"message":"bad"}}"#,
            ],
        );
        assert_eq!(
            e,
            provider("bad", Some("invalid_request_error"), Some("400"), None)
        );
        let (_, e) = run_events(D, &[("error", r#"{"message":"named"}"#)], false);
        assert_eq!(e, Some(provider("named", None, None, None)));
    }

    #[test]
    fn usage_only_when_reported() {
        let t = run(
            D,
            &[r#"{"type":"response.completed","response":{"usage":null}}"#],
        );
        assert_eq!(t, [finish("completed")]);
    }
}

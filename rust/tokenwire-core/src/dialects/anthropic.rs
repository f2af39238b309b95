//! Anthropic Messages API streams.
//!
//! The event kind is the payload's `type` (falling back to the SSE event name).
//! Text and thinking blocks after the first are separated by a `"\n"` delta (as
//! Roo-Code does); tool-use blocks get 0-based ordinals; `message_delta` usage
//! counts are cumulative and replace earlier values; `message_stop` ends the
//! stream and releases the `Usage`.

use std::collections::HashMap;

use super::{error_message, opt_obj, opt_str, opt_string, opt_u32, opt_u64, Common, Sink};
use crate::error::{Error, Result};
use crate::jscan::Value;

/// State of an `anthropic` stream.
#[derive(Debug, Default, Clone)]
pub struct Anthropic {
    pub(crate) common: Common,
    /// Content block index → ordinal of the tool_use block.
    tool_blocks: HashMap<u32, u32>,
    tool_count: u32,
}

impl Anthropic {
    pub(crate) fn on_object(
        &mut self,
        obj: Value<'_>,
        event: &str,
        sink: &mut Sink<'_>,
    ) -> Result<()> {
        let [kind, message, index, content_block, delta, usage, error] = obj.fields([
            "type",
            "message",
            "index",
            "content_block",
            "delta",
            "usage",
            "error",
        ]);
        let kind = kind.and_then(|k| k.as_str());
        match kind.as_deref().unwrap_or(event) {
            "message_start" => {
                if let Some(usage) = opt_obj(opt_obj(message).and_then(|m| m.get("usage"))) {
                    let [input, output, cache_write, cache_read] = usage.fields([
                        "input_tokens",
                        "output_tokens",
                        "cache_creation_input_tokens",
                        "cache_read_input_tokens",
                    ]);
                    let u = self.common.usage_mut();
                    *u = Default::default();
                    u.input_tokens = opt_u64(input).unwrap_or(0);
                    u.output_tokens = opt_u64(output).unwrap_or(0);
                    u.cache_write_tokens = opt_u64(cache_write).unwrap_or(0);
                    u.cache_read_tokens = opt_u64(cache_read).unwrap_or(0);
                }
            }
            "content_block_start" => {
                let Some(block) = opt_obj(content_block) else {
                    return Ok(());
                };
                // Without a valid index: no separator, and a tool_use block is not mapped.
                let i = opt_u32(index);
                let later_block = i.is_some_and(|i| i > 0);
                let [block_type, text, thinking, id, name] =
                    block.fields(["type", "text", "thinking", "id", "name"]);
                match block_type.and_then(|t| t.as_str()).as_deref() {
                    Some("text") => {
                        if later_block {
                            sink.text("\n".into());
                        }
                        if let Some(text) = opt_str(text) {
                            sink.text(text);
                        }
                    }
                    Some("thinking") => {
                        if later_block {
                            sink.reasoning("\n".into());
                        }
                        if let Some(thinking) = opt_str(thinking) {
                            sink.reasoning(thinking);
                        }
                    }
                    Some("tool_use") => {
                        let n = self.tool_count;
                        self.tool_count = self.tool_count.saturating_add(1);
                        if let Some(i) = i {
                            self.tool_blocks.insert(i, n);
                        }
                        sink.tool_call(n, opt_string(id), opt_string(name), String::new());
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let Some(delta) = opt_obj(delta) else {
                    return Ok(());
                };
                let [delta_type, text, thinking, partial_json, citation] =
                    delta.fields(["type", "text", "thinking", "partial_json", "citation"]);
                match delta_type.and_then(|t| t.as_str()).as_deref() {
                    Some("text_delta") => {
                        if let Some(text) = opt_str(text) {
                            sink.text(text);
                        }
                    }
                    Some("thinking_delta") => {
                        if let Some(thinking) = opt_str(thinking) {
                            sink.reasoning(thinking);
                        }
                    }
                    Some("input_json_delta") => {
                        let n = opt_u32(index).and_then(|i| self.tool_blocks.get(&i).copied());
                        if let (Some(n), Some(json)) = (n, opt_str(partial_json)) {
                            sink.tool_call(n, None, None, json.into_owned());
                        }
                    }
                    Some("citations_delta") => {
                        if let Some(citation) = opt_obj(citation) {
                            let [url, title] = citation.fields(["url", "title"]);
                            if let Some(url) = opt_string(url) {
                                sink.citation(url, opt_string(title));
                            }
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = opt_str(opt_obj(delta).and_then(|d| d.get("stop_reason"))) {
                    self.common.finish(reason, sink);
                }
                if let Some(usage) = opt_obj(usage) {
                    let [output, input, cache_write, cache_read] = usage.fields([
                        "output_tokens",
                        "input_tokens",
                        "cache_creation_input_tokens",
                        "cache_read_input_tokens",
                    ]);
                    let u = self.common.usage_mut();
                    // Cumulative counts: each one present replaces the earlier value.
                    if let Some(n) = opt_u64(output) {
                        u.output_tokens = n;
                    }
                    if let Some(n) = opt_u64(input) {
                        u.input_tokens = n;
                    }
                    if let Some(n) = opt_u64(cache_write) {
                        u.cache_write_tokens = n;
                    }
                    if let Some(n) = opt_u64(cache_read) {
                        u.cache_read_tokens = n;
                    }
                }
            }
            "message_stop" => {
                self.common.done = true;
                self.common.emit_usage(sink);
            }
            "error" => {
                // An error event without an error object carries nothing to raise.
                let Some(error) = opt_obj(error) else {
                    return Ok(());
                };
                let [message, error_type] = error.fields(["message", "type"]);
                return Err(Error::Provider {
                    message: error_message(message),
                    error_type: error_type.and_then(|t| t.as_str()).map(|t| t.into_owned()),
                    code: None,
                    status: None,
                });
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    const D: &str = "anthropic";

    #[test]
    fn a_full_message() {
        let t = run(
            D,
            &[
                r#"{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":10,"output_tokens":1,"cache_creation_input_tokens":3,"cache_read_input_tokens":4}}}"#,
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}"#,
                r#"{"type":"content_block_stop","index":0}"#,
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
                r#"{"type":"ping"}"#,
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello"}}"#,
                r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"get","input":{}}}"#,
                r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"#,
                r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"a\":1}"}}"#,
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":20}}"#,
                r#"{"type":"message_stop"}"#,
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"after stop"}}"#,
            ],
        );
        assert_eq!(
            t,
            [
                reasoning("hmm"),
                text("\n"),
                text("Hello"),
                tool(0, Some("toolu_1"), Some("get"), ""),
                tool(0, None, None, "{\"a\":1}"),
                finish("tool_use"),
                usage(10, 20, 4, 3, 0),
            ]
        );
    }

    #[test]
    fn block_separators_and_initial_text() {
        let t = run(
            D,
            &[
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"first"}}"#,
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"thinking","thinking":"t"}}"#,
                r#"{"type":"content_block_start","index":2,"content_block":{"type":"redacted_thinking","data":"x"}}"#,
                r#"{"type":"content_block_start","index":3,"content_block":{"type":"server_tool_use","id":"s","name":"web_search"}}"#,
                r#"{"type":"content_block_start","content_block":{"type":"text","text":"no index"}}"#,
                r#"{"type":"content_block_start","index":4,"content_block":"text"}"#,
                r#"{"type":"content_block_start","index":"5","content_block":{"type":"thinking","thinking":"bad index"}}"#,
            ],
        );
        assert_eq!(
            t,
            [
                text("first"),
                reasoning("\n"),
                reasoning("t"),
                text("no index"),
                reasoning("bad index")
            ]
        );
    }

    #[test]
    fn tool_ordinals_and_unmapped_blocks() {
        let t = run(
            D,
            &[
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"","name":"a"}}"#,
                r#"{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"b_id","name":5}}"#,
                r#"{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"3"}}"#,
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1"}}"#,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"unmapped"}}"#,
                r#"{"type":"content_block_delta","delta":{"type":"input_json_delta","partial_json":"no index"}}"#,
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":7}}"#,
                r#"{"type":"content_block_start","content_block":{"type":"tool_use","id":"unmapped"}}"#,
                r#"{"type":"content_block_start","index":5,"content_block":{"type":"tool_use","id":"c"}}"#,
                r#"{"type":"content_block_delta","index":5,"delta":{"type":"input_json_delta","partial_json":"5"}}"#,
            ],
        );
        assert_eq!(
            t,
            [
                tool(0, None, Some("a"), ""),
                tool(1, Some("b_id"), None, ""),
                tool(1, None, None, "3"),
                tool(0, None, None, "1"),
                tool(2, Some("unmapped"), None, ""),
                tool(3, Some("c"), None, ""),
                tool(3, None, None, "5"),
            ]
        );
    }

    #[test]
    fn citations() {
        let t = run(
            D,
            &[
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"type":"web_search_result_location","url":"https://x","title":"X","cited_text":"..."}}}"#,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"url":"https://y","title":""}}}"#,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"url":"","title":"none"}}}"#,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"type":"char_location","document_index":0}}}"#,
            ],
        );
        assert_eq!(
            t,
            [
                citation("https://x", Some("X")),
                citation("https://y", None)
            ]
        );
    }

    #[test]
    fn event_name_fallback_and_type_precedence() {
        let (t, e) = run_events(
            D,
            &[
                (
                    "content_block_delta",
                    r#"{"index":0,"delta":{"type":"text_delta","text":"named"}}"#,
                ),
                (
                    "content_block_delta",
                    r#"{"type":"ping","index":0,"delta":{"type":"text_delta","text":"typed ping"}}"#,
                ),
                (
                    "content_block_delta",
                    r#"{"type":5,"index":0,"delta":{"type":"text_delta","text":"non-string type"}}"#,
                ),
                ("message_stop", "{}"),
                (
                    "content_block_delta",
                    r#"{"index":0,"delta":{"type":"text_delta","text":"after"}}"#,
                ),
            ],
            false,
        );
        assert!(e.is_none());
        assert_eq!(t, [text("named"), text("non-string type")]);
    }

    #[test]
    fn usage_rules() {
        // message_delta replaces only the counts it carries.
        let t = run(
            D,
            &[
                r#"{"type":"message_start","message":{"usage":{"input_tokens":10,"output_tokens":1,"cache_read_input_tokens":2}}}"#,
                r#"{"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":7,"input_tokens":"x"}}"#,
                r#"{"type":"message_delta","delta":{},"usage":{"cache_creation_input_tokens":5}}"#,
            ],
        );
        assert_eq!(t, [usage(10, 7, 2, 5, 0)]);
        // No usage anywhere: no Usage token, even at message_stop.
        let t = run(
            D,
            &[
                r#"{"type":"message_start","message":{"id":"m"}}"#,
                r#"{"type":"message_stop"}"#,
            ],
        );
        assert!(t.is_empty());
        // message_delta alone marks usage as seen.
        let t = run(
            D,
            &[
                r#"{"type":"message_delta","usage":{"output_tokens":3}}"#,
                r#"{"type":"message_stop"}"#,
            ],
        );
        assert_eq!(t, [usage(0, 3, 0, 0, 0)]);
        // A later message_start resets the counts.
        let t = run(
            D,
            &[
                r#"{"type":"message_delta","usage":{"output_tokens":3}}"#,
                r#"{"type":"message_start","message":{"usage":{"input_tokens":1}}}"#,
            ],
        );
        assert_eq!(t, [usage(1, 0, 0, 0, 0)]);
    }

    #[test]
    fn finish_once() {
        let t = run(
            D,
            &[
                r#"{"type":"message_delta","delta":{"stop_reason":""}}"#,
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#,
                r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"}}"#,
            ],
        );
        assert_eq!(t, [finish("end_turn")]);
    }

    #[test]
    fn errors() {
        let e = run_err(
            D,
            &[r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#],
        );
        assert_eq!(
            e,
            provider("Overloaded", Some("overloaded_error"), None, None)
        );
        let e = run_err(D, &[r#"{"type":"error","error":{"message":""}}"#]);
        assert_eq!(e, provider("unknown error", None, None, None));
        assert!(run(
            D,
            &[r#"{"type":"error"}"#, r#"{"type":"error","error":"str"}"#]
        )
        .is_empty());
        let (_, e) = run_events(
            D,
            &[(
                "error",
                r#"{"error":{"type":"api_error","message":"boom"}}"#,
            )],
            false,
        );
        assert_eq!(e, Some(provider("boom", Some("api_error"), None, None)));
    }
}

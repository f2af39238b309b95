//! OpenAI Chat Completions streams and every OpenAI-compatible provider.
//!
//! Per event: `error` (raises), `choices` (only the choice whose `index` is 0 or
//! absent — `n > 1` is unsupported; per choice, in this order: `delta.reasoning_content`
//! else `delta.reasoning`, `delta.content`, the choice's own `text` (legacy Completions
//! `text_completion` chunks), `delta.tool_calls`, `finish_reason`), `usage` (OpenAI,
//! DeepSeek and Moonshot cache fields), `x_groq.usage` (Groq, used only until a
//! top-level usage appears) and Perplexity's `search_results` / `citations`.
//! `data: [DONE]` (with any surrounding ASCII whitespace) ends the stream and releases
//! the `Usage`. With the `think_tags` option the text content goes through
//! [`ThinkTags`] (`<think>` blocks become reasoning).

use std::collections::HashSet;

use super::think::ThinkTags;
use super::{code_text, http_status, opt_obj, opt_str, opt_string, opt_u32, opt_u64, Common, Sink};
use crate::error::{Error, Result};
use crate::jscan::Value;
use crate::stream_token::Usage;

/// State of an `openai-chat` stream.
#[derive(Debug, Default, Clone)]
pub struct OpenAiChat {
    pub(crate) common: Common,
    /// The `think_tags` option's splitter for the text content.
    pub(crate) think: ThinkTags,
    /// A top-level `usage` object was seen (Groq's `x_groq.usage` is then ignored).
    top_level_usage: bool,
    /// Citation URLs already emitted (Perplexity repeats them on every chunk).
    cited: HashSet<String>,
}

impl OpenAiChat {
    pub(crate) fn on_done(&mut self, sink: &mut Sink<'_>) {
        self.common.done = true;
        self.finish(sink);
    }

    /// End of the stream (`[DONE]` or end of input): held-back text, then `Usage`.
    pub(crate) fn finish(&mut self, sink: &mut Sink<'_>) {
        self.think.flush(sink);
        self.common.emit_usage(sink);
    }

    pub(crate) fn on_object(&mut self, obj: Value<'_>, sink: &mut Sink<'_>) -> Result<()> {
        let [error, choices, usage, x_groq, search_results, citations] = obj.fields([
            "error",
            "choices",
            "usage",
            "x_groq",
            "search_results",
            "citations",
        ]);
        if let Some(error) = error {
            check_error(error)?;
        }
        // `if let` + `items()`, not `flat_map`: this runs for every event, and the
        // flattening adapter costs more than the one-item walk.
        if let Some(choices) = choices {
            for choice in choices.items() {
                if choice.is_object() {
                    self.on_choice(choice, sink);
                }
            }
        }
        if let Some(usage) = opt_obj(usage) {
            self.top_level_usage = true;
            self.common.usage = Some(map_usage(usage));
        } else if !self.top_level_usage {
            if let Some(groq_usage) = opt_obj(opt_obj(x_groq).and_then(|x| x.get("usage"))) {
                self.common.usage = Some(map_usage(groq_usage));
            }
        }
        if let Some(search_results) = search_results {
            for result in search_results.items() {
                let [url, title] = result.fields(["url", "title"]);
                if let Some(url) = opt_str(url) {
                    if !self.cited.contains(url.as_ref()) {
                        self.cited.insert(url.clone().into_owned());
                        sink.citation(url.into_owned(), opt_string(title));
                    }
                }
            }
        }
        if let Some(citations) = citations {
            for url in citations.items() {
                if let Some(url) = url.as_nonempty_str() {
                    if !self.cited.contains(url.as_ref()) {
                        self.cited.insert(url.clone().into_owned());
                        sink.citation(url.into_owned(), None);
                    }
                }
            }
        }
        Ok(())
    }

    fn on_choice(&mut self, choice: Value<'_>, sink: &mut Sink<'_>) {
        let [index, delta, text, finish_reason] =
            choice.fields(["index", "delta", "text", "finish_reason"]);
        // n > 1 is unsupported: only the first choice (index 0, or no valid index).
        if opt_u32(index).is_some_and(|i| i != 0) {
            return;
        }
        let [reasoning_content, reasoning, content, tool_calls] = match opt_obj(delta) {
            Some(delta) => {
                delta.fields(["reasoning_content", "reasoning", "content", "tool_calls"])
            }
            None => [None; 4],
        };
        if let Some(text) = opt_str(reasoning_content).or_else(|| opt_str(reasoning)) {
            sink.reasoning(text);
        }
        if let Some(text) = opt_str(content) {
            self.think.text(text, sink);
        }
        // Legacy Completions chunks carry their text in the choice itself.
        if let Some(text) = opt_str(text) {
            self.think.text(text, sink);
        }
        if let Some(tool_calls) = tool_calls {
            tool_call_deltas(tool_calls, sink);
        }
        if let Some(reason) = opt_str(finish_reason) {
            // The choice's content is over: held-back text goes before its Finish.
            self.think.flush(sink);
            self.common.finish(reason, sink);
        }
    }
}

/// One `ToolCallDelta` per usable item of `delta.tool_calls` (in order).
fn tool_call_deltas(tool_calls: Value<'_>, sink: &mut Sink<'_>) {
    for (position, item) in tool_calls.items().enumerate() {
        if !item.is_object() {
            continue;
        }
        let [index, id, function] = item.fields(["index", "id", "function"]);
        let [name, arguments] = match opt_obj(function) {
            Some(f) => f.fields(["name", "arguments"]),
            None => [None, None],
        };
        let id = opt_string(id);
        let name = opt_string(name);
        let arguments = arguments
            .and_then(|a| a.as_str())
            .map(|a| a.into_owned())
            .unwrap_or_default();
        if id.is_none() && name.is_none() && arguments.is_empty() {
            continue;
        }
        let index = opt_u32(index).unwrap_or(u32::try_from(position).unwrap_or(u32::MAX));
        sink.tool_call(index, id, name, arguments);
    }
}

/// Raise the provider error an `error` member describes (`null` and other
/// non-object, non-string values are ignored).
fn check_error(error: Value<'_>) -> Result<()> {
    if error.is_string() {
        return Err(Error::Provider {
            message: error.as_str().map(|m| m.into_owned()).unwrap_or_default(),
            error_type: None,
            code: None,
            status: None,
        });
    }
    if !error.is_object() {
        return Ok(());
    }
    let [message, error_type, code, status] = error.fields(["message", "type", "code", "status"]);
    Err(Error::Provider {
        message: message
            .and_then(|m| m.as_str())
            .map_or_else(|| "unknown error".to_owned(), |m| m.into_owned()),
        error_type: error_type.and_then(|t| t.as_str()).map(|t| t.into_owned()),
        code: code_text(code),
        status: http_status(code).or_else(|| http_status(status)),
    })
}

fn map_usage(usage: Value<'_>) -> Usage {
    let [prompt, completion, prompt_details, completion_details, cache_hit, cached, cache_creation] =
        usage.fields([
            "prompt_tokens",
            "completion_tokens",
            "prompt_tokens_details",
            "completion_tokens_details",
            "prompt_cache_hit_tokens",
            "cached_tokens",
            "cache_creation_input_tokens",
        ]);
    let [details_cached, details_cache_write] = match opt_obj(prompt_details) {
        Some(d) => d.fields(["cached_tokens", "cache_write_tokens"]),
        None => [None, None],
    };
    let reasoning = opt_obj(completion_details).and_then(|d| d.get("reasoning_tokens"));
    Usage {
        input_tokens: opt_u64(prompt).unwrap_or(0),
        output_tokens: opt_u64(completion).unwrap_or(0),
        cache_read_tokens: opt_u64(details_cached)
            .or_else(|| opt_u64(cache_hit))
            .or_else(|| opt_u64(cached))
            .unwrap_or(0),
        cache_write_tokens: opt_u64(details_cache_write)
            .or_else(|| opt_u64(cache_creation))
            .unwrap_or(0),
        reasoning_tokens: opt_u64(reasoning).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    const D: &str = "openai-chat";

    #[test]
    fn content_reasoning_tools_finish_in_fixed_order() {
        let tokens = run(
            D,
            &[
                r#"{"choices":[{"index":0,"finish_reason":"stop","delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}],"content":"hi","reasoning_content":"think"}}]}"#,
                "[DONE]",
            ],
        );
        assert_eq!(
            tokens,
            [
                reasoning("think"),
                text("hi"),
                tool(0, Some("call_1"), Some("f"), ""),
                finish("stop")
            ]
        );
    }

    #[test]
    fn legacy_completions_text() {
        let tokens = run(
            D,
            &[
                r#"{"object":"text_completion","choices":[{"text":"Once","index":0,"logprobs":null,"finish_reason":null}]}"#,
                r#"{"choices":[{"text":" upon","finish_reason":null}],"usage":null}"#,
                r#"{"choices":[{"text":"ignored","index":1},{"text":"","index":0},{"text":7}]}"#,
                // Placed where delta.content is: after reasoning, before tool calls.
                r#"{"choices":[{"text":"b","delta":{"content":"a","reasoning":"r","tool_calls":[{"id":"c"}]}}]}"#,
                r#"{"choices":[{"text":"","finish_reason":"length"}],"usage":{"prompt_tokens":4,"completion_tokens":5}}"#,
                "[DONE]",
            ],
        );
        assert_eq!(
            tokens,
            [
                text("Once"),
                text(" upon"),
                reasoning("r"),
                text("a"),
                text("b"),
                tool(0, Some("c"), None, ""),
                finish("length"),
                usage(4, 5, 0, 0, 0)
            ]
        );
    }

    #[test]
    fn reasoning_falls_back_to_reasoning_field() {
        let tokens = run(
            D,
            &[
                r#"{"choices":[{"delta":{"reasoning":"a"}}]}"#,
                r#"{"choices":[{"delta":{"reasoning_content":"","reasoning":"b"}}]}"#,
                r#"{"choices":[{"delta":{"reasoning_content":"c","reasoning":"x"}}]}"#,
                r#"{"choices":[{"delta":{"reasoning_content":5,"reasoning":"d"}}]}"#,
            ],
        );
        assert_eq!(
            tokens,
            [
                reasoning("a"),
                reasoning("b"),
                reasoning("c"),
                reasoning("d")
            ]
        );
    }

    #[test]
    fn only_the_first_choice_and_typed_fields() {
        let tokens = run(
            D,
            &[
                r#"{"choices":[{"index":1,"delta":{"content":"no"}},{"index":0,"delta":{"content":"yes"}}]}"#,
                r#"{"choices":[{"delta":{"content":"absent-index"}}]}"#,
                r#"{"choices":[{"index":"0","delta":{"content":"string-index-is-absent"}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":7}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":""}}]}"#,
                r#"{"choices":[{"index":0,"delta":null}]}"#,
                r#"{"choices":{"index":0}}"#,
                r#"{"choices":[1,"x",{"index":0,"delta":{"content":"z"}}]}"#,
            ],
        );
        assert_eq!(
            tokens,
            [
                text("yes"),
                text("absent-index"),
                text("string-index-is-absent"),
                text("z")
            ]
        );
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let tokens = run(
            D,
            &[
                r#"{"choices":[{"delta":{"content":"a","content":"b"}}],"choices":[{"delta":{"content":"c"}}]}"#,
            ],
        );
        assert_eq!(tokens, [text("c")]);
    }

    #[test]
    fn escapes_and_surrogates() {
        let tokens = run(
            D,
            &[r#"{"choices":[{"delta":{"content":"\u00e9\n\"\ud83d\ude00\ud800"}}]}"#],
        );
        assert_eq!(tokens, [text("é\n\"😀\u{FFFD}")]);
    }

    #[test]
    fn tool_call_fragments() {
        let tokens = run(
            D,
            &[
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_a","function":{"name":"get","arguments":""}},{"index":1,"id":"call_b","function":{"name":"put"}}]}}]}"#,
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\""}}]}}]}"#,
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":""}}]}}]}"#,
                r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"x"}},{"function":{"arguments":"y"}}]}}]}"#,
                r#"{"choices":[{"delta":{"tool_calls":[{"index":-1,"id":"","function":{"name":"","arguments":"z"}}]}}]}"#,
                r#"{"choices":[{"delta":{"tool_calls":[7,{"function":{"arguments":"w"}}]}}]}"#,
                r#"{"choices":[{"delta":{"tool_calls":[{"index":2,"function":{"arguments":5}}]}}]}"#,
                r#"{"choices":[{"delta":{"tool_calls":[{"index":4294967296,"function":"f","id":"only-id"}]}}]}"#,
            ],
        );
        assert_eq!(
            tokens,
            [
                tool(0, Some("call_a"), Some("get"), ""),
                tool(1, Some("call_b"), Some("put"), ""),
                tool(0, None, None, "{\"a\""),
                tool(0, None, None, "x"),
                tool(1, None, None, "y"),
                tool(0, None, None, "z"),
                tool(1, None, None, "w"),
                tool(0, Some("only-id"), None, ""),
            ]
        );
    }

    #[test]
    fn finish_once() {
        let tokens = run(
            D,
            &[
                r#"{"choices":[{"finish_reason":""}]}"#,
                r#"{"choices":[{"finish_reason":null}]}"#,
                r#"{"choices":[{"finish_reason":"tool_calls"}]}"#,
                r#"{"choices":[{"finish_reason":"stop"}]}"#,
            ],
        );
        assert_eq!(tokens, [finish("tool_calls")]);
    }

    #[test]
    fn usage_mapping_and_emission_at_done() {
        let tokens = run(
            D,
            &[
                r#"{"choices":[{"delta":{"content":"a"},"finish_reason":"stop"}],"usage":null}"#,
                r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":3,"cache_write_tokens":2},"completion_tokens_details":{"reasoning_tokens":4}}}"#,
                "  [DONE]\n",
                r#"{"choices":[{"delta":{"content":"ignored"}}]}"#,
                "not json after done is ignored",
            ],
        );
        assert_eq!(tokens, [text("a"), finish("stop"), usage(10, 5, 3, 2, 4)]);
    }

    #[test]
    fn usage_cache_fallbacks() {
        // DeepSeek.
        let t = run(
            D,
            &[
                r#"{"usage":{"prompt_tokens":9,"completion_tokens":1,"prompt_cache_hit_tokens":7,"cached_tokens":1}}"#,
                "[DONE]",
            ],
        );
        assert_eq!(t, [usage(9, 1, 7, 0, 0)]);
        // Moonshot.
        let t = run(
            D,
            &[
                r#"{"usage":{"prompt_tokens":9,"completion_tokens":1,"cached_tokens":6}}"#,
                "[DONE]",
            ],
        );
        assert_eq!(t, [usage(9, 1, 6, 0, 0)]);
        // prompt_tokens_details present but without cached_tokens → fall back.
        let t = run(
            D,
            &[
                r#"{"usage":{"prompt_tokens_details":{"audio_tokens":1},"prompt_cache_hit_tokens":2,"cache_creation_input_tokens":3}}"#,
                "[DONE]",
            ],
        );
        assert_eq!(t, [usage(0, 0, 2, 3, 0)]);
        // Invalid integers count as absent.
        let t = run(
            D,
            &[
                r#"{"usage":{"prompt_tokens":-1,"completion_tokens":1.5,"prompt_tokens_details":{"cached_tokens":"3"},"cached_tokens":1e2}}"#,
                "[DONE]",
            ],
        );
        assert_eq!(t, [usage(0, 0, 0, 0, 0)]);
        let t = run(
            D,
            &[
                r#"{"usage":{"prompt_tokens":-0,"completion_tokens":18446744073709551615}}"#,
                "[DONE]",
            ],
        );
        assert_eq!(t, [usage(0, u64::MAX, 0, 0, 0)]);
    }

    #[test]
    fn latest_usage_wins_and_finish_emits_without_done() {
        let t = run(
            D,
            &[
                r#"{"usage":{"prompt_tokens":1}}"#,
                r#"{"usage":{"prompt_tokens":2}}"#,
            ],
        );
        assert_eq!(t, [usage(2, 0, 0, 0, 0)]);
        assert!(run(D, &["[DONE]"]).is_empty());
    }

    #[test]
    fn groq_usage_only_without_top_level_usage() {
        let t = run(
            D,
            &[
                r#"{"x_groq":{"usage":{"prompt_tokens":5,"completion_tokens":2}}}"#,
                "[DONE]",
            ],
        );
        assert_eq!(t, [usage(5, 2, 0, 0, 0)]);
        let t = run(
            D,
            &[
                r#"{"usage":{"prompt_tokens":1}}"#,
                r#"{"x_groq":{"usage":{"prompt_tokens":5,"completion_tokens":2}}}"#,
                "[DONE]",
            ],
        );
        assert_eq!(t, [usage(1, 0, 0, 0, 0)]);
        let t = run(
            D,
            &[
                r#"{"x_groq":{"usage":{"prompt_tokens":5}},"usage":{"prompt_tokens":1}}"#,
                "[DONE]",
            ],
        );
        assert_eq!(t, [usage(1, 0, 0, 0, 0)]);
        let t = run(
            D,
            &[
                r#"{"x_groq":{"usage":{"prompt_tokens":5}}}"#,
                r#"{"usage":{"prompt_tokens":1}}"#,
                r#"{"x_groq":{"usage":{"prompt_tokens":7}}}"#,
                "[DONE]",
            ],
        );
        assert_eq!(t, [usage(1, 0, 0, 0, 0)]);
        assert!(run(
            D,
            &[
                r#"{"x_groq":{"usage":null}}"#,
                r#"{"x_groq":{"id":"x"}}"#,
                "[DONE]"
            ]
        )
        .is_empty());
    }

    #[test]
    fn perplexity_citations_dedup_after_choice_tokens() {
        let t = run(
            D,
            &[
                r#"{"citations":["https://b","https://c",""],"search_results":[{"url":"https://a","title":"A"},{"url":"https://b","title":""},{"title":"no url"},"x"],"choices":[{"delta":{"content":"hi"}}]}"#,
                r#"{"citations":["https://a","https://c","https://d",5],"search_results":[]}"#,
            ],
        );
        assert_eq!(
            t,
            [
                text("hi"),
                citation("https://a", Some("A")),
                citation("https://b", None),
                citation("https://c", None),
                citation("https://d", None),
            ]
        );
    }

    #[test]
    fn errors() {
        let e = run_err(
            D,
            &[r#"{"error":{"message":"Rate limited","type":"rate_limit_exceeded","code":429}}"#],
        );
        assert_eq!(
            e,
            provider(
                "Rate limited",
                Some("rate_limit_exceeded"),
                Some("429"),
                Some(429)
            )
        );
        let e = run_err(
            D,
            &[r#"{"error":{"message":"bad","code":"invalid_api_key","status":401}}"#],
        );
        assert_eq!(e, provider("bad", None, Some("invalid_api_key"), Some(401)));
        let e = run_err(D, &[r#"{"error":{"code":1001,"status":503,"message":5}}"#]);
        assert_eq!(e, provider("unknown error", None, Some("1001"), Some(503)));
        let e = run_err(D, &[r#"{"error":{"code":-0,"status":600}}"#]);
        assert_eq!(e, provider("unknown error", None, Some("0"), None));
        let e = run_err(D, &[r#"{"error":{"message":"","code":true,"type":1}}"#]);
        assert_eq!(e, provider("", None, None, None));
        let e = run_err(
            D,
            &[r#"{"error":"plain string","choices":[{"delta":{"content":"not used"}}]}"#],
        );
        assert_eq!(e, provider("plain string", None, None, None));
        // An error object ends the event: nothing else is used.
        let (tokens, e) = super::super::testing::run_events(
            D,
            &[(
                "message",
                r#"{"choices":[{"delta":{"content":"x"}}],"error":{"message":"m"}}"#,
            )],
            false,
        );
        assert!(tokens.is_empty());
        assert_eq!(e, Some(provider("m", None, None, None)));
        // null (and other non-object non-string values) are ignored.
        let t = run(
            D,
            &[
                r#"{"error":null,"choices":[{"delta":{"content":"ok"}}]}"#,
                r#"{"error":5}"#,
                r#"{"error":[]}"#,
            ],
        );
        assert_eq!(t, [text("ok")]);
    }
}

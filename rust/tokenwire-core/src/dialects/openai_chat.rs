//! OpenAI Chat Completions streams and every OpenAI-compatible provider.
//!
//! Per event: `error` (raises), `choices` (only the choice whose `index` is 0 or
//! absent — `n > 1` is unsupported; per choice, in this order: `delta.reasoning_content`
//! else `delta.reasoning`, `delta.content` (a string, or an array of content parts),
//! the choice's own `text` (legacy Completions `text_completion` chunks),
//! `delta.tool_calls`, `finish_reason`), `usage`, `x_groq.usage` (Groq, used only until
//! a top-level usage appears) and Perplexity's `search_results` / `citations`.
//! `data: [DONE]` (with any surrounding ASCII whitespace) ends the stream and releases
//! the `Usage`. With the `think_tags` option the text content goes through
//! [`ThinkTags`] (`<think>` blocks become reasoning).
//!
//! Content parts (Mistral's Magistral models stream `delta.content` as an array) are
//! read as Roo-Code's `mistral.ts` reads them, in array order: a `{"type": "text"}`
//! part's `text` is text content (so `think_tags` applies to it); a `{"type":
//! "thinking"}` part's `thinking` array holds `{"type": "text"}` parts whose `text` is
//! reasoning. Other parts are skipped.
//!
//! Usage: `prompt_tokens`, `completion_tokens`, `completion_tokens_details.reasoning_tokens`;
//! cache reads from the first non-zero of `prompt_tokens_details.cached_tokens` (OpenAI),
//! `cache_read_input_tokens` (Unbound, LiteLLM, xAI), `prompt_cache_hit_tokens`
//! (DeepSeek), `cached_tokens` (Moonshot); cache writes from the first non-zero of
//! `prompt_tokens_details.cache_write_tokens` (OpenRouter),
//! `prompt_tokens_details.caching_tokens` (Requesty), `cache_creation_input_tokens`
//! (Unbound, LiteLLM, xAI, Vercel AI Gateway). "First non-zero" follows Roo-Code's `||`
//! chains: a zero in one field does not hide a count in another. A `cost` (OpenRouter,
//! Vercel AI Gateway; a finite number ≥ 0, else absent) becomes [`Usage::cost`], plus
//! OpenRouter's `cost_details.upstream_inference_cost` (BYOK) when that is one too, as
//! Roo-Code sums them; without a `cost` the usage has none.

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
        } else if let Some(parts) = content.filter(Value::is_array) {
            self.content_parts(parts, sink);
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

    /// `delta.content` as an array of content parts (see the module docs).
    // Kept out of line: inlined, it grows `on_choice`, the per-event hot path of every
    // other provider.
    #[inline(never)]
    fn content_parts(&mut self, parts: Value<'_>, sink: &mut Sink<'_>) {
        for part in parts.items() {
            let [kind, text, thinking] = part.fields(["type", "text", "thinking"]);
            match kind.and_then(|k| k.as_str()).as_deref() {
                Some("text") => {
                    if let Some(text) = opt_str(text) {
                        self.think.text(text, sink);
                    }
                }
                Some("thinking") => {
                    for inner in thinking.iter().flat_map(Value::items) {
                        let [kind, text] = inner.fields(["type", "text"]);
                        if kind.and_then(|k| k.as_str()).as_deref() == Some("text") {
                            if let Some(text) = opt_str(text) {
                                sink.reasoning(text);
                            }
                        }
                    }
                }
                _ => {}
            }
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

/// The first of `counts` that is a valid count other than zero, else 0.
fn first_nonzero<const N: usize>(counts: [Option<Value<'_>>; N]) -> u64 {
    counts
        .into_iter()
        .filter_map(opt_u64)
        .find(|&n| n != 0)
        .unwrap_or(0)
}

/// A reported cost in USD: a JSON number whose value (as `float()` reads it) is finite
/// and not negative; `-0` is `0.0`.
fn opt_cost(v: Option<Value<'_>>) -> Option<f64> {
    let number: f64 = v.filter(Value::is_number)?.raw().parse().ok()?;
    // `+ 0.0` turns -0.0 into 0.0 (it keeps every other value).
    (number.is_finite() && number >= 0.0).then_some(number + 0.0)
}

fn map_usage(usage: Value<'_>) -> Usage {
    let [prompt, completion, prompt_details, completion_details, cache_read_input, cache_hit, cached, cache_creation, cost, cost_details] =
        usage.fields([
            "prompt_tokens",
            "completion_tokens",
            "prompt_tokens_details",
            "completion_tokens_details",
            "cache_read_input_tokens",
            "prompt_cache_hit_tokens",
            "cached_tokens",
            "cache_creation_input_tokens",
            "cost",
            "cost_details",
        ]);
    let [details_cached, details_cache_write, details_caching] = match opt_obj(prompt_details) {
        Some(d) => d.fields(["cached_tokens", "cache_write_tokens", "caching_tokens"]),
        None => [None; 3],
    };
    let reasoning = opt_obj(completion_details).and_then(|d| d.get("reasoning_tokens"));
    // OpenRouter's total is its own fee plus, with BYOK, what the upstream provider charged.
    let cost = opt_cost(cost).map(|cost| {
        let upstream = opt_obj(cost_details).and_then(|d| d.get("upstream_inference_cost"));
        cost + opt_cost(upstream).unwrap_or(0.0)
    });
    Usage {
        input_tokens: opt_u64(prompt).unwrap_or(0),
        output_tokens: opt_u64(completion).unwrap_or(0),
        cache_read_tokens: first_nonzero([details_cached, cache_read_input, cache_hit, cached]),
        cache_write_tokens: first_nonzero([details_cache_write, details_caching, cache_creation]),
        reasoning_tokens: opt_u64(reasoning).unwrap_or(0),
        cost: cost.filter(|c| c.is_finite()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::stream_token::{StreamToken, Usage};

    const D: &str = "openai-chat";

    /// The `Usage` of a stream whose only event carries `usage` (JSON text).
    fn usage_of(usage: &str) -> StreamToken {
        let event = format!(r#"{{"choices":[],"usage":{usage}}}"#);
        let tokens = run(D, &[&event, "[DONE]"]);
        assert_eq!(tokens.len(), 1, "{tokens:?}");
        tokens.into_iter().next().unwrap()
    }

    fn cost_of(usage: &str) -> Option<f64> {
        match usage_of(usage) {
            StreamToken::Usage(u) => u.cost,
            other => panic!("not a usage: {other:?}"),
        }
    }

    #[test]
    fn mistral_content_parts() {
        let tokens = run(
            D,
            &[
                r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":[{"type":"thinking","thinking":[{"type":"text","text":"The user"}]}]},"finish_reason":null}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":" asks."},{"type":"reference","reference_ids":[1]},{"type":"text","text":""},{"type":"text","text":" Easy."}]},{"type":"text","text":"2 + 2"},{"type":"image_url","image_url":"x"},{"type":"text","text":" = 4"}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":46}}"#,
                "[DONE]",
            ],
        );
        assert_eq!(
            tokens,
            [
                reasoning("The user"),
                reasoning(" asks."),
                reasoning(" Easy."),
                text("2 + 2"),
                text(" = 4"),
                finish("stop"),
                usage(10, 46, 0, 0, 0),
            ]
        );
    }

    #[test]
    fn content_parts_in_array_order_and_typing() {
        let tokens = run(
            D,
            &[
                // Text and thinking interleave in array order, after reasoning_content.
                r#"{"choices":[{"delta":{"reasoning_content":"r0","content":[{"type":"text","text":"a"},{"type":"thinking","thinking":[{"type":"text","text":"r1"}]},{"type":"text","text":"b"}],"tool_calls":[{"index":0,"id":"c"}]}}]}"#,
                // Malformed parts are skipped one by one.
                r#"{"choices":[{"delta":{"content":[1,"text",null,[],{},{"text":"no type"},{"type":"TEXT","text":"x"},{"type":"text","text":5},{"type":"text"},{"type":"thinking","thinking":"a string"},{"type":"thinking","thinking":{"type":"text","text":"obj"}},{"type":"thinking","thinking":[{"text":"untyped"},{"type":"text","text":["x"]},"s"]},{"type":"text","text":"kept"}]}}]}"#,
                // Escaped type names are decoded first; an empty array yields nothing.
                r#"{"choices":[{"delta":{"content":[{"type":"text","text":"esc"}]}},{"index":1,"delta":{"content":[{"type":"text","text":"choice 1"}]}}]}"#,
                r#"{"choices":[{"delta":{"content":[]}}]}"#,
            ],
        );
        assert_eq!(
            tokens,
            [
                reasoning("r0"),
                text("a"),
                reasoning("r1"),
                text("b"),
                tool(0, Some("c"), None, ""),
                text("kept"),
                text("esc"),
            ]
        );
    }

    #[test]
    fn usage_cache_fields_of_compatible_providers() {
        // Requesty: prompt_tokens_details.caching_tokens are cache writes.
        assert_eq!(
            usage_of(
                r#"{"prompt_tokens":100,"completion_tokens":5,"prompt_tokens_details":{"caching_tokens":40,"cached_tokens":30}}"#
            ),
            usage(100, 5, 30, 40, 0)
        );
        // Unbound / LiteLLM / xAI: Anthropic-style names inside `usage`.
        assert_eq!(
            usage_of(
                r#"{"prompt_tokens":100,"completion_tokens":5,"cache_read_input_tokens":20,"cache_creation_input_tokens":7}"#
            ),
            usage(100, 5, 20, 7, 0)
        );
        // Both styles: the OpenAI-style field wins unless it is zero.
        assert_eq!(
            usage_of(
                r#"{"prompt_tokens_details":{"cached_tokens":11,"cache_write_tokens":3,"caching_tokens":4},"cache_read_input_tokens":20,"cache_creation_input_tokens":7}"#
            ),
            usage(0, 0, 11, 3, 0)
        );
        assert_eq!(
            usage_of(
                r#"{"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":0,"caching_tokens":0},"cache_read_input_tokens":20,"cache_creation_input_tokens":7}"#
            ),
            usage(0, 0, 20, 7, 0)
        );
        assert_eq!(
            usage_of(
                r#"{"prompt_tokens_details":{"cached_tokens":0},"prompt_cache_hit_tokens":0,"cached_tokens":6}"#
            ),
            usage(0, 0, 6, 0, 0)
        );
        assert_eq!(
            usage_of(
                r#"{"prompt_tokens_details":{"caching_tokens":0},"cache_creation_input_tokens":9}"#
            ),
            usage(0, 0, 0, 9, 0)
        );
        // Invalid counts are skipped like zeros.
        assert_eq!(
            usage_of(
                r#"{"prompt_tokens_details":{"cached_tokens":-1,"caching_tokens":"4"},"cache_read_input_tokens":2.0,"prompt_cache_hit_tokens":5,"cache_creation_input_tokens":8}"#
            ),
            usage(0, 0, 5, 8, 0)
        );
    }

    #[test]
    fn reported_cost() {
        let with_cost = |cost: Option<f64>| {
            StreamToken::Usage(Usage {
                input_tokens: 10,
                output_tokens: 2,
                cost,
                ..Usage::default()
            })
        };
        // OpenRouter and Vercel AI Gateway.
        assert_eq!(
            usage_of(r#"{"prompt_tokens":10,"completion_tokens":2,"cost":0.00042}"#),
            with_cost(Some(0.00042))
        );
        assert_eq!(
            usage_of(r#"{"prompt_tokens":10,"completion_tokens":2}"#),
            with_cost(None)
        );
        // A reported zero is 0.0, not absent; integers and exponents are numbers too.
        assert_eq!(cost_of(r#"{"cost":0}"#), Some(0.0));
        assert_eq!(cost_of(r#"{"cost":2}"#), Some(2.0));
        assert_eq!(cost_of(r#"{"cost":1.5E-3}"#), Some(0.0015));
        // -0 is 0.0 (positive zero), whatever its spelling.
        for raw in ["-0", "-0.0", "-0e5"] {
            let cost = cost_of(&format!(r#"{{"cost":{raw}}}"#)).unwrap();
            assert!(cost == 0.0 && cost.is_sign_positive(), "{raw}");
        }
        // Not numbers, negative, or beyond a float's range: absent.
        for raw in [
            "null", r#""0.1""#, "true", "[]", "{}", "-0.01", "-1", "1e400", "-1e400",
        ] {
            assert_eq!(cost_of(&format!(r#"{{"cost":{raw}}}"#)), None, "{raw}");
        }
        let huge = format!(r#"{{"cost":1{}}}"#, "0".repeat(400));
        assert_eq!(cost_of(&huge), None);
        // Decimal text is read exactly as Python's float() reads it (correctly rounded).
        assert_eq!(
            cost_of(r#"{"cost":0.1000000000000000055511151231257827}"#),
            Some(0.1)
        );
        // OpenRouter BYOK: the upstream inference cost is added.
        assert_eq!(
            cost_of(r#"{"cost":0.001,"cost_details":{"upstream_inference_cost":0.02}}"#),
            Some(0.001 + 0.02)
        );
        assert_eq!(
            cost_of(r#"{"cost":0,"cost_details":{"upstream_inference_cost":0.5}}"#),
            Some(0.5)
        );
        // An invalid upstream cost counts as none; without `cost` there is no cost.
        for details in [
            r#"null"#,
            r#"[]"#,
            r#"{"upstream_inference_cost":null}"#,
            r#"{"upstream_inference_cost":-1}"#,
            r#"{"upstream_inference_cost":"0.5"}"#,
        ] {
            assert_eq!(
                cost_of(&format!(r#"{{"cost":0.25,"cost_details":{details}}}"#)),
                Some(0.25),
                "{details}"
            );
        }
        assert_eq!(
            cost_of(r#"{"cost_details":{"upstream_inference_cost":0.5}}"#),
            None
        );
        assert_eq!(
            cost_of(r#"{"cost":null,"cost_details":{"upstream_inference_cost":0.5}}"#),
            None
        );
        // A sum past the float range is no cost.
        assert_eq!(
            cost_of(r#"{"cost":1e308,"cost_details":{"upstream_inference_cost":1e308}}"#),
            None
        );
        // The latest usage object wins whole: a later one without a cost has none.
        let t = run(
            D,
            &[
                r#"{"usage":{"prompt_tokens":1,"cost":0.5}}"#,
                r#"{"usage":{"prompt_tokens":2}}"#,
                "[DONE]",
            ],
        );
        assert_eq!(t, [usage(2, 0, 0, 0, 0)]);
    }

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

"""``tokenwire.StreamProcessor``: every rule of the dialect specification, per dialect.

Small hand-written byte streams; the public API, so the native run covers the Rust
processor and the ``TOKENWIRE_PURE_PYTHON=1`` run covers the pure twin.
"""

from __future__ import annotations

import json
import math
from typing import Any, Optional, Union

import pytest

import tokenwire
from tokenwire.errors import (
    OverloadedError,
    ProviderError,
    RateLimitError,
    ServerError,
    StreamDecodeError,
)

Text = tokenwire.TextDelta
Reasoning = tokenwire.ReasoningDelta
Tool = tokenwire.ToolCallDelta
Usage = tokenwire.Usage
Cite = tokenwire.Citation
Finish = tokenwire.Finish

Payload = Union[str, dict[str, Any], list[Any]]


def data_line(payload: Payload) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)


def sse(*events: Union[Payload, tuple[str, Payload]], eol: str = "\n") -> bytes:
    """SSE bytes: each event is a payload (dict/list → JSON, str → raw data) or ``(event name, payload)``."""
    out = []
    for event in events:
        if isinstance(event, tuple):
            name, payload = event
            out.append(f"event: {name}{eol}data: {data_line(payload)}{eol}{eol}")
        else:
            out.append(f"data: {data_line(event)}{eol}{eol}")
    return "".join(out).encode()


def typed(*payloads: dict[str, Any]) -> bytes:
    """SSE events named after their ``type`` (Anthropic and Responses framing)."""
    return sse(*((p["type"], p) for p in payloads))


def ndjson(*payloads: Payload) -> bytes:
    return "".join(data_line(p) + "\n" for p in payloads).encode()


def decode(dialect: str, data: bytes, *, coalesce: bool = False, **kwargs: Any) -> list[Any]:
    processor = tokenwire.StreamProcessor(dialect, coalesce=coalesce, **kwargs)
    return [*processor.feed(data), *processor.finish()]


def chat(*deltas: dict[str, Any], finish: Optional[str] = None, **top: Any) -> dict[str, Any]:
    """One chat.completion.chunk with choice 0 carrying ``deltas[0]``."""
    choice: dict[str, Any] = {"index": 0, "delta": deltas[0] if deltas else {}, "finish_reason": finish}
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [choice], **top}


def gemini(*parts: dict[str, Any], finish: Optional[str] = None, **top: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], **top}


def joined_args(tokens: list[Any], index: int) -> str:
    return "".join(t.arguments for t in tokens if isinstance(t, Tool) and t.index == index)


# ---------------------------------------------------------------------------
# Construction, properties, lifecycle
# ---------------------------------------------------------------------------


def test_dialects_constant() -> None:
    assert tokenwire.DIALECTS == ("openai-chat", "openai-responses", "anthropic", "gemini", "ndjson", "bedrock")


@pytest.mark.parametrize("dialect", ["openai", "bedrock-runtime", "", "OPENAI-CHAT"])
def test_unknown_dialect_is_a_value_error(dialect: str) -> None:
    with pytest.raises(ValueError) as info:
        tokenwire.StreamProcessor(dialect)
    assert str(info.value) == (
        f"unknown dialect {dialect!r}; expected one of: openai-chat, openai-responses, anthropic, gemini, ndjson, "
        "bedrock"
    )


@pytest.mark.parametrize("dialect", ["openai-chat", "openai-responses", "anthropic", "gemini", "ndjson"])
def test_properties_and_lifecycle(dialect: str) -> None:
    processor = tokenwire.StreamProcessor(dialect)
    assert processor.dialect == dialect
    assert processor.done is False
    assert processor.feed(b"") == []
    assert processor.finish() == []
    assert processor.finish() == []  # a second finish() returns []
    with pytest.raises(ValueError):
        processor.feed(b"")
    with pytest.raises(ValueError):
        processor.feed(b"data: {}\n\n")


def test_keyword_only_options() -> None:
    with pytest.raises(TypeError):
        tokenwire.StreamProcessor("openai-chat", False)  # type: ignore[misc]


@pytest.mark.parametrize("limit", [0, -1])
def test_max_event_bytes_must_be_positive(limit: int) -> None:
    for dialect in ("openai-chat", "ndjson"):
        with pytest.raises(ValueError):
            tokenwire.StreamProcessor(dialect, max_event_bytes=limit)


def test_feed_accepts_bytes_like_chunks() -> None:
    data = sse(chat({"content": "hi"}))
    for chunk in (bytearray(data), memoryview(data)):
        processor = tokenwire.StreamProcessor("openai-chat")
        assert processor.feed(chunk) == [Text("hi")]  # type: ignore[arg-type]


def test_invalid_utf8_is_replaced() -> None:
    assert decode("openai-chat", b'data: {"choices":[{"delta":{"content":"a\xffb"}}]}\n\n') == [Text("a\ufffdb")]
    assert decode("ndjson", b'{"message":{"content":"a\xe2\x82b"}}\n') == [Text("a\ufffdb")]
    # A code point split across chunks decodes whole.
    data = ndjson({"message": {"content": "é"}})
    processor = tokenwire.StreamProcessor("ndjson")
    cut = data.index(b"\xc3") + 1
    assert processor.feed(data[:cut]) + processor.feed(data[cut:]) == [Text("é")]


# ---------------------------------------------------------------------------
# Rule 7: coalescing
# ---------------------------------------------------------------------------

MIXED = sse(
    chat({"content": "a"}),
    chat({"content": "b"}),
    chat({"reasoning_content": "r1"}),
    chat({"reasoning_content": "r2"}),
    chat({"content": "c"}),
    chat({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}]}),
    chat({"content": "d"}),
    chat({"content": "e"}),
)


def test_coalesce_is_the_default_and_merges_runs_within_one_call() -> None:
    processor = tokenwire.StreamProcessor("openai-chat")
    assert processor.feed(MIXED) == [
        Text("ab"),
        Reasoning("r1r2"),
        Text("c"),
        Tool(0, "call_1", "f", ""),
        Text("de"),
    ]


def test_coalesce_never_merges_across_calls() -> None:
    processor = tokenwire.StreamProcessor("openai-chat", coalesce=True)
    first = sse(chat({"content": "a"}))
    assert processor.feed(first) == [Text("a")]
    assert processor.feed(sse(chat({"content": "b"}), chat({"content": "c"}))) == [Text("bc")]


def test_coalesce_off_gives_one_token_per_field() -> None:
    assert decode("openai-chat", MIXED) == [
        Text("a"),
        Text("b"),
        Reasoning("r1"),
        Reasoning("r2"),
        Text("c"),
        Tool(0, "call_1", "f", ""),
        Text("d"),
        Text("e"),
    ]


def test_coalesce_merges_anthropic_block_separator() -> None:
    data = typed(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "one"}},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "two"}},
    )
    assert decode("anthropic", data, coalesce=True) == [Text("one\ntwo")]


# ---------------------------------------------------------------------------
# Rule 2: JSON
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "{oops",
        '{"a": 1,}',
        "{'a': 1}",
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": -Infinity}',
        "NaN",
        '{"a": 1} {"b": 2}',
        '{"a": "tab\there"}',
        '{"a": 01}',
        '{"a": .5}',
        '{"a": "\\x41"}',
        "",
    ],
)
def test_invalid_json_is_a_stream_decode_error(bad: str) -> None:
    data = f"data: {bad}\n\n".encode()
    processor = tokenwire.StreamProcessor("openai-chat")
    with pytest.raises(StreamDecodeError) as info:
        processor.feed(data)
    assert info.value.message.startswith("invalid JSON in openai-chat event")
    assert info.value.offset == len(data)


@pytest.mark.parametrize("dialect", ["openai-responses", "anthropic", "gemini"])
def test_invalid_json_message_names_the_dialect(dialect: str) -> None:
    with pytest.raises(StreamDecodeError) as info:
        decode(dialect, b"data: {\n\n")
    assert info.value.message.startswith(f"invalid JSON in {dialect} event")


def test_invalid_json_ndjson() -> None:
    data = b'{"message":{"content":"ok"}}\n{nope}\n'
    processor = tokenwire.StreamProcessor("ndjson", coalesce=False)
    assert processor.feed(data) == [Text("ok")]
    with pytest.raises(StreamDecodeError) as info:
        processor.finish()
    assert info.value.message.startswith("invalid JSON in ndjson event")
    assert info.value.offset == len(data)


def test_invalid_json_offset_counts_the_whole_current_chunk() -> None:
    good = sse(chat({"content": "a"}))
    bad = b"data: {oops\n\n"
    tail = b"data: [DONE]\n\n"
    processor = tokenwire.StreamProcessor("openai-chat", coalesce=False)
    assert processor.feed(good) == [Text("a")]
    with pytest.raises(StreamDecodeError) as info:
        processor.feed(bad + tail)
    assert info.value.offset == len(good) + len(bad) + len(tail)


def test_invalid_json_is_deferred_after_tokens_of_the_same_chunk() -> None:
    good = sse(chat({"content": "a"}))
    bad = b"data: {oops\n\n"
    processor = tokenwire.StreamProcessor("openai-chat", coalesce=False)
    assert processor.feed(good + bad) == [Text("a")]
    with pytest.raises(StreamDecodeError) as info:
        processor.feed(sse(chat({"content": "never"})))
    assert info.value.offset == len(good) + len(bad)
    with pytest.raises(StreamDecodeError):
        processor.finish()


def test_lone_surrogate_escapes_become_replacement_characters() -> None:
    data = sse(
        '{"choices":[{"delta":{"content":"a\\ud800b"}}]}',
        '{"choices":[{"delta":{"content":"\\udc00"}}]}',
        '{"choices":[{"delta":{"content":"\\ud83d\\ude00 \\ud83d"}}]}',
        '{"choices":[{"delta":{"content":"\\ude00\\ud83d"}}]}',
    )
    assert decode("openai-chat", data) == [
        Text("a\ufffdb"),
        Text("\ufffd"),
        Text("\U0001f600 \ufffd"),
        Text("\ufffd\ufffd"),
    ]


def test_lone_surrogates_in_compact_json_arguments() -> None:
    raw = '{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"k\\udc01":"v\\ud800"}}}]}}]}'
    tokens = decode("gemini", sse(raw))
    assert tokens == [Tool(0, None, "f", '{"k\ufffd":"v\ufffd"}')]


def test_duplicate_keys_last_wins() -> None:
    data = sse('{"choices":[{"delta":{"content":"first","content":"second"}}]}')
    assert decode("openai-chat", data) == [Text("second")]


@pytest.mark.parametrize("value", ["[1, 2]", '"text"', "42", "null", "true", "[]"])
def test_non_object_values_are_ignored(value: str) -> None:
    assert decode("openai-chat", sse(value, chat({"content": "x"}))) == [Text("x")]
    assert decode("gemini", sse(value, gemini({"text": "x"}))) == [Text("x")]
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}
    assert decode("anthropic", sse(("content_block_delta", value), delta)) == [Text("x")]
    assert decode("openai-responses", sse(("response.output_text.delta", value))) == []
    assert decode("ndjson", f"{value}\n".encode() + ndjson({"message": {"content": "x"}})) == [Text("x")]


def test_whitespace_around_the_value_is_allowed() -> None:
    data = b'data: \t {"choices":[{"delta":{"content":"x"}}]} \t\r\n\r\n'
    assert decode("openai-chat", data) == [Text("x")]
    assert decode("ndjson", b' \t{"message":{"content":"y"}}\t \n') == [Text("y")]


def test_multi_line_sse_data_is_one_json_value() -> None:
    data = b'data: {"choices":[{"delta":\ndata: {"content":"joined"}}]}\n\n'
    assert decode("openai-chat", data) == [Text("joined")]


# ---------------------------------------------------------------------------
# Rule 3: field typing, rule 4: empty strings
# ---------------------------------------------------------------------------


def test_text_fields_must_be_strings() -> None:
    data = sse(
        chat({"content": 5}),
        chat({"content": ["a"]}),
        chat({"content": {"text": "a"}}),
        chat({"content": None, "reasoning_content": True}),
        chat({"content": ""}),
        chat({"reasoning_content": ""}),
    )
    assert decode("openai-chat", data) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7", 7),
        ("0", 0),
        ("18446744073709551615", 2**64 - 1),
        ("18446744073709551616", 0),
        ("-1", 0),
        ("7.0", 0),
        ("7e0", 0),
        ('"7"', 0),
        ("true", 0),
        ("null", 0),
        ("123456789012345678901234567890", 0),
    ],
)
def test_usage_counts_must_be_unsigned_64_bit_integers(raw: str, expected: int) -> None:
    data = sse(f'{{"choices":[],"usage":{{"prompt_tokens":{raw},"completion_tokens":3}}}}', "[DONE]")
    assert decode("openai-chat", data) == [Usage(expected, 3, 0, 0, 0)]


def test_integer_digit_limit() -> None:
    # json.loads refuses integers of more than 4300 digits (CPython's int() conversion
    # limit); up to that they are valid JSON, here an out-of-range count.
    def usage_with(number: str) -> bytes:
        return sse(f'{{"choices":[],"usage":{{"prompt_tokens":{number},"completion_tokens":1}}}}', "[DONE]")

    assert decode("openai-chat", usage_with("9" * 4300)) == [Usage(0, 1, 0, 0, 0)]
    assert decode("openai-chat", usage_with("-" + "9" * 4300)) == [Usage(0, 1, 0, 0, 0)]
    assert decode("openai-chat", usage_with("1." + "9" * 5000)) == [Usage(0, 1, 0, 0, 0)]
    with pytest.raises(StreamDecodeError):
        decode("openai-chat", usage_with("9" * 4301))


def test_nesting_limit() -> None:
    def nested(depth: int) -> bytes:
        return sse('{"choices":[],"x":' + "[" * (depth - 1) + "]" * (depth - 1) + "}", "[DONE]")

    assert decode("openai-chat", nested(512)) == []
    with pytest.raises(StreamDecodeError):
        decode("openai-chat", nested(513))
    # Brackets inside strings do not nest.
    assert decode("openai-chat", sse(chat({"content": "[" * 600}), "[DONE]")) == [Text("[" * 600)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("3", 3), ("4294967295", 4294967295), ("4294967296", 1), ("-1", 1), ('"3"', 1), ("3.0", 1), ("null", 1)],
)
def test_index_fields_must_be_unsigned_32_bit_integers(raw: str, expected: int) -> None:
    # An invalid index is absent: an OpenAI tool call then uses its position (1 here).
    data = sse(
        '{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f"}},'
        f'{{"index":{raw},"id":"b","function":{{"name":"g"}}}}]}}}}]}}'
    )
    assert decode("openai-chat", data) == [Tool(0, "a", "f", ""), Tool(expected, "b", "g", "")]


def test_booleans_are_only_true_and_false() -> None:
    data = sse(
        gemini({"text": "a", "thought": "true"}),
        gemini({"text": "b", "thought": 1}),
        gemini({"text": "c", "thought": True}),
    )
    assert decode("gemini", data) == [Text("a"), Text("b"), Reasoning("c")]


# ---------------------------------------------------------------------------
# Rule 5: one Finish, one Usage
# ---------------------------------------------------------------------------


def test_only_the_first_finish_reason_counts() -> None:
    data = sse(chat({}, finish="length"), chat({}, finish="stop"), "[DONE]")
    assert decode("openai-chat", data) == [Finish("length")]


def test_usage_carries_the_latest_values_once() -> None:
    data = sse(
        {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}},
        "[DONE]",
    )
    processor = tokenwire.StreamProcessor("openai-chat")
    assert processor.feed(data) == [Usage(5, 9, 0, 0, 0)]
    assert processor.finish() == []


def test_no_usage_token_when_the_stream_reported_none() -> None:
    assert decode("openai-chat", sse(chat({"content": "x"}, finish="stop"), "[DONE]")) == [
        Text("x"),
        Finish("stop"),
    ]
    assert decode("openai-chat", sse(chat({"content": "x"}, usage=None), "[DONE]")) == [Text("x")]


def test_usage_without_a_terminal_event_comes_from_finish() -> None:
    processor = tokenwire.StreamProcessor("openai-chat")
    assert processor.feed(sse({"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 3}})) == []
    assert processor.done is False
    assert processor.finish() == [Usage(2, 3, 0, 0, 0)]


# ---------------------------------------------------------------------------
# Rule 6: provider errors and deferral
# ---------------------------------------------------------------------------


def test_openai_error_in_a_chunk_after_tokens_is_raised_by_the_next_call() -> None:
    error = {"error": {"message": "slow down", "type": None, "code": "rate_limit_exceeded"}}
    processor = tokenwire.StreamProcessor("openai-chat", coalesce=False)
    assert processor.feed(sse(chat({"content": "a"}), chat({"content": "b"}), error, chat({"content": "c"}))) == [
        Text("a"),
        Text("b"),
    ]
    with pytest.raises(RateLimitError) as info:
        processor.feed(b"")
    assert info.value.message == "slow down"
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.error_type is None
    assert info.value.status is None
    # Sticky: every later call raises it again.
    with pytest.raises(RateLimitError):
        processor.feed(sse(chat({"content": "d"})))
    with pytest.raises(RateLimitError):
        processor.finish()


def test_error_with_nothing_pending_raises_at_once() -> None:
    processor = tokenwire.StreamProcessor("openai-chat")
    assert processor.feed(sse(chat({"content": "a"}))) == [Text("a")]
    with pytest.raises(ServerError) as info:
        processor.feed(sse({"error": {"message": "boom", "type": "server_error"}}))
    assert info.value.error_type == "server_error"


def test_anthropic_overloaded_error_is_deferred() -> None:
    data = typed(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    processor = tokenwire.StreamProcessor("anthropic")
    assert processor.feed(data) == [Text("Hi")]
    with pytest.raises(OverloadedError) as info:
        processor.finish()
    assert info.value.message == "Overloaded"
    assert info.value.error_type == "overloaded_error"
    assert info.value.code is None
    assert info.value.status is None
    with pytest.raises(OverloadedError):
        processor.finish()


def test_gemini_resource_exhausted_is_a_rate_limit_error_with_status() -> None:
    error = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
        }
    }
    processor = tokenwire.StreamProcessor("gemini")
    assert processor.feed(sse(gemini({"text": "partial"}), error, eol="\r\n")) == [Text("partial")]
    with pytest.raises(RateLimitError) as info:
        processor.feed(b"")
    assert info.value.status == 429
    assert info.value.code == "429"
    assert info.value.error_type == "RESOURCE_EXHAUSTED"
    assert info.value.message == "Resource has been exhausted (e.g. check quota)."


def test_ndjson_error_string_is_a_provider_error() -> None:
    processor = tokenwire.StreamProcessor("ndjson")
    assert processor.feed(ndjson({"message": {"content": "x"}}, {"error": "model not found"})) == [Text("x")]
    with pytest.raises(ProviderError) as info:
        processor.finish()
    assert type(info.value) is ProviderError
    assert info.value.message == "model not found"
    assert (info.value.error_type, info.value.code, info.value.status) == (None, None, None)


def test_error_class_is_chosen_by_stream_error() -> None:
    data = sse({"error": {"message": "m", "type": "weird", "code": 503}})
    with pytest.raises(ServerError) as info:
        decode("openai-chat", data)
    assert (info.value.code, info.value.status, info.value.error_type) == ("503", 503, "weird")


# ---------------------------------------------------------------------------
# Rule 8: after the terminal marker; rule 9: finish()
# ---------------------------------------------------------------------------


def test_events_after_done_are_ignored_even_invalid_ones() -> None:
    processor = tokenwire.StreamProcessor("openai-chat")
    data = sse(chat({"content": "a"}), "[DONE]", chat({"content": "late"}), "{broken", {"error": "late"})
    assert processor.feed(data) == [Text("a")]
    assert processor.done is True
    assert processor.feed(sse(chat({"content": "later"}), "{broken")) == []
    assert processor.finish() == []


def test_done_markers_per_dialect() -> None:
    cases = {
        "openai-chat": sse("[DONE]"),
        "anthropic": typed({"type": "message_stop"}),
        "openai-responses": typed({"type": "response.completed", "response": {"status": "completed"}}),
        "ndjson": ndjson({"done": True}),
    }
    for dialect, data in cases.items():
        processor = tokenwire.StreamProcessor(dialect)
        processor.feed(data)
        assert processor.done is True, dialect


@pytest.mark.parametrize(
    ("dialect", "data"),
    [
        ("openai-chat", b'data: {"choices":[]}'),  # partial line
        ("openai-chat", b'data: {"choices":[]}\n'),  # data not dispatched by a blank line
        ("openai-chat", b'data: {"choices":[]}\r'),  # CR ends the line, no blank line yet
        ("openai-chat", b"data:\n"),  # an empty data field still fills the data buffer
        ("openai-chat", b": keep-alive"),  # any partial line counts
        ("anthropic", b"event: ping\ndata: {}\n"),
        ("gemini", b'data: {"candidates":[]}\r\n'),
        ("openai-chat", sse("[DONE]") + b"data: {"),  # framing still runs after done
        ("ndjson", b'{"done":true}'),  # no line end
        ("ndjson", b'{"message":{"content":"x"}}\n  {'),
    ],
)
def test_stream_ending_inside_an_event(dialect: str, data: bytes) -> None:
    processor = tokenwire.StreamProcessor(dialect)
    processor.feed(data)
    with pytest.raises(StreamDecodeError) as info:
        processor.finish()
    assert info.value.message == "stream ended inside an event"
    assert info.value.offset == len(data)
    with pytest.raises(StreamDecodeError):
        processor.finish()
    with pytest.raises(StreamDecodeError):
        processor.feed(b"\n\n")


@pytest.mark.parametrize(
    ("dialect", "data"),
    [
        ("openai-chat", b"event: message\n"),  # fields without data
        ("openai-chat", b"id: 7\nretry: 100\n"),
        ("openai-chat", b"data: [DONE]\n\r"),  # a pending CR (blank line already seen)
        ("openai-chat", b": comment\n"),
        ("gemini", b'data: {"candidates":[]}\r\n\r\n'),
        ("ndjson", b'{"done":true}\n \t '),  # whitespace-only partial line
        ("ndjson", b'{"done":true}\r\n\r'),
    ],
)
def test_stream_ending_between_events(dialect: str, data: bytes) -> None:
    processor = tokenwire.StreamProcessor(dialect)
    processor.feed(data)
    processor.finish()


def test_finish_in_two_pieces_of_a_split_stream() -> None:
    data = sse(chat({"content": "hello"}), "[DONE]")
    processor = tokenwire.StreamProcessor("openai-chat")
    tokens = processor.feed(data[:17]) + processor.feed(data[17:]) + processor.finish()
    assert tokens == [Text("hello")]


# ---------------------------------------------------------------------------
# Rule 1: framing limits
# ---------------------------------------------------------------------------


def test_sse_event_over_max_event_bytes() -> None:
    first = b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n'
    assert len(first) < 80
    big = b"data: " + b"x" * 200 + b"\n\n"
    processor = tokenwire.StreamProcessor("openai-chat", max_event_bytes=80, coalesce=False)
    # Tokens decoded before the oversized event in the same chunk come first.
    assert processor.feed(first + big) == [Text("a")]
    with pytest.raises(StreamDecodeError) as info:
        processor.feed(b"")
    assert info.value.offset == len(first) + 80
    with pytest.raises(StreamDecodeError):
        processor.finish()


def test_sse_event_over_max_event_bytes_across_chunks() -> None:
    processor = tokenwire.StreamProcessor("openai-chat", max_event_bytes=10)
    assert processor.feed(b"data: 1234") == []
    with pytest.raises(StreamDecodeError) as info:
        processor.feed(b"5")
    assert info.value.offset == 10


def test_ndjson_line_limits() -> None:
    line = b'{"message":{"content":"' + b"y" * 20 + b'"}}'
    exact = tokenwire.StreamProcessor("ndjson", max_event_bytes=len(line))
    assert exact.feed(line + b"\n") == [Text("y" * 20)]
    assert exact.finish() == []

    processor = tokenwire.StreamProcessor("ndjson", max_event_bytes=len(line) - 1)
    ok = b'{"message":{"content":"a"}}\n'
    assert processor.feed(ok + line + b"\n") == [Text("a")]
    with pytest.raises(StreamDecodeError) as info:
        processor.finish()
    assert info.value.offset == len(ok) + len(line) - 1


def test_ndjson_line_limit_counts_a_partial_line_across_chunks() -> None:
    processor = tokenwire.StreamProcessor("ndjson", max_event_bytes=8)
    assert processor.feed(b"12345") == []
    with pytest.raises(StreamDecodeError) as info:
        processor.feed(b"67890\n")
    assert info.value.offset == 8


def test_ndjson_framing() -> None:
    data = b'{"message":{"content":"a"}}\r\n\n   \n\t\r\n{"message":{"content":"b"}}\n'
    assert decode("ndjson", data) == [Text("a"), Text("b")]


# ---------------------------------------------------------------------------
# openai-chat
# ---------------------------------------------------------------------------


def test_openai_field_order_is_fixed() -> None:
    # JSON key order is the reverse of the emit order.
    payload = (
        '{"choices":[{"finish_reason":"tool_calls","delta":{"tool_calls":[{"function":{"arguments":"{}",'
        '"name":"f"},"id":"c1","index":0}],"content":"text","reasoning_content":"think"},"index":0}]}'
    )
    assert decode("openai-chat", sse(payload)) == [
        Reasoning("think"),
        Text("text"),
        Tool(0, "c1", "f", "{}"),
        Finish("tool_calls"),
    ]


def test_openai_reasoning_fallback() -> None:
    data = sse(
        chat({"reasoning_content": "rc", "reasoning": "ignored"}),
        chat({"reasoning": "groq"}),
        chat({"reasoning_content": "", "reasoning": "fallback"}),
        chat({"reasoning_content": None, "reasoning": ""}),
    )
    assert decode("openai-chat", data) == [Reasoning("rc"), Reasoning("groq"), Reasoning("fallback")]


def test_openai_only_choice_zero() -> None:
    payload = {
        "choices": [
            {"index": 1, "delta": {"content": "second"}, "finish_reason": "stop"},
            {"delta": {"content": "no index"}},
            {"index": 0, "delta": {"content": "first"}},
        ]
    }
    assert decode("openai-chat", sse(payload)) == [Text("no index"), Text("first")]


def test_openai_tool_call_items() -> None:
    item_list = [
        {"index": 2, "id": "", "function": {"name": "", "arguments": ""}},  # nothing: skipped
        {"id": "c", "type": "function", "function": {"name": "g", "arguments": "{}"}},  # position 1
        {"index": 0, "function": {"arguments": 5}},  # non-string arguments: "" → skipped
        {"index": 0, "function": "bad"},
        "not an object",
        {"index": 3, "function": {"arguments": '{"a"'}},
        {"index": 4, "id": "only-id"},
    ]
    assert decode("openai-chat", sse(chat({"tool_calls": item_list}))) == [
        Tool(1, "c", "g", "{}"),
        Tool(3, None, None, '{"a"'),
        Tool(4, "only-id", None, ""),
    ]


def _thinking(*texts: Any) -> dict[str, Any]:
    """A Mistral ``thinking`` content part holding ``text`` parts."""
    return {"type": "thinking", "thinking": [{"type": "text", "text": t} for t in texts]}


def test_openai_content_parts_mistral_magistral() -> None:
    # The shape of Mistral's magistral stream: thinking parts, then text parts.
    data = sse(
        chat({"role": "assistant", "content": [_thinking("The user is asking")]}),
        chat({"content": [_thinking(" for 2+2.")]}),
        chat({"content": [{"type": "text", "text": "2 + 2 = 4"}]}),
        chat({"content": ""}, finish="stop", usage={"prompt_tokens": 10, "total_tokens": 56, "completion_tokens": 46}),
        "[DONE]",
    )
    assert decode("openai-chat", data) == [
        Reasoning("The user is asking"),
        Reasoning(" for 2+2."),
        Text("2 + 2 = 4"),
        Finish("stop"),
        Usage(10, 46, 0, 0, 0),
    ]
    assert decode("openai-chat", data, coalesce=True) == [
        Reasoning("The user is asking for 2+2."),
        Text("2 + 2 = 4"),
        Finish("stop"),
        Usage(10, 46, 0, 0, 0),
    ]


def test_openai_content_parts_keep_array_order_in_the_field_order() -> None:
    # Parts interleave in array order, where delta.content sits in the fixed field order.
    delta = {
        "tool_calls": [{"index": 0, "id": "c", "function": {"name": "f"}}],
        "content": [
            {"type": "text", "text": "a"},
            _thinking("r1", "r2"),
            {"type": "text", "text": "b"},
            _thinking("r3"),
        ],
        "reasoning_content": "r0",
    }
    assert decode("openai-chat", sse(chat(delta, finish="stop"))) == [
        Reasoning("r0"),
        Text("a"),
        Reasoning("r1"),
        Reasoning("r2"),
        Text("b"),
        Reasoning("r3"),
        Tool(0, "c", "f", ""),
        Finish("stop"),
    ]


def test_openai_content_parts_skip_what_they_do_not_know() -> None:
    parts: list[Any] = [
        1,
        "text",
        None,
        [],
        {},
        {"text": "no type"},
        {"type": "TEXT", "text": "wrong case"},
        {"type": "text", "text": 5},
        {"type": "text", "text": ""},
        {"type": "text"},
        {"type": "image_url", "image_url": {"url": "https://x"}},
        {"type": "reference", "reference_ids": [1]},
        {"type": "thinking", "thinking": "a string"},
        {"type": "thinking", "thinking": {"type": "text", "text": "an object"}},
        {"type": "thinking"},
        {
            "type": "thinking",
            "thinking": [
                {"text": "untyped"},
                {"type": "reference", "reference_ids": [2]},
                {"type": "text", "text": ["x"]},
                "s",
                {"type": "text", "text": "kept reasoning"},
            ],
        },
        {"type": "text", "text": "kept 😀 text", "extra": True},
    ]
    assert decode("openai-chat", sse(chat({"content": parts}), chat({"content": []}))) == [
        Reasoning("kept reasoning"),
        Text("kept 😀 text"),
    ]
    # Escaped type names are decoded first; lone surrogates become U+FFFD; choice 1 is ignored.
    raw = (
        '{"choices":[{"delta":{"content":[{"type":"t\\u0065xt","text":"esc \\ud800"}]}},'
        '{"index":1,"delta":{"content":[{"type":"text","text":"choice 1"}]}}]}'
    )
    assert decode("openai-chat", sse(raw)) == [Text("esc \ufffd")]


def test_openai_content_parts_text_goes_through_think_tags() -> None:
    data = sse(
        chat({"content": [{"type": "text", "text": "a<thi"}, _thinking("R")]}),
        chat({"content": [{"type": "text", "text": "nk>t</think>b"}]}),
        chat({}, finish="stop"),
    )
    # Reasoning parts are reasoning as they are (like reasoning_content); the text parts
    # are split, with a tag split across parts held back until the next text decides it.
    assert decode("openai-chat", data, think_tags=True) == [
        Text("a"),
        Reasoning("R"),
        Reasoning("t"),
        Text("b"),
        Finish("stop"),
    ]


def test_openai_usage_mappings() -> None:
    def usage_of(usage: dict[str, Any], **extra: Any) -> list[Any]:
        return decode("openai-chat", sse({"choices": [], "usage": usage, **extra}, "[DONE]"))

    base = {"prompt_tokens": 100, "completion_tokens": 20}
    assert usage_of(
        {
            **base,
            "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 7},
            "completion_tokens_details": {"reasoning_tokens": 9},
            "prompt_cache_hit_tokens": 1,
            "cached_tokens": 2,
            "cache_creation_input_tokens": 3,
        }
    ) == [Usage(100, 20, 60, 7, 9)]
    # DeepSeek
    assert usage_of({**base, "prompt_cache_hit_tokens": 40, "prompt_cache_miss_tokens": 60}) == [
        Usage(100, 20, 40, 0, 0)
    ]
    # Moonshot
    assert usage_of({**base, "cached_tokens": 30}) == [Usage(100, 20, 30, 0, 0)]
    # An invalid cached_tokens is absent, so the fallbacks apply.
    assert usage_of({**base, "prompt_tokens_details": {"cached_tokens": None}, "prompt_cache_hit_tokens": 11}) == [
        Usage(100, 20, 11, 0, 0)
    ]
    # A zero does not hide a count in a later field (Roo-Code's `||` chains).
    assert usage_of({**base, "prompt_tokens_details": {"cached_tokens": 0}, "prompt_cache_hit_tokens": 11}) == [
        Usage(100, 20, 11, 0, 0)
    ]
    assert usage_of({**base, "cache_creation_input_tokens": 8}) == [Usage(100, 20, 0, 8, 0)]
    assert usage_of({**base, "prompt_tokens_details": None, "completion_tokens_details": "x"}) == [
        Usage(100, 20, 0, 0, 0)
    ]
    assert usage_of({}) == [Usage(0, 0, 0, 0, 0)]
    assert usage_of({})[0].cost is None


@pytest.mark.parametrize(
    ("usage", "cache_read", "cache_write"),
    [
        # Requesty: prompt_tokens_details.caching_tokens are cache writes.
        ({"prompt_tokens_details": {"cached_tokens": 30, "caching_tokens": 40}}, 30, 40),
        # Unbound, LiteLLM, xAI: Anthropic-style names inside `usage`.
        ({"cache_read_input_tokens": 20, "cache_creation_input_tokens": 7}, 20, 7),
        # Both styles (LiteLLM in front of Anthropic): the OpenAI-style field wins...
        (
            {
                "prompt_tokens_details": {"cached_tokens": 11, "cache_write_tokens": 3, "caching_tokens": 4},
                "cache_read_input_tokens": 20,
                "cache_creation_input_tokens": 7,
            },
            11,
            3,
        ),
        ({"prompt_tokens_details": {"caching_tokens": 4}, "cache_creation_input_tokens": 7}, 0, 4),
        # ... unless it is zero.
        (
            {
                "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0, "caching_tokens": 0},
                "cache_read_input_tokens": 20,
                "cache_creation_input_tokens": 7,
            },
            20,
            7,
        ),
        ({"cache_read_input_tokens": 0, "prompt_cache_hit_tokens": 0, "cached_tokens": 6}, 6, 0),
        ({"cache_read_input_tokens": 5, "prompt_cache_hit_tokens": 9}, 5, 0),
        # Invalid counts are skipped like zeros.
        (
            {
                "prompt_tokens_details": {"cached_tokens": -1, "caching_tokens": "4"},
                "cache_read_input_tokens": 2.0,
                "prompt_cache_hit_tokens": 5,
                "cache_creation_input_tokens": 8,
            },
            5,
            8,
        ),
        ({"prompt_tokens_details": {"cached_tokens": 0}, "cache_read_input_tokens": 0}, 0, 0),
    ],
)
def test_openai_usage_cache_fields_of_compatible_providers(
    usage: dict[str, Any], cache_read: int, cache_write: int
) -> None:
    stream = sse({"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 5, **usage}}, "[DONE]")
    assert decode("openai-chat", stream) == [Usage(100, 5, cache_read, cache_write, 0)]


def _reported_cost(usage: str) -> Any:
    """The ``Usage.cost`` of a stream whose usage object is the JSON text ``usage``."""
    (token,) = decode("openai-chat", sse(f'{{"choices":[],"usage":{usage}}}', "[DONE]"))
    assert isinstance(token, Usage)
    return token.cost


@pytest.mark.parametrize(
    ("usage", "cost"),
    [
        # OpenRouter and Vercel AI Gateway report the cost in USD.
        ('{"prompt_tokens":10,"completion_tokens":2,"cost":0.00042}', 0.00042),
        ('{"prompt_tokens":10,"completion_tokens":2}', None),
        # A reported zero is 0.0, not "not reported"; integers and exponents are numbers.
        ('{"cost":0}', 0.0),
        ('{"cost":0.0}', 0.0),
        ('{"cost":2}', 2.0),
        ('{"cost":1.5E-3}', 0.0015),
        ('{"cost":0.1000000000000000055511151231257827}', 0.1),
        # Not a number, negative, or beyond the float range: no cost.
        ('{"cost":null}', None),
        ('{"cost":"0.1"}', None),
        ('{"cost":true}', None),
        ('{"cost":[0.1]}', None),
        ('{"cost":{"total":0.1}}', None),
        ('{"cost":-0.01}', None),
        ('{"cost":-1}', None),
        ('{"cost":1e400}', None),
        ('{"cost":1' + "0" * 400 + "}", None),
        # OpenRouter BYOK: the upstream inference cost is added, as Roo-Code sums them.
        ('{"cost":0.001,"cost_details":{"upstream_inference_cost":0.02}}', 0.001 + 0.02),
        ('{"cost":0,"cost_details":{"upstream_inference_cost":0.5}}', 0.5),
        ('{"cost":0.25,"cost_details":null}', 0.25),
        ('{"cost":0.25,"cost_details":{"upstream_inference_cost":null}}', 0.25),
        ('{"cost":0.25,"cost_details":{"upstream_inference_cost":-1}}', 0.25),
        ('{"cost":0.25,"cost_details":{"upstream_inference_cost":"0.5"}}', 0.25),
        # Without a cost of its own, the upstream cost alone is not reported.
        ('{"cost_details":{"upstream_inference_cost":0.5}}', None),
        ('{"cost":null,"cost_details":{"upstream_inference_cost":0.5}}', None),
        # A sum past the float range is no cost.
        ('{"cost":1e308,"cost_details":{"upstream_inference_cost":1e308}}', None),
    ],
)
def test_openai_reported_cost(usage: str, cost: Optional[float]) -> None:
    got = _reported_cost(usage)
    assert got == cost
    assert type(got) is type(cost)


@pytest.mark.parametrize("spelling", ["-0", "-0.0", "-0e5", "-0E-2"])
def test_openai_reported_cost_negative_zero_is_zero(spelling: str) -> None:
    got = _reported_cost(f'{{"cost":{spelling}}}')
    assert got == 0.0
    assert math.copysign(1.0, got) == 1.0


def test_openai_reported_cost_follows_the_latest_usage() -> None:
    def costs(*payloads: Payload) -> list[Optional[float]]:
        return [t.cost for t in decode("openai-chat", sse(*payloads, "[DONE]")) if isinstance(t, Usage)]

    assert costs({"usage": {"prompt_tokens": 1, "cost": 0.5}}, {"usage": {"prompt_tokens": 2}}) == [None]
    assert costs({"usage": {"prompt_tokens": 1}}, {"usage": {"prompt_tokens": 2, "cost": 0.5}}) == [0.5]
    # Groq's fallback usage object is read by the same rules.
    assert costs({"x_groq": {"usage": {"prompt_tokens": 1, "cost": 0.25}}}) == [0.25]
    # Other dialects report no cost, even in a field of that name.
    (usage,) = [
        t
        for t in decode("anthropic", typed({"type": "message_start", "message": {"usage": {"cost": 1.0}}}))
        if isinstance(t, Usage)
    ]
    assert usage.cost is None


def test_openai_x_groq_usage_is_a_fallback() -> None:
    groq = {"x_groq": {"id": "req_1", "usage": {"prompt_tokens": 5, "completion_tokens": 6}}}
    assert decode("openai-chat", sse({"choices": [], **groq}, "[DONE]")) == [Usage(5, 6, 0, 0, 0)]
    # A top-level usage object wins, whenever it comes.
    top = {"usage": {"prompt_tokens": 1, "completion_tokens": 2}}
    assert decode("openai-chat", sse({"choices": [], **groq}, {"choices": [], **top}, "[DONE]")) == [
        Usage(1, 2, 0, 0, 0)
    ]
    assert decode("openai-chat", sse({"choices": [], **top}, {"choices": [], **groq}, "[DONE]")) == [
        Usage(1, 2, 0, 0, 0)
    ]
    assert decode("openai-chat", sse({"choices": [], **top, **groq}, "[DONE]")) == [Usage(1, 2, 0, 0, 0)]


def test_openai_done_marker_and_usage() -> None:
    processor = tokenwire.StreamProcessor("openai-chat")
    usage = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}
    assert processor.feed(sse(usage)) == []
    assert processor.feed(b"data:  [DONE] \t\n\n") == [Usage(3, 4, 0, 0, 0)]
    assert processor.done is True
    assert processor.finish() == []


@pytest.mark.parametrize("padding", [0, 1, 63, 64, 200, 70_000])
def test_openai_done_marker_with_any_amount_of_whitespace(padding: int) -> None:
    # Whitespace is stripped whatever its length (the marker is not recognized by size).
    ws = (" \t\x0c" * padding)[:padding]
    processor = tokenwire.StreamProcessor("openai-chat")
    assert processor.feed(sse(chat({"content": "a"}, usage={"prompt_tokens": 1}))) == [Text("a")]
    assert processor.feed(f"data: {ws}[DONE]{ws}\n\n".encode()) == [Usage(1, 0, 0, 0, 0)]
    assert processor.done is True
    # Multi-line data joins with LF, which is whitespace too.
    assert decode("openai-chat", b"data:\ndata: [DONE]\ndata:\n\n" + sse(chat({"content": "late"}))) == []


def test_openai_done_must_be_exact() -> None:
    with pytest.raises(StreamDecodeError):
        decode("openai-chat", sse("[DONE]x"))
    with pytest.raises(StreamDecodeError):
        decode("openai-chat", sse("[done]"))


def test_openai_error_shapes() -> None:
    with pytest.raises(RateLimitError) as info:
        decode("openai-chat", sse({"error": {"message": "too many", "code": 429}}))
    assert (info.value.message, info.value.code, info.value.status) == ("too many", "429", 429)

    with pytest.raises(ProviderError) as info:
        decode("openai-chat", sse({"error": {"message": 12, "code": 42, "status": 402}}))
    assert (info.value.message, info.value.code, info.value.status) == ("unknown error", "42", 402)

    with pytest.raises(ProviderError) as info:
        decode("openai-chat", sse({"error": {"message": "", "status": 700, "code": None}}))
    assert (info.value.message, info.value.code, info.value.status) == ("", None, None)

    with pytest.raises(ProviderError) as info:
        decode("openai-chat", sse({"error": "plain text", "choices": [{"delta": {"content": "x"}}]}))
    assert type(info.value) is ProviderError
    assert (info.value.message, info.value.error_type, info.value.code) == ("plain text", None, None)

    # An error object ends the event: its choices are not read.
    processor = tokenwire.StreamProcessor("openai-chat")
    with pytest.raises(ProviderError):
        processor.feed(sse({"error": {"message": "x"}, "choices": [{"delta": {"content": "lost"}}]}))

    # "error": null is ignored.
    assert decode("openai-chat", sse(chat({"content": "ok"}, error=None))) == [Text("ok")]


def test_perplexity_citations_are_deduplicated() -> None:
    first = chat(
        {"content": "A"},
        citations=["https://a.example", "https://b.example"],
        search_results=[
            {"title": "B title", "url": "https://b.example"},
            {"title": "", "url": "https://c.example"},
            {"url": "https://d.example"},
            {"title": "no url"},
            "junk",
        ],
    )
    second = chat({"content": "B"}, citations=["https://a.example", "https://e.example", 7, ""])
    assert decode("openai-chat", sse(first, second, "[DONE]")) == [
        Text("A"),
        Cite("https://b.example", "B title"),
        Cite("https://c.example", None),
        Cite("https://d.example", None),
        Cite("https://a.example", None),
        Text("B"),
        Cite("https://e.example", None),
    ]


# ---------------------------------------------------------------------------
# anthropic
# ---------------------------------------------------------------------------


def message_start(usage: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message_start", "message": {"id": "msg_1", "role": "assistant", "content": [], "usage": usage}}


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def block_delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def test_anthropic_blocks_and_separators() -> None:
    data = typed(
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        block_delta(0, {"type": "thinking_delta", "thinking": "hmm"}),
        block_delta(0, {"type": "signature_delta", "signature": "sig"}),
        {"type": "content_block_stop", "index": 0},
        block_start(1, {"type": "redacted_thinking", "data": "EmwK"}),
        block_start(2, {"type": "thinking", "thinking": "more"}),
        block_start(3, {"type": "text", "text": "Hello"}),
        block_delta(3, {"type": "text_delta", "text": " world"}),
        block_delta(3, {"type": "text_delta", "text": ""}),
        {"type": "ping"},
        block_start(4, {"type": "unknown_block"}),
        block_delta(4, {"type": "unknown_delta", "text": "x"}),
    )
    assert decode("anthropic", data) == [
        Reasoning("hmm"),
        Reasoning("\n"),
        Reasoning("more"),
        Text("\n"),
        Text("Hello"),
        Text(" world"),
    ]


def test_anthropic_tool_use_blocks() -> None:
    data = typed(
        block_start(0, {"type": "text", "text": ""}),
        block_delta(0, {"type": "text_delta", "text": "Let me look."}),
        block_start(1, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
        block_delta(1, {"type": "input_json_delta", "partial_json": '{"query": "x"}'}),
        block_start(2, {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}),
        block_start(3, {"type": "tool_use", "id": "", "input": {}}),
        block_delta(2, {"type": "input_json_delta", "partial_json": ""}),
        block_delta(2, {"type": "input_json_delta", "partial_json": '{"city": '}),
        block_delta(3, {"type": "input_json_delta", "partial_json": "{}"}),
        block_delta(2, {"type": "input_json_delta", "partial_json": '"Paris"}'}),
        block_delta(9, {"type": "input_json_delta", "partial_json": "{}"}),
    )
    assert decode("anthropic", data) == [
        Text("Let me look."),
        Tool(0, "toolu_a", "get_weather", ""),
        Tool(1, None, None, ""),
        Tool(0, None, None, '{"city": '),
        Tool(1, None, None, "{}"),
        Tool(0, None, None, '"Paris"}'),
    ]


def test_anthropic_usage_is_cumulative() -> None:
    data = typed(
        message_start(
            {"input_tokens": 10, "output_tokens": 1, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 7}
        ),
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 50}},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens"},
            "usage": {"output_tokens": 60, "input_tokens": 12},
        },
        {"type": "message_stop"},
    )
    processor = tokenwire.StreamProcessor("anthropic")
    assert processor.feed(data) == [Finish("end_turn"), Usage(12, 60, 7, 5, 0)]
    assert processor.done is True
    assert processor.finish() == []


def test_anthropic_message_delta_usage_alone() -> None:
    data = typed(
        {"type": "message_delta", "delta": {"stop_reason": None}, "usage": {"cache_read_input_tokens": 4}},
        {"type": "message_stop"},
    )
    assert decode("anthropic", data) == [Usage(0, 0, 4, 0, 0)]


def test_anthropic_message_start_without_usage_reports_none() -> None:
    data = typed({"type": "message_start", "message": {"id": "m"}}, {"type": "message_stop"})
    assert decode("anthropic", data) == []


def test_anthropic_later_message_start_replaces_usage() -> None:
    data = typed(
        message_start({"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 3}),
        message_start({"input_tokens": 20}),
        {"type": "message_stop"},
    )
    assert decode("anthropic", data) == [Usage(20, 0, 0, 0, 0)]


def test_anthropic_events_after_message_stop_are_ignored() -> None:
    data = typed(
        block_start(0, {"type": "text", "text": "a"}),
        {"type": "message_stop"},
        block_delta(0, {"type": "text_delta", "text": "late"}),
        {"type": "error", "error": {"type": "api_error", "message": "late"}},
    )
    assert decode("anthropic", data) == [Text("a")]


def test_anthropic_citations_delta() -> None:
    data = typed(
        block_delta(0, {"type": "citations_delta", "citation": {"url": "https://x.example", "title": "X"}}),
        block_delta(0, {"type": "citations_delta", "citation": {"url": "https://y.example", "title": ""}}),
        block_delta(0, {"type": "citations_delta", "citation": {"type": "char_location", "document_title": "d"}}),
        block_delta(0, {"type": "citations_delta", "citation": {"url": "", "title": "empty"}}),
    )
    assert decode("anthropic", data) == [Cite("https://x.example", "X"), Cite("https://y.example", None)]


def test_anthropic_event_name_is_the_type_fallback() -> None:
    data = sse(
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "by name"}}),
        ("content_block_delta", {"type": "ping", "delta": {"type": "text_delta", "text": "type wins"}}),
        ("ping", {"type": 5, "index": 0, "delta": {"type": "text_delta", "text": "non-string type"}}),
        ("message_stop", {}),
    )
    processor = tokenwire.StreamProcessor("anthropic")
    assert processor.feed(data) == [Text("by name")]
    assert processor.done is True


def test_anthropic_error_event() -> None:
    with pytest.raises(ServerError) as info:
        decode(
            "anthropic", typed({"type": "error", "error": {"type": "api_error", "message": "Internal server error"}})
        )
    assert (info.value.message, info.value.error_type) == ("Internal server error", "api_error")
    with pytest.raises(ProviderError) as info:
        decode("anthropic", typed({"type": "error", "error": {"type": 3, "message": ""}}))
    assert (type(info.value), info.value.message, info.value.error_type) == (ProviderError, "unknown error", None)


# ---------------------------------------------------------------------------
# openai-responses
# ---------------------------------------------------------------------------


def test_responses_text_reasoning_and_citations() -> None:
    data = typed(
        {"type": "response.created", "response": {"status": "in_progress"}},
        {"type": "response.reasoning_summary_text.delta", "delta": "sum"},
        {"type": "response.reasoning_text.delta", "delta": "raw"},
        {"type": "response.output_text.delta", "delta": "Hi"},
        {"type": "response.output_text.delta", "delta": ""},
        {"type": "response.output_text.done", "text": "Hi"},
        {
            "type": "response.output_text.annotation.added",
            "annotation": {"type": "url_citation", "url": "https://u.example", "title": "U"},
        },
        {
            "type": "response.output_text.annotation.added",
            "annotation": {"type": "url_citation", "url": "https://v.example"},
        },
        {"type": "response.output_text.annotation.added", "annotation": {"type": "file_citation", "file_id": "f"}},
        {"type": "response.output_text.annotation.added", "annotation": {"type": "url_citation", "url": ""}},
    )
    assert decode("openai-responses", data) == [
        Reasoning("sum"),
        Reasoning("raw"),
        Text("Hi"),
        Cite("https://u.example", "U"),
        Cite("https://v.example", None),
    ]


def test_responses_function_calls() -> None:
    data = typed(
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {"type": "function_call", "id": "fc_a", "call_id": "call_a", "name": "f", "arguments": ""},
        },
        {
            "type": "response.output_item.added",
            "output_index": 2,
            "item": {"type": "function_call", "call_id": "", "name": "g", "arguments": '{"pre'},
        },
        {"type": "response.output_item.added", "output_index": 3, "item": {"type": "message", "id": "msg_1"}},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_a", "output_index": 9, "delta": '{"x":'},
        {"type": "response.function_call_arguments.delta", "item_id": "unknown", "output_index": 2, "delta": 'set"}'},
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "1}"},
        {"type": "response.function_call_arguments.delta", "item_id": "msg_1", "output_index": 3, "delta": "no"},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_a", "delta": ""},
    )
    assert decode("openai-responses", data) == [
        Tool(0, "call_a", "f", ""),
        Tool(1, None, "g", '{"pre'),
        Tool(0, None, None, '{"x":'),
        Tool(1, None, None, 'set"}'),
        Tool(0, None, None, "1}"),
    ]


def test_responses_completed() -> None:
    usage = {
        "input_tokens": 30,
        "input_tokens_details": {"cached_tokens": 10},
        "output_tokens": 40,
        "output_tokens_details": {"reasoning_tokens": 25},
        "total_tokens": 70,
    }
    data = typed(
        {"type": "response.output_text.delta", "delta": "x"},
        {"type": "response.completed", "response": {"status": "completed", "usage": usage}},
        {"type": "response.output_text.delta", "delta": "late"},
    )
    processor = tokenwire.StreamProcessor("openai-responses")
    assert processor.feed(data) == [Text("x"), Finish("completed"), Usage(30, 40, 10, 0, 25)]
    assert processor.done is True


@pytest.mark.parametrize(
    ("kind", "response", "reason"),
    [
        (
            "response.incomplete",
            {"status": "incomplete", "incomplete_details": {"reason": "content_filter"}},
            "content_filter",
        ),
        ("response.incomplete", {"status": "incomplete", "incomplete_details": None}, "incomplete"),
        ("response.incomplete", {"incomplete_details": {"reason": ""}}, "incomplete"),
        ("response.completed", {"status": ""}, "completed"),
        ("response.completed", None, "completed"),
        ("response.completed", {"status": "weird"}, "weird"),
    ],
)
def test_responses_finish_reason(kind: str, response: Any, reason: str) -> None:
    assert decode("openai-responses", typed({"type": kind, "response": response})) == [Finish(reason)]


def test_responses_failed() -> None:
    failed = {
        "type": "response.failed",
        "response": {"status": "failed", "error": {"code": "rate_limit_exceeded", "message": "Slow down"}},
    }
    processor = tokenwire.StreamProcessor("openai-responses")
    assert processor.feed(typed({"type": "response.output_text.delta", "delta": "a"}, failed)) == [Text("a")]
    assert processor.done is True
    with pytest.raises(RateLimitError) as info:
        processor.finish()
    assert (info.value.message, info.value.code, info.value.error_type) == ("Slow down", "rate_limit_exceeded", None)


def test_responses_error_event() -> None:
    # Nested error object.
    with pytest.raises(RateLimitError) as info:
        decode(
            "openai-responses",
            typed(
                {
                    "type": "error",
                    "error": {"type": "insufficient_quota", "code": "insufficient_quota", "message": "Quota"},
                }
            ),
        )
    assert (info.value.message, info.value.error_type, info.value.code) == (
        "Quota",
        "insufficient_quota",
        "insufficient_quota",
    )
    # Fields on the event itself (its type is "error").
    with pytest.raises(ServerError) as info:
        decode("openai-responses", typed({"type": "error", "code": "server_error", "message": "Oops", "param": None}))
    assert (info.value.message, info.value.error_type, info.value.code) == ("Oops", "error", "server_error")
    with pytest.raises(ProviderError) as info:
        decode("openai-responses", sse(("error", {"code": 500})))
    assert (info.value.message, info.value.code, info.value.status) == ("unknown error", "500", None)


def test_responses_event_name_is_the_type_fallback() -> None:
    data = sse(
        ("response.output_text.delta", {"delta": "named"}), ("response.output_text.delta", {"type": "x", "delta": "no"})
    )
    assert decode("openai-responses", data) == [Text("named")]


# ---------------------------------------------------------------------------
# gemini
# ---------------------------------------------------------------------------


def test_gemini_parts_and_finish() -> None:
    data = sse(
        gemini(
            {"text": "think", "thought": True}, {"thoughtSignature": "sig"}, {"text": "a"}, {"text": ""}, {"text": "b"}
        ),
        {
            "candidates": [
                {"content": {"parts": [{"text": "c"}]}, "finishReason": "STOP"},
                {"content": {"parts": [{"text": "other candidate"}]}},
            ]
        },
        gemini({"text": "after finish"}, usageMetadata={"promptTokenCount": 3, "candidatesTokenCount": 4}),
        eol="\r\n",
    )
    processor = tokenwire.StreamProcessor("gemini", coalesce=False)
    tokens = processor.feed(data)
    assert processor.done is True
    assert tokens + processor.finish() == [
        Reasoning("think"),
        Text("a"),
        Text("b"),
        Text("c"),
        Finish("STOP"),
        Text("after finish"),
        Usage(3, 4, 0, 0, 0),
    ]


def test_gemini_usage_metadata() -> None:
    full = {
        "promptTokenCount": 10,
        "candidatesTokenCount": 20,
        "cachedContentTokenCount": 5,
        "thoughtsTokenCount": 7,
        "totalTokenCount": 37,
    }
    assert decode("gemini", sse({"usageMetadata": full})) == [Usage(10, 20, 5, 0, 7)]
    # Without any of the four counts the object is ignored (latest valid one wins).
    data = sse({"usageMetadata": full}, {"usageMetadata": {"trafficType": "ON_DEMAND", "totalTokenCount": 1}})
    assert decode("gemini", data) == [Usage(10, 20, 5, 0, 7)]
    assert decode("gemini", sse({"usageMetadata": {"thoughtsTokenCount": 2}})) == [Usage(0, 0, 0, 0, 2)]
    assert decode("gemini", sse({"usageMetadata": {"trafficType": "ON_DEMAND"}})) == []


def test_gemini_events_after_the_finish_reason_are_read_in_later_feeds() -> None:
    # Gemini has no terminal marker: `done` reports the finish reason, and usage that
    # arrives after it, in a later chunk, still counts (spec: usageMetadata follows).
    processor = tokenwire.StreamProcessor("gemini")
    assert processor.feed(sse(gemini({"text": "hi"}, finish="STOP"))) == [Text("hi"), Finish("STOP")]
    assert processor.done is True
    assert processor.feed(sse({"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}})) == []
    assert processor.feed(sse({"usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2}})) == []
    grounding = {"groundingChunks": [{"web": {"uri": "https://a", "title": "A"}}]}
    late = {"candidates": [{"content": {"parts": []}, "groundingMetadata": grounding}]}
    assert processor.feed(sse(late)) == []
    assert processor.finish() == [Cite("https://a", "A"), Usage(4, 2, 0, 0, 0)]
    # An error after the finish reason is still raised.
    processor = tokenwire.StreamProcessor("gemini")
    processor.feed(sse(gemini(finish="STOP")))
    with pytest.raises(ProviderError):
        processor.feed(sse({"error": {"code": 500, "message": "late", "status": "INTERNAL"}}))


def test_gemini_prompt_feedback_block() -> None:
    data = sse({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 8}})
    processor = tokenwire.StreamProcessor("gemini")
    assert processor.feed(data) == [Finish("SAFETY")]
    assert processor.done is True
    assert processor.finish() == [Usage(8, 0, 0, 0, 0)]
    # With a candidate, promptFeedback is not a finish.
    assert decode("gemini", sse({**gemini({"text": "x"}), "promptFeedback": {"blockReason": "SAFETY"}})) == [Text("x")]


def test_gemini_grounding_citations_at_finish() -> None:
    grounding = {
        "groundingChunks": [
            {"web": {"uri": "https://a.example", "title": "a.example"}},
            {"web": {"uri": "https://b.example", "title": ""}},
            {"web": {"uri": ""}},
            {"retrievedContext": {"uri": "gs://x"}},
            "junk",
        ]
    }
    old = {"groundingChunks": [{"web": {"uri": "https://old.example"}}]}
    data = sse(
        {"candidates": [{"content": {"parts": [{"text": "x"}]}, "groundingMetadata": old}]},
        {
            "candidates": [
                {"content": {"parts": [{"text": "y"}]}, "groundingMetadata": grounding, "finishReason": "STOP"}
            ]
        },
        {"usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2}},
    )
    processor = tokenwire.StreamProcessor("gemini", coalesce=False)
    assert processor.feed(data) == [Text("x"), Text("y"), Finish("STOP")]
    assert processor.finish() == [
        Cite("https://a.example", "a.example"),
        Cite("https://b.example", "https://b.example"),
        Usage(1, 2, 0, 0, 0),
    ]


def test_gemini_function_call_with_args_is_compact_json() -> None:
    raw = (
        '{"candidates":[{"content":{"parts":['
        '{"functionCall":{"name":"f","id":"fc1","args":{"b": [1, 2.50, -0, 1E+2, {"c": null}], "a": "é\\u0001\\n\\"/",'
        ' "t": true, "f": false, "big": 123456789012345678901234567890, "small": 1.0e-400}}},'
        '{"functionCall":{"name":"g","args":null}},'
        '{"functionCall":{"name":"h","args":{}}},'
        '{"functionCall":{"name":"i","args":"text"}},'
        '{"functionCall":{"name":"j"}},'
        '{"functionCall":{"name":"","args":{}}},'
        '{"functionCall":{"args":{"orphan":1}}}'
        "]}}]}"
    )
    assert decode("gemini", sse(raw)) == [
        Tool(
            0,
            "fc1",
            "f",
            '{"b":[1,2.50,-0,1E+2,{"c":null}],"a":"é\\u0001\\n\\"/","t":true,"f":false,'
            '"big":123456789012345678901234567890,"small":1.0e-400}',
        ),
        Tool(1, None, "g", "null"),
        Tool(2, None, "h", "{}"),
        Tool(3, None, "i", '"text"'),
        Tool(4, None, "j", "{}"),
    ]


def _partial(*items: Any, more: bool = True) -> dict[str, Any]:
    call: dict[str, Any] = {"partialArgs": list(items)}
    if more:
        call["willContinue"] = True
    return gemini({"functionCall": call})


def _streamed_call(name: str) -> dict[str, Any]:
    return gemini({"functionCall": {"name": name, "willContinue": True}, "thoughtSignature": "c2ln"})


def test_gemini_partial_args_simple_string_calls() -> None:
    # The shape of google-stream-tool-call-arguments: two calls, each string in two pieces.
    data = sse(
        _streamed_call("getWeather"),
        _partial({"jsonPath": "$.location", "stringValue": "Boston", "willContinue": True}),
        _partial({"jsonPath": "$.location", "stringValue": ""}),
        gemini({"functionCall": {}}),
        _streamed_call("getWeather"),
        _partial({"jsonPath": "$.location", "stringValue": "San Francisco", "willContinue": True}),
        _partial({"jsonPath": "$.location", "stringValue": ""}),
        {
            "candidates": [{"content": {"parts": [{"functionCall": {}}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 26, "candidatesTokenCount": 23, "thoughtsTokenCount": 132},
        },
        eol="\r\n",
    )
    tokens = decode("gemini", data)
    assert tokens == [
        Tool(0, None, "getWeather", ""),
        Tool(0, None, None, '{"location":"Boston'),
        Tool(0, None, None, '"'),
        Tool(0, None, None, "}"),
        Tool(1, None, "getWeather", ""),
        Tool(1, None, None, '{"location":"San Francisco'),
        Tool(1, None, None, '"'),
        Tool(1, None, None, "}"),
        Finish("STOP"),
        Usage(26, 23, 0, 0, 132),
    ]
    assert json.loads(joined_args(tokens, 0)) == {"location": "Boston"}
    assert json.loads(joined_args(tokens, 1)) == {"location": "San Francisco"}


def test_gemini_partial_args_array_of_objects() -> None:
    # google-stream-tool-call-array-arguments-missing-terminal-function-call: the last
    # partialArgs chunk has no willContinue, which closes the call.
    items = [
        ("$.operations[0].action", "add"),
        ("$.operations[0].description", "Fresh red apple"),
        ("$.operations[0].itemid", "apple_001"),
        ("$.operations[0].price", 0.5),
        ("$.operations[1].action", "add"),
        ("$.operations[1].description", "Ripe yellow banana"),
        ("$.operations[1].itemid", "banana_001"),
        ("$.operations[1].price", 0.3),
    ]
    events: list[Any] = [_streamed_call("writeItems")]
    for position, (path, value) in enumerate(items):
        last = position == len(items) - 1
        if isinstance(value, str):
            events.append(_partial({"jsonPath": path, "stringValue": value, "willContinue": True}))
            events.append(_partial({"jsonPath": path, "stringValue": ""}, more=not last))
        else:
            events.append(_partial({"jsonPath": path, "numberValue": value}, more=not last))
    events.append(gemini({"text": ""}, finish="STOP"))
    tokens = decode("gemini", sse(*events))
    expected = {
        "operations": [
            {"action": "add", "description": "Fresh red apple", "itemid": "apple_001", "price": 0.5},
            {"action": "add", "description": "Ripe yellow banana", "itemid": "banana_001", "price": 0.3},
        ]
    }
    text = joined_args(tokens, 0)
    assert text == json.dumps(expected, separators=(",", ":"))
    assert json.loads(text) == expected
    assert tokens[-1] == Finish("STOP")
    assert tokens[-2] == Tool(0, None, None, "}]}")


def test_gemini_partial_args_nested_recipe() -> None:
    # google-vertex-stream-tool-call-arguments-nested: objects in an array in an object,
    # then a sibling string and a string array, with bare willContinue chunks between.
    ingredients = [("16 oz", "Lasagna noodles"), ("1 lb", "Ground beef"), ("15 oz", "Ricotta cheese")]
    steps = ["Preheat oven to 375°F (190°C).", "Cook noodles, drain and set aside."]
    events: list[Any] = [_streamed_call("cookRecipe")]

    def string(path: str, *pieces: str) -> None:
        for piece in pieces:
            events.append(_partial({"jsonPath": path, "stringValue": piece, "willContinue": True}))
        events.append(_partial({"jsonPath": path, "stringValue": ""}))

    for i, (amount, name) in enumerate(ingredients):
        string(f"$.recipe.ingredients[{i}].amount", amount)
        string(f"$.recipe.ingredients[{i}].name", name)
        events.append(gemini({"functionCall": {"willContinue": True}}))
    string("$.recipe.name", "Lasa", "gna")
    for i, step in enumerate(steps):
        string(f"$.recipe.steps[{i}]", step[:10], step[10:])
    events.append(gemini({"functionCall": {}}, finish="STOP"))
    tokens = decode("gemini", sse(*events, eol="\r\n"))
    expected = {
        "recipe": {
            "ingredients": [{"amount": a, "name": n} for a, n in ingredients],
            "name": "Lasagna",
            "steps": steps,
        }
    }
    assert json.loads(joined_args(tokens, 0)) == expected
    assert joined_args(tokens, 0) == json.dumps(expected, separators=(",", ":"), ensure_ascii=False)
    assert tokens[-1] == Finish("STOP")


def test_gemini_streamed_call_without_args() -> None:
    # google-stream-no-args-tool-call: a call with no args at all, then streamed ones.
    data = sse(
        gemini({"text": "**Plan**", "thought": True}),
        gemini({"functionCall": {"name": "read_theme"}}),
        _streamed_call("read_screen"),
        gemini({"functionCall": {}}),
        _streamed_call("read_screen"),
        _partial({"jsonPath": "$.id", "stringValue": "B", "willContinue": True}),
        _partial({"jsonPath": "$.id", "stringValue": ""}),
        gemini({"functionCall": {}}),
        gemini({"text": ""}, finish="STOP"),
    )
    tokens = decode("gemini", data)
    assert tokens == [
        Reasoning("**Plan**"),
        Tool(0, None, "read_theme", "{}"),
        Tool(1, None, "read_screen", ""),
        Tool(1, None, None, "{}"),
        Tool(2, None, "read_screen", ""),
        Tool(2, None, None, '{"id":"B'),
        Tool(2, None, None, '"'),
        Tool(2, None, None, "}"),
        Finish("STOP"),
    ]


def test_gemini_partial_args_values_and_paths() -> None:
    data = sse(
        _streamed_call("f"),
        _partial(
            {"jsonPath": "$.s", "stringValue": 'a"\\\n\t\u0001é', "willContinue": True},
            {"jsonPath": "$.n", "numberValue": 1.25},
            {"jsonPath": "$.b", "boolValue": False},
            {"jsonPath": "$.z", "nullValue": None},
            {"jsonPath": "$.first", "stringValue": 5, "numberValue": -2},  # a non-string stringValue is absent
            {"jsonPath": "$.none"},  # no value: ignored
            {"jsonPath": "bad.path", "stringValue": "x"},  # unparsable: ignored
            {"jsonPath": "$", "stringValue": "x"},  # no segment: ignored
            {"jsonPath": "$.a[x]", "stringValue": "x"},
            {"jsonPath": 5, "stringValue": "x"},
            "junk",
            {"jsonPath": "$.deep.list[0][1]", "boolValue": True},
        ),
        gemini({"functionCall": {}}),
    )
    # Numbers keep their source spelling: json.dumps wrote 1.25, make it 1.250.
    tokens = decode("gemini", data.replace(b"1.25", b"1.250"))
    assert tokens[1:] == [
        Tool(0, None, None, '{"s":"a\\"\\\\\\n\\t\\u0001é'),
        Tool(0, None, None, '","n":1.250'),
        Tool(0, None, None, ',"b":false'),
        Tool(0, None, None, ',"z":null'),
        Tool(0, None, None, ',"first":-2'),
        Tool(0, None, None, ',"deep":{"list":[[true'),
        Tool(0, None, None, "]]}}"),
    ]
    assert json.loads(joined_args(tokens, 0)) == {
        "s": 'a"\\\n\t\u0001é',
        "n": 1.25,
        "b": False,
        "z": None,
        "first": -2,
        "deep": {"list": [[True]]},
    }


def test_gemini_partial_args_root_array() -> None:
    data = sse(
        _streamed_call("f"),
        _partial({"jsonPath": "$[0]", "stringValue": "a"}, {"jsonPath": "$[1].k", "numberValue": 2}),
        gemini({"functionCall": {}}),
    )
    tokens = decode("gemini", data)
    assert json.loads(joined_args(tokens, 0)) == ["a", {"k": 2}]


def test_gemini_open_call_is_closed_by_a_new_call_finish_reason_and_finish() -> None:
    data = sse(
        _streamed_call("a"),
        _partial({"jsonPath": "$.x", "stringValue": "unterminated", "willContinue": True}),
        gemini({"functionCall": {"name": "b", "args": {"k": 1}}}),
        _partial({"jsonPath": "$.ignored", "stringValue": "no call open"}),
        _streamed_call("c"),
        _partial({"jsonPath": "$.list[0][0]", "numberValue": 7}),
        gemini({"text": "done"}, finish="MAX_TOKENS"),
        _streamed_call("d"),
        _partial({"jsonPath": "$.y", "stringValue": "open", "willContinue": True}),
    )
    processor = tokenwire.StreamProcessor("gemini", coalesce=False)
    tokens = processor.feed(data)
    tail = processor.finish()
    assert tokens == [
        Tool(0, None, "a", ""),
        Tool(0, None, None, '{"x":"unterminated'),
        Tool(0, None, None, '"}'),
        Tool(1, None, "b", '{"k":1}'),
        Tool(2, None, "c", ""),
        Tool(2, None, None, '{"list":[[7'),
        Text("done"),
        Tool(2, None, None, "]]}"),
        Finish("MAX_TOKENS"),
        Tool(3, None, "d", ""),
        Tool(3, None, None, '{"y":"open'),
    ]
    assert tail == [Tool(3, None, None, '"}')]
    for index in range(4):
        json.loads(joined_args(tokens + tail, index))


def test_gemini_open_call_without_arguments_closes_as_empty_object() -> None:
    processor = tokenwire.StreamProcessor("gemini")
    assert processor.feed(sse(_streamed_call("f"), gemini({"functionCall": {"willContinue": True}}))) == [
        Tool(0, None, "f", "")
    ]
    assert processor.finish() == [Tool(0, None, None, "{}")]


def test_gemini_same_path_string_and_different_path_strings() -> None:
    data = sse(
        _streamed_call("f"),
        _partial({"jsonPath": "$.a", "stringValue": "1", "willContinue": True}),
        _partial({"jsonPath": "$.a", "stringValue": "2", "willContinue": True}),
        _partial({"jsonPath": "$.b", "stringValue": "3", "willContinue": True}),  # closes "a" first
        _partial({"jsonPath": "$.b", "numberValue": 4}),  # a non-string at the same path closes too
        gemini({"functionCall": {}}),
    )
    tokens = decode("gemini", data)
    assert [t.arguments for t in tokens[1:]] == ['{"a":"1', "2", '","b":"3', '","b":4', "}"]


def test_gemini_error_object() -> None:
    with pytest.raises(OverloadedError) as info:
        decode("gemini", sse({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}))
    assert (info.value.status, info.value.code, info.value.error_type) == (503, "503", "UNAVAILABLE")
    with pytest.raises(ProviderError) as info:
        decode(
            "gemini",
            sse({"error": {"code": "x", "status": 5}, "candidates": [{"content": {"parts": [{"text": "t"}]}}]}),
        )
    assert (info.value.message, info.value.status, info.value.code, info.value.error_type) == (
        "unknown error",
        None,
        None,
        None,
    )
    with pytest.raises(ProviderError) as info:
        decode("gemini", sse({"error": {"code": 1000, "message": "m"}}))
    assert (info.value.status, info.value.code) == (None, "1000")


# ---------------------------------------------------------------------------
# gemini: the Code Assist envelope option
# ---------------------------------------------------------------------------


def code_assist(payload: dict[str, Any], trace: str = "trace-1") -> dict[str, Any]:
    """A Gemini payload as Gemini Code Assist streams it."""
    return {"response": payload, "traceId": trace}


def test_gemini_envelope_option_checks() -> None:
    assert tokenwire.StreamProcessor("gemini", envelope=None).dialect == "gemini"
    assert tokenwire.StreamProcessor("gemini", envelope="response").dialect == "gemini"
    for value in ("", "Response", "response ", "traceId", "it's"):
        with pytest.raises(ValueError) as info:
            tokenwire.StreamProcessor("gemini", envelope=value)
        assert str(info.value) == f"unknown envelope {value!r}; expected 'response'"
    for dialect in ("openai-chat", "openai-responses", "anthropic", "ndjson", "bedrock"):
        with pytest.raises(ValueError) as info:
            tokenwire.StreamProcessor(dialect, envelope="response")
        assert str(info.value) == f"envelope applies to the gemini dialect, not {dialect!r}"
        assert tokenwire.StreamProcessor(dialect, envelope=None).dialect == dialect
    for bad in (b"response", 1, ["response"]):
        with pytest.raises(TypeError):
            tokenwire.StreamProcessor("gemini", envelope=bad)  # type: ignore[arg-type]


def test_gemini_envelope_reads_the_inner_response() -> None:
    payloads = [
        gemini({"text": "plan", "thought": True}),
        gemini({"text": "Hi"}, {"functionCall": {"name": "f", "args": {"n": 1.50, "big": 12345678901234567890}}}),
        {"candidates": [{"content": {"parts": [{"text": "!"}]}, "finishReason": "STOP"}]},
        {"usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "thoughtsTokenCount": 1}},
    ]
    plain = decode("gemini", sse(*payloads, eol="\r\n"))
    assert plain == [
        Reasoning("plan"),
        Text("Hi"),
        Tool(0, None, "f", '{"n":1.5,"big":12345678901234567890}'),
        Text("!"),
        Finish("STOP"),
        Usage(4, 2, 0, 0, 1),
    ]
    wrapped = sse(*(code_assist(p) for p in payloads), eol="\r\n")
    assert decode("gemini", wrapped, envelope="response") == plain
    # Number spelling is kept inside the envelope too (arguments are re-emitted as text).
    raw = (
        '{"response":{"candidates":[{"content":{"parts":[{"functionCall":{"name":"g","args":{"x":1.50,"y":1e2}}}]}}]},'
        '"traceId":"t"}'
    )
    assert decode("gemini", sse(raw), envelope="response") == [Tool(0, None, "g", '{"x":1.50,"y":1e2}')]
    # Without the option the envelope hides everything.
    assert decode("gemini", wrapped) == []


def test_gemini_envelope_streamed_partial_args_and_done() -> None:
    data = sse(
        code_assist(gemini({"functionCall": {"name": "f", "willContinue": True}})),
        code_assist(
            gemini({"functionCall": {"partialArgs": [{"jsonPath": "$.q", "stringValue": "ab"}], "willContinue": True}})
        ),
        code_assist({"candidates": [{"content": {"parts": [{"functionCall": {}}]}, "finishReason": "STOP"}]}),
        code_assist({"usageMetadata": {"promptTokenCount": 3}}),
    )
    processor = tokenwire.StreamProcessor("gemini", coalesce=False, envelope="response")
    tokens = processor.feed(data)
    assert processor.done is True
    tokens += processor.finish()
    assert tokens == [
        Tool(0, None, "f", ""),
        Tool(0, None, None, '{"q":"ab"'),
        Tool(0, None, None, "}"),
        Finish("STOP"),
        Usage(3, 0, 0, 0, 0),
    ]


def test_gemini_envelope_events_without_a_response_object() -> None:
    # An event with no `response` object is read as it is: nothing to read in most.
    data = sse(
        {"traceId": "t"},
        {"response": None, "traceId": "t"},
        {"response": [gemini({"text": "in a list"})]},
        {"response": "text", **gemini({"text": "bare"})},
        {"response": {}, **gemini({"text": "outer, hidden by the inner object"})},
        '{"response":{"candidates":[{"content":{"parts":[{"text":"first"}]}}]},'
        '"response":{"candidates":[{"content":{"parts":[{"text":"last"}]}}]}}',
    )
    assert decode("gemini", data, envelope="response") == [Text("bare"), Text("last")]


def test_gemini_envelope_errors_raise_outside_or_inside() -> None:
    outside = {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}
    with pytest.raises(RateLimitError) as info:
        decode("gemini", sse(code_assist(gemini({"text": "a"})), outside), envelope="response")
    assert (info.value.message, info.value.status, info.value.error_type) == (
        "Quota exceeded",
        429,
        "RESOURCE_EXHAUSTED",
    )
    inside = code_assist({"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
    with pytest.raises(OverloadedError):
        decode("gemini", sse(inside), envelope="response")
    # Deferred like any error: the text of the same chunk comes first.
    processor = tokenwire.StreamProcessor("gemini", envelope="response")
    assert processor.feed(sse(code_assist(gemini({"text": "a"})), outside)) == [Text("a")]
    with pytest.raises(RateLimitError):
        processor.finish()


# ---------------------------------------------------------------------------
# ndjson
# ---------------------------------------------------------------------------


def test_ndjson_ollama_chat() -> None:
    data = ndjson(
        {"model": "m", "message": {"role": "assistant", "content": "", "thinking": "hmm"}, "done": False},
        {"model": "m", "message": {"role": "assistant", "content": "Hi", "thinking": "more"}, "done": False},
        '{"message":{"tool_calls":[{"function":{"name":"f","arguments":{"n":1.0,"s":"x"}}},'
        '{"id":"t2","function":{"name":"g"}},"junk",{"function":"bad"}]},"done":false}',
        {"message": {"content": ""}, "done": True, "done_reason": "length", "prompt_eval_count": 5, "eval_count": 6},
        {"message": {"content": "late"}},
    )
    processor = tokenwire.StreamProcessor("ndjson", coalesce=False)
    assert processor.feed(data) == [
        Reasoning("hmm"),
        Reasoning("more"),
        Text("Hi"),
        Tool(0, None, "f", '{"n":1.0,"s":"x"}'),
        Tool(1, "t2", "g", "{}"),
        Tool(2, None, None, "{}"),
        Finish("length"),
        Usage(5, 6, 0, 0, 0),
    ]
    assert processor.done is True
    assert processor.finish() == []


def test_ndjson_done_defaults() -> None:
    assert decode("ndjson", ndjson({"done": True})) == [Finish("stop")]
    assert decode("ndjson", ndjson({"done": True, "done_reason": "", "eval_count": 3})) == [
        Finish("stop"),
        Usage(0, 3, 0, 0, 0),
    ]
    assert decode("ndjson", ndjson({"done": "true"}, {"message": {"content": "still going"}})) == [Text("still going")]


def test_ndjson_error_object() -> None:
    with pytest.raises(ProviderError) as info:
        decode("ndjson", ndjson({"error": {"message": "bad"}}))
    assert info.value.message == "bad"
    with pytest.raises(ProviderError) as info:
        decode("ndjson", ndjson({"error": {}}))
    assert info.value.message == "unknown error"
    assert decode("ndjson", ndjson({"error": None, "message": {"content": "ok"}})) == [Text("ok")]


# ---------------------------------------------------------------------------
# openai-chat: legacy Completions chunks
# ---------------------------------------------------------------------------


def completion(text: Any, *, index: Any = 0, finish: Optional[str] = None, **top: Any) -> dict[str, Any]:
    """One legacy text_completion chunk."""
    choice = {"text": text, "index": index, "logprobs": None, "finish_reason": finish}
    return {"id": "cmpl-1", "object": "text_completion", "choices": [choice], **top}


def test_openai_legacy_completion_text() -> None:
    data = sse(
        completion("Once"),
        completion(" upon", index=None),
        completion("other choice", index=1),
        completion(""),
        completion(5),
        completion(" a time", finish="length"),
        {
            "id": "cmpl-1",
            "object": "text_completion",
            "choices": [],
            "usage": {"prompt_tokens": 4, "completion_tokens": 5},
        },
        "[DONE]",
    )
    assert decode("openai-chat", data) == [
        Text("Once"),
        Text(" upon"),
        Text(" a time"),
        Finish("length"),
        Usage(4, 5, 0, 0, 0),
    ]
    assert decode("openai-chat", data, coalesce=True)[0] == Text("Once upon a time")


def test_openai_legacy_text_sits_where_content_is_in_the_emit_order() -> None:
    choice = {
        "finish_reason": "stop",
        "delta": {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f"}}], "content": "c", "reasoning": "r"},
        "text": "t",
    }
    assert decode("openai-chat", sse({"choices": [choice]})) == [
        Reasoning("r"),
        Text("c"),
        Text("t"),
        Tool(0, "c", "f", ""),
        Finish("stop"),
    ]


# ---------------------------------------------------------------------------
# think_tags (openai-chat and ndjson)
# ---------------------------------------------------------------------------


def contents(*texts: str, finish: Optional[str] = None) -> bytes:
    """An openai-chat stream whose content deltas are ``texts``, then ``[DONE]``."""
    events: list[Payload] = [chat({"content": text}) for text in texts]
    if finish is not None:
        events.append(chat({}, finish=finish))
    return sse(*events, "[DONE]")


def think(data: bytes, dialect: str = "openai-chat", *, coalesce: bool = False) -> list[Any]:
    return decode(dialect, data, coalesce=coalesce, think_tags=True)


def test_think_tags_default_off_and_option_checks() -> None:
    data = contents("<think>r</think>t")
    assert decode("openai-chat", data) == [Text("<think>r</think>t")]
    assert decode("openai-chat", data, think_tags=False) == [Text("<think>r</think>t")]
    assert think(data) == [Reasoning("r"), Text("t")]
    for dialect in ("openai-responses", "anthropic", "gemini"):
        with pytest.raises(ValueError) as info:
            tokenwire.StreamProcessor(dialect, think_tags=True)
        assert str(info.value) == f"think_tags applies to the openai-chat and ndjson dialects, not {dialect!r}"
        tokenwire.StreamProcessor(dialect, think_tags=False)
    for bad in (1, "yes", None):
        with pytest.raises(TypeError):
            tokenwire.StreamProcessor("openai-chat", think_tags=bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            tokenwire.StreamProcessor("openai-chat", coalesce=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        # Blocks anywhere, any number; text around them kept byte for byte.
        (["<think>a</think>b"], [Reasoning("a"), Text("b")]),
        (["<think>\nplan\n</think>\n\nAnswer"], [Reasoning("\nplan\n"), Text("\n\nAnswer")]),
        (
            ["x <think>a</think> y<think>b</think>z"],
            [Text("x "), Reasoning("a"), Text(" y"), Reasoning("b"), Text("z")],
        ),
        (["<think></think>", "t"], [Text("t")]),
        # Only the exact tags; no nesting.
        (["< think>a</ think>"], [Text("< think>a</ think>")]),
        (["<THINK>a</THINK>"], [Text("<THINK>a</THINK>")]),
        (["<thinking>a"], [Text("<thinking>a")]),
        (["a</think>b"], [Text("a</think>b")]),
        (["<think>X<think>Y</think>Z</think>"], [Reasoning("X<think>Y"), Text("Z</think>")]),
        # Unterminated: reasoning to the end (the held "</thi" too).
        (["<think>abc</thi"], [Reasoning("abc"), Reasoning("</thi")]),
        # Split tags: held back until decided, then emitted as what they turned out to be.
        (["a<thi", "nk>r</thi", "nk>b"], [Text("a"), Reasoning("r"), Text("b")]),
        (["a<", "b"], [Text("a"), Text("<b")]),
        (["a<th", "<think>r"], [Text("a"), Text("<th"), Reasoning("r")]),
        (["<think>r<", "/think>t"], [Reasoning("r"), Text("t")]),
        (["é<", "think>ü</think>ö"], [Text("é"), Reasoning("ü"), Text("ö")]),
    ],
)
def test_think_tags_split(texts: list[str], expected: list[Any]) -> None:
    assert think(contents(*texts)) == expected


def test_think_tags_one_character_per_delta_and_per_byte() -> None:
    answer = "Sure: <think>step 1 < step 2</think>\n\nDone <3"
    data = contents(*answer)
    expected = [Text("Sure: "), Reasoning("step 1 < step 2"), Text("\n\nDone <3")]
    assert think(data, coalesce=True) == expected
    processor = tokenwire.StreamProcessor("openai-chat", think_tags=True, coalesce=True)
    tokens = [t for i in range(len(data)) for t in processor.feed(data[i : i + 1])] + processor.finish()
    runs: list[Any] = []
    for token in tokens:
        if runs and type(runs[-1]) is type(token):
            runs[-1] = type(token)(runs[-1].text + token.text)
        else:
            runs.append(token)
    assert runs == expected


def test_think_tags_held_text_is_released_before_finish_at_done_and_by_finish() -> None:
    # Before the choice's Finish.
    assert think(contents("a<th", finish="stop")) == [Text("a"), Text("<th"), Finish("stop")]
    # At [DONE] (before the Usage it releases).
    data = sse(chat({"content": "a<"}), {"choices": [], "usage": {"prompt_tokens": 1}}, "[DONE]")
    assert think(data) == [Text("a"), Text("<"), Usage(1, 0, 0, 0, 0)]
    # By finish(), when the stream has no [DONE]; inside a block it is reasoning.
    processor = tokenwire.StreamProcessor("openai-chat", think_tags=True)
    assert processor.feed(sse(chat({"content": "<think>r</th"}))) == [Reasoning("r")]
    assert processor.finish() == [Reasoning("</th")]
    # Reasoning fields are not split; tool calls do not release held text.
    data = sse(chat({"reasoning_content": "<think>x</think>", "content": "t<"}), chat({"content": "think>r"}))
    assert think(data) == [Reasoning("<think>x</think>"), Text("t"), Reasoning("r")]


def test_think_tags_apply_to_legacy_completion_text() -> None:
    data = sse(completion("<think>r</thi"), completion("nk>t", finish="stop"))
    assert think(data) == [Reasoning("r"), Text("t"), Finish("stop")]


def test_think_tags_ndjson() -> None:
    data = ndjson(
        {"message": {"content": "<thi"}, "done": False},
        {"message": {"content": "nk>r</think>t<"}, "done": False},
        {"message": {"content": ""}, "done": True, "eval_count": 2},
    )
    assert think(data, "ndjson") == [Reasoning("r"), Text("t"), Text("<"), Finish("stop"), Usage(0, 2, 0, 0, 0)]
    assert think(ndjson({"message": {"content": "<think>r</"}}), "ndjson") == [Reasoning("r"), Reasoning("</")]
    assert think(ndjson({"message": {"thinking": "<think>x", "content": "y"}}), "ndjson") == [
        Reasoning("<think>x"),
        Text("y"),
    ]

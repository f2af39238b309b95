"""tokenwire.testing.synth: answers rendered as exact provider wire bytes.

The synthesized streams are decoded here two ways: with plain ``json.loads`` over a
minimal SSE split (independent of the code under test), and — where the dialect
exists — with ``tokenwire.StreamProcessor``. Both must give back exactly the Answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tokenwire
from tokenwire.testing import Answer, synth

PROTOCOLS = ("openai-chat", "openai-responses", "openai-completions", "anthropic")
STREAMED_DIALECTS = ("openai-chat", "openai-responses", "anthropic")


@dataclass
class Decoded:
    text: str = ""
    reasoning: str = ""
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    usage: Optional[tuple[int, int, int, int, int]] = None
    finish: Optional[str] = None
    done: bool = False


def sse(raw: bytes) -> list[tuple[str, str]]:
    """(event type, data) per SSE block; the synthesizer only emits LF line ends."""
    out: list[tuple[str, str]] = []
    for block in raw.decode("utf-8").split("\n\n"):
        if not block:
            continue
        event, data = "message", []
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
        out.append((event, "\n".join(data)))
    return out


def decode(raw: bytes, protocol: str) -> Decoded:
    """Reference decoder: what the payloads contain, read with json.loads."""
    result = Decoded()
    calls: dict[int, list[str]] = {}
    for event, data in sse(raw):
        if data == "[DONE]":
            result.done = True
            continue
        payload: dict[str, Any] = json.loads(data)
        if protocol == "openai-chat":
            if payload.get("usage"):
                u = payload["usage"]
                result.usage = (
                    u["prompt_tokens"],
                    u["completion_tokens"],
                    u["prompt_tokens_details"]["cached_tokens"],
                    0,
                    u["completion_tokens_details"]["reasoning_tokens"],
                )
            for choice in payload["choices"]:
                delta = choice["delta"]
                result.text += delta.get("content") or ""
                result.reasoning += delta.get("reasoning_content") or ""
                for call in delta.get("tool_calls", []):
                    entry = calls.setdefault(call["index"], ["", ""])
                    entry[0] += call.get("function", {}).get("name", "")
                    entry[1] += call.get("function", {}).get("arguments", "")
                result.finish = choice["finish_reason"] or result.finish
        elif protocol == "openai-completions":
            if payload.get("usage"):
                u = payload["usage"]
                result.usage = (u["prompt_tokens"], u["completion_tokens"], 0, 0, 0)
            for choice in payload["choices"]:
                result.text += choice["text"]
                result.finish = choice["finish_reason"] or result.finish
        elif protocol == "openai-responses":
            assert payload["type"] == event
            if event == "response.output_text.delta":
                result.text += payload["delta"]
            elif event == "response.reasoning_summary_text.delta":
                result.reasoning += payload["delta"]
            elif event == "response.output_item.added" and payload["item"]["type"] == "function_call":
                calls[payload["output_index"]] = [payload["item"]["name"], ""]
            elif event == "response.function_call_arguments.delta":
                calls[payload["output_index"]][1] += payload["delta"]
            elif event == "response.completed":
                u = payload["response"]["usage"]
                result.usage = (
                    u["input_tokens"],
                    u["output_tokens"],
                    u["input_tokens_details"]["cached_tokens"],
                    0,
                    u["output_tokens_details"]["reasoning_tokens"],
                )
                result.done = True
        else:
            assert payload["type"] == event
            if event == "content_block_start" and payload["content_block"]["type"] == "tool_use":
                calls[payload["index"]] = [payload["content_block"]["name"], ""]
            elif event == "content_block_delta":
                delta = payload["delta"]
                if delta["type"] == "text_delta":
                    result.text += delta["text"]
                elif delta["type"] == "thinking_delta":
                    result.reasoning += delta["thinking"]
                elif delta["type"] == "input_json_delta":
                    calls[payload["index"]][1] += delta["partial_json"]
            elif event == "message_delta":
                u = payload["usage"]
                result.usage = (
                    u["input_tokens"],
                    u["output_tokens"],
                    u["cache_read_input_tokens"],
                    u["cache_creation_input_tokens"],
                    0,
                )
                result.finish = payload["delta"]["stop_reason"]
            elif event == "message_stop":
                result.done = True
    result.tool_calls = [(name, args) for _, (name, args) in sorted(calls.items())]
    return result


RICH = Answer(
    "Héllo there,  friend!\nHow are you? ",
    reasoning="First think. Then answer.",
    tool_calls=[("get_weather", '{"city": "Paris", "unit": "c"}'), ("noop", "{}")],
    usage=(120, 45, 30, 7, 12),
    chunk_words=2,
    args_chunk_chars=5,
)


def expected_usage(answer: Answer, protocol: str, input_tokens: int = 0) -> tuple[int, ...]:
    inp, out, cache_read, cache_write, reasoning = answer.resolved_usage(input_tokens)
    if protocol == "anthropic":
        return (inp, out, cache_read, cache_write, 0)  # thinking tokens are not broken out by Anthropic
    if protocol == "openai-completions":
        return (inp, out, 0, 0, 0)
    return (inp, out, cache_read, 0, reasoning)  # OpenAI has no cache-write field


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_stream_decodes_to_the_answer(protocol: str) -> None:
    decoded = decode(synth.stream(RICH, protocol), protocol)  # type: ignore[arg-type]
    assert decoded.text == RICH.text
    assert decoded.done
    assert decoded.usage == expected_usage(RICH, protocol)
    if protocol == "openai-completions":
        assert decoded.tool_calls == [] and decoded.reasoning == ""
    else:
        assert decoded.reasoning == RICH.reasoning
        assert decoded.tool_calls == list(RICH.tool_calls)


def test_finish_reasons() -> None:
    assert decode(synth.stream(RICH, "openai-chat"), "openai-chat").finish == "tool_calls"
    assert decode(synth.stream(Answer("x"), "openai-chat"), "openai-chat").finish == "stop"
    assert decode(synth.stream(RICH, "anthropic"), "anthropic").finish == "tool_use"
    assert decode(synth.stream(Answer("x"), "anthropic"), "anthropic").finish == "end_turn"
    capped = Answer("x", finish_reason="length")
    assert decode(synth.stream(capped, "openai-completions"), "openai-completions").finish == "length"


@given(
    text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60),
    chunk_words=st.integers(min_value=0, max_value=4),
    protocol=st.sampled_from(PROTOCOLS),
)
def test_any_text_round_trips(text: str, chunk_words: int, protocol: str) -> None:
    answer = Answer(text, chunk_words=chunk_words)
    assert decode(synth.stream(answer, protocol), protocol).text == text  # type: ignore[arg-type]


def test_chunking_follows_chunk_words() -> None:
    events = synth.stream_events(Answer("one two three four five", chunk_words=2), "openai-chat")
    contents = [json.loads(e[len(b"data: ") :])["choices"][0]["delta"].get("content") for e in events[1:-3]]
    assert contents == ["one two", " three four", " five"]
    whole = synth.stream_events(Answer("one two three", chunk_words=0), "anthropic")
    deltas = [e for e in whole if b"text_delta" in e]
    assert len(deltas) == 1


def test_include_usage_controls_the_usage_chunk() -> None:
    without = synth.stream(Answer("hi"), "openai-chat", include_usage=False)
    assert b'"usage"' not in without
    assert decode(without, "openai-chat").usage is None
    with_usage = synth.stream_events(Answer("hi"), "openai-chat", include_usage=True)
    last_chunk = json.loads(with_usage[-2][len(b"data: ") :])
    assert last_chunk["choices"] == [] and last_chunk["usage"]["total_tokens"] > 0
    assert all(b'"usage":null' in event for event in with_usage[:-2])
    assert with_usage[-1] == b"data: [DONE]\n\n"


def test_auto_usage_is_estimated() -> None:
    answer = Answer("12345678", reasoning="abcd", tool_calls=[("fn", "{}")])
    assert answer.resolved_usage(input_tokens=17) == (17, 2 + 1 + 1 + 1, 0, 0, 1)
    assert synth.estimate_tokens("") == 0
    assert synth.estimate_tokens("abcde") == 2


def test_usage_tuple_is_padded_and_validated() -> None:
    assert Answer("x", usage=(3, 4)).resolved_usage(99) == (3, 4, 0, 0, 0)
    for bad in [(1,), (1, 2, 3, 4, 5, 6), (1, -2)]:
        with pytest.raises(ValueError):
            Answer("x", usage=bad)
    with pytest.raises(ValueError):
        Answer("x", usage="estimate")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Answer("x", chunk_words=-1)


def test_output_is_deterministic_and_ids_look_real() -> None:
    assert synth.stream(RICH, "anthropic") == synth.stream(RICH, "anthropic")
    assert synth.stream(RICH, "openai-chat", response_id="a") != synth.stream(RICH, "openai-chat", response_id="b")
    chat = json.loads(synth.stream_events(RICH, "openai-chat")[0][len(b"data: ") :])
    assert chat["id"].startswith("chatcmpl-") and chat["object"] == "chat.completion.chunk"
    assert chat["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    start = json.loads(sse(synth.stream(RICH, "anthropic"))[0][1])
    assert start["message"]["id"].startswith("msg_01") and len(start["message"]["id"]) == 28
    tool_start = [json.loads(d) for e, d in sse(synth.stream(RICH, "anthropic")) if e == "content_block_start"][-1]
    assert tool_start["content_block"]["id"].startswith("toolu_01")
    assert tool_start["content_block"]["input"] == {}


def test_openai_chat_tool_call_shape() -> None:
    payloads = [json.loads(d) for _, d in sse(synth.stream(RICH, "openai-chat")) if d != "[DONE]"]
    openings = [
        p["choices"][0]["delta"]["tool_calls"][0]
        for p in payloads
        if p["choices"]
        and "tool_calls" in p["choices"][0]["delta"]
        and "id" in p["choices"][0]["delta"]["tool_calls"][0]
    ]
    assert [o["index"] for o in openings] == [0, 1]
    assert openings[0]["type"] == "function"
    assert openings[0]["function"] == {"name": "get_weather", "arguments": ""}
    assert openings[0]["id"].startswith("call_") and len(openings[0]["id"]) == 29


def test_anthropic_event_order() -> None:
    kinds = [event for event, _ in sse(synth.stream(RICH, "anthropic"))]
    assert kinds[:3] == ["message_start", "content_block_start", "ping"]
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 4
    signature = [json.loads(d) for e, d in sse(synth.stream(RICH, "anthropic")) if "signature_delta" in d]
    assert len(signature) == 1


def test_responses_event_order_and_sequence_numbers() -> None:
    blocks = sse(synth.stream(Answer("hi there", tool_calls=[("f", "{}")]), "openai-responses"))
    kinds = [event for event, _ in blocks]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert kinds.count("response.output_item.added") == kinds.count("response.output_item.done") == 2
    assert [json.loads(d)["sequence_number"] for _, d in blocks] == list(range(len(blocks)))
    completed = json.loads(blocks[-1][1])["response"]
    assert completed["status"] == "completed"
    assert [item["type"] for item in completed["output"]] == ["message", "function_call"]


def test_azure_variant() -> None:
    events = synth.stream_events(Answer("hi"), "openai-chat", azure=True)
    first = json.loads(events[0][len(b"data: ") :])
    assert first["choices"] == [] and first["prompt_filter_results"][0]["prompt_index"] == 0
    assert decode(b"".join(events), "openai-chat").text == "hi"
    document = json.loads(synth.body(Answer("hi"), "openai-chat", azure=True))
    assert "prompt_filter_results" in document and "content_filter_results" in document["choices"][0]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_non_streaming_bodies(protocol: str) -> None:
    raw = synth.body(RICH, protocol, model="m-1", input_tokens=5)  # type: ignore[arg-type]
    document = json.loads(raw)
    usage = RICH.resolved_usage()
    if protocol == "openai-chat":
        assert raw.startswith(b'{\n  "id": "chatcmpl-')  # pretty-printed, like OpenAI
        message = document["choices"][0]["message"]
        assert message["content"] == RICH.text and message["reasoning_content"] == RICH.reasoning
        assert [(c["function"]["name"], c["function"]["arguments"]) for c in message["tool_calls"]] == list(
            RICH.tool_calls
        )
        assert document["choices"][0]["finish_reason"] == "tool_calls"
        assert document["usage"]["prompt_tokens"] == usage[0]
        assert document["usage"]["prompt_tokens_details"]["cached_tokens"] == usage[2]
    elif protocol == "openai-completions":
        assert document["object"] == "text_completion" and document["choices"][0]["text"] == RICH.text
        assert document["usage"]["completion_tokens"] == usage[1]
    elif protocol == "openai-responses":
        assert document["status"] == "completed" and document["model"] == "m-1"
        kinds = [item["type"] for item in document["output"]]
        assert kinds == ["reasoning", "message", "function_call", "function_call"]
        assert document["usage"]["output_tokens_details"]["reasoning_tokens"] == usage[4]
    else:
        assert b"\n" not in raw  # Anthropic bodies are compact
        kinds = [block["type"] for block in document["content"]]
        assert kinds == ["thinking", "text", "tool_use", "tool_use"]
        assert document["content"][2]["input"] == {"city": "Paris", "unit": "c"}
        assert document["stop_reason"] == "tool_use"
        assert document["usage"]["cache_creation_input_tokens"] == usage[3]


def test_tool_only_answer_has_null_content() -> None:
    document = json.loads(synth.body(Answer(tool_calls=[("f", "{}")]), "openai-chat"))
    assert document["choices"][0]["message"]["content"] is None
    blocks = json.loads(synth.body(Answer(tool_calls=[("f", "{}")]), "anthropic"))["content"]
    assert [b["type"] for b in blocks] == ["tool_use"]


def test_frame_follows_the_recording_rules() -> None:
    lines = ['{"id":"x","choices":[]}', "", {"id": "y", "choices": []}]
    assert synth.frame(lines, "openai-chat") == [
        b'data: {"id":"x","choices":[]}\n\n',
        b'data: {"id":"y","choices":[]}\n\n',
        b"data: [DONE]\n\n",
    ]
    framed = synth.frame(['{"type":"message_start","message":{}}\n', b'{"type":"ping"}'], "anthropic")
    assert framed == [
        b'event: message_start\ndata: {"type":"message_start","message":{}}\n\n',
        b'event: ping\ndata: {"type":"ping"}\n\n',
    ]
    assert synth.frame(['{"type":"response.created"}'], "openai-responses") == [
        b'event: response.created\ndata: {"type":"response.created"}\n\n'
    ]
    with pytest.raises(ValueError, match="type"):
        synth.frame(['{"no":"type"}'], "anthropic")
    with pytest.raises(ValueError, match="unknown protocol"):
        synth.frame([], "gemini")  # type: ignore[arg-type]


def test_split_sse_events_round_trips() -> None:
    raw = b"data: a\n\nevent: x\r\ndata: b\r\n\r\ndata: c\r\rdata: tail"
    events = synth.split_sse_events(raw)
    assert events == [b"data: a\n\n", b"event: x\r\ndata: b\r\n\r\n", b"data: c\r\r", b"data: tail"]
    assert b"".join(events) == raw
    assert synth.split_sse_events(b"") == []


# ---------------------------------------------------------------------------
# Decoding with tokenwire.StreamProcessor (both backends)
# ---------------------------------------------------------------------------


def processor_or_skip(dialect: str) -> Any:
    processor_class = getattr(tokenwire, "StreamProcessor", None)
    if processor_class is None or dialect not in tokenwire.DIALECTS:
        pytest.skip(f"tokenwire.StreamProcessor({dialect!r}) is not available in this build yet")
    return processor_class(dialect)


@pytest.mark.parametrize("dialect", STREAMED_DIALECTS)
@pytest.mark.parametrize("chunk_size", [1, 7, 1 << 20])
def test_processor_decodes_synthesized_streams(dialect: str, chunk_size: int) -> None:
    processor = processor_or_skip(dialect)
    raw = synth.stream(RICH, dialect)  # type: ignore[arg-type]
    tokens: list[Any] = []
    for start in range(0, len(raw), chunk_size):
        tokens.extend(processor.feed(raw[start : start + chunk_size]))
    tokens.extend(processor.finish())
    text = "".join(t.text for t in tokens if t.kind == "text")
    reasoning = "".join(t.text for t in tokens if t.kind == "reasoning")
    calls: dict[int, list[str]] = {}
    for token in tokens:
        if token.kind == "tool_call":
            entry = calls.setdefault(token.index, ["", ""])
            entry[0] += token.name or ""
            entry[1] += token.arguments
    usages = [t for t in tokens if t.kind == "usage"]
    # The anthropic dialect separates blocks after the first with "\n", as Roo-Code does;
    # RICH's text block follows its thinking block.
    assert text == ("\n" + RICH.text if dialect == "anthropic" else RICH.text)
    assert reasoning == RICH.reasoning
    assert [tuple(v) for _, v in sorted(calls.items())] == list(RICH.tool_calls)
    assert len(usages) == 1
    u = usages[0]
    assert (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens) == expected_usage(
        RICH, dialect
    )[:4]
    if dialect != "anthropic":  # Anthropic does not report thinking tokens separately
        assert u.reasoning_tokens == RICH.resolved_usage()[4]

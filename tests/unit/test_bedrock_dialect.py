"""The ``bedrock`` StreamProcessor dialect on the public API (both backends across the
runs): ConverseStream, the InvokeModelWithResponseStream families, exceptions mapped to
error classes, option checks; plus native/pure parity on synthesized streams."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from tests._stream_helpers import byte_chunks, run_processor, token_tuple
from tests.conftest import parity_only_in_native_run

import tokenwire
from tokenwire.errors import (
    BadRequestError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StreamDecodeError,
)
from tokenwire.testing.eventstream import encode_message, error_message, event_message, exception_message


def chunk(inner: dict[str, Any]) -> bytes:
    return event_message("chunk", {"bytes": base64.b64encode(json.dumps(inner).encode()).decode()})


def decode(data: bytes, **kwargs: Any) -> list[tuple[Any, ...]]:
    processor = tokenwire.StreamProcessor("bedrock", coalesce=False, **kwargs)
    tokens = [token_tuple(t) for t in processor.feed(data)]
    return tokens + [token_tuple(t) for t in processor.finish()]


CLAUDE = b"".join(
    chunk(e)
    for e in [
        {"type": "message_start", "message": {"usage": {"input_tokens": 12, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "tu", "name": "f"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{}"}},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 12}},
    ]
)
TITAN = chunk({"outputText": "Hi", "index": 0, "inputTextTokenCount": 3, "totalOutputTextTokenCount": 1}) + chunk(
    {"outputText": " there", "totalOutputTextTokenCount": 2, "completionReason": "FINISH"}
)
LLAMA = chunk({"generation": "Yo", "prompt_token_count": 5, "generation_token_count": 1, "stop_reason": None}) + chunk(
    {"generation": "!", "prompt_token_count": None, "generation_token_count": 2, "stop_reason": "length"}
)


def test_invoke_model_families() -> None:
    assert decode(CLAUDE, invoke_model="anthropic") == [
        ("ReasoningDelta", "hm"),
        ("ToolCallDelta", 0, "tu", "f", ""),
        ("ToolCallDelta", 0, None, None, "{}"),
        ("Finish", "tool_use"),
        ("Usage", 12, 9, 0, 0, 0),
    ]
    assert decode(TITAN, invoke_model="titan") == [
        ("TextDelta", "Hi"),
        ("TextDelta", " there"),
        ("Finish", "FINISH"),
        ("Usage", 3, 2, 0, 0, 0),
    ]
    assert decode(LLAMA, invoke_model="llama") == [
        ("TextDelta", "Yo"),
        ("TextDelta", "!"),
        ("Finish", "length"),
        ("Usage", 5, 2, 0, 0, 0),
    ]
    processor = tokenwire.StreamProcessor("bedrock", invoke_model="titan")
    processor.feed(TITAN)
    assert processor.done


@pytest.mark.parametrize(
    ("exception_type", "cls"),
    [
        ("ThrottlingException", RateLimitError),
        ("throttlingException", RateLimitError),
        ("validationException", BadRequestError),
        ("AccessDeniedException", PermissionDeniedError),
        ("serviceUnavailableException", OverloadedError),
        ("modelStreamErrorException", ServerError),
        ("internalServerException", ServerError),
        ("modelTimeoutException", ServerError),
    ],
)
def test_exceptions_raise_their_class_after_earlier_tokens(exception_type: str, cls: type[Exception]) -> None:
    stream = event_message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "a"}}) + exception_message(
        exception_type, "slow down"
    )
    processor = tokenwire.StreamProcessor("bedrock")
    assert [token_tuple(t) for t in processor.feed(stream)] == [("TextDelta", "a")]
    with pytest.raises(cls) as info:
        processor.feed(b"")
    assert info.value.message == "slow down"  # type: ignore[attr-defined]
    assert info.value.error_type == exception_type  # type: ignore[attr-defined]
    with pytest.raises(cls):
        processor.finish()


def test_error_messages_and_ignored_types() -> None:
    with pytest.raises(ServerError) as info:
        decode(error_message("InternalServerException", "boom"))
    assert (info.value.message, info.value.code) == ("boom", "InternalServerException")
    assert decode(encode_message({":message-type": "other"}, b"{}") + encode_message({}, b"{}")) == []


def test_decode_errors_have_offsets() -> None:
    bad = event_message("metadata", {"usage": {}})[:-1] + b"\x00"
    with pytest.raises(StreamDecodeError) as info:
        decode(bad)
    assert (info.value.message, info.value.offset) == ("event-stream message CRC mismatch", len(bad) - 4)
    cut = CLAUDE[:-5]
    with pytest.raises(StreamDecodeError) as info:
        decode(cut, invoke_model="anthropic")
    assert (info.value.message, info.value.offset) == ("stream ended inside an event", len(cut))
    with pytest.raises(StreamDecodeError) as info:
        decode(event_message("chunk", {"bytes": "***"}), invoke_model="llama")
    assert info.value.message == "invalid base64 in bedrock chunk"


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown invoke_model 'mistral'; expected one of: anthropic, titan, llama"):
        tokenwire.StreamProcessor("bedrock", invoke_model="mistral")
    with pytest.raises(ValueError, match="invoke_model is only valid with the bedrock dialect"):
        tokenwire.StreamProcessor("anthropic", invoke_model="anthropic")
    assert tokenwire.StreamProcessor("bedrock").dialect == "bedrock"


@pytest.mark.parametrize(
    ("stream", "invoke_model"),
    [(CLAUDE, "anthropic"), (TITAN, "titan"), (LLAMA, "llama"), (CLAUDE + exception_message("x", "y"), "anthropic")],
)
def test_native_and_pure_agree(stream: bytes, invoke_model: str) -> None:
    parity_only_in_native_run()
    from tokenwire import _native, _pure

    for chunks in ([stream], byte_chunks(stream)):
        outcomes = []
        for module in (_native, _pure):
            processor = module.StreamProcessor("bedrock", invoke_model=invoke_model)
            tokens: list[Any] = []
            error = None
            try:
                for part in chunks:
                    tokens += [token_tuple(t) for t in processor.feed(part)]
                tokens += [token_tuple(t) for t in processor.finish()]
            except Exception as exc:
                error = (type(exc).__name__, str(exc))
            outcomes.append((tokens, error))
        assert outcomes[0] == outcomes[1]
    assert run_processor(_native, "bedrock", [stream]).tokens == run_processor(_pure, "bedrock", [stream]).tokens

"""Answer synthesis: an :class:`Answer` rendered as a provider's exact wire bytes.

Usable on its own (no server needed)::

    from tokenwire.testing import Answer, synth

    raw = synth.stream(Answer("Hello there", tool_calls=[("get_weather", '{"city":"Paris"}')]), "openai-chat")
    body = synth.body(Answer("Hello there"), "anthropic")          # non-streaming JSON

Protocols (the names match the ``tokenwire.StreamProcessor`` dialects where one exists):

- ``"openai-chat"`` — Chat Completions: ``data: <chunk>\\n\\n`` … ``data: [DONE]\\n\\n``.
  The first chunk carries ``delta.role``; reasoning goes out as ``delta.reasoning_content``
  (the DeepSeek/xAI field: OpenAI itself never streams reasoning text on this API);
  each tool call sends ``id``/``type``/``function.name`` once, then argument fragments
  by ``index``; the last choice chunk has ``finish_reason``. With ``include_usage`` every
  chunk has ``"usage": null`` and a final ``choices: []`` chunk carries the usage, as
  OpenAI does for ``stream_options.include_usage``. ``azure=True`` adds Azure's leading
  ``prompt_filter_results`` chunk and per-choice ``content_filter_results``.
- ``"openai-responses"`` — the Responses API event stream (``event: <type>`` +
  ``data:``): ``response.created``, ``response.in_progress``, then per output item
  ``output_item.added`` … ``output_item.done`` (a ``reasoning`` item with summary-text
  deltas, a ``message`` item with ``content_part``/``output_text`` deltas, one
  ``function_call`` item per tool call with ``function_call_arguments`` deltas), and
  ``response.completed`` with the usage.
- ``"openai-completions"`` — legacy Completions (``text_completion`` chunks; no
  reasoning or tool calls on that API, so only ``text`` is rendered).
- ``"anthropic"`` — Messages: ``message_start``, one content block per part (``thinking``
  with ``thinking_delta``s and a ``signature_delta``, then ``text``, then one
  ``tool_use`` per call with ``input_json_delta``s), a ``ping`` after the first block
  start, ``message_delta`` with ``stop_reason`` and usage, ``message_stop``.

Usage mapping: ``Answer.usage = (input, output, cache_read, cache_write, reasoning)`` is
written into each provider's own fields — OpenAI ``prompt_tokens``/``input_tokens`` =
input, ``completion_tokens``/``output_tokens`` = output (which, as on the real APIs,
includes the reasoning tokens), ``cached_tokens`` = cache_read, ``reasoning_tokens`` =
reasoning; Anthropic ``input_tokens``, ``output_tokens``, ``cache_read_input_tokens``,
``cache_creation_input_tokens``. OpenAI has no cache-write field, so cache_write is not
rendered on the OpenAI protocols. ``"auto"`` usage is estimated: input is the
``input_tokens`` argument (the servers pass :func:`estimate_tokens` of the request),
output ≈ one token per four characters of text, reasoning and tool-call name+arguments,
reasoning ≈ the same estimate of the reasoning text.

Everything is deterministic: ids are derived from ``response_id`` (itself derived from
the answer when not given) and ``created`` defaults to a fixed timestamp, so equal
inputs give byte-equal output.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

__all__ = [
    "CREATED",
    "PROTOCOLS",
    "Answer",
    "Protocol",
    "body",
    "estimate_tokens",
    "frame",
    "split_sse_events",
    "stream",
    "stream_events",
]

Protocol = Literal["openai-chat", "openai-responses", "openai-completions", "anthropic"]
PROTOCOLS: tuple[str, ...] = ("openai-chat", "openai-responses", "openai-completions", "anthropic")

CREATED = 1_750_000_000
"""The fixed ``created`` timestamp of synthesized responses (deterministic output)."""

UsageTuple = tuple[int, int, int, int, int]

_DEFAULT_MODELS: dict[str, str] = {
    "openai-chat": "gpt-4o-mini",
    "openai-responses": "gpt-4o-mini",
    "openai-completions": "gpt-3.5-turbo-instruct",
    "anthropic": "claude-sonnet-4-5",
}

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_WORD = re.compile(r"\s*\S+")


@dataclass(frozen=True)
class Answer:
    """What a mock model answers, independent of any protocol.

    - ``text``: the answer text (may be empty, e.g. for a pure tool call).
    - ``reasoning``: reasoning/thinking text, streamed before the text.
    - ``tool_calls``: ``(name, arguments_json)`` pairs, in order, after the text.
    - ``usage``: ``(input, output, cache_read, cache_write, reasoning)`` — two to five
      non-negative ints, missing ones 0 — or ``"auto"`` (estimated; see the module doc).
    - ``chunk_words``: words per text/reasoning delta (``0``: the whole text in one delta).
    - ``args_chunk_chars``: characters per tool-argument fragment (``0``: one fragment).
    - ``finish_reason``: overrides the protocol's own (``stop``/``tool_calls``,
      ``end_turn``/``tool_use``), e.g. ``"length"`` or ``"max_tokens"``.
    """

    text: str = ""
    reasoning: str = ""
    tool_calls: Sequence[tuple[str, str]] = ()
    usage: Union[Sequence[int], Literal["auto"]] = "auto"
    chunk_words: int = 1
    args_chunk_chars: int = 8
    finish_reason: Optional[str] = None
    _usage: Optional[UsageTuple] = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        calls = tuple((str(name), str(arguments)) for name, arguments in self.tool_calls)
        object.__setattr__(self, "tool_calls", calls)
        if self.chunk_words < 0 or self.args_chunk_chars < 0:
            raise ValueError("chunk_words and args_chunk_chars must be >= 0")
        if isinstance(self.usage, str):
            if self.usage != "auto":
                raise ValueError(f"usage must be a tuple of ints or 'auto', got {self.usage!r}")
            return
        numbers = tuple(int(n) for n in self.usage)
        if not 2 <= len(numbers) <= 5 or any(n < 0 for n in numbers):
            raise ValueError(
                "usage must be (input, output[, cache_read[, cache_write[, reasoning]]]) of non-negative ints"
            )
        padded = (*numbers, 0, 0, 0)[:5]
        object.__setattr__(self, "usage", numbers)
        object.__setattr__(self, "_usage", (padded[0], padded[1], padded[2], padded[3], padded[4]))

    def resolved_usage(self, input_tokens: int = 0) -> UsageTuple:
        """The five usage numbers rendered for this answer (``input_tokens`` feeds "auto")."""
        if self._usage is not None:
            return self._usage
        reasoning = estimate_tokens(self.reasoning)
        output = estimate_tokens(self.text) + reasoning
        output += sum(estimate_tokens(name) + estimate_tokens(arguments) for name, arguments in self.tool_calls)
        return (max(0, input_tokens), output, 0, 0, reasoning)


def estimate_tokens(text: str) -> int:
    """The mock servers' token estimate: one token per four characters, rounded up."""
    return math.ceil(len(text) / 4)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


# Stream payloads: compact and raw UTF-8, as both providers send them. One encoder for
# all calls: json.dumps with non-default options builds a new encoder every time.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _dumps(value: Any) -> str:
    return _COMPACT.encode(value)


def _digest(seed: str) -> bytes:
    return hashlib.sha256(seed.encode("utf-8")).digest()


def _token(seed: str, length: int, alphabet: str = _BASE62) -> str:
    """A deterministic pseudo-random string (ids that look like the provider's)."""
    out: list[str] = []
    counter = 0
    while len(out) < length:
        for byte in _digest(f"{seed}#{counter}"):
            out.append(alphabet[byte % len(alphabet)])
            if len(out) == length:
                break
        counter += 1
    return "".join(out)


def _words(text: str, per_chunk: int) -> list[str]:
    """Split ``text`` into deltas of ``per_chunk`` words (leading whitespace attached),
    concatenating exactly back to ``text``."""
    if not text:
        return []
    if per_chunk <= 0:
        return [text]
    parts = _WORD.findall(text)
    if not parts:
        return [text]
    tail = text[sum(len(p) for p in parts) :]
    if tail:
        parts[-1] += tail
    return ["".join(parts[i : i + per_chunk]) for i in range(0, len(parts), per_chunk)]


def _chars(text: str, size: int) -> list[str]:
    if not text:
        return []
    if size <= 0:
        return [text]
    return [text[i : i + size] for i in range(0, len(text), size)]


def _default_response_id(answer: Answer, protocol: str) -> str:
    return _token(f"{protocol}|{answer!r}", 16)


def _finish(answer: Answer, tool: str, normal: str) -> str:
    if answer.finish_reason is not None:
        return answer.finish_reason
    return tool if answer.tool_calls else normal


def _data(payload: Any) -> bytes:
    return f"data: {_dumps(payload)}\n\n".encode()


def _event(event_type: str, payload: Any) -> bytes:
    return f"event: {event_type}\ndata: {_dumps(payload)}\n\n".encode()


_DONE = b"data: [DONE]\n\n"


def _json_args(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}


# ---------------------------------------------------------------------------
# OpenAI Chat Completions
# ---------------------------------------------------------------------------


def _chat_usage(usage: UsageTuple) -> dict[str, Any]:
    inp, out, cache_read, _cache_write, reasoning = usage
    return {
        "prompt_tokens": inp,
        "completion_tokens": out,
        "total_tokens": inp + out,
        "prompt_tokens_details": {"cached_tokens": cache_read, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_id(response_id: str) -> str:
    return "chatcmpl-" + _token(response_id, 29)


def _call_id(response_id: str, index: int) -> str:
    return "call_" + _token(f"{response_id}|call|{index}", 24)


_AZURE_FILTERS: dict[str, Any] = {
    category: {"filtered": False, "severity": "safe"} for category in ("hate", "self_harm", "sexual", "violence")
}


def _openai_chat_events(
    answer: Answer, *, model: str, response_id: str, created: int, usage: UsageTuple, include_usage: bool, azure: bool
) -> list[bytes]:
    cid = _chat_id(response_id)
    events: list[bytes] = []
    if azure:
        # Azure sends the prompt filter verdict first, in a chunk with no choices.
        events.append(
            _data(
                {
                    "choices": [],
                    "created": 0,
                    "id": "",
                    "model": "",
                    "object": "",
                    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _AZURE_FILTERS}],
                }
            )
        )

    def chunk(delta: dict[str, Any], finish: Optional[str] = None) -> bytes:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        if azure:
            choice["content_filter_results"] = {}
        payload: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_tokenwire",
            "choices": [choice],
        }
        if include_usage:
            payload["usage"] = None
        return _data(payload)

    events.append(chunk({"role": "assistant", "content": "", "refusal": None}))
    events.extend(chunk({"reasoning_content": piece}) for piece in _words(answer.reasoning, answer.chunk_words))
    events.extend(chunk({"content": piece}) for piece in _words(answer.text, answer.chunk_words))
    for index, (name, arguments) in enumerate(answer.tool_calls):
        opening = {"index": index, "id": _call_id(response_id, index), "type": "function"}
        events.append(chunk({"tool_calls": [{**opening, "function": {"name": name, "arguments": ""}}]}))
        events.extend(
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in _chars(arguments, answer.args_chunk_chars)
        )
    events.append(chunk({}, _finish(answer, "tool_calls", "stop")))
    if include_usage:
        events.append(
            _data(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "service_tier": "default",
                    "system_fingerprint": "fp_tokenwire",
                    "choices": [],
                    "usage": _chat_usage(usage),
                }
            )
        )
    events.append(_DONE)
    return events


def _openai_chat_body(
    answer: Answer, *, model: str, response_id: str, created: int, usage: UsageTuple, azure: bool
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": answer.text if answer.text or not answer.tool_calls else None,
        "refusal": None,
        "annotations": [],
    }
    if answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    if answer.tool_calls:
        message["tool_calls"] = [
            {
                "id": _call_id(response_id, index),
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            for index, (name, arguments) in enumerate(answer.tool_calls)
        ]
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": _finish(answer, "tool_calls", "stop"),
    }
    result: dict[str, Any] = {
        "id": _chat_id(response_id),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": _chat_usage(usage),
        "service_tier": "default",
        "system_fingerprint": "fp_tokenwire",
    }
    if azure:
        choice["content_filter_results"] = _AZURE_FILTERS
        result["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": _AZURE_FILTERS}]
    return result


# ---------------------------------------------------------------------------
# OpenAI legacy Completions
# ---------------------------------------------------------------------------


def _completion_id(response_id: str) -> str:
    return "cmpl-" + _token(response_id, 29)


def _openai_completion_events(
    answer: Answer, *, model: str, response_id: str, created: int, usage: UsageTuple, include_usage: bool
) -> list[bytes]:
    cid = _completion_id(response_id)

    def chunk(text: str, finish: Optional[str]) -> bytes:
        payload: dict[str, Any] = {
            "id": cid,
            "object": "text_completion",
            "created": created,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
            "model": model,
        }
        if include_usage:
            payload["usage"] = None
        return _data(payload)

    pieces = _words(answer.text, answer.chunk_words) or [""]
    finish = answer.finish_reason or "stop"
    events = [chunk(piece, finish if i == len(pieces) - 1 else None) for i, piece in enumerate(pieces)]
    if include_usage:
        inp, out = usage[0], usage[1]
        events.append(
            _data(
                {
                    "id": cid,
                    "object": "text_completion",
                    "created": created,
                    "model": model,
                    "usage": {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out},
                    "choices": [],
                }
            )
        )
    events.append(_DONE)
    return events


def _openai_completion_body(
    answer: Answer, *, model: str, response_id: str, created: int, usage: UsageTuple
) -> dict[str, Any]:
    inp, out = usage[0], usage[1]
    return {
        "id": _completion_id(response_id),
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {"text": answer.text, "index": 0, "logprobs": None, "finish_reason": answer.finish_reason or "stop"}
        ],
        "usage": {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out},
    }


# ---------------------------------------------------------------------------
# OpenAI Responses API
# ---------------------------------------------------------------------------


def _responses_usage(usage: UsageTuple) -> dict[str, Any]:
    inp, out, cache_read, _cache_write, reasoning = usage
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": cache_read},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": inp + out,
    }


def _hex_id(prefix: str, seed: str) -> str:
    return prefix + _token(seed, 50, "0123456789abcdef")


def _response_object(
    *, rid: str, model: str, created: int, status: str, output: list[Any], usage: Optional[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def _responses_items(answer: Answer, response_id: str) -> list[dict[str, Any]]:
    """The completed output items of the response, in order."""
    items: list[dict[str, Any]] = []
    if answer.reasoning:
        items.append(
            {
                "id": _hex_id("rs_", f"{response_id}|rs"),
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": answer.reasoning}],
            }
        )
    if answer.text or not answer.tool_calls:
        items.append(
            {
                "id": _hex_id("msg_", f"{response_id}|msg"),
                "type": "message",
                "status": "completed",
                "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": answer.text}],
                "role": "assistant",
            }
        )
    for index, (name, arguments) in enumerate(answer.tool_calls):
        items.append(
            {
                "id": _hex_id("fc_", f"{response_id}|fc|{index}"),
                "type": "function_call",
                "status": "completed",
                "arguments": arguments,
                "call_id": _call_id(response_id, index),
                "name": name,
            }
        )
    return items


def _openai_responses_events(
    answer: Answer, *, model: str, response_id: str, created: int, usage: UsageTuple
) -> list[bytes]:
    rid = "resp_" + _token(response_id, 50, "0123456789abcdef")
    events: list[bytes] = []
    sequence = 0

    def emit(event_type: str, payload: dict[str, Any]) -> None:
        nonlocal sequence
        events.append(_event(event_type, {"type": event_type, "sequence_number": sequence, **payload}))
        sequence += 1

    emit(
        "response.created",
        {
            "response": _response_object(
                rid=rid, model=model, created=created, status="in_progress", output=[], usage=None
            )
        },
    )
    emit(
        "response.in_progress",
        {
            "response": _response_object(
                rid=rid, model=model, created=created, status="in_progress", output=[], usage=None
            )
        },
    )
    items = _responses_items(answer, response_id)
    for output_index, item in enumerate(items):
        item_id = item["id"]
        if item["type"] == "reasoning":
            emit("response.output_item.added", {"output_index": output_index, "item": {**item, "summary": []}})
            where = {"item_id": item_id, "output_index": output_index, "summary_index": 0}
            emit("response.reasoning_summary_part.added", {**where, "part": {"type": "summary_text", "text": ""}})
            for piece in _words(answer.reasoning, answer.chunk_words):
                emit("response.reasoning_summary_text.delta", {**where, "delta": piece})
            emit("response.reasoning_summary_text.done", {**where, "text": answer.reasoning})
            emit(
                "response.reasoning_summary_part.done",
                {**where, "part": {"type": "summary_text", "text": answer.reasoning}},
            )
        elif item["type"] == "message":
            emit(
                "response.output_item.added",
                {"output_index": output_index, "item": {**item, "status": "in_progress", "content": []}},
            )
            where = {"item_id": item_id, "output_index": output_index, "content_index": 0}
            empty_part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            emit("response.content_part.added", {**where, "part": empty_part})
            for piece in _words(answer.text, answer.chunk_words):
                emit("response.output_text.delta", {**where, "delta": piece, "logprobs": []})
            emit("response.output_text.done", {**where, "text": answer.text, "logprobs": []})
            emit("response.content_part.done", {**where, "part": item["content"][0]})
        else:
            emit(
                "response.output_item.added",
                {"output_index": output_index, "item": {**item, "status": "in_progress", "arguments": ""}},
            )
            where = {"item_id": item_id, "output_index": output_index}
            for piece in _chars(item["arguments"], answer.args_chunk_chars):
                emit("response.function_call_arguments.delta", {**where, "delta": piece})
            emit("response.function_call_arguments.done", {**where, "arguments": item["arguments"]})
        emit("response.output_item.done", {"output_index": output_index, "item": item})
    emit(
        "response.completed",
        {
            "response": _response_object(
                rid=rid, model=model, created=created, status="completed", output=items, usage=_responses_usage(usage)
            )
        },
    )
    return events


def _openai_responses_body(
    answer: Answer, *, model: str, response_id: str, created: int, usage: UsageTuple
) -> dict[str, Any]:
    rid = "resp_" + _token(response_id, 50, "0123456789abcdef")
    return _response_object(
        rid=rid,
        model=model,
        created=created,
        status="completed",
        output=_responses_items(answer, response_id),
        usage=_responses_usage(usage),
    )


# ---------------------------------------------------------------------------
# Anthropic Messages
# ---------------------------------------------------------------------------


def _anthropic_usage(usage: UsageTuple, output_tokens: int) -> dict[str, Any]:
    inp, _out, cache_read, cache_write, _reasoning = usage
    return {
        "input_tokens": inp,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "output_tokens": output_tokens,
    }


def _message_id(response_id: str) -> str:
    return "msg_01" + _token(response_id, 22)


def _tool_use_id(response_id: str, index: int) -> str:
    return "toolu_01" + _token(f"{response_id}|toolu|{index}", 22)


def _signature(response_id: str) -> str:
    return _token(f"{response_id}|signature", 64)


def _anthropic_events(answer: Answer, *, model: str, response_id: str, usage: UsageTuple) -> list[bytes]:
    events: list[bytes] = []

    def emit(event_type: str, payload: dict[str, Any]) -> None:
        events.append(_event(event_type, {"type": event_type, **payload}))

    start_usage = {**_anthropic_usage(usage, min(1, usage[1])), "service_tier": "standard"}
    message: dict[str, Any] = {
        "model": model,
        "id": _message_id(response_id),
        "type": "message",
        "role": "assistant",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    emit("message_start", {"message": message})
    index = 0
    pinged = False

    def open_block(block: dict[str, Any]) -> None:
        nonlocal pinged
        emit("content_block_start", {"index": index, "content_block": block})
        if not pinged:
            # Anthropic sends a ping right after the first block opens.
            emit("ping", {})
            pinged = True

    if answer.reasoning:
        open_block({"type": "thinking", "thinking": "", "signature": ""})
        for piece in _words(answer.reasoning, answer.chunk_words):
            emit("content_block_delta", {"index": index, "delta": {"type": "thinking_delta", "thinking": piece}})
        emit(
            "content_block_delta",
            {"index": index, "delta": {"type": "signature_delta", "signature": _signature(response_id)}},
        )
        emit("content_block_stop", {"index": index})
        index += 1
    if answer.text or not answer.tool_calls:
        open_block({"type": "text", "text": ""})
        for piece in _words(answer.text, answer.chunk_words):
            emit("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": piece}})
        emit("content_block_stop", {"index": index})
        index += 1
    for call_index, (name, arguments) in enumerate(answer.tool_calls):
        open_block({"type": "tool_use", "id": _tool_use_id(response_id, call_index), "name": name, "input": {}})
        for piece in ["", *_chars(arguments, answer.args_chunk_chars)]:
            emit("content_block_delta", {"index": index, "delta": {"type": "input_json_delta", "partial_json": piece}})
        emit("content_block_stop", {"index": index})
        index += 1
    emit(
        "message_delta",
        {
            "delta": {"stop_reason": _finish(answer, "tool_use", "end_turn"), "stop_sequence": None},
            "usage": _anthropic_usage(usage, usage[1]),
        },
    )
    emit("message_stop", {})
    return events


def _anthropic_body(answer: Answer, *, model: str, response_id: str, usage: UsageTuple) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if answer.reasoning:
        content.append({"type": "thinking", "thinking": answer.reasoning, "signature": _signature(response_id)})
    if answer.text or not answer.tool_calls:
        content.append({"type": "text", "text": answer.text})
    content.extend(
        {"type": "tool_use", "id": _tool_use_id(response_id, i), "name": name, "input": _json_args(arguments)}
        for i, (name, arguments) in enumerate(answer.tool_calls)
    )
    return {
        "model": model,
        "id": _message_id(response_id),
        "type": "message",
        "role": "assistant",
        "content": content,
        "stop_reason": _finish(answer, "tool_use", "end_turn"),
        "stop_sequence": None,
        "usage": {**_anthropic_usage(usage, usage[1]), "service_tier": "standard"},
    }


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------


def _check(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")


def stream_events(
    answer: Answer,
    protocol: Protocol,
    *,
    model: Optional[str] = None,
    include_usage: bool = True,
    input_tokens: int = 0,
    response_id: Optional[str] = None,
    created: int = CREATED,
    azure: bool = False,
) -> list[bytes]:
    """``answer`` as the provider's streamed events, one complete SSE frame per item.

    ``include_usage`` applies to ``openai-chat``/``openai-completions`` (whether the
    request asked for ``stream_options.include_usage``); the other protocols always
    report usage. ``input_tokens`` feeds ``"auto"`` usage. ``azure`` applies to
    ``openai-chat``.
    """
    _check(protocol)
    model = model or _DEFAULT_MODELS[protocol]
    rid = response_id or _default_response_id(answer, protocol)
    usage = answer.resolved_usage(input_tokens)
    if protocol == "openai-chat":
        return _openai_chat_events(
            answer,
            model=model,
            response_id=rid,
            created=created,
            usage=usage,
            include_usage=include_usage,
            azure=azure,
        )
    if protocol == "openai-completions":
        return _openai_completion_events(
            answer, model=model, response_id=rid, created=created, usage=usage, include_usage=include_usage
        )
    if protocol == "openai-responses":
        return _openai_responses_events(answer, model=model, response_id=rid, created=created, usage=usage)
    return _anthropic_events(answer, model=model, response_id=rid, usage=usage)


def stream(
    answer: Answer,
    protocol: Protocol,
    *,
    model: Optional[str] = None,
    include_usage: bool = True,
    input_tokens: int = 0,
    response_id: Optional[str] = None,
    created: int = CREATED,
    azure: bool = False,
) -> bytes:
    """``answer`` as the provider's complete streamed response body (see :func:`stream_events`)."""
    return b"".join(
        stream_events(
            answer,
            protocol,
            model=model,
            include_usage=include_usage,
            input_tokens=input_tokens,
            response_id=response_id,
            created=created,
            azure=azure,
        )
    )


def body(
    answer: Answer,
    protocol: Protocol,
    *,
    model: Optional[str] = None,
    input_tokens: int = 0,
    response_id: Optional[str] = None,
    created: int = CREATED,
    azure: bool = False,
) -> bytes:
    """``answer`` as the provider's non-streaming JSON response body.

    OpenAI bodies are pretty-printed (two-space indent, ASCII-escaped) as the OpenAI
    API sends them; Anthropic bodies are compact. Chat Completions carries reasoning in
    ``message.reasoning_content`` (DeepSeek style).
    """
    _check(protocol)
    model = model or _DEFAULT_MODELS[protocol]
    rid = response_id or _default_response_id(answer, protocol)
    usage = answer.resolved_usage(input_tokens)
    if protocol == "anthropic":
        return _dumps(_anthropic_body(answer, model=model, response_id=rid, usage=usage)).encode()
    document: dict[str, Any]
    if protocol == "openai-chat":
        document = _openai_chat_body(answer, model=model, response_id=rid, created=created, usage=usage, azure=azure)
    elif protocol == "openai-completions":
        document = _openai_completion_body(answer, model=model, response_id=rid, created=created, usage=usage)
    else:
        document = _openai_responses_body(answer, model=model, response_id=rid, created=created, usage=usage)
    return json.dumps(document, indent=2).encode()


def frame(lines: Iterable[Union[str, bytes, Mapping[str, Any]]], protocol: Protocol) -> list[bytes]:
    """Frame recorded JSON payloads (one per item, without SSE framing) the provider's way.

    ``openai-chat``/``openai-completions``: ``data: <line>\\n\\n`` per payload then
    ``data: [DONE]\\n\\n``; ``openai-responses`` and ``anthropic``:
    ``event: <payload type>\\ndata: <line>\\n\\n``. String and bytes payloads are sent
    verbatim (blank lines skipped); mappings are serialized compactly.
    """
    _check(protocol)
    events: list[bytes] = []
    for line in lines:
        if isinstance(line, Mapping):
            text = _dumps(line)
        else:
            text = (line.decode("utf-8") if isinstance(line, bytes) else line).strip("\r\n")
            if not text.strip():
                continue
        if protocol in ("openai-chat", "openai-completions"):
            events.append(f"data: {text}\n\n".encode())
        else:
            payload = json.loads(text)
            event_type = payload.get("type") if isinstance(payload, dict) else None
            if not isinstance(event_type, str):
                raise ValueError(f"a {protocol} payload needs a string 'type' field: {text[:80]!r}")
            events.append(f"event: {event_type}\ndata: {text}\n\n".encode())
    if protocol in ("openai-chat", "openai-completions"):
        events.append(_DONE)
    return events


_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def split_sse_events(raw: bytes) -> list[bytes]:
    """Split raw SSE bytes into frames, each ending with its blank line (a trailing
    unterminated part is kept as the last item); ``b"".join`` gives ``raw`` back."""
    events: list[bytes] = []
    start = 0
    for match in _EVENT_END.finditer(raw):
        events.append(raw[start : match.end()])
        start = match.end()
    if start < len(raw):
        events.append(raw[start:])
    return events

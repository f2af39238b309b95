"""Answer synthesis for the Gemini wire protocol (Gemini API and Vertex AI).

The companion of :mod:`tokenwire.testing.synth` for ``streamGenerateContent?alt=sse``
and ``generateContent``; usable on its own::

    from tokenwire.testing import Answer, synth_gemini

    raw = synth_gemini.stream(Answer("Hello there", reasoning="Hmm."))   # SSE bytes, CRLF framed
    body = synth_gemini.body(Answer("Hello there"))                      # generateContent JSON

Stream shape (as Gemini sends it): one ``data: <compact JSON>\\r\\n\\r\\n`` event per chunk
(``alt=sse`` uses CRLF), each a ``GenerateContentResponse`` with ``candidates[0].content
{role: "model", parts}``, ``usageMetadata``, ``modelVersion`` and ``responseId``:
reasoning deltas as ``{"text", "thought": true}`` parts, then text deltas, then one
``functionCall {name, args}`` part per tool call (Gemini sends arguments whole); the
last chunk carries ``finishReason`` (``STOP``, or ``Answer.finish_reason``) and the full
usage. Intermediate chunks report ``promptTokenCount`` and ``totalTokenCount`` only.

Usage mapping: ``Answer.usage = (input, output, cache_read, cache_write, reasoning)`` →
``promptTokenCount`` = input, ``candidatesTokenCount`` = output,
``cachedContentTokenCount`` = cache_read (when > 0), ``thoughtsTokenCount`` = reasoning
(when > 0), ``totalTokenCount`` = input + output + reasoning. Gemini has no cache-write
count, so cache_write is not rendered.

Non-streaming bodies are pretty-printed with a two-space indent, as Google sends them.
Everything is deterministic for equal inputs.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Optional, Union

from tokenwire.testing.synth import Answer, UsageTuple, _words

__all__ = ["DEFAULT_MODEL", "body", "chunks", "frame", "response_id", "stream", "stream_events"]

DEFAULT_MODEL = "gemini-2.5-flash"

_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def response_id(seed: str) -> str:
    """A ``responseId`` shaped like Gemini's (23 URL-safe base64 characters)."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:23]


def _usage(usage: UsageTuple, *, final: bool) -> dict[str, Any]:
    inp, out, cache_read, _cache_write, reasoning = usage
    meta: dict[str, Any] = {"promptTokenCount": inp}
    if final:
        meta["candidatesTokenCount"] = out
    meta["totalTokenCount"] = inp + (out + reasoning if final else 0)
    if final and cache_read:
        meta["cachedContentTokenCount"] = cache_read
    meta["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": inp}]
    if final and reasoning:
        meta["thoughtsTokenCount"] = reasoning
    return meta


def _args(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}


def _parts(answer: Answer) -> list[list[dict[str, Any]]]:
    """The parts of each streamed chunk, in order."""
    out: list[list[dict[str, Any]]] = []
    out.extend([{"text": piece, "thought": True}] for piece in _words(answer.reasoning, answer.chunk_words))
    out.extend([{"text": piece}] for piece in _words(answer.text, answer.chunk_words))
    out.extend([{"functionCall": {"name": name, "args": _args(arguments)}}] for name, arguments in answer.tool_calls)
    return out


def chunks(
    answer: Answer,
    *,
    model: Optional[str] = None,
    input_tokens: int = 0,
    response_id_seed: Optional[str] = None,
) -> list[dict[str, Any]]:
    """``answer`` as Gemini's stream payloads (the JSON objects, unframed)."""
    model = model or DEFAULT_MODEL
    rid = response_id(response_id_seed or f"gemini|{answer!r}")
    usage = answer.resolved_usage(input_tokens)
    pieces = _parts(answer) or [[{"text": ""}]]
    payloads: list[dict[str, Any]] = []
    for position, parts in enumerate(pieces):
        last = position == len(pieces) - 1
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if last:
            candidate["finishReason"] = answer.finish_reason or "STOP"
        candidate["index"] = 0
        payloads.append(
            {
                "candidates": [candidate],
                "usageMetadata": _usage(usage, final=last),
                "modelVersion": model,
                "responseId": rid,
            }
        )
    return payloads


def frame(payloads: Iterable[Union[str, bytes, Mapping[str, Any]]]) -> list[bytes]:
    """Frame payloads the way ``alt=sse`` does: ``data: <json>\\r\\n\\r\\n`` each.

    Strings and bytes are sent verbatim (blank ones skipped); mappings compactly."""
    events: list[bytes] = []
    for payload in payloads:
        if isinstance(payload, Mapping):
            text = _COMPACT.encode(payload)
        else:
            text = (payload.decode("utf-8") if isinstance(payload, bytes) else payload).strip("\r\n")
            if not text.strip():
                continue
        events.append(f"data: {text}\r\n\r\n".encode())
    return events


def stream_events(
    answer: Answer,
    *,
    model: Optional[str] = None,
    input_tokens: int = 0,
    response_id_seed: Optional[str] = None,
) -> list[bytes]:
    """``answer`` as framed SSE events, one per item."""
    return frame(chunks(answer, model=model, input_tokens=input_tokens, response_id_seed=response_id_seed))


def stream(
    answer: Answer,
    *,
    model: Optional[str] = None,
    input_tokens: int = 0,
    response_id_seed: Optional[str] = None,
) -> bytes:
    """``answer`` as the complete ``streamGenerateContent?alt=sse`` body."""
    return b"".join(stream_events(answer, model=model, input_tokens=input_tokens, response_id_seed=response_id_seed))


def body(
    answer: Answer,
    *,
    model: Optional[str] = None,
    input_tokens: int = 0,
    response_id_seed: Optional[str] = None,
) -> bytes:
    """``answer`` as a ``generateContent`` response body (pretty-printed JSON)."""
    model = model or DEFAULT_MODEL
    rid = response_id(response_id_seed or f"gemini|{answer!r}")
    usage = answer.resolved_usage(input_tokens)
    parts: list[dict[str, Any]] = []
    if answer.reasoning:
        parts.append({"text": answer.reasoning, "thought": True})
    if answer.text or not answer.tool_calls:
        parts.append({"text": answer.text})
    parts.extend({"functionCall": {"name": name, "args": _args(arguments)}} for name, arguments in answer.tool_calls)
    document = {
        "candidates": [
            {
                "content": {"parts": parts, "role": "model"},
                "finishReason": answer.finish_reason or "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": _usage(usage, final=True),
        "modelVersion": model,
        "responseId": rid,
    }
    return json.dumps(document, indent=2, ensure_ascii=False).encode()

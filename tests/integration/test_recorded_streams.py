"""Every recorded provider stream (``../shared/fixtures/recorded/vercel-ai``) through
``tokenwire.StreamProcessor``, checked against an independent reading of its payloads.

Each ``*.chunks.txt`` is framed into wire bytes exactly as SOURCES.md says, fed whole,
one byte at a time (files up to 64 KB), split in two at a strided sample of offsets,
and cut at many offsets at once; every chunking must give the same tokens. The
expected content (text, reasoning, tool calls, usage, finish reason, citations, the
error that ends the stream) is computed here from the payloads with plain
``json.loads`` following the dialect's field rules — not by the processor's twin.
Public API, so the native and the pure runs each cover their backend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from tests._stream_helpers import (
    Outcome,
    byte_chunks,
    classify_recorded,
    frame_lines,
    recorded_lines,
    run_processor,
    split_at,
    strided_points,
)
from tests.conftest import RECORDED, require_recorded

import tokenwire
from tokenwire.errors import ProviderError, StreamDecodeError, stream_error

BYTE_BY_BYTE_LIMIT = 64 * 1024
SPLITS_SMALL = 50  # two-chunk splits for files up to 64 KB
SPLITS_LARGE = 16  # and for larger ones (each split decodes the whole file again; the
# many-cuts run below covers their boundaries more densely)

_FILES = sorted((RECORDED / "vercel-ai").glob("*/*.chunks.txt")) if RECORDED.is_dir() else []


@dataclass
class Call:
    id: Optional[str] = None
    name: Optional[str] = None
    arguments: str = ""
    # The arguments the payloads state as a JSON value (Gemini args, a Responses
    # "done" event), compared after json.loads.
    value: Any = None
    has_value: bool = False


@dataclass
class Expected:
    text: str = ""
    reasoning: str = ""
    calls: dict[int, Call] = field(default_factory=dict)
    usage: Optional[tuple[int, int, int, int, int]] = None
    finish: Optional[str] = None
    citations: list[tuple[str, Optional[str]]] = field(default_factory=list)
    error: Optional[BaseException] = None


def _n(value: Any) -> int:
    """A usage count as the payload states it (a JSON integer), else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


# ---------------------------------------------------------------------------
# Oracles: one plain reading of the payloads per dialect
# ---------------------------------------------------------------------------


def oracle_openai_chat(payloads: list[Any]) -> Expected:
    out = Expected()
    top_usage = False
    cited: set[str] = set()
    for payload in payloads:
        if payload is _INVALID:
            out.error = StreamDecodeError("invalid JSON")
            break
        if not isinstance(payload, dict):
            continue
        error = payload.get("error")
        if isinstance(error, dict):
            out.error = stream_error(error.get("message", "unknown error"), error.get("type"), error.get("code"))
            break
        for choice in payload.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            out.reasoning += _s(delta.get("reasoning_content")) or _s(delta.get("reasoning"))
            content = delta.get("content")
            out.text += _s(content)
            for part in content if isinstance(content, list) else []:
                # Mistral's content parts: text, and thinking parts holding text parts.
                if part.get("type") == "text":
                    out.text += _s(part.get("text"))
                elif part.get("type") == "thinking":
                    out.reasoning += "".join(_s(p.get("text")) for p in part.get("thinking") or [])
            out.text += _s(choice.get("text"))  # legacy Completions chunks
            for position, item in enumerate(delta.get("tool_calls") or []):
                call = out.calls.setdefault(item.get("index", position), Call())
                function = item.get("function") or {}
                call.id = call.id or item.get("id") or None
                call.name = call.name or function.get("name") or None
                call.arguments += _s(function.get("arguments"))
            if out.finish is None and choice.get("finish_reason"):
                out.finish = choice["finish_reason"]
        usage = payload.get("usage")
        if isinstance(usage, dict):
            top_usage = True
            out.usage = _openai_usage(usage)
        elif not top_usage and isinstance((payload.get("x_groq") or {}).get("usage"), dict):
            out.usage = _openai_usage(payload["x_groq"]["usage"])
        urls = [(r["url"], r.get("title") or None) for r in payload.get("search_results") or []]
        urls += [(url, None) for url in payload.get("citations") or []]
        for url, title in urls:
            if url not in cited:
                cited.add(url)
                out.citations.append((url, title))
    return out


def _openai_usage(usage: dict[str, Any]) -> tuple[int, int, int, int, int]:
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    # Where several providers' fields mean the same, the first non-zero one counts.
    cached = prompt.get("cached_tokens"), usage.get("cache_read_input_tokens"), usage.get("prompt_cache_hit_tokens")
    write = prompt.get("cache_write_tokens"), prompt.get("caching_tokens"), usage.get("cache_creation_input_tokens")
    return (
        _n(usage.get("prompt_tokens")),
        _n(usage.get("completion_tokens")),
        next((_n(v) for v in (*cached, usage.get("cached_tokens")) if _n(v)), 0),
        next((_n(v) for v in write if _n(v)), 0),
        _n(completion.get("reasoning_tokens")),
    )


def oracle_anthropic(payloads: list[Any]) -> Expected:
    out = Expected()
    tool_blocks: dict[int, int] = {}
    usage: Optional[list[int]] = None
    for payload in payloads:
        if payload is _INVALID:
            out.error = StreamDecodeError("invalid JSON")
            break
        kind = payload.get("type")
        if kind == "message_start":
            u = payload["message"]["usage"]
            usage = [
                _n(u.get("input_tokens")),
                _n(u.get("output_tokens")),
                _n(u.get("cache_read_input_tokens")),
                _n(u.get("cache_creation_input_tokens")),
            ]
        elif kind == "content_block_start":
            index, block = payload["index"], payload["content_block"]
            if block["type"] == "text":
                out.text += ("\n" if index > 0 else "") + block.get("text", "")
            elif block["type"] == "thinking":
                out.reasoning += ("\n" if index > 0 else "") + block.get("thinking", "")
            elif block["type"] == "tool_use":
                tool_blocks[index] = len(out.calls)
                out.calls[len(out.calls)] = Call(block.get("id") or None, block.get("name") or None)
        elif kind == "content_block_delta":
            delta = payload["delta"]
            if delta["type"] == "text_delta":
                out.text += delta["text"]
            elif delta["type"] == "thinking_delta":
                out.reasoning += delta["thinking"]
            elif delta["type"] == "input_json_delta" and payload["index"] in tool_blocks:
                out.calls[tool_blocks[payload["index"]]].arguments += delta["partial_json"]
            elif delta["type"] == "citations_delta" and delta["citation"].get("url"):
                out.citations.append((delta["citation"]["url"], delta["citation"].get("title") or None))
        elif kind == "message_delta":
            if out.finish is None and payload["delta"].get("stop_reason"):
                out.finish = payload["delta"]["stop_reason"]
            if isinstance(payload.get("usage"), dict):
                usage = usage or [0, 0, 0, 0]
                for slot, name in enumerate(
                    ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
                ):
                    if isinstance(payload["usage"].get(name), int):
                        usage[slot] = payload["usage"][name]
        elif kind == "message_stop":
            break
        elif kind == "error":
            error = payload["error"]
            out.error = stream_error(error.get("message") or "unknown error", error.get("type"))
            break
    if usage is not None:
        out.usage = (usage[0], usage[1], usage[2], usage[3], 0)
    return out


def oracle_openai_responses(payloads: list[Any]) -> Expected:
    out = Expected()
    by_item: dict[str, int] = {}
    by_output: dict[int, int] = {}
    for payload in payloads:
        if payload is _INVALID:
            out.error = StreamDecodeError("invalid JSON")
            break
        kind = payload.get("type")
        if kind == "response.output_text.delta":
            out.text += payload["delta"]
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            out.reasoning += payload["delta"]
        elif kind == "response.output_item.added" and payload["item"].get("type") == "function_call":
            item = payload["item"]
            n = len(out.calls)
            out.calls[n] = Call(item.get("call_id") or None, item.get("name") or None, _s(item.get("arguments")))
            if "id" in item:
                by_item[item["id"]] = n
            by_output[payload["output_index"]] = n
        elif kind == "response.function_call_arguments.delta":
            n = by_item.get(payload.get("item_id"), by_output.get(payload.get("output_index", -1)))
            if n is not None:
                out.calls[n].arguments += payload["delta"]
        elif kind in ("response.function_call_arguments.done", "response.output_item.done"):
            # The final arguments as the provider restates them.
            arguments = payload.get("arguments")
            if kind == "response.output_item.done":
                arguments = payload["item"].get("arguments") if payload["item"].get("type") == "function_call" else None
            key = payload.get("item_id") or payload.get("item", {}).get("id")
            n = by_item.get(key, by_output.get(payload.get("output_index", -1)))
            if n is not None and isinstance(arguments, str):
                out.calls[n].value = json.loads(arguments)
                out.calls[n].has_value = True
        elif kind == "response.output_text.annotation.added":
            annotation = payload["annotation"]
            if annotation.get("type") == "url_citation" and annotation.get("url"):
                out.citations.append((annotation["url"], annotation.get("title") or None))
        elif kind in ("response.completed", "response.incomplete"):
            response = payload["response"]
            usage = response.get("usage")
            if isinstance(usage, dict):
                out.usage = (
                    _n(usage.get("input_tokens")),
                    _n(usage.get("output_tokens")),
                    _n((usage.get("input_tokens_details") or {}).get("cached_tokens")),
                    0,
                    _n((usage.get("output_tokens_details") or {}).get("reasoning_tokens")),
                )
            details = response.get("incomplete_details") or {}
            out.finish = details.get("reason") or response.get("status") or kind.split(".", 1)[1]
            break
        elif kind == "response.failed":
            error = payload["response"]["error"]
            out.error = stream_error(error.get("message") or "unknown error", None, error.get("code"))
            break
        elif kind == "error":
            error = payload.get("error") if isinstance(payload.get("error"), dict) else payload
            out.error = stream_error(error.get("message") or "unknown error", error.get("type"), error.get("code"))
            break
    return out


def oracle_gemini(payloads: list[Any]) -> Expected:
    out = Expected()
    streaming: Optional[int] = None
    state: dict[str, Any] = {}
    grounding: Optional[dict[str, Any]] = None

    def close() -> None:
        nonlocal streaming
        if streaming is not None:
            out.calls[streaming].value = state.get("root", {})
            out.calls[streaming].has_value = True
        streaming = None

    for payload in payloads:
        if payload is _INVALID:
            out.error = StreamDecodeError("invalid JSON")
            break
        if "error" in payload:
            error = payload["error"]
            code = error.get("code")
            out.error = stream_error(
                error.get("message") or "unknown error",
                error.get("status"),
                str(code) if isinstance(code, int) else None,
                code if isinstance(code, int) and 100 <= code <= 599 else None,
            )
            break
        candidate = (payload.get("candidates") or [{}])[0]
        for part in (candidate.get("content") or {}).get("parts") or []:
            if part.get("thought") is True:
                out.reasoning += part.get("text", "")
            else:
                out.text += part.get("text", "")
            call = part.get("functionCall")
            if call is None:
                continue
            if call.get("name"):
                close()
                n = len(out.calls)
                out.calls[n] = Call(call.get("id") or None, call["name"])
                if "args" in call:
                    out.calls[n].value, out.calls[n].has_value = call["args"], True
                elif call.get("willContinue") is True:
                    streaming, state = n, {"open": None}
                else:
                    out.calls[n].value, out.calls[n].has_value = {}, True
            elif streaming is not None:
                for item in call.get("partialArgs") or []:
                    _set_partial(state, item)
                if call.get("willContinue") is not True:
                    close()
        if candidate.get("finishReason"):
            close()
            out.finish = out.finish or candidate["finishReason"]
        if "groundingMetadata" in candidate:
            grounding = candidate["groundingMetadata"]
        usage = payload.get("usageMetadata") or {}
        counts = ("promptTokenCount", "candidatesTokenCount", "cachedContentTokenCount", "thoughtsTokenCount")
        if any(name in usage for name in counts):
            prompt, candidates, cached, thoughts = (_n(usage.get(name)) for name in counts)
            out.usage = (prompt, candidates, cached, 0, thoughts)
    close()
    for chunk in (grounding or {}).get("groundingChunks") or []:
        web = chunk.get("web") or {}
        if web.get("uri"):
            out.citations.append((web["uri"], web.get("title") or web["uri"]))
    return out


def _set_partial(state: dict[str, Any], item: dict[str, Any]) -> None:
    """Apply one Gemini ``partialArgs`` item to the argument value being built."""
    path = item["jsonPath"]
    keys: list[Any] = []
    for piece in path[1:].replace("[", ".[").split("."):
        if piece:
            keys.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    if "stringValue" in item:
        value: Any = item["stringValue"]
        if state.get("open") == path:
            value = _get(state["root"], keys) + value
        state["open"] = path if item.get("willContinue") else None
    else:
        state["open"] = None
        value = item.get("numberValue", item.get("boolValue"))
    if "root" not in state:
        state["root"] = [] if isinstance(keys[0], int) else {}
    container: Any = state["root"]
    for key, following in zip(keys, keys[1:]):
        fresh: Any = [] if isinstance(following, int) else {}
        if isinstance(key, int):
            while len(container) <= key:
                container.append(None)
            if container[key] is None:
                container[key] = fresh
        elif key not in container:
            container[key] = fresh
        container = container[key]
    last = keys[-1]
    if isinstance(last, int):
        while len(container) <= last:
            container.append(None)
    container[last] = value


def _get(root: Any, keys: list[Any]) -> Any:
    for key in keys:
        root = root[key]
    return root


ORACLES: dict[str, Callable[[list[Any]], Expected]] = {
    "openai-chat": oracle_openai_chat,
    "anthropic": oracle_anthropic,
    "openai-responses": oracle_openai_responses,
    "gemini": oracle_gemini,
}
_INVALID = object()


def _payloads(lines: list[bytes]) -> list[Any]:
    payloads: list[Any] = []
    for line in lines:
        try:
            payloads.append(json.loads(line))
        except ValueError:
            payloads.append(_INVALID)
    return payloads


# ---------------------------------------------------------------------------
# Comparing
# ---------------------------------------------------------------------------


def check_against_oracle(outcome: Outcome, expected: Expected, name: str) -> None:
    tokens = outcome.tokens
    assert outcome.text("TextDelta") == expected.text, name
    assert outcome.text("ReasoningDelta") == expected.reasoning, name

    calls: dict[int, Call] = {}
    for kind, *fields in tokens:
        if kind == "ToolCallDelta":
            index, call_id, call_name, arguments = fields
            call = calls.setdefault(index, Call())
            call.id = call.id or call_id
            call.name = call.name or call_name
            call.arguments += arguments
    assert sorted(calls) == sorted(expected.calls), name
    for index, want in expected.calls.items():
        got = calls[index]
        assert (got.id, got.name) == (want.id, want.name), f"{name}: call {index}"
        if want.has_value:
            assert json.loads(got.arguments) == want.value, f"{name}: call {index} arguments"
        if want.arguments or not want.has_value:
            # Fragments pass through verbatim (OpenAI, Anthropic, Responses).
            assert got.arguments == want.arguments, f"{name}: call {index} arguments"

    usages = [tuple(fields) for kind, *fields in tokens if kind == "Usage"]
    finishes = [fields[0] for kind, *fields in tokens if kind == "Finish"]
    citations = [tuple(fields) for kind, *fields in tokens if kind == "Citation"]
    assert len(usages) <= 1 and len(finishes) <= 1, name
    assert citations == expected.citations, name
    if expected.error is not None:
        assert outcome.error is not None, f"{name}: expected {expected.error!r}"
        assert type(outcome.error) is type(expected.error), name
        if isinstance(expected.error, ProviderError):
            error = outcome.error
            assert isinstance(error, ProviderError)
            assert (error.message, error.error_type, error.code, error.status) == (
                expected.error.message,
                expected.error.error_type,
                expected.error.code,
                expected.error.status,
            ), name
        return
    assert outcome.error is None, f"{name}: {outcome.error!r}"
    assert (usages[0] if usages else None) == expected.usage, name
    assert (finishes[0] if finishes else None) == expected.finish, name


def _case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name[: -len('.chunks.txt')]}"


@pytest.mark.parametrize("path", _FILES, ids=[_case_id(p) for p in _FILES])
def test_recorded_stream(path: Path) -> None:
    require_recorded()
    dialect, reason = classify_recorded(path)
    if dialect is None:
        pytest.skip(reason)
    lines = recorded_lines(path)
    data = frame_lines(lines, dialect)
    name = _case_id(path)

    whole = run_processor(tokenwire, dialect, [data])
    check_against_oracle(whole, ORACLES[dialect](_payloads(lines)), name)

    # Every chunking gives the same tokens and the same error class.
    def same(outcome: Outcome, how: str) -> None:
        assert outcome.tokens == whole.tokens, f"{name}: {how}"
        assert type(outcome.error) is type(whole.error), f"{name}: {how}"
        if isinstance(whole.error, StreamDecodeError):
            # The offset is where the error was detected: within the bytes fed so far.
            assert outcome.error.offset <= len(data)  # type: ignore[union-attr]

    if len(data) <= BYTE_BY_BYTE_LIMIT:
        same(run_processor(tokenwire, dialect, byte_chunks(data)), "byte by byte")
    splits = SPLITS_SMALL if len(data) <= BYTE_BY_BYTE_LIMIT else SPLITS_LARGE
    for cut in strided_points(len(data), splits):
        same(run_processor(tokenwire, dialect, split_at(data, [cut])), f"split at {cut}")
    same(run_processor(tokenwire, dialect, split_at(data, strided_points(len(data), 997))), "997 cuts")


def test_recorded_streams_cover_every_sse_dialect() -> None:
    require_recorded()
    seen = {classify_recorded(path)[0] for path in _FILES}
    assert {"openai-chat", "openai-responses", "anthropic", "gemini"} <= seen

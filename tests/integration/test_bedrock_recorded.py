"""The recorded Bedrock ConverseStream streams (``../shared/fixtures/recorded/vercel-ai/
amazon-bedrock/*.chunks.txt``), framed as AWS event-stream messages per SOURCES.md, decode
to their contents through the ``bedrock`` dialect — whole, byte by byte and at split points
— and both backends agree token for token. The expected contents are read from the
payloads with plain ``json.loads``, independent of the code under test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests._stream_helpers import Outcome, byte_chunks, run_processor, split_at, strided_points
from tests.conftest import RECORDED, parity_only_in_native_run, require_recorded

import tokenwire
from tokenwire.testing.eventstream import encode_message

FILES = sorted((RECORDED / "vercel-ai" / "amazon-bedrock").glob("*.chunks.txt")) if RECORDED.is_dir() else []


def frame(path: Path) -> bytes:
    """Each line ``{"<eventType>": {...}}`` → one event message (SOURCES.md)."""
    out = bytearray()
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        [(event_type, inner)] = json.loads(line).items()
        headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
        out += encode_message(headers, json.dumps(inner, ensure_ascii=False).encode())
    return bytes(out)


def expected(path: Path) -> dict[str, Any]:
    text, reasoning, finish = "", "", None
    calls: dict[int, list[Any]] = {}
    usage = None
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        [(kind, body)] = json.loads(line).items()
        if kind == "contentBlockStart" and "toolUse" in body.get("start", {}):
            tool = body["start"]["toolUse"]
            calls[body["contentBlockIndex"]] = [tool["toolUseId"], tool["name"], ""]
        elif kind == "contentBlockDelta":
            delta = body["delta"]
            text += delta.get("text", "")
            reasoning += delta.get("reasoningContent", {}).get("text", "")
            if "toolUse" in delta:
                calls[body["contentBlockIndex"]][2] += delta["toolUse"]["input"]
        elif kind == "messageStop":
            finish = body["stopReason"]
        elif kind == "metadata":
            u = body["usage"]
            usage = (
                u["inputTokens"],
                u["outputTokens"],
                u.get("cacheReadInputTokens", 0),
                u.get("cacheWriteInputTokens", 0),
                0,
            )
    return {"text": text, "reasoning": reasoning, "calls": list(calls.values()), "finish": finish, "usage": usage}


def contents(outcome: Outcome) -> dict[str, Any]:
    assert outcome.error is None, outcome.error
    calls: dict[int, list[Any]] = {}
    for token in outcome.tokens:
        if token[0] == "ToolCallDelta":
            _, index, id_, name, arguments = token
            call = calls.setdefault(index, [None, None, ""])
            call[0] = call[0] or id_
            call[1] = call[1] or name
            call[2] += arguments
    finishes = [t[1] for t in outcome.tokens if t[0] == "Finish"]
    usages = [t[1:] for t in outcome.tokens if t[0] == "Usage"]
    assert len(finishes) <= 1 and len(usages) <= 1
    return {
        "text": outcome.text(),
        "reasoning": outcome.text("ReasoningDelta"),
        "calls": [calls[i] for i in sorted(calls)],
        "finish": finishes[0] if finishes else None,
        "usage": usages[0] if usages else None,
    }


def test_fixtures_present() -> None:
    require_recorded()
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_recorded_stream_decodes_to_its_contents(path: Path) -> None:
    require_recorded()
    wire = frame(path)
    want = expected(path)
    whole = run_processor(tokenwire, "bedrock", [wire])
    assert contents(whole) == want
    assert run_processor(tokenwire, "bedrock", byte_chunks(wire)).tokens == whole.tokens
    for at in strided_points(len(wire), 40):
        assert run_processor(tokenwire, "bedrock", split_at(wire, [at])).tokens == whole.tokens, at
    if whole.tokens[-1][0] == "Usage":
        # Usage last (messageStop and metadata both seen), Finish just before it.
        assert whole.tokens[-2][0] == "Finish"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_native_and_pure_agree(path: Path) -> None:
    require_recorded()
    parity_only_in_native_run()
    from tokenwire import _native, _pure

    wire = frame(path)
    for chunks in ([wire], list(byte_chunks(wire)), split_at(wire, [len(wire) // 3])):
        for coalesce in (False, True):
            native = run_processor(_native, "bedrock", chunks, coalesce=coalesce)
            pure = run_processor(_pure, "bedrock", chunks, coalesce=coalesce)
            assert native.tokens == pure.tokens
            assert native.error_key == pure.error_key

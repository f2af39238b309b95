"""The project's own stream fixtures (``fixtures/sse/<dialect>/*.sse``) decode to their
``*.expected.json`` tokens, whatever the chunking: fed whole, one byte at a time, and
split in two at every offset. Public API, so both backends are covered across the runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests._stream_helpers import Outcome, byte_chunks, run_processor, split_at
from tests.conftest import FIXTURES

import tokenwire

FIXTURE_FILES = sorted((FIXTURES / "sse").glob("*/*.sse"))
_KIND = {
    "text": "TextDelta",
    "reasoning": "ReasoningDelta",
    "tool_call": "ToolCallDelta",
    "usage": "Usage",
    "citation": "Citation",
    "finish": "Finish",
}


def _expected(path: Path) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    items = json.loads(path.with_name(path.name[: -len(".sse")] + ".expected.json").read_text(encoding="utf-8"))
    error: dict[str, Any] = {}
    if items and isinstance(items[-1], dict):
        error = items.pop()
    return [(_KIND[item[0]], *item[1:]) for item in items], error


def _check(outcome: Outcome, tokens: list[tuple[Any, ...]], error: dict[str, Any], how: str) -> None:
    assert outcome.tokens == tokens, how
    if not error:
        assert outcome.error is None, f"{how}: unexpected {outcome.error!r}"
        return
    assert outcome.error is not None, f"{how}: expected {error['error']}"
    assert type(outcome.error).__name__ == error["error"], how
    assert isinstance(outcome.error, getattr(tokenwire.errors, error["error"])), how
    if "message" in error:
        assert outcome.error.message == error["message"], how  # type: ignore[attr-defined]


def test_every_dialect_has_fixtures() -> None:
    assert {path.parent.name for path in FIXTURE_FILES} == set(tokenwire.DIALECTS)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FIXTURE_FILES])
def test_fixture_decodes_to_expected_tokens(path: Path) -> None:
    dialect = path.parent.name
    data = path.read_bytes()
    tokens, error = _expected(path)
    assert tokens or error, "an expected file must list something"

    _check(run_processor(tokenwire, dialect, [data]), tokens, error, "whole")
    _check(run_processor(tokenwire, dialect, byte_chunks(data)), tokens, error, "byte by byte")
    for cut in range(1, len(data)):
        _check(run_processor(tokenwire, dialect, split_at(data, [cut])), tokens, error, f"split at {cut}")


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[f"{p.parent.name}/{p.stem}" for p in FIXTURE_FILES])
def test_fixture_coalesced_text_matches(path: Path) -> None:
    """With coalescing (the default) the text and reasoning are the same, in fewer tokens."""
    dialect = path.parent.name
    data = path.read_bytes()
    plain = run_processor(tokenwire, dialect, [data])
    merged = run_processor(tokenwire, dialect, [data], coalesce=True)
    for kind in ("TextDelta", "ReasoningDelta"):
        assert merged.text(kind) == plain.text(kind)
    # Only text merges: the other tokens are unchanged, in order.
    assert [t for t in merged.tokens if t[0] not in ("TextDelta", "ReasoningDelta")] == [
        t for t in plain.tokens if t[0] not in ("TextDelta", "ReasoningDelta")
    ]
    assert len(merged.tokens) <= len(plain.tokens)

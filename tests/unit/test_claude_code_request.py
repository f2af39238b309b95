"""ClaudeCodeProvider without a process: the invocation it builds and the stream-json parser."""

from __future__ import annotations

import json
import pickle
from typing import Any, Optional

import pytest

from tokenwire.errors import (
    AuthenticationError,
    ConfigurationError,
    ProviderError,
    RateLimitError,
    StreamDecodeError,
)
from tokenwire.providers.claude_code import (
    CLAUDE_CODE_DEFAULT_MAX_OUTPUT_TOKENS,
    DISALLOWED_TOOLS,
    ClaudeCodeError,
    ClaudeCodeProvider,
    StreamJsonParser,
    filter_images,
    vertex_model_id,
)
from tokenwire.types import ChatRequest, Finish, ImagePart, Message, ReasoningDelta, TextDelta, TextPart, Usage


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLAUDE_CODE_MAX_OUTPUT_TOKENS", "CLAUDE_CODE_USE_VERTEX"):
        monkeypatch.delenv(name, raising=False)


def line(document: Any) -> bytes:
    return json.dumps(document).encode()


def request(**fields: Any) -> ChatRequest:
    fields.setdefault("messages", (Message("user", "hi"),))
    return ChatRequest(model=fields.pop("model", "claude-sonnet-4-5"), **fields)


def test_the_disallowed_tools_are_roos_list_in_roos_order() -> None:
    assert ",".join(DISALLOWED_TOOLS) == (
        "Task,Bash,Glob,Grep,LS,exit_plan_mode,Read,Edit,MultiEdit,Write,NotebookRead,NotebookEdit,WebFetch,"
        "TodoRead,TodoWrite,WebSearch,ExitPlanMode,BashOutput,KillBash"
    )


@pytest.mark.parametrize("windows", [False, True])
def test_invocation(windows: bool) -> None:
    provider = ClaudeCodeProvider(claude_path="/opt/claude", cwd="/work", env={"X": "1"})
    invocation = provider.build_invocation(request(system="Be brief."), windows=windows)
    head = ["-p"] if windows else ["-p", "--system-prompt", "Be brief."]
    assert list(invocation.arguments) == [
        *head,
        "--verbose",
        "--output-format",
        "stream-json",
        "--disallowedTools",
        ",".join(DISALLOWED_TOOLS),
        "--max-turns",
        "1",
        "--model",
        "claude-sonnet-4-5",
    ]
    messages = [{"role": "user", "content": "hi"}]
    expected: Any = {"systemPrompt": "Be brief.", "messages": messages} if windows else messages
    assert invocation.stdin == json.dumps(expected, separators=(",", ":")).encode()
    assert invocation.env["X"] == "1"
    assert invocation.env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == str(CLAUDE_CODE_DEFAULT_MAX_OUTPUT_TOKENS)
    assert (invocation.cwd, invocation.model, invocation.timeout) == ("/work", "claude-sonnet-4-5", 600.0)
    shown = repr(invocation)
    assert "Be brief." not in shown and "CLAUDE_CODE" not in shown


def test_invocation_environment_and_model(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = ClaudeCodeProvider()
    monkeypatch.setenv("CLAUDE_CODE_MAX_OUTPUT_TOKENS", "7000")
    assert provider.build_invocation(request()).env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "7000"
    assert provider.build_invocation(request(max_tokens=99)).env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "99"
    monkeypatch.setenv("CLAUDE_CODE_USE_VERTEX", "1")
    invocation = provider.build_invocation(request(model="claude-3-5-haiku-20241022", timeout=5.0))
    assert invocation.arguments[-1] == "claude-3-5-haiku@20241022"
    assert invocation.timeout == 5.0
    assert provider.build_invocation(request(model="")).arguments[-2:] == ("--max-turns", "1")


def test_vertex_model_ids() -> None:
    assert vertex_model_id("claude-sonnet-4-20250514") == "claude-sonnet-4@20250514"
    assert vertex_model_id("claude-sonnet-4-5") == "claude-sonnet-4-5"
    assert vertex_model_id("claude-3-5-sonnet-v2-2024102") == "claude-3-5-sonnet-v2-2024102"


def test_images_become_placeholders() -> None:
    messages = [
        {"role": "user", "content": "plain"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "see"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "..."}},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                {"type": "image"},
            ],
        },
    ]
    assert filter_images(messages) == [
        {"role": "user", "content": "plain"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "see"},
                {"type": "text", "text": "[Image (base64): image/jpeg not supported by Claude Code]"},
                {"type": "text", "text": "[Image (url): unknown not supported by Claude Code]"},
                {"type": "text", "text": "[Image (unknown): unknown not supported by Claude Code]"},
            ],
        },
    ]
    built = ClaudeCodeProvider().build_invocation(
        request(messages=(Message("user", (TextPart("a"), ImagePart(url="https://x/y.png"))),)), windows=False
    )
    assert json.loads(built.stdin)[0]["content"][1] == {
        "type": "text",
        "text": "[Image (url): unknown not supported by Claude Code]",
    }


def test_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        ClaudeCodeProvider(max_output_tokens=0)
    with pytest.raises(ConfigurationError):
        ClaudeCodeProvider(claude_path="")


def test_error_pickles() -> None:
    error = ClaudeCodeError("boom", exit_code=2, stderr="bad", provider="claude-code")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.message, copy.exit_code, copy.stderr, copy.provider) == (
        ClaudeCodeError,
        "boom",
        2,
        "bad",
        "claude-code",
    )


# -- the parser ---------------------------------------------------------------------------------------


def assistant(content: list[Any], usage: Any = None, **message: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"content": content, **message}
    if usage is not None:
        body["usage"] = usage
    return {"type": "assistant", "message": body}


def test_parser_tokens_and_end() -> None:
    parser = StreamJsonParser(model="m")
    assert (
        parser.feed_line(line({"type": "system", "subtype": "init", "apiKeySource": "none", "session_id": "s"})) == []
    )
    assert parser.feed_line(b"   ") == []
    assert parser.feed_line(line([1, 2])) == []
    assert parser.feed_line(line({"type": "user", "message": {"content": []}})) == []
    assert parser.feed_line(line({"type": "stream_event"})) == []
    tokens = parser.feed_line(
        line(
            assistant(
                [
                    {"type": "thinking", "thinking": "a"},
                    {"type": "thinking", "thinking": "b"},
                    {"type": "text", "text": ""},
                    {"type": "thinking"},
                    {"type": "tool_use", "id": "t", "name": "Bash", "input": {}},
                    {"type": "text", "text": "c"},
                    "not a block",
                ],
                {"input_tokens": 3, "output_tokens": 4},
                stop_reason=None,
            )
        )
    )
    assert tokens == [ReasoningDelta("ab"), TextDelta("c")]
    assert parser.finish() == [Usage(3, 4)]
    assert parser.finish() == []
    assert (parser.session_id, parser.api_key_source, parser.is_paid, parser.cost) == ("s", "none", False, None)


def test_parser_end_without_usage_or_reason() -> None:
    parser = StreamJsonParser()
    assert parser.feed_line(line(assistant([{"type": "text", "text": "x"}]))) == [TextDelta("x")]
    assert parser.finish() == []


def test_parser_stop_reason_and_result() -> None:
    parser = StreamJsonParser()
    parser.feed_line(line(assistant([{"type": "text", "text": "x"}], {"output_tokens": 1}, stop_reason="max_tokens")))
    parser.feed_line(line(assistant([], {"output_tokens": 1}, stop_reason="end_turn")))
    end = parser.feed_line(line({"type": "result", "subtype": "success", "total_cost_usd": 0.5, "session_id": "z"}))
    assert end == [Finish("max_tokens"), Usage(0, 2, cost=0.5)]
    assert (parser.cost, parser.session_id) == (0.5, "z")
    assert parser.feed_line(line(assistant([{"type": "text", "text": "after"}]))) == []
    assert parser.finish() == []


@pytest.mark.parametrize(
    ("source", "reported", "cost"),
    [
        ("user", 0.25, 0.25),
        ("user", 3, 3.0),
        ("ANTHROPIC_API_KEY", 0, 0.0),
        # Not a number: no cost (Roo would pass the value on as is).
        ("user", "0.25", None),
        ("user", True, None),
        ("user", None, None),
        # A subscription login is not billed per request, whatever the CLI prints (Roo: 0).
        ("none", 1.5, 0.0),
        ("none", None, 0.0),
    ],
)
def test_parser_reported_cost_is_the_usage_cost(source: str, reported: Any, cost: Optional[float]) -> None:
    parser = StreamJsonParser()
    parser.feed_line(line({"type": "system", "subtype": "init", "apiKeySource": source}))
    parser.feed_line(line(assistant([{"type": "text", "text": "x"}], {"input_tokens": 7, "output_tokens": 2})))
    result: dict[str, Any] = {"type": "result", "subtype": "success"}
    if reported is not None:
        result["total_cost_usd"] = reported
    end = parser.feed_line(line(result))
    assert end == [Finish("success"), Usage(7, 2, cost=cost)]
    assert parser.cost == cost
    usage = end[-1]
    assert isinstance(usage, Usage) and usage.cost == cost and (cost is None or type(usage.cost) is float)


def test_parser_cost_without_token_counts() -> None:
    # The result's cost is reported on a Usage even when no message carried counts.
    parser = StreamJsonParser()
    assert parser.feed_line(line({"type": "result", "subtype": "success", "total_cost_usd": 0.01})) == [
        Finish("success"),
        Usage(0, 0, cost=0.01),
    ]
    # Nothing reported at all: no Usage.
    quiet = StreamJsonParser()
    assert quiet.feed_line(line({"type": "result", "subtype": "success"})) == [Finish("success")]
    # No result (the output just ended): the counts, without a cost.
    cut = StreamJsonParser()
    cut.feed_line(line(assistant([], {"input_tokens": 1, "output_tokens": 1})))
    assert cut.finish() == [Usage(1, 1)]


def test_parser_api_errors() -> None:
    parser = StreamJsonParser(model="m")
    body = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    with pytest.raises(RateLimitError) as info:
        parser.feed_line(line(assistant([{"type": "text", "text": f"API Error: 429 {json.dumps(body)}"}])))
    assert (info.value.message, info.value.status, info.value.body) == ("slow down", 429, body)
    with pytest.raises(AuthenticationError):
        StreamJsonParser().feed_line(
            line(
                assistant(
                    [{"type": "text", "text": 'API Error: {"error":{"type":"authentication_error","message":"no"}}'}],
                    stop_reason="end_turn",
                )
            )
        )
    with pytest.raises(ProviderError) as plain:
        StreamJsonParser().feed_line(line(assistant([{"type": "text", "text": "API Error: socket hang up"}])))
    assert plain.value.message == "API Error: socket hang up" and plain.value.status is None
    # A null stop_reason means a block still streaming: Roo does not treat it as an error.
    quiet = StreamJsonParser()
    text = "API Error: is a phrase this answer may use"
    assert quiet.feed_line(line(assistant([{"type": "text", "text": text}], stop_reason=None))) == [TextDelta(text)]


def test_parser_error_result() -> None:
    parser = StreamJsonParser()
    with pytest.raises(ProviderError) as info:
        parser.feed_line(line({"type": "result", "subtype": "success", "is_error": True, "result": "API Error: 500"}))
    assert info.value.message == "Claude Code reported an error: API Error: 500"


def test_parser_split_messages() -> None:
    whole = line(assistant([{"type": "text", "text": "joined"}]))
    parser = StreamJsonParser()
    assert parser.feed_line(whole[:10]) == []
    assert parser.feed_line(whole[10:20]) == []
    assert parser.feed_line(whole[20:]) == [TextDelta("joined")]
    # A fragment followed by a complete message: the fragment is dropped.
    assert parser.feed_line(whole[:10]) == []
    assert parser.feed_line(whole) == [TextDelta("joined")]
    assert parser.feed_line(whole[:10]) == []
    with pytest.raises(StreamDecodeError, match="inside a stream-json message"):
        parser.finish()

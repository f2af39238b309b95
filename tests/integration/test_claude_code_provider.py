"""ClaudeCodeProvider end to end: a real subprocess, the ``claude`` found on ``PATH``.

The ``claude`` on ``PATH`` is a launcher (written into ``tmp_path``, running the test
interpreter) for ``tests/_bin/fake_claude.py``, which checks its flags like the CLI,
records its argv, stdin, environment and pid, and replays stream-json lines — our own,
and the recorded Claude Code stream of ``../shared/fixtures/recorded``. Covered: the
exact invocation, token decoding (text, thinking, redacted thinking, sub-agents, usage
with cache tokens, cost), errors (API errors, error results, non-zero exits with
redacted stderr, a missing binary, truncated output), timeouts, and that closing or
cancelling a stream kills and reaps the process.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import anyio
import pytest
from tests.conftest import require_recorded

from tokenwire._http import Timeouts
from tokenwire.errors import (
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    OverloadedError,
    ProviderError,
    StreamDecodeError,
)
from tokenwire.providers.claude_code import DISALLOWED_TOOLS, ClaudeCodeError, ClaudeCodeProvider, ClaudeCodeStream
from tokenwire.registry import ProviderRegistry
from tokenwire.types import (
    ChatRequest,
    CompletionRequest,
    Finish,
    ImagePart,
    Message,
    ReasoningDelta,
    StreamToken,
    TextDelta,
    TextPart,
    ToolCall,
    Usage,
    coerce_messages,
)

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform == "win32", reason="the fake claude is a shebang script"),
]

FAKE = Path(__file__).resolve().parents[1] / "_bin" / "fake_claude.py"
SECRET = "sk-ant-api03-integration-secret-0123456789abcdef"
TIMEOUTS = Timeouts(idle=10.0, total=20.0)
TOOLS = ",".join(DISALLOWED_TOOLS)


@dataclass
class Fake:
    """The fake ``claude``: what it replays next and what it recorded."""

    bin_dir: Path
    capture: Path
    script: Path

    def play(
        self,
        lines: Sequence[Any] = (),
        *,
        stderr: str = "",
        exit: int = 0,
        hang_after: Optional[int] = None,
        delay: float = 0.0,
    ) -> None:
        document = {"lines": list(lines), "stderr": stderr, "exit": exit, "hang_after": hang_after, "delay": delay}
        self.script.write_text(json.dumps(document), encoding="utf-8")

    def captured(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.capture.read_text(encoding="utf-8"))
        return data


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fake]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "claude"
    launcher.write_text(
        f"#!{sys.executable}\nimport runpy\nrunpy.run_path({str(FAKE)!r}, run_name='__main__')\n", encoding="utf-8"
    )
    launcher.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_CLAUDE_CAPTURE", str(tmp_path / "capture.json"))
    monkeypatch.setenv("FAKE_CLAUDE_SCRIPT", str(tmp_path / "script.json"))
    monkeypatch.setenv("FAKE_CLAUDE_ENV", "CLAUDE_CODE_MAX_OUTPUT_TOKENS,TOKENWIRE_EXTRA")
    for name in ("CLAUDE_CODE_MAX_OUTPUT_TOKENS", "CLAUDE_CODE_USE_VERTEX", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    fake = Fake(bin_dir, tmp_path / "capture.json", tmp_path / "script.json")
    fake.play([init(), assistant([{"type": "text", "text": "Hello!"}]), result()])
    yield fake


@pytest.fixture
def provider() -> ClaudeCodeProvider:
    return ClaudeCodeProvider(timeouts=TIMEOUTS)


def init(source: str = "user", session: str = "session-1") -> dict[str, Any]:
    return {
        "type": "system",
        "subtype": "init",
        "session_id": session,
        "tools": [],
        "mcp_servers": [],
        "apiKeySource": source,
        "model": "claude-sonnet-4-20250514",
    }


def assistant(
    content: list[dict[str, Any]],
    usage: tuple[int, int, int, int] = (10, 5, 0, 0),
    *,
    stop_reason: Optional[str] = None,
    message_id: Optional[str] = None,
    parent: Optional[str] = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage[0],
            "output_tokens": usage[1],
            "cache_read_input_tokens": usage[2],
            "cache_creation_input_tokens": usage[3],
        },
    }
    if message_id is not None:
        message["id"] = message_id
    return {"type": "assistant", "message": message, "parent_tool_use_id": parent, "session_id": "session-1"}


def result(
    cost: float = 0.0123, *, subtype: str = "success", is_error: bool = False, text: str = "ok"
) -> dict[str, Any]:
    return {
        "type": "result",
        "subtype": subtype,
        "is_error": is_error,
        "total_cost_usd": cost,
        "duration_ms": 1200,
        "duration_api_ms": 1000,
        "num_turns": 1,
        "result": text,
        "session_id": "session-1",
    }


def req(content: str = "hello there", model: str = "claude-sonnet-4-20250514", **fields: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=coerce_messages([{"role": "user", "content": content}]), **fields)


async def collect(provider: ClaudeCodeProvider, request: ChatRequest) -> tuple[list[StreamToken], ClaudeCodeStream]:
    with anyio.fail_after(20):
        async with provider.chat_stream(request) as stream:
            return [token async for token in stream], stream


def reaped(pid: int) -> bool:
    """Whether ``pid`` is gone (exited and waited for: no zombie left)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# -- the invocation --------------------------------------------------------------------------------


async def test_exact_arguments_stdin_and_environment(fake: Fake, provider: ClaudeCodeProvider) -> None:
    request = ChatRequest(
        model="claude-sonnet-4-20250514",
        system="You are terse.",
        messages=(
            Message("user", (TextPart("What is on this picture?"), ImagePart(data="aGk=", media_type="image/png"))),
            Message("assistant", "Let me check.", tool_calls=(ToolCall("toolu_1", "look", '{"zoom": 2}'),)),
            Message("tool", "a cat", tool_call_id="toolu_1"),
            Message("user", "Thanks ü"),
        ),
    )
    tokens, _ = await collect(provider, request)
    assert tokens == [TextDelta("Hello!"), Finish("success"), Usage(10, 5, cost=0.0123)]
    seen = fake.captured()
    assert seen["argv"] == [
        "-p",
        "--system-prompt",
        "You are terse.",
        "--verbose",
        "--output-format",
        "stream-json",
        "--disallowedTools",
        TOOLS,
        "--max-turns",
        "1",
        "--model",
        "claude-sonnet-4-20250514",
    ]
    assert json.loads(seen["stdin"]) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is on this picture?"},
                {"type": "text", "text": "[Image (base64): image/png not supported by Claude Code]"},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"zoom": 2}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a cat"},
                {"type": "text", "text": "Thanks ü"},
            ],
        },
    ]
    # Compact JSON, UTF-8 as is (JSON.stringify's form).
    assert '"Thanks ü"' in seen["stdin"] and ", " not in seen["stdin"]
    assert seen["env"]["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "16000"


async def test_max_output_tokens_precedence(
    fake: Fake, provider: ClaudeCodeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_CODE_MAX_OUTPUT_TOKENS", "9000")
    await collect(provider, req())
    assert fake.captured()["env"]["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "9000"
    configured = ClaudeCodeProvider(max_output_tokens=12000, env={"TOKENWIRE_EXTRA": "yes"}, timeouts=TIMEOUTS)
    await collect(configured, req())
    assert fake.captured()["env"] == {"CLAUDE_CODE_MAX_OUTPUT_TOKENS": "12000", "TOKENWIRE_EXTRA": "yes"}
    await collect(configured, req(max_tokens=2048))
    assert fake.captured()["env"]["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "2048"


async def test_working_directory_vertex_ids_and_no_system_prompt(
    fake: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "project"
    work.mkdir()
    monkeypatch.setenv("CLAUDE_CODE_USE_VERTEX", "1")
    provider = ClaudeCodeProvider(cwd=work, timeouts=TIMEOUTS)
    await collect(provider, req(model="claude-opus-4-1-20250805"))
    seen = fake.captured()
    assert Path(seen["cwd"]).resolve() == work.resolve()
    assert seen["argv"][1:3] == ["--system-prompt", ""]
    assert seen["argv"][-2:] == ["--model", "claude-opus-4-1@20250805"]


async def test_explicit_claude_path(fake: Fake) -> None:
    provider = ClaudeCodeProvider(claude_path=fake.bin_dir / "claude", timeouts=TIMEOUTS)
    tokens, _ = await collect(provider, req())
    assert TextDelta("Hello!") in tokens


# -- decoding ------------------------------------------------------------------------------------------


async def test_text_thinking_usage_and_cost(fake: Fake, provider: ClaudeCodeProvider) -> None:
    fake.play(
        [
            init("user"),
            assistant([{"type": "thinking", "thinking": "Let me think.", "signature": "sig"}], (100, 1, 80, 20)),
            assistant([{"type": "redacted_thinking", "data": "opaque"}], (0, 2, 0, 0)),
            assistant(
                [{"type": "text", "text": "Part one, "}, {"type": "text", "text": "part two."}],
                (0, 40, 0, 0),
                stop_reason="end_turn",
            ),
            result(0.0421),
        ]
    )
    tokens, stream = await collect(provider, req())
    assert tokens == [
        ReasoningDelta("Let me think."),
        ReasoningDelta("[Redacted thinking block]"),
        TextDelta("Part one, part two."),
        Finish("end_turn"),
        Usage(100, 43, cache_read_tokens=80, cache_write_tokens=20, cost=0.0421),
    ]
    # The CLI's total_cost_usd is the usage's reported cost (and the stream's).
    assert stream.cost == 0.0421
    assert stream.accumulator.usage is not None and stream.accumulator.usage.cost == 0.0421
    assert stream.session_id == "session-1"
    assert stream.result is not None and stream.result["num_turns"] == 1
    assert stream.exit_code == 0 and stream.closed
    answer = stream.accumulator.response(model="m", provider="claude-code", request_id=None)
    assert (answer.text, answer.reasoning) == ("Part one, part two.", "Let me think.[Redacted thinking block]")


async def test_uncoalesced_tokens(fake: Fake) -> None:
    fake.play([init(), assistant([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]), result()])
    tokens, _ = await collect(ClaudeCodeProvider(coalesce=False, timeouts=TIMEOUTS), req())
    assert tokens[:2] == [TextDelta("a"), TextDelta("b")]


async def test_subscription_use_costs_nothing(fake: Fake, provider: ClaudeCodeProvider) -> None:
    fake.play([init("none"), assistant([{"type": "text", "text": "hi"}]), result(1.5)])
    tokens, stream = await collect(provider, req())
    assert stream.cost == 0.0
    assert tokens[-1] == Usage(10, 5, cost=0.0)


async def test_one_response_printed_per_block_counts_once(fake: Fake, provider: ClaudeCodeProvider) -> None:
    # Claude Code prints each content block of one API response as its own message with
    # the response's usage; distinct responses add up (Roo's sum).
    fake.play(
        [
            init(),
            assistant([{"type": "thinking", "thinking": "hm"}], (5, 7, 100, 10), message_id="msg_1"),
            assistant([{"type": "text", "text": "A"}], (5, 9, 100, 10), message_id="msg_1"),
            assistant([{"type": "text", "text": "B"}], (3, 4, 50, 0), message_id="msg_2"),
            result(),
        ]
    )
    tokens, _ = await collect(provider, req())
    assert tokens[-1] == Usage(8, 13, cache_read_tokens=150, cache_write_tokens=10, cost=0.0123)


async def test_recorded_subagent_stream(fake: Fake, provider: ClaudeCodeProvider) -> None:
    path = require_recorded() / "vercel-ai" / "harness-claude-code" / "subagent-step-stream.json"
    recorded: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    fake.play([init(), *recorded, result(0.25, text="Both commands ran successfully.")])
    tokens, stream = await collect(provider, req())
    # Only the main agent's thinking is answer content: tool_use blocks are Claude Code's
    # own tools, sub-agent messages are not the answer, user messages are input.
    sums = [0, 0, 0, 0]
    for message in recorded:
        if message["type"] == "assistant":
            usage = message["message"]["usage"]
            for index, name in enumerate(
                ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
            ):
                sums[index] += usage[name]
    assert tokens == [
        ReasoningDelta("Delegating."),
        Finish("success"),
        Usage(sums[0], sums[1], cache_read_tokens=sums[2], cache_write_tokens=sums[3], cost=0.25),
    ]
    assert sums == [8, 18, 11634, 21258]
    assert stream.cost == 0.25


async def test_message_split_over_lines_and_noise(fake: Fake, provider: ClaudeCodeProvider) -> None:
    whole = json.dumps(assistant([{"type": "text", "text": "joined"}]), separators=(",", ":"))
    fake.play([init(), "Warning: a non-JSON line", whole[:30], whole[30:], "", result()])
    tokens, _ = await collect(provider, req())
    assert tokens[0] == TextDelta("joined")


async def test_chat_and_complete(fake: Fake, provider: ClaudeCodeProvider) -> None:
    answer = await provider.chat(req())
    assert (answer.text, answer.provider, answer.model, answer.finish_reason) == (
        "Hello!",
        "claude-code",
        "claude-sonnet-4-20250514",
        "success",
    )
    assert answer.usage == Usage(10, 5, cost=0.0123)
    completion = await provider.complete(CompletionRequest(model="claude-sonnet-4-20250514", prompt="Say hi"))
    assert completion.text == "Hello!"
    assert json.loads(fake.captured()["stdin"]) == [{"role": "user", "content": "Say hi"}]
    async with provider.complete_stream(CompletionRequest(model="claude-sonnet-4-20250514", prompt="x")) as stream:
        tokens = [t async for t in stream]
    assert tokens[0] == TextDelta("Hello!")


# -- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "message", "cls"),
    [
        (401, "authentication_error", "Invalid bearer token", AuthenticationError),
        (404, "not_found_error", "model: claude-x", NotFoundError),
        (529, "overloaded_error", "Overloaded", OverloadedError),
    ],
)
async def test_api_error_message(
    fake: Fake,
    provider: ClaudeCodeProvider,
    status: int,
    error_type: str,
    message: str,
    cls: type[ProviderError],
) -> None:
    body = json.dumps({"type": "error", "error": {"type": error_type, "message": message}})
    fake.play(
        [
            init(),
            assistant([{"type": "text", "text": f"API Error: {status} {body}"}], stop_reason="stop_sequence"),
            result(0.0, is_error=True, text=f"API Error: {status} {body}"),
        ],
        exit=1,
    )
    with anyio.fail_after(20), pytest.raises(cls) as info:
        await collect(provider, req())
    error = info.value
    assert (error.message, error.status, error.error_type) == (message, status, error_type)
    assert (error.provider, error.model) == ("claude-code", "claude-sonnet-4-20250514")


async def test_invalid_model_name_gets_the_plan_hint(fake: Fake, provider: ClaudeCodeProvider) -> None:
    body = json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": "Invalid model name"}})
    fake.play([init(), assistant([{"type": "text", "text": f"API Error: 400 {body}"}], stop_reason="end_turn")])
    with anyio.fail_after(20), pytest.raises(ProviderError) as info:
        await collect(provider, req())
    assert info.value.status == 400
    assert info.value.message.startswith("Invalid model name\n\nAPI keys and subscription plans allow different models")


async def test_error_result_and_max_turns(fake: Fake, provider: ClaudeCodeProvider) -> None:
    fake.play(
        [init(), assistant([{"type": "text", "text": "partial"}]), result(subtype="error_max_turns", is_error=True)]
    )
    tokens, _ = await collect(provider, req())
    assert tokens == [TextDelta("partial"), Finish("error_max_turns"), Usage(10, 5, cost=0.0123)]
    fake.play(
        [
            init(),
            assistant([{"type": "text", "text": "so far"}]),
            result(subtype="error_during_execution", is_error=True, text=""),
        ]
    )
    got: list[StreamToken] = []
    with anyio.fail_after(20), pytest.raises(ProviderError) as info:
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                got.append(token)
    assert got == [TextDelta("so far")]
    assert info.value.message == "Claude Code reported an error: error_during_execution"
    assert info.value.error_type == "error_during_execution"


async def test_nonzero_exit_keeps_tokens_and_redacts_stderr(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    provider = ClaudeCodeProvider(timeouts=TIMEOUTS)
    other_token = "sk-ant-oat01-" + "x" * 40
    fake.play(
        [init(), assistant([{"type": "text", "text": "before the crash"}])],
        stderr=f"Error: request failed with key {SECRET} (also {other_token})\n",
        exit=3,
    )
    got: list[StreamToken] = []
    with caplog.at_level(logging.DEBUG), anyio.fail_after(20), pytest.raises(ClaudeCodeError) as info:
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                got.append(token)
    assert got == [TextDelta("before the crash")]
    error = info.value
    assert error.exit_code == 3
    assert error.stderr == "Error: request failed with key *** (also ***)"
    assert error.message == f"Claude Code process exited with code 3. Error output: {error.stderr}"
    for text in (str(error), repr(error), caplog.text, repr(provider)):
        assert SECRET not in text and other_token not in text


async def test_exit_without_output(fake: Fake, provider: ClaudeCodeProvider) -> None:
    fake.play([], stderr="Invalid API key · Please run /login\n", exit=1)
    with anyio.fail_after(20), pytest.raises(ClaudeCodeError) as info:
        await provider.chat(req())
    assert (info.value.exit_code, info.value.stderr) == (1, "Invalid API key · Please run /login")
    assert (
        info.value.message
        == "Claude Code process exited with code 1. Error output: Invalid API key · Please run /login"
    )


async def test_output_ending_inside_a_message(fake: Fake, provider: ClaudeCodeProvider) -> None:
    whole = json.dumps(result(), separators=(",", ":"))
    fake.play([init(), assistant([{"type": "text", "text": "kept"}]), whole[:25] + "<no-newline>"])
    got: list[StreamToken] = []
    with anyio.fail_after(20), pytest.raises(StreamDecodeError):
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                got.append(token)
    assert got == [TextDelta("kept")]


async def test_missing_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    provider = ClaudeCodeProvider()
    assert not provider.has_credentials()
    with pytest.raises(ConfigurationError) as info:
        async with provider.chat_stream(req()):
            pass
    message = str(info.value)
    assert "claude CLI not found" in message and "install Claude Code" in message and "claude_path=" in message
    with pytest.raises(ConfigurationError, match="claude CLI not found"):
        await ClaudeCodeProvider(claude_path=tmp_path / "nope" / "claude").chat(req())
    health = await provider.health_check()
    assert not health.healthy and "claude CLI not found" in (health.error or "")


async def test_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "claude"
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o644)
    with pytest.raises(ConfigurationError, match="claude CLI not found"):
        await ClaudeCodeProvider(claude_path=script).chat(req())
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x00\x01 not a program")
    garbage.chmod(0o755)
    with pytest.raises(ConfigurationError, match="cannot run"):
        await ClaudeCodeProvider(claude_path=garbage).chat(req())


# -- time limits and process lifetime ----------------------------------------------------------------


async def test_idle_timeout_kills_the_process(fake: Fake) -> None:
    fake.play([init(), assistant([{"type": "text", "text": "one"}])], hang_after=2)
    provider = ClaudeCodeProvider(timeouts=Timeouts(idle=0.5, total=20.0))
    got: list[StreamToken] = []
    with anyio.fail_after(15), pytest.raises(APITimeoutError) as info:
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                got.append(token)
    assert got == [TextDelta("one")]
    assert "timed out" in str(info.value)
    assert stream.closed and reaped(fake.captured()["pid"])


async def test_total_timeout(fake: Fake) -> None:
    fake.play([init(), assistant([{"type": "text", "text": "x"}])] * 50, delay=0.05)
    provider = ClaudeCodeProvider(timeouts=Timeouts(idle=5.0, total=0.6))
    with anyio.fail_after(15), pytest.raises(APITimeoutError):
        await provider.chat(req())
    assert reaped(fake.captured()["pid"])
    # The request's timeout overrides the provider's.
    with anyio.fail_after(15), pytest.raises(APITimeoutError):
        await ClaudeCodeProvider(timeouts=TIMEOUTS).chat(req(timeout=0.6))


async def test_closing_early_kills_and_reaps(fake: Fake, provider: ClaudeCodeProvider) -> None:
    fake.play([init(), assistant([{"type": "text", "text": "first"}])], hang_after=2)
    with anyio.fail_after(15):
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                assert token == TextDelta("first")
                break
            pid = stream.pid
            assert pid is not None and not reaped(pid)
    assert stream.closed and pid is not None and reaped(pid)
    assert stream.exit_code is not None and stream.exit_code < 0  # ended by a signal


async def test_cancellation_kills_and_reaps(fake: Fake, provider: ClaudeCodeProvider) -> None:
    fake.play([init(), assistant([{"type": "text", "text": "first"}])], hang_after=2)
    got: list[StreamToken] = []
    with anyio.fail_after(15):
        with anyio.move_on_after(1.0) as scope:
            async with provider.chat_stream(req()) as stream:
                async for token in stream:
                    got.append(token)
        assert scope.cancelled_caught
    assert got == [TextDelta("first")]
    assert reaped(fake.captured()["pid"])


async def test_cancellation_without_a_context_manager(fake: Fake, provider: ClaudeCodeProvider) -> None:
    fake.play([init()], hang_after=1)
    stream = provider.chat_stream(req())
    with anyio.fail_after(15), anyio.move_on_after(1.0):
        async for _ in stream:
            pass
    assert stream.closed and reaped(fake.captured()["pid"])


async def test_concurrent_runs(fake: Fake, provider: ClaudeCodeProvider) -> None:
    answers: list[str] = []

    async def one() -> None:
        answers.append((await provider.chat(req())).text)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(one)
    assert answers == ["Hello!"] * 4


# -- the rest of the interface -----------------------------------------------------------------------


async def test_models_tokens_health_and_registry(fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = ProviderRegistry.default().create("claude-code", timeouts=TIMEOUTS)
    assert isinstance(provider, ClaudeCodeProvider)
    assert provider.has_credentials()
    models = await provider.list_models()
    assert [m.id for m in models] == [
        "claude-sonnet-4-5",
        "claude-sonnet-4-20250514",
        "claude-opus-4-1-20250805",
        "claude-opus-4-20250514",
        "claude-3-7-sonnet-20250219",
        "claude-3-5-sonnet-20241022",
        "claude-3-5-haiku-20241022",
    ]
    sonnet = models[1]
    assert (sonnet.context_window, sonnet.max_output_tokens, sonnet.supports_images, sonnet.supports_prompt_cache) == (
        200_000,
        64_000,
        False,
        True,
    )
    assert await provider.count_tokens(req("hello world")) > 0
    health = await provider.health_check()
    assert health.healthy, health.error
    monkeypatch.setenv("FAKE_CLAUDE_VERSION_EXIT", "2")
    health = await provider.health_check()
    assert not health.healthy and "exited with code 2" in (health.error or "")
    with pytest.raises(TypeError):
        provider.build_chat_call(req(), stream=True)

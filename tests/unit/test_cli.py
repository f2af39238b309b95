"""The command line: `tokenwire demo` end to end, `providers`, and `chat`/`models` without keys."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import anyio
import pytest

import tokenwire
from tokenwire import _demo, cli


def _decode(name: str, dialect: str) -> tuple[str, str, dict[int, list[str]]]:
    data = _demo._demo_bytes(name)
    processor = tokenwire.StreamProcessor(dialect)
    tokens = [*processor.feed(data), *processor.finish()]
    text = "".join(t.text for t in tokens if t.kind == "text")
    reasoning = "".join(t.text for t in tokens if t.kind == "reasoning")
    calls: dict[int, list[str]] = {}
    for t in tokens:
        if t.kind == "tool_call":
            calls.setdefault(t.index, []).append(t.arguments)
    return text, reasoning, calls


def test_bundled_samples_decode_to_their_content() -> None:
    openai_text, openai_reasoning, openai_calls = _decode("openai-chat.sse", "openai-chat")
    anthropic_text, anthropic_reasoning, anthropic_calls = _decode("anthropic.sse", "anthropic")
    assert openai_text.startswith("tokenwire turns raw provider bytes into tokens")
    assert openai_reasoning == ""
    # Anthropic puts "\n" before a text block that is not the first block (Roo-Code's rule).
    assert anthropic_text.startswith("\ntokenwire turns raw provider bytes into tokens")
    assert anthropic_reasoning.startswith("The user wants a short overview.")
    expected_args = {"query": "tokenwire benchmarks", "max_results": 3}
    assert json.loads("".join(openai_calls[0])) == expected_args
    assert json.loads("".join(anthropic_calls[0])) == expected_args


def test_demo_runs_end_to_end_on_loopback_servers() -> None:
    out = io.StringIO()
    assert anyio.run(lambda: _demo.run_demo(out, drip_delay=0.0)) == 0
    text = out.getvalue()
    assert f"streaming core: {tokenwire.backend()}" in text
    # Both providers streamed both turns, the tool call was assembled, the 429 was handled.
    assert text.count("tokenwire is one Python client for every LLM provider.") == 2
    assert "thinking: The user asks about speed" in text
    assert text.count("tool call: get_weather({'city': 'Paris'})") == 2
    assert "RateLimitError" in text and "retry-after 1.0s" in text
    assert "the manager waits 1.0s as the provider asked, then retries" in text
    assert "assistant: You said: Say hello after the rate limit." in text
    assert "openai/gpt-4o-mini after 429" in text
    # The route failed over from the overloaded first target to the second one.
    assert "openai/gpt-4o-mini: ServerError 503 (overloaded) before the first token" in text
    assert "failing over to anthropic/claude-sonnet-4-5" in text
    assert "served by anthropic/claude-sonnet-4-5 after 2 attempts" in text
    # The breaker opened after the 5xx answers, refused a call without sending it, and
    # recovered through a half-open probe, in that order.
    steps = [
        "call 1: ServerError 500",
        "breaker openai/gpt-4o-mini: closed → open",
        "call 4: CircuitOpenError — refused at once, 0 requests sent",
        "breaker openai/gpt-4o-mini: open → half_open",
        "breaker openai/gpt-4o-mini: half_open → closed",
        "call 5: ok — You said: Are you back?",
    ]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)
    # The manager's metrics table counts the failed and retried attempts.
    table = text.split("manager metrics", 1)[1].splitlines()
    openai_row = next(line for line in table if line.startswith("openai/gpt-4o-mini "))
    # requests, ok, errors (503 + 429), retries (after the 429), failovers (the 503)
    assert openai_row.split()[1:6] == ["7", "5", "2", "1", "1"]
    # Priced with the catalog's gpt-4o-mini prices (Roo's OpenAI formula).
    assert float(openai_row.split()[7]) > 0
    assert "OpenAI chat sample" in text and "Anthropic messages sample" in text
    # Gemini (CRLF SSE) and Bedrock (SigV4 + binary event-stream) on their own servers.
    assert "assistant: Io, Europa and Ganymede." in text
    assert "assistant: Signed with SigV4 and framed as AWS event-stream messages." in text
    assert "bedrock request signed: AWS4-HMAC-SHA256 Credential=AKIDTOKENWIREDEMO/" in text


def test_python_dash_m_runs_the_demo() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tokenwire", "demo", "--delay", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "streaming core" in proc.stdout and "TTFT ms" in proc.stdout


def test_negative_delay_is_rejected() -> None:
    with pytest.raises(SystemExit):
        cli.main(["demo", "--delay", "-1"])


def _run(*args: str, env_drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    return subprocess.run(
        [sys.executable, "-m", "tokenwire", *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_providers_lists_registry_and_credential_status() -> None:
    proc = _run("providers", env_drop=("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"))
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert "openai" in lines and "anthropic" in lines
    assert "missing (set OPENAI_API_KEY)" in lines["openai"]


def test_chat_without_a_key_names_the_env_var() -> None:
    proc = _run("chat", "openai/gpt-4o-mini", "hi", env_drop=("OPENAI_API_KEY",))
    assert proc.returncode == 2
    assert "OPENAI_API_KEY" in proc.stderr


def test_models_without_a_key_names_the_env_var() -> None:
    # Without a key the catalog's models are listed instead (see test_cli_catalog.py).
    proc = _run("models", "anthropic", env_drop=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"))
    assert proc.returncode == 0
    assert "ANTHROPIC_API_KEY" in proc.stderr and "catalog" in proc.stderr

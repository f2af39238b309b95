"""The README's quick starts run as written, against the loopback servers."""

from __future__ import annotations

import re

import pytest
from tests.conftest import ROOT

from tokenwire.testing import AnthropicMockServer, OpenAIMockServer

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _snippet(heading: str) -> str:
    section = README.split(f"## {heading}", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, heading
    return match.group(1)


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with (
        OpenAIMockServer(api_key="sk-readme-0000000000") as oai,
        AnthropicMockServer(api_key="sk-ant-readme-000000") as ant,
    ):
        monkeypatch.setenv("OPENAI_API_KEY", "sk-readme-0000000000")
        monkeypatch.setenv("OPENAI_BASE_URL", oai.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-readme-000000")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", ant.base_url)
        for var in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "ANTHROPIC_AUTH_TOKEN"):
            monkeypatch.delenv(var, raising=False)
        yield oai, ant


def test_openai_quick_start(servers, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    oai, _ = servers
    exec(compile(_snippet("Quick start: OpenAI"), "README-openai", "exec"), {})
    out = capsys.readouterr().out
    assert out.count("You said: Say hi") == 2
    assert "Usage(" in out
    assert [r.path for r in oai.requests] == ["/v1/responses", "/v1/responses"]


def test_anthropic_quick_start(servers, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    _, ant = servers
    exec(compile(_snippet("Quick start: Anthropic"), "README-anthropic", "exec"), {})
    assert "You said: Why is the sky blue?" in capsys.readouterr().out
    body = ant.last_request.json()
    assert body["system"][0]["text"] == "Answer in one sentence."
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["max_tokens"] == 300


def test_testing_snippet(capsys: pytest.CaptureFixture[str]) -> None:
    code = _snippet("Testing your code against loopback providers").replace(
        "    ...                                                   # point your client at server.base_url\n",
        "    import httpx\n"
        "    httpx.post(f'{server.base_url}/chat/completions', headers={'Authorization': 'Bearer sk-test'},\n"
        "               json={'model': 'gpt-4o-mini', 'messages': [{'role': 'user', 'content': 'hi'}]})\n",
    )
    exec(compile(code, "README-testing", "exec"), {})
    assert "'model': 'gpt-4o-mini'" in capsys.readouterr().out


def test_gemini_quick_start(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tokenwire.testing import GeminiMockServer

    with GeminiMockServer(api_key="AIza-readme-0000000000") as server:
        monkeypatch.setenv("GEMINI_API_KEY", "AIza-readme-0000000000")
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.base_url)
        exec(compile(_snippet("Quick start: Gemini"), "README-gemini", "exec"), {})
        body = server.last_request.json()
    assert "You said: Name three moons of Jupiter." in capsys.readouterr().out
    assert body["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 1024


def test_vertex_quick_start(tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    import json

    pytest.importorskip("google.auth", reason="the vertex extra (google-auth) is not installed")
    from tokenwire.testing import VertexMockServer

    with VertexMockServer(project="my-project") as server:
        key_file = tmp_path / "service-account.json"
        key_file.write_text(json.dumps(server.service_account()))
        code = _snippet("Quick start: Vertex AI").replace(
            '"credentials": "service-account.json"', f'"credentials": {str(key_file)!r}, "base_url": {server.url!r}'
        )
        exec(compile(code, "README-vertex", "exec"), {})
        paths = [r.path for r in server.requests]
    assert capsys.readouterr().out.count("You said: One word for blue?") == 2
    assert paths[0] == "/token"
    assert any(p.endswith("/publishers/google/models/gemini-2.5-pro:generateContent") for p in paths)
    assert any(p.endswith("/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict") for p in paths)


def test_routes_snippet_fails_over(servers, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from tokenwire.testing import faults

    oai, ant = servers
    oai.faults.push(faults.Overloaded())
    exec(compile(_snippet("Routes, failover, retries and rate limits"), "README-routes", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "You said: Say hi"
    # OpenAI's overload answer is a 503 (Anthropic's would be a 529): failover at once.
    assert "openai/gpt-4o-mini 1 {'ServerError': 1} 1" in lines
    assert "anthropic/claude-haiku-4-5 1 {} 0" in lines
    assert [r.path for r in oai.requests] == ["/v1/responses"]  # Roo sends gpt-4o-mini there
    assert ant.last_request.json()["model"] == "claude-haiku-4-5"

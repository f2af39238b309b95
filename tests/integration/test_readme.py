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
    with OpenAIMockServer(api_key="sk-readme-0000000000") as oai, AnthropicMockServer(
        api_key="sk-ant-readme-000000"
    ) as ant:
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

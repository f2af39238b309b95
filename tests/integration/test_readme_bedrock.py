"""The README's Bedrock quick start runs as written against ``BedrockMockServer`` (SigV4
credentials from the environment, verified by the server)."""

from __future__ import annotations

import re

import pytest
from tests.conftest import ROOT

from tokenwire.testing import Answer, BedrockMockServer


def test_bedrock_quick_start(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", readme.split("## Quick start: AWS Bedrock", 1)[1], re.S)
    assert match
    with BedrockMockServer(credentials={"AKIDREADME": "readme-secret"}) as server:
        for var in ("AWS_BEARER_TOKEN_BEDROCK", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDREADME")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "readme-secret")
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.url)
        server.scripts.push(Answer("Titan, Rhea and Enceladus.", usage=(12, 7)))
        exec(compile(match.group(1), "README-bedrock", "exec"), {})
        assert server.last_request.path == "/model/us.anthropic.claude-sonnet-4-20250514-v1:0/converse"
    out = capsys.readouterr().out
    assert out.startswith("Titan, Rhea and Enceladus.")

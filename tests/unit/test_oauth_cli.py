"""The shared machinery of the CLI-login providers, without network: credentials files,
form encoding, path resolution, and what a provider does before its first request."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from tokenwire.errors import ConfigurationError
from tokenwire.providers.gemini_cli import GEMINI_CLI_OAUTH, GeminiCLIProvider
from tokenwire.providers.oauth_cli import form_encode, read_credentials, write_credentials
from tokenwire.providers.qwen_code import QWEN_OAUTH, QwenCodeProvider
from tokenwire.registry import ProviderRegistry

SECRET = "1//refresh-secret-0123456789"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_CLI_OAUTH_PATH", "QWEN_CODE_OAUTH_PATH", "GEMINI_CLI_PROJECT_ID", "CODE_ASSIST_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


def test_form_encoding_is_encode_uri_component() -> None:
    form = {"grant_type": "refresh_token", "refresh_token": "1//0a+b/c=d e*'()!~_.-", "client_id": "f0304373"}
    assert form_encode(form) == (
        b"grant_type=refresh_token&refresh_token=1%2F%2F0a%2Bb%2Fc%3Dd%20e*'()!~_.-&client_id=f0304373"
    )
    assert form_encode({"k": "é"}) == b"k=%C3%A9"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no Gemini CLI OAuth credentials at"),
        (f'{{"refresh_token": "{SECRET}"', "not valid JSON"),
        (f'["{SECRET}"]', "not a JSON object"),
        ('{"token_type": "Bearer", "expiry_date": 1}', "no access_token or refresh_token"),
        ('{"access_token": "", "refresh_token": 5}', "no access_token or refresh_token"),
    ],
)
def test_unusable_credentials_files(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "oauth_creds.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        read_credentials(path, GEMINI_CLI_OAUTH, "gemini-cli")
    message = str(info.value)
    assert problem in message and str(path) in message
    assert 'run `gemini` and choose "Login with Google"' in message and "GEMINI_CLI_OAUTH_PATH" in message
    assert SECRET not in message


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    path.mkdir()  # a directory is unreadable as a file on every platform
    with pytest.raises(ConfigurationError, match="cannot read"):
        read_credentials(path, QWEN_OAUTH, "qwen-code")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_written_credentials_are_private_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "oauth_creds.json"
    path.write_text('{"old": true}', encoding="utf-8")
    path.chmod(0o644)
    document = {"access_token": "a", "refresh_token": "r", "expiry_date": 1, "resource_url": "portal.qwen.ai"}
    write_credentials(path, document)
    assert json.loads(path.read_text(encoding="utf-8")) == document
    assert path.read_text(encoding="utf-8") == json.dumps(document, indent=2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["oauth_creds.json"]  # no temporary left behind


def test_paths_resolve_without_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert GeminiCLIProvider().oauth_path == tmp_path / ".gemini" / "oauth_creds.json"
    assert QwenCodeProvider().oauth_path == tmp_path / ".qwen" / "oauth_creds.json"
    monkeypatch.setenv("QWEN_CODE_OAUTH_PATH", "~/elsewhere/q.json")
    assert QwenCodeProvider().oauth_path == tmp_path / "elsewhere" / "q.json"
    explicit = QwenCodeProvider(oauth_path=tmp_path / "x.json")
    assert explicit.oauth_path == tmp_path / "x.json"
    relative = GeminiCLIProvider(oauth_path="rel/creds.json")
    assert relative.oauth_path == Path(os.getcwd()) / "rel" / "creds.json"
    # Nothing exists yet, and nothing was read.
    assert not explicit.has_credentials()
    assert explicit.credentials is None and explicit.api_key is None
    (tmp_path / "x.json").write_text("{}", encoding="utf-8")
    assert explicit.has_credentials()
    assert QwenCodeProvider(api_key="static").has_credentials()


def test_reprs_name_the_file_not_the_token(tmp_path: Path) -> None:
    provider = GeminiCLIProvider(oauth_path=tmp_path / "c.json")
    assert (
        repr(provider) == f"<GeminiCLIProvider 'gemini-cli' oauth_path={str(tmp_path / 'c.json')!r} token=not loaded>"
    )
    static = QwenCodeProvider(api_key="sk-static-secret")
    assert repr(static) == "<QwenCodeProvider 'qwen-code' static token>"
    assert "sk-static-secret" not in repr(static)


def test_registry_creates_them_without_files_or_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "nowhere"))
    registry = ProviderRegistry.default()
    for name, cls in (("gemini-cli", GeminiCLIProvider), ("qwen-code", QwenCodeProvider)):
        provider = registry.create(name)
        assert isinstance(provider, cls)
        assert not provider.has_credentials()
    assert {"claude-code", "gemini-cli", "qwen-code"} <= set(registry.names())
    assert "vscode-lm" not in registry.names()

"""ProviderRegistry and the client's model addressing (no network)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Optional

import pytest

from tokenwire.client import AsyncClient, split_model
from tokenwire.errors import ConfigurationError
from tokenwire.providers.base import HttpCall, Provider
from tokenwire.registry import ProviderRegistry
from tokenwire.types import ChatRequest, ChatResponse


class EchoProvider(Provider):
    name = "echo"
    api_key_env = ("ECHO_TEST_KEY",)
    default_base_url = "http://127.0.0.1:9"

    def build_chat_call(self, request: ChatRequest, *, stream: bool) -> HttpCall:
        return HttpCall(
            "POST", f"{self.base_url}/chat", {}, {"model": request.model}, dialect="openai-chat", model=request.model
        )

    def parse_chat_response(self, data: Any, *, model: str, request_id: Optional[str]) -> ChatResponse:
        return ChatResponse(text=str(data), model=model, provider=self.name)


def test_register_create_and_names() -> None:
    registry = ProviderRegistry()
    registry.register("echo", EchoProvider)
    assert registry.names() == ["echo"]
    provider = registry.create("echo", api_key="k-123456")
    assert isinstance(provider, EchoProvider)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("echo", EchoProvider)
    registry.register("echo", EchoProvider, replace=True)
    registry.unregister("echo")
    assert registry.names() == []


def test_unknown_provider_is_a_configuration_error() -> None:
    registry = ProviderRegistry()
    registry.register("echo", EchoProvider)
    with pytest.raises(ConfigurationError, match="unknown provider 'nope'; registered providers: echo"):
        registry.create("nope")


def test_invalid_names_and_bad_factories() -> None:
    registry = ProviderRegistry()
    for bad in ("", "a/b"):
        with pytest.raises(ValueError, match="invalid provider name"):
            registry.register(bad, EchoProvider)
    registry.register("weird", lambda **_: object())  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigurationError, match="not a Provider"):
        registry.create("weird")
    registry.register("lazy", "tokenwire.errors:TokenwireError")
    with pytest.raises(ConfigurationError, match="not a Provider"):
        registry.create("lazy")


def test_default_registry_lists_only_working_builtins() -> None:
    names = ProviderRegistry.default().names()
    assert {"openai", "anthropic"} <= set(names)
    # Every registered provider can be created without keys or network.
    for name in names:
        provider = ProviderRegistry.default().create(name)
        assert provider.name == name
        assert "key" not in repr(provider).lower() or "api_key=" in repr(provider)


def test_entry_point_plugins_are_registered(tmp_path: Path) -> None:
    # A minimal installed distribution declaring a tokenwire.providers entry point.
    (tmp_path / "echo_plugin.py").write_text(
        textwrap.dedent(
            """
            from tokenwire.providers.base import Provider

            class PluginProvider(Provider):
                name = "plugin-echo"
                def build_chat_call(self, request, *, stream):
                    raise NotImplementedError
                def parse_chat_response(self, data, *, model, request_id):
                    raise NotImplementedError
            """
        )
    )
    dist = tmp_path / "echo_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[tokenwire.providers]\nplugin-echo = echo_plugin:PluginProvider\n")
    code = (
        "from tokenwire.registry import ProviderRegistry as R; r = R.default(); "
        "print('plugin-echo' in r.names(), type(r.create('plugin-echo')).__name__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "PluginProvider"]


@pytest.mark.parametrize(
    ("target", "default", "expected"),
    [
        ("openai/gpt-4o-mini", None, ("openai", "gpt-4o-mini")),
        ("openrouter/anthropic/claude-3.5-sonnet", None, ("openrouter", "anthropic/claude-3.5-sonnet")),
        ("gpt-4o-mini", "openai", ("openai", "gpt-4o-mini")),
    ],
)
def test_split_model(target: str, default: Optional[str], expected: tuple[str, str]) -> None:
    assert split_model(target, default) == expected


@pytest.mark.parametrize("target", ["gpt-4o", "/gpt", "openai/"])
def test_split_model_rejects_bad_targets(target: str) -> None:
    with pytest.raises(ConfigurationError, match="provider/model"):
        split_model(target)


def test_client_validates_provider_options_and_params() -> None:
    with pytest.raises(ConfigurationError, match="unknown provider 'nope'"):
        AsyncClient(providers={"nope": {}})
    registry = ProviderRegistry()
    registry.register("echo", EchoProvider)
    client = AsyncClient(registry=registry, providers={"echo": {"api_key": "k-123456"}})
    assert client.provider("echo") is client.provider("echo")
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        client.chat_stream("echo/m", [{"role": "user", "content": "hi"}], max_tokenz=3)
    stream = client.chat_stream("echo/m", [{"role": "user", "content": "hi"}], stop="END")
    assert stream.model == "m"


def test_default_count_tokens_is_the_local_estimate() -> None:
    import anyio

    from tokenwire.tokens import estimate_input_tokens
    from tokenwire.types import Message

    provider = EchoProvider(api_key="k-123456")
    request = ChatRequest(model="m", messages=(Message("user", "How many tokens is this?"),), system="Be brief.")
    assert anyio.run(provider.count_tokens, request) == estimate_input_tokens(request) > 0


def test_roster_spellings_resolve_as_aliases() -> None:
    registry = ProviderRegistry.default()
    assert registry.aliases() == {"lite-llm": "litellm", "lm-studio": "lmstudio"}
    for alias, name in registry.aliases().items():
        assert alias in registry and alias not in registry.names()
        assert registry.create(alias).name == name

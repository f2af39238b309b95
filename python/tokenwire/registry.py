"""``ProviderRegistry``: provider name → factory.

Built-in providers are registered by import path and imported only when first used,
so ``import tokenwire`` loads no provider module. Third-party providers plug in through
the ``tokenwire.providers`` entry-point group: each entry point's name is the provider
name and its object a :class:`~tokenwire.providers.base.Provider` subclass or a factory
returning one. The default registry reads the entry points when a name it does not
have built in is asked for, or when the whole set is (:meth:`ProviderRegistry.names`):
``importlib.metadata`` and the scan of every installed distribution cost ~1 MB and
milliseconds that an application using built-in providers never pays.

Only providers that really work are registered; there are no placeholders.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Mapping
from typing import Any, Callable, Optional, Union, cast

from tokenwire.errors import ConfigurationError
from tokenwire.providers.base import Provider

__all__ = ["ENTRY_POINT_GROUP", "ProviderFactory", "ProviderRegistry"]

ENTRY_POINT_GROUP = "tokenwire.providers"

ProviderFactory = Callable[..., Provider]

# name -> "module:attribute" of the Provider subclass or factory. Imported lazily. The
# OpenAI-compatible family are factories over the profiles of tokenwire.providers.compat.
_BUILTINS: Mapping[str, str] = {
    "anthropic": "tokenwire.providers.anthropic:AnthropicProvider",
    "azure-openai": "tokenwire.providers.openai:AzureOpenAIProvider",
    "bedrock": "tokenwire.providers.bedrock:BedrockProvider",
    "cerebras": "tokenwire.providers.compat:cerebras",
    "chutes": "tokenwire.providers.compat:chutes",
    "claude-code": "tokenwire.providers.claude_code:ClaudeCodeProvider",
    "deepinfra": "tokenwire.providers.compat:deepinfra",
    "deepseek": "tokenwire.providers.compat:deepseek",
    "doubao": "tokenwire.providers.compat:doubao",
    "featherless": "tokenwire.providers.compat:featherless",
    "fireworks": "tokenwire.providers.compat:fireworks",
    "gemini": "tokenwire.providers.gemini:GeminiProvider",
    "gemini-cli": "tokenwire.providers.gemini_cli:GeminiCLIProvider",
    "glama": "tokenwire.providers.compat:glama",
    "groq": "tokenwire.providers.compat:groq",
    "huggingface": "tokenwire.providers.compat:huggingface",
    "io-intelligence": "tokenwire.providers.compat:io_intelligence",
    "litellm": "tokenwire.providers.compat:litellm",
    "lmstudio": "tokenwire.providers.compat:lmstudio",
    "mistral": "tokenwire.providers.compat:mistral",
    "moonshot": "tokenwire.providers.compat:moonshot",
    "ollama": "tokenwire.providers.ollama:OllamaProvider",
    "openai": "tokenwire.providers.openai:OpenAIProvider",
    "openrouter": "tokenwire.providers.compat:openrouter",
    "perplexity": "tokenwire.providers.compat:perplexity",
    "qwen-code": "tokenwire.providers.qwen_code:QwenCodeProvider",
    "requesty": "tokenwire.providers.compat:requesty",
    "roo": "tokenwire.providers.compat:roo",
    "sambanova": "tokenwire.providers.compat:sambanova",
    "unbound": "tokenwire.providers.compat:unbound",
    "vercel-ai-gateway": "tokenwire.providers.compat:vercel_ai_gateway",
    "vertex": "tokenwire.providers.vertex:VertexProvider",
    "xai": "tokenwire.providers.compat:xai",
    "zai": "tokenwire.providers.compat:zai",
}


# Other spellings of built-in names: Roo-Code's registry (src/api/index.ts) says "litellm"
# and "lmstudio"; its docs and the provider roster also write "lite-llm" and "lm-studio".
_ALIASES: Mapping[str, str] = {"lite-llm": "litellm", "lm-studio": "lmstudio"}


def _load(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


class ProviderRegistry:
    """A mapping of provider names to factories (classes or callables)."""

    _default: Optional[ProviderRegistry] = None
    _default_lock = threading.Lock()

    def __init__(self) -> None:
        self._entries: dict[str, Union[str, ProviderFactory]] = {}
        # Set on the default registry until its entry points are read (see _plugins).
        self._plugins_pending = False
        self._plugins_lock = threading.Lock()

    @classmethod
    def default(cls) -> ProviderRegistry:
        """The process-wide registry: every built-in provider plus installed plugins."""
        if cls._default is None:
            with cls._default_lock:
                if cls._default is None:
                    registry = cls()
                    for name, target in _BUILTINS.items():
                        registry._entries[name] = target
                    registry._plugins_pending = True
                    cls._default = registry
        return cls._default

    def _plugins(self) -> None:
        """Read the entry points now if that was put off (the default registry)."""
        if self._plugins_pending:
            with self._plugins_lock:
                if self._plugins_pending:
                    self.load_entry_points()
                    self._plugins_pending = False

    def register(self, name: str, factory: Union[str, ProviderFactory], *, replace: bool = False) -> None:
        """Register ``factory`` (a Provider subclass, a callable, or ``"module:attr"``) as ``name``."""
        if not name or "/" in name:
            raise ValueError(f"invalid provider name {name!r} (non-empty, no '/')")
        self._plugins()
        if name in self._entries and not replace:
            raise ValueError(f"provider {name!r} is already registered (pass replace=True to override)")
        self._entries[name] = factory

    def unregister(self, name: str) -> None:
        """Remove a provider; unknown names raise ``KeyError``."""
        self._plugins()
        del self._entries[name]

    def names(self) -> list[str]:
        """Registered provider names, sorted."""
        self._plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        if name in self._entries:
            return True
        self._plugins()
        return name in self._entries or (isinstance(name, str) and self._alias(name) in self._entries)

    def aliases(self) -> dict[str, str]:
        """Alternative spellings accepted by :meth:`create` (alias → registered name)."""
        self._plugins()
        return {alias: target for alias, target in _ALIASES.items() if target in self._entries}

    def _alias(self, name: str) -> str:
        return name if name in self._entries else _ALIASES.get(name, name)

    def factory(self, name: str) -> ProviderFactory:
        """The factory for ``name`` (importing a built-in module on first use)."""
        if name not in self._entries:
            self._plugins()
            name = self._alias(name)
        try:
            entry = self._entries[name]
        except KeyError:
            known = ", ".join(self.names())
            raise ConfigurationError(f"unknown provider {name!r}; registered providers: {known}") from None
        if isinstance(entry, str):
            loaded = _load(entry)
            if not callable(loaded):
                raise ConfigurationError(f"provider {name!r} entry {entry!r} is not callable")
            factory = cast(ProviderFactory, loaded)
            self._entries[name] = factory
            return factory
        return entry

    def create(self, name: str, **options: Any) -> Provider:
        """Build provider ``name`` with ``options``. No network, no credential check."""
        provider = cast(object, self.factory(name)(**options))
        if not isinstance(provider, Provider):
            raise ConfigurationError(f"provider {name!r} factory returned {type(provider).__name__}, not a Provider")
        return provider

    def load_entry_points(self) -> None:
        """Register the providers of the ``tokenwire.providers`` entry-point group."""
        if sys.version_info >= (3, 10):
            from importlib.metadata import entry_points

            eps = list(entry_points(group=ENTRY_POINT_GROUP))
        else:  # pragma: no cover - Python 3.9
            from importlib.metadata import entry_points

            eps = list(entry_points().get(ENTRY_POINT_GROUP, ()))
        for ep in eps:
            if ep.name not in self._entries:
                self._entries[ep.name] = ep.value

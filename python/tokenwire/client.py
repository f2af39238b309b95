"""``AsyncClient`` and its synchronous facade ``Client``: what users touch.

Models are addressed as ``"provider/model"`` (``"anthropic/claude-sonnet-4-5"``,
``"openai/gpt-4o-mini"``); only the first ``/`` separates the provider, so gateway
model ids with slashes pass through. Providers are created on first use with the
options given for them (``providers={"openai": {"api_key": ...}}``) or, by default,
credentials and base URLs from the environment variables the official SDKs read.

Streams are async iterators and async context managers; leaving the ``async with``
block closes the connection. The sync :class:`Client` runs an event loop on a
background thread (an anyio blocking portal) and exposes the same calls.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Callable, Optional, TypeVar, Union

import anyio.from_thread

from tokenwire._http import Timeouts
from tokenwire.errors import ConfigurationError
from tokenwire.providers.base import ChatStream, Provider
from tokenwire.registry import ProviderRegistry
from tokenwire.types import (
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    CompletionResponse,
    MessageLike,
    ModelInfo,
    StreamToken,
    Tool,
    coerce_messages,
    coerce_tools,
)

__all__ = ["AsyncClient", "Client", "SyncChatStream", "split_model"]

_T = TypeVar("_T")
_C = TypeVar("_C", bound="AsyncClient")

# ChatRequest fields that callers pass as keyword arguments.
_CHAT_PARAMS = frozenset(
    {
        "system",
        "max_tokens",
        "temperature",
        "top_p",
        "stop",
        "tool_choice",
        "response_format",
        "reasoning_effort",
        "thinking_budget",
        "user",
        "options",
        "extra_headers",
        "extra_body",
        "timeout",
    }
)
_COMPLETION_PARAMS = frozenset(
    {"max_tokens", "temperature", "top_p", "stop", "options", "extra_headers", "extra_body", "timeout"}
)


def split_model(target: str, default_provider: Optional[str] = None) -> tuple[str, str]:
    """``"provider/model"`` → ``(provider, model)``; a bare model uses ``default_provider``."""
    provider, sep, model = target.partition("/")
    if sep and provider and model:
        return provider, model
    if not sep and default_provider:
        return default_provider, target
    raise ConfigurationError(
        f"model {target!r} must be written 'provider/model' (e.g. 'openai/gpt-4o-mini')"
        + ("" if default_provider else " or a default provider must be set")
    )


def _normalize_stop(params: dict[str, Any]) -> None:
    stop = params.get("stop")
    if isinstance(stop, str):
        params["stop"] = (stop,)
    elif stop is not None:
        params["stop"] = tuple(stop)


def _check(params: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise TypeError(f"{what}() got unexpected keyword argument(s): {', '.join(unknown)}")


class AsyncClient:
    """One async client for every provider.

    ``providers`` maps provider names to their constructor options (``api_key``,
    ``base_url``, provider-specific settings); providers not listed are built from the
    environment. ``default_provider`` lets bare model names through.
    """

    def __init__(
        self,
        *,
        providers: Optional[Mapping[str, Mapping[str, Any]]] = None,
        default_provider: Optional[str] = None,
        timeouts: Optional[Timeouts] = None,
        registry: Optional[ProviderRegistry] = None,
    ) -> None:
        self._registry = registry or ProviderRegistry.default()
        self._options = {name: dict(opts) for name, opts in (providers or {}).items()}
        self._default_provider = default_provider
        self._timeouts = timeouts
        self._providers: dict[str, Provider] = {}
        for name in self._options:
            if name not in self._registry:
                raise ConfigurationError(f"unknown provider {name!r}; registered: {', '.join(self._registry.names())}")

    def __repr__(self) -> str:
        return f"<AsyncClient providers={sorted(self._providers)} default={self._default_provider!r}>"

    # -- providers ------------------------------------------------------------------------------
    def provider(self, name: str) -> Provider:
        """The provider instance for ``name`` (created on first use, then reused)."""
        provider = self._providers.get(name)
        if provider is None:
            options = dict(self._options.get(name, {}))
            if self._timeouts is not None:
                options.setdefault("timeouts", self._timeouts)
            provider = self._registry.create(name, **options)
            self._providers[name] = provider
        return provider

    def add_provider(self, name: str, provider: Provider) -> None:
        """Use an already-built provider instance under ``name``."""
        self._providers[name] = provider

    def _resolve(self, target: str) -> tuple[Provider, str]:
        name, model = split_model(target, self._default_provider)
        return self.provider(name), model

    # -- requests -------------------------------------------------------------------------------
    def _chat_request(
        self,
        model: str,
        messages: Iterable[MessageLike],
        tools: Optional[Iterable[Union[Tool, Mapping[str, Any]]]],
        params: dict[str, Any],
    ) -> ChatRequest:
        _check(params, _CHAT_PARAMS, "chat")
        _normalize_stop(params)
        return ChatRequest(model=model, messages=coerce_messages(messages), tools=coerce_tools(tools), **params)

    async def chat(
        self,
        model: str,
        messages: Iterable[MessageLike],
        *,
        tools: Optional[Iterable[Union[Tool, Mapping[str, Any]]]] = None,
        **params: Any,
    ) -> ChatResponse:
        """Send a chat and return the whole answer (``reply.text``, ``reply.usage``, ``reply.tool_calls``)."""
        provider, model_id = self._resolve(model)
        return await provider.chat(self._chat_request(model_id, messages, tools, params))

    def chat_stream(
        self,
        model: str,
        messages: Iterable[MessageLike],
        *,
        tools: Optional[Iterable[Union[Tool, Mapping[str, Any]]]] = None,
        **params: Any,
    ) -> ChatStream:
        """Stream a chat: ``async with client.chat_stream(...) as stream: async for token in stream``."""
        provider, model_id = self._resolve(model)
        return provider.chat_stream(self._chat_request(model_id, messages, tools, params))

    def _completion_request(self, model: str, prompt: str, params: dict[str, Any]) -> CompletionRequest:
        _check(params, _COMPLETION_PARAMS, "complete")
        _normalize_stop(params)
        return CompletionRequest(model=model, prompt=prompt, **params)

    async def complete(self, model: str, prompt: str, **params: Any) -> CompletionResponse:
        """Complete a plain prompt."""
        provider, model_id = self._resolve(model)
        return await provider.complete(self._completion_request(model_id, prompt, params))

    def complete_stream(self, model: str, prompt: str, **params: Any) -> ChatStream:
        """Stream the completion of a plain prompt."""
        provider, model_id = self._resolve(model)
        return provider.complete_stream(self._completion_request(model_id, prompt, params))

    async def list_models(self, provider: str) -> list[ModelInfo]:
        """The models ``provider`` offers."""
        return await self.provider(provider).list_models()

    async def count_tokens(
        self,
        model: str,
        messages: Iterable[MessageLike],
        *,
        tools: Optional[Iterable[Union[Tool, Mapping[str, Any]]]] = None,
        **params: Any,
    ) -> int:
        """Input tokens the request would use."""
        provider, model_id = self._resolve(model)
        return await provider.count_tokens(self._chat_request(model_id, messages, tools, params))

    # -- lifecycle ------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close every provider's connection pool."""
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.aclose()

    async def __aenter__(self: _C) -> _C:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()


class SyncChatStream:
    """The synchronous view of a :class:`ChatStream`: an iterator and a context manager."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, stream: ChatStream) -> None:
        self._portal = portal
        self._stream = stream
        self._batch: list[StreamToken] = []
        self._pos = 0

    @property
    def stream(self) -> ChatStream:
        """The underlying async stream (request id, headers, ttft, accumulator)."""
        return self._stream

    def __enter__(self) -> SyncChatStream:
        self._portal.call(self._stream.start)
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[StreamToken]:
        return self

    def __next__(self) -> StreamToken:
        if self._pos >= len(self._batch):
            # One thread hop per batch of decoded tokens, not per token.
            self._batch = self._portal.call(self._stream.next_batch)
            self._pos = 0
            if not self._batch:
                raise StopIteration
        token = self._batch[self._pos]
        self._pos += 1
        return token

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._portal.call(self._stream.aclose)

    def get_final_response(self) -> ChatResponse:
        """Consume the rest and return the assembled answer."""
        for _ in self:
            pass
        return self._portal.call(self._stream.get_final_response)


class Client:
    """Synchronous facade over :class:`AsyncClient` (same arguments, same calls).

    It runs the async client on an event loop in a background thread; close it (or use
    it as a context manager) to stop that thread.
    """

    def __init__(
        self,
        *,
        providers: Optional[Mapping[str, Mapping[str, Any]]] = None,
        default_provider: Optional[str] = None,
        timeouts: Optional[Timeouts] = None,
        registry: Optional[ProviderRegistry] = None,
    ) -> None:
        self._async = AsyncClient(
            providers=providers, default_provider=default_provider, timeouts=timeouts, registry=registry
        )
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._closed = False

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._closed:
            raise RuntimeError("Client is closed")
        return self._portal.call(functools.partial(fn, *args, **kwargs))

    @property
    def async_client(self) -> AsyncClient:
        """The wrapped async client."""
        return self._async

    def provider(self, name: str) -> Provider:
        """The provider instance for ``name``."""
        return self._async.provider(name)

    def chat(self, model: str, messages: Iterable[MessageLike], **params: Any) -> ChatResponse:
        """See :meth:`AsyncClient.chat`."""
        result: ChatResponse = self._call(self._async.chat, model, list(messages), **params)
        return result

    def chat_stream(self, model: str, messages: Iterable[MessageLike], **params: Any) -> SyncChatStream:
        """See :meth:`AsyncClient.chat_stream`; use as ``with client.chat_stream(...) as s: for t in s``."""
        return SyncChatStream(self._portal, self._async.chat_stream(model, list(messages), **params))

    def complete(self, model: str, prompt: str, **params: Any) -> CompletionResponse:
        """See :meth:`AsyncClient.complete`."""
        result: CompletionResponse = self._call(self._async.complete, model, prompt, **params)
        return result

    def complete_stream(self, model: str, prompt: str, **params: Any) -> SyncChatStream:
        """See :meth:`AsyncClient.complete_stream`."""
        return SyncChatStream(self._portal, self._async.complete_stream(model, prompt, **params))

    def list_models(self, provider: str) -> list[ModelInfo]:
        """See :meth:`AsyncClient.list_models`."""
        result: list[ModelInfo] = self._call(self._async.list_models, provider)
        return result

    def count_tokens(self, model: str, messages: Iterable[MessageLike], **params: Any) -> int:
        """See :meth:`AsyncClient.count_tokens`."""
        result: int = self._call(self._async.count_tokens, model, list(messages), **params)
        return result

    def close(self) -> None:
        """Close every connection and stop the background event loop (idempotent)."""
        if self._closed:
            return
        try:
            self._portal.call(self._async.aclose)
        finally:
            self._closed = True
            self._portal_cm.__exit__(None, None, None)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A forgotten Client must not leave its loop thread running forever.
        if not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):
                self.close()

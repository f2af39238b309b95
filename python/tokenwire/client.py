"""``AsyncClient`` and its synchronous facade ``Client``: what users touch.

Models are addressed as ``"provider/model"`` (``"anthropic/claude-sonnet-4-5"``,
``"openai/gpt-4o-mini"``); only the first ``/`` separates the provider, so gateway
model ids with slashes pass through. Named routes (``client.add_route("fast",
[...])``) are addressed as ``"route:fast"`` or ``"fast"``. Providers are created on
first use with the options given for them (``providers={"openai": {"api_key": ...}}``)
or, by default, credentials and base URLs from the environment variables the official
SDKs read.

Every call goes through the client's :class:`~tokenwire.manager.ProviderManager`
(``client.manager``): per ``provider/model`` a rate limiter that learns from the
provider's headers, a circuit breaker and the retry policy (2 retries by default, as
the official SDKs; the provider's ``retry-after`` honored), failover across a route's
targets before the first token, health-aware routing and metrics. Pass ``retry=``,
``breaker_config=``, ``limiter_config=`` … to tune them, or a ready ``manager=``.

Streams are async iterators and async context managers; leaving the ``async with``
block closes the connection. The sync :class:`Client` runs an event loop on a
background thread (an anyio blocking portal) and exposes the same calls.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Callable, Optional, TypeVar, Union

import anyio.from_thread

from tokenwire._http import Timeouts
from tokenwire.manager import ManagedStream, ProviderManager, ProviderMetrics, Route, Target, split_model
from tokenwire.manager._attempt import Call
from tokenwire.providers.base import Provider
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
    """One async client for every provider, routed and protected by a
    :class:`~tokenwire.manager.ProviderManager`.

    ``providers`` maps provider names to their constructor options (``api_key``,
    ``base_url``, provider-specific settings); providers not listed are built from the
    environment. ``default_provider`` lets bare model names through. Every other
    keyword (``retry``, ``breaker_config``, ``breaker_configs``, ``limiter_config``,
    ``limiter_configs``, ``limiter_scope``, ``shared_state``, ``clock``,
    ``price_lookup``, ``metrics``, ``tracer``, ``latency_alpha``, ``health_interval``,
    ``health_timeout``) configures the manager — or pass a ready ``manager`` (then the
    client does not close it).
    """

    def __init__(
        self,
        *,
        providers: Optional[Mapping[str, Mapping[str, Any]]] = None,
        default_provider: Optional[str] = None,
        timeouts: Optional[Timeouts] = None,
        registry: Optional[ProviderRegistry] = None,
        manager: Optional[ProviderManager] = None,
        **manager_options: Any,
    ) -> None:
        if manager is not None:
            if providers or default_provider or timeouts or registry or manager_options:
                raise TypeError("pass either a manager or the options to build one, not both")
            self._manager = manager
            self._owns_manager = False
        else:
            self._manager = ProviderManager(
                registry,
                providers=providers,
                default_provider=default_provider,
                timeouts=timeouts,
                **manager_options,
            )
            self._owns_manager = True

    def __repr__(self) -> str:
        manager = self._manager
        return f"<AsyncClient providers={manager.known_providers()} default={manager.default_provider!r}>"

    @property
    def manager(self) -> ProviderManager:
        """The :class:`~tokenwire.manager.ProviderManager` every call goes through."""
        return self._manager

    @property
    def metrics(self) -> ProviderMetrics:
        """The manager's :class:`~tokenwire.manager.ProviderMetrics`."""
        return self._manager.metrics

    # -- providers and routes --------------------------------------------------------------
    def provider(self, name: str) -> Provider:
        """The provider instance for ``name`` (created on first use, then reused)."""
        return self._manager.provider(name)

    def add_provider(self, name: str, provider: Provider) -> None:
        """Use an already-built provider instance under ``name``."""
        self._manager.register(provider, name=name)

    def add_route(
        self,
        name: str,
        targets: Iterable[Union[str, Target]],
        strategy: str = "priority",
        *,
        weights: Optional[Sequence[float]] = None,
    ) -> Route:
        """Define a named route over ``"provider/model"`` targets (see
        :meth:`ProviderManager.add_route <tokenwire.manager.ProviderManager.add_route>`)."""
        return self._manager.add_route(name, targets, strategy, weights=weights)

    # -- requests -------------------------------------------------------------------------------
    def _chat_call(
        self,
        address: str,
        messages: Iterable[MessageLike],
        tools: Optional[Iterable[Union[Tool, Mapping[str, Any]]]],
        params: dict[str, Any],
    ) -> Call:
        if params:
            _check(params, _CHAT_PARAMS, "chat")
            _normalize_stop(params)
        route, target, model = self._manager._addressed(address)
        request = ChatRequest(
            model=model, messages=coerce_messages(messages), tools=coerce_tools(tools) if tools else (), **params
        )
        return Call(address, "chat", request, route, target)

    async def chat(
        self,
        model: str,
        messages: Iterable[MessageLike],
        *,
        tools: Optional[Iterable[Union[Tool, Mapping[str, Any]]]] = None,
        **params: Any,
    ) -> ChatResponse:
        """Send a chat and return the whole answer (``reply.text``, ``reply.usage``, ``reply.tool_calls``)."""
        return await self._manager._chat_at(self._chat_call(model, messages, tools, params))

    def chat_stream(
        self,
        model: str,
        messages: Iterable[MessageLike],
        *,
        tools: Optional[Iterable[Union[Tool, Mapping[str, Any]]]] = None,
        **params: Any,
    ) -> ManagedStream:
        """Stream a chat: ``async with client.chat_stream(...) as stream: async for token in stream``."""
        return self._manager._chat_stream_at(self._chat_call(model, messages, tools, params))

    def _completion_call(self, address: str, prompt: str, params: dict[str, Any]) -> Call:
        _check(params, _COMPLETION_PARAMS, "complete")
        _normalize_stop(params)
        route, target, model = self._manager._addressed(address)
        return Call(address, "text_completion", CompletionRequest(model=model, prompt=prompt, **params), route, target)

    async def complete(self, model: str, prompt: str, **params: Any) -> CompletionResponse:
        """Complete a plain prompt."""
        return await self._manager._complete_at(self._completion_call(model, prompt, params))

    def complete_stream(self, model: str, prompt: str, **params: Any) -> ManagedStream:
        """Stream the completion of a plain prompt."""
        return self._manager._complete_stream_at(self._completion_call(model, prompt, params))

    async def list_models(self, provider: str) -> list[ModelInfo]:
        """The models ``provider`` offers."""
        return await self._manager.list_models(provider)

    async def count_tokens(
        self,
        model: str,
        messages: Iterable[MessageLike],
        *,
        tools: Optional[Iterable[Union[Tool, Mapping[str, Any]]]] = None,
        **params: Any,
    ) -> int:
        """Input tokens the request would use."""
        return await self._manager._count_tokens_at(self._chat_call(model, messages, tools, params))

    # -- lifecycle ------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close every provider's connection pool (when the client built its manager)."""
        if self._owns_manager:
            await self._manager.aclose()

    async def __aenter__(self: _C) -> _C:
        if self._owns_manager:
            await self._manager.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()


class SyncChatStream:
    """The synchronous view of a :class:`~tokenwire.manager.ManagedStream`: an iterator
    and a context manager."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, stream: ManagedStream) -> None:
        self._portal = portal
        self._stream = stream
        self._batch: list[StreamToken] = []
        self._pos = 0

    @property
    def stream(self) -> ManagedStream:
        """The underlying async stream (target, attempts, request id, headers, ttft, accumulator)."""
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
        manager: Optional[ProviderManager] = None,
        **manager_options: Any,
    ) -> None:
        self._async = AsyncClient(
            providers=providers,
            default_provider=default_provider,
            timeouts=timeouts,
            registry=registry,
            manager=manager,
            **manager_options,
        )
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._closed = False
        self._health_cm: Optional[contextlib.AbstractContextManager[Any]] = None
        if manager is None and self._async.manager.has_background_work:
            # The health monitor / shared-state sync run in a task group, which must
            # enter and exit in one task: the portal runs the whole context manager in
            # a task of its own.
            background = self._async.manager.run_background()
            self._health_cm = self._portal.wrap_async_context_manager(background)
            self._health_cm.__enter__()

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._closed:
            raise RuntimeError("Client is closed")
        return self._portal.call(functools.partial(fn, *args, **kwargs))

    @property
    def async_client(self) -> AsyncClient:
        """The wrapped async client."""
        return self._async

    @property
    def manager(self) -> ProviderManager:
        """The :class:`~tokenwire.manager.ProviderManager` every call goes through."""
        return self._async.manager

    @property
    def metrics(self) -> ProviderMetrics:
        """The manager's :class:`~tokenwire.manager.ProviderMetrics`."""
        return self._async.metrics

    def provider(self, name: str) -> Provider:
        """The provider instance for ``name``."""
        return self._async.provider(name)

    def add_provider(self, name: str, provider: Provider) -> None:
        """See :meth:`AsyncClient.add_provider`."""
        self._async.add_provider(name, provider)

    def add_route(
        self,
        name: str,
        targets: Iterable[Union[str, Target]],
        strategy: str = "priority",
        *,
        weights: Optional[Sequence[float]] = None,
    ) -> Route:
        """See :meth:`AsyncClient.add_route`."""
        return self._async.add_route(name, targets, strategy, weights=weights)

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
            health, self._health_cm = self._health_cm, None
            if health is not None:
                health.__exit__(None, None, None)
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

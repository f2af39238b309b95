"""Anthropic Messages API adapter (``"anthropic"``).

The wire behaviour reproduces Roo-Code's Anthropic handler (RooCodeInc/Roo-Code at
``9bcd9918``: ``src/api/providers/anthropic.ts``, ``src/api/transform/model-params.ts``,
``src/shared/api.ts``, ``packages/types/src/providers/anthropic.ts``), in our own code.

Authentication
    ``x-api-key`` with the key from ``api_key=`` or ``ANTHROPIC_API_KEY``; or
    ``authorization: Bearer <token>`` in auth-token mode: ``auth_token=`` or
    ``ANTHROPIC_AUTH_TOKEN`` (the variables the official SDKs read). Exactly one header
    is sent: an explicit argument beats the environment, and the API key beats the
    token when both come from the same place. (Roo's "use auth token" setting sends
    the key as a bearer token; pass it as ``auth_token=`` for that.) Every request
    carries ``anthropic-version: 2023-06-01``; requests with a body carry
    ``content-type: application/json``. The base URL (``base_url=`` /
    ``ANTHROPIC_BASE_URL``, default ``https://api.anthropic.com``) excludes ``/v1``, as
    in the official SDKs.

Betas (``anthropic-beta``, comma-joined in this order, as Roo builds the list)
    1. ``output-128k-2025-02-19`` for ``claude-3-7-sonnet-20250219:thinking`` (the
       suffix is stripped from the model id sent);
    2. ``context-1m-2025-08-07`` for ``claude-sonnet-4-20250514`` and ``claude-sonnet-4-5``
       when the 1M-context option is on;
    3. ``prompt-caching-2024-07-31`` when prompt caching applies;
    then any extra betas from the provider's ``betas=`` and ``request.options["betas"]``.
    Roo sends the header only on its cache path; with default options that is the
    same, since every model that gets another beta is cache-capable.

Prompt caching (the cache-capable models Roo lists, or forced on/off by option)
    The system prompt is one text block with ``cache_control: {"type": "ephemeral"}``,
    and the last content block of the last and second-to-last *user* messages gets the
    same ``cache_control`` (a string content becomes one text block). Without caching
    the system prompt is one plain text block and messages are left as they are.
    There is no system field when the request has no system prompt (the API rejects
    an empty text block).

Parameters (Roo's ``getModelParams`` for the ``anthropic`` format)
    - Extended thinking is used for models that require it (the ``:thinking`` model)
      and, when the request asks for it (``thinking_budget`` or
      ``options["thinking"] = True``), for models with a reasoning budget. Models not in
      the table are assumed to support a budget (Roo falls back to its default model,
      which does; the API has the last word). Known models without a budget ignore
      the request, as in Roo.
    - ``max_tokens``: the request's value when set; else 16384 with thinking, else 8192
      (``ANTHROPIC_DEFAULT_MAX_TOKENS``) for reasoning-budget models and unknown models,
      else the model's max output capped at 20% of its context window. (Roo ignores
      a custom max-tokens value without thinking; a request's explicit value is
      honoured here.)
    - Thinking budget: the request's ``thinking_budget`` or 8192, capped at
      ``floor(0.8 * max_tokens)``, raised to at least 1024; temperature is then 1.0.
    - Otherwise temperature is the request's value or Roo's default 0, except that no
      default is added when the request sets ``top_p`` (newer models reject both).
    - ``reasoning_effort`` does not apply to the Messages API and is ignored (as in
      Roo); ``response_format`` is rejected with a :class:`ConfigurationError`.

Message conversion
    System messages join the system prompt. ``tool`` messages become ``tool_result``
    blocks (``is_error`` kept) in a user message; assistant tool calls become
    ``tool_use`` blocks with the parsed arguments as ``input``; images become
    ``image`` blocks with a ``base64`` or ``url`` source. Consecutive messages with the
    same Anthropic role are merged into one message (content blocks concatenated) so
    user and assistant alternate as the API requires. Tools are
    ``{name, description, input_schema}``; ``tool_choice`` ``"auto"``/``"required"``
    (or ``"any"``)/``"none"``/a tool name map to ``{type: auto|any|none|tool}``, and an
    OpenAI-style ``{"type": "function", "function": {"name"}}`` to ``{type: tool}``;
    ``stop`` → ``stop_sequences``; ``user`` → ``metadata.user_id``.

``request.options`` keys
    - ``context_1m`` (bool): the 1M-context beta for this request (overrides the
      provider's ``context_1m``);
    - ``prompt_caching`` (bool): force caching on or off (overrides the provider's
      ``prompt_caching``);
    - ``thinking`` (bool): ``True`` asks for extended thinking with Roo's default budget
      when ``thinking_budget`` is unset; ``False`` turns it off (models that require
      thinking keep it);
    - ``betas`` (list of str): extra ``anthropic-beta`` values;
    - ``top_k`` (int): sent as ``top_k``;
    - ``disable_parallel_tool_use`` (bool): added to ``tool_choice`` (``auto`` if none).
    Other keys are ignored, so one options mapping can serve several providers.
    ``extra_body`` is merged into the body last; a ``None`` value there removes the
    field (e.g. ``{"temperature": None}`` drops the default temperature).

Responses
    Streams use the ``anthropic`` dialect of the native ``StreamProcessor`` (Roo's
    mapping: a ``"\\n"`` before every text or thinking block whose index is > 0). A
    non-streaming answer is assembled by the same rule, so ``chat()`` and
    ``chat_stream()`` give identical text for the same message.

Token counting and models
    :meth:`AnthropicProvider.count_tokens` asks ``POST /v1/messages/count_tokens`` with
    the request's body minus the fields that endpoint does not take (``max_tokens``,
    ``stream``, sampling parameters, ``stop_sequences``, ``metadata``). There is no
    local estimate yet: the native BPE counter will be the fallback.
    :meth:`AnthropicProvider.list_models` pages through ``GET /v1/models``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Union

import httpx

from tokenwire._http import Timeouts
from tokenwire.errors import APIConnectionError, ConfigurationError, ProviderError, error_class_for_type
from tokenwire.providers.base import HttpCall, Provider, merge_headers
from tokenwire.types import (
    ChatRequest,
    ChatResponse,
    Citation,
    ContentPart,
    Message,
    ModelInfo,
    ProviderCapabilities,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)

_log = logging.getLogger("tokenwire.providers.anthropic")

__all__ = [
    "ANTHROPIC_DEFAULT_MAX_TOKENS",
    "ANTHROPIC_VERSION",
    "BETA_CONTEXT_1M",
    "BETA_OUTPUT_128K",
    "BETA_PROMPT_CACHING",
    "CLAUDE_MODELS",
    "AnthropicProvider",
    "ClaudeModel",
]

ANTHROPIC_VERSION = "2023-06-01"
#: Roo: packages/types/src/providers/anthropic.ts (ANTHROPIC_DEFAULT_MAX_TOKENS).
ANTHROPIC_DEFAULT_MAX_TOKENS = 8192
#: Roo: src/shared/api.ts (DEFAULT_HYBRID_REASONING_MODEL_MAX_TOKENS / _THINKING_TOKENS).
DEFAULT_THINKING_MAX_TOKENS = 16_384
DEFAULT_THINKING_BUDGET = 8_192
#: Roo: src/api/transform/model-params.ts (minimum budget outside Gemini 2.5 Pro).
MIN_THINKING_BUDGET = 1024

BETA_PROMPT_CACHING = "prompt-caching-2024-07-31"
BETA_CONTEXT_1M = "context-1m-2025-08-07"
BETA_OUTPUT_128K = "output-128k-2025-02-19"

_THINKING_MODEL = "claude-3-7-sonnet-20250219:thinking"
_CONTEXT_1M_MODELS = frozenset({"claude-sonnet-4-20250514", "claude-sonnet-4-5"})
_EPHEMERAL: Mapping[str, str] = {"type": "ephemeral"}
# Fields POST /v1/messages/count_tokens does not accept.
_NOT_COUNTED = ("max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences", "metadata", "service_tier")
_MAX_MODEL_PAGES = 100


@dataclass(frozen=True)
class ClaudeModel:
    """Facts about one Claude model, from Roo-Code's Anthropic model table
    (``packages/types/src/providers/anthropic.ts``). The full catalog lives elsewhere;
    this table holds only what request building needs."""

    max_tokens: int
    context_window: int
    supports_images: bool
    supports_prompt_cache: bool
    supports_reasoning_budget: bool = False
    requires_reasoning_budget: bool = False


#: Roo-Code's Anthropic model table at the reference commit (ids as Roo lists them).
CLAUDE_MODELS: Mapping[str, ClaudeModel] = {
    "claude-sonnet-4-5": ClaudeModel(64_000, 200_000, True, True, True),
    "claude-sonnet-4-20250514": ClaudeModel(64_000, 200_000, True, True, True),
    "claude-opus-4-1-20250805": ClaudeModel(8192, 200_000, True, True, True),
    "claude-opus-4-20250514": ClaudeModel(32_000, 200_000, True, True, True),
    _THINKING_MODEL: ClaudeModel(128_000, 200_000, True, True, True, requires_reasoning_budget=True),
    "claude-3-7-sonnet-20250219": ClaudeModel(8192, 200_000, True, True),
    "claude-3-5-sonnet-20241022": ClaudeModel(8192, 200_000, True, True),
    "claude-3-5-haiku-20241022": ClaudeModel(8192, 200_000, False, True),
    "claude-3-opus-20240229": ClaudeModel(4096, 200_000, True, True),
    "claude-3-haiku-20240307": ClaudeModel(4096, 200_000, True, True),
}

# The model ids (as sent) for which Roo takes its prompt-caching path (anthropic.ts switch).
_PROMPT_CACHE_MODELS = frozenset(
    {
        "claude-sonnet-4-5",
        "claude-sonnet-4-20250514",
        "claude-opus-4-1-20250805",
        "claude-opus-4-20250514",
        "claude-3-7-sonnet-20250219",
        "claude-3-5-sonnet-20241022",
        "claude-3-5-haiku-20241022",
        "claude-3-opus-20240229",
        "claude-3-haiku-20240307",
    }
)


@dataclass(frozen=True)
class _Params:
    """What model-params decides for one request."""

    wire_model: str
    max_tokens: int
    temperature: Optional[float]
    thinking_budget: Optional[int]
    betas: tuple[str, ...]
    prompt_caching: bool


def _default_max_tokens(info: Optional[ClaudeModel]) -> int:
    # getModelMaxOutputTokens for the anthropic format, without a reasoning budget.
    if info is None or info.supports_reasoning_budget or not info.max_tokens:
        return ANTHROPIC_DEFAULT_MAX_TOKENS
    return min(info.max_tokens, math.ceil(info.context_window * 0.2))


def _option_bool(options: Mapping[str, Any], key: str) -> Optional[bool]:
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ConfigurationError(f"anthropic: request option {key!r} must be a bool, got {type(value).__name__}")
    return value


def _option_betas(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(b, str) and b for b in value):
        raise ConfigurationError(f"anthropic: {where} must be a list of non-empty strings")
    return tuple(value)


class AnthropicProvider(Provider):
    """The Anthropic Messages API, as Roo-Code drives it (see the module docstring).

    Args:
        api_key: API key sent as ``x-api-key`` (default: ``ANTHROPIC_API_KEY``).
        auth_token: a bearer token sent as ``authorization: Bearer …`` instead of the key
            (default: ``ANTHROPIC_AUTH_TOKEN`` when no API key is configured).
        base_url: API root without ``/v1`` (default: ``ANTHROPIC_BASE_URL`` or
            ``https://api.anthropic.com``).
        context_1m: send the ``context-1m-2025-08-07`` beta for Claude Sonnet 4 / 4.5
            (Roo's "1M context" setting).
        prompt_caching: ``None`` (default) applies Roo's rule (the cache-capable models);
            ``True``/``False`` forces cache breakpoints on or off for every model.
        betas: extra ``anthropic-beta`` values sent with every message request.
        timeouts, headers, http_client, coalesce: as for :class:`Provider`.
    """

    name: ClassVar[str] = "anthropic"
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        streaming=True,
        tools=True,
        images=True,
        reasoning=True,
        prompt_cache=True,
        legacy_completions=False,
        list_models=True,
        count_tokens_endpoint=True,
    )
    api_key_env: ClassVar[tuple[str, ...]] = ("ANTHROPIC_API_KEY",)
    auth_token_env: ClassVar[tuple[str, ...]] = ("ANTHROPIC_AUTH_TOKEN",)
    base_url_env: ClassVar[tuple[str, ...]] = ("ANTHROPIC_BASE_URL",)
    default_base_url: ClassVar[str] = "https://api.anthropic.com"

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        auth_token: Optional[str] = None,
        base_url: Optional[str] = None,
        context_1m: bool = False,
        prompt_caching: Optional[bool] = None,
        betas: Sequence[str] = (),
        timeouts: Optional[Timeouts] = None,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.AsyncClient] = None,
        coalesce: bool = True,
    ) -> None:
        if api_key and auth_token:
            raise ConfigurationError("anthropic: pass either api_key or auth_token, not both")
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeouts=timeouts,
            headers=headers,
            http_client=http_client,
            coalesce=coalesce,
        )
        self._auth_token_arg = auth_token
        self.context_1m = bool(context_1m)
        self.prompt_caching = prompt_caching
        self.betas: tuple[str, ...] = _option_betas(betas, "betas")

    # -- credentials ------------------------------------------------------------------------
    @property
    def auth_token(self) -> Optional[str]:
        """The bearer token from the argument or ``ANTHROPIC_AUTH_TOKEN`` (``None`` if unset)."""
        if self._auth_token_arg:
            return self._auth_token_arg
        for var in self.auth_token_env:
            value = os.environ.get(var)
            if value:
                return value
        return None

    @property
    def auth_mode(self) -> Optional[str]:
        """``"api-key"``, ``"bearer"``, or ``None`` when no credential is configured."""
        if self._auth_token_arg and not self._api_key_arg:
            return "bearer"
        if self.api_key:
            return "api-key"
        if self.auth_token:
            return "bearer"
        return None

    def _auth_headers(self) -> dict[str, str]:
        mode = self.auth_mode
        if mode == "bearer":
            token = self.auth_token
            assert token is not None
            return {"authorization": f"Bearer {token}"}
        if mode is None:
            vars_ = " / ".join(self.api_key_env + self.auth_token_env)
            raise ConfigurationError(f"anthropic: no API key; pass api_key=... or auth_token=..., or set {vars_}")
        return {"x-api-key": self.require_api_key()}

    def has_credentials(self) -> bool:
        return self.auth_mode is not None

    def _secrets(self) -> tuple[Optional[str], ...]:
        return (self.api_key, self.auth_token)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} base_url={self.base_url!r} auth={self.auth_mode or 'missing'}>"

    def _headers(self, extra: Mapping[str, str], *, betas: Sequence[str] = (), body: bool = True) -> dict[str, str]:
        base = self._auth_headers()
        base["anthropic-version"] = ANTHROPIC_VERSION
        if body:
            base["content-type"] = "application/json"
        if betas:
            base["anthropic-beta"] = ",".join(betas)
        return merge_headers(base, self.extra_headers, extra)

    # -- model parameters -----------------------------------------------------------------
    def _params(self, request: ChatRequest) -> _Params:
        model_id = request.model
        info = CLAUDE_MODELS.get(model_id)
        options = request.options
        wire_model = "claude-3-7-sonnet-20250219" if model_id == _THINKING_MODEL else model_id

        thinking_option = _option_bool(options, "thinking")
        asked = thinking_option if thinking_option is not None else request.thinking_budget is not None
        if info is None:
            use_budget = asked
        else:
            use_budget = info.requires_reasoning_budget or (info.supports_reasoning_budget and asked)

        temperature: Optional[float]
        budget: Optional[int] = None
        if use_budget:
            max_tokens = request.max_tokens if request.max_tokens is not None else DEFAULT_THINKING_MAX_TOKENS
            budget = request.thinking_budget if request.thinking_budget is not None else DEFAULT_THINKING_BUDGET
            budget = min(budget, math.floor(max_tokens * 0.8)) if max_tokens else budget
            budget = max(budget, MIN_THINKING_BUDGET)
            # Anthropic requires temperature 1 with extended thinking.
            temperature = 1.0
        else:
            max_tokens = request.max_tokens if request.max_tokens is not None else _default_max_tokens(info)
            if request.temperature is not None:
                temperature = request.temperature
            else:
                temperature = None if request.top_p is not None else 0.0

        context_1m = _option_bool(options, "context_1m")
        if context_1m is None:
            context_1m = self.context_1m
        caching = _option_bool(options, "prompt_caching")
        if caching is None:
            caching = self.prompt_caching if self.prompt_caching is not None else wire_model in _PROMPT_CACHE_MODELS

        betas: list[str] = []
        if model_id == _THINKING_MODEL:
            betas.append(BETA_OUTPUT_128K)
        if context_1m and wire_model in _CONTEXT_1M_MODELS:
            betas.append(BETA_CONTEXT_1M)
        if caching:
            betas.append(BETA_PROMPT_CACHING)
        for beta in (*self.betas, *_option_betas(options.get("betas"), "request option 'betas'")):
            if beta not in betas:
                betas.append(beta)
        return _Params(wire_model, max_tokens, temperature, budget, tuple(betas), caching)

    # -- request building --------------------------------------------------------------------
    def build_body(self, request: ChatRequest, *, stream: bool) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The JSON body of a Messages request and the betas it needs."""
        if request.response_format is not None:
            raise ConfigurationError("anthropic: response_format is not supported by the Messages API")
        params = self._params(request)
        body: dict[str, Any] = {"model": params.wire_model, "max_tokens": params.max_tokens}
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.thinking_budget is not None:
            body["thinking"] = {"type": "enabled", "budget_tokens": params.thinking_budget}
        system = request.system_prompt()
        if system:
            block: dict[str, Any] = {"type": "text", "text": system}
            if params.prompt_caching:
                block["cache_control"] = dict(_EPHEMERAL)
            body["system"] = [block]
        messages = convert_messages(request.conversation())
        if params.prompt_caching:
            mark_cache_breakpoints(messages)
        body["messages"] = messages
        if request.tools:
            body["tools"] = [convert_tool(t) for t in request.tools]
        tool_choice = convert_tool_choice(request.tool_choice)
        parallel = _option_bool(request.options, "disable_parallel_tool_use")
        if parallel is not None:
            with_parallel: dict[str, Any] = dict(tool_choice) if tool_choice is not None else {"type": "auto"}
            with_parallel["disable_parallel_tool_use"] = parallel
            tool_choice = with_parallel
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if request.top_p is not None:
            body["top_p"] = request.top_p
        top_k = request.options.get("top_k")
        if top_k is not None:
            if isinstance(top_k, bool) or not isinstance(top_k, int):
                raise ConfigurationError("anthropic: request option 'top_k' must be an int")
            body["top_k"] = top_k
        if request.user:
            body["metadata"] = {"user_id": request.user}
        if stream:
            body["stream"] = True
        for key, value in request.extra_body.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        return body, params.betas

    def build_chat_call(self, request: ChatRequest, *, stream: bool) -> HttpCall:
        body, betas = self.build_body(request, stream=stream)
        return HttpCall(
            method="POST",
            url=f"{self.base_url}/v1/messages",
            headers=self._headers(request.extra_headers, betas=betas),
            json=body,
            dialect="anthropic" if stream else None,
            model=request.model,
            timeout=request.timeout,
        )

    def build_count_tokens_call(self, request: ChatRequest) -> HttpCall:
        """``POST /v1/messages/count_tokens`` for ``request`` (its body minus what the endpoint rejects)."""
        body, betas = self.build_body(request, stream=False)
        for key in _NOT_COUNTED:
            body.pop(key, None)
        return HttpCall(
            method="POST",
            url=f"{self.base_url}/v1/messages/count_tokens",
            headers=self._headers(request.extra_headers, betas=betas),
            json=body,
            model=request.model,
            timeout=request.timeout,
        )

    def build_models_call(self, *, after_id: Optional[str] = None) -> HttpCall:
        params = {"limit": "1000"}
        if after_id:
            params["after_id"] = after_id
        return HttpCall(
            method="GET",
            url=f"{self.base_url}/v1/models",
            headers=self._headers({}, body=False),
            params=params,
        )

    # -- responses ----------------------------------------------------------------------------
    def parse_chat_response(self, data: Any, *, model: str, request_id: Optional[str]) -> ChatResponse:
        if not isinstance(data, Mapping):
            raise ProviderError(
                f"anthropic: unexpected response body {type(data).__name__}",
                provider=self.name,
                model=model,
                request_id=request_id,
            )
        _raise_error_body(data, provider=self.name, model=model, request_id=request_id)
        text: list[str] = []
        reasoning: list[str] = []
        calls: list[ToolCall] = []
        citations: list[Citation] = []
        content = data.get("content")
        blocks: list[Any] = content if isinstance(content, list) else []
        for index, block in enumerate(blocks):
            if not isinstance(block, Mapping):
                continue
            kind = block.get("type")
            if kind == "text":
                value = block.get("text")
                # Same rule as the stream (Roo): a line break before every block after the first.
                if index > 0:
                    text.append("\n")
                if isinstance(value, str):
                    text.append(value)
                citations.extend(_citations(block.get("citations")))
            elif kind == "thinking":
                value = block.get("thinking")
                if index > 0:
                    reasoning.append("\n")
                if isinstance(value, str):
                    reasoning.append(value)
            elif kind == "tool_use":
                arguments = json.dumps(block.get("input", {}), ensure_ascii=False, separators=(",", ":"))
                calls.append(
                    ToolCall(id=str(block.get("id", "")), name=str(block.get("name", "")), arguments=arguments)
                )
        stop = data.get("stop_reason")
        return ChatResponse(
            text="".join(text),
            model=model,
            provider=self.name,
            reasoning="".join(reasoning),
            tool_calls=tuple(calls),
            usage=_usage(data.get("usage")),
            finish_reason=stop if isinstance(stop, str) and stop else None,
            citations=tuple(citations),
            request_id=request_id,
        )

    def parse_models(self, data: Any) -> list[ModelInfo]:
        items = data.get("data") if isinstance(data, Mapping) else None
        out: list[ModelInfo] = []
        for item in items if isinstance(items, list) else ():
            if isinstance(item, Mapping) and isinstance(item.get("id"), str):
                out.append(_model_info(item))
        return out

    # -- public calls with Anthropic specifics ---------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        """Every model of ``GET /v1/models``, following ``has_more``/``last_id`` pages."""
        models: list[ModelInfo] = []
        after: Optional[str] = None
        seen: set[str] = set()
        for _ in range(_MAX_MODEL_PAGES):
            data = await self.send_json(self.build_models_call(after_id=after))
            models.extend(self.parse_models(data))
            last = data.get("last_id") if isinstance(data, Mapping) else None
            if not (isinstance(data, Mapping) and data.get("has_more") is True):
                break
            # A cursor that does not advance would loop forever.
            if not isinstance(last, str) or not last or last in seen:
                break
            seen.add(last)
            after = last
        return models

    async def count_tokens(self, request: ChatRequest, *, local_fallback: bool = True) -> int:
        """Input tokens of ``request`` from ``POST /v1/messages/count_tokens``.

        As Roo-Code does, a failed endpoint call falls back to the local estimate
        (``local_fallback=False`` raises the error instead). A missing key is always an
        error: there is nothing to fall back from.
        """
        call = self.build_count_tokens_call(request)
        try:
            data = await self.send_json(call)
            value = data.get("input_tokens") if isinstance(data, Mapping) else None
            if isinstance(value, bool) or not isinstance(value, int):
                raise ProviderError(
                    "anthropic: count_tokens response has no integer input_tokens",
                    provider=self.name,
                    model=request.model,
                )
        except (ProviderError, APIConnectionError) as exc:
            if not local_fallback:
                raise
            _log.debug("anthropic count_tokens endpoint failed (%s); using the local estimate", type(exc).__name__)
            return await super().count_tokens(request)
        return value


# -- conversion helpers (pure functions, unit-tested directly) --------------------------------
def convert_part(part: ContentPart) -> dict[str, Any]:
    """A text or image part as an Anthropic content block."""
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if part.url is not None:
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    return {"type": "image", "source": {"type": "base64", "media_type": part.media_type, "data": part.data}}


def _blocks(content: Union[str, Sequence[ContentPart]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [convert_part(p) for p in content]


def _message_content(message: Message) -> Union[str, list[dict[str, Any]]]:
    if message.role == "tool":
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
        if isinstance(message.content, str):
            if message.content:
                block["content"] = message.content
        elif message.content:
            block["content"] = [convert_part(p) for p in message.content]
        if message.is_error:
            block["is_error"] = True
        return [block]
    if message.role == "assistant" and message.tool_calls:
        blocks = _blocks(message.content)
        for call in message.tool_calls:
            try:
                arguments = call.parsed_arguments()
            except ValueError as exc:
                raise ValueError(
                    f"tool call {call.id!r} ({call.name}) has arguments that are not JSON: {exc}"
                ) from None
            blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
        return blocks
    if isinstance(message.content, str):
        return message.content
    return [convert_part(p) for p in message.content]


def convert_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Messages (without system messages) in Anthropic form.

    ``tool`` messages become ``tool_result`` blocks of a user message; consecutive
    messages with the same resulting role are merged, content blocks concatenated.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        content = _message_content(message)
        if out and out[-1]["role"] == role:
            previous = out[-1]["content"]
            out[-1]["content"] = (_blocks(previous) if isinstance(previous, str) else previous) + (
                _blocks(content) if isinstance(content, str) else content
            )
        else:
            out.append({"role": role, "content": content})
    return out


def mark_cache_breakpoints(messages: list[dict[str, Any]]) -> None:
    """Roo's breakpoints: ``cache_control`` on the last block of the last and
    second-to-last user messages (a string content becomes one text block). In place."""
    user_indices = [i for i, m in enumerate(messages) if m["role"] == "user"]
    for index in user_indices[-2:]:
        message = messages[index]
        content = message["content"]
        if isinstance(content, str):
            message["content"] = [{"type": "text", "text": content, "cache_control": dict(_EPHEMERAL)}]
        elif content:
            message["content"] = [*content[:-1], {**content[-1], "cache_control": dict(_EPHEMERAL)}]


def convert_tool(tool: Tool) -> dict[str, Any]:
    """A tool as ``{name, description, input_schema}`` (no description when empty)."""
    out: dict[str, Any] = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    out["input_schema"] = dict(tool.parameters)
    return out


def convert_tool_choice(choice: Union[str, Mapping[str, Any], None]) -> Optional[dict[str, Any]]:
    """``tool_choice`` in Anthropic form (see the module docstring)."""
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice == "auto":
            return {"type": "auto"}
        if choice in {"required", "any"}:
            return {"type": "any"}
        if choice == "none":
            return {"type": "none"}
        if not choice:
            raise ConfigurationError("anthropic: tool_choice must not be empty")
        return {"type": "tool", "name": choice}
    kind = choice.get("type")
    if kind == "function":
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ConfigurationError("anthropic: tool_choice {'type': 'function'} needs function.name")
        return {"type": "tool", "name": name}
    if kind in {"auto", "any", "none", "tool"}:
        return dict(choice)
    raise ConfigurationError(f"anthropic: unsupported tool_choice {choice!r}")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _usage(raw: Any) -> Optional[Usage]:
    if not isinstance(raw, Mapping):
        return None
    return Usage(
        input_tokens=_int(raw.get("input_tokens")),
        output_tokens=_int(raw.get("output_tokens")),
        cache_read_tokens=_int(raw.get("cache_read_input_tokens")),
        cache_write_tokens=_int(raw.get("cache_creation_input_tokens")),
    )


def _citations(raw: Any) -> list[Citation]:
    out: list[Citation] = []
    for item in raw if isinstance(raw, list) else ():
        url = item.get("url") if isinstance(item, Mapping) else None
        if isinstance(url, str) and url:
            title = item.get("title")
            out.append(Citation(url, title if isinstance(title, str) and title else None))
    return out


def _raise_error_body(data: Mapping[str, Any], *, provider: str, model: str, request_id: Optional[str]) -> None:
    # A 200 whose body is an error object (proxies do this): raise it like an HTTP error.
    if data.get("type") != "error":
        return
    err = data.get("error")
    err = err if isinstance(err, Mapping) else {}
    message = err.get("message")
    error_type = err.get("type") if isinstance(err.get("type"), str) else None
    cls = error_class_for_type(error_type) or ProviderError
    raise cls(
        message if isinstance(message, str) else "unknown error",
        provider=provider,
        model=model,
        request_id=request_id,
        error_type=error_type,
        body=dict(data),
    )


def _supported(capabilities: Any, name: str) -> Optional[bool]:
    entry = capabilities.get(name) if isinstance(capabilities, Mapping) else None
    value = entry.get("supported") if isinstance(entry, Mapping) else None
    return value if isinstance(value, bool) else None


def _model_info(item: Mapping[str, Any]) -> ModelInfo:
    model_id: str = item["id"]
    known = CLAUDE_MODELS.get(model_id)
    capabilities = item.get("capabilities")
    display = item.get("display_name")
    context = item.get("max_input_tokens")
    max_out = item.get("max_tokens")
    images = _supported(capabilities, "image_input")
    thinking = _supported(capabilities, "thinking")
    return ModelInfo(
        id=model_id,
        provider=AnthropicProvider.name,
        display_name=display if isinstance(display, str) else None,
        context_window=_int(context) or (known.context_window if known else None),
        max_output_tokens=_int(max_out) or (known.max_tokens if known else None),
        supports_images=images if images is not None else bool(known and known.supports_images),
        supports_prompt_cache=bool(known and known.supports_prompt_cache),
        supports_reasoning=thinking if thinking is not None else bool(known and known.supports_reasoning_budget),
    )

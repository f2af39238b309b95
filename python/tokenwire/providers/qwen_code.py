"""Qwen Code adapter (``"qwen-code"``): Qwen's coder models with the Qwen Code CLI's OAuth login.

The wire behaviour reproduces Roo-Code's Qwen Code handler (RooCodeInc/Roo-Code at
``9bcd9918``: ``src/api/providers/qwen-code.ts``, ``packages/types/src/providers/qwen-code.ts``),
in our own code, on the Chat Completions machinery of :mod:`tokenwire.providers.openai`.

Credentials (see :mod:`tokenwire.providers.oauth_cli`)
    The file the ``qwen`` CLI writes after "Qwen OAuth" sign-in: ``oauth_path=``, else
    ``QWEN_CODE_OAUTH_PATH``, else ``~/.qwen/oauth_creds.json``. Tokens are refreshed 30 s
    before ``expiry_date`` with ``POST https://chat.qwen.ai/api/v1/oauth2/token``
    (``token_url=`` overrides it), form ``grant_type=refresh_token&refresh_token=…&client_id=
    f0304373b74a44d2b584a3fb70ca9e56``; a 401 from the API refreshes once and retries.
    ``api_key=`` takes a ready access token instead.

Endpoint
    ``base_url=`` if given; else the credentials' ``resource_url`` (``https://`` is added
    when it has no scheme, ``/v1`` when it does not end with it — Roo's ``getBaseUrl``);
    else ``https://dashscope.aliyuncs.com/compatible-mode/v1``. Calls go to
    ``{base}/chat/completions`` with ``Authorization: Bearer <access token>`` and the
    headers of :class:`~tokenwire.providers.openai.OpenAIProvider` (``User-Agent``,
    ``Accept``, ``Content-Type``); no ``OpenAI-Organization``/``OpenAI-Project`` and no
    ``OPENAI_*`` variables are read.

Body (Roo's ``createMessage``)
    ``model``, ``temperature`` (the request's, else 0), ``messages`` (the system prompt
    as a ``system`` message, then Roo's ``convertToOpenAiMessages``), ``stream`` and
    ``stream_options: {"include_usage": true}`` when streaming, and
    ``max_completion_tokens`` = the request's ``max_tokens``, else 65536 (the max output
    of both models in Roo's table; Roo uses the default model's entry for unknown ids).
    Tools, ``tool_choice``, ``stop``, ``top_p``, ``response_format`` and ``user`` are sent
    when set, as for OpenAI. Completions (Roo's ``completePrompt``): ``{model, messages:
    [user prompt], max_completion_tokens}`` without a default temperature.

Streams
    The ``openai-chat`` dialect: ``content`` → text, ``reasoning_content`` → reasoning,
    the final ``usage`` → one ``Usage``. ``<think>…</think>`` in the content becomes
    reasoning through the dialect's ``think_tags`` option when the active backend has it
    (``think_tags=False`` turns it off). Unlike Roo, whose per-chunk split treats text
    after a ``<think>`` chunk boundary as answer text, the dialect keeps its state across
    chunks. Roo's other heuristic — dropping a chunk's prefix when it repeats the whole
    previous chunk, for servers that resend cumulative content — is not reproduced: the
    endpoint streams deltas, and the heuristic corrupts a legitimate delta that happens to
    start with the previous one. ``chat()`` splits the answer's ``<think>`` blocks with
    the same splitter, so it reports what the stream would.

Models
    :meth:`QwenCodeProvider.list_models` returns Roo's table (``qwen3-coder-plus``,
    ``qwen3-coder-flash``: 1M context, 65536 output, free) without network;
    :meth:`~QwenCodeProvider.count_tokens` is the local estimate.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, ClassVar, Optional, Union

import httpx

from tokenwire._http import Timeouts
from tokenwire.google import Clock
from tokenwire.providers.base import HttpCall
from tokenwire.providers.compat import split_think
from tokenwire.providers.oauth_cli import CLIOAuth, OAuthCLIProvider
from tokenwire.providers.openai import OpenAIProvider
from tokenwire.types import (
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    ModelInfo,
    ProviderCapabilities,
)

__all__ = ["DEFAULT_BASE_URL", "QWEN_CODE_MODELS", "QWEN_OAUTH", "QwenCodeProvider", "qwen_base_url"]

DEFAULT_BASE_URL = "https://dashscope.aliyuncs.com/compatible-mode/v1"

QWEN_OAUTH = CLIOAuth(
    cli="Qwen Code",
    default_path="~/.qwen/oauth_creds.json",
    path_env="QWEN_CODE_OAUTH_PATH",
    token_url="https://chat.qwen.ai/api/v1/oauth2/token",
    client_id="f0304373b74a44d2b584a3fb70ca9e56",
    client_secret=None,
    refresh_margin=30.0,
    login_hint="run `qwen` and sign in with Qwen OAuth (`/auth`)",
)

#: Roo-Code's Qwen Code table: id → (max output tokens, context window); all free.
QWEN_CODE_MODELS: Mapping[str, tuple[int, int]] = {
    "qwen3-coder-plus": (65_536, 1_000_000),
    "qwen3-coder-flash": (65_536, 1_000_000),
}
_DEFAULT_MODEL = "qwen3-coder-plus"


def qwen_base_url(resource_url: Optional[str]) -> str:
    """Roo's ``getBaseUrl``: the API base for a credentials ``resource_url``."""
    base = resource_url or DEFAULT_BASE_URL
    if not base.startswith(("http://", "https://")):
        base = f"https://{base}"
    base = base.rstrip("/")
    return base if base.endswith("/v1") else f"{base}/v1"


class QwenCodeProvider(OAuthCLIProvider, OpenAIProvider):
    """Qwen Code's OAuth login on the OpenAI-compatible DashScope API (see the module docs).

    Args:
        oauth_path: the credentials file (default: ``QWEN_CODE_OAUTH_PATH`` or
            ``~/.qwen/oauth_creds.json``).
        api_key: a ready access token (skips the credentials file; never refreshed).
        base_url: API root including ``/v1`` (default: from the credentials).
        token_url: the OAuth token endpoint (default: Qwen's).
        think_tags: split ``<think>`` blocks of the content into reasoning.
        default_temperature: the temperature when the request sets none (Roo: 0).
        clock: the time function for token expiry (tests inject a fake).
        timeouts, headers, http_client, coalesce: as for :class:`~tokenwire.providers.base.Provider`.
    """

    name: ClassVar[str] = "qwen-code"
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        streaming=True,
        tools=True,
        images=False,
        reasoning=True,
        prompt_cache=False,
        legacy_completions=False,
        list_models=True,
        count_tokens_endpoint=False,
    )
    oauth: ClassVar[CLIOAuth] = QWEN_OAUTH
    stream_dialect: ClassVar[str] = "openai-chat"
    api_key_env: ClassVar[tuple[str, ...]] = ()
    # None of OpenAI's variables apply to this endpoint.
    base_url_env: ClassVar[tuple[str, ...]] = ()
    organization_env: ClassVar[tuple[str, ...]] = ()
    project_env: ClassVar[tuple[str, ...]] = ()
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL

    def __init__(
        self,
        *,
        oauth_path: Optional[Union[str, os.PathLike[str]]] = None,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        token_url: Optional[str] = None,
        think_tags: bool = True,
        default_temperature: Optional[float] = 0.0,
        clock: Optional[Clock] = None,
        timeouts: Optional[Timeouts] = None,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.AsyncClient] = None,
        coalesce: bool = True,
    ) -> None:
        OpenAIProvider.__init__(
            self,
            api_key=api_key,
            base_url=base_url,
            api="chat",
            default_temperature=default_temperature,
            timeouts=timeouts,
            headers=headers,
            http_client=http_client,
            coalesce=coalesce,
        )
        self._init_oauth(oauth_path=oauth_path, token_url=token_url, clock=clock)
        self.think_tags = bool(think_tags)

    @property
    def base_url(self) -> str:
        """``base_url=``, else the credentials' ``resource_url`` (once loaded), else DashScope's."""
        if self._base_url_arg:
            return self._base_url_arg.rstrip("/")
        credentials = self.credentials
        resource = credentials.get("resource_url") if credentials is not None else None
        return qwen_base_url(resource if isinstance(resource, str) else None)

    # -- bodies -----------------------------------------------------------------------------------
    @staticmethod
    def max_output_tokens(model: str) -> int:
        """Roo's ``maxTokens`` for ``model`` (its default model's for unknown ids)."""
        return QWEN_CODE_MODELS.get(model, QWEN_CODE_MODELS[_DEFAULT_MODEL])[0]

    def build_chat_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        if request.max_tokens is None:
            request = dataclasses.replace(request, max_tokens=self.max_output_tokens(request.model))
        return super().build_chat_body(request, stream=stream)

    def build_completion_body(self, request: CompletionRequest, *, stream: bool) -> dict[str, Any]:
        if request.max_tokens is None:
            request = dataclasses.replace(request, max_tokens=self.max_output_tokens(request.model))
        return super().build_completion_body(request, stream=stream)

    def _chat_call(
        self, body: dict[str, Any], request: Union[ChatRequest, CompletionRequest], *, stream: bool
    ) -> HttpCall:
        call = super()._chat_call(body, request, stream=stream)
        if stream and self.think_tags:
            call = dataclasses.replace(call, stream_options={"think_tags": True})
        return call

    def parse_chat_response(self, data: Any, *, model: str, request_id: Optional[str]) -> ChatResponse:
        answer = super().parse_chat_response(data, model=model, request_id=request_id)
        if self.think_tags and "<think>" in answer.text:
            reasoning, text = split_think(answer.text)
            if reasoning:
                joined = f"{answer.reasoning}{reasoning}" if answer.reasoning else reasoning
                answer = dataclasses.replace(answer, text=text, reasoning=joined)
        return answer

    # -- models -------------------------------------------------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        """Roo's Qwen Code table (no network)."""
        return [
            ModelInfo(
                id=model_id,
                provider=self.name,
                context_window=context,
                max_output_tokens=max_output,
                supports_images=False,
                supports_prompt_cache=False,
                supports_reasoning=False,
                input_price=0.0,
                output_price=0.0,
                cache_write_price=0.0,
                cache_read_price=0.0,
            )
            for model_id, (max_output, context) in QWEN_CODE_MODELS.items()
        ]

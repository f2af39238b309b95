"""Gemini CLI adapter (``"gemini-cli"``): Gemini through Google's Code Assist API with the
Gemini CLI's "Login with Google" credentials.

The wire behaviour reproduces Roo-Code's Gemini CLI handler, which Roo removed in commit
``d64e677f88`` (RooCodeInc/Roo-Code at its parent: ``src/api/providers/gemini-cli.ts``,
``packages/types/src/providers/gemini-cli.ts``, ``src/api/transform/model-params.ts``,
``src/api/transform/reasoning.ts``), in our own code; the Code Assist wire shapes match
the Gemini CLI's own client (``packages/core/src/code_assist/``). Request bodies and
response parsing are those of :mod:`tokenwire.providers.gemini`.

Credentials (see :mod:`tokenwire.providers.oauth_cli`)
    The file the ``gemini`` CLI writes after "Login with Google": ``oauth_path=``, else
    ``GEMINI_CLI_OAUTH_PATH``, else ``~/.gemini/oauth_creds.json``. Tokens are refreshed 300 s
    before ``expiry_date`` with ``POST https://oauth2.googleapis.com/token`` (``token_url=``
    overrides it), form ``refresh_token=…&client_id=…&client_secret=…&grant_type=refresh_token``
    with the Gemini CLI's public installed-app client. A 401 refreshes once and retries.
    ``api_key=`` takes a ready access token instead.

Endpoint
    ``base_url=``, else ``CODE_ASSIST_ENDPOINT`` (the variable the Gemini CLI reads), else
    ``https://cloudcode-pa.googleapis.com``; methods are ``POST {base}/v1internal:{method}``
    with ``Authorization: Bearer <token>`` and ``Content-Type: application/json``.

Project
    ``project_id=`` (or ``GEMINI_CLI_PROJECT_ID``) is used as is. Otherwise the first
    request discovers it as Roo does: ``loadCodeAssist`` with
    ``{"cloudaicompanionProject": "default", "metadata": {"ideType": "IDE_UNSPECIFIED",
    "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI", "duetProject": "default"}}``;
    its ``cloudaicompanionProject`` when it names one, else ``onboardUser`` with
    ``{"tierId": <the default allowed tier, else "free-tier">, "cloudaicompanionProject":
    "default", "metadata": …}``, polled every ``onboard_poll_interval`` seconds (2) up to
    ``onboard_max_polls`` times (30) until the operation is ``done``; the project is then
    ``response.cloudaicompanionProject.id`` (``"default"`` if absent). Onboarding that
    never finishes is an :class:`~tokenwire.errors.APITimeoutError`; HTTP errors keep
    their classes.

Requests
    ``:streamGenerateContent?alt=sse`` / ``:generateContent`` with the Code Assist
    wrapper ``{"model": <id>, "project": <project>, "request": <Gemini body>}``. The Gemini
    body is :func:`~tokenwire.providers.gemini.build_generate_content_body`'s, except that
    the system prompt goes first in ``contents`` as a ``user`` turn (Roo's — and Cline's —
    shape for this endpoint) instead of ``systemInstruction``. Parameters follow Roo's
    ``getModelParams`` of that time for the ``gemini`` format over Roo's Gemini CLI model
    table (:data:`GEMINI_CLI_MODELS`):

    - ``temperature``: the request's, else 0.7 (``default_temperature=``);
    - thinking for models that require it (``gemini-2.5-pro``) and, when the request asks
      (``thinking_budget`` or ``options["thinking"]``), for models with a budget
      (``gemini-2.5-flash``); ids not in the table are trusted to support one. Budget:
      the request's, else 8192, capped at ``floor(0.8 * maxOutputTokens)``, at least 1024
      (an explicit budget ≤ 0 is sent as given); ``thinkingConfig: {thinkingBudget,
      includeThoughts: true}``;
    - ``maxOutputTokens``: the request's ``max_tokens``; else 16384 when thinking; else
      the model's max output; else 8192;
    - a ``:thinking`` suffix is removed from the id. Unlike Roo, an id that is not in the
      table is sent as given rather than replaced by ``gemini-2.0-flash-001``.

    Completions follow Roo's ``completePrompt``: ``{"contents": [{"role": "user",
    "parts": [{"text": prompt}]}], "generationConfig": {"temperature": …}}`` plus
    ``maxOutputTokens``/``topP``/``stopSequences`` when the request sets them.
    ``request.options`` are those of :mod:`tokenwire.providers.gemini`.

Responses
    Code Assist wraps every Gemini payload: ``{"response": {candidates, usageMetadata,
    …}, "traceId": …}``. Non-streaming answers are unwrapped and parsed by
    :func:`~tokenwire.providers.gemini.parse_generate_content` (the ``traceId`` becomes
    the ``request_id``). Streams use the ``gemini`` dialect with ``envelope="response"``,
    which reads each event's ``response`` object in the event's place (an event without
    one, such as an error object, is read as it is); framing error offsets count the
    stream's bytes as received. Blocked prompts and answers raise
    :class:`~tokenwire.providers.gemini.SafetyBlockedError` as for Gemini (``raise_on_block=``).

Models and tokens
    :meth:`GeminiCLIProvider.list_models` returns Roo's table without network;
    :meth:`~GeminiCLIProvider.count_tokens` is the local estimate, as in Roo (the free
    tier has no counting endpoint for it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any, Callable, ClassVar, Optional, Union

import anyio
import httpx

from tokenwire._http import Timeouts, request_id_from
from tokenwire.errors import APITimeoutError, ConfigurationError, ProviderError
from tokenwire.google import Clock
from tokenwire.providers.base import ChatStream, HttpCall, _json_or_error, merge_headers
from tokenwire.providers.gemini import (
    DEFAULT_THINKING_BUDGET,
    DEFAULT_THINKING_MAX_TOKENS,
    MIN_THINKING_BUDGET,
    GeminiChatStream,
    GeminiModel,
    GeminiParams,
    _option_bool,
    build_generate_content_body,
    parse_generate_content,
)
from tokenwire.providers.oauth_cli import CLIOAuth, DeferredChatStream, OAuthCLIProvider
from tokenwire.types import (
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    CompletionResponse,
    ModelInfo,
    ProviderCapabilities,
)

__all__ = [
    "CLIENT_METADATA",
    "CODE_ASSIST_API_VERSION",
    "DEFAULT_PROJECT",
    "GEMINI_CLI_MODELS",
    "GEMINI_CLI_OAUTH",
    "CodeAssistStream",
    "GeminiCLIProvider",
    "code_assist_params",
    "unwrap_response",
]

GEMINI_CLI_OAUTH = CLIOAuth(
    cli="Gemini CLI",
    default_path="~/.gemini/oauth_creds.json",
    path_env="GEMINI_CLI_OAUTH_PATH",
    token_url="https://oauth2.googleapis.com/token",
    # The Gemini CLI's installed-application client; Google documents that such a
    # client's secret is not a secret.
    client_id="681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
    client_secret="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",
    refresh_margin=300.0,
    login_hint='run `gemini` and choose "Login with Google"',
)

CODE_ASSIST_API_VERSION = "v1internal"
#: The project Roo starts discovery from (and falls back to).
DEFAULT_PROJECT = "default"
CLIENT_METADATA: Mapping[str, str] = {
    "ideType": "IDE_UNSPECIFIED",
    "platform": "PLATFORM_UNSPECIFIED",
    "pluginType": "GEMINI",
    "duetProject": DEFAULT_PROJECT,
}
_PROJECT_ENV = "GEMINI_CLI_PROJECT_ID"
_DEFAULT_TIER = "free-tier"
_DEFAULT_MAX_OUTPUT = 8192
_THINKING_SUFFIX = ":thinking"

_M = GeminiModel
#: Roo-Code's Gemini CLI model table (all free), as it was when Roo removed the provider.
GEMINI_CLI_MODELS: Mapping[str, GeminiModel] = {
    "gemini-2.0-flash-001": _M(8192, 1_048_576),
    "gemini-2.0-flash-thinking-exp-01-21": _M(65_536, 1_048_576),
    "gemini-2.0-flash-thinking-exp-1219": _M(8192, 32_767),
    "gemini-2.0-flash-exp": _M(8192, 1_048_576),
    "gemini-1.5-flash-002": _M(8192, 1_048_576),
    "gemini-1.5-flash-exp-0827": _M(8192, 1_048_576),
    "gemini-1.5-flash-8b-exp-0827": _M(8192, 1_048_576),
    "gemini-1.5-pro-002": _M(8192, 2_097_152),
    "gemini-1.5-pro-exp-0827": _M(8192, 2_097_152),
    "gemini-exp-1206": _M(8192, 2_097_152),
    "gemini-2.5-flash": _M(64_000, 1_048_576, True, False, True, False, 24_576),
    "gemini-2.5-pro": _M(64_000, 1_048_576, True, False, True, True, 32_768),
}


def code_assist_params(
    request: ChatRequest,
    models: Mapping[str, GeminiModel] = GEMINI_CLI_MODELS,
    *,
    default_temperature: Optional[float] = 0.7,
    who: str = "gemini-cli",
) -> GeminiParams:
    """Roo's Gemini CLI parameters for ``request`` (see the module docs)."""
    model_id = request.model
    wire_model = model_id[: -len(_THINKING_SUFFIX)] if model_id.endswith(_THINKING_SUFFIX) else model_id
    info = models.get(wire_model)
    thinking = _option_bool(request.options, "thinking", who)
    asked = thinking if thinking is not None else request.thinking_budget is not None
    use_budget = asked if info is None else info.requires_reasoning_budget or (info.supports_reasoning_budget and asked)
    budget: Optional[int] = None
    if use_budget:
        max_output = request.max_tokens if request.max_tokens is not None else DEFAULT_THINKING_MAX_TOKENS
        explicit = request.thinking_budget
        if explicit is not None and explicit <= 0:
            budget = explicit  # 0: off, -1: dynamic (beyond Roo, as for "gemini")
        else:
            budget = explicit if explicit is not None else DEFAULT_THINKING_BUDGET
            budget = max(min(budget, math.floor(max_output * 0.8)), MIN_THINKING_BUDGET)
    elif request.max_tokens is not None:
        max_output = request.max_tokens
    else:
        max_output = info.max_tokens if info is not None else _DEFAULT_MAX_OUTPUT
    temperature = request.temperature if request.temperature is not None else default_temperature
    include = _option_bool(request.options, "include_thoughts", who)
    include_thoughts = include if include is not None else budget != 0
    return GeminiParams(wire_model, max_output, temperature, budget, include_thoughts)


def unwrap_response(data: Any) -> Any:
    """The Gemini payload of a Code Assist answer (``data["response"]``), or ``data`` itself
    when it carries no such object (an error body, or an unwrapped payload)."""
    if isinstance(data, Mapping):
        inner = data.get("response")
        if isinstance(inner, Mapping):
            return inner
    return data


class CodeAssistStream(DeferredChatStream, GeminiChatStream):
    """A Code Assist stream: built after authentication and project discovery, with
    Gemini's safety-block handling (the dialect's ``envelope="response"`` unwraps it)."""


class GeminiCLIProvider(OAuthCLIProvider):
    """Gemini via Code Assist with the Gemini CLI's login (see the module docs).

    Args:
        oauth_path: the credentials file (default: ``GEMINI_CLI_OAUTH_PATH`` or
            ``~/.gemini/oauth_creds.json``).
        project_id: the Code Assist project (default: ``GEMINI_CLI_PROJECT_ID``, else discovered).
        api_key: a ready OAuth access token (skips the credentials file; never refreshed).
        base_url: the Code Assist endpoint (default: ``CODE_ASSIST_ENDPOINT`` or
            ``https://cloudcode-pa.googleapis.com``).
        token_url: the OAuth token endpoint (default: Google's).
        default_temperature: the temperature when the request sets none (Roo: 0.7).
        raise_on_block: raise :class:`~tokenwire.providers.gemini.SafetyBlockedError` for blocks.
        onboard_poll_interval / onboard_max_polls: how ``onboardUser`` is polled.
        clock: the time function for token expiry (tests inject a fake).
        timeouts, headers, http_client, coalesce: as for :class:`~tokenwire.providers.base.Provider`.
    """

    name: ClassVar[str] = "gemini-cli"
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        streaming=True,
        tools=True,
        images=True,
        reasoning=True,
        prompt_cache=False,
        legacy_completions=False,
        list_models=True,
        count_tokens_endpoint=False,
    )
    oauth: ClassVar[CLIOAuth] = GEMINI_CLI_OAUTH
    stream_dialect: ClassVar[str] = "gemini"
    base_url_env: ClassVar[tuple[str, ...]] = ("CODE_ASSIST_ENDPOINT",)
    default_base_url: ClassVar[str] = "https://cloudcode-pa.googleapis.com"

    def __init__(
        self,
        *,
        oauth_path: Optional[Union[str, os.PathLike[str]]] = None,
        project_id: Optional[str] = None,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        token_url: Optional[str] = None,
        default_temperature: Optional[float] = 0.7,
        raise_on_block: bool = True,
        onboard_poll_interval: float = 2.0,
        onboard_max_polls: int = 30,
        clock: Optional[Clock] = None,
        timeouts: Optional[Timeouts] = None,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.AsyncClient] = None,
        coalesce: bool = True,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeouts=timeouts,
            headers=headers,
            http_client=http_client,
            coalesce=coalesce,
        )
        self._init_oauth(oauth_path=oauth_path, token_url=token_url, clock=clock)
        if onboard_poll_interval < 0 or onboard_max_polls < 0:
            raise ConfigurationError("gemini-cli: onboard_poll_interval and onboard_max_polls must be >= 0")
        self._project_arg = project_id
        self._discovered: Optional[str] = None
        self._project_lock: Optional[anyio.Lock] = None
        self.default_temperature = default_temperature
        self.raise_on_block = bool(raise_on_block)
        self.onboard_poll_interval = float(onboard_poll_interval)
        self.onboard_max_polls = int(onboard_max_polls)

    # -- configuration ----------------------------------------------------------------------------
    @property
    def project_id(self) -> Optional[str]:
        """``project_id=``, else ``GEMINI_CLI_PROJECT_ID``, else the discovered project (once known)."""
        return self._project_arg or os.environ.get(_PROJECT_ENV) or self._discovered

    def require_project(self) -> str:
        project = self.project_id
        if not project:
            raise ConfigurationError(
                f"{self.name}: the Code Assist project is not known yet (it is discovered on the first request); "
                f"pass project_id=... or set {_PROJECT_ENV}"
            )
        return project

    def refresh_form(self, refresh_token: str) -> dict[str, str]:
        # Google's client library sends the fields in this order.
        assert self.oauth.client_secret is not None
        return {
            "refresh_token": refresh_token,
            "client_id": self.oauth.client_id,
            "client_secret": self.oauth.client_secret,
            "grant_type": "refresh_token",
        }

    def _url(self, method: str) -> str:
        return f"{self.base_url}/{CODE_ASSIST_API_VERSION}:{method}"

    def _headers(self, extra: Mapping[str, str]) -> dict[str, str]:
        base = {"Authorization": f"Bearer {self.require_api_key()}", "Content-Type": "application/json"}
        return merge_headers(base, self.extra_headers, extra)

    def _method_call(self, method: str, body: Mapping[str, Any]) -> HttpCall:
        return HttpCall(method="POST", url=self._url(method), headers=self._headers({}), json=dict(body))

    # -- project discovery --------------------------------------------------------------------------
    async def _after_authentication(self) -> None:
        if self.project_id:
            return
        if self._project_lock is None:
            self._project_lock = anyio.Lock()
        async with self._project_lock:
            if not self.project_id:
                self._discovered = await self.discover_project()

    async def discover_project(self) -> str:
        """Find (or create, by onboarding) the user's Code Assist project (see the module docs)."""
        metadata = dict(CLIENT_METADATA)
        load = await self.send_json(
            self._method_call("loadCodeAssist", {"cloudaicompanionProject": DEFAULT_PROJECT, "metadata": metadata})
        )
        known = load.get("cloudaicompanionProject") if isinstance(load, Mapping) else None
        if isinstance(known, str) and known:
            return known
        tiers = load.get("allowedTiers") if isinstance(load, Mapping) else None
        tier = next(
            (
                t["id"]
                for t in (tiers if isinstance(tiers, list) else ())
                if isinstance(t, Mapping) and t.get("isDefault") is True and isinstance(t.get("id"), str) and t["id"]
            ),
            _DEFAULT_TIER,
        )
        onboard = self._method_call(
            "onboardUser", {"tierId": tier, "cloudaicompanionProject": DEFAULT_PROJECT, "metadata": metadata}
        )
        operation = await self.send_json(onboard)
        polls = 0
        while not _done(operation) and polls < self.onboard_max_polls:
            await anyio.sleep(self.onboard_poll_interval)
            operation = await self.send_json(onboard)
            polls += 1
        if not _done(operation):
            raise APITimeoutError(
                f"{self.name}: Code Assist onboarding did not finish after {polls} polls "
                f"({polls * self.onboard_poll_interval:g} s); try again later"
            )
        response = operation.get("response")
        project = response.get("cloudaicompanionProject") if isinstance(response, Mapping) else None
        project_id = project.get("id") if isinstance(project, Mapping) else None
        return project_id if isinstance(project_id, str) and project_id else DEFAULT_PROJECT

    # -- requests -----------------------------------------------------------------------------------
    def params(self, request: ChatRequest) -> GeminiParams:
        """Roo's parameters for ``request``."""
        return code_assist_params(request, default_temperature=self.default_temperature, who=self.name)

    def build_request_body(self, request: ChatRequest) -> tuple[str, dict[str, Any]]:
        """The model id sent and the inner Gemini body (system prompt as the first user turn)."""
        params = self.params(request)
        body = build_generate_content_body(request, params, who=self.name)
        system = body.pop("systemInstruction", None)
        if isinstance(system, Mapping):
            contents = [{"role": "user", "parts": system["parts"]}, *body.pop("contents")]
            body = {"contents": contents, **body}
        return params.wire_model, body

    def _generate_call(
        self, model: str, body: dict[str, Any], request: Union[ChatRequest, CompletionRequest], *, stream: bool
    ) -> HttpCall:
        options = {"envelope": "response"} if stream else {}
        return HttpCall(
            method="POST",
            url=self._url("streamGenerateContent" if stream else "generateContent"),
            headers=self._headers(request.extra_headers),
            json={"model": model, "project": self.require_project(), "request": body},
            params={"alt": "sse"} if stream else {},
            dialect="gemini" if stream else None,
            model=request.model,
            timeout=request.timeout,
            stream_options=options,
        )

    def build_chat_call(self, request: ChatRequest, *, stream: bool) -> HttpCall:
        model, body = self.build_request_body(request)
        return self._generate_call(model, body, request, stream=stream)

    def build_completion_body(self, request: CompletionRequest) -> tuple[str, dict[str, Any]]:
        """Roo's ``completePrompt`` body for ``request`` (see the module docs)."""
        wire_model = request.model
        if wire_model.endswith(_THINKING_SUFFIX):
            wire_model = wire_model[: -len(_THINKING_SUFFIX)]
        config: dict[str, Any] = {}
        temperature = request.temperature if request.temperature is not None else self.default_temperature
        if temperature is not None:
            config["temperature"] = temperature
        if request.top_p is not None:
            config["topP"] = request.top_p
        if request.max_tokens is not None:
            config["maxOutputTokens"] = request.max_tokens
        if request.stop:
            config["stopSequences"] = list(request.stop)
        body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": request.prompt}]}]}
        if config:
            body["generationConfig"] = config
        for key, value in request.extra_body.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        return wire_model, body

    def build_completion_call(self, request: CompletionRequest, *, stream: bool) -> Optional[HttpCall]:
        model, body = self.build_completion_body(request)
        return self._generate_call(model, body, request, stream=stream)

    def _raise_on_block(self, request: Union[ChatRequest, CompletionRequest]) -> bool:
        option = _option_bool(request.options, "raise_on_block", self.name)
        return self.raise_on_block if option is None else option

    # -- responses ----------------------------------------------------------------------------------
    def _parse(
        self, data: Any, *, model: str, request_id: Optional[str], raise_on_block: Optional[bool] = None
    ) -> ChatResponse:
        if request_id is None and isinstance(data, Mapping) and isinstance(data.get("traceId"), str):
            request_id = data["traceId"] or None
        return parse_generate_content(
            unwrap_response(data),
            provider=self.name,
            model=model,
            request_id=request_id,
            raise_on_block=self.raise_on_block if raise_on_block is None else raise_on_block,
        )

    def parse_chat_response(self, data: Any, *, model: str, request_id: Optional[str]) -> ChatResponse:
        return self._parse(data, model=model, request_id=request_id)

    def parse_completion_response(self, data: Any, *, model: str, request_id: Optional[str]) -> CompletionResponse:
        answer = self._parse(data, model=model, request_id=request_id)
        return CompletionResponse.from_chat(answer)

    # -- public calls ---------------------------------------------------------------------------------
    async def chat(self, request: ChatRequest) -> ChatResponse:
        await self.authenticate()
        call = self.build_chat_call(request, stream=False)
        response = await self.send(call)
        return self._parse(
            _json_or_error(self, response, call),
            model=request.model,
            request_id=request_id_from(response.headers),
            raise_on_block=self._raise_on_block(request),
        )

    def _code_assist_stream(
        self, build: Callable[[], HttpCall], request: Union[ChatRequest, CompletionRequest]
    ) -> ChatStream:
        return CodeAssistStream(
            self,
            build,
            model=request.model,
            timeout=request.timeout,
            coalesce=self.coalesce,
            raise_on_block=self._raise_on_block(request),
        )

    def chat_stream(self, request: ChatRequest) -> ChatStream:
        return self._code_assist_stream(lambda: self.build_chat_call(request, stream=True), request)

    def complete_stream(self, request: CompletionRequest) -> ChatStream:
        def build() -> HttpCall:
            call = self.build_completion_call(request, stream=True)
            assert call is not None
            return call

        return self._code_assist_stream(build, request)

    async def list_models(self) -> list[ModelInfo]:
        """Roo's Gemini CLI table (no network)."""
        return [
            ModelInfo(
                id=model_id,
                provider=self.name,
                context_window=info.context_window,
                max_output_tokens=info.max_tokens,
                supports_images=info.supports_images,
                supports_prompt_cache=False,
                supports_reasoning=info.supports_reasoning_budget,
                input_price=0.0,
                output_price=0.0,
            )
            for model_id, info in GEMINI_CLI_MODELS.items()
        ]


def _done(operation: Any) -> bool:
    if not isinstance(operation, Mapping):
        raise ProviderError("gemini-cli: onboardUser answered something other than an operation object")
    return operation.get("done") is True

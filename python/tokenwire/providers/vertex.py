"""Google Vertex AI adapter (``"vertex"``): Gemini models and Anthropic Claude models.

The wire behaviour reproduces Roo-Code's Vertex handlers (RooCodeInc/Roo-Code at
``9bcd9918``: ``src/api/providers/vertex.ts`` — the Gemini handler pointed at Vertex —,
``src/api/providers/anthropic-vertex.ts``, ``src/api/transform/caching/vertex.ts``,
``src/api/transform/model-params.ts``, ``packages/types/src/providers/vertex.ts``), in
our own code. Roo picks the Claude handler for model ids containing ``claude``; here a
model id starting with ``claude`` (or given as ``anthropic/<id>`` or
``publishers/anthropic/models/<id>``) goes to Anthropic's publisher endpoints, every
other id (or ``google/<id>``) to Google's.

Endpoints
    Base URL ``https://{region}-aiplatform.googleapis.com``, or
    ``https://aiplatform.googleapis.com`` for the ``global`` region (``base_url=`` or
    ``GOOGLE_VERTEX_BASE_URL`` — the official SDK's variable — override it), then
    ``/v1/projects/{project}/locations/{region}/publishers/…``:

    - Gemini: ``google/models/{model}:generateContent``,
      ``:streamGenerateContent?alt=sse``, ``:countTokens``;
    - Claude: ``anthropic/models/{model}:rawPredict`` / ``:streamRawPredict``, and
      ``anthropic/models/count-tokens:rawPredict`` for token counts.

    ``project``: ``project=``, ``GOOGLE_CLOUD_PROJECT`` (google-genai's variable),
    ``ANTHROPIC_VERTEX_PROJECT_ID`` (the Anthropic Vertex SDK's), else the credentials'
    own ``project_id`` / ``quota_project_id``. ``region``: ``region=``,
    ``GOOGLE_CLOUD_LOCATION`` (google-genai's), ``CLOUD_ML_REGION`` (Anthropic's), else
    ``global`` (google-genai's default; Roo's Claude handler defaults to ``us-east5``).

Authentication (:mod:`tokenwire.google`)
    Every call carries ``Authorization: Bearer <OAuth access token>`` from, in order:
    ``access_token=``; ``credentials=`` (a service-account or other Google credentials
    JSON: file path, JSON text or mapping; or a :class:`~tokenwire.google.TokenSource`);
    ``GOOGLE_CLOUD_ACCESS_TOKEN`` / ``GOOGLE_OAUTH_ACCESS_TOKEN``;
    ``GOOGLE_APPLICATION_CREDENTIALS``; Application Default Credentials. Service accounts
    are exchanged through the RS256 JWT grant at their ``token_uri``; tokens are cached
    and refreshed ``token_refresh_margin`` seconds (default 300) before they expire, one
    refresh at a time. ``google-auth`` is needed for service accounts and ADC
    (``pip install tokenwire[vertex]``); a 401 answer drops the cached token so the next
    call fetches a new one.

Gemini on Vertex
    Exactly the Gemini adapter's request and response mapping
    (:mod:`tokenwire.providers.gemini`: contents, ``systemInstruction``,
    ``generationConfig`` with Roo's thinking budget, function declarations, images,
    safety blocks as :class:`~tokenwire.providers.gemini.SafetyBlockedError`, the native
    ``gemini`` dialect), with Roo's Vertex model table for the parameters.

Claude on Vertex (Roo's ``anthropic-vertex.ts``)
    The Anthropic Messages body **without** ``model`` (it is in the URL) and with
    ``"anthropic_version": "vertex-2023-10-16"``; no ``anthropic-version`` header
    (``anthropic-beta`` only when ``options["betas"]`` asks for betas). Messages, tools,
    ``tool_choice`` and images are built by the Anthropic adapter's helpers
    (:func:`~tokenwire.providers.anthropic.convert_messages`, …). Parameters follow
    Roo's ``getModelParams`` for the anthropic format over Roo's Vertex table:
    ``max_tokens`` = the request's, else 16384 with thinking, else 8192 for
    budget-capable and unknown models, else the model's max output capped at 20% of its
    context window; extended thinking ``{"type": "enabled", "budget_tokens"}`` for the
    ``:thinking`` id (suffix stripped) or when asked (``thinking_budget`` /
    ``options["thinking"]``) on budget-capable (or unknown) models, budget = the
    request's or 8192, capped at ``floor(0.8 * max_tokens)``, at least 1024, with
    temperature 1.0; otherwise temperature = the request's or 0 (left out when only
    ``top_p`` is set). Prompt caching (every Claude model of Roo's Vertex table; unknown
    models too; ``prompt_caching=``/``options["prompt_caching"]`` force it): the system
    prompt is one text block with ``cache_control: {"type": "ephemeral"}`` (a plain
    string without caching), and the **last text block** of the last and second-to-last
    user messages gets ``cache_control`` (a string content becomes one text block; a
    user message without text blocks, e.g. only tool results, is left alone) — at most
    3 of Vertex's 4 cache blocks. Streams use the ``anthropic`` dialect (Roo's ``"\\n"``
    between blocks); non-streaming bodies are parsed by the Anthropic adapter's rules.
    ``response_format`` is refused with a :class:`~tokenwire.errors.ConfigurationError`.

``request.options`` keys
    The Gemini adapter's keys for Gemini models; for Claude: ``thinking`` (bool),
    ``prompt_caching`` (bool), ``betas`` (list of str), ``top_k`` (int). Other keys are
    ignored. ``extra_body`` is merged into the body last (``None`` removes a field).

Models
    :meth:`VertexProvider.list_models` lists Roo's Vertex table (Gemini and Claude
    entries) without network: Vertex has no per-project model list for publisher
    models. :meth:`VertexProvider.count_tokens` uses the endpoints above, falling back to
    the local estimate when they fail (Roo's Gemini rule; Roo's Claude-on-Vertex handler
    only ever estimates locally).
    ``health_check`` fetches an access token (a credentials check).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, Callable, ClassVar, Optional, Union

import httpx

from tokenwire._http import Timeouts, request_id_from
from tokenwire.errors import APIConnectionError, AuthenticationError, ConfigurationError, ProviderError
from tokenwire.google import (
    ACCESS_TOKEN_ENV,
    CREDENTIALS_ENV,
    CredentialsLike,
    StaticTokenSource,
    TokenCache,
    TokenSource,
    adc_file,
    env_access_token,
    resolve_token_source,
)
from tokenwire.providers.anthropic import (
    ANTHROPIC_DEFAULT_MAX_TOKENS,
    AnthropicProvider,
    ClaudeModel,
    convert_messages,
    convert_tool,
    convert_tool_choice,
)
from tokenwire.providers.base import ChatStream, HttpCall, Provider, _json_or_error, merge_headers
from tokenwire.providers.gemini import (
    GeminiChatStream,
    GeminiModel,
    GeminiParams,
    build_generate_content_body,
    count_with_fallback,
    gemini_params,
    parse_generate_content,
)
from tokenwire.types import (
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    ModelInfo,
    ProviderCapabilities,
)

__all__ = [
    "ANTHROPIC_VERTEX_VERSION",
    "VERTEX_CLAUDE_MODELS",
    "VERTEX_GEMINI_MODELS",
    "VertexProvider",
    "mark_vertex_cache_breakpoints",
]

ANTHROPIC_VERTEX_VERSION = "vertex-2023-10-16"
DEFAULT_REGION = "global"
_THINKING_SUFFIX = ":thinking"
_EPHEMERAL: Mapping[str, str] = {"type": "ephemeral"}
# Roo: src/shared/api.ts.
_THINKING_MAX_TOKENS = 16_384
_THINKING_BUDGET = 8_192
_MIN_THINKING_BUDGET = 1024
# Fields the count-tokens endpoint does not take.
_NOT_COUNTED = ("max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences", "metadata")

_G = GeminiModel
#: The Gemini entries of Roo-Code's Vertex table (``packages/types/src/providers/vertex.ts``).
VERTEX_GEMINI_MODELS: Mapping[str, GeminiModel] = {
    "gemini-2.5-flash-preview-05-20:thinking": _G(65_535, 1_048_576, True, True, True, True, 24_576),
    "gemini-2.5-flash-preview-05-20": _G(65_535, 1_048_576, True, True),
    "gemini-2.5-flash": _G(64_000, 1_048_576, True, True, True, False, 24_576),
    "gemini-2.5-flash-preview-04-17:thinking": _G(65_535, 1_048_576, True, False, True, True, 24_576),
    "gemini-2.5-flash-preview-04-17": _G(65_535, 1_048_576),
    "gemini-2.5-pro-preview-03-25": _G(65_535, 1_048_576, True, True),
    "gemini-2.5-pro-preview-05-06": _G(65_535, 1_048_576, True, True),
    "gemini-2.5-pro-preview-06-05": _G(65_535, 1_048_576, True, True, True, False, 32_768),
    "gemini-2.5-pro": _G(64_000, 1_048_576, True, True, True, True, 32_768),
    "gemini-2.5-pro-exp-03-25": _G(65_535, 1_048_576),
    "gemini-2.0-pro-exp-02-05": _G(8192, 2_097_152),
    "gemini-2.0-flash-001": _G(8192, 1_048_576, True, True),
    "gemini-2.0-flash-lite-001": _G(8192, 1_048_576),
    "gemini-2.0-flash-thinking-exp-01-21": _G(8192, 32_768),
    "gemini-1.5-flash-002": _G(8192, 1_048_576, True, True),
    "gemini-1.5-pro-002": _G(8192, 2_097_152),
    "gemini-2.5-flash-lite-preview-06-17": _G(64_000, 1_048_576, True, True, True, False, 24_576),
}

#: The Claude entries of Roo-Code's Vertex table (every one supports prompt caching).
VERTEX_CLAUDE_MODELS: Mapping[str, ClaudeModel] = {
    "claude-sonnet-4@20250514": ClaudeModel(8192, 200_000, True, True, True),
    "claude-sonnet-4-5@20250929": ClaudeModel(8192, 200_000, True, True, True),
    "claude-opus-4-1@20250805": ClaudeModel(8192, 200_000, True, True, True),
    "claude-opus-4@20250514": ClaudeModel(8192, 200_000, True, True),
    "claude-3-7-sonnet@20250219:thinking": ClaudeModel(64_000, 200_000, True, True, True, True),
    "claude-3-7-sonnet@20250219": ClaudeModel(8192, 200_000, True, True),
    "claude-3-5-sonnet-v2@20241022": ClaudeModel(8192, 200_000, True, True),
    "claude-3-5-sonnet@20240620": ClaudeModel(8192, 200_000, True, True),
    "claude-3-5-haiku@20241022": ClaudeModel(8192, 200_000, False, True),
    "claude-3-opus@20240229": ClaudeModel(4096, 200_000, True, True),
    "claude-3-haiku@20240307": ClaudeModel(4096, 200_000, True, True),
}


class _ClaudeBodies(AnthropicProvider):
    """The Anthropic adapter's response parsing, labelled ``vertex`` (never sends anything)."""

    name: ClassVar[str] = "vertex"


_CLAUDE_BODIES = _ClaudeBodies()


def _option_bool(options: Mapping[str, Any], key: str) -> Optional[bool]:
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ConfigurationError(f"vertex: request option {key!r} must be a bool, got {type(value).__name__}")
    return value


def mark_vertex_cache_breakpoints(messages: list[dict[str, Any]]) -> None:
    """Roo's Vertex breakpoints, in place: ``cache_control`` on the last *text* block of the
    last and second-to-last user messages (a string content becomes one text block)."""
    user_indices = [i for i, m in enumerate(messages) if m["role"] == "user"]
    for index in user_indices[-2:]:
        message = messages[index]
        content = message["content"]
        if isinstance(content, str):
            message["content"] = [{"type": "text", "text": content, "cache_control": dict(_EPHEMERAL)}]
            continue
        last_text = max((i for i, block in enumerate(content) if block.get("type") == "text"), default=-1)
        if last_text >= 0:
            blocks = list(content)
            blocks[last_text] = {**blocks[last_text], "cache_control": dict(_EPHEMERAL)}
            message["content"] = blocks


def _split_model(model: str) -> tuple[str, str]:
    """``(publisher, model id)`` for a model string (see the module docs)."""
    if model.startswith("publishers/"):
        pieces = model.split("/")
        if len(pieces) == 4 and pieces[2] == "models" and pieces[1] and pieces[3]:
            return pieces[1], pieces[3]
        raise ConfigurationError(f"vertex: malformed model resource {model!r}")
    if "/" in model:
        publisher, _, name = model.partition("/")
        if not publisher or not name:
            raise ConfigurationError(f"vertex: malformed model {model!r}")
        return publisher, name
    return ("anthropic" if model.startswith("claude") else "google"), model


class VertexProvider(Provider):
    """Vertex AI: Gemini and Anthropic Claude models (see the module docs).

    Args:
        project: Google Cloud project id (default: ``GOOGLE_CLOUD_PROJECT``,
            ``ANTHROPIC_VERTEX_PROJECT_ID``, else the credentials' project).
        region: location, e.g. ``"us-east5"`` or ``"global"`` (default:
            ``GOOGLE_CLOUD_LOCATION``, ``CLOUD_ML_REGION``, else ``"global"``).
        credentials: a Google credentials JSON (file path, JSON text or mapping), or a
            :class:`~tokenwire.google.TokenSource`.
        access_token: a ready OAuth access token (not refreshed).
        base_url: API root (default: ``GOOGLE_VERTEX_BASE_URL`` or the regional host).
        api_version: path version segment (``"v1"``).
        prompt_caching: ``None`` applies Roo's rule for Claude (cache-capable models);
            ``True``/``False`` forces cache breakpoints on or off.
        grounding, url_context, default_temperature, safety_settings, raise_on_block:
            as for :class:`~tokenwire.providers.gemini.GeminiProvider` (Gemini models;
            ``default_temperature`` applies to Claude too).
        token_refresh_margin: refresh cached tokens this many seconds before expiry.
        clock: the time function of the token cache and the JWT claims (tests inject one).
        timeouts, headers, http_client, coalesce: as for :class:`Provider`.
    """

    name: ClassVar[str] = "vertex"
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
    #: Vertex has no API keys: these are the variables that provide a credential (for
    #: hints such as ``tokenwire providers``); :attr:`api_key` is the static access token.
    api_key_env: ClassVar[tuple[str, ...]] = (*ACCESS_TOKEN_ENV, CREDENTIALS_ENV)
    requires_api_key: ClassVar[bool] = True
    base_url_env: ClassVar[tuple[str, ...]] = ("GOOGLE_VERTEX_BASE_URL",)
    project_env: ClassVar[tuple[str, ...]] = ("GOOGLE_CLOUD_PROJECT", "ANTHROPIC_VERTEX_PROJECT_ID")
    region_env: ClassVar[tuple[str, ...]] = ("GOOGLE_CLOUD_LOCATION", "CLOUD_ML_REGION")

    def __init__(
        self,
        *,
        project: Optional[str] = None,
        region: Optional[str] = None,
        credentials: Union[CredentialsLike, TokenSource, None] = None,
        access_token: Optional[str] = None,
        base_url: Optional[str] = None,
        api_version: str = "v1",
        prompt_caching: Optional[bool] = None,
        grounding: bool = False,
        url_context: bool = False,
        default_temperature: Optional[float] = 0.0,
        safety_settings: Optional[Sequence[Mapping[str, Any]]] = None,
        raise_on_block: bool = True,
        token_refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
        timeouts: Optional[Timeouts] = None,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.AsyncClient] = None,
        coalesce: bool = True,
    ) -> None:
        if credentials is not None and access_token:
            raise ConfigurationError("vertex: pass either credentials or access_token, not both")
        if not api_version or "/" in api_version:
            raise ConfigurationError(f"vertex: invalid api_version {api_version!r}")
        super().__init__(
            base_url=base_url,
            timeouts=timeouts,
            headers=headers,
            http_client=http_client,
            coalesce=coalesce,
        )
        self._project_arg = project
        self._region_arg = region
        self._credentials_arg = credentials
        self._access_token_arg = access_token
        self.api_version = api_version
        self.prompt_caching = prompt_caching
        self.grounding = bool(grounding)
        self.url_context = bool(url_context)
        self.default_temperature = default_temperature
        self.safety_settings = [dict(s) for s in safety_settings] if safety_settings else None
        self.raise_on_block = bool(raise_on_block)
        self.token_refresh_margin = token_refresh_margin
        self._clock = clock
        self._cache: Optional[TokenCache] = None

    # -- configuration ------------------------------------------------------------------------
    @staticmethod
    def _env(names: Sequence[str]) -> Optional[str]:
        return next((os.environ[n].strip() for n in names if os.environ.get(n, "").strip()), None)

    @property
    def region(self) -> str:
        """The location (``region=``, the environment, else ``"global"``)."""
        return self._region_arg or self._env(self.region_env) or DEFAULT_REGION

    @property
    def base_url(self) -> str:
        url = self._base_url_arg or self._env(self.base_url_env)
        if url:
            return url.rstrip("/")
        region = self.region
        host = "aiplatform.googleapis.com" if region == "global" else f"{region}-aiplatform.googleapis.com"
        return f"https://{host}"

    @property
    def project(self) -> Optional[str]:
        """The project id, or ``None`` when none is configured (see the module docs)."""
        explicit = self._project_arg or self._env(self.project_env)
        if explicit:
            return explicit
        return self._token_cache().source.project_id

    def require_project(self) -> str:
        project = self.project
        if not project:
            raise ConfigurationError(
                f"vertex: no Google Cloud project; pass project=... or set {' / '.join(self.project_env)}"
            )
        return project

    def _auth_mode(self) -> str:
        if self._access_token_arg:
            return "access-token"
        if isinstance(self._credentials_arg, TokenSource):
            return self._credentials_arg.kind
        if self._credentials_arg is not None:
            return "credentials"
        if env_access_token():
            return "access-token (env)"
        if os.environ.get(CREDENTIALS_ENV):
            return f"credentials ({CREDENTIALS_ENV})"
        return "application-default"

    @property
    def api_key(self) -> Optional[str]:
        """The static access token (``access_token=`` or the environment), if one is set."""
        return self._access_token_arg or env_access_token()

    def has_credentials(self) -> bool:
        return bool(
            self._access_token_arg
            or self._credentials_arg is not None
            or env_access_token()
            or os.environ.get(CREDENTIALS_ENV)
            or adc_file() is not None
        )

    def __repr__(self) -> str:
        project = self._project_arg or self._env(self.project_env)
        return (
            f"<{type(self).__name__} {self.name!r} project={project!r} region={self.region!r} auth={self._auth_mode()}>"
        )

    # -- credentials ----------------------------------------------------------------------------
    def _token_cache(self) -> TokenCache:
        if self._cache is None:
            credentials = self._credentials_arg
            if isinstance(credentials, TokenSource):
                source: TokenSource = credentials
            else:
                source = resolve_token_source(
                    access_token=self._access_token_arg, credentials=credentials, clock=self._clock
                )
            self._cache = TokenCache(source, clock=self._clock, refresh_margin=self.token_refresh_margin)
        return self._cache

    @property
    def token_cache(self) -> TokenCache:
        """The access-token cache (resolving the credential source on first use)."""
        return self._token_cache()

    def _secrets(self) -> tuple[Optional[str], ...]:
        cached = self._cache.secrets() if self._cache is not None else ()
        return (self._access_token_arg, env_access_token(), *cached)

    async def access_token(self) -> str:
        """A valid access token (cached, refreshed before expiry)."""
        return await self._token_cache().get(self.http_client, timeout=self.timeouts.httpx_timeout())

    async def _authorize(self, call: HttpCall) -> HttpCall:
        token = await self.access_token()
        return dataclasses.replace(call, headers=merge_headers({"authorization": f"Bearer {token}"}, call.headers))

    def _forget_token(self) -> None:
        cache = self._cache
        if cache is not None and not isinstance(cache.source, StaticTokenSource):
            cache.invalidate()

    async def _open(self, call: HttpCall, *, deadline: Optional[float]) -> httpx.Response:
        authorized = await self._authorize(call)
        try:
            return await super()._open(authorized, deadline=deadline)
        except AuthenticationError:
            self._forget_token()
            raise

    async def send(self, call: HttpCall) -> httpx.Response:
        authorized = await self._authorize(call)
        try:
            return await super().send(authorized)
        except AuthenticationError:
            self._forget_token()
            raise

    async def _probe(self) -> None:
        await self.access_token()

    # -- request building -----------------------------------------------------------------------
    def _url(self, publisher: str, model: str, method: str) -> str:
        project = self.require_project()
        region = self.region
        return (
            f"{self.base_url}/{self.api_version}/projects/{project}/locations/{region}"
            f"/publishers/{publisher}/models/{model}:{method}"
        )

    def _headers(self, extra: Mapping[str, str], *, betas: Sequence[str] = ()) -> dict[str, str]:
        base = {"content-type": "application/json"}
        if betas:
            base["anthropic-beta"] = ",".join(betas)
        return merge_headers(base, self.extra_headers, extra)

    @staticmethod
    def publisher(model: str) -> str:
        """``"google"`` or ``"anthropic"`` — where ``model`` is served (see the module docs)."""
        publisher, _ = _split_model(model)
        if publisher not in ("google", "anthropic"):
            raise ConfigurationError(
                f"vertex: publisher {publisher!r} is not supported (Gemini and Claude models only)"
            )
        return publisher

    def gemini_params(self, request: ChatRequest) -> GeminiParams:
        """Roo's Gemini parameters over the Vertex table."""
        _, model = _split_model(request.model)
        local = dataclasses.replace(request, model=model)
        return gemini_params(local, VERTEX_GEMINI_MODELS, default_temperature=self.default_temperature, who=self.name)

    def build_gemini_body(self, request: ChatRequest) -> tuple[str, dict[str, Any]]:
        """The Gemini model id sent and its ``generateContent`` body."""
        params = self.gemini_params(request)
        body = build_generate_content_body(
            request,
            params,
            grounding=self.grounding,
            url_context=self.url_context,
            safety_settings=self.safety_settings,
            who=self.name,
        )
        return params.wire_model, body

    def build_claude_body(self, request: ChatRequest, *, stream: bool) -> tuple[str, dict[str, Any], tuple[str, ...]]:
        """The Claude model id sent, its rawPredict body and the betas it asks for."""
        if request.response_format is not None:
            raise ConfigurationError("vertex: response_format is not supported for Claude models")
        _, model_id = _split_model(request.model)
        wire_model = model_id[: -len(_THINKING_SUFFIX)] if model_id.endswith(_THINKING_SUFFIX) else model_id
        info = VERTEX_CLAUDE_MODELS.get(model_id)
        options = request.options
        thinking_option = _option_bool(options, "thinking")
        asked = thinking_option if thinking_option is not None else request.thinking_budget is not None
        use_budget = (
            asked if info is None else info.requires_reasoning_budget or (info.supports_reasoning_budget and asked)
        )
        body: dict[str, Any] = {"anthropic_version": ANTHROPIC_VERTEX_VERSION}
        if use_budget:
            max_tokens = request.max_tokens if request.max_tokens is not None else _THINKING_MAX_TOKENS
            budget = request.thinking_budget if request.thinking_budget is not None else _THINKING_BUDGET
            budget = max(min(budget, math.floor(max_tokens * 0.8)), _MIN_THINKING_BUDGET)
            body["max_tokens"] = max_tokens
            body["temperature"] = 1.0
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        else:
            if request.max_tokens is not None:
                max_tokens = request.max_tokens
            elif info is None or info.supports_reasoning_budget or not info.max_tokens:
                max_tokens = ANTHROPIC_DEFAULT_MAX_TOKENS
            else:
                max_tokens = min(info.max_tokens, math.ceil(info.context_window * 0.2))
            body["max_tokens"] = max_tokens
            if request.temperature is not None:
                body["temperature"] = request.temperature
            elif request.top_p is None and self.default_temperature is not None:
                body["temperature"] = self.default_temperature
        caching = _option_bool(options, "prompt_caching")
        if caching is None:
            caching = (
                self.prompt_caching
                if self.prompt_caching is not None
                else (info.supports_prompt_cache if info is not None else True)
            )
        system = request.system_prompt()
        if system:
            body["system"] = (
                [{"type": "text", "text": system, "cache_control": dict(_EPHEMERAL)}] if caching else system
            )
        messages = convert_messages(request.conversation())
        if caching:
            mark_vertex_cache_breakpoints(messages)
        body["messages"] = messages
        if request.tools:
            body["tools"] = [convert_tool(t) for t in request.tools]
        tool_choice = convert_tool_choice(request.tool_choice)
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if request.top_p is not None:
            body["top_p"] = request.top_p
        top_k = options.get("top_k")
        if top_k is not None:
            if isinstance(top_k, bool) or not isinstance(top_k, int):
                raise ConfigurationError("vertex: request option 'top_k' must be an int")
            body["top_k"] = top_k
        if stream:
            body["stream"] = True
        for key, value in request.extra_body.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        betas = options.get("betas") or ()
        if isinstance(betas, str) or not all(isinstance(b, str) and b for b in betas):
            raise ConfigurationError("vertex: request option 'betas' must be a list of non-empty strings")
        return wire_model, body, tuple(betas)

    def build_chat_call(self, request: ChatRequest, *, stream: bool) -> HttpCall:
        if self.publisher(request.model) == "anthropic":
            model, body, betas = self.build_claude_body(request, stream=stream)
            return HttpCall(
                method="POST",
                url=self._url("anthropic", model, "streamRawPredict" if stream else "rawPredict"),
                headers=self._headers(request.extra_headers, betas=betas),
                json=body,
                dialect="anthropic" if stream else None,
                model=request.model,
                timeout=request.timeout,
            )
        model, body = self.build_gemini_body(request)
        return HttpCall(
            method="POST",
            url=self._url("google", model, "streamGenerateContent" if stream else "generateContent"),
            headers=self._headers(request.extra_headers),
            json=body,
            params={"alt": "sse"} if stream else {},
            dialect="gemini" if stream else None,
            model=request.model,
            timeout=request.timeout,
        )

    def build_count_tokens_call(self, request: ChatRequest) -> HttpCall:
        """The token-count call for ``request`` (Gemini ``:countTokens`` or Claude's
        ``count-tokens:rawPredict``)."""
        if self.publisher(request.model) == "anthropic":
            model, body, betas = self.build_claude_body(request, stream=False)
            for key in _NOT_COUNTED:
                body.pop(key, None)
            # The URL names the endpoint, so the body names the model.
            document = {"anthropic_version": body.pop("anthropic_version"), "model": model, **body}
            return HttpCall(
                method="POST",
                url=self._url("anthropic", "count-tokens", "rawPredict"),
                headers=self._headers(request.extra_headers, betas=betas),
                json=document,
                model=request.model,
                timeout=request.timeout,
            )
        model, body = self.build_gemini_body(request)
        counted = {k: v for k, v in body.items() if k in ("contents", "systemInstruction", "tools")}
        return HttpCall(
            method="POST",
            url=self._url("google", model, "countTokens"),
            headers=self._headers(request.extra_headers),
            json=counted,
            model=request.model,
            timeout=request.timeout,
        )

    def _raise_on_block(self, request: Union[ChatRequest, CompletionRequest]) -> bool:
        option = _option_bool(request.options, "raise_on_block")
        return self.raise_on_block if option is None else option

    # -- responses ------------------------------------------------------------------------------
    def parse_chat_response(self, data: Any, *, model: str, request_id: Optional[str]) -> ChatResponse:
        if self.publisher(model) == "anthropic":
            return _CLAUDE_BODIES.parse_chat_response(data, model=model, request_id=request_id)
        return parse_generate_content(
            data, provider=self.name, model=model, request_id=request_id, raise_on_block=self.raise_on_block
        )

    async def chat(self, request: ChatRequest) -> ChatResponse:
        call = self.build_chat_call(request, stream=False)
        response = await self.send(call)
        data = _json_or_error(self, response, call)
        request_id = request_id_from(response.headers)
        if self.publisher(request.model) == "anthropic":
            return _CLAUDE_BODIES.parse_chat_response(data, model=request.model, request_id=request_id)
        return parse_generate_content(
            data,
            provider=self.name,
            model=request.model,
            request_id=request_id,
            raise_on_block=self._raise_on_block(request),
        )

    def chat_stream(self, request: ChatRequest) -> ChatStream:
        call = self.build_chat_call(request, stream=True)
        if call.dialect == "gemini":
            return GeminiChatStream(self, call, coalesce=self.coalesce, raise_on_block=self._raise_on_block(request))
        return ChatStream(self, call, coalesce=self.coalesce)

    def complete_stream(self, request: CompletionRequest) -> ChatStream:
        return self.chat_stream(request.as_chat())

    async def count_tokens(self, request: ChatRequest, *, local_fallback: bool = True) -> int:
        """Input tokens from Vertex's token-count endpoints; as Roo-Code does for Gemini, a
        failed call falls back to the local estimate (``local_fallback=False`` raises)."""
        call = self.build_count_tokens_call(request)
        if self.publisher(request.model) == "google":
            return await count_with_fallback(self, request, call, local_fallback=local_fallback)
        try:
            data = await self.send_json(call)
            value = data.get("input_tokens") if isinstance(data, Mapping) else None
            if isinstance(value, bool) or not isinstance(value, int):
                raise ProviderError(
                    "vertex: count-tokens answered without an integer input_tokens",
                    provider=self.name,
                    model=request.model,
                )
        except (ProviderError, APIConnectionError):
            if not local_fallback:
                raise
            return await Provider.count_tokens(self, request)
        return value

    async def list_models(self) -> list[ModelInfo]:
        """Roo's Vertex table (no network; see the module docs)."""
        models = [
            ModelInfo(
                id=model_id,
                provider=self.name,
                context_window=info.context_window,
                max_output_tokens=info.max_tokens,
                supports_images=info.supports_images,
                supports_prompt_cache=info.supports_prompt_cache,
                supports_reasoning=info.supports_reasoning_budget,
            )
            for model_id, info in VERTEX_GEMINI_MODELS.items()
        ]
        models.extend(
            ModelInfo(
                id=model_id,
                provider=self.name,
                context_window=info.context_window,
                max_output_tokens=info.max_tokens,
                supports_images=info.supports_images,
                supports_prompt_cache=info.supports_prompt_cache,
                supports_reasoning=info.supports_reasoning_budget,
            )
            for model_id, info in VERTEX_CLAUDE_MODELS.items()
        )
        return models

"""Ollama's native API: ``POST /api/chat`` streaming newline-delimited JSON.

Ollama's wire differs from Chat Completions in the body (``options`` for sampling,
images as raw base64 beside the text, tool-call arguments as JSON objects) and in the
stream (one JSON object per line, read by the ``ndjson`` dialect of the native
``StreamProcessor``), so it has this small adapter instead of a profile. It follows
Roo-Code's ``native-ollama.ts`` (RooCodeInc/Roo-Code at ``9bcd9918``) and its model
fetcher ``fetchers/ollama.ts``, in our own code.

Server and auth
    ``base_url=`` or ``OLLAMA_HOST`` (Ollama's own variable; ``host:port`` without a
    scheme means ``http://``), default ``http://localhost:11434``. No key is needed; an
    ``api_key=`` / ``OLLAMA_API_KEY`` (Ollama's hosted or proxied instances) is sent as
    ``Authorization: Bearer``. A refused connection raises
    :class:`~tokenwire.errors.APIConnectionError` with Roo's message "Ollama service is
    not running at <url>. Please start Ollama first."

Request body (``/api/chat``)
    ``model``; ``messages``: the system prompt first (``role: system``), then each
    message with ``content`` as one string (text parts joined with ``"\\n"``) and
    ``images`` as raw base64 strings (not data URLs; URL images cannot be sent and are
    refused); assistant tool calls as ``tool_calls: [{"function": {"name",
    "arguments": <object>}}]`` and tool results as ``role: tool`` messages (Roo sends
    none of these: it describes tools in the prompt); ``stream``; ``options``:
    ``temperature`` (the request's, else 0, else 0.6 for ids containing ``deepseek-r1``
    as Roo), ``num_ctx`` (``num_ctx=``, only when set), ``num_predict``
    (``request.max_tokens``), ``top_p``, ``stop``; ``tools``; ``format``
    (``"json"`` for ``{"type": "json_object"}``, the schema for ``json_schema``);
    ``keep_alive`` and ``think`` from ``request.options`` when given. ``complete`` sends
    one user message, as Roo's ``completePrompt``.

Streams
    The ``ndjson`` dialect reads ``message.thinking`` (reasoning), ``message.content``,
    ``message.tool_calls`` and the final ``done`` line (``done_reason``,
    ``prompt_eval_count`` / ``eval_count`` → ``Usage``). Roo also splits ``<think>``
    blocks inside the content; that needs a ``think_tags`` option in the ``ndjson``
    dialect, which it does not have yet.

Models
    ``list_models`` reads ``GET /api/tags`` and then ``POST /api/show`` per model, as
    Roo: the context window is ``model_info["<family>.context_length"]`` (also the
    max output, as Roo), images when ``capabilities`` lists ``vision``.

``request.options`` keys
    ``keep_alive`` (str or number) and ``think`` (bool or ``"low"``/``"medium"``/``"high"``)
    are passed through; other keys are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, Optional, cast

import httpx

from tokenwire import __version__
from tokenwire._http import Timeouts, redact
from tokenwire.errors import APIConnectionError, ConfigurationError, ProviderError, TokenwireError
from tokenwire.providers.base import HttpCall, Provider, merge_headers
from tokenwire.types import (
    ChatRequest,
    ChatResponse,
    Message,
    ModelInfo,
    ProviderCapabilities,
    TextPart,
    ToolCall,
    Usage,
)

__all__ = ["DEFAULT_OLLAMA_URL", "OllamaProvider"]

DEFAULT_OLLAMA_URL = "http://localhost:11434"
#: Roo's DEEP_SEEK_DEFAULT_TEMPERATURE, used for DeepSeek-R1 models.
_R1_TEMPERATURE = 0.6
_THINK_VALUES = (True, False, "low", "medium", "high")


def _list(value: Any) -> list[Any]:
    return cast(list[Any], value) if isinstance(value, list) else []


def _sub(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return cast(Mapping[str, Any], value) if isinstance(value, Mapping) else {}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class OllamaProvider(Provider):
    """A local (or hosted) Ollama server over its native ``/api/chat`` API.

    Args:
        base_url: the server (default: ``OLLAMA_HOST`` or ``http://localhost:11434``).
        api_key: optional bearer key (default: ``OLLAMA_API_KEY``).
        num_ctx: the context length to run the model with (Roo's ``ollamaNumCtx``;
            sent as ``options.num_ctx`` only when set).
        default_temperature: temperature when the request sets none (default 0, 0.6 for
            DeepSeek-R1 models; ``None`` sends none).
        timeouts, headers, http_client, coalesce: as for :class:`Provider`.
    """

    name: ClassVar[str] = "ollama"
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        streaming=True, tools=True, images=True, reasoning=True, list_models=True
    )
    api_key_env: ClassVar[tuple[str, ...]] = ("OLLAMA_API_KEY",)
    base_url_env: ClassVar[tuple[str, ...]] = ("OLLAMA_HOST",)
    default_base_url: ClassVar[str] = DEFAULT_OLLAMA_URL
    requires_api_key: ClassVar[bool] = False

    def __init__(
        self,
        *,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        num_ctx: Optional[int] = None,
        default_temperature: Optional[float] = 0.0,
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
        if num_ctx is not None and num_ctx < 1:
            raise ConfigurationError(f"ollama: num_ctx must be positive, got {num_ctx!r}")
        self.num_ctx = num_ctx
        self.default_temperature = default_temperature

    @property
    def base_url(self) -> str:
        """The server URL; a bare ``host:port`` (as ``OLLAMA_HOST`` allows) gets ``http://``."""
        url = super().base_url
        return url if "://" in url else f"http://{url}"

    # -- HTTP -------------------------------------------------------------------------------
    def _headers(self, extra: Mapping[str, str], *, stream: bool, body: bool = True) -> dict[str, str]:
        base: dict[str, str] = {}
        key = self.api_key
        if key:
            base["Authorization"] = f"Bearer {key}"
        base["User-Agent"] = f"tokenwire/{__version__}"
        base["Accept"] = "application/x-ndjson" if stream else "application/json"
        if body:
            base["Content-Type"] = "application/json"
        return merge_headers(base, self.extra_headers, extra)

    def _connection_error(self, exc: Exception, call: HttpCall) -> TokenwireError:
        if isinstance(exc, httpx.ConnectError):
            # Roo's wording for the commonest local failure: the daemon is not started.
            detail = redact(str(exc) or type(exc).__name__, self._secrets())
            return APIConnectionError(
                f"Ollama service is not running at {self.base_url}. Please start Ollama first. ({detail})"
            )
        return super()._connection_error(exc, call)

    # -- request building ---------------------------------------------------------------------
    def build_messages(self, request: ChatRequest) -> list[dict[str, Any]]:
        """The ``messages`` array of ``/api/chat``."""
        out: list[dict[str, Any]] = []
        system = request.system_prompt()
        if system:
            out.append({"role": "system", "content": system})
        for message in request.conversation():
            out.append(self._message(message))
        return out

    def _message(self, message: Message) -> dict[str, Any]:
        texts: list[str] = []
        images: list[str] = []
        for part in message.parts:
            if isinstance(part, TextPart):
                texts.append(part.text)
            else:
                if part.data is None:
                    raise ConfigurationError("ollama: images must be inline base64 data (Ollama cannot fetch URLs)")
                images.append(part.data)
        out: dict[str, Any] = {"role": message.role, "content": "\n".join(texts)}
        if images:
            out["images"] = images
        if message.role == "assistant" and message.tool_calls:
            out["tool_calls"] = [self._tool_call(call) for call in message.tool_calls]
        return out

    @staticmethod
    def _tool_call(call: ToolCall) -> dict[str, Any]:
        try:
            arguments = call.parsed_arguments()
        except ValueError:
            raise ConfigurationError(
                f"ollama: tool call {call.id!r} has arguments that are not JSON (Ollama takes an object)"
            ) from None
        return {"function": {"name": call.name, "arguments": arguments}}

    def build_chat_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body of ``/api/chat``."""
        body: dict[str, Any] = {"model": request.model, "messages": self.build_messages(request), "stream": stream}
        options: dict[str, Any] = {}
        temperature = request.temperature
        if temperature is None and self.default_temperature is not None:
            # Roo: 0, and DeepSeek's recommended 0.6 for R1 models.
            r1 = "deepseek-r1" in request.model.lower()
            temperature = _R1_TEMPERATURE if r1 and self.default_temperature == 0.0 else self.default_temperature
        if temperature is not None:
            options["temperature"] = temperature
        if self.num_ctx is not None:
            options["num_ctx"] = self.num_ctx
        if request.max_tokens is not None:
            options["num_predict"] = request.max_tokens
        if request.top_p is not None:
            options["top_p"] = request.top_p
        if request.stop:
            options["stop"] = list(request.stop)
        body["options"] = options
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": dict(tool.parameters),
                    },
                }
                for tool in request.tools
            ]
        response_format = request.response_format
        if response_format is not None:
            kind = response_format.get("type")
            schema = _sub(response_format, "json_schema").get("schema")
            if kind == "json_object":
                body["format"] = "json"
            elif kind == "json_schema" and isinstance(schema, Mapping):
                body["format"] = dict(cast(Mapping[str, Any], schema))
            elif kind != "text":
                raise ConfigurationError(f"ollama: unsupported response_format type {kind!r}")
        keep_alive = request.options.get("keep_alive")
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        think = request.options.get("think")
        if think is not None:
            if think not in _THINK_VALUES:
                raise ConfigurationError("ollama: request option 'think' must be a bool or 'low'/'medium'/'high'")
            body["think"] = think
        for key, value in request.extra_body.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        return body

    def build_chat_call(self, request: ChatRequest, *, stream: bool) -> HttpCall:
        return HttpCall(
            method="POST",
            url=f"{self.base_url}/api/chat",
            headers=self._headers(request.extra_headers, stream=stream),
            json=self.build_chat_body(request, stream=stream),
            dialect="ndjson" if stream else None,
            model=request.model,
            timeout=request.timeout,
        )

    def build_models_call(self) -> Optional[HttpCall]:
        return HttpCall(
            method="GET", url=f"{self.base_url}/api/tags", headers=self._headers({}, stream=False, body=False)
        )

    # -- parsing ------------------------------------------------------------------------------
    def parse_chat_response(self, data: Any, *, model: str, request_id: Optional[str]) -> ChatResponse:
        if not isinstance(data, Mapping):
            raise ProviderError(f"ollama: unexpected response body {type(data).__name__}", provider=self.name)
        body = cast(Mapping[str, Any], data)
        error = body.get("error")
        if isinstance(error, str):
            raise ProviderError(error, provider=self.name, model=model, request_id=request_id)
        message = _sub(body, "message")
        calls: list[ToolCall] = []
        for position, item in enumerate(_list(message.get("tool_calls"))):
            if not isinstance(item, Mapping):
                continue
            function = _sub(cast(Mapping[str, Any], item), "function")
            arguments = function.get("arguments")
            call_id = item.get("id")
            calls.append(
                ToolCall(
                    id=call_id if isinstance(call_id, str) and call_id else f"call_{position}",
                    name=str(function.get("name") or ""),
                    arguments=json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
                    if "arguments" in function
                    else "{}",
                )
            )
        usage: Optional[Usage] = None
        if "prompt_eval_count" in body or "eval_count" in body:
            usage = Usage(_count(body.get("prompt_eval_count")), _count(body.get("eval_count")), 0, 0, 0)
        content = message.get("content")
        thinking = message.get("thinking")
        reason = body.get("done_reason")
        return ChatResponse(
            text=content if isinstance(content, str) else "",
            model=model,
            provider=self.name,
            reasoning=thinking if isinstance(thinking, str) else "",
            tool_calls=tuple(calls),
            usage=usage,
            finish_reason=reason if isinstance(reason, str) and reason else ("stop" if body.get("done") else None),
            request_id=request_id,
        )

    def parse_models(self, data: Any) -> list[ModelInfo]:
        """``/api/tags`` alone: names only (:meth:`list_models` adds ``/api/show`` facts)."""
        return [ModelInfo(id=name, provider=self.name) for name in _tag_names(data)]

    async def list_models(self) -> list[ModelInfo]:
        """Every local model with its context window and vision support (``/api/tags`` +
        ``/api/show`` per model, as Roo's fetcher)."""
        call = self.build_models_call()
        assert call is not None
        names = _tag_names(await self.send_json(call))
        out: list[ModelInfo] = []
        for name in names:
            show = HttpCall(
                method="POST",
                url=f"{self.base_url}/api/show",
                headers=self._headers({}, stream=False),
                json={"model": name},
                model=name,
            )
            out.append(_show_info(name, self.name, await self.send_json(show)))
        return out


def _tag_names(data: Any) -> list[str]:
    models = data.get("models") if isinstance(data, Mapping) else None
    names: list[str] = []
    for item in _list(models):
        if isinstance(item, Mapping):
            name = cast(Mapping[str, Any], item).get("name")
            if isinstance(name, str) and name and name not in names:
                names.append(name)
    return names


def _show_info(name: str, provider: str, data: Any) -> ModelInfo:
    info = _sub(cast(Mapping[str, Any], data), "model_info") if isinstance(data, Mapping) else {}
    context: Optional[int] = None
    for key, value in info.items():
        if "context_length" in key and isinstance(value, int) and not isinstance(value, bool):
            context = value
            break
    capabilities = _list(data.get("capabilities")) if isinstance(data, Mapping) else []
    details = _sub(cast(Mapping[str, Any], data), "details") if isinstance(data, Mapping) else {}
    family = details.get("family")
    size = details.get("parameter_size")
    display = f"{name} ({family}, {size})" if isinstance(family, str) and isinstance(size, str) else None
    return ModelInfo(
        id=name,
        provider=provider,
        display_name=display,
        context_window=context,
        max_output_tokens=context,
        supports_images="vision" in capabilities,
        supports_prompt_cache=True,
        supports_reasoning="thinking" in capabilities,
    )

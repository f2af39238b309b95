"""A loopback mock of the OpenAI API (and Azure OpenAI's chat route), byte-exact on the wire.

Routes (``base_url`` = ``http://127.0.0.1:PORT/v1``, the OpenAI SDK's convention):

- ``POST /v1/chat/completions`` — stream or not; ``stream_options.include_usage``
  adds the final ``choices: []`` usage chunk (only when asked, like the real API).
- ``POST /v1/responses`` — the Responses API, stream (typed events) or not.
- ``POST /v1/completions`` — legacy completions, stream or not.
- ``GET /v1/models`` and ``GET /v1/models/{model}``.
- Azure: ``POST /openai/deployments/{deployment}/chat/completions?api-version=…`` with
  the ``api-key`` header (``azure_endpoint`` = ``server.url``).

Validation, in the real API's order and shapes (``{"error": {"message", "type",
"param", "code"}}``, 4-space-indented as OpenAI sends error bodies):

- unknown path → 404 ``Invalid URL (POST /v1/x)``; wrong method → 405.
- missing/non-Bearer ``Authorization`` → 401 "You didn't provide an API key. …";
  wrong key → 401 "Incorrect API key provided: sk-abc***…wxyz. …" (``invalid_api_key``;
  the key is masked, never echoed whole).
- body not a JSON object → 400 "We could not parse the JSON body of your request. …".
- chat: missing ``model`` → "you must provide a model parameter"; ``messages`` missing
  (``missing_required_parameter``), not an array (``invalid_type``), empty
  (``empty_array``); a message that is not an object, lacks ``role`` or has an unknown
  role (``invalid_value``); both ``max_tokens`` and ``max_completion_tokens``;
  ``stream_options`` without ``stream``. With a model allowlist, an unknown model →
  404 "The model `x` does not exist or you do not have access to it." (``model_not_found``).
- Azure: no ``api-version`` → 404 ``{"error":{"code":"404","message":"Resource not
  found"}}``; missing/wrong ``api-key`` → 401 with Azure's "Access denied due to invalid
  subscription key or wrong API endpoint. …"; an unknown deployment (with an allowlist)
  → 404 ``DeploymentNotFound``.

Every response carries ``x-request-id: req_<32 hex>`` (deterministic per server and
request number). Sources and what is assumed: see the ``tokenwire.testing`` docs.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from tokenwire.testing._base import Exchange, MockServer, ServerOptions, echo
from tokenwire.testing._ratelimit import Meter, RateLimits, go_duration
from tokenwire.testing._server import RecordedRequest, Reply
from tokenwire.testing.faults import Overloaded, QuotaExceeded, RateLimit, ServerFault
from tokenwire.testing.synth import CREATED, Protocol

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["OpenAIMockServer", "mask_key"]

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "o3-mini",
    "o4-mini",
    "gpt-3.5-turbo-instruct",
)

_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
_ROLES_TEXT = "'system', 'assistant', 'user', 'function', 'tool', and 'developer'"

_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
    "auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're "
    "accessing the API from your browser and are prompted for a username. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
    "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have "
    "trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"
)
_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more information on this "
    "error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
)
_AZURE_401 = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an "
    "active subscription and use a correct regional API endpoint for your resource."
)
_AZURE_NO_DEPLOYMENT = (
    "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, "
    "please wait a moment and try again."
)
_ORGANIZATION = "org-tokenwiremock0000000000"


def mask_key(key: str) -> str:
    """Mask an API key the way OpenAI's 401 message does: the first 8 and last 4
    characters around ``*``s (``sk-proj-****…abcd``). Keys too short for that to hide at
    least half are shown as first 3 + ``***`` + last 2, so a whole key never appears."""
    if len(key) >= 24:
        return key[:8] + "*" * (len(key) - 12) + key[-4:]
    if len(key) <= 5:
        return "*" * max(3, len(key))
    return key[:3] + "***" + key[-2:]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class _Invalid(Exception):
    """A request the real API refuses: status + the error object."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        param: Optional[str] = None,
        code: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code


class OpenAIMockServer(MockServer):
    """A loopback OpenAI API. ``with OpenAIMockServer(api_key="sk-test") as server:``
    then point a client at ``server.base_url`` (``http://127.0.0.1:PORT/v1``).

    ``models`` is an allowlist (and what ``/v1/models`` lists; a default list when
    ``None``, and any model is accepted). ``rate_limits`` meters requests and adds the
    ``x-ratelimit-*`` headers to every generation response.
    """

    provider = "openai"

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        organization: str = _ORGANIZATION,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(api_key=api_key, **options)
        self.organization = organization

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (the OpenAI SDK's base URL convention)."""
        return f"{self.url}/v1"

    @property
    def azure_endpoint(self) -> str:
        """The ``azure_endpoint`` for Azure OpenAI clients (the origin)."""
        return self.url

    # -- plumbing -----------------------------------------------------------

    def _request_id(self, number: int) -> str:
        return "req_" + hashlib.sha256(f"{self._seed}|openai|{number}".encode()).hexdigest()[:32]

    def _azure_request_id(self, ex: Exchange) -> str:
        digest = hashlib.sha256(f"{self._seed}|azure|{ex.number}".encode()).hexdigest()
        return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-{digest[20:32]}"

    def _success_headers(self, ex: Exchange, content_type: str) -> list[tuple[str, str]]:
        return [
            ("content-type", content_type),
            ("x-request-id", ex.request_id),
            ("openai-organization", self.organization),
            ("openai-processing-ms", "1"),
            ("openai-version", "2020-10-01"),
        ]

    def _error(
        self,
        ex: Exchange,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        param: Optional[str] = None,
        code: Optional[str] = None,
        *,
        headers: Sequence[tuple[str, str]] = (),
        content_type: str = "application/json",
    ) -> Reply:
        # OpenAI error bodies are indented with four spaces and end with a newline.
        payload = {"error": {"message": message, "type": type, "param": param, "code": code}}
        body = (json.dumps(payload, indent=4) + "\n").encode()
        return Reply(status, [*self._success_headers(ex, content_type), *headers], [body])

    def _invalid(self, ex: Exchange, error: _Invalid) -> Reply:
        content_type = "application/json; charset=utf-8" if error.status == 404 else "application/json"
        return self._error(
            ex, error.status, error.message, error.type, error.param, error.code, content_type=content_type
        )

    def _limit_headers(self, meters: Mapping[str, Meter]) -> list[tuple[str, str]]:
        requests, tokens = meters["requests"], meters["tokens"]
        return [
            ("x-ratelimit-limit-requests", str(requests.limit)),
            ("x-ratelimit-limit-tokens", str(tokens.limit)),
            ("x-ratelimit-remaining-requests", str(requests.remaining)),
            ("x-ratelimit-remaining-tokens", str(tokens.remaining)),
            ("x-ratelimit-reset-requests", go_duration(requests.reset)),
            ("x-ratelimit-reset-tokens", go_duration(tokens.reset)),
        ]

    # -- routing ------------------------------------------------------------

    def _route(self, request: RecordedRequest, ex: Exchange) -> Reply:
        path = request.path.rstrip("/") or "/"
        if path.startswith("/openai/deployments/"):
            return self._azure(request, ex, path)
        routes = {
            "/v1/chat/completions": "POST",
            "/v1/responses": "POST",
            "/v1/completions": "POST",
            "/v1/models": "GET",
        }
        expected = routes.get(path, "GET" if path.startswith("/v1/models/") else None)
        if expected is None:
            return self._error(ex, 404, f"Invalid URL ({request.method} {request.path})")
        if request.method != expected:
            return self._error(ex, 405, f"Invalid method for URL ({request.method} {request.path})")
        try:
            self._authenticate(request)
            if expected == "GET":
                return self._models(ex, path)
            document = self._parse(request)
            if path == "/v1/chat/completions":
                return self._chat(request, ex, document)
            if path == "/v1/responses":
                return self._responses(request, ex, document)
            return self._completions(request, ex, document)
        except _Invalid as error:
            return self._invalid(ex, error)

    def _authenticate(self, request: RecordedRequest) -> None:
        header = request.headers.get("authorization", "") or ""
        scheme, _, key = header.strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise _Invalid(_MISSING_KEY, status=401)
        if self.api_key is not None and key != self.api_key:
            raise _Invalid(
                f"Incorrect API key provided: {mask_key(key)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                status=401,
                code="invalid_api_key",
            )

    @staticmethod
    def _parse(request: RecordedRequest) -> dict[str, Any]:
        try:
            document = json.loads(request.body)
        except ValueError:
            raise _Invalid(_BAD_JSON) from None
        if not isinstance(document, dict):
            raise _Invalid(_BAD_JSON)
        return document  # pyright: ignore[reportUnknownVariableType]

    def _check_model(self, document: Mapping[str, Any]) -> str:
        model = document.get("model")
        if not isinstance(model, str) or not model:
            raise _Invalid("you must provide a model parameter")
        if self.models is not None and model not in self.models:
            raise _Invalid(
                f"The model `{model}` does not exist or you do not have access to it.",
                status=404,
                code="model_not_found",
            )
        return model

    @staticmethod
    def _check_messages(document: Mapping[str, Any]) -> None:
        if "messages" not in document or document["messages"] is None:
            raise _Invalid(
                "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
            )
        messages = document["messages"]
        if not isinstance(messages, list):
            raise _Invalid(
                f"Invalid type for 'messages': expected an array of objects, but got {_json_type(messages)} instead.",
                param="messages",
                code="invalid_type",
            )
        if not messages:
            raise _Invalid(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array "
                "instead.",
                param="messages",
                code="empty_array",
            )
        for index, message in enumerate(messages):  # pyright: ignore[reportUnknownVariableType]
            where = f"messages[{index}]"
            if not isinstance(message, dict):
                raise _Invalid(
                    f"Invalid type for '{where}': expected an object, but got {_json_type(message)} instead.",
                    param=where,
                    code="invalid_type",
                )
            role = message.get("role")
            if role is None:
                raise _Invalid(
                    f"Missing required parameter: '{where}.role'.",
                    param=f"{where}.role",
                    code="missing_required_parameter",
                )
            if role not in _ROLES:
                raise _Invalid(
                    f"Invalid value: '{role}'. Supported values are: {_ROLES_TEXT}.",
                    param=f"{where}.role",
                    code="invalid_value",
                )

    @staticmethod
    def _check_options(document: Mapping[str, Any]) -> tuple[bool, bool, Optional[int]]:
        """``(stream, include_usage, max output tokens)``."""
        if document.get("max_tokens") is not None and document.get("max_completion_tokens") is not None:
            raise _Invalid(
                "max_tokens and max_completion_tokens cannot both be set. Use max_completion_tokens.",
                param="max_tokens",
                code="invalid_value",
            )
        stream = document.get("stream") is True
        options = document.get("stream_options")
        if options is not None and not stream:
            raise _Invalid(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.", param="stream_options"
            )
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        limit = document.get("max_completion_tokens", document.get("max_tokens"))
        return stream, include_usage, limit if isinstance(limit, int) and not isinstance(limit, bool) else None

    # -- endpoints ----------------------------------------------------------

    def _chat(self, request: RecordedRequest, ex: Exchange, document: dict[str, Any]) -> Reply:
        model = self._check_model(document)
        self._check_messages(document)
        stream, include_usage, max_output = self._check_options(document)
        return self._generate(
            request,
            ex,
            document,
            protocol="openai-chat",
            stream=stream,
            model=model,
            include_usage=include_usage,
            max_output=max_output,
            limit_exceeded=self._limit_reply(ex, model),
        )

    def _responses(self, request: RecordedRequest, ex: Exchange, document: dict[str, Any]) -> Reply:
        model = document.get("model")
        if not isinstance(model, str) or not model:
            raise _Invalid("Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
        model = self._check_model(document)
        limit = document.get("max_output_tokens")
        return self._generate(
            request,
            ex,
            document,
            protocol="openai-responses",
            stream=document.get("stream") is True,
            model=model,
            max_output=limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
            limit_exceeded=self._limit_reply(ex, model),
        )

    def _completions(self, request: RecordedRequest, ex: Exchange, document: dict[str, Any]) -> Reply:
        model = self._check_model(document)
        stream, include_usage, max_output = self._check_options(document)
        return self._generate(
            request,
            ex,
            document,
            protocol="openai-completions",
            stream=stream,
            model=model,
            include_usage=include_usage,
            max_output=max_output,
            limit_exceeded=self._limit_reply(ex, model),
        )

    def _models(self, ex: Exchange, path: str) -> Reply:
        names = self.models if self.models is not None else DEFAULT_MODELS

        def entry(name: str) -> dict[str, Any]:
            return {"id": name, "object": "model", "created": CREATED, "owned_by": "system"}

        if path == "/v1/models":
            document: dict[str, Any] = {"object": "list", "data": [entry(name) for name in names]}
        else:
            name = path[len("/v1/models/") :]
            if self.models is not None and name not in self.models:
                raise _Invalid(f"The model '{name}' does not exist", status=404, param="model", code="model_not_found")
            document = entry(name)
        body = json.dumps(document, indent=2).encode()
        return Reply(200, self._success_headers(ex, "application/json"), [body])

    def _azure(self, request: RecordedRequest, ex: Exchange, path: str) -> Reply:
        rest = path[len("/openai/deployments/") :]
        deployment, _, operation = rest.partition("/")
        azure_id = self._azure_request_id(ex)

        def azure_error(status: int, code: str, message: str) -> Reply:
            body = json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":")).encode()
            headers = [("content-type", "application/json"), ("apim-request-id", azure_id), ("x-request-id", azure_id)]
            return Reply(status, headers, [body])

        if operation != "chat/completions" or not deployment or not request.query.get("api-version"):
            return azure_error(404, "404", "Resource not found")
        key = request.headers.get("api-key")
        if not key or (self.api_key is not None and key != self.api_key):
            return azure_error(401, "401", _AZURE_401)
        if self.models is not None and deployment not in self.models:
            return azure_error(404, "DeploymentNotFound", _AZURE_NO_DEPLOYMENT)
        if request.method != "POST":
            return azure_error(404, "404", "Resource not found")
        try:
            document = self._parse(request)
            self._check_messages(document)
            stream, include_usage, max_output = self._check_options(document)
        except _Invalid as error:
            return self._invalid(ex, error)
        model = document.get("model") if isinstance(document.get("model"), str) else deployment
        reply = self._generate(
            request,
            ex,
            document,
            protocol="openai-chat",
            stream=stream,
            model=str(model),
            include_usage=include_usage,
            max_output=max_output,
            azure=True,
            limit_exceeded=self._limit_reply(ex, str(model)),
        )
        reply.headers = [
            *[(k, v) for k, v in reply.headers if k not in ("openai-organization", "openai-version")],
            ("apim-request-id", azure_id),
            ("x-ms-deployment-name", deployment),
            ("x-ms-region", "East US 2"),
        ]
        return reply

    # -- faults ---------------------------------------------------------------

    def _fault_reply(
        self, fault: Union[RateLimit, QuotaExceeded, ServerFault, Overloaded], request: RecordedRequest, ex: Exchange
    ) -> Reply:
        if isinstance(fault, RateLimit):
            return self._rate_limited(ex, _model_of(request), fault)
        if isinstance(fault, QuotaExceeded):
            return self._error(ex, 429, _QUOTA, "insufficient_quota", None, "insufficient_quota")
        if isinstance(fault, Overloaded):
            return self._error(ex, 503, fault_message_overloaded(ex.request_id), "server_error")
        if fault.status == 502:
            message = fault.message or "Bad gateway."
            body = json.dumps(
                {"error": {"code": 502, "message": message, "param": None, "type": "cf_bad_gateway"}},
                separators=(",", ":"),
            ).encode()
            return Reply(502, [("content-type", "application/json"), ("x-request-id", ex.request_id)], [body])
        if fault.status == 503:
            return self._error(ex, 503, fault.message or fault_message_overloaded(ex.request_id), "server_error")
        return self._error(ex, fault.status, fault.message or fault_message_server(ex.request_id), "server_error")

    def _rate_limited(self, ex: Exchange, model: str, fault: RateLimit) -> Reply:
        kind = "requests" if fault.kind == "requests" else "tokens"
        wait = fault.retry_after if fault.retry_after is not None else 1.0
        used = fault.used if fault.used is not None else fault.limit
        unit = "requests per min (RPM)" if kind == "requests" else "tokens per min (TPM)"
        message = (
            f"Rate limit reached for {model} in organization {self.organization} on {unit}: Limit {fault.limit}, "
            f"Used {used}, Requested {fault.requested}. Please try again in {go_duration(wait)}. "
            "Visit https://platform.openai.com/account/rate-limits to learn more."
        )
        meters = self._limits.peek() if self._limits is not None else _default_meters(self.rate_limits)
        meters = dict(meters)
        meters[kind] = Meter(fault.limit, max(0, fault.limit - used), wait)
        headers = self._limit_headers(meters)
        if fault.retry_after is not None:
            headers.append(("retry-after", str(math.ceil(fault.retry_after))))
        return self._error(ex, 429, message, kind, None, "rate_limit_exceeded", headers=headers)

    def _limit_reply(self, ex: Exchange, model: str) -> Callable[[str, float, Meter, int], Reply]:
        def reply(kind: str, wait: float, meter: Meter, requested: int) -> Reply:
            fault = RateLimit(
                retry_after=wait,
                kind="requests" if kind == "requests" else "tokens",
                limit=meter.limit,
                used=meter.limit - meter.remaining,
                requested=requested,
            )
            return self._rate_limited(ex, model, fault)

        return reply

    def _stream_error(
        self, error_type: Optional[str], message: Optional[str], ex: Exchange, sequence: int
    ) -> list[bytes]:
        kind = error_type or "server_error"
        text = message or fault_message_server(ex.request_id)
        if ex.protocol == "openai-responses":
            error = {
                "type": "error",
                "sequence_number": sequence,
                "error": {"type": kind, "code": kind, "message": text, "param": None},
            }
            failed = {
                "type": "response.failed",
                "sequence_number": sequence + 1,
                "response": {
                    "id": "resp_" + hashlib.sha256(f"{self._seed}|{ex.number}".encode()).hexdigest()[:48],
                    "object": "response",
                    "created_at": CREATED,
                    "status": "failed",
                    "error": {"code": kind, "message": text},
                    "model": ex.model,
                    "output": [],
                    "usage": None,
                },
            }
            return [_sse("error", error), _sse("response.failed", failed)]
        payload = {"error": {"message": text, "type": kind, "param": None, "code": None}}
        return [f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()]

    def _echo_text(self, document: dict[str, Any], protocol: Protocol) -> str:
        if protocol == "openai-completions":
            prompt = document.get("prompt")
            if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
                prompt = prompt[0]
            return echo(prompt if isinstance(prompt, str) else "")
        if protocol == "openai-responses":
            items = document.get("input")
            if isinstance(items, str):
                return echo(items)
            for item in reversed(items if isinstance(items, list) else []):
                if not isinstance(item, dict):
                    continue
                if item.get("type") == "function_call_output":
                    return f"The tool returned: {_plain(item.get('output'))}"
                if item.get("role") == "user":
                    return echo(_plain(item.get("content")))
            return echo("")
        for message in reversed(document.get("messages") or []):
            if not isinstance(message, dict):
                continue
            if message.get("role") == "tool":
                return f"The tool returned: {_plain(message.get('content'))}"
            if message.get("role") == "user":
                return echo(_plain(message.get("content")))
        return echo("")


def fault_message_server(request_id: str) -> str:
    """OpenAI's 500 message (also its default in-stream error)."""
    return (
        "The server had an error processing your request. Sorry about that! You can retry your request, or contact "
        "us through our help center at help.openai.com if you keep seeing this error. (Please include the request "
        f"ID {request_id} in your email.)"
    )


def fault_message_overloaded(request_id: str) -> str:
    """OpenAI's 503 "overloaded" message."""
    return (
        "That model is currently overloaded with other requests. You can retry your request, or contact us through "
        "our help center at help.openai.com if the error persists. (Please include the request ID "
        f"{request_id} in your message.)"
    )


def _plain(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:  # pyright: ignore[reportUnknownVariableType]
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(str(part["text"]))
            elif isinstance(part, str):
                parts.append(part)
        return " ".join(parts)
    return "" if content is None else json.dumps(content)


def _model_of(request: RecordedRequest) -> str:
    try:
        document = json.loads(request.body)
    except ValueError:
        return "gpt-4o-mini"
    model = document.get("model") if isinstance(document, dict) else None
    return model if isinstance(model, str) and model else "gpt-4o-mini"


def _default_meters(limits: Optional[RateLimits]) -> dict[str, Meter]:
    limits = limits or RateLimits()
    return {
        "requests": Meter(limits.requests, limits.requests, 0.0),
        "tokens": Meter(limits.tokens, limits.tokens, 0.0),
    }


def _sse(event_type: str, payload: Any) -> bytes:
    return f"event: {event_type}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()

"""A loopback mock of the Anthropic Messages API, byte-exact on the wire.

Routes (``base_url`` = ``http://127.0.0.1:PORT``, the Anthropic SDK's convention):

- ``POST /v1/messages`` — stream or not.
- ``POST /v1/messages/count_tokens`` — ``{"input_tokens": N}`` with N from
  :func:`tokenwire.testing.estimate_request_tokens` (``ceil(chars / 4) + 3`` per
  message over system, message text and tool definitions), the same estimate
  ``"auto"`` usage reports, so the two agree.
- ``GET /v1/models`` and ``GET /v1/models/{model}``.

Validation, in the real API's order and shapes (``{"type": "error", "error": {"type",
"message"}, "request_id"}``):

- no ``x-api-key`` and no ``Authorization: Bearer`` → 401 ``authentication_error``
  "x-api-key header is required"; a wrong ``x-api-key`` → "invalid x-api-key".
- no ``anthropic-version`` → 400 "anthropic-version: header is required".
  ``anthropic-beta`` values are accepted whatever they are.
- body: not JSON → "The request body is not valid JSON: …"; ``model``, ``max_tokens``,
  ``messages`` → "<field>: Field required"; wrong types; an empty ``messages``; a
  role other than user/assistant; a first message that is not ``user``; a ``system``
  that is neither a string nor a list of text blocks; ``thinking.budget_tokens`` under
  1024 or not below ``max_tokens`` ("`max_tokens` must be greater than
  `thinking.budget_tokens`."). With a model allowlist, an unknown model → 404
  ``not_found_error`` "model: <name>".

Every response carries ``request-id: req_011C…`` (deterministic per server and request
number). Sources and what is assumed: see the ``tokenwire.testing`` docs.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from tokenwire.testing._base import Exchange, MockServer, ServerOptions, echo, estimate_request_tokens
from tokenwire.testing._ratelimit import Meter, RateLimits, rfc3339_after
from tokenwire.testing._server import RecordedRequest, Reply
from tokenwire.testing.faults import Overloaded, QuotaExceeded, RateLimit, ServerFault
from tokenwire.testing.synth import Protocol

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["AnthropicMockServer"]

DEFAULT_MODELS: dict[str, str] = {
    "claude-sonnet-4-5-20250929": "Claude Sonnet 4.5",
    "claude-opus-4-1-20250805": "Claude Opus 4.1",
    "claude-haiku-4-5-20251001": "Claude Haiku 4.5",
    "claude-sonnet-4-20250514": "Claude Sonnet 4",
    "claude-3-7-sonnet-20250219": "Claude Sonnet 3.7",
    "claude-3-5-haiku-20241022": "Claude Haiku 3.5",
}

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_ORGANIZATION = "6d0c5f5e-0000-4000-8000-746f6b656e77"
_CREDIT = (
    "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or "
    "purchase credits."
)
_UNITS = {
    "requests": "requests",
    "tokens": "tokens",
    "input_tokens": "input tokens",
    "output_tokens": "output tokens",
}


class _Invalid(Exception):
    def __init__(self, message: str, *, status: int = 400, type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.type = status, message, type


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class AnthropicMockServer(MockServer):
    """A loopback Anthropic API. ``with AnthropicMockServer(api_key="sk-ant-test") as server:``
    then point a client at ``server.base_url`` (``http://127.0.0.1:PORT``).

    ``models`` is an allowlist (and what ``/v1/models`` lists; a default list when
    ``None``, and any model is accepted). ``rate_limits`` meters requests and adds the
    ``anthropic-ratelimit-*`` headers to every generation response.
    """

    provider = "anthropic"

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        organization_id: str = _ORGANIZATION,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(api_key=api_key, **options)
        self.organization_id = organization_id

    # -- plumbing -----------------------------------------------------------

    def _request_id(self, number: int) -> str:
        digest = hashlib.sha256(f"{self._seed}|anthropic|{number}".encode()).digest()
        return "req_011C" + "".join(_BASE58[b % len(_BASE58)] for b in digest[:20])

    def _success_headers(self, ex: Exchange, content_type: str) -> list[tuple[str, str]]:
        return [
            ("content-type", content_type),
            ("request-id", ex.request_id),
            ("anthropic-organization-id", self.organization_id),
        ]

    def _error(
        self, ex: Exchange, status: int, type: str, message: str, *, headers: Sequence[tuple[str, str]] = ()
    ) -> Reply:
        payload = {"type": "error", "error": {"type": type, "message": message}, "request_id": ex.request_id}
        body = json.dumps(payload, separators=(",", ":")).encode()
        return Reply(status, [*self._success_headers(ex, "application/json"), *headers], [body])

    def _limit_headers(self, meters: Mapping[str, Meter]) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        for kind in ("requests", "tokens", "input_tokens", "output_tokens"):
            meter = meters[kind]
            name = "anthropic-ratelimit-" + kind.replace("_", "-")
            headers += [
                (f"{name}-limit", str(meter.limit)),
                (f"{name}-remaining", str(meter.remaining)),
                (f"{name}-reset", rfc3339_after(meter.reset)),
            ]
        return headers

    # -- routing ------------------------------------------------------------

    def _route(self, request: RecordedRequest, ex: Exchange) -> Reply:
        path = request.path.rstrip("/") or "/"
        routes = {"/v1/messages": "POST", "/v1/messages/count_tokens": "POST", "/v1/models": "GET"}
        expected = routes.get(path, "GET" if path.startswith("/v1/models/") else None)
        if expected is None:
            return self._error(ex, 404, "not_found_error", "Not Found")
        if request.method != expected:
            return self._error(ex, 405, "invalid_request_error", "Method Not Allowed")
        try:
            self._authenticate(request)
            if not request.headers.get("anthropic-version"):
                raise _Invalid("anthropic-version: header is required")
            if expected == "GET":
                return self._models(ex, path)
            document = self._parse(request)
            if path == "/v1/messages/count_tokens":
                self._check_model(document)
                self._check_messages(document)
                self._check_system(document)
                body = json.dumps({"input_tokens": estimate_request_tokens(document)}).encode()
                return Reply(200, self._success_headers(ex, "application/json"), [body])
            return self._messages(request, ex, document)
        except _Invalid as error:
            return self._error(ex, error.status, error.type, error.message)

    def _authenticate(self, request: RecordedRequest) -> None:
        key = request.headers.get("x-api-key")
        scheme, _, token = (request.headers.get("authorization") or "").strip().partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        if not key and not token:
            raise _Invalid("x-api-key header is required", status=401, type="authentication_error")
        if self.api_key is None:
            return
        if key:
            if key != self.api_key:
                raise _Invalid("invalid x-api-key", status=401, type="authentication_error")
        elif token != self.api_key:
            raise _Invalid("Invalid bearer token", status=401, type="authentication_error")

    @staticmethod
    def _parse(request: RecordedRequest) -> dict[str, Any]:
        try:
            document = json.loads(request.body)
        except ValueError as exc:
            raise _Invalid(f"The request body is not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise _Invalid("The request body is not valid JSON: expected a JSON object")
        return document  # pyright: ignore[reportUnknownVariableType]

    def _check_model(self, document: Mapping[str, Any]) -> str:
        model = document.get("model")
        if model is None:
            raise _Invalid("model: Field required")
        if not isinstance(model, str):
            raise _Invalid("model: Input should be a valid string")
        if self.models is not None and model not in self.models:
            raise _Invalid(f"model: {model}", status=404, type="not_found_error")
        return model

    @staticmethod
    def _check_max_tokens(document: Mapping[str, Any]) -> int:
        value = document.get("max_tokens")
        if value is None:
            raise _Invalid("max_tokens: Field required")
        if not _is_int(value):
            raise _Invalid("max_tokens: Input should be a valid integer")
        if value < 1:
            raise _Invalid("max_tokens: Input should be greater than or equal to 1")
        return int(value)

    @staticmethod
    def _check_messages(document: Mapping[str, Any]) -> None:
        messages = document.get("messages")
        if messages is None:
            raise _Invalid("messages: Field required")
        if not isinstance(messages, list):
            raise _Invalid("messages: Input should be a valid list")
        if not messages:
            raise _Invalid("messages: at least one message is required")
        for index, message in enumerate(messages):  # pyright: ignore[reportUnknownVariableType]
            if not isinstance(message, dict):
                raise _Invalid(f"messages.{index}: Input should be a valid dictionary")
            role = message.get("role")
            if role is None:
                raise _Invalid(f"messages.{index}.role: Field required")
            if role not in ("user", "assistant"):
                raise _Invalid(f"messages.{index}.role: Input should be 'user' or 'assistant'")
            if "content" not in message:
                raise _Invalid(f"messages.{index}.content: Field required")
        if messages[0].get("role") != "user":
            raise _Invalid('messages: first message must use the "user" role')

    @staticmethod
    def _check_system(document: Mapping[str, Any]) -> None:
        system = document.get("system")
        if system is None or isinstance(system, str):
            return
        if not isinstance(system, list):
            raise _Invalid("system: Input should be a valid list")
        for index, block in enumerate(system):  # pyright: ignore[reportUnknownVariableType]
            if not isinstance(block, dict):
                raise _Invalid(f"system.{index}: Input should be a valid dictionary")
            if block.get("type") != "text":
                raise _Invalid(f"system.{index}.type: Input should be 'text'")
            if not isinstance(block.get("text"), str):
                raise _Invalid(f"system.{index}.text: Input should be a valid string")

    @staticmethod
    def _check_thinking(document: Mapping[str, Any], max_tokens: int) -> None:
        thinking = document.get("thinking")
        if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
            return
        budget = thinking.get("budget_tokens")
        if budget is None:
            raise _Invalid("thinking.enabled.budget_tokens: Field required")
        if not _is_int(budget):
            raise _Invalid("thinking.enabled.budget_tokens: Input should be a valid integer")
        if budget < 1024:
            raise _Invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if budget >= max_tokens:
            raise _Invalid("`max_tokens` must be greater than `thinking.budget_tokens`.")

    # -- endpoints ----------------------------------------------------------

    def _messages(self, request: RecordedRequest, ex: Exchange, document: dict[str, Any]) -> Reply:
        model = self._check_model(document)
        max_tokens = self._check_max_tokens(document)
        self._check_messages(document)
        self._check_system(document)
        self._check_thinking(document, max_tokens)
        return self._generate(
            request,
            ex,
            document,
            protocol="anthropic",
            stream=document.get("stream") is True,
            model=model,
            max_output=max_tokens,
            limit_exceeded=self._limit_reply(ex),
        )

    def _models(self, ex: Exchange, path: str) -> Reply:
        names: Sequence[str] = self.models if self.models is not None else tuple(DEFAULT_MODELS)

        def entry(name: str) -> dict[str, Any]:
            return {
                "type": "model",
                "id": name,
                "display_name": DEFAULT_MODELS.get(name, name),
                "created_at": "2025-09-29T00:00:00Z",
            }

        if path == "/v1/models":
            document: dict[str, Any] = {
                "data": [entry(name) for name in names],
                "has_more": False,
                "first_id": names[0] if names else None,
                "last_id": names[-1] if names else None,
            }
        else:
            name = path[len("/v1/models/") :]
            if self.models is not None and name not in self.models:
                raise _Invalid(f"model: {name}", status=404, type="not_found_error")
            document = entry(name)
        body = json.dumps(document, separators=(",", ":")).encode()
        return Reply(200, self._success_headers(ex, "application/json"), [body])

    # -- faults ---------------------------------------------------------------

    def _fault_reply(
        self, fault: Union[RateLimit, QuotaExceeded, ServerFault, Overloaded], request: RecordedRequest, ex: Exchange
    ) -> Reply:
        if isinstance(fault, RateLimit):
            return self._rate_limited(ex, fault)
        if isinstance(fault, QuotaExceeded):
            return self._error(ex, 400, "invalid_request_error", _CREDIT)
        if isinstance(fault, Overloaded):
            return self._error(ex, 529, "overloaded_error", "Overloaded")
        return self._error(ex, fault.status, "api_error", fault.message or "Internal server error")

    def _rate_limited(self, ex: Exchange, fault: RateLimit) -> Reply:
        wait = fault.retry_after if fault.retry_after is not None else 1.0
        used = fault.used if fault.used is not None else fault.limit
        message = (
            f"This request would exceed the rate limit for your organization ({self.organization_id}) of "
            f"{fault.limit:,} {_UNITS[fault.kind]} per minute. For details, refer to: "
            "https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. "
            "Please reduce the prompt length or the maximum tokens requested, or try again later. You may also "
            "contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit "
            "increase."
        )
        meters = dict(self._limits.peek()) if self._limits is not None else _default_meters(self.rate_limits)
        meters[fault.kind] = Meter(fault.limit, max(0, fault.limit - used), wait)
        headers = self._limit_headers(meters)
        if fault.retry_after is not None:
            headers.append(("retry-after", str(math.ceil(fault.retry_after))))
        return self._error(ex, 429, "rate_limit_error", message, headers=headers)

    def _limit_reply(self, ex: Exchange) -> Callable[[str, float, Meter, int], Reply]:
        def reply(kind: str, wait: float, meter: Meter, requested: int) -> Reply:
            fault = RateLimit(
                retry_after=wait,
                kind="requests" if kind not in _UNITS else kind,  # type: ignore[arg-type]
                limit=meter.limit,
                used=meter.limit - meter.remaining,
                requested=requested,
            )
            return self._rate_limited(ex, fault)

        return reply

    def _stream_error(
        self, error_type: Optional[str], message: Optional[str], ex: Exchange, sequence: int
    ) -> list[bytes]:
        payload = {
            "type": "error",
            "error": {"type": error_type or "overloaded_error", "message": message or "Overloaded"},
        }
        return [f"event: error\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()]

    def _echo_text(self, document: dict[str, Any], protocol: Protocol) -> str:
        for message in reversed(document.get("messages") or []):
            if not isinstance(message, dict) or message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                return echo(content)
            blocks = [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []
            results = [block for block in blocks if block.get("type") == "tool_result"]
            if results:
                return f"The tool returned: {_block_text(results[-1].get('content'))}"
            return echo(" ".join(str(b.get("text")) for b in blocks if b.get("type") == "text"))
        return echo("")


def _block_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(block.get("text"))
            for block in content  # pyright: ignore[reportUnknownVariableType]
            if isinstance(block, dict) and block.get("type") == "text"
        )
    return "" if content is None else json.dumps(content)


def _default_meters(limits: Optional[RateLimits]) -> dict[str, Meter]:
    limits = limits or RateLimits()
    return {
        "requests": Meter(limits.requests, limits.requests, 0.0),
        "tokens": Meter(limits.tokens, limits.tokens, 0.0),
        "input_tokens": Meter(limits.input_tokens or limits.tokens, limits.input_tokens or limits.tokens, 0.0),
        "output_tokens": Meter(limits.output_tokens or limits.tokens, limits.output_tokens or limits.tokens, 0.0),
    }

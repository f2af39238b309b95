"""The exception tree of tokenwire.

Every error tokenwire raises derives from :class:`TokenwireError`. Errors that come
from a provider (an HTTP error response or an error reported inside a stream) are
:class:`ProviderError` subclasses chosen by status code or by the provider's error
type, and carry ``provider``, ``model``, ``status``, ``request_id``, ``error_type``
and ``code`` where they are known. The provider's own message is kept verbatim in
``message``.

No error ever carries an API key: errors are built from response data only, and
:func:`redact` is applied to any text that may echo request data.

The native core raises these same classes (the Rust binding imports this module), so
``except tokenwire.errors.RateLimitError`` works on both backends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CircuitOpenError",
    "ConfigurationError",
    "ConflictError",
    "JSONStreamError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "ProviderError",
    "RateLimitError",
    "ServerError",
    "StreamDecodeError",
    "TokenwireError",
    "UnprocessableEntityError",
    "error_class_for_status",
    "error_class_for_type",
    "stream_error",
]


class TokenwireError(Exception):
    """Root of every exception tokenwire raises."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigurationError(TokenwireError):
    """A missing or invalid setting (no API key, unknown provider, bad option)."""


class StreamDecodeError(TokenwireError):
    """Malformed stream framing: truncated frames, bad CRCs, oversized events.

    ``offset`` is the absolute byte offset in the stream where it was detected.
    """

    def __init__(self, message: str = "", offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset

    def __reduce__(self) -> Any:
        return (type(self), (self.message, self.offset))


class JSONStreamError(TokenwireError, ValueError):
    """Invalid JSON (or nesting deeper than the limit) fed to ``JsonStreamParser``.

    ``offset`` counts the characters fed before the offending one.
    """

    def __init__(self, message: str = "", offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset

    def __reduce__(self) -> Any:
        return (type(self), (self.message, self.offset))


class ProviderError(TokenwireError):
    """An error reported by a provider, over HTTP or inside a stream."""

    def __init__(
        self,
        message: str = "",
        *,
        provider: Optional[str] = None,
        model: Optional[str] = None,
        status: Optional[int] = None,
        request_id: Optional[str] = None,
        error_type: Optional[str] = None,
        code: Optional[str] = None,
        retry_after: Optional[float] = None,
        should_retry: Optional[bool] = None,
        body: Any = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status = status
        self.request_id = request_id
        self.error_type = error_type
        self.code = code
        #: Seconds the provider asked us to wait (``retry-after-ms`` / ``retry-after`` / ``retryDelay``).
        self.retry_after = retry_after
        #: The provider's explicit retry verdict (``x-should-retry``), if it gave one.
        self.should_retry = should_retry
        #: The parsed error body (JSON) or its text, for inspection.
        self.body = body
        #: The response headers (rate-limit state, request id, …); never request headers.
        self.headers: dict[str, str] = dict(headers or {})

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        parts = [f"{where}: {self.message}" if where else self.message]
        extra = []
        if self.status is not None:
            extra.append(f"status={self.status}")
        if self.error_type:
            extra.append(f"type={self.error_type}")
        if self.request_id:
            extra.append(f"request_id={self.request_id}")
        if extra:
            parts.append(f"({', '.join(extra)})")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, "
            f"model={self.model!r}, status={self.status!r}, request_id={self.request_id!r}, "
            f"error_type={self.error_type!r}, code={self.code!r})"
        )

    def __reduce__(self) -> Any:
        kwargs = {
            "provider": self.provider,
            "model": self.model,
            "status": self.status,
            "request_id": self.request_id,
            "error_type": self.error_type,
            "code": self.code,
            "retry_after": self.retry_after,
            "should_retry": self.should_retry,
            "body": self.body,
            "headers": self.headers,
        }
        return (_rebuild_provider_error, (type(self), self.message, kwargs))


def _rebuild_provider_error(cls: type[ProviderError], message: str, kwargs: dict[str, Any]) -> ProviderError:
    return cls(message, **kwargs)


class BadRequestError(ProviderError):
    """HTTP 400 (and 413): the request was malformed or too large."""


class AuthenticationError(ProviderError):
    """HTTP 401: the API key is missing, wrong or expired."""


class PermissionDeniedError(ProviderError):
    """HTTP 403: the key may not use this resource."""


class NotFoundError(ProviderError):
    """HTTP 404: unknown model or endpoint."""


class ConflictError(ProviderError):
    """HTTP 409."""


class UnprocessableEntityError(ProviderError):
    """HTTP 422."""


class RateLimitError(ProviderError):
    """HTTP 429 or a rate-limit error inside a stream."""


class OverloadedError(ProviderError):
    """The provider is overloaded (Anthropic 529 ``overloaded_error``, Gemini ``UNAVAILABLE``)."""


class ServerError(ProviderError):
    """HTTP 5xx or a server error inside a stream."""


class APIConnectionError(TokenwireError):
    """The connection failed or was cut (including mid-stream, after the tokens already delivered)."""


class APITimeoutError(APIConnectionError):
    """A connect, read, idle or total timeout expired."""


class CircuitOpenError(TokenwireError):
    """The circuit breaker for this provider/model is open; ``retry_at`` says when it will probe again."""

    def __init__(self, message: str = "", retry_at: Optional[float] = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


_STATUS_CLASSES: dict[int, type[ProviderError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: BadRequestError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    529: OverloadedError,
}

# Error type strings used by the providers, in streams and in error bodies:
# Anthropic (`overloaded_error`, …), OpenAI (`rate_limit_exceeded`, `server_error`, …)
# and Google RPC status names (`RESOURCE_EXHAUSTED`, …).
_TYPE_CLASSES: dict[str, type[ProviderError]] = {
    "invalid_request_error": BadRequestError,
    "request_too_large": BadRequestError,
    "authentication_error": AuthenticationError,
    "invalid_api_key": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "rate_limit_error": RateLimitError,
    "rate_limit_exceeded": RateLimitError,
    "insufficient_quota": RateLimitError,
    "tokens": RateLimitError,
    "requests": RateLimitError,
    "overloaded_error": OverloadedError,
    "api_error": ServerError,
    "server_error": ServerError,
    "internal_error": ServerError,
    "INVALID_ARGUMENT": BadRequestError,
    "FAILED_PRECONDITION": BadRequestError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": NotFoundError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "UNAVAILABLE": OverloadedError,
    "INTERNAL": ServerError,
    "DEADLINE_EXCEEDED": ServerError,
    # AWS Bedrock: HTTP errors name the shape (ThrottlingException); event-stream
    # exceptions name the union member (throttlingException). ModelTimeoutException is
    # the model taking too long server-side, not a client timeout: a ServerError.
    **{
        spelling: cls
        for name, cls in (
            ("ThrottlingException", RateLimitError),
            ("ServiceQuotaExceededException", RateLimitError),
            ("ValidationException", BadRequestError),
            ("AccessDeniedException", PermissionDeniedError),
            ("ResourceNotFoundException", NotFoundError),
            ("ServiceUnavailableException", OverloadedError),
            ("ModelNotReadyException", OverloadedError),
            ("InternalServerException", ServerError),
            ("ModelStreamErrorException", ServerError),
            ("ModelTimeoutException", ServerError),
            ("ModelErrorException", ServerError),
        )
        for spelling in (name, name[0].lower() + name[1:])
    },
}


def error_class_for_status(status: Optional[int]) -> type[ProviderError]:
    """The :class:`ProviderError` subclass for an HTTP status code."""
    if status is None:
        return ProviderError
    cls = _STATUS_CLASSES.get(status)
    if cls is not None:
        return cls
    if status >= 500:
        return ServerError
    return ProviderError


def error_class_for_type(error_type: Optional[str]) -> Optional[type[ProviderError]]:
    """The :class:`ProviderError` subclass for a provider error type string, if known."""
    if not error_type:
        return None
    return _TYPE_CLASSES.get(error_type)


def stream_error(
    message: str,
    error_type: Optional[str] = None,
    code: Optional[str] = None,
    status: Optional[int] = None,
) -> ProviderError:
    """Build the exception for an error reported inside a stream.

    The class comes from the error type when it is known, else from ``code`` (OpenAI
    puts ``rate_limit_exceeded`` there), else from the status. Both backends call this,
    so native and pure raise identical exceptions.
    """
    cls = error_class_for_type(error_type) or error_class_for_type(code)
    if cls is None:
        cls = error_class_for_status(status)
    return cls(message, status=status, error_type=error_type, code=code)

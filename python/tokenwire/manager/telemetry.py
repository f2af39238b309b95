"""OpenTelemetry spans for provider calls, after the GenAI semantic conventions.

One span per *attempt* (each is a separate call to one model, possibly of a different
provider than the attempt before it), kind ``CLIENT``, named ``"{operation} {model}"``
(``"chat gpt-4o-mini"``, ``"text_completion gpt-3.5-turbo-instruct"``), child of
whatever span is current when the request starts. A stream's span stays open until its
last token (or error).

Attributes: ``gen_ai.operation.name`` (``chat`` | ``text_completion``),
``gen_ai.provider.name`` and its older spelling ``gen_ai.system`` (the convention's
well-known values where one exists — ``openai``, ``anthropic``, ``gcp.gemini``,
``gcp.vertex_ai``, ``azure.ai.openai``, ``aws.bedrock`` — else the tokenwire provider
name), ``gen_ai.request.model``, ``gen_ai.request.max_tokens`` / ``temperature`` /
``top_p`` / ``stop_sequences`` when set, ``server.address`` / ``server.port``, and on
completion ``gen_ai.usage.input_tokens`` / ``output_tokens``,
``gen_ai.response.finish_reasons``; on failure ``error.type`` (the exception's class
name), the exception as a span event and an ``ERROR`` status. tokenwire's own:
``tokenwire.attempt`` (0 for the first attempt of a request), ``tokenwire.route``,
``tokenwire.request_id`` and ``tokenwire.time_to_first_token`` (seconds, streams).
Message contents are never recorded.

The ``opentelemetry-api`` package is optional (the ``otel`` extra). By default
(``tracer=None``) spans are made only while ``opentelemetry.trace`` is imported and a
tracer provider is set — as in a process that configures OpenTelemetry — so tokenwire
never imports it on its own, and an SDK that merely imports it (the anthropic SDK does)
costs nothing; ``tracer=True`` imports it eagerly (and fails without the extra),
``tracer=False`` turns tracing off, and a tracer object is used as given.
"""

from __future__ import annotations

import sys
from typing import Any, Optional, Union
from urllib.parse import urlsplit

from tokenwire.errors import ConfigurationError
from tokenwire.types import ChatRequest, CompletionRequest, Usage

__all__ = ["PROVIDER_NAMES", "Tracing", "provider_system_name"]

PROVIDER_NAMES: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "azure-openai": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "mistral": "mistral_ai",
    "groq": "groq",
    "xai": "x_ai",
    "deepseek": "deepseek",
    "perplexity": "perplexity",
    "cohere": "cohere",
    "watsonx": "ibm.watsonx.ai",
}
"""tokenwire provider names → ``gen_ai.provider.name`` well-known values."""

_INSTRUMENTATION = "tokenwire"


def provider_system_name(provider: str) -> str:
    """The ``gen_ai.provider.name`` value for a tokenwire provider name."""
    return PROVIDER_NAMES.get(provider, provider)


def server_of(base_url: str) -> tuple[Optional[str], Optional[int]]:
    """``(host, port)`` of a base URL (port defaulted from the scheme)."""
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError:
        return None, None
    if port is None:
        port = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.hostname, port


class Tracing:
    """Makes the spans (see the module docstring). ``tracer``: ``None`` (automatic),
    ``True`` (require OpenTelemetry), ``False`` (off) or an OpenTelemetry ``Tracer``."""

    __slots__ = ("_mode", "_trace", "_tracer")

    def __init__(self, tracer: Union[bool, Any, None] = None) -> None:
        self._tracer: Any = None
        self._trace: Any = None
        self._mode = "auto"
        if tracer is False:
            self._mode = "off"
        elif tracer is True:
            self._mode = "on"
            self._trace = _import_trace()
            self._tracer = self._trace.get_tracer(_INSTRUMENTATION, _version())
        elif tracer is not None:
            self._mode = "given"
            self._trace = _import_trace()
            self._tracer = tracer

    def __repr__(self) -> str:
        return f"<Tracing {self._mode}>"

    @property
    def enabled(self) -> bool:
        """Whether spans are being made (automatic mode: once OpenTelemetry is imported)."""
        return self._get() is not None

    def _get(self) -> Any:
        mode = self._mode
        if mode != "auto":
            return self._tracer
        trace = self._trace
        if trace is None:
            trace = sys.modules.get("opentelemetry.trace")
            if trace is None:
                return None
            self._trace = trace
            # A ProxyTracer: it follows the global provider even if that is set later.
            self._tracer = trace.get_tracer(_INSTRUMENTATION, _version())
        # Imported is not configured (some SDKs import OpenTelemetry themselves): until
        # the application sets a tracer provider, every span would be a no-op.
        if isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
            return None
        return self._tracer

    def start(
        self,
        operation: str,
        provider: str,
        model: str,
        request: Union[ChatRequest, CompletionRequest],
        *,
        base_url: Optional[str] = None,
        attempt: int = 0,
        route: Optional[str] = None,
    ) -> Any:
        """Start an attempt's span (not made current), or ``None`` when tracing is off."""
        tracer = self._get()
        if tracer is None:
            return None
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider_system_name(provider),
            "gen_ai.system": provider_system_name(provider),
            "gen_ai.request.model": model,
            "tokenwire.attempt": attempt,
        }
        if request.max_tokens is not None:
            attributes["gen_ai.request.max_tokens"] = request.max_tokens
        if request.temperature is not None:
            attributes["gen_ai.request.temperature"] = request.temperature
        if request.top_p is not None:
            attributes["gen_ai.request.top_p"] = request.top_p
        if request.stop:
            attributes["gen_ai.request.stop_sequences"] = list(request.stop)
        if route is not None:
            attributes["tokenwire.route"] = route
        if base_url:
            host, port = server_of(base_url)
            if host:
                attributes["server.address"] = host
            if port is not None:
                attributes["server.port"] = port
        return tracer.start_span(f"{operation} {model}", kind=self._trace.SpanKind.CLIENT, attributes=attributes)

    def use(self, span: Any) -> Any:
        """A context manager making ``span`` current (so HTTP instrumentation nests under
        it) without ending it on exit."""
        return self._trace.use_span(span, end_on_exit=False)

    @staticmethod
    def succeed(
        span: Any,
        *,
        usage: Optional[Usage] = None,
        finish_reason: Optional[str] = None,
        request_id: Optional[str] = None,
        ttft: Optional[float] = None,
    ) -> None:
        """Record the outcome of a successful attempt and end its span."""
        if span is None:
            return
        if usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
        if finish_reason:
            span.set_attribute("gen_ai.response.finish_reasons", [finish_reason])
        if request_id:
            span.set_attribute("tokenwire.request_id", request_id)
        if ttft is not None:
            span.set_attribute("tokenwire.time_to_first_token", ttft)
        span.end()

    def fail(self, span: Any, error: BaseException, *, usage: Optional[Usage] = None) -> None:
        """Record a failed attempt (``error.type``, the exception, ERROR status) and end it."""
        if span is None:
            return
        span.set_attribute("error.type", type(error).__name__)
        if usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
        request_id = getattr(error, "request_id", None)
        if isinstance(request_id, str) and request_id:
            span.set_attribute("tokenwire.request_id", request_id)
        span.record_exception(error)
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, str(error)[:200]))
        span.end()

    @staticmethod
    def abandon(span: Any) -> None:
        """End the span of an attempt its caller abandoned (cancellation)."""
        if span is None:
            return
        span.set_attribute("error.type", "cancelled")
        span.end()


def _import_trace() -> Any:
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise ConfigurationError("tracing needs opentelemetry-api: pip install 'tokenwire[otel]'") from exc
    return trace


def _version() -> str:
    from tokenwire import __version__

    return __version__

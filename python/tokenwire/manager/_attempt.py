"""One logical call (:class:`Call`) and one attempt's bookkeeping (:class:`Lease`).

A lease is what an attempt holds while it runs: the limiter permit, the breaker
permit and the span. It is finished exactly once — :meth:`Lease.succeed`,
:meth:`Lease.fail` or :meth:`Lease.abandon` — which reports the outcome to the
breaker, the limiter, the latency tracker, the metrics and the span together.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional, TypeVar, Union

from tokenwire.errors import ProviderError, RateLimitError
from tokenwire.manager.routing import DEFAULT_OUTPUT_ESTIMATE, Route, Target
from tokenwire.resilience.breaker import BreakerPermit
from tokenwire.resilience.limiter import AdaptiveRateLimiter, Permit
from tokenwire.types import ChatRequest, CompletionRequest, Usage

if TYPE_CHECKING:
    from tokenwire.manager.manager import ProviderManager

__all__ = ["Attempt", "ManagerEvent"]

Operation = Literal["chat", "text_completion"]
AnyRequest = Union[ChatRequest, CompletionRequest]


@dataclass(frozen=True)
class Attempt:
    """One try of a request on one target.

    ``error`` is ``None`` for the attempt that succeeded; ``retry`` tells whether it
    came after a backoff (a new round of the retry policy) rather than first or as a
    failover; ``started_at`` is clock time and ``duration`` seconds until the outcome
    was known (for a stream: until its first token, or its error).
    """

    target: Target
    error: Optional[BaseException]
    started_at: float
    duration: float
    retry: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


EventKind = Literal["retry", "failover", "rate_limited", "breaker", "health"]


@dataclass(frozen=True)
class ManagerEvent:
    """Something the manager did or saw, for listeners (logs, dashboards, the demo).

    - ``"failover"``: ``target`` failed with ``error``; the request moves to ``next_target``;
    - ``"retry"``: every target of the round failed (``error``: a retryable one); a new
      round starts after ``delay`` s (``target``: the first target of the round that failed);
    - ``"rate_limited"``: ``target`` answered 429 (``error``); its limiter paused;
    - ``"breaker"``: ``target``'s breaker went from ``previous`` to ``state``;
    - ``"health"``: provider ``target`` became ``state`` (``"healthy"``/``"unhealthy"``).

    ``at`` is the manager's clock time.
    """

    kind: EventKind
    target: str
    at: float
    error: Optional[BaseException] = None
    next_target: Optional[str] = None
    delay: Optional[float] = None
    state: Optional[str] = None
    previous: Optional[str] = None


class Call:
    """One logical request: its address, the request and its token estimates."""

    __slots__ = ("_for_target", "_input_estimate", "address", "operation", "request", "route", "target")

    def __init__(
        self,
        address: str,
        operation: Operation,
        request: AnyRequest,
        route: Optional[Route],
        target: Optional[Target],
    ) -> None:
        self.address = address
        self.operation: Operation = operation
        self.request: AnyRequest = request
        self.route = route
        self.target = target
        self._input_estimate: Optional[int] = None
        self._for_target: Optional[tuple[Target, AnyRequest]] = None

    def request_for(self, target: Target) -> Any:
        """The request as ``target``'s provider gets it: ``model`` is the target's model
        (built once per target: retries reuse it)."""
        request = self.request
        if request.model == target.model:
            return request
        cached = self._for_target
        if cached is not None and cached[0] == target:
            return cached[1]
        rebuilt = with_model(request, target.model)
        self._for_target = (target, rebuilt)
        return rebuilt

    def input_estimate(self) -> int:
        """Roo-Code's local estimate of the prompt's tokens (computed once)."""
        if self._input_estimate is None:
            from tokenwire.tokens import estimate_input_tokens

            request = self.request
            chat = request if isinstance(request, ChatRequest) else request.as_chat()
            self._input_estimate = estimate_input_tokens(chat)
        return self._input_estimate

    def output_estimate(self) -> int:
        max_tokens = self.request.max_tokens
        return max_tokens if max_tokens is not None else 0

    def token_estimate(self) -> int:
        """What the limiter charges up front: prompt estimate + ``max_tokens``."""
        return self.input_estimate() + self.output_estimate()

    def cost_estimate(self, prices: tuple[float, float]) -> float:
        """This request's estimated cost (USD) at ``(input, output)`` per-million prices."""
        max_tokens = self.request.max_tokens
        output = max_tokens if max_tokens is not None else DEFAULT_OUTPUT_ESTIMATE
        return (prices[0] * self.input_estimate() + prices[1] * output) / 1e6


_R = TypeVar("_R", bound=AnyRequest)

# type -> (request, model) -> copy of request with that model; see with_model.
_REBUILDERS: dict[type, Callable[[Any, str], Any]] = {}


def _rebuilder(cls: type) -> Callable[[Any, str], Any]:
    fields = dataclasses.fields(cls)
    every = getattr(cls, "__dataclass_fields__", {})
    if fields[0].name != "model" or len(every) != len(fields) or not all(f.init for f in fields):
        # Not the shape the positional rebuild assumes (a user subclass, say).
        return lambda request, model: dataclasses.replace(request, model=model)
    others = operator.attrgetter(*(f.name for f in fields[1:]))
    return lambda request, model: cls(model, *others(request))


def with_model(request: _R, model: str) -> _R:
    """``dataclasses.replace(request, model=model)`` at half the cost: this runs for
    every request addressed as ``provider/model``, and ``replace`` introspects the
    fields and rebuilds with keywords each time. The same ``__init__`` (and any
    ``__post_init__``) still runs."""
    cls = type(request)
    rebuild = _REBUILDERS.get(cls)
    if rebuild is None:
        rebuild = _REBUILDERS[cls] = _rebuilder(cls)
    rebuilt: _R = rebuild(request, model)
    return rebuilt


def meters_tokens(limiter: AdaptiveRateLimiter) -> bool:
    """Whether ``limiter`` currently limits tokens (only then is a token estimate
    worth computing: the BPE count of a long prompt is not free)."""
    return limiter._tokens.bucket is not None


def usage_total(usage: Usage) -> int:
    return usage.input_tokens + usage.output_tokens


class Lease:
    """What one attempt holds (see the module docstring)."""

    __slots__ = (
        "_done",
        "breaker_permit",
        "call",
        "first_token_at",
        "index",
        "limiter",
        "manager",
        "permit",
        "span",
        "started_at",
        "target",
    )

    def __init__(
        self,
        manager: ProviderManager,
        call: Call,
        target: Target,
        limiter: AdaptiveRateLimiter,
        permit: Permit,
        breaker_permit: BreakerPermit,
        span: Any,
        started_at: float,
        index: int,
    ) -> None:
        self.manager = manager
        self.call = call
        self.target = target
        self.limiter = limiter
        self.permit = permit
        self.breaker_permit = breaker_permit
        self.span = span
        self.started_at = started_at
        self.index = index
        self.first_token_at: Optional[float] = None
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    @property
    def ttft(self) -> Optional[float]:
        """Seconds from sending to the first token (streams, once it arrived)."""
        return None if self.first_token_at is None else self.first_token_at - self.started_at

    def observe_headers(self, headers: Optional[Mapping[str, str]]) -> None:
        """Let the limiter learn from a response's rate-limit headers."""
        if headers:
            self.permit.observe_headers(headers)

    def succeed(
        self,
        *,
        usage: Optional[Usage] = None,
        finish_reason: Optional[str] = None,
        request_id: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        if self._done:
            return
        self._done = True
        manager = self.manager
        target = self.target
        started_at = self.started_at
        duration = manager.clock.now() - started_at
        first_token_at = self.first_token_at
        ttft = None if first_token_at is None else first_token_at - started_at
        # A stream's duration mostly measures how much it generated: its TTFT is what
        # says whether the provider was slow to answer.
        answered = ttft if ttft is not None else duration
        self.breaker_permit.record_success(duration=answered)
        permit = self.permit
        if headers:
            permit.observe_headers(headers)
        if usage is not None and not permit.settled:
            permit.settle(usage_total(usage))
        self.limiter.record_success()
        manager.latency.observe(target.key, answered)
        manager.metrics.record_success(
            target.provider,
            target.model,
            latency=duration,
            ttft=ttft,
            usage=usage,
            cost=manager.cost_of(target, usage),
        )
        span = self.span
        if span is not None:  # no tracing: nothing to end
            manager.tracing.succeed(span, usage=usage, finish_reason=finish_reason, request_id=request_id, ttft=ttft)

    def fail(self, error: BaseException, *, usage: Optional[Usage] = None) -> None:
        if self._done:
            return
        self._done = True
        manager = self.manager
        target = self.target
        now = manager.clock.now()
        duration = now - self.started_at
        ttft = self.ttft
        self.breaker_permit.record_failure(error, duration=ttft if ttft is not None else duration)
        permit = self.permit
        if not permit.settled:
            # Tokens the provider did not report using are given back.
            permit.settle(usage_total(usage) if usage is not None else 0)
        if isinstance(error, RateLimitError) or (isinstance(error, ProviderError) and error.status == 429):
            self.limiter.record_rate_limited(error)
            manager.emit("rate_limited", target.key, error=error)
        elif isinstance(error, ProviderError) and error.headers:
            permit.observe_headers(error.headers)
        manager.metrics.record_error(
            target.provider,
            target.model,
            error,
            latency=duration,
            usage=usage,
            cost=manager.cost_of(target, usage),
        )
        manager.tracing.fail(self.span, error, usage=usage)

    def abandon(self) -> None:
        """The caller went away (cancellation) before an outcome was known."""
        if self._done:
            return
        self._done = True
        self.breaker_permit.release()
        self.permit.cancel()
        self.manager.metrics.record_cancelled(self.target.provider, self.target.model)
        self.manager.tracing.abandon(self.span)

"""The exception tree of ``tokenwire.errors``: hierarchy, stream error mapping, text, pickling."""

from __future__ import annotations

import builtins
import pickle
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tokenwire
from tokenwire import errors
from tokenwire.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CircuitOpenError,
    ConfigurationError,
    ConflictError,
    JSONStreamError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ServerError,
    StreamDecodeError,
    TokenwireError,
    UnprocessableEntityError,
    error_class_for_status,
    error_class_for_type,
    stream_error,
)

PROVIDER_SUBCLASSES = [
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
]


# ---------------------------------------------------------------------------
# The tree
# ---------------------------------------------------------------------------


def test_module_is_exposed_and_all_is_complete() -> None:
    assert tokenwire.errors is errors
    assert sorted(errors.__all__, key=lambda n: (not n[:1].isupper(), n)) == errors.__all__
    for name in errors.__all__:
        assert hasattr(errors, name), name
    public_classes = {
        name for name, value in vars(errors).items() if isinstance(value, type) and issubclass(value, BaseException)
    }
    assert public_classes <= set(errors.__all__)


def test_everything_derives_from_tokenwire_error() -> None:
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type):
            assert issubclass(value, TokenwireError), name
    assert issubclass(TokenwireError, Exception)


@pytest.mark.parametrize("cls", PROVIDER_SUBCLASSES)
def test_provider_families(cls: type[ProviderError]) -> None:
    assert issubclass(cls, ProviderError)
    assert cls.__bases__ == (ProviderError,)


def test_other_branches() -> None:
    assert APITimeoutError.__mro__[1:3] == (APIConnectionError, TokenwireError)
    assert not issubclass(APIConnectionError, ProviderError)
    # JSONStreamError is also a ValueError: it is raised for bad input to a parser.
    assert issubclass(JSONStreamError, ValueError)
    assert issubclass(JSONStreamError, TokenwireError)
    for cls in (StreamDecodeError, CircuitOpenError, ConfigurationError):
        assert cls.__bases__ == (TokenwireError,)
    assert not issubclass(StreamDecodeError, ValueError)


def test_names_do_not_shadow_builtins() -> None:
    for name in errors.__all__:
        assert not hasattr(builtins, name), name


# ---------------------------------------------------------------------------
# Mapping
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error_type", "code", "status", "expected"),
    [
        ("overloaded_error", None, None, OverloadedError),
        ("overloaded_error", None, 529, OverloadedError),
        (None, "rate_limit_exceeded", None, RateLimitError),
        ("tokens", "rate_limit_exceeded", 429, RateLimitError),
        ("mystery", "rate_limit_exceeded", None, RateLimitError),
        ("RESOURCE_EXHAUSTED", None, 429, RateLimitError),
        ("UNAVAILABLE", None, 503, OverloadedError),
        ("INVALID_ARGUMENT", None, 400, BadRequestError),
        ("authentication_error", None, None, AuthenticationError),
        ("permission_error", None, None, PermissionDeniedError),
        ("not_found_error", None, None, NotFoundError),
        ("api_error", None, None, ServerError),
        ("server_error", None, None, ServerError),
        ("invalid_request_error", None, 500, BadRequestError),  # the type wins over the status
        ("mystery", None, 503, ServerError),
        ("mystery", "E42", 429, RateLimitError),
        (None, None, 404, NotFoundError),
        ("mystery", "E42", None, ProviderError),
        (None, None, None, ProviderError),
        ("", "", 418, ProviderError),
    ],
)
def test_stream_error_mapping(
    error_type: Optional[str], code: Optional[str], status: Optional[int], expected: type[ProviderError]
) -> None:
    err = stream_error("the provider's words", error_type, code, status)
    assert type(err) is expected
    assert err.message == "the provider's words"
    assert (err.error_type, err.code, err.status) == (error_type, code, status)
    assert (err.provider, err.model, err.request_id) == (None, None, None)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, ProviderError),
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, BadRequestError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (418, ProviderError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (529, OverloadedError),
        (599, ServerError),
    ],
)
def test_error_class_for_status(status: Optional[int], expected: type[ProviderError]) -> None:
    assert error_class_for_status(status) is expected


def test_error_class_for_type_unknown_is_none() -> None:
    assert error_class_for_type(None) is None
    assert error_class_for_type("") is None
    assert error_class_for_type("no_such_type") is None
    assert error_class_for_type("Overloaded_Error") is None  # exact match only
    assert error_class_for_type("rate_limit_error") is RateLimitError


# ---------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------


def test_provider_error_str_and_repr() -> None:
    err = RateLimitError(
        "Slow down",
        provider="openai",
        model="gpt-4o",
        status=429,
        request_id="req_1",
        error_type="rate_limit_error",
        code="rate_limit_exceeded",
    )
    assert str(err) == "openai/gpt-4o: Slow down (status=429, type=rate_limit_error, request_id=req_1)"
    text = repr(err)
    assert text.startswith("RateLimitError('Slow down', ")
    for part in (
        "provider='openai'",
        "model='gpt-4o'",
        "status=429",
        "request_id='req_1'",
        "code='rate_limit_exceeded'",
    ):
        assert part in text


def test_provider_error_str_without_context_is_the_message() -> None:
    assert str(ProviderError("just this")) == "just this"
    assert str(ServerError("x", provider="p")) == "p: x"
    assert str(ServerError("x", model="m", status=500)) == "m: x (status=500)"


@given(st.text(max_size=80))
def test_str_contains_the_provider_message_verbatim(message: str) -> None:
    for err in (
        ProviderError(message),
        OverloadedError(message, provider="anthropic", model="claude", status=529, error_type="overloaded_error"),
        stream_error(message, "RESOURCE_EXHAUSTED", None, 429),
        StreamDecodeError(message, 12),
        JSONStreamError(message, 3),
        TokenwireError(message),
        APITimeoutError(message),
    ):
        assert message in str(err)
        assert err.message == message


def test_offset_errors() -> None:
    err = StreamDecodeError("bad frame", 1234)
    assert (err.message, err.offset, str(err)) == ("bad frame", 1234, "bad frame")
    j = JSONStreamError("unexpected '}'", 7)
    assert (j.offset, str(j)) == (7, "unexpected '}'")


def test_circuit_open_error() -> None:
    err = CircuitOpenError("open for openai/gpt-4o", retry_at=12.5)
    assert err.retry_at == 12.5
    assert str(err) == "open for openai/gpt-4o"
    assert CircuitOpenError().retry_at is None


# ---------------------------------------------------------------------------
# Pickling (errors cross process boundaries in worker pools)
# ---------------------------------------------------------------------------


def _attrs(err: BaseException) -> dict[str, Any]:
    return dict(vars(err))


PICKLE_SAMPLES: list[BaseException] = [
    TokenwireError("root"),
    ConfigurationError("no key"),
    StreamDecodeError("truncated", 99),
    JSONStreamError("bad", 5),
    APIConnectionError("reset by peer"),
    APITimeoutError("read timeout"),
    CircuitOpenError("open", retry_at=3.25),
    ProviderError(
        "generic",
        provider="p",
        model="m",
        status=418,
        request_id="r",
        error_type="t",
        code="c",
        retry_after=1.5,
        should_retry=False,
        body={"error": {"message": "generic"}},
    ),
    *(cls(f"{cls.__name__} message", provider="x", status=500, error_type="e") for cls in PROVIDER_SUBCLASSES),
    stream_error("in-stream", "overloaded_error", None, None),
]


@pytest.mark.parametrize("err", PICKLE_SAMPLES, ids=[type(e).__name__ for e in PICKLE_SAMPLES])
def test_pickle_round_trip(err: BaseException) -> None:
    for protocol in (0, pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL):
        clone = pickle.loads(pickle.dumps(err, protocol=protocol))
        assert type(clone) is type(err)
        assert str(clone) == str(err)
        assert repr(clone) == repr(err)
        assert _attrs(clone) == _attrs(err)


def test_every_exception_class_is_covered_by_the_pickle_samples() -> None:
    classes = {
        value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, TokenwireError)
    }
    assert classes <= {type(e) for e in PICKLE_SAMPLES}


def test_errors_can_be_raised_and_caught_by_family() -> None:
    with pytest.raises(ProviderError) as info:
        raise stream_error("busy", "overloaded_error")
    assert isinstance(info.value, OverloadedError)
    with pytest.raises(APIConnectionError):
        raise APITimeoutError("idle")
    with pytest.raises(ValueError):
        raise JSONStreamError("bad", 0)

"""The shortcuts on the manager's per-request path, and what import-time laziness keeps
out of memory: each must give exactly what the long way gave."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from typing import Any, Optional

import httpx
import pytest

from tokenwire.manager import ProviderManager, Target
from tokenwire.manager._attempt import Call, with_model
from tokenwire.resilience.headers import parse_rate_limit_headers
from tokenwire.types import ChatRequest, CompletionRequest, Message, Tool

WALL = 1_750_000_000.0


def _full_chat() -> ChatRequest:
    # Every field away from its default, so a dropped or shifted field shows.
    return ChatRequest(
        model="route-or-address",
        messages=(Message("user", "hi"),),
        system="be brief",
        max_tokens=7,
        temperature=0.5,
        top_p=0.9,
        stop=("END",),
        tools=(Tool("f", "does f"),),
        tool_choice="auto",
        response_format={"type": "json_object"},
        reasoning_effort="low",
        thinking_budget=2048,
        user="u-1",
        options={"o": 1},
        extra_headers={"x-h": "v"},
        extra_body={"b": True},
        timeout=12.0,
    )


def test_with_model_equals_dataclasses_replace() -> None:
    chat = _full_chat()
    assert with_model(chat, "gpt-4o") == dataclasses.replace(chat, model="gpt-4o")
    completion = CompletionRequest(
        model="a/b",
        prompt="p",
        max_tokens=3,
        temperature=0.1,
        top_p=0.2,
        stop=("x",),
        options={"o": 2},
        extra_headers={"h": "1"},
        extra_body={"k": [1]},
        timeout=3.0,
    )
    rebuilt = with_model(completion, "b")
    assert rebuilt == dataclasses.replace(completion, model="b")
    assert type(rebuilt) is CompletionRequest and completion.model == "a/b"


def _outcome(build: Any) -> Any:
    try:
        built = build()
    except Exception as error:  # the same failure either way is fine too
        return type(error), str(error)
    return type(built), dataclasses.asdict(built), getattr(built, "tag", None)


def test_with_model_falls_back_for_shapes_it_cannot_rebuild_positionally() -> None:
    @dataclass(frozen=True)
    class Tagged(ChatRequest):
        # An init=False field and an InitVar: a positional rebuild would misplace them.
        tag: str = field(default="t", init=False)
        seed: InitVar[Optional[int]] = None

        def __post_init__(self, seed: Optional[int]) -> None:
            object.__setattr__(self, "tag", f"seed={seed}")

    request = Tagged(model="p/m", messages=(Message("user", "x"),), max_tokens=5, seed=3)
    assert request.tag == "seed=3"
    assert _outcome(lambda: with_model(request, "m")) == _outcome(lambda: dataclasses.replace(request, model="m"))

    @dataclass(frozen=True)
    class Extended(ChatRequest):
        note: str = "n"

    extended = Extended(model="p/m", messages=(Message("user", "x"),), note="kept")
    assert with_model(extended, "m") == dataclasses.replace(extended, model="m")


def test_call_builds_the_target_request_once_per_target() -> None:
    request = ChatRequest(model="route:r", messages=(Message("user", "x"),), max_tokens=4)
    first, second = Target("p", "m1"), Target("q", "m2")
    call = Call("route:r", "chat", request, None, None)
    one = call.request_for(first)
    assert one.model == "m1" and one.max_tokens == 4
    assert call.request_for(Target("p", "m1")) is one  # a retry on the same target
    other = call.request_for(second)
    assert other.model == "m2"
    assert call.request_for(first) == one and call.request_for(first) is not other
    same = ChatRequest(model="m1", messages=request.messages)
    assert Call("p/m1", "chat", same, None, first).request_for(first) is same


def test_target_key_is_stable_and_targets_compare_by_value() -> None:
    target = Target("openrouter", "anthropic/claude-3.5-sonnet")
    assert target.key == "openrouter/anthropic/claude-3.5-sonnet" == str(target)
    assert target.key is target.key
    assert target == Target("openrouter", "anthropic/claude-3.5-sonnet")
    assert hash(target) == hash(Target("openrouter", "anthropic/claude-3.5-sonnet"))
    assert repr(target) == "Target(provider='openrouter', model='anthropic/claude-3.5-sonnet')"
    with pytest.raises(dataclasses.FrozenInstanceError):
        target.provider = "x"  # type: ignore[misc]


def test_resolution_of_provider_model_addresses_is_remembered_but_bare_names_follow_changes() -> None:
    manager = ProviderManager()
    route, target = manager._resolve("openai/gpt-4o-mini")
    assert route is None and target == Target("openai", "gpt-4o-mini")
    assert manager._resolve("openai/gpt-4o-mini")[1] is target
    # A default provider or a route changes what a bare name means, never "provider/model".
    manager.default_provider = "anthropic"
    assert manager._resolve("fast") == (None, Target("anthropic", "fast"))
    fast = manager.add_route("fast", ["openai/gpt-4o-mini", "groq/llama"])
    assert manager._resolve("fast") == (fast, None)
    assert manager._resolve("route:fast") == (fast, None)
    assert manager._resolve("openai/gpt-4o-mini")[1] is target
    manager.remove_route("fast")
    assert manager._resolve("fast") == (None, Target("anthropic", "fast"))
    manager.default_provider = None
    with pytest.raises(Exception, match="provider/model"):
        manager._resolve("fast")


def test_the_address_memory_is_bounded() -> None:
    from tokenwire.manager import manager as manager_module

    manager = ProviderManager()
    for i in range(manager_module._DIRECT_CACHE_SIZE + 10):
        assert manager._resolve(f"openai/m{i}")[1] == Target("openai", f"m{i}")
    assert len(manager._direct) <= manager_module._DIRECT_CACHE_SIZE


OPENAI_LIMITS = {
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-limit-tokens": "30000000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-remaining-tokens": "29999990",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-reset-tokens": "0s",
}
OTHER = {"content-type": "text/event-stream", "x-request-id": "req_1", "date": "Thu, 26 Nov 2026 08:00:32 GMT"}


@pytest.mark.parametrize("make", [dict, httpx.Headers], ids=["dict", "httpx"])
def test_header_parsing_reads_only_rate_limit_names(make: Any) -> None:
    info = parse_rate_limit_headers(make({**OTHER, **OPENAI_LIMITS, "Retry-After": "2"}), wall_now=WALL)
    assert info.requests is not None and info.requests.limit == 10000 and info.requests.remaining == 9999
    assert info.requests.reset_after == 0.006
    assert info.tokens is not None and info.tokens.remaining == 29999990 and info.tokens.reset_after == 0.0
    assert info.retry_after == 2.0
    assert dict(info.raw) == {**OPENAI_LIMITS, "retry-after": "2"}

    empty = parse_rate_limit_headers(make(OTHER), wall_now=WALL)
    assert empty.empty and empty.raw == {} and empty.windows == ()
    assert parse_rate_limit_headers(make({}), wall_now=WALL) is empty
    with pytest.raises(TypeError):
        empty.raw["x"] = "y"  # type: ignore[index]  # shared: it must not be writable


def test_repeated_rate_limit_headers_read_as_before() -> None:
    # httpx joins a repeated header with ", "; the first value is the one read.
    headers = httpx.Headers([("x-ratelimit-limit-requests", "50"), ("X-RateLimit-Limit-Requests", "70")])
    info = parse_rate_limit_headers(headers, wall_now=WALL)
    assert info.requests is not None and info.requests.limit == 50
    assert info.raw == {"x-ratelimit-limit-requests": "50, 70"}


class _Mapping(Mapping[str, str]):
    """A mapping whose iteration and lookups are its only interface."""

    def __init__(self, data: dict[str, str]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Any:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_header_parsing_accepts_any_mapping() -> None:
    info = parse_rate_limit_headers(_Mapping({**OTHER, "anthropic-ratelimit-requests-limit": "50"}), wall_now=WALL)
    assert info.requests is not None and info.requests.limit == 50


def _run(code: str) -> Any:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_built_in_providers_load_without_the_plugin_scan_or_subprocess() -> None:
    # What a plain client needs must not drag in importlib.metadata (the entry-point scan
    # of every installed distribution) or subprocess (only the claude CLI runs one).
    code = """
import json, sys
import httpx, anyio
before = set(sys.modules)
import tokenwire
from tokenwire.registry import ProviderRegistry, _BUILTINS
registry = ProviderRegistry.default()
assert "openai" in registry
for name in _BUILTINS:
    try:
        registry.create(name, api_key="sk-test-0000000000000000")
    except TypeError:  # the CLI-backed providers take no key
        registry.create(name)
loaded = set(sys.modules) - before
out = {"early": sorted(m for m in ("importlib.metadata", "subprocess") if m in loaded)}
names = registry.names()
out["names"] = len(names) >= len(_BUILTINS)
out["scanned"] = "importlib.metadata" in sys.modules
out["alias"] = "lite-llm" in registry  # (a plugin could have taken that name: after the scan)
print(json.dumps(out))
"""
    assert _run(code) == {"early": [], "names": True, "scanned": True, "alias": True}


def test_the_default_registry_reads_plugins_before_answering_about_unknown_names() -> None:
    code = """
import json, sys
from tokenwire.registry import ProviderRegistry
registry = ProviderRegistry.default()
out = {"unknown": "no-such-provider" in registry, "scanned": "importlib.metadata" in sys.modules}
print(json.dumps(out))
"""
    assert _run(code) == {"unknown": False, "scanned": True}

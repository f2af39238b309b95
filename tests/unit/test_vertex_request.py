"""Vertex AI request building, without network: endpoints per region, project/region
resolution, publisher routing, and Roo's Claude-on-Vertex parameters and cache
breakpoints (anthropic-vertex.ts, caching/vertex.ts, model-params.ts at 9bcd9918)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tokenwire.errors import ConfigurationError
from tokenwire.google import StaticTokenSource
from tokenwire.providers.vertex import (
    VERTEX_CLAUDE_MODELS,
    VertexProvider,
    mark_vertex_cache_breakpoints,
)
from tokenwire.registry import ProviderRegistry
from tokenwire.types import ChatRequest, ImagePart, Message, TextPart, ToolCall, coerce_messages

EPH = {"type": "ephemeral"}
TOKEN = "ya29.unit-test-token-0123456789"
ENV = (
    "GOOGLE_CLOUD_PROJECT",
    "ANTHROPIC_VERTEX_PROJECT_ID",
    "GOOGLE_CLOUD_LOCATION",
    "CLOUD_ML_REGION",
    "GOOGLE_VERTEX_BASE_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_ACCESS_TOKEN",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))


def provider(**options: Any) -> VertexProvider:
    options.setdefault("access_token", TOKEN)
    options.setdefault("project", "proj")
    return VertexProvider(**options)


def req(model: str, messages: Any = None, **fields: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=coerce_messages(messages or [{"role": "user", "content": "hi"}]), **fields)


def claude_body(request: ChatRequest, **options: Any) -> dict[str, Any]:
    return provider(**options).build_chat_call(request, stream=False).json  # type: ignore[no-any-return]


# -- endpoints -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "host"),
    [("us-central1", "https://us-central1-aiplatform.googleapis.com"), ("global", "https://aiplatform.googleapis.com")],
)
def test_endpoints_per_region(region: str, host: str) -> None:
    p = provider(region=region)
    gemini = p.build_chat_call(req("gemini-2.5-pro"), stream=True)
    prefix = f"{host}/v1/projects/proj/locations/{region}/publishers"
    assert (gemini.url, dict(gemini.params), gemini.dialect) == (
        f"{prefix}/google/models/gemini-2.5-pro:streamGenerateContent",
        {"alt": "sse"},
        "gemini",
    )
    assert gemini.headers == {"content-type": "application/json"}  # the bearer is added when sending
    claude = p.build_chat_call(req("claude-opus-4-1@20250805"), stream=True)
    assert (claude.url, dict(claude.params), claude.dialect) == (
        f"{prefix}/anthropic/models/claude-opus-4-1@20250805:streamRawPredict",
        {},
        "anthropic",
    )
    assert p.build_chat_call(req("claude-opus-4-1@20250805"), stream=False).url.endswith(":rawPredict")
    assert p.build_chat_call(req("gemini-2.5-pro"), stream=False).url.endswith(":generateContent")
    assert p.build_count_tokens_call(req("claude-3-haiku@20240307")).url == (
        f"{prefix}/anthropic/models/count-tokens:rawPredict"
    )
    assert p.build_count_tokens_call(req("gemini-2.5-pro")).url == f"{prefix}/google/models/gemini-2.5-pro:countTokens"


def test_project_and_region_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    p = VertexProvider(access_token=TOKEN)
    assert (p.project, p.region, p.base_url) == (None, "global", "https://aiplatform.googleapis.com")
    monkeypatch.setenv("ANTHROPIC_VERTEX_PROJECT_ID", "anthropic-proj")
    monkeypatch.setenv("CLOUD_ML_REGION", "us-east5")
    assert (p.project, p.region, p.base_url) == (
        "anthropic-proj",
        "us-east5",
        "https://us-east5-aiplatform.googleapis.com",
    )
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "google-proj")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "europe-west4")
    assert (p.project, p.region) == ("google-proj", "europe-west4")
    monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", "http://proxy.local/")
    assert p.base_url == "http://proxy.local"
    explicit = VertexProvider(access_token=TOKEN, project="p", region="asia-east1", base_url="http://x.local")
    assert (explicit.project, explicit.region, explicit.base_url) == ("p", "asia-east1", "http://x.local")


def test_missing_project() -> None:
    with pytest.raises(ConfigurationError, match="GOOGLE_CLOUD_PROJECT / ANTHROPIC_VERTEX_PROJECT_ID"):
        VertexProvider(access_token=TOKEN).build_chat_call(req("gemini-2.5-pro"), stream=True)


@pytest.mark.parametrize(
    ("model", "publisher", "url_model"),
    [
        ("claude-3-5-haiku@20241022", "anthropic", "claude-3-5-haiku@20241022"),
        ("anthropic/claude-3-5-haiku@20241022", "anthropic", "claude-3-5-haiku@20241022"),
        ("publishers/anthropic/models/claude-x", "anthropic", "claude-x"),
        ("gemini-2.5-flash", "google", "gemini-2.5-flash"),
        ("google/gemini-2.5-flash", "google", "gemini-2.5-flash"),
    ],
)
def test_publisher_routing(model: str, publisher: str, url_model: str) -> None:
    assert VertexProvider.publisher(model) == publisher
    call = provider().build_chat_call(req(model), stream=False)
    assert f"/publishers/{publisher}/models/{url_model}:" in call.url


@pytest.mark.parametrize("model", ["meta/llama-4-maverick-17b-128e-instruct-maas", "publishers/x/y", "/gemini"])
def test_unsupported_or_malformed_models(model: str) -> None:
    with pytest.raises(ConfigurationError):
        provider().build_chat_call(req(model), stream=False)


def test_registry_repr_and_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    p = ProviderRegistry.default().create("vertex")
    assert isinstance(p, VertexProvider)
    assert not p.has_credentials()
    assert repr(p) == "<VertexProvider 'vertex' project=None region='global' auth=application-default>"
    with_token = provider()
    assert TOKEN not in repr(with_token) and "auth=access-token" in repr(with_token)
    assert with_token.has_credentials()
    adc = tmp_path / "gcloud" / "application_default_credentials.json"
    adc.parent.mkdir()
    adc.write_text('{"type": "authorized_user", "quota_project_id": "adc-proj"}')
    assert VertexProvider().has_credentials()
    custom = VertexProvider(credentials=StaticTokenSource(TOKEN))
    assert "auth=access-token" in repr(custom)
    with pytest.raises(ConfigurationError, match="either credentials or access_token"):
        VertexProvider(credentials={"type": "service_account"}, access_token=TOKEN)


# -- Claude on Vertex ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "fields", "expected"),
    [
        # Budget-capable and unknown models: 8192 (Roo's anthropic default), temperature 0.
        ("claude-sonnet-4-5@20250929", {}, {"max_tokens": 8192, "temperature": 0.0}),
        ("claude-9@20300101", {}, {"max_tokens": 8192, "temperature": 0.0}),
        # Others: max output capped at 20% of the context window.
        ("claude-3-opus@20240229", {}, {"max_tokens": 4096, "temperature": 0.0}),
        # Thinking when asked on budget-capable models; budget capped at 80% and ≥ 1024.
        (
            "claude-opus-4-1@20250805",
            {"thinking_budget": 30_000, "max_tokens": 20_000},
            {"max_tokens": 20000, "temperature": 1.0, "thinking": {"type": "enabled", "budget_tokens": 16000}},
        ),
        (
            "claude-sonnet-4@20250514",
            {"options": {"thinking": True}},
            {"max_tokens": 16384, "temperature": 1.0, "thinking": {"type": "enabled", "budget_tokens": 8192}},
        ),
        # claude-opus-4@20250514 has no budget in Roo's Vertex table: no thinking.
        ("claude-opus-4@20250514", {"thinking_budget": 5000}, {"max_tokens": 8192, "temperature": 0.0}),
        # top_p alone: no default temperature (newer models reject both).
        ("claude-3-haiku@20240307", {"top_p": 0.9}, {"max_tokens": 4096, "top_p": 0.9}),
        ("claude-3-haiku@20240307", {"temperature": 0.4}, {"max_tokens": 4096, "temperature": 0.4}),
    ],
)
def test_claude_parameters(model: str, fields: dict[str, Any], expected: dict[str, Any]) -> None:
    got = claude_body(req(model, **fields))
    keys = ("max_tokens", "temperature", "thinking", "top_p")
    assert {k: got[k] for k in keys if k in got} == expected
    assert got["anthropic_version"] == "vertex-2023-10-16"
    assert "model" not in got


def test_claude_caching_and_system() -> None:
    messages = [
        Message("user", (TextPart("one"), TextPart("two"), ImagePart(data="AA=="))),
        Message("assistant", "ok"),
        Message("user", "three"),
        Message("assistant", "", tool_calls=(ToolCall("t1", "f", "{}"),)),
        Message("tool", "done", tool_call_id="t1"),
    ]
    got = claude_body(ChatRequest(model="claude-3-5-haiku@20241022", messages=tuple(messages), system="Sys"))
    assert got["system"] == [{"type": "text", "text": "Sys", "cache_control": EPH}]
    assert got["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "one"},
                {"type": "text", "text": "two"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}},
            ],
        },
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "three", "cache_control": EPH}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "done"}]},
    ]
    off = claude_body(req("claude-3-5-haiku@20241022", system="Sys", options={"prompt_caching": False}))
    assert (off["system"], off["messages"]) == ("Sys", [{"role": "user", "content": "hi"}])
    forced_off = claude_body(req("claude-3-5-haiku@20241022"), prompt_caching=False)
    assert forced_off["messages"] == [{"role": "user", "content": "hi"}]


def test_mark_vertex_cache_breakpoints_in_place() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image", "source": {}}]},
        {"role": "user", "content": "b"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x"}]},
    ]
    mark_vertex_cache_breakpoints(messages)
    assert messages == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image", "source": {}}]},
        {"role": "user", "content": [{"type": "text", "text": "b", "cache_control": EPH}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x"}]},
    ]


def test_claude_options_betas_and_refusals() -> None:
    call = provider().build_chat_call(
        req("claude-sonnet-4@20250514", stop=("X",), options={"top_k": 5, "betas": ["context-1m-2025-08-07"]}),
        stream=True,
    )
    assert call.headers == {"content-type": "application/json", "anthropic-beta": "context-1m-2025-08-07"}
    assert (call.json["stop_sequences"], call.json["top_k"], call.json["stream"]) == (["X"], 5, True)
    with pytest.raises(ConfigurationError, match="response_format"):
        claude_body(req("claude-sonnet-4@20250514", response_format={"type": "json_object"}))
    with pytest.raises(ConfigurationError, match="betas"):
        claude_body(req("claude-sonnet-4@20250514", options={"betas": "x"}))
    with pytest.raises(ConfigurationError, match="top_k"):
        claude_body(req("claude-sonnet-4@20250514", options={"top_k": "5"}))
    assert len(VERTEX_CLAUDE_MODELS) == 11


def test_claude_count_tokens_body() -> None:
    call = provider().build_count_tokens_call(req("claude-3-7-sonnet@20250219:thinking", max_tokens=9000))
    assert call.json == {
        "anthropic_version": "vertex-2023-10-16",
        "model": "claude-3-7-sonnet@20250219",
        "thinking": {"type": "enabled", "budget_tokens": 7200},
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": EPH}]}],
    }


def test_gemini_on_vertex_uses_the_vertex_table() -> None:
    got = provider().build_chat_call(req("gemini-2.5-flash-preview-04-17:thinking"), stream=False)
    assert got.url.endswith("/google/models/gemini-2.5-flash-preview-04-17:generateContent")
    assert got.json["generationConfig"] == {
        "temperature": 0.0,
        "maxOutputTokens": 16384,
        "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": True},
    }
    lite = provider().build_chat_call(req("google/gemini-2.0-flash-lite-001"), stream=False)
    assert lite.json["generationConfig"] == {"temperature": 0.0, "maxOutputTokens": 8192}

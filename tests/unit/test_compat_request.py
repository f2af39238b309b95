"""Pure request building and parsing of the OpenAI-compatible profiles (no network):
message transforms, cache breakpoints, model rules, think splitting, model-list parsers
and the invariants of the profile table."""

from __future__ import annotations

import json
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tokenwire
from tokenwire.errors import ConfigurationError
from tokenwire.providers import compat
from tokenwire.providers.compat import PROFILES, ModelRule, mistral_tool_id, split_think
from tokenwire.types import ChatRequest, ImagePart, Message, TextPart, ToolCall, Usage, coerce_messages

PNG = "iVBORw0KGgo="
KEY = "sk-unit-0123456789"


def body(name: str, *messages: Any, model: str = "m", **kwargs: Any) -> dict[str, Any]:
    provider = compat.create(name, api_key=KEY)
    request = ChatRequest(model=model, messages=coerce_messages(messages), **kwargs)
    return provider.build_chat_body(request, stream=False)


# -- think splitting --------------------------------------------------------------------------------
# split_think runs the stream's splitter (the openai-chat dialect's think_tags option): blocks
# anywhere, any number, exact tags only, no nesting, an unterminated block reasoning to the end.
THINK_CASES: list[tuple[str, tuple[str, str]]] = [
    ("<think>a</think>b", ("a", "b")),
    ("<think></think>", ("", "")),
    ("<think>never closed", ("never closed", "")),
    ("no tags", ("", "no tags")),
    ("", ("", "")),
    ("mid <think>x</think> text", ("x", "mid  text")),
    ("\n<think>after a newline</think>\n\nanswer", ("after a newline", "\n\n\nanswer")),
    ("<think>a</think>b<think>c</think>d", ("ac", "bd")),
    ("<think>x<think>y</think>z</think>rest", ("x<think>y", "z</think>rest")),
    ("stray </think> close", ("", "stray </think> close")),
    ("< think>spaced</think>", ("", "< think>spaced</think>")),
    ("<Think>case</Think>", ("", "<Think>case</Think>")),
    ("ends in a partial tag <thi", ("", "ends in a partial tag <thi")),
    ("<think>ends inside a partial close </thi", ("ends inside a partial close </thi", "")),
    ("<think>Ünïcode 思考 🌍</think>答え ✓", ("Ünïcode 思考 🌍", "答え ✓")),
]


@pytest.mark.parametrize(("text", "expected"), THINK_CASES)
def test_split_think(text: str, expected: tuple[str, str]) -> None:
    assert split_think(text) == expected


def _streamed(pieces: list[str]) -> tuple[str, str]:
    """(reasoning, text) of a stream whose content arrives as ``pieces``, one delta each."""
    processor = tokenwire.StreamProcessor("openai-chat", think_tags=True, coalesce=False)
    tokens: list[Any] = []
    for piece in pieces:
        chunk = {"choices": [{"index": 0, "delta": {"content": piece}}]}
        tokens += processor.feed(f"data: {json.dumps(chunk)}\n\n".encode())
    tokens += processor.feed(b"data: [DONE]\n\n") + processor.finish()
    reasoning = "".join(t.text for t in tokens if t.kind == "reasoning")
    return reasoning, "".join(t.text for t in tokens if t.kind == "text")


@pytest.mark.parametrize("text", [text for text, _ in THINK_CASES])
def test_split_think_equals_the_stream_at_every_split(text: str) -> None:
    # The non-streaming split equals the stream's for the same content, however the
    # deltas cut it: at every one or two split points (tags cut anywhere), and per character.
    whole = split_think(text)
    assert _streamed([text]) == whole
    assert _streamed(list(text)) == whole
    for first in range(1, len(text)):
        for second in range(first, len(text), 5):
            assert _streamed([text[:first], text[first:second], text[second:]]) == whole


@given(st.lists(st.sampled_from(["<think>", "</think>", "<", "</th", "ink>", "a", " ", "\n", "é"]), max_size=14))
def test_split_think_equals_the_stream_property(parts: list[str]) -> None:
    text = "".join(parts)
    assert split_think(text) == _streamed(parts) == _streamed([text])


# -- message transforms ---------------------------------------------------------------------------------
def test_r1_format_merges_and_keeps_tool_traffic() -> None:
    messages = (
        Message("user", "a"),
        Message("user", (TextPart("b"), ImagePart(data=PNG))),
        Message("assistant", "", tool_calls=(ToolCall("c1", "f", "{}"),)),
        Message("tool", "r", tool_call_id="c1"),
        Message("assistant", "x"),
        Message("assistant", (TextPart("y"), TextPart("z"))),
    )
    sent = body("deepseek", *messages, model="deepseek-reasoner", system="S")
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "S\na"}, {"type": "text", "text": "b"}, image]},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "r"},
        {"role": "assistant", "content": "x\ny\nz"},
    ]


def test_simple_format_for_doubao() -> None:
    sent = body(
        "doubao", Message("user", (TextPart("look"), ImagePart(data=PNG, media_type="image/jpeg"), TextPart("")))
    )
    assert sent["messages"] == [{"role": "user", "content": "look\n[Image: image/jpeg]"}]


def test_cerebras_messages() -> None:
    sent = body(
        "cerebras",
        Message("user", (ImagePart(data=PNG),)),
        Message("assistant", "<think>a</think>b<think>c\nd</think> e "),
        Message("assistant", "", tool_calls=(ToolCall("c", "f", "{}"),)),
        Message("tool", "", tool_call_id="c"),
        Message("user", "   "),
        system="S",
    )
    assert sent["messages"] == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "[Image]"},
        {"role": "assistant", "content": "b e"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c", "content": ""},
    ]


def test_mistral_tool_ids() -> None:
    assert mistral_tool_id("abcDEF123") == "abcDEF123"
    derived = mistral_tool_id("call_abc")
    assert len(derived) == 9 and derived.isalnum() and derived == mistral_tool_id("call_abc")
    assert mistral_tool_id("call_abd") != derived


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (
            "anthropic",
            [
                {"role": "system", "content": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]},
                {"role": "user", "content": [{"type": "text", "text": "u1"}]},
                {"role": "assistant", "content": "a"},
                {"role": "user", "content": [{"type": "text", "text": "u2", "cache_control": {"type": "ephemeral"}}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "u"}},
                        {"type": "text", "text": "...", "cache_control": {"type": "ephemeral"}},
                    ],
                },
            ],
        ),
        (
            "openai",
            [
                {"role": "system", "content": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]},
                {"role": "user", "content": "u1"},
                {"role": "assistant", "content": "a"},
                {"role": "user", "content": [{"type": "text", "text": "u2", "cache_control": {"type": "ephemeral"}}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "u"}},
                        {"type": "text", "text": "...", "cache_control": {"type": "ephemeral"}},
                    ],
                },
            ],
        ),
        (
            "litellm",
            [
                {"role": "system", "content": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]},
                {"role": "user", "content": "u1"},
                {"role": "assistant", "content": "a"},
                {"role": "user", "content": [{"type": "text", "text": "u2", "cache_control": {"type": "ephemeral"}}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "u"}, "cache_control": {"type": "ephemeral"}}
                    ],
                },
            ],
        ),
        (
            "vercel",
            [
                {"role": "system", "content": "S", "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": "u1"},
                {"role": "assistant", "content": "a"},
                {"role": "user", "content": [{"type": "text", "text": "u2", "cache_control": {"type": "ephemeral"}}]},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]},
            ],
        ),
    ],
)
def test_cache_styles(style: compat.CacheStyle, expected: list[dict[str, Any]]) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "u1"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "u2"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]},
    ]
    compat._add_cache(style, messages)  # pyright: ignore[reportPrivateUsage]
    assert messages == expected


# -- rules, options, profile table -------------------------------------------------------------------
def test_model_rules() -> None:
    assert ModelRule(prefixes=("a/",)).matches("a/b") and not ModelRule(prefixes=("a/",)).matches("b/a/")
    assert ModelRule(contains=("R1",)).matches("x-R1-y") and not ModelRule(contains=("R1",)).matches("x-r1")
    assert ModelRule(contains=("r1",), ignore_case=True).matches("X-R1")
    rule = ModelRule(pattern=r"(?i)\bgpt-?5(?!\d)")
    assert rule.matches("GPT-5") and rule.matches("openai/gpt5-mini") and not rule.matches("gpt-50")
    assert ModelRule(every_model=True).matches("")


def test_profile_table_invariants() -> None:
    assert len(PROFILES) == 24
    for name, profile in PROFILES.items():
        assert profile.name == name and profile.title
        assert profile.base_url.startswith("https://") or name in ("litellm", "lmstudio")
        assert not profile.base_url.endswith("/")
        assert all(url.startswith("https://") for url in profile.regions.values())
        assert profile.api_key_env and profile.base_url_env
        assert profile.capabilities.list_models == (profile.models is not None)
        assert profile.options <= set(compat._OPTION_NAMES)  # pyright: ignore[reportPrivateUsage]
        for rule in profile.rules:
            assert rule.region is None or rule.region in profile.regions
    # Roo's DEFAULT_HEADERS go wherever its handler sends them, not to LM Studio, Mistral or Perplexity.
    assert {n for n, p in PROFILES.items() if not p.attribution} == {"lmstudio", "mistral", "perplexity"}


def test_max_tokens_fields() -> None:
    completion = {n for n, p in PROFILES.items() if p.max_tokens_field == "max_completion_tokens"}
    assert completion == {"deepseek", "doubao", "cerebras", "deepinfra", "vercel-ai-gateway"}
    assert body("moonshot", {"role": "user", "content": "x"}, max_tokens=5)["max_tokens"] == 5
    assert body("litellm", {"role": "user", "content": "x"}, model="openai/GPT-5", max_tokens=5) == {
        "model": "openai/GPT-5",
        "temperature": 0.0,
        "messages": [{"role": "user", "content": "x"}],
        "max_completion_tokens": 5,
    }


def test_stream_usage_flags() -> None:
    without = {n for n, p in PROFILES.items() if not p.stream_usage}
    assert without == {"glama", "unbound", "mistral", "cerebras", "perplexity", "lmstudio", "vercel-ai-gateway"}


def test_extra_body_last_and_none_removes() -> None:
    sent = body("groq", {"role": "user", "content": "x"}, extra_body={"temperature": None, "seed": 7})
    assert "temperature" not in sent and sent["seed"] == 7


def test_bad_request_options() -> None:
    with pytest.raises(ConfigurationError, match="'task_id' must be a non-empty string"):
        body("requesty", {"role": "user", "content": "x"}, options={"task_id": 3})
    provider = compat.create("roo", api_key=KEY)
    with pytest.raises(ConfigurationError, match="'task_id' must be a non-empty string"):
        provider.build_chat_call(
            ChatRequest(
                model="m", messages=coerce_messages([{"role": "user", "content": "x"}]), options={"task_id": ""}
            ),
            stream=True,
        )
    with pytest.raises(ConfigurationError, match="'reasoning' must be a mapping"):
        body("openrouter", {"role": "user", "content": "x"}, options={"reasoning": "high"})


# -- model-list parsers --------------------------------------------------------------------------------
def test_parse_openrouter_models() -> None:
    data = {
        "data": [
            {
                "id": "a/text",
                "name": "A Text",
                "context_length": 100_000,
                "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
                "pricing": {
                    "prompt": "0.000003",
                    "completion": "0.000015",
                    "input_cache_write": "0.00000375",
                    "input_cache_read": "0.0000003",
                },
                "top_provider": {"max_completion_tokens": None},
                "supported_parameters": ["tools"],
            },
            {"id": "a/image", "context_length": 1, "architecture": {"output_modalities": ["image"]}},
            {"id": 5},
        ]
    }
    (model,) = compat.parse_openrouter_models(data, "openrouter")
    assert (model.id, model.display_name, model.context_window, model.max_output_tokens) == (
        "a/text",
        "A Text",
        100_000,
        20_000,
    )
    assert model.input_price == pytest.approx(3.0) and model.output_price == pytest.approx(15.0)
    assert model.cache_write_price == pytest.approx(3.75) and model.cache_read_price == pytest.approx(0.3)
    assert model.supports_prompt_cache and not model.supports_images and not model.supports_reasoning


def test_parse_other_model_lists() -> None:
    (requesty,) = compat.parse_requesty_models(
        {
            "data": [
                {
                    "id": "r/m",
                    "context_window": 200,
                    "max_output_tokens": 50,
                    "supports_caching": True,
                    "input_price": 0.000001,
                    "cached_price": 0,
                }
            ]
        },
        "requesty",
    )
    assert (requesty.context_window, requesty.max_output_tokens, requesty.supports_prompt_cache) == (200, 50, True)
    assert requesty.input_price == pytest.approx(1.0) and requesty.cache_read_price is None
    (glama,) = compat.parse_glama_models(
        [
            {
                "id": "g/m",
                "maxTokensInput": 10,
                "maxTokensOutput": 5,
                "capabilities": ["input:image"],
                "pricePerToken": {"output": "0.000002"},
            }
        ],
        "glama",
    )
    assert (glama.context_window, glama.max_output_tokens, glama.supports_images) == (10, 5, True)
    assert glama.output_price == pytest.approx(2.0)
    unbound = compat.parse_unbound_models(
        {
            "anthropic/c": {"maxTokens": "4096", "contextWindow": "200000"},
            "anthropic/d": {"maxTokens": "64000"},
            "openai/e": {},
        },
        "unbound",
    )
    assert [(m.id, m.max_output_tokens, m.context_window) for m in unbound] == [
        ("anthropic/c", 4096, 200_000),
        ("anthropic/d", 8192, 0),
        ("openai/e", None, 0),
    ]
    litellm = compat.parse_litellm_models(
        {
            "data": [
                {"model_name": "x", "model_info": {}, "litellm_params": {"model": "openai/x"}},
                {"model_name": "y", "model_info": {}},
            ]
        },
        "litellm",
    )
    assert [(m.id, m.context_window, m.max_output_tokens) for m in litellm] == [("x", 200_000, 8192)]
    (deepinfra,) = compat.parse_deepinfra_models(
        {"data": [{"id": "d/m", "metadata": {"tags": ["vision"]}}]}, "deepinfra"
    )
    assert (deepinfra.context_window, deepinfra.max_output_tokens, deepinfra.supports_images) == (8192, 1639, True)
    hf = compat.parse_huggingface_models(
        {
            "data": [
                {
                    "id": "h/m",
                    "providers": [
                        {
                            "provider": "p1",
                            "status": "live",
                            "context_length": 4000,
                            "pricing": {"input": 1, "output": 2},
                        },
                        {"provider": "p2", "status": "error"},
                    ],
                },
                {"id": "h/none", "providers": []},
            ]
        },
        "huggingface",
    )
    assert [(m.id, m.context_window, m.max_output_tokens, m.input_price) for m in hf] == [
        ("h/m", 4000, 2048, 1.0),
        ("h/m:p1", 4000, 2048, 1.0),
    ]
    vercel = compat.parse_vercel_models(
        {
            "data": [
                {
                    "id": "v/m",
                    "type": "language",
                    "context_window": 9,
                    "max_tokens": 3,
                    "pricing": {"input": "0.000001", "input_cache_write": "0.000001", "input_cache_read": "0.0000001"},
                },
                {"id": "v/e", "type": "embedding"},
            ]
        },
        "vercel-ai-gateway",
    )
    assert [(m.id, m.supports_prompt_cache) for m in vercel] == [("v/m", True)]
    assert compat.parse_openai_models({"data": [{"id": "a"}, {"id": "a"}, {"id": ""}, {"id": "b"}]}, "x") == [
        compat.parse_openai_models({"data": [{"id": "a"}]}, "x")[0],
        compat.parse_openai_models({"data": [{"id": "b"}]}, "x")[0],
    ]


# -- usage lookups and non-streaming usage ----------------------------------------------------------------
def glama_record(tokens: Any = None, cost: Any = "0.000123") -> dict[str, Any]:
    if tokens is None:
        tokens = {
            "promptTokens": 120,
            "completionTokens": 30,
            "cacheReadInputTokens": 40,
            "cacheCreationInputTokens": 5,
        }
    return {"id": "r", "tokenUsage": tokens, "totalCostUsd": cost}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (glama_record(), Usage(120, 30, 40, 5, 0, cost=0.000123)),
        (glama_record(cost=0.5), Usage(120, 30, 40, 5, 0, cost=0.5)),
        (glama_record(cost="0"), Usage(120, 30, 40, 5, 0, cost=0.0)),
        (glama_record({"promptTokens": 3}), Usage(3, 0, 0, 0, 0, cost=0.000123)),
        (glama_record({"promptTokens": -3, "completionTokens": "x"}), Usage(0, 0, 0, 0, 0, cost=0.000123)),
        # Not settled yet (Glama still processing), or nothing usable.
        (glama_record(cost=None), None),
        ({"id": "r", "tokenUsage": None, "totalCostUsd": None}, None),
        ({"id": "r"}, None),
        (glama_record(cost="NaN"), None),
        (glama_record(cost="n/a"), None),
        (glama_record(cost=True), None),
        (glama_record(tokens=[1, 2]), None),
        ([glama_record()], None),
        ("not a record", None),
    ],
)
def test_parse_glama_usage(record: Any, expected: Optional[Usage]) -> None:
    assert compat.parse_glama_usage(record) == expected


@pytest.mark.anyio
async def test_usage_lookup_needs_a_profile_lookup_and_a_record_id() -> None:
    # No network is involved: without a lookup or an id nothing is sent.
    glama = compat.create("glama", api_key=KEY, base_url="http://127.0.0.1:9/api/gateway/openai/v1")
    assert compat.PROFILES["glama"].usage_lookup is compat.GLAMA_USAGE
    assert await glama.lookup_usage({}) is None
    assert await glama.lookup_usage({"x-completion-request-id": "  "}) is None
    deepseek = compat.create("deepseek", api_key=KEY)
    assert await deepseek.lookup_usage({"x-completion-request-id": "abc"}) is None
    assert [name for name, p in PROFILES.items() if p.usage_lookup is not None] == ["glama"]


@pytest.mark.parametrize(
    ("name", "usage", "expected"),
    [
        ("deepseek", {"prompt_tokens": 9, "completion_tokens": 2, "prompt_cache_hit_tokens": 4}, Usage(9, 2, 4, 0, 0)),
        ("moonshot", {"prompt_tokens": 9, "completion_tokens": 2, "cached_tokens": 4}, Usage(9, 2, 4, 0, 0)),
        ("openrouter", {"prompt_tokens": 9, "completion_tokens": 2, "cost": 0.25}, Usage(9, 2, 0, 0, 0, cost=0.25)),
        ("vercel-ai-gateway", {"prompt_tokens": 1, "completion_tokens": 1, "cost": 0}, Usage(1, 1, 0, 0, 0, cost=0.0)),
        ("xai", None, None),
    ],
)
def test_non_streaming_usage_is_read_as_the_stream_reads_it(
    name: str, usage: Optional[dict[str, Any]], expected: Optional[Usage]
) -> None:
    body: dict[str, Any] = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]}
    if usage is not None:
        body["usage"] = usage
    reply = compat.create(name, api_key=KEY).parse_chat_response(body, model="m", request_id=None)
    assert reply.usage == expected
    # The same usage chunk streamed through the dialect gives the same Usage.
    if usage is not None:
        processor = tokenwire.StreamProcessor("openai-chat")
        chunk = json.dumps({"choices": [], "usage": usage})
        streamed = processor.feed(f"data: {chunk}\n\ndata: [DONE]\n\n".encode()) + processor.finish()
        assert streamed == [expected]

"""Loopback mock provider servers for tests and demos: the OpenAI and Anthropic wire
protocols, byte-exact, with per-request scripts, fault injection and request recording.

::

    import httpx
    from tokenwire.testing import Answer, OpenAIMockServer, faults

    with OpenAIMockServer(api_key="sk-test") as server:          # 127.0.0.1, a free port
        server.scripts.push(Answer("Hi there!", tool_calls=[("get_weather", '{"city":"Paris"}')]))
        server.faults.push(faults.Drip(bytes_per_write=16))      # only the next request
        response = httpx.post(
            f"{server.base_url}/chat/completions",                # http://127.0.0.1:PORT/v1
            headers={"Authorization": "Bearer sk-test"},
            json={"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert server.last_request.json()["model"] == "gpt-4o-mini"

A pytest fixture is three lines::

    @pytest.fixture
    def openai_server():
        with OpenAIMockServer(api_key="sk-test") as server:
            yield server

The servers (:class:`OpenAIMockServer`, :class:`AnthropicMockServer`) run an HTTP/1.1
server (asyncio + h11) on their own event loop in a background thread, so sync and
async clients alike can use them; connections are kept alive; streams use chunked
encoding with one chunk per SSE event. They validate what the real APIs validate —
auth header, required headers, body schema — and refuse with the provider's exact
error status, headers and body.

:class:`CompatMockServer` serves any OpenAI-compatible profile of
:mod:`tokenwire.providers.compat` on that profile's own paths, in its wire style
(OpenRouter's comments and ``reasoning`` field, Groq's ``x_groq`` usage, Perplexity's
citations, Mistral's error objects, …); :class:`OllamaMockServer` speaks Ollama's
native ``/api/chat`` NDJSON stream, ``/api/tags`` and ``/api/show``.

**What they answer** to a generation request, in order: the next script queued with
``server.scripts.push(script, times=1)``; else ``server.default_script``; else an
:class:`Answer` echoing the last user message ("You said: …"; after a tool result,
"The tool returned: …"), so multi-turn demos look alive. A script is an
:class:`Answer` (rendered in the requested protocol, streamed or not — see
:mod:`tokenwire.testing.synth`), a :class:`Recording` (raw bytes, or recorded JSON
payload lines framed the provider's way), or a callable ``(RecordedRequest) -> Answer |
Recording``.

**Faults** (:mod:`tokenwire.testing.faults`): ``server.faults.push(fault, times=1)``
for the next request(s), ``server.set_default_fault(fault)`` for all: drip, stall,
disconnect mid-event, 429 with the provider's rate-limit headers, quota, 5xx,
overloaded (Anthropic 529), an error event mid-stream, a malformed event, extra headers.
``RateLimits`` on a server meters requests and adds the rate-limit headers to every
generation response (optionally enforcing them with 429s).

**Recording**: ``server.requests`` lists every :class:`RecordedRequest` (method, path,
query, headers as received with case-insensitive lookup, raw body, ``json()``);
``server.reset()`` clears recordings and queues. All of it is thread-safe.

Sources. Verified against recorded real responses or the providers' docs/SDK issue
threads: OpenAI's missing-key, incorrect-key (masking: first 8 + ``*`` + last 4),
unparsable-JSON, ``empty_array``, invalid-role, ``model_not_found`` (404, 4-space
indented body, ``application/json; charset=utf-8``), ``insufficient_quota``, 500
``server_error``, 503 "overloaded" and 502 ``cf_bad_gateway`` bodies; the
``x-ratelimit-*`` header set with Go-duration resets (recorded: limit 500, 1 used →
``120ms``); ``x-request-id: req_<32 hex>``; the chat chunk, Responses event and
Anthropic event shapes (from the recordings under ``../shared/fixtures/recorded``);
Anthropic's ``x-api-key header is required``, ``invalid x-api-key``,
``anthropic-version: header is required``, ``<field>: Field required``, first-message
role, thinking budget messages, ``The request body is not valid JSON: …``, the
rate-limit message, 529 ``overloaded_error``/"Overloaded", the credit-balance 400, the
``request_id`` in error bodies and the ``req_011C…`` id shape. From the brief (not
re-checked): Azure's 401/404 bodies. Assumed (no authoritative source found): the
exact texts for both ``max_tokens`` and ``max_completion_tokens`` set,
``stream_options`` without ``stream``, non-object messages, OpenAI 405s and the
``/v1/models/{id}`` 404; Anthropic's
wording for wrong types, a bad ``system``, wrong bearer tokens, unknown paths and 5xx
other than 500 (sent as ``api_error``); whether OpenAI closes a chat stream after an
in-stream error without ``[DONE]`` (the mock does); short-key masking (OpenAI echoes
keys under 12 characters whole — the mock never does). With ``RateLimits`` the
rate-limit headers go on generation responses only (OpenAI also sends them on its
400s).
"""

from __future__ import annotations

from tokenwire.testing import faults, synth, synth_gemini
from tokenwire.testing._base import MockServer, ServerOptions, estimate_request_tokens
from tokenwire.testing._ratelimit import RateLimits
from tokenwire.testing._script import FaultQueue, Recording, Script, ScriptQueue
from tokenwire.testing._server import RecordedRequest, RequestHeaders
from tokenwire.testing.anthropic import AnthropicMockServer
from tokenwire.testing.bedrock import BedrockMockServer
from tokenwire.testing.compat import CompatMockServer, WireStyle
from tokenwire.testing.faults import FaultSpec
from tokenwire.testing.gemini import GeminiMockServer
from tokenwire.testing.ollama import OllamaMockServer
from tokenwire.testing.openai import OpenAIMockServer, mask_key
from tokenwire.testing.synth import Answer
from tokenwire.testing.vertex import VertexMockServer, make_service_account

__all__ = [
    "AnthropicMockServer",
    "BedrockMockServer",
    "Answer",
    "CompatMockServer",
    "FaultQueue",
    "FaultSpec",
    "GeminiMockServer",
    "MockServer",
    "OllamaMockServer",
    "OpenAIMockServer",
    "RateLimits",
    "RecordedRequest",
    "Recording",
    "RequestHeaders",
    "Script",
    "ScriptQueue",
    "ServerOptions",
    "VertexMockServer",
    "WireStyle",
    "estimate_request_tokens",
    "faults",
    "make_service_account",
    "mask_key",
    "synth",
    "synth_gemini",
]

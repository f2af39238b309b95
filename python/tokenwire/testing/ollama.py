"""A loopback mock of Ollama's native API, byte-exact on the wire.

Routes (``base_url`` = ``http://127.0.0.1:PORT``, as ``OLLAMA_HOST``):

- ``POST /api/chat`` — streams newline-delimited JSON (``application/x-ndjson``) unless
  the body says ``"stream": false`` (Ollama streams by default); one chunk per word of
  the answer (``message.thinking`` for reasoning, ``message.content`` for text), one
  chunk with every ``message.tool_calls`` entry (arguments as JSON objects, with
  ``id`` and ``function.index`` as current Ollama versions send them), then the final
  ``"done": true`` line with ``done_reason`` and the counts and durations.
- ``GET /api/tags`` — the local models (``server.models`` or a default list) with their
  ``details``; ``POST /api/show`` — ``model_info`` with ``<family>.context_length`` and
  ``capabilities`` (``vision`` for names containing ``vl``/``vision``/``llava``).
- ``GET /api/version`` and ``GET /`` ("Ollama is running").

Errors use Ollama's ``{"error": "<message>"}`` body: a body that is not JSON (400), no
``model`` → 400 "model is required"; with a model allowlist an unknown model → 404
``model "x" not found, try pulling it first``; with ``api_key`` set (a proxied or hosted
Ollama) a missing or wrong bearer key → 401 "unauthorized". Faults: ``RateLimit`` /
``QuotaExceeded`` → 429, ``ServerFault`` → its status, ``Overloaded`` → 503 "server busy,
please try again.  maximum pending requests exceeded" (Ollama's queue-full message);
``ErrorEvent`` → an ``{"error": …}`` line in the stream; ``Malformed`` → half a line.

Sources: the ``/api/chat`` chunk and final-line fields, ``/api/tags`` and ``/api/show``
shapes, the model-not-found and queue-full messages are from Ollama's API documentation
and server code as quoted in public issue threads. Assumed: the 401 body of an
authenticating proxy and the durations' values.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

from tokenwire.testing._base import Exchange, MockServer, echo
from tokenwire.testing._ratelimit import Meter
from tokenwire.testing._script import Recording
from tokenwire.testing._server import RecordedRequest, Reply
from tokenwire.testing.faults import Overloaded, QuotaExceeded, RateLimit, ServerFault
from tokenwire.testing.synth import Answer, Protocol

__all__ = ["DEFAULT_OLLAMA_MODELS", "OllamaMockServer", "ndjson_chunks"]

#: name → (family, parameter size, context length) of the default local models.
DEFAULT_OLLAMA_MODELS: Mapping[str, tuple[str, str, int]] = {
    "llama3.2:latest": ("llama", "3.2B", 131_072),
    "qwen2.5vl:7b": ("qwen25vl", "8.3B", 128_000),
    "deepseek-r1:8b": ("qwen3", "8.2B", 131_072),
}

_NDJSON = "application/x-ndjson"
_JSON = "application/json; charset=utf-8"
_CREATED_AT = "2025-06-15T12:00:00.000000000Z"
_WORD = re.compile(r"\s*\S+")
_BUSY = "server busy, please try again.  maximum pending requests exceeded"


def _line(payload: Mapping[str, Any]) -> bytes:
    return (json.dumps(payload, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def _words(text: str, per_chunk: int) -> list[str]:
    """``text`` in pieces of ``per_chunk`` words (leading whitespace attached; ``0``: whole),
    concatenating back to ``text`` — the same chunking as the SSE synthesizers."""
    if not text:
        return []
    parts = _WORD.findall(text)
    if per_chunk <= 0 or not parts:
        return [text]
    tail = text[sum(len(p) for p in parts) :]
    parts[-1] += tail
    return ["".join(parts[i : i + per_chunk]) for i in range(0, len(parts), per_chunk)]


def _arguments(raw: str) -> Any:
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {}


def _call_id(seed: str, index: int) -> str:
    return "call_" + hashlib.sha256(f"{seed}|{index}".encode()).hexdigest()[:8]


def _final(model: str, usage: tuple[int, int, int, int, int], reason: str) -> dict[str, Any]:
    inp, out = usage[0], usage[1]
    return {
        "model": model,
        "created_at": _CREATED_AT,
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": reason,
        "total_duration": 1_000_000 * (inp + out + 10),
        "load_duration": 500_000,
        "prompt_eval_count": inp,
        "prompt_eval_duration": 1_000_000 * max(1, inp),
        "eval_count": out,
        "eval_duration": 1_000_000 * max(1, out),
    }


def ndjson_chunks(answer: Answer, *, model: str, input_tokens: int = 0, seed: str = "tokenwire") -> list[bytes]:
    """``answer`` as Ollama's streamed ``/api/chat`` lines (one line per item)."""
    lines: list[bytes] = []
    message: dict[str, Any]
    for piece in _words(answer.reasoning, answer.chunk_words):
        message = {"role": "assistant", "content": "", "thinking": piece}
        lines.append(_line({"model": model, "created_at": _CREATED_AT, "message": message, "done": False}))
    for piece in _words(answer.text, answer.chunk_words):
        message = {"role": "assistant", "content": piece}
        lines.append(_line({"model": model, "created_at": _CREATED_AT, "message": message, "done": False}))
    if answer.tool_calls:
        calls = [
            {"id": _call_id(seed, i), "function": {"index": i, "name": name, "arguments": _arguments(arguments)}}
            for i, (name, arguments) in enumerate(answer.tool_calls)
        ]
        message = {"role": "assistant", "content": "", "tool_calls": calls}
        lines.append(_line({"model": model, "created_at": _CREATED_AT, "message": message, "done": False}))
    reason = answer.finish_reason or "stop"
    lines.append(_line(_final(model, answer.resolved_usage(input_tokens), reason)))
    return lines


def ndjson_body(answer: Answer, *, model: str, input_tokens: int = 0, seed: str = "tokenwire") -> bytes:
    """``answer`` as a non-streaming ``/api/chat`` response."""
    document = _final(model, answer.resolved_usage(input_tokens), answer.finish_reason or "stop")
    message: dict[str, Any] = {"role": "assistant", "content": answer.text}
    if answer.reasoning:
        message["thinking"] = answer.reasoning
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": _call_id(seed, i), "function": {"index": i, "name": name, "arguments": _arguments(arguments)}}
            for i, (name, arguments) in enumerate(answer.tool_calls)
        ]
    document["message"] = message
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _estimate(document: Mapping[str, Any]) -> int:
    chars = 0
    messages = document.get("messages")
    count = 0
    for message in messages if isinstance(messages, list) else []:  # pyright: ignore[reportUnknownVariableType]
        count += 1
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            chars += len(message["content"])  # pyright: ignore[reportUnknownArgumentType]
    return max(1, -(-chars // 4) + 3 * count)


class _OllamaError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class OllamaMockServer(MockServer):
    """A loopback Ollama. ``with OllamaMockServer() as server:`` then
    ``OllamaProvider(base_url=server.base_url)``.

    ``models`` is an allowlist (and what ``/api/tags`` lists; a default list when
    ``None``, and any model is accepted); ``api_key`` makes the server require
    ``Authorization: Bearer <key>``.
    """

    provider = "ollama"

    # -- plumbing -----------------------------------------------------------------

    def _request_id(self, number: int) -> str:
        return hashlib.sha256(f"{self._seed}|ollama|{number}".encode()).hexdigest()[:16]

    def _success_headers(self, ex: Exchange, content_type: str) -> list[tuple[str, str]]:
        return [("content-type", content_type)]

    def _limit_headers(self, meters: Mapping[str, Meter]) -> list[tuple[str, str]]:
        return []

    def _error_reply(self, status: int, message: str) -> Reply:
        return Reply(status, [("content-type", _JSON)], [json.dumps({"error": message}).encode()])

    def _echo_text(self, document: dict[str, Any], protocol: Protocol) -> str:
        for message in reversed(document.get("messages") or []):
            if not isinstance(message, dict):
                continue
            if message.get("role") == "tool":
                return f"The tool returned: {message.get('content')}"
            if message.get("role") == "user":
                content = message.get("content")
                return echo(content if isinstance(content, str) else "")
        return echo("")

    def _stream_error(
        self, error_type: Optional[str], message: Optional[str], ex: Exchange, sequence: int
    ) -> list[bytes]:
        return [_line({"error": message or "an error was encountered while running the model"})]

    # -- routing ------------------------------------------------------------------

    def _route(self, request: RecordedRequest, ex: Exchange) -> Reply:
        path = request.path.rstrip("/") or "/"
        routes = {"/": "GET", "/api/version": "GET", "/api/tags": "GET", "/api/show": "POST", "/api/chat": "POST"}
        expected = routes.get(path)
        if expected is None:
            return Reply(404, [("content-type", "text/plain")], [b"404 page not found"])
        if request.method != expected:
            return Reply(405, [("content-type", "text/plain")], [b"405 method not allowed"])
        if path == "/":
            return Reply(200, [("content-type", "text/plain; charset=utf-8")], [b"Ollama is running"])
        try:
            self._authenticate(request)
            if path == "/api/version":
                return Reply(200, [("content-type", _JSON)], [b'{"version":"0.12.3"}'])
            if path == "/api/tags":
                return self._tags()
            document = self._parse(request)
            if path == "/api/show":
                return self._show(document)
            return self._chat(request, ex, document)
        except _OllamaError as error:
            return self._error_reply(error.status, error.message)

    def _authenticate(self, request: RecordedRequest) -> None:
        if self.api_key is None:
            return
        header = request.headers.get("authorization", "") or ""
        scheme, _, key = header.strip().partition(" ")
        if scheme.lower() != "bearer" or key.strip() != self.api_key:
            raise _OllamaError(401, "unauthorized")

    @staticmethod
    def _parse(request: RecordedRequest) -> dict[str, Any]:
        try:
            document = json.loads(request.body)
        except ValueError:
            raise _OllamaError(400, "invalid character 'x' looking for beginning of value") from None
        if not isinstance(document, dict):
            raise _OllamaError(400, "json: cannot unmarshal array into Go value of type api.ChatRequest")
        return document  # pyright: ignore[reportUnknownVariableType]

    def _names(self) -> Sequence[str]:
        return self.models if self.models is not None else tuple(DEFAULT_OLLAMA_MODELS)

    def _check_model(self, document: Mapping[str, Any]) -> str:
        model = document.get("model")
        if not isinstance(model, str) or not model:
            raise _OllamaError(400, "model is required")
        if self.models is not None and model not in self.models:
            raise _OllamaError(404, f'model "{model}" not found, try pulling it first')
        return model

    # -- endpoints ----------------------------------------------------------------

    def _tags(self) -> Reply:
        models: list[dict[str, Any]] = []
        for name in self._names():
            family, size, _ = DEFAULT_OLLAMA_MODELS.get(name, ("llama", "7B", 4096))
            digest = hashlib.sha256(name.encode()).hexdigest()
            models.append(
                {
                    "name": name,
                    "model": name,
                    "modified_at": "2025-06-01T10:00:00.000000000Z",
                    "size": 4_000_000_000,
                    "digest": digest,
                    "details": {
                        "parent_model": "",
                        "format": "gguf",
                        "family": family,
                        "families": [family],
                        "parameter_size": size,
                        "quantization_level": "Q4_K_M",
                    },
                }
            )
        return Reply(200, [("content-type", _JSON)], [json.dumps({"models": models}).encode()])

    def _show(self, document: Mapping[str, Any]) -> Reply:
        name = document.get("model", document.get("name"))
        if not isinstance(name, str) or not name:
            raise _OllamaError(400, "model is required")
        if name not in self._names():
            raise _OllamaError(404, f"model '{name}' not found")
        family, size, context = DEFAULT_OLLAMA_MODELS.get(name, ("llama", "7B", 4096))
        capabilities = ["completion", "tools"]
        if any(tag in name for tag in ("vl", "vision", "llava")):
            capabilities.append("vision")
        if "r1" in name:
            capabilities.append("thinking")
        body = {
            "modelfile": f"FROM {name}\n",
            "parameters": 'stop "<|eot_id|>"',
            "template": "{{ .Prompt }}",
            "details": {"parent_model": "", "format": "gguf", "family": family, "parameter_size": size},
            "model_info": {
                "general.architecture": family,
                "general.parameter_count": 8_000_000_000,
                f"{family}.context_length": context,
                f"{family}.embedding_length": 4096,
            },
            "capabilities": capabilities,
        }
        return Reply(200, [("content-type", _JSON)], [json.dumps(body).encode()])

    def _chat(self, request: RecordedRequest, ex: Exchange, document: dict[str, Any]) -> Reply:
        model = self._check_model(document)
        ex.model = model
        stream = document.get("stream") is not False
        script = self._next_script(request)
        input_tokens = _estimate(document)
        if self._limits is not None:
            output = script.resolved_usage(input_tokens)[1] if isinstance(script, Answer) else 0
            _, exceeded = self._limits.consume(input_tokens=input_tokens, output_tokens=output)
            if exceeded is not None:
                return self._error_reply(429, "rate limit exceeded")
        if script is None:
            script = Answer(self._echo_text(document, "openai-chat"))
        if isinstance(script, Recording):
            return self._recording_reply(script, ex)
        seed = f"{self._seed}|{ex.number}"
        if not stream:
            body = ndjson_body(script, model=model, input_tokens=input_tokens, seed=seed)
            return Reply(200, [("content-type", _JSON)], [body])
        lines = ndjson_chunks(script, model=model, input_tokens=input_tokens, seed=seed)
        return Reply(200, [("content-type", _NDJSON)], self._stream_faults(lines, ex), stream=True)

    def _recording_reply(self, script: Recording, ex: Exchange) -> Reply:
        names = {name.lower() for name, _ in script.headers}
        if script.lines is not None:
            lines = [(line + "\n").encode() for line in script.lines]
            headers = [("content-type", _NDJSON)]
            return Reply(
                script.status,
                [(k, v) for k, v in headers if k not in names] + list(script.headers),
                self._stream_faults(lines, ex),
                stream=True,
            )
        is_stream = script.content_type is not None and "ndjson" in script.content_type
        chunks = [line + b"\n" for line in script.data.split(b"\n") if line] if is_stream else [script.data]
        headers = [("content-type", script.content_type or _JSON)]
        return Reply(
            script.status, [(k, v) for k, v in headers if k not in names] + list(script.headers), chunks, is_stream
        )

    def _stream_faults(self, lines: list[bytes], ex: Exchange) -> list[bytes]:
        # The base class applies stream faults to SSE protocols only; NDJSON is done here.
        plan = ex.plan
        if plan.error_event is not None:
            cut = min(plan.error_event.after_events, len(lines))
            lines = lines[:cut] + self._stream_error(None, plan.error_event.message, ex, cut)
        if plan.malformed is not None:
            at = min(plan.malformed.after_events, len(lines))
            source = lines[at] if at < len(lines) else lines[-1]
            lines = [*lines[:at], source[: max(1, len(source) // 2)].rstrip(b"\n") + b"\n", *lines[at:]]
        return lines

    # -- faults ---------------------------------------------------------------------

    def _fault_reply(
        self, fault: Union[RateLimit, QuotaExceeded, ServerFault, Overloaded], request: RecordedRequest, ex: Exchange
    ) -> Reply:
        if isinstance(fault, RateLimit):
            reply = self._error_reply(429, "rate limit exceeded, please try again later")
            if fault.retry_after is not None:
                reply.headers.append(("retry-after", str(max(1, round(fault.retry_after)))))
            return reply
        if isinstance(fault, QuotaExceeded):
            return self._error_reply(429, "you have reached your usage limit")
        if isinstance(fault, Overloaded):
            return self._error_reply(503, _BUSY)
        return self._error_reply(fault.status, fault.message or "an error was encountered while running the model")

"""Claude Code adapter (``"claude-code"``): answers from the ``claude`` CLI, run as a subprocess.

The behaviour reproduces Roo-Code's Claude Code handler (RooCodeInc/Roo-Code at
``9bcd9918``: ``src/api/providers/claude-code.ts``, ``src/integrations/claude-code/run.ts``,
``message-filter.ts``, ``types.ts``, ``packages/types/src/providers/claude-code.ts``), in our
own code. No HTTP is involved: Claude Code signs in and talks to Anthropic itself (with the
user's subscription or key), so this provider needs no credentials of its own.

The process
    ``claude_path`` (default ``"claude"``, looked up on ``PATH``) is started with exactly
    Roo's arguments::

        -p --system-prompt <system prompt> --verbose --output-format stream-json
        --disallowedTools Task,Bash,Glob,Grep,LS,exit_plan_mode,Read,Edit,MultiEdit,Write,
                          NotebookRead,NotebookEdit,WebFetch,TodoRead,TodoWrite,WebSearch,
                          ExitPlanMode,BashOutput,KillBash
        --max-turns 1 --model <model>

    (built-in tools off so the model answers in text; one turn, the caller runs the
    loop). The conversation goes to stdin as compact JSON: the Anthropic-format messages
    (:func:`tokenwire.providers.anthropic.convert_messages`), with every image replaced by
    the text ``[Image (<source type>): <media type> not supported by Claude Code]`` (Roo's
    filter). On Windows the system prompt travels in stdin instead
    (``{"systemPrompt", "messages"}``) to stay under the command-line length limit, as in
    Roo. stdin is a temporary file rather than a pipe, so a large conversation can never
    dead-lock against the CLI's output.

    The environment is this process's, plus ``env=``, plus
    ``CLAUDE_CODE_MAX_OUTPUT_TOKENS`` = the request's ``max_tokens``, else
    ``max_output_tokens=``, else the variable's current value, else 16000 (Roo's
    default). With ``CLAUDE_CODE_USE_VERTEX=1`` a dated model id is sent in Vertex form
    (``claude-sonnet-4-20250514`` → ``claude-sonnet-4@20250514``), as Roo does. Unlike
    Roo, an id outside Roo's table is passed through (Claude Code also takes aliases such
    as ``sonnet``) instead of being replaced by the default model. ``cwd=`` sets the
    working directory (Roo uses the workspace folder).

The output (``--output-format stream-json``: one JSON message per line)
    - ``{"type": "system", "subtype": "init", "apiKeySource", "session_id", …}``: a
      subscription login reports ``apiKeySource: "none"``, and then the cost is 0.
    - ``{"type": "assistant", "message": {content, usage, stop_reason, id, …}}``:
      ``text`` blocks → ``TextDelta``, ``thinking`` → ``ReasoningDelta``,
      ``redacted_thinking`` → ``ReasoningDelta("[Redacted thinking block]")``;
      ``tool_use`` blocks are Claude Code's own tools and are skipped (as in Roo).
      Messages of a sub-agent (a ``parent_tool_use_id``) are not the answer: their text
      is skipped, their usage counted. The usage (``input_tokens``, ``output_tokens``,
      ``cache_read_input_tokens``, ``cache_creation_input_tokens``) is summed over the
      messages, as Roo does, except that the several messages Claude Code prints for one
      API response (same ``message.id``, same usage) count once.
      An assistant message whose first block is a text starting with ``API Error``
      (``API Error: <status> <json>``) raises the matching
      :class:`~tokenwire.errors.ProviderError` subclass with the API's message (plus
      Roo's plan hint for "Invalid model name").
    - ``{"type": "result", "total_cost_usd", "is_error", "subtype", "result", …}``: the
      end. ``Finish`` (the first ``stop_reason`` seen, else the result's ``subtype``) and
      one ``Usage`` follow. The CLI's ``total_cost_usd`` is the usage's
      :attr:`~tokenwire.types.Usage.cost` (and :attr:`ClaudeCodeStream.cost`); as in Roo
      it is 0 for subscription use, whatever the CLI prints, and the ``Usage`` is emitted
      with the cost even when no message reported token counts. An ``is_error`` result
      other than ``error_max_turns`` (which only says the model wanted another turn)
      raises a :class:`~tokenwire.errors.ProviderError` with the result text.
    - Everything else (``user`` messages, partial-message events) is ignored. A line
      that is not JSON is joined with the next ones while they complete a JSON document
      (Roo's rule for a message split over lines) and skipped otherwise.

Failures
    A missing executable is a :class:`~tokenwire.errors.ConfigurationError`
    ("claude CLI not found …; install Claude Code or pass claude_path=…"); a non-zero exit
    status a :class:`ClaudeCodeError` with the exit code and the end of stderr (API
    keys and tokens redacted); no output for ``timeouts.idle`` seconds, or a run longer
    than ``timeouts.total`` (default 600 s, Roo's limit), an
    :class:`~tokenwire.errors.APITimeoutError`; output that ends inside a JSON message a
    :class:`~tokenwire.errors.StreamDecodeError` (Roo passes such a fragment on as text).
    Tokens decoded before a failure are delivered first. Closing the stream (leaving ``async with``, ``aclose()``, a
    cancellation) terminates the process (SIGTERM, then SIGKILL after a short grace)
    and reaps it.

Other calls
    ``chat()`` collects a stream; ``complete()`` is a one-message chat;
    :meth:`ClaudeCodeProvider.list_models` returns Roo's table (no process run);
    ``count_tokens`` is the local estimate; the health check runs ``claude --version``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, ClassVar, Optional, Union

import anyio

from tokenwire._http import Timeouts, redact
from tokenwire.errors import (
    APITimeoutError,
    ConfigurationError,
    ProviderError,
    StreamDecodeError,
    stream_error,
)
from tokenwire.providers.anthropic import CLAUDE_MODELS, convert_messages
from tokenwire.providers.base import ChatStream, HttpCall, Provider
from tokenwire.types import (
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    Finish,
    ModelInfo,
    ProviderCapabilities,
    ReasoningDelta,
    StreamToken,
    TextDelta,
    Usage,
)

if TYPE_CHECKING:
    from anyio.abc import Process

__all__ = [
    "CLAUDE_CODE_DEFAULT_MAX_OUTPUT_TOKENS",
    "CLAUDE_CODE_MODELS",
    "DISALLOWED_TOOLS",
    "ClaudeCodeError",
    "ClaudeCodeInvocation",
    "ClaudeCodeProvider",
    "ClaudeCodeStream",
    "StreamJsonParser",
    "filter_images",
    "vertex_model_id",
]

_log = logging.getLogger("tokenwire.providers.claude_code")

#: Roo's default for ``CLAUDE_CODE_MAX_OUTPUT_TOKENS``.
CLAUDE_CODE_DEFAULT_MAX_OUTPUT_TOKENS = 16_000
#: Claude Code's built-in tools, all disabled (Roo's list, in Roo's order).
DISALLOWED_TOOLS: tuple[str, ...] = (
    "Task",
    "Bash",
    "Glob",
    "Grep",
    "LS",
    "exit_plan_mode",
    "Read",
    "Edit",
    "MultiEdit",
    "Write",
    "NotebookRead",
    "NotebookEdit",
    "WebFetch",
    "TodoRead",
    "TodoWrite",
    "WebSearch",
    "ExitPlanMode",
    "BashOutput",
    "KillBash",
)
#: Roo's table: the Anthropic models Claude Code serves (no images; cache tokens reported).
CLAUDE_CODE_MODELS: tuple[str, ...] = (
    "claude-sonnet-4-5",
    "claude-sonnet-4-20250514",
    "claude-opus-4-1-20250805",
    "claude-opus-4-20250514",
    "claude-3-7-sonnet-20250219",
    "claude-3-5-sonnet-20241022",
    "claude-3-5-haiku-20241022",
)
DEFAULT_TIMEOUT = 600.0  # Roo's CLAUDE_CODE_TIMEOUT
INSTALL_URL = "https://docs.anthropic.com/en/docs/claude-code/setup"
_PLAN_HINT = (
    "API keys and subscription plans allow different models. Make sure the selected model is included in your plan."
)
_REDACTED_THINKING = "[Redacted thinking block]"
_VERTEX_DATE = re.compile(r"-(\d{8})$")
_API_ERROR = re.compile(r"API Error:\s*(\d{3})?")
# Anthropic keys and OAuth tokens, in case the CLI echoes one on stderr.
_TOKEN_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}")
# Variables whose values must never appear in an error.
_SECRET_ENV = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
)
_READ_SIZE = 65536
_STDERR_TAIL = 8192
#: Longest stdout line accepted (Roo lets Node buffer up to 1000 MiB).
MAX_LINE_BYTES = 64 * 1024 * 1024
_KILL_GRACE = 2.0


class ClaudeCodeError(ProviderError):
    """The ``claude`` process failed: ``exit_code`` and the end of its ``stderr`` (redacted)."""

    def __init__(self, message: str = "", *, exit_code: Optional[int] = None, stderr: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.exit_code = exit_code
        self.stderr = stderr

    def __reduce__(self) -> Any:
        rebuild, (cls, message, kwargs) = super().__reduce__()
        return rebuild, (cls, message, {**kwargs, "exit_code": self.exit_code, "stderr": self.stderr})


def vertex_model_id(model: str) -> str:
    """A dated Claude id in Vertex form (``…-20250514`` → ``…@20250514``)."""
    return _VERTEX_DATE.sub(r"@\1", model)


def filter_images(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Roo's filter: every image block becomes a text placeholder (Claude Code takes none)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str) or not isinstance(content, list):
            out.append(dict(message))
            continue
        blocks: list[Any] = []
        for block in content:
            if isinstance(block, Mapping) and block.get("type") == "image":
                source = block.get("source")
                source_type = source.get("type") if isinstance(source, Mapping) else None
                media_type = source.get("media_type") if isinstance(source, Mapping) else None
                blocks.append(
                    {
                        "type": "text",
                        "text": f"[Image ({source_type or 'unknown'}): {media_type or 'unknown'} "
                        "not supported by Claude Code]",
                    }
                )
            else:
                blocks.append(block)
        out.append({**message, "content": blocks})
    return out


@dataclass(frozen=True)
class ClaudeCodeInvocation:
    """One run of the CLI: arguments (after the executable), stdin bytes, the complete
    environment, the working directory and the total time allowed."""

    arguments: tuple[str, ...]
    stdin: bytes
    env: Mapping[str, str] = field(repr=False)
    cwd: Optional[str]
    model: str
    timeout: Optional[float]

    def __repr__(self) -> str:
        return (
            f"ClaudeCodeInvocation(arguments=<{len(self.arguments)}>, stdin=<{len(self.stdin)} bytes>, "
            f"cwd={self.cwd!r}, model={self.model!r})"
        )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class StreamJsonParser:
    """Claude Code's ``stream-json`` lines → stream tokens (see the module docs).

    ``feed_line`` takes one line (without its end) and returns the tokens it yields, or
    raises the error it reports; ``finish`` returns what is due at the end of output.
    After the ``result`` message: ``cost``, ``result``, ``session_id``."""

    def __init__(self, *, model: str = "", provider: str = "claude-code", coalesce: bool = True) -> None:
        self.model = model
        self.provider = provider
        self.coalesce = coalesce
        self.session_id: Optional[str] = None
        self.api_key_source: Optional[str] = None
        self.is_paid: bool = True
        self.cost: Optional[float] = None
        self.result: Optional[dict[str, Any]] = None
        self._partial: Optional[bytes] = None
        self._usage_by_id: dict[str, tuple[int, int, int, int]] = {}
        self._usage_anonymous = [0, 0, 0, 0]
        self._usage_seen = False
        self._stop_reason: Optional[str] = None
        self._ended = False

    # -- lines ----------------------------------------------------------------------------------
    def feed_line(self, line: bytes) -> list[StreamToken]:
        if self._ended or not line.strip():
            return []
        document = self._decode(line)
        if not isinstance(document, dict):
            return []
        message: dict[str, Any] = document
        kind = message.get("type")
        if kind == "system":
            if message.get("subtype") == "init":
                self._on_init(message)
            return []
        if kind == "assistant":
            return self._on_assistant(message)
        if kind == "result":
            return self._on_result(message)
        return []

    def _decode(self, line: bytes) -> Any:
        if self._partial is not None:
            joined = self._partial + line
            try:
                document = json.loads(joined)
            except ValueError:
                try:
                    document = json.loads(line)
                except ValueError:
                    if len(joined) > MAX_LINE_BYTES:
                        raise StreamDecodeError(
                            f"{self.provider}: a stream-json message exceeds {MAX_LINE_BYTES} bytes", len(joined)
                        ) from None
                    self._partial = joined
                    return None
            self._partial = None
            return document
        try:
            return json.loads(line)
        except ValueError:
            if line.lstrip().startswith(b"{"):
                self._partial = line  # a message split over lines
            else:
                _log.debug("%s: skipping a stdout line that is not JSON (%d bytes)", self.provider, len(line))
            return None

    def _on_init(self, message: Mapping[str, Any]) -> None:
        session = message.get("session_id")
        self.session_id = session if isinstance(session, str) else self.session_id
        source = message.get("apiKeySource")
        if isinstance(source, str):
            self.api_key_source = source
            # A subscription login reports "none": nothing is billed per token.
            self.is_paid = source != "none"

    def _on_assistant(self, document: Mapping[str, Any]) -> list[StreamToken]:
        message = document.get("message")
        if not isinstance(message, Mapping):
            return []
        content = message.get("content")
        blocks: list[Any] = content if isinstance(content, list) else []
        # Roo checks for an API error unless stop_reason is null.
        if message.get("stop_reason", ...) is not None and blocks:
            first = blocks[0]
            text = first.get("text") if isinstance(first, Mapping) and first.get("type") == "text" else None
            if isinstance(text, str) and text.startswith("API Error"):
                raise self._api_error(text)
        self._add_usage(message)
        stop = message.get("stop_reason")
        if isinstance(stop, str) and stop and self._stop_reason is None:
            self._stop_reason = stop
        parent = document.get("parent_tool_use_id")
        if isinstance(parent, str) and parent:
            return []  # a sub-agent's message: not the answer
        tokens: list[StreamToken] = []
        for block in blocks:
            if not isinstance(block, Mapping):
                continue
            kind = block.get("type")
            if kind == "text":
                self._emit(tokens, TextDelta, block.get("text"))
            elif kind == "thinking":
                self._emit(tokens, ReasoningDelta, block.get("thinking"))
            elif kind == "redacted_thinking":
                self._emit(tokens, ReasoningDelta, _REDACTED_THINKING)
            elif kind == "tool_use":
                _log.debug("%s: skipping a Claude Code tool_use block (%s)", self.provider, block.get("name"))
        return tokens

    def _emit(self, tokens: list[StreamToken], cls: Union[type[TextDelta], type[ReasoningDelta]], text: Any) -> None:
        if not isinstance(text, str) or not text:
            return
        last = tokens[-1] if tokens else None
        if self.coalesce and isinstance(last, (TextDelta, ReasoningDelta)) and type(last) is cls:
            tokens[-1] = cls(last.text + text)
        else:
            tokens.append(cls(text))

    def _add_usage(self, message: Mapping[str, Any]) -> None:
        usage = message.get("usage")
        if not isinstance(usage, Mapping):
            return
        counts = (
            _count(usage.get("input_tokens")),
            _count(usage.get("output_tokens")),
            _count(usage.get("cache_read_input_tokens")),
            _count(usage.get("cache_creation_input_tokens")),
        )
        self._usage_seen = True
        message_id = message.get("id")
        if isinstance(message_id, str) and message_id:
            # Claude Code prints one message per content block of a response, each with
            # the response's usage: count the response once (its latest report).
            self._usage_by_id[message_id] = counts
        else:
            for index, value in enumerate(counts):
                self._usage_anonymous[index] += value

    def usage(self) -> Optional[Usage]:
        """The usage so far, with the reported cost once the result arrived (``None`` when
        neither a message nor the result reported any)."""
        if not self._usage_seen and self.cost is None:
            return None
        totals = list(self._usage_anonymous)
        for counts in self._usage_by_id.values():
            for index, value in enumerate(counts):
                totals[index] += value
        return Usage(totals[0], totals[1], cache_read_tokens=totals[2], cache_write_tokens=totals[3], cost=self.cost)

    def _api_error(self, text: str) -> ProviderError:
        match = _API_ERROR.match(text)
        status = int(match.group(1)) if match and match.group(1) else None
        brace = text.find("{")
        parsed: Any = None
        if brace >= 0:
            try:
                parsed = json.loads(text[brace:])
            except ValueError:
                parsed = None
        error_type: Optional[str] = None
        message = text
        if isinstance(parsed, Mapping) and isinstance(parsed.get("error"), Mapping):
            inner: Mapping[str, Any] = parsed["error"]
            if isinstance(inner.get("message"), str):
                message = inner["message"]
            if isinstance(inner.get("type"), str):
                error_type = inner["type"]
        if "Invalid model name" in message:
            message = f"{message}\n\n{_PLAN_HINT}"
        error = stream_error(message, error_type, None, status)
        error.provider, error.model, error.body = self.provider, self.model or None, parsed
        return error

    def _on_result(self, message: dict[str, Any]) -> list[StreamToken]:
        self._ended = True
        self.result = message
        session = message.get("session_id")
        if isinstance(session, str) and self.session_id is None:
            self.session_id = session
        cost = message.get("total_cost_usd")
        if not self.is_paid:
            self.cost = 0.0  # a subscription is not billed per request (Roo reports 0)
        elif isinstance(cost, (int, float)) and not isinstance(cost, bool) and math.isfinite(cost):
            self.cost = float(cost)
        subtype = message.get("subtype")
        if message.get("is_error") is True and subtype != "error_max_turns":
            text = message.get("result")
            detail = text if isinstance(text, str) and text else (subtype if isinstance(subtype, str) else "error")
            raise ProviderError(
                f"Claude Code reported an error: {detail}",
                provider=self.provider,
                model=self.model or None,
                error_type=subtype if isinstance(subtype, str) else None,
                body=message,
            )
        return self._end_tokens(subtype if isinstance(subtype, str) else None)

    def _end_tokens(self, fallback_reason: Optional[str]) -> list[StreamToken]:
        tokens: list[StreamToken] = []
        reason = self._stop_reason or fallback_reason
        if reason:
            tokens.append(Finish(reason))
        usage = self.usage()
        if usage is not None:
            tokens.append(usage)
        return tokens

    def finish(self) -> list[StreamToken]:
        """End of output: the finish reason and usage when no ``result`` came."""
        if self._ended:
            return []
        self._ended = True
        if self._partial is not None:
            size = len(self._partial)
            self._partial = None
            raise StreamDecodeError(f"{self.provider}: the output ended inside a stream-json message", size)
        return self._end_tokens(None)


class ClaudeCodeStream(ChatStream):
    """A Claude Code answer: an async iterator of stream tokens over the ``claude``
    process's output, and an async context manager that ends the process on exit.

    ``cost`` (USD, once the result arrived), ``session_id`` and ``result`` (the CLI's
    final message) are available as the stream progresses.
    """

    def __init__(self, provider: ClaudeCodeProvider, request: ChatRequest, *, coalesce: bool = True) -> None:
        invocation = provider.build_invocation(request)
        # ChatStream's bookkeeping (tokens, accumulator, ttft, model) is reused; the
        # "call" only describes the run, nothing is sent over HTTP.
        described = HttpCall(
            method="EXEC",
            url=provider.claude_path,
            headers={},
            dialect="claude-code-stream-json",
            model=request.model,
            timeout=invocation.timeout,
        )
        super().__init__(provider, described, coalesce=coalesce)
        self._claude = provider
        self._invocation = invocation
        self._parser = StreamJsonParser(model=request.model, provider=provider.name, coalesce=coalesce)
        self._process: Optional[Process] = None
        self._stdin_file: Optional[IO[bytes]] = None
        self._stderr_file: Optional[IO[bytes]] = None
        self._buffer = bytearray()
        self._eof = False
        self._failure: Optional[BaseException] = None
        #: The process's exit status, once it exited.
        self.exit_code: Optional[int] = None

    @property
    def cost(self) -> Optional[float]:
        """The run's cost in USD from the result message (0 for subscription use); the
        final ``Usage`` token carries it as its ``cost``."""
        return self._parser.cost

    @property
    def session_id(self) -> Optional[str]:
        """Claude Code's session id (from its first message)."""
        return self._parser.session_id

    @property
    def result(self) -> Optional[Mapping[str, Any]]:
        """The CLI's final ``result`` message, once it arrived."""
        return self._parser.result

    @property
    def pid(self) -> Optional[int]:
        """The process id while the process exists."""
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        """Start the ``claude`` process (idempotent)."""
        if self._failure is not None:
            raise self._failure
        if self._process is not None or self.closed:
            return
        self._started_at = time.perf_counter()
        total = self._invocation.timeout
        self._deadline = None if total is None else self._started_at + total
        executable = self._claude.resolve_executable()
        # Imported here: subprocess (and what it loads) is only needed once a CLI runs.
        import subprocess

        # Both files live as long as the stream; aclose() closes them.
        stdin_file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        stderr_file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self._stdin_file, self._stderr_file = stdin_file, stderr_file
        try:
            stdin_file.write(self._invocation.stdin)
            stdin_file.flush()
            stdin_file.seek(0)
            self._process = await anyio.open_process(
                [executable, *self._invocation.arguments],
                stdin=stdin_file,
                stdout=subprocess.PIPE,
                stderr=stderr_file,
                cwd=self._invocation.cwd,
                env=dict(self._invocation.env),
            )
        except FileNotFoundError as exc:
            self._failure = self._claude.not_found(exc)
        except OSError as exc:  # not executable, wrong format, …
            self._failure = ConfigurationError(
                f"{self._claude.name}: cannot run {executable!r} ({exc.strerror or exc}); check claude_path="
            )
        except BaseException:
            await self.aclose()  # cancelled while starting: nothing may be left running
            raise
        if self._failure is not None:
            await self.aclose()
            raise self._failure

    async def _fill(self) -> None:
        if self._process is None:
            await self.start()
        while not self._pending:
            if self._finished:
                raise StopAsyncIteration
            try:
                line = await self._next_line()
                if line is None:
                    self._finished = True
                    tokens = await self._end()
                else:
                    tokens = self._parser.feed_line(line)
            except BaseException:
                # Errors, timeouts and cancellation all end the process.
                self._finished = True
                await self.aclose()
                raise
            self._pending.extend(tokens)

    def _remaining(self) -> float:
        """Seconds the next wait may take: the idle limit, or less near the total deadline."""
        limit = self._claude.timeouts.idle
        if self._deadline is not None:
            limit = min(limit, self._deadline - time.perf_counter())
        return limit

    async def _next_line(self) -> Optional[bytes]:
        assert self._process is not None and self._process.stdout is not None
        buffer = self._buffer
        scanned = 0
        while True:
            end = buffer.find(b"\n", scanned)
            if end >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                return line
            if self._eof:
                if buffer:
                    line = bytes(buffer)
                    buffer.clear()
                    return line
                return None
            if len(buffer) > MAX_LINE_BYTES:
                raise StreamDecodeError(
                    f"{self._claude.name}: an output line exceeds {MAX_LINE_BYTES} bytes", len(buffer)
                )
            scanned = len(buffer)
            remaining = self._remaining()
            try:
                if remaining <= 0:
                    raise TimeoutError
                with anyio.fail_after(remaining):
                    chunk = await self._process.stdout.receive(_READ_SIZE)
            except anyio.EndOfStream:
                self._eof = True
                continue
            except TimeoutError:
                raise self._timeout() from None
            self._bytes += len(chunk)
            buffer += chunk

    def _timeout(self) -> APITimeoutError:
        timeouts = self._claude.timeouts
        return APITimeoutError(
            f"{self._claude.name}: the claude process timed out after {self._bytes} bytes of output "
            f"(idle limit {timeouts.idle}s, total limit {self._invocation.timeout}s)"
        )

    async def _end(self) -> list[StreamToken]:
        """At the end of stdout: wait for the exit, report a failure, else the final tokens."""
        assert self._process is not None
        try:
            with anyio.fail_after(max(self._remaining(), 0.0)):
                code = await self._process.wait()
        except TimeoutError:
            raise self._timeout() from None
        self.exit_code = code
        if code != 0:
            stderr = self._stderr_tail()
            detail = f" Error output: {stderr}" if stderr else ""
            raise ClaudeCodeError(
                f"Claude Code process exited with code {code}.{detail}",
                exit_code=code,
                stderr=stderr,
                provider=self._claude.name,
                model=self._invocation.model or None,
            )
        tokens = self._parser.finish()
        await self.aclose()
        return tokens

    def _stderr_tail(self) -> str:
        handle = self._stderr_file
        if handle is None:
            return ""
        try:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _STDERR_TAIL))
            data = handle.read()
        except (OSError, ValueError):
            return ""
        text = data.decode("utf-8", errors="replace").strip()
        if size > _STDERR_TAIL:
            text = "…" + text
        return self._claude.redact(text)

    async def aclose(self) -> None:
        """End the process (SIGTERM, then SIGKILL) and reap it; idempotent."""
        if self.closed:
            return
        self._closed = True
        process = self._process
        with anyio.CancelScope(shield=True):
            if process is not None:
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError, OSError):
                        process.terminate()
                    with anyio.move_on_after(_KILL_GRACE):
                        await process.wait()
                    if process.returncode is None:
                        with contextlib.suppress(ProcessLookupError, OSError):
                            process.kill()
                with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await process.aclose()  # closes the pipe and waits: no zombie
                if self.exit_code is None:
                    self.exit_code = process.returncode
        for handle in (self._stdin_file, self._stderr_file):
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()


class ClaudeCodeProvider(Provider):
    """Claude models through the Claude Code CLI (see the module docs).

    Args:
        claude_path: the ``claude`` executable (a name looked up on ``PATH``, or a path).
        max_output_tokens: ``CLAUDE_CODE_MAX_OUTPUT_TOKENS`` when the request sets no
            ``max_tokens`` (default: the variable, else 16000).
        cwd: the working directory of the process (default: this process's).
        env: extra environment variables for the process.
        timeouts: ``idle`` bounds the silence between output lines, ``total`` the whole
            run (default 600 s, Roo's limit); the other fields do not apply.
        coalesce: merge adjacent text (and reasoning) of one message into one token.
    """

    name: ClassVar[str] = "claude-code"
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        streaming=True,
        tools=False,
        images=False,
        reasoning=True,
        prompt_cache=True,
        legacy_completions=False,
        list_models=True,
        count_tokens_endpoint=False,
    )
    requires_api_key: ClassVar[bool] = False

    def __init__(
        self,
        *,
        claude_path: Optional[Union[str, os.PathLike[str]]] = None,
        max_output_tokens: Optional[int] = None,
        cwd: Optional[Union[str, os.PathLike[str]]] = None,
        env: Optional[Mapping[str, str]] = None,
        timeouts: Optional[Timeouts] = None,
        coalesce: bool = True,
    ) -> None:
        super().__init__(timeouts=timeouts or Timeouts(total=DEFAULT_TIMEOUT), coalesce=coalesce)
        if max_output_tokens is not None and (isinstance(max_output_tokens, bool) or max_output_tokens < 1):
            raise ConfigurationError(
                f"claude-code: max_output_tokens must be a positive int, got {max_output_tokens!r}"
            )
        self.claude_path: str = os.fspath(claude_path) if claude_path is not None else "claude"
        if not self.claude_path:
            raise ConfigurationError("claude-code: claude_path must not be empty")
        self.max_output_tokens = max_output_tokens
        self.cwd: Optional[str] = os.fspath(cwd) if cwd is not None else None
        self.env: dict[str, str] = dict(env or {})

    def __repr__(self) -> str:
        return f"<ClaudeCodeProvider {self.name!r} claude_path={self.claude_path!r}>"

    # -- the executable -------------------------------------------------------------------------------
    def not_found(self, cause: Optional[BaseException] = None) -> ConfigurationError:
        detail = f" ({cause})" if cause is not None else ""
        return ConfigurationError(
            f"{self.name}: claude CLI not found: {self.claude_path!r} is not an executable on PATH{detail}; "
            f"install Claude Code ({INSTALL_URL}) or pass claude_path="
        )

    def resolve_executable(self) -> str:
        """The executable to run (``ConfigurationError`` when there is none)."""
        path = self._child_env().get("PATH")
        found = shutil.which(self.claude_path, path=path)
        if found is None:
            raise self.not_found()
        return found

    def has_credentials(self) -> bool:
        """Whether the ``claude`` executable is found (Claude Code keeps its own login)."""
        return shutil.which(self.claude_path, path=self._child_env().get("PATH")) is not None

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        return env

    def _secrets(self) -> tuple[Optional[str], ...]:
        env = self._child_env()
        return tuple(env.get(name) for name in _SECRET_ENV)

    def redact(self, text: str) -> str:
        """``text`` without API keys or tokens (of the child's environment, or shaped like one)."""
        return _TOKEN_PATTERN.sub("***", redact(text, self._secrets()))

    # -- the run --------------------------------------------------------------------------------------
    def build_invocation(self, request: ChatRequest, *, windows: Optional[bool] = None) -> ClaudeCodeInvocation:
        """Arguments, stdin, environment and limits of the run for ``request`` (no I/O)."""
        windows = sys.platform == "win32" if windows is None else windows
        env = self._child_env()
        if request.max_tokens is not None:
            env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(request.max_tokens)
        elif self.max_output_tokens is not None:
            env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(self.max_output_tokens)
        elif not env.get("CLAUDE_CODE_MAX_OUTPUT_TOKENS"):
            env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(CLAUDE_CODE_DEFAULT_MAX_OUTPUT_TOKENS)
        model = request.model
        if model and env.get("CLAUDE_CODE_USE_VERTEX") == "1":
            model = vertex_model_id(model)
        system = request.system_prompt() or ""
        messages = filter_images(convert_messages(request.conversation()))
        arguments = ["-p"]
        if not windows:
            arguments += ["--system-prompt", system]
        arguments += [
            "--verbose",
            "--output-format",
            "stream-json",
            "--disallowedTools",
            ",".join(DISALLOWED_TOOLS),
            "--max-turns",
            "1",
        ]
        if model:
            arguments += ["--model", model]
        document: Any = {"systemPrompt": system, "messages": messages} if windows else messages
        stdin = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        timeout = request.timeout if request.timeout is not None else self.timeouts.total
        return ClaudeCodeInvocation(tuple(arguments), stdin, env, self.cwd, model, timeout)

    # -- the interface --------------------------------------------------------------------------------
    def build_chat_call(self, request: ChatRequest, *, stream: bool) -> HttpCall:
        """Not applicable: Claude Code is a process, not an HTTP API (see :meth:`build_invocation`)."""
        raise TypeError(f"{self.name} runs the claude CLI and makes no HTTP calls; use build_invocation()")

    def parse_chat_response(self, data: Any, *, model: str, request_id: Optional[str]) -> ChatResponse:
        """Not applicable: answers come from :class:`ClaudeCodeStream`."""
        raise TypeError(f"{self.name} has no HTTP responses to parse")

    def chat_stream(self, request: ChatRequest) -> ClaudeCodeStream:
        """Run ``claude`` for ``request``: ``async with provider.chat_stream(req) as stream: …``."""
        return ClaudeCodeStream(self, request, coalesce=self.coalesce)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Run ``claude`` for ``request`` and return the whole answer."""
        async with self.chat_stream(request) as stream:
            return await stream.get_final_response()

    def complete_stream(self, request: CompletionRequest) -> ClaudeCodeStream:
        """A plain prompt as a one-message chat."""
        return self.chat_stream(request.as_chat())

    async def list_models(self) -> list[ModelInfo]:
        """Roo's Claude Code table (no process is run)."""
        out: list[ModelInfo] = []
        for model_id in CLAUDE_CODE_MODELS:
            info = CLAUDE_MODELS.get(model_id)
            out.append(
                ModelInfo(
                    id=model_id,
                    provider=self.name,
                    context_window=info.context_window if info else None,
                    max_output_tokens=info.max_tokens if info else None,
                    supports_images=False,
                    supports_prompt_cache=True,
                    supports_reasoning=False,
                )
            )
        return out

    async def _probe(self) -> None:
        """Healthy when ``claude --version`` runs and exits 0."""
        executable = self.resolve_executable()
        try:
            with anyio.fail_after(min(self.timeouts.connect * 2, 30.0)):
                completed = await anyio.run_process(
                    [executable, "--version"], env=self._child_env(), cwd=self.cwd, check=False
                )
        except TimeoutError:
            raise APITimeoutError(f"{self.name}: `claude --version` did not answer") from None
        except FileNotFoundError as exc:
            raise self.not_found(exc) from None
        if completed.returncode != 0:
            stderr = self.redact(completed.stderr.decode("utf-8", "replace").strip()[-_STDERR_TAIL:])
            raise ClaudeCodeError(
                f"`claude --version` exited with code {completed.returncode}" + (f": {stderr}" if stderr else ""),
                exit_code=completed.returncode,
                stderr=stderr,
                provider=self.name,
            )

"""Pure-Python twin of the native ``bedrock`` dialect: AWS Bedrock runtime streams.

Framing is binary AWS event-stream (:mod:`tokenwire._pure.eventstream`); each message
has a JSON payload. The ``:message-type`` header selects what a message is:

- ``event``: ``:event-type`` names the event; the payload is one JSON value parsed
  strictly like every dialect's events (``"invalid JSON in bedrock event"``).
- ``exception``: a provider error whose type is ``:exception-type``
  (``ThrottlingException``, ``ValidationException``, ``ModelStreamErrorException``, …)
  and whose message is the payload's ``message`` (else ``Message``) string, else
  ``"unknown error"``.
- ``error``: a provider error whose type and code are ``:error-code`` and whose message
  is ``:error-message`` (else ``"unknown error"``).
- anything else, or no such string header: ignored.

Payload families (``StreamProcessor("bedrock", invoke_model=...)``):

ConverseStream (default, ``invoke_model=None``)
    ``contentBlockStart`` with ``start.toolUse`` → ``ToolCallDelta(n, toolUseId, name, "")``
    (``n`` = 0-based tool ordinal, remembered for its ``contentBlockIndex``);
    ``contentBlockDelta`` → in this order ``ReasoningDelta(delta.reasoningContent.text)``
    (a ``signature`` gives nothing), ``TextDelta(delta.text)``,
    ``ToolCallDelta(n, None, None, delta.toolUse.input)`` for a mapped block;
    ``messageStop`` → ``Finish(stopReason)``; ``metadata.usage`` → usage (``inputTokens``,
    ``outputTokens``, ``cacheReadInputTokens``, ``cacheWriteInputTokens``);
    ``messageStart``/``contentBlockStop`` → nothing. Bedrock sends ``metadata`` and
    ``messageStop`` in either order (recorded streams put ``metadata`` first), so the
    stream is ``done`` — and its ``Usage`` emitted — once both were seen; otherwise
    ``finish()`` emits the ``Usage``.

InvokeModelWithResponseStream (``"anthropic"``, ``"titan"``, ``"llama"``)
    ``chunk`` events carry ``{"bytes": "<base64>"}`` (invalid base64 →
    ``"invalid base64 in bedrock chunk"``); the decoded bytes are the model's own JSON
    chunk: Anthropic Claude Messages events (handled by the ``anthropic`` dialect
    itself), Amazon Titan text (``outputText``; ``inputTextTokenCount`` and cumulative
    ``totalOutputTextTokenCount``; ``completionReason``) or Meta Llama (``generation``;
    ``prompt_token_count`` and cumulative ``generation_token_count``; ``stop_reason``).
    For Titan and Llama a non-empty reason gives ``Finish``, then ``Usage``, and ends the
    stream. Other event types are ignored.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any, Optional

from tokenwire._pure.eventstream import EventStreamDecoder, Message
from tokenwire._pure.processor import (
    _U32_MAX,
    _U64_MAX,
    _dict,
    _Failure,
    _InvalidJSON,
    _loads,
    _provider_failure,
    _text,
    _uint,
)
from tokenwire._pure.tokens import ReasoningDelta, TextDelta
from tokenwire.errors import StreamDecodeError

if TYPE_CHECKING:
    from tokenwire._pure.processor import StreamProcessor

__all__ = ["INVOKE_MODEL_FORMATS", "BedrockStream"]

INVOKE_MODEL_FORMATS: tuple[str, ...] = ("anthropic", "titan", "llama")
# (text, input count, cumulative output count, final reason) of the simple families.
_SIMPLE_FIELDS = {
    "titan": ("outputText", "inputTextTokenCount", "totalOutputTextTokenCount", "completionReason"),
    "llama": ("generation", "prompt_token_count", "generation_token_count", "stop_reason"),
}


def _header_str(headers: dict[str, Any], name: str) -> Optional[str]:
    value = headers.get(name)
    return value if type(value) is str else None


class BedrockStream:
    """Framing and dialect state of one ``bedrock`` stream, driving a pure processor."""

    __slots__ = ("_format", "_frames", "_metadata_seen", "_stop_seen", "_tool_blocks", "_tool_count")

    def __init__(self, invoke_model: Optional[str], max_event_bytes: int) -> None:
        if invoke_model is not None and invoke_model not in INVOKE_MODEL_FORMATS:
            raise ValueError(
                f"unknown invoke_model {invoke_model!r}; expected one of: {', '.join(INVOKE_MODEL_FORMATS)}"
            )
        self._format = invoke_model
        self._frames = EventStreamDecoder(max_event_bytes)
        self._tool_blocks: dict[int, int] = {}
        self._tool_count = 0
        self._stop_seen = False
        self._metadata_seen = False

    @property
    def pending(self) -> bool:
        """True while a partial event-stream message is buffered."""
        return self._frames.pending

    def feed(self, proc: StreamProcessor, chunk: bytes) -> None:
        """Decode ``chunk`` and handle its messages (raises ``_Failure``)."""
        messages: list[Message] = []
        framing_error: Optional[StreamDecodeError] = None
        try:
            self._frames.feed_into(chunk, messages)
        except StreamDecodeError as error:
            # Messages completed before the bad one are still handled first.
            framing_error = error
        for headers, payload in messages:
            if proc._done:
                break
            self._message(proc, headers, payload)
        if framing_error is not None:
            raise _Failure(framing_error)

    def _message(self, proc: StreamProcessor, headers: dict[str, Any], payload: bytes) -> None:
        kind = _header_str(headers, ":message-type")
        if kind == "exception":
            message: Optional[str] = None
            try:
                obj = _loads(payload.decode("utf-8"))
            except (UnicodeDecodeError, _InvalidJSON):
                obj = None
            if type(obj) is dict:
                message = _text(obj.get("message")) or _text(obj.get("Message"))
            raise _provider_failure(message or "unknown error", _header_str(headers, ":exception-type"))
        if kind == "error":
            code = _header_str(headers, ":error-code")
            raise _provider_failure(_header_str(headers, ":error-message") or "unknown error", code, code)
        if kind != "event":
            return
        event_type = _header_str(headers, ":event-type") or ""
        obj = _parse(proc, payload)
        if obj is None:
            return
        if self._format is None:
            self._converse(proc, event_type, obj)
            return
        if event_type != "chunk":
            return
        encoded = obj.get("bytes")
        if type(encoded) is not str:
            return
        try:
            inner = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise _Failure(StreamDecodeError("invalid base64 in bedrock chunk", proc._bytes_fed)) from None
        if self._format == "anthropic":
            try:
                text = inner.decode("utf-8")
            except UnicodeDecodeError:
                raise _invalid_json(proc, "invalid UTF-8") from None
            proc._anthropic(text, "")
            return
        chunk = _parse(proc, inner)
        if chunk is not None:
            self._simple_chunk(proc, chunk, _SIMPLE_FIELDS[self._format])

    def _converse(self, proc: StreamProcessor, event_type: str, obj: dict[str, Any]) -> None:
        if event_type == "contentBlockDelta":
            delta = _dict(obj.get("delta"))
            if delta is None:
                return
            reasoning = _dict(delta.get("reasoningContent"))
            if reasoning is not None:
                text = _text(reasoning.get("text"))
                if text is not None:
                    proc._add_text(ReasoningDelta, text)
            text = _text(delta.get("text"))
            if text is not None:
                proc._add_text(TextDelta, text)
            tool = _dict(delta.get("toolUse"))
            index = _uint(obj.get("contentBlockIndex"), _U32_MAX)
            call = None if index is None else self._tool_blocks.get(index)
            if tool is not None and call is not None:
                fragment = _text(tool.get("input"))
                if fragment is not None:
                    proc._tool_call(call, None, None, fragment)
        elif event_type == "contentBlockStart":
            start = _dict(obj.get("start"))
            tool = None if start is None else _dict(start.get("toolUse"))
            if tool is None:
                return
            call = self._tool_count
            self._tool_count += 1
            index = _uint(obj.get("contentBlockIndex"), _U32_MAX)
            if index is not None:
                self._tool_blocks[index] = call
            proc._tool_call(call, _text(tool.get("toolUseId")), _text(tool.get("name")), "")
        elif event_type == "messageStop":
            reason = _text(obj.get("stopReason"))
            if reason is not None:
                proc._finish_reason(reason)
            self._stop_seen = True
            self._end_if_complete(proc)
        elif event_type == "metadata":
            usage = _dict(obj.get("usage"))
            if usage is not None:
                proc._usage = (
                    _count(usage.get("inputTokens")),
                    _count(usage.get("outputTokens")),
                    _count(usage.get("cacheReadInputTokens")),
                    _count(usage.get("cacheWriteInputTokens")),
                    0,
                )
            self._metadata_seen = True
            self._end_if_complete(proc)

    def _end_if_complete(self, proc: StreamProcessor) -> None:
        if self._stop_seen and self._metadata_seen:
            proc._done = True
            proc._emit_usage()

    @staticmethod
    def _simple_chunk(proc: StreamProcessor, chunk: dict[str, Any], fields: tuple[str, str, str, str]) -> None:
        text_field, input_field, output_field, reason_field = fields
        text = _text(chunk.get(text_field))
        if text is not None:
            proc._add_text(TextDelta, text)
        prompt = _uint(chunk.get(input_field), _U64_MAX)
        output = _uint(chunk.get(output_field), _U64_MAX)
        if prompt is not None or output is not None:
            current = proc._usage or (0, 0, 0, 0, 0)
            proc._usage = (
                current[0] if prompt is None else prompt,
                current[1] if output is None else output,
                current[2],
                current[3],
                current[4],
            )
        reason = _text(chunk.get(reason_field))
        if reason is not None:
            proc._finish_reason(reason)
            proc._done = True
            proc._emit_usage()


def _count(value: Any) -> int:
    number = _uint(value, _U64_MAX)
    return 0 if number is None else number


def _invalid_json(proc: StreamProcessor, detail: str) -> _Failure:
    return _Failure(StreamDecodeError(f"invalid JSON in bedrock event: {detail}", proc._bytes_fed))


def _parse(proc: StreamProcessor, payload: bytes) -> Optional[dict[str, Any]]:
    """The payload's JSON object, ``None`` for another JSON value; raises ``_Failure``."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid_json(proc, "invalid UTF-8") from None
    obj = proc._parse(text)
    return obj if type(obj) is dict else None

"""Regenerate the demo streams bundled in python/tokenwire/data/demo/.

They are byte-exact wire streams in each provider's format (field layout as the real
APIs send it), small enough to ship in the wheel, so `tokenwire demo` needs no network,
no keys and no ../shared checkout. Run: python scripts/make_demo_streams.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "python" / "tokenwire" / "data" / "demo"

ANSWER = (
    "tokenwire turns raw provider bytes into tokens in one pass: the SSE framing, the JSON scan and the "
    "field extraction all happen in Rust, and only the finished tokens cross into Python. "
    "That keeps per-chunk work in microseconds, so a thousand concurrent streams cost little more than "
    "the sockets they ride on. Every dialect has a pure-Python twin that serves as the reference, and "
    "both must agree on every split point of every recorded stream."
)
THINKING = (
    "The user wants a short overview. Lead with the architecture, then the performance claim, "
    "then how correctness is checked."
)


def words(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


def sse(data: dict, event: str | None = None) -> str:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {body}\n\n"


def openai_chat() -> str:
    base = {
        "id": "chatcmpl-demo0001",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": "gpt-4.1-mini-2025-04-14",
        "service_tier": "default",
        "system_fingerprint": "fp_demo",
    }
    out = []

    def chunk(delta: dict, finish: str | None = None, usage: dict | None = None, choices: bool = True) -> None:
        payload = dict(base)
        payload["choices"] = (
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else []
        )
        payload["usage"] = usage
        out.append(sse(payload))

    chunk({"role": "assistant", "content": "", "refusal": None})
    for w in words(ANSWER):
        chunk({"content": w})
    chunk({"content": "\n\nLet me look that up for you."})
    args = json.dumps({"query": "tokenwire benchmarks", "max_results": 3})
    chunk({"tool_calls": [{"index": 0, "id": "call_demo_1", "type": "function",
                           "function": {"name": "web_search", "arguments": ""}}]})
    for i in range(0, len(args), 7):
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + 7]}}]})
    chunk({}, finish="tool_calls")
    chunk({}, choices=False, usage={
        "prompt_tokens": 412, "completion_tokens": 131, "total_tokens": 543,
        "prompt_tokens_details": {"cached_tokens": 256, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    })
    out.append("data: [DONE]\n\n")
    return "".join(out)


def anthropic() -> str:
    out = [
        sse({"type": "message_start", "message": {
            "id": "msg_demo0001", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 398, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1024,
                      "output_tokens": 1}}}, "message_start"),
        sse({"type": "content_block_start", "index": 0,
             "content_block": {"type": "thinking", "thinking": "", "signature": ""}}, "content_block_start"),
        sse({"type": "ping"}, "ping"),
    ]
    for w in words(THINKING):
        out.append(sse({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "thinking_delta", "thinking": w}}, "content_block_delta"))
    out.append(sse({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "signature_delta", "signature": "EqQBCkYIBRgCKkDemoSignature=="}},
                   "content_block_delta"))
    out.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    out.append(sse({"type": "content_block_start", "index": 1,
                    "content_block": {"type": "text", "text": ""}}, "content_block_start"))
    for w in words(ANSWER):
        out.append(sse({"type": "content_block_delta", "index": 1,
                        "delta": {"type": "text_delta", "text": w}}, "content_block_delta"))
    out.append(sse({"type": "content_block_stop", "index": 1}, "content_block_stop"))
    out.append(sse({"type": "content_block_start", "index": 2, "content_block": {
        "type": "tool_use", "id": "toolu_demo_1", "name": "web_search", "input": {}}}, "content_block_start"))
    args = json.dumps({"query": "tokenwire benchmarks", "max_results": 3})
    for i in range(0, len(args), 9):
        out.append(sse({"type": "content_block_delta", "index": 2,
                        "delta": {"type": "input_json_delta", "partial_json": args[i : i + 9]}},
                       "content_block_delta"))
    out.append(sse({"type": "content_block_stop", "index": 2}, "content_block_stop"))
    out.append(sse({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                    "usage": {"output_tokens": 164}}, "message_delta"))
    out.append(sse({"type": "message_stop"}, "message_stop"))
    return "".join(out)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "openai-chat.sse").write_bytes(openai_chat().encode())
    (OUT / "anthropic.sse").write_bytes(anthropic().encode())
    print("wrote", *sorted(p.name for p in OUT.iterdir()))


if __name__ == "__main__":
    main()

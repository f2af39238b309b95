"""A stand-in for the ``claude`` CLI, for the claude-code provider tests.

The tests put a ``claude`` launcher on ``PATH`` that runs this file with the test
interpreter. It behaves like ``claude -p … --output-format stream-json``:

- ``--version`` prints a version line (``FAKE_CLAUDE_VERSION_EXIT`` sets the exit status).
- Otherwise it checks the flags the real CLI requires for stream-json (``-p`` first,
  ``--output-format stream-json`` needs ``--verbose``) and refuses others like the CLI
  (exit 1, ``error: …`` on stderr); reads all of stdin; records ``argv``, ``stdin``, its
  pid, cwd and the variables named in ``FAKE_CLAUDE_ENV`` to the JSON file
  ``FAKE_CLAUDE_CAPTURE``; then replays ``FAKE_CLAUDE_SCRIPT`` (a JSON file):

  ``{"lines": [object | string, …], "stderr": str, "exit": int,
  "hang_after": int, "delay": float}``

  Objects are printed as compact JSON lines, strings verbatim (``"\\n"`` is not added
  to a string that ends with ``"<no-newline>"``, which is stripped). ``hang_after: n``
  sleeps for a minute after ``n`` lines (to test timeouts and cancellation).
"""

from __future__ import annotations

import json
import os
import sys
import time

_KNOWN_FLAGS = {"--system-prompt", "--output-format", "--disallowedTools", "--max-turns", "--model"}


def _fail(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(1)


def _check(argv: list[str]) -> None:
    if not argv or argv[0] != "-p":
        _fail("this fake only runs in print mode (-p first)")
    position = 1
    seen: dict[str, str] = {}
    while position < len(argv):
        flag = argv[position]
        if flag == "--verbose":
            seen[flag] = ""
            position += 1
            continue
        if flag not in _KNOWN_FLAGS:
            _fail(f"unknown option '{flag}'")
        if position + 1 >= len(argv):
            _fail(f"option '{flag}' argument missing")
        seen[flag] = argv[position + 1]
        position += 2
    if seen.get("--output-format") == "stream-json" and "--verbose" not in seen:
        _fail("When using --print, --output-format=stream-json requires --verbose")


def main() -> None:
    argv = sys.argv[1:]
    if argv == ["--version"]:
        sys.stdout.write("1.0.99 (Claude Code)\n")
        raise SystemExit(int(os.environ.get("FAKE_CLAUDE_VERSION_EXIT", "0")))
    _check(argv)
    stdin = sys.stdin.buffer.read().decode("utf-8")
    capture = os.environ.get("FAKE_CLAUDE_CAPTURE")
    if capture:
        names = [n for n in os.environ.get("FAKE_CLAUDE_ENV", "").split(",") if n]
        record = {
            "argv": argv,
            "stdin": stdin,
            "pid": os.getpid(),
            "cwd": os.getcwd(),
            "env": {name: os.environ.get(name) for name in names},
        }
        with open(capture, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
    script: dict[str, object] = {}
    script_path = os.environ.get("FAKE_CLAUDE_SCRIPT")
    if script_path:
        with open(script_path, encoding="utf-8") as handle:
            script = json.load(handle)
    lines = script.get("lines") or []
    hang_after = script.get("hang_after")
    delay = float(script.get("delay") or 0)  # type: ignore[arg-type]
    out = sys.stdout.buffer
    for index, line in enumerate(lines):  # type: ignore[arg-type]
        if hang_after is not None and index == hang_after:
            time.sleep(60)
        if isinstance(line, str):
            data = line[: -len("<no-newline>")] if line.endswith("<no-newline>") else line + "\n"
        else:
            data = json.dumps(line, separators=(",", ":")) + "\n"
        out.write(data.encode("utf-8"))
        out.flush()
        if delay:
            time.sleep(delay)
    if hang_after is not None and hang_after >= len(lines):  # type: ignore[arg-type]
        time.sleep(60)
    stderr = script.get("stderr")
    if stderr:
        sys.stderr.write(str(stderr))
        sys.stderr.flush()
    raise SystemExit(int(script.get("exit") or 0))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()

"""What the Redis tests share: whether Redis is required here, the redis package (or a
module-level skip without it), and the skip-or-fail for a missing server.

Under ``CI=true`` or ``TOKENWIRE_REQUIRE_REDIS=1`` a missing package or server fails the
tests; elsewhere they skip with the reason.
"""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest

REQUIRED = os.environ.get("CI", "").lower() == "true" or os.environ.get("TOKENWIRE_REQUIRE_REDIS") == "1"

try:
    import redis as redis_sync
    import redis.asyncio as redis_async
except ImportError:  # pragma: no cover - the dev requirements have it
    if REQUIRED:
        raise
    pytest.skip("the redis package (the tokenwire[redis] extra) is not installed", allow_module_level=True)

__all__ = ["REQUIRED", "free_port", "redis_async", "redis_sync", "unavailable"]


def unavailable(reason: str, hint: str) -> NoReturn:
    """Fail (Redis required here) or skip, saying why and what to do (``hint``)."""
    if REQUIRED:
        pytest.fail(f"Redis is required here (CI=true or TOKENWIRE_REQUIRE_REDIS=1) but {reason}", pytrace=False)
    pytest.skip(f"{reason}; {hint}")


def free_port() -> int:
    """A loopback port nothing listens on (free when asked)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port

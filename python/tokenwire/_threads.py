"""Running blocking work (credential files, google-auth refreshes) in a worker thread."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

_T = TypeVar("_T")


async def to_thread(func: Callable[..., _T], *args: Any) -> _T:
    """``func(*args)`` in anyio's worker thread pool, without blocking the event loop."""
    # Imported on first use: most processes never read a credential file, and the module
    # with its thread pool machinery is then never loaded.
    import anyio.to_thread

    return await anyio.to_thread.run_sync(func, *args)

"""Polling helpers so tests wait for a condition instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Sized
from typing import TypeVar

T = TypeVar("T")


async def wait_for(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = 5.0,
    *,
    interval: float = 0.01,
    message: str | None = None,
) -> T:
    """Poll `predicate` (sync or async) until it returns a truthy value; return that value.

    Raises TimeoutError (with `message` or the predicate's repr) after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(message or f"condition {predicate!r} not met within {timeout}s")
        await asyncio.sleep(interval)


async def wait_for_len(collection: Sized, n: int, timeout: float = 5.0) -> None:
    """Wait until `len(collection) >= n` (e.g. `await wait_for_len(tg.sent, 2)`)."""
    try:
        await wait_for(lambda: len(collection) >= n, timeout)
    except TimeoutError:
        got = len(collection)
        raise TimeoutError(f"expected >= {n} items within {timeout}s, got {got}") from None

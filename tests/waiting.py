"""Waiting for a condition in a test: poll it until it holds or a timeout passes, then fail saying what.

The timeout is a ceiling for a loaded machine, never the expected duration: a test that waits for
what it needs is as fast as the machine and never flakes because the machine is slow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    cond: Callable[[], T],
    timeout: float = 30.0,
    what: str = "condition",
    interval: float = 0.05,
    detail: Callable[[], str] | None = None,
) -> T:
    """``cond()``'s first truthy value; AssertionError after ``timeout`` s (plus ``detail()``, e.g. a log tail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = detail() if detail is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}" + (f"\n{extra}" if extra else ""))
        time.sleep(interval)

"""One bounded poll for everything that happens after a reply has returned: logs, files, engine state, health."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A wait gave up: says what it waited for, for how long, and the last value it saw."""


def wait_for(
    probe: Callable[[], T],
    what: str,
    timeout: float,
    interval: float = 0.05,
    until: Callable[[T], object] = bool,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call probe every interval until until(value) holds; return that value.

    Raise WaitTimeout after timeout seconds.

    An exception of a type in ignore counts as one more failed look (it becomes
    the last value seen); any other exception ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    looks = 0
    last: object = "(nothing yet)"
    while True:
        looks += 1
        try:
            value = probe()
        except ignore as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if until(value):
                return value
            last = value
        if time.monotonic() >= deadline:
            raise WaitTimeout(
                f"gave up waiting for {what} after {timeout:g} s ({looks} looks); last seen: {_short(last)}"
            )
        time.sleep(interval)


def _short(value: object, limit: int = 2000) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else f"...{text[-limit:]}"

"""Hugging Face's rate limit: how long it asks us to wait, and waiting it out (bounded).

The hub answers 429 with the IETF ``RateLimit`` header (``"api";r=0;t=55``: none left,
the window resets in 55 s), sometimes ``RateLimit-Reset: 55``, and ``Retry-After`` in
seconds or as an HTTP date (CDNs). lmdesk waits the stated time, saying so through a
callback once a second (the UI shows "rate-limited by Hugging Face, retrying in N s"),
then tries again, a bounded number of times.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TypeVar

MAX_WAIT_S = 120.0  # a longer wait is not waited out: the error is shown instead
MAX_RATE_LIMIT_RETRIES = 3
UNSTATED_WAIT_S = 5.0  # a 429 that does not say how long

_RATELIMIT = re.compile(r"\br\s*=\s*(\d+)\s*;\s*t\s*=\s*(\d+)")

T = TypeVar("T")

OnWait = Callable[[int], None]
"""Called with the seconds left before the retry, about once a second; may raise to cancel."""


def retry_after_s(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait before the next request; None if it does not say."""
    lower = {k.lower(): v for k, v in headers.items()}
    match = _RATELIMIT.search(lower.get("ratelimit", ""))
    if match and int(match.group(1)) == 0:
        return float(match.group(2))
    reset = lower.get("ratelimit-reset", "").strip()
    if reset.isdigit():
        return float(reset)
    value = lower.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    if value:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    return None


def waiting_words(seconds: int) -> str:
    return f"Rate-limited by Hugging Face, retrying in {seconds} s"


def wait_out(
    seconds: float | None,
    *,
    on_wait: OnWait | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """Wait ``seconds`` (or `UNSTATED_WAIT_S`), telling ``on_wait`` the countdown each second."""
    left = UNSTATED_WAIT_S if seconds is None else seconds
    while left > 0:
        if on_wait is not None:
            on_wait(math.ceil(left))
        step = min(1.0, left)
        sleep(step)
        left -= step


def retrying(call: Callable[[], T], *, on_wait: OnWait | None = None, retries: int = 0) -> T:
    """``call()``; after a 429 again once the stated wait is over (bounded), and up to
    ``retries`` more times at once after other errors worth retrying (a dropped connection).
    """
    from .errors import HubError, RateLimited

    failures = rate_limits = 0
    while True:
        try:
            return call()
        except RateLimited as error:
            rate_limits += 1
            wait = error.retry_after_s
            if rate_limits > MAX_RATE_LIMIT_RETRIES or (wait or 0) > MAX_WAIT_S:
                raise
            wait_out(wait, on_wait=on_wait)
        except HubError as error:
            failures += 1
            if not error.retryable or failures > retries:
                raise

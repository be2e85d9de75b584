"""Retry delays: exponential backoff, capped, with AWS's "full jitter"."""

from __future__ import annotations

import random

from squall.limits import MAX_ETA_AHEAD_SECONDS

_rng = random.SystemRandom()


def retry_delay(retry: int, *, base: float, cap: float, jitter: bool, rng: random.Random | None = None) -> int:
    """Seconds to wait before retry number ``retry`` (1 for the first retry).

    ``min(cap, base * 2**(retry-1))``, and with ``jitter`` a uniform draw from 0 to that ("full jitter",
    which spreads a burst of failures best). Whole seconds, since SQS delays are set in seconds. Never more
    than the longest wait Squall accepts: a retry is a new message, delayed by SQS or by a one-time schedule.
    """
    if retry < 1:
        raise ValueError(f"retry must be 1 or more, got {retry}")
    ceiling = min(cap, base * 2 ** min(retry - 1, 62), MAX_ETA_AHEAD_SECONDS)
    delay = (rng or _rng).uniform(0, ceiling) if jitter else ceiling
    return max(0, round(delay))

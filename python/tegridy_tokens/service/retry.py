"""Time budgets and backoff: retries stop before the invocation's own time runs out."""

from __future__ import annotations

import random
import time
from typing import Any

# Time kept back from Lambda's remaining time, to build and send the answer.
SAFETY_MARGIN_S = 0.5
# Budget when no Lambda context tells us (the local server, the command line).
DEFAULT_BUDGET_S = 20.0
BACKOFF_BASE_S = 0.02
BACKOFF_CAP_S = 1.0


class Deadline:
    """A point in time; `remaining()` is what is left of it, in seconds."""

    def __init__(self, seconds: float):
        self._end = time.monotonic() + seconds

    @classmethod
    def from_context(cls, context: Any) -> "Deadline":
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is None:
            return cls(DEFAULT_BUDGET_S)
        return cls(max(0.0, remaining() / 1000.0 - SAFETY_MARGIN_S))

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
    Jitter"): a uniform draw below the capped exponential, so racing retries spread out."""
    return random.uniform(0.0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2 ** attempt)))


def sleep_before_retry(attempt: int, deadline: Deadline) -> bool:
    """Sleeps before retry number `attempt` and returns True, or returns False at once when the
    sleep would not end before the deadline."""
    delay = backoff_delay(attempt)
    if delay >= deadline.remaining():
        return False
    time.sleep(delay)
    return True

"""Counters of rate limits shared by all web servers (RATELIMIT_STORAGE_URI: Redis, or
memory:// for one process), with the `limits` library that Flask-Limiter is built on.

While the shared storage does not answer, each process counts in its own memory instead (and
asks the storage again after RETRY_STORAGE_SECONDS): a limit then holds per process — with N
web processes at most N times the limit — instead of letting everything through (open) or
refusing everybody (closed). The login limit and the API limits count here.
"""

from __future__ import annotations

import logging
import time

from limits import RateLimitItem
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

log = logging.getLogger(__name__)

# After the shared storage failed, count in this process for this long before asking it again.
RETRY_STORAGE_SECONDS = 10


class SharedCounters:
    """Fixed-window counters in the shared storage, in this process while it is down."""

    def __init__(self, storage_uri: str, name: str) -> None:
        options = (
            {"socket_timeout": 2, "socket_connect_timeout": 2} if "redis" in storage_uri else {}
        )
        self.name = name  # for the log line
        self._shared = FixedWindowRateLimiter(storage_from_string(storage_uri, **options))
        self._local = FixedWindowRateLimiter(MemoryStorage())
        self._shared_down_until = 0.0

    def hit(
        self,
        item: RateLimitItem,
        key: str,
        cost: int,
        strategy: FixedWindowRateLimiter | None = None,
    ) -> tuple[FixedWindowRateLimiter, bool]:
        """Add `cost` (negative: give back) to `key`'s counter of `item`, in `strategy`'s
        storage, else the current one; returns the strategy used and whether the counter is
        within the limit."""
        if strategy is None:
            down = time.monotonic() < self._shared_down_until
            strategy = self._local if down else self._shared
        if strategy is self._shared:
            try:
                return strategy, strategy.hit(item, key, cost=cost)
            except Exception:  # the storage is down: count in this process meanwhile
                if time.monotonic() >= self._shared_down_until:
                    log.warning(
                        "%s: limit storage unreachable, counting in this process", self.name
                    )
                self._shared_down_until = time.monotonic() + RETRY_STORAGE_SECONDS
        return self._local, self._local.hit(item, key, cost=cost)

    @staticmethod
    def state(strategy: FixedWindowRateLimiter, item: RateLimitItem, key: str) -> tuple[int, float]:
        """What is left of `key`'s limit and the epoch second its window ends, read from the
        storage `hit` used (the shared storage failing right now: nothing left, a minute)."""
        try:
            stats = strategy.get_window_stats(item, key)
        except Exception:
            return 0, time.time() + 60
        return stats.remaining, stats.reset_time

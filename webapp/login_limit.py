"""The limit of failed logins per user name and per client address (LOGIN_RATE_LIMIT).

Each attempt is counted atomically *before* its password is checked (Redis INCR with expiry
in one script, or a locked counter in memory), so parallel attempts cannot all slip through
between check and count: with the limit 5 at most 5 passwords are checked per window. An
attempt refused or successful gives its count back; only failed password checks stay.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, current_app
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

log = logging.getLogger(__name__)

# After the shared storage failed, count in this process for this long before asking it again.
RETRY_STORAGE_SECONDS = 10


class Reservation:
    """One login attempt counted against its keys; `allowed` says whether to check the
    password. Call `give_back()` when the attempt must not count (refused or successful)."""

    def __init__(self, limit: LoginLimit) -> None:
        self.allowed = True
        self._limit = limit
        self._taken: list[tuple[FixedWindowRateLimiter, str]] = []

    def take(self, key: str) -> None:
        strategy, within = self._limit.hit(key, 1)
        self._taken.append((strategy, key))
        self.allowed = self.allowed and within

    def give_back(self) -> None:
        for strategy, key in self._taken:
            self._limit.hit(key, -1, strategy)
        self._taken = []


class LoginLimit:
    """Counters of login attempts in RATELIMIT_STORAGE_URI (Redis, shared by all web servers,
    or memory://); while that storage is down, counted in this process instead."""

    def __init__(self, storage_uri: str, limit: str) -> None:
        self.item: RateLimitItem = parse(limit)
        self.limit = limit
        options = (
            {"socket_timeout": 2, "socket_connect_timeout": 2} if "redis" in storage_uri else {}
        )
        self._shared = FixedWindowRateLimiter(storage_from_string(storage_uri, **options))
        self._local = FixedWindowRateLimiter(MemoryStorage())
        self._shared_down_until = 0.0

    def hit(
        self, key: str, cost: int, strategy: FixedWindowRateLimiter | None = None
    ) -> tuple[FixedWindowRateLimiter, bool]:
        """Add `cost` to `key`'s counter (in `strategy`'s storage, else the current one);
        returns the storage's strategy used and whether the counter is within the limit."""
        if strategy is None:
            down = time.monotonic() < self._shared_down_until
            strategy = self._local if down else self._shared
        if strategy is self._shared:
            try:
                return strategy, strategy.hit(self.item, key, cost=cost)
            except Exception:  # the storage is down: users must still be able to log in
                if time.monotonic() >= self._shared_down_until:
                    log.warning("Login limit storage unreachable: counting in this process")
                self._shared_down_until = time.monotonic() + RETRY_STORAGE_SECONDS
        return self._local, self._local.hit(self.item, key, cost=cost)

    def reserve(self, *keys: str) -> Reservation:
        """Count one attempt against every key; refused (and given back) when any key is
        over the limit."""
        reservation = Reservation(self)
        for key in keys:
            reservation.take(key)
        if not reservation.allowed:
            reservation.give_back()
        return reservation


def init_app(app: Flask) -> None:
    app.extensions["login_limit"] = LoginLimit(
        app.config["RATELIMIT_STORAGE_URI"], app.config["LOGIN_RATE_LIMIT"]
    )


def login_limit() -> LoginLimit:
    """The login limit of the current app."""
    return current_app.extensions["login_limit"]

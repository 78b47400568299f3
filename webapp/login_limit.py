"""The limit of failed logins per user name and per client address (LOGIN_RATE_LIMIT).

Each attempt is counted atomically *before* its password is checked (Redis INCR with expiry
in one script, or a locked counter in memory), so parallel attempts cannot all slip through
between check and count: with the limit 5 at most 5 passwords are checked per window. An
attempt refused or successful gives its count back; only failed password checks stay.
"""

from __future__ import annotations

from flask import Flask, current_app
from limits import RateLimitItem, parse
from limits.strategies import FixedWindowRateLimiter

from webapp.rate_counters import SharedCounters


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
    or memory://); while that storage is down, counted in this process instead: users must
    still be able to log in, and each process still limits the attempts it sees."""

    def __init__(self, storage_uri: str, limit: str) -> None:
        self.item: RateLimitItem = parse(limit)
        self.limit = limit
        self.counters = SharedCounters(storage_uri, "Login limit")

    def hit(
        self, key: str, cost: int, strategy: FixedWindowRateLimiter | None = None
    ) -> tuple[FixedWindowRateLimiter, bool]:
        """Add `cost` to `key`'s counter (in `strategy`'s storage, else the current one);
        returns the storage's strategy used and whether the counter is within the limit."""
        return self.counters.hit(self.item, key, cost, strategy)

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

"""The API's limits per token (README "JSON-API"): requests per minute (API_REQUESTS_PER_MINUTE)
and SMS per day (API_SMS_PER_DAY; a batch of 50 counts 50). Exceeding one answers 429 with
`Retry-After` and the API's JSON error.

Counted in RATELIMIT_STORAGE_URI with the login limit's `SharedCounters` (Redis for all web
servers): while Redis is down each process counts on its own, so an outage neither stops every
API client (the SMS are queued in the database, which still answers) nor lifts the limits
(each process still holds them; at most the number of processes times the limit get through).
The day is the calendar day in TIMEZONE; it starts again at midnight.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute

from webapp.api.errors import N_, ApiError, api_error
from webapp.rate_counters import SharedCounters


def _retry_after(seconds: float) -> int:
    """Whole seconds, at least 1 (Retry-After: 0 would invite an immediate retry)."""
    return max(1, math.ceil(seconds))


def too_many(code: str, msgid: str, retry_after: int, **params: Any) -> ApiError:
    """A 429 ApiError with `Retry-After` (also `retry_after` in the body) and `params`."""
    error = api_error(429, code, msgid, **params)
    error.headers["Retry-After"] = str(retry_after)
    error.extra["retry_after"] = retry_after
    return error


@dataclass(frozen=True)
class SmsReservation:
    """SMS counted against a token's day; `give_back()` when they were not queued after all."""

    limits: ApiLimits
    key: str
    count: int

    def give_back(self) -> None:
        if self.count and self.limits.per_day is not None:
            self.limits.counters.hit(self.limits.per_day, self.key, -self.count)


class ApiLimits:
    """The limits of one app; 0 switches a limit off."""

    def __init__(
        self,
        storage_uri: str,
        requests_per_minute: int,
        sms_per_day: int,
        timezone: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.counters = SharedCounters(storage_uri, "API limit")
        self.per_minute: RateLimitItem | None = (
            RateLimitItemPerMinute(requests_per_minute) if requests_per_minute > 0 else None
        )
        self.per_day: RateLimitItem | None = (
            RateLimitItemPerDay(sms_per_day) if sms_per_day > 0 else None
        )
        self.zone = ZoneInfo(timezone)
        self.clock = clock

    def count_request(self, token_id: int) -> None:
        """Count one request of the token; ApiError 429 `too_many_requests` over the limit."""
        item = self.per_minute
        if item is None:
            return
        key = f"api-requests/{token_id}"
        strategy, within = self.counters.hit(item, key, 1)
        if within:
            return
        _left, reset = self.counters.state(strategy, item, key)
        raise too_many(
            "too_many_requests",
            N_(
                "Zu viele Anfragen: dieser API-Token darf %(limit)d Anfragen pro Minute "
                "stellen. Bitte später erneut versuchen."
            ),
            _retry_after(reset - time.time()),
            limit=item.amount,
        )

    def take_sms(self, token_id: int, count: int) -> SmsReservation:
        """Count `count` SMS against the token's day, all or none: ApiError 429
        `daily_sms_limit` (saying how many are left today) when they would exceed it."""
        item = self.per_day
        now = self.clock().astimezone(self.zone)
        key = f"api-sms/{token_id}/{now.date().isoformat()}"
        if item is None or count <= 0:
            return SmsReservation(self, key, 0)
        strategy, within = self.counters.hit(item, key, count)
        if within:
            return SmsReservation(self, key, count)
        self.counters.hit(item, key, -count, strategy)  # the whole batch is refused
        left, _reset = self.counters.state(strategy, item, key)
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), self.zone)
        error = too_many(
            "daily_sms_limit",
            N_(
                "Tageslimit erreicht: dieser API-Token darf %(limit)d SMS pro Tag aufgeben; "
                "heute sind noch %(left)d möglich, die Anfrage hat %(count)d. Es wurde keine "
                "SMS aufgenommen."
            ),
            _retry_after((midnight - now).total_seconds()),
            limit=item.amount,
            left=left,
            count=count,
        )
        error.extra["remaining"] = left
        raise error


def init_app(app: Flask) -> None:
    app.extensions["api_limits"] = ApiLimits(
        app.config["RATELIMIT_STORAGE_URI"],
        int(app.config["API_REQUESTS_PER_MINUTE"]),
        int(app.config["API_SMS_PER_DAY"]),
        str(app.config["TIMEZONE"]),
    )


def api_limits() -> ApiLimits:
    """The API limits of the current app."""
    limits: ApiLimits = current_app.extensions["api_limits"]
    return limits

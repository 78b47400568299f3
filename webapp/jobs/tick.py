"""The scheduler tick: `rq cron` enqueues it every minute (exactly one `rq cron` process).

It records a heartbeat and enqueues the jobs whose schedule (Zeitplan, stored in SQL) is due.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Flask

from webapp.jobs.queues import TICK_KEY, redis_connection

log = logging.getLogger(__name__)


def record_tick(app: Flask, now: datetime | None = None) -> datetime:
    """Store the time of this tick in Redis (read by /healthz)."""
    now = now or datetime.now(UTC)
    redis_connection(app).set(TICK_KEY, now.isoformat())
    return now


def last_tick(app: Flask) -> datetime | None:
    raw = redis_connection(app).get(TICK_KEY)
    return datetime.fromisoformat(raw.decode()) if raw else None


def tick() -> None:
    """Entry point for `rq cron`: runs in a worker, builds its own app like microblog's tasks."""
    from webapp import create_app

    app = create_app()
    with app.app_context():
        now = record_tick(app)
        log.info("scheduler tick at %s", now.isoformat())

"""The scheduler tick: the scheduler (`python -m webapp.jobs.scheduler`, exactly one process)
enqueues it every minute.

It records a heartbeat and enqueues the jobs whose schedule (Zeitplan, stored in SQL) is due.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import case, or_, select
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.jobs.queues import TICK_KEY, redis_connection, redis_get
from webapp.jobs.runner import request_run
from webapp.jobs.schedule import Schedule, next_run
from webapp.jobs.worker import job_app
from webapp.models import Job, Priority

log = logging.getLogger(__name__)


def record_tick(app: Flask, now: datetime | None = None) -> datetime:
    """Store the time of this tick in Redis (read by /healthz)."""
    now = now or datetime.now(UTC)
    redis_connection(app).set(TICK_KEY, now.isoformat())
    return now


def last_tick(app: Flask) -> datetime | None:
    raw = redis_get(redis_connection(app), TICK_KEY)
    return datetime.fromisoformat(raw.decode()) if raw else None


def due_jobs(session: Session, now: datetime) -> list[Job]:
    """Active jobs inside their validity window whose next run is due, high priority first."""
    stmt = (
        select(Job)
        .where(
            Job.active.is_(True),
            or_(Job.valid_from.is_(None), Job.valid_from <= now),
            or_(Job.valid_until.is_(None), Job.valid_until >= now),
            or_(Job.next_run_at.is_(None), Job.next_run_at <= now),
        )
        .order_by(case((Job.priority == Priority.HIGH, 0), else_=1), Job.id)
    )
    return list(session.scalars(stmt))


def enqueue_due_jobs(app: Flask, session: Session, now: datetime | None = None) -> list[int]:
    """Queue every due job (unique RQ job id: never twice at once) and store its next run."""
    now = now or datetime.now(UTC)
    queued = []
    for job in due_jobs(session, now):
        if job.next_run_at is not None and request_run(job, app):
            queued.append(job.id)
        # A job without a next run (just switched on) gets one; it runs then.
        job.next_run_at = next_run(Schedule.of(job), now, app.config["TIMEZONE"])
    session.commit()
    return queued


def tick() -> None:
    """What the scheduler enqueues: runs in a worker, with the app of its process."""
    app = job_app()
    with app.app_context():
        now = record_tick(app)
        queued = enqueue_due_jobs(app, db.session(), now)
        log.info("scheduler tick at %s: queued %s", now.isoformat(), queued or "nothing")

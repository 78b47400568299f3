"""Housekeeping: the tables that grow with every run or call are kept to their retention
(README "Aufbewahrung"). Business records (SMS, received SMS, series, parts, attempts) are
never pruned here.

- `job_run`: runs older than `JOB_RUN_KEEP_DAYS`, except the newest run of each job (the Job
  tab and the Übersicht show it) and a run still marked running. Errorlog entries that stay
  lose their link to a deleted run (`run_id` NULL, as the foreign key's ON DELETE SET NULL says,
  done explicitly so it holds whatever the database enforces).
- `job_log_entry` (Errorlog): entries older than `ERRORLOG_KEEP_DAYS`.
- `api_idempotency_key`: keys older than `API_IDEMPOTENCY_DAYS`, the time the API promises a
  retry gets the first answer (the same setting is the promise).
- `sms_webhook_notification`: notificationIds older than `WEBHOOK_NOTIFICATION_KEEP_DAYS`;
  websms repeats a notification only for a short while, so a repeat after that is not
  expected.

0 days keeps a table for ever. Rows go in batches of `BATCH`, each its own transaction, so no
long lock on PostgreSQL and no huge transaction on SQLite.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import ColumnElement, CursorResult, delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from webapp.models import (
    ApiIdempotencyKey,
    Job,
    JobLogEntry,
    JobRun,
    RunStatus,
    WebhookNotification,
)

log = logging.getLogger("webapp.jobs")

BATCH = 5000  # rows per DELETE statement (one transaction each)
# A table is due when a row is older than its cutoff by this much more: after a prune, the next
# one comes a day later at the soonest, whoever runs it and however often (no stored state).
SLACK = timedelta(days=1)


@dataclass(frozen=True)
class Retention:
    """Days each table keeps its rows (0: for ever); the settings and their defaults are in
    webapp/config.py."""

    job_runs: int
    errorlog: int
    idempotency_keys: int
    webhook_notifications: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Retention:
        """The retention of the app's settings."""
        return cls(
            job_runs=int(config["JOB_RUN_KEEP_DAYS"]),
            errorlog=int(config["ERRORLOG_KEEP_DAYS"]),
            idempotency_keys=int(config["API_IDEMPOTENCY_DAYS"]),
            webhook_notifications=int(config["WEBHOOK_NOTIFICATION_KEEP_DAYS"]),
        )


def _cutoff(now: datetime, days: int) -> datetime | None:
    return now - timedelta(days=days) if days > 0 else None


# The tables pruned by id order: their time column has no index, but ids grow with time, so the
# oldest rows are the first ids and each batch reads only its own rows by the primary key.
def _by_id() -> tuple[tuple[Any, InstrumentedAttribute[datetime], str], ...]:
    return (
        (JobLogEntry, JobLogEntry.created_at, "errorlog"),
        (ApiIdempotencyKey, ApiIdempotencyKey.created_at, "idempotency_keys"),
        (WebhookNotification, WebhookNotification.received_at, "webhook_notifications"),
    )


def prune(
    session: Session,
    now: datetime,
    retention: Retention | None = None,
    batch: int = BATCH,
    beat: Callable[[], object] = lambda: None,
) -> dict[str, int]:
    """Delete what is older than its retention (see the module); the rows deleted per table.
    Commits after each batch; `beat()` before each commit (a run's heartbeat: the first prune
    of a large installation may take longer than the run's lock). `retention` None: the
    current app's settings."""
    retention = retention or Retention.from_config(current_app.config)
    # The Errorlog first: the runs deleted next then have fewer entries to unlink.
    return {
        "job_log_entry": _prune_oldest(
            session,
            JobLogEntry,
            JobLogEntry.created_at,
            _cutoff(now, retention.errorlog),
            batch,
            beat,
        ),
        "job_run": _prune_runs(session, _cutoff(now, retention.job_runs), batch, beat),
        "api_idempotency_key": _prune_oldest(
            session,
            ApiIdempotencyKey,
            ApiIdempotencyKey.created_at,
            _cutoff(now, retention.idempotency_keys),
            batch,
            beat,
        ),
        "sms_webhook_notification": _prune_oldest(
            session,
            WebhookNotification,
            WebhookNotification.received_at,
            _cutoff(now, retention.webhook_notifications),
            batch,
            beat,
        ),
    }


def prune_due(session: Session, now: datetime, retention: Retention) -> bool:
    """Whether a table holds a row older than its cutoff by `SLACK` more: a few indexed
    queries of one row each, so a run can ask every time."""
    runs_cutoff = _cutoff(now, retention.job_runs)
    if runs_cutoff is not None:
        found = session.scalar(
            select(JobRun.id).where(*_deletable_runs(session, runs_cutoff - SLACK)).limit(1)
        )
        if found is not None:
            return True
    for model, at, field in _by_id():
        cutoff = _cutoff(now, getattr(retention, field))
        if cutoff is None:
            continue
        oldest = session.scalar(select(at).order_by(model.id).limit(1))
        if oldest is not None and oldest < cutoff - SLACK:
            return True
    return False


def prune_if_due(
    session: Session, now: datetime, retention: Retention, beat: Callable[[], object] = lambda: None
) -> dict[str, int] | None:
    """`prune` when `prune_due`, else None. Called by every run of "Service SMS": it prunes
    at most once a day (see `SLACK`), with nothing stored, across restarts and workers."""
    if not prune_due(session, now, retention):
        return None
    counts = prune(session, now, retention, beat=beat)
    log.info("housekeeping: deleted %s", counts)
    return counts


def _deletable_runs(session: Session, cutoff: datetime) -> tuple[ColumnElement[bool], ...]:
    """Runs started before `cutoff` that may go: not running, not the newest of their job."""
    newest = [
        newest_id
        for job_id in session.scalars(select(Job.id))
        if (newest_id := session.scalar(select(func.max(JobRun.id)).where(JobRun.job_id == job_id)))
        is not None
    ]
    return (
        JobRun.started_at < cutoff,  # ix_job_run_started_at
        JobRun.status != RunStatus.RUNNING,
        JobRun.id.not_in(newest),
    )


def _prune_runs(
    session: Session, cutoff: datetime | None, batch: int, beat: Callable[[], object]
) -> int:
    if cutoff is None:
        return 0
    deletable = _deletable_runs(session, cutoff)
    deleted = 0
    while True:
        ids = list(
            session.scalars(
                select(JobRun.id).where(*deletable).order_by(JobRun.started_at).limit(batch)
            )
        )
        if not ids:
            return deleted
        # ON DELETE SET NULL, explicitly (ix_job_log_entry_run_id): the entries stay.
        session.execute(
            update(JobLogEntry)
            .where(JobLogEntry.run_id.in_(ids))
            .values(run_id=None)
            .execution_options(synchronize_session=False)
        )
        result = session.execute(
            delete(JobRun).where(JobRun.id.in_(ids)).execution_options(synchronize_session=False)
        )
        beat()
        session.commit()
        deleted += cast(CursorResult[Any], result).rowcount
        if len(ids) < batch:
            return deleted


def _prune_oldest(
    session: Session,
    model: Any,
    at: InstrumentedAttribute[datetime],
    cutoff: datetime | None,
    batch: int,
    beat: Callable[[], object],
) -> int:
    """Delete the leading rows by id whose time is before `cutoff`, `batch` at a time; stops at
    the first row that is not (ids grow with time)."""
    if cutoff is None:
        return 0
    deleted = 0
    while True:
        rows = session.execute(select(model.id, at).order_by(model.id).limit(batch)).all()
        old = list(itertools.takewhile(lambda row: row[1] < cutoff, rows))
        if not old:
            return deleted
        result = session.execute(
            delete(model)
            .where(model.id <= old[-1][0], at < cutoff)
            .execution_options(synchronize_session=False)
        )
        beat()
        session.commit()
        deleted += cast(CursorResult[Any], result).rowcount
        if len(old) < len(rows) or len(rows) < batch:
            return deleted

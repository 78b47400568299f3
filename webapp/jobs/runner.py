"""Runs a job: one at a time per job (Redis lock), a JobRun row with progress, the job type's
function, statistics of the Job tab, Errorlog, and the e-mail to "Email an bei Fehler"."""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask
from redis.exceptions import LockError
from rq.exceptions import DuplicateJobError
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.jobs.mail import send_mail
from webapp.jobs.queues import DEFAULT_QUEUE, HIGH_QUEUE, get_queue, redis_connection
from webapp.jobs.registry import job_type
from webapp.jobs.runlog import RunLog
from webapp.models import Job, JobRun, Priority, RunStatus
from webapp.models.base import utcnow
from webapp.sms.transports.base import TransportUnavailable

log = logging.getLogger(__name__)

RUN_TIMEOUT_SECONDS = 15 * 60


@dataclass
class RunContext:
    """What a job function gets: the app, a session, its job and run, the Errorlog."""

    app: Flask
    session: Session
    job: Job
    run: JobRun
    log: RunLog
    heartbeat: Callable[[], None] = field(default=lambda: None)


def queue_name(job: Job) -> str:
    """Priorität Hoch runs from the queue that workers take first."""
    return HIGH_QUEUE if job.priority == Priority.HIGH else DEFAULT_QUEUE


def request_run(job: Job, app: Flask | None = None) -> bool:
    """Queue a run of `job` now (tick or "Jetzt ausführen"); False when one is already queued."""
    try:
        get_queue(queue_name(job), app).enqueue(
            run_job,
            job.id,
            job_id=f"job-{job.id}",
            unique=True,
            result_ttl=0,
            failure_ttl=300,
            job_timeout=RUN_TIMEOUT_SECONDS,
        )
    except DuplicateJobError:
        return False
    return True


def run_job(job_id: int) -> None:
    """RQ entry point: builds its own app (like microblog's tasks) and runs the job."""
    from webapp import create_app

    app = create_app()
    with app.app_context():
        execute_job(app, job_id)


def end_dead_runs(session: Session, job: Job) -> None:
    """Runs of `job` still marked running died (this process holds the job's lock now): mark
    them failed, so their leases are recovered at once instead of after DEAD_RUN_AFTER."""
    dead = session.scalars(
        select(JobRun).where(JobRun.job_id == job.id, JobRun.status == RunStatus.RUNNING)
    )
    for run in dead:
        run.status = RunStatus.FAILED
        run.finished_at = utcnow()
        run.error = "Lauf abgebrochen: der Prozess wurde beendet (Absturz oder Neustart)."
        RunLog(session, job, run).error(run.error)
    session.commit()


def execute_job(app: Flask, job_id: int) -> JobRun | None:
    """Run job `job_id` now in this process; None when it is missing or already running."""
    session = db.session
    job = session.get(Job, job_id)
    if job is None:
        return None
    # Renewed by every heartbeat; the lock of a run that died expires by itself.
    lock_seconds = app.config["JOB_LOCK_SECONDS"]
    lock = redis_connection(app).lock(f"sms:job-lock:{job_id}", timeout=lock_seconds)
    if not lock.acquire(blocking=False):
        log.info("job %s is already running: this run is skipped", job_id)
        return None
    end_dead_runs(session, job)
    run = JobRun(job_id=job.id, run_key=uuid.uuid4().hex, status=RunStatus.RUNNING)
    session.add(run)
    session.commit()
    run_id = run.id
    started = time.monotonic()

    def heartbeat() -> None:
        lock.extend(lock_seconds, replace_ttl=True)
        run.heartbeat_at = utcnow()

    context = RunContext(app, session, job, run, RunLog(session, job, run), heartbeat)
    try:
        job_type(job.job_type).resolve()(context)
        run.status = RunStatus.SUCCEEDED
    except Exception as error:  # the run failed as a whole: record it, tell the admin
        session.rollback()
        job, run = session.get(Job, job_id), session.get(JobRun, run_id)
        reason = error.reason if isinstance(error, TransportUnavailable) else repr(error)
        if not isinstance(error, TransportUnavailable):
            log.error("job %s crashed:\n%s", job_id, traceback.format_exc())
        run.status = RunStatus.FAILED
        run.error = reason
        job.failed_run_count += 1
        job.last_error = reason
        RunLog(session, job, run).error(f"Lauf fehlgeschlagen: {reason}")
        send_mail(
            app,
            job.failure_email,
            f"SMS-Modul: Job „{job.name}“ fehlgeschlagen",
            f"Der Lauf {run.id} des Jobs „{job.name}“ ist fehlgeschlagen:\n\n{reason}\n",
        )
    finally:
        run.finished_at = utcnow()
        job.last_run_at = run.started_at
        job.last_duration_ms = int((time.monotonic() - started) * 1000)
        job.run_count += 1
        session.commit()
        with contextlib.suppress(LockError):  # expired meanwhile: nothing to release
            lock.release()
    return run

"""Runs a job: one at a time per job (Redis lock), a JobRun row with progress, the job type's
function, statistics of the Job tab, Errorlog, and the e-mail to "Email an bei Fehler".

A run proves that it lives by renewing its lock and its JobRun heartbeat every few seconds
(`heartbeat_seconds`, a quarter of JOB_LOCK_SECONDS). The lock's value names the process that
holds it (host:pid:run key): a run whose process is gone on this host is dead at once, so a
killed run does not keep the job from starting again until its lock expires; on other hosts
the lock expires after JOB_LOCK_SECONDS. A run has a time budget (SMS_RUN_BUDGET_SECONDS) well
below the queue's job timeout, so the timeout never kills it in the middle of an SMS.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Flask
from redis import Redis
from redis.exceptions import LockError, LockNotOwnedError, RedisError
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job as RqJob
from rq.job import JobStatus
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from webapp.extensions import app_object, db
from webapp.jobs import stopping
from webapp.jobs.mail import send_mail
from webapp.jobs.queues import DEFAULT_QUEUE, HIGH_QUEUE, get_queue, redis_connection, redis_get
from webapp.jobs.registry import job_type
from webapp.jobs.runlog import RunLog
from webapp.jobs.worker import job_app
from webapp.models import Job, JobRun, Message, MessageStatus, Priority, RunStatus
from webapp.models.base import utcnow
from webapp.sms.transports.base import TransportUnavailable
from webapp.technical import with_details

log = logging.getLogger(__name__)

# RQ kills a run after this long; the run itself stops claiming after its budget (config
# SMS_RUN_BUDGET_SECONDS), which leaves at least this margin for the SMS in flight and the end.
RUN_TIMEOUT_MARGIN_SECONDS = 5 * 60
STOPPED_REASON = (
    "Lauf angehalten (Stopp-Signal, z. B. Neustart des Workers): die SMS in Arbeit wurden fertig "
    "versendet, die übrigen warten auf den nächsten Lauf."
)


@dataclass
class RunContext:
    """What a job function gets: the app, a session, its job and run, the Errorlog.

    `heartbeat()` renews the run's lock and heartbeat (the caller commits); it returns False
    when another run holds the lock now. Call it every `heartbeat_seconds`.
    """

    app: Flask
    session: Session
    job: Job
    run: JobRun
    log: RunLog
    heartbeat: Callable[[], bool] = field(default=lambda: True)
    heartbeat_seconds: float = 5.0
    budget_seconds: float = 0.0  # 0: no budget
    dead_after: timedelta = timedelta(minutes=2)


def queue_name(job: Job) -> str:
    """Priorität Hoch runs from the queue that workers take first."""
    return HIGH_QUEUE if job.priority == Priority.HIGH else DEFAULT_QUEUE


def lock_key(job_id: int) -> str:
    return f"sms:job-lock:{job_id}"


def rq_job_id(job_id: int) -> str:
    return f"job-{job_id}"


def run_timeout(app: Flask) -> int:
    """RQ's job timeout: the run's budget plus the margin for the end of a run."""
    return int(app.config["SMS_RUN_BUDGET_SECONDS"]) + RUN_TIMEOUT_MARGIN_SECONDS


def heartbeat_seconds(app: Flask) -> float:
    """How often a run renews its lock: four times within JOB_LOCK_SECONDS, at most every 5 s."""
    return max(0.2, min(5.0, float(app.config["JOB_LOCK_SECONDS"]) / 4))


# --- who holds a job --------------------------------------------------------------------------


def _holder_token(run_key: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{run_key}"


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists on this host and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _holder_dead(token: bytes | str | None) -> bool:
    """A lock value "host:pid:run" of a process on this host that is gone. Values of other
    hosts, or not of this form, count as alive (they expire with the lock)."""
    if token is None:
        return True
    text = token.decode() if isinstance(token, bytes) else token
    parts = text.split(":")
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    return parts[0] == socket.gethostname() and not process_alive(int(parts[1]))


_RELEASE_IF = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


def break_dead_lock(redis: Redis, job_id: int) -> bool:
    """Remove the job's lock when the process holding it is gone; True if the job is free."""
    key = lock_key(job_id)
    token = redis_get(redis, key)
    if token is None:
        return True
    if not _holder_dead(token):
        return False
    redis.eval(_RELEASE_IF, 1, key, token)  # only if nobody took it meanwhile
    log.warning("job %s: the lock of a dead run (%s) was released", job_id, token)
    return True


def job_running(app: Flask, job_id: int) -> bool:
    """Whether a live run of the job holds its lock."""
    return not break_dead_lock(redis_connection(app), job_id)


def request_run(job: Job, app: Flask | None = None) -> bool:
    """Queue a run of `job` now (tick or "Jetzt ausführen"); False when one is already queued
    or running. A leftover RQ job of a run that died (killed worker) is cleared first."""
    app = app or app_object()
    queue = get_queue(queue_name(job), app)
    job_id = rq_job_id(job.id)
    for _attempt in (1, 2):
        try:
            queue.enqueue(
                run_job,
                job.id,
                job_id=job_id,
                unique=True,
                result_ttl=0,
                failure_ttl=300,
                job_timeout=run_timeout(app),
            )
        except DuplicateJobError:
            if not _clear_dead_rq_job(queue.connection, job_id, job.id):
                return False
            continue
        return True
    return False


def _clear_dead_rq_job(redis: Redis, rq_id: str, job_id: int) -> bool:
    """The RQ job `rq_id` exists: delete it when it can never run (failed, finished, or
    "started" by a process that is gone). False when it waits or runs."""
    try:
        existing = RqJob.fetch(rq_id, connection=redis)
    except NoSuchJobError:
        return True
    status = existing.get_status(refresh=False)
    if status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, None):
        return False
    if status == JobStatus.STARTED:
        holder = redis_get(redis, lock_key(job_id))
        if holder is not None and not break_dead_lock(redis, job_id):
            return False  # a living run
        started = existing.started_at
        if holder is None and started is not None and time.time() - started.timestamp() < 10:
            # Started, yet no run holds the lock: its process is only starting (a second run
            # would find the lock taken and be skipped, but there is no need for one).
            return False
    log.warning("job %s: the leftover RQ job (%s) of an ended run is cleared", job_id, status)
    existing.delete(remove_from_queue=True)
    return True


def run_job(job_id: int) -> None:
    """RQ entry point: runs the job with the app of this process (the worker's), in an app
    context (and database session) of its own."""
    app = job_app()
    with app.app_context():
        execute_job(app, job_id)


# --- dead runs ------------------------------------------------------------------------------


def run_is_dead(run: JobRun, dead_after: timedelta) -> bool:
    """A run marked running whose process is gone (this host) or that stopped beating."""
    if run.host == socket.gethostname() and run.pid is not None and not process_alive(run.pid):
        return True
    return run.heartbeat_at is None or utcnow() - run.heartbeat_at > dead_after


def end_dead_runs(session: Session, job: Job, dead_after: timedelta) -> list[JobRun]:
    """Runs of `job` still marked running whose process is gone: mark them failed and say what
    becomes of their SMS (the send run then recovers the leases at once). Returns the runs
    that still live (then this run must not start)."""
    alive: list[JobRun] = []
    for run in session.scalars(
        select(JobRun).where(JobRun.job_id == job.id, JobRun.status == RunStatus.RUNNING)
    ):
        if not run_is_dead(run, dead_after):
            alive.append(run)
            continue
        counts = dict(
            session.execute(
                select(Message.attempt_started_at.is_not(None), func.count())
                .where(Message.run_key == run.run_key, Message.status == MessageStatus.SENDING)
                .group_by(Message.attempt_started_at.is_not(None))
            ).all()
        )
        run.status = RunStatus.FAILED
        run.finished_at = utcnow()
        run.error = (
            "Lauf abgebrochen: der Prozess wurde beendet (Absturz, Neustart oder Zeitlimit). "
            f"{counts.get(False, 0)} nicht versuchte SMS gehen zurück in die Warteschlange, "
            f"{counts.get(True, 0)} SMS haben ein unklares Ergebnis."
        )
        RunLog(session, job, run).error(run.error)
    session.commit()
    return alive


# --- one run --------------------------------------------------------------------------------


def execute_job(app: Flask, job_id: int) -> JobRun | None:
    """Run job `job_id` now in this process; None when it is missing or already running."""
    session = db.session()
    job = session.get(Job, job_id)
    if job is None:
        return None
    lock_seconds = app.config["JOB_LOCK_SECONDS"]
    dead_after = timedelta(seconds=lock_seconds)
    redis = redis_connection(app)
    run_key = uuid.uuid4().hex
    token = _holder_token(run_key)
    # Renewed by every heartbeat; the lock of a run that died expires by itself, or is broken
    # at once when its process is gone on this host.
    lock = redis.lock(lock_key(job_id), timeout=lock_seconds)
    if not lock.acquire(blocking=False, token=token) and not (
        break_dead_lock(redis, job_id) and lock.acquire(blocking=False, token=token)
    ):
        log.info("job %s is already running: this run is skipped", job_id)
        return None
    living = end_dead_runs(session, job, dead_after)
    if living:  # Redis lost the lock (restart) while a run lives: never two at once
        log.warning("job %s: run %s still beats; this run is skipped", job_id, living[0].id)
        with contextlib.suppress(LockError):
            lock.release()
        return None
    run = JobRun(
        job_id=job.id,
        run_key=run_key,
        status=RunStatus.RUNNING,
        host=socket.gethostname(),
        pid=os.getpid(),
    )
    session.add(run)
    session.commit()
    run_id = run.id
    started = time.monotonic()
    redis_down = False

    def heartbeat() -> bool:
        """The lock first (it also holds while the database is away), then the database."""
        nonlocal redis_down
        try:
            try:
                lock.extend(lock_seconds, replace_ttl=True)
            except LockNotOwnedError:
                # Expired (Redis restarted, or this process stalled): take it again if free.
                if not lock.acquire(blocking=False, token=token):
                    log.error("job %s: another run holds the lock now", job_id)
                    return False
            if redis_down:
                log.warning("job %s: Redis is back, the run's lock is renewed again", job_id)
                redis_down = False
        except RedisError as error:  # the run goes on; the database shows it alive
            if not redis_down:
                log.warning("job %s: Redis unreachable (%s); the run goes on", job_id, error)
                redis_down = True
        session.execute(
            update(JobRun)
            .where(JobRun.id == run_id)
            .values(heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return True

    context = RunContext(
        app,
        session,
        job,
        run,
        RunLog(session, job, run),
        heartbeat,
        heartbeat_seconds=heartbeat_seconds(app),
        budget_seconds=float(app.config["SMS_RUN_BUDGET_SECONDS"]),
        dead_after=dead_after,
    )
    try:
        with stopping.graceful_stop_on():
            job_type(job.job_type).resolve()(context)
        if stopping.stop_requested():
            run.status = RunStatus.STOPPED
            run.error = STOPPED_REASON
        else:
            run.status = RunStatus.SUCCEEDED
    except Exception as error:  # the run failed as a whole: record it, tell the admin
        session.rollback()
        job, run = session.get_one(Job, job_id), session.get_one(JobRun, run_id)
        reason = getattr(error, "reason", None) or with_details(
            "Der Lauf ist an einem Programmfehler gescheitert; er steht im Protokoll des Workers.",
            repr(error),
        )
        if not isinstance(error, TransportUnavailable | stopping.RunAborted):
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
        with contextlib.suppress(LockError, RedisError):  # expired meanwhile: nothing to release
            lock.release()
    return run

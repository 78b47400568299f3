"""The tick queues due jobs on real Redis; the runner runs them with statistics and e-mail."""

from __future__ import annotations

import contextvars
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from rq import SimpleWorker, Worker
from sqlalchemy import select

from tests import jobs_for_tests
from webapp import accounts
from webapp.extensions import db as _db
from webapp.jobs import registry, worker
from webapp.jobs.queues import DEFAULT_QUEUE, HIGH_QUEUE, get_queue, redis_connection
from webapp.jobs.runner import execute_job, request_run, run_job
from webapp.jobs.tick import enqueue_due_jobs
from webapp.models import Job, JobLogEntry, JobRun, LogLevel, Priority, RunStatus, ScheduleKind

NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clean_queues(app):
    connection = redis_connection(app)
    for name in (HIGH_QUEUE, DEFAULT_QUEUE):
        get_queue(name, app).empty()
    for key in connection.scan_iter("sms:job-lock:*"):
        connection.delete(key)
    for key in connection.scan_iter("rq:job:job-*"):
        connection.delete(key)
    jobs_for_tests.CALLS.clear()
    yield


@pytest.fixture
def test_types(monkeypatch):
    for name in ("succeed", "unavailable", "crash"):
        monkeypatch.setitem(
            registry.JOB_TYPES,
            name,
            registry.JobType(name, name, f"tests.jobs_for_tests:{name}"),
        )


def _job(db, name="Test", job_type="succeed", **kw) -> Job:
    kw = {"schedule_kind": ScheduleKind.MINUTES, "interval_minutes": 5, "active": True, **kw}
    job = Job(job_type=job_type, name=name, **kw)
    db.add(job)
    db.commit()
    return job


def _queued(app, name) -> list[str]:
    return get_queue(name, app).job_ids


def test_tick_queues_due_jobs_by_priority_and_stores_the_next_run(app, db, test_types):
    high = _job(db, "Hoch", priority=Priority.HIGH, next_run_at=NOW - timedelta(minutes=1))
    normal = _job(db, "Normal", next_run_at=NOW)
    later = _job(db, "Später", next_run_at=NOW + timedelta(minutes=3))
    off = _job(db, "Aus", active=False, next_run_at=NOW)
    queued = enqueue_due_jobs(app, db, NOW)
    assert queued == [high.id, normal.id]
    assert _queued(app, HIGH_QUEUE) == [f"job-{high.id}"]
    assert _queued(app, DEFAULT_QUEUE) == [f"job-{normal.id}"]
    db.expire_all()
    assert db.get(Job, normal.id).next_run_at == NOW + timedelta(minutes=5)
    assert db.get(Job, later.id).next_run_at == NOW + timedelta(minutes=3)
    assert db.get(Job, off.id).next_run_at == NOW


def test_a_job_is_never_queued_twice(app, db, test_types):
    job = _job(db, next_run_at=NOW)
    assert request_run(job, app) is True
    assert request_run(job, app) is False
    assert enqueue_due_jobs(app, db, NOW) == []
    assert _queued(app, DEFAULT_QUEUE) == [f"job-{job.id}"]


def test_validity_window(app, db, test_types):
    _job(db, "Noch nicht", valid_from=NOW + timedelta(days=1), next_run_at=NOW)
    _job(db, "Vorbei", valid_until=NOW - timedelta(days=1), next_run_at=NOW)
    inside = _job(
        db,
        "Gültig",
        valid_from=NOW - timedelta(days=1),
        valid_until=NOW + timedelta(days=1),
        next_run_at=NOW,
    )
    assert enqueue_due_jobs(app, db, NOW) == [inside.id]


def test_a_newly_activated_job_gets_its_first_run_time(app, db, test_types):
    job = _job(db, next_run_at=None)
    assert enqueue_due_jobs(app, db, NOW) == []
    db.expire_all()
    assert db.get(Job, job.id).next_run_at == NOW + timedelta(minutes=5)


def _no_app_per_run() -> None:
    pytest.fail("a job built an app of its own")


def test_worker_runs_the_queued_job_with_statistics_and_log(app, db, test_types, monkeypatch):
    # The job runs with the app of its process (here the test's, in production the worker's).
    monkeypatch.setattr("webapp.create_app", _no_app_per_run)
    job = _job(db, log_level=LogLevel.WARNINGS, next_run_at=NOW)
    enqueue_due_jobs(app, db, NOW)
    queues = [get_queue(HIGH_QUEUE, app), get_queue(DEFAULT_QUEUE, app)]
    SimpleWorker(queues, connection=redis_connection(app)).work(burst=True)
    db.expire_all()
    run = db.scalar(select(JobRun).where(JobRun.job_id == job.id))
    assert run.status is RunStatus.SUCCEEDED and run.sent == 3 and run.finished_at
    job = db.get(Job, job.id)
    assert job.run_count == 1 and job.failed_run_count == 0 and job.last_run_at
    assert job.last_duration_ms is not None
    levels = [e.level for e in db.scalars(select(JobLogEntry).where(JobLogEntry.job_id == job.id))]
    assert levels == ["warning"]  # Protokollart "Fehler und Warnungen" drops the info line


def test_runs_outside_an_app_context_share_one_app_per_process(app, db, test_types, monkeypatch):
    job = _job(db)
    built: list[Flask] = []

    def create_app() -> Flask:
        built.append(app)
        return app

    monkeypatch.setattr("webapp.create_app", create_app)
    worker._app_of_this_process.cache_clear()
    try:
        for _ in range(2):  # as a plain RQ job would, without the worker's app context
            contextvars.Context().run(run_job, job.id)
    finally:
        worker._app_of_this_process.cache_clear()
    assert built == [app]  # once for both runs
    assert jobs_for_tests.CALLS.count(job.id) == 2


def test_a_work_horse_leaves_the_workers_database_connections_alone(app, monkeypatch):
    workers_pool = _db.engine.pool
    connection = _db.engine.connect()  # the worker's, open while it forks the horse
    monkeypatch.setattr(Worker, "main_work_horse", lambda self, job, queue: None)
    horse = worker.SmsWorker([DEFAULT_QUEUE], connection=redis_connection(app))
    try:
        horse.main_work_horse(None, None)  # what the forked horse does first (here: no fork)
        assert _db.engine.pool is not workers_pool  # the horse opens connections of its own
        assert connection.execute(select(1)).scalar() == 1  # the worker's stays usable
    finally:
        connection.close()
        workers_pool.dispose()


def test_a_running_job_is_not_started_twice(app, db, test_types):
    job = _job(db)
    lock = redis_connection(app).lock(f"sms:job-lock:{job.id}", timeout=30)
    assert lock.acquire(blocking=False)
    assert execute_job(app, job.id) is None
    assert jobs_for_tests.CALLS == []
    lock.release()
    assert execute_job(app, job.id).status is RunStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("job_type", "reason"),
    [
        ("unavailable", "Modem nicht erreichbar"),
        ("crash", "RuntimeError('kaputt')"),
    ],
)
def test_a_failed_run_is_recorded_and_mailed(app, db, test_types, smtp_server, job_type, reason):
    host, port, sink = smtp_server
    app.config.update(SMTP_HOST=host, SMTP_PORT=port)
    job = _job(db, job_type=job_type, failure_email="admin@hv.at")
    run = execute_job(app, job.id)
    assert run.status is RunStatus.FAILED and reason in run.error
    db.expire_all()
    job = db.get(Job, job.id)
    assert job.failed_run_count == 1 and reason in job.last_error and job.run_count == 1
    entry = db.scalar(select(JobLogEntry).where(JobLogEntry.job_id == job.id))
    assert entry.level == "error" and reason in entry.message
    assert len(sink.messages) == 1
    mail = sink.messages[0]
    assert mail["To"] == "admin@hv.at" and "fehlgeschlagen" in mail["Subject"]
    assert reason in mail.get_content()


def test_mandanten_can_be_assigned(db):
    job = _job(db)
    job.mandanten = [accounts.save_mandant(db, "HV Wien")]
    db.commit()
    assert [m.name for m in db.get(Job, job.id).mandanten] == ["HV Wien"]


@pytest.mark.parametrize(
    ("fields", "now", "expected_next"),
    [
        # alle 15 Minuten
        (
            {"schedule_kind": ScheduleKind.MINUTES, "interval_minutes": 15},
            datetime(2026, 11, 25, 13, 7, tzinfo=UTC),
            datetime(2026, 11, 25, 13, 15, tzinfo=UTC),
        ),
        # stündlich zur Minute 30
        (
            {"schedule_kind": ScheduleKind.HOURLY, "minute_of_hour": 30},
            datetime(2026, 11, 25, 13, 31, tzinfo=UTC),
            datetime(2026, 11, 25, 14, 30, tzinfo=UTC),
        ),
        # täglich 08:00 Wien, über die Sommerzeit-Umstellung (29.03.2026)
        (
            {"schedule_kind": ScheduleKind.DAILY, "time_of_day": "08:00"},
            datetime(2026, 3, 28, 7, 0, tzinfo=UTC),
            datetime(2026, 3, 29, 6, 0, tzinfo=UTC),
        ),
        # wöchentlich Mo und Fr 07:30 Wien
        (
            {"schedule_kind": ScheduleKind.WEEKLY, "weekdays": "0,4", "time_of_day": "07:30"},
            datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
            datetime(2026, 11, 27, 6, 30, tzinfo=UTC),
        ),
        # monatlich am 31. um 06:00 Wien: im Februar der 28.
        (
            {"schedule_kind": ScheduleKind.MONTHLY, "day_of_month": 31, "time_of_day": "06:00"},
            datetime(2027, 1, 31, 6, 0, tzinfo=UTC),
            datetime(2027, 2, 28, 5, 0, tzinfo=UTC),
        ),
        # Cron, Werktage alle 20 Minuten 7–8 Uhr Wien
        (
            {"schedule_kind": ScheduleKind.CRON, "cron_expression": "*/20 7-8 * * 1-5"},
            datetime(2026, 11, 27, 7, 45, tzinfo=UTC),
            datetime(2026, 11, 30, 6, 0, tzinfo=UTC),
        ),
    ],
)
def test_each_schedule_kind_runs_when_due_and_gets_its_next_time(
    app, db, test_types, fields, now, expected_next
):
    job = _job(db, next_run_at=now - timedelta(seconds=1), **fields)
    assert enqueue_due_jobs(app, db, now) == [job.id]
    db.expire_all()
    assert db.get(Job, job.id).next_run_at == expected_next
    assert enqueue_due_jobs(app, db, now + timedelta(seconds=30)) == []  # not due again yet


def test_a_one_off_job_runs_once(app, db, test_types):
    job = _job(db, schedule_kind=ScheduleKind.ONCE, run_once_at=NOW, next_run_at=NOW)
    assert enqueue_due_jobs(app, db, NOW) == [job.id]
    db.expire_all()
    assert db.get(Job, job.id).next_run_at is None
    get_queue(DEFAULT_QUEUE, app).empty()
    for key in redis_connection(app).scan_iter("rq:job:job-*"):
        redis_connection(app).delete(key)
    assert enqueue_due_jobs(app, db, NOW + timedelta(days=1)) == []

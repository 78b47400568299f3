"""Housekeeping (webapp/jobs/housekeeping.py): old runs, Errorlog entries, idempotency keys and
websms notificationIds are deleted after their retention; what is still needed stays."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from webapp.api_tokens import create_token
from webapp.jobs import housekeeping
from webapp.jobs.housekeeping import Retention, prune, prune_if_due
from webapp.jobs.runlog import RunLog
from webapp.jobs.runner import RunContext
from webapp.models import (
    ApiIdempotencyKey,
    Job,
    JobLogEntry,
    JobRun,
    LogLevel,
    Mandant,
    RunStatus,
    WebhookNotification,
)
from webapp.models.base import utcnow
from webapp.sms.dispatch import run_service_sms
from webapp.sms.settings import set_global

# The defaults of webapp/config.py: 90 days runs and Errorlog, 7 days keys, 30 days notificationIds
DEFAULTS = Retention(job_runs=90, errorlog=90, idempotency_keys=7, webhook_notifications=30)


def _days(n: float, now: datetime) -> datetime:
    return now - timedelta(days=n)


def _service(db) -> Job:
    return db.scalar(select(Job).where(Job.job_type == "service_sms").order_by(Job.id))


def _run(db, job: Job, started: datetime, status: RunStatus = RunStatus.SUCCEEDED) -> JobRun:
    run = JobRun(
        job_id=job.id,
        run_key=uuid.uuid4().hex,
        status=status,
        started_at=started,
        heartbeat_at=started,
        finished_at=None if status is RunStatus.RUNNING else started,
    )
    db.add(run)
    db.flush()
    return run


def _entry(db, job: Job, at: datetime, run: JobRun | None = None) -> JobLogEntry:
    entry = JobLogEntry(
        job_id=job.id, run_id=run.id if run else None, created_at=at, level="info", message="x"
    )
    db.add(entry)
    db.flush()
    return entry


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


@pytest.fixture
def token(db):
    mandant = Mandant(name="HV Nord")
    db.add(mandant)
    db.flush()
    token, clear = create_token(
        db, name="erp", mandant_id=mandant.id, scopes=("sms:send",), created_by=None
    )
    db.commit()
    return token, clear


def _key(db, token_id: int, key: str, at: datetime) -> None:
    db.add(
        ApiIdempotencyKey(
            token_id=token_id,
            key=key,
            request_hash="h",
            status_code=202,
            response="{}",
            created_at=at,
        )
    )
    db.flush()


def _note(db, notification_id: str, at: datetime) -> None:
    db.add(
        WebhookNotification(notification_id=notification_id, message_type="text", received_at=at)
    )
    db.flush()


def test_prune_deletes_exactly_the_old_rows_and_keeps_what_is_needed(db, token):
    now = utcnow()
    service = _service(db)
    other = Job(job_type="service_sms", name="Zweiter", system=False)
    db.add(other)
    db.flush()
    # ids grow with time, as in production: oldest first
    lonely = _run(db, other, _days(200, now))  # the only (newest) run of its job
    old = _run(db, service, _days(100, now))
    old_logged = _run(db, service, _days(99, now))
    stuck = _run(db, service, _days(98, now), RunStatus.RUNNING)
    old_entries = [_entry(db, service, _days(95, now), old) for _ in range(2)]
    kept_entry = _entry(db, service, _days(89, now), old_logged)  # outlives its run
    recent = _run(db, service, _days(10, now))
    _entry(db, service, _days(10, now), recent)
    _key(db, token[0].id, "alt", _days(8, now))
    _key(db, token[0].id, "neu", _days(6, now))
    _note(db, "n-alt", _days(31, now))
    _note(db, "n-neu", _days(29, now))
    db.commit()
    kept_entry_id, entry_ids = kept_entry.id, [e.id for e in old_entries]
    run_ids = {r.id for r in (lonely, old, old_logged, stuck, recent)}
    gone = {old.id, old_logged.id}

    counts = prune(db, now, DEFAULTS)

    assert counts == {
        "job_log_entry": 2,
        "job_run": 2,
        "api_idempotency_key": 1,
        "sms_webhook_notification": 1,
    }
    db.expire_all()
    assert set(db.scalars(select(JobRun.id))) == run_ids - gone
    assert not set(db.scalars(select(JobLogEntry.id))) & set(entry_ids)
    assert db.get(JobLogEntry, kept_entry_id).run_id is None  # the entry stays, unlinked
    assert list(db.scalars(select(ApiIdempotencyKey.key))) == ["neu"]
    assert list(db.scalars(select(WebhookNotification.notification_id))) == ["n-neu"]
    # nothing left to do: a second prune deletes nothing
    assert set(prune(db, now, DEFAULTS).values()) == {0}


def test_zero_days_keep_for_ever(db, token):
    now = utcnow()
    service = _service(db)
    for _ in range(3):
        _entry(db, service, _days(1000, now), _run(db, service, _days(1000, now)))
    _run(db, service, _days(1, now))
    _key(db, token[0].id, "k", _days(1000, now))
    _note(db, "n", _days(1000, now))
    db.commit()
    counts = prune(db, now, Retention(0, 0, 0, 0))
    assert set(counts.values()) == {0}
    assert (_count(db, JobRun), _count(db, JobLogEntry)) == (4, 3)
    assert (_count(db, ApiIdempotencyKey), _count(db, WebhookNotification)) == (1, 1)


def test_small_batches_still_delete_everything_old(db, token):
    now = utcnow()
    service = _service(db)
    for i in range(12):
        _entry(db, service, _days(200 - i, now), _run(db, service, _days(200 - i, now)))
        _key(db, token[0].id, f"k{i}", _days(50 - i, now))
        _note(db, f"n{i}", _days(50 - i, now))
    _run(db, service, _days(1, now))
    _entry(db, service, _days(1, now))
    db.commit()
    beats = []
    counts = prune(db, now, DEFAULTS, batch=5, beat=lambda: beats.append(1))
    assert counts == {
        "job_log_entry": 12,
        "job_run": 12,
        "api_idempotency_key": 12,
        "sms_webhook_notification": 12,
    }
    assert (_count(db, JobRun), _count(db, JobLogEntry)) == (1, 1)
    assert len(beats) == 4 * 3  # a run's heartbeat before each commit: 5 + 5 + 2 per table


def test_the_cli_prints_the_counts(app, db):
    now = utcnow()
    service = _service(db)
    _run(db, service, _days(100, now))
    _run(db, service, _days(1, now))
    _note(db, "n", _days(40, now))
    db.commit()
    result = app.test_cli_runner().invoke(args=["prune"])
    assert result.exit_code == 0, result.output
    assert "job_run: 1 gelöscht" in result.output
    assert "sms_webhook_notification: 1 gelöscht" in result.output
    assert "job_log_entry: 0 gelöscht" in result.output


def test_prune_is_due_at_most_once_a_day(db):
    now = utcnow()
    service = _service(db)
    _run(db, service, _days(95, now))
    _run(db, service, _days(90 - 0.5, now))  # crosses the cutoff half a day later
    _run(db, service, _days(1, now))
    db.commit()
    assert prune_if_due(db, now, DEFAULTS) == {
        "job_log_entry": 0,
        "job_run": 1,
        "api_idempotency_key": 0,
        "sms_webhook_notification": 0,
    }
    assert prune_if_due(db, now + timedelta(minutes=1), DEFAULTS) is None
    assert prune_if_due(db, now + timedelta(hours=23), DEFAULTS) is None
    # the second run is older than its cutoff by a day (the slack) 1.5 days after the first
    assert prune_if_due(db, now + timedelta(days=1, hours=11), DEFAULTS) is None
    later = prune_if_due(db, now + timedelta(days=1, hours=13), DEFAULTS)
    assert later is not None and later["job_run"] == 1


@pytest.fixture
def service_off(db):
    """A run of "Service SMS" with the SMS service off (global 1400 = 0): it sends nothing and
    needs no transport, but does its once-per-run maintenance."""
    set_global(db, 1400, "0", "test")
    job = _service(db)
    job.log_level = LogLevel.ALL
    db.commit()
    return job


def _service_run(app, db, job: Job) -> JobRun:
    run = JobRun(job_id=job.id, run_key=uuid.uuid4().hex, status=RunStatus.RUNNING)
    db.add(run)
    db.commit()
    run_service_sms(RunContext(app, db, job, run, RunLog(db, job, run)))
    return run


def test_runs_of_service_sms_prune_at_most_once_a_day(app, db, service_off, monkeypatch):
    calls = []
    real = housekeeping.prune

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(housekeeping, "prune", counting)
    old = _run(db, service_off, _days(100, utcnow()))
    db.commit()
    old_id = old.id
    first = _service_run(app, db, service_off)
    _service_run(app, db, service_off)
    _service_run(app, db, service_off)
    assert len(calls) == 1
    db.expire_all()
    assert db.get(JobRun, old_id) is None
    lines = [
        e.message for e in db.scalars(select(JobLogEntry).where(JobLogEntry.run_id == first.id))
    ]
    assert any(line.startswith("Aufgeräumt: 1 Läufe") for line in lines)


def test_a_failing_prune_is_a_warning_and_never_fails_the_run(app, db, service_off, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("Platte voll")

    monkeypatch.setattr(housekeeping, "prune", broken)
    _run(db, service_off, _days(100, utcnow()))
    db.commit()
    run = _service_run(app, db, service_off)  # returns: the run is not failed by it
    warnings = list(
        db.scalars(
            select(JobLogEntry.message).where(
                JobLogEntry.run_id == run.id, JobLogEntry.level == "warning"
            )
        )
    )
    assert len(warnings) == 1 and "Aufräumen" in warnings[0] and "Platte voll" in warnings[0]


def test_an_idempotency_key_within_its_promise_still_answers_after_prune(client, db, token):
    headers = {"Authorization": f"Bearer {token[1]}"}
    body = {"to": "+43 664 1234567", "text": "Termin morgen"}
    # ids grow with time: "b", the older key, first
    client.post("/api/v1/sms", json=body, headers={**headers, "Idempotency-Key": "b"})
    first = client.post("/api/v1/sms", json=body, headers={**headers, "Idempotency-Key": "a"})
    assert first.status_code == 202
    now = utcnow()
    keys = {k.key: k for k in db.scalars(select(ApiIdempotencyKey))}
    keys["a"].created_at = _days(DEFAULTS.idempotency_keys - 0.5, now)  # within the promise
    keys["b"].created_at = _days(DEFAULTS.idempotency_keys + 0.5, now)
    db.commit()
    assert prune(db, now, DEFAULTS)["api_idempotency_key"] == 1
    again = client.post("/api/v1/sms", json=body, headers={**headers, "Idempotency-Key": "a"})
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    forgotten = client.post("/api/v1/sms", json=body, headers={**headers, "Idempotency-Key": "b"})
    assert forgotten.status_code == 202 and "Idempotent-Replayed" not in forgotten.headers


def test_the_promise_and_the_deletion_are_one_setting(app):
    assert Retention.from_config(app.config).idempotency_keys == app.config["API_IDEMPOTENCY_DAYS"]

"""Nothing sent twice, nothing lost: concurrent workers and workers killed mid-run.

Real processes, a real Redis and database, the websms sandbox over HTTP.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest
from sqlalchemy import func, insert, select

from tests.workers import start_worker
from webapp import accounts
from webapp.jobs.jobs import AUTH_TOKEN, SettingsInput, save_settings
from webapp.jobs.queues import redis_connection
from webapp.jobs.runner import execute_job
from webapp.models import (
    Job,
    JobLogEntry,
    JobRun,
    Message,
    MessageStatus,
    RunStatus,
    ScheduleKind,
)
from webapp.models.base import utcnow
from webapp.simulators.websms import WebsmsSandbox

TOKEN = "exactly-once"


@pytest.fixture
def sandbox():
    with WebsmsSandbox(token=TOKEN, latency=0.002) as box:
        yield box


def _queue_many(db, count: int) -> list[int]:
    mandant = accounts.save_mandant(db, "HV Wien")
    db.commit()
    now = utcnow()
    db.execute(
        insert(Message.__table__),
        [
            {
                "mandant_id": mandant.id,
                "recipient_raw": f"+43664{i:07d}",
                "recipient": f"+43664{i:07d}",
                "text": f"Nachricht {i}",
                "encoding": "GSM-7",
                "segments": 1,
                "status": "queued",
                "attempts": 0,
                "source": "manual",
                "error_notification_due": False,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(1, count + 1)
        ],
    )
    db.commit()
    return list(db.scalars(select(Message.id).order_by(Message.id)))


def _websms_job(app, db, sandbox, name: str = "Service SMS") -> Job:
    job = db.scalar(select(Job).where(Job.name == name))
    if job is None:
        job = Job(job_type="service_sms", name=name, schedule_kind=ScheduleKind.MINUTES)
        db.add(job)
        db.flush()
    save_settings(
        db,
        job,
        SettingsInput(
            variant="2",
            websms_base_url=sandbox.url,
            websms_auth=AUTH_TOKEN,
            websms_access_token=TOKEN,
        ),
        "test",
        app.config["SMS_SECRET_KEY"],
    )
    job.active = True
    db.commit()
    return job


def _environment(app) -> dict[str, str]:
    return {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "SECRET_KEY": "test",
        "SMS_SECRET_KEY": app.config["SMS_SECRET_KEY"],
        "INSTANCE_PATH": app.config["INSTANCE_PATH"],
        "SMS_DISPATCH_BATCH": "10",
        "JOB_LOCK_SECONDS": "30",
    }


def _clear_locks(app) -> None:
    connection = redis_connection(app)
    for key in connection.scan_iter("sms:job-lock:*"):
        connection.delete(key)


def _wait(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {seconds} s")
        time.sleep(0.005)


def _statuses(db) -> Counter:
    db.expire_all()
    rows = db.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    return Counter({MessageStatus(status): n for status, n in rows})


def test_concurrent_workers_send_each_message_exactly_once(app, db, sandbox):
    count = 10_000 if db.get_bind().dialect.name == "postgresql" else 2_000
    ids = _queue_many(db, count)
    # Four jobs of the same type: four runs at once, all claiming from the same outbox.
    jobs = [_websms_job(app, db, sandbox, f"Service SMS {n}") for n in range(4)]
    _clear_locks(app)
    workers = [start_worker(_environment(app), job.id) for job in jobs]
    for worker in workers:
        worker.join(timeout=240)
        assert worker.exitcode == 0
    received = Counter(int(a.client_message_id) for a in sandbox.accepted)
    assert sorted(received) == ids
    assert max(received.values()) == 1
    assert _statuses(db) == Counter({MessageStatus.SENT: count})


def test_killed_workers_lose_nothing_and_send_nothing_twice(app, db, sandbox, smtp_server):
    host, port, sink = smtp_server
    app.config.update(SMTP_HOST=host, SMTP_PORT=port)
    ids = _queue_many(db, 400)
    job = _websms_job(app, db, sandbox)
    job.failure_email = "admin@hv.at"
    db.commit()
    rng = random.Random(4711)
    environment = {**_environment(app), "SMTP_HOST": host, "SMTP_PORT": str(port)}
    for _kill in range(50):
        before = len(sandbox.accepted)
        if before >= len(ids):
            break
        worker = start_worker(environment, job.id)
        if rng.random() < 0.3:  # right after start: claim or attempt-start not yet committed
            _wait(lambda w=worker: w.pid is not None, 5, "worker start")
        else:  # somewhere in the middle of sending
            target = min(len(ids), before + rng.randint(1, 25))
            _wait(
                lambda t=target, w=worker: len(sandbox.accepted) >= t or not w.is_alive(),
                30,
                "messages reaching the sandbox",
            )
        worker.kill()
        worker.join(timeout=10)
        _clear_locks(app)  # the dead run's lock expires (JOB_LOCK_SECONDS) in real life
    # Let the job finish in peace.
    execute_job(app, job.id)
    statuses = _statuses(db)
    assert statuses[MessageStatus.QUEUED] == 0 and statuses[MessageStatus.SENDING] == 0
    assert sum(statuses.values()) == len(ids)
    received = Counter(int(a.client_message_id) for a in sandbox.accepted)
    assert max(received.values()) == 1, "a message reached the provider twice"
    db.expire_all()
    messages = {m.id: m for m in db.scalars(select(Message))}
    for message_id, message in messages.items():
        if message.status is MessageStatus.SENT:
            assert received[message_id] == 1
        else:
            assert message.status is MessageStatus.UNKNOWN, message
    unknown = [i for i, m in messages.items() if m.status is MessageStatus.UNKNOWN]
    reported = " ".join(e.message for e in db.scalars(select(JobLogEntry)))
    for message_id in unknown:
        assert f"{message_id}" in reported, f"unknown SMS {message_id} was not reported"
    assert all(received[i] <= 1 for i in unknown)
    if unknown:
        assert any("unklarem Ergebnis" in m["Subject"] for m in sink.messages)
    # The kills really hit running runs (each one was found dead by the next run).
    dead = db.scalar(
        select(func.count())
        .select_from(JobRun)
        .where(JobRun.status == RunStatus.FAILED, JobRun.error.like("Lauf abgebrochen%"))
    )
    assert dead >= 10 and unknown, f"kills hit too few runs: {dead} dead, {len(unknown)} unknown"

"""Nothing sent twice, nothing lost: concurrent workers and workers killed mid-run.

Real processes, a real Redis and database, the websms sandbox over HTTP.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import func, insert, select

from tests.service_job import send_through_websms
from tests.workers import start_worker
from webapp import accounts
from webapp.config import PROJECT_ROOT
from webapp.jobs.queues import redis_connection
from webapp.jobs.runner import execute_job
from webapp.jobs.settings_tab import SettingsInput, save_settings
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
from webapp.simulators.modem import ModemSimulator
from webapp.simulators.websms import WebsmsSandbox
from webapp.sms.dispatch import CLAIM_SECONDS

TOKEN = "exactly-once"


WEBSMS_WINDOW = 8  # the default concurrency of Variante 2


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
    return send_through_websms(app, db, job, sandbox.url, TOKEN)


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


def _started_in_flight(db) -> int:
    """SMS whose attempt started and whose outcome is not recorded: after a kill, exactly the
    ones the next run will call unknown."""
    db.expire_all()
    return db.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.status == MessageStatus.SENDING, Message.attempt_started_at.is_not(None))
    )


def _modem_job(app, db, sim) -> Job:
    job = db.scalar(select(Job).where(Job.job_type == "service_sms"))
    save_settings(
        db,
        job,
        SettingsInput(variant="1", modem_url=sim.url),
        "test",
        app.config["SMS_SECRET_KEY"],
    )
    job.active = True
    db.commit()
    return job


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
    sandbox.latency = 0.02  # a window of requests is really in flight when the kill comes
    _clear_locks(app)
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
        # At most the window was handed over and not recorded: never a whole claim.
        assert _started_in_flight(db) <= WEBSMS_WINDOW
        # No lock clearing here: the next run finds the killed process gone by itself.
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


# --- the SMS is the unit: runs killed, stopped and slow -----------------------------------------


def _messages_by_text(sim) -> Counter:
    return Counter(m.text for m in sim.messages())


def test_killed_modem_runs_leave_at_most_the_sms_in_flight_unclear(app, db, smtp_server):
    """30 SIGKILLs at random moments of runs over a modem that takes 0.2 s per SMS."""
    host, port, _sink = smtp_server
    app.config.update(SMTP_HOST=host, SMTP_PORT=port)
    with ModemSimulator(latency=0.2) as sim:
        job = _modem_job(app, db, sim)
        ids = _queue_many(db, 300)
        environment = {**_environment(app), "SMTP_HOST": host, "SMTP_PORT": str(port)}
        _clear_locks(app)
        rng = random.Random(815)
        kills = 0
        for _kill in range(30):
            if len(sim.messages()) >= len(ids):
                break
            worker = start_worker(environment, job.id)
            # Each AT command is a moment: during the modem's start, before AT+CMGS, between
            # the prompt and Ctrl-Z, while the network takes the SMS (0.2 s), after +CMGS.
            target = len(sim.commands) + rng.randint(1, 10)
            _wait(
                lambda t=target, w=worker: len(sim.commands) >= t or not w.is_alive(),
                30,
                "commands reaching the modem",
            )
            worker.kill()
            worker.join(timeout=10)
            kills += 1
            assert _started_in_flight(db) <= 1, "more than the SMS in flight is unclear"
        assert kills == 30
        sim.latency = 0.0  # let the rest go out quickly
        execute_job(app, job.id)
        received = _messages_by_text(sim)
    assert max(received.values()) == 1, "an SMS reached the modem twice"
    statuses = _statuses(db)
    assert statuses[MessageStatus.QUEUED] == 0 and statuses[MessageStatus.SENDING] == 0
    # The kills really hit SMS in flight (and never more than one at a time).
    assert 1 <= statuses[MessageStatus.UNKNOWN] <= kills
    db.expire_all()
    for message in db.scalars(select(Message)):
        if message.status is MessageStatus.SENT:
            assert received[message.text] == 1
        else:
            assert message.status is MessageStatus.UNKNOWN and received[message.text] <= 1
    assert statuses[MessageStatus.SENT] >= len(ids) - kills


def test_sigterm_during_a_modem_run_stops_it_cleanly(app, db):
    with ModemSimulator(latency=0.2) as sim:
        job = _modem_job(app, db, sim)
        ids = _queue_many(db, 50)
        _clear_locks(app)
        worker = start_worker(_environment(app), job.id)
        sim.wait_for(3, timeout=30)
        worker.terminate()  # SIGTERM, as on every deploy
        worker.join(timeout=20)
        assert worker.exitcode == 0
        sent = len(sim.messages())
    statuses = _statuses(db)
    assert statuses[MessageStatus.UNKNOWN] == 0 and statuses[MessageStatus.SENDING] == 0
    assert statuses[MessageStatus.SENT] == sent
    assert statuses[MessageStatus.QUEUED] == len(ids) - sent
    db.expire_all()
    run = db.scalar(select(JobRun).where(JobRun.job_id == job.id))
    assert run.status is RunStatus.STOPPED and "angehalten" in run.error


def test_statuses_of_a_modem_run_appear_as_they_happen(app, db):
    with ModemSimulator(latency=0.2) as sim:
        job = _modem_job(app, db, sim)
        _queue_many(db, 100)
        _clear_locks(app)
        worker = start_worker(_environment(app), job.id)
        sim.wait_for(50, timeout=60)
        halfway = _statuses(db)
        worker.terminate()
        worker.join(timeout=20)
    # 50 reached the modem: the database already says so (give or take the one in flight),
    # and only the current claim is taken from the queue: about CLAIM_SECONDS of sending at
    # the run's pace (at most 0.2 s per SMS here), not a batch. Under load the pace is slower,
    # so the claim is smaller; it is never larger than this bound.
    assert 49 <= halfway[MessageStatus.SENT] <= 51
    assert halfway[MessageStatus.SENDING] <= int(CLAIM_SECONDS / 0.2) + 1
    assert halfway[MessageStatus.QUEUED] >= 100 - 51 - (int(CLAIM_SECONDS / 0.2) + 1)


def test_a_provider_taking_5_s_per_request_outlives_the_lock_without_harm(app, db):
    with WebsmsSandbox(token=TOKEN, latency=5.0) as sandbox:
        job = _websms_job(app, db, sandbox)
        count = 1 + 4 * WEBSMS_WINDOW  # a probe, then four windows: about 25 s
        _queue_many(db, count)
        _clear_locks(app)
        environment = {**_environment(app), "JOB_LOCK_SECONDS": "20"}
        first = start_worker(environment, job.id)
        # 20 s in, a lock renewed only per batch would have expired: a second run must not
        # start now.
        _wait(lambda: len(sandbox.accepted) >= 1 + 3 * WEBSMS_WINDOW, 40, "three windows")
        second = start_worker(environment, job.id)
        second.join(timeout=30)
        assert second.exitcode == 0
        first.join(timeout=60)
        assert first.exitcode == 0
    statuses = _statuses(db)
    assert statuses == Counter({MessageStatus.SENT: count})
    db.expire_all()
    runs = list(db.scalars(select(JobRun).where(JobRun.job_id == job.id)))
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] and runs[0].sent == count
    log = " ".join(e.message for e in db.scalars(select(JobLogEntry)))
    assert "unklar" not in log.replace("0 unklar", "")


def test_the_next_tick_runs_a_job_whose_process_was_killed(app, db, tmp_path):
    """A real worker (worker.py): its work-horse is killed mid-run; the next tick queues the
    job again and the worker runs it to the end."""
    from webapp.jobs.tick import enqueue_due_jobs
    from webapp.models.base import utcnow as now

    with ModemSimulator(latency=0.2) as sim:
        job = _modem_job(app, db, sim)
        ids = _queue_many(db, 40)
        _clear_locks(app)
        environment = {**os.environ, **_environment(app)}
        log = (tmp_path / "worker.log").open("w+")
        worker = subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            job.next_run_at = now()
            db.commit()
            assert enqueue_due_jobs(app, db, now()) == [job.id]
            sim.wait_for(3, timeout=60)
            first = _wait_for_run(db, job, lambda r: r.pid is not None)
            os.kill(first.pid, signal.SIGKILL)  # the run's process, mid-SMS
            # The next tick (the scheduler ticks every minute) queues the job again.

            def tick() -> bool:
                db.expire_all()
                db.get(Job, job.id).next_run_at = now()  # due again at every tick of this test
                db.commit()
                return enqueue_due_jobs(app, db, now()) == [job.id]

            _wait(tick, 30, "the job queued")
            _wait(lambda: len(sim.messages()) >= len(ids) - 1, 60, "the rest sent")
            _wait_for_run(db, job, lambda r: r.id != first.id and r.status is RunStatus.SUCCEEDED)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    db.expire_all()
    first = db.get(JobRun, first.id)
    assert first.status is RunStatus.FAILED and "Lauf abgebrochen" in first.error
    assert max(_messages_by_text(sim).values()) == 1
    statuses = _statuses(db)
    assert statuses[MessageStatus.UNKNOWN] <= 1 and statuses[MessageStatus.QUEUED] == 0


def _wait_for_run(db, job, check, seconds: float = 60) -> JobRun:
    found: list[JobRun] = []

    def look() -> bool:
        db.expire_all()
        for run in db.scalars(select(JobRun).where(JobRun.job_id == job.id)):
            if check(run):
                found.append(run)
                return True
        return False

    _wait(look, seconds, "the run")
    return found[0]


def test_a_deploy_sigterm_to_worker_py_stops_the_run_without_anything_unclear(app, db, tmp_path):
    """SIGTERM to the RQ worker (what systemd or `make run`'s Ctrl-C does): the work-horse
    finishes the SMS in flight, hands the rest back and the run is recorded as stopped."""
    from webapp.jobs.runner import request_run

    with ModemSimulator(latency=0.2) as sim:
        job = _modem_job(app, db, sim)
        ids = _queue_many(db, 60)
        _clear_locks(app)
        log = (tmp_path / "worker.log").open("w+")
        worker = subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=PROJECT_ROOT,
            env={**os.environ, **_environment(app)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            assert request_run(job, app)
            sim.wait_for(3, timeout=60)
            worker.terminate()
            assert worker.wait(timeout=30) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
        sent = len(sim.messages())
    statuses = _statuses(db)
    assert statuses[MessageStatus.UNKNOWN] == 0 and statuses[MessageStatus.SENDING] == 0
    assert statuses[MessageStatus.SENT] == sent and sent < len(ids)
    assert statuses[MessageStatus.QUEUED] == len(ids) - sent
    db.expire_all()
    run = db.scalar(select(JobRun).where(JobRun.job_id == job.id))
    assert run.status is RunStatus.STOPPED

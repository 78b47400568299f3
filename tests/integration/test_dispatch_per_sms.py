"""The SMS is the unit: attempt start and outcome of each SMS are committed as they happen,
the window is the transport's, and every way a run ends hands back what it did not start.

The websms sandbox and the modem simulator over real TCP/HTTP; runs in a thread of their own
(with their own session) while the test watches the database.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from tests.service_job import send_through_websms
from webapp.extensions import db as _db
from webapp.jobs import stopping
from webapp.jobs.queues import redis_connection
from webapp.jobs.runner import (
    break_dead_lock,
    execute_job,
    lock_key,
    request_run,
    rq_job_id,
)
from webapp.jobs.settings_tab import SettingsInput, save_settings
from webapp.models import (
    Job,
    JobLogEntry,
    JobRun,
    LogLevel,
    Message,
    MessageSource,
    MessageStatus,
    RunStatus,
)
from webapp.models.base import utcnow
from webapp.simulators.modem import ModemSimulator
from webapp.simulators.websms import Fault, WebsmsSandbox
from webapp.sms.leases import claim, start_attempts
from webapp.sms.outbox import queue_sms

TOKEN = "per-sms"


@pytest.fixture(autouse=True)
def _fresh_stop_flag():
    stopping.reset()
    yield
    stopping.reset()


@pytest.fixture
def job(app, db):
    job = db.scalar(select(Job).where(Job.job_type == "service_sms"))
    job.active = True
    db.commit()
    redis = redis_connection(app)
    redis.delete(lock_key(job.id))
    redis.delete(f"rq:job:{rq_job_id(job.id)}")
    return job


@pytest.fixture
def concurrency(monkeypatch):
    """Set the websms window of the runs in this test (the default is 8)."""
    from webapp.sms import dispatch
    from webapp.sms.transports.websms import WebsmsTransport

    original = dispatch.open_transport

    def set_to(size: int) -> None:
        def open_transport(app, job, channel):
            transport = original(app, job, channel)
            if isinstance(transport, WebsmsTransport):
                transport.close()
                transport = WebsmsTransport(
                    dataclasses.replace(transport.settings, concurrency=size)
                )
            return transport

        monkeypatch.setattr(dispatch, "open_transport", open_transport)

    return set_to


def _websms(app, db, job, sandbox) -> None:
    send_through_websms(app, db, job, sandbox.url, TOKEN)


def _modem(app, db, job, sim) -> None:
    save_settings(
        db,
        job,
        SettingsInput(variant="1", modem_url=sim.url),
        "test",
        app.config["SMS_SECRET_KEY"],
    )
    db.commit()


def _queue(db, mandant, count: int, prefix: str = "Nachricht") -> list[int]:
    ids = []
    for i in range(count):
        message = queue_sms(
            db,
            recipient=f"0664 {1000000 + i}",
            text=f"{prefix} {i}",
            mandant_id=mandant.id,
            source=MessageSource.MANUAL,
        )
        ids.append(message.id)
    db.commit()
    return ids


def _statuses(db) -> Counter:
    db.expire_all()
    rows = db.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    return Counter({MessageStatus(status): n for status, n in rows})


def _started_in_flight(db) -> int:
    db.expire_all()
    return db.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.status == MessageStatus.SENDING, Message.attempt_started_at.is_not(None))
    )


class RunInThread:
    """execute_job in a thread with its own app context (and so its own session)."""

    def __init__(self, app, job_id: int) -> None:
        self.app = app
        self.job_id = job_id
        self.run: JobRun | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._target, daemon=True)
        self.thread.start()

    def _target(self) -> None:
        with self.app.app_context():
            try:
                self.run = execute_job(self.app, self.job_id)
                if self.run is not None:
                    self.status = self.run.status
            except BaseException as error:
                self.error = error
            finally:
                _db.session.remove()

    def alive(self) -> bool:
        return self.thread.is_alive()

    def join(self, seconds: float = 60) -> None:
        self.thread.join(seconds)
        assert not self.thread.is_alive(), "the run did not end"
        assert self.error is None, self.error


def _until(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {seconds} s")
        time.sleep(0.01)


def test_only_the_window_has_an_attempt_started_and_outcomes_appear_one_by_one(
    app, db, job, wien, concurrency
):
    concurrency(3)
    with WebsmsSandbox(token=TOKEN, latency=0.15) as sandbox:
        _websms(app, db, job, sandbox)
        _queue(db, wien, 24)
        runner = RunInThread(app, job.id)
        most_started, seen = 0, set()
        while runner.alive():
            most_started = max(most_started, _started_in_flight(db))
            seen.add(_statuses(db)[MessageStatus.SENT])
        runner.join()
    assert 1 <= most_started <= 3  # the window, never the claim
    assert len(seen - {0, 24}) >= 3  # statuses appear while the run goes on
    assert _statuses(db) == Counter({MessageStatus.SENT: 24})
    assert sandbox.peak_concurrency <= 3


def test_a_dropped_connection_costs_one_sms_and_the_rest_is_sent(app, db, job, wien):
    with WebsmsSandbox(token=TOKEN) as sandbox:
        _websms(app, db, job, sandbox)
        ids = _queue(db, wien, 200)
        sandbox.add_rule("436641000050", Fault(drop=True, accept=True))
        runner = RunInThread(app, job.id)
        runner.join()
    assert runner.status is RunStatus.SUCCEEDED
    assert _statuses(db) == Counter({MessageStatus.SENT: 199, MessageStatus.UNKNOWN: 1})
    received = Counter(a.client_message_id for a in sandbox.accepted)
    assert max(received.values()) == 1 and len(received) == len(ids)


def test_fails_run_hands_back_what_was_not_started_untouched(app, db, job, wien, concurrency):
    concurrency(2)
    with WebsmsSandbox(token=TOKEN, latency=0.01) as sandbox:
        _websms(app, db, job, sandbox)
        ids = _queue(db, wien, 30)
        sandbox.add_rule("436641000010", Fault.status(4001))
        runner = RunInThread(app, job.id)
        runner.join()
    assert runner.status is RunStatus.FAILED
    db.expire_all()
    messages = {m.id: m for m in db.scalars(select(Message))}
    sent = {a.client_message_id for a in sandbox.accepted}
    for message_id in ids:
        message = messages[message_id]
        if str(message_id) in sent:
            assert message.status is MessageStatus.SENT
        elif message.recipient == "+436641000010" or message.attempts:
            assert message.status is MessageStatus.QUEUED  # tried, refused: later again
        else:  # never handed over: as it was, due at once
            assert message.status is MessageStatus.QUEUED and message.attempts == 0
            assert message.next_attempt_at is None and message.run_key is None
    assert _statuses(db)[MessageStatus.UNKNOWN] == 0
    assert len(sent) < 30


def test_a_modem_gone_for_good_mid_run_leaves_the_rest_queued(app, db, job, wien):
    sim = ModemSimulator(latency=0.2).start()
    _modem(app, db, job, sim)
    _queue(db, wien, 8)
    runner = RunInThread(app, job.id)
    sim.wait_for(2, timeout=20)
    sim.stop()  # the NPort is gone: every reconnect is refused
    runner.join(60)
    assert runner.status is RunStatus.FAILED
    statuses = _statuses(db)
    # The second may have been in flight when the NPort went: then it is the one unclear.
    assert statuses[MessageStatus.UNKNOWN] <= 1
    assert statuses[MessageStatus.SENT] + statuses[MessageStatus.UNKNOWN] >= 2
    assert statuses[MessageStatus.SENDING] == 0
    assert statuses[MessageStatus.QUEUED] == (
        8 - statuses[MessageStatus.SENT] - statuses[MessageStatus.UNKNOWN]
    )
    db.expire_all()
    untried = db.scalars(select(Message).where(Message.status == MessageStatus.QUEUED)).all()
    assert all(m.attempt_started_at is None for m in untried)


def test_a_stop_request_finishes_the_window_and_hands_back_the_rest(app, db, job, wien):
    with ModemSimulator(latency=0.1) as sim:
        _modem(app, db, job, sim)
        _queue(db, wien, 30)
        runner = RunInThread(app, job.id)
        sim.wait_for(3, timeout=20)
        stopping.request_stop()
        runner.join()
    assert runner.status is RunStatus.STOPPED
    statuses = _statuses(db)
    assert statuses[MessageStatus.UNKNOWN] == 0 and statuses[MessageStatus.SENDING] == 0
    assert statuses[MessageStatus.SENT] == len(sim.messages())
    assert statuses[MessageStatus.QUEUED] == 30 - len(sim.messages())
    db.expire_all()
    run = db.scalar(select(JobRun).order_by(JobRun.id.desc()))
    assert run.status is RunStatus.STOPPED and "angehalten" in run.error


def test_a_used_budget_stops_claiming_and_the_next_tick_goes_on(app, db, job, wien):
    app.config["SMS_RUN_BUDGET_SECONDS"] = 0.5
    job.log_level = LogLevel.ALL
    db.commit()
    with ModemSimulator(latency=0.1) as sim:
        _modem(app, db, job, sim)
        _queue(db, wien, 40)
        runner = RunInThread(app, job.id)
        runner.join()
    assert runner.status is RunStatus.SUCCEEDED
    statuses = _statuses(db)
    assert 0 < statuses[MessageStatus.SENT] < 40
    assert statuses[MessageStatus.QUEUED] == 40 - statuses[MessageStatus.SENT]
    assert statuses[MessageStatus.UNKNOWN] == 0
    db.expire_all()
    job = db.get(Job, job.id)
    assert job.next_run_at is not None and job.next_run_at <= utcnow()
    log = " ".join(e.message for e in db.scalars(select(JobLogEntry)))
    assert "Zeitbudget" in log


def test_an_sms_whose_lease_was_taken_is_never_started(db, wien):
    ids = _queue(db, wien, 3)
    claimed = claim(db, [], "run-a", utcnow(), 10)
    assert [c.id for c in claimed] == ids
    taken = db.get(Message, ids[1])
    taken.run_key = "run-b"  # another run recovered it (this one was thought dead)
    db.commit()
    assert start_attempts(db, "run-a", ids, utcnow()) == {ids[0], ids[2]}
    db.commit()
    db.expire_all()
    assert db.get(Message, ids[1]).attempt_started_at is None


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_lock_of_a_process_that_is_gone_is_broken_at_once(app, db, job, wien):
    redis = redis_connection(app)
    redis.set(lock_key(job.id), f"{socket.gethostname()}:{_dead_pid()}:x", ex=600)
    dead = JobRun(
        job_id=job.id,
        run_key=uuid.uuid4().hex,
        status=RunStatus.RUNNING,
        host=socket.gethostname(),
        pid=_dead_pid(),
    )
    db.add(dead)
    db.commit()
    with WebsmsSandbox(token=TOKEN) as sandbox:
        _websms(app, db, job, sandbox)
        _queue(db, wien, 2)
        run = execute_job(app, job.id)
    assert run is not None and run.status is RunStatus.SUCCEEDED and run.sent == 2
    db.expire_all()
    dead = db.get(JobRun, dead.id)
    assert dead.status is RunStatus.FAILED and "Lauf abgebrochen" in dead.error


def test_a_lock_of_a_living_process_or_another_host_is_respected(app, db, job):
    redis = redis_connection(app)
    redis.set(lock_key(job.id), f"{socket.gethostname()}:{__import__('os').getpid()}:x", ex=60)
    assert break_dead_lock(redis, job.id) is False
    redis.set(lock_key(job.id), f"other-host:{_dead_pid()}:x", ex=60)
    assert break_dead_lock(redis, job.id) is False
    assert execute_job(app, job.id) is None


def test_a_run_that_still_beats_elsewhere_is_not_joined_by_a_second(app, db, job):
    living = JobRun(
        job_id=job.id,
        run_key=uuid.uuid4().hex,
        status=RunStatus.RUNNING,
        host="other-host",
        pid=1,
        heartbeat_at=utcnow(),
    )
    db.add(living)
    db.commit()
    assert execute_job(app, job.id) is None  # Redis lost the lock, the database knows better
    db.expire_all()
    assert db.get(JobRun, living.id).status is RunStatus.RUNNING
    living = db.get(JobRun, living.id)
    living.heartbeat_at = utcnow() - timedelta(seconds=app.config["JOB_LOCK_SECONDS"] + 1)
    db.commit()
    run = execute_job(app, job.id)  # stopped beating: dead
    assert run is not None and run.status is RunStatus.SUCCEEDED


def test_a_leftover_rq_job_of_a_dead_run_does_not_block_the_next(app, db, job):
    from rq.job import Job as RqJob
    from rq.job import JobStatus

    assert request_run(job, app) is True
    assert request_run(job, app) is False  # queued: once is enough
    rq_job = RqJob.fetch(rq_job_id(job.id), connection=redis_connection(app))
    rq_job.set_status(JobStatus.FAILED)  # the work-horse was killed
    assert request_run(job, app) is True
    rq_job = RqJob.fetch(rq_job_id(job.id), connection=redis_connection(app))
    rq_job.set_status(JobStatus.STARTED)  # "started", but no run holds the lock any more
    rq_job.started_at = utcnow() - timedelta(minutes=1)
    rq_job.save()
    assert request_run(job, app) is True
    redis_connection(app).set(lock_key(job.id), f"other-host:1:{uuid.uuid4().hex}", ex=60)
    rq_job = RqJob.fetch(rq_job_id(job.id), connection=redis_connection(app))
    rq_job.set_status(JobStatus.STARTED)
    assert request_run(job, app) is False  # a living run holds the lock


class _Seen(logging.Handler):
    """Notes the log records that contain `needle`."""

    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle = needle
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.event.set()


def test_a_database_restart_mid_run_loses_nothing(app, db, job, wien):
    """PostgreSQL goes away (every connection of the run's database terminated, new ones
    refused) in the middle of a modem run: the run waits, keeps what the modem answered, and
    writes it all once the database is back — nothing unclear, nothing sent twice."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "postgresql":
        pytest.skip("a database server that can go away: PostgreSQL (TEST_DATABASE_URL)")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = url.database
    seen = _Seen("database unreachable")
    logging.getLogger("webapp.sms.dispatch").addHandler(seen)
    try:
        with ModemSimulator(latency=0.1) as sim:
            _modem(app, db, job, sim)
            _queue(db, wien, 40)
            job.log_level = LogLevel.WARNINGS
            db.commit()
            job_id = job.id
            db.close()  # the test's own connection is not needed meanwhile
            runner = RunInThread(app, job_id)
            sim.wait_for(5, timeout=30)
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            try:
                assert seen.event.wait(30), "the run did not notice the database was gone"
                at_outage = len(sim.messages())
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
            runner.join(60)
            texts = Counter(m.text for m in sim.messages())
    finally:
        logging.getLogger("webapp.sms.dispatch").removeHandler(seen)
        admin.dispose()
    assert runner.status is RunStatus.SUCCEEDED
    assert at_outage < 40 and max(texts.values()) == 1 and len(texts) == 40
    assert _statuses(db) == Counter({MessageStatus.SENT: 40})
    log = " ".join(e.message for e in db.scalars(select(JobLogEntry)))
    assert "Datenbank war" in log

"""The worker and the scheduler as real processes: Redis outages and graceful stops.

`python worker.py` and `python -m webapp.jobs.scheduler` run against a Redis server of this
module's own, which the tests stop and start again on the same address (never the system Redis).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rq import Worker
from sqlalchemy import select

from tests.jobs_for_tests import describe_process, wait_for_stop
from tests.service_job import send_through_websms
from webapp import accounts
from webapp.config import PROJECT_ROOT
from webapp.embedded_redis import EmbeddedRedis
from webapp.jobs.queues import DEFAULT_QUEUE, HIGH_QUEUE, get_queue, redis_connection
from webapp.jobs.runner import request_run
from webapp.jobs.worker import JOB_MONITORING_SECONDS
from webapp.models import Job, JobRun, Message, MessageSource, MessageStatus, RunStatus
from webapp.simulators.websms import WebsmsSandbox
from webapp.sms.outbox import queue_sms

TOKEN = "worker-process"
OUTAGE_SECONDS = 30  # what the issue asks the worker to survive


@dataclass
class Service:
    """A started process and the file its output goes to."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


def _until(check: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not reached within {seconds} s")
        time.sleep(0.05)


def _exit_code(service: Service, seconds: float) -> int:
    try:
        return service.process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {seconds} s after the signal:\n{service.output()}")


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("own-redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_config(own_redis: EmbeddedRedis) -> dict[str, object]:
    if own_redis.process is None:  # an earlier test failed during its outage
        own_redis.start()
    return {"REDIS_URL": own_redis.url}


@pytest.fixture(autouse=True)
def empty_redis(app) -> None:
    redis_connection(app).flushdb()


@pytest.fixture
def sandbox() -> Iterator[WebsmsSandbox]:
    with WebsmsSandbox(token=TOKEN, latency=0.002) as box:
        yield box


@pytest.fixture
def spawn(app, tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """spawn("worker.py") / spawn("-m", "webapp.jobs.scheduler"): a process of the app on the
    test's database and Redis; whatever is still running at the end is stopped."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "TEST_DATABASE_URL", "RATELIMIT_STORAGE_URI"}
    }
    environment.update(
        {
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": app.config["REDIS_URL"],
            "SECRET_KEY": "test",
            "SMS_SECRET_KEY": app.config["SMS_SECRET_KEY"],
            "INSTANCE_PATH": app.config["INSTANCE_PATH"],
        }
    )
    started: list[Service] = []

    def start(*args: str) -> Service:
        log_path = tmp_path / f"process-{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=PROJECT_ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(Service(process, log_path))
        return started[-1]

    yield start
    for service in started:
        if service.alive:
            service.process.terminate()
            try:
                service.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(service.process.pid, signal.SIGKILL)
                service.process.wait()


def _start_worker(app, spawn: Callable[..., Service]) -> Service:
    worker = spawn("worker.py")
    connection = redis_connection(app)
    _until(lambda: Worker.count(connection=connection) == 1 or not worker.alive, 30, "worker up")
    assert worker.alive, worker.output()
    return worker


def _websms_job(app, db, sandbox: WebsmsSandbox) -> Job:
    job = db.scalar(select(Job).where(Job.job_type == "service_sms"))
    return send_through_websms(app, db, job, sandbox.url, TOKEN)


def test_the_work_horses_run_their_jobs_with_the_workers_app(app, db, sandbox, spawn, tmp_path):
    job = _websms_job(app, db, sandbox)
    worker = _start_worker(app, spawn)
    markers = [tmp_path / "first", tmp_path / "second"]
    for marker in markers:
        get_queue(DEFAULT_QUEUE, app).enqueue(describe_process, str(marker))
    _until(lambda: all(m.exists() for m in markers), 15, "both jobs run")
    (first_pid, first_app), (second_pid, second_app) = (m.read_text().split() for m in markers)
    assert first_pid != second_pid  # a work-horse each, forked from the worker
    assert first_app == second_app == "True"  # both inside the worker's app context

    assert request_run(job, app)  # run_job in a horse: the worker's app, connections of its own

    def ended() -> JobRun | None:
        db.expire_all()
        run = db.scalar(select(JobRun).where(JobRun.job_id == job.id))
        return run if run is not None and run.status is not RunStatus.RUNNING else None

    _until(ended, 30, "the run of Service SMS ended")
    run = ended()
    assert run is not None and run.status is RunStatus.SUCCEEDED, (run.error, worker.output())
    assert "Traceback" not in worker.output()


@pytest.mark.slow
def test_the_worker_waits_out_a_redis_outage_and_works_again(app, db, own_redis, sandbox, spawn):
    job = _websms_job(app, db, sandbox)
    wien = accounts.save_mandant(db, "HV Wien")
    db.commit()
    worker = _start_worker(app, spawn)

    own_redis.stop()
    down_since = time.monotonic()
    _until(lambda: "Redis unreachable" in worker.output(), 10, "the worker noticing the outage")
    # Redis stays away for the whole outage; the worker must live through all of it.
    while time.monotonic() - down_since < OUTAGE_SECONDS:
        assert worker.alive, worker.output()
        time.sleep(0.2)
    own_redis.start()
    back_since = time.monotonic()

    message = queue_sms(
        db,
        recipient="0664 1234567",
        text="Nach dem Ausfall",
        mandant_id=wien.id,
        source=MessageSource.MANUAL,
    )
    db.commit()
    assert request_run(job, app)
    sandbox.wait_for(1, timeout=30)
    working_again = time.monotonic() - back_since
    assert working_again < 10, f"the SMS went out {working_again:.1f} s after Redis was back"

    def sent() -> bool:
        db.expire_all()
        return db.get(Message, message.id).status is MessageStatus.SENT

    _until(sent, 10, "the SMS recorded as sent")
    assert worker.alive
    output = worker.output()
    assert output.count("Redis unreachable") == 1, output
    assert output.count("Redis reachable again") == 1, output
    assert "Traceback" not in output, output


@pytest.mark.parametrize("ctrl_c", [False, True], ids=["SIGTERM", "Ctrl-C"])
def test_a_stop_signal_ends_the_running_job_gracefully_and_the_worker_with_0(
    app, spawn, tmp_path, ctrl_c
):
    worker = _start_worker(app, spawn)
    marker = tmp_path / "marker"
    rq_job = get_queue(DEFAULT_QUEUE, app).enqueue(wait_for_stop, str(marker), 60)
    _until(lambda: marker.exists() and marker.read_text() == "started", 15, "the job running")

    signalled = time.monotonic()
    if ctrl_c:  # the terminal signals the whole process group (the horse has one of its own)
        os.killpg(worker.process.pid, signal.SIGINT)
    else:
        worker.process.send_signal(signal.SIGTERM)
    assert _exit_code(worker, 10) == 0, worker.output()
    assert time.monotonic() - signalled < 5
    assert marker.read_text() == "stopped"  # the horse saw webapp.jobs.stopping's flag
    assert rq_job.get_status(refresh=True) == "finished"
    assert "Traceback" not in worker.output()


def test_a_redis_outage_during_a_run_leaves_the_job_running(app, own_redis, spawn, tmp_path):
    worker = _start_worker(app, spawn)
    marker = tmp_path / "marker"
    get_queue(DEFAULT_QUEUE, app).enqueue(wait_for_stop, str(marker), 60)
    _until(lambda: marker.exists() and marker.read_text() == "started", 15, "the job running")

    own_redis.stop()
    # The main process notices at the next heartbeat of the run: it must neither die nor
    # abandon or kill the horse.
    _until(
        lambda: "Redis unreachable" in worker.output() or not worker.alive,
        JOB_MONITORING_SECONDS + 5,
        "the worker noticing the outage during the run",
    )
    assert worker.alive, worker.output()
    assert marker.read_text() == "started"
    own_redis.start()

    worker.process.send_signal(signal.SIGTERM)
    assert _exit_code(worker, 10) == 0, worker.output()
    assert marker.read_text() == "stopped"
    assert "Traceback" not in worker.output()


def test_a_worker_waiting_for_redis_stops_on_sigterm_with_0(app, own_redis, spawn):
    worker = _start_worker(app, spawn)
    own_redis.stop()
    _until(lambda: "Redis unreachable" in worker.output(), 10, "the worker noticing the outage")
    worker.process.send_signal(signal.SIGTERM)
    assert _exit_code(worker, 5) == 0, worker.output()
    assert "Traceback" not in worker.output()


def test_the_scheduler_waits_out_a_redis_outage_and_ticks_again(app, own_redis, spawn):
    scheduler = spawn("-m", "webapp.jobs.scheduler", "tests.cron_config_for_tests")
    queue = get_queue(HIGH_QUEUE, app)
    _until(lambda: queue.count > 0 or not scheduler.alive, 30, "the first tick enqueued")
    assert scheduler.alive, scheduler.output()

    own_redis.stop()
    _until(lambda: "Redis unreachable" in scheduler.output(), 10, "the outage noticed")
    assert scheduler.alive
    own_redis.start()  # empty: any job on the queue is a new tick
    _until(lambda: queue.count > 0, 10, "a tick enqueued after the outage")
    assert queue.jobs[0].func_name == "webapp.jobs.tick.tick"

    scheduler.process.send_signal(signal.SIGTERM)
    assert _exit_code(scheduler, 5) == 0
    output = scheduler.output()
    assert output.count("Redis unreachable") == 1, output
    assert output.count("Redis reachable again") == 1, output
    assert "Traceback" not in output, output


def test_the_scheduler_started_without_redis_ticks_once_it_is_there(app, own_redis, spawn):
    own_redis.stop()
    scheduler = spawn("-m", "webapp.jobs.scheduler")  # the real config: one tick per minute
    _until(lambda: "Redis unreachable" in scheduler.output(), 30, "the missing Redis noticed")
    own_redis.start()
    queue = get_queue(HIGH_QUEUE, app)
    _until(lambda: queue.count > 0, 10, "the first tick enqueued")
    assert queue.jobs[0].func_name == "webapp.jobs.tick.tick"

    os.killpg(scheduler.process.pid, signal.SIGINT)  # Ctrl-C
    assert _exit_code(scheduler, 5) == 0
    assert "Traceback" not in scheduler.output()

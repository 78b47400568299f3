"""The RQ worker of the SMS module (`python worker.py`): survives Redis outages, stops gracefully.

RQ's `Worker.work()` quits on any unexpected exception (a ConnectionError in a heartbeat during
a run, in its maintenance or teardown, a Redis TimeoutError), leaving a running horse alone, and
nobody restarts it. Here:

- **Redis goes away while idle:** the work loop ends quietly (one log line), `run_worker` waits
  until Redis answers again (one log line) and starts a fresh worker on the same queues, which
  registers anew (a restarted Redis may have lost the worker's keys).
- **Redis goes away during a run:** the work-horse is never left alone; the main process goes on
  waiting for it, its heartbeats fail quietly, and after the run it starts afresh as above.
- **SIGTERM / SIGINT (deploy, Ctrl-C):** warm shutdown, and the work-horse gets SIGTERM, which
  there sets the stop flag of `webapp.jobs.stopping` (the send run finishes the SMS in flight and
  hands the rest back); SIGINT is ignored in the horse. A second signal is RQ's cold shutdown.

**One app per process** (like microblog's `tasks.py`): `worker.py` builds the app once and works
inside its app context; every work-horse is a fork of that process and runs its job with the
same app (`job_app`), with fresh database pools (`main_work_horse`): connections never cross
a fork.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from flask import Flask, has_app_context
from flask.globals import app_ctx
from rq import Queue, Worker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import StopRequested
from rq.scheduler import RQScheduler

from webapp.extensions import db
from webapp.jobs import stopping
from webapp.jobs.outage import REDIS_DOWN, Outage, service_connection, wait_for_redis
from webapp.jobs.queues import QUEUE_NAMES

if TYPE_CHECKING:
    from redis.client import Pipeline
    from rq.job import Job

log = logging.getLogger(__name__)

# The signals that stop the worker; the horse must not get them before its handlers are set.
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})

# How often the main process checks on a running horse and renews the heartbeats (RQ: 30 s).
# Shorter, so a Redis lost during a run is noticed soon; it costs one small pipeline each time.
JOB_MONITORING_SECONDS = 5


def job_app() -> Flask:
    """The app jobs run with in this process, never one per run: the app of the current app
    context (the worker's, which its work-horses inherit; a CLI command's; a test's), else
    one built from the environment once for this process."""
    return app_ctx.app if has_app_context() else _app_of_this_process()


@functools.cache
def _app_of_this_process() -> Flask:
    from webapp import create_app

    return create_app()


def release_inherited_connections() -> None:
    """In a forked process: leave the parent's database connections to the parent. The pools
    are replaced without closing what they hold (SQLAlchemy's advice for os.fork()), so this
    process opens connections of its own."""
    if has_app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)


class RedisOutage(StopRequested):
    """Redis went away: ends RQ's work loop without a traceback (RQ takes StopRequested as a
    plain stop); `run_worker` then waits for Redis and starts afresh."""


class OutageQueue(Queue):
    """A queue whose blocking dequeue reports a lost Redis as RedisOutage, so RQ's dequeue loop
    does not log and back off on its own (it retries a ConnectionError with growing pauses)."""

    @classmethod
    def dequeue_any(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().dequeue_any(*args, **kwargs)
        except REDIS_DOWN as error:
            raise RedisOutage(str(error)) from error


class OutageTolerantScheduler(RQScheduler):
    """RQ's scheduler process of the worker (`with_scheduler=True`): waits a Redis outage out
    instead of dying with a traceback. The worker logs the outage; this process only at debug."""

    def request_stop(self, signum: int | None = None, frame: Any = None) -> None:
        super().request_stop(signum, frame)
        wake: threading.Event | None = getattr(self, "_wake", None)
        if wake is not None:
            wake.set()

    def work(self) -> None:
        """RQ's scheduler loop, with every round that finds Redis away skipped."""
        # Created here, in the scheduler process: a stop signal ends the pause between rounds.
        self._wake = threading.Event()
        self._install_signal_handlers()
        registered = failing = False
        while not self._stop_requested:
            try:
                if not registered:
                    self.register_birth()
                    registered = True
                if self.should_reacquire_locks:
                    self.acquire_locks()
                self.heartbeat()
                self.enqueue_scheduled_jobs()
                failing = False
            except REDIS_DOWN as error:
                if not failing:
                    self.log.debug("Scheduler: Redis unreachable (%s), retrying", error)
                failing = True
            self._wake.wait(self.interval)
        with contextlib.suppress(*REDIS_DOWN):  # the locks and the key expire by themselves
            self.stop()


class SmsWorker(Worker):
    """RQ's forking worker with outage handling and a graceful stop of the running job."""

    queue_class = OutageQueue

    def __init__(
        self,
        *args: Any,
        outage: Outage | None = None,
        scheduler_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.outage = outage or Outage(log, "worker")
        # One name across restarts: the next worker's scheduler takes over the locks at once.
        self.scheduler_name = scheduler_name
        self.redis_lost = False  # the work loop ended (or must end) because of an outage
        self.stop_signalled = False  # SIGTERM/SIGINT arrived: no restart
        self._monitoring = False  # a horse runs: Redis errors must not end this process
        self._horse_asked = False  # the running horse got its SIGTERM
        super().__init__(*args, **kwargs)

    # --- Redis outages -------------------------------------------------------------------

    @contextlib.contextmanager
    def _redis_guard(self) -> Iterator[None]:
        """A lost Redis ends the work loop quietly (RedisOutage); while a horse runs it is only
        noted, and the worker starts afresh once the horse is done."""
        if self.is_horse:
            yield
            return
        try:
            yield
        except RedisOutage as error:
            self.redis_lost = True
            self.outage.lost(error.__cause__ or error)
            raise
        except REDIS_DOWN as error:
            self.redis_lost = True
            self.outage.lost(error)
            if not self._monitoring:
                raise RedisOutage(str(error)) from error

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        with self._redis_guard():
            super().heartbeat(timeout, pipeline)

    def check_for_suspension(self, burst: bool) -> None:
        with self._redis_guard():
            super().check_for_suspension(burst)

    def run_maintenance_tasks(self) -> None:
        with self._redis_guard():
            super().run_maintenance_tasks()

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        with self._redis_guard():
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        return None  # not reached: the guard re-raises outside a run

    def execute_job(self, job: Job, queue: Queue) -> None:
        with self._redis_guard():
            super().execute_job(job, queue)
        if self.redis_lost:
            # Redis was away during the run: register anew, a restarted Redis lost our keys.
            raise StopRequested()

    def monitor_work_horse(self, job: Job, queue: Queue) -> None:
        self._monitoring = True
        try:
            super().monitor_work_horse(job, queue)
        finally:
            self._monitoring = False

    def maintain_heartbeats(self, job: Job) -> None:
        with self._redis_guard():
            super().maintain_heartbeats(job)
            self.outage.back()

    def set_current_job_working_time(
        self, current_job_working_time: float, pipeline: Pipeline | None = None
    ) -> None:
        with self._redis_guard():
            super().set_current_job_working_time(current_job_working_time, pipeline)

    def set_shutdown_requested_date(self) -> None:
        # Only shown by `rq info`; called in the signal handler, where an error would escape.
        with contextlib.suppress(*REDIS_DOWN):
            super().set_shutdown_requested_date()

    def _pubsub_exception_handler(self, exc: Exception, pubsub: Any, pubsub_thread: Any) -> None:
        if isinstance(exc, REDIS_DOWN):
            # The work loop notices the outage too and logs it once; redis-py subscribes again
            # when Redis is back. RQ's handler would log every two seconds.
            time.sleep(1.0)
            return
        super()._pubsub_exception_handler(exc, pubsub, pubsub_thread)

    def unsubscribe(self) -> None:
        """RQ's unsubscribe, also without Redis, and without its up to a second of waiting."""
        if self.pubsub_thread is None or self.pubsub is None:
            return
        # Stopped first, the thread ends on the answer to UNSUBSCRIBE (RQ stops it afterwards,
        # when it may wait for the next message again). Without Redis the channel is gone anyway.
        self.pubsub_thread.stop()
        with contextlib.suppress(*REDIS_DOWN):
            self.pubsub.unsubscribe()
        self.pubsub_thread.join(timeout=1)
        with contextlib.suppress(Exception):
            self.pubsub.close()

    def teardown(self) -> None:
        """RQ's teardown, which must not fail without Redis (the worker's key expires)."""
        if self.is_horse:
            return
        if self.scheduler:
            self.stop_scheduler()
        with contextlib.suppress(*REDIS_DOWN):
            self.register_death()
        self.unsubscribe()

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        if burst:
            super()._start_scheduler(burst, logging_level, date_format, log_format)
            return
        # RQ's own code, with the outage-tolerant scheduler and a name kept across restarts.
        self.scheduler = OutageTolerantScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
            name=self.scheduler_name,
        )
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            self.scheduler.start()

    # --- graceful stop -------------------------------------------------------------------

    def request_stop(self, signum: int, frame: Any) -> None:
        self.stop_signalled = True
        super().request_stop(signum, frame)

    def handle_warm_shutdown_request(self) -> None:
        """Warm shutdown: the running job is asked to stop (SIGTERM to the horse), like RQ's
        HerokuWorker does with SIGRTMIN."""
        if not self.horse_pid:
            super().handle_warm_shutdown_request()
            return
        self._ask_horse_to_stop()

    def _ask_horse_to_stop(self) -> None:
        if self._horse_asked:
            return
        self._horse_asked = True
        self.log.info(
            "Worker %s: warm shut down requested, asking the running job (horse %s) to stop",
            self.name,
            self.horse_pid,
        )
        # Only the horse: its process group is set by the horse itself, maybe not yet.
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.horse_pid, signal.SIGTERM)

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        # The horse starts with SIGTERM/SIGINT blocked and unblocks them once its own handlers
        # are set (setup_work_horse_signals): a stop forwarded early waits there instead of
        # hitting the handlers it inherited from this process.
        self._horse_asked = False
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            super().fork_work_horse(job, queue)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        if self._stop_requested:  # the stop came before the horse's pid was known
            self._ask_horse_to_stop()

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        """The forked horse: the worker's app with database pools of its own, then RQ's horse."""
        release_inherited_connections()
        super().main_work_horse(job, queue)

    def setup_work_horse_signals(self) -> None:
        """In the horse: SIGTERM sets the stop flag the run watches; SIGINT (Ctrl-C reaches the
        whole process group) is ignored, the main process forwards it as SIGTERM."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, stopping.on_signal)
        stopping.reset()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _stop_on_signals(stop: threading.Event) -> None:
    """Between two work loops (waiting for Redis) SIGTERM/SIGINT just end the worker."""

    def handler(signum: int, _frame: Any) -> None:
        log.info("signal %s: the worker stops", signum)
        stop.set()

    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)


def run_worker(app: Flask, queue_names: Sequence[str] = QUEUE_NAMES) -> int:
    """Work on `queue_names` (high priority first) with RQ's scheduler until SIGTERM/SIGINT;
    wait out Redis outages. Returns the exit code: 0 after a stop, 1 if RQ's loop ended for
    another reason (it logged why)."""
    connection = service_connection(app.config["REDIS_URL"])
    outage = Outage(log, "worker")
    scheduler_name = uuid.uuid4().hex
    stop = threading.Event()
    try:
        while True:
            _stop_on_signals(stop)
            if not wait_for_redis(connection, outage, stop):
                return 0
            worker: SmsWorker | None = None
            try:
                worker = SmsWorker(
                    list(queue_names),
                    connection=connection,
                    outage=outage,
                    scheduler_name=scheduler_name,
                    job_monitoring_interval=JOB_MONITORING_SECONDS,
                )
                worker.work(with_scheduler=True)
            except REDIS_DOWN as error:  # while starting up, before RQ's loop catches errors
                outage.lost(error)
                if worker is not None:
                    worker.teardown()
                    worker.redis_lost = True
            if worker is not None and worker.stop_signalled:
                return 0
            if worker is None or worker.redis_lost:
                continue
            log.error("the RQ work loop ended unexpectedly (see the log above): worker stops")
            return 1
    except StopRequested:  # a signal reached RQ's handler just outside its work loop
        return 0

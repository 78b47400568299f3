"""The figures behind `GET /metrics` (issue 13 point 7): what the database holds at scrape time,
and the counters every process adds to in Redis.

- From the database, read when Prometheus scrapes: SMS by status, the queue (waiting, age of
  the oldest), per job its runs (the job's statistics) and its latest run (the run table).
  Each is an indexed query whose cost does not grow with the runs or the SMS sent long ago:
  the count by status reads the whole status index only once an hour, for the SMS whose
  status is final (older than a week and a day), and keeps that count in Redis; each scrape
  counts the open statuses and the SMS since then (measured in bench/metrics.py).
- From Redis: the transport's latency and outcomes, and the websms webhook's notifications.
  Those happen in worker processes (a run's send threads) and in every web process (the
  webhook); one process's memory is seen by nobody else, and a worker's work-horse ends with
  its run. So each process adds what it counted to hashes in the one Redis all processes
  share: a run keeps its tally in memory and adds it at every heartbeat (one MULTI/EXEC) and
  at its end; a webhook adds its one count at once. Any web process reads the same sums.
  A Redis that loses its data (restart without persistence) starts the counters at 0 again,
  which Prometheus takes as a counter reset.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session

from webapp.jobs.queues import redis_get
from webapp.jobs.runs import run_is_live
from webapp.models import Job, JobRun, Message, MessageStatus, RunStatus
from webapp.models.base import utcnow
from webapp.sms.leases import MAX_AGE
from webapp.sms.transports.base import OutcomeKind

logger = logging.getLogger(__name__)

# Upper bounds (seconds) of the transport latency histogram: websms answers in tens of ms to a
# few seconds, a modem takes 2–5 s per SMS and gives up after 60 s.
LATENCY_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
TRANSPORTS = ("websms", "modem")
# What became of one hand-over to the transport: its OutcomeKind, or not tried at all.
NOT_TRIED = "not_tried"
OUTCOMES: tuple[str, ...] = (*(kind.value for kind in OutcomeKind), NOT_TRIED)

# websms notifications (webapp.blueprints.webhooks): messageType and what became of it.
WEBHOOK_TYPES = ("text", "binary", "deliveryReport")
UNKNOWN_TYPE = "unknown"  # not read (refused before the body) or not one of WEBHOOK_TYPES
WEBHOOK_RESULTS = (
    "applied",  # a received SMS stored, a delivery report applied to its SMS
    "unmatched",  # a delivery report for an SMS we do not know (Errorlog warning)
    "duplicate",  # a notificationId seen before: acknowledged, not applied again
    "malformed",  # HTTP 400
    "unauthorized",  # HTTP 401: no or a wrong secret
    "too_large",  # HTTP 413
    "error",  # HTTP 500
)
# The series shown with 0 before their first count (rate() and alerts need the 0).
WEBHOOK_SERIES: tuple[tuple[str, str], ...] = (
    *((kind, result) for kind in WEBHOOK_TYPES for result in ("applied", "duplicate", "error")),
    ("deliveryReport", "unmatched"),
    ("unknown", "unauthorized"),
    ("unknown", "malformed"),
)

TRANSPORT_KEY = "sms:metrics:transport"
WEBHOOK_KEY = "sms:metrics:webhook"
# A successful run is looked for among this many of the latest runs (of all jobs), so a job
# that failed for months does not make each scrape read its whole history.
SUCCESS_LOOKBACK_RUNS = 10_000
# A process that cannot reach Redis says so at most this often.
WARN_EVERY_SECONDS = 60.0
_last_warning = 0.0


def _warn(what: str, error: RedisError) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= WARN_EVERY_SECONDS:
        _last_warning = now
        logger.warning("metrics: %s not counted, Redis unreachable (%s)", what, error)


# --- the database at scrape time --------------------------------------------------------------


# Statuses an SMS of any age may leave at any time (a run, the Unklar worklist): always
# counted whole, they are few. The others are final for an SMS older than SETTLED_AGE (a week
# of queueing, then its delivery report), and these are counted once per SETTLED_SECONDS.
# A planned SMS (Versand am) may be older still: Geplant is open too; one sent long after its
# creation is missing from the counts of its final status until the next settled count.
OPEN_STATUSES = frozenset(
    {MessageStatus.PLANNED, MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.UNKNOWN}
)
SETTLED_AGE = MAX_AGE + timedelta(days=1)
SETTLED_SECONDS = 3600
SETTLED_KEY = "sms:metrics:settled"


@dataclass(frozen=True)
class Settled:
    """The final statuses of the SMS up to `until_id` (all older than SETTLED_AGE then)."""

    until_id: int
    counts: dict[MessageStatus, int]


def settled_counts(session: Session, now: datetime) -> Settled:
    """Count the final statuses of the SMS older than SETTLED_AGE: one pass over the (status,
    id) index up to the newest of them; done once per SETTLED_SECONDS (`status_counts`)."""
    until_id = session.scalar(
        select(Message.id)
        .where(Message.created_at < now - SETTLED_AGE)
        .order_by(Message.created_at.desc())
        .limit(1)
    )
    counts = dict.fromkeys((s for s in MessageStatus if s not in OPEN_STATUSES), 0)
    if until_id is None:
        return Settled(0, counts)
    for status, count in session.execute(
        select(Message.status, func.count())
        .where(Message.id <= until_id, Message.status.in_(list(counts)))
        .group_by(Message.status)
    ):
        counts[MessageStatus(status)] = count
    return Settled(until_id, counts)


def settled_key(session: Session) -> str:
    """The Redis key of the settled counts of this session's database (a Redis shared by
    several installations or test databases keeps them apart)."""
    url = session.get_bind().engine.url.render_as_string(hide_password=True)
    return f"{SETTLED_KEY}:{hashlib.sha256(url.encode()).hexdigest()[:16]}"


def _settled(session: Session, redis: Redis | None, now: datetime) -> Settled:
    """The settled counts kept in Redis for SETTLED_SECONDS (shared by every web process),
    counted anew when they are missing; without Redis counted every time."""
    key = settled_key(session)
    if redis is not None:
        try:
            raw = redis_get(redis, key)
            if raw is not None:
                stored = json.loads(raw)
                return Settled(
                    int(stored["until_id"]),
                    {MessageStatus(k): int(v) for k, v in stored["counts"].items()},
                )
        except (RedisError, ValueError, KeyError, TypeError) as error:
            logger.warning("metrics: settled counts not read from Redis (%s)", error)
    settled = settled_counts(session, now)
    if redis is not None:
        stored_text = json.dumps(
            {
                "until_id": settled.until_id,
                "counts": {k.value: v for k, v in settled.counts.items()},
            }
        )
        with contextlib.suppress(RedisError):
            redis.set(key, stored_text, ex=SETTLED_SECONDS)
    return settled


def status_counts(
    session: Session, redis: Redis | None = None, now: datetime | None = None
) -> dict[MessageStatus, int]:
    """How many SMS are in each status (every status, 0 when none). The open statuses are
    counted whole, the final ones since the settled counts (`_settled`); each is one range of
    the (status, id) index, all in one statement. A final status an SMS older than SETTLED_AGE
    reaches only later (an Unklar confirmed, a late report) shows with the next settled count,
    within SETTLED_SECONDS."""
    settled = _settled(session, redis, now or utcnow())
    parts = [
        select(literal(status.value), func.count())
        .select_from(Message)
        .where(
            Message.status == status,
            Message.id > (0 if status in OPEN_STATUSES else settled.until_id),
        )
        for status in MessageStatus
    ]
    counts = dict.fromkeys(MessageStatus, 0)
    for status, count in session.execute(union_all(*parts)):
        counts[MessageStatus(status)] = count + settled.counts.get(MessageStatus(status), 0)
    return counts


def oldest_waiting(session: Session) -> datetime | None:
    """When the SMS waiting longest was queued (a planned one: its planned time): the first
    by the (status, id) index. (How many of the waiting SMS are due is left out: that reads
    every waiting row.)"""
    return session.scalar(
        select(func.coalesce(Message.send_at, Message.created_at))
        .where(Message.status == MessageStatus.QUEUED)
        .order_by(Message.id)
        .limit(1)
    )


@dataclass(frozen=True)
class JobFigures:
    job_id: int
    name: str
    runs: int  # ended runs (the Job tab's "Anzahl")
    failed_runs: int  # of these, failed ("mit Fehler")
    last_run: JobRun | None
    running: bool  # the latest run is running and still beats
    last_success_at: datetime | None  # start of the latest successful run


def job_figures(session: Session, dead_after: timedelta) -> list[JobFigures]:
    """Per job its statistics and its latest run; a few indexed rows per job."""
    newest_run = session.scalar(select(func.max(JobRun.id))) or 0
    figures = []
    for job in session.scalars(select(Job).order_by(Job.id)):
        last = session.scalar(
            select(JobRun).where(JobRun.job_id == job.id).order_by(JobRun.id.desc()).limit(1)
        )
        success = session.scalar(
            select(JobRun.started_at)
            .where(
                JobRun.job_id == job.id,
                JobRun.status == RunStatus.SUCCEEDED,
                JobRun.id > newest_run - SUCCESS_LOOKBACK_RUNS,
            )
            .order_by(JobRun.id.desc())
            .limit(1)
        )
        figures.append(
            JobFigures(
                job.id,
                job.name,
                job.run_count,
                job.failed_run_count,
                last,
                run_is_live(last, dead_after),
                success,
            )
        )
    return figures


# --- counters in Redis ------------------------------------------------------------------------


def _bucket_field(transport: str, upper: float) -> str:
    return f"bucket|{transport}|{upper:g}"


def _bucket_of(seconds: float) -> float:
    for upper in LATENCY_BUCKETS:
        if seconds <= upper:
            return upper
    return float("inf")


class TransportTally:
    """The transport figures of one run: counted in memory as outcomes come back, added to
    Redis by `flush` (the run calls it at every heartbeat and at its end). A flush that fails
    keeps the tally for the next one, so a Redis outage loses nothing unless the run dies."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._seconds: defaultdict[str, float] = defaultdict(float)

    def observe(self, transport: str, seconds: float, outcome: str) -> None:
        """One SMS handed to `transport` came back after `seconds` with `outcome`."""
        self._counts[_bucket_field(transport, _bucket_of(seconds))] += 1
        self._counts[f"outcome|{transport}|{outcome}"] += 1
        self._seconds[f"sum|{transport}"] += seconds

    def __bool__(self) -> bool:
        return bool(self._counts)

    def flush(self, redis: Redis) -> bool:
        """Add the tally to Redis in one transaction; False (tally kept) when Redis fails."""
        if not self._counts:
            return True
        pipe = redis.pipeline(transaction=True)
        for name, count in self._counts.items():
            pipe.hincrby(TRANSPORT_KEY, name, count)
        for name, seconds in self._seconds.items():
            pipe.hincrbyfloat(TRANSPORT_KEY, name, seconds)
        try:
            pipe.execute()
        except RedisError as error:
            _warn("transport figures", error)
            return False
        self._counts.clear()
        self._seconds.clear()
        return True


def count_webhook(redis: Redis, message_type: str, result: str) -> None:
    """Count one websms notification; a Redis that does not answer costs the count only."""
    kind = message_type if message_type in WEBHOOK_TYPES else UNKNOWN_TYPE
    try:
        redis.hincrby(WEBHOOK_KEY, f"{kind}|{result}", 1)
    except RedisError as error:
        _warn("webhook notification", error)


@dataclass(frozen=True)
class LatencyHistogram:
    buckets: list[tuple[float, int]]  # (upper bound, cumulative count); the last is +inf
    count: int
    seconds: float


@dataclass(frozen=True)
class Counters:
    latency: dict[str, LatencyHistogram]  # by transport
    outcomes: dict[tuple[str, str], int]  # (transport, outcome)
    webhooks: dict[tuple[str, str], int]  # (message type, result)


def _decoded(raw: Mapping[bytes, bytes]) -> dict[str, str]:
    return {key.decode(): value.decode() for key, value in raw.items()}


def read_counters(redis: Redis) -> Counters:
    """The sums of every process, with a zero for each series an operator expects to see
    before it happened once. RedisError when Redis is away."""
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(TRANSPORT_KEY)
    pipe.hgetall(WEBHOOK_KEY)
    transport_raw, webhook_raw = cast(list[dict[bytes, bytes]], pipe.execute())
    transport = _decoded(transport_raw)
    transports = sorted(
        {*TRANSPORTS, *(name.split("|")[1] for name in transport if name.count("|") >= 1)}
    )
    latency = {}
    outcomes: dict[tuple[str, str], int] = {}
    for name in transports:
        cumulative = 0
        buckets = []
        for upper in (*LATENCY_BUCKETS, float("inf")):
            cumulative += int(transport.get(_bucket_field(name, upper), "0"))
            buckets.append((upper, cumulative))
        latency[name] = LatencyHistogram(
            buckets, cumulative, float(transport.get(f"sum|{name}", "0"))
        )
        for outcome in OUTCOMES:
            outcomes[(name, outcome)] = int(transport.get(f"outcome|{name}|{outcome}", "0"))
    webhooks = dict.fromkeys(WEBHOOK_SERIES, 0)
    for field, value in _decoded(webhook_raw).items():
        kind, _, result = field.partition("|")
        webhooks[(kind, result)] = int(value)
    return Counters(latency, outcomes, webhooks)

"""The Übersicht (issue 13): what is happening now, and the last 30 days, within a user's
Mandanten.

- "Now": SMS waiting (and since when), being sent, Unklar, failed today — counted live, each a
  range of the (mandant_id, status, id) or (status, id) index; the job "Service SMS" (last and
  next run, last error, the modem's signal as read by its last run) and, given by the caller
  from Redis, the scheduler's tick and the workers.
- The last 30 days (days in TIMEZONE, an SMS counts on the day it was created): SMS per day by
  status, delivery rate and median time from queueing to Zugestellt, top failure reasons, SMS
  per Mandant, the modem's signal per day. Past days come from the daily roll-up
  (`sms_daily_count`, `sms_daily_signal`), today is counted live from its own SMS.

The roll-up is derived data, recomputed from sms_message and job_run, never updated in place:
`refresh_days` recomputes whole days in one transaction, so a crash leaves each day as it was
before or after. Every run of "Service SMS" calls `keep_current`: today and yesterday (late
delivery reports), and all shown days once an hour (an Unklar decided, a report days late).
`rebuild` (flask --app wsgi rebuild-overview) recomputes everything.

Median times come from a histogram (`DELIVERY_BUCKETS`): linear within the bucket the middle
SMS falls in, so they are approximations, exact to the bucket.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.orm import Session

from webapp.jobs.channels import ChannelState, channel_states
from webapp.jobs.registry import service_job
from webapp.jobs.runs import latest_run, run_is_live
from webapp.jobs.settings import Variant, read_settings
from webapp.models import (
    DailyCount,
    DailySignal,
    JobRun,
    Mandant,
    Message,
    MessageStatus,
    RunStatus,
)
from webapp.sms import unclear
from webapp.sms.scope import scoped
from webapp.sms.search import local_midnight_utc
from webapp.technical import sentence_of

DAYS = 30
# The statuses whose reason the Übersicht lists as failure reasons.
FAILURE_STATUSES = (MessageStatus.FAILED, MessageStatus.UNDELIVERED, MessageStatus.EXPIRED)
# Left the queue: the base of the delivery rate (Zugestellt of these).
LEFT_QUEUE = (MessageStatus.SENT, MessageStatus.DELIVERED, *FAILURE_STATUSES)
# Time from queueing to Zugestellt: upper bound in seconds (None: longer) and roll-up column.
DELIVERY_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (60, "within_1m"),
    (300, "within_5m"),
    (900, "within_15m"),
    (3600, "within_1h"),
    (21600, "within_6h"),
    (86400, "within_24h"),
    (None, "later"),
)
BUCKET_COLUMNS = tuple(name for _, name in DELIVERY_BUCKETS)
REASON_LENGTH = 200
TOP_REASONS = 8
# The days before yesterday are recomputed at most this often by the runs.
REFRESH_ALL_EVERY = timedelta(hours=1)
# The scheduler ticks every minute: older than this, it is not ticking.
TICK_STALE_AFTER = timedelta(minutes=3)
# The days the rebuild recomputes per transaction.
REBUILD_CHUNK_DAYS = 31


def local_day(moment: datetime, tz: str) -> date:
    """The day of `moment` in `tz`."""
    return moment.astimezone(ZoneInfo(tz)).date()


def _bucket(seconds: float) -> int:
    for index, (upper, _name) in enumerate(DELIVERY_BUCKETS):
        if upper is None or seconds <= upper:
            return index
    return len(DELIVERY_BUCKETS) - 1


@dataclass
class DayRow:
    """One roll-up row: SMS of a day, Mandant, status (and reason) with their delivery times."""

    day: date
    mandant_id: int
    status: MessageStatus
    reason: str
    count: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(DELIVERY_BUCKETS))


Key = tuple[date, int, MessageStatus, str]


def aggregate(
    session: Session, first: date, last: date, tz: str, mandant_ids: set[int] | None = None
) -> dict[Key, DayRow]:
    """Count the SMS created from `first` to `last` (days in `tz`) as roll-up rows, straight
    from sms_message (one range of its created_at index)."""
    start, end = local_midnight_utc(first, tz), local_midnight_utc(last + timedelta(days=1), tz)
    reason = case((Message.status.in_(FAILURE_STATUSES), Message.reason), else_=None)
    stmt = select(
        Message.mandant_id, Message.status, reason, Message.created_at, Message.delivered_at
    ).where(Message.created_at >= start, Message.created_at < end)
    zone = ZoneInfo(tz)
    rows: dict[Key, DayRow] = {}
    for mandant_id, status, text, created, delivered in session.execute(
        scoped(stmt, Message.mandant_id, mandant_ids)
    ):
        status = MessageStatus(status)
        day = created.astimezone(zone).date()
        why = sentence_of(text).strip()[:REASON_LENGTH] if text else ""
        key = (day, mandant_id, status, why)
        row = rows.get(key)
        if row is None:
            row = rows[key] = DayRow(day, mandant_id, status, why)
        row.count += 1
        if status == MessageStatus.DELIVERED and delivered is not None:
            row.buckets[_bucket(max(0.0, (delivered - created).total_seconds()))] += 1
    return rows


@dataclass
class SignalDay:
    """The modem's readings of one day."""

    day: date
    readings: int = 0
    registered: int = 0
    rssi_readings: int = 0
    rssi_min: int | None = None
    rssi_max: int | None = None
    rssi_sum: int = 0

    def add(self, rssi: int | None, registration: str | None) -> None:
        self.readings += 1
        self.registered += registration in ("home", "roaming")
        if rssi is not None:
            self.rssi_readings += 1
            self.rssi_sum += rssi
            self.rssi_min = rssi if self.rssi_min is None else min(self.rssi_min, rssi)
            self.rssi_max = rssi if self.rssi_max is None else max(self.rssi_max, rssi)

    @property
    def rssi_avg(self) -> float | None:
        return self.rssi_sum / self.rssi_readings if self.rssi_readings else None


def aggregate_signal(session: Session, first: date, last: date, tz: str) -> dict[date, SignalDay]:
    """The signal read by the runs started from `first` to `last`, per day."""
    start, end = local_midnight_utc(first, tz), local_midnight_utc(last + timedelta(days=1), tz)
    zone = ZoneInfo(tz)
    days: dict[date, SignalDay] = {}
    for started, rssi, registration in session.execute(
        select(JobRun.started_at, JobRun.signal_rssi, JobRun.registration).where(
            JobRun.started_at >= start,
            JobRun.started_at < end,
            JobRun.registration.is_not(None),
        )
    ):
        day = started.astimezone(zone).date()
        days.setdefault(day, SignalDay(day)).add(rssi, registration)
    return days


def refresh_days(session: Session, first: date, last: date, tz: str, now: datetime) -> int:
    """Recompute the roll-up of the days `first` to `last` (delete and insert in the caller's
    transaction: the days are either as before or recomputed). Returns the rows written."""
    rows = aggregate(session, first, last, tz)
    signal = aggregate_signal(session, first, last, tz)
    session.execute(delete(DailyCount).where(DailyCount.day >= first, DailyCount.day <= last))
    session.execute(delete(DailySignal).where(DailySignal.day >= first, DailySignal.day <= last))
    if rows:
        session.execute(
            insert(DailyCount),
            [
                {
                    "day": row.day,
                    "mandant_id": row.mandant_id,
                    "status": row.status.value,
                    "reason": row.reason,
                    "count": row.count,
                    "refreshed_at": now,
                    **dict(zip(BUCKET_COLUMNS, row.buckets, strict=True)),
                }
                for row in rows.values()
            ],
        )
    if signal:
        session.execute(
            insert(DailySignal),
            [
                {
                    "day": item.day,
                    "readings": item.readings,
                    "registered": item.registered,
                    "rssi_readings": item.rssi_readings,
                    "rssi_min": item.rssi_min,
                    "rssi_max": item.rssi_max,
                    "rssi_sum": item.rssi_sum,
                    "refreshed_at": now,
                }
                for item in signal.values()
            ],
        )
    return len(rows) + len(signal)


def keep_current(session: Session, now: datetime, tz: str) -> tuple[date, date]:
    """What every run of "Service SMS" does: recompute today and yesterday, and every shown
    day when those before yesterday were last recomputed more than REFRESH_ALL_EVERY ago (or
    never: the first run after the upgrade fills the 30 days). Returns the days recomputed;
    the caller commits."""
    today = local_day(now, tz)
    first = today - timedelta(days=DAYS)
    oldest = session.scalar(
        select(func.min(DailyCount.refreshed_at)).where(
            DailyCount.day >= first, DailyCount.day < today - timedelta(days=1)
        )
    )
    if oldest is not None and oldest.replace(tzinfo=oldest.tzinfo or UTC) > now - REFRESH_ALL_EVERY:
        first = today - timedelta(days=1)
    refresh_days(session, first, today, tz, now)
    return first, today


def rebuild(session: Session, now: datetime, tz: str) -> int:
    """Recompute the whole roll-up from the first SMS (or run) on, REBUILD_CHUNK_DAYS per
    transaction (it commits). Returns the days recomputed."""
    oldest = [
        moment
        for moment in (
            session.scalar(select(func.min(Message.created_at))),
            session.scalar(select(func.min(JobRun.started_at))),
        )
        if moment is not None
    ]
    today = local_day(now, tz)
    first = min((local_day(moment, tz) for moment in oldest), default=today)
    session.execute(delete(DailyCount).where(DailyCount.day < first))
    session.execute(delete(DailySignal).where(DailySignal.day < first))
    day = first
    while day <= today:
        last = min(today, day + timedelta(days=REBUILD_CHUNK_DAYS - 1))
        refresh_days(session, day, last, tz, now)
        session.commit()
        day = last + timedelta(days=1)
    return (today - first).days + 1


# --- what the Übersicht shows -----------------------------------------------------------------


@dataclass(frozen=True)
class NowFigures:
    """The tiles of the moment, within the user's Mandanten."""

    waiting: int  # Wartet auf Versand
    oldest_waiting_at: datetime | None
    sending: int  # Wird versendet
    unknown: int  # Unklar – bitte prüfen, still without a decision (the worklist's count)
    failed_today: int  # Fehler, created today
    undelivered_today: int  # Nicht zugestellt, created today
    today: date
    planned: int = 0  # Geplant: waiting for their Versand am, not overdue


def _count(session: Session, status: MessageStatus, mandant_ids: set[int] | None) -> int:
    stmt = select(func.count()).select_from(Message).where(Message.status == status)
    return session.scalar(scoped(stmt, Message.mandant_id, mandant_ids)) or 0


def now_figures(
    session: Session,
    mandant_ids: set[int] | None,
    now: datetime,
    tz: str,
    today_rows: dict[Key, DayRow] | None = None,
) -> NowFigures:
    """The figures of the moment; `today_rows` (today's `aggregate`) when the caller has them."""
    today = local_day(now, tz)
    if today_rows is None:
        today_rows = aggregate(session, today, today, tz, mandant_ids)
    # A planned SMS waits from its planned time on (Versand am), not from its creation.
    oldest = select(func.coalesce(Message.send_at, Message.created_at)).where(
        Message.status == MessageStatus.QUEUED
    )
    oldest = scoped(oldest, Message.mandant_id, mandant_ids).order_by(Message.id).limit(1)

    def today_count(status: MessageStatus) -> int:
        return sum(row.count for row in today_rows.values() if row.status == status)

    return NowFigures(
        waiting=_count(session, MessageStatus.QUEUED, mandant_ids),
        oldest_waiting_at=session.scalar(oldest),
        sending=_count(session, MessageStatus.SENDING, mandant_ids),
        unknown=unclear.count_open(session, mandant_ids),
        failed_today=today_count(MessageStatus.FAILED),
        undelivered_today=today_count(MessageStatus.UNDELIVERED),
        today=today,
        planned=_count(session, MessageStatus.PLANNED, mandant_ids),
    )


@dataclass(frozen=True)
class JobStatus:
    """The job "Service SMS" as the Übersicht shows it (the same for every Mandant)."""

    job_id: int | None
    name: str
    active: bool
    last_run_at: datetime | None
    last_run_status: RunStatus | None
    running: bool
    next_run_at: datetime | None
    last_error: str
    last_tick: datetime | None
    ticking: bool | None  # None: Redis did not answer
    workers: int | None  # live RQ workers; None: Redis did not answer
    modem: bool  # Variante 1
    signal_rssi: int | None
    registration: str | None
    signal_at: datetime | None  # when the last run read the modem
    channels: tuple[ChannelState, ...] = ()  # in the list's order, with the state runs wrote


def job_status(
    session: Session,
    now: datetime,
    dead_after: timedelta,
    last_tick: datetime | None = None,
    workers: int | None = None,
) -> JobStatus:
    """The job "Service SMS", its last run and the modem's state as the last run read it;
    `last_tick` and `workers` as the caller read them from Redis (None: not answered)."""
    job = service_job(session)
    if job is None:
        return JobStatus(
            None,
            "",
            False,
            None,
            None,
            False,
            None,
            "",
            last_tick,
            None,
            workers,
            False,
            None,
            None,
            None,
        )
    last = latest_run(session, job)
    reading = session.execute(
        select(JobRun.signal_rssi, JobRun.registration, JobRun.started_at)
        .where(JobRun.job_id == job.id, JobRun.registration.is_not(None))
        .order_by(JobRun.id.desc())
        .limit(1)
    ).first()
    return JobStatus(
        job_id=job.id,
        name=job.name,
        active=job.active,
        last_run_at=last.started_at if last else job.last_run_at,
        last_run_status=last.status if last else None,
        running=run_is_live(last, dead_after),
        next_run_at=job.next_run_at,
        last_error=job.last_error,
        last_tick=last_tick,
        ticking=None
        if workers is None
        else last_tick is not None and now - last_tick < TICK_STALE_AFTER,
        workers=workers,
        modem=read_settings(job).variant is Variant.MODEM,
        signal_rssi=reading[0] if reading else None,
        registration=reading[1] if reading else None,
        signal_at=reading[2] if reading else None,
        channels=tuple(channel_states(job)),
    )


@dataclass(frozen=True)
class MandantCount:
    mandant_id: int
    name: str
    count: int


@dataclass(frozen=True)
class ReasonCount:
    status: MessageStatus  # Fehler, Nicht zugestellt or Abgelaufen
    reason: str  # "" when the SMS has none
    count: int


@dataclass(frozen=True)
class Series:
    """The last DAYS days (oldest first; the last is today)."""

    days: list[date]
    by_status: dict[MessageStatus, list[int]]
    delivery_rate: list[float | None]  # percent Zugestellt of those that left the queue
    median_seconds: list[float | None]  # queued → Zugestellt, from the histogram
    reasons: list[ReasonCount]  # the commonest failure reasons, most first
    by_mandant: list[MandantCount]  # most first
    signal_avg: list[float | None]
    signal_min: list[int | None]
    signal_max: list[int | None]

    @property
    def total(self) -> int:
        return sum(sum(counts) for counts in self.by_status.values())


def median_of_buckets(buckets: list[int]) -> float | None:
    """The median time (seconds) of a delivery histogram: linear within its bucket; in the
    last, open bucket its lower bound (more than 24 h)."""
    total = sum(buckets)
    if not total:
        return None
    half = total / 2
    seen = 0
    lower = 0.0
    for count, (upper, _name) in zip(buckets, DELIVERY_BUCKETS, strict=True):
        if count and seen + count >= half:
            if upper is None:
                return lower
            return lower + (upper - lower) * (half - seen) / count
        seen += count
        lower = float(upper or lower)
    return lower


def _stored_rows(
    session: Session, first: date, last: date, mandant_ids: set[int] | None
) -> list[DayRow]:
    columns = [getattr(DailyCount, name) for name in BUCKET_COLUMNS]
    stmt = select(
        DailyCount.day, DailyCount.mandant_id, DailyCount.status, DailyCount.reason,
        DailyCount.count, *columns,
    ).where(DailyCount.day >= first, DailyCount.day <= last)  # fmt: skip
    return [
        DayRow(day, mandant_id, MessageStatus(status), reason, count, list(buckets))
        for day, mandant_id, status, reason, count, *buckets in session.execute(
            scoped(stmt, DailyCount.mandant_id, mandant_ids)
        )
    ]


def _stored_signal(session: Session, first: date, last: date) -> list[SignalDay]:
    return [
        SignalDay(
            row.day,
            row.readings,
            row.registered,
            row.rssi_readings,
            row.rssi_min,
            row.rssi_max,
            row.rssi_sum,
        )
        for row in session.scalars(
            select(DailySignal).where(DailySignal.day >= first, DailySignal.day <= last)
        )
    ]


def series(
    session: Session,
    mandant_ids: set[int] | None,
    now: datetime,
    tz: str,
    today_rows: dict[Key, DayRow] | None = None,
    days: int = DAYS,
) -> Series:
    """The plots of the last `days` days: past days from the roll-up, today counted live."""
    today = local_day(now, tz)
    first = today - timedelta(days=days - 1)
    if today_rows is None:
        today_rows = aggregate(session, today, today, tz, mandant_ids)
    rows = [*_stored_rows(session, first, today - timedelta(days=1), mandant_ids)]
    rows += today_rows.values()
    dates = [first + timedelta(days=i) for i in range(days)]
    index = {day: i for i, day in enumerate(dates)}
    by_status = {status: [0] * days for status in MessageStatus}
    buckets = [[0] * len(DELIVERY_BUCKETS) for _ in dates]
    reasons: defaultdict[tuple[MessageStatus, str], int] = defaultdict(int)
    per_mandant: defaultdict[int, int] = defaultdict(int)
    for row in rows:
        i = index.get(row.day)
        if i is None:
            continue
        by_status[row.status][i] += row.count
        per_mandant[row.mandant_id] += row.count
        if row.status in FAILURE_STATUSES:
            reasons[(row.status, row.reason)] += row.count
        if row.status == MessageStatus.DELIVERED:
            buckets[i] = [a + b for a, b in zip(buckets[i], row.buckets, strict=True)]
    rate: list[float | None] = []
    for i in range(days):
        left = sum(by_status[status][i] for status in LEFT_QUEUE)
        rate.append(100.0 * by_status[MessageStatus.DELIVERED][i] / left if left else None)
    names: dict[int, str] = {
        mandant_id: name
        for mandant_id, name in session.execute(
            select(Mandant.id, Mandant.name).where(Mandant.id.in_(per_mandant))
        )
    }
    signal = {item.day: item for item in _stored_signal(session, first, today)}
    signal.update(aggregate_signal(session, today, today, tz))
    top = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:TOP_REASONS]
    return Series(
        days=dates,
        by_status=by_status,
        delivery_rate=rate,
        median_seconds=[median_of_buckets(day_buckets) for day_buckets in buckets],
        reasons=[ReasonCount(status, reason, count) for (status, reason), count in top],
        by_mandant=sorted(
            (
                MandantCount(mid, names.get(mid, str(mid)), count)
                for mid, count in per_mandant.items()
            ),
            key=lambda item: (-item.count, item.name),
        ),
        signal_avg=[signal[day].rssi_avg if day in signal else None for day in dates],
        signal_min=[signal[day].rssi_min if day in signal else None for day in dates],
        signal_max=[signal[day].rssi_max if day in signal else None for day in dates],
    )


@dataclass(frozen=True)
class Overview:
    now: NowFigures
    series: Series


def overview(
    session: Session, mandant_ids: set[int] | None, now: datetime, tz: str, days: int = DAYS
) -> Overview:
    """Tiles and plots of the Übersicht within `mandant_ids` (None: all Mandanten)."""
    today = local_day(now, tz)
    today_rows = aggregate(session, today, today, tz, mandant_ids)
    return Overview(
        now=now_figures(session, mandant_ids, now, tz, today_rows),
        series=series(session, mandant_ids, now, tz, today_rows, days),
    )

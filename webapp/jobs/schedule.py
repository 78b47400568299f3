"""Zeitplan: when a job runs next, in local time (Europe/Vienna, DST-correct).

Times are computed in the installation's time zone and returned in UTC. Simple kinds become
cron expressions evaluated by croniter on a zone-aware start (so 08:00 stays 08:00 across DST);
"alle N Minuten" is anchored to the clock (:00, :15, … for N = 15); "monatlich" on a day a month
does not have (31) runs on that month's last day.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from flask_babel import gettext as _

from webapp.errors import InputError
from webapp.models import Job, ScheduleKind

EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday, 00:00 UTC: the anchor of "alle N Minuten"
TIME_PATTERN = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
MAX_INTERVAL_MINUTES = 7 * 24 * 60
WEEKDAY_NAMES = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")


@dataclass(frozen=True)
class Schedule:
    kind: ScheduleKind
    interval_minutes: int = 5
    run_once_at: datetime | None = None
    time_of_day: str = "08:00"
    minute_of_hour: int = 0
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)  # 0 = Monday
    day_of_month: int = 1
    cron_expression: str = ""

    @classmethod
    def of(cls, job: Job) -> Schedule:
        return cls(
            kind=ScheduleKind(job.schedule_kind),
            interval_minutes=job.interval_minutes,
            run_once_at=job.run_once_at,
            time_of_day=job.time_of_day,
            minute_of_hour=job.minute_of_hour,
            weekdays=parse_weekdays(job.weekdays),
            day_of_month=job.day_of_month,
            cron_expression=job.cron_expression,
        )


def parse_weekdays(raw: str) -> tuple[int, ...]:
    return tuple(sorted({int(p) for p in (raw or "").split(",") if p.strip().isdigit()}))


def _hour_minute(text: str) -> tuple[int, int]:
    match = TIME_PATTERN.match((text or "").strip())
    if not match:
        raise InputError(_("Bitte eine Uhrzeit wie 08:30 eingeben."), "time_of_day")
    return int(match.group(1)), int(match.group(2))


def validate(schedule: Schedule) -> None:
    """Raise InputError (German, with the field) when the schedule cannot run."""
    kind = schedule.kind
    if kind is ScheduleKind.ONCE and schedule.run_once_at is None:
        raise InputError(
            _("Bitte Datum und Uhrzeit der einmaligen Ausführung angeben."), "run_once_at"
        )
    if kind is ScheduleKind.MINUTES and not 1 <= schedule.interval_minutes <= MAX_INTERVAL_MINUTES:
        raise InputError(
            _("Bitte eine Anzahl Minuten zwischen 1 und %(n)d eingeben.", n=MAX_INTERVAL_MINUTES),
            "interval_minutes",
        )
    if kind is ScheduleKind.HOURLY and not 0 <= schedule.minute_of_hour <= 59:
        raise InputError(_("Bitte eine Minute zwischen 0 und 59 eingeben."), "minute_of_hour")
    if kind in (ScheduleKind.DAILY, ScheduleKind.WEEKLY, ScheduleKind.MONTHLY):
        _hour_minute(schedule.time_of_day)
    if kind is ScheduleKind.WEEKLY and (
        not schedule.weekdays or any(not 0 <= d <= 6 for d in schedule.weekdays)
    ):
        raise InputError(_("Bitte mindestens einen Wochentag wählen."), "weekdays")
    if kind is ScheduleKind.MONTHLY and not 1 <= schedule.day_of_month <= 31:
        raise InputError(_("Bitte einen Tag zwischen 1 und 31 eingeben."), "day_of_month")
    if kind is ScheduleKind.CRON and not croniter.is_valid(schedule.cron_expression.strip()):
        raise InputError(
            _(
                "Der Cron-Ausdruck ist ungültig. Fünf Felder: Minute Stunde Tag Monat "
                "Wochentag, z. B. „*/10 7-18 * * 1-5“."
            ),
            "cron_expression",
        )


def cron_for(schedule: Schedule) -> str | None:
    """The cron expression of a clock-based kind (None for once, minutes, monthly)."""
    if schedule.kind is ScheduleKind.HOURLY:
        return f"{schedule.minute_of_hour} * * * *"
    if schedule.kind is ScheduleKind.DAILY:
        hour, minute = _hour_minute(schedule.time_of_day)
        return f"{minute} {hour} * * *"
    if schedule.kind is ScheduleKind.WEEKLY:
        hour, minute = _hour_minute(schedule.time_of_day)
        days = ",".join(str((d + 1) % 7) for d in schedule.weekdays)  # cron: 0 = Sunday
        return f"{minute} {hour} * * {days}"
    if schedule.kind is ScheduleKind.CRON:
        return schedule.cron_expression.strip()
    return None


def _next_monthly(schedule: Schedule, after: datetime, zone: ZoneInfo) -> datetime:
    hour, minute = _hour_minute(schedule.time_of_day)
    local = after.astimezone(zone)
    year, month = local.year, local.month
    while True:
        day = min(schedule.day_of_month, calendar.monthrange(year, month)[1])
        candidate = datetime(year, month, day, hour, minute, tzinfo=zone)
        if candidate > local:
            return candidate.astimezone(UTC)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def next_run(
    schedule: Schedule, after: datetime, timezone: str = "Europe/Vienna"
) -> datetime | None:
    """The first run time strictly after `after` (UTC), or None when nothing is left."""
    zone = ZoneInfo(timezone)
    if schedule.kind is ScheduleKind.ONCE:
        return (
            schedule.run_once_at if schedule.run_once_at and schedule.run_once_at > after else None
        )
    if schedule.kind is ScheduleKind.MINUTES:
        step = timedelta(minutes=schedule.interval_minutes)
        periods = (after - EPOCH) // step + 1
        return EPOCH + periods * step
    if schedule.kind is ScheduleKind.MONTHLY:
        return _next_monthly(schedule, after, zone)
    expression = cron_for(schedule)
    assert expression is not None  # every kind left is clock-based
    start = after.astimezone(zone)
    return croniter(expression, start).get_next(datetime).astimezone(UTC)


def upcoming(
    schedule: Schedule, after: datetime, timezone: str = "Europe/Vienna", count: int = 5
) -> list[datetime]:
    """The next `count` run times (for the preview in the Zeitplan tab)."""
    times: list[datetime] = []
    moment = after
    while len(times) < count:
        following = next_run(schedule, moment, timezone)
        if following is None:
            break
        times.append(following)
        moment = following
    return times

"""The tab "Zeitplan": what it submits, its rules, the preview of the next runs, saving, and
the Zeitplan in one German line. The run times themselves: webapp.jobs.schedule."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.orm import Session

from webapp.errors import ErrorCollector, InputError
from webapp.jobs import schedule as zeitplan
from webapp.jobs.inputs import bounded_int, parse_local_datetime
from webapp.models import Job, Priority, ScheduleKind
from webapp.models.base import utcnow


def weekday_labels() -> list[str]:
    """Monday … Sunday (0 … 6) as the weekday boxes show them."""
    return [
        _("Montag"),
        _("Dienstag"),
        _("Mittwoch"),
        _("Donnerstag"),
        _("Freitag"),
        _("Samstag"),
        _("Sonntag"),
    ]


def weekday_short_labels() -> list[str]:
    """Mo … So (0 … 6), for run times and the Zeitplan in one line."""
    return [_("Mo"), _("Di"), _("Mi"), _("Do"), _("Fr"), _("Sa"), _("So")]


@dataclass
class ScheduleInput:
    """What the tab "Zeitplan" submits, as typed. Only the chosen kind's details count."""

    kind: str
    interval_minutes: str = ""
    run_once_at: str = ""
    time_of_day: str = ""
    minute_of_hour: str = ""
    weekdays: Iterable[int | str | None] = ()
    day_of_month: str = ""
    cron_expression: str = ""
    priority: str = Priority.NORMAL.value


def _kind(raw: str) -> ScheduleKind:
    try:
        return ScheduleKind(raw)
    except ValueError:
        raise InputError(_("Bitte wählen, wann der Job ausgeführt wird."), "kind") from None


def _priority(raw: str) -> Priority:
    try:
        return Priority(raw)
    except ValueError:
        raise InputError(_("Bitte Normal oder Hoch wählen."), "priority") from None


def _weekdays(raw: Iterable[int | str | None]) -> tuple[int, ...]:
    days = set()
    for value in raw:
        text = str(value).strip() if value is not None else ""
        if len(text) != 1 or text not in "0123456":
            raise InputError(_("Bitte mindestens einen Wochentag wählen."), "weekdays")
        days.add(int(text))
    return tuple(sorted(days))


def _schedule(data: ScheduleInput, base: zeitplan.Schedule, timezone: str) -> zeitplan.Schedule:
    """The schedule the input describes: the chosen kind's details replace those of `base`."""
    kind = _kind(data.kind)
    details: dict[str, Any] = {"kind": kind}
    if kind is ScheduleKind.ONCE:
        details["run_once_at"] = parse_local_datetime(data.run_once_at, timezone, "run_once_at")
    elif kind is ScheduleKind.MINUTES:
        details["interval_minutes"] = bounded_int(
            data.interval_minutes,
            "interval_minutes",
            1,
            zeitplan.MAX_INTERVAL_MINUTES,
            _(
                "Bitte eine Anzahl Minuten zwischen 1 und %(n)d eingeben.",
                n=zeitplan.MAX_INTERVAL_MINUTES,
            ),
        )
    elif kind is ScheduleKind.HOURLY:
        details["minute_of_hour"] = bounded_int(
            data.minute_of_hour,
            "minute_of_hour",
            0,
            59,
            _("Bitte eine Minute zwischen 0 und 59 eingeben."),
        )
    elif kind is ScheduleKind.CRON:
        expression = " ".join((data.cron_expression or "").split())
        if len(expression.split(" ")) != 5:
            expression = "!"  # seconds or years fields: refused with the five-field message
        details["cron_expression"] = expression
    if kind in (ScheduleKind.DAILY, ScheduleKind.WEEKLY, ScheduleKind.MONTHLY):
        # Some browsers send seconds ("07:30:00"); the Zeitplan keeps minutes.
        details["time_of_day"] = re.sub(
            r"^(\d{1,2}:\d\d):\d\d$", r"\1", (data.time_of_day or "").strip()
        )
    if kind is ScheduleKind.WEEKLY:
        details["weekdays"] = _weekdays(data.weekdays)
    if kind is ScheduleKind.MONTHLY:
        details["day_of_month"] = bounded_int(
            data.day_of_month,
            "day_of_month",
            1,
            31,
            _("Bitte einen Tag zwischen 1 und 31 eingeben."),
        )
    chosen = dataclasses.replace(base, **details)
    zeitplan.validate(chosen)
    if kind in (ScheduleKind.DAILY, ScheduleKind.WEEKLY, ScheduleKind.MONTHLY):
        hour, minute = chosen.time_of_day.split(":")  # "8:30" is stored as "08:30"
        chosen = dataclasses.replace(chosen, time_of_day=f"{int(hour):02d}:{minute}")
    return chosen


def preview_run_times(
    job: Job,
    data: ScheduleInput,
    timezone: str,
    now: datetime | None = None,
    count: int = 5,
) -> list[datetime]:
    """The next `count` run times of the schedule being edited (InputError when invalid)."""
    chosen = _schedule(data, zeitplan.Schedule.of(job), timezone)
    return zeitplan.upcoming(chosen, now or utcnow(), timezone, count)


def save_schedule(
    session: Session,
    job: Job,
    data: ScheduleInput,
    changed_by: str,
    timezone: str,
    now: datetime | None = None,
) -> Job:
    """Store the Zeitplan and the next run time computed from now."""
    now = now or utcnow()
    problems = ErrorCollector()
    chosen = problems.run(_schedule, data, zeitplan.Schedule.of(job), timezone)
    priority = problems.run(_priority, data.priority)
    following = None
    if chosen is not None:
        following = zeitplan.next_run(chosen, now, timezone)
        if following is None:
            problems.add(
                _("Dieser Zeitpunkt liegt in der Vergangenheit. Bitte einen späteren wählen."),
                "run_once_at",
            )
    problems.raise_if_any()

    job.schedule_kind = chosen.kind
    job.interval_minutes = chosen.interval_minutes
    job.run_once_at = chosen.run_once_at
    job.time_of_day = chosen.time_of_day
    job.minute_of_hour = chosen.minute_of_hour
    job.weekdays = ",".join(str(d) for d in chosen.weekdays)
    job.day_of_month = chosen.day_of_month
    job.cron_expression = chosen.cron_expression
    job.priority = priority
    job.next_run_at = following
    job.updated_by = changed_by
    session.flush()
    return job


def describe_schedule(job: Job) -> str:
    """The Zeitplan in one German line ("wöchentlich Mo, Mi um 08:00")."""
    kind = ScheduleKind(job.schedule_kind)
    short = weekday_short_labels()
    if kind is ScheduleKind.ONCE:
        return _("einmalig")
    if kind is ScheduleKind.MINUTES:
        return ngettext("jede Minute", "alle %(num)d Minuten", job.interval_minutes)
    if kind is ScheduleKind.HOURLY:
        return _("stündlich zur Minute %(m)d", m=job.minute_of_hour)
    if kind is ScheduleKind.DAILY:
        return _("täglich um %(t)s", t=job.time_of_day)
    if kind is ScheduleKind.WEEKLY:
        days = ", ".join(short[d] for d in zeitplan.parse_weekdays(job.weekdays) if d < 7)
        return _("wöchentlich %(days)s um %(t)s", days=days, t=job.time_of_day)
    if kind is ScheduleKind.MONTHLY:
        return _("monatlich am %(d)d. um %(t)s", d=job.day_of_month, t=job.time_of_day)
    return _("Cron-Ausdruck „%(e)s“", e=job.cron_expression)

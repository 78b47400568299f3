"""Actionservice dialog rules: Job Liste, the tabs Job / Zeitplan / Errorlog.

Everything here works on a session and plain input dataclasses (strings as typed), so the
blueprint, the CLI and tests share one set of rules. Each save validates everything first and
raises `InputErrors` (webapp.jobs.inputs) before it changes anything. The tab Einstellungen:
webapp.jobs.settings (stored, typed) and webapp.jobs.settings_tab (saving).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.errors import InputError
from webapp.jobs import schedule as zeitplan
from webapp.jobs.inputs import Problems, bounded_int, bounded_text, parse_local_datetime
from webapp.models import (
    Job,
    JobLogEntry,
    JobRun,
    LogLevel,
    Mandant,
    Priority,
    RunStatus,
    ScheduleKind,
)
from webapp.models.base import utcnow
from webapp.sms.paging import PAGE_SIZE, KeysetPage, keyset_page, walk
from webapp.sms.search import escape_like, local_midnight_utc
from webapp.validation import clean_email

# --- shared --------------------------------------------------------------------------------------

MAX_NAME = 120
MAX_TEXT = 4000


def format_duration(milliseconds: int | None) -> str:
    """0,4 s · 12 s · 3 min 5 s · 1 h 2 min (empty for None)."""
    if milliseconds is None:
        return ""
    if milliseconds < 10_000:
        return f"{milliseconds / 1000:.1f} s".replace(".", ",")
    seconds = round(milliseconds / 1000)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def job_type_label(key: str) -> str:
    """Job Art as shown: the registry's label, else the stored key."""
    from webapp.jobs.registry import JOB_TYPES

    entry = JOB_TYPES.get(key)
    return entry.label if entry is not None else key


def log_level_labels() -> dict[LogLevel, str]:
    return {
        LogLevel.NONE: _("Keine"),
        LogLevel.ERRORS: _("Nur Fehler"),
        LogLevel.WARNINGS: _("Fehler und Warnungen"),
        LogLevel.ALL: _("Alles"),
    }


def entry_level_labels() -> dict[str, str]:
    return {"error": _("Fehler"), "warning": _("Warnung"), "info": _("Info")}


def priority_labels() -> dict[Priority, str]:
    return {Priority.NORMAL: _("Normal"), Priority.HIGH: _("Hoch")}


def schedule_kind_labels() -> dict[ScheduleKind, str]:
    return {
        ScheduleKind.ONCE: _("einmalig"),
        ScheduleKind.MINUTES: _("alle N Minuten"),
        ScheduleKind.HOURLY: _("stündlich"),
        ScheduleKind.DAILY: _("täglich"),
        ScheduleKind.WEEKLY: _("wöchentlich"),
        ScheduleKind.MONTHLY: _("monatlich"),
        ScheduleKind.CRON: _("Cron-Ausdruck (für Fachleute)"),
    }


def weekday_labels() -> list[str]:
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
    return [_("Mo"), _("Di"), _("Mi"), _("Do"), _("Fr"), _("Sa"), _("So")]


# --- Job Liste -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobQuery:
    """Suchkriterien of the Job Liste; empty fields do not filter."""

    name: str = ""
    job_type: str = ""
    active: bool | None = None


def list_jobs(session: Session, query: JobQuery) -> list[Job]:
    """The jobs matching `query`, by name (there are few: no pagination)."""
    stmt = select(Job).order_by(func.lower(Job.name), Job.id)
    name = query.name.strip()
    if name:
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Job.name.ilike(f"%{escaped}%", escape="\\"))
    if query.job_type:
        stmt = stmt.where(Job.job_type == query.job_type)
    if query.active is not None:
        stmt = stmt.where(Job.active.is_(query.active))
    return list(session.scalars(stmt))


def job_types_in_use(session: Session) -> list[str]:
    return list(session.scalars(select(Job.job_type).distinct().order_by(Job.job_type)))


def delete_job(session: Session, job: Job) -> None:
    """Delete a job; a system job (and a running one) is refused with the reason."""
    if job.system:
        raise InputError(
            _(
                "Der Job „%(name)s“ ist ein System-Job und kann nicht gelöscht werden.",
                name=job.name,
            )
        )
    run = latest_run(session, job)
    if run is not None and run.status == RunStatus.RUNNING:
        raise InputError(
            _("Der Job „%(name)s“ läuft gerade. Bitte nach dem Lauf löschen.", name=job.name)
        )
    session.delete(job)


# --- Register Job --------------------------------------------------------------------------------


@dataclass
class JobTabInput:
    """What the tab "Job" submits; times as typed in local time (`timezone`)."""

    name: str
    active: bool = False
    log_level: str = LogLevel.ERRORS.value
    description: str = ""
    note: str = ""
    valid_from: str = ""
    valid_until: str = ""
    failure_email: str = ""
    mandant_ids: Iterable[int | None] = ()
    timezone: str = "Europe/Vienna"


def _log_level(raw: str) -> LogLevel:
    try:
        return LogLevel(raw)
    except ValueError:
        raise InputError(_("Bitte eine Protokollart aus der Liste wählen."), "log_level") from None


def _mandanten(session: Session, ids: Iterable[int | None]) -> list[Mandant]:
    wanted = {int(i) for i in ids if i is not None}
    if not wanted:
        return []
    found = list(session.scalars(select(Mandant).where(Mandant.id.in_(wanted))))
    if len(found) != len(wanted):
        raise InputError(_("Die Auswahl enthält Mandanten, die es nicht mehr gibt."), "mandanten")
    return sorted(found, key=lambda m: m.name.lower())


def save_job_tab(session: Session, job: Job, data: JobTabInput, changed_by: str) -> Job:
    """Store the tab "Job"; InputErrors (nothing changed) when any field is wrong."""
    problems = Problems()
    name = problems.run(
        bounded_text, data.name, "name", MAX_NAME, _("Bitte einen Namen für den Job eingeben.")
    )
    log_level = problems.run(_log_level, data.log_level)
    description = problems.run(bounded_text, data.description, "description", MAX_TEXT)
    note = problems.run(bounded_text, data.note, "note", MAX_TEXT)
    valid_from = problems.run(parse_local_datetime, data.valid_from, data.timezone, "valid_from")
    valid_until = problems.run(parse_local_datetime, data.valid_until, data.timezone, "valid_until")
    if valid_from and valid_until and valid_until <= valid_from:
        problems.add(_("„Gültig bis“ muss nach „Gültig von“ liegen."), "valid_until")
    email = problems.run(clean_email, data.failure_email, "failure_email")
    mandanten = problems.run(_mandanten, session, data.mandant_ids)
    problems.check()

    job.name = name
    job.active = bool(data.active)
    job.log_level = log_level
    job.description = description
    job.note = note
    job.valid_from = valid_from
    job.valid_until = valid_until
    job.failure_email = email
    job.mandanten = mandanten or []
    job.updated_by = changed_by
    session.flush()
    return job


# --- Register Zeitplan ---------------------------------------------------------------------------


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


def schedule_preview(
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
    problems = Problems()
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
    problems.check()

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
        return _("alle %(n)d Minuten", n=job.interval_minutes)
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


# --- runs and Errorlog ---------------------------------------------------------------------------


def latest_run(session: Session, job: Job) -> JobRun | None:
    return session.scalar(
        select(JobRun).where(JobRun.job_id == job.id).order_by(JobRun.id.desc()).limit(1)
    )


def run_remaining(run: JobRun) -> int:
    return max(run.total - run.sent - run.failed - run.retried, 0)


def runs_ended_by(session: Session, run: JobRun) -> list[JobRun]:
    """The runs of the same job found dead and ended when `run` started (their error says
    what became of their SMS)."""
    return list(
        session.scalars(
            select(JobRun)
            .where(
                JobRun.job_id == run.job_id,
                JobRun.id < run.id,
                JobRun.status == RunStatus.FAILED,
                JobRun.error.like("Lauf abgebrochen%"),
                JobRun.finished_at >= run.started_at - timedelta(seconds=30),
                JobRun.finished_at <= run.started_at,
            )
            .order_by(JobRun.id)
        )
    )


def run_is_stale(run: JobRun, dead_after: timedelta) -> bool:
    """A run still marked running whose process is gone or that stopped beating (it does every
    few seconds): shown as "reagiert nicht mehr"; it does not keep "Jetzt ausführen" back."""
    from webapp.jobs.runner import run_is_dead

    return run.status == RunStatus.RUNNING and run_is_dead(run, dead_after)


@dataclass(frozen=True)
class LogFilter:
    """Suchkriterien of the Errorlog; empty fields do not filter."""

    date_from: date | None = None
    date_to: date | None = None
    level: str = ""
    run_id: int | None = None
    text: str = ""
    timezone: str = "Europe/Vienna"

    @property
    def params(self) -> dict[str, str]:
        """The filter as URL parameters (empty ones left out)."""
        values = {
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "level": self.level,
            "run": str(self.run_id) if self.run_id is not None else "",
            "text": self.text,
        }
        return {k: v for k, v in values.items() if v}


LogPage = KeysetPage


def search_log(
    session: Session,
    job: Job,
    flt: LogFilter,
    before_id: int | None = None,
    page_size: int = PAGE_SIZE,
) -> LogPage:
    """One page of the job's Errorlog, newest first (keyset on the id), with a capped total."""
    stmt = select(JobLogEntry).where(JobLogEntry.job_id == job.id)
    if flt.level:
        stmt = stmt.where(JobLogEntry.level == flt.level)
    if flt.run_id is not None:
        stmt = stmt.where(JobLogEntry.run_id == flt.run_id)
    term = flt.text.strip()
    if term:
        stmt = stmt.where(JobLogEntry.message.ilike(f"%{escape_like(term)}%", escape="\\"))
    if flt.date_from:
        start = local_midnight_utc(flt.date_from, flt.timezone)
        stmt = stmt.where(JobLogEntry.created_at >= start)
    if flt.date_to:
        end = local_midnight_utc(flt.date_to + timedelta(days=1), flt.timezone)
        stmt = stmt.where(JobLogEntry.created_at < end)
    rows = walk(session, stmt, JobLogEntry.id, before=before_id, after=None, page_size=page_size)
    return keyset_page(
        session, rows, stmt, JobLogEntry.id, before=before_id, after=None, page_size=page_size
    )

"""The tab "Job": name, Aktiv, Protokollart, validity, e-mail on failure, Mandanten."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.errors import ErrorCollector, InputError
from webapp.jobs.inputs import parse_local_datetime
from webapp.models import Job, LogLevel, Mandant
from webapp.validation import clean_email, text_field

MAX_NAME = 120
MAX_TEXT = 4000


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
    """Store the tab "Job"; an InputError with every problem (nothing changed) on bad input."""
    problems = ErrorCollector()
    name = problems.run(
        text_field,
        data.name,
        "name",
        MAX_NAME,
        required_message=_("Bitte einen Namen für den Job eingeben."),
    )
    log_level = problems.run(_log_level, data.log_level)
    description = problems.run(text_field, data.description, "description", MAX_TEXT)
    note = problems.run(text_field, data.note, "note", MAX_TEXT)
    valid_from = problems.run(parse_local_datetime, data.valid_from, data.timezone, "valid_from")
    valid_until = problems.run(parse_local_datetime, data.valid_until, data.timezone, "valid_until")
    if valid_from and valid_until and valid_until <= valid_from:
        problems.add(_("„Gültig bis“ muss nach „Gültig von“ liegen."), "valid_until")
    email = problems.run(clean_email, data.failure_email, "failure_email")
    mandanten = problems.run(_mandanten, session, data.mandant_ids)
    problems.raise_if_any()

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

"""The Job Liste: search, the job types in use, delete."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.errors import InputError
from webapp.jobs.runs import latest_run
from webapp.models import Job, RunStatus
from webapp.sms.search import escape_like


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
        stmt = stmt.where(Job.name.ilike(f"%{escape_like(name)}%", escape="\\"))
    if query.job_type:
        stmt = stmt.where(Job.job_type == query.job_type)
    if query.active is not None:
        stmt = stmt.where(Job.active.is_(query.active))
    return list(session.scalars(stmt))


def job_types_in_use(session: Session) -> list[str]:
    return list(session.scalars(select(Job.job_type).distinct().order_by(Job.job_type)))


def delete_refusal(job: Job) -> str | None:
    """Why the job can never be deleted (a system job), or None."""
    if job.system:
        return _(
            "Der Job „%(name)s“ ist ein System-Job und kann nicht gelöscht werden.", name=job.name
        )
    return None


def delete_job(session: Session, job: Job) -> None:
    """Delete a job; a system job (and a running one) is refused with the reason."""
    refusal = delete_refusal(job)
    if refusal is not None:
        raise InputError(refusal)
    run = latest_run(session, job)
    if run is not None and run.status == RunStatus.RUNNING:
        raise InputError(
            _("Der Job „%(name)s“ läuft gerade. Bitte nach dem Lauf löschen.", name=job.name)
        )
    session.delete(job)

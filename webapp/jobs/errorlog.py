"""The Errorlog search (tab Errorlog): filter, one page of entries, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from webapp.models import Job, JobLogEntry
from webapp.sms.paging import PAGE_SIZE, KeysetPage, paginate
from webapp.sms.search import escape_like, local_midnight_utc


@dataclass(frozen=True)
class LogFilter:
    """Suchkriterien of the Errorlog; empty fields do not filter."""

    date_from: date | None = None
    date_to: date | None = None
    level: str = ""
    run_id: int | None = None
    text: str = ""
    timezone: str = "Europe/Vienna"


LogPage = KeysetPage


LOG_ORDER = JobLogEntry.id  # newest first


def log_query(job: Job, flt: LogFilter) -> Select[JobLogEntry]:
    """The job's Errorlog entries matching `flt`: what the tab pages and the export reads."""
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
    return stmt


def search_log(
    session: Session,
    job: Job,
    flt: LogFilter,
    before_id: int | None = None,
    page_size: int = PAGE_SIZE,
) -> LogPage:
    """One page of the job's Errorlog, newest first (keyset on the id), with a capped total."""
    return paginate(session, log_query(job, flt), LOG_ORDER, before=before_id, page_size=page_size)

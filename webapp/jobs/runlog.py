"""Errorlog writer: what a run logs, kept or dropped by the job's Protokollart."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from webapp.models import EntryLevel, Job, JobLogEntry, JobRun, LogLevel

log = logging.getLogger("webapp.jobs")

_RANK = {EntryLevel.ERROR: 1, EntryLevel.WARNING: 2, EntryLevel.INFO: 3}
_KEEPS = {LogLevel.NONE: 0, LogLevel.ERRORS: 1, LogLevel.WARNINGS: 2, LogLevel.ALL: 3}


class RunLog:
    """Writes Errorlog entries of one run (added to the session; the run commits them)."""

    def __init__(self, session: Session, job: Job, run: JobRun | None) -> None:
        self.session = session
        self.job = job
        self.run = run

    def _write(self, level: str, message: str) -> None:
        getattr(log, "warning" if level == "warning" else level)("%s: %s", self.job.name, message)
        if _RANK[EntryLevel(level)] <= _KEEPS[LogLevel(self.job.log_level)]:
            self.session.add(
                JobLogEntry(
                    job_id=self.job.id,
                    run_id=self.run.id if self.run is not None else None,
                    level=level,
                    message=message,
                )
            )

    def error(self, message: str) -> None:
        self._write("error", message)

    def warning(self, message: str) -> None:
        self._write("warning", message)

    def info(self, message: str) -> None:
        self._write("info", message)

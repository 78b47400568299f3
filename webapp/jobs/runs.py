"""The runs of a job as the dialog shows them: the latest, what is left, dead ones."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.jobs.runner import run_is_dead
from webapp.models import Job, JobRun, RunStatus


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
    return run.status == RunStatus.RUNNING and run_is_dead(run, dead_after)


def run_is_live(run: JobRun | None, dead_after: timedelta) -> bool:
    """`run` is running and still beating: "Jetzt ausführen" waits, the modem is busy."""
    return run is not None and run.status == RunStatus.RUNNING and not run_is_stale(run, dead_after)

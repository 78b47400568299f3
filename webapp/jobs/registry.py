"""Job Art: the job types of the Actionservice and the function that runs each; the system
job "Service SMS"."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.models import Job

SERVICE_SMS = "service_sms"


@dataclass(frozen=True)
class JobType:
    key: str
    label: str  # shown as Job Art
    target: str  # "module:function", called with the run's RunContext (webapp.jobs.runner)

    def resolve(self) -> Callable[..., Any]:
        module, _, name = self.target.partition(":")
        function: Callable[..., Any] = getattr(importlib.import_module(module), name)
        return function


JOB_TYPES: dict[str, JobType] = {
    SERVICE_SMS: JobType(SERVICE_SMS, "Service SMS", "webapp.sms.dispatch:run_service_sms"),
}


def job_type(key: str) -> JobType:
    """The registered type `key`; KeyError names the unknown key."""
    try:
        return JOB_TYPES[key]
    except KeyError:
        raise KeyError(f"unknown job type {key!r}") from None


def job_type_label(key: str) -> str:
    """Job Art as shown: the registry's label, else the stored key."""
    entry = JOB_TYPES.get(key)
    return entry.label if entry is not None else key


def service_jobs(session: Session) -> list[Job]:
    """The jobs of type "Service SMS", oldest first (an installation has one, the system job)."""
    return list(session.scalars(select(Job).where(Job.job_type == SERVICE_SMS).order_by(Job.id)))


def service_job(session: Session) -> Job | None:
    """The system job "Service SMS" (the first one, should there be several)."""
    found = service_jobs(session)
    return found[0] if found else None

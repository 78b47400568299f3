"""Job Art: the job types of the Actionservice and the function that runs each."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JobType:
    key: str
    label: str  # shown as Job Art
    target: str  # "module:function", called with the run's RunContext (webapp.jobs.runner)

    def resolve(self) -> Callable[..., Any]:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


JOB_TYPES: dict[str, JobType] = {
    "service_sms": JobType("service_sms", "Service SMS", "webapp.sms.dispatch:run_service_sms"),
}


def job_type(key: str) -> JobType:
    """The registered type `key`; KeyError names the unknown key."""
    try:
        return JOB_TYPES[key]
    except KeyError:
        raise KeyError(f"unknown job type {key!r}") from None

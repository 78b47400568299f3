"""Worker processes for the exactly-once tests: each runs one job in a process of its own.

Started through a forkserver with the app's modules preloaded, so a worker starts in tens of
milliseconds and can be killed (SIGKILL) at any point, like a crashed machine.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

_CONTEXT: Any = None


def context() -> Any:
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["webapp", "webapp.jobs.runner", "webapp.sms.dispatch"])
    return _CONTEXT


def run_job_in_process(environment: dict[str, str], job_id: int) -> None:
    """Target of a worker process: one run of `job_id` through RQ's entry point, with the app
    this process builds from `environment`."""
    os.environ.update(environment)
    from webapp.jobs.runner import run_job

    run_job(job_id)


def start_worker(environment: dict[str, str], job_id: int) -> Any:
    process = context().Process(target=run_job_in_process, args=(environment, job_id))
    process.start()
    return process

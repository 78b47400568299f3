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
    """Target of a worker process: the app from `environment`, one run of `job_id`."""
    os.environ.update(environment)
    from webapp import create_app
    from webapp.jobs.runner import execute_job

    app = create_app()
    with app.app_context():
        execute_job(app, job_id)


def start_worker(environment: dict[str, str], job_id: int) -> Any:
    process = context().Process(target=run_job_in_process, args=(environment, job_id))
    process.start()
    return process

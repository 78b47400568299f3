"""Job functions for runner tests (registered as job types by the tests) and plain RQ jobs
for the worker process tests."""

from __future__ import annotations

import os
import time
from pathlib import Path

from flask import has_app_context

from webapp.jobs import stopping
from webapp.jobs.runner import RunContext
from webapp.sms.transports.base import TransportUnavailable

CALLS: list[int] = []


def succeed(ctx: RunContext) -> None:
    CALLS.append(ctx.job.id)
    ctx.log.info("alles gut")
    ctx.log.warning("eine Warnung")
    ctx.run.sent = 3
    ctx.heartbeat()


def unavailable(ctx: RunContext) -> None:
    raise TransportUnavailable("Modem nicht erreichbar (socket://127.0.0.1:1).")


def crash(ctx: RunContext) -> None:
    raise RuntimeError("kaputt")


def describe_process(marker: str) -> None:
    """An RQ job that writes "<pid> <whether it found an app context>" into the file `marker`."""
    written = Path(f"{marker}.part")
    written.write_text(f"{os.getpid()} {has_app_context()}")
    written.replace(marker)


def wait_for_stop(marker: str, seconds: float = 30.0) -> bool:
    """An RQ job that runs until its process is asked to stop (webapp.jobs.stopping) or
    `seconds` pass; writes "started", then "stopped" or "timed out" into the file `marker`."""
    path = Path(marker)
    path.write_text("started")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if stopping.stop_requested():
            path.write_text("stopped")
            return True
        time.sleep(0.02)
    path.write_text("timed out")
    return False

"""A graceful stop asked of the running job (SIGTERM of a deploy, Ctrl-C of `make run`).

The process that runs a job (the RQ work-horse, `flask run-job`) turns SIGTERM into a flag
instead of dying: the send run then stops claiming, finishes the SMS in flight, hands the rest
back to the queue and records the run as stopped (DESIGN.md "Exactly once, nothing lost").
The RQ worker forwards its own SIGTERM to the work-horse (webapp.jobs.worker).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

_requested = threading.Event()


class RunAborted(Exception):
    """The run ended early for a reason of its own (not the transport's): it is recorded as
    failed with `reason` (German, for the Errorlog and the failure e-mail)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def stop_requested() -> bool:
    """Whether this process was asked to stop (the run should end at the next safe point)."""
    return _requested.is_set()


def request_stop() -> None:
    """Ask the running job of this process to stop gracefully (also for tests)."""
    _requested.set()


def reset() -> None:
    """Forget an earlier request (a new run in a process that lives on, e.g. a test)."""
    _requested.clear()


def on_signal(signum: int, _frame: object) -> None:
    if not _requested.is_set():
        log.warning("signal %s: the run stops after the SMS in flight", signum)
    _requested.set()


@contextlib.contextmanager
def graceful_stop_on(*signals: signal.Signals) -> Iterator[None]:
    """While inside, the given signals (default SIGTERM) set the stop flag instead of ending the
    process; the previous handlers come back afterwards. Only the main thread can install
    signal handlers: elsewhere this does nothing."""
    signals = signals or (signal.SIGTERM,)
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, on_signal) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)

"""Job functions for runner tests (registered as job types by the tests)."""

from __future__ import annotations

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

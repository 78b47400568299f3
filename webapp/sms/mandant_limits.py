"""Limits of a Mandant (issue 14 point 5): at most so many SMS per hour and per day go out for
it, whichever way they were queued (Mandanten, administrators; none set: no limit).

An SMS above a limit is held back, not failed: it stays "Wartet auf Versand" and the claim
leaves it until the window opens again — the next clock hour, the next calendar day in
TIMEZONE. What counts is every SMS of the Mandant a run took in the window (`claimed_at`
within it: sent, failed by the provider, Unklar, or still being sent); one handed back
untried, or back in the queue for a retry, counts again when it is taken again. While a
Mandant is held, `Mandant.held_until` says until when, so the lists show the reason
("wartet – Limit des Mandanten") without counting anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from webapp.errors import ErrorCollector
from webapp.formatting import format_datetime, format_number
from webapp.models import Mandant, Message, MessageStatus
from webapp.models.base import utcnow

# The largest limit accepted in the form (more than a modem or an account sends in a day).
MAX_LIMIT = 1_000_000
DEFAULT_TIMEZONE = "Europe/Vienna"


@dataclass(frozen=True)
class Windows:
    """The clock hour and the calendar day (in the installation's time zone) `now` lies in,
    and when each ends — in UTC."""

    hour_start: datetime
    hour_end: datetime
    day_start: datetime
    day_end: datetime


def windows(now: datetime, timezone: str = DEFAULT_TIMEZONE) -> Windows:
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    hour = local.replace(minute=0, second=0, microsecond=0)
    day = datetime.combine(local.date(), datetime.min.time(), zone)
    next_day = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), zone)
    return Windows(hour, hour + timedelta(hours=1), day, next_day)


def _taken_since(session: Session, mandant_id: int, since: datetime, cap: int) -> int:
    """How many SMS of the Mandant runs took since `since`, counted up to `cap` (one range of
    the index (mandant_id, claimed_at), never more than the limit)."""
    taken = (
        select(Message.id)
        .where(Message.mandant_id == mandant_id, Message.claimed_at >= since)
        .limit(cap)
        .subquery()
    )
    return session.scalar(select(func.count()).select_from(taken)) or 0


@dataclass(frozen=True)
class LimitedMandant:
    """What the claim knows of a Mandant with SMS waiting."""

    id: int
    sms_per_hour: int | None
    sms_per_day: int | None
    held_until: datetime | None


def allowances(
    session: Session,
    mandanten: Sequence[LimitedMandant],
    now: datetime,
    timezone: str = DEFAULT_TIMEZONE,
) -> dict[int, int | None]:
    """How many SMS of each Mandant a claim may take now (None: no limit; 0: held back).
    Marks the Mandanten held back (`held_until`: when the window opens again) and clears the
    mark of those that may send again; in the caller's transaction."""
    found: dict[int, int | None] = {}
    span = windows(now, timezone)
    for mandant in mandanten:
        left: int | None = None
        until: datetime | None = None
        for limit, start, end in (
            (mandant.sms_per_hour, span.hour_start, span.hour_end),
            (mandant.sms_per_day, span.day_start, span.day_end),
        ):
            if limit is None:
                continue
            room = max(0, limit - _taken_since(session, mandant.id, start, limit))
            left = room if left is None else min(left, room)
            if room == 0:
                until = end if until is None else max(until, end)
        found[mandant.id] = left
        if until != mandant.held_until:
            session.execute(
                update(Mandant).where(Mandant.id == mandant.id).values(held_until=until)
            )
    return found


def held_reason(message: Message, now: datetime | None = None) -> str | None:
    """Why a queued SMS waits for its Mandant's limit ("wartet – Limit des Mandanten …"), or
    None. Read from the Mandant's mark, without counting."""
    mandant = message.mandant
    until = mandant.held_until if mandant is not None else None
    if message.status is not MessageStatus.QUEUED or until is None:
        return None
    if until <= (now or utcnow()):
        return None
    return _(
        "wartet – Limit des Mandanten (%(limits)s); geht ab %(until)s weiter",
        limits=describe(mandant),
        until=format_datetime(until),
    )


def describe(mandant: Mandant) -> str:
    """The Mandant's limits in words ("100 SMS pro Stunde, 1.000 pro Tag"), "" for none."""
    parts = []
    if mandant.sms_per_hour is not None:
        parts.append(_("%(n)s SMS pro Stunde", n=format_number(mandant.sms_per_hour)))
    if mandant.sms_per_day is not None:
        parts.append(_("%(n)s SMS pro Tag", n=format_number(mandant.sms_per_day)))
    return ", ".join(parts)


def _parse_limit(errors: ErrorCollector, raw: str, field: str) -> int | None:
    text = (raw or "").strip().replace(".", "")
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        errors.add(
            _(
                "Bitte eine ganze Zahl von 1 bis %(max)s eingeben (leer: unbegrenzt).",
                max="1.000.000",
            ),
            field,
        )
        return None
    return int(text)


def save_limits(session: Session, mandant: Mandant, per_hour: str, per_day: str) -> None:
    """Store the Mandant's limits as typed (empty: none); InputError naming each bad field.
    A changed limit takes effect with the next claim; the mark of held SMS is cleared."""
    errors = ErrorCollector()
    hour = _parse_limit(errors, per_hour, "sms_per_hour")
    day = _parse_limit(errors, per_day, "sms_per_day")
    errors.raise_if_any()
    mandant.sms_per_hour, mandant.sms_per_day = hour, day
    mandant.held_until = None  # the next claim marks it again if it must
    session.flush()

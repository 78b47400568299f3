"""Versand am (issue 17 point 3): an SMS planned for a later time.

An SMS queued with a `send_at` (`outbox.queue_sms`/`queue_many`) waits as `planned`
(Geplant); a run's claim releases it to `queued` once its time has come
(`leases.release_planned`), and its week of validity counts from that time
(`leases.valid`). Until a run claimed it, it can be cancelled (`cancel_unclaimed`): it ends
as `cancelled` (Abgebrochen) and is never sent.

Times typed in a dialog are local (TIMEZONE, Europe/Vienna) and converted with zoneinfo by
`jobs.inputs.parse_local_datetime`: a time in the hour skipped when summer time begins is
refused with a message; a time of the hour that occurs twice when it ends is taken as its
first occurrence (still summer time, +02:00). The API takes ISO 8601 with an offset
(`api.fields.Timestamp`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, false, or_, update
from sqlalchemy.orm import Session

from webapp.errors import InputError
from webapp.formatting import format_datetime
from webapp.jobs.inputs import parse_local_datetime
from webapp.models import Message, MessageStatus

# The farthest a send may be planned ahead: a mistyped year would wait for ever otherwise.
MAX_AHEAD = timedelta(days=366)
# What a run has not claimed yet and may therefore still be cancelled.
UNCLAIMED = (MessageStatus.PLANNED, MessageStatus.QUEUED)
CANCELLED_REASON = "Der geplante Versand wurde aufgehoben; die SMS wird nicht versendet."


def check_send_at(
    send_at: datetime | None, now: datetime, field: str = "send_at"
) -> datetime | None:
    """`send_at` in UTC when it may be planned (after `now`, at most MAX_AHEAD ahead);
    None stays None (send at once). InputError on `field` saying what to fix."""
    if send_at is None:
        return None
    if send_at.tzinfo is None:
        raise InputError(
            _("Bitte den Versandzeitpunkt mit Zeitzone angeben, z. B. 2026-12-24T08:00:00+01:00."),
            field,
        )
    send_at = send_at.astimezone(UTC)
    if send_at <= now:
        raise InputError(
            _(
                "Der Versandzeitpunkt %(when)s liegt in der Vergangenheit (jetzt ist "
                "%(now)s). Bitte einen späteren Zeitpunkt wählen oder das Feld leeren, um "
                "sofort zu senden.",
                when=format_datetime(send_at),
                now=format_datetime(now),
            ),
            field,
        )
    if send_at > now + MAX_AHEAD:
        raise InputError(
            _(
                "Der Versandzeitpunkt %(when)s liegt mehr als ein Jahr in der Zukunft. Bitte "
                "Datum und Jahr prüfen.",
                when=format_datetime(send_at),
            ),
            field,
        )
    return send_at


def parse_send_at(
    raw: str | None, timezone: str, now: datetime, field: str = "send_at"
) -> datetime | None:
    """The "Versand am" of a form (local date and time, "2026-12-24T08:00" or
    "24.12.2026 08:00") in UTC, checked as `check_send_at`; empty: None (send at once)."""
    return check_send_at(parse_local_datetime(raw, timezone, field), now, field)


def cancel_unclaimed(
    session: Session,
    where: Any,
    now: datetime,
    *,
    mandant_ids: set[int] | None = None,
    planned_only: bool = True,
    reason: str = CANCELLED_REASON,
) -> list[int]:
    """Cancel the SMS matching `where` that no run has claimed yet (not committed); the ids
    cancelled. `planned_only`: only SMS planned for a time (Planung aufheben), else any
    waiting one (a Serie's "Rest abbrechen").

    One UPDATE whose WHERE is the compare-and-set on the status: a run's claim takes only
    `queued` rows and this only `planned`/`queued` ones, so of a claim and a cancel racing
    for an SMS exactly one wins (SQLite: one writer at a time; PostgreSQL: the second
    re-reads the row after the first committed and finds it no longer matching).
    """
    waiting = or_(*(Message.status == status for status in UNCLAIMED))
    conditions = [where, waiting]
    if planned_only:
        conditions.append(Message.send_at.is_not(None))
    if mandant_ids is not None:
        conditions.append(Message.mandant_id.in_(mandant_ids) if mandant_ids else false())
    statement = (
        update(Message)
        .where(and_(*conditions))
        .values(status=MessageStatus.CANCELLED, reason=reason, updated_at=now)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.scalars(statement))


def is_cancellable(message: Message) -> bool:
    """Whether "Planung aufheben" applies to `message`: planned and not claimed yet (the
    cancel itself decides, `cancel_planned`; this only offers the button)."""
    return message.send_at is not None and message.status in UNCLAIMED


def cancel_planned(
    session: Session,
    message_id: int,
    now: datetime,
    *,
    mandant_ids: set[int] | None,
    created_by_id: int | None = None,
    by: str = "",
) -> bool:
    """Planung aufheben for one SMS within `mandant_ids` (and of `created_by_id` when given:
    Meine SMS); committed. False when it is not planned or a run has claimed it meanwhile."""
    where = Message.id == message_id
    if created_by_id is not None:
        where = and_(where, Message.created_by_id == created_by_id)
    reason = (
        f"Die Planung wurde von {by} aufgehoben; die SMS wird nicht versendet."
        if by
        else CANCELLED_REASON
    )
    done = cancel_unclaimed(session, where, now, mandant_ids=mandant_ids, reason=reason)
    session.commit()
    return bool(done)

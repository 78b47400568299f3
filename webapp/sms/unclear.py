"""The Unklar worklist (issue 13 point 4): deciding about SMS in "Unklar – bitte prüfen".

An SMS is `unknown` when its attempt may have reached the provider but the outcome was lost
(a crash, a timeout after the request left: `leases.recover_dead_leases`, the run's
`Writes`). The system never resends it by itself (DESIGN.md "Exactly once"); a user decides:

- **als versendet bestätigen** (`confirm_sent`): status → `sent` (Versendet — it is not known
  to be delivered). `sent_at` becomes the start of its attempt, the last moment it can have
  left. A delivery report still moves it on afterwards (`inbound.REPORTABLE` includes `sent`),
  and one that came while it was Unklar is applied at once (`inbound.apply_early_reports`).
- **erneut versenden** (`resend_unclear`): a copy queued as "Erneut versenden" makes it
  (`outbox.copy_of`); the original keeps its status and records the copy (`resent_as_id`).
  The user accepts that the recipient may get the SMS twice: the first may have arrived.

Each decision is written once, with who and when, by a compare-and-set: the UPDATE changes
only rows that are still `unknown` and undecided (`models.NEEDS_DECISION`), so a concurrent
decision, a double submit or a late outcome or report that got there first is never
overwritten, and "erneut versenden" makes exactly one copy per original. Rows that were no
longer open come back as `refused` with a German sentence. These are the only status changes
a user makes; those of a run live in `leases.py`, those of delivery reports in
`inbound.record_report`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import false, func, select, update
from sqlalchemy.orm import Session

from webapp.formatting import format_datetime
from webapp.models import NEEDS_DECISION, Message, MessageStatus, UnclearDecision, User
from webapp.models.base import utcnow
from webapp.sms.inbound import apply_early_reports
from webapp.sms.outbox import copy_of, status_label
from webapp.sms.scope import scoped
from webapp.sms.settings import require_sms_service

# The most SMS one bulk decision takes (a page holds 50; more is a hand-made request).
MAX_IDS = 500


def is_open(message: Message) -> bool:
    """Whether `message` (as loaded) still needs a decision (`NEEDS_DECISION` in Python)."""
    return message.status is MessageStatus.UNKNOWN and message.decision is None


def count_open(session: Session, mandant_ids: set[int] | None) -> int:
    """How many SMS within `mandant_ids` (None: all) need a decision (the list's banner)."""
    stmt = scoped(select(func.count()).select_from(Message), Message.mandant_id, mandant_ids)
    return session.scalar(stmt.where(NEEDS_DECISION)) or 0


@dataclass
class Decided:
    """What a decision did: the ids decided, for "erneut versenden" the copy of each
    (original id → copy), and the ids refused with the reason."""

    decided: list[int] = field(default_factory=list)
    copies: dict[int, Message] = field(default_factory=dict)
    refused: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Proposal:
    """The SMS a bulk decision would take (for its confirmation) and those it would not."""

    messages: list[Message]
    refused: list[tuple[int, str]]


def _is_open_in(found: dict[int, Message], message_id: int) -> bool:
    message = found.get(message_id)
    return message is not None and is_open(message)


def _wanted(ids: Iterable[int]) -> list[int]:
    return sorted({int(i) for i in ids})[:MAX_IDS]


def propose(session: Session, ids: Iterable[int], *, mandant_ids: set[int] | None) -> Proposal:
    """Of the selected `ids`, the SMS still open (newest first) and the others with the reason
    (nothing is changed: what the confirmation of a bulk decision shows)."""
    wanted = _wanted(ids)
    found = _visible(session, wanted, mandant_ids)
    messages = sorted((m for m in found.values() if is_open(m)), key=lambda m: m.id, reverse=True)
    refused = [(i, _why_not(found.get(i))) for i in wanted if not _is_open_in(found, i)]
    return Proposal(messages, refused)


def confirm_sent(
    session: Session,
    ids: Iterable[int],
    *,
    decided_by: User,
    mandant_ids: set[int] | None,
    now: datetime | None = None,
) -> Decided:
    """Als versendet bestätigen: each selected SMS still open within `mandant_ids` becomes
    `sent`, with the decision recorded. The caller commits."""
    now = now or utcnow()
    wanted = _wanted(ids)
    if not wanted:
        return Decided()
    decided = _decide(
        session,
        wanted,
        mandant_ids,
        status=MessageStatus.SENT,
        sent_at=func.coalesce(Message.sent_at, Message.attempt_started_at, now),
        reason=None,
        error_code=None,
        run_key=None,
        decision=UnclearDecision.CONFIRMED_SENT,
        decided_by=_name(decided_by),
        decided_at=now,
        updated_at=now,
    )
    apply_early_reports(session, decided)
    return Decided(decided=decided, refused=_refusals(session, wanted, decided, mandant_ids))


def resend_unclear(
    session: Session,
    ids: Iterable[int],
    *,
    decided_by: User,
    mandant_ids: set[int] | None,
    default_region: str = "AT",
    now: datetime | None = None,
) -> Decided:
    """Erneut versenden: each selected SMS still open within `mandant_ids` gets exactly one
    queued copy (`outbox.copy_of`) and records it; the original keeps its status. ServiceOff
    while global 1400 is off (nothing changed). The caller commits."""
    now = now or utcnow()
    wanted = _wanted(ids)
    if not wanted:
        return Decided()
    require_sms_service(session)
    decided = _decide(
        session,
        wanted,
        mandant_ids,
        decision=UnclearDecision.RESENT,
        decided_by=_name(decided_by),
        decided_at=now,
        updated_at=now,
    )
    result = Decided(decided=decided)
    if decided:
        originals = session.scalars(
            select(Message)
            .where(Message.id.in_(decided))
            .order_by(Message.id)
            .execution_options(populate_existing=True)
        )
        for original in originals:
            result.copies[original.id] = copy_of(session, original, decided_by, default_region)
        session.flush()
        for original_id, copy in result.copies.items():
            session.execute(
                update(Message)
                .where(Message.id == original_id)
                .values(resent_as_id=copy.id)
                .execution_options(synchronize_session=False)
            )
    result.refused = _refusals(session, wanted, decided, mandant_ids)
    return result


def _name(user: User) -> str:
    return user.label[:80]


def _decide(
    session: Session, ids: Sequence[int], mandant_ids: set[int] | None, **values: Any
) -> list[int]:
    """The compare-and-set: write `values` on the rows of `ids` that are still NEEDS_DECISION within
    `mandant_ids`; the ids written. A row another transaction decides at the same moment
    waits for it (PostgreSQL re-reads the row, SQLite writes one at a time) and then no longer
    matches."""
    stmt = (
        update(Message)
        .where(Message.id.in_(ids), NEEDS_DECISION)
        .values(**values)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    )
    if mandant_ids is not None:
        stmt = stmt.where(Message.mandant_id.in_(mandant_ids) if mandant_ids else false())
    decided = sorted(session.scalars(stmt))
    # Objects of these rows already in the session would show the old state.
    for message in session.identity_map.values():
        if isinstance(message, Message) and message.id in decided:
            session.expire(message)
    return decided


def _visible(
    session: Session, ids: Sequence[int], mandant_ids: set[int] | None
) -> dict[int, Message]:
    stmt = scoped(select(Message).where(Message.id.in_(ids)), Message.mandant_id, mandant_ids)
    return {m.id: m for m in session.scalars(stmt.execution_options(populate_existing=True))}


def _refusals(
    session: Session, wanted: Sequence[int], decided: Sequence[int], mandant_ids: set[int] | None
) -> list[tuple[int, str]]:
    others = [i for i in wanted if i not in set(decided)]
    if not others:
        return []
    found = _visible(session, others, mandant_ids)
    return [(i, _why_not(found.get(i))) for i in others]


def _why_not(message: Message | None) -> str:
    """Why an SMS cannot be decided (any more): a German sentence."""
    if message is None:
        return _("Die SMS gibt es nicht (mehr).")
    if message.decision is not None:
        return _(
            "Darüber wurde schon entschieden: %(record)s. Nichts geändert.",
            record=record(message),
        )
    return _(
        "Sie ist nicht mehr unklar (Status jetzt „%(status)s“). Nichts geändert.",
        status=status_label(message.status),
    )


def record(message: Message) -> str:
    """The decision as the SMS shows it: "Als versendet bestätigt von Eva Berger am
    25.11.2026 14:05" / "Erneut versendet von … am … → SMS #123" ('' without one)."""
    if message.decision is None:
        return ""
    who, when = message.decided_by or _("unbekannt"), format_datetime(message.decided_at)
    if message.decision is UnclearDecision.CONFIRMED_SENT:
        return _("Als versendet bestätigt von %(who)s am %(when)s", who=who, when=when)
    return _(
        "Erneut versendet von %(who)s am %(when)s → SMS %(copy)s",
        who=who,
        when=when,
        copy=f"#{message.resent_as_id}" if message.resent_as_id else "–",
    )

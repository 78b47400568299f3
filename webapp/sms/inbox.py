"""Empfangene SMS: searching the received SMS (newest first, keyset pagination by id)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from webapp.models import ReceivedMessage
from webapp.sms.search import (
    COUNT_CAP,
    PAGE_SIZE,
    _escape_like,
    _local_midnight_utc,
    _next_prefix,
    number_prefix,
)


@dataclass(frozen=True)
class InboxFilter:
    number: str = ""
    text: str = ""
    received_from: date | None = None
    received_to: date | None = None
    mandant_id: int | None = None
    id: int | None = None  # one SMS (the link in the forwarded e-mail)


@dataclass
class InboxPage:
    rows: list[ReceivedMessage]
    total: int
    total_capped: bool
    newer: int | None = None
    older: int | None = None
    problems: list[str] = field(default_factory=list)


def search_received(
    session: Session,
    flt: InboxFilter,
    *,
    mandant_ids: set[int] | None,
    before: int | None = None,
    after: int | None = None,
    page_size: int = PAGE_SIZE,
    default_region: str = "AT",
    timezone: str = "Europe/Vienna",
) -> InboxPage:
    """One page, newest first; users limited to Mandanten see the SMS matched to them."""
    stmt = select(ReceivedMessage)
    if mandant_ids is not None:
        stmt = stmt.where(ReceivedMessage.mandant_id.in_(mandant_ids or {-1}))
    if flt.id is not None:
        stmt = stmt.where(ReceivedMessage.id == flt.id)
    if flt.mandant_id is not None:
        stmt = stmt.where(ReceivedMessage.mandant_id == flt.mandant_id)
    prefix = number_prefix(flt.number, default_region) if flt.number else None
    if prefix:
        stmt = stmt.where(
            ReceivedMessage.sender >= prefix, ReceivedMessage.sender < _next_prefix(prefix)
        )
    if flt.text.strip():
        stmt = stmt.where(
            ReceivedMessage.text.ilike(f"%{_escape_like(flt.text.strip())}%", escape="\\")
        )
    if flt.received_from:
        start = _local_midnight_utc(flt.received_from, timezone)
        stmt = stmt.where(ReceivedMessage.received_at >= start)
    if flt.received_to:
        end = _local_midnight_utc(flt.received_to + timedelta(days=1), timezone)
        stmt = stmt.where(ReceivedMessage.received_at < end)
    order = ReceivedMessage.id
    walk = stmt.options(
        selectinload(ReceivedMessage.reply_to), selectinload(ReceivedMessage.mandant)
    )
    walk = walk.order_by(order.asc() if after is not None else order.desc())
    if after is not None:
        walk = walk.where(order > after)
    elif before is not None:
        walk = walk.where(order < before)
    rows = list(session.scalars(walk.limit(page_size + 1)))
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    if after is not None:
        rows.reverse()
        has_newer, has_older = has_more, True
    else:
        has_newer, has_older = before is not None, has_more
    counted = session.scalar(
        select(func.count()).select_from(
            stmt.with_only_columns(ReceivedMessage.id).limit(COUNT_CAP + 1).subquery()
        )
    )
    return InboxPage(
        rows=rows,
        total=min(counted, COUNT_CAP),
        total_capped=counted > COUNT_CAP,
        newer=rows[0].id if rows and has_newer else None,
        older=rows[-1].id if rows and has_older else None,
    )


def reply_counts(session: Session, message_ids: list[int]) -> dict[int, int]:
    """How many received SMS answer each of `message_ids` (the marker in SMS Nachrichten)."""
    if not message_ids:
        return {}
    rows = session.execute(
        select(ReceivedMessage.reply_to_message_id, func.count())
        .where(ReceivedMessage.reply_to_message_id.in_(message_ids))
        .group_by(ReceivedMessage.reply_to_message_id)
    )
    return {message_id: count for message_id, count in rows}

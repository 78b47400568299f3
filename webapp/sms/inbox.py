"""Empfangene SMS: searching the received SMS (newest first, keyset pagination by id, or
sorted by a column the user chose)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from webapp.models import ReceivedMessage
from webapp.sms.paging import (
    PAGE_SIZE,
    KeysetPage,
    ListSort,
    Order,
    SortKey,
    grouped,
    nulls_last,
    paginate,
)
from webapp.sms.scope import mandanten_by_name, scoped
from webapp.sms.search import escape_like, local_midnight_utc, next_prefix, number_prefix


@dataclass(frozen=True)
class InboxFilter:
    number: str = ""
    text: str = ""
    received_from: date | None = None
    received_to: date | None = None
    mandant_id: int | None = None
    id: int | None = None  # one SMS (the link in the forwarded e-mail)


InboxPage = KeysetPage
RECEIVED_ORDER = ReceivedMessage.id  # newest first
# The columns the list sorts by (`?sort=`): Empfangen is the order the SMS were stored in
# (the id; received_at is stamped at that moment), the default newest first.
RECEIVED_SORTS = ("empfangen", "absender", "weitergeleitet", "mandant")
RECEIVED_DEFAULT_SORT = ListSort("empfangen", descending=True)


def received_order(
    session: Session, sort: ListSort, flt: InboxFilter, mandant_ids: set[int] | None
) -> Order:
    """The order of the list for `sort`, ties by id in the same direction: Absender as the
    network gave it, Weitergeleitet by the time (not yet forwarded last), Mandant by name
    (SMS not matched to a Mandant last)."""
    descending = sort.descending
    if sort.key == "absender":
        return SortKey((ReceivedMessage.sender, ReceivedMessage.id), descending)
    if sort.key == "weitergeleitet":
        return nulls_last(ReceivedMessage.forwarded_at, ReceivedMessage.id, descending)
    if sort.key == "mandant":
        mandanten = mandanten_by_name(session, mandant_ids, flt.mandant_id)
        # Users limited to Mandanten see only SMS matched to one of them.
        unmatched = mandant_ids is None and flt.mandant_id is None
        return grouped(
            ReceivedMessage.mandant_id,
            mandanten,
            ReceivedMessage.id,
            descending,
            nullable=unmatched,
        )
    return SortKey((RECEIVED_ORDER,), descending)


def received_query(
    flt: InboxFilter,
    *,
    mandant_ids: set[int] | None,
    default_region: str = "AT",
    timezone: str = "Europe/Vienna",
) -> Select[ReceivedMessage]:
    """The received SMS matching `flt`; users limited to Mandanten see the SMS matched to
    them. What the list pages and the export reads."""
    stmt = scoped(select(ReceivedMessage), ReceivedMessage.mandant_id, mandant_ids)
    if flt.id is not None:
        stmt = stmt.where(ReceivedMessage.id == flt.id)
    if flt.mandant_id is not None:
        stmt = stmt.where(ReceivedMessage.mandant_id == flt.mandant_id)
    prefix = number_prefix(flt.number, default_region) if flt.number else None
    if prefix:
        stmt = stmt.where(
            ReceivedMessage.sender >= prefix, ReceivedMessage.sender < next_prefix(prefix)
        )
    if flt.text.strip():
        stmt = stmt.where(
            ReceivedMessage.text.ilike(f"%{escape_like(flt.text.strip())}%", escape="\\")
        )
    if flt.received_from:
        start = local_midnight_utc(flt.received_from, timezone)
        stmt = stmt.where(ReceivedMessage.received_at >= start)
    if flt.received_to:
        end = local_midnight_utc(flt.received_to + timedelta(days=1), timezone)
        stmt = stmt.where(ReceivedMessage.received_at < end)
    return stmt


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
    sort: ListSort = RECEIVED_DEFAULT_SORT,
) -> InboxPage:
    """One page in the order of `sort` (`received_order`; newest first by default)."""
    stmt = received_query(
        flt, mandant_ids=mandant_ids, default_region=default_region, timezone=timezone
    )
    loading = stmt.options(
        selectinload(ReceivedMessage.reply_to), selectinload(ReceivedMessage.mandant)
    )
    return paginate(
        session,
        loading,
        received_order(session, sort, flt, mandant_ids),
        before=before,
        after=after,
        page_size=page_size,
        count_stmt=stmt,
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
    return {message_id: count for message_id, count in rows if message_id is not None}

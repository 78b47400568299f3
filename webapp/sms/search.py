"""Searching the SMS list fast at a million rows (SMS Nachrichten, R10–R11).

Newest first is id order. Every filter is an index range walked backwards (keyset pagination:
`before`/`after` an id), and the total is counted only up to COUNT_CAP, so the cost of a page
does not grow with the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import ColumnElement, Select, column, func, select, table
from sqlalchemy.orm import Session, aliased

from webapp.models import Message, MessageSource, MessageStatus
from webapp.sms.paging import PAGE_SIZE, KeysetPage, keyset_page, walk

# SQLite: the FTS5 trigram index of migration 0003. It finds terms of 3+ characters; driving
# the query from it (in rowid = id order) keeps rare and common terms alike fast.
MESSAGE_FTS = table("sms_message_fts", column("rowid"), column("text"))
MIN_INDEXED_TERM = 3
# PostgreSQL: the page is first looked for among the next PROBE_WINDOW messages (id order);
# a term found in at least COMMON_SHARE of them is counted by scanning (the capped count
# stops early), rarer terms go through the pg_trgm index, which is fast while matches are few.
PROBE_WINDOW = 5_000
COMMON_SHARE = 0.05


@dataclass(frozen=True)
class MessageFilter:
    """The search criteria of the list; empty fields do not filter."""

    status: MessageStatus | None = None
    number: str = ""
    text: str = ""
    created_from: date | None = None
    created_to: date | None = None
    mandant_id: int | None = None
    source: MessageSource | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) in (None, "") for f in fields(self))


MessagePage = KeysetPage


def number_prefix(raw: str, default_region: str = "AT") -> str | None:
    """The E.164 start that a (partial) number entered in the search stands for.

    "0664 12" → "+4366412", "+49 151" → "+49151", "0043 664" → "+43664". None without digits.
    """
    text = raw.strip()
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if digits.startswith("0"):
        code = phonenumbers.country_code_for_region(default_region)
        return f"+{code}{digits[1:]}"
    return "+" + digits


def next_prefix(prefix: str) -> str:
    # "+43669" → "+43670": an upper bound that sorts right in every collation (digits only).
    digits = prefix[1:]
    return "+" + str(int(digits) + 1).zfill(len(digits))


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def local_midnight_utc(day: date, tz: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz)).astimezone(UTC)


@dataclass(frozen=True)
class _Query:
    stmt: Select
    order: ColumnElement[int]  # the id column the pages walk along


def filtered(
    flt: MessageFilter,
    mandant_ids: set[int] | None,
    *,
    dialect: str = "sqlite",
    default_region: str = "AT",
    timezone: str = "Europe/Vienna",
    scan_text: bool = False,
) -> _Query:
    """The messages matching `flt` within `mandant_ids` (None: all Mandanten).

    `scan_text` keeps PostgreSQL from answering the text filter from the trigram index.
    """
    stmt = select(Message)
    order: ColumnElement[int] = Message.id
    if mandant_ids is not None:
        stmt = stmt.where(Message.mandant_id.in_(mandant_ids or {-1}))
    if flt.mandant_id is not None:
        stmt = stmt.where(Message.mandant_id == flt.mandant_id)
    if flt.status is not None:
        stmt = stmt.where(Message.status == flt.status)
    if flt.source is not None:
        stmt = stmt.where(Message.source == flt.source)
    prefix = number_prefix(flt.number, default_region) if flt.number else None
    if prefix:
        stmt = stmt.where(Message.recipient >= prefix, Message.recipient < next_prefix(prefix))
    term = flt.text.strip()
    if term:
        plain = not any(c in term for c in "%_\\")
        if dialect == "sqlite" and len(term) >= MIN_INDEXED_TERM and plain:
            stmt = stmt.join(MESSAGE_FTS, MESSAGE_FTS.c.rowid == Message.id).where(
                MESSAGE_FTS.c.text.like(f"%{term}%")
            )
            order = MESSAGE_FTS.c.rowid
        else:
            # An expression the trigram index does not cover forces the id-ordered scan.
            searched = (Message.text + "") if scan_text else Message.text
            stmt = stmt.where(searched.ilike(f"%{escape_like(term)}%", escape="\\"))
    if flt.created_from:
        stmt = stmt.where(Message.created_at >= local_midnight_utc(flt.created_from, timezone))
    if flt.created_to:
        end = local_midnight_utc(flt.created_to + timedelta(days=1), timezone)
        stmt = stmt.where(Message.created_at < end)
    return _Query(stmt, order)


def search_messages(
    session: Session,
    flt: MessageFilter,
    *,
    mandant_ids: set[int] | None,
    before: int | None = None,
    after: int | None = None,
    page_size: int = PAGE_SIZE,
    default_region: str = "AT",
    timezone: str = "Europe/Vienna",
    probe_window: int = PROBE_WINDOW,
) -> MessagePage:
    """One page of the list, newest first, with a capped total."""
    dialect = session.get_bind().dialect.name
    options = {"dialect": dialect, "default_region": default_region, "timezone": timezone}
    rows: list[Message] | None = None
    common = False
    if dialect == "postgresql" and flt.text.strip():
        rows, common = _search_window(
            session, flt, mandant_ids, options, before, after, page_size, probe_window
        )
    query = filtered(flt, mandant_ids, scan_text=common, **options)
    base, order = query.stmt, query.order
    if rows is None:
        rows = walk(session, base, order, before=before, after=after, page_size=page_size)
    return keyset_page(
        session, rows, base, Message.id, before=before, after=after, page_size=page_size
    )


def _search_window(
    session: Session,
    flt: MessageFilter,
    mandant_ids: set[int] | None,
    options: dict,
    before: int | None,
    after: int | None,
    page_size: int,
    probe_window: int,
) -> tuple[list[Message] | None, bool]:
    """PostgreSQL: look for the page among the next `probe_window` messages of the others.

    Returns the page's rows (in walk order, one extra when there are more) when the window
    holds them all, else None; and whether the term is common (its share in the window).
    A common term is then counted by scanning; a rare one through the trigram index.
    """
    others = filtered(replace(flt, text=""), mandant_ids, **options).stmt
    if after is not None:
        others = others.where(Message.id > after).order_by(Message.id.asc())
    else:
        if before is not None:
            others = others.where(Message.id < before)
        others = others.order_by(Message.id.desc())
    window = aliased(Message, others.limit(probe_window).subquery())
    matches = window.text.ilike(f"%{escape_like(flt.text.strip())}%", escape="\\")
    size, hits = session.execute(
        select(func.count(), func.count().filter(matches)).select_from(window)
    ).one()
    common = size > 0 and hits >= size * COMMON_SHARE
    if hits <= page_size and size >= probe_window:
        return None, common  # the page reaches past the window: ask the trigram index
    walk = window.id.asc() if after is not None else window.id.desc()
    rows = list(session.scalars(select(window).where(matches).order_by(walk).limit(page_size + 1)))
    return rows, common

"""Searching the SMS list fast at a million rows (SMS Nachrichten, R10–R11).

Newest first is id order. Every filter is an index range walked backwards (keyset pagination:
`before`/`after` an id), and the total is counted only up to COUNT_CAP, so the cost of a page
does not grow with the table.

The live status of a page (the list, a record's SMS-Verlauf, the confirmation of SMS senden)
asks only for the messages it shows that may still change (`watch`, `live_update`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    column,
    func,
    or_,
    select,
    table,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session, aliased

from webapp.models import NEEDS_DECISION, Message, MessageSource, MessageStatus, UnclearDecision
from webapp.models.base import utcnow
from webapp.sms.paging import (
    PAGE_SIZE,
    KeysetPage,
    ListSort,
    Order,
    SortKey,
    capped_count,
    grouped,
    keyset_page,
    nulls_last,
    walk,
)
from webapp.sms.scope import mandanten_by_name, scoped
from webapp.validation import optional_id

# SQLite: the FTS5 trigram index of migration 0003. It finds terms of 3+ characters; driving
# the query from it (in rowid = id order) keeps rare and common terms alike fast.
MESSAGE_FTS = table("sms_message_fts", column("rowid"), column("text"))
MIN_INDEXED_TERM = 3
# PostgreSQL: the page is first looked for among the next PROBE_WINDOW messages (id order);
# a term found in at least COMMON_SHARE of them is counted by scanning (the capped count
# stops early), rarer terms go through the pg_trgm index, which is fast while matches are few.
PROBE_WINDOW = 5_000
COMMON_SHARE = 0.05

FTS_INSERT_TRIGGER = "sms_message_fts_insert"


@contextmanager
def bulk_text_index(session: Session) -> Iterator[None]:
    """Many SMS inserted in the block at once (a Serien-SMS): on SQLite the trigram index's
    per-row trigger is slow (10,000 rows: 2 s of CPU), so it is dropped for the block and the
    rows inserted meanwhile are indexed in one statement after it (0.1 s), then the trigger
    is created again as stored. All inside the caller's open transaction (SQLite's DDL is
    transactional and it has one writer at a time): a rollback restores the trigger, and no
    other SMS can be inserted meanwhile. Without an open transaction, and on PostgreSQL,
    nothing changes."""
    connection = session.connection()
    raw = connection.connection.dbapi_connection
    trigger = None
    if connection.dialect.name == "sqlite" and getattr(raw, "in_transaction", False):
        trigger = session.execute(
            sql_text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
            {"name": FTS_INSERT_TRIGGER},
        ).scalar()
    if trigger is None:
        yield
        return
    last = session.scalar(select(func.max(Message.id))) or 0
    session.execute(sql_text(f"DROP TRIGGER {FTS_INSERT_TRIGGER}"))
    yield
    session.execute(
        sql_text(
            "INSERT INTO sms_message_fts(rowid, text) "
            "SELECT id, text FROM sms_message WHERE id > :last"
        ),
        {"last": last},
    )
    session.execute(sql_text(str(trigger)))


class UnclearFilter(enum.StrEnum):
    """The criterion "Unklar" (the worklist, `webapp/sms/unclear.py`): still to decide, or
    decided one way."""

    OPEN = "open"
    CONFIRMED_SENT = UnclearDecision.CONFIRMED_SENT.value
    RESENT = UnclearDecision.RESENT.value

    def condition(self) -> ColumnElement[bool]:
        """The SMS this choice shows."""
        if self is UnclearFilter.OPEN:
            return NEEDS_DECISION
        return Message.decision == UnclearDecision(self.value)


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
    unclear: UnclearFilter | None = None
    reason: str = ""  # the reason of Fehler/Nicht zugestellt begins with it
    series: int | None = None  # the SMS of one Serien-SMS (webapp/sms/serien.py)

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) in (None, "") for f in fields(self))


MessagePage = KeysetPage

# The columns the list sorts by (`?sort=`): Erstellt is the order the SMS were stored in (the
# id; created_at is stamped at that moment), the default newest first.
MESSAGE_SORTS = ("erstellt", "empfaenger", "status", "versendet", "mandant")
MESSAGE_DEFAULT_SORT = ListSort("erstellt", descending=True)
# Status sorts in the order of the process, not by label.
STATUS_ORDER = (
    MessageStatus.PLANNED,
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.UNDELIVERED,
    MessageStatus.FAILED,
    MessageStatus.EXPIRED,
    MessageStatus.CANCELLED,
    MessageStatus.UNKNOWN,
)


def message_order(
    session: Session,
    sort: ListSort,
    flt: MessageFilter,
    mandant_ids: set[int] | None,
    id_column: SQLColumnExpression[int],
) -> Order:
    """The order of the list for `sort`, ties by id in the same direction (`id_column`: the
    id the list walks, see `_Query.order`). Empfänger and Versendet without a value come last
    in both directions; Status in the order of the process; Mandant by name, only the
    Mandanten of the scope (and of the filter) as parts."""
    descending = sort.descending
    if sort.key == "empfaenger":
        return nulls_last(Message.recipient, id_column, descending)
    if sort.key == "versendet":
        return nulls_last(Message.sent_at, id_column, descending)
    if sort.key == "status":
        statuses = [s for s in STATUS_ORDER if flt.status in (None, s)]
        return grouped(Message.status, statuses, id_column, descending)
    if sort.key == "mandant":
        mandanten = mandanten_by_name(session, mandant_ids, flt.mandant_id)
        return grouped(Message.mandant_id, mandanten, id_column, descending)
    return SortKey((id_column,), descending)


@dataclass(frozen=True)
class RecordSms:
    """Which SMS belong to a record's SMS-Verlauf: those sent from it (`source` + its id) and,
    for a Person or Firma, every SMS to one of its `numbers` (E.164, from `parse_number`),
    whatever dialog queued it (Neu, SMS senden, API, an Auftrag)."""

    source: MessageSource
    record_id: int
    numbers: tuple[str, ...] = ()

    def conditions(self) -> list[SQLColumnExpression[bool]]:
        """One condition per way of belonging, each walked by its own index
        (`ix_sms_message_source_ref_id`, `ix_sms_message_recipient_id`)."""
        sent_from = and_(Message.source == self.source, Message.source_ref == str(self.record_id))
        return [sent_from, *(Message.recipient == number for number in self.numbers)]

    def clause(self) -> SQLColumnExpression[bool]:
        return or_(*self.conditions())


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
    stmt: Select[Message]
    order: SQLColumnExpression[int]  # the id column the pages walk along
    # What the total is counted from, when not `stmt` (SQLite: a list sorted by another
    # column that compares a common term along that order counts through the trigram index).
    count_stmt: Select[Message] | None = None

    @property
    def counted(self) -> Select[Message]:
        return self.stmt if self.count_stmt is None else self.count_stmt


def filtered(
    flt: MessageFilter,
    mandant_ids: set[int] | None,
    *,
    dialect: str = "sqlite",
    default_region: str = "AT",
    timezone: str = "Europe/Vienna",
    scan_text: bool = False,
    created_by_id: int | None = None,
    id_order: bool = True,
) -> _Query:
    """The messages matching `flt` within `mandant_ids` (None: all Mandanten), only those
    `created_by_id` created when given (Meine SMS).

    `scan_text` keeps PostgreSQL from answering the text filter from the trigram index; on
    SQLite, for a list not walked in id order (`id_order=False`), it compares a common term
    along the list's order (a page is found soon) instead of asking the trigram index for
    the matches, which then sorts them (fast while they are few).
    """
    stmt = scoped(select(Message), Message.mandant_id, mandant_ids)
    order: SQLColumnExpression[int] = Message.id
    if created_by_id is not None:
        stmt = stmt.where(Message.created_by_id == created_by_id)
    if flt.mandant_id is not None:
        stmt = stmt.where(Message.mandant_id == flt.mandant_id)
    if flt.status is not None:
        stmt = stmt.where(Message.status == flt.status)
    if flt.source is not None:
        stmt = stmt.where(Message.source == flt.source)
    if flt.series is not None:
        stmt = stmt.where(
            Message.source == MessageSource.SERIES, Message.source_ref == str(flt.series)
        )
    if flt.unclear is not None:
        stmt = stmt.where(flt.unclear.condition())
    reason = flt.reason.strip()
    if reason:
        stmt = stmt.where(Message.reason.like(f"{escape_like(reason)}%", escape="\\"))
    prefix = number_prefix(flt.number, default_region) if flt.number else None
    if prefix:
        stmt = stmt.where(Message.recipient >= prefix, Message.recipient < next_prefix(prefix))
    term = flt.text.strip()
    if term:
        plain = not any(c in term for c in "%_\\")
        # One author's SMS are few: walking them and comparing beats the trigram index,
        # which would go through every match of all authors.
        indexed = dialect == "sqlite" and created_by_id is None
        if indexed and len(term) >= MIN_INDEXED_TERM and plain:
            matching = MESSAGE_FTS.c.text.like(f"%{term}%")
            if id_order:
                # "rowid + 0": SQLite must not look the index up once per row of the SMS
                # table (an SMS table walked by Mandant, each row asking the index: seconds
                # at 100.000 rows); it reads the index's matches and joins each SMS by id.
                on = (MESSAGE_FTS.c.rowid + 0) == Message.id
                stmt = stmt.join(MESSAGE_FTS, on).where(matching)
                order = MESSAGE_FTS.c.rowid
            elif scan_text and term.isascii():
                # SQLite's LIKE folds the case of ASCII letters only; the trigram index
                # folds all, so a term with others keeps asking the index.
                stmt = stmt.where(Message.text.like(f"%{term}%"))
            else:
                stmt = stmt.where(Message.id.in_(select(MESSAGE_FTS.c.rowid).where(matching)))
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
    created_by_id: int | None = None,
    sort: ListSort = MESSAGE_DEFAULT_SORT,
) -> MessagePage:
    """One page of the list in the order of `sort` (newest first by default), with a capped
    total; of one author's messages when `created_by_id` is given."""
    dialect = session.get_bind().dialect.name
    options: dict[str, Any] = {
        "dialect": dialect,
        "default_region": default_region,
        "timezone": timezone,
        "created_by_id": created_by_id,
    }
    if sort != MESSAGE_DEFAULT_SORT:
        query = list_query(
            session,
            flt,
            mandant_ids=mandant_ids,
            default_region=default_region,
            timezone=timezone,
            probe_window=probe_window,
            created_by_id=created_by_id,
            sort=sort,
        )
        order = message_order(session, sort, flt, mandant_ids, query.order)
        rows = walk(session, query.stmt, order, before=before, after=after, page_size=page_size)
        return keyset_page(
            session, rows, query.counted, order, before=before, after=after, page_size=page_size
        )
    found: list[Message] | None = None
    common = False
    if dialect == "postgresql" and flt.text.strip():
        found, common = _search_window(
            session, flt, mandant_ids, options, before, after, page_size, probe_window
        )
    base = filtered(flt, mandant_ids, scan_text=common, **options)
    if found is None:
        found = walk(
            session, base.stmt, base.order, before=before, after=after, page_size=page_size
        )
    return keyset_page(
        session, found, base.stmt, Message.id, before=before, after=after, page_size=page_size
    )


def _search_window(
    session: Session,
    flt: MessageFilter,
    mandant_ids: set[int] | None,
    options: dict[str, Any],
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


def count_messages(
    session: Session,
    flt: MessageFilter,
    *,
    mandant_ids: set[int] | None,
    default_region: str = "AT",
    timezone: str = "Europe/Vienna",
    probe_window: int = PROBE_WINDOW,
    created_by_id: int | None = None,
) -> tuple[int, bool]:
    """The capped total of the list for `flt` (as `search_messages` counts it), and whether
    there are more than COUNT_CAP."""
    query = list_query(
        session,
        flt,
        mandant_ids=mandant_ids,
        default_region=default_region,
        timezone=timezone,
        probe_window=probe_window,
        created_by_id=created_by_id,
    )
    return capped_count(session, query.counted, Message.id)


def list_query(
    session: Session,
    flt: MessageFilter,
    *,
    mandant_ids: set[int] | None,
    default_region: str = "AT",
    timezone: str = "Europe/Vienna",
    probe_window: int = PROBE_WINDOW,
    created_by_id: int | None = None,
    sort: ListSort = MESSAGE_DEFAULT_SORT,
) -> _Query:
    """The whole list for `flt` within `mandant_ids` (of one author's messages when
    `created_by_id` is given), as `search_messages` pages it in the order of `sort`: what
    the count and the export read (along `message_order` for `_Query.order`).

    A search term is common when it is found in more rows than the list counts
    (COUNT_CAP): then its rows are compared along the list's order (PostgreSQL: along the
    ids, as the first page decides; in the probe window), else looked up in the trigram
    index. SQLite decides it only for a list in another order than the ids (its trigram
    index walks in id order itself)."""
    dialect = session.get_bind().dialect.name
    options: dict[str, Any] = {
        "dialect": dialect,
        "default_region": default_region,
        "timezone": timezone,
        "created_by_id": created_by_id,
    }
    common = False
    if not flt.text.strip():
        return filtered(flt, mandant_ids, **options)
    if dialect == "postgresql":
        _rows, common = _search_window(
            session, flt, mandant_ids, options, None, None, PAGE_SIZE, probe_window
        )
        return filtered(flt, mandant_ids, scan_text=common, **options)
    query = filtered(flt, mandant_ids, **options)
    if sort == MESSAGE_DEFAULT_SORT or query.order is Message.id:
        return query  # id order, or a term the trigram index does not answer
    _total, common = capped_count(session, query.stmt, Message.id)
    walked = filtered(flt, mandant_ids, scan_text=common, id_order=False, **options)
    return replace(walked, count_stmt=query.stmt)


def own_message(
    session: Session, message_id: int, *, created_by_id: int, mandant_ids: set[int] | None
) -> Message | None:
    """The message if `created_by_id` created it and it belongs to one of `mandant_ids`;
    None otherwise (→ 404: another user's SMS is not revealed)."""
    stmt = select(Message).where(Message.id == message_id, Message.created_by_id == created_by_id)
    return session.scalar(scoped(stmt, Message.mandant_id, mandant_ids))


# --- live status ---------------------------------------------------------------------------------

# Waiting for a run or being sent: the page asks again every few seconds.
ACTIVE_STATUSES = frozenset({MessageStatus.QUEUED, MessageStatus.SENDING})
FAST_POLL_SECONDS = 3
# Sent and waiting for a delivery report: asked for rarely, and only this long after sending —
# modems without status reports never report.
SLOW_POLL_SECONDS = 30
REPORT_WAIT = timedelta(hours=48)
# A page shows at most PAGE_SIZE messages; a longer watch list is a hand-made URL.
MAX_WATCHED = 2 * PAGE_SIZE
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def state_token(status: MessageStatus | str, updated_at: datetime) -> str:
    """What a page knows about a message: "sent.1767340800123456".

    Every writer bumps `updated_at` (the column's onupdate); the status is part of the token
    so that a status change shows even if one did not.
    """
    micros = (updated_at - _EPOCH) // timedelta(microseconds=1)
    return f"{MessageStatus(status).value}.{micros}"


def may_change(
    status: MessageStatus | str, sent_at: datetime | None, updated_at: datetime, now: datetime
) -> bool:
    """Whether a message is not final yet: planned, queued, being sent, or sent recently and
    still waiting for its delivery report."""
    status = MessageStatus(status)
    if status in ACTIVE_STATUSES or status is MessageStatus.PLANNED:
        return True  # a planned SMS: asked for rarely (its time, or cancelled elsewhere)
    return status is MessageStatus.SENT and (sent_at or updated_at) >= now - REPORT_WAIT


@dataclass(frozen=True)
class LiveWatch:
    """The messages of a page that may still change, as the page shows them (id → state
    token), and after how many seconds to ask again (None: all is final, stop asking)."""

    tokens: dict[int, str]
    interval: int | None

    def params(self) -> list[str]:
        """The watch list as URL values ("id:token"), read back by `parse_watch`."""
        return [f"{message_id}:{token}" for message_id, token in self.tokens.items()]


def watch(messages: Iterable[Any], now: datetime | None = None) -> LiveWatch:
    """What a page showing `messages` (Message rows, or rows with id, status, updated_at and
    sent_at) has to watch, and how often."""
    now = now or utcnow()
    tokens: dict[int, str] = {}
    active = False
    for m in messages:
        if may_change(m.status, m.sent_at, m.updated_at, now):
            tokens[m.id] = state_token(m.status, m.updated_at)
            active = active or m.status in ACTIVE_STATUSES
    if not tokens:
        return LiveWatch({}, None)
    return LiveWatch(tokens, FAST_POLL_SECONDS if active else SLOW_POLL_SECONDS)


def parse_watch(values: Iterable[str]) -> dict[int, str]:
    """The watch list a poll sends back ("id:token" values); malformed ones are left out."""
    tokens: dict[int, str] = {}
    for value in values:
        raw_id, _sep, token = value.partition(":")
        message_id = optional_id(raw_id)
        if message_id and token and len(token) <= 40 and len(tokens) < MAX_WATCHED:
            tokens[message_id] = token
    return tokens


@dataclass(frozen=True)
class LiveUpdate:
    """The answer to a poll: the watched messages whose state changed (newest first) and
    what to watch from now on."""

    changed: list[Message]
    watch: LiveWatch
    unchanged: bool  # nothing changed and the watch list stays: nothing to answer


def live_update(
    session: Session,
    tokens: dict[int, str],
    *,
    mandant_ids: set[int] | None,
    record: RecordSms | None = None,
    created_by_id: int | None = None,
    now: datetime | None = None,
) -> LiveUpdate:
    """What changed among the watched messages since the page got `tokens`.

    Only messages within `mandant_ids` (None: all) are looked at — and of one record
    (`record`) or one author (`created_by_id`) when given; others drop out of
    the watch list as if they were gone. One query by primary key for the states, a second
    one only for the rows that changed.
    """
    now = now or utcnow()
    if not tokens:
        return LiveUpdate([], LiveWatch({}, None), unchanged=False)
    stmt = select(Message.id, Message.status, Message.updated_at, Message.sent_at).where(
        Message.id.in_(list(tokens))
    )
    stmt = scoped(stmt, Message.mandant_id, mandant_ids)
    if record is not None:
        stmt = stmt.where(record.clause())
    if created_by_id is not None:
        stmt = stmt.where(Message.created_by_id == created_by_id)
    states = session.execute(stmt).all()
    changed_ids = [s.id for s in states if state_token(s.status, s.updated_at) != tokens[s.id]]
    following = watch(states, now)
    changed: list[Message] = []
    if changed_ids:
        changed = list(
            session.scalars(
                select(Message).where(Message.id.in_(changed_ids)).order_by(Message.id.desc())
            )
        )
    return LiveUpdate(changed, following, unchanged=not changed and following.tokens == tokens)

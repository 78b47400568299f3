"""Keyset pagination with a capped count: the one pager of every list (SMS Nachrichten,
Empfangene SMS, Personen, Firmen, Aufträge, Tickets, Errorlog).

A list is sorted by a key that ends in the row id (newest first, or by name then id). A page
walks along the key from a cursor, the id of a row: `before` gives the page after that row
(older), `after` the page before it (newer). So the cost of a page does not grow with the
table; the total is counted only up to COUNT_CAP ("mehr als 10.000").

`every_row` reads a whole list the same way, a chunk at a time (the exports).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, func, select, tuple_
from sqlalchemy.orm import Session

PAGE_SIZE = 50
COUNT_CAP = 10_000
CHUNK_SIZE = 2_000  # rows per query when a whole list is read (`every_row`)
AnySelect = Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class SortKey:
    """The order of a list: SQL expressions, the last one the row id (which makes it unique);
    all descending (newest first) or all ascending (e.g. lower(name), id)."""

    columns: tuple[SQLColumnExpression[Any], ...]
    descending: bool = True

    @property
    def id_column(self) -> SQLColumnExpression[Any]:
        return self.columns[-1]


@dataclass
class KeysetPage:
    rows: list[Any]
    total: int  # exact up to COUNT_CAP
    total_capped: bool  # more than COUNT_CAP matches
    newer: int | None = None  # pass as `after` for the previous (newer) page
    older: int | None = None  # pass as `before` for the next (older) page
    at_start: bool = True  # the first page: no link back to the start
    first_position: int = 1  # 1-based position of rows[0] in the list (when asked to count it)
    problems: list[str] = field(default_factory=list)  # filter values that were ignored

    @property
    def last_position(self) -> int:
        return self.first_position + len(self.rows) - 1


Order = SQLColumnExpression[int] | SortKey  # an id column alone: newest first by that id


def _key(order: Order) -> SortKey:
    return order if isinstance(order, SortKey) else SortKey((order,))


def _compare(
    key: SortKey, values: tuple[Any, ...], op: Callable[[Any, Any], ColumnElement[bool]]
) -> ColumnElement[bool]:
    if len(key.columns) == 1:
        return op(key.columns[0], values[0])
    return op(tuple_(*key.columns), tuple_(*values))


def _cursor_values(
    session: Session, stmt: AnySelect, key: SortKey, cursor: int | None
) -> tuple[Any, ...] | None:
    """The key of the cursor row; None without a cursor, or when `stmt` does not hold it (a
    cursor from another Mandant or filter is ignored, not used to probe that list)."""
    if cursor is None:
        return None
    if len(key.columns) == 1:
        return (cursor,)
    row = session.execute(
        stmt.with_only_columns(*key.columns).where(key.id_column == cursor).order_by(None).limit(1)
    ).first()
    return tuple(row) if row is not None else None


def walk(
    session: Session,
    stmt: AnySelect,
    order: Order,
    *,
    before: int | None,
    after: int | None,
    page_size: int,
) -> list[Any]:
    """Up to page_size + 1 rows of `stmt` along `order` from the cursor: the list's order,
    or backwards from `after`."""
    key = _key(order)
    forwards = after is None
    values = _cursor_values(session, stmt, key, before if forwards else after)
    if values is not None:
        beyond = operator.lt if key.descending == forwards else operator.gt
        stmt = stmt.where(_compare(key, values, beyond))
    walked = stmt.order_by(
        *(c.desc() if key.descending == forwards else c.asc() for c in key.columns)
    )
    return list(session.scalars(walked.limit(page_size + 1)))


def keyset_page(
    session: Session,
    rows: list[Any],
    count_stmt: AnySelect,
    order: Order,
    *,
    before: int | None,
    after: int | None,
    page_size: int,
    positions: bool = False,
) -> KeysetPage:
    """The page from `rows` as `walk` returned them, with the capped total of `count_stmt`;
    `positions` also counts where the page starts ("51–100 von 120")."""
    key = _key(order)
    forwards = after is None
    values = _cursor_values(session, count_stmt, key, before if forwards else after)
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    if values is None:
        has_newer, has_older = False, has_more
    elif forwards:
        has_newer, has_older = True, has_more
    else:
        # The newer page was walked backwards from `after`: show it in the list's order again.
        rows.reverse()
        has_newer, has_older = has_more, True
    total, capped = capped_count(session, count_stmt, key.id_column)
    first = 1
    if positions and values is not None:
        # Rows before the cursor in the list's order; from `before` the cursor row too.
        if forwards:
            ahead = operator.ge if key.descending else operator.le
        else:
            ahead = operator.gt if key.descending else operator.lt
        preceding = _count(session, count_stmt.where(_compare(key, values, ahead)), key.id_column)
        first = preceding + 1 if forwards else max(preceding - len(rows) + 1, 1)
    return KeysetPage(
        rows=rows,
        total=total,
        total_capped=capped,
        newer=rows[0].id if rows and has_newer else None,
        older=rows[-1].id if rows and has_older else None,
        at_start=not has_newer,
        first_position=first,
    )


def paginate(
    session: Session,
    stmt: AnySelect,
    order: Order,
    *,
    before: int | None = None,
    after: int | None = None,
    page_size: int = PAGE_SIZE,
    count_stmt: AnySelect | None = None,
    positions: bool = False,
) -> KeysetPage:
    """One page of `stmt` along `order` (`walk`, then `keyset_page`). `count_stmt` counts
    instead of `stmt` when that one carries loader options."""
    rows = walk(session, stmt, order, before=before, after=after, page_size=page_size)
    return keyset_page(
        session,
        rows,
        stmt if count_stmt is None else count_stmt,
        order,
        before=before,
        after=after,
        page_size=page_size,
        positions=positions,
    )


def _count(session: Session, stmt: AnySelect, id_column: SQLColumnExpression[Any]) -> int:
    """How many rows `stmt` matches, counted only up to COUNT_CAP + 1."""
    limited = stmt.with_only_columns(id_column).order_by(None).limit(COUNT_CAP + 1)
    return session.scalar(select(func.count()).select_from(limited.subquery())) or 0


def capped_count(
    session: Session, stmt: AnySelect, id_column: SQLColumnExpression[Any]
) -> tuple[int, bool]:
    """How many rows `stmt` matches, counted only up to COUNT_CAP; and whether there are more."""
    counted = _count(session, stmt, id_column)
    return min(counted, COUNT_CAP), counted > COUNT_CAP


def every_row(
    session: Session,
    stmt: AnySelect,
    order: Order,
    columns: Sequence[SQLColumnExpression[Any]],
    *,
    chunk_size: int | None = None,
) -> Iterator[list[tuple[Any, ...]]]:
    """Every row of `stmt` in the list's order (along `order`, as its pages show them), as
    the values of `columns`, `chunk_size` (CHUNK_SIZE) rows at a time.

    Each chunk is one query that goes on from the key of the previous chunk's last row
    (keyset, like a page), so a chunk costs what a page costs however far into the list it
    is, no cursor stays open between chunks, and only one chunk is in memory at a time.
    """
    size = chunk_size or CHUNK_SIZE
    key = _key(order)
    width = len(columns)
    reading = stmt.with_only_columns(*columns, *key.columns, maintain_column_froms=True)
    reading = reading.order_by(None).order_by(
        *(c.desc() if key.descending else c.asc() for c in key.columns)
    )
    beyond = operator.lt if key.descending else operator.gt
    values: tuple[Any, ...] | None = None
    while True:
        chunk_stmt = reading if values is None else reading.where(_compare(key, values, beyond))
        rows = session.connection().execute(chunk_stmt.limit(size)).all()
        if not rows:
            return
        yield [tuple(row[:width]) for row in rows]
        if len(rows) < size:
            return
        values = tuple(rows[-1][width:])

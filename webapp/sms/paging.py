"""Keyset pagination with a capped count: the one pager of every list (SMS Nachrichten,
Empfangene SMS, Personen, Firmen, Aufträge, Tickets, Errorlog).

A list is sorted by a key that ends in the row id (newest first, or by name then id). A page
walks along the key from a cursor, the id of a row: `before` gives the page after that row
(older), `after` the page before it (newer). So the cost of a page does not grow with the
table; the total is counted only up to COUNT_CAP ("mehr als 10.000").

A list may also be sorted in parts, one after the other, each a condition with a key of its
own (`Parts`): the SMS of each Mandant in the order of their names, the SMS of each status in
the order of the process, or the SMS with a time before those without (NULLs last in both
directions, on SQLite and PostgreSQL alike). Each part is walked by its own index and a page
goes on into the next part when one ends, so no key ever compares a NULL and no sort needs
an index on an expression. `ListSort` is the column a user chose (`?sort=`).

`every_row` reads a whole list the same way, a chunk at a time (the exports).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    case,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

PAGE_SIZE = 50
COUNT_CAP = 10_000
CHUNK_SIZE = 2_000  # rows per query when a whole list is read (`every_row`)
AnySelect = Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class SortKey:
    """The order of a list: SQL expressions, the last one the row id (which makes it unique);
    all descending (newest first) or all ascending (e.g. lower(name), id). With `where`, the
    order of one part of a list (`Parts`): the rows that meet it."""

    columns: tuple[SQLColumnExpression[Any], ...]
    descending: bool = True
    where: ColumnElement[bool] | None = None

    @property
    def id_column(self) -> SQLColumnExpression[Any]:
        return self.columns[-1]


# A list in parts: all rows of the first part (each along its own key), then of the next.
# The parts' conditions must not overlap and must together hold every row of the list.
Parts = tuple[SortKey, ...]


@dataclass(frozen=True)
class ListSort:
    """The column a user sorted a list by and the direction, as the URL carries it: `sort=key`
    ascending, `sort=-key` descending (as Smstexte does)."""

    key: str
    descending: bool

    @classmethod
    def parse(cls, raw: str | None, keys: Sequence[str], default: ListSort) -> ListSort:
        """The sort `raw` names; `default` for anything but one of `keys` (a hand-edited URL
        never fails the page)."""
        text = (raw or "").strip()
        key = text.removeprefix("-")
        return cls(key, text.startswith("-")) if key in keys else default

    @property
    def param(self) -> str:
        """The URL value: "empfaenger", "-versendet"."""
        return f"-{self.key}" if self.descending else self.key

    def toggled(self, key: str) -> str:
        """The URL value a click on the header of `key` asks for: the other direction of the
        column sorted by, else that column ascending."""
        return f"-{key}" if key == self.key and not self.descending else key

    def __str__(self) -> str:
        return self.param


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


# An id column alone: newest first by that id.
Order = SQLColumnExpression[int] | SortKey | Parts


def _parts(order: Order) -> Parts:
    if isinstance(order, tuple):
        return order
    return (order if isinstance(order, SortKey) else SortKey((order,)),)


def _id_column(order: Order) -> SQLColumnExpression[Any]:
    return _parts(order)[0].id_column


def _compare(
    key: SortKey, values: tuple[Any, ...], op: Callable[[Any, Any], ColumnElement[bool]]
) -> ColumnElement[bool]:
    if len(key.columns) == 1:
        return op(key.columns[0], values[0])
    return op(tuple_(*key.columns), tuple_(*values))


def _within(stmt: AnySelect, key: SortKey) -> AnySelect:
    return stmt if key.where is None else stmt.where(key.where)


@dataclass(frozen=True)
class _Cursor:
    part: int  # the index of the cursor row's part in the list's order
    values: tuple[Any, ...]  # its key in that part


def _locate(session: Session, stmt: AnySelect, parts: Parts, cursor: int | None) -> _Cursor | None:
    """The part and key of the cursor row; None without a cursor, or when `stmt` does not
    hold it (a cursor from another Mandant or filter is ignored, not used to probe that list)."""
    if cursor is None:
        return None
    if len(parts) == 1:
        key = parts[0]
        if len(key.columns) == 1 and key.where is None:
            return _Cursor(0, (cursor,))
        read = stmt.with_only_columns(*key.columns)
    else:
        # Which part holds the row, and its values of every part's key, in one query.
        which = case(*((key.where, n) for n, key in enumerate(parts) if key.where is not None))
        read = stmt.with_only_columns(which, *(c for key in parts for c in key.columns))
    row = session.execute(read.where(parts[0].id_column == cursor).order_by(None).limit(1)).first()
    if row is None:
        return None
    if len(parts) == 1:
        return _Cursor(0, tuple(row))
    if row[0] is None:
        return None  # in no part: not a row of this list
    part = int(row[0])
    start = 1 + sum(len(key.columns) for key in parts[:part])
    return _Cursor(part, tuple(row[start : start + len(parts[part].columns)]))


def _preceding(
    parts: Parts, at: _Cursor, op: Callable[[Any, Any], ColumnElement[bool]]
) -> ColumnElement[bool]:
    """The rows before the cursor in the list's order (`op`: lt/le for ascending keys)."""
    key = parts[at.part]
    inside = _compare(key, at.values, op)
    if key.where is not None:
        inside = and_(key.where, inside)
    earlier = [k.where for k in parts[: at.part] if k.where is not None]
    return or_(*earlier, inside) if earlier else inside


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
    or backwards from `after`. A list in parts is walked a part at a time until the page is
    full; a cursor the list does not hold is ignored (the first page)."""
    parts = _parts(order)
    forwards = after is None
    at = _locate(session, stmt, parts, before if forwards else after)
    if at is None:
        forwards = True
    steps = list(enumerate(parts)) if forwards else list(enumerate(parts))[::-1]
    if at is not None:
        steps = [step for step in steps if (step[0] >= at.part) == forwards or step[0] == at.part]
    rows: list[Any] = []
    for n, key in steps:
        walked = _within(stmt, key)
        if at is not None and n == at.part:
            beyond = operator.lt if key.descending == forwards else operator.gt
            walked = walked.where(_compare(key, at.values, beyond))
        walked = walked.order_by(
            *(c.desc() if key.descending == forwards else c.asc() for c in key.columns)
        )
        rows.extend(session.scalars(walked.limit(page_size + 1 - len(rows))))
        if len(rows) > page_size:
            break
    return rows


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
    parts = _parts(order)
    forwards = after is None
    at = _locate(session, count_stmt, parts, before if forwards else after)
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    if at is None:
        has_newer, has_older = False, has_more
    elif forwards:
        has_newer, has_older = True, has_more
    else:
        # The newer page was walked backwards from `after`: show it in the list's order again.
        rows.reverse()
        has_newer, has_older = has_more, True
    id_column = _id_column(order)
    total, capped = capped_count(session, count_stmt, id_column)
    first = 1
    if positions and at is not None:
        # Rows before the cursor in the list's order; from `before` the cursor row too.
        descending = parts[at.part].descending
        if forwards:
            ahead = operator.ge if descending else operator.le
        else:
            ahead = operator.gt if descending else operator.lt
        preceding = _count(session, count_stmt.where(_preceding(parts, at, ahead)), id_column)
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
    """Every row of `stmt` in the list's order (along `order`, as its pages show them, a part
    after the other), as the values of `columns`, up to `chunk_size` (CHUNK_SIZE) rows at a
    time.

    Each chunk is one query that goes on from the key of the previous chunk's last row
    (keyset, like a page), so a chunk costs what a page costs however far into the list it
    is, no cursor stays open between chunks, and only one chunk is in memory at a time.
    """
    size = chunk_size or CHUNK_SIZE
    width = len(columns)
    for key in _parts(order):
        reading = _within(stmt, key).with_only_columns(
            *columns, *key.columns, maintain_column_froms=True
        )
        reading = reading.order_by(None).order_by(
            *(c.desc() if key.descending else c.asc() for c in key.columns)
        )
        beyond = operator.lt if key.descending else operator.gt
        values: tuple[Any, ...] | None = None
        while True:
            chunk = reading if values is None else reading.where(_compare(key, values, beyond))
            rows = session.connection().execute(chunk.limit(size)).all()
            if rows:
                yield [tuple(row[:width]) for row in rows]
            if len(rows) < size:
                break
            values = tuple(rows[-1][width:])


def nulls_last(
    column: SQLColumnExpression[Any], id_column: SQLColumnExpression[Any], descending: bool
) -> Parts:
    """A list sorted by `column` then the id, its rows without a value last in both
    directions (by id): two parts, each walked by the index on (column, id)."""
    return (
        SortKey((column, id_column), descending, where=column.is_not(None)),
        SortKey((id_column,), descending, where=column.is_(None)),
    )


def grouped(
    column: SQLColumnExpression[Any],
    values: Sequence[Any],
    id_column: SQLColumnExpression[Any],
    descending: bool,
    *,
    nullable: bool = False,
) -> Parts:
    """A list sorted by `column` in the order of `values` (reversed when `descending`), the
    rows of each value by id in the same direction; rows without a value last when the column
    is `nullable`. Each part is an index range on (column, id). `values` must hold every
    value the list's rows have (e.g. the Mandanten of the user's scope)."""
    ordered = list(values)[::-1] if descending else list(values)
    parts = [SortKey((id_column,), descending, where=column == value) for value in ordered]
    if nullable:
        parts.append(SortKey((id_column,), descending, where=column.is_(None)))
    if not parts:
        # Nothing to show (no Mandant in the scope): one part that matches nothing.
        parts.append(SortKey((id_column,), descending, where=id_column.is_(None)))
    return tuple(parts)

"""Keyset pagination with a capped count: one way for every long list (SMS, received SMS).

Pages walk an id index (`before`: older, `after`: newer), so the cost of a page does not grow
with the table; the total is counted only up to COUNT_CAP ("mehr als 10.000").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

PAGE_SIZE = 50
COUNT_CAP = 10_000


@dataclass
class KeysetPage:
    rows: list[Any]
    total: int  # exact up to COUNT_CAP
    total_capped: bool  # more than COUNT_CAP matches
    newer: int | None = None  # pass as `after` for the previous (newer) page
    older: int | None = None  # pass as `before` for the next (older) page
    problems: list[str] = field(default_factory=list)


def walk(
    session: Session,
    stmt: Select,
    order: ColumnElement[int],
    *,
    before: int | None,
    after: int | None,
    page_size: int,
) -> list[Any]:
    """Up to page_size + 1 rows along `order` from the cursor (newest first, or from `after`
    forwards)."""
    stmt = stmt.order_by(order.asc() if after is not None else order.desc())
    if after is not None:
        stmt = stmt.where(order > after)
    elif before is not None:
        stmt = stmt.where(order < before)
    return list(session.scalars(stmt.limit(page_size + 1)))


def keyset_page(
    session: Session,
    rows: list[Any],
    count_stmt: Select,
    id_column: ColumnElement[int],
    *,
    before: int | None,
    after: int | None,
    page_size: int,
) -> KeysetPage:
    """The page from `rows` as `walk` returned them, with the capped total of `count_stmt`."""
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    if after is not None:
        # The newer page was walked forwards from `after`: show it newest first again.
        rows.reverse()
        has_newer, has_older = has_more, True
    else:
        has_newer, has_older = before is not None, has_more
    total, capped = capped_count(session, count_stmt, id_column)
    return KeysetPage(
        rows=rows,
        total=total,
        total_capped=capped,
        newer=rows[0].id if rows and has_newer else None,
        older=rows[-1].id if rows and has_older else None,
    )


def capped_count(session: Session, stmt: Select, id_column: ColumnElement[int]) -> tuple[int, bool]:
    """How many rows `stmt` matches, counted only up to COUNT_CAP; and whether there are more."""
    counted = session.scalar(
        select(func.count()).select_from(
            stmt.with_only_columns(id_column).limit(COUNT_CAP + 1).subquery()
        )
    )
    return min(counted, COUNT_CAP), counted > COUNT_CAP

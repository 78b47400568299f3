"""Tenant scope: the rows of the Mandanten a user may see, for every query that reads them.

`mandant_ids` is what `accounts.visible_mandant_ids(user)` returns: None for all Mandanten
(administrators), else the set of the user's Mandanten, possibly empty (then nothing).
"""

from __future__ import annotations

import unicodedata
from typing import Any, TypeVar

from sqlalchemy import Select, SQLColumnExpression, false, select
from sqlalchemy.orm import Session

from webapp.models import Company, Mandant, Message, Person, Series, Ticket, WorkOrder

# The records a dialog opens by id; each belongs to one Mandant.
Record = TypeVar("Record", Person, Company, WorkOrder, Ticket, Message, Series)
Query = TypeVar("Query", bound=Select[*tuple[Any, ...]])


def scoped(
    stmt: Query, column: SQLColumnExpression[int | None], mandant_ids: set[int] | None
) -> Query:
    """`stmt` limited to rows whose `column` (a Mandant id) is one of `mandant_ids`."""
    if mandant_ids is None:
        return stmt
    return stmt.where(column.in_(mandant_ids) if mandant_ids else false())


def get_visible(
    session: Session, model: type[Record], record_id: int, mandant_ids: set[int] | None
) -> Record | None:
    """The record if it exists and belongs to one of `mandant_ids`; None otherwise (→ 404, so
    the existence of another Mandant's record is not revealed)."""
    record = session.get(model, record_id)
    if record is None or (mandant_ids is not None and record.mandant_id not in mandant_ids):
        return None
    return record


def mandanten_by_name(
    session: Session, mandant_ids: set[int] | None, only: int | None = None
) -> list[int]:
    """The ids of the Mandanten in `mandant_ids` (None: all), `only` that one when given, in
    the order of their names, then by id: the order of the lists sorted by Mandant. Sorted
    here (few rows): casefolded and decomposed, "Ärzte" sorts with the A as a user expects,
    which SQLite's lower() and a byte order do not."""
    stmt = scoped(select(Mandant.id, Mandant.name), Mandant.id, mandant_ids)
    if only is not None:
        stmt = stmt.where(Mandant.id == only)
    rows = sorted(
        session.execute(stmt).tuples(),
        key=lambda row: (unicodedata.normalize("NFKD", row[1].casefold()), row[0]),
    )
    return [mandant_id for mandant_id, _name in rows]

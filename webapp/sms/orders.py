"""Aufträge and Tickets: saving, numbering, searching (SPEC R40–R43; kept minimal).

Every referenced record (Kreditor, Kontrolleur, Bestandsnehmer) must belong to the Mandant of
the order/ticket. Tenant scope works as for Personen and Firmen: `mandant_ids` is what
`accounts.visible_mandant_ids(user)` returns (None: all Mandanten).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from webapp.errors import InputError
from webapp.models import Company, Person, Ticket, WorkOrder
from webapp.models.base import utcnow
from webapp.sms.contacts import ContactInputError, _check_mandant, _text
from webapp.sms.paging import PAGE_SIZE, KeysetPage, paginate
from webapp.sms.scope import scoped

MAX_TITLE = 160
MAX_ADDRESS = 200
MAX_DESCRIPTION = 4000
ORDER_PREFIX = "A"
TICKET_PREFIX = "T"

RecordInputError = ContactInputError  # every problem of one submitted record at once

__all__ = [
    "OrderInput",
    "RecordInputError",
    "RecordQuery",
    "TicketInput",
    "next_number",
    "save_order",
    "save_ticket",
    "search_orders",
    "search_tickets",
]


@dataclass
class OrderInput:
    """What the Auftrag dialog submits; `appointment` as from <input type=datetime-local>."""

    mandant_id: int | None = None
    title: str = ""
    address: str = ""
    description: str = ""
    appointment: str = ""
    creditor_id: int | None = None
    inspector_id: int | None = None
    resident_id: int | None = None


@dataclass
class TicketInput:
    """What the Ticket dialog submits."""

    mandant_id: int | None = None
    subject: str = ""
    description: str = ""
    resident_id: int | None = None


def next_number(session: Session, model: type[WorkOrder] | type[Ticket], prefix: str) -> str:
    """The next free number of the current year: A-2026-0001, A-2026-0002, …"""
    year = utcnow().year
    stem = f"{prefix}-{year}-"
    numbers = session.scalars(select(model.number).where(model.number.startswith(stem)))
    highest = max((int(n[len(stem) :]) for n in numbers if n[len(stem) :].isdigit()), default=0)
    return f"{stem}{highest + 1:04d}"


def _resident_message() -> str:
    return _("Bitte einen Bestandsnehmer (eine Person) des gewählten Mandanten auswählen.")


def _clean_title(value: str | None, field_name: str, label: str, missing: str) -> str:
    text = _text(value, field_name, MAX_TITLE, label)
    if not text:
        raise InputError(missing, field_name)
    return text


def _clean_description(value: str | None) -> str:
    text = (value or "").replace("\r\n", "\n").strip()
    if len(text) > MAX_DESCRIPTION:
        raise InputError(
            _(
                "Die Beschreibung darf höchstens %(n)d Zeichen lang sein (jetzt %(len)d).",
                n=MAX_DESCRIPTION,
                len=len(text),
            ),
            "description",
        )
    return text


def _clean_appointment(value: str | None, timezone: str) -> datetime | None:
    """A local date and time (Europe/Vienna) → UTC; empty: no appointment."""
    raw = (value or "").strip()
    if not raw:
        return None
    try:
        local = datetime.fromisoformat(raw)
    except ValueError:
        raise InputError(
            _("Bitte den Termin als Datum und Uhrzeit eingeben, z. B. 25.11.2026 08:00."),
            "appointment",
        ) from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=ZoneInfo(timezone))
    if not 2000 <= local.year <= 2100:
        raise InputError(_("Bitte einen Termin zwischen 2000 und 2100 eingeben."), "appointment")
    return local.astimezone(UTC)


def _check_ref(
    session: Session,
    model: type[Person] | type[Company],
    record_id: int | None,
    mandant_id: int | None,
    field_name: str,
    message: str,
) -> int | None:
    """An optional Person/Firma that must belong to the Mandant of the order/ticket."""
    if record_id is None:
        return None
    record = session.get(model, record_id)
    if record is None or mandant_id is None or record.mandant_id != mandant_id:
        raise InputError(message, field_name)
    return record_id


def _collect(steps: Sequence[tuple[str, object]]) -> dict[str, object]:
    values: dict[str, object] = {}
    errors: list[InputError] = []
    for name, clean in steps:
        try:
            values[name] = clean()  # type: ignore[operator]
        except InputError as error:
            errors.append(error)
    if errors:
        raise RecordInputError(errors)
    return values


def save_order(
    session: Session,
    data: OrderInput,
    order: WorkOrder | None = None,
    *,
    allowed_mandant_ids: Iterable[int] | None = None,
    timezone: str = "Europe/Vienna",
) -> WorkOrder:
    """Create (order=None, with a new number) or update an Auftrag.

    Raises RecordInputError with every problem, changing nothing.
    """
    current = order.mandant_id if order is not None else None
    mandant_ok: list[int] = []

    def mandant() -> int:
        mandant_ok.append(_check_mandant(session, data.mandant_id, allowed_mandant_ids, current))
        return mandant_ok[0]

    def ref(model, record_id, field_name, message):  # type: ignore[no-untyped-def]
        return lambda: _check_ref(
            session, model, record_id, mandant_ok[0] if mandant_ok else None, field_name, message
        )

    values = _collect(
        (
            ("mandant_id", mandant),
            (
                "title",
                lambda: _clean_title(
                    data.title, "title", _("Der Titel"), _("Bitte einen Titel eingeben.")
                ),
            ),
            ("address", lambda: _text(data.address, "address", MAX_ADDRESS, _("Die Adresse"))),
            ("description", lambda: _clean_description(data.description)),
            ("appointment", lambda: _clean_appointment(data.appointment, timezone)),
            (
                "creditor_id",
                ref(
                    Company,
                    data.creditor_id,
                    "creditor_id",
                    _("Bitte einen Kreditor (eine Firma) des gewählten Mandanten auswählen."),
                ),
            ),
            (
                "inspector_id",
                ref(
                    Person,
                    data.inspector_id,
                    "inspector_id",
                    _("Bitte einen Kontrolleur (eine Person) des gewählten Mandanten auswählen."),
                ),
            ),
            (
                "resident_id",
                ref(
                    Person,
                    data.resident_id,
                    "resident_id",
                    _resident_message(),
                ),
            ),
        )
    )
    if order is None:
        order = WorkOrder(number=next_number(session, WorkOrder, ORDER_PREFIX))
        session.add(order)
    for name, value in values.items():
        setattr(order, name, value)
    session.flush()
    return order


def save_ticket(
    session: Session,
    data: TicketInput,
    ticket: Ticket | None = None,
    *,
    allowed_mandant_ids: Iterable[int] | None = None,
) -> Ticket:
    """Create (ticket=None, with a new number) or update a Ticket. Raises RecordInputError.

    The SMS to the Bestandsnehmer after creation is `notifications.ticket_created`'s job.
    """
    current = ticket.mandant_id if ticket is not None else None
    mandant_ok: list[int] = []

    def mandant() -> int:
        mandant_ok.append(_check_mandant(session, data.mandant_id, allowed_mandant_ids, current))
        return mandant_ok[0]

    values = _collect(
        (
            ("mandant_id", mandant),
            (
                "subject",
                lambda: _clean_title(
                    data.subject, "subject", _("Der Betreff"), _("Bitte einen Betreff eingeben.")
                ),
            ),
            ("description", lambda: _clean_description(data.description)),
            (
                "resident_id",
                lambda: _check_ref(
                    session,
                    Person,
                    data.resident_id,
                    mandant_ok[0] if mandant_ok else None,
                    "resident_id",
                    _resident_message(),
                ),
            ),
        )
    )
    if ticket is None:
        ticket = Ticket(number=next_number(session, Ticket, TICKET_PREFIX))
        session.add(ticket)
    for name, value in values.items():
        setattr(ticket, name, value)
    session.flush()
    return ticket


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordQuery:
    """The Suchkriterien of the Aufträge and Tickets lists; empty fields do not filter."""

    text: str = ""  # in the number, title/subject or address
    mandant_id: int | None = None


def _search(
    session: Session,
    model: type[WorkOrder] | type[Ticket],
    text_columns: Sequence[ColumnElement[str]],
    mandant_ids: set[int] | None,
    query: RecordQuery,
    before: int | None,
    after: int | None,
    page_size: int,
) -> KeysetPage:
    stmt = scoped(select(model), model.mandant_id, mandant_ids)
    if query.mandant_id is not None:
        stmt = stmt.where(model.mandant_id == query.mandant_id)
    if query.text.strip():
        needle = query.text.strip()
        stmt = stmt.where(or_(*(c.icontains(needle, autoescape=True) for c in text_columns)))
    return paginate(session, stmt, model.id, before=before, after=after, page_size=page_size)


def search_orders(
    session: Session,
    mandant_ids: set[int] | None,
    query: RecordQuery,
    *,
    before: int | None = None,
    after: int | None = None,
    page_size: int = PAGE_SIZE,
) -> KeysetPage:
    """Aufträge whose number, title or address contains the text, newest first."""
    columns = (WorkOrder.number, WorkOrder.title, WorkOrder.address)
    return _search(session, WorkOrder, columns, mandant_ids, query, before, after, page_size)


def search_tickets(
    session: Session,
    mandant_ids: set[int] | None,
    query: RecordQuery,
    *,
    before: int | None = None,
    after: int | None = None,
    page_size: int = PAGE_SIZE,
) -> KeysetPage:
    """Tickets whose number or subject contains the text, newest first."""
    columns = (Ticket.number, Ticket.subject)
    return _search(session, Ticket, columns, mandant_ids, query, before, after, page_size)


def contact_choices(
    session: Session, model: type[Person] | type[Company], mandant_ids: set[int] | None
) -> list[Person | Company]:
    """The Personen/Firmen a user may pick (their Mandanten), by Mandant and name."""
    stmt = select(model).order_by(model.mandant_id, func.lower(model.name), model.id)
    return list(session.scalars(scoped(stmt, model.mandant_id, mandant_ids)))

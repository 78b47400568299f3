"""Aufträge and Tickets: saving, numbering, searching (SPEC R40–R43; kept minimal).

Every referenced record (Kreditor, Kontrolleur, Bestandsnehmer) must belong to the Mandant of
the order/ticket. Tenant scope works as for Personen and Firmen: `mandant_ids` is what
`accounts.visible_mandant_ids(user)` returns (None: all Mandanten).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import SQLColumnExpression, func, or_, select
from sqlalchemy.orm import Session

from webapp.errors import ErrorCollector, InputError
from webapp.models import Company, Person, Ticket, WorkOrder
from webapp.models.base import utcnow
from webapp.sms.paging import PAGE_SIZE, KeysetPage, paginate
from webapp.sms.records import check_mandant
from webapp.sms.scope import scoped
from webapp.validation import text_field

MAX_TITLE = 160
MAX_ADDRESS = 200
MAX_DESCRIPTION = 4000
ORDER_PREFIX = "A"
TICKET_PREFIX = "T"

__all__ = [
    "OrderInput",
    "RecordQuery",
    "TicketInput",
    "next_number",
    "save_order",
    "save_ticket",
    "search_records",
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
    text = text_field(value, field_name, MAX_TITLE, label=label, single_line=True)
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
    if not isinstance(record, Person | Company) or record.mandant_id != mandant_id:
        raise InputError(message, field_name)
    return record_id


def save_order(
    session: Session,
    data: OrderInput,
    order: WorkOrder | None = None,
    *,
    allowed_mandant_ids: Iterable[int] | None = None,
    timezone: str = "Europe/Vienna",
) -> WorkOrder:
    """Create (order=None, with a new number) or update an Auftrag.

    Raises InputError with every problem, changing nothing.
    """
    current = order.mandant_id if order is not None else None
    problems = ErrorCollector()
    mandant_id = problems.run(check_mandant, session, data.mandant_id, allowed_mandant_ids, current)

    def ref(model: type[Person] | type[Company], field_name: str, message: str) -> int | None:
        record_id = getattr(data, field_name)
        checked: int | None = problems.run(
            _check_ref, session, model, record_id, mandant_id, field_name, message
        )
        return checked

    values = {
        "mandant_id": mandant_id,
        "title": problems.run(
            _clean_title, data.title, "title", _("Der Titel"), _("Bitte einen Titel eingeben.")
        ),
        "address": problems.run(
            text_field,
            data.address,
            "address",
            MAX_ADDRESS,
            label=_("Die Adresse"),
            single_line=True,
        ),
        "description": problems.run(_clean_description, data.description),
        "appointment": problems.run(_clean_appointment, data.appointment, timezone),
        "creditor_id": ref(
            Company,
            "creditor_id",
            _("Bitte einen Kreditor (eine Firma) des gewählten Mandanten auswählen."),
        ),
        "inspector_id": ref(
            Person,
            "inspector_id",
            _("Bitte einen Kontrolleur (eine Person) des gewählten Mandanten auswählen."),
        ),
        "resident_id": ref(Person, "resident_id", _resident_message()),
    }
    problems.raise_if_any()
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
    """Create (ticket=None, with a new number) or update a Ticket. Raises InputError with every
    problem, changing nothing.

    The SMS to the Bestandsnehmer after creation is `notifications.ticket_created`'s job.
    """
    current = ticket.mandant_id if ticket is not None else None
    problems = ErrorCollector()
    mandant_id = problems.run(check_mandant, session, data.mandant_id, allowed_mandant_ids, current)
    values = {
        "mandant_id": mandant_id,
        "subject": problems.run(
            _clean_title,
            data.subject,
            "subject",
            _("Der Betreff"),
            _("Bitte einen Betreff eingeben."),
        ),
        "description": problems.run(_clean_description, data.description),
        "resident_id": problems.run(
            _check_ref,
            session,
            Person,
            data.resident_id,
            mandant_id,
            "resident_id",
            _resident_message(),
        ),
    }
    problems.raise_if_any()
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


def search_records(
    session: Session,
    model: type[WorkOrder] | type[Ticket],
    mandant_ids: set[int] | None,
    query: RecordQuery,
    *,
    before: int | None = None,
    after: int | None = None,
    page_size: int = PAGE_SIZE,
) -> KeysetPage:
    """Aufträge (number, title or address) or Tickets (number or subject) containing the
    query's text, newest first."""
    stmt = scoped(select(model), model.mandant_id, mandant_ids)
    if query.mandant_id is not None:
        stmt = stmt.where(model.mandant_id == query.mandant_id)
    needle = query.text.strip()
    if needle:
        columns: tuple[SQLColumnExpression[str], ...] = (
            (WorkOrder.number, WorkOrder.title, WorkOrder.address)
            if model is WorkOrder
            else (Ticket.number, Ticket.subject)
        )
        stmt = stmt.where(or_(*(c.icontains(needle, autoescape=True) for c in columns)))
    return paginate(session, stmt, model.id, before=before, after=after, page_size=page_size)


def contact_choices(
    session: Session,
    model: type[Person] | type[Company],
    mandant_ids: set[int] | None,
    mandant_id: int,
) -> list[Person | Company]:
    """The Personen/Firmen of Mandant `mandant_id` a user may pick (within their Mandanten
    `mandant_ids`), by name: a record refers only to those of its own Mandant."""
    stmt = (
        select(model)
        .where(model.mandant_id == mandant_id)
        .order_by(func.lower(model.name), model.id)
    )
    return list(session.scalars(scoped(stmt, model.mandant_id, mandant_ids)))

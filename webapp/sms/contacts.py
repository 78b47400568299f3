"""Personen and Firmen: saving, searching and the SMS facts of a record (SPEC R1, E6).

Both kinds of record share one shape (name, Mandant, mobile number, e-mail, address), so every
function here works on either model. The mobile number is stored as entered; it must parse as a
mobile number (`parse_number`) when one is given, and is shown in its normalised form.

Tenant scope: `mandant_ids` is what `accounts.visible_mandant_ids(user)` returns — None for
all Mandanten (administrators), else the set of the user's Mandanten (possibly empty).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import phonenumbers
from flask_babel import gettext as _
from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    false,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from webapp.errors import ErrorCollector, InputError
from webapp.models import Company, Mandant, Message, MessageSource, Person
from webapp.sms.numbers import ParsedNumber, check_number, parse_number
from webapp.sms.paging import PAGE_SIZE, KeysetPage, SortKey, paginate
from webapp.sms.prefixes import country_code_of
from webapp.sms.records import check_mandant
from webapp.sms.scope import scoped
from webapp.sms.search import RecordSms
from webapp.validation import clean_email, text_field

Contact = Person | Company
ContactModel = type[Person] | type[Company]
ContactT = TypeVar("ContactT", Person, Company)
Order = Literal["newest", "name"]

MAX_NAME = 160
MAX_MOBILE = 64
MAX_STREET = 160
MAX_POSTAL_CODE = 12
MAX_CITY = 80
# What the search ignores in a stored number: "+43 (664) 123/45-67" is searched as 436641234567.
NUMBER_SEPARATORS = (" ", "/", "-", "(", ")", ".", "+")


# --- saving ------------------------------------------------------------------------------------


@dataclass
class ContactInput:
    """What the Person/Firma dialog submits."""

    name: str = ""
    mandant_id: int | None = None
    mobile: str = ""
    email: str = ""
    street: str = ""
    postal_code: str = ""
    city: str = ""


def _clean_name(value: str | None) -> str:
    name = text_field(value, "name", MAX_NAME, label=_("Der Name"), single_line=True)
    if not name:
        raise InputError(_("Bitte einen Namen eingeben."), "name")
    return name


def _clean_mobile(value: str | None, default_region: str) -> str:
    """The number as entered (trimmed), after checking that it is a mobile number."""
    raw = (value or "").strip()
    if not raw:
        return ""
    parsed = parse_number(raw, default_region)
    if not parsed.ok:
        raise InputError(parsed.reason or _("Das ist keine gültige Handynummer."), "mobile")
    return raw


def _clean_postal_code(value: str | None) -> str:
    code = text_field(value, "postal_code", MAX_POSTAL_CODE, label=_("Die PLZ"), single_line=True)
    if code and not all(c.isalnum() or c in " -" for c in code):
        raise InputError(
            _(
                "Die PLZ darf nur Ziffern, Buchstaben, Leerzeichen und Bindestriche "
                "enthalten (z. B. 1010)."
            ),
            "postal_code",
        )
    return code


def save_contact(
    session: Session,
    model: type[ContactT],
    data: ContactInput,
    record: ContactT | None = None,
    *,
    allowed_mandant_ids: Iterable[int] | None = None,
    default_region: str = "AT",
) -> ContactT:
    """Create (record=None) or update a Person or Firma. Raises InputError with every problem,
    changing nothing.

    `allowed_mandant_ids`: the Mandanten the record may belong to (None: any existing one).
    """
    current = record.mandant_id if record is not None else None
    problems = ErrorCollector()
    values = {
        "name": problems.run(_clean_name, data.name),
        "mandant_id": problems.run(
            check_mandant, session, data.mandant_id, allowed_mandant_ids, current
        ),
        "mobile": problems.run(_clean_mobile, data.mobile, default_region),
        "email": problems.run(clean_email, data.email),
        "street": problems.run(
            text_field, data.street, "street", MAX_STREET, label=_("Die Straße"), single_line=True
        ),
        "postal_code": problems.run(_clean_postal_code, data.postal_code),
        "city": problems.run(
            text_field, data.city, "city", MAX_CITY, label=_("Der Ort"), single_line=True
        ),
    }
    problems.raise_if_any()
    if record is None:
        record = model()
        session.add(record)
    for name, value in values.items():
        setattr(record, name, value)
    session.flush()
    return record


def save_person(
    session: Session,
    data: ContactInput,
    person: Person | None = None,
    *,
    allowed_mandant_ids: Iterable[int] | None = None,
    default_region: str = "AT",
) -> Person:
    """`save_contact` for a Person."""
    return save_contact(
        session,
        Person,
        data,
        person,
        allowed_mandant_ids=allowed_mandant_ids,
        default_region=default_region,
    )


def save_company(
    session: Session,
    data: ContactInput,
    company: Company | None = None,
    *,
    allowed_mandant_ids: Iterable[int] | None = None,
    default_region: str = "AT",
) -> Company:
    """`save_contact` for a Firma."""
    return save_contact(
        session,
        Company,
        data,
        company,
        allowed_mandant_ids=allowed_mandant_ids,
        default_region=default_region,
    )


# --- reading -----------------------------------------------------------------------------------


def parse_order(raw: object) -> Order:
    """The list's order from a request; "newest" for anything unknown."""
    return "name" if raw == "name" else "newest"


@dataclass(frozen=True)
class ContactQuery:
    """The Suchkriterien of the lists; empty fields do not filter."""

    name: str = ""
    number: str = ""
    city: str = ""
    mandant_id: int | None = None
    order: Order = "newest"


def _digits(text: str) -> str:
    return "".join(str(unicodedata.decimal(c)) for c in text if c.isdecimal())


def number_variants(raw: str, default_region: str = "AT") -> set[str]:
    """The digit strings a stored number (separators removed) must contain to match `raw`.

    Stored numbers are as entered, so "0664 1234567" and "+43 664 1234567" both exist: a search
    for "0664 123" looks for 0664123 and 43664123, one for "+43 664" for 43664 and 0664, one
    for "1234567" (no prefix) for 1234567 anywhere.
    """
    text = raw.strip()
    digits = _digits(text)
    if not digits:
        return set()
    plus = text[:1] in ("+", "＋")
    if plus or digits.startswith("00"):
        international = digits if plus else digits[2:]
        variants = {international} if international else set()
        code = country_code_of(international)
        if code is not None and len(international) > len(str(code)):
            variants.add("0" + international[len(str(code)) :])
        return variants
    if digits.startswith("0") and len(digits) > 1:
        code = phonenumbers.country_code_for_region(default_region)
        return {digits, f"{code}{digits[1:]}"} if code else {digits}
    return {digits}


def stored_digits(column: SQLColumnExpression[str]) -> SQLColumnExpression[str]:
    """A stored number without its separators (NUMBER_SEPARATORS), in SQL: what the number
    searches compare with."""
    expression = column
    for separator in NUMBER_SEPARATORS:
        expression = func.replace(expression, separator, "")
    return expression


def _number_condition(model: ContactModel, raw: str, default_region: str) -> ColumnElement[bool]:
    variants = number_variants(raw, default_region)
    if not variants:
        return false()  # letters only: no number contains them
    digits = stored_digits(model.mobile)
    return or_(*(digits.contains(v, autoescape=True) for v in sorted(variants)))


def _filtered(
    model: ContactModel,
    mandant_ids: set[int] | None,
    query: ContactQuery,
    default_region: str,
) -> Select[Contact]:
    stmt: Select[Contact] = scoped(select(model), model.mandant_id, mandant_ids)
    if query.mandant_id is not None:
        stmt = stmt.where(model.mandant_id == query.mandant_id)
    if query.name.strip():
        stmt = stmt.where(model.name.icontains(query.name.strip(), autoescape=True))
    if query.city.strip():
        stmt = stmt.where(model.city.icontains(query.city.strip(), autoescape=True))
    if query.number.strip():
        stmt = stmt.where(_number_condition(model, query.number, default_region))
    return stmt


def search_contacts(
    session: Session,
    model: ContactModel,
    mandant_ids: set[int] | None,
    query: ContactQuery,
    *,
    before: int | None = None,
    after: int | None = None,
    page_size: int = PAGE_SIZE,
    default_region: str = "AT",
) -> KeysetPage:
    """One page of Personen or Firmen matching `query`, with the positions of its rows."""
    stmt = _filtered(model, mandant_ids, query, default_region)
    if query.order == "name":
        order = SortKey((func.lower(model.name), model.id), descending=False)
    else:
        order = SortKey((model.id,))
    return paginate(
        session, stmt, order, before=before, after=after, page_size=page_size, positions=True
    )


@dataclass(frozen=True)
class MobileContact:
    """A Person or Firma with a mobile number, as the "SMS senden" search lists it."""

    kind: Literal["person", "company"]
    id: int
    name: str
    mobile: str  # as entered
    display: str  # normalised (+43 664 1234567), or as entered when it does not parse
    mandant_id: int
    mandant_name: str
    problem: str | None = None  # why the number is not a valid mobile number, if it is not

    @property
    def source(self) -> MessageSource:
        return MessageSource(self.kind)


def _mobile_contacts(
    session: Session,
    model: type[ContactT],
    kind: Literal["person", "company"],
    mandant_ids: set[int] | None,
    text: str,
    limit: int,
    default_region: str,
) -> list[MobileContact]:
    condition = model.name.icontains(text, autoescape=True)
    if number_variants(text, default_region):
        condition = or_(condition, _number_condition(model, text, default_region))
    stmt = (
        scoped(select(model), model.mandant_id, mandant_ids)
        .where(model.mobile != "", condition)
        .order_by(func.lower(model.name), model.id)
        .limit(limit)
    )
    found: list[MobileContact] = []
    for record in session.scalars(stmt):
        parsed = parse_number(record.mobile, default_region)
        found.append(
            MobileContact(
                kind=kind,
                id=record.id,
                name=record.name,
                mobile=record.mobile,
                display=parsed.display or record.mobile,
                mandant_id=record.mandant_id,
                mandant_name=record.mandant.name,
                problem=parsed.reason,
            )
        )
    return found


def search_mobile_contacts(
    session: Session,
    mandant_ids: set[int] | None,
    query: str,
    limit: int = 10,
    *,
    default_region: str = "AT",
) -> list[MobileContact]:
    """Personen and Firmen WITH a mobile number whose name or number contains `query`.

    Sorted by name (persons before companies of the same name); at most `limit`.
    """
    text = (query or "").strip()
    if not text:
        return []
    found = [
        *_mobile_contacts(session, Person, "person", mandant_ids, text, limit, default_region),
        *_mobile_contacts(session, Company, "company", mandant_ids, text, limit, default_region),
    ]
    found.sort(key=lambda c: (c.name.lower(), c.kind != "person", c.id))
    return found[:limit]


# --- the SMS side of a record ------------------------------------------------------------------


def mobile_display(raw: str, default_region: str = "AT") -> str:
    """A stored number as people read it: "+43 664 1234567" (as entered when it does not parse)."""
    if not raw:
        return ""
    return parse_number(raw, default_region).display or raw


@dataclass(frozen=True)
class SmsAction:
    """Whether the record offers "SMS senden", and why not (R1)."""

    enabled: bool
    reason: str | None = None
    number: ParsedNumber | None = None


def sms_action(session: Session, record: Contact, default_region: str = "AT") -> SmsAction:
    """SMS senden is possible for a valid mobile number whose prefix is in table 93001."""
    if not (record.mobile or "").strip():
        return SmsAction(False, _("Keine Mobilnummer hinterlegt – SMS nicht möglich."))
    parsed = check_number(session, record.mobile, default_region)
    if not parsed.ok:
        return SmsAction(False, parsed.reason, parsed)
    return SmsAction(True, None, parsed)


def record_sms(
    source: MessageSource, record_id: int, mobile: str = "", default_region: str = "AT"
) -> RecordSms:
    """The SMS of a record's SMS-Verlauf: sent from it, and for a Person or Firma (`mobile`
    as stored) also those to its mobile number, read by the one number parser."""
    number = parse_number(mobile, default_region).e164 if mobile.strip() else None
    return RecordSms(source, record_id, (number,) if number else ())


def sms_history(
    session: Session,
    record: RecordSms,
    limit: int = 20,
    *,
    mandant_ids: set[int] | None = None,
) -> list[Message]:
    """The newest SMS of a record (`record_sms`), newest first, each once.

    `mandant_ids` (the viewer's scope, None: all) keeps out SMS the record got while it
    belonged to a Mandant the viewer does not see (E6), and SMS to its number queued for
    another Mandant. Each way of belonging takes its newest `limit` ids by its own index (one
    UNION ALL); the rows are then read by those ids. (One query with `id IN (subquery)` made
    PostgreSQL walk the whole table backwards instead.)
    """
    newest = [
        scoped(select(Message.id).where(condition), Message.mandant_id, mandant_ids)
        .order_by(Message.id.desc())
        .limit(limit)
        .subquery()
        for condition in record.conditions()
    ]
    ids = set(session.scalars(union_all(*(select(part.c.id) for part in newest))))
    if not ids:
        return []
    stmt = select(Message).where(Message.id.in_(ids)).order_by(Message.id.desc()).limit(limit)
    return list(session.scalars(stmt))


# --- demo data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Demo:
    name: str
    mobile: str = ""
    email: str = ""
    street: str = ""
    postal_code: str = ""
    city: str = ""


@dataclass(frozen=True)
class _DemoSet:
    persons: tuple[_Demo, ...] = field(default_factory=tuple)
    companies: tuple[_Demo, ...] = field(default_factory=tuple)


_DEMO_SETS: tuple[_DemoSet, ...] = (
    _DemoSet(
        persons=(
            _Demo(
                "Maria Gruber",
                "0664 1234567",
                "maria.gruber@example.at",
                "Gumpendorfer Straße 12/4",
                "1060",
                "Wien",
            ),
            _Demo(
                "Thomas Steiner", "+43 676 9876543", "", "Gumpendorfer Straße 12/7", "1060", "Wien"
            ),
            _Demo(
                "Elisabeth Wagner",
                "",
                "e.wagner@example.at",
                "Mariahilfer Straße 88/2",
                "1070",
                "Wien",
            ),
            _Demo(
                "Franz Berger (Kontrolleur)",
                "0699 11223344",
                "franz.berger@example.at",
                "Lindengasse 3",
                "1070",
                "Wien",
            ),
        ),
        companies=(
            _Demo(
                "Installateur Huber GmbH",
                "0664 5551234",
                "office@huber-installateur.example.at",
                "Industriestraße 5",
                "1220",
                "Wien",
            ),
            _Demo(
                "Elektro Maier KG",
                "0676 3334455",
                "service@elektro-maier.example.at",
                "Brünner Straße 140",
                "1210",
                "Wien",
            ),
            _Demo(
                "Dachdeckerei Bauer & Söhne",
                "",
                "bauer@dach.example.at",
                "Triester Straße 201",
                "1230",
                "Wien",
            ),
        ),
    ),
    _DemoSet(
        persons=(
            _Demo("Johann Pichler", "0660 7654321", "", "Annenstraße 20/3", "8020", "Graz"),
            _Demo(
                "Sabine Hofer",
                "0650 2468135",
                "sabine.hofer@example.at",
                "Annenstraße 20/9",
                "8020",
                "Graz",
            ),
            _Demo("Karl Moser", "", "", "Leonhardstraße 45", "8010", "Graz"),
        ),
        companies=(
            _Demo(
                "Schlüsseldienst Koller e.U.",
                "0664 8642097",
                "koller@schluessel.example.at",
                "Wiener Straße 77",
                "8020",
                "Graz",
            ),
            _Demo(
                "Malerei Fuchs GmbH",
                "",
                "office@malerei-fuchs.example.at",
                "Puchstraße 12",
                "8020",
                "Graz",
            ),
        ),
    ),
)


def _has_contacts(session: Session, mandant_id: int) -> bool:
    for model in (Person, Company):
        if session.scalar(select(model.id).where(model.mandant_id == mandant_id).limit(1)):
            return True
    return False


def seed_demo_contacts(session: Session, mandanten: Iterable[Mandant] | None = None) -> int:
    """Demo Personen (Bestandsnehmer, a Kontrolleur) and Firmen (Kreditoren). Idempotent.

    For each of `mandanten` (default: the active ones, oldest first) that has no Person or Firma
    yet. Returns how many records were created; the caller commits.
    """
    if mandanten is None:
        mandanten = session.scalars(
            select(Mandant).where(Mandant.active.is_(True)).order_by(Mandant.id)
        )
    created = 0
    for index, mandant in enumerate(list(mandanten)):
        if _has_contacts(session, mandant.id):
            continue
        demo = _DEMO_SETS[index % len(_DEMO_SETS)]
        for save, entries in ((save_person, demo.persons), (save_company, demo.companies)):
            for entry in entries:
                save(
                    session,
                    ContactInput(
                        name=entry.name,
                        mandant_id=mandant.id,
                        mobile=entry.mobile,
                        email=entry.email,
                        street=entry.street,
                        postal_code=entry.postal_code,
                        city=entry.city,
                    ),
                )
                created += 1
    return created

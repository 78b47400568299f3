"""Demo data for `make run`: Mandanten, roles, a switched-on SMS service. Idempotent."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp import accounts
from webapp.models import Mandant, Role, SmsText, User
from webapp.permissions import Permission
from webapp.sms.contacts import seed_demo_contacts
from webapp.sms.settings import GlobalNumber, set_global
from webapp.sms.texts import save_text

DEMO_MANDANTEN = ("Hausverwaltung Wien", "Hausverwaltung Graz")
DEMO_ROLES: dict[str, tuple[str, set[int]]] = {
    "Sachbearbeitung": (
        "SMS senden und die SMS-Liste sehen",
        {Permission.SMS_SEND, Permission.SMS_MESSAGES},
    ),
    "SMS-Verwaltung": (
        "Alles rund um SMS: Liste, Texte, Handyvorwahlen, SMS senden",
        {
            Permission.SMS_SEND,
            Permission.SMS_MESSAGES,
            Permission.SMS_TEXTS,
            Permission.MOBILE_PREFIXES,
        },
    ),
}


DEMO_TEXTS: list[tuple[str, str, str]] = [
    (
        "Auftrag an Kreditor",
        "auftrag_kreditor",
        "Neuer Auftrag {auftrag.nummer}: {auftrag.titel}, {objekt.adresse}. Termin: "
        "{auftrag.termin}.",
    ),
    (
        "Ticket erstellt",
        "ticket_bn_erstellt",
        "Ihre Meldung wurde als Ticket {ticket.nummer} aufgenommen. Wir melden uns.",
    ),
    ("Rückruf erbeten", "", "Bitte rufen Sie uns zurück. Danke!"),
]


def seed_demo(session: Session) -> None:
    """Create the demo Mandanten, roles, SMS texts and contacts (once); SMS service on."""
    for name in DEMO_MANDANTEN:
        if session.scalar(select(Mandant).where(Mandant.name == name)) is None:
            accounts.save_mandant(session, name)
    for name, (description, permissions) in DEMO_ROLES.items():
        if session.scalar(select(Role).where(Role.name == name)) is None:
            accounts.save_role(session, name, {int(p) for p in permissions}, description)
    set_global(session, GlobalNumber.SMS_SERVICE_AVAILABLE, "1", "demo")
    for name, usage, body in DEMO_TEXTS:
        if session.scalar(select(SmsText).where(SmsText.name == name)) is None:
            save_text(session, name=name, usage_key=usage, body=body, changed_by="demo")
    seed_demo_contacts(session)


def ensure_admin(session: Session, username: str, password: str | None) -> str | None:
    """Create the administrator `username` if missing; returns a generated password, if any.

    An existing user is left alone (its password is never overwritten by a restart).
    """
    if session.scalar(select(User).where(User.username == username)) is not None:
        return None
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(12)
    mandanten = [m.id for m in session.scalars(select(Mandant))]
    accounts.save_user(
        session,
        accounts.UserInput(
            username=username,
            display_name="Administrator",
            password=password,
            is_administrator=True,
            mandant_ids=mandanten,
        ),
    )
    return generated

"""Aufträge in the browser: create an order, "Auftrag versenden" with the globals' defaults."""

from __future__ import annotations

import re
import uuid

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.e2e.support import MANDANT
from webapp.extensions import db
from webapp.models import Mandant, SmsText
from webapp.sms import contacts
from webapp.sms.settings import set_global


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


def _prepare(app: Flask) -> dict[str, str]:
    """Kreditor and BN with mobile numbers, a Kontrolleur without; texts; 1539=1 1580=1 1581=0."""
    names = {
        "creditor": unique("Installateur Huber"),
        "inspector": unique("Franz Berger"),
        "resident": unique("Maria Gruber"),
    }
    with app.app_context():
        session = db.session
        mandant = session.scalar(select(Mandant).where(Mandant.name == MANDANT))
        contacts.save_company(
            session,
            contacts.ContactInput(
                name=names["creditor"], mandant_id=mandant.id, mobile="0664 5551234"
            ),
        )
        contacts.save_person(
            session, contacts.ContactInput(name=names["inspector"], mandant_id=mandant.id)
        )
        contacts.save_person(
            session,
            contacts.ContactInput(
                name=names["resident"], mandant_id=mandant.id, mobile="0664 1234567"
            ),
        )
        for usage, body in (
            ("auftrag_kreditor", "Auftrag {auftrag.nummer}: {auftrag.titel}"),
            ("auftrag_kontrolleur", "Auftrag {auftrag.nummer} an {auftrag.kreditor}"),
        ):
            if session.scalar(select(SmsText).where(SmsText.usage_key == usage)) is None:
                session.add(SmsText(name=unique(usage), usage_key=usage, body=body))
        for number, value in ((1539, "1"), (1580, "1"), (1581, "0")):
            set_global(session, number, value, "e2e")
        session.commit()
        session.remove()
    return names


def test_create_and_send_an_order(page: Page, login, live_app: Flask) -> None:
    names = _prepare(live_app)
    login("sachbearbeiter")
    page.goto("/")
    page.locator("header").get_by_role("link", name="Aufträge").click()
    expect(page.get_by_role("heading", name="Aufträge")).to_be_visible()
    page.get_by_role("button", name="Neu").click()
    expect(page.get_by_role("heading", name="Neuer Auftrag")).to_be_visible()

    # Saving without a title keeps the input and says what is missing, next to the field.
    page.get_by_label("Objekt / Adresse").fill("Gumpendorfer Straße 12/4, 1060 Wien")
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator("#title-error")).to_have_text("Bitte einen Titel eingeben.")
    expect(page.get_by_label("Objekt / Adresse")).to_have_value(
        "Gumpendorfer Straße 12/4, 1060 Wien"
    )

    title = unique("Wasserschaden Bad")
    page.get_by_label("Titel").fill(title)
    page.get_by_label("Termin").fill("2026-12-01T08:00")
    page.get_by_label("Kreditor").select_option(label=f"{names['creditor']} ({MANDANT})")
    page.get_by_label("Kontrolleur").select_option(label=f"{names['inspector']} ({MANDANT})")
    page.get_by_label("Bestandsnehmer").select_option(label=f"{names['resident']} ({MANDANT})")
    page.get_by_role("button", name="Speichern").click()

    heading = page.get_by_role("heading", name=re.compile(r"^Auftrag A-\d{4}-\d{4}$"))
    expect(heading).to_be_visible()
    number = heading.inner_text().removeprefix("Auftrag ").strip()
    expect(page.locator('dd[data-field="appointment"]')).to_have_text("01.12.2026 08:00")
    expect(page.locator('dd[data-field="sent_at"]')).to_have_text("noch nicht versendet")
    expect(page.locator("#sms-history")).to_contain_text("noch keine SMS")

    # Auftrag versenden: Kontrolleur checked (1539=1), BN offered but not by SMS (1581=0).
    page.get_by_role("button", name="Auftrag versenden").click()
    expect(page.get_by_role("heading", name=re.compile("Auftrag versenden"))).to_be_visible()
    expect(page.get_by_label("Kontrolleur per SMS informieren")).to_be_checked()
    expect(page.get_by_label("Bestandsnehmer verständigen")).to_be_checked()
    expect(page.locator("#resident-not-by-sms")).to_have_text(
        "nicht per SMS (globale Variable 1581)"
    )
    expect(page.locator('[data-recipient="kontrolleur"]')).to_contain_text(
        "keine Mobilnummer hinterlegt"
    )
    page.locator("#send-submit").click()

    result = page.locator("#send-result")
    expect(result.locator('tr[data-role="kreditor"]')).to_contain_text("Wartet auf Versand")
    expect(result.locator('tr[data-role="kontrolleur"]')).to_contain_text(
        "Keine Mobilnummer hinterlegt."
    )
    expect(result.locator('tr[data-role="bestandsnehmer"]')).to_contain_text(
        "nicht per SMS (globale Variable 1581)"
    )
    expect(page.locator("#flash")).to_contain_text(f"Auftrag {number} wurde versendet")

    # Back on the order: sent_at is stamped, the SMS-Verlauf shows the one queued SMS.
    page.get_by_role("button", name="Zurück zum Auftrag").click()
    expect(page.locator('dd[data-field="sent_at"]')).not_to_have_text("noch nicht versendet")
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("+43 664 5551234")
    expect(rows.first).to_contain_text("Wartet auf Versand")
    expect(rows.first).to_contain_text(f"Auftrag {number}")

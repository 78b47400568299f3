"""Aufträge in the browser: create an order, "Auftrag versenden" with the globals' defaults,
contact lists that follow the Mandant, the final texts before sending."""

from __future__ import annotations

import re
import uuid

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.e2e.support import MANDANT, assert_not_reloaded, mark_page
from webapp.extensions import db
from webapp.models import Company, Mandant, SmsText
from webapp.sms import contacts, orders
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
    # The clerk has one Mandant: it is chosen, the lists hold its people (by name alone).
    page.get_by_label("Kreditor").select_option(label=names["creditor"])
    page.get_by_label("Kontrolleur").select_option(label=names["inspector"])
    page.get_by_label("Bestandsnehmer").select_option(label=names["resident"])
    page.get_by_role("button", name="Speichern").click()

    heading = page.get_by_role("heading", name=re.compile(r"^Auftrag A-\d{4}-\d{4}$"))
    expect(heading).to_be_visible()
    number = heading.inner_text().removeprefix("Auftrag ").strip()
    expect(page.locator('dd[data-field="appointment"]')).to_have_text("01.12.2026 08:00")
    expect(page.locator('dd[data-field="sent_at"]')).to_have_text("noch nicht versendet")
    expect(page.locator("#sms-history")).to_contain_text("noch keine SMS")

    # Auftrag versenden shows what will happen before anything is sent: the Kreditor's final
    # text; the Kontrolleur (no mobile number) and the BN (1581=0: not by SMS) get nothing, so
    # their switches are off — although 1539=1 and 1580=1 — and say why.
    page.get_by_role("button", name="Auftrag versenden").click()
    expect(page.get_by_role("heading", name=re.compile("Auftrag versenden"))).to_be_visible()
    expect(page.locator('[data-preview="kreditor"]')).to_contain_text(
        f"Wird gesendet an {names['creditor']}, +43 664 5551234:"
    )
    expect(page.locator('[data-preview="kreditor"] .full-text')).to_contain_text(
        f"Auftrag {number}: {title}"
    )
    inspector = page.get_by_label("Kontrolleur per SMS informieren")
    expect(inspector).not_to_be_checked()
    expect(inspector).to_be_disabled()
    expect(page.locator('[data-preview="kontrolleur"]')).to_have_text(
        f"{names['inspector']} · Wird nicht gesendet: Keine Mobilnummer hinterlegt."
    )
    resident = page.get_by_label("Bestandsnehmer verständigen")
    expect(resident).not_to_be_checked()
    expect(resident).to_be_disabled()
    expect(page.locator("#resident-not-by-sms")).to_have_text(
        "nicht per SMS (globale Variable 1581)"
    )
    page.locator("#send-submit").click()

    result = page.locator("#send-result")
    expect(result.locator('tr[data-role="kreditor"]')).to_contain_text("Wartet auf Versand")
    expect(result.locator("tbody tr")).to_have_count(1)
    expect(page.locator("#flash")).to_contain_text(f"Auftrag {number} wurde versendet")

    # Back on the order: sent_at is stamped, the SMS-Verlauf shows the one queued SMS.
    page.get_by_role("button", name="Zurück zum Auftrag").click()
    expect(page.locator('dd[data-field="sent_at"]')).not_to_have_text("noch nicht versendet")
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("+43 664 5551234")
    expect(rows.first).to_contain_text("Wartet auf Versand")
    expect(rows.first).to_contain_text(f"Auftrag {number}")


def test_contact_lists_follow_the_chosen_mandant(page: Page, login, live_app: Flask) -> None:
    """Issue 12 point 12: Kreditor, Kontrolleur and Bestandsnehmer of the chosen Mandant only,
    updated in place when the Mandant changes."""
    names = _prepare(live_app)
    other, foreign = unique("HV Graz"), unique("Malerei Fuchs")
    with live_app.app_context():
        graz = Mandant(name=other)
        db.session.add(graz)
        db.session.flush()
        contacts.save_company(
            db.session,
            contacts.ContactInput(name=foreign, mandant_id=graz.id, mobile="0664 5550000"),
        )
        db.session.commit()
        db.session.remove()
    login("admin")
    page.goto("/orders/new")
    mark_page(page)
    mandant = page.get_by_label("Mandant", exact=True)
    creditor = page.get_by_label("Kreditor")
    expect(creditor.locator("option")).to_have_text(["– zuerst einen Mandanten wählen –"])

    mandant.select_option(label=MANDANT)
    expect(creditor.locator("option", has_text=names["creditor"])).to_have_count(1)
    expect(creditor.locator("option", has_text=foreign)).to_have_count(0)
    creditor.select_option(label=names["creditor"])
    page.get_by_label("Bestandsnehmer").select_option(label=names["resident"])

    mandant.select_option(label=other)
    expect(creditor.locator("option")).to_have_text(["– keine Auswahl –", foreign])
    expect(page.get_by_label("Bestandsnehmer").locator("option")).to_have_text(
        ["– keine Auswahl –"]
    )
    expect(page.locator("#record-contacts-note")).to_have_text(
        "Gehört nicht zum gewählten Mandanten und wurde entfernt: Kreditor, Bestandsnehmer."
    )
    assert_not_reloaded(page)

    creditor.select_option(label=foreign)
    page.get_by_label("Titel").fill(unique("Fassade"))
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator('dd[data-field="creditor"]')).to_contain_text(foreign)
    expect(page.locator('dd[data-field="mandant"]')).to_have_text(other)


def test_send_dialog_switches_show_what_will_be_sent(page: Page, login, live_app: Flask) -> None:
    """Issue 12 point 12: the final texts before sending; a switch turned off says so."""
    names = _prepare(live_app)
    with live_app.app_context():
        session = db.session
        mandant = session.scalar(select(Mandant).where(Mandant.name == MANDANT))
        inspector = contacts.save_person(
            session,
            contacts.ContactInput(
                name=unique("Karl Kontrolle"), mandant_id=mandant.id, mobile="0699 1122334"
            ),
        )
        creditor = session.scalar(select(Company).where(Company.name == names["creditor"]))
        order = orders.save_order(
            session,
            orders.OrderInput(
                mandant_id=mandant.id,
                title=unique("Lift"),
                creditor_id=creditor.id,
                inspector_id=inspector.id,
            ),
        )
        set_global(session, 1402, "", "e2e")
        session.commit()
        order_id, number, inspector_name = order.id, order.number, inspector.name
        session.remove()
    login("sachbearbeiter")
    page.goto(f"/orders/{order_id}/send")
    switch = page.get_by_label("Kontrolleur per SMS informieren")
    expect(switch).to_be_checked()  # 1539=1 and the SMS can go
    preview = page.locator('[data-preview="kontrolleur"]')
    expect(preview).to_be_visible()
    expect(preview).to_contain_text(f"Wird gesendet an {inspector_name}, +43 699 1122334:")
    expect(preview.locator(".full-text")).to_contain_text(
        f"Auftrag {number} an {names['creditor']}"
    )
    off = page.locator('[data-preview-off="kontrolleur"]')
    expect(off).to_be_hidden()

    switch.uncheck()
    expect(preview).to_be_hidden()
    expect(off).to_have_text("Wird nicht gesendet (Schalter aus).")
    page.locator("#send-submit").click()
    result = page.locator("#send-result")
    expect(result.locator("tbody tr")).to_have_count(1)
    expect(result.locator('tr[data-role="kreditor"]')).to_contain_text("Wartet auf Versand")


def test_a_refused_number_in_the_result_shows_its_code_only_in_the_details(
    page: Page, login, live_app: Flask
) -> None:
    """The result of Auftrag versenden shows an SMS's reason as every page does: the German
    sentence, the error code in a small "Details:" line (webapp/technical.py)."""
    _prepare(live_app)
    with live_app.app_context():
        session = db.session
        mandant = session.scalar(select(Mandant).where(Mandant.name == MANDANT))
        swiss = contacts.save_company(
            session,
            contacts.ContactInput(
                name=unique("Zürcher Dach AG"), mandant_id=mandant.id, mobile="+41 79 123 45 67"
            ),
        )
        order = orders.save_order(
            session,
            orders.OrderInput(mandant_id=mandant.id, title=unique("Dach"), creditor_id=swiss.id),
        )
        session.commit()
        order_id = order.id
        session.remove()
    login("sachbearbeiter")
    page.goto(f"/orders/{order_id}/send")
    page.locator("#send-submit").click()
    row = page.locator('#send-result tr[data-role="kreditor"]')
    expect(row.locator(".status")).to_have_text("Fehler")
    expect(row).to_contain_text("Die Vorwahl +41 79 ist nicht in der Konfigurationstabelle")
    expect(row.locator(".details")).to_have_text("Details: prefix_not_allowed")
    expect(row.locator(".status")).not_to_have_attribute("title", re.compile("prefix_not_allowed"))

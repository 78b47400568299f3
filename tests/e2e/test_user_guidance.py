"""What the pages tell a user (issue 12 points 10, 11, 15, 16): German sentences with the
technical part in a details line, the confirmation and copy buttons of the webhook URL and the
API token, the 403 page and the hint where the SMS service is switched on, and the SMS-Verlauf
of a Person that has the SMS sent to its number through Neu."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.e2e.support import MANDANT, header_nav
from webapp.extensions import db
from webapp.jobs.settings import webhook_secret
from webapp.models import ApiToken, Job, Mandant, MessageSource
from webapp.sms import contacts
from webapp.sms.outbox import queue_sms
from webapp.sms.settings import GlobalNumber, set_global

SERVICE_SMS = 1


def _mandant_id(live_app: Flask) -> int:
    with live_app.app_context():
        mandant_id = db.session.scalar(select(Mandant.id).where(Mandant.name == MANDANT))
        db.session.remove()
    return int(mandant_id)


def _queue(live_app: Flask, recipient: str, text: str, source: MessageSource, ref=None) -> int:
    mandant_id = _mandant_id(live_app)
    with live_app.app_context():
        message = queue_sms(
            db.session,
            recipient=recipient,
            text=text,
            mandant_id=mandant_id,
            source=source,
            source_ref=ref,
        )
        db.session.commit()
        message_id = message.id
        db.session.remove()
    return message_id


def _webhook_secret(live_app: Flask) -> str:
    with live_app.app_context():
        secret = webhook_secret(db.session.get(Job, SERVICE_SMS), live_app.config["SMS_SECRET_KEY"])
        db.session.remove()
    return secret


@pytest.fixture
def clipboard(page: Page, live_server: str) -> Page:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    return page


def test_a_refused_number_shows_a_german_reason_and_the_code_only_in_the_details(
    page: Page, login, live_app
) -> None:
    tag = uuid.uuid4().hex[:8]
    _queue(live_app, "+41 79 123 45 67", f"Schweiz {tag}", MessageSource.MANUAL)
    login("sachbearbeiter")
    page.goto(f"/admin/sms/?text={tag}")
    row = page.locator("#messages tbody tr").first
    expect(row.locator(".status")).to_have_text("Fehler")
    row.locator(".status-details summary").click()
    more = row.locator(".status-more")
    expect(more).to_contain_text("Grund: Die Vorwahl +41 79 ist nicht in der Konfigurationstabelle")
    details = more.locator(".details")
    expect(details).to_have_text("Details: prefix_not_allowed")
    # A line of its own, smaller than the sentence.
    sizes = details.evaluate(
        "d => [getComputedStyle(d).display, parseFloat(getComputedStyle(d).fontSize),"
        " parseFloat(getComputedStyle(d.parentElement).fontSize)]"
    )
    assert sizes[0] == "block" and sizes[1] < sizes[2]
    expect(row.locator(".status")).not_to_have_attribute("title", re.compile("prefix_not_allowed"))


def test_a_number_too_short_is_called_too_short(page: Page, login) -> None:
    login("sachbearbeiter")
    page.goto("/admin/sms/new")
    page.get_by_label("Mobilfunknummer").fill("12345")
    expect(page.locator("#number-check")).to_contain_text(
        "„12345“ ist zu kurz für eine Handynummer."
    )
    expect(page.locator("#number-check")).not_to_contain_text("Festnetz")


def test_a_new_webhook_url_is_confirmed_first_and_can_be_copied(
    clipboard: Page, login, live_app
) -> None:
    page = clipboard
    login("admin")
    page.goto("/admin/jobs/1/settings")
    url = page.locator("#webhook-url")
    if not url.count():  # no secret yet: the first one needs no confirmation
        page.get_by_role("button", name="neu erzeugen").click()
    before = _webhook_secret(live_app)
    expect(url).to_contain_text(before)

    # Kopieren: the whole URL lands in the clipboard, the button's status says so.
    copy = page.locator('button[data-copy="#webhook-url"]')
    copy.click()
    expect(page.locator("#webhook-url-copy-state")).to_have_text("Kopiert")
    assert page.evaluate("navigator.clipboard.readText()") == url.inner_text().strip()

    # "neu erzeugen" asks first and says that the URL at websms must then be changed.
    questions: list[str] = []

    def dismiss(dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="neu erzeugen").click()
    assert len(questions) == 1 and "websms-Kundenportal" in questions[0]
    assert "Zustellberichte" in questions[0]
    expect(url).to_contain_text(before)
    assert _webhook_secret(live_app) == before

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="neu erzeugen").click()
    expect(page.locator("#flash")).to_contain_text("im websms-Kundenportal ein")
    after = _webhook_secret(live_app)
    assert after != before
    expect(page.locator("#webhook-url")).to_contain_text(after)


def test_a_new_api_token_can_be_copied(clipboard: Page, login) -> None:
    page = clipboard
    login("admin")
    page.goto("/admin/api-tokens")
    page.get_by_label("Name").fill(f"ERP {uuid.uuid4().hex[:6]}")
    page.get_by_label("Mandant").select_option(label=MANDANT)
    page.get_by_role("button", name="Anlegen").click()
    token = page.locator("#new-token")
    expect(token).to_contain_text("sms_")
    page.locator('button[data-copy="#new-token"]').click()
    expect(page.locator("#new-token-copy-state")).to_have_text("Kopiert")
    assert page.evaluate("navigator.clipboard.readText()") == token.inner_text().strip()


def test_sperren_of_an_api_token_asks_first(page: Page, login, live_app) -> None:
    name = f"Sperrtest {uuid.uuid4().hex[:6]}"
    login("admin")
    page.goto("/admin/api-tokens")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Mandant").select_option(label=MANDANT)
    page.get_by_role("button", name="Anlegen").click()
    row = page.locator("tbody tr", has_text=name)
    expect(row).to_contain_text("Aktiv")

    questions: list[str] = []

    def dismiss(dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row.get_by_role("button", name="Sperren").click()
    assert len(questions) == 1 and name in questions[0]
    expect(row).to_contain_text("Aktiv")
    assert _token_active(live_app, name)

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Sperren").click()
    expect(page.locator("#flash")).to_contain_text(f"API-Zugang {name} wurde gesperrt.")
    expect(page.locator("tbody tr", has_text=name)).to_contain_text("Gesperrt")
    assert not _token_active(live_app, name)


def _token_active(live_app: Flask, name: str) -> bool:
    with live_app.app_context():
        token = db.session.scalar(select(ApiToken).where(ApiToken.name == name))
        active = bool(token.active)
        db.session.remove()
    return active


@pytest.fixture
def service_off(live_app: Flask) -> Iterator[None]:
    def switch(value: str) -> None:
        with live_app.app_context():
            set_global(db.session, GlobalNumber.SMS_SERVICE_AVAILABLE, value, "e2e")
            db.session.commit()
            db.session.remove()

    switch("0")
    yield
    switch("1")


def test_while_the_service_is_off_the_admin_is_shown_where_to_switch_it_on(
    page: Page, login, service_off
) -> None:
    login("admin")
    nav = header_nav(page)
    expect(nav.get_by_role("link", name="SMS senden")).to_have_count(0)
    hint = nav.locator("#nav-service-off")
    expect(hint).to_have_text("SMS-Service aus – einschalten")
    hint.click()
    expect(page.get_by_role("heading", name="Globale Variablen")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/admin/globals/#global-1400$"))
    expect(page.locator("#service-off-hint")).to_contain_text("1400")
    row = page.locator("#global-1400")
    expect(row).to_be_visible()
    expect(row.locator("td").first).to_have_css("background-color", "rgb(254, 249, 195)")


def test_while_the_service_is_off_a_sender_learns_why_sms_senden_is_missing(
    page: Page, login, service_off
) -> None:
    login("sachbearbeiter")
    badge = header_nav(page).locator("#nav-service-off")
    expect(badge).to_have_text("SMS-Service aus")
    expect(badge).to_have_attribute("title", re.compile("1400"))
    expect(header_nav(page).get_by_role("link", name=re.compile("einschalten"))).to_have_count(0)


def test_the_history_of_a_person_has_the_sms_sent_to_its_number_through_neu(
    page: Page, login, live_app
) -> None:
    tag = uuid.uuid4().hex[:8]
    mobile = f"0664 {random.randint(2_000_000, 9_999_999)}"
    mandant_id = _mandant_id(live_app)
    with live_app.app_context():
        person = contacts.save_person(
            db.session,
            contacts.ContactInput(name=f"Verlauf {tag}", mandant_id=mandant_id, mobile=mobile),
        )
        db.session.commit()
        person_id = person.id
        db.session.remove()
    international = "+43 " + mobile[1:]
    _queue(live_app, mobile, f"Vom Datensatz {tag}", MessageSource.PERSON, str(person_id))
    _queue(live_app, international, f"Über Neu {tag}", MessageSource.MANUAL)
    _queue(live_app, "0664 1111111", f"An jemand anderen {tag}", MessageSource.MANUAL)
    login("sachbearbeiter")
    page.goto(f"/persons/{person_id}")
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(f"Über Neu {tag}")
    expect(rows.nth(1)).to_contain_text(f"Vom Datensatz {tag}")


def test_a_person_without_sms_says_none_were_sent_to_it(page: Page, login, live_app) -> None:
    mandant_id = _mandant_id(live_app)
    with live_app.app_context():
        person = contacts.save_person(
            db.session,
            contacts.ContactInput(name=f"Ohne SMS {uuid.uuid4().hex[:6]}", mandant_id=mandant_id),
        )
        db.session.commit()
        person_id = person.id
        db.session.remove()
    login("sachbearbeiter")
    page.goto(f"/persons/{person_id}")
    expect(page.locator("#sms-history")).to_contain_text(
        "An diese Person wurde noch keine SMS gesendet."
    )

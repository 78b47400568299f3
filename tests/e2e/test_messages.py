"""SMS Nachrichten in the browser: filter, Neu with the live counter, Erneut versenden."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.e2e.support import MANDANT, assert_not_reloaded, mark_page
from webapp.extensions import db
from webapp.models import Mandant, MessageSource, MessageStatus
from webapp.sms.outbox import queue_sms
from webapp.sms.settings import set_global


def _seed_messages(live_app, texts: list[str], status: MessageStatus | None = None) -> None:
    with live_app.app_context():
        mandant = db.session.scalar(select(Mandant).where(Mandant.name == MANDANT))
        for text in texts:
            message = queue_sms(
                db.session,
                recipient="0664 1234567",
                text=text,
                mandant_id=mandant.id,
                source=MessageSource.MANUAL,
            )
            if status:
                message.status = status
        db.session.commit()
        db.session.remove()


def test_filter_the_list_without_reload_and_back_button(page: Page, login, live_app):
    tag = uuid.uuid4().hex[:8]
    _seed_messages(live_app, [f"Heizung {tag}", f"Lift {tag}"])
    _seed_messages(live_app, [f"Kaputt {tag}"], MessageStatus.FAILED)
    login("sachbearbeiter")
    page.goto("/admin/sms/")
    mark_page(page)
    page.get_by_label("Text enthält").fill(tag)
    rows = page.locator("#messages tbody tr")
    expect(rows).to_have_count(3)
    page.get_by_label("Status").select_option("failed")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"Kaputt {tag}")
    expect(rows.first.locator(".status")).to_have_text("Fehler")
    expect(page).to_have_url(re.compile(r"status=failed"))
    assert_not_reloaded(page)
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"status=failed"))


def test_new_sms_with_live_counter_and_unicode_switch(page: Page, login, live_app):
    with live_app.app_context():  # other tests may have set a fixed text (global 1402)
        set_global(db.session, 1402, "", "test")
        db.session.commit()
        db.session.remove()
    login("sachbearbeiter")
    page.goto("/admin/sms/")
    page.get_by_role("button", name="Neu", exact=True).click()
    page.get_by_label("Mobilfunknummer").fill("0664 123 45 67")
    expect(page.locator("#number-check")).to_contain_text("+43 664 1234567")
    text = page.get_by_label("SMS-Text", exact=True)
    counter = page.locator("#sms-counter")
    text.fill("x" * 160)
    expect(counter).to_contain_text("160 / 160 Zeichen")
    expect(counter).to_contain_text("1 SMS")
    text.press("End")
    text.type("y")
    expect(counter).to_contain_text("161 / 306 Zeichen")
    expect(counter).to_contain_text("2 SMS")
    text.fill("Schönen Tag 😀")
    expect(counter).to_contain_text("Unicode")
    expect(counter).to_contain_text("wegen 😀")
    page.get_by_role("button", name="Speichern").click()
    expect(page.get_by_text("SMS wurde in die Versandliste aufgenommen.")).to_be_visible()
    expect(page.locator("#messages tbody tr").first).to_contain_text("Schönen Tag")


def test_new_sms_with_a_landline_warns_while_typing(page: Page, login):
    login("sachbearbeiter")
    page.goto("/admin/sms/new")
    page.get_by_label("Mobilfunknummer").fill("01 5880 0")
    expect(page.locator("#number-check")).to_contain_text("Festnetznummer")


def test_resend_two_rows(page: Page, login, live_app):
    tag = uuid.uuid4().hex[:8]
    _seed_messages(live_app, [f"Eins {tag}", f"Zwei {tag}"], MessageStatus.FAILED)
    login("sachbearbeiter")
    page.goto(f"/admin/sms/?text={tag}")
    rows = page.locator("#messages tbody tr")
    expect(rows).to_have_count(2)
    rows.nth(0).get_by_role("checkbox").check()
    rows.nth(1).get_by_role("checkbox").check()
    page.get_by_role("button", name="Erneut versenden").click()
    expect(page.get_by_text("2 SMS wurden kopiert")).to_be_visible()
    expect(rows).to_have_count(4)
    expect(rows.nth(0).locator(".status")).to_have_text("Wartet auf Versand")
    expect(rows.nth(3).locator(".status")).to_have_text("Fehler")


def test_quick_form_from_the_navigation(page: Page, login):
    login("sachbearbeiter")
    page.goto("/admin/sms/")
    mark_page(page)
    page.locator("#nav-quicksend").click()
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Mobilfunknummer").fill("0676 7654321")
    dialog.get_by_label("SMS-Text", exact=True).fill("Bitte um Rückruf")
    expect(dialog.locator("#sms-counter")).to_contain_text("1 SMS")
    dialog.get_by_role("button", name="Senden").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("SMS wurde in die Versandliste aufgenommen.")).to_be_visible()
    assert_not_reloaded(page)
    page.reload()
    expect(page.locator("#messages tbody tr").first).to_contain_text("Bitte um Rückruf")


def test_quick_form_refuses_an_empty_text_in_the_dialog(page: Page, login):
    login("sachbearbeiter")
    page.locator("#nav-quicksend").click()
    dialog = page.locator("dialog#modal")
    dialog.get_by_label("Mobilfunknummer").fill("0676 7654321")
    dialog.get_by_role("button", name="Senden").click()
    expect(dialog.get_by_text("Bitte einen SMS-Text eingeben.")).to_be_visible()
    expect(dialog).to_be_visible()

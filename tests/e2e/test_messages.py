"""SMS Nachrichten in the browser: filter, Neu with the live counter, Erneut versenden."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from tests.e2e.support import (
    MANDANT,
    assert_not_reloaded,
    follow,
    mark_page,
    open_quick_form,
    set_filter,
)
from webapp.extensions import db
from webapp.models import Mandant, Message, MessageSource, MessageStatus, SmsText
from webapp.sms import contacts
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
    set_filter(page.get_by_label("Text enthält"), tag)
    rows = page.locator("#messages tbody tr")
    expect(rows).to_have_count(3)
    set_filter(page.get_by_label("Status"), "failed")
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
    follow(page.get_by_role("button", name="Erneut versenden", exact=True))
    expect(page.get_by_text("2 SMS wurden kopiert")).to_be_visible()
    expect(rows).to_have_count(4)
    expect(rows.nth(0).locator(".status")).to_have_text("Wartet auf Versand")
    expect(rows.nth(3).locator(".status")).to_have_text("Fehler")


def test_quick_form_from_the_navigation(page: Page, login):
    login("sachbearbeiter")
    page.goto("/admin/sms/")
    mark_page(page)
    dialog = open_quick_form(page)
    dialog.get_by_label("Mobilfunknummer").fill("0676 7654321")
    dialog.get_by_label("SMS-Text", exact=True).fill("Bitte um Rückruf")
    expect(dialog.locator("#quick-sms-counter")).to_contain_text("1 SMS")
    dialog.get_by_role("button", name="Senden").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("SMS wurde in die Versandliste aufgenommen.")).to_be_visible()
    assert_not_reloaded(page)
    page.reload()
    expect(page.locator("#messages tbody tr").first).to_contain_text("Bitte um Rückruf")


def test_quick_form_refuses_an_empty_text_in_the_dialog(page: Page, login):
    login("sachbearbeiter")
    dialog = open_quick_form(page)
    dialog.get_by_label("Mobilfunknummer").fill("0676 7654321")
    dialog.get_by_role("button", name="Senden").click()
    expect(dialog.get_by_text("Bitte einen SMS-Text eingeben.")).to_be_visible()
    expect(dialog).to_be_visible()


def test_quick_form_is_ready_as_soon_as_the_dialog_shows(page: Page, login):
    """A busy machine runs the page's timers late. The dialog used to show when htmx had swapped
    its content in but not yet wired it up (htmx does that when the swap settles, 20 ms later by
    a timer): Senden clicked at once sent the form as a plain page. With the timers stopped
    here, the dialog must still be ready the moment it shows."""
    page.clock.install()
    login("sachbearbeiter")
    page.clock.pause_at(page.evaluate("Date.now()") + 1_000)  # no timer runs from here on
    mark_page(page)
    page.locator("#nav-quicksend").click()
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Mobilfunknummer").fill("0676 7654321")
    dialog.get_by_role("button", name="Senden").click()
    expect(dialog.get_by_text("Bitte einen SMS-Text eingeben.")).to_be_visible()
    assert_not_reloaded(page)


# --- issue 12: placeholders, marks, the quick form's recipient and focus -------------------------


def _add_text(live_app, name: str, body: str, usage: str = "") -> None:
    with live_app.app_context():
        db.session.add(SmsText(name=name, usage_key=usage, body=body))
        db.session.commit()
        db.session.remove()


def _add_person(live_app, name: str, mobile: str) -> None:
    with live_app.app_context():
        mandant = db.session.scalar(select(Mandant).where(Mandant.name == MANDANT))
        contacts.save_person(
            db.session, contacts.ContactInput(name=name, mandant_id=mandant.id, mobile=mobile)
        )
        db.session.commit()
        db.session.remove()


def _no_fixed_text(live_app) -> None:
    with live_app.app_context():  # other tests may have set a fixed text (global 1402)
        set_global(db.session, 1402, "", "test")
        db.session.commit()
        db.session.remove()


def _count_messages(live_app, text: str) -> int:
    with live_app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(Message).where(Message.text.contains(text))
        )
        db.session.remove()
    return count


def test_quick_form_marks_and_refuses_placeholders_nobody_fills(page: Page, login, live_app):
    """Issue 12 point 8: the template "Auftrag an Kreditor" in SMS senden."""
    _no_fixed_text(live_app)
    name = f"Auftrag an Kreditor {uuid.uuid4().hex[:6]}"
    _add_text(live_app, name, "Auftrag {auftrag.nummer}: {auftrag.titel}", "auftrag_kreditor")
    login("sachbearbeiter")
    dialog = open_quick_form(page)
    dialog.get_by_label("Mobilfunknummer").fill("0676 7654321")
    dialog.get_by_label("SMS-Text als Vorlage").select_option(label=name)
    text = dialog.get_by_label("SMS-Text", exact=True)
    expect(text).to_have_value("Auftrag {auftrag.nummer}: {auftrag.titel}")
    problem = (
        "Die Platzhalter {auftrag.nummer}, {auftrag.titel} werden hier nicht ausgefüllt: "
        "bitte durch den gewünschten Text ersetzen."
    )
    expect(dialog.locator("#quick-sms-placeholders")).to_have_text(problem)
    expect(dialog.locator("#quick-sms-preview mark")).to_have_text(
        ["{auftrag.nummer}", "{auftrag.titel}"]
    )
    expect(text).to_have_attribute("aria-invalid", "true")

    dialog.get_by_role("button", name="Senden").click()
    expect(dialog.locator("#quick-text-error")).to_have_text(problem)
    expect(dialog).to_be_visible()
    assert _count_messages(live_app, "{auftrag.") == 0

    tag = uuid.uuid4().hex[:6]
    dialog.get_by_label("SMS-Text", exact=True).fill(f"Auftrag A-2026-0001: Dach {tag}")
    expect(dialog.locator("#quick-text-error")).to_have_count(0)
    expect(dialog.locator("#quick-sms-placeholders")).to_have_count(0)
    expect(dialog.locator("#quick-sms-preview .full-text")).to_have_text(
        f"Auftrag A-2026-0001: Dach {tag}"
    )
    expect(dialog.get_by_label("SMS-Text", exact=True)).not_to_have_attribute(
        "aria-invalid", re.compile(".*")
    )
    dialog.get_by_role("button", name="Senden").click()
    expect(dialog).to_be_hidden()
    assert _count_messages(live_app, tag) == 1


def test_number_and_text_marks_match_their_messages(page: Page, login):
    """Issue 12 point 9: valid → ✓ and aria-invalid=false; invalid → no ✓, aria-invalid=true;
    empty → no mark."""
    login("sachbearbeiter")
    page.goto("/admin/sms/new")
    number = page.get_by_label("Mobilfunknummer")
    check = page.locator("#number-check")
    no_mark = re.compile(".*")
    expect(check).to_be_empty()
    expect(number).not_to_have_attribute("aria-invalid", no_mark)

    number.fill("12345")
    expect(check.locator(".inline-error")).to_be_visible()
    expect(check.locator(".number-ok")).to_have_count(0)
    expect(number).to_have_attribute("aria-invalid", "true")

    number.fill("0664 123 45 67")
    expect(check.locator(".number-ok")).to_have_text("✓ +43 664 1234567")
    expect(number).to_have_attribute("aria-invalid", "false")

    number.fill("")
    expect(check).to_be_empty()
    expect(number).not_to_have_attribute("aria-invalid", no_mark)

    text = page.get_by_label("SMS-Text", exact=True)
    expect(page.locator("#sms-counter")).to_contain_text("0 / 160")
    expect(text).not_to_have_attribute("aria-invalid", no_mark)
    text.fill("x" * 1600)
    expect(page.locator("#sms-counter")).to_contain_text("Zu lang")
    expect(text).to_have_attribute("aria-invalid", "true")
    text.fill("Hallo")
    expect(page.locator("#sms-counter")).to_contain_text("5 / 160")
    expect(text).not_to_have_attribute("aria-invalid", no_mark)

    # A refusal of the server stays marked until the field is changed.
    number.fill("0664 123 45 67")
    text.fill("")
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator("#text-error")).to_have_text("Bitte einen SMS-Text eingeben.")
    text = page.get_by_label("SMS-Text", exact=True)
    expect(page.locator("#sms-counter")).to_contain_text("0 / 160")
    expect(text).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Mobilfunknummer")).to_have_attribute("aria-invalid", "false")
    text.fill("Hallo")
    expect(page.locator("#text-error")).to_have_count(0)
    expect(text).not_to_have_attribute("aria-invalid", no_mark)


def test_quick_form_starts_in_the_search_and_says_to_whom(page: Page, login, live_app):
    """Issue 12 point 13 (and point 8: a template is filled for the chosen person)."""
    _no_fixed_text(live_app)
    person = f"Erika Quick {uuid.uuid4().hex[:6]}"
    _add_person(live_app, person, "0664 7770001")
    template = f"Gruß {uuid.uuid4().hex[:6]}"
    _add_text(live_app, template, "Guten Tag {person.name}, bitte um Rückruf.")
    login("sachbearbeiter")
    dialog = open_quick_form(page)
    search = dialog.get_by_label("Person oder Firma suchen")
    expect(search).to_be_focused()
    expect(dialog.locator("#quicksend-to")).to_be_hidden()

    dialog.get_by_label("SMS-Text als Vorlage").select_option(label=template)
    text = dialog.get_by_label("SMS-Text", exact=True)
    expect(text).to_have_value("Guten Tag {person.name}, bitte um Rückruf.")
    search.fill(person)
    dialog.locator(".contact-pick", has_text=person).click()
    to = dialog.locator("#quicksend-to")
    expect(to).to_be_visible()
    expect(to).to_have_text(f"An: {person}, +43 664 7770001")
    expect(dialog.get_by_label("Mobilfunknummer")).to_have_value("0664 7770001")
    # The template loaded before is filled for the chosen person.
    expect(text).to_have_value(f"Guten Tag {person}, bitte um Rückruf.")
    expect(dialog.locator("#quick-sms-placeholders")).to_have_count(0)

    # Another number typed by hand: the SMS no longer goes to that person.
    dialog.get_by_label("Mobilfunknummer").fill("0676 1112223")
    expect(to).to_be_hidden()
    expect(dialog.locator("[name=record_id]")).to_have_value("")


def _duplicate_ids(page: Page) -> list[str]:
    return page.evaluate(
        """() => {
            const seen = {};
            for (const e of document.querySelectorAll("[id]")) seen[e.id] = (seen[e.id] || 0) + 1;
            return Object.keys(seen).filter((id) => seen[id] > 1);
        }"""
    )


def test_sms_senden_over_neu_checks_its_own_fields(page: Page, login, live_app):
    """SMS senden opened on top of Neu: the dialog's editor has ids of its own, so its labels,
    descriptions and live checks are its own and the page's fields stay as they were."""
    _no_fixed_text(live_app)
    login("sachbearbeiter")
    page.goto("/admin/sms/new")
    neu = page.locator("#sms-form")
    neu.get_by_label("Mobilfunknummer").fill("0664 1234567")
    neu.get_by_label("SMS-Text", exact=True).fill("Hallo")
    neu_check = neu.locator("#number-check")
    expect(neu_check).to_contain_text("+43 664 1234567")
    expect(neu.locator("#sms-counter")).to_contain_text("5 / 160")

    dialog = open_quick_form(page)
    assert _duplicate_ids(page) == []
    number = dialog.get_by_label("Mobilfunknummer")
    number.fill("12345")
    expect(dialog.get_by_text("„12345“ ist zu kurz für eine Handynummer.")).to_be_visible()
    expect(number).to_have_attribute("aria-invalid", "true")
    text = dialog.get_by_label("SMS-Text", exact=True)
    text.fill("Guten Morgen")
    expect(dialog.locator(".sms-counter")).to_contain_text("12 / 160")
    # What the dialog's fields are described by lies in the dialog.
    for field in (number, text):
        for described_by in (field.get_attribute("aria-describedby") or "").split():
            found = page.locator(f"#{described_by}")
            if found.count():
                expect(dialog.locator(f"#{described_by}")).to_have_count(1)
    expect(dialog.locator(f"#{number.get_attribute('aria-describedby')}")).to_contain_text(
        "zu kurz"
    )

    # The page's fields and checks are untouched.
    expect(neu.get_by_label("Mobilfunknummer")).to_have_value("0664 1234567")
    expect(neu.get_by_label("Mobilfunknummer")).to_have_attribute("aria-invalid", "false")
    expect(neu_check).to_contain_text("+43 664 1234567")
    expect(neu_check).not_to_contain_text("zu kurz")
    expect(neu.get_by_label("SMS-Text", exact=True)).to_have_value("Hallo")
    expect(neu.locator("#sms-counter")).to_contain_text("5 / 160")

    # A refusal of the server speaks at the dialog's own field, and goes when it is changed.
    number.fill("")
    dialog.get_by_role("button", name="Senden").click()
    error = dialog.locator(".field-error")
    expect(error).to_have_count(1)
    number = dialog.get_by_label("Mobilfunknummer")
    expect(number).to_have_attribute("aria-invalid", "true")
    expect(number).to_have_attribute("aria-describedby", re.compile(error.get_attribute("id")))
    assert _duplicate_ids(page) == []
    number.fill("0676 7654321")
    expect(error).to_have_count(0)
    expect(number).to_have_attribute("aria-invalid", "false")
    dialog.get_by_role("button", name="Senden").click()
    expect(dialog).to_be_hidden()
    assert _count_messages(live_app, "Guten Morgen") >= 1

    # Neu still checks its own fields.
    neu.get_by_label("Mobilfunknummer").fill("12345")
    expect(neu_check).to_contain_text("zu kurz")

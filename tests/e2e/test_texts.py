"""Smstexte: write a template with placeholders, live preview and counter, save, find it."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.e2e.support import assert_not_reloaded, mark_page


def test_create_a_template_with_live_preview_and_placeholder_picker(page: Page, login) -> None:
    name = f"Auftrag BN {uuid.uuid4().hex[:6]}"
    login("admin")
    page.goto("/admin/sms-texts/")
    page.get_by_role("button", name="Neu").click()
    expect(page.get_by_role("heading", name="Neuer SMS-Text")).to_be_visible()

    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Verwendung").select_option(label="Auftrag – Bestandsnehmer verständigen")
    picker = page.locator("#placeholder-list")
    # The list follows the usage: order placeholders, no ticket ones.
    expect(picker.locator('[data-insert="{ticket.nummer}"]')).to_have_count(0)
    expect(picker.get_by_role("button", name="{person.name}")).to_be_visible()

    body = page.get_by_label("Text", exact=True)
    body.fill("Guten Tag , Ihr Auftrag  kommt.")
    counter = page.locator("#text-counter")
    expect(counter).to_contain_text("31 / 160 Zeichen · 1 SMS · GSM")

    # A click inserts the placeholder where the cursor is.
    body.evaluate("el => el.setSelectionRange(10, 10)")
    picker.get_by_role("button", name="{person.name}").click()
    body.evaluate(
        "el => el.setSelectionRange(el.value.indexOf('  ') + 1, el.value.indexOf('  ') + 1)"
    )
    picker.get_by_role("button", name="{auftrag.nummer}").click()
    expect(body).to_have_value("Guten Tag {person.name}, Ihr Auftrag {auftrag.nummer} kommt.")

    # The preview fills the example values and counts the filled-in text.
    preview = page.locator("#text-preview-text")
    expect(preview).to_have_text("Guten Tag Maria Muster, Ihr Auftrag A-2026-0815 kommt.")
    expect(counter).to_contain_text("54 / 160 Zeichen · 1 SMS · GSM")

    # An emoji switches to Unicode and says why; an unknown placeholder is reported at once.
    body.press("End")
    body.press_sequentially(" 😀 {kunde.name}")
    expect(counter).to_contain_text("Unicode (wegen 😀)")
    expect(counter).to_contain_text("/ 70 Zeichen · 1 SMS")
    expect(page.locator("#text-problem")).to_contain_text("Unbekannte Platzhalter: {kunde.name}")

    # Saving with the unknown placeholder is refused next to the field; the input stays.
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator("#body-error")).to_contain_text("Unbekannte Platzhalter: {kunde.name}")
    expect(page.get_by_label("Text", exact=True)).to_have_value(
        "Guten Tag {person.name}, Ihr Auftrag {auftrag.nummer} kommt. 😀 {kunde.name}"
    )
    body = page.get_by_label("Text", exact=True)
    body.fill("Guten Tag {person.name}, Ihr Auftrag {auftrag.nummer} kommt. 😀")
    page.get_by_role("button", name="Speichern").click()

    expect(page).to_have_url(re.compile(r"/admin/sms-texts/$"))
    expect(page.locator("#flash")).to_contain_text(f"SMS-Text „{name}“ wurde gespeichert.")
    row = page.locator("#texts tbody tr", has_text=name)
    expect(row).to_contain_text("Auftrag – Bestandsnehmer verständigen")
    expect(row).to_contain_text("Guten Tag {person.name}")

    # Search: the table updates in place and the filter goes into the URL.
    mark_page(page)
    page.get_by_label("Name oder Text enthält").fill(name)
    expect(page).to_have_url(re.compile(r"q=Auftrag"))
    expect(page.locator("#texts tbody tr")).to_have_count(1)
    expect(page.locator(".row-count")).to_have_text("1 SMS-Text")
    # Sorting by a column header, then searching again keeps the order.
    page.locator("#texts thead").get_by_role("link", name="Geändert").click()
    expect(page).to_have_url(re.compile(r"sort=updated"))
    page.get_by_label("Name oder Text enthält").fill(name[:-1])
    expect(page).to_have_url(re.compile(r"q=Auftrag.*sort=updated|sort=updated.*q=Auftrag"))
    expect(page.locator("#texts thead th[aria-sort=ascending]")).to_contain_text("Geändert")
    assert_not_reloaded(page)

    # A double-click opens the text.
    page.locator("#texts tbody tr", has_text=name).dblclick()
    expect(page.get_by_role("heading", name=f"SMS-Text „{name}“")).to_be_visible()
    expect(page.locator("#text-counter")).to_contain_text("Unicode (wegen 😀)")

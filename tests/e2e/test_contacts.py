"""Personen and Firmen in the browser: create, search, open, edit, and the "SMS senden" action."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.e2e.support import MANDANT, assert_not_reloaded, mark_page, set_filter


def unique(prefix: str) -> str:
    # The live server's database lives for the whole session: never reuse a name.
    return f"{prefix} {uuid.uuid4().hex[:6]}"


def fill_record(page: Page, name: str, mobile: str = "", city: str = "Wien") -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Mobilnummer").fill(mobile)
    page.get_by_label("E-Mail").fill("e2e@example.at")
    page.get_by_label("Straße").fill("Gumpendorfer Straße 12")
    page.get_by_label("PLZ").fill("1060")
    page.get_by_label("Ort", exact=True).fill(city)


def test_person_with_mobile_number_can_be_found_opened_and_texted(page: Page, login) -> None:
    login("sachbearbeiter")
    page.goto("/persons")
    page.get_by_role("button", name="Neu").click()
    expect(page.get_by_role("heading", name="Neue Person")).to_be_visible()
    # The clerk has exactly one Mandant: it is preselected.
    expect(page.get_by_label("Mandant")).to_have_value(re.compile(r"^\d+$"))
    expect(page.get_by_label("Mandant").locator("option:checked")).to_have_text(MANDANT)

    name = unique("Maria Gruber")
    fill_record(page, name, mobile="0664 1234567")
    page.get_by_role("button", name="Speichern").click()
    expect(page.get_by_role("heading", name=f"Person {name}")).to_be_visible()
    expect(page.locator("#flash")).to_contain_text(f"Person {name} wurde gespeichert.")
    expect(page.locator('dd[data-field="mobile"]')).to_contain_text("+43 664 1234567")
    record_url = page.url

    # Find it through the Suchkriterien: the table updates in place, the URL keeps the filter.
    page.goto("/persons")
    mark_page(page)
    set_filter(page.get_by_label("Name enthält"), name)
    row = page.locator(f'#contacts tr[data-name="{name}"]')
    expect(row).to_be_visible()
    expect(page.locator("#contacts tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"[?&]name=Maria"))
    expect(row).to_contain_text("+43 664 1234567")
    assert_not_reloaded(page)
    page.get_by_label("Name enthält").fill("")
    page.get_by_label("Nummer enthält").fill("+43 664 123")
    expect(page).to_have_url(re.compile(r"number="))
    expect(row).to_be_visible()

    # Double-click opens the record, read-only, with the SMS action.
    row.dblclick()
    expect(page).to_have_url(record_url)
    expect(page.get_by_role("heading", name=f"Person {name}")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_count(0)
    action = page.locator("#main").get_by_role("button", name="SMS senden")
    expect(action).to_be_visible()
    expect(action).to_be_enabled()
    expect(action).to_have_attribute("href", re.compile(r"/sms/senden\?person=\d+$"))

    # Bearbeiten switches to edit mode in place; Speichern returns to the read-only view.
    mark_page(page)
    page.get_by_role("button", name="Bearbeiten").click()
    expect(page.get_by_label("Ort", exact=True)).to_have_value("Wien")
    expect(page).to_have_url(re.compile(r"/persons/\d+/edit$"))
    page.get_by_label("Ort", exact=True).fill("Wien-Mariahilf")
    # Abbrechen with unsaved changes asks first; dismissing keeps the edit mode and the input.
    questions: list[str] = []

    def dismiss(dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Abbrechen").click()
    expect(page.get_by_label("Ort", exact=True)).to_have_value("Wien-Mariahilf")
    assert questions == ["Die Änderungen sind noch nicht gespeichert. Trotzdem verlassen?"]
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator('dd[data-field="city"]')).to_have_text("Wien-Mariahilf")
    expect(page).to_have_url(record_url)
    assert_not_reloaded(page)


def test_company_without_mobile_number_shows_the_action_disabled(page: Page, login) -> None:
    login("sachbearbeiter")
    page.goto("/companies/new")
    name = unique("Dachdeckerei Bauer")
    fill_record(page, name, mobile="")
    page.get_by_role("button", name="Speichern").click()
    expect(page.get_by_role("heading", name=f"Firma {name}")).to_be_visible()
    action = page.locator("#sms-action")
    expect(action).to_be_disabled()
    expect(action).to_have_text("SMS senden")
    expect(action).to_have_attribute("title", "Keine Mobilnummer hinterlegt – SMS nicht möglich.")
    expect(page.locator("#sms-action-reason")).to_have_text(
        "Keine Mobilnummer hinterlegt – SMS nicht möglich."
    )
    expect(action).not_to_have_attribute("href", re.compile(".*"))


def test_landline_is_refused_next_to_the_field_and_the_input_stays(page: Page, login) -> None:
    login("admin")
    page.goto("/persons/new")
    name = unique("Festnetz")
    fill_record(page, name, mobile="01 5123456")
    page.get_by_label("Mandant").select_option(label=MANDANT)
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator("#mobile-error")).to_contain_text("ist eine Festnetznummer")
    expect(page.get_by_label("Mobilnummer")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name", exact=True)).to_have_value(name)
    expect(page.get_by_label("Mobilnummer")).to_have_value("01 5123456")

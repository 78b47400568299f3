"""Globale Variablen: inline editing with htmx (CSRF token from hx-headers), German errors."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.support import assert_not_reloaded, mark_page


def start_editing(page: Page, number: int):
    row = page.locator(f"#global-{number}")
    row.get_by_role("button", name="Bearbeiten").click()
    expect(row).to_have_class("editing")
    return row


def test_admin_edits_fixed_text_inline(page: Page, login) -> None:
    login("admin")
    page.goto("/admin/globals/")
    mark_page(page)
    row = start_editing(page, 1402)
    text = "Ihre Hausverwaltung Muster GmbH, Tel. 01 234 56"
    row.get_by_role("textbox", name="Wert").fill(text)
    row.get_by_role("button", name="Speichern").click()
    expect(row.locator(".global-value")).to_have_text(text)
    expect(row).not_to_have_class("editing")
    expect(row).to_contain_text("admin")  # geändert von
    expect(page.locator("#flash")).to_have_text("Globale Variable 1402 wurde gespeichert.")
    assert_not_reloaded(page)
    # Stored, not only shown.
    page.reload()
    expect(page.locator("#global-1402 .global-value")).to_have_text(text)


def test_cancel_restores_the_row(page: Page, login) -> None:
    login("admin")
    page.goto("/admin/globals/")
    mark_page(page)
    before = page.locator("#global-1539 .global-value").inner_text()
    row = start_editing(page, 1539)
    row.get_by_role("button", name="Abbrechen").click()
    expect(row).not_to_have_class("editing")
    expect(row.locator(".global-value")).to_have_text(before)
    assert_not_reloaded(page)


def test_invalid_email_shows_german_error_in_the_row(page: Page, login) -> None:
    login("admin")
    page.goto("/admin/globals/")
    mark_page(page)
    row = start_editing(page, 1401)
    value = row.get_by_role("textbox", name="Wert")
    value.fill("keine-adresse@")
    row.get_by_role("button", name="Speichern").click()
    expect(row.get_by_role("alert")).to_contain_text("Bitte eine gültige E-Mail-Adresse eingeben")
    expect(value).to_have_attribute("aria-invalid", "true")
    expect(value).to_have_value("keine-adresse@")  # what the user typed stays
    expect(row).to_have_class("editing")
    # Corrected, it is saved (and normalised).
    value.fill("sms-fehler@Hausverwaltung.AT")
    row.get_by_role("button", name="Speichern").click()
    expect(row.locator(".global-value")).to_have_text("sms-fehler@hausverwaltung.at")
    expect(row.get_by_role("alert")).to_have_count(0)
    assert_not_reloaded(page)

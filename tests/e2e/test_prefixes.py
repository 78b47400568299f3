"""Konfigurationstabelle 93001 SMS_HANDYVORWAHLEN for a user with permission 101024 only."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.support import assert_not_reloaded, mark_page


def test_add_duplicate_and_delete_a_prefix(page: Page, login) -> None:
    login("vorwahlen")
    page.goto("/admin/config/93001")
    mark_page(page)
    table = page.locator("#prefixes")
    rows_before = table.locator("tbody tr").count()
    prefix_input = page.get_by_label("Vorwahl", exact=True)

    # Add: any common notation is accepted and stored as digits.
    prefix_input.fill("+43 676 12")
    page.get_by_label("Beschreibung", exact=True).fill("E2E Testvorwahl")
    page.get_by_role("button", name="Hinzufügen").click()
    added = table.locator('tr[data-prefix="4367612"]')
    expect(added).to_be_visible()
    expect(added).to_contain_text("+43 67612")
    expect(added).to_contain_text("E2E Testvorwahl")
    expect(table.locator("tbody tr")).to_have_count(rows_before + 1)
    expect(page.locator("#flash")).to_contain_text("Vorwahl +43 67612 wurde hinzugefügt.")
    expect(page.get_by_label("Vorwahl", exact=True)).to_have_value("")

    # Duplicate: refused with a German message, the entry stays in the field.
    page.get_by_label("Vorwahl", exact=True).fill("43664")
    page.get_by_role("button", name="Hinzufügen").click()
    expect(page.locator("#prefix-error")).to_contain_text("ist bereits eingetragen")
    expect(page.get_by_label("Vorwahl", exact=True)).to_have_value("43664")
    expect(page.get_by_label("Vorwahl", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(table.locator("tbody tr")).to_have_count(rows_before + 1)

    # Delete after confirming the browser dialog.
    messages: list[str] = []

    def accept(dialog) -> None:
        messages.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    added.get_by_role("button", name="Löschen").click()
    expect(added).to_have_count(0)
    expect(table.locator("tbody tr")).to_have_count(rows_before)
    expect(page.locator("#flash")).to_contain_text("Vorwahl +43 67612 wurde gelöscht.")
    assert messages == ["Vorwahl +43 67612 wirklich löschen?"]
    assert_not_reloaded(page)

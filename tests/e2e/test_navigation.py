"""The navigation shows exactly what the user may open; other pages answer 403."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import MANDANT, expect_start_page, header_nav, open_dropdown

ADMIN_ENTRIES = [
    "SMS Nachrichten",
    "Serien-SMS",
    "Empfangene SMS",
    "Smstexte",
    "Job Liste",
    "Globale Variablen",
    "Konfigurationstabellen",
    "Benutzer",
    "Rollen",
    "Mandanten",
    "API-Zugänge",
]


def quick_entries(page: Page):
    """The top-level links of the header navigation next to the dropdowns ("SMS senden")."""
    return header_nav(page).locator("a.nav-quick")


def test_admin_sees_every_existing_dialog(page: Page, login) -> None:
    login("admin")
    expect(quick_entries(page)).to_have_text(["SMS senden"])
    menu = open_dropdown(page, "Administration")
    links = menu.get_by_role("link")
    # Exactly these, in this order: dialogs of later issues have no view yet and stay hidden
    # even for administrators.
    expect(links).to_have_text(ADMIN_ENTRIES)
    for label in ADMIN_ENTRIES:
        expect(menu.get_by_role("link", name=label, exact=True)).to_be_visible()
    menu.get_by_role("link", name="Globale Variablen").click()
    expect(page.get_by_role("heading", name="Globale Variablen")).to_be_visible()


def test_clerk_sees_sms_senden_and_sms_nachrichten_only(page: Page, login) -> None:
    login("sachbearbeiter")
    nav = header_nav(page)
    expect(quick_entries(page)).to_have_text(["SMS senden"])
    menu = open_dropdown(page, "Administration")
    expect(menu.get_by_role("link")).to_have_text(
        ["SMS Nachrichten", "Serien-SMS", "Empfangene SMS"]
    )
    menu.locator("summary").click()  # close it again: an open dropdown covers the page
    for label in ["Globale Variablen", "Benutzer", "Rollen", "Konfigurationstabellen"]:
        expect(nav.get_by_role("link", name=label, exact=True)).to_have_count(0)
    expect(nav.locator(".mandanten")).to_have_text(MANDANT)
    quick_entries(page).click()
    expect(page.get_by_role("heading", name="SMS senden")).to_be_visible()


def test_prefix_editor_sees_only_the_configuration_tables(page: Page, login) -> None:
    login("vorwahlen")
    expect(quick_entries(page)).to_have_count(0)
    expect(header_nav(page).get_by_role("link", name="SMS senden")).to_have_count(0)
    menu = open_dropdown(page, "Administration")
    expect(menu.get_by_role("link")).to_have_text(["Konfigurationstabellen"])
    menu.get_by_role("link", name="Konfigurationstabellen").click()
    expect(page.get_by_role("heading", name="Konfigurationstabellen")).to_be_visible()
    page.get_by_role("link", name="SMS_HANDYVORWAHLEN").click()
    expect(page.get_by_role("heading", name="93001 SMS_HANDYVORWAHLEN")).to_be_visible()


@pytest.mark.parametrize(
    ("username", "path", "missing"),
    [
        ("sachbearbeiter", "/admin/globals/", "Diese Seite ist Administratoren vorbehalten."),
        (
            "sachbearbeiter",
            "/admin/config/93001",
            "Ihnen fehlt die Berechtigung 101024 „SMS_HANDYVORWAHLEN (Konfigurationstabelle)“.",
        ),
        (
            "vorwahlen",
            "/sms/senden",
            "Ihnen fehlt die Berechtigung 298004 „SMS_senden (Hauptmenü)“.",
        ),
        ("vorwahlen", "/admin/users", "Diese Seite ist Administratoren vorbehalten."),
    ],
)
def test_forbidden_page_names_the_missing_permission(
    page: Page, login, username, path, missing
) -> None:
    login(username)
    response = page.goto(path)
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Keine Berechtigung")).to_be_visible()
    expect(page.locator("#refusal-reason")).to_have_text(missing)
    expect(
        page.get_by_text("Berechtigungen vergibt die Administration über Rollen")
    ).to_be_visible()
    page.get_by_role("link", name="Zur Startseite").click()
    expect_start_page(page)

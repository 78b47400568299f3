"""Benutzer and Rollen dialogs of the administrator (real forms with CSRF tokens)."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Browser, Page, expect

from tests.conftest import PASSWORD
from tests.e2e.support import CLERK_ROLE, MANDANT, expect_start_page, header_nav, submit_login


def unique(prefix: str) -> str:
    # The live server's database lives for the whole session: never reuse a name.
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_admin_creates_user_with_role_and_mandant(
    page: Page, login, browser: Browser, base_url: str
) -> None:
    login("admin")
    page.goto("/admin/users")
    page.get_by_role("button", name="Neu").click()
    expect(page.get_by_role("heading", name="Neuer Benutzer")).to_be_visible()

    username = unique("berta")
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Anzeigename").fill("Berta Beispiel")
    page.get_by_label("E-Mail").fill(f"{username}@example.at")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("group", name="Rollen").get_by_role("checkbox", name=CLERK_ROLE).check()
    page.get_by_role("group", name="Mandanten").get_by_role("checkbox", name=MANDANT).check()
    page.get_by_role("button", name="Speichern").click()

    expect(page).to_have_url(re.compile(r"/admin/users$"))
    expect(page.get_by_text(f"Benutzer {username} wurde gespeichert.")).to_be_visible()
    row = page.locator(f'tr[data-user="{username}"]')
    expect(row).to_contain_text("Berta Beispiel")
    expect(row).to_contain_text(CLERK_ROLE)
    expect(row).to_contain_text(MANDANT)
    expect(row).to_contain_text("Aktiv")

    # The new user can log in (own browser context) and gets what the role grants.
    context = browser.new_context(base_url=base_url)
    try:
        other = context.new_page()
        submit_login(other, username)
        expect_start_page(other, "Berta Beispiel")
        expect(header_nav(other).get_by_role("link", name="SMS senden")).to_be_visible()
        expect(header_nav(other).locator(".mandanten")).to_have_text(MANDANT)
    finally:
        context.close()


def test_user_form_errors_are_german_and_keep_the_input(page: Page, login) -> None:
    login("admin")
    page.goto("/admin/users/new")
    page.get_by_label("Benutzername").fill("admin")
    page.get_by_label("Anzeigename").fill("Zweiter Admin")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Speichern").click()
    expect(page.get_by_text("Den Benutzernamen admin gibt es bereits.")).to_be_visible()
    expect(page.get_by_label("Anzeigename")).to_have_value("Zweiter Admin")


def test_admin_creates_role_with_sms_send(page: Page, login) -> None:
    login("admin")
    page.goto("/admin/roles")
    page.get_by_role("button", name="Neu").click()
    expect(page.get_by_role("heading", name="Neue Rolle")).to_be_visible()

    name = unique("Schnellversand")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Beschreibung").fill("Darf SMS senden")
    permissions = page.get_by_role("group", name="Berechtigungen")
    permissions.get_by_role("checkbox", name=re.compile(r"^298004 ")).check()
    page.get_by_role("button", name="Speichern").click()

    expect(page).to_have_url(re.compile(r"/admin/roles$"))
    expect(page.get_by_text(f"Rolle {name} wurde gespeichert.")).to_be_visible()
    row = page.locator(f'tr[data-role="{name}"]')
    expect(row).to_contain_text("Darf SMS senden")
    expect(row).to_contain_text("298004 SMS_senden (Hauptmenü)")
    expect(row).not_to_contain_text("1669")

    # Reopened, the permission is still ticked.
    row.get_by_role("link", name="Öffnen").click()
    expect(page.get_by_role("heading", name=f"Rolle {name}")).to_be_visible()
    expect(
        page.get_by_role("group", name="Berechtigungen").get_by_role(
            "checkbox", name=re.compile(r"^298004 ")
        )
    ).to_be_checked()

"""Anmelden and Abmelden in the browser (CSRF on: the real form token is used)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.conftest import PASSWORD
from tests.e2e.support import DISPLAY_NAMES, dropdown, submit_login


def test_login_opens_the_start_page(page: Page) -> None:
    submit_login(page, "admin")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Übersicht")).to_be_visible()
    expect(dropdown(page, "user").locator("summary")).to_have_text(DISPLAY_NAMES["admin"])


def test_login_with_wrong_password_says_so(page: Page) -> None:
    submit_login(page, "sachbearbeiter", "ganz-falsch-123")
    expect(page.get_by_text("Benutzername oder Passwort ist falsch.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("heading", name="Übersicht")).to_have_count(0)
    # The user name stays filled in, the password does not.
    expect(page.get_by_label("Benutzername", exact=True)).to_have_value("sachbearbeiter")
    expect(page.get_by_label("Passwort")).to_have_value("")


def test_login_page_follows_next_after_login(page: Page) -> None:
    page.goto("/admin/globals/")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)admin(/|%2F)globals(/|%2F)$"))
    expect(page.get_by_text("Bitte melden Sie sich an, um diese Seite zu öffnen.")).to_be_visible()
    page.get_by_label("Benutzername", exact=True).fill("admin")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page).to_have_url(re.compile(r"/admin/globals/$"))
    expect(page.get_by_role("heading", name="Globale Variablen")).to_be_visible()


def test_logout_via_user_menu(page: Page, login) -> None:
    login("sachbearbeiter")
    menu = dropdown(page, "user")
    menu.locator("summary").click()
    logout = page.locator("#logout-button")
    expect(logout).to_be_visible()
    expect(logout).to_have_text("Abmelden")
    logout.click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_text("Sie wurden abgemeldet.")).to_be_visible()
    expect(page.get_by_role("button", name="Anmelden")).to_be_visible()
    # The session is gone: the start page sends back to the login form.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)$"))
    expect(page.get_by_label("Benutzername", exact=True)).to_be_visible()


def test_live_status_polls_do_not_count_as_activity(page: Page, login, live_app) -> None:
    """The browser marks the requests htmx makes by itself (X-Background-Poll), so a list
    left open does not keep an idle session alive."""
    import uuid

    from webapp.extensions import db
    from webapp.models import Mandant, MessageSource
    from webapp.sms.outbox import queue_sms

    tag = uuid.uuid4().hex[:8]
    with live_app.app_context():
        mandant = Mandant(name=f"Poll {tag}")  # its own: the browser tests share the database
        db.session.add(mandant)
        db.session.flush()
        queue_sms(
            db.session,
            recipient="0664 1234567",
            text=f"Poll {tag}",
            mandant_id=mandant.id,
            source=MessageSource.MANUAL,
        )
        db.session.commit()
        db.session.remove()
    login("admin")
    page.goto(f"/admin/sms/?text={tag}")
    with page.expect_request(lambda r: "/admin/sms/live" in r.url, timeout=15_000) as poll:
        pass
    assert poll.value.headers.get("x-background-poll") == "1"

"""Seed data and page helpers shared by the browser tests."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Locator, Page, Response, expect
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD
from webapp.models import Mandant, Role, User
from webapp.permissions import Permission
from webapp.sms.settings import GlobalNumber, set_global

MANDANT = "Hausverwaltung Wien"
CLERK_ROLE = "Sachbearbeitung"
PREFIX_ROLE = "Vorwahlenpflege"

# username -> display name (what the user menu shows)
DISPLAY_NAMES = {
    "admin": "Anna Admin",
    "sachbearbeiter": "Sepp Sachbearbeiter",
    "vorwahlen": "Vera Vorwahl",
}


def seed(session: Session) -> None:
    """The three users of the browser tests, and the SMS service switched on (global 1400)."""
    mandant = Mandant(name=MANDANT)
    clerk_role = Role(name=CLERK_ROLE)
    clerk_role.permissions = {int(Permission.SMS_SEND), int(Permission.SMS_MESSAGES)}
    prefix_role = Role(name=PREFIX_ROLE)
    prefix_role.permissions = {int(Permission.MOBILE_PREFIXES)}
    accounts = [
        ("admin", True, [], []),
        ("sachbearbeiter", False, [clerk_role], [mandant]),
        ("vorwahlen", False, [prefix_role], []),
    ]
    for username, is_admin, roles, mandanten in accounts:
        user = User(
            username=username,
            display_name=DISPLAY_NAMES[username],
            is_administrator=is_admin,
            active=True,
            roles=roles,
            mandanten=mandanten,
        )
        user.set_password(PASSWORD)
        session.add(user)
    set_global(session, GlobalNumber.SMS_SERVICE_AVAILABLE, "1", "test")
    session.commit()


def submit_login(page: Page, username: str, password: str = PASSWORD) -> None:
    """Fill and send the real login form."""
    page.goto("/login")
    page.get_by_label("Benutzername", exact=True).fill(username)
    page.get_by_label("Passwort").fill(password)
    page.get_by_role("button", name="Anmelden").click()


def log_in(page: Page, username: str, password: str = PASSWORD) -> Page:
    """Log in through the form and wait for the start page."""
    submit_login(page, username, password)
    expect_start_page(page, DISPLAY_NAMES[username])
    # The heading shows before htmx has taken over the links: a click then would be a plain
    # page load (seen under load), not the dialog the tests expect.
    page.wait_for_load_state("load")
    return page


# The start page: the Übersicht with permission 1669, else Meine SMS (either language).
START_HEADING = re.compile(r"^(Übersicht|Overview|Meine SMS|My SMS)$")


def expect_start_page(page: Page, display_name: str | None = None) -> None:
    """The start page is shown (to the user `display_name`, when given)."""
    expect(page.locator("h1").first).to_have_text(START_HEADING)
    if display_name is not None:
        expect(dropdown(page, "user").locator("summary")).to_have_text(display_name)


def header_nav(page: Page) -> Locator:
    return page.locator("header nav")


def dropdown(page: Page, name: str) -> Locator:
    """A <details class="dropdown"> of the header navigation by its label."""
    return header_nav(page).locator(f'details.dropdown[data-menu="{name}"]')


def open_dropdown(page: Page, name: str) -> Locator:
    menu = dropdown(page, name)
    menu.locator("summary").click()
    expect(menu).to_have_attribute("open", "")
    return menu


def mark_page(page: Page) -> None:
    """Tag the current document; `assert_not_reloaded` then proves an htmx swap, not a load."""
    page.evaluate("window.__e2eNoReload = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__e2eNoReload === true"), "the page was reloaded"


# --- waiting for the page, not for time ----------------------------------------------------------
# On a busy machine (CI: 2 cores) the browser lags behind the test: a click or a keystroke sent
# before the page is ready goes past htmx. These helpers wait for the condition that matters.

# htmx marks its work with classes: a request in flight, a swap, content not yet settled.
HTMX_BUSY = ".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added"


def wait_for_htmx(page: Page) -> None:
    """Wait until htmx is idle: no request in flight, every swap settled (its content wired)."""
    expect(page.locator(HTMX_BUSY)).to_have_count(0)


def follow(target: Locator) -> None:
    """Click a link or submit button that loads another page, and wait until that page has
    loaded: htmx takes over its content at DOMContentLoaded, and a filter typed or a link
    clicked before would be a plain input or a page load."""
    with target.page.expect_navigation(wait_until="load"):
        target.click()


def set_filter(field: Locator, value: str) -> None:
    """Type `value` into (or choose it in) a filter of a list's Suchkriterien, and wait until
    the list shows the answer. The search asks after a pause (`delay:400ms`): a row ticked or a
    count taken before is of the list the answer then replaces."""
    page = field.page
    name = field.get_attribute("name")
    form = field.locator("xpath=ancestor::form[1]")
    path = urlsplit(form.get_attribute("hx-get") or form.get_attribute("action") or "").path

    def answers(response: Response) -> bool:
        url = urlsplit(response.url)
        query = parse_qs(url.query, keep_blank_values=True)
        return url.path == path and query.get(name or "") == [value]

    with page.expect_response(answers):
        if field.evaluate("element => element.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    wait_for_htmx(page)


def open_quick_form(page: Page) -> Locator:
    """SMS senden from the navigation: the dialog, open and ready for input."""
    page.locator("#nav-quicksend").click()
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    wait_for_htmx(page)
    return dialog

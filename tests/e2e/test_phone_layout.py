"""Every page on a phone (390 px wide): no horizontal page scroll, the navigation behind "Menü",
lists as stacked rows with the SMS status always in view; on a desktop the header stays as it
was (issue 12 point 17)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import select

from tests.e2e.support import DISPLAY_NAMES, MANDANT, dropdown, expect_start_page, header_nav
from webapp.extensions import db
from webapp.models import Company, Mandant, MessageSource, MessageStatus, Person, ReceivedMessage
from webapp.sms.contacts import ContactInput, save_contact
from webapp.sms.orders import OrderInput, save_order
from webapp.sms.outbox import queue_sms

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

# The pages of the manual a user reaches from the menu (the job's tabs are checked on their own).
PAGES = [
    "/",
    "/admin/sms/",
    "/admin/sms/new",
    "/admin/sms/inbox",
    "/persons",
    "/persons/new",
    "/companies",
    "/orders",
    "/orders/new",
    "/tickets",
    "/sms/senden",
    "/sms/meine/",
    "/admin/jobs/",
    "/admin/globals/",
    "/admin/config/",
    "/admin/config/93001",
    "/admin/sms-texts/",
    "/admin/sms-texts/new",
    "/admin/users",
    "/admin/users/new",
    "/admin/roles",
    "/admin/roles/new",
    "/admin/mandanten",
    "/admin/api-tokens",
]


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """Every test of this module starts on a phone-sized screen."""
    return {**browser_context_args, "viewport": PHONE, "is_mobile": True, "has_touch": True}


def page_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def width_if_too_wide(page: Page) -> int | None:
    """None when the page has no horizontal scroll, else its width. Waits (bounded) for app.js
    to have laid out the lists."""
    page.wait_for_load_state("load")
    try:
        page.wait_for_function(
            f"document.documentElement.scrollWidth <= {PHONE['width']}", timeout=3_000
        )
    except PlaywrightTimeout:
        return page_width(page)
    return None


def assert_fits(page: Page, what: str) -> None:
    width = width_if_too_wide(page)
    assert width is None, f"{what}: the page is {width} px wide on a {PHONE['width']} px screen"


def assert_in_viewport(locator: Locator) -> None:
    """Visible and horizontally inside the phone's screen."""
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box


def menu_button(page: Page) -> Locator:
    return page.get_by_role("button", name="Menü")


def open_menu(page: Page) -> None:
    button = menu_button(page)
    expect(button).to_have_attribute("aria-expanded", "false")
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")


def _mandant_id(session) -> int:
    return session.scalar(select(Mandant.id).where(Mandant.name == MANDANT))


def _seed_rows(live_app, tag: str) -> None:
    """One SMS in each status, a received SMS, a Person, a Firma and an Auftrag with long texts."""
    with live_app.app_context():
        session = db.session
        mandant = _mandant_id(session)
        for status in MessageStatus:
            message = queue_sms(
                session,
                recipient="0664 1234567",
                text=f"{tag} Sehr geehrte Damen und Herren, morgen wird das Wasser abgedreht.",
                mandant_id=mandant,
                source=MessageSource.MANUAL,
            )
            message.status = status
        session.add(
            ReceivedMessage(
                transport="websms",
                sender="+436641234567",
                text=f"{tag} Danke, passt so.",
                mandant_id=mandant,
            )
        )
        person = save_contact(
            session,
            Person,
            ContactInput(
                name=f"Maria Gruber-Oberhuber {tag}",
                mandant_id=mandant,
                mobile="0664 1234567",
                email=f"maria.gruber-oberhuber.{tag}@hausverwaltung-beispiel.example.at",
                street="Gumpendorfer Straße 120/4/12",
                postal_code="1060",
                city="Wien",
            ),
        )
        creditor = save_contact(
            session, Company, ContactInput(name=f"Installateur {tag}", mandant_id=mandant)
        )
        session.flush()
        save_order(
            session,
            OrderInput(
                mandant_id=mandant,
                title=f"Wasserrohrbruch im Keller {tag}",
                address="Gumpendorfer Straße 120, 1060 Wien",
                creditor_id=creditor.id,
                resident_id=person.id,
            ),
        )
        session.commit()
        db.session.remove()


def test_the_login_page_fits_a_phone(page: Page) -> None:
    page.goto("/login")
    assert_fits(page, "/login")
    expect(menu_button(page)).to_have_count(0)  # nothing to open before the login
    assert_in_viewport(page.get_by_role("button", name="Anmelden"))


def test_the_menu_opens_and_reaches_every_entry_logout_and_the_language(page: Page, login) -> None:
    login("admin")
    nav = header_nav(page)
    assert_fits(page, "start page")
    # Closed: only the brand and the button; nothing of the menu sticks out of the screen.
    assert_in_viewport(menu_button(page))
    expect(menu_button(page)).to_have_attribute("aria-controls", "nav-menu")
    expect(nav.get_by_role("link", name="Personen")).to_be_hidden()
    expect(dropdown(page, "user")).to_be_hidden()

    open_menu(page)
    assert_fits(page, "start page with the menu open")
    for name in ["SMS senden", "Meine SMS", "Personen", "Firmen", "Aufträge", "Tickets"]:
        assert_in_viewport(nav.get_by_role("link", name=name, exact=True))
    admin = dropdown(page, "Administration")
    admin.locator("summary").click()
    for name in ["SMS Nachrichten", "Globale Variablen", "API-Zugänge"]:
        assert_in_viewport(admin.get_by_role("link", name=name, exact=True))
    user = dropdown(page, "user")
    assert_in_viewport(user.locator("summary"))
    expect(user.locator("summary")).to_have_text(DISPLAY_NAMES["admin"])
    user.locator("summary").click()
    assert_in_viewport(user.get_by_role("button", name="Abmelden"))
    assert_in_viewport(user.get_by_role("button", name="English"))
    assert_fits(page, "start page with every part of the menu open")

    # The language switch works from there; the page comes back with the menu closed.
    user.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    button = page.get_by_role("button", name="Menu")
    expect(button).to_have_attribute("aria-expanded", "false")
    button.click()
    dropdown(page, "user").locator("summary").click()
    dropdown(page, "user").get_by_role("button", name="Deutsch").click()
    expect_start_page(page)

    open_menu(page)
    dropdown(page, "user").locator("summary").click()
    dropdown(page, "user").get_by_role("button", name="Abmelden").click()
    expect(page.get_by_role("button", name="Anmelden")).to_be_visible()


def test_the_menu_works_with_the_keyboard(page: Page, login) -> None:
    login("sachbearbeiter")
    button = menu_button(page)
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Tab")
    expect(page.locator("#nav-quicksend")).to_be_focused()
    # Escape closes the menu from inside it and gives the focus back to the button.
    page.keyboard.press("Escape")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()
    expect(page.locator("#nav-quicksend")).to_be_hidden()
    page.keyboard.press("Space")
    expect(button).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Space")
    expect(button).to_have_attribute("aria-expanded", "false")


def test_every_main_page_fits_a_phone(page: Page, login, live_app) -> None:
    _seed_rows(live_app, uuid.uuid4().hex[:8])
    login("admin")
    too_wide = {}
    for path in PAGES:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        width = width_if_too_wide(page)
        if width is not None:  # collect every page that is too wide, then fail once
            too_wide[path] = width
        expect(page.locator("h1")).to_be_visible()
    assert too_wide == {}, f"pages wider than {PHONE['width']} px: {too_wide}"


def test_the_sms_list_shows_each_rows_status_on_the_screen(page: Page, login, live_app) -> None:
    tag = uuid.uuid4().hex[:8]
    _seed_rows(live_app, tag)
    login("sachbearbeiter")
    page.goto(f"/admin/sms/?text={tag}")
    rows = page.locator("#messages tbody tr")
    expect(rows).to_have_count(len(MessageStatus))
    assert_fits(page, "SMS Nachrichten")
    for row in rows.all():
        assert_in_viewport(row.locator(".status"))
        # Each value is named by its column, as the header row is not shown.
        expect(row.locator('td[data-label="Status"] .status')).to_have_count(1)
        assert_in_viewport(row.locator('input[name="ids"]'))
    # "Alle auf dieser Seite auswählen" stays usable.
    select_all = page.get_by_label("Alle auf dieser Seite auswählen")
    assert_in_viewport(select_all)
    select_all.check()
    expect(page.locator('#messages input[name="ids"]:checked')).to_have_count(len(MessageStatus))

    # The status details open in place, inside the screen.
    rows.first.locator(".status").click()
    assert_in_viewport(rows.first.locator(".status-more"))
    assert_fits(page, "SMS Nachrichten with a status opened")

    # A search swaps the list through htmx: the new rows are stacked and labelled too.
    page.get_by_label("Status").select_option("failed")
    expect(rows).to_have_count(1)
    expect(rows.first.locator('td[data-label="Status"] .status')).to_have_text("Fehler")
    assert_fits(page, "SMS Nachrichten after a search")


def test_received_sms_persons_and_orders_as_stacked_rows(page: Page, login, live_app) -> None:
    tag = uuid.uuid4().hex[:8]
    _seed_rows(live_app, tag)
    login("admin")
    for path, table in [
        (f"/admin/sms/inbox?text={tag}", "#received"),
        (f"/persons?name={tag}", "#contacts"),
        (f"/orders?q={tag}", "#orders"),
    ]:
        page.goto(path)
        row = page.locator(f"{table} tbody tr").filter(has_text=tag).first
        expect(row).to_be_visible()
        assert_fits(page, path)
        assert_in_viewport(row)
        expect(row.locator("td[data-label]").first).to_be_visible()


def test_new_sms_and_the_sms_senden_dialog_fit(page: Page, login) -> None:
    login("sachbearbeiter")
    page.goto("/admin/sms/")
    page.get_by_role("button", name="Neu", exact=True).click()
    expect(page.get_by_label("Mobilfunknummer")).to_be_visible()
    assert_fits(page, "Neu")
    for field in ["Mobilfunknummer", "SMS-Text"]:
        assert_in_viewport(page.get_by_label(field, exact=True))
    assert_in_viewport(page.get_by_role("button", name="Speichern"))

    # SMS senden from the menu: the dialog opens over the page (Neu) and the menu closes.
    open_menu(page)
    page.locator("#nav-quicksend").click()
    dialog = page.locator("#modal")
    expect(dialog.get_by_role("heading", name="SMS senden")).to_be_visible()
    expect(menu_button(page)).to_have_attribute("aria-expanded", "false")
    assert_fits(page, "SMS senden")
    assert_in_viewport(dialog.locator("article"))
    assert_in_viewport(dialog.get_by_label("SMS-Text", exact=True))
    assert_in_viewport(dialog.get_by_role("button", name="Senden"))


def test_the_job_dialog_and_its_tabs_fit(page: Page, login) -> None:
    login("admin")
    page.goto("/admin/jobs/")
    row = page.locator('#jobs tr[data-name="Service SMS"]')
    assert_in_viewport(row)
    row.get_by_role("link", name="Öffnen").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Job Service SMS"))).to_be_visible()
    for tab in ["Job", "Einstellungen", "Zeitplan", "Errorlog"]:
        link = page.locator(".tabs").get_by_role("link", name=tab, exact=True)
        assert_in_viewport(link)
        link.click()
        expect(link).to_have_attribute("aria-current", "page")
        assert_fits(page, f"job tab {tab}")
        edit = page.get_by_role("button", name="Bearbeiten", exact=True)
        if tab != "Errorlog" and edit.count():
            edit.click()
            expect(page.get_by_role("button", name="Speichern")).to_be_visible()
            assert_fits(page, f"job tab {tab}, Bearbeiten")
            page.get_by_role("button", name="Abbrechen").click()
            expect(edit).to_be_visible()  # back to read-only before the next tab


def test_a_global_variable_is_edited_in_place_on_a_phone(page: Page, login) -> None:
    login("admin")
    page.goto("/admin/globals/")
    first = page.locator("#globals tbody tr").first
    row_id = first.get_attribute("id")
    row = page.locator(f"#{row_id}")
    assert_in_viewport(row.locator('td[data-label="Wert"]'))
    row.get_by_role("button", name="Bearbeiten").click()
    expect(page.locator(f"#{row_id}.editing")).to_be_visible()
    assert_fits(page, "Globale Variablen, a row in edit")
    assert_in_viewport(row.get_by_role("button", name="Speichern"))
    row.get_by_role("button", name="Abbrechen").click()
    # The row htmx swapped back in is labelled like the others.
    expect(page.locator(f"#{row_id}:not(.editing) td[data-label=Wert]")).to_be_visible()
    assert_fits(page, "Globale Variablen")


def test_a_desktop_keeps_the_full_header_and_the_table_columns(page: Page, login) -> None:
    page.set_viewport_size(DESKTOP)
    login("admin")
    expect(menu_button(page)).to_be_hidden()
    nav = header_nav(page)
    for name in ["SMS senden", "Personen", "Aufträge"]:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(dropdown(page, "Administration").locator("summary")).to_be_visible()
    expect(dropdown(page, "user").locator("summary")).to_be_visible()
    # One line: brand, entries and the user menu share the top row.
    brand = nav.locator(".brand").bounding_box()
    user = dropdown(page, "user").bounding_box()
    assert brand is not None and user is not None
    assert abs((brand["y"] + brand["height"] / 2) - (user["y"] + user["height"] / 2)) < 10
    assert user["x"] + user["width"] > DESKTOP["width"] - 40  # the user menu sits on the right
    page.goto("/admin/sms/")
    header = page.locator("#messages thead th", has_text="Status")
    expect(header).to_be_visible()
    assert page_width(page) <= DESKTOP["width"]

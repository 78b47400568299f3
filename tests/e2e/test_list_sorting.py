"""Sortable columns in the browser (issue 13 point 6): a click on a column header (or Enter on
it) sorts the list, the URL holds the sort, a second click turns it round, and a new search
keeps it."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.e2e.support import MANDANT, set_filter
from webapp.extensions import db
from webapp.models import Mandant, MessageSource, MessageStatus
from webapp.sms.outbox import queue_sms

# Created in this order: the default (newest first) is the reverse; by number it is another.
NUMBERS = ["0676 2000000", "0664 3000000", "0699 1000000"]


def _seed(live_app, tag: str) -> None:
    with live_app.app_context():
        mandant = db.session.scalar(select(Mandant).where(Mandant.name == MANDANT))
        for i, number in enumerate(NUMBERS):
            message = queue_sms(
                db.session,
                recipient=number,
                text=f"Sortierung {tag} {i}",
                mandant_id=mandant.id,
                source=MessageSource.MANUAL,
            )
            message.status = MessageStatus.FAILED if i else MessageStatus.DELIVERED
        db.session.commit()
        db.session.remove()


def _numbers(page: Page) -> list[str]:
    cells = page.locator("#messages tbody tr td:nth-child(3)")
    return [text.replace(" ", "") for text in cells.all_inner_texts()]


def test_a_click_on_a_header_sorts_and_the_url_holds_it(page: Page, login, live_app):
    tag = uuid.uuid4().hex[:8]
    _seed(live_app, tag)
    login("sachbearbeiter")
    page.goto("/admin/sms/")
    set_filter(page.get_by_label("Text enthält"), tag)
    rows = page.locator("#messages tbody tr")
    expect(rows).to_have_count(3)
    assert _numbers(page) == ["+436991000000", "+436643000000", "+436762000000"]  # newest first
    created = page.locator("#messages th[aria-sort]")
    expect(created).to_have_attribute("aria-sort", "descending")
    expect(created).to_contain_text("Erstellt")

    page.locator("#messages thead").get_by_role("link", name="Empfänger").click()
    expect(page).to_have_url(re.compile(rf"sort=empfaenger.*{tag}|{tag}.*sort=empfaenger"))
    header = page.locator("#messages th[aria-sort]")
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(header).to_contain_text("Empfänger")
    assert _numbers(page) == ["+436643000000", "+436762000000", "+436991000000"]

    # Again, from the keyboard: the other direction.
    page.locator("#messages thead").get_by_role("link", name="Empfänger").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"sort=-empfaenger"))
    expect(page.locator("#messages th[aria-sort]")).to_have_attribute("aria-sort", "descending")
    assert _numbers(page) == ["+436991000000", "+436762000000", "+436643000000"]

    # A new search keeps the sort.
    set_filter(page.get_by_label("Status"), "failed")
    expect(rows).to_have_count(2)
    expect(page).to_have_url(
        re.compile(r"status=failed.*sort=-empfaenger|sort=-empfaenger.*status=failed")
    )
    assert _numbers(page) == ["+436991000000", "+436643000000"]

    # The URL opened anew shows the same.
    page.reload()
    expect(rows).to_have_count(2)
    assert _numbers(page) == ["+436991000000", "+436643000000"]

"""The Unklar worklist in the browser (issue 13 point 4): the banner's filter, two rows ticked,
the confirmation page, the result in the list and in the SMS opened."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.e2e.support import MANDANT, follow, set_filter
from webapp.extensions import db
from webapp.models import Mandant, Message, MessageSource, MessageStatus
from webapp.models.base import utcnow
from webapp.sms.outbox import queue_sms


def _seed_unclear(live_app, texts: list[str]) -> list[int]:
    with live_app.app_context():
        mandant = db.session.scalar(select(Mandant).where(Mandant.name == MANDANT))
        ids = []
        for text in texts:
            message = queue_sms(
                db.session,
                recipient="0664 1234567",
                text=text,
                mandant_id=mandant.id,
                source=MessageSource.MANUAL,
            )
            message.status = MessageStatus.UNKNOWN
            message.attempts = 1
            message.attempt_started_at = utcnow() - timedelta(minutes=3)
            db.session.flush()
            ids.append(message.id)
        db.session.commit()
        db.session.remove()
        return ids


def _copies(live_app, original_id: int) -> int:
    with live_app.app_context():
        count = len(
            list(db.session.scalars(select(Message).where(Message.resent_from_id == original_id)))
        )
        db.session.remove()
        return count


def test_tick_two_unclear_rows_confirm_and_see_the_result(page: Page, login, live_app):
    tag = uuid.uuid4().hex[:8]
    first, second, third = _seed_unclear(live_app, [f"Eins {tag}", f"Zwei {tag}", f"Drei {tag}"])
    # Another open one the text filter leaves out (the list must keep that filter).
    _seed_unclear(live_app, [f"Andere {uuid.uuid4().hex[:8]}"])
    login("sachbearbeiter")
    page.goto("/admin/sms/")
    banner = page.locator("#unclear-banner")
    expect(banner).to_contain_text("SMS mit unklarem Status – bitte prüfen")
    follow(banner.get_by_role("link", name="Anzeigen"))
    expect(page).to_have_url(re.compile(r"unclear=open"))
    set_filter(page.get_by_label("Text enthält"), tag)
    rows = page.locator("#messages tbody tr")
    expect(rows).to_have_count(3)
    page.get_by_role("checkbox", name=f"SMS {third} auswählen").check()
    page.get_by_role("checkbox", name=f"SMS {second} auswählen").check()
    follow(page.get_by_role("button", name="Unklare als versendet bestätigen"))

    # The confirmation says how many and what happens; nothing is done yet.
    expect(page.locator("#unclear-question")).to_contain_text(
        "2 SMS werden als versendet bestätigt."
    )
    expect(page.locator("#unclear-proposed tbody tr")).to_have_count(2)
    follow(page.get_by_role("button", name="Bestätigen"))

    expect(page.get_by_text("2 unklare SMS als versendet bestätigt.")).to_be_visible()
    # The list keeps its filter (open Unklar, the tag typed after the page loaded): only the
    # first is left.
    expect(page).to_have_url(re.compile(r"unclear=open"))
    expect(page).to_have_url(re.compile(rf"text={tag}"))
    expect(page.get_by_label("Text enthält")).to_have_value(tag)
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", str(first))

    # The first one alone, from its row: erneut versenden, asked in the browser.
    page.once("dialog", lambda dialog: dialog.accept())
    follow(rows.first.get_by_role("button", name=f"SMS {first} erneut versenden"))
    expect(page.get_by_text("1 unklare SMS erneut versendet")).to_be_visible()
    assert _copies(live_app, first) == 1

    # The SMS opened shows the decision with who and when.
    page.goto(f"/admin/sms/{second}")
    expect(page.locator("[data-field=status] .status")).to_have_text("Versendet")
    expect(page.locator(".unclear-decision")).to_contain_text(
        "Als versendet bestätigt von Sepp Sachbearbeiter am"
    )
    page.goto(f"/admin/sms/{first}")
    expect(page.locator(".unclear-decision")).to_contain_text(
        "Erneut versendet von Sepp Sachbearbeiter am"
    )
    expect(page.get_by_role("button", name="Erneut versenden")).to_have_count(0)

"""Versand am in the browser (issue 17 point 3): plan an SMS in Neu, see it as Geplant with its
time in the list, refuse a time in the past at the field, and Planung aufheben."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from tests.e2e.support import follow
from webapp.models.base import utcnow

VIENNA = ZoneInfo("Europe/Vienna")


def _local(hours: float) -> str:
    """A datetime-local value `hours` from now, Vienna time."""
    return (utcnow() + timedelta(hours=hours)).astimezone(VIENNA).strftime("%Y-%m-%dT%H:%M")


def test_plan_an_sms_in_neu_then_cancel_it(page: Page, login):
    tag = uuid.uuid4().hex[:8]
    login("sachbearbeiter")
    page.goto("/admin/sms/new")
    page.get_by_label("Mobilfunknummer").fill("0664 123 45 67")
    page.get_by_label("SMS-Text", exact=True).fill(f"Wasserabsperrung morgen {tag}")
    versand_am = page.get_by_label("Versand am")
    expect(versand_am).to_have_attribute("type", "datetime-local")

    # a time in the past: refused at the field, what was typed stays
    versand_am.fill(_local(-2))
    page.get_by_role("button", name="Speichern").click()
    error = page.locator("#send_at-error")
    expect(error).to_contain_text("liegt in der Vergangenheit")
    expect(error).to_contain_text("späteren Zeitpunkt")
    expect(versand_am).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("SMS-Text", exact=True)).to_have_value(
        f"Wasserabsperrung morgen {tag}"
    )

    planned = _local(26)
    page.get_by_label("Versand am").fill(planned)
    page.get_by_role("button", name="Speichern").click()
    shown = re.sub(r"(\d+)-(\d+)-(\d+)T(\d+:\d+)", r"\3.\2.\1 \4", planned)
    expect(page.get_by_text(f"SMS ist geplant: Versand am {shown}.")).to_be_visible()

    page.goto(f"/admin/sms/?text={tag}")
    row = page.locator("#messages tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".status")).to_have_text("Geplant")
    expect(row.locator('[data-field="send-at"]')).to_contain_text(f"Versand am {shown}")

    # Planung aufheben asks first; "no" leaves it planned
    page.once("dialog", lambda dialog: dialog.dismiss())
    cancel = row.get_by_role("button", name=re.compile(r"^Planung von SMS \d+ aufheben$"))
    cancel.click()
    expect(row.locator(".status")).to_have_text("Geplant")
    page.once("dialog", lambda dialog: dialog.accept())
    follow(cancel)
    expect(page.get_by_text("ist aufgehoben: sie wird nicht versendet")).to_be_visible()
    expect(page.locator("#messages tbody tr .status")).to_have_text("Abgebrochen")
    expect(page.locator(".cancel-planning")).to_have_count(0)

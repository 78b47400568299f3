"""Übersicht in the browser (issue 13 point 8): the plots are drawn (canvas) without a console
error at 1280 and 390 px, the page fits a phone, and the tiles follow a new SMS by themselves."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import ConsoleMessage, Page, expect
from sqlalchemy import select

from tests.e2e.support import MANDANT, assert_not_reloaded, mark_page
from webapp.extensions import db
from webapp.models import Mandant, MessageSource
from webapp.sms.outbox import queue_sms


@pytest.fixture
def console_errors(page: Page) -> Iterator[list[str]]:
    """Errors the page reports in the console or throws; the test asserts there are none."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # The browser's own request for /favicon.ico (the app has none) is not the page's.
        if message.type == "error" and not message.location.get("url", "").endswith("favicon.ico"):
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors


def _queue(app: Flask, text: str) -> None:
    with app.app_context():
        mandant = db.session.scalar(select(Mandant).where(Mandant.name == MANDANT))
        assert mandant is not None
        queue_sms(
            db.session(),
            recipient="0664 1234567",
            text=text,
            mandant_id=mandant.id,
            source=MessageSource.MANUAL,
        )
        db.session.commit()
        db.session.remove()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_plots_are_drawn(
    page: Page, login, live_app: Flask, console_errors: list[str], width: int
) -> None:
    _queue(live_app, "Für die Übersicht")
    page.set_viewport_size({"width": width, "height": 900})
    login("admin")
    expect(page.get_by_role("heading", name="Übersicht")).to_be_visible()
    for chart in ("#chart-status", "#chart-delivery"):
        canvas = page.locator(f"{chart} .chart-area canvas")
        expect(canvas).to_have_count(1)
        box = canvas.bounding_box()
        assert box is not None and box["width"] >= 200 and box["height"] >= 100
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, chart
    # Each plot has its figures as a table too.
    page.locator("#table-status summary").click()
    expect(page.locator("#table-status table tbody tr")).to_have_count(30)
    expect(page.locator("#chart-mandanten").get_by_role("link", name=MANDANT)).to_be_visible()
    # Nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert console_errors == []


def test_the_tiles_follow_a_new_sms_without_a_reload(
    page: Page, login, live_app: Flask, console_errors: list[str]
) -> None:
    live_app.config["OVERVIEW_REFRESH_SECONDS"] = 1
    try:
        login("sachbearbeiter")
        waiting = page.locator("#tile-waiting .tile-value")
        before = int(waiting.inner_text().replace(".", "").replace(",", ""))
        mark_page(page)
        page.locator("#table-delivery summary").click()  # opened tables stay open
        with page.expect_request("**/uebersicht/aktuell") as refresh:
            _queue(live_app, f"Neu {uuid.uuid4().hex[:6]}")
        # The page's own refresh is no sign of a person at the screen (idle logout).
        assert refresh.value.headers.get("x-background-poll") == "1"
        expect(waiting).to_have_text(str(before + 1), timeout=10_000)
        expect(page.locator("#table-delivery")).to_have_attribute("open", "")
        expect(page.locator("#chart-status .chart-area canvas")).to_have_count(1)
        assert_not_reloaded(page)
    finally:
        live_app.config["OVERVIEW_REFRESH_SECONDS"] = 30
    assert console_errors == []

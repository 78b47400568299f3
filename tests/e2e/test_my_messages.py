"""Meine SMS in the browser: a user holding only 298004 (SMS senden) sends an SMS and follows
what becomes of it — in the list and in the SMS opened — without SMS Nachrichten (1669);
in English the times read as English writes them."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import PASSWORD
from tests.e2e.support import (
    MANDANT,
    assert_not_reloaded,
    expect_start_page,
    follow,
    header_nav,
    mark_page,
    open_quick_form,
    submit_login,
)
from tests.e2e.test_phone_layout import PHONE, assert_fits, assert_in_viewport
from webapp.extensions import db
from webapp.models import Mandant, Message, MessageSource, MessageStatus, Role, User
from webapp.permissions import Permission
from webapp.sms import search
from webapp.sms.outbox import queue_sms

LIVE = 15_000  # ms: a few polls, generous for a slow machine
SENT_AT = datetime(2026, 11, 25, 13, 5, tzinfo=UTC)  # 14:05 in Vienna
DELIVERED_AT = datetime(2026, 11, 25, 13, 7, tzinfo=UTC)
VIENNA = ZoneInfo("Europe/Vienna")


def _today_at(hour: int, minute: int) -> tuple[datetime, str]:
    """A time of today in Vienna and how the German UI shows it: recent enough that the list
    still waits for its delivery report (48 h)."""
    today = datetime.now(VIENNA).date()
    return datetime.combine(
        today, time(hour, minute), VIENNA
    ), f"{today:%d.%m.%Y} {hour:02}:{minute:02}"


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    # The live server runs in this process: pages rendered from now on ask every second.
    monkeypatch.setattr(search, "FAST_POLL_SECONDS", 1)
    monkeypatch.setattr(search, "SLOW_POLL_SECONDS", 1)


def _sender(live_app, tag: str) -> tuple[str, str]:
    """A user of this test who holds only 298004 (SMS senden): (user name, display name)."""
    with live_app.app_context():
        mandant = db.session.scalar(select(Mandant).where(Mandant.name == MANDANT))
        role = Role(name=f"Nur senden {tag}")
        role.permissions = {int(Permission.SMS_SEND)}
        user = User(
            username=f"sender-{tag}",
            display_name=f"Sina Sender {tag}",
            active=True,
            roles=[role],
            mandanten=[mandant],
        )
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        names = user.username, user.display_name
        db.session.remove()
    return names


def _message(live_app, text: str) -> int:
    with live_app.app_context():
        message_id = db.session.scalar(select(Message.id).where(Message.text.like(f"{text}%")))
        db.session.remove()
    return message_id


def _update(live_app, message_id: int, **values) -> None:
    """What a run or a delivery report does to the SMS."""
    with live_app.app_context():
        message = db.session.get(Message, message_id)
        for name, value in values.items():
            setattr(message, name, value)
        db.session.commit()
        db.session.remove()


def _send(page: Page, number: str, text: str) -> None:
    """SMS senden in the navigation: the dialog, sent."""
    dialog = open_quick_form(page)
    dialog.get_by_label("Mobilfunknummer").fill(number)
    dialog.get_by_label("SMS-Text", exact=True).fill(text)
    dialog.get_by_role("button", name="Senden").click()
    expect(dialog).to_be_hidden()


def test_a_sender_with_only_298004_follows_their_sms_in_meine_sms(
    page: Page, live_app, fast_polls
) -> None:
    tag = uuid.uuid4().hex[:8]
    username, display_name = _sender(live_app, tag)
    submit_login(page, username)
    expect_start_page(page, display_name)  # without 1669: Meine SMS itself
    page.goto("/persons")  # SMS senden from another page shows its confirmation
    page.wait_for_load_state("load")
    nav = header_nav(page)
    expect(nav.get_by_role("link", name="Meine SMS")).to_be_visible()
    expect(nav.get_by_text("SMS Nachrichten")).to_have_count(0)

    _send(page, "0664 1234567", f"Heizung {tag}")
    confirmation = page.locator("#quick-confirmation")
    expect(confirmation.locator(".status")).to_have_text("Wartet auf Versand")
    first = _message(live_app, f"Heizung {tag}")

    follow(nav.get_by_role("link", name="Meine SMS"))
    expect(page.get_by_role("heading", name="Meine SMS")).to_be_visible()
    mark_page(page)
    rows = page.locator("#messages tbody tr")
    expect(rows).to_have_count(1)
    row = page.locator(f'tr[data-id="{first}"]')
    expect(row).to_contain_text(f"Heizung {tag}")
    expect(row).to_contain_text("+43 664 1234567")
    expect(row).to_contain_text("SMS senden")  # Herkunft
    expect(row.locator(".status")).to_have_text("Wartet auf Versand")

    # Another SMS sent from here joins the list, newest first.
    _send(page, "0676 7654321", f"Lift {tag}")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(f"Lift {tag}")
    expect(page.locator("#row-count")).to_contain_text("2 SMS")

    # The run sends it, websms reports the delivery: the list follows by itself.
    sent_at, sent_shown = _today_at(8, 5)
    delivered_at, delivered_shown = _today_at(8, 7)
    _update(live_app, first, status=MessageStatus.SENT, sent_at=sent_at, attempts=1)
    expect(row.locator(".status")).to_have_text("Versendet", timeout=LIVE)
    times = page.locator(f"#msg-{first}-time")
    expect(times).to_have_text(f"Versendet {sent_shown}")
    _update(live_app, first, status=MessageStatus.DELIVERED, delivered_at=delivered_at)
    expect(row.locator(".status")).to_have_text("Zugestellt", timeout=LIVE)
    expect(times).to_contain_text(f"Versendet {sent_shown}")
    expect(times).to_contain_text(f"Zugestellt {delivered_shown}")
    expect(page.locator("#message-announce")).to_contain_text("Zugestellt")
    assert_not_reloaded(page)

    # The SMS opened: everything known about it, following it live.
    second = _message(live_app, f"Lift {tag}")
    follow(page.locator(f'tr[data-id="{second}"]').get_by_role("link", name="Öffnen"))
    expect(page.get_by_role("heading", name="SMS an +43 676 7654321")).to_be_visible()
    dialog = page.locator("#my-message")
    expect(dialog.locator(".status")).to_have_text("Wartet auf Versand")
    expect(dialog.locator(".full-text")).to_have_text(re.compile(f"^Lift {tag}"))
    mark_page(page)
    _update(
        live_app,
        second,
        status=MessageStatus.FAILED,
        reason="Die Nummer ist beim Anbieter gesperrt.",
        attempts=1,
    )
    expect(dialog.locator(".status")).to_have_text("Fehler", timeout=LIVE)
    expect(dialog).to_contain_text("Die Nummer ist beim Anbieter gesperrt.")
    expect(dialog).to_contain_text("Versuche: 1")
    expect(page.locator("#message-poller")).to_have_attribute("data-interval", "0")
    assert_not_reloaded(page)

    # SMS Nachrichten stays closed to this user.
    response = page.goto("/admin/sms/")
    assert response is not None and response.status == 403


def test_meine_sms_in_english_writes_times_the_english_way(page: Page, live_app) -> None:
    tag = uuid.uuid4().hex[:8]
    username, display_name = _sender(live_app, tag)
    submit_login(page, username)
    expect_start_page(page, display_name)  # without 1669: Meine SMS itself
    page.goto("/persons")  # SMS senden from another page shows its confirmation
    page.wait_for_load_state("load")
    _send(page, "0664 1234567", f"Englisch {tag}")
    message_id = _message(live_app, f"Englisch {tag}")
    _update(
        live_app,
        message_id,
        status=MessageStatus.DELIVERED,
        sent_at=SENT_AT,
        delivered_at=DELIVERED_AT,
    )
    page.locator('details.dropdown[data-menu="user"] summary').click()
    page.get_by_role("button", name="English").click()
    page.goto("/sms/meine/")
    expect(page.get_by_role("heading", name="My SMS")).to_be_visible()
    times = page.locator(f"#msg-{message_id}-time")
    expect(times).to_contain_text("Sent Nov 25, 2026, 2:05\u202fPM")
    expect(times).to_contain_text("Delivered Nov 25, 2026, 2:07\u202fPM")
    expect(page.locator(f'tr[data-id="{message_id}"] .status')).to_have_text("Delivered")


def test_meine_sms_and_one_sms_fit_a_phone(page: Page, live_app) -> None:
    tag = uuid.uuid4().hex[:8]
    username, display_name = _sender(live_app, tag)
    with live_app.app_context():
        author = db.session.scalar(select(User).where(User.username == username))
        mandant = db.session.scalar(select(Mandant.id).where(Mandant.name == MANDANT))
        for status in (MessageStatus.QUEUED, MessageStatus.DELIVERED, MessageStatus.FAILED):
            message = queue_sms(
                db.session,
                recipient="0664 1234567",
                text=f"{tag} Sehr geehrte Damen und Herren, morgen wird das Wasser abgedreht.",
                mandant_id=mandant,
                source=MessageSource.QUICK,
                created_by=author,
            )
            message.status = status
            if status is MessageStatus.DELIVERED:
                message.sent_at, message.delivered_at = SENT_AT, DELIVERED_AT
        db.session.commit()
        db.session.remove()
    page.set_viewport_size(PHONE)
    submit_login(page, username)
    expect_start_page(page, display_name)
    page.goto("/sms/meine/")
    rows = page.locator("#messages tbody tr")
    expect(rows).to_have_count(3)
    assert_fits(page, "Meine SMS")
    for row in rows.all():
        assert_in_viewport(row.locator(".status"))
    delivered = rows.filter(has_text="Zugestellt").first
    expect(delivered).to_contain_text("Versendet 25.11.2026 14:05")
    expect(delivered).to_contain_text("Zugestellt 25.11.2026 14:07")
    delivered.get_by_role("link", name="Öffnen").click()
    expect(page.get_by_role("heading", name="SMS an +43 664 1234567")).to_be_visible()
    assert_fits(page, "one SMS of Meine SMS")
    assert_in_viewport(page.locator("#my-message .status"))

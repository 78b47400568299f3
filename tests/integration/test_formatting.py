"""Dates, times and numbers follow the chosen language (webapp/formatting.py, Flask-Babel) in
the installation's TIMEZONE: German as the users know it (25.11.2026 14:05, 1.234), English as
English writes it (Nov 25, 2026, 2:05 PM, 1,234). What is not read by the user at the screen
keeps its language: the text of an SMS, the German half of an API error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pytest
from flask import session
from sqlalchemy import select

from webapp import accounts, formatting
from webapp.api_tokens import create_token
from webapp.errors import InputError
from webapp.jobs.inputs import parse_local_datetime
from webapp.models import Message, MessageSource, MessageStatus, SmsText
from webapp.sms import contacts, notifications, orders
from webapp.sms.settings import set_global

WINTER = datetime(2026, 11, 25, 13, 5, 7, tzinfo=UTC)  # 14:05:07 in Vienna (CET)
SUMMER = datetime(2026, 7, 1, 6, 0, tzinfo=UTC)  # 08:00 in Vienna (CEST)
NNBSP = "\u202f"  # CLDR's narrow no-break space before AM/PM


@contextmanager
def _in(app, language: str) -> Iterator[None]:
    """A request of a user who chose `language` (a fresh app context: Flask-Babel keeps the
    locale it found in `g`)."""
    with app.app_context(), app.test_request_context():
        session["lang"] = language
        yield


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "de",
            {
                "datetime": "25.11.2026 14:05",
                "seconds": "25.11.2026 14:05:07",
                "summer": "01.07.2026 08:00",
                "date": "25.11.2026",
                "day": "01.12.2026",
                "number": "1.234.567",
                "decimal": "0,5",
                "duration": "0,4 s",
            },
        ),
        (
            "en",
            {
                "datetime": f"Nov 25, 2026, 2:05{NNBSP}PM",
                "seconds": f"Nov 25, 2026, 2:05:07{NNBSP}PM",
                "summer": f"Jul 1, 2026, 8:00{NNBSP}AM",
                "date": "Nov 25, 2026",
                "day": "Dec 1, 2026",
                "number": "1,234,567",
                "decimal": "0.5",
                "duration": "0.4 s",
            },
        ),
    ],
)
def test_values_are_formatted_in_the_ui_language(app, language, expected):
    with _in(app, language):
        assert formatting.format_datetime(WINTER) == expected["datetime"]
        assert formatting.format_datetime(WINTER, seconds=True) == expected["seconds"]
        assert formatting.format_datetime(SUMMER) == expected["summer"]
        assert formatting.format_date(WINTER) == expected["date"]
        assert formatting.format_date(date(2026, 12, 1)) == expected["day"]
        assert formatting.format_number(1234567) == expected["number"]
        assert formatting.format_number(0.5) == expected["decimal"]
        assert formatting.format_duration(400) == expected["duration"]
        assert formatting.format_duration(185_000) == "3 min 5 s"
        assert formatting.format_datetime(None) == formatting.format_number(None) == ""
        # A fixed language wins over the session's.
        assert formatting.format_datetime(WINTER, locale="de") == "25.11.2026 14:05"
        assert formatting.format_number(1234, locale="en") == "1,234"


def test_outside_requests_german_is_used(app):
    # CLI, jobs and e-mails have no session: German, in TIMEZONE.
    assert formatting.format_datetime(WINTER) == "25.11.2026 14:05"
    assert formatting.format_number(1234) == "1.234"


@pytest.mark.parametrize("app_config", [{"TIMEZONE": "Europe/London"}])
def test_times_are_shown_in_the_configured_timezone(app):
    for language, shown in (("de", "25.11.2026 13:05"), ("en", f"Nov 25, 2026, 1:05{NNBSP}PM")):
        with _in(app, language):
            assert formatting.format_datetime(WINTER) == shown
            assert formatting.format_date(datetime(2026, 11, 25, 23, 30, tzinfo=UTC)) in (
                "25.11.2026",
                "Nov 25, 2026",
            )


def _sms(db, mandant, **values) -> Message:
    message = Message(
        mandant_id=mandant.id,
        recipient_raw="0664 1234567",
        recipient="+436641234567",
        text="Heizung",
        encoding="GSM",
        segments=1,
        source=MessageSource.MANUAL,
        **values,
    )
    db.add(message)
    db.commit()
    return message


def test_the_sms_list_shows_times_in_the_chosen_language(admin_client, db):
    wien = accounts.save_mandant(db, "HV Wien")
    db.commit()
    _sms(
        db,
        wien,
        status=MessageStatus.DELIVERED,
        created_at=WINTER,
        sent_at=WINTER,
        delivered_at=datetime(2026, 11, 25, 13, 7, tzinfo=UTC),
    )
    german = admin_client.get("/admin/sms/").text
    assert "25.11.2026 14:05" in german
    assert '<small class="muted">Versendet</small> <time datetime="2026-11-25T13:05:07+00:00">' in (
        german
    )
    assert "Zugestellt</small> <time" in german and "25.11.2026 14:07" in german

    admin_client.post("/sprache/en")
    english = admin_client.get("/admin/sms/").text
    assert "25.11.2026" not in english
    assert f"Nov 25, 2026, 2:05{NNBSP}PM" in english
    assert '<small class="muted">Sent</small>' in english
    delivered = '<small class="muted">Delivered</small> <time datetime="2026-11-25T13:07:00+00:00">'
    assert f"{delivered}Nov 25, 2026, 2:07{NNBSP}PM</time>" in english


def test_the_sms_of_an_auftrag_stays_german_when_the_sender_reads_english(admin_client, db, admin):
    set_global(db, 1400, "1", "test")
    wien = accounts.save_mandant(db, "HV Wien")
    db.commit()
    creditor = contacts.save_company(
        db, contacts.ContactInput(name="Huber GmbH", mandant_id=wien.id, mobile="0664 5551234")
    )
    db.add(SmsText(name="Kreditor", usage_key="auftrag_kreditor", body="Termin {auftrag.termin}."))
    timed = orders.save_order(
        db,
        orders.OrderInput(
            mandant_id=wien.id,
            title="Bad",
            appointment="2026-12-01T08:00",
            creditor_id=creditor.id,
        ),
    )
    untimed = orders.save_order(
        db, orders.OrderInput(mandant_id=wien.id, title="Küche", creditor_id=creditor.id)
    )
    db.commit()
    admin_client.post("/sprache/en")
    assert f"Dec 1, 2026, 8:00{NNBSP}AM" in admin_client.get(f"/orders/{timed.id}").text
    for order in (timed, untimed):
        assert admin_client.post(f"/orders/{order.id}/send", data={}).status_code == 200
    texts = [m.text for m in db.scalars(select(Message).order_by(Message.id))]
    assert texts[0].startswith("Termin 01.12.2026 08:00.")
    assert texts[1].startswith("Termin nach Vereinbarung.")
    assert notifications.SMS_LOCALE == "de"


@pytest.mark.parametrize(("language", "day"), [("de", "29.03.2026"), ("en", "Mar 29, 2026")])
def test_a_time_skipped_by_summer_time_names_the_day_in_the_ui_language(app, language, day):
    with _in(app, language):
        with pytest.raises(InputError) as refused:
            parse_local_datetime("2026-03-29T02:30", "Europe/Vienna", "run_once_at")
        assert day in refused.value.message


@pytest.mark.parametrize("app_config", [{"MAX_CONTENT_LENGTH": 512 * 1024}])
def test_the_413_message_writes_the_limit_in_each_language(app, client, db):
    client.post("/sprache/en")
    page = client.post("/login", data={"username": "x" * 600_000})
    assert page.status_code == 413 and "at most 0.5 MB" in page.text
    mandant = accounts.save_mandant(db, "HV Nord")
    _token, clear = create_token(
        db, name="erp", mandant_id=mandant.id, scopes=("sms:send",), created_by=None
    )
    db.commit()
    api = client.post(
        "/api/v1/sms",
        data="x" * 600_000,
        content_type="application/json",
        headers={"Authorization": f"Bearer {clear}"},
    )
    assert api.status_code == 413
    assert "höchstens 0,5 MB" in api.json["error"]["message_de"]
    assert "at most 0.5 MB" in api.json["error"]["message_en"]

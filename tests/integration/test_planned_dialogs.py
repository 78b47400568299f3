"""Versand am in the dialogs (issue 17 point 3): Neu and SMS senden plan an SMS in local time,
refuse a time in the past or in the hour skipped in spring, show the planned time in the list
and the SMS, and "Planung aufheben" cancels it until a run claims it — within the user's
Mandanten (SMS Nachrichten) or for the author (Meine SMS)."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.conftest import login_as
from webapp.models import Message, MessageSource, MessageStatus
from webapp.models.base import utcnow
from webapp.permissions import Permission
from webapp.sms.leases import claim
from webapp.sms.outbox import queue_sms

VIENNA = ZoneInfo("Europe/Vienna")


@pytest.fixture
def clerk_user(make_user, wien):
    return make_user("clerk", Permission.SMS_MESSAGES, Permission.SMS_SEND, mandanten=[wien])


@pytest.fixture
def clerk(client, clerk_user):
    return login_as(client, clerk_user)


def _local(moment: datetime) -> str:
    """The value of the datetime-local field for `moment`."""
    return moment.astimezone(VIENNA).strftime("%Y-%m-%dT%H:%M")


def _text(response) -> str:
    return html.unescape(response.text)


def test_neu_plans_the_sms_and_the_list_shows_when(clerk, db, wien):
    form = clerk.get("/admin/sms/new")
    assert 'type="datetime-local"' in form.text and "Versand am" in form.text
    when = (utcnow() + timedelta(days=1)).replace(second=0, microsecond=0)
    response = clerk.post(
        "/admin/sms/new",
        data={
            "recipient": "0664 1234567",
            "mandant": wien.id,
            "text": "Lift",
            "send_at": _local(when),
        },
    )
    assert response.status_code == 302
    message = db.scalar(select(Message))
    assert message.status is MessageStatus.PLANNED and message.send_at == when
    listing = _text(clerk.get("/admin/sms/"))
    shown = when.astimezone(VIENNA).strftime("%d.%m.%Y %H:%M")
    assert f"SMS ist geplant: Versand am {shown}." in listing
    assert "Geplant" in listing and "Versand am</small> <time" in listing
    assert "Planung aufheben" in listing
    opened = _text(clerk.get(f"/admin/sms/{message.id}"))
    assert 'data-field="planned_at"' in opened and shown in opened
    assert "Planung aufheben" in opened


def test_neu_without_versand_am_sends_at_once(clerk, db, wien):
    clerk.post(
        "/admin/sms/new",
        data={"recipient": "0664 1234567", "mandant": wien.id, "text": "Lift", "send_at": ""},
    )
    message = db.scalar(select(Message))
    assert message.status is MessageStatus.QUEUED and message.send_at is None


def test_neu_refuses_a_time_in_the_past_at_the_field_keeping_the_input(clerk, db, wien):
    past = utcnow() - timedelta(hours=1)
    response = clerk.post(
        "/admin/sms/new",
        data={
            "recipient": "0664 1234567",
            "mandant": wien.id,
            "text": "Lift",
            "send_at": _local(past),
        },
    )
    assert response.status_code == 422
    page = _text(response)
    assert re.search(r'id="send_at-error">Der Versandzeitpunkt .* liegt in der Vergangenheit', page)
    assert "späteren Zeitpunkt wählen oder das Feld leeren" in page
    assert f'value="{_local(past)}"' in page and 'value="0664 1234567"' in page
    assert db.scalar(select(Message)) is None


def _last_sunday_of_march_ahead() -> date:
    year = utcnow().year + 1
    day = date(year, 3, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def test_neu_refuses_the_hour_skipped_in_spring(clerk, db, wien):
    day = _last_sunday_of_march_ahead()
    response = clerk.post(
        "/admin/sms/new",
        data={
            "recipient": "0664 1234567",
            "mandant": wien.id,
            "text": "Lift",
            "send_at": f"{day.isoformat()}T02:30",
        },
    )
    assert response.status_code == 422
    assert "wegen der Umstellung auf Sommerzeit nicht" in _text(response)


def test_sms_senden_plans_too(client, db, make_user, wien):
    sender = login_as(client, make_user("sender", Permission.SMS_SEND, mandanten=[wien]))
    when = (utcnow() + timedelta(hours=5)).replace(second=0, microsecond=0)
    response = sender.post(
        "/sms/senden",
        data={
            "recipient": "0664 1234567",
            "mandant": wien.id,
            "text": "Hallo",
            "send_at": _local(when),
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Geplant" in response.text
    message = db.scalar(select(Message))
    assert (message.status, message.send_at, message.source) == (
        MessageStatus.PLANNED,
        when,
        MessageSource.QUICK,
    )


def _planned(db, mandant, created_by=None, hours=3) -> Message:
    message = queue_sms(
        db,
        recipient="0664 1234567",
        text="Wasser",
        mandant_id=mandant.id,
        source=MessageSource.MANUAL,
        created_by=created_by,
        send_at=utcnow() + timedelta(hours=hours),
    )
    db.commit()
    return message


def test_planung_aufheben_in_sms_nachrichten(clerk, db, wien, clerk_user):
    message = _planned(db, wien)
    response = clerk.post(f"/admin/sms/{message.id}/cancel", data={"back": "show"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/sms/{message.id}"
    page = _text(clerk.get(response.headers["Location"]))
    assert f"Die Planung von SMS {message.id} ist aufgehoben" in page
    assert "Abgebrochen" in page and "Planung aufheben</button>" not in page
    db.expire_all()
    cancelled = db.get(Message, message.id)
    assert cancelled.status is MessageStatus.CANCELLED
    assert "Clerk" in cancelled.reason  # who cancelled it
    # twice: nothing more to cancel, said so
    again = clerk.post(f"/admin/sms/{message.id}/cancel", follow_redirects=True)
    assert "kann nicht aufgehoben werden" in _text(again)


def test_too_late_once_a_run_claimed_it(clerk, db, wien):
    message = _planned(db, wien)
    claim(db, [], "run-a", message.send_at, 10)
    page = _text(clerk.post(f"/admin/sms/{message.id}/cancel", follow_redirects=True))
    assert "der Versand hat schon begonnen" in page
    db.expire_all()
    assert db.get(Message, message.id).status is MessageStatus.SENDING


def test_another_mandants_sms_cannot_be_cancelled(clerk, db, graz):
    message = _planned(db, graz)
    page = _text(clerk.post(f"/admin/sms/{message.id}/cancel", follow_redirects=True))
    assert "kann nicht aufgehoben werden" in page
    db.expire_all()
    assert db.get(Message, message.id).status is MessageStatus.PLANNED


def test_without_sms_nachrichten_only_the_author_cancels_in_meine_sms(client, db, make_user, wien):
    author = make_user("author", Permission.SMS_SEND, mandanten=[wien])
    colleague = make_user("colleague", Permission.SMS_SEND, mandanten=[wien])
    own = _planned(db, wien, created_by=author)
    theirs = _planned(db, wien, created_by=colleague)
    login_as(client, author)
    assert client.post(f"/admin/sms/{own.id}/cancel").status_code == 403
    opened = _text(client.get(f"/sms/meine/{own.id}"))
    assert "Planung aufheben" in opened and 'data-field="planned_at"' in opened
    response = client.post(f"/sms/meine/{own.id}/cancel")
    assert response.headers["Location"] == f"/sms/meine/{own.id}"
    client.post(f"/sms/meine/{theirs.id}/cancel")
    db.expire_all()
    assert db.get(Message, own.id).status is MessageStatus.CANCELLED
    assert db.get(Message, theirs.id).status is MessageStatus.PLANNED


def test_the_status_filter_finds_planned_and_cancelled(clerk, db, wien):
    planned = _planned(db, wien)
    cancelled = _planned(db, wien)
    clerk.post(f"/admin/sms/{cancelled.id}/cancel")
    for status, wanted in (("planned", planned.id), ("cancelled", cancelled.id)):
        page = clerk.get("/admin/sms/", query_string={"status": status}).text
        assert re.findall(r'<tr data-id="(\d+)"', page) == [str(wanted)]
    assert '<option value="planned">Geplant</option>' in clerk.get("/admin/sms/").text


def test_a_planned_sms_is_watched_slowly_by_the_list(clerk, db, wien):
    _planned(db, wien)
    page = clerk.get("/admin/sms/").text
    assert 'data-interval="30"' in page


def test_the_autumn_hour_that_occurs_twice_is_its_first_occurrence(clerk, db, wien):
    year = utcnow().year + 1
    day = date(year, 10, 31)
    day -= timedelta(days=(day.weekday() + 1) % 7)
    clerk.post(
        "/admin/sms/new",
        data={
            "recipient": "0664 1234567",
            "mandant": wien.id,
            "text": "Lift",
            "send_at": f"{day.isoformat()}T02:30",
        },
    )
    message = db.scalar(select(Message))
    # 02:30 summer time (+02:00) is 00:30 UTC; the second 02:30 (+01:00) would be 01:30
    assert message.send_at == datetime(day.year, day.month, day.day, 0, 30, tzinfo=UTC)


def test_the_uebersicht_names_the_planned_sms_apart(clerk, db, wien):
    _planned(db, wien)
    cancelled = _planned(db, wien)
    clerk.post(f"/admin/sms/{cancelled.id}/cancel")
    fragment = clerk.get("/uebersicht/aktuell")
    assert fragment.status_code == 200
    tile = re.search(r'id="tile-waiting".*?</a>', fragment.text, re.S).group(0)
    assert "keine wartet" in tile and "dazu 1 geplant" in tile


def test_the_export_has_the_versand_am(clerk, db, wien):
    import csv
    import io

    message = _planned(db, wien)
    response = clerk.get("/admin/sms/export.csv")
    header, row = list(
        csv.reader(io.StringIO(response.get_data().decode("utf-8-sig")), delimiter=";")
    )
    shown = message.send_at.astimezone(VIENNA).strftime("%d.%m.%Y %H:%M")
    assert row[header.index("Versand am")] == shown
    assert row[header.index("Status")] == "Geplant"


def test_a_cancelled_sms_can_be_sent_after_all_by_erneut_versenden(clerk, db, wien):
    message = _planned(db, wien)
    clerk.post(f"/admin/sms/{message.id}/cancel")
    page = _text(clerk.post("/admin/sms/resend", data={"ids": [message.id]}, follow_redirects=True))
    assert "1 SMS wurde kopiert" in page
    copy = db.scalar(select(Message).where(Message.resent_from_id == message.id))
    assert copy.status is MessageStatus.QUEUED and copy.send_at is None

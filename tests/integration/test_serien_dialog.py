"""The Serien-SMS dialog (issue 17): menu and permission 1669, review before anything is
queued, Senden once, the Serie with its counts, Rest abbrechen, Mandant isolation."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select, update

from tests.conftest import login_as
from webapp.models import Message, MessageStatus, Person, Series
from webapp.permissions import Permission


@pytest.fixture
def clerk(make_user, wien):
    return make_user("clara", Permission.SMS_MESSAGES, mandanten=[wien])


def _sms_count(db):
    return db.scalar(select(func.count()).select_from(Message))


def _token(html: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def test_menu_and_pages_need_1669(client, make_user, clerk, wien):
    other = make_user("otto", Permission.SMS_SEND, mandanten=[wien])
    login_as(client, other)
    assert client.get("/admin/sms/serien/").status_code == 403
    assert client.get("/admin/sms/serien/neu").status_code == 403
    assert 'href="/admin/sms/serien/"' not in client.get("/sms/meine/").get_data(as_text=True)
    login_as(client, clerk)
    page = client.get("/admin/sms/serien/")
    assert page.status_code == 200
    assert 'href="/admin/sms/serien/"' in page.get_data(as_text=True)  # in the menu


def test_review_queues_nothing_then_senden_queues_once(client, db, clerk, wien):
    login_as(client, clerk)
    db.add(Person(mandant_id=wien.id, name="Anna Huber", mobile="0664 1111111"))
    db.commit()
    data = {
        "mandant": str(wien.id),
        "kinds": "personen",
        "with_mobile": "y",
        "text": "Liebe/r {person.name}{spalte.wohnung}",
        "liste": "",
    }
    refused = client.post("/admin/sms/serien/neu", data=data)
    assert refused.status_code == 422
    assert "{spalte.wohnung}" in refused.get_data(as_text=True)
    csv = "Handynummer;Wohnung\n0664 2222222;Top 3\n0664 2222222;Top 4\n01 5551234;Top 5\n"
    data.update(
        kinds="",
        text="Wasser morgen aus, {spalte.wohnung}",
        datei=(io.BytesIO(csv.encode("cp1252")), "liste.csv"),
    )
    page = client.post("/admin/sms/serien/neu", data=data, content_type="multipart/form-data")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "Prüfung – noch nichts versendet" in html
    assert "Wasser morgen aus, Top 3" in html
    assert 'data-field="duplicates">1<' in html and 'data-field="refused">1<' in html
    assert "Festnetznummer" in html
    assert "0664 2222222;Top 3" in html  # the upload stands in the field now
    assert _sms_count(db) == 0
    token = _token(html)
    first = client.post("/admin/sms/serien/senden", data={"token": token})
    series = db.scalar(select(Series))
    assert first.headers["Location"].endswith(f"/admin/sms/serien/{series.id}")
    again = client.post("/admin/sms/serien/senden", data={"token": token}, follow_redirects=True)
    assert "bereits gesendet" in again.get_data(as_text=True)
    assert _sms_count(db) == 1
    show = client.get(f"/admin/sms/serien/{series.id}").get_data(as_text=True)
    assert 'data-count="waiting">1<' in show and "hx-get" in show  # polls while SMS wait
    listed = client.get(f"/admin/sms/?series={series.id}").get_data(as_text=True)
    assert "Wasser morgen aus, Top 3" in listed
    one = db.scalar(select(Message))
    detail = client.get(f"/admin/sms/{one.id}").get_data(as_text=True)
    assert "Serien-SMS" in detail and f'href="/admin/sms/serien/{series.id}"' in detail


def test_live_counts_and_rest_abbrechen(client, db, clerk, wien):
    login_as(client, clerk)
    data = {
        "mandant": str(wien.id),
        "kinds": "",
        "text": "Hallo",
        "liste": "Nummer\n0664 1111111\n0664 2222222\n0664 3333333\n",
    }
    token = _token(client.post("/admin/sms/serien/neu", data=data).get_data(as_text=True))
    client.post("/admin/sms/serien/senden", data={"token": token})
    series = db.scalar(select(Series))
    first = db.scalar(select(Message.id).order_by(Message.id))
    db.execute(update(Message).where(Message.id == first).values(status=MessageStatus.DELIVERED))
    db.commit()
    counts = client.get(f"/admin/sms/serien/{series.id}/stand").get_data(as_text=True)
    assert 'data-count="delivered">1<' in counts and 'data-count="waiting">2<' in counts
    client.post(f"/admin/sms/serien/{series.id}/abbrechen")
    counts = client.get(f"/admin/sms/serien/{series.id}/stand").get_data(as_text=True)
    assert 'data-count="cancelled">2<' in counts and 'data-count="waiting">0<' in counts
    assert "hx-get" not in counts  # nothing waits: polling ends
    assert db.scalar(select(func.count()).where(Message.status == MessageStatus.QUEUED)) == 0


def test_another_mandants_serie_and_review_stay_hidden(client, db, make_user, clerk, wien, graz):
    grazer = make_user("gerd", Permission.SMS_MESSAGES, mandanten=[graz])
    login_as(client, clerk)
    data = {"mandant": str(wien.id), "kinds": "", "text": "Hallo", "liste": "0664 1111111\n"}
    token = _token(client.post("/admin/sms/serien/neu", data=data).get_data(as_text=True))
    login_as(client, grazer)
    # Another user's review: not theirs to send.
    client.post("/admin/sms/serien/senden", data={"token": token})
    assert _sms_count(db) == 0
    # A Mandant the user does not have: refused at the field.
    db.add(Person(mandant_id=wien.id, name="Anna", mobile="0664 1111111"))
    db.commit()
    page = client.post(
        "/admin/sms/serien/neu",
        data={"mandant": str(wien.id), "kinds": "personen", "text": "Hallo", "liste": ""},
    )
    assert "Anna" not in page.get_data(as_text=True)
    login_as(client, clerk)
    client.post("/admin/sms/serien/senden", data={"token": token})
    series = db.scalar(select(Series))
    login_as(client, grazer)
    assert client.get(f"/admin/sms/serien/{series.id}").status_code == 404
    assert client.post(f"/admin/sms/serien/{series.id}/abbrechen").status_code == 404
    listed = client.get("/admin/sms/serien/").get_data(as_text=True)
    assert "Noch keine Serien-SMS" in listed and f'data-id="{series.id}"' not in listed
    login_as(client, clerk)
    assert f'data-id="{series.id}"' in client.get("/admin/sms/serien/").get_data(as_text=True)


def test_versand_am_plans_the_serie_in_local_time(client, db, clerk, wien):
    login_as(client, clerk)
    data = {
        "mandant": str(wien.id),
        "kinds": "",
        "text": "Hallo",
        "liste": "0664 1111111\n",
        "send_at": "2027-03-28T02:30",
    }  # skipped when summer time begins
    page = client.post("/admin/sms/serien/neu", data=data)
    assert page.status_code == 422
    data["send_at"] = "2027-03-28T08:00"
    page = client.post("/admin/sms/serien/neu", data=data)
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert 'data-field="send_at"' in html
    client.post("/admin/sms/serien/senden", data={"token": _token(html)})
    message = db.scalar(select(Message))
    assert message.status is MessageStatus.PLANNED
    assert message.send_at.isoformat() == "2027-03-28T06:00:00+00:00"  # CEST, +02:00
    series = db.scalar(select(Series))
    show = client.get(f"/admin/sms/serien/{series.id}").get_data(as_text=True)
    assert 'data-count="planned">1<' in show and "every 30s" in show

"""Meine SMS: every user sees the SMS they created — with status, search, pages, live status
and one SMS opened — and nobody else's; a user with only 298004 (SMS senden) too, for whom
SMS Nachrichten (1669) stays closed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import select

from tests.conftest import login_as
from webapp import accounts
from webapp.models import Message, MessageSource, MessageStatus
from webapp.models.base import utcnow
from webapp.permissions import Permission
from webapp.sms.paging import PAGE_SIZE
from webapp.sms.search import own_message, state_token
from webapp.sms.settings import set_global

HX = {"HX-Request": "true"}


@pytest.fixture
def wien(db):
    mandant = accounts.save_mandant(db, "HV Wien")
    set_global(db, 1400, "1", "test")
    db.commit()
    return mandant


@pytest.fixture
def sender_user(make_user, wien):
    return make_user("sender", Permission.SMS_SEND, mandanten=[wien])


@pytest.fixture
def sender(client, sender_user):
    return login_as(client, sender_user)


@pytest.fixture
def colleague(make_user, wien):
    return make_user("kollegin", Permission.SMS_SEND, Permission.SMS_MESSAGES, mandanten=[wien])


def _sms(db, mandant, author, text, status=MessageStatus.QUEUED, **extra) -> Message:
    values = {
        "mandant_id": mandant.id,
        "recipient_raw": "0664 1234567",
        "recipient": "+436641234567",
        "text": text,
        "encoding": "GSM",
        "segments": 1,
        "source": MessageSource.QUICK,
        "status": status,
        "created_by_id": author.id if author else None,
    }
    values.update(extra)
    message = Message(**values)
    db.add(message)
    db.commit()
    return message


def _row_ids(html: str) -> list[int]:
    table = html.split('<table class="list striped" id="messages">', 1)[1].split("</table>")[0]
    return [int(i) for i in re.findall(r'<tr data-id="(\d+)"', table)]


def test_a_sender_without_1669_sees_the_sms_sent_through_sms_senden(sender, db, wien):
    assert sender.get("/admin/sms/").status_code == 403  # SMS Nachrichten stays closed
    sent = sender.post(
        "/sms/senden",
        data={"recipient": "0676 1234567", "text": "Wasser ab 14 Uhr", "mandant": wien.id},
        headers=HX,
    )
    message = db.scalar(select(Message))
    # The confirmation leads to the SMS.
    assert f'href="/sms/meine/{message.id}"' in sent.text and "In Meine SMS ansehen" in sent.text

    page = sender.get("/sms/meine/")
    assert page.status_code == 200
    assert "<h1>Meine SMS</h1>" in page.text
    assert _row_ids(page.text) == [message.id]
    assert "Wasser ab 14 Uhr" in page.text
    assert f'id="msg-{message.id}-status" data-status="queued"' in page.text
    assert "Wartet auf Versand" in page.text
    assert '<td>SMS senden<br><small class="muted">HV Wien</small></td>' in page.text  # Herkunft
    assert f'data-open-url="/sms/meine/{message.id}"' in page.text
    assert 'name="ids"' not in page.text  # no ticks: Erneut versenden is SMS Nachrichten's

    detail = sender.get(f"/sms/meine/{message.id}")
    assert detail.status_code == 200
    assert "SMS an +43 676 1234567" in detail.text
    assert "Wartet auf Versand" in detail.text and "Wasser ab 14 Uhr" in detail.text
    assert "Versuche: 0" in detail.text


def test_only_the_users_own_sms_are_listed_newest_first(sender, sender_user, colleague, db, wien):
    first = _sms(db, wien, sender_user, "meine erste")
    _sms(db, wien, colleague, "von der Kollegin")
    _sms(db, wien, None, "über die API")
    second = _sms(db, wien, sender_user, "meine zweite", MessageStatus.SENT, sent_at=utcnow())
    page = sender.get("/sms/meine/")
    assert _row_ids(page.text) == [second.id, first.id]
    assert "von der Kollegin" not in page.text and "über die API" not in page.text
    assert re.search(r'id="row-count">\s*2 SMS', page.text)


def test_another_users_sms_answers_404(sender, sender_user, colleague, db, wien, make_user):
    theirs = _sms(db, wien, colleague, "fremd")
    anonymous = _sms(db, wien, None, "API")
    assert sender.get(f"/sms/meine/{theirs.id}").status_code == 404
    assert sender.get(f"/sms/meine/{anonymous.id}").status_code == 404
    assert sender.get("/sms/meine/999999").status_code == 404
    # Their own SMS of a Mandant they no longer belong to: gone with the Mandant.
    graz = accounts.save_mandant(db, "HV Graz")
    db.commit()
    mine_in_graz = _sms(db, graz, sender_user, "Graz")
    assert sender.get(f"/sms/meine/{mine_in_graz.id}").status_code == 404
    assert "Graz" not in sender.get("/sms/meine/").text
    # An administrator sees everything in SMS Nachrichten, but Meine SMS is theirs alone.
    admin = login_as(
        sender.application.test_client(), make_user("chefin", admin=True, mandanten=[wien])
    )
    assert admin.get(f"/sms/meine/{theirs.id}").status_code == 404
    assert _row_ids(admin.get("/sms/meine/").text) == []
    assert "Sie haben noch keine SMS angelegt." in admin.get("/sms/meine/").text


def test_own_message_is_the_core_rule(db, wien, sender_user, colleague):
    mine = _sms(db, wien, sender_user, "meine")
    assert own_message(db, mine.id, created_by_id=sender_user.id, mandant_ids=None) is mine
    assert own_message(db, mine.id, created_by_id=colleague.id, mandant_ids=None) is None
    assert own_message(db, mine.id, created_by_id=sender_user.id, mandant_ids=set()) is None


def test_search_and_keyset_pages_count_only_own_sms(sender, sender_user, colleague, db, wien):
    own = [
        Message(
            mandant_id=wien.id,
            recipient_raw="0664 1234567",
            recipient="+436641234567",
            text=f"Nachricht {n}",
            encoding="GSM",
            segments=1,
            source=MessageSource.QUICK,
            status=MessageStatus.FAILED if n % 10 == 0 else MessageStatus.QUEUED,
            created_by_id=sender_user.id,
        )
        for n in range(PAGE_SIZE + 5)
    ]
    db.add_all(own)
    db.commit()
    _sms(db, wien, colleague, "fremd", MessageStatus.FAILED)
    first = sender.get("/sms/meine/")
    assert re.search(rf'id="row-count">\s*{PAGE_SIZE + 5} SMS', first.text)
    assert len(_row_ids(first.text)) == PAGE_SIZE
    older = re.search(r'<a href="([^"]+)"[^>]*id="older-page"', first.text)
    assert older and "/sms/meine/?before=" in unescape(older.group(1))
    second = sender.get(unescape(older.group(1)), headers={**HX, "HX-Target": "message-results"})
    assert "<html" not in second.text  # only the results, swapped by htmx
    assert len(_row_ids(second.text)) == 5
    assert set(_row_ids(first.text)) | set(_row_ids(second.text)) == {m.id for m in own}

    failed = sender.get("/sms/meine/?status=failed")
    assert re.search(r'id="row-count">\s*6 SMS', failed.text)
    assert "fremd" not in failed.text
    # Text search among one's own SMS only (on SQLite not through the trigram index).
    found = sender.get("/sms/meine/?text=Nachricht+5")
    assert sorted(_row_ids(found.text)) == [m.id for m in own if m.text.startswith("Nachricht 5")]
    assert _row_ids(sender.get("/sms/meine/?text=fremd").text) == []
    # A bad value in a hand-edited URL is ignored, never a 500.
    assert sender.get("/sms/meine/?status=kaputt&before=abc&created_from=x").status_code == 200


def test_the_live_poll_follows_own_sms_and_nobody_elses(sender, sender_user, colleague, db, wien):
    mine = _sms(db, wien, sender_user, "meine")
    theirs = _sms(db, wien, colleague, "fremd")
    page = sender.get("/sms/meine/")
    poll = re.search(r'<span id="message-poller"[^>]*hx-get="([^"]+)"', page.text)
    assert poll and unescape(poll.group(1)).startswith("/sms/meine/live?")
    token_mine = state_token(mine.status, mine.updated_at)
    token_theirs = state_token(theirs.status, theirs.updated_at)
    watch = {"w": [f"{mine.id}:{token_mine}", f"{theirs.id}:{token_theirs}"]}
    assert sender.get("/sms/meine/live", query_string=watch, headers=HX).status_code in (200, 204)

    mine.status, mine.sent_at = MessageStatus.SENT, utcnow()
    theirs.status, theirs.sent_at = MessageStatus.SENT, utcnow()
    db.commit()
    answer = sender.get("/sms/meine/live", query_string=watch, headers=HX)
    assert answer.status_code == 200
    assert f'id="msg-{mine.id}-status"' in answer.text and "Versendet" in answer.text
    assert f"msg-{theirs.id}" not in answer.text and f"w={theirs.id}" not in answer.text
    assert 'id="row-count"' in answer.text  # the list's count follows
    assert "/sms/meine/live?" in answer.text  # the next poll asks Meine SMS again

    # One SMS opened: the same poll, without the count the page does not have.
    detail = sender.get(f"/sms/meine/{mine.id}")
    detail_poll = unescape(
        re.search(r'<span id="message-poller"[^>]*hx-get="([^"]+)"', detail.text)[1]
    )
    assert "count=0" in detail_poll
    mine.status, mine.delivered_at = MessageStatus.DELIVERED, utcnow()
    db.commit()
    answer = sender.get(detail_poll, headers=HX)
    assert f'id="msg-{mine.id}-status"' in answer.text and "Zugestellt" in answer.text
    assert 'id="row-count"' not in answer.text


def test_versendet_and_zugestellt_show_both_times_labelled(sender, sender_user, db, wien):
    sent_at = datetime(2026, 11, 25, 13, 5, tzinfo=UTC)
    delivered = _sms(
        db,
        wien,
        sender_user,
        "zugestellt",
        MessageStatus.DELIVERED,
        sent_at=sent_at,
        delivered_at=sent_at + timedelta(minutes=2),
    )
    undelivered = _sms(
        db,
        wien,
        sender_user,
        "nicht zugestellt",
        MessageStatus.UNDELIVERED,
        sent_at=sent_at,
        reported_at=sent_at + timedelta(hours=1),
    )
    queued = _sms(db, wien, sender_user, "wartet")
    page = sender.get("/sms/meine/").text

    def cell(message: Message) -> str:
        html = page.split(f'id="msg-{message.id}-time"', 1)[1].split("</span>", 1)[0]
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.split(">", 1)[1])).strip()

    assert cell(delivered) == "Versendet 25.11.2026 14:05 Zugestellt 25.11.2026 14:07"
    assert cell(undelivered) == "Versendet 25.11.2026 14:05 Nicht zugestellt 25.11.2026 15:05"
    assert cell(queued) == ""
    detail = sender.get(f"/sms/meine/{delivered.id}").text
    assert re.search(r"Versendet</small> <time[^>]*>25\.11\.2026 14:05</time>", detail)
    assert re.search(r"Zugestellt</small> <time[^>]*>25\.11\.2026 14:07</time>", detail)

"""Live status: the polls of SMS Nachrichten, of a record's SMS-Verlauf and of the confirmation
of SMS senden answer only what changed (204 when nothing did), stop when all is final, and see
no more than the page they belong to."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import update

from tests.conftest import login_as
from webapp import accounts
from webapp.models import Message, MessageSource, MessageStatus, Ticket
from webapp.models.base import utcnow
from webapp.permissions import Permission
from webapp.sms import contacts, orders
from webapp.sms.search import FAST_POLL_SECONDS, SLOW_POLL_SECONDS, live_update, watch
from webapp.sms.settings import set_global

HX = {"HX-Request": "true"}
LIST_POLL = {**HX, "HX-Target": "message-poller"}
HISTORY_POLL = {**HX, "HX-Target": "history-poller"}


@pytest.fixture
def wien(db):
    mandant = accounts.save_mandant(db, "HV Wien")
    set_global(db, 1400, "1", "test")
    db.commit()
    return mandant


@pytest.fixture
def clerk_user(make_user, wien):
    return make_user("clerk", Permission.SMS_MESSAGES, Permission.SMS_SEND, mandanten=[wien])


@pytest.fixture
def clerk(client, clerk_user):
    return login_as(client, clerk_user)


def _sms(db, mandant, text="Hallo", status=MessageStatus.QUEUED, **extra) -> Message:
    values = {
        "mandant_id": mandant.id,
        "recipient_raw": "0664 1234567",
        "recipient": "+436641234567",
        "text": text,
        "encoding": "GSM",
        "segments": 1,
        "source": MessageSource.MANUAL,
        "status": status,
    }
    values.update(extra)
    message = Message(**values)
    db.add(message)
    db.commit()
    return message


def _set(db, message: Message, **values) -> None:
    """What a run or a delivery report does: change the row (updated_at follows)."""
    for name, value in values.items():
        setattr(message, name, value)
    db.commit()


def _poller(html: str, poller_id: str) -> re.Match | None:
    return re.search(rf'<span id="{poller_id}"[^>]*>', html)


def _poll_url(html: str, poller_id: str) -> str:
    tag = _poller(html, poller_id).group(0)
    return unescape(re.search(r'hx-get="([^"]+)"', tag).group(1))


def _interval(html: str, poller_id: str) -> int:
    return int(re.search(r'data-interval="(\d+)"', _poller(html, poller_id).group(0)).group(1))


def _watched(url: str) -> set[int]:
    return {int(v) for v in re.findall(r"[?&]w=(\d+)(?::|%3A)", url)}


# --- SMS Nachrichten ---------------------------------------------------------------------------


def test_the_list_watches_what_is_not_final(clerk, db, wien):
    now = utcnow()
    queued = _sms(db, wien, "wartet")
    sending = _sms(db, wien, "sendet", MessageStatus.SENDING)
    sent = _sms(db, wien, "frisch versendet", MessageStatus.SENT, sent_at=now)
    _sms(db, wien, "alt", MessageStatus.SENT, sent_at=now - timedelta(hours=49))
    _sms(db, wien, "zugestellt", MessageStatus.DELIVERED, sent_at=now, delivered_at=now)
    _sms(db, wien, "kaputt", MessageStatus.FAILED, reason="Festnetz")
    page = clerk.get("/admin/sms/?source=manual")
    url = _poll_url(page.text, "message-poller")
    assert url.startswith("/admin/sms/live?")
    assert _watched(url) == {queued.id, sending.id, sent.id}
    assert "source=manual" in url  # the filter, for the count
    assert f'hx-trigger="every {FAST_POLL_SECONDS}s"' in page.text
    assert page.text.count('class="live-poller"') == 1
    assert 'id="message-announce" class="sr-only" aria-live="polite"' in page.text


def test_only_sent_rows_waiting_for_a_report_poll_slowly(clerk, db, wien):
    _sms(db, wien, "versendet", MessageStatus.SENT, sent_at=utcnow() - timedelta(hours=47))
    _sms(db, wien, "zugestellt", MessageStatus.DELIVERED)
    page = clerk.get("/admin/sms/")
    assert _interval(page.text, "message-poller") == SLOW_POLL_SECONDS
    assert f'hx-trigger="every {SLOW_POLL_SECONDS}s"' in page.text


def test_a_page_that_is_all_final_does_not_poll(clerk, db, wien):
    _sms(db, wien, "zugestellt", MessageStatus.DELIVERED)
    _sms(db, wien, "kaputt", MessageStatus.FAILED)
    _sms(db, wien, "lange her", MessageStatus.SENT, sent_at=utcnow() - timedelta(days=3))
    for page in (
        clerk.get("/admin/sms/"),
        clerk.get("/admin/sms/", headers={**HX, "HX-Target": "message-results"}),
    ):
        assert _interval(page.text, "message-poller") == 0
        assert 'hx-trigger="every' not in page.text
        assert "/admin/sms/live" not in page.text


def test_the_poll_answers_only_the_rows_that_changed(clerk, db, wien):
    first = _sms(db, wien, "eins")
    second = _sms(db, wien, "zwei")
    url = _poll_url(clerk.get("/admin/sms/").text, "message-poller")

    unchanged = clerk.get(url, headers=LIST_POLL)
    assert unchanged.status_code == 204 and unchanged.text == ""

    _set(db, first, status=MessageStatus.SENT, sent_at=utcnow(), attempts=1, provider_ref="T-1")
    answer = clerk.get(url, headers=LIST_POLL)
    assert answer.status_code == 200
    text = answer.text
    # Out of band: the status, its details and the time of the changed row — not the row, not
    # its checkbox, not the table, and nothing of the unchanged row.
    assert f'id="msg-{first.id}-status" data-status="sent"' in text
    assert re.search(
        rf'<span class="status status-sent" id="msg-{first.id}-status"[^>]*'
        r'hx-swap-oob="true">Versendet</span>',
        text,
    )
    assert f'id="msg-{first.id}-more" hx-swap-oob="true"' in text and "T-1" in text
    assert f'id="msg-{first.id}-time" hx-swap-oob="true"' in text
    assert f"msg-{second.id}" not in text
    assert "<tr" not in text and "<table" not in text and 'type="checkbox"' not in text
    assert 'id="row-count" hx-swap-oob="true"' in text and "2 SMS" in text
    assert "SMS an +43 664 1234567: Versendet" in text  # for screen readers, once
    # The new poller watches on: the sent one slowly would do, but the other still waits.
    following = _poll_url(text, "message-poller")
    assert _watched(following) == {first.id, second.id}
    assert _interval(text, "message-poller") == FAST_POLL_SECONDS
    assert clerk.get(following, headers=LIST_POLL).status_code == 204

    _set(db, second, status=MessageStatus.FAILED, reason="Die Nummer ist ungültig.")
    _set(db, first, status=MessageStatus.DELIVERED, delivered_at=utcnow())
    last = clerk.get(following, headers=LIST_POLL).text
    assert "Zugestellt" in last and "Fehler" in last and "Die Nummer ist ungültig." in last
    assert "2 SMS mit neuem Status: 1 × Zugestellt, 1 × Fehler" in last
    # All final: the poller that replaces itself has no request left — polling ends.
    assert _interval(last, "message-poller") == 0 and "hx-get" not in _poller(
        last, "message-poller"
    ).group(0)


def test_a_status_change_shows_even_if_updated_at_was_not_touched(clerk, db, wien):
    message = _sms(db, wien)
    url = _poll_url(clerk.get("/admin/sms/").text, "message-poller")
    db.execute(
        update(Message)
        .where(Message.id == message.id)
        .values(status=MessageStatus.SENDING, updated_at=message.updated_at)
    )
    db.commit()
    answer = clerk.get(url, headers=LIST_POLL)
    assert answer.status_code == 200 and "Wird versendet" in answer.text


def test_the_count_follows_a_status_filter(clerk, db, wien):
    first = _sms(db, wien, "eins")
    _sms(db, wien, "zwei")
    page = clerk.get("/admin/sms/?status=queued")
    assert "2 SMS" in page.text
    url = _poll_url(page.text, "message-poller")
    assert "status=queued" in url
    _set(db, first, status=MessageStatus.SENT, sent_at=utcnow())
    answer = clerk.get(url, headers=LIST_POLL).text
    count = re.search(r'id="row-count" hx-swap-oob="true">\s*([^<]*?)\s*</p>', answer).group(1)
    assert count == "1 SMS"
    assert "Versendet" in answer  # the row stays on the page, with its new status


def test_the_poll_needs_permission_1669(client, db, make_user, wien):
    message = _sms(db, wien)
    url = f"/admin/sms/live?w={message.id}%3Aqueued.0"
    assert client.get(url, headers=LIST_POLL).status_code == 401  # not logged in (htmx)
    sender = login_as(client, make_user("sender", Permission.SMS_SEND, mandanten=[wien]))
    assert sender.get(url, headers=LIST_POLL).status_code == 403


def test_the_poll_sees_only_the_users_mandanten(clerk, db, wien, graz):
    mine = _sms(db, wien, "meine")
    foreign = _sms(db, graz, "fremde Nachricht", MessageStatus.FAILED, reason="Geheim 4711")
    # A hand-made watch list with the other Mandant's SMS and stale tokens for both.
    url = f"/admin/sms/live?w={mine.id}%3Aqueued.1&w={foreign.id}%3Aqueued.1"
    answer = clerk.get(url, headers=LIST_POLL).text
    assert f"msg-{mine.id}-status" in answer
    assert f"msg-{foreign.id}" not in answer and "Geheim 4711" not in answer
    assert _watched(_poll_url(answer, "message-poller")) == {mine.id}
    assert "1 SMS" in answer  # counted within the user's Mandanten only
    # Only the foreign one: nothing to show, the poller stops.
    alone = clerk.get(f"/admin/sms/live?w={foreign.id}%3Aqueued.1", headers=LIST_POLL).text
    assert "fremde" not in alone and _interval(alone, "message-poller") == 0


def test_bad_watch_lists_are_ignored(clerk, db, wien):
    for query in ("", "?w=abc", "?w=12", "?w=%3Aqueued.1", "?w=" + "1%3A" + "x" * 50):
        answer = clerk.get(f"/admin/sms/live{query}", headers=LIST_POLL)
        assert answer.status_code == 200, query
        assert _interval(answer.text, "message-poller") == 0


def test_live_update_checks_the_tokens_in_one_query_by_id(db, wien):
    message = _sms(db, wien)
    tokens = watch([message]).tokens
    assert live_update(db, tokens, mandant_ids={wien.id}).unchanged
    assert not live_update(db, tokens, mandant_ids=set()).unchanged  # gone for this user
    _set(db, message, attempts=1, next_attempt_at=utcnow() + timedelta(minutes=1))
    update_ = live_update(db, tokens, mandant_ids=None)
    assert [m.id for m in update_.changed] == [message.id]
    assert update_.watch.interval == FAST_POLL_SECONDS


# --- SMS-Verlauf of Person, Firma, Auftrag, Ticket ------------------------------------------------


def _person(db, mandant, name="Maria Gruber", mobile="0664 1234567"):
    person = contacts.save_person(
        db, contacts.ContactInput(name=name, mandant_id=mandant.id, mobile=mobile)
    )
    db.commit()
    return person


def test_the_history_of_a_person_polls_and_answers_what_changed(clerk, db, wien):
    person = _person(db, wien)
    other = _person(db, wien, "Thomas Steiner", "0676 9876543")
    mine = _sms(db, wien, "Termin", source=MessageSource.PERSON, source_ref=str(person.id))
    theirs = _sms(
        db,
        wien,
        "Andere",
        source=MessageSource.PERSON,
        source_ref=str(other.id),
        recipient_raw=other.mobile,
        recipient="+436769876543",  # its SMS go to its number: not Maria's SMS-Verlauf
    )
    page = clerk.get(f"/persons/{person.id}").text
    url = _poll_url(page, "history-poller")
    assert url.startswith(f"/persons/{person.id}?") and _watched(url) == {mine.id}
    assert 'id="history-announce" class="sr-only" aria-live="polite"' in page
    assert clerk.get(url, headers=HISTORY_POLL).status_code == 204

    _set(db, mine, status=MessageStatus.FAILED, reason="Die Vorwahl ist nicht freigegeben.")
    answer = clerk.get(url, headers=HISTORY_POLL).text
    assert f'<span id="hist-{mine.id}-state" hx-swap-oob="true">' in answer
    assert "Fehler" in answer and "Die Vorwahl ist nicht freigegeben." in answer
    assert 'id="history-announce" hx-swap-oob="innerHTML"' in answer
    assert "<section" not in answer and "<table" not in answer
    assert _interval(answer, "history-poller") == 0

    # Another record's SMS cannot be watched through this record.
    _set(db, theirs, status=MessageStatus.SENT, sent_at=utcnow())
    forged = clerk.get(f"/persons/{person.id}?w={theirs.id}%3Aqueued.1", headers=HISTORY_POLL).text
    assert f"hist-{theirs.id}" not in forged and _interval(forged, "history-poller") == 0


def test_the_history_poll_of_a_foreign_record_is_404(client, db, make_user, wien, graz):
    foreign = _person(db, graz)
    message = _sms(db, graz, source=MessageSource.PERSON, source_ref=str(foreign.id))
    user = login_as(client, make_user("wiener", mandanten=[wien]))
    url = f"/persons/{foreign.id}?w={message.id}%3Aqueued.1"
    assert user.get(url, headers=HISTORY_POLL).status_code == 404


def test_the_history_of_a_company_an_order_and_a_ticket_polls_too(admin_client, db, wien):
    company = contacts.save_company(
        db, contacts.ContactInput(name="Huber GmbH", mandant_id=wien.id, mobile="0664 5551234")
    )
    order = orders.save_order(db, orders.OrderInput(mandant_id=wien.id, title="Wasserschaden"))
    ticket = orders.save_ticket(db, orders.TicketInput(mandant_id=wien.id, subject="Heizung"))
    db.commit()
    for path, source, record in (
        ("/companies", MessageSource.COMPANY, company),
        ("/orders", MessageSource.WORK_ORDER, order),
        ("/tickets", MessageSource.TICKET, ticket),
    ):
        message = _sms(db, wien, source=source, source_ref=str(record.id))
        url = _poll_url(admin_client.get(f"{path}/{record.id}").text, "history-poller")
        assert url.startswith(f"{path}/{record.id}?") and _watched(url) == {message.id}
        _set(db, message, status=MessageStatus.SENDING)
        answer = admin_client.get(url, headers=HISTORY_POLL).text
        assert f'id="hist-{message.id}-state"' in answer and "Wird versendet" in answer, path
    assert isinstance(ticket, Ticket)


# --- confirmation of SMS senden ----------------------------------------------------------------


def test_the_quick_form_confirms_with_a_live_status(clerk, db, wien, clerk_user, make_user):
    response = clerk.post(
        "/sms/senden",
        data={"recipient": "0676 1234567", "text": "Bitte um Rückruf", "mandant": wien.id},
        headers=HX,
    )
    message_id = json.loads(response.headers["HX-Trigger"])["sms-queued"]
    text = response.text
    assert 'id="flash" hx-swap-oob="true"' in text
    assert "SMS an +43 676 1234567" in text
    assert f'id="quick-{message_id}-status" data-status="queued"' in text
    url = _poll_url(text, "quick-poller")
    assert url.startswith("/sms/senden/status?") and _watched(url) == {message_id}
    poll = {**HX, "HX-Target": "quick-poller"}
    assert clerk.get(url, headers=poll).status_code == 204

    message = db.get(Message, message_id)
    _set(db, message, status=MessageStatus.SENT, sent_at=utcnow())
    answer = clerk.get(url, headers=poll).text
    assert f'id="quick-{message_id}-status" data-status="sent"' in answer
    assert 'hx-swap-oob="true">Versendet</span>' in answer
    assert _interval(answer, "quick-poller") == SLOW_POLL_SECONDS

    # Somebody else of the same Mandant does not follow this user's SMS.
    colleague = login_as(
        clerk.application.test_client(),
        make_user("kollegin", Permission.SMS_SEND, mandanten=[wien]),
    )
    foreign = colleague.get(url, headers=poll).text
    assert f"quick-{message_id}" not in foreign and _interval(foreign, "quick-poller") == 0


def test_a_refused_number_is_confirmed_as_final(clerk, db, wien):
    response = clerk.post(
        "/sms/senden",
        data={"recipient": "01 5880 0", "text": "Hallo", "mandant": wien.id},
        headers=HX,
    )
    assert 'data-status="failed"' in response.text
    assert _interval(response.text, "quick-poller") == 0


def test_the_quick_status_needs_permission_298004(client, db, make_user, wien):
    viewer = login_as(client, make_user("viewer", Permission.SMS_MESSAGES, mandanten=[wien]))
    assert viewer.get("/sms/senden/status?w=1%3Aqueued.1", headers=HX).status_code == 403

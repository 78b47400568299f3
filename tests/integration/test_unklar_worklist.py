"""The Unklar worklist (issue 13 point 4): banner, filter, "als versendet bestätigen" and
"erneut versenden" per SMS and for ticked rows, each decision recorded once."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import login_as
from webapp.models import Message, MessageSource, MessageStatus, UnclearDecision
from webapp.models.base import utcnow
from webapp.permissions import Permission
from webapp.sms import unclear
from webapp.sms.inbound import record_report
from webapp.sms.outbox import queue_sms
from webapp.sms.settings import set_global


@pytest.fixture
def eva(make_user, wien):
    return make_user("eva", Permission.SMS_MESSAGES, mandanten=[wien])


@pytest.fixture
def clerk(client, eva):
    return login_as(client, eva)


def _sms(db, mandant, status=MessageStatus.UNKNOWN, text="Hallo"):
    message = queue_sms(
        db, recipient="0664 1234567", text=text, mandant_id=mandant.id, source=MessageSource.MANUAL
    )
    message.status = status
    if status is MessageStatus.UNKNOWN:
        message.attempts = 1
        message.attempt_started_at = utcnow() - timedelta(minutes=5)
        message.run_key = "dead-run"
        message.reason = "Der Versand wurde unterbrochen; die SMS kann angekommen sein."
    db.commit()
    return message


def _reload(db, message):
    db.expire_all()
    return db.get(Message, message.id)


def _copies(db, original):
    return list(db.scalars(select(Message).where(Message.resent_from_id == original.id)))


def _flashes(html: str) -> str:
    return " ".join(re.findall(r'class="flash[^"]*"[^>]*>(.*?)</', html, re.S))


# --- banner and filter ---------------------------------------------------------------------------


def test_banner_counts_the_open_unclear_sms_of_the_users_mandanten(clerk, db, wien, graz):
    _sms(db, wien)
    _sms(db, wien)
    _sms(db, graz)  # another Mandant: not counted for eva
    _sms(db, wien, status=MessageStatus.SENT)
    decided = _sms(db, wien)
    decided.decision = UnclearDecision.RESENT  # resent: stays Unklar, but is decided
    db.commit()
    page = clerk.get("/admin/sms/")
    banner = re.search(r'id="unclear-banner">(.*?)</p>', page.text, re.S).group(1)
    assert "2 SMS mit unklarem Status – bitte prüfen" in banner
    assert 'href="/admin/sms/?unclear=open"' in banner


def test_no_banner_without_open_unclear_sms(clerk, db, wien, graz):
    _sms(db, graz)
    _sms(db, wien, status=MessageStatus.FAILED)
    assert "unclear-banner" not in clerk.get("/admin/sms/").text


def test_the_banners_filter_lists_the_open_unclear_sms_only(clerk, db, wien):
    first, second = _sms(db, wien), _sms(db, wien)
    _sms(db, wien, status=MessageStatus.SENT)
    decided = _sms(db, wien)
    decided.decision = UnclearDecision.RESENT
    db.commit()
    page = clerk.get("/admin/sms/?unclear=open")
    assert [int(i) for i in re.findall(r'<tr data-id="(\d+)"', page.text)] == [second.id, first.id]
    assert "2 SMS" in page.text
    resent = clerk.get("/admin/sms/?unclear=resent")
    assert re.findall(r'<tr data-id="(\d+)"', resent.text) == [str(decided.id)]


def test_an_open_unclear_row_offers_both_decisions(clerk, db, wien):
    open_one = _sms(db, wien)
    failed = _sms(db, wien, status=MessageStatus.FAILED)
    page = clerk.get("/admin/sms/").text
    assert f' action="/admin/sms/{open_one.id}/confirm-sent"' not in page  # buttons, not forms
    assert f'formaction="/admin/sms/{open_one.id}/confirm-sent"' in page
    assert f'formaction="/admin/sms/{open_one.id}/resend-unclear"' in page
    assert f'formaction="/admin/sms/{failed.id}/confirm-sent"' not in page
    assert 'id="unclear-confirm-button"' in page and 'id="unclear-resend-button"' in page


# --- one SMS -------------------------------------------------------------------------------------


def test_confirm_one_as_sent_records_who_and_when(clerk, db, wien):
    message = _sms(db, wien)
    started = message.attempt_started_at
    response = clerk.post(
        f"/admin/sms/{message.id}/confirm-sent", data={"status": "unknown"}, follow_redirects=False
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/sms/?status=unknown")
    message = _reload(db, message)
    assert message.status is MessageStatus.SENT
    assert message.decision is UnclearDecision.CONFIRMED_SENT
    assert message.decided_by == "Eva"
    assert abs(message.decided_at - utcnow()) < timedelta(minutes=1)
    assert message.sent_at == started  # the last moment it can have left
    assert message.delivered_at is None and message.reason is None and message.run_key is None
    page = clerk.get(f"/admin/sms/{message.id}").text
    assert "Als versendet bestätigt von Eva am" in page
    assert "1 unklare SMS als versendet bestätigt." in _flashes(page)


def test_confirmed_as_sent_still_takes_its_delivery_report(clerk, db, wien):
    message = _sms(db, wien)
    clerk.post(f"/admin/sms/{message.id}/confirm-sent")
    message = _reload(db, message)
    record_report(message, "delivered")
    db.commit()
    assert _reload(db, message).status is MessageStatus.DELIVERED


def test_a_report_that_came_while_unclear_is_applied_on_confirmation(clerk, db, wien):
    message = _sms(db, wien)
    message.status = MessageStatus.SENDING  # the report came while it was being sent …
    record_report(message, "delivered")
    message.status = MessageStatus.UNKNOWN  # … then the run died
    db.commit()
    clerk.post(f"/admin/sms/{message.id}/confirm-sent")
    message = _reload(db, message)
    assert message.status is MessageStatus.DELIVERED
    assert message.decision is UnclearDecision.CONFIRMED_SENT


def test_resend_one_makes_a_copy_and_the_original_points_to_it(clerk, db, wien, eva):
    message = _sms(db, wien)
    response = clerk.post(f"/admin/sms/{message.id}/resend-unclear", follow_redirects=True)
    (copy,) = _copies(db, message)
    assert f"die Kopie (#{copy.id}) wartet auf Versand" in _flashes(response.text)
    original = _reload(db, message)
    assert original.status is MessageStatus.UNKNOWN  # its fate is still not known
    assert original.decision is UnclearDecision.RESENT and original.resent_as_id == copy.id
    assert original.decided_by == "Eva"
    assert copy.status is MessageStatus.QUEUED and copy.source is MessageSource.RESEND
    assert copy.text == original.text and copy.created_by_id == eva.id
    page = clerk.get(f"/admin/sms/{original.id}").text
    assert "Erneut versendet von Eva am" in page and f"→ SMS #{copy.id}" in page
    assert f'href="/admin/sms/{copy.id}"' in page


def test_double_submit_of_resend_makes_exactly_one_copy(clerk, db, wien):
    message = _sms(db, wien)
    clerk.post(f"/admin/sms/{message.id}/resend-unclear")
    second = clerk.post(f"/admin/sms/{message.id}/resend-unclear", follow_redirects=True)
    assert len(_copies(db, message)) == 1
    text = _flashes(second.text)
    already = f"SMS {message.id} nicht geändert: Darüber wurde schon entschieden: Erneut versendet"
    assert already in text
    # The bulk path after the single one changes nothing either.
    bulk = {"ids": [message.id], "action": "resend", "confirmed": "1"}
    clerk.post("/admin/sms/unclear", data=bulk)
    clerk.post(f"/admin/sms/{message.id}/confirm-sent")
    assert len(_copies(db, message)) == 1
    assert _reload(db, message).status is MessageStatus.UNKNOWN


def test_concurrent_resends_make_exactly_one_copy(app, db, wien, eva):
    """Two requests at the same moment (a double click on two connections): the
    compare-and-set lets one through."""
    message = _sms(db, wien)
    barrier = threading.Barrier(4)
    results = []
    clients = [login_as(app.test_client(), eva) for _ in range(4)]
    url = f"/admin/sms/{message.id}/resend-unclear"

    def post(client) -> None:
        barrier.wait(timeout=30)
        results.append(client.post(url).status_code)

    threads = [threading.Thread(target=post, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [302] * 4
    assert len(_copies(db, message)) == 1
    assert _reload(db, message).resent_as_id == _copies(db, message)[0].id


def test_a_row_that_stopped_being_unclear_is_not_overwritten(clerk, db, wien):
    """A late outcome of the run (or a report) got there first: the decision changes nothing
    and says why."""
    message = _sms(db, wien)
    page = clerk.get("/admin/sms/").text  # the user sees it Unklar …
    assert f'formaction="/admin/sms/{message.id}/resend-unclear"' in page
    late = _reload(db, message)
    record_report(late, "undelivered")  # … meanwhile a report moved it on
    db.commit()
    response = clerk.post(f"/admin/sms/{message.id}/confirm-sent", follow_redirects=True)
    assert (
        f"SMS {message.id} nicht geändert: Sie ist nicht mehr unklar "
        "(Status jetzt „Nicht zugestellt“). Nichts geändert."
    ) in _flashes(response.text)
    message = _reload(db, message)
    assert message.status is MessageStatus.UNDELIVERED and message.decision is None
    clerk.post(f"/admin/sms/{message.id}/resend-unclear")
    assert _copies(db, message) == []


def test_compare_and_set_in_the_core(db, wien, eva):
    """The UPDATE itself checks the status: an object loaded before the change does not
    matter."""
    message = _sms(db, wien)
    stale = db.get(Message, message.id)
    db.execute(
        Message.__table__.update()
        .where(Message.id == message.id)
        .values(status=MessageStatus.FAILED, run_key=None)
    )
    result = unclear.confirm_sent(db, [message.id], decided_by=eva, mandant_ids={wien.id})
    db.commit()
    assert result.decided == [] and result.refused[0][0] == message.id
    assert stale.status is MessageStatus.FAILED  # expired and re-read


# --- ticked rows ---------------------------------------------------------------------------------


def test_bulk_asks_first_how_many_and_what_happens(clerk, db, wien):
    a, b = _sms(db, wien), _sms(db, wien)
    failed = _sms(db, wien, status=MessageStatus.FAILED)
    page = clerk.post(
        "/admin/sms/unclear",
        data={"ids": [a.id, b.id, failed.id], "action": "resend", "status": "unknown"},
    )
    assert page.status_code == 200
    assert "2 SMS werden erneut versendet." in page.text
    assert "bekommt der Empfänger sie zweimal" in page.text
    assert f"SMS {failed.id}: Sie ist nicht mehr unklar (Status jetzt „Fehler“)" in page.text
    assert re.findall(r'name="ids" value="(\d+)"', page.text) == [str(b.id), str(a.id)]
    assert 'name="confirmed" value="1"' in page.text
    assert 'href="/admin/sms/?status=unknown"' in page.text  # Abbrechen keeps the filter
    assert db.scalar(select(func.count()).select_from(Message)) == 3  # nothing done yet


def test_bulk_confirm_as_sent(clerk, db, wien):
    a, b = _sms(db, wien), _sms(db, wien)
    ask = clerk.post("/admin/sms/unclear", data={"ids": [a.id, b.id], "action": "confirm_sent"})
    assert "2 SMS werden als versendet bestätigt." in ask.text
    done = clerk.post(
        "/admin/sms/unclear",
        data={"ids": [a.id, b.id], "action": "confirm_sent", "confirmed": "1", "unclear": "open"},
        follow_redirects=True,
    )
    assert "2 unklare SMS als versendet bestätigt." in _flashes(done.text)
    assert "unclear-banner" not in done.text
    for m in (a, b):
        m = _reload(db, m)
        assert m.status is MessageStatus.SENT and m.decided_by == "Eva"


def test_bulk_resend_makes_one_copy_each(clerk, db, wien):
    a, b = _sms(db, wien), _sms(db, wien)
    data = {"ids": [a.id, b.id], "action": "resend", "confirmed": "1"}
    clerk.post("/admin/sms/unclear", data=data)
    clerk.post("/admin/sms/unclear", data=data)  # sent twice
    for m in (a, b):
        assert len(_copies(db, m)) == 1
        assert _reload(db, m).resent_as_id == _copies(db, m)[0].id


def test_bulk_without_selection_or_action_says_what_to_do(clerk):
    empty = clerk.post("/admin/sms/unclear", data={"action": "resend"}, follow_redirects=True)
    assert "Bitte zuerst SMS in der Liste auswählen." in _flashes(empty.text)
    wrong = clerk.post("/admin/sms/unclear", data={"ids": "1"}, follow_redirects=True)
    assert "Bitte „Als versendet bestätigen“ oder „Erneut versenden“ wählen." in _flashes(
        wrong.text
    )


def test_resend_is_refused_while_the_service_is_off(clerk, db, wien):
    message = _sms(db, wien)
    set_global(db, 1400, "0", "test")
    db.commit()
    response = clerk.post(f"/admin/sms/{message.id}/resend-unclear", follow_redirects=True)
    assert "SMS-Service" in _flashes(response.text)
    assert _copies(db, message) == [] and _reload(db, message).decision is None
    # Confirming queues nothing: it stays possible.
    clerk.post(f"/admin/sms/{message.id}/confirm-sent")
    assert _reload(db, message).status is MessageStatus.SENT


# --- who may decide ------------------------------------------------------------------------------


def test_sms_of_another_mandant_are_refused(clerk, db, graz, wien):
    foreign = _sms(db, graz)
    own = _sms(db, wien)
    response = clerk.post(
        "/admin/sms/unclear",
        data={"ids": [foreign.id, own.id], "action": "resend", "confirmed": "1"},
        follow_redirects=True,
    )
    assert f"SMS {foreign.id} nicht geändert: Die SMS gibt es nicht (mehr)." in _flashes(
        response.text
    )
    clerk.post(f"/admin/sms/{foreign.id}/confirm-sent")
    assert _reload(db, foreign).decision is None and _copies(db, foreign) == []
    assert len(_copies(db, own)) == 1
    assert clerk.get(f"/admin/sms/{foreign.id}").status_code == 404


@pytest.mark.parametrize(
    "path", ["/admin/sms/{id}/confirm-sent", "/admin/sms/{id}/resend-unclear", "/admin/sms/unclear"]
)
def test_without_1669_nothing_is_decided(client, make_user, db, wien, path):
    """298004 (SMS senden) alone does not open SMS Nachrichten, nor its worklist."""
    message = _sms(db, wien)
    login_as(client, make_user("sender", Permission.SMS_SEND, mandanten=[wien]))
    response = client.post(
        path.format(id=message.id), data={"ids": [message.id], "action": "resend", "confirmed": "1"}
    )
    assert response.status_code == 403
    assert _reload(db, message).decision is None
    assert client.get(f"/admin/sms/{message.id}").status_code == 403


# --- the SMS opened ------------------------------------------------------------------------------


def test_the_sms_opened_offers_the_decisions_while_unclear(clerk, db, wien):
    message = _sms(db, wien)
    page = clerk.get(f"/admin/sms/{message.id}").text
    assert f'action="/admin/sms/{message.id}/confirm-sent"' in page
    assert 'name="back" value="show"' in page
    response = clerk.post(f"/admin/sms/{message.id}/confirm-sent", data={"back": "show"})
    assert response.headers["Location"].endswith(f"/admin/sms/{message.id}")
    page = clerk.get(f"/admin/sms/{message.id}").text
    assert "confirm-sent" not in page
    assert "Als versendet bestätigt von Eva am" in page


def test_the_decision_shows_in_the_list_details_and_in_meine_sms(client, make_user, db, wien):
    author = make_user("autor", Permission.SMS_MESSAGES, mandanten=[wien])
    message = queue_sms(
        db,
        recipient="0664 1234567",
        text="Hallo",
        mandant_id=wien.id,
        source=MessageSource.MANUAL,
        created_by=author,
    )
    message.status = MessageStatus.UNKNOWN
    db.commit()
    login_as(client, author)
    client.post(f"/admin/sms/{message.id}/confirm-sent")
    assert "Als versendet bestätigt von Autor am" in client.get("/admin/sms/").text
    assert "Als versendet bestätigt von Autor am" in client.get(f"/sms/meine/{message.id}").text


def test_a_filter_typed_after_the_page_loaded_goes_along_with_the_bulk_form(clerk, db, wien):
    """The live filter swaps only the results (htmx): the bulk form's filter, which says where
    a decision returns to, is part of them — else it was the filter of the page as loaded."""
    results = clerk.get(
        "/admin/sms/",
        query_string={"unclear": "open", "text": "Heizung"},
        headers={"HX-Request": "true", "HX-Target": "message-results"},
    ).text
    assert '<div id="message-results">' in results and "<html" not in results
    assert '<input type="hidden" name="text" value="Heizung">' in results
    assert '<input type="hidden" name="unclear" value="open">' in results

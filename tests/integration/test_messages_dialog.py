"""SMS Nachrichten: list with Suchkriterien, Neu with live counter, Erneut versenden."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.conftest import login_as
from webapp import accounts
from webapp.models import Message, MessageSource, MessageStatus
from webapp.permissions import Permission
from webapp.sms.outbox import queue_sms
from webapp.sms.settings import set_global

HX_RESULTS = {"HX-Request": "true", "HX-Target": "message-results"}


@pytest.fixture
def clerk(client, make_user, wien):
    return login_as(client, make_user("clerk", Permission.SMS_MESSAGES, mandanten=[wien]))


def _sms(db, mandant, text="Hallo", recipient="0664 1234567", status=None, **kw):
    message = queue_sms(
        db,
        recipient=recipient,
        text=text,
        mandant_id=mandant.id,
        source=kw.pop("source", MessageSource.MANUAL),
        **kw,
    )
    if status:
        message.status = status
    db.commit()
    return message


def _ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-id="(\d+)"', html)]


def test_list_shows_newest_first_with_german_status(clerk, db, wien):
    first = _sms(db, wien, "erste")
    second = _sms(db, wien, "zweite", status=MessageStatus.FAILED)
    second.reason = "Die Nummer ist eine Festnetznummer."
    db.commit()
    page = clerk.get("/admin/sms/")
    assert page.status_code == 200
    assert _ids(page.text) == [second.id, first.id]
    assert "Wartet auf Versand" in page.text and "Fehler" in page.text
    assert "Die Nummer ist eine Festnetznummer." in page.text
    assert "+43 664 1234567" in page.text
    assert "2 SMS" in page.text


def test_codes_and_technical_texts_stand_only_in_the_details_line(clerk, db, wien):
    """Issue 12 point 10: the reason is a German sentence; the code (prefix_not_allowed) and
    what the operating system said follow in a small details line, never in the sentence."""
    refused = _sms(db, wien, "Vorwahl", recipient="+41 79 123 45 67")
    assert refused.error_code == "prefix_not_allowed"
    link = _sms(db, wien, "Modem")
    link.reason = "Nicht versucht: Modem nicht erreichbar.\nDetails: [Errno 111] Connection refused"
    link.error_code = "link"
    db.commit()
    page = clerk.get("/admin/sms/").text
    more = re.search(rf'id="msg-{refused.id}-more".*?</div>', page, re.S).group(0)
    assert "Die Vorwahl +41 79 ist nicht in der Konfigurationstabelle" in more
    assert '<small class="details">Details: prefix_not_allowed</small>' in more
    assert "<code>prefix_not_allowed</code>" not in page
    more = re.search(rf'id="msg-{link.id}-more".*?</div>', page, re.S).group(0)
    assert "Grund:</strong> Nicht versucht: Modem nicht erreichbar." in more
    assert '<small class="details">Details: [Errno 111] Connection refused · link</small>' in more
    badge = re.search(rf'<span [^>]*id="msg-{link.id}-status"[^>]*>', page).group(0)
    assert 'title="Nicht versucht: Modem nicht erreichbar."' in badge


def test_users_see_only_their_mandanten(clerk, db, wien, graz):
    mine = _sms(db, wien, "meine")
    _sms(db, graz, "fremde")
    page = clerk.get("/admin/sms/")
    assert _ids(page.text) == [mine.id]
    assert "fremde" not in page.text
    # Asking for the other Mandant explicitly does not help either.
    assert _ids(clerk.get(f"/admin/sms/?mandant={graz.id}").text) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=failed", ["kaputt"]),
        ("number=0664+12", ["kaputt", "a"]),
        ("number=%2B49+151", ["deutsch"]),
        ("text=DEUTSCH", ["deutsch"]),
        ("source=api", ["deutsch"]),
        ("status=unknown_value", ["deutsch", "kaputt", "b", "a"]),
    ],
)
def test_filters(clerk, db, wien, query, expected):
    _sms(db, wien, "a", "0664 1234567")
    _sms(db, wien, "b", "0676 1234567")
    _sms(db, wien, "kaputt", "0664 1299999", status=MessageStatus.FAILED)
    _sms(db, wien, "deutsch", "+49 151 12345678", source=MessageSource.API)
    page = clerk.get(f"/admin/sms/?{query}", headers=HX_RESULTS)
    assert page.status_code == 200
    texts = re.findall(r'class="text-preview" title="([^"]*)"', page.text)
    assert texts == expected


def test_htmx_search_returns_only_the_results(clerk, db, wien):
    _sms(db, wien)
    partial = clerk.get("/admin/sms/?status=queued", headers=HX_RESULTS)
    assert partial.text.lstrip().startswith('<div id="message-results">')
    assert "<html" not in partial.text


def test_date_filter_and_bad_date(clerk, db, wien):
    _sms(db, wien)
    assert len(_ids(clerk.get("/admin/sms/?created_from=2020-01-01").text)) == 1
    assert _ids(clerk.get("/admin/sms/?created_to=2020-01-01").text) == []
    bad = clerk.get("/admin/sms/?created_from=morgen")
    assert bad.status_code == 200 and "gültiges Datum" in bad.text


def test_keyset_pages(app, clerk, db, wien):
    messages = [_sms(db, wien, f"nr {i}") for i in range(120)]
    first = clerk.get("/admin/sms/")
    ids = _ids(first.text)
    assert ids == [m.id for m in reversed(messages)][:50]
    older = re.search(r'href="(/admin/sms/\?before=\d+)"', first.text).group(1)
    second = _ids(clerk.get(older).text)
    assert second == [m.id for m in reversed(messages)][50:100]
    third_page = clerk.get(f"/admin/sms/?before={second[-1]}")
    assert len(_ids(third_page.text)) == 20
    assert 'id="older-page"' not in third_page.text
    newer = re.search(r'href="(/admin/sms/\?after=\d+)"', third_page.text).group(1)
    assert _ids(clerk.get(newer.replace("&amp;", "&")).text) == second
    assert "120 SMS" in first.text


def test_search_fields_and_texts_are_escaped(clerk, db, wien):
    _sms(db, wien, "<script>alert(1)</script>")
    page = clerk.get("/admin/sms/?text=<script>")
    assert len(_ids(page.text)) == 1
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert 'value="&lt;script&gt;"' in page.text


def test_new_queues_and_returns_to_the_list(clerk, db, wien):
    form = clerk.get("/admin/sms/new")
    assert form.status_code == 200 and "Mobilfunknummer" in form.text
    response = clerk.post(
        "/admin/sms/new",
        data={"recipient": "0664 1234567", "mandant": wien.id, "text": "Hallo Frau Huber"},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/admin/sms/"
    listing = clerk.get("/admin/sms/")
    assert "SMS wurde in die Versandliste aufgenommen." in listing.text
    message = db.scalar(select(Message))
    assert message.text == "Hallo Frau Huber" and message.created_by.username == "clerk"


def test_new_shows_the_fixed_text_as_the_end(clerk, db, wien):
    set_global(db, 1402, "Ihre HV <Wien>", "test")
    db.commit()
    form = clerk.get("/admin/sms/new")
    assert "Ihre HV &lt;Wien&gt;" in form.text
    assert "globale Variable 1402" in form.text


def test_new_with_bad_input_keeps_what_was_typed(clerk, db, wien):
    response = clerk.post(
        "/admin/sms/new", data={"recipient": "0664 1234567", "mandant": wien.id, "text": "  "}
    )
    assert response.status_code == 422
    assert "Bitte einen SMS-Text eingeben." in response.text
    assert 'value="0664 1234567"' in response.text
    assert db.scalar(select(Message)) is None


def test_new_refuses_a_foreign_mandant_at_the_mandant_field(client, db, make_user, wien, graz):
    linz = accounts.save_mandant(db, "HV Linz")
    db.commit()
    login_as(client, make_user("both", Permission.SMS_MESSAGES, mandanten=[wien, linz]))
    response = client.post(
        "/admin/sms/new", data={"recipient": "0664 1234567", "mandant": graz.id, "text": "x"}
    )
    assert response.status_code == 422
    # The select is shown (two Mandanten to choose from) and the message stands at it.
    assert re.search(
        r'<select id="mandant".*?</select>\s*<small class="field-error">'
        r"Bitte einen Ihrer Mandanten auswählen.",
        response.text,
        re.S,
    )
    assert db.scalar(select(Message)) is None


def test_new_with_one_mandant_never_queues_for_a_foreign_one(clerk, db, wien, graz):
    # The select is hidden: the user's only Mandant is taken, whatever was sent.
    response = clerk.post(
        "/admin/sms/new", data={"recipient": "0664 1234567", "mandant": graz.id, "text": "x"}
    )
    assert response.status_code == 302
    assert db.scalar(select(Message)).mandant_id == wien.id


def test_new_with_a_landline_is_stored_as_failed_and_says_so(clerk, db, wien):
    response = clerk.post(
        "/admin/sms/new",
        data={"recipient": "01 5880 0", "mandant": wien.id, "text": "x"},
        follow_redirects=True,
    )
    assert "kann aber nicht versendet werden" in response.text
    assert db.scalar(select(Message)).status is MessageStatus.FAILED


def test_live_counter(clerk, db):
    hx = {"HX-Request": "true"}
    short = clerk.post("/sms/compose/counter", data={"text": "Hallo"}, headers=hx)
    assert "5 / 160 Zeichen" in short.text and "1 SMS" in short.text and "GSM" in short.text
    long = clerk.post("/sms/compose/counter", data={"text": "x" * 161}, headers=hx)
    assert "2 SMS" in long.text and "161 / 306" in long.text
    emoji = clerk.post("/sms/compose/counter", data={"text": "Hallo 😀"}, headers=hx)
    assert "Unicode" in emoji.text and "wegen 😀" in emoji.text


def test_live_number_check(clerk):
    ok = clerk.post("/sms/compose/number", data={"recipient": "0664 1234567"})
    assert "+43 664 1234567" in ok.text
    bad = clerk.post("/sms/compose/number", data={"recipient": "01 5880 0"})
    assert "Festnetznummer" in bad.text


def test_resend_selected_rows(clerk, db, wien):
    failed = _sms(db, wien, "kaputt", status=MessageStatus.FAILED)
    waiting = _sms(db, wien, "wartet")
    response = clerk.post(
        "/admin/sms/resend", data={"ids": [failed.id, waiting.id], "status": "failed"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/sms/?status=failed"
    listing = clerk.get("/admin/sms/")
    assert "1 SMS wurde kopiert" in listing.text
    assert f"SMS {waiting.id} nicht kopiert" in listing.text
    copy = db.scalar(select(Message).where(Message.resent_from_id == failed.id))
    assert copy.status is MessageStatus.QUEUED
    assert _ids(listing.text)[0] == copy.id


def test_resend_without_selection_says_what_to_do(clerk):
    response = clerk.post("/admin/sms/resend", data={}, follow_redirects=True)
    assert "Bitte zuerst SMS in der Liste auswählen." in response.text


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("heizung", ["Heizung defekt"]),  # any case
        ("ÖFFNUNG", ["Öffnung der Tür"]),
        ("50%", ["50% Rabatt"]),  # % is a character here, not a wildcard
        ("a_b", ["a_b"]),
        ("Tü", ["Öffnung der Tür"]),  # shorter than a trigram
        ("nichts", []),
    ],
)
def test_text_search(clerk, db, wien, term, expected):
    for text in ("Heizung defekt", "Öffnung der Tür", "50% Rabatt", "500 Rabatt", "a_b", "axb"):
        _sms(db, wien, text)
    page = clerk.get("/admin/sms/", query_string={"text": term}, headers=HX_RESULTS)
    assert re.findall(r'class="text-preview" title="([^"]*)"', page.text) == expected


def test_text_search_pages_in_id_order(clerk, db, wien):
    messages = [_sms(db, wien, f"Heizung {i}") for i in range(60)]
    first = clerk.get("/admin/sms/?text=Heizung")
    assert _ids(first.text) == [m.id for m in reversed(messages)][:50]
    second = clerk.get(f"/admin/sms/?text=Heizung&before={_ids(first.text)[-1]}")
    assert _ids(second.text) == [m.id for m in reversed(messages)][50:]
    assert "60 SMS" in first.text


def test_the_variante_2_signature_is_part_of_every_new_sms(clerk, db, wien):
    from webapp.models import Job

    job = db.scalar(select(Job).where(Job.job_type == "service_sms"))
    job.settings = {"websms": {"signature": "Mag. Huber, HV Wien"}}  # channel 1: websms
    set_global(db, 1402, "Antworten nicht möglich", "test")
    db.commit()
    form = clerk.get("/admin/sms/new")
    assert "Mag. Huber, HV Wien" in form.text and "Antworten nicht möglich" in form.text
    counter = clerk.post("/sms/compose/counter", data={"text": "Hallo"})
    expected = len("Hallo\nMag. Huber, HV Wien\nAntworten nicht möglich")
    assert f"{expected} / 160 Zeichen" in counter.text
    clerk.post(
        "/admin/sms/new", data={"recipient": "0664 1234567", "mandant": wien.id, "text": "Hallo"}
    )
    message = db.scalar(select(Message))
    assert message.text == "Hallo\nMag. Huber, HV Wien\nAntworten nicht möglich"
    job.channels[0].kind = "modem"  # Variante 1 only: no signature
    db.commit()
    assert "Mag. Huber" not in clerk.get("/admin/sms/new").text

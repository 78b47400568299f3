"""SMS senden: the quick form (dialog or page), contact search, pre-fill from a record."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from tests.conftest import login_as
from webapp import accounts
from webapp.models import Company, Message, MessageSource, MessageStatus, Person, SmsText
from webapp.permissions import Permission
from webapp.sms.settings import set_global

HX = {"HX-Request": "true"}


@pytest.fixture
def wien(db):
    m = accounts.save_mandant(db, "HV Wien")
    set_global(db, 1400, "1", "test")
    db.commit()
    return m


@pytest.fixture
def sender(client, make_user, wien):
    return login_as(client, make_user("sender", Permission.SMS_SEND, mandanten=[wien]))


@pytest.fixture
def huber(db, wien):
    person = Person(name="Maria Huber", mobile="0664 7654321", mandant_id=wien.id)
    db.add(person)
    db.commit()
    return person


def test_dialog_queues_and_closes(sender, db, wien):
    form = sender.get("/sms/senden", headers=HX)
    assert form.status_code == 200 and "<html" not in form.text and "quicksend-title" in form.text
    response = sender.post(
        "/sms/senden",
        data={"recipient": "0676 1234567", "text": "Hallo", "mandant": wien.id},
        headers=HX,
    )
    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"])["sms-queued"] > 0
    assert "SMS wurde in die Versandliste aufgenommen." in response.text
    message = db.scalar(select(Message))
    assert message.source is MessageSource.QUICK and message.status is MessageStatus.QUEUED


def test_dialog_shows_errors_in_place(sender, db, wien):
    response = sender.post(
        "/sms/senden",
        data={"recipient": "0676 1234567", "text": "", "mandant": wien.id},
        headers=HX,
    )
    assert response.status_code == 422
    assert "Bitte einen SMS-Text eingeben." in response.text
    assert 'value="0676 1234567"' in response.text
    assert db.scalar(select(Message)) is None


def test_page_without_javascript_redirects_back_to_a_local_page_only(sender, wien):
    data = {"recipient": "0676 1234567", "text": "Hallo", "mandant": wien.id}
    ok = sender.post("/sms/senden?back=/persons", data=data)
    assert ok.headers["Location"] == "/persons"
    evil = sender.post("/sms/senden?back=https://evil.example/", data=data)
    assert evil.headers["Location"] == "/"
    page = sender.get("/sms/senden?back=javascript:alert(1)")
    assert "javascript:alert" not in page.text


def test_prefilled_from_a_person_and_recorded_as_its_sms(sender, db, huber):
    form = sender.get(f"/sms/senden?person={huber.id}")
    assert "Maria Huber" in form.text and 'value="0664 7654321"' in form.text
    response = sender.post(
        "/sms/senden",
        data={
            "recipient": "0664 7654321",
            "text": "Termin morgen",
            "record_kind": "person",
            "record_id": str(huber.id),
        },
    )
    assert response.status_code == 302
    message = db.scalar(select(Message))
    assert message.source is MessageSource.PERSON and message.source_ref == str(huber.id)
    assert message.mandant_id == huber.mandant_id


def test_record_of_another_mandant_is_404(sender, db):
    graz = accounts.save_mandant(db, "HV Graz")
    company = Company(name="Fremdfirma", mobile="0664 1111111", mandant_id=graz.id)
    db.add(company)
    db.commit()
    assert sender.get(f"/sms/senden?company={company.id}").status_code == 404
    response = sender.post(
        "/sms/senden",
        data={
            "recipient": "0664 1111111",
            "text": "x",
            "record_kind": "company",
            "record_id": str(company.id),
        },
    )
    assert response.status_code == 404
    assert db.scalar(select(Message)) is None


def test_contact_search_finds_records_with_a_mobile_number(sender, db, huber, wien):
    db.add(Person(name="Hubert Ohne", mobile="", mandant_id=wien.id))
    db.commit()
    found = sender.get("/sms/senden/kontakte?q=hub")
    assert "Maria Huber" in found.text and "+43 664 7654321" in found.text
    assert "Hubert Ohne" not in found.text
    assert sender.get("/sms/senden/kontakte?q=h").text.strip() == ""
    escaped = sender.get("/sms/senden/kontakte?q=<script>")
    assert "<script>" not in escaped.text


def test_needs_the_sms_service(sender, db):
    set_global(db, 1400, "0", "test")
    db.commit()
    refused = sender.get("/sms/senden")
    assert refused.status_code == 403 and "1400" in refused.text


# --- placeholders (issue 12 point 8) -------------------------------------------------------------


def _template(db, body, usage="auftrag_kreditor", name="Auftrag an Kreditor"):
    text = SmsText(name=name, usage_key=usage, body=body)
    db.add(text)
    db.commit()
    return text


def test_a_template_with_placeholders_is_refused_naming_them(sender, db, wien):
    response = sender.post(
        "/sms/senden",
        data={"recipient": "0676 1234567", "text": "Auftrag {auftrag.nummer}", "mandant": wien.id},
        headers=HX,
    )
    assert response.status_code == 422
    error = re.search(
        r'<small class="field-error" id="quick-text-error">(.*?)</small>', response.text
    )
    assert error.group(1) == (
        "Der Platzhalter {auftrag.nummer} wird hier nicht ausgefüllt: bitte durch den "
        "gewünschten Text ersetzen."
    )
    assert db.scalar(select(Message)) is None


def test_the_live_check_marks_unfilled_placeholders_and_previews_the_final_text(sender, db):
    set_global(db, 1402, "Ihre HV", "test")
    db.commit()
    check = sender.post(
        "/sms/compose/counter", data={"text": "Auftrag {auftrag.nummer} für {firma.name}"}
    )
    assert 'data-validity="invalid"' in check.text
    assert "Die Platzhalter {auftrag.nummer}, {firma.name} werden hier nicht ausgefüllt" in (
        check.text
    )
    preview = re.search(r'<p class="full-text">(.*?)</p>', check.text, re.S).group(1)
    assert preview == (
        'Auftrag <mark class="unfilled">{auftrag.nummer}</mark> für '
        '<mark class="unfilled">{firma.name}</mark>\nIhre HV'
    )
    fine = sender.post("/sms/compose/counter", data={"text": "Hallo"})
    assert 'data-validity=""' in fine.text and "<mark" not in fine.text
    assert re.search(r'<p class="full-text">(.*?)</p>', fine.text, re.S).group(1) == (
        "Hallo\nIhre HV"
    )
    empty = sender.post("/sms/compose/counter", data={"text": ""})
    assert 'data-validity=""' in empty.text and "sms-preview" not in empty.text


def test_a_template_is_filled_for_the_chosen_person_or_firma(sender, db, huber, wien):
    text = _template(db, "Hallo {person.name}, {mandant.name}: Auftrag {auftrag.nummer} {{ok}}")
    plain = sender.get(f"/admin/sms-texts/{text.id}/body")
    assert plain.text == "Hallo {person.name}, {mandant.name}: Auftrag {auftrag.nummer} {ok}"
    filled = sender.get(f"/admin/sms-texts/{text.id}/body?person={huber.id}")
    assert filled.text == "Hallo Maria Huber, HV Wien: Auftrag {auftrag.nummer} {ok}"
    company = Company(name="Dach GmbH", mobile="0664 2222222", mandant_id=wien.id)
    db.add(company)
    db.commit()
    firm = _template(db, "{firma.name} / {person.name}", usage="", name="frei")
    assert sender.get(f"/admin/sms-texts/{firm.id}/body?company={company.id}").text == (
        "Dach GmbH / {person.name}"
    )
    graz = accounts.save_mandant(db, "HV Graz")
    stranger = Person(name="Fremd", mobile="0664 3333333", mandant_id=graz.id)
    db.add(stranger)
    db.commit()
    assert sender.get(f"/admin/sms-texts/{text.id}/body?person={stranger.id}").status_code == 404


# --- marks and focus (issue 12 points 9 and 13) --------------------------------------------------


def test_the_number_check_says_whether_the_number_is_valid(sender):
    ok = sender.post("/sms/compose/number", data={"recipient": "0664 1234567"})
    assert 'data-validity="valid"' in ok.text and "✓" in ok.text
    bad = sender.post("/sms/compose/number", data={"recipient": "12345"})
    assert 'data-validity="invalid"' in bad.text and "✓" not in bad.text
    empty = sender.post("/sms/compose/number", data={"recipient": " "})
    assert 'data-validity=""' in empty.text and "✓" not in empty.text


def test_the_form_claims_no_validity_before_it_is_checked(sender, wien):
    form = sender.get("/sms/senden", headers=HX)
    fields = re.findall(r"<(?:input|textarea)[^>]*>", form.text)
    assert fields and not any("aria-invalid" in field for field in fields)
    # The cursor starts in the search, not on "Schließen".
    assert re.search(r'<input type="search" id="contact-search"[^>]*autofocus', form.text)
    refused = sender.post(
        "/sms/senden", data={"recipient": "", "text": "x", "mandant": wien.id}, headers=HX
    )
    recipient = re.search(r'<input[^>]*name="recipient"[^>]*>', refused.text).group(0)
    assert 'aria-invalid="true"' in recipient and "autofocus" in recipient


def test_the_record_line_says_to_whom(sender, huber):
    form = sender.get(f"/sms/senden?person={huber.id}", headers=HX)
    line = re.search(r'<p class="readonly-field" id="quicksend-to"[^>]*>(.*?)</p>', form.text, re.S)
    assert " ".join(re.sub(r"<[^>]+>", "", line.group(1)).split()) == (
        "An: Maria Huber, +43 664 7654321 · HV Wien"
    )


# --- the dialog's editor has ids of its own (it opens over Neu) ----------------------------------


def _ids(html: str) -> list[str]:
    return re.findall(r'\bid="([^"]+)"', html)


def test_the_dialog_editor_has_ids_of_its_own_and_the_names_the_views_read(sender, wien):
    dialog = sender.get("/sms/senden", headers=HX).text
    fields = re.findall(r"<(?:input|textarea|select)\b[^>]*>", dialog)
    named = {re.search(r'name="([^"]+)"', f).group(1): f for f in fields if 'name="' in f}
    for name in ("recipient", "mandant", "text", "record_kind", "record_id"):
        assert f'id="quick-{name}"' in named[name]
    assert 'for="quick-recipient"' in dialog and 'for="quick-text"' in dialog
    editor_ids = set(_ids(dialog)) - {"quicksend-title", "quicksend-form", "quicksend-to"}
    page = sender.get("/sms/senden").text  # the page without JavaScript: the same form
    assert 'id="quick-number-check"' in page
    assert all(i.startswith(("quick-", "contact-")) for i in editor_ids), editor_ids
    assert 'hx-target="#quick-number-check"' in dialog and 'hx-target="#quick-sms-check"' in dialog
    assert "/sms/compose/number?prefix=quick-" in dialog
    assert "/sms/compose/counter?prefix=quick-" in dialog
    assert 'aria-describedby="quick-number-check"' in dialog

    refused = sender.post(
        "/sms/senden", data={"recipient": "", "text": "x", "mandant": wien.id}, headers=HX
    )
    assert 'id="quick-recipient-error"' in refused.text
    assert 'aria-describedby="quick-recipient-error quick-number-check"' in refused.text


def test_the_live_checks_answer_with_the_ids_of_their_editor(sender):
    number = sender.post("/sms/compose/number?prefix=quick-", data={"recipient": "12345"})
    assert _ids(number.text) == ["quick-number-check"]
    counter = sender.post("/sms/compose/counter?prefix=quick-", data={"text": "Hallo {x.y}"})
    assert _ids(counter.text) == [
        "quick-sms-check",
        "quick-sms-counter",
        "quick-sms-placeholders",
        "quick-sms-preview",
    ]
    # Without a prefix (Neu), or with one that is no id prefix, the plain ids.
    assert _ids(sender.post("/sms/compose/number", data={"recipient": "1"}).text) == [
        "number-check"
    ]
    odd = sender.post('/sms/compose/number?prefix="><b>', data={"recipient": "1"})
    assert _ids(odd.text) == ["number-check"] and "<b>" not in odd.text

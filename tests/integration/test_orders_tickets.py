"""Aufträge and Tickets: CRUD, tenant isolation, bad input, and their SMS (SPEC R40–R44)."""

from __future__ import annotations

import itertools
import re

import pytest
from sqlalchemy import func, select

from tests.conftest import login_as
from webapp.models import Message, MessageSource, MessageStatus, SmsText, Ticket, WorkOrder
from webapp.sms import contacts, notifications, orders, paging
from webapp.sms.settings import set_global

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def sms_service_on(db):
    """Global 1400: the SMS service is switched on (one test switches it off)."""
    set_global(db, 1400, "1", "test")
    db.commit()


def _person(db, mandant, name, mobile=""):
    person = contacts.save_person(
        db,
        contacts.ContactInput(
            name=name,
            mandant_id=mandant.id,
            mobile=mobile,
            street="Hauptstraße 1",
            postal_code="1010",
            city="Wien",
        ),
    )
    db.commit()
    return person


def _company(db, mandant, name="Installateur Huber GmbH", mobile="0664 5551234"):
    company = contacts.save_company(
        db, contacts.ContactInput(name=name, mandant_id=mandant.id, mobile=mobile)
    )
    db.commit()
    return company


def _text(db, usage, body, name=None):
    text = SmsText(name=name or f"Text {usage}", usage_key=usage, body=body)
    db.add(text)
    db.commit()
    return text


@pytest.fixture
def texts(db):
    _text(
        db,
        "auftrag_kreditor",
        "Auftrag {auftrag.nummer}: {auftrag.titel}, {objekt.adresse}, "
        "Termin {auftrag.termin}. {mandant.name}",
    )
    _text(
        db,
        "auftrag_kontrolleur",
        "Hallo {person.name}, Auftrag {auftrag.nummer} an {auftrag.kreditor} vergeben.",
    )
    _text(
        db,
        "auftrag_bn",
        "Sehr geehrte/r {person.name}, {auftrag.kreditor} kommt am {auftrag.termin}.",
    )
    _text(
        db,
        "ticket_bn_erstellt",
        "Ihr Ticket {ticket.nummer} ({ticket.titel}) wurde angelegt, {person.name}.",
    )


@pytest.fixture
def people(db, wien):
    return {
        "creditor": _company(db, wien),
        "inspector": _person(db, wien, "Franz Berger", "0699 11223344"),
        "resident": _person(db, wien, "Maria Gruber", "0664 1234567"),
    }


def _order(db, mandant, people=None, **extra):
    people = people or {}
    data = orders.OrderInput(
        mandant_id=mandant.id,
        title="Wasserschaden Bad",
        address="Gumpendorfer Straße 12/4, 1060 Wien",
        appointment="2026-12-01T08:00",
        creditor_id=people["creditor"].id if "creditor" in people else None,
        inspector_id=people["inspector"].id if "inspector" in people else None,
        resident_id=people["resident"].id if "resident" in people else None,
    )
    for key, value in extra.items():
        setattr(data, key, value)
    order = orders.save_order(db, data)
    db.commit()
    return order


def _globals(db, **values):
    for number, value in values.items():
        set_global(db, int(number.lstrip("g")), value, "test")
    db.commit()


def _messages(db, source=None):
    stmt = select(Message).order_by(Message.id)
    if source is not None:
        stmt = stmt.where(Message.source == source)
    return list(db.scalars(stmt))


# --- numbers and saving ------------------------------------------------------------------------


def test_order_numbers_are_generated_per_year(db, wien):
    first = _order(db, wien)
    second = _order(db, wien)
    year = first.created_at.year
    assert first.number == f"A-{year}-0001"
    assert second.number == f"A-{year}-0002"
    assert first.appointment.hour == 7  # 08:00 in Vienna (CET) is 07:00 UTC


def test_create_order_through_the_dialog(admin_client, db, wien, people):
    response = admin_client.post(
        "/orders/new",
        data={
            "title": "Heizung prüfen",
            "mandant_id": str(wien.id),
            "address": "Hauptstraße 1, 1010 Wien",
            "appointment": "2026-12-01T09:30",
            "creditor_id": str(people["creditor"].id),
            "inspector_id": str(people["inspector"].id),
            "resident_id": "",
            "description": "Therme tropft",
        },
    )
    assert response.status_code == 302
    order = db.scalar(select(WorkOrder))
    assert response.headers["Location"] == f"/orders/{order.id}"
    page = admin_client.get(response.headers["Location"])
    assert "Auftrag A-" in page.text and "wurde gespeichert" in page.text
    assert "01.12.2026 09:30" in page.text
    assert "Installateur Huber GmbH" in page.text
    assert "Auftrag versenden" in page.text and "Bearbeiten" in page.text
    listing = admin_client.get("/orders?q=heizung")
    assert order.number in listing.text
    assert order.number not in admin_client.get("/orders?q=dach").text


def test_edit_order(admin_client, db, wien, people):
    order = _order(db, wien, people)
    form = admin_client.get(f"/orders/{order.id}/edit")
    assert form.status_code == 200 and 'value="2026-12-01T08:00"' in form.text
    response = admin_client.post(
        f"/orders/{order.id}/edit",
        data={"title": "Neu", "mandant_id": str(wien.id), "appointment": ""},
    )
    assert response.status_code == 302
    db.refresh(order)
    assert (order.title, order.appointment, order.creditor_id) == ("Neu", None, None)


def test_bad_order_input_gives_422_with_german_messages_and_saves_nothing(
    admin_client, db, wien, graz, people
):
    foreign = _company(db, graz, "Malerei Fuchs GmbH")
    response = admin_client.post(
        "/orders/new",
        data={
            "title": "",
            "mandant_id": str(wien.id),
            "appointment": "morgen früh",
            "creditor_id": str(foreign.id),
            "description": "x" * 4001,
        },
    )
    assert response.status_code == 422
    assert "Bitte einen Titel eingeben." in response.text
    assert "Bitte den Termin als Datum und Uhrzeit eingeben" in response.text
    assert "Bitte einen Kreditor (eine Firma) des gewählten Mandanten auswählen." in response.text
    assert "Die Beschreibung darf höchstens 4000 Zeichen lang sein" in response.text
    assert 'value="morgen früh"' in response.text  # keeps what was typed
    assert db.scalar(select(func.count()).select_from(WorkOrder)) == 0
    missing = admin_client.post("/orders/new", data={"title": "x", "mandant_id": ""})
    assert missing.status_code == 422 and "Bitte einen Mandanten auswählen." in missing.text


def test_bad_ticket_input(admin_client, db, wien, graz):
    stranger = _person(db, graz, "Karl Moser", "0660 7654321")
    response = admin_client.post(
        "/tickets/new",
        data={"subject": " ", "mandant_id": str(wien.id), "resident_id": str(stranger.id)},
    )
    assert response.status_code == 422
    assert "Bitte einen Betreff eingeben." in response.text
    assert "Bestandsnehmer (eine Person) des gewählten Mandanten" in response.text
    assert db.scalar(select(func.count()).select_from(Ticket)) == 0
    assert _messages(db) == []


# --- the contact selects follow the Mandant (issue 12 point 12) ----------------------------------


def _options(html, field):
    select = re.search(rf'<select[^>]*name="{field}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r"<option[^>]*>([^<]*)</option>", select)


def _selected(html, field):
    select = re.search(rf'<select[^>]*name="{field}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option selected value="([^"]*)"', select)


def test_contact_selects_offer_only_the_chosen_mandants_people(
    admin_client, db, wien, graz, people
):
    _company(db, graz, "Malerei Fuchs GmbH")
    _person(db, graz, "Karl Moser", "0660 7654321")
    # Before a Mandant is chosen there is nobody to offer.
    new = admin_client.get("/orders/new")
    assert _options(new.text, "creditor_id") == ["– zuerst einen Mandanten wählen –"]
    assert 'hx-get="/orders/contacts"' in new.text
    # The Mandant's own, by name, without the Mandant in every line.
    for_wien = admin_client.get(f"/orders/contacts?mandant_id={wien.id}", headers=HX)
    assert 'id="record-contacts"' in for_wien.text and "<html" not in for_wien.text
    assert _options(for_wien.text, "creditor_id") == [
        "– keine Auswahl –",
        "Installateur Huber GmbH",
    ]
    assert _options(for_wien.text, "inspector_id") == [
        "– keine Auswahl –",
        "Franz Berger",
        "Maria Gruber",
    ]
    # Another Mandant: its people; a choice of the old one is taken out, and it says so.
    switched = admin_client.get(
        f"/orders/contacts?mandant_id={graz.id}&creditor_id={people['creditor'].id}"
        f"&inspector_id={people['inspector'].id}",
        headers=HX,
    )
    assert _options(switched.text, "creditor_id") == ["– keine Auswahl –", "Malerei Fuchs GmbH"]
    assert _options(switched.text, "resident_id") == ["– keine Auswahl –", "Karl Moser"]
    assert _selected(switched.text, "creditor_id") == [""]
    assert (
        "Gehört nicht zum gewählten Mandanten und wurde entfernt: Kreditor, Kontrolleur."
        in switched.text
    )
    # A choice that fits stays.
    kept = admin_client.get(
        f"/orders/contacts?mandant_id={wien.id}&creditor_id={people['creditor'].id}", headers=HX
    )
    assert _selected(kept.text, "creditor_id") == [str(people["creditor"].id)]
    assert "wurde entfernt" not in kept.text
    # Editing an order offers its Mandant's people only.
    order = _order(db, wien, people)
    edit = admin_client.get(f"/orders/{order.id}/edit")
    assert _options(edit.text, "creditor_id") == ["– keine Auswahl –", "Installateur Huber GmbH"]
    assert _selected(edit.text, "creditor_id") == [str(people["creditor"].id)]


def test_the_contact_selects_stay_within_the_users_mandanten(client, db, make_user, wien, graz):
    _person(db, graz, "Karl Moser", "0660 7654321")
    _person(db, wien, "Maria Gruber", "0664 1234567")
    user = login_as(client, make_user("wienerin", mandanten=[wien]))
    own = user.get(f"/tickets/contacts?mandant_id={wien.id}", headers=HX)
    assert _options(own.text, "resident_id") == ["– keine Auswahl –", "Maria Gruber"]
    foreign = user.get(f"/tickets/contacts?mandant_id={graz.id}", headers=HX)
    assert _options(foreign.text, "resident_id") == ["– zuerst einen Mandanten wählen –"]
    assert user.get("/tickets/new").status_code == 200
    assert _options(user.get("/tickets/new").text, "resident_id") == [
        "– keine Auswahl –",
        "Maria Gruber",
    ]


# --- tenant isolation ----------------------------------------------------------------------------


def test_foreign_orders_and_tickets_answer_404(client, db, make_user, wien, graz, people, texts):
    order = _order(db, wien, people)
    ticket = orders.save_ticket(db, orders.TicketInput(mandant_id=wien.id, subject="Heizung"))
    db.commit()
    login_as(client, make_user("grazer", mandanten=[graz]))
    for url in (
        f"/orders/{order.id}",
        f"/orders/{order.id}/edit",
        f"/orders/{order.id}/send",
        f"/tickets/{ticket.id}",
        f"/tickets/{ticket.id}/edit",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/orders/{order.id}/send", data={}).status_code == 404
    assert _messages(db) == []
    assert order.number not in client.get("/orders").text
    assert ticket.number not in client.get("/tickets").text
    # nor can they pick another Mandant's records in their own order
    page = client.get("/orders/new")
    assert "Installateur Huber GmbH" not in page.text and "Maria Gruber" not in page.text
    response = client.post(
        "/orders/new",
        data={
            "title": "x",
            "mandant_id": str(wien.id),
            "creditor_id": str(people["creditor"].id),
        },
    )
    assert response.status_code == 422
    assert "Bitte einen Ihrer Mandanten auswählen." in response.text


def test_own_orders_are_visible(client, db, make_user, wien, people):
    order = _order(db, wien, people)
    login_as(client, make_user("wiener", mandanten=[wien]))
    assert client.get(f"/orders/{order.id}").status_code == 200
    assert order.number in client.get("/orders").text


# --- Auftrag versenden: every combination of 1539/1580/1581 ------------------------------------


@pytest.mark.parametrize(("g1539", "g1580", "g1581"), list(itertools.product("01", repeat=3)))
def test_send_dialog_defaults_follow_the_globals(
    admin_client, db, wien, people, texts, g1539, g1580, g1581
):
    _globals(db, g1539=g1539, g1580=g1580, g1581=g1581)
    order = _order(db, wien, people)
    page = admin_client.get(f"/orders/{order.id}/send")
    assert page.status_code == 200
    assert "Kontrolleur per SMS informieren" in page.text
    inspector_box = page.text.split('id="inform_inspector"')[0].rsplit("<input", 1)[1]
    inspector_box += page.text.split('id="inform_inspector"')[1].split(">", 1)[0]
    assert ("checked" in inspector_box) == (g1539 == "1")
    assert ("Bestandsnehmer verständigen" in page.text) == (g1580 == "1")
    assert ("nicht per SMS (globale Variable 1581)" in page.text) == (g1580 == "1" and g1581 == "0")
    if g1580 == "1":  # the switch is on exactly when the SMS would go
        resident_box = _switch(page.text, "notify_resident")
        assert ("checked" in resident_box) == (g1581 == "1")
        assert ("disabled" in resident_box) == (g1581 == "0")


def _switch(html, name):
    return re.search(rf'<input[^>]*id="{name}"[^>]*>', html).group(0)


def test_send_dialog_shows_the_final_texts_before_sending(admin_client, db, wien, people, texts):
    """Issue 12 point 12: what each recipient gets, filled and with the fixed text."""
    _globals(db, g1539="1", g1580="1", g1581="1", g1402="Ihre HV")
    order = _order(db, wien, people)
    page = admin_client.get(f"/orders/{order.id}/send")
    previews = {
        role: " ".join(re.sub(r"<[^>]+>", " ", text).split())
        for role, text in re.findall(
            r'<div class="sms-preview[^"]*"[^>]*data-preview="(\w+)">(.*?)</div>',
            page.text,
            re.S,
        )
    }
    assert previews["kreditor"] == (
        "Wird gesendet an Installateur Huber GmbH, +43 664 5551234: "
        f"Auftrag {order.number}: Wasserschaden Bad, Gumpendorfer Straße 12/4, 1060 Wien, "
        "Termin 01.12.2026 08:00. HV Wien Ihre HV"
    )
    assert previews["kontrolleur"] == (
        "Wird gesendet an Franz Berger, +43 699 11223344: "
        f"Hallo Franz Berger, Auftrag {order.number} an Installateur Huber GmbH vergeben. Ihre HV"
    )
    assert previews["bestandsnehmer"].startswith("Wird gesendet an Maria Gruber")
    assert "checked" in _switch(page.text, "inform_inspector")
    assert "checked" in _switch(page.text, "notify_resident")
    # Sending queues exactly the texts shown.
    admin_client.post(
        f"/orders/{order.id}/send", data={"inform_inspector": "y", "notify_resident": "y"}
    )
    sent = {m.recipient: m.text for m in _messages(db)}
    assert sent["+436645551234"] == (
        f"Auftrag {order.number}: Wasserschaden Bad, Gumpendorfer Straße 12/4, 1060 Wien, "
        "Termin 01.12.2026 08:00. HV Wien\nIhre HV"
    )


def test_a_switch_whose_sms_would_not_go_is_off_and_says_why(admin_client, db, wien, texts):
    _globals(db, g1539="1", g1580="1", g1581="0")
    people = {
        "creditor": _company(db, wien),
        "inspector": _person(db, wien, "Franz Berger", ""),  # no mobile
        "resident": _person(db, wien, "Maria Gruber", "0664 1234567"),
    }
    order = _order(db, wien, people)
    page = admin_client.get(f"/orders/{order.id}/send")
    for name in ("inform_inspector", "notify_resident"):
        switch = _switch(page.text, name)
        assert "disabled" in switch and "checked" not in switch
    assert re.search(
        r'data-preview="kontrolleur">.*Wird nicht gesendet:.*Keine Mobilnummer hinterlegt\.',
        page.text,
    )
    assert re.search(
        r'Wird nicht gesendet:.*<span id="resident-not-by-sms">nicht per SMS \(globale Variable '
        r"1581\)</span>",
        page.text,
    )


def test_a_smstext_with_a_placeholder_the_order_cannot_fill_is_not_sent(db, wien, people):
    """A text saved before its placeholders were checked: skipped with the reason, never
    sent with `{ticket.nummer}` in it."""
    _text(db, "auftrag_kreditor", "Auftrag {auftrag.nummer} zu Ticket {ticket.nummer}", "Alt")
    _text(db, "auftrag_kontrolleur", "Auftrag {auftrag.nummer}")
    order = _order(db, wien, people)
    plan = notifications.order_send_plan(db)
    drafts = notifications.order_drafts(db, order, plan)
    assert not drafts.creditor.sendable
    assert drafts.creditor.reason == (
        "Der SMS-Text „Alt“ enthält Platzhalter, die hier keinen Wert haben: {ticket.nummer}. "
        "Bitte den Text unter Smstexte ändern."
    )
    result = notifications.send_order(db, order, inform_inspector=True, notify_resident=False)
    assert [o.role for o in result.queued] == ["kontrolleur"]
    assert {o.role: o.reason for o in result.skipped} == {"kreditor": drafts.creditor.reason}
    assert all("{" not in m.text for m in _messages(db))


@pytest.mark.parametrize(
    ("g1580", "g1581", "inform", "notify"),
    list(itertools.product("01", "01", (True, False), (True, False))),
)
def test_send_order_queues_what_the_globals_and_boxes_allow(
    db, wien, people, texts, g1580, g1581, inform, notify, admin
):
    _globals(db, g1580=g1580, g1581=g1581)
    order = _order(db, wien, people)
    result = notifications.send_order(
        db, order, inform_inspector=inform, notify_resident=notify, created_by=admin
    )
    db.commit()
    queued = {o.role for o in result.queued}
    expected = {"kreditor"}
    if inform:
        expected.add("kontrolleur")
    if g1580 == "1" and g1581 == "1" and notify:
        expected.add("bestandsnehmer")
    assert queued == expected
    skipped = {o.role: o.reason for o in result.skipped}
    if g1580 == "1" and g1581 == "0" and notify:
        assert skipped == {"bestandsnehmer": "nicht per SMS (globale Variable 1581)"}
    else:
        assert skipped == {}
    messages = _messages(db)
    assert len(messages) == len(expected)
    for message in messages:
        assert message.source == MessageSource.WORK_ORDER
        assert message.source_ref == str(order.id)
        assert message.created_by_module == "auftrag"
        assert message.created_by_id == admin.id
        assert message.mandant_id == wien.id
        assert message.status == MessageStatus.QUEUED
    texts_by_number = {m.recipient: m.text for m in messages}
    assert texts_by_number["+436645551234"].startswith(
        f"Auftrag {order.number}: Wasserschaden Bad, Gumpendorfer Straße 12/4, 1060 Wien, "
        "Termin 01.12.2026 08:00. HV Wien"
    )
    if inform:
        assert texts_by_number["+4369911223344"].startswith(
            f"Hallo Franz Berger, Auftrag {order.number} an Installateur Huber GmbH vergeben."
        )
    assert order.sent_at is not None


def test_send_through_the_dialog_reports_missing_numbers_and_sends_the_rest(
    admin_client, db, wien, texts
):
    _globals(db, g1539="1", g1580="1", g1581="1")
    people = {
        "creditor": _company(db, wien),
        "inspector": _person(db, wien, "Franz Berger", ""),  # no mobile
        "resident": _person(db, wien, "Maria Gruber", "0664 1234567"),
    }
    order = _order(db, wien, people)
    response = admin_client.post(
        f"/orders/{order.id}/send", data={"inform_inspector": "y", "notify_resident": "y"}
    )
    assert response.status_code == 200
    assert "Keine Mobilnummer hinterlegt." in response.text
    assert "2 SMS in die Versandliste aufgenommen" in response.text
    assert {m.recipient for m in _messages(db)} == {"+436645551234", "+436641234567"}
    db.refresh(order)
    assert order.sent_at is not None
    page = admin_client.get(f"/orders/{order.id}")
    assert page.text.count("Wartet auf Versand") == 2  # the SMS-Verlauf of the order
    listing = admin_client.get("/admin/sms/?source=work_order")
    assert listing.status_code == 200
    assert listing.text.count("Auftrag") >= 2  # Herkunft of both SMS


def test_unchecked_boxes_send_only_to_the_creditor(admin_client, db, wien, people, texts):
    _globals(db, g1539="1", g1580="1", g1581="1")
    order = _order(db, wien, people)
    response = admin_client.post(f"/orders/{order.id}/send", data={"submit": "1"})
    assert response.status_code == 200
    assert [m.recipient for m in _messages(db)] == ["+436645551234"]


def test_missing_creditor_text_is_a_clear_message_and_sends_nothing(admin_client, db, wien, people):
    _text(db, "auftrag_kontrolleur", "Hallo {person.name}")
    order = _order(db, wien, people)
    page = admin_client.get(f"/orders/{order.id}/send")
    assert "Es gibt keinen SMS-Text mit der Verwendung „Auftrag an Kreditor“" in page.text
    assert 'id="send-submit" disabled' in page.text
    response = admin_client.post(f"/orders/{order.id}/send", data={"inform_inspector": "y"})
    assert response.status_code == 422
    assert "Auftrag an Kreditor" in response.text
    assert _messages(db) == []
    db.refresh(order)
    assert order.sent_at is None


def test_missing_inspector_and_resident_texts_are_skipped_with_reason(db, wien, people):
    _globals(db, g1580="1", g1581="1")
    _text(db, "auftrag_kreditor", "Auftrag {auftrag.nummer}")
    order = _order(db, wien, people)
    result = notifications.send_order(db, order, inform_inspector=True, notify_resident=True)
    assert [o.role for o in result.queued] == ["kreditor"]
    reasons = {o.role: o.reason for o in result.skipped}
    assert "Auftrag – SMS an Kontrolleur" in reasons["kontrolleur"]
    assert "Auftrag – Bestandsnehmer verständigen" in reasons["bestandsnehmer"]


def test_order_without_creditor_cannot_be_sent(db, wien, texts):
    order = _order(db, wien)
    with pytest.raises(Exception, match="Kreditor"):
        notifications.send_order(db, order, inform_inspector=True, notify_resident=True)
    assert _messages(db) == []


def test_missing_people_and_a_bad_number(db, wien, texts):
    _globals(db, g1580="1", g1581="1")
    creditor = _company(db, wien, mobile="")
    creditor.mobile = "01 5123456"  # old data, a landline: the SMS is stored as failed
    db.commit()
    order = _order(db, wien, {"creditor": creditor})
    result = notifications.send_order(db, order, inform_inspector=True, notify_resident=True)
    (queued,) = result.queued
    assert queued.message.status == MessageStatus.FAILED and queued.message.reason
    reasons = {o.role: o.reason for o in result.skipped}
    assert reasons == {
        "kontrolleur": "Kein Kontrolleur eingetragen.",
        "bestandsnehmer": "Kein Bestandsnehmer eingetragen.",
    }


# --- Ticketing: global 2890 --------------------------------------------------------------------


@pytest.mark.parametrize("g2890", ["0", "1"])
def test_ticket_creation_sms_follows_2890(admin_client, db, wien, people, texts, g2890):
    _globals(db, g2890=g2890)
    response = admin_client.post(
        "/tickets/new",
        data={
            "subject": "Heizung ausgefallen",
            "mandant_id": str(wien.id),
            "resident_id": str(people["resident"].id),
            "description": "Seit gestern kalt",
        },
    )
    assert response.status_code == 302
    ticket = db.scalar(select(Ticket))
    assert ticket.number == f"T-{ticket.created_at.year}-0001"
    messages = _messages(db)
    if g2890 == "1":
        (message,) = messages
        assert message.source == MessageSource.TICKET
        assert message.source_ref == str(ticket.id)
        assert message.created_by_module == "ticketing"
        assert message.text.startswith(
            f"Ihr Ticket {ticket.number} (Heizung ausgefallen) wurde angelegt, Maria Gruber."
        )
    else:
        assert messages == []
    assert ticket.sms_note is None
    page = admin_client.get(response.headers["Location"])
    assert "Heizung ausgefallen" in page.text
    assert ("Wartet auf Versand" in page.text) == (g2890 == "1")
    # editing never sends again
    admin_client.post(
        f"/tickets/{ticket.id}/edit",
        data={
            "subject": "Heizung",
            "mandant_id": str(wien.id),
            "resident_id": str(people["resident"].id),
        },
    )
    assert len(_messages(db)) == len(messages)


@pytest.mark.parametrize(
    ("mobile", "with_text", "note"),
    [
        ("", True, "Keine Mobilnummer hinterlegt."),
        ("0664 1234567", False, "Ticket erstellt – SMS an Bestandsnehmer"),
        (None, True, "Kein Bestandsnehmer eingetragen."),
    ],
)
def test_ticket_without_number_text_or_resident_gets_a_note(
    admin_client, db, wien, mobile, with_text, note
):
    _globals(db, g2890="1")
    if with_text:
        _text(db, "ticket_bn_erstellt", "Ticket {ticket.nummer}")
    resident = _person(db, wien, "Maria Gruber", mobile) if mobile is not None else None
    response = admin_client.post(
        "/tickets/new",
        data={
            "subject": "Lift steht",
            "mandant_id": str(wien.id),
            "resident_id": str(resident.id) if resident else "",
        },
    )
    assert response.status_code == 302
    ticket = db.scalar(select(Ticket))
    assert note in ticket.sms_note
    assert _messages(db) == []
    page = admin_client.get(response.headers["Location"])
    assert 'id="sms-note"' in page.text and note in page.text


def test_menu_shows_orders_and_tickets(admin_client):
    page = admin_client.get("/orders")
    assert page.status_code == 200
    assert 'href="/orders"' in page.text and 'href="/tickets"' in page.text
    assert admin_client.get("/tickets").status_code == 200


def test_list_search_swaps_only_the_results(admin_client, db, wien, people):
    order = _order(db, wien, people)
    ticket = orders.save_ticket(db, orders.TicketInput(mandant_id=wien.id, subject="Lift"))
    db.commit()
    for url, target, number in (
        ("/orders?q=wasser", "order-results", order.number),
        ("/tickets?q=lift", "ticket-results", ticket.number),
    ):
        part = admin_client.get(url, headers={"HX-Request": "true", "HX-Target": target})
        assert part.status_code == 200
        assert part.text.startswith(f'<div id="{target}">') and number in part.text
        assert "<html" not in part.text


def test_bearbeiten_in_place_with_htmx(admin_client, db, wien, people):
    order = _order(db, wien, people)
    hx = {"HX-Request": "true", "HX-Target": "record"}
    form = admin_client.get(f"/orders/{order.id}/edit", headers=hx)
    assert form.status_code == 200 and form.text.lstrip().startswith('<section id="record"')
    assert 'data-mode="edit"' in form.text
    bad = admin_client.post(
        f"/orders/{order.id}/edit", headers=hx, data={"title": "", "mandant_id": str(wien.id)}
    )
    assert bad.status_code == 422 and "Bitte einen Titel eingeben." in bad.text
    saved = admin_client.post(
        f"/orders/{order.id}/edit",
        headers=hx,
        data={"title": "Rohrbruch", "mandant_id": str(wien.id)},
    )
    assert saved.status_code == 200 and 'data-mode="view"' in saved.text
    assert saved.headers["HX-Push-Url"] == f"/orders/{order.id}"
    assert "Rohrbruch" in saved.text


def test_no_module_sms_while_the_sms_service_is_off(db, wien, people, texts):
    set_global(db, 1400, "0", "test")
    set_global(db, 2890, "1", "test")
    db.commit()
    order = _order(db, wien, people)
    result = notifications.send_order(db, order, inform_inspector=True, notify_resident=True)
    assert _messages(db) == []
    assert all("1400" in (o.reason or "") for o in result.outcomes)


def test_lists_page_with_the_one_pager_and_a_capped_count(admin_client, db, wien, monkeypatch):
    db.add_all(
        WorkOrder(number=f"A-2026-{i:04d}", title=f"Auftrag {i}", mandant_id=wien.id)
        for i in range(1, 121)
    )
    db.commit()
    url, seen, counts = "/orders", [], []
    for _ in range(3):
        page = admin_client.get(url)
        seen += re.findall(r'data-number="([^"]+)"', page.text)
        counts.append(re.search(r'id="row-count">\s*([^<]*?)\s*</p>', page.text).group(1))
        link = re.search(r'href="([^"]+)"[^>]*id="next-page"', page.text)
        if link is None:
            break
        assert "Zum Anfang" in admin_client.get(link.group(1).replace("&amp;", "&")).text
        url = link.group(1).replace("&amp;", "&")
    assert counts == ["120 Aufträge"] * 3
    assert seen == [f"A-2026-{i:04d}" for i in range(120, 0, -1)]
    monkeypatch.setattr(paging, "COUNT_CAP", 100)
    assert "mehr als 100 Aufträge" in admin_client.get("/orders").text
    page = orders.search_records(db, WorkOrder, {wien.id}, orders.RecordQuery(text="Auftrag 11"))
    assert [o.title for o in page.rows] == [
        f"Auftrag {i}" for i in (119, 118, 117, 116, 115, 114, 113, 112, 111, 110, 11)
    ]
    assert orders.search_records(db, Ticket, set(), orders.RecordQuery()).rows == []

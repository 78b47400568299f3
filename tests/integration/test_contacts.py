"""Personen and Firmen: create/edit, search, tenant isolation, bad input, the SMS action (R1)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.conftest import login_as
from webapp.models import Company, Message, MessageSource, MessageStatus, MobilePrefix, Person
from webapp.permissions import Permission
from webapp.sms import contacts, search
from webapp.sms.numbers import parse_number
from webapp.sms.settings import set_global

HX = {"HX-Request": "true"}


def _person(db, mandant, name="Maria Gruber", mobile="0664 1234567", **extra):
    person = contacts.save_person(
        db, contacts.ContactInput(name=name, mandant_id=mandant.id, mobile=mobile, **extra)
    )
    db.commit()
    return person


def _company(db, mandant, name="Installateur Huber GmbH", mobile="", **extra):
    company = contacts.save_company(
        db, contacts.ContactInput(name=name, mandant_id=mandant.id, mobile=mobile, **extra)
    )
    db.commit()
    return company


def _form(mandant, **values):
    data = {
        "name": "Maria Gruber",
        "mandant_id": str(mandant.id),
        "mobile": "0664 1234567",
        "email": "maria@example.at",
        "street": "Gumpendorfer Straße 12/4",
        "postal_code": "1060",
        "city": "Wien",
    }
    data.update(values)
    return data


def _sms_on(db):
    set_global(db, 1400, "1", "test")
    db.commit()


def _message(db, record, source, text="Ihr Termin ist morgen um 8 Uhr.", **extra):
    raw = record.mobile or "0664 1234567"
    values = {
        "mandant_id": record.mandant_id,
        "recipient_raw": raw,
        "recipient": parse_number(raw).e164 or "+436641234567",
        "text": text,
        "encoding": "GSM",
        "segments": 1,
        "source": source,
        "source_ref": str(record.id),
        "status": MessageStatus.QUEUED,
    }
    values.update(extra)
    message = Message(**values)
    db.add(message)
    db.commit()
    return message


# --- create and edit ---------------------------------------------------------------------------


def test_create_person_and_open_it(admin_client, db, wien):
    response = admin_client.post("/persons/new", data=_form(wien))
    assert response.status_code == 302
    person = db.scalar(select(Person).where(Person.name == "Maria Gruber"))
    assert response.headers["Location"] == f"/persons/{person.id}"
    assert person.mandant_id == wien.id
    assert person.mobile == "0664 1234567"  # stored as entered
    assert (person.email, person.street, person.postal_code, person.city) == (
        "maria@example.at",
        "Gumpendorfer Straße 12/4",
        "1060",
        "Wien",
    )
    page = admin_client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "Person Maria Gruber wurde gespeichert." in page.text
    assert "+43 664 1234567" in page.text  # shown normalised
    assert "eingegeben als 0664 1234567" in page.text
    assert "HV Wien" in page.text
    assert "Bearbeiten" in page.text
    assert 'id="record-form"' not in page.text  # opens read-only


def test_create_company_and_list_it(admin_client, db, wien):
    response = admin_client.post(
        "/companies/new", data=_form(wien, name="Installateur Huber GmbH", mobile="")
    )
    assert response.status_code == 302
    company = db.scalar(select(Company))
    assert company.name == "Installateur Huber GmbH" and company.mobile == ""
    listing = admin_client.get("/companies")
    assert "Installateur Huber GmbH" in listing.text
    assert f'href="/companies/{company.id}"' in listing.text
    assert f'data-open-url="/companies/{company.id}"' in listing.text
    assert 'href="/companies/new"' in listing.text
    assert db.scalar(select(func.count()).select_from(Person)) == 0


def test_single_mandant_is_preselected_for_new_records(client, db, make_user, wien, graz):
    login_as(client, make_user("anna", mandanten=[wien]))
    page = client.get("/persons/new")
    assert page.status_code == 200
    assert f'<option selected value="{wien.id}">HV Wien</option>' in page.text
    assert "HV Graz" not in page.text
    assert "bitte wählen" not in page.text


def test_several_mandanten_must_be_chosen(client, db, make_user, wien, graz):
    login_as(client, make_user("anna", mandanten=[wien, graz]))
    page = client.get("/persons/new")
    assert "– bitte wählen –" in page.text
    assert "HV Wien" in page.text and "HV Graz" in page.text
    response = client.post("/persons/new", data=_form(wien, mandant_id=""))
    assert response.status_code == 422
    assert "Bitte einen Mandanten auswählen." in response.text


def test_user_without_mandant_cannot_create(client, db, make_user, wien):
    login_as(client, make_user("neu"))
    page = client.get("/persons/new")
    assert page.status_code == 200
    assert "Ihnen ist kein Mandant zugeordnet" in page.text
    response = client.post("/persons/new", data=_form(wien))
    assert response.status_code == 422
    assert "Bitte einen Ihrer Mandanten auswählen." in response.text
    assert db.scalar(select(func.count()).select_from(Person)) == 0


def test_edit_opens_form_and_saves(admin_client, db, wien, graz):
    person = _person(db, wien)
    form = admin_client.get(f"/persons/{person.id}/edit")
    assert form.status_code == 200
    assert 'id="record-form"' in form.text and 'value="Maria Gruber"' in form.text
    assert "Speichern" in form.text and "Abbrechen" in form.text
    response = admin_client.post(
        f"/persons/{person.id}/edit",
        data=_form(graz, name="Maria Gruber-Huber", mobile="+43 676 9876543", city="Graz"),
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/persons/{person.id}"
    db.expire_all()
    person = db.get(Person, person.id)
    assert (person.name, person.mandant_id, person.mobile, person.city) == (
        "Maria Gruber-Huber",
        graz.id,
        "+43 676 9876543",
        "Graz",
    )


def test_edit_with_htmx_swaps_the_record_and_pushes_its_url(admin_client, db, wien):
    person = _person(db, wien)
    edit = admin_client.get(f"/persons/{person.id}/edit", headers={**HX, "HX-Target": "record"})
    assert edit.status_code == 200
    assert "<html" not in edit.text and 'id="record-form"' in edit.text
    saved = admin_client.post(
        f"/persons/{person.id}/edit",
        data=_form(wien, name="Maria Neu"),
        headers={**HX, "HX-Target": "record"},
    )
    assert saved.status_code == 200
    assert saved.headers["HX-Push-Url"] == f"/persons/{person.id}"
    assert "<html" not in saved.text
    assert 'data-mode="view"' in saved.text and "Person Maria Neu" in saved.text
    assert 'hx-swap-oob="true"' in saved.text and "wurde gespeichert" in saved.text
    refused = admin_client.post(
        f"/persons/{person.id}/edit",
        data=_form(wien, name=""),
        headers={**HX, "HX-Target": "record"},
    )
    assert refused.status_code == 422
    assert "<html" not in refused.text and "Bitte einen Namen eingeben." in refused.text
    cancel = admin_client.get(f"/persons/{person.id}", headers={**HX, "HX-Target": "record"})
    assert cancel.status_code == 200 and 'data-mode="view"' in cancel.text
    assert "<html" not in cancel.text


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Bitte einen Namen eingeben."),
        ("name", "   ", "Bitte einen Namen eingeben."),
        ("name", "x" * 161, "Der Name darf höchstens 160 Zeichen lang sein (jetzt 161)."),
        ("name", "Maria\nGruber", "Der Name darf keine Zeilenumbrüche oder Steuerzeichen"),
        ("mandant_id", "", "Bitte einen Mandanten auswählen."),
        ("mandant_id", "abc", "Bitte einen Mandanten auswählen."),
        ("mandant_id", "999999", "Bitte einen Ihrer Mandanten auswählen."),
        ("mobile", "01 5123456", "ist eine Festnetznummer; SMS gehen nur an Handynummern."),
        ("mobile", "0664 CALL ME", "enthält das ungültige Zeichen"),
        ("mobile", "12", "ist zu kurz für eine Telefonnummer"),
        ("mobile", "0800 123456", "gebührenfreie Servicenummer"),
        ("mobile", "9" * 70, "zu lang für eine Telefonnummer"),
        ("email", "maria@", "Bitte eine gültige E-Mail-Adresse eingeben"),
        ("email", "a" * 250 + "@x.at", "höchstens 254 Zeichen"),
        ("street", "s" * 161, "Die Straße darf höchstens 160 Zeichen lang sein"),
        ("postal_code", "1060<>", "Die PLZ darf nur Ziffern, Buchstaben, Leerzeichen"),
        ("postal_code", "1" * 13, "Die PLZ darf höchstens 12 Zeichen lang sein"),
        ("city", "c" * 81, "Der Ort darf höchstens 80 Zeichen lang sein"),
        # (NUL and the other invisible control characters never get here: every request value
        # is cleaned of them, webapp.request_input; line breaks and tabs are refused)
        ("city", "Wien\tMitte", "Der Ort darf keine Zeilenumbrüche oder Steuerzeichen"),
    ],
)
def test_bad_input_is_refused_next_to_its_field(admin_client, db, wien, field, value, message):
    response = admin_client.post("/persons/new", data=_form(wien, **{field: value}))
    assert response.status_code == 422
    error = re.search(
        rf'<small class="field-error" id="{field}-error">([^<]*)</small>', response.text
    )
    assert error is not None, f"no error next to {field}"
    assert message in error.group(1).replace("&#34;", '"').replace("&#39;", "'")
    assert db.scalar(select(func.count()).select_from(Person)) == 0


def test_form_keeps_input_and_reports_every_problem_at_once(admin_client, db, wien):
    response = admin_client.post(
        "/companies/new",
        data=_form(wien, name="", mobile="01 5123456", email="nope", street="Hauptstraße 1"),
    )
    assert response.status_code == 422
    for field in ("name", "mobile", "email"):
        assert f'id="{field}-error"' in response.text
    assert 'value="01 5123456"' in response.text
    assert 'value="nope"' in response.text
    assert 'value="Hauptstraße 1"' in response.text
    assert db.scalar(select(func.count()).select_from(Company)) == 0


def test_failed_edit_changes_nothing(admin_client, db, wien):
    person = _person(db, wien)
    response = admin_client.post(
        f"/persons/{person.id}/edit", data=_form(wien, name="Neu", mobile="01 5123456")
    )
    assert response.status_code == 422
    assert 'value="Neu"' in response.text
    db.expire_all()
    person = db.get(Person, person.id)
    assert (person.name, person.mobile) == ("Maria Gruber", "0664 1234567")


def test_valid_inputs_are_normalised(db, wien):
    person = contacts.save_person(
        db,
        contacts.ContactInput(
            name="  Maria  ",
            mandant_id=wien.id,
            mobile="  +43 (0) 664/123 45-67 ",
            email=" Maria@Example.AT ",
            postal_code=" A-1060 ",
        ),
    )
    assert person.name == "Maria"
    assert person.mobile == "+43 (0) 664/123 45-67"
    assert person.email == "Maria@example.at"
    assert person.postal_code == "A-1060"
    assert contacts.mobile_display(person.mobile) == "+43 664 1234567"


# --- XSS ---------------------------------------------------------------------------------------


def test_script_in_name_and_search_is_escaped(admin_client, db, wien):
    attack = "<script>alert('x')</script>"
    person = _person(db, wien, name=attack, city="<b>Wien</b>")
    for url in ("/persons", f"/persons/{person.id}", f"/persons/{person.id}/edit"):
        page = admin_client.get(url)
        assert attack not in page.text, url
        assert "&lt;script&gt;alert(" in page.text, url
        assert "<b>Wien</b>" not in page.text, url
    search = admin_client.get("/persons", query_string={"name": attack, "city": '"><img src=x>'})
    assert attack not in search.text and '"><img src=x>' not in search.text
    assert "&lt;script&gt;" in search.text
    partial = admin_client.get(
        "/persons", query_string={"name": attack}, headers={**HX, "HX-Target": "contact-results"}
    )
    assert attack not in partial.text
    refused = admin_client.post("/persons/new", data=_form(wien, name=attack, email=attack))
    assert refused.status_code == 422
    assert attack not in refused.text


# --- search ------------------------------------------------------------------------------------


def test_search_by_name_number_and_city(admin_client, db, wien):
    _person(db, wien, "Maria Gruber", "0664 1234567", city="Wien")
    _person(db, wien, "Thomas Steiner", "+43 676 9876543", city="Graz")
    _person(db, wien, "Karl Moser", "", city="Linz")

    def names(**params):
        page = admin_client.get("/persons", query_string=params)
        assert page.status_code == 200
        return re.findall(r'data-name="([^"]+)"', page.text)

    assert names(name="gruber") == ["Maria Gruber"]
    assert names(name="%") == []  # LIKE wildcards are plain characters
    assert names(name="_") == []
    assert names(city="gra") == ["Thomas Steiner"]
    assert names(number="0664 123") == ["Maria Gruber"]
    assert names(number="+43 664 1234567") == ["Maria Gruber"]
    assert names(number="0043664") == ["Maria Gruber"]
    assert names(number="0676/98") == ["Thomas Steiner"]  # stored as +43 676 …
    assert names(number="9876543") == ["Thomas Steiner"]
    assert names(number="abc") == []
    assert names(name="a", city="Linz") == ["Karl Moser"]
    assert names() == ["Karl Moser", "Thomas Steiner", "Maria Gruber"]  # newest first
    assert names(order="name") == ["Karl Moser", "Maria Gruber", "Thomas Steiner"]
    assert names(order="bogus") == ["Karl Moser", "Thomas Steiner", "Maria Gruber"]


def test_search_filter_lives_in_the_url_and_htmx_gets_the_table_only(admin_client, db, wien):
    _person(db, wien, "Maria Gruber")
    page = admin_client.get("/persons", query_string={"name": "Maria", "order": "name"})
    assert 'value="Maria"' in page.text and 'hx-push-url="true"' in page.text
    assert '<option selected value="name">' in page.text
    assert "Suchkriterien" in page.text
    partial = admin_client.get(
        "/persons", query_string={"name": "Maria"}, headers={**HX, "HX-Target": "contact-results"}
    )
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<div id="contact-results">')
    assert "Maria Gruber" in partial.text and "Suchkriterien" not in partial.text
    restore = admin_client.get(
        "/persons",
        query_string={"name": "Maria"},
        headers={**HX, "HX-Target": "contact-results", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in restore.text  # a history restore needs the whole page


@pytest.mark.parametrize("order", ["newest", "name"])
def test_keyset_pages_of_fifty(admin_client, db, wien, order):
    db.add_all(Person(name=f"Person {i:03d}", mandant_id=wien.id) for i in range(120))
    db.commit()
    seen: list[str] = []
    url = f"/persons?order={order}"
    counts = []
    for _ in range(3):
        page = admin_client.get(url)
        seen += re.findall(r'data-name="([^"]+)"', page.text)
        counts.append(re.search(r'id="row-count">\s*([^<]*?)\s*</p>', page.text).group(1))
        link = re.search(r'href="([^"]+)"[^>]*id="next-page"', page.text)
        if link is None:
            break
        url = link.group(1).replace("&amp;", "&")
    assert counts == ["1–50 von 120", "51–100 von 120", "101–120 von 120"]
    assert len(seen) == 120 and len(set(seen)) == 120
    expected = [f"Person {i:03d}" for i in range(120)]
    assert seen == (expected if order == "name" else expected[::-1])
    assert "Zum Anfang" in admin_client.get(url).text


def test_search_functions_scope_and_paging(db, wien, graz):
    maria = _person(db, wien, "Maria Gruber")
    _person(db, graz, "Maria Pichler", "0660 7654321")
    query = contacts.ContactQuery(name="maria", order="name")
    everyone = contacts.search_contacts(db, Person, None, query)
    assert [p.name for p in everyone.rows] == ["Maria Gruber", "Maria Pichler"]
    mine = contacts.search_contacts(db, Person, {wien.id}, query)
    assert [p.name for p in mine.rows] == ["Maria Gruber"] and mine.total == 1
    assert contacts.search_contacts(db, Person, set(), query).rows == []
    first = contacts.search_contacts(db, Person, None, query, page_size=1)
    assert first.older == maria.id and first.at_start
    second = contacts.search_contacts(db, Person, None, query, page_size=1, before=first.older)
    assert [p.name for p in second.rows] == ["Maria Pichler"]
    assert second.first_position == 2 and second.older is None and not second.at_start
    back = contacts.search_contacts(db, Person, None, query, page_size=1, after=second.newer)
    assert [p.name for p in back.rows] == ["Maria Gruber"]
    assert back.first_position == 1 and back.at_start and back.older == maria.id
    # A cursor of another Mandant is ignored, not used to probe the other list.
    probe = contacts.search_contacts(db, Person, {graz.id}, query, before=maria.id)
    assert probe.first_position == 1 and probe.at_start


def test_search_mobile_contacts(db, wien, graz):
    _person(db, wien, "Maria Gruber", "0664 1234567")
    _person(db, wien, "Karl Moser", "")
    _company(db, wien, "Installateur Huber GmbH", "0664 5551234")
    _company(db, graz, "Malerei Gruber", "0650 2468135")
    found = contacts.search_mobile_contacts(db, {wien.id}, "gruber")
    assert [(c.kind, c.name) for c in found] == [("person", "Maria Gruber")]
    assert found[0].display == "+43 664 1234567" and found[0].mobile == "0664 1234567"
    assert found[0].mandant_name == "HV Wien" and found[0].source is MessageSource.PERSON
    assert found[0].problem is None
    both = contacts.search_mobile_contacts(db, None, "0664")
    assert [c.name for c in both] == ["Installateur Huber GmbH", "Maria Gruber"]
    assert [c.name for c in contacts.search_mobile_contacts(db, None, "gruber")] == [
        "Malerei Gruber",
        "Maria Gruber",
    ]
    assert contacts.search_mobile_contacts(db, None, "moser") == []  # no mobile number
    assert contacts.search_mobile_contacts(db, None, "   ") == []
    assert contacts.search_mobile_contacts(db, set(), "gruber") == []
    assert len(contacts.search_mobile_contacts(db, None, "0", limit=2)) == 2


# --- tenant isolation --------------------------------------------------------------------------


def test_user_of_mandant_a_never_sees_records_of_mandant_b(client, db, make_user, wien, graz):
    own = _person(db, wien, "Maria Gruber")
    foreign = _person(db, graz, "Johann Pichler", "0660 7654321")
    foreign_company = _company(db, graz, "Malerei Fuchs GmbH")
    _message(db, foreign, MessageSource.PERSON, text="Geheimer Text")
    login_as(client, make_user("anna", mandanten=[wien]))

    def rows(url):
        return re.findall(r'data-name="([^"]+)"', client.get(url).text)

    listing = client.get("/persons")
    assert rows("/persons") == ["Maria Gruber"] and "Johann Pichler" not in listing.text
    assert rows("/persons?name=Johann") == []
    assert rows("/persons?number=0660") == []
    assert rows(f"/persons?mandant={graz.id}") == []
    assert rows("/companies") == [] and "Fuchs" not in client.get("/companies").text
    assert "HV Graz" not in listing.text

    for url in (
        f"/persons/{foreign.id}",
        f"/persons/{foreign.id}/edit",
        f"/companies/{foreign_company.id}",
        f"/companies/{foreign_company.id}/edit",
    ):
        assert client.get(url).status_code == 404, url
    history = client.get(f"/persons/{foreign.id}", headers={**HX, "HX-Target": "sms-history"})
    assert history.status_code == 404
    response = client.post(f"/persons/{foreign.id}/edit", data=_form(wien, name="Übernommen"))
    assert response.status_code == 404
    assert "Geheimer Text" not in response.text

    # Neither creating in nor moving into Mandant B.
    refused = client.post("/persons/new", data=_form(graz, name="Eindringling"))
    assert refused.status_code == 422
    assert "Bitte einen Ihrer Mandanten auswählen." in refused.text
    moved = client.post(f"/persons/{own.id}/edit", data=_form(graz, name="Maria Gruber"))
    assert moved.status_code == 422
    db.expire_all()
    assert db.get(Person, own.id).mandant_id == wien.id
    assert db.get(Person, foreign.id).name == "Johann Pichler"
    assert db.scalar(select(Person).where(Person.name == "Eindringling")) is None
    # The page of one's own record reveals nothing of Mandant B either.
    assert "Geheimer Text" not in client.get(f"/persons/{own.id}").text


def test_history_of_a_moved_record_keeps_sms_of_the_old_mandant_hidden(
    client, db, make_user, wien, graz
):
    person = _person(db, graz, "Johann Pichler")
    _message(db, person, MessageSource.PERSON, text="Noch aus Graz")
    person.mandant_id = wien.id
    db.commit()
    _message(db, person, MessageSource.PERSON, text="Jetzt aus Wien")
    login_as(client, make_user("anna", mandanten=[wien]))
    page = client.get(f"/persons/{person.id}")
    assert page.status_code == 200
    assert "Jetzt aus Wien" in page.text and "Noch aus Graz" not in page.text


def test_missing_record_and_foreign_record_look_the_same(client, db, make_user, wien, graz):
    foreign = _person(db, graz, "Johann Pichler")
    login_as(client, make_user("anna", mandanten=[wien]))
    missing = client.get("/persons/999999")
    hidden = client.get(f"/persons/{foreign.id}")
    assert missing.status_code == hidden.status_code == 404

    def without_csrf(text: str) -> str:
        # every token (htmx header and the hidden fields of the menu's forms) is signed
        # with the second it was made; two requests may straddle a second
        text = re.sub(r'"X-CSRFToken": "[^"]*"', "", text)
        return re.sub(r'name="csrf_token" value="[^"]*"', "", text)

    assert without_csrf(missing.text) == without_csrf(hidden.text)


def test_administrator_sees_every_mandant(admin_client, db, wien, graz):
    _person(db, wien, "Maria Gruber")
    _person(db, graz, "Johann Pichler")
    listing = admin_client.get("/persons")
    assert "Maria Gruber" in listing.text and "Johann Pichler" in listing.text
    only_graz = admin_client.get(f"/persons?mandant={graz.id}")
    assert "Johann Pichler" in only_graz.text and "Maria Gruber" not in only_graz.text


def test_record_of_a_deactivated_mandant_stays_editable(client, db, make_user, wien):
    person = _person(db, wien)
    wien.active = False
    db.commit()
    login_as(client, make_user("anna", mandanten=[wien]))
    assert client.get(f"/persons/{person.id}/edit").status_code == 200
    response = client.post(f"/persons/{person.id}/edit", data=_form(wien, city="Wien 6"))
    assert response.status_code == 302
    refused = client.post("/persons/new", data=_form(wien))
    assert refused.status_code == 422


# --- the SMS action ----------------------------------------------------------------------------


def _sender(make_user, *mandanten):
    return make_user("sender", Permission.SMS_SEND, mandanten=list(mandanten))


def test_sms_action_links_to_the_quick_form(client, db, make_user, wien):
    _sms_on(db)
    person = _person(db, wien)
    company = _company(db, wien, mobile="+43 676 3334455")
    login_as(client, _sender(make_user, wien))
    page = client.get(f"/persons/{person.id}")
    assert f'href="/sms/senden?person={person.id}"' in page.text
    assert re.search(r'<a role="button"[^>]*id="sms-action"', page.text)
    assert "Keine Mobilnummer" not in page.text
    page = client.get(f"/companies/{company.id}")
    assert f'href="/sms/senden?company={company.id}"' in page.text


def test_sms_action_disabled_without_mobile_number(client, db, make_user, wien):
    _sms_on(db)
    company = _company(db, wien, mobile="")
    login_as(client, _sender(make_user, wien))
    page = client.get(f"/companies/{company.id}")
    assert "/sms/senden?company=" not in page.text
    assert re.search(r'<button[^>]*id="sms-action"[^>]*disabled', page.text)
    assert "Keine Mobilnummer hinterlegt – SMS nicht möglich." in page.text
    assert 'title="Keine Mobilnummer hinterlegt – SMS nicht möglich."' in page.text


def test_sms_action_disabled_with_the_reason_of_a_bad_number(client, db, make_user, wien):
    _sms_on(db)
    # Data from before the check (or edited elsewhere): a landline in the mobile field.
    legacy = Person(name="Alt Bestand", mandant_id=wien.id, mobile="01 5123456")
    db.add(legacy)
    db.commit()
    login_as(client, _sender(make_user, wien))
    page = client.get(f"/persons/{legacy.id}")
    assert re.search(r'<button[^>]*id="sms-action"[^>]*disabled', page.text)
    assert "ist eine Festnetznummer; SMS gehen nur an Handynummern." in page.text
    assert "/sms/senden?person=" not in page.text


def test_sms_action_disabled_when_prefix_is_not_in_table_93001(client, db, make_user, wien):
    _sms_on(db)
    person = _person(db, wien, mobile="0664 1234567")
    for prefix in db.scalars(select(MobilePrefix).where(MobilePrefix.prefix == "43664")):
        prefix.active = False
    db.commit()
    login_as(client, _sender(make_user, wien))
    page = client.get(f"/persons/{person.id}")
    assert re.search(r'<button[^>]*id="sms-action"[^>]*disabled', page.text)
    assert "93001" in page.text


def test_sms_action_hidden_without_permission_or_service(client, db, make_user, wien):
    person = _person(db, wien)
    login_as(client, _sender(make_user, wien))
    set_global(db, 1400, "0", "test")
    db.commit()
    assert 'id="sms-action"' not in client.get(f"/persons/{person.id}").text  # 1400 off
    _sms_on(db)
    assert 'id="sms-action"' in client.get(f"/persons/{person.id}").text
    other = login_as(client.application.test_client(), make_user("leser", mandanten=[wien]))
    page = other.get(f"/persons/{person.id}")
    assert page.status_code == 200 and 'id="sms-action"' not in page.text


# --- history -----------------------------------------------------------------------------------


def test_history_shows_the_records_sms(admin_client, db, wien):
    person = _person(db, wien)
    other = _person(db, wien, "Thomas Steiner", "+43 676 9876543")
    company = _company(db, wien, mobile="0664 5551234")
    _message(db, person, MessageSource.PERSON, text="Wasserabschaltung morgen 8–12 Uhr " * 3)
    _message(
        db,
        person,
        MessageSource.PERSON,
        text="Zweite SMS",
        status=MessageStatus.FAILED,
        reason="Die Vorwahl ist nicht freigegeben.",
    )
    _message(db, other, MessageSource.PERSON, text="Für Thomas")
    # The company with the same id as the person: its SMS belong to the company only.
    _message(db, company, MessageSource.COMPANY, text="Auftrag 4711", source_ref=str(person.id))
    page = admin_client.get(f"/persons/{person.id}")
    assert "SMS-Verlauf" in page.text
    history = page.text.split('id="sms-history"', 1)[1]
    assert "Wartet auf Versand" in history and "Fehler" in history
    assert "Die Vorwahl ist nicht freigegeben." in history
    assert "+43 664 1234567" in history
    assert "Wasserabschaltung morgen 8–12 Uhr" in history and "…" in history
    assert history.index("Zweite SMS") < history.index("Wasserabschaltung")  # newest first
    assert "Für Thomas" not in history and "Auftrag 4711" not in history
    partial = admin_client.get(f"/persons/{person.id}", headers={**HX, "HX-Target": "sms-history"})
    assert partial.text.lstrip().startswith('<section id="sms-history"')
    assert "Zweite SMS" in partial.text
    company_page = admin_client.get(f"/companies/{company.id}").text
    assert "Auftrag 4711" in company_page and "Zweite SMS" not in company_page


def test_history_empty_says_so(admin_client, db, wien):
    company = _company(db, wien)
    page = admin_client.get(f"/companies/{company.id}")
    assert "An diese Firma wurde noch keine SMS gesendet." in page.text


def test_sms_history_function(db, wien):
    person = _person(db, wien)
    for i in range(25):
        _message(db, person, MessageSource.PERSON, text=f"SMS {i}")
    sent_from = contacts.record_sms(MessageSource.PERSON, person.id)
    history = contacts.sms_history(db, sent_from)
    assert len(history) == 20 and history[0].text == "SMS 24"
    assert contacts.sms_history(db, contacts.record_sms(MessageSource.COMPANY, person.id)) == []
    assert contacts.sms_history(db, sent_from, mandant_ids=set()) == []
    mine = contacts.sms_history(db, sent_from, mandant_ids={wien.id})
    assert len(mine) == 20
    assert contacts.sms_history(db, sent_from, mandant_ids={-1}) == []


def test_the_history_of_a_person_has_the_sms_sent_to_its_number_through_neu(
    client, db, make_user, wien, graz
):
    """Issue 12 point 16: SMS to the record's number count, however they were queued."""
    person = _person(db, wien, mobile="0664 1234567")
    _message(db, person, MessageSource.PERSON, text="Vom Datensatz")
    # Neu, SMS senden and the API: other Herkunft, the number in another notation.
    neu = _message(db, person, MessageSource.MANUAL, text="Über Neu", source_ref=None)
    neu.recipient_raw = "+43 (664) 123 45 67"
    _message(db, person, MessageSource.QUICK, text="Über SMS senden", source_ref=None)
    _message(db, person, MessageSource.API, text="Über die API", source_ref=None)
    # Sent from this record to the number it had before: still its SMS (once, not twice).
    _message(db, person, MessageSource.PERSON, text="Alte Nummer", recipient="+436761111111")
    # Another number, and the same number for a Mandant the viewer does not see.
    _message(db, person, MessageSource.MANUAL, text="Andere Nummer", recipient="+436769999999")
    _message(db, person, MessageSource.MANUAL, text="Graz", mandant_id=graz.id, source_ref=None)
    db.commit()
    login_as(client, make_user("anna", mandanten=[wien]))
    page = client.get(f"/persons/{person.id}").text
    history = page.split('id="sms-history"', 1)[1]
    rows = re.findall(r'<tr data-id="(\d+)"', history)
    assert len(rows) == len(set(rows)) == 5
    for text in ("Vom Datensatz", "Über Neu", "Über SMS senden", "Über die API", "Alte Nummer"):
        assert text in history
    assert "Andere Nummer" not in history and "Graz" not in history
    # Newest first, across both ways of belonging.
    assert (
        history.index("Alte Nummer")
        < history.index("Über die API")
        < history.index("Vom Datensatz")
    )


def test_the_history_by_number_takes_the_newest_twenty_and_follows_them_live(
    admin_client, db, wien
):
    person = _person(db, wien, mobile="0664 7654321")
    for i in range(15):
        _message(db, person, MessageSource.PERSON, text=f"Datensatz {i}")
        _message(db, person, MessageSource.MANUAL, text=f"Neu {i}", source_ref=None)
    record = contacts.record_sms(MessageSource.PERSON, person.id, person.mobile)
    assert record.numbers == ("+436647654321",)
    history = contacts.sms_history(db, record)
    assert [m.text for m in history[:2]] == ["Neu 14", "Datensatz 14"]
    assert len(history) == 20 and history[-1].text == "Datensatz 5"
    # The live poll follows an SMS that belongs by its number.
    newest = history[0]
    token = f"{newest.id}:{search.state_token(newest.status, newest.updated_at)}"
    newest.status = MessageStatus.SENT
    db.commit()
    poll = admin_client.get(
        f"/persons/{person.id}?w={token}", headers={**HX, "HX-Target": "history-poller"}
    )
    assert poll.status_code == 200 and f'id="hist-{newest.id}-state"' in poll.text


# --- demo data ---------------------------------------------------------------------------------


def test_seed_demo_contacts_is_idempotent(db, wien, graz):
    created = contacts.seed_demo_contacts(db)
    db.commit()
    assert created > 0
    assert contacts.seed_demo_contacts(db) == 0
    names = set(db.scalars(select(Company.name)))
    assert "Installateur Huber GmbH" in names
    for mandant in (wien, graz):
        persons = list(db.scalars(select(Person).where(Person.mandant_id == mandant.id)))
        assert persons and any(p.mobile for p in persons) and any(not p.mobile for p in persons)
    for record in [*db.scalars(select(Person)), *db.scalars(select(Company))]:
        if record.mobile:
            assert contacts.sms_action(db, record).enabled, record.mobile

"""Smstexte (permission 150037): list, search, create, edit, delete, live preview, picker API."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from tests.conftest import login_as
from webapp.errors import InputError
from webapp.models import SmsText
from webapp.permissions import ROLE_PERMISSIONS, Permission
from webapp.sms.settings import set_global
from webapp.sms.texts import check_body, delete_text, list_texts, preview_text, save_text

HX = {"HX-Request": "true"}
XSS = "<script>alert(1)</script>"


@pytest.fixture
def editor(client, make_user):
    return login_as(client, make_user("texter", Permission.SMS_TEXTS))


def _add(db, name: str, body: str, usage_key: str = "") -> SmsText:
    text = save_text(db, name=name, usage_key=usage_key, body=body, changed_by="seed")
    db.commit()
    return text


def _count(db) -> int:
    return db.scalar(select(func.count()).select_from(SmsText))


def _textarea(html: str) -> str:
    content = re.search(r'<textarea[^>]*id="body"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    return unescape(content.removeprefix("\r\n").removeprefix("\n"))


def _form(**fields: str) -> dict[str, str]:
    return {"name": "Termin Kreditor", "usage_key": "auftrag_kreditor", "body": "Hallo", **fields}


# --- list ----------------------------------------------------------------------------------------


def test_list_shows_the_texts_with_usage_preview_parts_and_change(editor, db):
    _add(db, "Ticket erstellt", "Ihr Ticket {ticket.nummer} ist angelegt.", "ticket_bn_erstellt")
    _add(db, "Lang", "x" * 200)
    page = editor.get("/admin/sms-texts/")
    assert page.status_code == 200
    assert "<h1>Smstexte</h1>" in page.text
    assert "Suchkriterien" in page.text
    for column in ("Name", "Verwendung", "Text", "Teile", "Geändert"):
        assert f">{column}<" in page.text
    row = re.search(r'<tr data-text-id="\d+"[^>]*>.*?Ticket erstellt.*?</tr>', page.text, re.S)
    assert row is not None
    assert "Ticket erstellt – SMS an Bestandsnehmer" in row.group(0)
    assert "Ihr Ticket {ticket.nummer} ist angelegt." in row.group(0)
    assert "Öffnen" in row.group(0)
    assert "data-open-url" in row.group(0)
    assert "seed" in row.group(0)
    long_row = re.search(r'<tr data-text-id="\d+"[^>]*>\s*<td>Lang</td>.*?</tr>', page.text, re.S)
    assert "<td>2</td>" in long_row.group(0)  # 200 GSM characters: 2 parts
    assert "2 SMS-Texte" in page.text


def test_search_by_name_or_text_and_by_usage(editor, db):
    _add(db, "Kreditor Termin", "Termin {auftrag.termin}", "auftrag_kreditor")
    _add(db, "Bestandsnehmer Info", "Der Installateur kommt am {auftrag.termin}.", "auftrag_bn")
    _add(db, "Frei", "Bitte rufen Sie uns zurück.")

    def names(**query: str) -> list[str]:
        response = editor.get("/admin/sms-texts/", query_string=query)
        assert response.status_code == 200
        return re.findall(r'<tr data-text-id="\d+"[^>]*>\s*<td>([^<]*)</td>', response.text)

    assert names() == ["Bestandsnehmer Info", "Frei", "Kreditor Termin"]
    assert names(q="kreditor") == ["Kreditor Termin"]
    assert names(q="INSTALLATEUR") == ["Bestandsnehmer Info"]  # text, case-insensitive
    assert names(usage="auftrag_bn") == ["Bestandsnehmer Info"]
    assert names(usage="frei") == ["Frei"]
    assert names(q="termin", usage="auftrag_kreditor") == ["Kreditor Termin"]
    assert names(q="gibt es nicht") == []
    assert names(sort="-name") == ["Kreditor Termin", "Frei", "Bestandsnehmer Info"]
    assert names(sort="unsinn") == ["Bestandsnehmer Info", "Frei", "Kreditor Termin"]
    # The sort order is part of the search form, so the next search keeps it.
    sorted_page = editor.get("/admin/sms-texts/?sort=-updated")
    assert (
        '<input type="hidden" name="sort" form="texts-search-form" value="-updated">'
        in sorted_page.text
    )


def test_search_form_keeps_the_filter_and_htmx_gets_only_the_table(editor, db):
    _add(db, "Kreditor Termin", "Termin {auftrag.termin}", "auftrag_kreditor")
    page = editor.get("/admin/sms-texts/?q=Termin&usage=auftrag_kreditor")
    assert 'value="Termin"' in page.text
    assert re.search(r'<option value="auftrag_kreditor"\s+selected', page.text)
    assert 'hx-push-url="true"' in page.text
    partial = editor.get("/admin/sms-texts/?q=Termin", headers={**HX, "HX-Target": "texts-table"})
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<div id="texts-table">')
    assert "<h1>" not in partial.text
    assert "Kreditor Termin" in partial.text


def test_empty_list_says_so(editor):
    page = editor.get("/admin/sms-texts/")
    assert "Keine SMS-Texte gefunden." in page.text
    assert "0 SMS-Texte" in page.text


# --- create, edit, delete ------------------------------------------------------------------------


def test_create_a_text(editor, db):
    form = editor.get("/admin/sms-texts/new")
    assert form.status_code == 200
    assert "Neuer SMS-Text" in form.text
    assert "{auftrag.nummer}" in form.text  # the placeholder list
    response = editor.post(
        "/admin/sms-texts/new",
        data=_form(body="  Auftrag {auftrag.nummer}: Termin {auftrag.termin}\r\nDanke  "),
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/sms-texts/"
    text = db.scalar(select(SmsText).where(SmsText.name == "Termin Kreditor"))
    assert text.usage_key == "auftrag_kreditor"
    assert text.body == "Auftrag {auftrag.nummer}: Termin {auftrag.termin}\nDanke"
    assert text.updated_by == "texter"
    page = editor.get("/admin/sms-texts/")
    assert "SMS-Text „Termin Kreditor“ wurde gespeichert." in page.text
    assert "Termin Kreditor" in page.text


def test_edit_a_text(editor, db):
    text = _add(db, "Alt", "Alter Text")
    form = editor.get(f"/admin/sms-texts/{text.id}")
    assert form.status_code == 200
    assert "SMS-Text „Alt“" in form.text
    assert 'value="Alt"' in form.text
    assert _textarea(form.text) == "Alter Text"
    assert "Angelegt am" in form.text
    response = editor.post(
        f"/admin/sms-texts/{text.id}",
        data={"name": "Neu", "usage_key": "ticket_bn_erstellt", "body": "Ticket {ticket.nummer}"},
    )
    assert response.status_code == 302
    db.expire_all()
    saved = db.get(SmsText, text.id)
    assert (saved.name, saved.usage_key, saved.body) == (
        "Neu",
        "ticket_bn_erstellt",
        "Ticket {ticket.nummer}",
    )
    assert saved.updated_by == "texter"
    assert _count(db) == 1


def test_renaming_to_its_own_name_in_other_case_is_allowed(editor, db):
    text = _add(db, "Termin", "x")
    response = editor.post(
        f"/admin/sms-texts/{text.id}", data={"name": "TERMIN", "usage_key": "", "body": "y"}
    )
    assert response.status_code == 302
    db.expire_all()
    assert db.get(SmsText, text.id).name == "TERMIN"


def test_delete_a_text(editor, db):
    text = _add(db, "Weg damit", "x")
    form = editor.get(f"/admin/sms-texts/{text.id}")
    assert 'hx-confirm="SMS-Text „Weg damit“ wirklich löschen?"' in form.text
    response = editor.post(f"/admin/sms-texts/{text.id}/delete")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/sms-texts/"
    assert "SMS-Text „Weg damit“ wurde gelöscht." in editor.get("/admin/sms-texts/").text
    db.expunge_all()
    assert db.get(SmsText, text.id) is None


def test_delete_with_htmx_redirects_the_page(editor, db):
    text = _add(db, "Weg", "x")
    response = editor.post(f"/admin/sms-texts/{text.id}/delete", headers=HX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/admin/sms-texts/"
    assert _count(db) == 0


def test_unknown_ids_are_404(editor):
    assert editor.get("/admin/sms-texts/999").status_code == 404
    assert editor.post("/admin/sms-texts/999", data=_form()).status_code == 404
    assert editor.post("/admin/sms-texts/999/delete").status_code == 404


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "Bitte einen Namen eingeben."),
        ({"name": "   "}, "name", "Bitte einen Namen eingeben."),
        ({"name": "n" * 121}, "name", "höchstens 120 Zeichen lang sein (jetzt 121)"),
        (
            {"name": "vorhanden"},
            "name",
            "Es gibt bereits einen SMS-Text mit dem Namen „vorhanden“.",
        ),
        ({"name": "ÄRGER"}, "name", "Es gibt bereits einen SMS-Text mit dem Namen „ÄRGER“."),
        ({"usage_key": "erfunden"}, "usage_key", "Bitte eine Verwendung aus der Liste wählen."),
        ({"body": ""}, "body", "Bitte einen Text eingeben."),
        ({"body": " \r\n "}, "body", "Bitte einen Text eingeben."),
        (
            {"body": "Hallo {kunde.name}"},
            "body",
            "Unbekannte Platzhalter: {kunde.name}. Erlaubt sind: {auftrag.nummer}, "
            "{auftrag.titel}, {auftrag.termin}, {auftrag.kreditor}, {firma.name}, "
            "{objekt.adresse}, {mandant.name}.",
        ),
        (
            {"body": "Ticket {ticket.nummer}"},
            "body",
            "Diese Platzhalter können bei der Verwendung „Auftrag an Kreditor“ nicht gefüllt "
            "werden: {ticket.nummer}.",
        ),
        (
            {"body": "Hallo {person.name"},
            "body",
            "Die Klammer „{“ an Stelle 7 wird nicht geschlossen.",
        ),
        (
            {"body": "Preis: 3}"},
            "body",
            "Die Klammer „}“ an Stelle 9 gehört zu keinem Platzhalter.",
        ),
        ({"body": "{auftrag.{nummer}}"}, "body", "nicht verschachtelt"),
        ({"body": "{nummer}"}, "body", "„{nummer}“ an Stelle 1 ist kein gültiger Platzhalter."),
        ({"body": "x" * 1531}, "body", "11 SMS-Teile; höchstens 10 Teile sind erlaubt."),
    ],
)
def test_bad_input_is_refused_next_to_its_field_and_kept(editor, db, fields, field, message):
    _add(db, "vorhanden", "x")
    _add(db, "ärger", "x")
    before = _count(db)
    data = _form(**fields)
    response = editor.post("/admin/sms-texts/new", data=data)
    assert response.status_code == 422
    error = re.search(
        rf'<small class="field-error" id="{field}-error">(.*?)</small>', response.text, re.S
    )
    assert error is not None, response.text
    assert message in error.group(1).replace("&#34;", '"')
    assert re.search(
        rf'id="{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{field}"', response.text
    )
    # The form keeps what was typed.
    if data["name"].strip():
        assert f'value="{data["name"]}"' in response.text
    if data["body"].strip():
        assert _textarea(response.text) == data["body"].replace("\r\n", "\n")
    assert _count(db) == before


def test_bad_input_when_editing_changes_nothing(editor, db):
    text = _add(db, "Bleibt", "Alter Text")
    response = editor.post(
        f"/admin/sms-texts/{text.id}", data={"name": "Bleibt", "usage_key": "", "body": "{"}
    )
    assert response.status_code == 422
    assert "SMS-Text „Bleibt“" in response.text  # the heading still names the stored text
    db.expire_all()
    assert db.get(SmsText, text.id).body == "Alter Text"


def test_ten_parts_with_examples_are_allowed_eleven_are_not(db, app):
    assert check_body("x" * 1530).segments == 10
    with pytest.raises(InputError) as caught:
        check_body("x" * 1531)
    assert caught.value.field == "body"
    # The example values count: a short body with placeholders may be too long.
    body = "{objekt.adresse}" * 60  # 16 characters each, 27 when filled in
    assert len(body) < 1530
    with pytest.raises(InputError, match="SMS-Teile"):
        check_body(body)


# --- live preview --------------------------------------------------------------------------------


def test_preview_renders_examples_and_counts(editor):
    response = editor.post(
        "/admin/sms-texts/preview",
        data={"body": "Auftrag {auftrag.nummer} am {auftrag.termin}", "usage_key": "auftrag_bn"},
        headers=HX,
    )
    assert response.status_code == 200
    assert "Auftrag A-2026-0815 am 25.11.2026 08:00" in response.text
    counter = re.search(r'<p class="sms-counter"[^>]*>(.*?)</p>', response.text, re.S).group(1)
    assert " ".join(counter.split()) == "39 / 160 Zeichen · 1 SMS · GSM"
    assert 'id="text-problem"' not in response.text
    # The placeholder list follows the usage, out of band.
    assert 'id="placeholder-list" class="placeholder-list" hx-swap-oob="true"' in response.text
    assert 'data-insert="{person.name}"' in response.text
    assert 'data-insert="{ticket.nummer}"' not in response.text


def test_preview_names_the_character_that_forces_unicode(editor):
    response = editor.post("/admin/sms-texts/preview", data={"body": "Danke 😀", "usage_key": ""})
    counter = re.search(r'<p class="sms-counter"[^>]*>(.*?)</p>', response.text, re.S).group(1)
    assert " ".join(counter.split()) == "8 / 70 Zeichen · 1 SMS · Unicode (wegen 😀)"


def test_preview_of_a_long_text_counts_the_parts(editor):
    response = editor.post("/admin/sms-texts/preview", data={"body": "y" * 161})
    counter = re.search(r'<p class="sms-counter"[^>]*>(.*?)</p>', response.text, re.S).group(1)
    assert " ".join(counter.split()) == "161 / 306 Zeichen · 2 SMS · GSM"


def test_preview_shows_problems_but_answers_200(editor):
    response = editor.post(
        "/admin/sms-texts/preview", data={"body": "Hallo {person.name", "usage_key": ""}
    )
    assert response.status_code == 200
    assert "wird nicht geschlossen" in response.text
    assert "Keine Vorschau möglich." in response.text
    unknown = editor.post(
        "/admin/sms-texts/preview", data={"body": "{kunde.name}", "usage_key": ""}
    )
    assert "Unbekannte Platzhalter: {kunde.name}" in unknown.text
    empty = editor.post("/admin/sms-texts/preview", data={})
    assert empty.status_code == 200
    assert "Noch kein Text." in empty.text


def test_preview_mentions_the_fixed_text_of_global_1402(editor, db):
    set_global(db, 1402, "Ihre Hausverwaltung", "test")
    db.commit()
    response = editor.post("/admin/sms-texts/preview", data={"body": "Hallo"})
    assert "Ihre Hausverwaltung" in response.text
    assert "1402" in response.text


def test_form_page_contains_live_preview_wiring(editor):
    page = editor.get("/admin/sms-texts/new")
    textarea = re.search(r"<textarea[^>]*>", page.text).group(0)
    assert 'data-hx-post="/admin/sms-texts/preview"' in textarea
    assert 'data-hx-trigger="input changed delay:300ms"' in textarea
    assert 'data-hx-target="#text-preview"' in textarea
    assert 'id="text-preview"' in page.text
    assert 'data-insert-into="body"' in page.text


# --- XSS -----------------------------------------------------------------------------------------


def test_script_in_name_and_body_is_escaped_everywhere(editor, app, db, make_user):
    response = editor.post("/admin/sms-texts/new", data=_form(name=XSS, usage_key="", body=XSS))
    assert response.status_code == 302
    text = db.scalar(select(SmsText))
    assert text.name == XSS and text.body == XSS
    writer = login_as(app.test_client(), make_user("writer", Permission.SMS_MESSAGES))
    pages = [
        editor.get("/admin/sms-texts/"),  # list (with the flash message naming it)
        editor.get(f"/admin/sms-texts/{text.id}"),  # form
        editor.post("/admin/sms-texts/preview", data={"body": XSS}),  # preview
        writer.get("/admin/sms-texts/options?format=html"),  # the picker of "Neu"
        # An error message that quotes the input.
        editor.post("/admin/sms-texts/new", data=_form(name=XSS, body="x")),
        editor.post("/admin/sms-texts/new", data=_form(name="y", body="{" + XSS + "}")),
    ]
    for page in pages:
        assert "<script>alert(1)" not in page.text, page.request.path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, page.request.path
    body = writer.get(f"/admin/sms-texts/{text.id}/body")
    assert body.mimetype == "text/plain"
    assert body.headers["X-Content-Type-Options"] == "nosniff"


# --- permissions ---------------------------------------------------------------------------------


def test_users_without_150037_get_403(client, make_user, db):
    text = _add(db, "Geheim", "x")
    others = [p for p in ROLE_PERMISSIONS if p is not Permission.SMS_TEXTS]
    user = login_as(client, make_user("ohne", *others))
    for method, url in [
        ("GET", "/admin/sms-texts/"),
        ("GET", "/admin/sms-texts/new"),
        ("POST", "/admin/sms-texts/new"),
        ("GET", f"/admin/sms-texts/{text.id}"),
        ("POST", f"/admin/sms-texts/{text.id}"),
        ("POST", f"/admin/sms-texts/{text.id}/delete"),
        ("POST", "/admin/sms-texts/preview"),
    ]:
        response = user.open(url, method=method, data=_form())
        assert response.status_code == 403, (method, url)
    assert _count(db) == 1
    assert "Smstexte" not in user.get("/", follow_redirects=True).text


def test_menu_shows_smstexte_for_holders(editor):
    assert 'href="/admin/sms-texts/"' in editor.get("/", follow_redirects=True).text


# --- picker API for the SMS forms ----------------------------------------------------------------


@pytest.mark.parametrize("permission", [Permission.SMS_MESSAGES, Permission.SMS_SEND])
def test_sms_writers_get_the_options_and_bodies(client, make_user, db, permission):
    first = _add(db, "B-Text", "Auftrag {auftrag.nummer}", "auftrag_bn")
    _add(db, "A-Text", "Frei")
    user = login_as(client, make_user("schreiber", permission))
    listed = user.get("/admin/sms-texts/options")
    assert listed.status_code == 200
    assert listed.json == [
        {"id": first.id + 1, "name": "A-Text", "usage_key": "", "body": "Frei"},
        {
            "id": first.id,
            "name": "B-Text",
            "usage_key": "auftrag_bn",
            "body": "Auftrag {auftrag.nummer}",
        },
    ]
    assert [t["name"] for t in user.get("/admin/sms-texts/options?usage=auftrag_bn").json] == [
        "B-Text"
    ]
    assert [t["name"] for t in user.get("/admin/sms-texts/options?usage=frei").json] == ["A-Text"]
    html = user.get("/admin/sms-texts/options", headers=HX)
    assert html.mimetype == "text/html"
    assert '<option value="">' in html.text
    assert (
        f'<option value="{first.id}" data-body="Auftrag {{auftrag.nummer}}" '
        'data-usage="auftrag_bn">B-Text</option>' in html.text
    )
    body = user.get(f"/admin/sms-texts/{first.id}/body")
    assert body.status_code == 200
    assert body.mimetype == "text/plain"
    assert body.text == "Auftrag {auftrag.nummer}"
    assert user.get("/admin/sms-texts/999/body").status_code == 404
    # They still may not open the dialog itself.
    assert user.get("/admin/sms-texts/").status_code == 403


def test_picker_api_needs_a_login(client, db):
    text = _add(db, "T", "x")
    for url in ("/admin/sms-texts/options", f"/admin/sms-texts/{text.id}/body"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


# --- domain functions ----------------------------------------------------------------------------


def test_domain_functions(db, app):
    text = save_text(
        db, name="  Zwei   Wörter ", usage_key="", body="Hi {person.name}", changed_by=None
    )
    db.commit()
    assert text.name == "Zwei Wörter"
    assert text.updated_by is None
    assert [t.name for t in list_texts(db, "wörter")] == ["Zwei Wörter"]
    assert [t.name for t in list_texts(db, "WÖRTER")] == ["Zwei Wörter"]
    assert list_texts(db, usage_key="auftrag_bn") == []
    rendered, info = preview_text("Hi {person.name}")
    assert rendered == "Hi Maria Muster"
    assert (info.segments, info.encoding) == (1, "GSM-7")
    with pytest.raises(InputError) as caught:
        preview_text("}")
    assert caught.value.field == "body"
    delete_text(db, text)
    db.commit()
    assert list_texts(db) == []

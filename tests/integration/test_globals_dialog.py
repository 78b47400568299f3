"""Globale Variablen: list, edit with validation, one accessor in code."""

from __future__ import annotations

import pytest

from webapp.models import GlobalVariable
from webapp.sms.settings import GlobalNumber, get_flag, get_global, set_global

HX = {"HX-Request": "true"}


def test_list_shows_all_globals_with_german_descriptions(admin_client):
    page = admin_client.get("/admin/globals/")
    assert page.status_code == 200
    for number in (1400, 1401, 1402, 1539, 1580, 1581, 2890):
        assert f'id="global-{number}"' in page.text
    assert "GLOBAL_SMS_FIXTEXT_AM_ENDE" in page.text
    assert "am Ende jeder SMS" in page.text


def test_inline_edit_saves_and_returns_the_row(admin_client, db):
    form = admin_client.get("/admin/globals/1402", headers=HX)
    assert form.status_code == 200
    assert "<textarea" in form.text and "<tr" in form.text
    saved = admin_client.post("/admin/globals/1402", data={"value": "Ihre HV Wien"}, headers=HX)
    assert saved.status_code == 200
    assert "Ihre HV Wien" in saved.text
    assert "wurde gespeichert" in saved.text
    db.expire_all()
    variable = db.get(GlobalVariable, 1402)
    assert variable.value == "Ihre HV Wien"
    assert variable.updated_by == "admin"
    assert get_global(db, GlobalNumber.SMS_FIXED_TEXT) == "Ihre HV Wien"


@pytest.mark.parametrize(
    ("number", "value", "message"),
    [
        (1400, "2", "Bitte 0 (aus) oder 1 (ein) eingeben."),
        (1401, "kein-mail", "Bitte eine gültige E-Mail-Adresse eingeben"),
        (1402, "x" * 501, "höchstens 500 Zeichen"),
    ],
)
def test_invalid_values_are_refused_in_place_and_nothing_changes(
    admin_client, db, number, value, message
):
    before = db.get(GlobalVariable, number).value
    response = admin_client.post(f"/admin/globals/{number}", data={"value": value}, headers=HX)
    assert response.status_code == 422
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    db.expire_all()
    assert db.get(GlobalVariable, number).value == before


def test_edit_works_without_javascript(admin_client, db):
    page = admin_client.get("/admin/globals/1401")
    assert "<html" in page.text
    bad = admin_client.post("/admin/globals/1401", data={"value": "x@"})
    assert bad.status_code == 422
    assert 'value="x@"' in bad.text  # what the user typed stays
    good = admin_client.post("/admin/globals/1401", data={"value": "fehler@hv.at"})
    assert good.status_code == 302
    db.expire_all()
    assert get_global(db, 1401) == "fehler@hv.at"


def test_unknown_global_is_404(admin_client):
    assert admin_client.get("/admin/globals/9999").status_code == 404


def test_accessor_reads_flags_and_falls_back_to_default(db):
    set_global(db, 1400, "0", "test")
    assert get_flag(db, GlobalNumber.SMS_SERVICE_AVAILABLE) is False
    set_global(db, 1400, "1", "test")
    assert get_flag(db, 1400) is True
    with pytest.raises(KeyError):
        get_global(db, 4711)

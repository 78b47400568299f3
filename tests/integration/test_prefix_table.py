"""Konfigurationstabelle 93001 SMS_HANDYVORWAHLEN: list, add, edit, deactivate, delete."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import login_as
from webapp.models import MobilePrefix
from webapp.permissions import Permission
from webapp.sms.prefixes import is_allowed_prefix

HX = {"HX-Request": "true"}


@pytest.fixture
def editor(client, make_user):
    return login_as(client, make_user("vorwahlen", Permission.MOBILE_PREFIXES))


def _count(db) -> int:
    return db.scalar(select(func.count()).select_from(MobilePrefix))


def test_table_lists_seeded_prefixes(editor):
    page = editor.get("/admin/config/93001")
    assert page.status_code == 200
    assert "93001 SMS_HANDYVORWAHLEN" in page.text
    assert "+43 664" in page.text


def test_config_tables_overview_links_93001(editor):
    page = editor.get("/admin/config/")
    assert "SMS_HANDYVORWAHLEN" in page.text
    assert "/admin/config/93001" in page.text


def test_add_in_any_notation(editor, db):
    response = editor.post(
        "/admin/config/93001", data={"prefix": "+43 6991", "description": "Test"}, headers=HX
    )
    assert response.status_code == 200
    assert "Vorwahl +43 6991 wurde hinzugefügt." in response.text
    assert db.scalar(select(MobilePrefix).where(MobilePrefix.prefix == "436991")) is not None


@pytest.mark.parametrize(
    ("prefix", "message"),
    [("43664", "ist bereits eingetragen"), ("abc", "nur Ziffern"), ("0664", "ohne führende 0")],
)
def test_bad_input_is_refused_and_kept_in_the_form(editor, db, prefix, message):
    before = _count(db)
    response = editor.post(
        "/admin/config/93001", data={"prefix": prefix, "description": "x"}, headers=HX
    )
    assert response.status_code == 422
    assert message in response.text
    assert f'value="{prefix}"' in response.text
    assert _count(db) == before


def test_edit_and_deactivate(editor, db):
    entry = db.scalar(select(MobilePrefix).where(MobilePrefix.prefix == "43660"))
    form = editor.get(f"/admin/config/93001?edit={entry.id}", headers=HX)
    assert f'id="prefix-form-{entry.id}"' in form.text
    response = editor.post(
        f"/admin/config/93001/{entry.id}",
        data={"prefix": "43660", "description": "Drei"},  # no "active": unticked
        headers=HX,
    )
    assert response.status_code == 200
    db.expire_all()
    assert db.get(MobilePrefix, entry.id).active is False
    assert db.get(MobilePrefix, entry.id).description == "Drei"
    assert not is_allowed_prefix(db, "+436601234567")
    assert is_allowed_prefix(db, "+436641234567")


def test_edit_to_a_duplicate_changes_nothing(editor, db):
    entry = db.scalar(select(MobilePrefix).where(MobilePrefix.prefix == "43660"))
    response = editor.post(
        f"/admin/config/93001/{entry.id}",
        data={"prefix": "43664", "description": "x", "active": "1"},
        headers=HX,
    )
    assert response.status_code == 422
    assert "ist bereits eingetragen" in response.text
    db.expire_all()
    assert db.get(MobilePrefix, entry.id).prefix == "43660"


def test_delete(editor, db):
    entry = db.scalar(select(MobilePrefix).where(MobilePrefix.prefix == "43688"))
    response = editor.post(f"/admin/config/93001/{entry.id}/delete", headers=HX)
    assert response.status_code == 200
    assert "wurde gelöscht" in response.text
    db.expunge_all()
    assert db.get(MobilePrefix, entry.id) is None


def test_without_javascript_add_redirects_back_to_the_list(editor):
    response = editor.post("/admin/config/93001", data={"prefix": "4915901", "description": ""})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/config/93001"
    assert "+49 15901" in editor.get("/admin/config/93001").text

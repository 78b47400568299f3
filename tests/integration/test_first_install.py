"""A new installation without the demo: `flask db upgrade`, `flask create-admin`, and the first
SMS through Neu. No error ever points at a field the user cannot see.

The `app` fixture's database is what the migrations make (no Mandant, no user); the tests'
template has also switched the SMS service on (global 1400), the administrator's first step.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.conftest import login_as
from webapp import accounts
from webapp.models import Mandant, Message, MessageStatus, User
from webapp.permissions import Permission

ADMIN_PASSWORD = "ein-langes-passwort"
NO_MANDANT_AT_ALL = "Es gibt noch keinen aktiven Mandanten."
NO_MANDANT_OF_YOURS = "Ihnen ist kein Mandant zugeordnet."


def _create_admin(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(
        args=["create-admin", "chefin", "--password-stdin", *args], input=f"{ADMIN_PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    return result.output


def _log_in(client, username: str, password: str) -> None:
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 302, response.text[:1000]


def _browser_form(page: str) -> dict[str, str]:
    """What a browser sends for the Neu form: the values of its inputs and selects."""
    form = re.search(r'<form method="post" novalidate id="sms-form">(.*?)</form>', page, re.S)
    assert form, page[:2000]
    data = dict(re.findall(r'<input [^>]*name="([^"]+)"[^>]*value="([^"]*)"', form.group(1)))
    for name, options in re.findall(
        r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>', form[1], re.S
    ):
        chosen = re.search(r'<option selected value="([^"]*)"', options) or re.search(
            r'<option value="([^"]*)"', options
        )
        if chosen:
            data[name] = chosen.group(1)
    return data


def test_a_new_installation_sends_its_first_sms_through_neu(app, db, client):
    assert db.scalar(select(func.count()).select_from(Mandant)) == 0

    output = _create_admin(app)

    assert "Mandant „Hauptmandant“ ist angelegt" in output
    assert [m.name for m in db.scalars(select(Mandant))] == ["Hauptmandant"]
    _log_in(client, "chefin", ADMIN_PASSWORD)
    page = client.get("/admin/sms/new")
    assert page.status_code == 200
    # Nothing to choose: no Mandant field shown, no message.
    assert '<label for="mandant">' not in page.text
    assert "field-error" not in page.text and "flash-error" not in page.text

    data = _browser_form(page.text)
    data.update(recipient="0664 1234567", text="Die erste SMS")
    response = client.post("/admin/sms/new", data=data)

    assert response.status_code == 302, response.text[:2000]
    message = db.scalar(select(Message))
    assert message.status is MessageStatus.QUEUED
    assert message.mandant.name == "Hauptmandant"


def test_create_admin_names_the_first_mandant_and_makes_only_one(app, db):
    output = _create_admin(app, "--mandant", "Hausverwaltung Muster")
    assert "Mandant „Hausverwaltung Muster“ ist angelegt" in output
    output = _create_admin(app, "--mandant", "Noch einer")
    assert "Mandant" not in output
    assert [m.name for m in db.scalars(select(Mandant))] == ["Hausverwaltung Muster"]
    admin = db.scalar(select(User).where(User.username == "chefin"))
    assert [m.name for m in admin.mandanten] == ["Hausverwaltung Muster"]


def test_the_first_mandant_is_renamed_in_the_mandanten_dialog(app, db, client):
    _create_admin(app)
    _log_in(client, "chefin", ADMIN_PASSWORD)
    mandant = db.scalar(select(Mandant))
    response = client.post(f"/admin/mandanten/{mandant.id}", data={"name": "HV Beispiel"})
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Mandant, mandant.id).name == "HV Beispiel"


def test_without_any_mandant_neu_says_what_the_administrator_must_do(db, admin_client):
    page = admin_client.get("/admin/sms/new")
    assert NO_MANDANT_AT_ALL in page.text
    assert "Administration – Mandanten" in page.text

    response = admin_client.post(
        "/admin/sms/new", data={"recipient": "0664 1234567", "mandant": "", "text": "Hallo"}
    )

    assert response.status_code == 422
    assert response.text.count(NO_MANDANT_AT_ALL) == 1  # above the form, once
    assert "field-error" not in response.text  # never at the hidden select
    assert db.scalar(select(Message)) is None


def test_a_user_without_a_mandant_is_told_whom_to_ask(client, db, make_user):
    accounts.save_mandant(db, "HV Wien")
    db.commit()
    login_as(client, make_user("neu", Permission.SMS_MESSAGES))
    page = client.get("/admin/sms/new")
    assert NO_MANDANT_OF_YOURS in page.text
    assert "Administration – Benutzer" in page.text
    response = client.post("/admin/sms/new", data={"recipient": "0664 1234567", "text": "x"})
    assert response.status_code == 422
    assert response.text.count(NO_MANDANT_OF_YOURS) == 1
    assert "field-error" not in response.text


@pytest.mark.parametrize("sent", ["", "999999", None])
def test_with_one_mandant_the_hidden_select_never_fails(client, db, make_user, sent):
    wien = accounts.save_mandant(db, "HV Wien")
    graz = accounts.save_mandant(db, "HV Graz")
    db.commit()
    login_as(client, make_user("clerk", Permission.SMS_MESSAGES, mandanten=[wien]))
    data = {"recipient": "0664 1234567", "text": "Hallo"}
    if sent is not None:
        data["mandant"] = sent
    response = client.post("/admin/sms/new", data=data)
    assert response.status_code == 302, response.text[:2000]
    assert db.scalar(select(Message)).mandant_id == wien.id != graz.id


def test_records_without_any_mandant_say_what_the_administrator_must_do(admin_client):
    page = admin_client.get("/persons/new")
    assert NO_MANDANT_AT_ALL in page.text


def test_a_new_user_gets_the_only_mandant_ticked(db, admin_client):
    only = accounts.save_mandant(db, "Hauptmandant")
    db.commit()
    page = admin_client.get("/admin/users/new")
    box = re.search(rf'<input [^>]*name="mandanten"[^>]*value="{only.id}"[^>]*>', page.text)
    assert box and " checked " in box.group(0), page.text


# --- reset-password ------------------------------------------------------------------------


def test_reset_password_sets_a_new_one_and_ends_the_sessions(app, db, make_user):
    karl = make_user("karl")
    epoch = karl.session_epoch
    result = app.test_cli_runner().invoke(
        args=["reset-password", "Karl"], input="ein-neues-passwort\nein-neues-passwort\n"
    )
    assert result.exit_code == 0, result.output
    assert "Das Passwort von karl ist neu gesetzt." in result.output
    db.expire_all()
    karl = db.scalar(select(User).where(User.username == "karl"))
    assert karl.check_password("ein-neues-passwort")
    assert not karl.is_administrator  # unlike create-admin
    assert karl.session_epoch != epoch


def test_reset_password_refuses_unknown_users_and_weak_passwords(app, make_user):
    runner = app.test_cli_runner()
    unknown = runner.invoke(args=["reset-password", "niemand", "--password-stdin"], input="x\n")
    assert unknown.exit_code != 0
    assert "Den Benutzer niemand gibt es nicht." in unknown.output
    make_user("karl")
    weak = runner.invoke(args=["reset-password", "karl", "--password-stdin"], input="kurz\n")
    assert weak.exit_code != 0
    assert "mindestens 10 Zeichen" in weak.output

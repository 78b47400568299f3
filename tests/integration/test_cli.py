"""`flask --app wsgi create-admin` and `seed-demo`."""

from __future__ import annotations

from sqlalchemy import select

from webapp.models import Company, Mandant, Person, Role, SmsText, User
from webapp.sms.settings import get_flag


def test_create_admin_reads_the_password_from_stdin(app, db):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "Chefin", "--password-stdin"], input="ein-langes-passwort\n"
    )
    assert result.exit_code == 0, result.output
    assert "Administrator chefin ist angelegt." in result.output
    user = db.scalar(select(User).where(User.username == "chefin"))
    assert user.is_administrator and user.check_password("ein-langes-passwort")


def test_create_admin_asks_twice(app, db):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "chefin"], input="ein-langes-passwort\nein-langes-passwort\n"
    )
    assert result.exit_code == 0, result.output
    assert db.scalar(select(User).where(User.username == "chefin")) is not None


def test_create_admin_refuses_a_short_password_with_a_clear_message(app, db):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "chefin", "--password-stdin"], input="kurz\n"
    )
    assert result.exit_code != 0
    assert "mindestens 10 Zeichen" in result.output
    assert db.scalar(select(User).where(User.username == "chefin")) is None


def test_create_admin_promotes_an_existing_user(app, db, make_user):
    make_user("karl")
    result = app.test_cli_runner().invoke(
        args=["create-admin", "karl"], env={"ADMIN_PASSWORD": "ein-neues-passwort"}
    )
    assert result.exit_code == 0, result.output
    db.expire_all()
    karl = db.scalar(select(User).where(User.username == "karl"))
    assert karl.is_administrator and karl.check_password("ein-neues-passwort")


def test_seed_demo_is_idempotent(app, db):
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["seed-demo"])
        assert result.exit_code == 0, result.output
    assert len(list(db.scalars(select(Mandant)))) == 2
    assert {r.name for r in db.scalars(select(Role))} == {"Sachbearbeitung", "SMS-Verwaltung"}
    assert get_flag(db, 1400)
    assert len(list(db.scalars(select(SmsText)))) == 5
    assert len(list(db.scalars(select(Person)))) > 0
    assert len(list(db.scalars(select(Company)))) > 0


def test_create_admin_refuses_a_common_password(app, db):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "chefin", "--password-stdin"], input="password123\n"
    )
    assert result.exit_code != 0
    assert "zu häufig verwendet" in result.output
    assert db.scalar(select(User).where(User.username == "chefin")) is None

"""Benutzer, Rollen and Mandanten dialogs and the rules behind them."""

from __future__ import annotations

from sqlalchemy import select

from tests.conftest import PASSWORD, login_as
from webapp import accounts
from webapp.models import Mandant, Role, User
from webapp.permissions import Permission, user_can


def _role(db, name="Sachbearbeitung", *perms):
    role = accounts.save_role(db, name, [int(p) for p in perms] or [298004])
    db.commit()
    return role


def _mandant(db, name="HV Wien"):
    mandant = accounts.save_mandant(db, name)
    db.commit()
    return mandant


def test_create_user_with_roles_and_mandanten(admin_client, db):
    role, mandant = _role(db), _mandant(db)
    response = admin_client.post(
        "/admin/users/new",
        data={
            "username": "Maria.Huber",
            "display_name": "Maria Huber",
            "email": "maria@hv.at",
            "password": "ein-langes-passwort",
            "active": "y",
            "roles": [str(role.id)],
            "mandanten": [str(mandant.id)],
        },
    )
    assert response.status_code == 302
    user = db.scalar(select(User).where(User.username == "maria.huber"))
    assert user.display_name == "Maria Huber"
    assert [r.name for r in user.roles] == ["Sachbearbeitung"]
    assert [m.name for m in user.mandanten] == ["HV Wien"]
    assert user_can(user, Permission.SMS_SEND)
    assert not user_can(user, Permission.SMS_MESSAGES)
    listing = admin_client.get("/admin/users")
    assert "maria.huber" in listing.text and "HV Wien" in listing.text
    assert user.password_hash.startswith("scrypt:")


def test_user_form_errors_are_german_and_keep_input(admin_client, db):
    before = db.scalar(select(User).where(User.username == "x")) is None
    response = admin_client.post(
        "/admin/users/new",
        data={"username": "x", "display_name": "Herr X", "email": "nope", "password": "kurz"},
    )
    assert response.status_code == 422
    assert "Der Benutzername muss 2–80 Zeichen lang sein" in response.text
    assert 'value="Herr X"' in response.text
    assert before and db.scalar(select(User).where(User.username == "x")) is None
    response = admin_client.post(
        "/admin/users/new",
        data={"username": "karl", "email": "nope", "password": "ein-langes-passwort"},
    )
    assert "gültige E-Mail-Adresse" in response.text
    response = admin_client.post("/admin/users/new", data={"username": "karl", "password": "kurz"})
    assert "mindestens 10 Zeichen" in response.text
    response = admin_client.post(
        "/admin/users/new", data={"username": "admin", "password": "ein-langes-passwort"}
    )
    assert "Den Benutzernamen admin gibt es bereits." in response.text


def test_edit_keeps_password_when_left_empty(admin_client, db, make_user):
    user = make_user("karl")
    old_hash = user.password_hash
    response = admin_client.post(
        f"/admin/users/{user.id}",
        data={"username": "karl", "display_name": "Karl K.", "password": "", "active": "y"},
    )
    assert response.status_code == 302
    db.expire_all()
    user = db.get(User, user.id)
    assert user.display_name == "Karl K." and user.password_hash == old_hash


def test_deactivated_user_is_logged_out_and_cannot_log_in(app, admin_client, db, make_user):
    user = make_user("karl")
    karl = login_as(app.test_client(), user)
    assert karl.get("/sms/meine/").status_code == 200
    response = admin_client.post(f"/admin/users/{user.id}/active", data={"active": "0"})
    assert response.status_code == 302
    assert karl.get("/sms/meine/").status_code == 302
    fresh = app.test_client()
    refused = fresh.post("/login", data={"username": "karl", "password": PASSWORD})
    assert "Benutzername oder Passwort ist falsch." in refused.text


def test_admin_cannot_deactivate_self_nor_remove_last_admin(admin_client, admin, db):
    response = admin_client.post(
        f"/admin/users/{admin.id}/active", data={"active": "0"}, follow_redirects=True
    )
    assert "nicht selbst deaktivieren" in response.text
    response = admin_client.post(
        f"/admin/users/{admin.id}", data={"username": "admin", "active": "y"}
    )
    assert response.status_code == 422
    assert "letzte aktive Administrator" in response.text
    db.expire_all()
    assert db.get(User, admin.id).is_administrator


def test_roles_edit_permission_numbers(admin_client, db):
    response = admin_client.post(
        "/admin/roles/new",
        data={
            "name": "Texte",
            "description": "SMS-Texte pflegen",
            "permissions": ["150037", "1669"],
        },
    )
    assert response.status_code == 302
    role = db.scalar(select(Role).where(Role.name == "Texte"))
    assert role.permissions == {150037, 1669}
    response = admin_client.post(
        f"/admin/roles/{role.id}", data={"name": "Texte", "permissions": ["101024"]}
    )
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Role, role.id).permissions == {101024}
    listing = admin_client.get("/admin/roles")
    assert "101024 SMS_HANDYVORWAHLEN (Konfigurationstabelle)" in listing.text


def test_role_with_unknown_number_or_duplicate_name_is_refused(admin_client, db):
    _role(db, "Sachbearbeitung")
    response = admin_client.post("/admin/roles/new", data={"name": "sachbearbeitung"})
    assert response.status_code == 422
    assert "gibt es bereits" in response.text
    response = admin_client.post("/admin/roles/new", data={"name": "Neu", "permissions": ["4711"]})
    assert response.status_code == 422  # not a choice of the form
    assert db.scalar(select(Role).where(Role.name == "Neu")) is None


def test_deleting_a_role_takes_its_permissions_away(admin_client, db, make_user):
    user = make_user("karl", Permission.SMS_SEND)
    role = user.roles[0]
    response = admin_client.post(f"/admin/roles/{role.id}/delete")
    assert response.status_code == 302
    db.expire_all()
    assert not user_can(db.get(User, user.id), Permission.SMS_SEND)


def test_mandanten_create_and_rename(admin_client, db):
    response = admin_client.post("/admin/mandanten", data={"name": "HV Linz"})
    assert response.status_code == 302
    mandant = db.scalar(select(Mandant).where(Mandant.name == "HV Linz"))
    duplicate = admin_client.post("/admin/mandanten", data={"name": "hv linz"})
    assert duplicate.status_code == 422 and "gibt es bereits" in duplicate.text
    admin_client.post(f"/admin/mandanten/{mandant.id}", data={"name": "HV Linz-Urfahr"})
    db.expire_all()
    assert db.get(Mandant, mandant.id).name == "HV Linz-Urfahr"


def _user_data(**fields):
    return {"username": "karl", "active": "y", **fields}


def test_common_and_blank_passwords_are_refused_next_to_the_field(admin_client, db):
    for password, message in (
        ("password123", "zu häufig verwendet"),
        ("Qwertyuiop", "zu häufig verwendet"),
        ("1234567890", "zu häufig verwendet"),
        ("            ", "nicht nur aus Leerzeichen"),
        ("kurz", "mindestens 10 Zeichen"),
    ):
        response = admin_client.post("/admin/users/new", data=_user_data(password=password))
        assert response.status_code == 422, password
        assert message in response.text, password
        assert 'aria-invalid="true"' in response.text  # shown at the password field
    assert db.scalar(select(User).where(User.username == "karl")) is None
    accepted = admin_client.post(
        "/admin/users/new", data=_user_data(password="Lindenblüte am Kai 7")
    )
    assert accepted.status_code == 302


def test_one_password_rule_for_every_place_a_password_is_set(db, make_user):
    import pytest

    from webapp.errors import InputError

    karl = make_user("karl")
    for password in ("password123", "          "):
        with pytest.raises(InputError) as refused:
            accounts.check_password_rules(password)
        assert refused.value.field == "password"
        with pytest.raises(InputError):
            accounts.save_user(db, accounts.UserInput(username="karl", password=password), karl)
    db.rollback()


def test_admin_cannot_deactivate_self_through_the_user_form(admin_client, admin, make_user, db):
    make_user("zweite", admin=True)  # not the last administrator: the rule is about oneself
    response = admin_client.post(
        f"/admin/users/{admin.id}",
        data={"username": "admin", "is_administrator": "y"},  # "Aktiv" unticked
    )
    assert response.status_code == 422
    assert "Sie können sich nicht selbst deaktivieren." in response.text
    db.expire_all()
    assert db.get(User, admin.id).active
    # Through the button the same domain rule answers.
    response = admin_client.post(
        f"/admin/users/{admin.id}/active", data={"active": "0"}, follow_redirects=True
    )
    assert "Sie können sich nicht selbst deaktivieren." in response.text
    db.expire_all()
    assert db.get(User, admin.id).active


def test_save_user_refuses_the_acting_admin_deactivating_themselves(db, make_user):
    import pytest

    from webapp.errors import InputError

    chefin = make_user("chefin", admin=True)
    make_user("zweite", admin=True)
    data = accounts.UserInput(username="chefin", is_administrator=True, active=False)
    with pytest.raises(InputError) as refused:
        accounts.save_user(db, data, chefin, actor=chefin)
    assert refused.value.field == "active"
    with pytest.raises(InputError):
        accounts.set_user_active(db, chefin, False, actor=chefin)
    db.rollback()


def test_admin_may_give_up_the_flag_while_another_admin_is_active(
    admin_client, admin, make_user, db
):
    make_user("zweite", admin=True)
    response = admin_client.post(f"/admin/users/{admin.id}", data=_user_data(username="admin"))
    assert response.status_code == 302
    db.expire_all()
    assert not db.get(User, admin.id).is_administrator


def test_the_last_active_admin_cannot_give_up_the_flag_even_with_an_inactive_admin(
    admin_client, admin, make_user, db
):
    make_user("alt", admin=True, active=False)
    response = admin_client.post(f"/admin/users/{admin.id}", data=_user_data(username="admin"))
    assert response.status_code == 422
    assert "letzte aktive Administrator" in response.text


def _demote(session, user_id: int, outcome: list[str]) -> None:
    from webapp.errors import InputError

    user = session.get(User, user_id)
    try:
        accounts.save_user(session, accounts.UserInput(username=user.username), user)
        session.commit()
        outcome.append("gespeichert")
    except InputError as error:
        session.rollback()
        outcome.append(error.message)
    finally:
        session.close()


def test_two_admins_demoting_each_other_at_once_leave_one_admin(app, db, make_user):
    """The count of active administrators locks their rows (PostgreSQL): the second demotion
    waits for the first and then counts without it."""
    import threading
    import time

    import pytest
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    engine = db.get_bind()
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite lets only one writer in at a time")
    anna, bert = make_user("anna", admin=True), make_user("bert", admin=True)
    first, second = Session(engine), Session(engine)
    accounts.save_user(
        first, accounts.UserInput(username="anna"), first.get(User, anna.id)
    )  # not committed yet
    outcome: list[str] = []

    def demote_bert() -> None:
        with app.app_context():  # German messages need the app
            _demote(second, bert.id, outcome)

    thread = threading.Thread(target=demote_bert)
    thread.start()
    deadline = time.monotonic() + 20
    with engine.connect() as watcher:  # until bert's demotion waits for anna's rows
        while not outcome and time.monotonic() < deadline:
            waiting = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar()
            if waiting:
                break
            time.sleep(0.02)
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert outcome and "letzte aktive Administrator" in outcome[0]
    db.expire_all()
    assert db.get(User, bert.id).is_administrator

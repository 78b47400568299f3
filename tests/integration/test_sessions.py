"""Sessions end with logout, a password change and deactivation, after an idle time, and are
bound to the client address that the deployment vouches for (never a header from anyone)."""

from __future__ import annotations

import time

import pytest
from flask_login.utils import encode_cookie

from tests.conftest import PASSWORD, login_as


def _log_in(client, username: str = "maria", **kwargs):
    response = client.post("/login", data={"username": username, "password": PASSWORD}, **kwargs)
    assert response.status_code == 302
    return client


def _copy(app, client):
    """A second browser that got hold of `client`'s session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def test_logout_ends_a_copied_session_cookie(app, client, make_user):
    make_user("maria")
    _log_in(client)
    thief = _copy(app, client)
    assert thief.get("/sms/meine/").status_code == 200
    client.post("/logout")
    assert thief.get("/sms/meine/").status_code == 302


def test_logout_ends_the_sessions_on_other_devices_and_remember_cookies(app, client, make_user):
    user = make_user("maria")
    laptop = login_as(app.test_client(), user)
    _log_in(client)
    with app.test_request_context():
        remember = encode_cookie(user.get_id())  # what "remember me" would have stored
    remembered = app.test_client()
    remembered.set_cookie("remember_token", remember)
    assert remembered.get("/sms/meine/").status_code == 200
    client.post("/logout")
    assert laptop.get("/sms/meine/").status_code == 302
    fresh = app.test_client()
    fresh.set_cookie("remember_token", remember)
    assert fresh.get("/sms/meine/").status_code == 302


def test_a_password_set_by_an_admin_ends_the_users_sessions(app, admin_client, make_user, db):
    user = make_user("karl")
    karl = login_as(app.test_client(), user)
    assert karl.get("/sms/meine/").status_code == 200
    response = admin_client.post(
        f"/admin/users/{user.id}",
        data={"username": "karl", "password": "ein-ganz-neues-passwort", "active": "y"},
    )
    assert response.status_code == 302
    page = karl.get("/sms/meine/", follow_redirects=True)
    assert "Ihre Sitzung wurde beendet" in page.text
    assert karl.get("/sms/meine/").status_code == 302


def test_saving_a_user_without_a_new_password_keeps_the_sessions(app, admin_client, make_user):
    user = make_user("karl")
    karl = login_as(app.test_client(), user)
    admin_client.post(
        f"/admin/users/{user.id}",
        data={"username": "karl", "display_name": "Karl K.", "password": "", "active": "y"},
    )
    assert karl.get("/sms/meine/").status_code == 200


def test_own_password_change_keeps_this_session_and_ends_the_others(app, make_user):
    admin = make_user("chefin", admin=True)
    here = login_as(app.test_client(), admin)
    elsewhere = login_as(app.test_client(), admin)
    response = here.post(
        f"/admin/users/{admin.id}",
        data={
            "username": "chefin",
            "password": "ein-ganz-neues-passwort",
            "active": "y",
            "is_administrator": "y",
        },
    )
    assert response.status_code == 302
    assert here.get("/sms/meine/").status_code == 200
    assert elsewhere.get("/sms/meine/").status_code == 302


def test_create_admin_with_a_new_password_ends_the_sessions(app, make_user):
    user = make_user("karl")
    karl = login_as(app.test_client(), user)
    result = app.test_cli_runner().invoke(
        args=["create-admin", "karl"], env={"ADMIN_PASSWORD": "ein-ganz-neues-passwort"}
    )
    assert result.exit_code == 0, result.output
    assert karl.get("/sms/meine/").status_code == 302


def test_a_deactivated_users_sessions_stay_ended_after_reactivation(app, admin_client, make_user):
    user = make_user("karl")
    karl = login_as(app.test_client(), user)
    admin_client.post(f"/admin/users/{user.id}/active", data={"active": "0"})
    assert karl.get("/sms/meine/").status_code == 302
    admin_client.post(f"/admin/users/{user.id}/active", data={"active": "1"})
    assert karl.get("/sms/meine/").status_code == 302


def _stamp(client, minutes_ago: float) -> None:
    with client.session_transaction() as session:
        session["_seen"] = int(time.time() - minutes_ago * 60)


def _stamped(client) -> int:
    with client.session_transaction() as session:
        return session["_seen"]


def test_an_idle_session_ends_with_a_clear_message(client, make_user):
    login_as(client, make_user("maria"))
    _stamp(client, minutes_ago=481)
    response = client.get("/admin/sms/", follow_redirects=True)
    assert "Sie waren länger als 480 Minuten nicht aktiv" in response.text
    assert "Bitte melden Sie sich erneut an." in response.text
    assert client.get("/sms/meine/").status_code == 302
    # Logging in again works as usual.
    _log_in(client)
    assert client.get("/sms/meine/").status_code == 200


def test_an_idle_htmx_request_sends_the_page_to_the_login(client, make_user):
    login_as(client, make_user("maria"))
    _stamp(client, minutes_ago=481)
    response = client.get("/persons", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_activity_keeps_the_session_alive_but_background_polls_do_not(client, make_user):
    login_as(client, make_user("maria"))
    _stamp(client, minutes_ago=479)
    assert client.get("/sms/meine/", headers={"X-Background-Poll": "1"}).status_code == 200
    assert _stamped(client) < time.time() - 470 * 60  # a poll is no sign of a person
    assert client.get("/sms/meine/").status_code == 200
    assert _stamped(client) >= time.time() - 60


@pytest.mark.parametrize("app_config", [{"SESSION_IDLE_MINUTES": 5}])
def test_the_idle_time_is_configurable(client, make_user, app_config):
    login_as(client, make_user("maria"))
    _stamp(client, minutes_ago=4)
    assert client.get("/sms/meine/").status_code == 200
    _stamp(client, minutes_ago=6)
    assert client.get("/sms/meine/").status_code == 302


def test_a_session_stamped_at_login_expires_even_if_never_used(app, client, make_user):
    make_user("maria")
    _log_in(client)
    assert _stamped(client) >= time.time() - 60


def test_forged_forwarded_for_does_not_carry_a_session_to_another_address(app, make_user):
    make_user("maria")
    victim = _log_in(app.test_client(), environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert victim.get("/sms/meine/", environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code == 200
    thief = _copy(app, victim)
    response = thief.get(
        "/", environ_base={"REMOTE_ADDR": "10.6.6.6"}, headers={"X-Forwarded-For": "10.0.0.1"}
    )
    assert response.status_code == 302


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXIES": 1}])
def test_behind_a_trusted_proxy_the_forwarded_address_counts(app, make_user, app_config):
    make_user("maria")
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    user = _log_in(
        app.test_client(), environ_base=proxy, headers={"X-Forwarded-For": "203.0.113.5"}
    )
    assert (
        user.get(
            "/sms/meine/", environ_base=proxy, headers={"X-Forwarded-For": "203.0.113.5"}
        ).status_code
        == 200
    )
    moved = user.get("/sms/meine/", environ_base=proxy, headers={"X-Forwarded-For": "203.0.113.9"})
    assert moved.status_code == 302


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXIES": 1, "LOGIN_RATE_LIMIT": "2 per hour"}])
def test_behind_a_trusted_proxy_failed_logins_count_per_forwarded_address(
    app, make_user, app_config
):
    make_user("maria")
    client = app.test_client()
    proxy = {"REMOTE_ADDR": "127.0.0.1"}

    def attempt(forwarded: str, username: str, password: str = "falsch"):
        return client.post(
            "/login",
            data={"username": username, "password": password},
            environ_base=proxy,
            headers={"X-Forwarded-For": forwarded},
        )

    assert attempt("203.0.113.5", "a1").status_code == 200
    assert attempt("203.0.113.5", "a2").status_code == 200
    assert attempt("203.0.113.5", "maria", PASSWORD).status_code == 429
    assert attempt("203.0.113.9", "maria", PASSWORD).status_code == 302


@pytest.mark.parametrize("app_config", [{"LOGIN_RATE_LIMIT": "2 per hour"}])
def test_without_trusted_proxies_forwarded_for_is_ignored(app, make_user, app_config):
    make_user("maria")
    client = app.test_client()
    for n, forwarded in enumerate(("203.0.113.5", "203.0.113.6")):
        client.post(
            "/login",
            data={"username": f"a{n}", "password": "falsch"},
            headers={"X-Forwarded-For": forwarded},
        )
    blocked = client.post(
        "/login",
        data={"username": "maria", "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.7"},
    )
    assert blocked.status_code == 429

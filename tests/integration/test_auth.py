"""Login, logout, session cookie flags, CSRF, rate limiting of failed logins."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD, login_as
from webapp.config import _limiter_storage_uri


def test_login_page_is_german(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert "Anmelden" in response.text
    assert "Benutzername" in response.text


def test_login_with_right_password_opens_start_page(client, make_user):
    make_user("maria")
    response = client.post("/login", data={"username": "Maria", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/", follow_redirects=True)  # without 1669: Meine SMS
    assert "Meine SMS" in page.text and "Maria" in page.text


def test_login_with_wrong_password_says_so_and_stays_logged_out(client, make_user):
    make_user("maria")
    response = client.post("/login", data={"username": "maria", "password": "falsch"})
    assert response.status_code == 200
    assert "Benutzername oder Passwort ist falsch." in response.text
    assert client.get("/sms/meine/").status_code == 302


def test_inactive_user_cannot_log_in(client, make_user):
    make_user("otto", active=False)
    response = client.post("/login", data={"username": "otto", "password": PASSWORD})
    assert "Benutzername oder Passwort ist falsch." in response.text


def test_login_redirects_only_to_local_next(client, make_user):
    make_user("maria")
    response = client.post(
        "/login?next=https://evil.example/x", data={"username": "maria", "password": PASSWORD}
    )
    assert response.headers["Location"] == "/"
    client.post("/logout")
    response = client.post(
        "/login?next=/admin/globals/", data={"username": "maria", "password": PASSWORD}
    )
    assert response.headers["Location"] == "/admin/globals/"


def test_logout_ends_the_session(client, make_user):
    user = make_user("maria")
    login_as(client, user)
    assert client.get("/sms/meine/").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 302
    assert client.get("/sms/meine/").status_code == 302


def test_session_cookie_is_httponly_and_samesite_lax(client, make_user):
    make_user("maria")
    response = client.post("/login", data={"username": "maria", "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_production_config_sets_secure_cookie(monkeypatch, tmp_path):
    from webapp.config import load_config

    monkeypatch.setenv("APP_ENV", "production")
    config = load_config({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})
    assert config["SESSION_COOKIE_SECURE"] is True
    monkeypatch.setenv("APP_ENV", "development")
    config = load_config({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})
    assert config["SESSION_COOKIE_SECURE"] is False


@pytest.mark.parametrize("app_config", [{"LOGIN_RATE_LIMIT": "3 per 15 minutes"}])
def test_failed_logins_are_limited_per_user(client, make_user, app_config):
    make_user("maria")
    for _ in range(3):
        response = client.post("/login", data={"username": "maria", "password": "falsch"})
        assert response.status_code == 200
    blocked = client.post("/login", data={"username": "maria", "password": PASSWORD})
    assert blocked.status_code == 429
    assert "Zu viele fehlgeschlagene Anmeldeversuche" in blocked.text
    # Another user from another address is not affected.
    make_user("karl")
    other = client.post(
        "/login",
        data={"username": "karl", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.0.7"},
    )
    assert other.status_code == 302


@pytest.mark.parametrize("app_config", [{"LOGIN_RATE_LIMIT": "3 per 15 minutes"}])
def test_failed_logins_are_limited_per_address(client, make_user, app_config):
    for name in ("a1", "a2", "a3"):
        client.post("/login", data={"username": name, "password": "falsch"})
    make_user("maria")
    blocked = client.post("/login", data={"username": "maria", "password": PASSWORD})
    assert blocked.status_code == 429
    elsewhere = client.post(
        "/login",
        data={"username": "maria", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.0.8"},
    )
    assert elsewhere.status_code == 302


@pytest.mark.parametrize("app_config", [{"LOGIN_RATE_LIMIT": "3 per 15 minutes"}])
def test_successful_logins_do_not_count(client, make_user, app_config):
    make_user("maria")
    for _ in range(5):
        assert (
            client.post("/login", data={"username": "maria", "password": PASSWORD}).status_code
            == 302
        )
        client.post("/logout")


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_post_without_csrf_token_is_rejected(client, make_user, app_config):
    make_user("maria")
    response = client.post("/login", data={"username": "maria", "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in response.text
    assert client.get("/sms/meine/").status_code == 302  # not logged in


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_htmx_post_without_csrf_header_is_rejected_and_with_header_accepted(
    client, admin, app_config
):
    login_as(client, admin)
    page = client.get("/admin/globals/")
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)
    hx = {"HX-Request": "true"}
    refused = client.post("/admin/globals/1402", data={"value": "Ihre HV"}, headers=hx)
    assert refused.status_code == 400
    accepted = client.post(
        "/admin/globals/1402", data={"value": "Ihre HV"}, headers={**hx, "X-CSRFToken": token}
    )
    assert accepted.status_code == 200
    assert "Ihre HV" in accepted.text


def _count_scrypt(monkeypatch) -> list[int]:
    """Count the password hashes computed (werkzeug's scrypt hashes call hashlib.scrypt)."""
    import hashlib
    import threading

    calls = [0]
    lock = threading.Lock()
    real = hashlib.scrypt

    def counting(*args, **kwargs):
        with lock:
            calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


def _parallel_wrong_logins(app, username: str, count: int, address: str) -> list[int]:
    """`count` wrong logins for `username` at once, each from its own test client."""
    import threading

    barrier = threading.Barrier(count)
    statuses: list[int] = []
    lock = threading.Lock()

    def attempt() -> None:
        client = app.test_client()
        barrier.wait(timeout=30)
        response = client.post(
            "/login",
            data={"username": username, "password": "falsch-falsch"},
            environ_base={"REMOTE_ADDR": address},
        )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(statuses) == count
    return statuses


@pytest.fixture
def app_config(request, redis_url):
    """Settings of the `app` fixture (indirect parametrize); storage "redis" stands for the
    test session's Redis (the counters all web servers share)."""
    config = dict(getattr(request, "param", {}))
    if config.get("RATELIMIT_STORAGE_URI") == "redis":
        config["RATELIMIT_STORAGE_URI"] = _limiter_storage_uri(redis_url)
    return config


@pytest.mark.parametrize(
    "app_config",
    [
        {"RATELIMIT_STORAGE_URI": "memory://", "LOGIN_RATE_LIMIT": "5 per 15 minutes"},
        {"RATELIMIT_STORAGE_URI": "redis", "LOGIN_RATE_LIMIT": "5 per 15 minutes"},
    ],
    indirect=True,
    ids=["memory", "redis"],
)
def test_parallel_wrong_logins_check_at_most_the_limit(app, make_user, monkeypatch, app_config):
    """30 wrong logins at once with the limit 5: at most 5 passwords are ever checked."""
    import uuid

    username = f"maria-{uuid.uuid4().hex[:8]}"  # keys of a shared Redis never collide
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.1"
    make_user(username)
    checks = _count_scrypt(monkeypatch)
    statuses = _parallel_wrong_logins(app, username, 30, address)
    assert statuses.count(200) <= 5
    assert statuses.count(429) >= 25
    assert checks[0] <= 5


def test_wrong_logins_of_unknown_and_inactive_users_cost_a_password_check(
    client, make_user, monkeypatch
):
    """The same work for every wrong login: unknown or inactive users are checked against a
    dummy hash, so the answer time does not tell which user names exist."""
    make_user("maria")
    make_user("otto", active=False)
    checks = _count_scrypt(monkeypatch)
    for username in ("maria", "niemand", "otto"):
        before = checks[0]
        response = client.post("/login", data={"username": username, "password": "falsch"})
        assert "Benutzername oder Passwort ist falsch." in response.text
        assert checks[0] == before + 1, username

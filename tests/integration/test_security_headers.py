"""Security headers (hardening point 9): every response carries the Content-Security-Policy,
X-Content-Type-Options, X-Frame-Options and Referrer-Policy; HSTS only where the app runs on
HTTPS; and no page needs what the policy forbids (inline scripts, event handlers, styles).

The pages are read from the URL map (every GET route, with ids of real records), so a dialog
a later change adds is checked here without touching this file.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from tests.conftest import login_as
from tests.routes import one_record_of_each_kind, url_arguments
from webapp.models import User

EXPECTED_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "form-action": "'self'",
    "base-uri": "'self'",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
}
EXPECTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def csp_directives(response: TestResponse) -> dict[str, str]:
    """The Content-Security-Policy of `response` as {directive: sources}."""
    policy = response.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in filter(None, (p.strip() for p in policy.split(";"))):
        name, _sep, sources = part.partition(" ")
        directives[name] = " ".join(sources.split())
    return directives


def assert_security_headers(response: TestResponse, what: str) -> None:
    assert csp_directives(response) == EXPECTED_CSP, what
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, f"{what}: {name}"
    policy = response.headers.get("Content-Security-Policy", "")
    assert "unsafe" not in policy, what


@pytest.fixture
def records(db: Session, admin: User) -> dict[str, int]:
    return one_record_of_each_kind(db, admin)


def get_pages(app: Flask, admin: User, records: dict[str, int]) -> Iterator[tuple[str, object]]:
    """(url, response) of every GET route of the app, opened as administrator."""
    client: FlaskClient = login_as(app.test_client(), admin)
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or rule.endpoint == "auth.logout":
            continue  # logout's GET page is a form, but leave the session alone until the end
        with app.test_request_context():
            url = url_for(rule.endpoint, **url_arguments(rule, records))
        yield url, client.get(url)
    yield "/logout", client.get("/logout")


@pytest.fixture
def pages(app: Flask, admin: User, records: dict[str, int]) -> list[tuple[str, object]]:
    return list(get_pages(app, admin, records))


def test_every_page_carries_the_security_headers(pages, records) -> None:
    opened = {url: response.status_code for url, response in pages}
    # The walk reached the dialogs themselves, not only login redirects or errors.
    for url in (
        "/admin/users",
        "/admin/roles",
        "/admin/sms/",
        "/admin/sms/new",
        "/sms/senden",
        f"/admin/jobs/{records['job_id']}",
        f"/admin/jobs/{records['job_id']}/settings",
        f"/persons/{records['persons']}",
        f"/orders/{records['orders']}/send",
        f"/tickets/{records['tickets']}",
    ):
        assert opened[url] == 200, url
    for url, response in pages:
        assert response.status_code < 500, url
        assert_security_headers(response, url)


class Links(HTMLParser):
    """The targets of the <a href="/…"> links of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") or ""
        if tag == "a" and href.startswith("/"):
            self.urls.append(href)


def test_every_menu_entry_opens_with_the_headers(app, admin_client, records) -> None:
    links = Links()
    links.feed(admin_client.get("/").text)
    assert "/admin/users" in links.urls and "/admin/jobs/" in links.urls
    for url in links.urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert_security_headers(response, url)


def test_htmx_fragments_error_pages_api_and_static_files_carry_them_too(
    app, client, admin_client, records
) -> None:
    responses = {
        "login page": client.get("/login"),
        "redirect to login": client.get("/admin/users"),
        "htmx 401": client.get("/admin/users", headers={"HX-Request": "true"}),
        "404": admin_client.get("/gibt-es-nicht"),
        "api 401": client.get("/api/v1/sms"),
        "api 404": client.get("/api/v1/gibt-es-nicht"),
        "health": client.get("/healthz"),
        "static css": client.get("/static/css/app.css"),
        "static js": client.get("/static/js/app.js"),
        "htmx fragment": admin_client.get("/admin/sms/", headers={"HX-Request": "true"}),
        "htmx dialog": admin_client.get("/sms/senden", headers={"HX-Request": "true"}),
        "post with error": admin_client.post("/admin/roles/new", data={"name": ""}),
        "webhook 401": client.post("/webhooks/websms", json={}),
    }
    for what, response in responses.items():
        assert_security_headers(response, what)


def test_admin_users_may_not_be_framed_by_another_origin(admin_client) -> None:
    """Another port of the same host (same site: the session cookie goes along) must not
    frame the user administration: X-Frame-Options for old browsers, frame-ancestors."""
    response = admin_client.get("/admin/users")
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "DENY"
    assert csp_directives(response)["frame-ancestors"] == "'none'"


def test_no_hsts_on_plain_http_installations(client) -> None:
    # The intranet may run over http: HSTS there would lock browsers out of it.
    assert "Strict-Transport-Security" not in client.get("/login").headers


@pytest.mark.parametrize("app_config", [{"SESSION_COOKIE_SECURE": True}])
def test_hsts_where_cookies_are_https_only(client) -> None:
    response = client.get("/login")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert_security_headers(response, "/login")


def test_production_switches_hsts_on(monkeypatch, databases, redis_url, tmp_path) -> None:
    from tests.conftest import make_test_app

    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    app = make_test_app("sqlite://", tmp_path, redis_url)
    response = app.test_client().get("/static/css/app.css")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


class InlineCode(HTMLParser):
    """Collects what the policy blocks: inline <script>/<style>, on…= handlers, style=."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _value in attrs}
        # A JSON data block (<script type="application/json">) is data, never run.
        if tag == "script" and "src" not in names and dict(attrs).get("type") != "application/json":
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f'<{tag} {name}="{value}">')
            if name.startswith("hx-on") or (value or "").lstrip().startswith(
                ("js:", "javascript:")
            ):
                self.found.append(f'<{tag} {name}="{value}"> (needs eval)')


def test_no_page_needs_inline_scripts_handlers_or_styles(pages) -> None:
    checked = 0
    for url, response in pages:
        if response.mimetype != "text/html":
            continue
        parser = InlineCode()
        parser.feed(response.text)
        assert parser.found == [], url
        checked += 1
    assert checked >= 30


def test_htmx_is_configured_for_the_policy(client) -> None:
    """htmx would add an inline <style> for its indicators and may eval hx-on/js: code."""
    import json
    import re

    page = client.get("/login").text
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", page)
    assert meta, "no htmx-config meta tag"
    config = json.loads(meta.group(1))
    assert config["includeIndicatorStyles"] is False
    assert config["allowEval"] is False
    css = client.get("/static/css/app.css").text
    assert ".htmx-indicator" in css and ".htmx-request" in css

"""Every route of the app × users with and without its permission.

The routes are read from the URL map, so each route a later issue adds is covered here without
touching this file; a route without a declared access rule fails the first test.
"""

from __future__ import annotations

import html

import pytest
from flask import Flask
from werkzeug.routing import Rule
from werkzeug.routing.converters import NumberConverter

from tests.conftest import login_as
from webapp.permissions import ROLE_PERMISSIONS, AccessRule, Permission
from webapp.sms.settings import set_global


@pytest.fixture
def app_config() -> dict[str, object]:
    # /metrics is off (404) without a token or addresses; switched on, it refuses anonymous
    # callers like every route with its own authentication.
    return {"METRICS_TOKEN": "matrix-token"}


# Sample values for URL parameters, by converter.
def _routes(app: Flask) -> list[tuple[Rule, str, AccessRule | None]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        method = "GET" if "GET" in rule.methods else "POST"
        rule_of_view = getattr(app.view_functions[rule.endpoint], "access_rule", None)
        routes.append((rule, method, rule_of_view))
    return routes


def _url(rule: Rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        values[name] = 1 if isinstance(converter, NumberConverter) else "x"
    return rule.build(values, append_unknown=False)[1]


def test_every_route_declares_who_may_open_it(app):
    missing = [rule.rule for rule, _, access in _routes(app) if access is None]
    assert missing == [], f"routes without @requires(...) or @public: {missing}"


def test_there_are_guarded_routes_for_every_permission(app):
    guarded = {
        access.permission
        for _, _, access in _routes(app)
        if access and access.permission is not None
    }
    assert Permission.ADMINISTRATOR in guarded
    assert Permission.MOBILE_PREFIXES in guarded
    assert Permission.SMS_SEND in guarded


def _call(client, method: str, url: str):
    return client.open(url, method=method, data={})


def test_anonymous_users_are_sent_to_the_login_page(app, client):
    for rule, method, access in _routes(app):
        if access.public:
            continue
        response = _call(client, method, _url(rule))
        assert response.status_code == 302, rule.rule
        assert response.headers["Location"].startswith("/login"), rule.rule


def test_anonymous_htmx_requests_get_a_redirect_header_not_a_login_page(app, client):
    response = client.get("/admin/globals/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_public_routes_open_without_login(app, client):
    public = [rule.rule for rule, _, access in _routes(app) if access.public]
    assert "/login" in public and "/healthz" in public
    for rule, method, access in _routes(app):
        if access.public and not access.own_authentication:
            response = _call(client, method, _url(rule))
            assert response.status_code not in (401, 403), rule.rule


def test_routes_with_their_own_authentication_refuse_anonymous_callers(app, client):
    own = [(r, m) for r, m, a in _routes(app) if a.own_authentication]
    assert any(r.rule.startswith("/api/v1/") for r, _ in own)
    assert any(r.rule.startswith("/webhooks/") for r, _ in own)
    for rule, method in own:
        assert _call(client, method, _url(rule)).status_code == 401, rule.rule


def _holder(make_user, permission: Permission | None):
    name = f"holder-{permission.name.lower() if permission else 'login'}"
    if permission is Permission.ADMINISTRATOR:
        return make_user(name, admin=True)
    return make_user(name, *([permission] if permission else []))


def _non_holder(make_user, permission: Permission):
    # Holds every other permission: only the missing one may make the difference.
    others = [p for p in ROLE_PERMISSIONS if p is not permission]
    return make_user(f"without-{permission.name.lower()}", *others)


@pytest.fixture
def guarded_routes(app):
    return [(rule, method, access) for rule, method, access in _routes(app) if not access.public]


def test_users_without_the_permission_get_403(app, db, make_user, guarded_routes):
    set_global(db, 1400, "1", "test")
    db.commit()
    for permission in Permission:
        user = _non_holder(make_user, permission)
        client = login_as(app.test_client(), user)
        for rule, method, access in guarded_routes:
            if access.permission is not permission:
                continue
            response = _call(client, method, _url(rule))
            assert response.status_code == 403, f"{rule.rule} for a user without {permission!r}"
            assert "Keine Berechtigung" in response.text
            # The page names what is missing: number and name (issue 12 point 15).
            if permission is Permission.ADMINISTRATOR:
                said = "Diese Seite ist Administratoren vorbehalten."
            else:
                said = f"Ihnen fehlt die Berechtigung {int(permission)} „{permission.label}“."
            assert said in html.unescape(response.text), rule.rule


def test_users_with_the_permission_get_in(app, db, make_user, guarded_routes):
    set_global(db, 1400, "1", "test")
    db.commit()
    for permission in [None, *Permission]:
        user = _holder(make_user, permission)
        client = login_as(app.test_client(), user)
        for rule, method, access in guarded_routes:
            if access.permission is not permission or access.serves:
                continue  # helpers of other dialogs: see the template picker test
            response = _call(client, method, _url(rule))
            # 404 for the sample id and 422 for the empty form are fine: the guard let it in.
            assert response.status_code in (200, 302, 404, 422), (
                f"{rule.rule} for a user with {permission!r}: {response.status_code}"
            )


def test_administrators_hold_every_numbered_permission(app, make_user, guarded_routes):
    client = login_as(app.test_client(), make_user("chefin", admin=True))
    for rule, method, access in guarded_routes:
        if access.condition is not None:
            continue  # depends on the installation's state, see the SMS senden test
        response = _call(client, method, _url(rule))
        assert response.status_code != 403, rule.rule


def test_sms_senden_needs_global_1400_as_well(app, db, make_user):
    client = login_as(app.test_client(), make_user("sender", Permission.SMS_SEND))
    set_global(db, 1400, "0", "test")
    db.commit()
    refused = client.get("/sms/senden")
    assert refused.status_code == 403
    assert "1400" in refused.text
    assert "SMS senden" not in client.get("/persons").text
    set_global(db, 1400, "1", "test")
    db.commit()
    assert client.get("/sms/senden").status_code == 200
    assert "SMS senden" in client.get("/persons").text


def test_while_1400_is_off_administrators_are_told_where_to_switch_it_on(app, db, make_user):
    """Issue 12 point 15: "SMS senden" does not vanish without a word."""
    set_global(db, 1400, "0", "test")
    db.commit()
    admin = login_as(app.test_client(), make_user("chef", admin=True))
    switch = 'href="/admin/globals/#global-1400"'
    home = admin.get("/").text
    assert 'id="nav-service-off"' in home and switch in home
    assert "SMS-Service aus – einschalten" in home
    refused = admin.get("/sms/senden")
    assert refused.status_code == 403 and "1400" in refused.text and switch in refused.text
    globals_page = admin.get("/admin/globals/").text
    assert 'id="service-off-hint"' in globals_page and switch in globals_page
    # A sender learns that the service is off, not where administrators switch it on.
    sender = login_as(app.test_client(), make_user("sender", Permission.SMS_SEND))
    page = sender.get("/sms/meine/").text
    assert 'id="nav-service-off"' in page and switch not in page
    refused = sender.get("/sms/senden").text
    assert switch not in refused and "wenden Sie sich" in refused
    set_global(db, 1400, "1", "test")
    db.commit()
    home = admin.get("/").text
    assert 'id="nav-service-off"' not in home
    assert 'id="service-off-hint"' not in admin.get("/admin/globals/").text


def test_a_helper_of_other_dialogs_names_the_permissions_that_would_open_it(app, make_user):
    client = login_as(app.test_client(), make_user("leser"))
    refused = client.get("/admin/sms-texts/options")
    assert refused.status_code == 403
    assert (
        "Ihnen fehlt eine dieser Berechtigungen: 1669 „3220.Menü Administration/SMS Nachrichten“ "
        "oder 298004 „SMS_senden (Hauptmenü)“."
    ) in html.unescape(refused.text)


@pytest.mark.parametrize(
    ("permission", "service_on", "allowed"),
    [
        (None, True, False),
        (Permission.SMS_TEXTS, True, False),  # the Smstexte dialog has no picker
        (Permission.MOBILE_PREFIXES, True, False),
        (Permission.SMS_MESSAGES, True, True),  # SMS Nachrichten – Neu
        (Permission.SMS_SEND, True, True),  # SMS senden, also from a Person or Firma
        (Permission.SMS_SEND, False, False),  # … only while global 1400 is on
        (Permission.ADMINISTRATOR, True, True),
    ],
)
def test_the_template_pickers_serve_only_users_whose_dialogs_show_them(
    app, db, make_user, permission, service_on, allowed
):
    from webapp.sms.texts import save_text

    text = save_text(db, name="Termin", usage_key="", body="Termin morgen 8 Uhr.", changed_by="t")
    set_global(db, 1400, "1" if service_on else "0", "test")
    db.commit()
    client = login_as(app.test_client(), _holder(make_user, permission))
    for url in ("/admin/sms-texts/options", f"/admin/sms-texts/{text.id}/body"):
        response = client.get(url)
        assert response.status_code == (200 if allowed else 403), (url, permission)
        assert ("Termin morgen" in response.text) is allowed, url

"""The JSON API /api/v1/ (SPEC E7): tokens, permissions, Mandant isolation, idempotency."""

from __future__ import annotations

import pytest

from webapp.api_tokens import create_token, hash_token, revoke_token
from webapp.models import ApiToken, Mandant, Message, MessageSource, MessageStatus

GOOD = "+43 664 1234567"


@pytest.fixture
def mandant(db):
    mandant = Mandant(name="Hausverwaltung Nord")
    db.add(mandant)
    db.commit()
    return mandant


@pytest.fixture
def other_mandant(db):
    mandant = Mandant(name="Hausverwaltung Süd")
    db.add(mandant)
    db.commit()
    return mandant


@pytest.fixture
def make_token(db, mandant):
    def factory(name="erp", scopes=("sms:send", "sms:read"), mandant_id=None):
        token, clear = create_token(
            db,
            name=name,
            mandant_id=mandant_id or mandant.id,
            scopes=scopes,
            created_by=None,
        )
        db.commit()
        return token, clear

    return factory


@pytest.fixture
def auth(make_token):
    _, clear = make_token()
    return {"Authorization": f"Bearer {clear}"}


def _error_code(response) -> str:
    assert response.is_json, response.data
    body = response.get_json()["error"]
    assert body["message_de"] and body["message_en"]
    return body["code"]


def test_token_is_stored_hashed_with_a_visible_prefix(db, make_token):
    token, clear = make_token()
    assert clear.startswith("sms_") and len(clear) > 40
    assert token.token_hash == hash_token(clear) and clear not in token.token_hash
    assert clear.startswith(token.prefix) and len(token.prefix) == 12


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer sms_nonsense", "Basic dXNlcjpwdw==", "sms_nonsense"],
)
def test_no_or_bad_token_is_401(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/sms", json={"to": GOOD, "text": "Hallo"}, headers=headers)
    assert response.status_code == 401
    assert _error_code(response) == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/sms/1", headers=headers).status_code == 401
    assert client.get("/api/v1/sms", headers=headers).status_code == 401


def test_a_revoked_token_is_401(client, db, make_token):
    token, clear = make_token()
    headers = {"Authorization": f"Bearer {clear}"}
    assert client.get("/api/v1/sms", headers=headers).status_code == 200
    revoke_token(db, token)
    db.commit()
    assert client.get("/api/v1/sms", headers=headers).status_code == 401


def test_missing_permission_is_403(client, make_token):
    _, reader = make_token("reader", scopes=["sms:read"])
    _, sender = make_token("sender", scopes=["sms:send"])
    refused = client.post(
        "/api/v1/sms",
        json={"to": GOOD, "text": "Hallo"},
        headers={"Authorization": f"Bearer {reader}"},
    )
    assert refused.status_code == 403 and _error_code(refused) == "forbidden"
    sent = client.post(
        "/api/v1/sms",
        json={"to": GOOD, "text": "Hallo"},
        headers={"Authorization": f"Bearer {sender}"},
    )
    assert sent.status_code == 202
    message_id = sent.get_json()["messages"][0]["id"]
    response = client.get(
        f"/api/v1/sms/{message_id}", headers={"Authorization": f"Bearer {sender}"}
    )
    assert response.status_code == 403


def test_one_sms_is_queued_with_source_api_and_the_token_name(client, db, auth, mandant):
    response = client.post(
        "/api/v1/sms",
        json={"to": GOOD, "text": "Wasser wird abgedreht", "reference": "T-17"},
        headers=auth,
    )
    assert response.status_code == 202
    body = response.get_json()
    assert body["queued"] == 1 and body["failed"] == 0
    (item,) = body["messages"]
    assert item["status"] == "queued" and item["reference"] == "T-17"
    message = db.get(Message, item["id"])
    assert message.source is MessageSource.API
    assert message.created_by_module == "api:erp"
    assert message.mandant_id == mandant.id
    assert message.recipient == "+436641234567"
    assert message.source_ref == "T-17"
    assert db.scalar(db.query(ApiToken.last_used_at).statement) is not None

    status = client.get(f"/api/v1/sms/{item['id']}", headers=auth)
    assert status.status_code == 200
    assert status.get_json()["status"] == "queued"
    assert status.get_json()["number"] == "+436641234567"


def test_a_batch_stores_bad_numbers_as_failed_with_their_reason(client, db, auth):
    response = client.post(
        "/api/v1/sms",
        json={
            "messages": [
                {"to": GOOD, "text": "Eins"},
                {"to": "01 5880 0", "text": "Zwei"},
                {"to": "+41 79 123 45 67", "text": "Drei", "reference": None},
            ]
        },
        headers=auth,
    )
    assert response.status_code == 202
    body = response.get_json()
    assert [m["status"] for m in body["messages"]] == ["queued", "failed", "failed"]
    assert body["queued"] == 1 and body["failed"] == 2
    assert "Festnetznummer" in body["messages"][1]["reason"]
    assert "93001" in body["messages"][2]["reason"]
    stored = db.get(Message, body["messages"][1]["id"])
    assert stored.status is MessageStatus.FAILED and stored.error_notification_due


def test_batch_limit(client, db, auth):
    too_many = [{"to": GOOD, "text": "x"}] * 1001
    response = client.post("/api/v1/sms", json={"messages": too_many}, headers=auth)
    assert response.status_code == 422 and _error_code(response) == "batch_too_large"
    assert db.query(Message).count() == 0
    response = client.post("/api/v1/sms", json={"messages": too_many[:1000]}, headers=auth)
    assert response.status_code == 202
    assert db.query(Message).count() == 1000


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{nicht json", 400, "bad_json"),
        ("", 400, "bad_json"),
        ("[1, 2]", 422, "validation_error"),
        ('{"to": "0664 1234567"}', 422, "validation_error"),
        ('{"to": "0664 1234567", "text": "   "}', 422, "validation_error"),
        ('{"to": 6641234567, "text": "Hallo"}', 422, "validation_error"),
        ('{"messages": []}', 422, "validation_error"),
        ('{"messages": [{"to": "0664 1234567", "text": "ok"}, 5]}', 422, "validation_error"),
        ('{"to": "0664 1234567", "text": "' + "x" * 2000 + '"}', 422, "validation_error"),
    ],
)
def test_bad_input_is_a_json_error_and_nothing_is_queued(client, db, auth, body, status, code):
    response = client.post(
        "/api/v1/sms", data=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == status, response.get_json()
    assert _error_code(response) == code
    assert db.query(Message).count() == 0


def test_a_too_long_text_in_a_batch_names_the_message(client, db, auth):
    response = client.post(
        "/api/v1/sms",
        json={"messages": [{"to": GOOD, "text": "ok"}, {"to": GOOD, "text": "x" * 2000}]},
        headers=auth,
    )
    assert response.status_code == 422
    assert "messages[1]" in response.get_json()["error"]["message_de"]
    assert db.query(Message).count() == 0


def test_a_text_with_placeholders_is_refused_naming_them(client, db, auth):
    """Issue 12 point 8: the API queues no raw `{auftrag.nummer}` either."""
    response = client.post(
        "/api/v1/sms",
        json={"messages": [{"to": GOOD, "text": "ok"}, {"to": GOOD, "text": "A {auftrag.nummer}"}]},
        headers=auth,
    )
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert error["message_de"].startswith("messages[1]: Der Platzhalter {auftrag.nummer}")
    assert db.query(Message).count() == 0


def test_other_mandanten_are_invisible(client, db, make_token, other_mandant, auth):
    _, foreign = make_token("fremd", mandant_id=other_mandant.id)
    foreign_auth = {"Authorization": f"Bearer {foreign}"}
    mine = client.post("/api/v1/sms", json={"to": GOOD, "text": "Nord"}, headers=auth)
    theirs = client.post("/api/v1/sms", json={"to": GOOD, "text": "Süd"}, headers=foreign_auth)
    mine_id = mine.get_json()["messages"][0]["id"]
    theirs_id = theirs.get_json()["messages"][0]["id"]
    assert client.get(f"/api/v1/sms/{theirs_id}", headers=auth).status_code == 404
    assert _error_code(client.get(f"/api/v1/sms/{theirs_id}", headers=auth)) == "not_found"
    assert client.get(f"/api/v1/sms/{mine_id}", headers=auth).status_code == 200
    listed = client.get("/api/v1/sms", headers=auth).get_json()
    assert [m["id"] for m in listed["messages"]] == [mine_id]
    assert db.get(Message, theirs_id).mandant_id == other_mandant.id


def test_list_filters_and_pages(client, auth):
    batch = [{"to": GOOD, "text": f"Nr {i}"} for i in range(5)]
    batch.append({"to": "01 5880 0", "text": "Festnetz"})
    ids = [
        m["id"]
        for m in client.post("/api/v1/sms", json={"messages": batch}, headers=auth).get_json()[
            "messages"
        ]
    ]
    first = client.get("/api/v1/sms?limit=2", headers=auth).get_json()
    assert [m["id"] for m in first["messages"]] == [ids[5], ids[4]]
    assert first["total"] == 6
    second = client.get(f"/api/v1/sms?limit=2&before={first['next_before']}", headers=auth)
    assert [m["id"] for m in second.get_json()["messages"]] == [ids[3], ids[2]]
    failed = client.get("/api/v1/sms?status=failed", headers=auth).get_json()
    assert [m["id"] for m in failed["messages"]] == [ids[5]]
    by_number = client.get("/api/v1/sms?number=0664 123", headers=auth).get_json()
    assert len(by_number["messages"]) == 5
    for query in (
        "status=gibtsnicht",
        "before=abc",
        "limit=0",
        "limit=201",
        "before=99999999999999999999",
    ):
        response = client.get(f"/api/v1/sms?{query}", headers=auth)
        assert response.status_code == 422, query
        assert _error_code(response) == "validation_error"


def test_idempotency_key_returns_the_first_answer(client, db, auth):
    headers = {**auth, "Idempotency-Key": "auftrag-4711"}
    body = {"messages": [{"to": GOOD, "text": "Termin morgen"}, {"to": GOOD, "text": "Zwei"}]}
    first = client.post("/api/v1/sms", json=body, headers=headers)
    again = client.post("/api/v1/sms", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.get_json() == again.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert db.query(Message).count() == 2
    changed = client.post("/api/v1/sms", json={"to": GOOD, "text": "Anders"}, headers=headers)
    assert changed.status_code == 409 and _error_code(changed) == "idempotency_key_reused"
    assert db.query(Message).count() == 2
    other_key = client.post("/api/v1/sms", json=body, headers={**auth, "Idempotency-Key": "k2"})
    assert other_key.get_json() != first.get_json()
    assert db.query(Message).count() == 4


def test_the_same_key_of_another_token_is_independent(client, db, auth, make_token):
    _, second = make_token("zweiter")
    body = {"to": GOOD, "text": "Hallo"}
    client.post("/api/v1/sms", json=body, headers={**auth, "Idempotency-Key": "k"})
    client.post(
        "/api/v1/sms",
        json=body,
        headers={"Authorization": f"Bearer {second}", "Idempotency-Key": "k"},
    )
    assert db.query(Message).count() == 2


def test_a_concurrent_duplicate_is_rolled_back_by_the_unique_key(
    app, client, db, auth, monkeypatch
):
    """Two requests with the same key that both pass the lookup: the second one's insert hits
    the unique constraint, its messages are rolled back and it answers with the first result."""
    from webapp.api import idempotency

    body = {"to": GOOD, "text": "Gleichzeitig"}
    headers = {**auth, "Idempotency-Key": "race"}
    first = client.post("/api/v1/sms", json=body, headers=headers)
    # Simulate the race: the second request does not see the stored key in its lookup.
    original = idempotency._stored
    calls = {"n": 0}

    def blind_first_lookup(*args):
        calls["n"] += 1
        return None if calls["n"] == 1 else original(*args)

    monkeypatch.setattr(idempotency, "_stored", blind_first_lookup)
    second = client.post("/api/v1/sms", json=body, headers=headers)
    monkeypatch.undo()
    assert second.status_code == 202
    assert second.get_json() == first.get_json()
    assert db.query(Message).count() == 1


@pytest.mark.parametrize(
    ("request_args", "message_de", "message_en"),
    [
        (
            {"json": {"to": GOOD, "text": "Hallo"}, "headers": {}},
            "Kein gültiger API-Token (Authorization: Bearer …).",
            "Missing, unknown or revoked API token (Authorization: Bearer …).",
        ),
        (
            {"json": {"messages": [{"to": GOOD, "text": "ok"}, {"to": GOOD, "text": " "}]}},
            "messages[1]: „text“ muss ein nicht leerer Text sein.",
            "messages[1]: 'text' must be a non-empty string.",
        ),
        (
            {"json": {"to": GOOD, "text": "x" * 1531}},
            "body: „text“ darf höchstens 1530 Zeichen lang sein.",
            "body: 'text' must be at most 1530 characters long.",
        ),
    ],
)
def test_error_messages_come_in_german_and_english_whatever_the_session_language(
    client, auth, request_args, message_de, message_en
):
    client.post("/sprache/en")
    response = client.post("/api/v1/sms", **{"headers": auth, **request_args})
    assert response.get_json()["error"] | {"code": None} == {
        "code": None,
        "message_de": message_de,
        "message_en": message_en,
    }


def test_unknown_api_urls_answer_json(client, auth):
    response = client.get("/api/v1/gibtsnicht", headers=auth)
    assert response.status_code == 404 and _error_code(response) == "not_found"
    response = client.delete("/api/v1/sms", headers=auth)
    assert response.status_code == 405 and _error_code(response) == "method_not_allowed"


def test_openapi_document_is_public(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert {"/sms", "/sms/{id}", "/sms/{id}/cancel"} <= set(document["paths"])


def test_api_needs_no_csrf_token(app, client, db, auth):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/api/v1/sms", json={"to": GOOD, "text": "Hallo"}, headers=auth)
    assert response.status_code == 202
    assert client.post("/admin/api-tokens", data={}).status_code == 400  # the dialog needs it


def test_admin_creates_lists_and_revokes_tokens(admin_client, db, mandant):
    page = admin_client.get("/admin/api-tokens")
    assert page.status_code == 200 and "API-Zugänge" in page.text
    created = admin_client.post(
        "/admin/api-tokens",
        data={"name": "ERP", "mandant": mandant.id, "scopes": ["sms:send"]},
    )
    assert created.status_code == 200
    token = db.query(ApiToken).one()
    assert token.name == "ERP" and token.scopes == "sms:send"
    assert token.created_by.username == "admin"
    shown = created.text.split('<code id="new-token">')[1].split("</code>")[0]
    assert hash_token(shown) == token.token_hash
    assert shown not in admin_client.get("/admin/api-tokens").text  # shown once only
    assert token.prefix in admin_client.get("/admin/api-tokens").text
    revoked = admin_client.post(f"/admin/api-tokens/{token.id}/revoke")
    assert revoked.status_code == 302
    db.refresh(token)
    assert token.revoked_at is not None


def test_admin_form_errors(admin_client, db, mandant):
    response = admin_client.post(
        "/admin/api-tokens", data={"name": "", "mandant": mandant.id, "scopes": ["sms:send"]}
    )
    assert response.status_code == 422 and "Bitte einen Namen eingeben" in response.text
    response = admin_client.post("/admin/api-tokens", data={"name": "X", "mandant": mandant.id})
    assert response.status_code == 422 and "mindestens eine Berechtigung" in response.text
    assert db.query(ApiToken).count() == 0


def test_api_tokens_page_is_for_administrators_only(client, make_user):
    from tests.conftest import login_as
    from webapp.permissions import ROLE_PERMISSIONS

    user = make_user("nicht-admin", *ROLE_PERMISSIONS)
    assert login_as(client, user).get("/admin/api-tokens").status_code == 403


def test_menu_entry_for_administrators(admin_client):
    assert "API-Zugänge" in admin_client.get("/").text


def test_every_api_route_is_token_guarded_and_answers_401_json_to_anonymous(app, client):
    from tests.integration.test_permission_matrix import _routes, _url

    api_routes = [
        (rule, method, access)
        for rule, method, access in _routes(app)
        if rule.rule.startswith("/api/")
    ]
    assert {rule.rule for rule, _, _ in api_routes} >= {
        "/api/v1/sms",
        "/api/v1/sms/<int:message_id>",
        "/api/v1/sms/<int:message_id>/cancel",
    }
    for rule, method, access in api_routes:
        if rule.endpoint == "api.openapi":
            assert access.public and not access.own_authentication
            continue
        assert access.public and access.own_authentication, rule.rule
        response = client.open(_url(rule), method=method, data={})
        assert response.status_code == 401, rule.rule
        assert _error_code(response) == "unauthorized"


def test_queue_many_stores_what_queue_sms_stores(db, mandant):
    from webapp.sms.outbox import QueueItem, queue_many, queue_sms
    from webapp.sms.settings import set_global

    set_global(db, 1402, "Ihre Hausverwaltung", "test")
    inputs = [(GOOD, "Grüße 😀"), ("01 5880 0", "Festnetz"), (GOOD, "Nochmals")]
    singles = [
        queue_sms(
            db,
            recipient=to,
            text=text,
            mandant_id=mandant.id,
            source=MessageSource.API,
            source_ref="r",
            created_by_module="api:x",
        )
        for to, text in inputs
    ]
    batch = queue_many(
        db,
        [QueueItem(to, text, "r") for to, text in inputs],
        mandant_id=mandant.id,
        source=MessageSource.API,
        created_by_module="api:x",
    )
    columns = [
        "mandant_id",
        "recipient_raw",
        "recipient",
        "text",
        "encoding",
        "segments",
        "status",
        "reason",
        "error_code",
        "source",
        "source_ref",
        "created_by_module",
        "attempts",
        "error_notification_due",
    ]
    for single, many in zip(singles, batch, strict=True):
        assert many.id is not None and many.created_at is not None
        assert {c: getattr(many, c) for c in columns} == {c: getattr(single, c) for c in columns}
    assert batch[0].text.endswith("\nIhre Hausverwaltung")

"""Request size (hardening point 10): MAX_CONTENT_LENGTH for the whole app, and the webhook's
own 1 MB limit also for chunked bodies, which carry no Content-Length."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from webapp.api_tokens import create_token
from webapp.blueprints.webhooks import MAX_BODY
from webapp.jobs.settings import set_webhook_secret
from webapp.models import Job, Mandant, Message, ReceivedMessage, WebhookNotification

SECRET = "geheim-webhook-123"


@pytest.fixture
def job(app, db):
    job = db.scalar(select(Job).where(Job.job_type == "service_sms"))
    set_webhook_secret(job, app.config["SMS_SECRET_KEY"], SECRET)
    db.commit()
    return job


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _inbound_json(text: str) -> bytes:
    return (
        b'{"messageType": "text", "notificationId": "0123456789abcdef0123",'
        b' "senderAddress": "436641234567", "senderAddressType": "international",'
        b' "textMessageContent": "' + text.encode() + b'"}'
    )


def _nothing_stored(db) -> bool:
    db.expire_all()
    received = db.scalar(select(func.count()).select_from(ReceivedMessage))
    notifications = db.scalar(select(func.count()).select_from(WebhookNotification))
    return received == 0 and notifications == 0


def test_a_chunked_webhook_body_beyond_1_mb_is_refused_and_not_stored(app, db, job):
    """The body has no Content-Length (Transfer-Encoding: chunked): 20 MB were stored before."""
    body = _inbound_json("x" * 20_000_000)
    response = app.test_client().post(
        f"/webhooks/websms/{SECRET}",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # what a server sets for chunked
    )
    assert response.status_code == 413
    assert response.json == {"statusCode": 4000, "statusMessage": "Body too large"}
    assert _nothing_stored(db)


def test_chunked_over_real_http_refused_below_it_accepted(app, db, job, live_url):
    def chunks(size: int) -> Iterator[bytes]:  # a generator: requests sends it chunked
        body = _inbound_json("y" * size)
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    url = f"{live_url}/webhooks/websms"
    too_big = requests.post(
        url, data=chunks(MAX_BODY + 100_000), auth=("websms", SECRET), timeout=30
    )
    assert too_big.status_code == 413 and too_big.json()["statusCode"] == 4000, too_big.text
    assert _nothing_stored(db)

    fits = requests.post(url, data=chunks(1_000), auth=("websms", SECRET), timeout=30)
    assert fits.status_code == 200 and fits.json()["statusCode"] == 2000
    db.expire_all()
    assert db.scalars(select(ReceivedMessage)).one().text == "y" * 1_000


def test_the_webhook_refuses_a_declared_length_beyond_1_mb(app, db, job, client):
    response = client.post(
        f"/webhooks/websms/{SECRET}",
        data=_inbound_json("z" * (MAX_BODY + 1)),
        content_type="application/json",
    )
    assert response.status_code == 413 and response.json["statusCode"] == 4000
    assert _nothing_stored(db)


def test_the_whole_app_has_a_body_limit_of_4_mb_by_default(app):
    assert app.config["MAX_CONTENT_LENGTH"] == 4 * 1024 * 1024


@pytest.mark.parametrize("app_config", [{"MAX_CONTENT_LENGTH": 2 * 1024 * 1024}])
def test_a_form_beyond_the_limit_gets_a_german_413_and_nothing_is_stored(admin_client, db):
    before = db.scalar(select(func.count()).select_from(Mandant))
    response = admin_client.post("/admin/mandanten", data={"name": "M" * 3_000_000})
    assert response.status_code == 413
    assert "Anfrage zu groß" in response.text
    assert "höchstens 2 MB" in response.text
    assert db.scalar(select(func.count()).select_from(Mandant)) == before


@pytest.mark.parametrize("app_config", [{"MAX_CONTENT_LENGTH": 2 * 1024 * 1024}])
def test_an_api_request_beyond_the_limit_gets_a_json_413(app, db, client):
    mandant = Mandant(name="Hausverwaltung Nord")
    db.add(mandant)
    db.commit()
    _token, clear = create_token(
        db, name="erp", mandant_id=mandant.id, scopes=("sms:send",), created_by=None
    )
    db.commit()
    batch = [{"recipient": "+43 664 1234567", "text": "a" * 1500}] * 1500
    response = client.post(
        "/api/v1/sms",
        json={"messages": batch},
        headers={"Authorization": f"Bearer {clear}"},
    )
    assert response.status_code == 413
    assert response.json["error"]["code"] == "request_too_large"
    assert "höchstens 2 MB" in response.json["error"]["message_de"]
    assert db.scalar(select(func.count()).select_from(Message)) == 0

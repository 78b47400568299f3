"""The API's limits per token (issue 14 point 6): requests per minute and SMS per day, 429 with
Retry-After and the API's JSON error, each token counted on its own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from webapp.api.openapi import openapi_document
from webapp.api_tokens import create_token
from webapp.models import Mandant, Message

GOOD = "+43 664 1234567"
DEAD = "redis://127.0.0.1:1/0"


@pytest.fixture
def tokens(db):
    mandant = Mandant(name="Hausverwaltung Nord")
    db.add(mandant)
    db.commit()

    def make(name):
        _, clear = create_token(
            db, name=name, mandant_id=mandant.id, scopes=["sms:send", "sms:read"], created_by=None
        )
        db.commit()
        return {"Authorization": f"Bearer {clear}"}

    return make


def _batch(count):
    return {"messages": [{"to": GOOD, "text": f"Nachricht {n}"} for n in range(count)]}


def _queued(db):
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Message))


def _limited(response, code):
    assert response.status_code == 429, response.data
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message_de"] and error["message_en"]
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1 and error["retry_after"] == retry_after
    return error, retry_after


@pytest.mark.parametrize("app_config", [{"API_REQUESTS_PER_MINUTE": 3}])
def test_requests_per_minute_answer_429_per_token(app, client, tokens, app_config):
    erp, crm = tokens("erp"), tokens("crm")
    for _ in range(3):
        assert client.get("/api/v1/sms", headers=erp).status_code == 200
    error, retry_after = _limited(client.get("/api/v1/sms", headers=erp), "too_many_requests")
    assert retry_after <= 60
    assert "3 Anfragen pro Minute" in error["message_de"]
    assert "3 requests per minute" in error["message_en"]
    # every route of the token counts, POST too
    _limited(
        client.post("/api/v1/sms", json={"to": GOOD, "text": "x"}, headers=erp), "too_many_requests"
    )
    # another token is counted on its own
    assert client.get("/api/v1/sms", headers=crm).status_code == 200
    # the document stays public and unlimited
    for _ in range(5):
        assert client.get("/api/v1/openapi.json").status_code == 200


@pytest.mark.parametrize("app_config", [{"API_SMS_PER_DAY": 120}])
def test_sms_per_day_counts_each_sms_of_a_batch_and_refuses_the_whole_batch(
    app, db, client, tokens, app_config
):
    # 23:00 in Vienna (CET): the day ends in an hour
    app.extensions["api_limits"].clock = lambda: datetime(2026, 12, 2, 22, 0, tzinfo=UTC)
    erp, crm = tokens("erp"), tokens("crm")
    assert client.post("/api/v1/sms", json=_batch(50), headers=erp).status_code == 202
    assert client.post("/api/v1/sms", json=_batch(50), headers=erp).status_code == 202
    assert _queued(db) == 100

    error, retry_after = _limited(
        client.post("/api/v1/sms", json=_batch(50), headers=erp), "daily_sms_limit"
    )
    assert error["remaining"] == 20
    assert "noch 20" in error["message_de"] and "120 SMS pro Tag" in error["message_de"]
    assert "20" in error["message_en"]
    assert retry_after == 3600  # until midnight in TIMEZONE
    assert _queued(db) == 100  # none of the refused batch

    # what is left still goes, one SMS more does not
    assert client.post("/api/v1/sms", json=_batch(20), headers=erp).status_code == 202
    error, _ = _limited(
        client.post("/api/v1/sms", json={"to": GOOD, "text": "eine"}, headers=erp),
        "daily_sms_limit",
    )
    assert error["remaining"] == 0
    # another token has its own day
    assert client.post("/api/v1/sms", json=_batch(120), headers=crm).status_code == 202
    # the next day (in TIMEZONE) starts again
    app.extensions["api_limits"].clock = lambda: datetime(2026, 12, 2, 23, 0, 1, tzinfo=UTC)
    assert client.post("/api/v1/sms", json=_batch(120), headers=erp).status_code == 202


@pytest.mark.parametrize("app_config", [{"API_SMS_PER_DAY": 10}])
def test_refused_input_and_replayed_answers_do_not_count(app, db, client, tokens, app_config):
    erp = tokens("erp")
    bad = {"messages": [{"to": GOOD, "text": "x" * 2000}] * 10}
    assert client.post("/api/v1/sms", json=bad, headers=erp).status_code == 422
    retry = {**erp, "Idempotency-Key": "auftrag-7"}
    for _ in range(3):
        assert client.post("/api/v1/sms", json=_batch(6), headers=retry).status_code == 202
    assert _queued(db) == 6
    assert client.post("/api/v1/sms", json=_batch(4), headers=erp).status_code == 202
    _limited(client.post("/api/v1/sms", json=_batch(1), headers=erp), "daily_sms_limit")


@pytest.mark.parametrize(
    "app_config", [{"RATELIMIT_STORAGE_URI": DEAD, "API_REQUESTS_PER_MINUTE": 2}]
)
def test_without_redis_each_process_still_limits(app, client, tokens, app_config):
    erp = tokens("erp")
    assert client.post("/api/v1/sms", json=_batch(2), headers=erp).status_code == 202
    assert client.get("/api/v1/sms", headers=erp).status_code == 200
    _limited(client.get("/api/v1/sms", headers=erp), "too_many_requests")


def test_the_document_names_429_with_retry_after_on_every_operation():
    document = openapi_document()
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len(operations) == 4
    for operation in operations:
        answer = operation["responses"]["429"]
        assert answer["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
        assert answer["headers"]["Retry-After"]["schema"]["type"] == "integer"
    assert "daily_sms_limit" in document["paths"]["/sms"]["post"]["responses"]["429"]["description"]
    error = document["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
    assert {"retry_after", "remaining"} <= set(error)


def test_defaults_are_set(app):
    assert app.config["API_REQUESTS_PER_MINUTE"] == 300
    assert app.config["API_SMS_PER_DAY"] == 20000

"""POST /api/v1/sms/<id>/cancel (issue 17 point 3): the API cancels a planned SMS until a run
claims it, through the dialogs' "Planung aufheben" (`planning.cancel_planned`); idempotent,
404 for a missing or foreign SMS, 409 `not_cancellable` for one already claimed, sent or
queued without send_at."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.conftest import login_as
from webapp.api.openapi import openapi_document
from webapp.api_tokens import create_token
from webapp.jobs.runlog import RunLog
from webapp.jobs.runner import RunContext
from webapp.models import Job, JobRun, Message, MessageStatus, RunStatus
from webapp.models.base import utcnow
from webapp.permissions import Permission
from webapp.simulators.websms import WebsmsSandbox
from webapp.sms.dispatch import run_service_sms
from webapp.sms.leases import claim
from webapp.sms.transports.websms import WebsmsSettings, WebsmsTransport

GOOD = "+43 664 1234567"


def _auth(db, mandant, name="erp", scopes=("sms:send", "sms:read")) -> dict[str, str]:
    _token, clear = create_token(
        db, name=name, mandant_id=mandant.id, scopes=scopes, created_by=None
    )
    db.commit()
    return {"Authorization": f"Bearer {clear}"}


@pytest.fixture
def erp(db, wien):
    return _auth(db, wien)


def _queue(client, auth, *, hours: float | None = 2, to: str = GOOD) -> int:
    """Queue one SMS through the API, planned `hours` ahead (None: at once); its id."""
    body: dict = {"to": to, "text": "Wasserabsperrung morgen 8–12 Uhr"}
    if hours is not None:
        body["send_at"] = (utcnow() + timedelta(hours=hours)).isoformat()
    response = client.post("/api/v1/sms", json=body, headers=auth)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["messages"][0]["id"]


def _cancel(client, auth, message_id: int):
    return client.post(f"/api/v1/sms/{message_id}/cancel", headers=auth)


def _reload(db, message_id: int) -> Message:
    db.expire_all()
    return db.get(Message, message_id)


def _run(app, db, sandbox) -> None:
    """One run of Service SMS against the websms sandbox."""
    job = db.scalar(select(Job).where(Job.job_type == "service_sms"))
    run = JobRun(job_id=job.id, run_key=uuid.uuid4().hex, status=RunStatus.RUNNING)
    db.add(run)
    db.commit()
    transport = WebsmsTransport(
        WebsmsSettings(base_url=sandbox.url, access_token="t0ken", read_timeout=2)
    )
    run_service_sms(RunContext(app, db, job, run, RunLog(db, job, run)), transport=transport)


def test_a_planned_sms_is_cancelled_and_a_run_does_not_send_it(app, client, db, erp):
    cancelled_id = _queue(client, erp)
    kept_id = _queue(client, erp, to="+43 664 7654321")
    response = _cancel(client, erp, cancelled_id)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "cancelled" and body["id"] == cancelled_id
    # the answer is the SMS as GET shows it
    assert body == client.get(f"/api/v1/sms/{cancelled_id}", headers=erp).get_json()
    message = _reload(db, cancelled_id)
    assert message.status is MessageStatus.CANCELLED
    assert "api:erp" in message.reason and "nicht versendet" in message.reason  # who did it
    # both planned times pass: a run sends the one kept, not the cancelled one
    past = utcnow() - timedelta(minutes=1)
    db.execute(update(Message).where(Message.id.in_([cancelled_id, kept_id])).values(send_at=past))
    db.commit()
    with WebsmsSandbox(token="t0ken") as sandbox:
        _run(app, db, sandbox)
        assert [a.recipient for a in sandbox.accepted] == ["436647654321"]
    assert _reload(db, cancelled_id).status is MessageStatus.CANCELLED
    assert _reload(db, kept_id).status is MessageStatus.SENT


def test_cancelling_again_answers_the_same(client, db, erp):
    message_id = _queue(client, erp)
    first = _cancel(client, erp, message_id)
    again = _cancel(client, erp, message_id)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json() == first.get_json()
    assert again.headers.get("Idempotent-Replayed") is None  # not a stored answer: the state


def test_a_foreign_sms_is_404_like_a_missing_one_and_stays_planned(client, db, erp, graz):
    foreign_id = _queue(client, _auth(db, graz, name="graz"))
    foreign = _cancel(client, erp, foreign_id)
    missing = _cancel(client, erp, foreign_id + 1000)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_json() == missing.get_json()
    assert foreign.get_json()["error"]["code"] == "not_found"
    assert _reload(db, foreign_id).status is MessageStatus.PLANNED


def _not_cancellable(response, status: str) -> None:
    assert response.status_code == 409, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "not_cancellable" and error["status"] == status
    assert f"„{status}“" in error["message_de"] and "nicht abgebrochen" in error["message_de"]
    assert f"“{status}”" in error["message_en"] and "cannot be cancelled" in error["message_en"]


def test_a_claimed_or_sent_sms_is_409_saying_its_status(client, db, erp):
    message_id = _queue(client, erp)
    send_at = _reload(db, message_id).send_at
    claim(db, [], "run-a", send_at, 10)  # a run took it: too late
    _not_cancellable(_cancel(client, erp, message_id), "sending")
    assert _reload(db, message_id).status is MessageStatus.SENDING
    db.execute(
        update(Message)
        .where(Message.id == message_id)
        .values(status=MessageStatus.SENT, run_key=None, sent_at=utcnow())
    )
    db.commit()
    _not_cancellable(_cancel(client, erp, message_id), "sent")
    assert _reload(db, message_id).status is MessageStatus.SENT


def test_a_failed_sms_and_one_queued_without_send_at_are_409(client, db, erp):
    # as "Planung aufheben" in the dialogs: an SMS queued at once is the next run's
    queued_id = _queue(client, erp, hours=None)
    _not_cancellable(_cancel(client, erp, queued_id), "queued")
    assert _reload(db, queued_id).status is MessageStatus.QUEUED
    failed_id = _queue(client, erp, to="01 5880000")  # a landline: stored as failed
    _not_cancellable(_cancel(client, erp, failed_id), "failed")


def test_a_released_but_unclaimed_planned_sms_can_still_be_cancelled(client, db, erp):
    message_id = _queue(client, erp)
    claim(db, [], "run-a", _reload(db, message_id).send_at, 0)  # its time came, not claimed
    assert _reload(db, message_id).status is MessageStatus.QUEUED
    assert _cancel(client, erp, message_id).get_json()["status"] == "cancelled"


def test_cancel_needs_the_send_permission(client, db, wien, erp):
    message_id = _queue(client, erp)
    reader = _auth(db, wien, name="reader", scopes=("sms:read",))
    response = _cancel(client, reader, message_id)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    assert _reload(db, message_id).status is MessageStatus.PLANNED


@pytest.mark.parametrize("app_config", [{"API_REQUESTS_PER_MINUTE": 2}])
def test_cancel_counts_against_the_requests_per_minute(client, db, erp, app_config):
    message_id = _queue(client, erp)  # request 1
    assert _cancel(client, erp, message_id).status_code == 200  # request 2
    limited = _cancel(client, erp, message_id)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.get_json()["error"]["code"] == "too_many_requests"


def test_the_openapi_document_has_the_cancel(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/sms/{id}/cancel"]["post"]
    assert operation["operationId"] == "cancelSms"
    assert {"200", "401", "403", "404", "409", "429"} <= set(operation["responses"])
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Message"
    }
    assert "not_cancellable" in operation["responses"]["409"]["description"]
    assert openapi_document()["paths"]["/sms/{id}/cancel"] == {"post": operation}


def test_the_list_shows_an_sms_cancelled_by_the_api_as_abgebrochen(
    client, db, erp, wien, make_user
):
    message_id = _queue(client, erp)
    _cancel(client, erp, message_id)
    clerk = make_user("clerk", Permission.SMS_MESSAGES, mandanten=[wien])
    login_as(client, clerk)
    page = client.get("/admin/sms/", query_string={"status": "cancelled"}).text
    row = page.split(f'<tr data-id="{message_id}"', 1)[1].split("</tr>", 1)[0]
    assert "Abgebrochen" in row

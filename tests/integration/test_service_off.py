"""Global 1400 = 0 switches the SMS service off (SPEC R60): no way of queueing takes an SMS, the
pages say so, and a run sends nothing while the queue is kept (and still expires)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import login_as
from webapp.api_tokens import create_token
from webapp.errors import ServiceOff
from webapp.jobs.runlog import RunLog
from webapp.jobs.runner import RunContext
from webapp.models import (
    Job,
    JobLogEntry,
    JobRun,
    LogLevel,
    Message,
    MessageSource,
    MessageStatus,
    RunStatus,
)
from webapp.models.base import utcnow
from webapp.permissions import Permission
from webapp.simulators.websms import WebsmsSandbox
from webapp.sms.dispatch import run_service_sms
from webapp.sms.outbox import QueueItem, queue_many, queue_sms, resend
from webapp.sms.settings import set_global
from webapp.sms.transports.websms import WebsmsSettings, WebsmsTransport

NUMBER = "0664 1234567"


def _off(db) -> None:
    set_global(db, 1400, "0", "test")
    db.commit()


def _queue(db, mandant, text="Hallo") -> Message:
    message = queue_sms(
        db, recipient=NUMBER, text=text, mandant_id=mandant.id, source=MessageSource.MANUAL
    )
    db.commit()
    return message


def _count(db) -> int:
    return db.scalar(select(func.count()).select_from(Message))


def test_the_core_refuses_every_way_of_queueing(db, wien):
    sent = _queue(db, wien)
    sent.status = MessageStatus.SENT
    db.commit()
    _off(db)
    with pytest.raises(ServiceOff, match="1400"):
        queue_sms(db, recipient=NUMBER, text="x", mandant_id=wien.id, source=MessageSource.MANUAL)
    with pytest.raises(ServiceOff):
        queue_many(db, [QueueItem(NUMBER, "x")], mandant_id=wien.id, source=MessageSource.API)
    with pytest.raises(ServiceOff):
        resend(db, [sent.id], created_by=None, mandant_ids=None)
    db.rollback()
    assert _count(db) == 1


def test_neu_and_erneut_versenden_refuse_with_a_clear_message(client, db, make_user, wien):
    sent = _queue(db, wien)
    sent.status = MessageStatus.SENT
    db.commit()
    login_as(client, make_user("sms", Permission.SMS_MESSAGES, mandanten=[wien]))
    _off(db)
    page = client.get("/admin/sms/").text
    assert 'id="service-off"' in page and "nicht freigeschaltet" in page
    assert 'id="resend-button" disabled' in page and 'id="nav-service-off"' in page
    new = client.post(
        "/admin/sms/new", data={"recipient": NUMBER, "text": "Hallo", "mandant": wien.id}
    )
    assert new.status_code == 422 and "nicht freigeschaltet" in new.text
    resent = client.post("/admin/sms/resend", data={"ids": [sent.id]}, follow_redirects=True)
    assert "nicht freigeschaltet" in resent.text
    assert _count(db) == 1


def test_the_badge_is_only_for_those_whose_dialogs_send(client, db, make_user, wien):
    _off(db)
    login_as(client, make_user("leser", mandanten=[wien]))
    assert 'id="nav-service-off"' not in client.get("/persons").text


def test_the_api_answers_409_sms_service_off(client, db, wien):
    _, clear = create_token(
        db, name="erp", mandant_id=wien.id, scopes=("sms:send",), created_by=None
    )
    db.commit()
    _off(db)
    response = client.post(
        "/api/v1/sms",
        json={"to": NUMBER, "text": "Hallo"},
        headers={"Authorization": f"Bearer {clear}"},
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "sms_service_off"
    assert _count(db) == 0


def test_a_run_sends_nothing_keeps_the_queue_and_says_why(app, db, wien):
    waiting, old = _queue(db, wien), _queue(db, wien, "alt")
    old.created_at = utcnow() - timedelta(days=8)
    job = db.scalar(select(Job).where(Job.job_type == "service_sms"))
    job.log_level = LogLevel.ERRORS
    db.commit()
    _off(db)
    with WebsmsSandbox(token="t") as sandbox:
        run = JobRun(job_id=job.id, run_key=uuid.uuid4().hex, status=RunStatus.RUNNING)
        db.add(run)
        db.commit()
        transport = WebsmsTransport(WebsmsSettings(base_url=sandbox.url, access_token="t"))
        totals = run_service_sms(
            RunContext(app, db, job, run, RunLog(db, job, run)), transport=transport
        )
        assert sandbox.requests == []
    assert totals.sent == 0 and totals.expired == 1
    db.expire_all()
    assert db.get(Message, waiting.id).status is MessageStatus.QUEUED
    assert db.get(Message, old.id).status is MessageStatus.EXPIRED  # the week still counts
    lines = [e.message for e in db.scalars(select(JobLogEntry))]
    assert len(lines) == 1 and "1400" in lines[0] and "versendet nichts" in lines[0]

"""Received SMS that would break the job: a sender with line breaks, a forwarding that fails
for one SMS, links built from the Host header (hardening issue, points 1 and 12)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import select

from webapp import accounts
from webapp.jobs.mail import send_mail
from webapp.jobs.runner import execute_job
from webapp.jobs.settings import WebsmsAuth, set_webhook_secret
from webapp.jobs.settings_tab import SettingsInput, save_settings
from webapp.models import Job, JobLogEntry, JobRun, LogLevel, ReceivedMessage, RunStatus
from webapp.simulators.websms import WebsmsSandbox
from webapp.sms import inbound
from webapp.sms.inbound import FORWARD_MAX_ATTEMPTS, store_received
from webapp.sms.settings import set_global

SECRET = "geheim-webhook-456"
EVIL = "Evil\r\nBcc: v@x.at"


@pytest.fixture
def job(app, db, smtp_server):
    host, port, sink = smtp_server
    app.config.update(SMTP_HOST=host, SMTP_PORT=port)
    job = db.scalar(select(Job).where(Job.job_type == "service_sms"))
    set_webhook_secret(job, app.config["SMS_SECRET_KEY"], SECRET)
    settings = dict(job.settings)
    settings["websms"] = {**settings.get("websms", {}), "inbound_email": "eingang@hv.at"}
    job.settings = settings
    job.log_level = LogLevel.ALL
    job.failure_email = "admin@hv.at"
    db.commit()
    job.sink = sink
    return job


def _inbound(sender: str, notification_id: str, text: str = "Hallo") -> dict:
    return {
        "messageType": "text",
        "notificationId": notification_id,
        "senderAddress": sender,
        "senderAddressType": "alphanumeric",
        "recipientAddress": "4366400000",
        "textMessageContent": text,
    }


def _run(app, db, job) -> JobRun:
    """A whole run as the worker does it (its status says whether it failed)."""
    with WebsmsSandbox(token="t") as sandbox:
        save_settings(
            db,
            job,
            SettingsInput(
                variant="2",
                websms_base_url=sandbox.url,
                websms_auth=WebsmsAuth.TOKEN,
                websms_access_token="t",
                websms_inbound_email="eingang@hv.at",
            ),
            "test",
            app.config["SMS_SECRET_KEY"],
        )
        db.commit()
        run = execute_job(app, job.id)
    assert run is not None
    return run


def test_a_sender_with_a_line_break_is_stored_as_one_line_and_forwarded(client, db, job):
    response = client.post(f"/webhooks/websms/{SECRET}", json=_inbound(EVIL, "n" * 20))
    assert response.status_code == 200
    received = db.scalar(select(ReceivedMessage))
    assert received.sender == "Evil Bcc: v@x.at" and received.forwarded_at is not None
    [mail] = job.sink.messages
    assert mail["Bcc"] is None and "\n" not in mail["Subject"]
    assert mail["Subject"] == "SMS von Evil Bcc: v@x.at"


def test_a_bad_sender_stored_before_the_fix_no_longer_stops_the_run(app, db, job):
    """Rows written before senders were cleaned: the run forwards them and goes on to the
    number-problem e-mail (global 1401)."""
    db.add(ReceivedMessage(transport="websms", sender=EVIL, text="alt", forward_attempts=0))
    mandant = accounts.save_mandant(db, "HV")
    set_global(db, 1401, "fehler@hv.at", "test")
    db.commit()
    from webapp.models import MessageSource
    from webapp.sms.outbox import queue_sms

    queue_sms(
        db,
        recipient="01 5880 0",
        text="Festnetz",
        mandant_id=mandant.id,
        source=MessageSource.MANUAL,
    )
    db.commit()
    run = _run(app, db, job)
    db.expire_all()
    assert db.get(JobRun, run.id).status is RunStatus.SUCCEEDED
    subjects = [m["Subject"] for m in job.sink.messages]
    assert any("Nummernfehler" in s for s in subjects)
    assert any(s.startswith("SMS von Evil") for s in subjects)
    assert db.scalar(select(ReceivedMessage)).forwarded_at is not None


def test_one_sms_that_cannot_be_forwarded_fails_alone_and_is_given_up(app, db, job, monkeypatch):
    bad = store_received(db, transport="websms", sender="+436641111111", text="kaputt")
    good = store_received(db, transport="websms", sender="+436642222222", text="gut")
    db.commit()
    original = inbound.forward

    def forward(app, session, job, received):
        if received.id == bad.id:
            raise RuntimeError("unlesbar")
        return original(app, session, job, received)

    monkeypatch.setattr(inbound, "forward", forward)
    run = _run(app, db, job)
    db.expire_all()
    assert db.get(JobRun, run.id).status is RunStatus.SUCCEEDED
    assert db.get(ReceivedMessage, good.id).forwarded_at is not None
    failed = db.get(ReceivedMessage, bad.id)
    assert failed.forwarded_at is None and failed.forward_attempts == 1
    assert "unlesbar" in failed.forward_error
    log = " ".join(e.message for e in db.scalars(select(JobLogEntry)))
    assert f"Empfangene SMS {bad.id} konnte nicht weitergeleitet werden" in log
    failed.forward_attempts = FORWARD_MAX_ATTEMPTS - 1
    db.commit()
    _run(app, db, job)
    db.expire_all()
    assert db.get(ReceivedMessage, bad.id).forward_attempts == FORWARD_MAX_ATTEMPTS
    assert "aufgegeben" in " ".join(e.message for e in db.scalars(select(JobLogEntry)))
    _run(app, db, job)  # given up: not tried again
    db.expire_all()
    assert db.get(ReceivedMessage, bad.id).forward_attempts == FORWARD_MAX_ATTEMPTS


def test_a_modem_sender_with_a_line_break_is_one_line(db):
    received = store_received(db, transport="modem", sender="Haus\r\nverwaltung", text="x")
    assert received.sender == "Haus verwaltung"


def test_send_mail_never_raises_for_a_header_with_a_line_break(app, job):
    assert send_mail(app, "eingang@hv.at", "Betreff\r\nBcc: v@x.at", "Text") is True
    [mail] = job.sink.messages
    assert mail["Bcc"] is None and mail["Subject"] == "Betreff Bcc: v@x.at"


def test_the_mail_link_comes_from_public_url_never_from_the_host_header(app, client, db, job):
    app.config["PUBLIC_URL"] = ""
    client.post(
        f"/webhooks/websms/{SECRET}",
        json=_inbound("436641234567", "a" * 20),
        headers={"Host": "evil.example"},
    )
    app.config["PUBLIC_URL"] = "https://sms.hv.at/"
    client.post(
        f"/webhooks/websms/{SECRET}",
        json=_inbound("436641234567", "b" * 20),
        headers={"Host": "evil.example"},
    )
    first, second = (m.get_content() for m in job.sink.messages)
    assert "evil.example" not in first + second
    assert "Empfangene SMS: /admin/sms/inbox?id=" in first
    assert "Empfangene SMS: https://sms.hv.at/admin/sms/inbox?id=" in second


def test_the_sms_core_never_reads_the_request():
    """webapp/sms is callable from a job or the CLI: no flask.request in there."""
    for path in Path(inbound.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "flask":
                names = {alias.name for alias in node.names}
                assert not names & {"request", "has_request_context"}, path

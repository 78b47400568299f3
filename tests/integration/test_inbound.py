"""Received SMS and delivery reports: websms webhooks (real HTTP callbacks of the sandbox) and
the modem's received SMS and status reports (issue 6)."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import func, select, update
from werkzeug.serving import make_server

from webapp.jobs.runlog import RunLog
from webapp.jobs.runner import RunContext
from webapp.jobs.secrets import decrypt_secrets, encrypt_secrets
from webapp.jobs.settings import job_settings, set_webhook_secret, webhook_secret
from webapp.jobs.settings_tab import SettingsInput, save_settings
from webapp.models import (
    Job,
    JobLogEntry,
    JobRun,
    Message,
    MessageSource,
    MessageStatus,
    Person,
    ReceivedMessage,
    RunStatus,
    WebhookNotification,
)
from webapp.simulators.websms import WebsmsSandbox
from webapp.sms.dispatch import run_service_sms
from webapp.sms.outbox import queue_sms
from webapp.sms.transports.websms import WebsmsSettings, WebsmsTransport

SECRET = "geheim-webhook-123"


@pytest.fixture
def job(app, db):
    job = db.scalar(select(Job).where(Job.job_type == "service_sms"))
    set_webhook_secret(job, app.config["SMS_SECRET_KEY"], SECRET)
    db.commit()
    return job


@pytest.fixture
def mail(app, db, job, smtp_server):
    host, port, sink = smtp_server
    app.config.update(SMTP_HOST=host, SMTP_PORT=port)
    settings = dict(job.settings)
    settings["websms"] = {**settings.get("websms", {}), "inbound_email": "eingang@hv.at"}
    job.settings = settings
    db.commit()
    return sink


@pytest.fixture
def live_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _sms(db, mandant, text="Hallo", recipient="0664 1234567"):
    message = queue_sms(
        db, recipient=recipient, text=text, mandant_id=mandant.id, source=MessageSource.MANUAL
    )
    db.commit()
    return message


def _run(app, db, job, transport=None):
    run = JobRun(job_id=job.id, run_key=uuid.uuid4().hex, status=RunStatus.RUNNING)
    db.add(run)
    db.commit()
    ctx = RunContext(app, db, job, run, RunLog(db, job, run))
    return run_service_sms(ctx, transport=transport)


def _inbound(notification_id="0123456789abcdef0123", text="Passt, danke!", sender="436641234567"):
    return {
        "messageType": "text",
        "notificationId": notification_id,
        "senderAddress": sender,
        "senderAddressType": "international",
        "recipientAddress": "4367612345678",
        "recipientAddressType": "international",
        "textMessageContent": text,
    }


def test_send_then_delivery_report_callback_marks_delivered(app, db, job, wien, live_url):
    callback = f"{live_url}/webhooks/websms/{SECRET}"
    with WebsmsSandbox(token="t0ken") as sandbox:
        message = _sms(db, wien)
        transport = WebsmsTransport(
            WebsmsSettings(
                base_url=sandbox.url, access_token="t0ken", notification_callback_url=callback
            )
        )
        assert _run(app, db, job, transport).sent == 1
        db.expire_all()
        sent = db.get(Message, message.id)
        assert sent.status is MessageStatus.SENT
        results = sandbox.send_delivery_report(sent.provider_ref, "accepted")
        assert results[0].http_status == 200 and results[0].answer["statusCode"] == 2000
        db.expire_all()
        assert db.get(Message, message.id).status is MessageStatus.SENT
        assert db.get(Message, message.id).report_status == "accepted"
        results = sandbox.send_delivery_report(sent.provider_ref, "delivered")
        assert results[0].answer == {"statusCode": 2000, "statusMessage": "OK"}
    db.expire_all()
    delivered = db.get(Message, message.id)
    assert delivered.status is MessageStatus.DELIVERED and delivered.delivered_at is not None


def test_undelivered_report_and_unknown_message(app, db, job, wien, client):
    message = _sms(db, wien)
    message.status, message.provider_ref = MessageStatus.SENT, "abc0123456789abcdef0"
    db.commit()
    report = {
        "messageType": "deliveryReport",
        "notificationId": "11111111111111111111",
        "transferId": "abc0123456789abcdef0",
        "senderAddress": "436641234567",
        "deliveryReportMessageStatus": "expired",
        "clientMessageId": str(message.id),
    }
    assert client.post(f"/webhooks/websms/{SECRET}", json=report).status_code == 200
    db.expire_all()
    message = db.get(Message, message.id)
    assert message.status is MessageStatus.UNDELIVERED and "Gültigkeit" in message.reason
    unknown = {**report, "notificationId": "22222222222222222222", "transferId": "nope"}
    unknown.pop("clientMessageId")
    assert client.post(f"/webhooks/websms/{SECRET}", json=unknown).status_code == 200
    entries = db.scalars(select(JobLogEntry).where(JobLogEntry.job_id == job.id)).all()
    assert any("unbekannte SMS" in e.message and e.level == "warning" for e in entries)


def test_inbound_callback_is_stored_matched_and_forwarded(app, db, job, wien, mail, live_url):
    person = Person(name="Maria Muster", mobile="0664 / 123 45 67", mandant_id=wien.id)
    db.add(person)
    message = _sms(db, wien, "Termin morgen 9 Uhr?")
    message.status, message.sent_at = MessageStatus.SENT, message.created_at
    db.commit()
    with WebsmsSandbox(token="t0ken") as sandbox:
        result = sandbox.send_inbound(
            "+436641234567", "Ja, passt 😀", f"{live_url}/webhooks/websms/{SECRET}"
        )
    assert result.http_status == 200 and result.answer["statusCode"] == 2000
    received = db.scalars(select(ReceivedMessage)).one()
    assert received.sender == "+436641234567" and received.text == "Ja, passt 😀"
    assert received.reply_to_message_id == message.id and received.person_id == person.id
    assert received.mandant_id == wien.id and received.forwarded_at is not None
    assert len(mail.messages) == 1
    email = mail.messages[0]
    assert email["To"] == "eingang@hv.at"
    assert "+43 664 1234567" in email["Subject"] and "Maria Muster" in email["Subject"]
    body = email.get_content()
    assert "Ja, passt 😀" in body and f"/admin/sms/inbox?id={received.id}" in body


def test_repeated_notification_is_stored_once(app, db, job, client):
    for _ in range(2):
        response = client.post(f"/webhooks/websms/{SECRET}", json=_inbound())
        assert response.status_code == 200 and response.json["statusCode"] == 2000
    assert db.scalar(select(func.count()).select_from(ReceivedMessage)) == 1
    assert db.scalar(select(func.count()).select_from(WebhookNotification)) == 1


def test_bad_secret_is_refused_and_nothing_stored(app, db, job, client):
    assert client.post("/webhooks/websms/falsch", json=_inbound()).status_code == 401
    assert client.post("/webhooks/websms", json=_inbound()).status_code == 401
    response = client.post("/webhooks/websms", json=_inbound(), auth=("websms", "falsch"))
    assert response.status_code == 401
    assert db.scalar(select(func.count()).select_from(ReceivedMessage)) == 0
    response = client.post("/webhooks/websms", json=_inbound(), auth=("websms", SECRET))
    assert response.status_code == 200
    assert db.scalar(select(func.count()).select_from(ReceivedMessage)) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"messageType": "text"}',
        b'{"messageType": "fax", "notificationId": "x"}',
        b'{"messageType": "text", "notificationId": "x", "senderAddress": "43664"}',
        b'{"messageType": "deliveryReport", "notificationId": "y", "transferId": "t",'
        b' "deliveryReportMessageStatus": "lost"}',
    ],
)
def test_malformed_body_is_400_and_nothing_stored(app, db, job, client, body):
    response = client.post(f"/webhooks/websms/{SECRET}", data=body, content_type="application/json")
    assert response.status_code == 400 and response.json["statusCode"] == 4000
    assert db.scalar(select(func.count()).select_from(ReceivedMessage)) == 0
    assert db.scalar(select(func.count()).select_from(WebhookNotification)) == 0


def test_binary_inbound_is_decoded(app, db, job, client):
    import base64

    body = {
        "messageType": "binary",
        "notificationId": "33333333333333333333",
        "senderAddress": "436641234567",
        "senderAddressType": "international",
        "userDataHeaderPresent": False,
        "binaryMessageContent": [base64.urlsafe_b64encode("Grüße".encode()).decode()],
    }
    assert client.post(f"/webhooks/websms/{SECRET}", json=body).status_code == 200
    assert db.scalars(select(ReceivedMessage)).one().text == "Grüße"


def test_failed_forward_is_retried_by_the_next_run(app, db, job, mail, client, wien):
    port = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = 1  # nothing listens there
    assert client.post(f"/webhooks/websms/{SECRET}", json=_inbound()).status_code == 200
    received = db.scalars(select(ReceivedMessage)).one()
    assert received.forwarded_at is None and received.forward_attempts == 1
    assert received.forward_error
    app.config["SMTP_PORT"] = port
    with WebsmsSandbox(token="t0ken") as sandbox:
        _run(app, db, job, WebsmsTransport(WebsmsSettings(base_url=sandbox.url)))
    db.expire_all()
    received = db.get(ReceivedMessage, received.id)
    assert received.forwarded_at is not None and received.forward_error is None
    assert len(mail.messages) == 1


def test_modem_received_sms_and_status_reports(app, db, job, wien, mail):
    from webapp.simulators.modem import ModemSimulator

    with ModemSimulator() as modem:
        save_settings(
            db,
            job,
            SettingsInput(
                variant="1",
                modem_url=modem.url,
                modem_receive=True,
                websms_inbound_email="eingang@hv.at",
            ),
            "test",
            app.config["SMS_SECRET_KEY"],
        )
        db.commit()
        first, second = _sms(db, wien, "Eins"), _sms(db, wien, "Zwei", "0664 7654321")
        assert _run(app, db, job).sent == 2
        db.expire_all()
        first, second = db.get(Message, first.id), db.get(Message, second.id)
        assert first.provider_ref and second.provider_ref
        modem.inject_status_report(int(first.provider_ref), "+436641234567", 0x00, stored=True)
        modem.inject_status_report(int(second.provider_ref), "+436647654321", 0x46, stored=True)
        modem.inject_status_report(77, "+436640000000", 0x00, stored=True)  # unknown
        modem.inject_received("+436641234567", "Antwort per Modem")
        _run(app, db, job)
        db.expire_all()
        assert db.get(Message, first.id).status is MessageStatus.DELIVERED
        assert db.get(Message, second.id).status is MessageStatus.UNDELIVERED
        received = db.scalars(select(ReceivedMessage)).one()
        assert received.reply_to_message_id == first.id and received.forwarded_at is not None
        assert modem.stored() == {}
    assert "Antwort per Modem" in mail.messages[0].get_content()
    entries = db.scalars(select(JobLogEntry).where(JobLogEntry.job_id == job.id)).all()
    assert any("Referenz 77" in e.message for e in entries)


def test_reports_stored_in_sr_arrive_with_the_next_run_also_without_empfang(app, db, job, wien):
    """Issue 15 point 2: reports the modem kept in its report memory while no run was
    connected end on their SMS with the next run and are deleted; with Empfang off the
    receive memory is not touched, and the read memory is set back."""
    from webapp.simulators.modem import ModemSimulator

    with ModemSimulator() as modem:
        save_settings(
            db,
            job,
            SettingsInput(variant="1", modem_url=modem.url, modem_receive=False),
            "test",
            app.config["SMS_SECRET_KEY"],
        )
        db.commit()
        first, second = _sms(db, wien, "Eins"), _sms(db, wien, "Zwei", "0664 7654321")
        assert _run(app, db, job).sent == 2
        db.expire_all()
        first, second = db.get(Message, first.id), db.get(Message, second.id)
        modem.inject_status_report(
            int(first.provider_ref), "+436641234567", 0x00, stored=True, memory="SR"
        )
        modem.inject_status_report(
            int(second.provider_ref), "+436647654321", 0x46, stored=True, memory="SR"
        )
        received = modem.inject_received("+436641234567", "bleibt liegen", notify=False)
        _run(app, db, job)
        db.expire_all()
        assert db.get(Message, first.id).status is MessageStatus.DELIVERED
        assert db.get(Message, second.id).status is MessageStatus.UNDELIVERED
        assert modem.stored("SR") == {}
        assert sorted(modem.stored("SM")) == received  # Empfang off: left alone
        assert modem.cpms[0] == "SM"
        _run(app, db, job)  # nothing piles up, nothing applied twice
        assert modem.stored("SR") == {}
        assert sorted(modem.stored("SM")) == received


def test_inbox_lists_received_sms_newest_first_with_filter_and_reply_link(
    app, db, job, wien, client, make_user
):
    from tests.conftest import login_as
    from webapp.permissions import Permission

    message = _sms(db, wien, "Termin morgen?")
    message.status, message.sent_at = MessageStatus.SENT, message.created_at
    db.commit()
    client.post(f"/webhooks/websms/{SECRET}", json=_inbound("a" * 20, "Erste Antwort"))
    client.post(f"/webhooks/websms/{SECRET}", json=_inbound("b" * 20, "Zweite Antwort"))
    client.post(
        f"/webhooks/websms/{SECRET}", json=_inbound("c" * 20, "Fremd", sender="436769999999")
    )
    assert client.get("/admin/sms/inbox").status_code == 302  # login first
    nobody = make_user("ohne", mandanten=[wien])
    login_as(client, nobody)
    assert client.get("/admin/sms/inbox").status_code == 403
    user = make_user("sachbearbeiter", Permission.SMS_MESSAGES, mandanten=[wien])
    login_as(client, user)
    page = client.get("/admin/sms/inbox").get_data(as_text=True)
    assert "Empfangene SMS" in page
    assert page.index("Zweite Antwort") < page.index("Erste Antwort")
    assert "Fremd" not in page  # matched to no Mandant of this user
    assert f"SMS {message.id}" in page
    filtered = client.get("/admin/sms/inbox?text=zweite").get_data(as_text=True)
    assert "Zweite Antwort" in filtered and "Erste Antwort" not in filtered
    listing = client.get("/admin/sms/").get_data(as_text=True)
    assert "reply-count" in listing and "↩ 2" in listing
    admin = make_user("chef", admin=True)
    login_as(client, admin)
    everything = client.get("/admin/sms/inbox?number=0676").get_data(as_text=True)
    assert "Fremd" in everything and "Erste Antwort" not in everything
    menu = client.get("/").get_data(as_text=True)
    assert "/admin/sms/inbox" in menu


def test_webhook_secret_is_generated_kept_and_shown(app, db, client, make_user):
    from tests.conftest import login_as

    key = app.config["SMS_SECRET_KEY"]
    job = db.scalar(select(Job).where(Job.job_type == "service_sms"))
    save_settings(db, job, SettingsInput(variant="2", websms_access_token="tok"), "test", key)
    db.commit()
    secret = webhook_secret(job, key)
    assert len(secret) >= 32
    login_as(client, make_user("chef", admin=True))
    page = client.get(f"/admin/jobs/{job.id}/settings").get_data(as_text=True)
    # HTTP Basic auth first: nothing secret in the path, so nothing secret in access logs
    assert f"http://websms:{secret}@localhost/webhooks/websms<" in page
    assert f"/webhooks/websms/{secret}" in page  # the older form still shown, second
    assert page.index(f"websms:{secret}@") < page.index(f"/webhooks/websms/{secret}")
    assert client.post(f"/admin/jobs/{job.id}/settings/webhook-secret").status_code == 302
    db.expire_all()
    job = db.get(Job, job.id)
    new = webhook_secret(job, key)
    assert new and new != secret
    assert client.post(f"/webhooks/websms/{secret}", json=_inbound()).status_code == 401
    save_settings(db, job, SettingsInput(variant="2", websms_access_token="tok2"), "test", key)
    db.commit()
    assert webhook_secret(db.get(Job, job.id), key) == new


def test_refused_webhook_calls_are_logged_at_most_every_15_minutes(app, db, client, job, make_user):
    """Issue 12 point 11: after "neu erzeugen" websms still calls the old URL; the reports are
    refused (401) and the Errorlog of Service SMS says so, without flooding it."""
    from datetime import timedelta

    from webapp.models import JobLogEntry
    from webapp.sms.inbound import REFUSED_PREFIX

    def refused_entries():
        db.expire_all()
        return list(
            db.scalars(
                select(JobLogEntry)
                .where(JobLogEntry.message.startswith(REFUSED_PREFIX))
                .order_by(JobLogEntry.id)
            )
        )

    job.log_level = "none"  # whatever the Protokollart: this breaks delivery reports silently
    db.commit()
    old = SECRET
    set_webhook_secret(job, app.config["SMS_SECRET_KEY"])
    db.commit()
    report = {
        "messageType": "deliveryReport",
        "notificationId": "n-1",
        "transferId": "t-1",
        "deliveryReportMessageStatus": "delivered",
    }
    assert client.post(f"/webhooks/websms/{old}", json=report).status_code == 401
    [entry] = refused_entries()
    assert entry.level == "error" and entry.job_id == job.id and entry.run_id is None
    assert "neue URL" in entry.message and "websms-Kundenportal" in entry.message
    assert "\nDetails: Geheimnis im Pfad falsch, Absender 127.0.0.1" in entry.message
    assert old not in entry.message
    # More refused calls within 15 minutes (also without credentials): no new entry.
    assert client.post("/webhooks/websms", json=report, auth=("websms", old)).status_code == 401
    assert client.post("/webhooks/websms", json=report).status_code == 401
    assert len(refused_entries()) == 1
    entry.created_at -= timedelta(minutes=16)
    db.commit()
    assert client.post("/webhooks/websms", json=report).status_code == 401
    entries = refused_entries()
    assert len(entries) == 2 and "ohne HTTP-Basic-Anmeldung" in entries[1].message
    # The Errorlog tab shows it: the sentence, the details in their own line.
    from tests.conftest import login_as

    admin = login_as(client, make_user("chef", admin=True))
    page = admin.get(f"/admin/jobs/{job.id}/log").get_data(as_text=True)
    assert '<small class="details">Details: ohne HTTP-Basic-Anmeldung' in page


def test_webhook_secret_is_stored_encrypted_and_compared_with_the_decrypted_one(
    app, db, job, client
):
    key = app.config["SMS_SECRET_KEY"]
    assert SECRET not in json.dumps(job.settings) and SECRET not in job.secrets
    assert decrypt_secrets(job.secrets, key)["webhook_secret"] == SECRET
    assert "webhook_secret" not in (job.settings.get("websms") or {})
    assert client.post(f"/webhooks/websms/{SECRET}", json=_inbound()).status_code == 200
    response = client.post("/webhooks/websms", json=_inbound("1" * 20), auth=("websms", SECRET))
    assert response.status_code == 200
    # The other secrets of the job stay as they were.
    save_settings(db, job, SettingsInput(variant="2", websms_access_token="tok"), "test", key)
    db.commit()
    assert decrypt_secrets(job.secrets, key) == {"webhook_secret": SECRET}
    assert decrypt_secrets(job.channels[0].secrets, key) == {"websms_access_token": "tok"}
    # With another SMS_SECRET_KEY the secret cannot be read: every call is refused.
    app.config["SMS_SECRET_KEY"] = Fernet.generate_key().decode()
    assert client.post(f"/webhooks/websms/{SECRET}", json=_inbound("2" * 20)).status_code == 401


def test_the_delivery_report_url_keeps_the_secret_out_of_the_settings(app, db, job, client):
    key = app.config["SMS_SECRET_KEY"]
    callback = f"https://websms:{SECRET}@sms.hv.at/webhooks/websms"
    data = SettingsInput(variant="2", websms_access_token="tok", websms_callback_url=callback)
    save_settings(db, job, data, "test", key)
    db.commit()
    assert SECRET not in json.dumps(job.settings)
    assert job_settings(job, key).notification_callback_url == callback
    # A new secret applies to the delivery-report URL at once.
    new = set_webhook_secret(job, key)
    db.commit()
    assert job_settings(job, key).notification_callback_url == callback.replace(SECRET, new)


def test_the_secret_in_the_path_never_reaches_a_log(app, db, job, client, live_url, caplog):
    with caplog.at_level(logging.INFO):
        # werkzeug's access line is written as the answer's headers go out: already there
        response = requests.post(f"{live_url}/webhooks/websms/{SECRET}", json=_inbound())
        assert response.status_code == 200
        # gunicorn's access log (its default format) and Flask's log of an unexpected error
        logging.getLogger("gunicorn.access").info(
            '%(h)s "%(r)s" %(s)s',
            {"h": "10.0.0.1", "r": f"POST /webhooks/websms/{SECRET} HTTP/1.1", "s": "200"},
        )
        logging.getLogger(app.name).error("Exception on /webhooks/websms/%s [POST]", SECRET)
    assert "POST /webhooks/websms/*** HTTP/1.1" in caplog.text
    assert caplog.text.count("/webhooks/websms/***") == 3
    assert SECRET not in caplog.text


def test_upgrade_moves_a_plain_webhook_secret_into_the_encrypted_ones(app, db, client):
    # Installations from before migration 0012 kept the secret in the settings, in plain text.
    from alembic.script import ScriptDirectory
    from flask_migrate import downgrade, upgrade

    key = app.config["SMS_SECRET_KEY"]
    scripts = ScriptDirectory(str(Path(app.root_path).parent / "migrations"))
    before = scripts.get_revision("0012").down_revision
    downgrade(revision=before)
    callback = f"https://sms.hv.at/webhooks/websms/{SECRET}"
    # Only the job's own columns while the schema is old: loading the Job (and what it loads
    # with it, e.g. its Mandanten) would ask for columns that later migrations add.
    job_id = db.scalar(select(Job.id).where(Job.job_type == "service_sms"))
    db.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(
            settings={
                "variant": 2,
                "websms": {"webhook_secret": SECRET, "notification_callback_url": callback},
                "stored_secrets": ["websms_access_token"],
            },
            secrets=encrypt_secrets({"websms_access_token": "tok"}, key),
        )
    )
    db.commit()
    upgrade()
    db.expire_all()
    job = db.get(Job, job_id)
    assert SECRET not in json.dumps(job.settings) and "webhook_secret" not in job.settings["websms"]
    assert decrypt_secrets(job.secrets, key) == {
        "websms_access_token": "tok",
        "webhook_secret": SECRET,
    }
    assert job_settings(job, key).notification_callback_url == callback
    assert client.post(f"/webhooks/websms/{SECRET}", json=_inbound()).status_code == 200
    db.rollback()  # reading the job's channels began a transaction: DROP TABLE would wait for it
    downgrade(revision=before)
    db.expire_all()
    settings, secrets = db.execute(select(Job.settings, Job.secrets).where(Job.id == job_id)).one()
    assert settings["websms"] == {
        "webhook_secret": SECRET,
        "notification_callback_url": callback,
    }
    assert decrypt_secrets(secrets, key) == {"websms_access_token": "tok"}
    db.rollback()
    upgrade()


def test_automatic_reports_also_when_faster_than_the_run(app, db, job, wien, live_url):
    # A report may arrive before the run committed "sent": it is settled right after.
    callback = f"{live_url}/webhooks/websms/{SECRET}"
    with WebsmsSandbox(token="t0ken", auto_report=True, report_delay=0.0) as sandbox:
        sandbox.report_as("436647654321", "rejected")
        good, bad = _sms(db, wien), _sms(db, wien, recipient="0664 7654321")
        transport = WebsmsTransport(
            WebsmsSettings(
                base_url=sandbox.url, access_token="t0ken", notification_callback_url=callback
            )
        )
        assert _run(app, db, job, transport).sent == 2
        results = sandbox.wait_for_callbacks(2)
        assert all(r.answer["statusCode"] == 2000 for r in results)
    db.expire_all()
    assert db.get(Message, good.id).status is MessageStatus.DELIVERED
    assert db.get(Message, bad.id).status is MessageStatus.UNDELIVERED


def test_report_for_a_message_still_sending_is_settled_after_the_outcome(db, job, wien, client):
    from webapp.sms.inbound import settle_early_reports

    message = _sms(db, wien)
    message.status = MessageStatus.SENDING
    db.commit()
    report = {
        "messageType": "deliveryReport",
        "notificationId": "44444444444444444444",
        "transferId": "feed0123456789abcdef",
        "deliveryReportMessageStatus": "delivered",
        "clientMessageId": str(message.id),
    }
    assert client.post(f"/webhooks/websms/{SECRET}", json=report).status_code == 200
    db.expire_all()
    message = db.get(Message, message.id)
    assert message.status is MessageStatus.SENDING and message.report_status == "delivered"
    message.status, message.provider_ref = MessageStatus.SENT, "feed0123456789abcdef"
    db.commit()
    assert settle_early_reports(db, [message.id]) == 1
    assert db.get(Message, message.id).status is MessageStatus.DELIVERED

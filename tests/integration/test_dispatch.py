"""One run of Service SMS against the websms sandbox over real HTTP."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from webapp import accounts
from webapp.jobs.runlog import RunLog
from webapp.jobs.runner import RunContext
from webapp.models import Job, JobRun, Message, MessageSource, MessageStatus, RunStatus
from webapp.models.base import utcnow
from webapp.simulators.websms import Fault, WebsmsSandbox
from webapp.sms.dispatch import run_service_sms
from webapp.sms.outbox import queue_sms
from webapp.sms.prefixes import update_prefix
from webapp.sms.settings import set_global
from webapp.sms.transports.base import TransportUnavailable
from webapp.sms.transports.websms import WebsmsSettings, WebsmsTransport


@pytest.fixture
def sandbox():
    with WebsmsSandbox(token="t0ken") as box:
        yield box


@pytest.fixture
def job(db):
    return db.scalar(select(Job).where(Job.job_type == "service_sms"))


def _run(app, db, job, sandbox, **settings):
    run = JobRun(job_id=job.id, run_key=uuid.uuid4().hex, status=RunStatus.RUNNING)
    db.add(run)
    db.commit()
    transport = WebsmsTransport(
        WebsmsSettings(base_url=sandbox.url, access_token="t0ken", read_timeout=2, **settings)
    )
    ctx = RunContext(app, db, job, run, RunLog(db, job, run))
    return run_service_sms(ctx, transport=transport), run


def _sms(db, mandant, text="Hallo", recipient="0664 1234567"):
    message = queue_sms(
        db, recipient=recipient, text=text, mandant_id=mandant.id, source=MessageSource.MANUAL
    )
    db.commit()
    return message


def _reload(db, message):
    db.expire_all()
    return db.get(Message, message.id)


def test_queued_messages_are_sent_once_with_the_provider_reference(app, db, job, sandbox, wien):
    messages = [_sms(db, wien, f"Nachricht {i} 😀") for i in range(5)]
    totals, run = _run(app, db, job, sandbox)
    assert totals.sent == 5
    accepted = sandbox.accepted
    assert sorted(a.text for a in accepted) == sorted(m.text for m in messages)
    for message in messages:
        message = _reload(db, message)
        assert message.status is MessageStatus.SENT and message.sent_at
        assert message.provider_ref in {a.transfer_id for a in accepted}
        assert message.attempts == 1 and message.run_key is None
    assert run.total == 5 and run.sent == 5
    totals, _ = _run(app, db, job, sandbox)  # nothing left: nothing sent twice
    assert totals.sent == 0 and len(sandbox.accepted) == 5


def test_only_the_jobs_mandanten(app, db, job, sandbox, wien):
    graz = accounts.save_mandant(db, "HV Graz")
    mine, other = _sms(db, wien), _sms(db, graz)
    job.mandanten = [wien]
    db.commit()
    _run(app, db, job, sandbox)
    assert _reload(db, mine).status is MessageStatus.SENT
    assert _reload(db, other).status is MessageStatus.QUEUED


def test_older_than_a_week_expires_instead_of_being_sent(app, db, job, sandbox, wien):
    old = _sms(db, wien)
    old.created_at = utcnow() - timedelta(days=8)
    db.commit()
    totals, _ = _run(app, db, job, sandbox)
    assert totals.expired == 1 and sandbox.accepted == []
    assert _reload(db, old).status is MessageStatus.EXPIRED


def test_transient_failure_is_retried_after_backoff(app, db, job, sandbox, wien):
    message = _sms(db, wien)
    sandbox.inject(Fault.status(5003))
    totals, _ = _run(app, db, job, sandbox)
    message = _reload(db, message)
    assert totals.retried == 1 and message.status is MessageStatus.QUEUED
    assert message.next_attempt_at > utcnow()
    assert message.attempts == 1 and "5003" in (message.error_code or "")
    totals, _ = _run(app, db, job, sandbox)  # not yet due
    assert totals.sent == 0
    message.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.commit()
    totals, _ = _run(app, db, job, sandbox)
    message = _reload(db, message)
    assert totals.sent == 1 and message.status is MessageStatus.SENT and message.attempts == 2


def test_permanent_failure_fails_with_the_reason(app, db, job, sandbox, wien):
    message = _sms(db, wien, recipient="0664 7777777")
    sandbox.blacklist("436647777777")
    _run(app, db, job, sandbox)
    message = _reload(db, message)
    assert message.status is MessageStatus.FAILED and "Sperrliste" in message.reason


def test_wrong_credentials_stop_the_run_and_keep_the_rest_queued(app, db, job, sandbox, wien):
    messages = [_sms(db, wien, f"n{i}") for i in range(3)]
    sandbox.inject(Fault.status(4001))
    with pytest.raises(TransportUnavailable, match="Zugangsdaten"):
        _run(app, db, job, sandbox, concurrency=1)
    statuses = [_reload(db, m).status for m in messages]
    assert statuses.count(MessageStatus.QUEUED) >= 2
    assert MessageStatus.SENT not in statuses


def test_dead_leases_are_recovered(app, db, job, sandbox, wien, smtp_server):
    host, port, sink = smtp_server
    app.config.update(SMTP_HOST=host, SMTP_PORT=port)
    job.failure_email = "admin@hv.at"
    never_started, started = _sms(db, wien, "a"), _sms(db, wien, "b")
    for message in (never_started, started):
        message.status = MessageStatus.SENDING
        message.run_key = "dead-run"
    started.attempt_started_at = utcnow()
    db.commit()
    totals, _ = _run(app, db, job, sandbox)
    assert _reload(db, never_started).status is MessageStatus.SENT
    lost = _reload(db, started)
    assert lost.status is MessageStatus.UNKNOWN and "kann angekommen sein" in lost.reason
    assert totals.recovered_unknown == [started.id]
    assert [a.text for a in sandbox.accepted] == ["a"]  # never resent blindly
    assert any("unklarem Ergebnis" in m["Subject"] for m in sink.messages)


def test_number_problems_fail_without_provider_contact_and_mail_once(
    app, db, job, sandbox, wien, smtp_server
):
    host, port, sink = smtp_server
    app.config.update(SMTP_HOST=host, SMTP_PORT=port)
    set_global(db, 1401, "fehler@hv.at", "test")
    landline = _sms(db, wien, recipient="01 5880 0")  # failed when queued
    drei = _sms(db, wien, recipient="0660 1234567")
    from webapp.models import MobilePrefix

    entry = db.scalar(select(MobilePrefix).where(MobilePrefix.prefix == "43660"))
    update_prefix(db, entry, "43660", entry.description, active=False)
    db.commit()
    _run(app, db, job, sandbox)
    assert sandbox.accepted == []
    assert _reload(db, drei).status is MessageStatus.FAILED
    mails = [m for m in sink.messages if "Nummernfehler" in m["Subject"]]
    assert len(mails) == 1 and mails[0]["To"] == "fehler@hv.at"
    body = mails[0].get_content()
    assert "01 5880 0" in body and "0660 1234567" in body
    _run(app, db, job, sandbox)
    assert len([m for m in sink.messages if "Nummernfehler" in m["Subject"]]) == 1
    assert _reload(db, landline).error_notified_at is not None


def test_timeout_after_sending_is_unknown_never_resent(app, db, job, sandbox, wien):
    message = _sms(db, wien)
    sandbox.inject(Fault.slow(3))
    _run(app, db, job, sandbox)
    message = _reload(db, message)
    assert message.status is MessageStatus.UNKNOWN
    totals, _ = _run(app, db, job, sandbox)
    assert totals.sent == 0


def test_claim_takes_at_most_the_batch_and_only_queued(db, job, wien):
    from webapp.sms.leases import claim

    for i in range(25):
        _sms(db, wien, f"n{i}")
    first = claim(db, [], "run-a", utcnow(), 10)
    second = claim(db, [], "run-b", utcnow(), 10)
    assert len(first) == 10 and len(second) == 10
    assert not {c.id for c in first} & {c.id for c in second}
    db.expire_all()
    rows = [db.get(Message, c.id) for c in first + second]
    assert {m.run_key for m in rows[:10]} == {"run-a"}
    assert all(m.status is MessageStatus.SENDING for m in rows)
    assert len(claim(db, [], "run-c", utcnow(), 10)) == 5


def test_variante_1_sends_through_the_modem_and_collects_received_sms(app, db, job, wien):
    from webapp.jobs.settings_tab import SettingsInput, save_settings
    from webapp.models import ReceivedMessage
    from webapp.simulators.modem import ModemSimulator

    with ModemSimulator() as modem:
        save_settings(
            db,
            job,
            SettingsInput(variant="1", modem_url=modem.url, modem_receive=True),
            "test",
            app.config["SMS_SECRET_KEY"],
        )
        db.commit()
        message = _sms(db, wien, "Grüße mit € und 😀 " * 5)
        modem.inject_received("+436641112233", "Danke, passt! Lange Antwort " * 8)
        run = JobRun(job_id=job.id, run_key=uuid.uuid4().hex, status=RunStatus.RUNNING)
        db.add(run)
        db.commit()
        ctx = RunContext(app, db, job, run, RunLog(db, job, run))
        totals = run_service_sms(ctx)  # the transport comes from the job's Einstellungen
        assert totals.sent == 1
        delivered = modem.wait_for(1)
        assert delivered[0].text == message.text and delivered[0].recipient == "+436641234567"
        sent = _reload(db, message)
        assert sent.status is MessageStatus.SENT and sent.segments == 2
        received = db.scalars(select(ReceivedMessage)).all()
        assert [(r.sender, r.text, r.parts) for r in received] == [
            ("+436641112233", "Danke, passt! Lange Antwort " * 8, 2)
        ]
        assert modem.stored() == {}  # deleted from the SIM only after it was stored


def test_a_refused_sim_pin_is_never_sent_again_by_later_runs(app, db, job, wien):
    from webapp.jobs.settings_tab import SettingsInput, save_settings
    from webapp.simulators.modem import ModemSimulator
    from webapp.sms.transports import modem as modem_module

    with ModemSimulator() as modem:
        modem.require_pin("1234")

        def configure(pin: str) -> None:
            save_settings(
                db,
                job,
                SettingsInput(variant="1", modem_url=modem.url, modem_pin=pin),
                "test",
                app.config["SMS_SECRET_KEY"],
            )
            db.commit()

        def run_once():
            run = JobRun(job_id=job.id, run_key=uuid.uuid4().hex, status=RunStatus.RUNNING)
            db.add(run)
            db.commit()
            return run_service_sms(RunContext(app, db, job, run, RunLog(db, job, run)))

        configure("0000")
        message = _sms(db, wien)
        with pytest.raises(TransportUnavailable, match="PIN"):
            run_once()
        assert modem.pin_attempts == ["0000"]
        assert _reload(db, message).status is MessageStatus.QUEUED
        # Each run may be a new worker process: nothing in memory may carry the refusal.
        modem_module._REJECTED_PINS.clear()
        with pytest.raises(TransportUnavailable, match="nicht erneut versucht"):
            run_once()
        configure("")  # saving other settings keeps the refusal
        with pytest.raises(TransportUnavailable, match="nicht erneut versucht"):
            run_once()
        assert modem.pin_attempts == ["0000"]
        configure("1234")  # a new PIN may be tried
        assert run_once().sent == 1
        assert modem.pin_attempts == ["0000", "1234"]
        assert _reload(db, message).status is MessageStatus.SENT

"""Einstellungen – Kanäle (issue 14): the channel list, its rules, and the channel of each
attempt."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from tests.service_job import send_through_websms
from webapp.errors import InputError
from webapp.jobs.channels import channel_states, parse_routes, serves
from webapp.jobs.runlog import RunLog
from webapp.jobs.runner import RunContext
from webapp.jobs.secrets import decrypt_secrets
from webapp.models import Attempt, Job, JobRun, Message, MessageSource, MessageStatus, RunStatus
from webapp.simulators.websms import WebsmsSandbox
from webapp.sms.dispatch import run_service_sms
from webapp.sms.outbox import queue_sms


@pytest.fixture
def job(db):
    return db.scalar(select(Job).where(Job.job_type == "service_sms"))


def _run(app, db, job):
    run = JobRun(job_id=job.id, run_key=uuid.uuid4().hex, status=RunStatus.RUNNING)
    db.add(run)
    db.commit()
    return run_service_sms(RunContext(app, db, job, run, RunLog(db, job, run)))


def _modem_channel_form(**values):
    data = {
        "name": "Modem Büro",
        "routes": "+43, !+4366",
        "variant": "1",
        "modem_url": "socket://127.0.0.1:4001",
        "modem_baudrate": "115200",
        "modem_cmgs_timeout": "60",
        "modem_pin": "8642",
        "websms_base_url": "https://api.websms.com",
        "websms_auth": "token",
        "websms_max_sms_per_message": "10",
    }
    data.update(values)
    return data


def test_each_attempt_records_its_channel_shown_in_the_sms_detail(app, db, job, wien, admin_client):
    with WebsmsSandbox(token="t0ken") as sandbox:
        send_through_websms(app, db, job, sandbox.url, "t0ken")
        message = queue_sms(
            db,
            recipient="0664 1234567",
            text="Hallo",
            mandant_id=wien.id,
            source=MessageSource.MANUAL,
        )
        db.commit()
        totals = _run(app, db, job)
    assert totals.sent == 1
    db.expire_all()
    channel = job.channels[0]
    sent = db.get(Message, message.id)
    assert sent.status is MessageStatus.SENT and sent.channel_id == channel.id
    attempts = db.scalars(select(Attempt).where(Attempt.message_id == message.id)).all()
    assert [(a.channel_id, a.outcome) for a in attempts] == [(channel.id, "accepted")]
    page = admin_client.get("/admin/sms/").text
    assert "Kanal 1 – 2 – SMS-Web (websms)" in page


def test_channels_are_added_edited_switched_on_and_ordered(admin_client, db, job, app):
    key = app.config["SMS_SECRET_KEY"]
    added = admin_client.post(f"/admin/jobs/{job.id}/channels/add", data={"variant": "1"})
    assert added.status_code == 302
    db.expire_all()
    job = db.get(Job, job.id)
    second = job.channels[1]
    assert (second.position, second.kind, second.enabled) == (2, "modem", False)
    assert added.headers["Location"].endswith(f"/channels/{second.id}/edit")
    edit_url = f"/admin/jobs/{job.id}/channels/{second.id}/edit"
    assert "Kanal 2 bearbeiten" in admin_client.get(edit_url).text

    bad = admin_client.post(edit_url, data=_modem_channel_form(routes="Österreich"))
    assert bad.status_code == 422 and "Ländervorwahl" in bad.text
    saved = admin_client.post(edit_url, data=_modem_channel_form(parallel="y"))
    assert saved.status_code == 302
    db.expire_all()
    job = db.get(Job, job.id)
    first, second = job.channels
    assert second.name == "Modem Büro" and second.routes == "43,!4366"
    assert second.rank == first.rank  # parallel zum vorigen Kanal
    assert decrypt_secrets(second.secrets, key) == {"modem_pin": "8642"}
    assert second.settings["modem"]["url"] == "socket://127.0.0.1:4001"
    assert "8642" not in admin_client.get(edit_url).text  # a secret is never shown

    action = f"/admin/jobs/{job.id}/channels/{second.id}"
    enabled = admin_client.post(action, data={"action": "enable"}, headers={"HX-Request": "true"})
    assert enabled.status_code == 200 and "Modem Büro" in enabled.text
    admin_client.post(action, data={"action": "up"})
    db.expire_all()
    job = db.get(Job, job.id)
    states = channel_states(job)
    assert [(s.name, s.position, s.enabled) for s in states] == [
        ("Modem Büro", 1, True),
        ("", 2, True),
    ]
    assert states[0].rank == states[1].rank  # the stages stay: still parallel
    page = admin_client.get(f"/admin/jobs/{job.id}/settings").text
    assert "Kanäle" in page and "Modem Büro" in page and "43, !4366" in page


def test_a_channel_without_its_settings_cannot_be_switched_on(admin_client, db, job):
    admin_client.post(f"/admin/jobs/{job.id}/channels/add", data={"variant": "2"})
    db.expire_all()
    channel = db.get(Job, job.id).channels[-1]
    answer = admin_client.post(
        f"/admin/jobs/{job.id}/channels/{channel.id}",
        data={"action": "enable"},
        headers={"HX-Request": "true"},
    )
    assert "Bitte zuerst das Zugangstoken eintragen" in answer.text
    db.expire_all()
    assert db.get(Job, job.id).channels[-1].enabled is False


def test_an_unknown_channel_action_says_which_exist(admin_client, db, job):
    channel = db.get(Job, job.id).channels[0]
    url = f"/admin/jobs/{job.id}/channels/{channel.id}"
    answer = admin_client.post(url, data={"action": "loeschen"}, headers={"HX-Request": "true"})
    assert answer.status_code == 422
    assert "Unbekannte Aktion „loeschen“" in answer.text and "nach oben" in answer.text
    plain = admin_client.post(url, data={"action": ""}, follow_redirects=True)
    assert plain.status_code == 200 and "Unbekannte Aktion" in plain.text


def test_routing_rules():
    assert parse_routes(" +43, 0049 ;!4366") == "43,49,!4366"
    with pytest.raises(InputError):
        parse_routes("AT")
    assert serves("", "+436641234567")
    assert serves("43", "+436641234567") and not serves("43", "+491511234567")
    assert not serves("!43", "+436641234567") and serves("!43", "+491511234567")
    assert not serves("43,!4366", "+436641234567") and serves("43,!4366", "+436991234567")


def test_a_run_sends_through_the_first_channel_switched_on(app, db, job, wien):
    """Channel 1 (websms) switched off: the run sends through channel 2 (the modem simulator);
    nothing reaches websms."""
    from webapp.jobs.channels import new_channel, set_enabled
    from webapp.jobs.settings_tab import SettingsInput, save_settings
    from webapp.simulators.modem import ModemSimulator

    with WebsmsSandbox(token="t0ken") as sandbox, ModemSimulator() as modem:
        send_through_websms(app, db, job, sandbox.url, "t0ken")
        second = new_channel(db, job, "1", "test")
        save_settings(
            db,
            job,
            SettingsInput(variant="1", modem_url=modem.url),
            "test",
            app.config["SMS_SECRET_KEY"],
            channel=second,
        )
        set_enabled(db, job, second, True, "test")
        set_enabled(db, job, job.channels[0], False, "test")
        db.commit()
        message = queue_sms(
            db,
            recipient="0664 1234567",
            text="Hallo",
            mandant_id=wien.id,
            source=MessageSource.MANUAL,
        )
        db.commit()
        totals = _run(app, db, job)
        assert totals.sent == 1
        assert [s.recipient for s in modem.wait_for(1)] == ["+436641234567"]
        assert sandbox.accepted == []
    db.expire_all()
    sent = db.get(Message, message.id)
    assert sent.status is MessageStatus.SENT and sent.channel_id == second.id


def test_a_job_whose_channels_are_all_off_sends_nothing_and_says_so(
    app, db, job, wien, admin_client
):
    from webapp.sms.transports.base import TransportUnavailable

    with WebsmsSandbox(token="t0ken") as sandbox:
        send_through_websms(app, db, job, sandbox.url, "t0ken")
        admin_client.post(
            f"/admin/jobs/{job.id}/channels/{job.channels[0].id}", data={"action": "disable"}
        )
        message = queue_sms(
            db,
            recipient="0664 1234567",
            text="Hallo",
            mandant_id=wien.id,
            source=MessageSource.MANUAL,
        )
        db.commit()
        db.expire_all()
        with pytest.raises(TransportUnavailable, match="Kein Kanal ist eingeschaltet"):
            _run(app, db, db.get(Job, job.id))
        assert sandbox.accepted == []
    db.expire_all()
    assert db.get(Message, message.id).status is MessageStatus.QUEUED
    page = admin_client.get(f"/admin/jobs/{job.id}/settings").text
    assert "über den ersten eingeschalteten Kanal" in page and "die Angaben für alle Kanäle" in page


def _websms_then_modem(app, db, job, websms_url, token, modem_url):
    """Channel 1: websms at `websms_url`; channel 2: the modem at `modem_url`; both on."""
    from webapp.jobs.channels import new_channel, set_enabled
    from webapp.jobs.settings_tab import SettingsInput, save_settings

    send_through_websms(app, db, job, websms_url, token)
    second = new_channel(db, job, "1", "test")
    save_settings(
        db,
        job,
        SettingsInput(variant="1", modem_url=modem_url),
        "test",
        app.config["SMS_SECRET_KEY"],
        channel=second,
    )
    set_enabled(db, job, second, True, "test")
    db.commit()
    return job.channels[0], second


def _queue(db, mandant, count):
    ids = []
    for n in range(count):
        message = queue_sms(
            db,
            recipient=f"0664 123456{n}",
            text=f"Wasser {n}",
            mandant_id=mandant.id,
            source=MessageSource.MANUAL,
        )
        ids.append(message.id)
    db.commit()
    return ids


def _assert_sent_once_over(db, ids, channel, modem):
    delivered = modem.wait_for(len(ids))
    assert sorted(d.recipient for d in delivered) == sorted(
        f"+43664123456{n}" for n in range(len(ids))
    )  # 0 duplicates
    db.expire_all()
    for message_id in ids:
        message = db.get(Message, message_id)
        assert message.status is MessageStatus.SENT and message.channel_id == channel.id


def test_websms_unreachable_the_run_goes_on_over_the_modem(app, db, job, wien):
    """Failover: nothing listens at websms's address → the SMS go out over the modem, once;
    channel 1 is marked failed with a back-off and skipped by the next run."""
    import socket

    from webapp.simulators.modem import ModemSimulator

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with ModemSimulator() as modem:
        first, second = _websms_then_modem(app, db, job, dead_url, "t0ken", modem.url)
        ids = _queue(db, wien, 3)
        totals = _run(app, db, job)
        assert totals.sent == 3 and totals.handed_back == 0
        _assert_sent_once_over(db, ids, second, modem)
        first = db.get(Job, job.id).channels[0]
        assert first.failed_since is not None and first.last_error
        assert first.backoff_until > first.failed_since and first.failures == 1
        tried = db.scalars(select(Attempt).where(Attempt.channel_id == first.id)).all()
        # certainly not sent there: refused at connect (a passing error) or never started
        assert tried and {a.outcome for a in tried} <= {"transient", "untried"}
        states = channel_states(db.get(Job, job.id))
        assert [s.status for s in states] == ["gestört", "in Ordnung"]
        # The next run skips channel 1 while its back-off lasts (no new untried attempt).
        more = _queue(db, wien, 1)
        assert _run(app, db, db.get(Job, job.id)).sent == 1
        assert len(modem.wait_for(4)) == 4
        db.expire_all()
        assert db.get(Message, more[0]).channel_id == second.id
        again = db.scalars(select(Attempt).where(Attempt.channel_id == first.id)).all()
        assert len(again) == len(tried)


def test_websms_refusing_the_token_the_run_goes_on_over_the_modem(app, db, job, wien):
    from webapp.simulators.modem import ModemSimulator

    with WebsmsSandbox(token="t0ken") as sandbox, ModemSimulator() as modem:
        _first, second = _websms_then_modem(app, db, job, sandbox.url, "falsch", modem.url)
        ids = _queue(db, wien, 3)
        assert _run(app, db, job).sent == 3
        _assert_sent_once_over(db, ids, second, modem)
        assert sandbox.accepted == []

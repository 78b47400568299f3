"""Issue 15 point 1: delivery reports of Variante 1 that come after the run that sent the SMS
end on it with a later run — stored on the modem (AT+CNMI <ds> 2) and collected by every run,
also one that has nothing to send. Real TCP to the modem simulator, real database."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from sqlalchemy import select

from webapp.jobs.runlog import RunLog
from webapp.jobs.runner import RunContext
from webapp.jobs.settings_tab import SettingsInput, save_settings
from webapp.models import Job, JobRun, Message, MessageSource, MessageStatus, RunStatus
from webapp.simulators.modem import ModemSimulator
from webapp.simulators.modem_profiles import PROFILES
from webapp.sms.dispatch import run_service_sms
from webapp.sms.outbox import queue_sms

NUMBER = "+436641234567"
# AT+CNMI=? without <ds> 2: reports can only be routed to the line (+CDS)
ROUTING_ONLY = dataclasses.replace(
    PROFILES["simcom"], cnmi_ranges=((0, 1, 2, 3), (0, 1, 2, 3), (0, 2), (0, 1), (0, 1))
)


@pytest.fixture
def job(db):
    return db.scalar(select(Job).where(Job.job_type == "service_sms"))


def _use_modem(app, db, job, modem: ModemSimulator, receive: bool = False) -> None:
    save_settings(
        db,
        job,
        SettingsInput(variant="1", modem_url=modem.url, modem_receive=receive),
        "test",
        app.config["SMS_SECRET_KEY"],
    )
    db.commit()


def _queue(db, mandant, text: str, recipient: str = "0664 1234567") -> int:
    message = queue_sms(
        db, recipient=recipient, text=text, mandant_id=mandant.id, source=MessageSource.MANUAL
    )
    db.commit()
    return message.id


def _run(app, db, job):
    run = JobRun(job_id=job.id, run_key=uuid.uuid4().hex, status=RunStatus.RUNNING)
    db.add(run)
    db.commit()
    return run_service_sms(RunContext(app, db, job, run, RunLog(db, job, run)))


def _status(db, message_id: int) -> MessageStatus:
    db.expire_all()
    return db.get(Message, message_id).status


def _reference(db, message_id: int) -> int:
    db.expire_all()
    return int(db.get(Message, message_id).provider_ref)


def test_report_while_no_run_is_connected_is_kept_and_applied_by_the_next_run(app, db, job, wien):
    """An NPort drops what the modem says while no client is connected: with <ds> 2 the
    report is stored on the modem, and the next run — with nothing to send — applies it."""
    with ModemSimulator() as modem:
        _use_modem(app, db, job, modem)
        first, second = _queue(db, wien, "Eins"), _queue(db, wien, "Zwei", "0664 7654321")
        assert _run(app, db, job).sent == 2
        assert modem.cnmi[3] == 2
        modem.inject_status_report(_reference(db, first), NUMBER, 0x00)  # nobody connected
        modem.inject_status_report(_reference(db, second), "+436647654321", 0x46)
        assert len(modem.stored("SR")) == 2
        totals = _run(app, db, job)
        assert totals.sent == 0
        assert _status(db, first) is MessageStatus.DELIVERED
        assert _status(db, second) is MessageStatus.UNDELIVERED
        assert modem.stored("SR") == {}


def test_a_modem_without_ds_2_loses_a_report_while_no_run_is_connected(app, db, job, wien):
    """What the NPort does with a routed +CDS while nobody listens (why <ds> 2 is chosen)."""
    with ModemSimulator(profile=ROUTING_ONLY) as modem:
        _use_modem(app, db, job, modem)
        first = _queue(db, wien, "Eins")
        assert _run(app, db, job).sent == 1
        assert modem.cnmi[3] == 1
        assert modem.inject_status_report(_reference(db, first), NUMBER, 0x00) is None
        _run(app, db, job)
        assert _status(db, first) is MessageStatus.SENT


def test_reports_in_the_sim_are_applied_and_deleted_with_empfang_off(app, db, job, wien):
    """A modem that keeps reports with the received SMS ("SM"): with Empfang off every run
    applies and deletes the reports — the SIM does not fill — and leaves the SMS there."""
    with ModemSimulator() as modem:
        _use_modem(app, db, job, modem, receive=False)
        ids = [_queue(db, wien, f"SMS {n}") for n in range(3)]
        assert _run(app, db, job).sent == 3
        received = modem.inject_received("+436649999999", "bleibt liegen", notify=False)
        for message_id in ids:
            modem.inject_status_report(_reference(db, message_id), NUMBER, 0x00, stored=True)
        assert len(modem.stored("SM")) == 4
        _run(app, db, job)
        assert [_status(db, i) for i in ids] == [MessageStatus.DELIVERED] * 3
        assert sorted(modem.stored("SM")) == received
        assert modem.cpms[0] == "SM"
        _run(app, db, job)
        assert sorted(modem.stored("SM")) == received


def test_reports_in_the_sim_with_empfang_on(app, db, job, wien):
    """With Empfang on the received SMS is stored and deleted, the report applied and
    deleted — each once."""
    with ModemSimulator() as modem:
        _use_modem(app, db, job, modem, receive=True)
        first = _queue(db, wien, "Eins")
        assert _run(app, db, job).sent == 1
        modem.inject_received("+436649999999", "Antwort", notify=False)
        modem.inject_status_report(_reference(db, first), NUMBER, 0x00, stored=True)
        _run(app, db, job)
        assert _status(db, first) is MessageStatus.DELIVERED
        assert modem.stored("SM") == {}


def test_reports_are_collected_also_when_the_run_stops_on_a_full_memory(app, db, job, wien):
    """+CMS ERROR: 322 (memory full) stops the run; its stored reports are still read and
    deleted — they are what fills the memory (before, a stopped run skipped them)."""
    from webapp.sms.transports.base import TransportUnavailable

    with ModemSimulator() as modem:
        _use_modem(app, db, job, modem)
        first = _queue(db, wien, "Eins")
        assert _run(app, db, job).sent == 1
        modem.inject_status_report(_reference(db, first), NUMBER, 0x00)
        second = _queue(db, wien, "Zwei")
        modem.fail_sends(cms=322)
        with pytest.raises(TransportUnavailable):
            _run(app, db, job)
        assert _status(db, first) is MessageStatus.DELIVERED
        assert _status(db, second) is not MessageStatus.SENT
        assert modem.stored("SR") == {}


def test_report_half_a_second_after_the_last_sms_of_a_run(app, db, job, wien):
    """The case of the issue: 5 SMS in one run at 3–6 s radio latency, each report 0.5 s after
    its +CMGS; the last one comes after the run closed. The next run applies it."""
    with ModemSimulator(latency=(3.0, 6.0), status_reports=True, report_delay=0.5) as modem:
        _use_modem(app, db, job, modem)
        ids = [_queue(db, wien, f"SMS {n}") for n in range(5)]
        assert _run(app, db, job).sent == 5
        modem.wait_stored(1, "SR", timeout=5)  # at least the last one waits on the modem
        _run(app, db, job)
        assert [_status(db, i) for i in ids] == [MessageStatus.DELIVERED] * 5
        assert modem.stored("SR") == {}


def test_report_hours_later_ends_on_its_sms(app, db, job, wien):
    """A phone switched off: the report comes hours later (the SMS's sending time moved back
    5 hours), while no run is connected; the next run applies it, by reference, to it and
    not to a newer SMS to the same number."""
    from datetime import timedelta

    with ModemSimulator(status_reports=True) as modem:
        _use_modem(app, db, job, modem)
        modem.delay_reports(None)  # held: the phone is off
        first = _queue(db, wien, "Heute früh")
        assert _run(app, db, job).sent == 1
        db.expire_all()
        message = db.get(Message, first)
        message.sent_at -= timedelta(hours=5)
        db.commit()
        newer = _queue(db, wien, "Später")
        assert _run(app, db, job).sent == 1
        assert modem.release_reports() == 1  # the phone is on again, no run connected
        _run(app, db, job)
        assert _status(db, first) is MessageStatus.DELIVERED
        assert _status(db, newer) is MessageStatus.DELIVERED  # its own report, at once
        assert modem.stored("SR") == {}


@pytest.mark.parametrize("profile", ["simcom", "routing-only"])
def test_report_due_while_the_run_is_gone(app, db, job, wien, profile):
    """Each report reaches the modem only once the run disconnected: <ds> 2 keeps it for the
    next run; a modem offering only <ds> 1 routes it to a line nobody listens to (lost)."""
    chosen = ROUTING_ONLY if profile == "routing-only" else PROFILES["simcom"]
    with ModemSimulator(profile=chosen, status_reports=True) as modem:
        modem.reports_while_disconnected = True
        _use_modem(app, db, job, modem)
        first = _queue(db, wien, "Eins")
        assert _run(app, db, job).sent == 1
        if profile == "simcom":
            modem.wait_stored(1, "SR")
        else:
            modem.wait_reports_dropped(1)
        _run(app, db, job)
        expected = MessageStatus.DELIVERED if profile == "simcom" else MessageStatus.SENT
        assert _status(db, first) is expected


def test_a_run_meeting_a_starting_sim800_sends(app, db, job, wien):
    """The modem was just switched on (RDY … SMS Ready, SMS commands ERROR meanwhile): the
    run waits for it and sends, it does not fail."""
    with ModemSimulator() as modem:
        _use_modem(app, db, job, modem)
        first = _queue(db, wien, "Eins")
        modem.power_on(scale=0.4)  # SMS Ready after 3.2 s
        assert _run(app, db, job).sent == 1
        assert _status(db, first) is MessageStatus.SENT
        assert modem.messages()[0].text.startswith("Eins")


def test_reports_a_modem_keeps_in_me_arrive_without_their_cdsi(app, db, job, wien):
    """A modem that stores reports in its own memory ("ME", no "SR"): a report stored while no
    run was connected (its +CDSI unheard) is found by the next run in "ME" and deleted there;
    the received SMS in "SM" stay (Empfang off)."""
    memories = (("SM", "ME"), ("SM", "ME"), ("SM", "ME"))
    profile = dataclasses.replace(PROFILES["simcom"], memories=memories, report_memory="ME")
    with ModemSimulator(profile=profile) as modem:
        _use_modem(app, db, job, modem, receive=False)
        first = _queue(db, wien, "Eins")
        assert _run(app, db, job).sent == 1
        received = modem.inject_received("+436649999999", "bleibt", notify=False)
        modem.inject_status_report(_reference(db, first), NUMBER, 0x00)  # nobody connected
        assert len(modem.stored("ME")) == 1
        _run(app, db, job)
        assert _status(db, first) is MessageStatus.DELIVERED
        assert modem.stored("ME") == {}
        assert sorted(modem.stored("SM")) == received and modem.cpms[0] == "SM"


def test_a_modem_channel_no_sms_used_is_still_collected(app, db, job, wien):
    """Channel 1 websms, channel 2 the modem: a run that sends nothing (or only over websms)
    opens the modem anyway to read its stored reports — they would wait there (and fill "SR")
    until an SMS happened to go through it."""
    import socket

    from sqlalchemy import update

    from tests.service_job import send_through_websms
    from webapp.jobs.channels import new_channel, set_enabled
    from webapp.models import Channel

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with ModemSimulator() as modem:
        send_through_websms(app, db, job, dead_url, "t0ken")
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
        db.commit()
        first = _queue(db, wien, "Eins")
        assert _run(app, db, job).sent == 1  # websms unreachable: over the modem
        modem.inject_status_report(_reference(db, first), NUMBER, 0x00)  # nobody connected
        db.execute(update(Channel).values(backoff_until=None, failed_since=None, failures=0))
        db.commit()
        connections = modem.connections
        assert _run(app, db, db.get(Job, job.id)).sent == 0  # both lanes, nothing to send
        assert modem.connections == connections + 1
        assert _status(db, first) is MessageStatus.DELIVERED
        assert modem.stored("SR") == {}


def test_a_routing_only_modem_waits_for_the_last_report_before_closing(app, db, job, wien):
    """<ds> 1 only: the run waits a moment (report_grace) for the reports of what it sent, so
    a report 0.5 s after the last SMS still reaches the run instead of a closed NPort."""
    with ModemSimulator(
        profile=ROUTING_ONLY, status_reports=True, latency=0.3, report_delay=0.5
    ) as modem:
        _use_modem(app, db, job, modem)
        ids = [_queue(db, wien, f"SMS {n}") for n in range(3)]
        assert _run(app, db, job).sent == 3
        assert [_status(db, i) for i in ids] == [MessageStatus.DELIVERED] * 3
        assert modem.reports_dropped == 0

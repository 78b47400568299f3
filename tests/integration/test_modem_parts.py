"""Status reports of the modem per part of an SMS (issue 15 point 3) and an Unklar SMS cleared
by its report (point 5): the fold of the parts, the simulator's per-part outcomes, the detail."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import login_as
from webapp.jobs.runlog import RunLog
from webapp.jobs.runner import RunContext
from webapp.jobs.settings_tab import SettingsInput, save_settings
from webapp.models import (
    Attempt,
    Job,
    JobLogEntry,
    JobRun,
    Message,
    MessagePart,
    MessageSource,
    MessageStatus,
    PartStatus,
    RunStatus,
    UnclearDecision,
)
from webapp.simulators.modem import ModemSimulator
from webapp.sms.dispatch import run_service_sms
from webapp.sms.modem_reports import apply_status_reports
from webapp.sms.outbox import queue_sms
from webapp.sms.transports.modem import ModemSettings, ModemTransport, StatusReport

NUMBER = "+436641234567"
LONG = "Sehr geehrte Damen und Herren, " * 8  # 248 GSM characters: two parts


@pytest.fixture
def job(db):
    return db.scalar(select(Job).where(Job.job_type == "service_sms"))


def _sms(db, mandant, text=LONG, recipient="0664 1234567"):
    message = queue_sms(
        db, recipient=recipient, text=text, mandant_id=mandant.id, source=MessageSource.MANUAL
    )
    db.commit()
    return message


def _sent(db, mandant, refs="12,13", segments=2, **values):
    message = _sms(db, mandant)
    message.status = values.pop("status", MessageStatus.SENT)
    message.provider_ref = refs
    message.segments = segments
    now = datetime.now(UTC)
    message.sent_at = values.pop("sent_at", now)
    message.attempt_started_at = now - timedelta(seconds=5)
    for key, value in values.items():
        setattr(message, key, value)
    db.commit()
    return message


def _report(ref, status, recipient=NUMBER, sc_timestamp=None):
    now = datetime.now(UTC).replace(microsecond=0)
    return StatusReport(
        message_reference=ref,
        recipient=recipient,
        status=status,
        delivered=status <= 0x02,
        final=not 0x20 <= status <= 0x3F,
        sc_timestamp=sc_timestamp or now,
        discharge_time=now,
    )


def _apply(db, job, *reports):
    return apply_status_reports(db, job, list(reports), RunLog(db, job, None))


def _reload(db, message):
    db.expire_all()
    return db.get(Message, message.id)


def _parts(db, message):
    db.expire_all()
    return db.scalars(
        select(MessagePart).where(MessagePart.message_id == message.id).order_by(MessagePart.part)
    ).all()


# --- the fold -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reports", "status", "report_status"),
    [
        ([(12, 0x00), (13, 0x45)], MessageStatus.UNDELIVERED, "undelivered"),
        ([(12, 0x00), (13, 0x30)], MessageStatus.SENT, "pending"),
        ([(12, 0x00)], MessageStatus.SENT, "pending"),
        ([(13, 0x00), (12, 0x00)], MessageStatus.DELIVERED, "delivered"),
        ([(12, 0x30), (13, 0x00), (12, 0x00)], MessageStatus.DELIVERED, "delivered"),
        ([(13, 0x45), (12, 0x00)], MessageStatus.UNDELIVERED, "undelivered"),
        ([(12, 0x46), (12, 0x00), (13, 0x00)], MessageStatus.UNDELIVERED, "undelivered"),
    ],
    ids=[
        "second-fails",
        "second-pending",
        "second-silent",
        "any-order-delivered",
        "pending-then-delivered",
        "failure-first",
        "delivered-never-overrides-failure",
    ],
)
def test_a_multipart_sms_is_the_fold_of_its_parts(db, job, wien, reports, status, report_status):
    message = _sent(db, wien)
    for ref, tp_status in reports:  # one run each: the order they arrive in
        assert _apply(db, job, _report(ref, tp_status)) == 1
    message = _reload(db, message)
    assert message.status is status
    assert message.report_status == report_status
    assert [p.message_reference for p in _parts(db, message)] == [12, 13]


def test_a_failure_after_another_part_was_delivered_counts(db, job, wien):
    message = _sent(db, wien, "40,41,42", 3)
    _apply(db, job, _report(40, 0x00), _report(41, 0x00))
    assert _reload(db, message).status is MessageStatus.SENT
    _apply(db, job, _report(42, 0x45))
    message = _reload(db, message)
    assert message.status is MessageStatus.UNDELIVERED
    assert message.reason == (
        "Laut Zustellbericht nicht zugestellt (Teil 3 von 3): "
        "kein Übergang in das Netz des Empfängers."
    )
    assert message.error_code == "TP-ST 0x45" and message.delivered_at is None
    parts = _parts(db, message)
    assert [p.status for p in parts] == [PartStatus.DELIVERED] * 2 + [PartStatus.FAILED]
    assert [p.tp_status for p in parts] == [0x00, 0x00, 0x45]
    assert all(p.status_at is not None and p.reported_at is not None for p in parts)


def test_a_part_keeps_its_first_final_report(db, job, wien):
    message = _sent(db, wien, "7", 1)
    _apply(db, job, _report(7, 0x00))
    message = _reload(db, message)
    assert message.status is MessageStatus.DELIVERED and message.reason is None
    _apply(db, job, _report(7, 0x46))  # the same reference again: an old report, read twice
    assert _reload(db, message).status is MessageStatus.DELIVERED


def test_a_duplicate_part_keeps_its_place(db, job, wien):
    """A part the centre took as a duplicate has no reference: the others keep their numbers,
    and the SMS is never "Zugestellt" on the word of the parts that have one."""
    message = _sent(db, wien, "20,,22", 3)
    _apply(db, job, _report(22, 0x00), _report(20, 0x00))
    parts = _parts(db, message)
    assert [(p.part, p.message_reference, p.status) for p in parts] == [
        (1, 20, PartStatus.DELIVERED),
        (2, None, None),
        (3, 22, PartStatus.DELIVERED),
    ]
    assert _reload(db, message).status is MessageStatus.SENT


# --- the simulator's per-part outcomes, end to end ----------------------------------------------


def _run(app, db, job, transport=None):
    run = JobRun(job_id=job.id, run_key=uuid.uuid4().hex, status=RunStatus.RUNNING)
    db.add(run)
    db.commit()
    ctx = RunContext(app, db, job, run, RunLog(db, job, run))
    return run_service_sms(ctx, transport=transport)


def _modem_job(app, db, job, modem):
    save_settings(
        db,
        job,
        SettingsInput(variant="1", modem_url=modem.url, modem_receive=False),
        "test",
        app.config["SMS_SECRET_KEY"],
    )
    db.commit()


def _until_reported(app, db, job, message, count):
    """Runs until `count` parts of `message` have a report (the first run collects what came
    while it was connected, a later one what the modem kept)."""
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while sum(1 for p in _parts(db, message) if p.status is not None) < count:
        assert datetime.now(UTC) < deadline, "the reports were not applied"
        _run(app, db, job)


@pytest.mark.parametrize(
    ("plan", "status"),
    [
        ((0x00, 0x45), MessageStatus.UNDELIVERED),
        ((0x00, 0x30), MessageStatus.SENT),
        ((0x00, 0x00), MessageStatus.DELIVERED),
    ],
    ids=["first-delivered-second-fails", "one-pending", "all-delivered"],
)
def test_per_part_outcomes_of_the_simulator(app, db, job, wien, client, make_user, plan, status):
    with ModemSimulator(status_reports=True) as modem:
        _modem_job(app, db, job, modem)
        modem.plan_reports(NUMBER, *plan)
        message = _sms(db, wien)
        assert _run(app, db, job).sent == 1
        sent = modem.wait_for(1)[0]
        assert sent.parts == 2
        _until_reported(app, db, job, message, 2)
    message = _reload(db, message)
    assert message.status is status
    parts = _parts(db, message)
    assert [p.message_reference for p in parts] == list(sent.message_references)
    assert [p.tp_status for p in parts] == list(plan)
    login_as(client, make_user("admin-parts", admin=True))
    page = client.get(f"/admin/sms/{message.id}").get_data(as_text=True)
    assert 'data-part="1" data-state="delivered"' in page
    state = {0x45: "failed", 0x30: "pending", 0x00: "delivered"}[plan[1]]
    assert f'data-part="2" data-state="{state}"' in page
    assert f"TP-Status 0x{plan[1]:02X}" in page


def test_reports_in_any_order_end_on_their_parts(app, db, job, wien):
    with ModemSimulator(status_reports=True) as modem:
        _modem_job(app, db, job, modem)
        modem.plan_reports(NUMBER, None, None, None)  # no reports now: injected below
        message = _sms(db, wien, "Sehr geehrte Damen und Herren, " * 13)  # three parts
        assert _run(app, db, job).sent == 1
        refs = modem.wait_for(1)[0].message_references
        assert len(refs) == 3
        for ref in (refs[2], refs[0]):
            modem.inject_status_report(ref, NUMBER, 0x00, stored=True, memory="SR")
        _run(app, db, job)
        assert _reload(db, message).status is MessageStatus.SENT
        modem.inject_status_report(refs[1], NUMBER, 0x00, stored=True, memory="SR")
        _run(app, db, job)
        assert modem.stored("SR") == {}
    message = _reload(db, message)
    assert message.status is MessageStatus.DELIVERED
    assert [p.message_reference for p in _parts(db, message)] == list(refs)


# --- point 5: an Unklar SMS cleared by its report ------------------------------------------------


def _unclear(db, mandant, **values):
    message = _sent(db, mandant, None, 1, status=MessageStatus.UNKNOWN, sent_at=None, **values)
    message.text = "Kurz"
    db.commit()
    return message


def test_an_unclear_sms_takes_the_report_of_its_recipient_and_time(db, job, wien):
    message = _unclear(db, wien, reason="keine Antwort auf AT+CMGS", error_code="timeout")
    assert _apply(db, job, _report(99, 0x00)) == 1
    message = _reload(db, message)
    assert message.status is MessageStatus.DELIVERED
    assert message.provider_ref == "99" and message.sent_at == message.attempt_started_at
    assert message.reason is None and message.error_code is None
    (part,) = _parts(db, message)
    assert part.matched_by_time and part.message_reference == 99


def test_a_pending_report_proves_an_unclear_sms_was_sent(db, job, wien):
    message = _unclear(db, wien)
    _apply(db, job, _report(98, 0x30))
    assert _reload(db, message).status is MessageStatus.SENT
    _apply(db, job, _report(98, 0x46))  # now matched by its reference
    message = _reload(db, message)
    assert message.status is MessageStatus.UNDELIVERED
    assert message.reason == "Laut Zustellbericht nicht zugestellt: Gültigkeitsdauer abgelaufen."


def test_a_confirmed_unclear_sms_takes_its_report_too(db, job, wien):
    message = _unclear(db, wien)
    message.status = MessageStatus.SENT
    message.decision = UnclearDecision.CONFIRMED_SENT
    db.commit()
    _apply(db, job, _report(97, 0x00))
    assert _reload(db, message).status is MessageStatus.DELIVERED


@pytest.mark.parametrize(
    "case", ["two-candidates", "too-early", "too-late", "other-recipient", "no-time-stamp"]
)
def test_an_unclear_sms_takes_a_report_only_when_it_is_the_one(db, job, wien, case):
    message = _unclear(db, wien)
    moment = datetime.now(UTC).replace(microsecond=0)
    report = _report(96, 0x00)
    if case == "two-candidates":
        _unclear(db, wien)
    elif case == "too-early":
        report = _report(96, 0x00, sc_timestamp=moment - timedelta(minutes=10))
    elif case == "too-late":
        report = _report(96, 0x00, sc_timestamp=moment + timedelta(hours=1))
    elif case == "other-recipient":
        report = _report(96, 0x00, recipient="+436647654321")
    else:
        report = StatusReport(96, NUMBER, 0x00, True, True, None, moment)
    assert _apply(db, job, report) == 0
    assert _reload(db, message).status is MessageStatus.UNKNOWN
    logged = db.scalars(select(JobLogEntry.message).where(JobLogEntry.job_id == job.id)).all()
    assert any("Referenz 96" in text for text in logged)
    if case == "two-candidates":
        assert any("2 unklare SMS" in text for text in logged)


@pytest.mark.parametrize("later", [False, True], ids=["same-run", "next-run"])
def test_an_sms_unclear_after_a_late_cmgs_is_cleared_by_its_report(
    app, db, job, wien, client, make_user, later
):
    """End to end: the simulator answers +CMGS after 3 s, the transport waits 1 s: the SMS
    is Unklar without a reference. Its report, kept in "SR" by the modem (<ds> 2), clears it:
    read by the same run (it collects after the late answer), or — a report that comes hours
    later — by the next run. The detail says so."""
    with ModemSimulator(status_reports=True, latency=3.0) as modem:
        _modem_job(app, db, job, modem)
        if later:
            modem.plan_reports(NUMBER, None)  # no report now: it comes after the run
        message = _sms(db, wien, "Kurz")
        transport = ModemTransport(
            ModemSettings(url=modem.url, cmgs_timeout=1.0, command_timeout=5.0)
        )
        assert _run(app, db, job, transport).unknown == 1
        ref = modem.wait_for(1, timeout=10)[0].message_references[0]
        if later:
            unclear = _reload(db, message)
            assert unclear.status is MessageStatus.UNKNOWN and unclear.provider_ref is None
            modem.inject_status_report(ref, NUMBER, 0x00)  # stored in "SR", announced
            modem.latency = 0.0
            _run(app, db, job)
        assert modem.stored("SR") == {}
    message = _reload(db, message)
    assert message.status is MessageStatus.DELIVERED
    assert message.provider_ref == str(ref)
    attempt = db.scalars(select(Attempt).where(Attempt.message_id == message.id)).one()
    assert attempt.outcome == "unknown"
    login_as(client, make_user("admin-unklar", admin=True))
    page = client.get(f"/admin/sms/{message.id}").get_data(as_text=True)
    assert "durch Zustellbericht geklärt" in page
    assert "zugeordnet nach Empfänger und Zeit" in page


def test_a_multipart_sms_unclear_after_its_first_part_keeps_that_reference(app, db, job, wien):
    """Part 2's +CMGS never comes: the SMS is Unklar with part 1's reference. Part 1's report
    finds it by that reference, part 2's by recipient and time; both delivered: Zugestellt."""
    with ModemSimulator(status_reports=True) as modem:
        _modem_job(app, db, job, modem)
        modem.plan_reports(NUMBER, None)  # part 1: no report now
        modem.no_answer_after_ctrl_z(1, sent=True, after=1)  # part 2 leaves, +CMGS never
        message = _sms(db, wien)
        transport = ModemTransport(
            ModemSettings(url=modem.url, cmgs_timeout=1.0, command_timeout=2.0)
        )
        assert _run(app, db, job, transport).unknown == 1
        first, second = (p.message_reference for p in modem.parts)
        unclear = _reload(db, message)
        assert unclear.status is MessageStatus.UNKNOWN
        assert unclear.provider_ref == str(first)
        modem.inject_status_report(second, NUMBER, 0x00)  # stored in "SR" (<ds> 2)
        modem.inject_status_report(first, NUMBER, 0x00)
        _run(app, db, job)
    message = _reload(db, message)
    assert message.status is MessageStatus.DELIVERED
    parts = _parts(db, message)
    assert [(p.message_reference, p.matched_by_time) for p in parts] == [
        (first, False),
        (second, True),
    ]
    assert message.provider_ref == f"{first},{second}"


def test_a_wrapped_reference_of_an_older_settled_sms_does_not_hide_an_unclear_one(db, job, wien):
    """TP-MR wraps at 256: an SMS of two days ago to the same number, delivered long since,
    carries the reference the modem gave the Unklar SMS now; the report is the new one's."""
    old = _sent(db, wien, "50", 1, sent_at=datetime.now(UTC) - timedelta(days=2))
    _apply(db, job, _report(50, 0x00, sc_timestamp=datetime.now(UTC) - timedelta(days=2)))
    assert _reload(db, old).status is MessageStatus.DELIVERED
    unclear = _unclear(db, wien)
    _apply(db, job, _report(50, 0x46))
    assert _reload(db, unclear).status is MessageStatus.UNDELIVERED
    assert _reload(db, old).status is MessageStatus.DELIVERED
    _apply(db, job, _report(50, 0x00))  # the old one's report, read again: changes nothing
    assert _reload(db, old).status is MessageStatus.DELIVERED

"""Channels in the run (issue 14 points 2–4): failover mid-run, pooled modems, routing.

Real TCP to the modem simulators and real HTTP to the websms sandbox; what each of them
recorded is the proof that nothing went out twice.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import select

from tests.service_job import send_through_websms
from tests.workers import start_worker
from webapp.jobs.channels import ChannelInput, new_channel, save_channel_fields, set_enabled
from webapp.jobs.queues import redis_connection
from webapp.jobs.runlog import RunLog
from webapp.jobs.runner import RunContext
from webapp.jobs.settings_tab import SettingsInput, save_settings
from webapp.models import Attempt, Job, JobRun, Message, MessageSource, MessageStatus, RunStatus
from webapp.simulators.modem import ModemSimulator
from webapp.simulators.websms import Fault, WebsmsSandbox
from webapp.sms.dispatch import run_service_sms
from webapp.sms.outbox import queue_sms

TOKEN = "t0ken"


@pytest.fixture
def job(db):
    return db.scalar(select(Job).where(Job.job_type == "service_sms"))


def _run(app, db, job):
    run = JobRun(job_id=job.id, run_key=uuid.uuid4().hex, status=RunStatus.RUNNING)
    db.add(run)
    db.commit()
    return run_service_sms(RunContext(app, db, job, run, RunLog(db, job, run)))


def _modem(app, db, job, url, channel=None, parallel=False, routes=""):
    """Channel `channel` (a new one when None) as the modem at `url`, switched on."""
    if channel is None:
        channel = new_channel(db, job, "1", "test")
    save_settings(
        db,
        job,
        SettingsInput(variant="1", modem_url=url),
        "test",
        app.config["SMS_SECRET_KEY"],
        channel=channel,
    )
    save_channel_fields(db, job, channel, ChannelInput(parallel=parallel, routes=routes), "test")
    set_enabled(db, job, channel, True, "test")
    job.active = True
    db.commit()
    return channel


def _queue(db, mandant, numbers):
    ids = [
        queue_sms(
            db, recipient=n, text=f"Wasser {k}", mandant_id=mandant.id, source=MessageSource.MANUAL
        ).id
        for k, n in enumerate(numbers)
    ]
    db.commit()
    return ids


def _austrian(count):
    return [f"+43664{n:07d}" for n in range(1, count + 1)]


def _environment(app):
    """What a worker process needs to run the job against the test's database and Redis."""
    return {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "SECRET_KEY": "test",
        "SMS_SECRET_KEY": app.config["SMS_SECRET_KEY"],
        "INSTANCE_PATH": app.config["INSTANCE_PATH"],
        "SMS_DISPATCH_BATCH": "10",
        "JOB_LOCK_SECONDS": "30",
    }


def _clear_locks(app):
    connection = redis_connection(app)
    for key in connection.scan_iter("sms:job-lock:*"):
        connection.delete(key)


def _plus(number):
    """The sandbox records numbers as websms gets them (without "+")."""
    return "+" + number.removeprefix("+")


def _statuses(db, ids):
    db.expire_all()
    return {i: db.get(Message, i) for i in ids}


def _when(condition, then, timeout=30.0):
    """Run `then` in a thread as soon as `condition()` holds (polled)."""

    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                then()
                return
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_websms_killed_mid_run_the_rest_goes_out_over_the_modem_once(app, db, job, wien):
    """Channel 1 websms, channel 2 the modem, the run in a worker process: the sandbox is
    stopped after 10 SMS; the rest go out over the modem, nothing twice; the SMS whose answer
    was lost stay Unklar and never reach the modem."""
    count = 40
    with (
        WebsmsSandbox(token=TOKEN, latency=0.05) as sandbox,
        ModemSimulator() as modem,
    ):
        send_through_websms(app, db, job, sandbox.url, TOKEN)
        websms_channel = job.channels[0]
        modem_channel = _modem(app, db, job, modem.url)
        ids = _queue(db, wien, _austrian(count))
        _clear_locks(app)
        killer = _when(lambda: len(sandbox.accepted) >= 10, sandbox.stop)
        worker = start_worker(_environment(app), job.id)  # the run in a process of its own
        worker.join(timeout=120)
        killer.join()
        assert worker.exitcode == 0
        by_websms = Counter(_plus(a.recipient) for a in sandbox.accepted)
        by_modem = Counter(m.recipient for m in modem.messages())
    messages = _statuses(db, ids)
    assert max(by_websms.values()) == 1 and max(by_modem.values()) == 1
    assert not set(by_websms) & set(by_modem)  # 0 duplicates across the channels
    sent = [m for m in messages.values() if m.status is MessageStatus.SENT]
    unknown = [m for m in messages.values() if m.status is MessageStatus.UNKNOWN]
    assert len(sent) + len(unknown) == count
    for message in sent:
        carrier = by_websms if message.channel_id == websms_channel.id else by_modem
        assert message.recipient in carrier
    assert len(unknown) <= 8  # at most websms's window was in flight when it went away
    for message in unknown:  # never sent again anywhere else
        assert message.recipient not in by_modem and message.channel_id == websms_channel.id
    assert {m.channel_id for m in sent} == {websms_channel.id, modem_channel.id}
    db.expire_all()
    first = db.get(Job, job.id).channels[0]
    assert first.failed_since is not None and first.failures == 1


def test_a_flapping_modem_among_three_pooled_ones(app, db, job, wien):
    """Three modems of equal rank send at once; one goes away twice and comes back: the others
    go on, nothing is sent twice, every SMS ends sent (or Unklar when its answer was lost)."""
    count = 45
    with (
        ModemSimulator(latency=0.05) as one,
        ModemSimulator(latency=0.05) as two,
        ModemSimulator(latency=0.05) as three,
    ):
        _modem(app, db, job, one.url, channel=job.channels[0])
        _modem(app, db, job, two.url, parallel=True)
        _modem(app, db, job, three.url, parallel=True)
        assert len({c.rank for c in job.channels}) == 1
        ids = _queue(db, wien, _austrian(count))

        def flap():
            for _ in range(2):
                two.stop()
                time.sleep(0.3)
                two.start()
                time.sleep(0.3)

        flapper = _when(lambda: len(two.messages()) >= 2, flap)
        totals = _run(app, db, job)
        flapper.join()
        carried = [Counter(m.recipient for m in sim.messages()) for sim in (one, two, three)]
    everywhere = Counter()
    for counter in carried:
        everywhere.update(counter)
    assert max(everywhere.values()) == 1  # nothing twice
    messages = _statuses(db, ids)
    sent = {m.recipient for m in messages.values() if m.status is MessageStatus.SENT}
    assert totals.sent == len(sent) and sent <= set(everywhere)
    others = [m for m in messages.values() if m.status is not MessageStatus.SENT]
    assert all(m.status in (MessageStatus.UNKNOWN, MessageStatus.QUEUED) for m in others)
    assert len(sent) >= count - 3
    assert all(sum(c.values()) >= 5 for c in (carried[0], carried[2]))  # the pool went on


def test_routing_foreign_numbers_only_via_websms_unserved_fail(app, db, job, wien):
    """Channel 1 websms serves German numbers only, channel 2 the modem Austrian ones but
    0699: each SMS goes through the channel serving it; a 0699 number fails before any
    attempt with the reason."""
    with WebsmsSandbox(token=TOKEN) as sandbox, ModemSimulator() as modem:
        send_through_websms(app, db, job, sandbox.url, TOKEN)
        websms_channel = job.channels[0]
        save_channel_fields(db, job, websms_channel, ChannelInput(routes="+49"), "test")
        modem_channel = _modem(app, db, job, modem.url, routes="+43, !+43699")
        austrian, german, unserved = _queue(
            db, wien, ["+436641234567", "+4915112345678", "+436991234567"]
        )
        totals = _run(app, db, job)
        assert [_plus(a.recipient) for a in sandbox.accepted] == ["+4915112345678"]
        assert [m.recipient for m in modem.messages()] == ["+436641234567"]
    messages = _statuses(db, [austrian, german, unserved])
    assert totals.sent == 2 and totals.failed == 1
    assert messages[austrian].channel_id == modem_channel.id
    assert messages[german].channel_id == websms_channel.id
    refused = messages[unserved]
    assert refused.status is MessageStatus.FAILED
    assert refused.reason.startswith("Kein Kanal darf an diese Nummer senden")
    assert not db.scalars(select(Attempt).where(Attempt.message_id == unserved)).all()


def test_a_passing_error_three_times_in_a_row_moves_the_sms_to_the_next_channel(app, db, job, wien):
    """websms answers one number with a passing error: after SMS_CHANNEL_TRANSIENTS (3) of
    them in a row the SMS goes out over the modem; the other SMS stay on websms."""
    app.config["SMS_CHANNEL_TRANSIENTS"] = 3
    with WebsmsSandbox(token=TOKEN) as sandbox, ModemSimulator() as modem:
        send_through_websms(app, db, job, sandbox.url, TOKEN)
        websms_channel = job.channels[0]
        modem_channel = _modem(app, db, job, modem.url)
        sandbox.add_rule("+436641111111", Fault.status(5000))
        stubborn, fine = _queue(db, wien, ["+436641111111", "+436642222222"])
        for _ in range(3):
            db.execute(
                Message.__table__.update()
                .where(Message.id == stubborn)
                .values(next_attempt_at=None)
            )
            db.commit()
            _run(app, db, db.get(Job, job.id))
            if modem.messages():
                break
        assert [m.recipient for m in modem.messages()] == ["+436641111111"]
        assert [_plus(a.recipient) for a in sandbox.accepted] == ["+436642222222"]
    messages = _statuses(db, [stubborn, fine])
    assert messages[stubborn].status is MessageStatus.SENT
    assert messages[stubborn].channel_id == modem_channel.id
    assert messages[fine].channel_id == websms_channel.id
    attempts = db.scalars(select(Attempt).where(Attempt.message_id == stubborn)).all()
    assert [(a.channel_id, a.outcome) for a in attempts] == [
        (websms_channel.id, "transient"),
        (websms_channel.id, "transient"),
        (websms_channel.id, "transient"),
        (modem_channel.id, "accepted"),
    ]


def test_a_run_with_nothing_to_send_reads_every_modem_channel(app, db, job):
    """Two modem channels with "receive" on, nothing queued: the run opens both lanes and
    collects what each modem received (a lane is otherwise opened only for its first SMS)."""
    from webapp.models import ReceivedMessage

    with ModemSimulator() as one, ModemSimulator() as two:
        first = _modem(app, db, job, one.url, channel=job.channels[0])
        second = _modem(app, db, job, two.url)
        for channel, url in ((first, one.url), (second, two.url)):
            save_settings(
                db,
                job,
                SettingsInput(variant="1", modem_url=url, modem_receive=True),
                "test",
                app.config["SMS_SECRET_KEY"],
                channel=channel,
            )
        db.commit()
        one.inject_received("+436641112233", "Antwort eins")
        two.inject_received("+436644445566", "Antwort zwei")
        _run(app, db, job)
        received = db.scalars(select(ReceivedMessage).order_by(ReceivedMessage.text)).all()
        assert [(r.sender, r.text) for r in received] == [
            ("+436641112233", "Antwort eins"),
            ("+436644445566", "Antwort zwei"),
        ]


def test_killed_workers_of_a_pooled_run_leave_at_most_each_lanes_sms_unclear(app, db, job, wien):
    """Three pooled modems at 0.1 s per SMS; the run's worker process is SIGKILLed five times
    mid-run: each kill leaves at most one SMS per lane unclear, the next run sends the rest,
    and no SMS reaches two modems (or one twice)."""
    from webapp.jobs.runner import execute_job

    environment = _environment(app)
    count = 90
    sims = [ModemSimulator(latency=0.1) for _ in range(3)]
    for sim in sims:
        sim.start()
    try:
        _modem(app, db, job, sims[0].url, channel=job.channels[0])
        for sim in sims[1:]:
            _modem(app, db, job, sim.url, parallel=True)
        ids = _queue(db, wien, _austrian(count))
        _clear_locks(app)

        def delivered():
            return sum(len(sim.messages()) for sim in sims)

        kills = 0
        for _kill in range(5):
            target = delivered() + 6
            worker = start_worker(environment, job.id)
            deadline = time.monotonic() + 30
            while delivered() < target and worker.is_alive() and time.monotonic() < deadline:
                time.sleep(0.005)
            worker.kill()
            worker.join(timeout=10)
            kills += 1
            db.expire_all()
            in_flight = db.scalars(
                select(Message).where(
                    Message.status == MessageStatus.SENDING,
                    Message.attempt_started_at.is_not(None),
                )
            ).all()
            assert len(in_flight) <= 3, "more than one SMS per lane in flight"
        for sim in sims:
            sim.latency = 0.0
        execute_job(app, job.id)
        carried = Counter()
        for sim in sims:
            carried.update(m.recipient for m in sim.messages())
    finally:
        for sim in sims:
            sim.stop()
    assert kills == 5
    assert max(carried.values()) == 1, "an SMS reached the modems twice"
    messages = _statuses(db, ids)
    sent = [m for m in messages.values() if m.status is MessageStatus.SENT]
    others = [m for m in messages.values() if m.status is not MessageStatus.SENT]
    assert all(m.status is MessageStatus.UNKNOWN for m in others)
    assert len(others) <= 3 * kills and all(m.recipient in carried for m in sent)
    assert len({m.channel_id for m in sent}) == 3  # all three lanes carried SMS

"""Fair share in the claim (issue 14 point 5): the Mandanten take turns and dialog SMS go
before the API's bulk, so one Mandant's 5,000 never hold back another Mandant's single SMS.

The run is the real one (execute_job in a thread, its own session) against the websms
sandbox over HTTP, as in test_dispatch_per_sms.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.integration.test_dispatch_per_sms import TOKEN, RunInThread, _until
from tests.service_job import send_through_websms
from webapp import accounts
from webapp.jobs import stopping
from webapp.jobs.queues import redis_connection
from webapp.jobs.runner import lock_key, rq_job_id
from webapp.models import Job, Message, MessageSource, MessageStatus
from webapp.models.base import utcnow
from webapp.models.sms import PRIORITY_BULK, PRIORITY_DIALOG
from webapp.simulators.websms import WebsmsSandbox
from webapp.sms.leases import claim, hand_back
from webapp.sms.outbox import QueueItem, queue_many, queue_sms


@pytest.fixture(autouse=True)
def _fresh_stop_flag():
    stopping.reset()
    yield
    stopping.reset()


@pytest.fixture
def mandanten(db):
    found = [accounts.save_mandant(db, name) for name in ("HV Wien", "HV Graz", "HV Linz")]
    db.commit()
    return found


def _api(db, mandant, count: int) -> list[int]:
    messages = queue_many(
        db,
        [QueueItem(f"0664 {1000000 + i}", f"Wasser wird abgedreht {i}") for i in range(count)],
        mandant_id=mandant.id,
        source=MessageSource.API,
        created_by_module="api:erp",
    )
    db.commit()
    return [m.id for m in messages]


def _dialog(db, mandant, source: MessageSource = MessageSource.MANUAL) -> int:
    message = queue_sms(
        db,
        recipient="0676 5550001",
        text="Bitte rufen Sie zurück",
        mandant_id=mandant.id,
        source=source,
    )
    db.commit()
    return message.id


def test_priority_follows_the_source(db, mandanten):
    wien = mandanten[0]
    bulk = _api(db, wien, 2)
    dialog = [_dialog(db, wien, source) for source in (MessageSource.MANUAL, MessageSource.QUICK)]
    db.expire_all()
    assert {db.get(Message, i).priority for i in bulk} == {PRIORITY_BULK}
    assert {db.get(Message, i).priority for i in dialog} == {PRIORITY_DIALOG}


def test_the_claim_shares_between_mandanten_dialog_first(db, mandanten):
    wien, graz, linz = mandanten
    wien_bulk = _api(db, wien, 300)
    linz_bulk = _api(db, linz, 10)
    wien_dialog = _dialog(db, wien)
    graz_dialog = _dialog(db, graz)
    claimed = [c.id for c in claim(db, [], "run-a", utcnow(), 12)]
    # each of the three Mandanten may fill ceil(12 / 3) = 4; Graz needs one
    assert claimed == [
        wien_dialog,
        graz_dialog,
        wien_bulk[0],
        linz_bulk[0],
        wien_bulk[1],
        linz_bulk[1],
        wien_bulk[2],
        linz_bulk[2],
        linz_bulk[3],
    ]
    # the next claim goes on where each Mandant stands
    assert [c.id for c in claim(db, [], "run-a", utcnow(), 4)] == [
        wien_bulk[3],
        linz_bulk[4],
        wien_bulk[4],
        linz_bulk[5],
    ]
    # a job of one Mandant claims only its SMS
    assert {c.id for c in claim(db, [linz.id], "run-b", utcnow(), 100)} == set(linz_bulk[6:])


def test_the_claim_leaves_what_waits_for_a_retry_or_is_too_old(db, mandanten):
    wien, graz, _linz = mandanten
    later, old, fine = _api(db, wien, 3)
    now = utcnow()
    db.execute(
        update(Message)
        .where(Message.id == later)
        .values(next_attempt_at=now + timedelta(minutes=5))
    )
    db.execute(update(Message).where(Message.id == old).values(created_at=now - timedelta(days=8)))
    db.commit()
    graz_only = _dialog(db, graz)
    claimed = claim(db, [], "run-a", now, 10)
    assert [c.id for c in claimed] == [graz_only, fine]
    hand_back(db, "run-a", [c.id for c in claimed], now)
    db.expire_all()
    assert db.get(Message, old).status is MessageStatus.QUEUED  # the next run expires it


@pytest.fixture
def job(app, db):
    job = db.scalar(select(Job).where(Job.job_type == "service_sms"))
    redis = redis_connection(app)
    redis.delete(lock_key(job.id))
    redis.delete(f"rq:job:{rq_job_id(job.id)}")
    return job


def test_one_sms_of_another_mandant_goes_out_in_the_next_window_despite_5000_queued(
    app, db, job, mandanten
):
    wien, graz, _linz = mandanten
    app.config["SMS_DISPATCH_BATCH"] = 50  # a claim holds at most 50 (the default: 200)
    window = 8
    bulk = set(_api(db, wien, 5000))
    with WebsmsSandbox(token=TOKEN) as sandbox:
        send_through_websms(app, db, job, sandbox.url, TOKEN)
        runner = RunInThread(app, job.id)
        _until(lambda: len(sandbox.accepted) >= 100, 60, "100 SMS of Wien sent")
        graz_id = _dialog(db, graz, MessageSource.QUICK)  # SMS senden
        # Counted once it is stored: until then the run goes on sending (under load the
        # insert can take as long as a claim).
        sent_before = len(sandbox.accepted)
        _until(
            lambda: str(graz_id) in {a.client_message_id for a in sandbox.accepted},
            60,
            "the SMS of Graz sent",
        )
        order = [a.client_message_id for a in sandbox.accepted]
        stopping.request_stop()
        runner.join()
    position = order.index(str(graz_id))
    # Before it: what was in flight or already claimed when it was queued — never more than
    # one claim and the window — not the 4,900 of Wien still waiting.
    assert position - sent_before <= 50 + window, (position, sent_before)
    assert {int(i) for i in order if i != str(graz_id)} <= bulk
    assert len(order) < 5000

"""Limits of a Mandant (issue 14 point 5): SMS above its SMS per hour / per day are held back
with a visible reason, not failed, and go when the next hour or day begins. The clock is the
`now` the claim is given: no sleeps."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.integration.test_dispatch_per_sms import TOKEN, RunInThread
from tests.integration.test_fair_share import job  # noqa: F401 (fixture)
from tests.service_job import send_through_websms
from webapp.errors import InputError
from webapp.jobs import stopping
from webapp.models import Mandant, Message, MessageSource, MessageStatus, RunStatus
from webapp.models.base import utcnow
from webapp.simulators.websms import WebsmsSandbox
from webapp.sms.leases import claim, hand_back
from webapp.sms.mandant_limits import held_reason, save_limits, windows
from webapp.sms.outbox import queue_sms

HELD = "wartet – Limit des Mandanten"


@pytest.fixture(autouse=True)
def _fresh_stop_flag():
    stopping.reset()
    yield
    stopping.reset()


def _queue(db, mandant, count: int) -> list[int]:
    ids = [
        queue_sms(
            db,
            recipient=f"0664 {2000000 + i}",
            text=f"Nachricht {i}",
            mandant_id=mandant.id,
            source=MessageSource.MANUAL,
        ).id
        for i in range(count)
    ]
    db.commit()
    return ids


def _limit(db, mandant, per_hour="", per_day=""):
    save_limits(db, mandant, per_hour, per_day)
    db.commit()


def _claimed(db, now, run="run-a", limit=50) -> list[int]:
    return [c.id for c in claim(db, [], run, now, limit)]


def _mid_hour():
    """Twenty minutes into the current clock hour: a few seconds later are the same hour."""
    return windows(utcnow()).hour_start + timedelta(minutes=20)


def _noon():
    """Noon of the current day (TIMEZONE): the same day, the same hour, seconds later."""
    return windows(utcnow()).day_start + timedelta(hours=12)


def test_sms_above_the_hourly_limit_wait_with_the_reason_and_go_in_the_next_hour(db, wien, graz):
    _limit(db, wien, per_hour="3")
    ids = _queue(db, wien, 5)
    graz_ids = _queue(db, graz, 2)
    now = _mid_hour()
    hour = windows(now)
    assert set(_claimed(db, now)) == set(ids[:3]) | set(graz_ids)
    # the hour is used up: nothing more of Wien, and its SMS stay queued, not failed
    assert _claimed(db, now + timedelta(seconds=1)) == []
    db.expire_all()
    assert db.get(Mandant, wien.id).held_until == hour.hour_end
    waiting = db.get(Message, ids[3])
    assert waiting.status is MessageStatus.QUEUED and waiting.reason is None
    reason = held_reason(waiting, now)
    assert reason.startswith(HELD) and "3 SMS pro Stunde" in reason
    # another Mandant is not held back by Wien's limit
    other = _queue(db, graz, 1)
    assert _claimed(db, now + timedelta(seconds=2)) == other
    # the next hour opens the window again
    later = hour.hour_end + timedelta(seconds=1)
    assert set(_claimed(db, later)) == set(ids[3:])
    db.expire_all()
    assert db.get(Mandant, wien.id).held_until is None
    assert held_reason(db.get(Message, ids[3]), later) is None


def test_the_daily_limit_counts_the_whole_day_and_opens_at_midnight(db, wien):
    _limit(db, wien, per_hour="10", per_day="4")
    ids = _queue(db, wien, 6)
    now = _noon()
    day = windows(now)
    assert len(_claimed(db, now, limit=3)) == 3
    assert len(_claimed(db, now + timedelta(seconds=1), limit=3)) == 1  # 4 of the day
    assert _claimed(db, now + timedelta(seconds=2)) == []
    db.expire_all()
    assert db.get(Mandant, wien.id).held_until == day.day_end
    after_midnight = day.day_end + timedelta(seconds=1)
    assert set(_claimed(db, after_midnight)) == set(ids[4:])


def test_sms_handed_back_untried_do_not_count(db, wien):
    _limit(db, wien, per_hour="3")
    _queue(db, wien, 5)
    now = utcnow()
    first = _claimed(db, now)
    assert len(first) == 3
    hand_back(db, "run-a", first, now)
    assert _claimed(db, now + timedelta(seconds=1), run="run-b") == first


def test_a_fair_share_is_never_more_than_the_limit_leaves(db, wien, graz):
    _limit(db, wien, per_hour="2")
    _queue(db, wien, 10)
    graz_ids = _queue(db, graz, 10)
    claimed = _claimed(db, utcnow(), limit=10)
    db.expire_all()
    by_mandant = Counter(db.get(Message, i).mandant_id for i in claimed)
    assert by_mandant == {wien.id: 2, graz.id: 5}
    assert set(graz_ids[:5]) <= set(claimed)


def test_bad_limits_are_refused_in_german_and_empty_means_unlimited(db, wien):
    with pytest.raises(InputError) as refused:
        save_limits(db, wien, "viele", "-5")
    assert {e.field for e in refused.value.errors} == {"sms_per_hour", "sms_per_day"}
    assert "ganze Zahl" in refused.value.errors[0].message
    db.rollback()
    _limit(db, wien, per_hour="1.000", per_day="")
    db.expire_all()
    mandant = db.get(Mandant, wien.id)
    assert (mandant.sms_per_hour, mandant.sms_per_day) == (1000, None)


def test_administrators_set_limits_and_the_lists_show_the_reason(admin_client, db, wien):
    page = admin_client.get("/admin/mandanten")
    assert "SMS pro Stunde" in page.text and "SMS pro Tag" in page.text
    saved = admin_client.post(
        f"/admin/mandanten/{wien.id}",
        data={"name": "HV Wien", "sms_per_hour": "1", "sms_per_day": ""},
        follow_redirects=True,
    )
    assert saved.status_code == 200
    db.expire_all()
    assert db.get(Mandant, wien.id).sms_per_hour == 1
    refused = admin_client.post(
        f"/admin/mandanten/{wien.id}",
        data={"name": "HV Wien", "sms_per_hour": "zehn", "sms_per_day": ""},
        follow_redirects=True,
    )
    assert "ganze Zahl" in refused.text
    db.expire_all()
    assert db.get(Mandant, wien.id).sms_per_hour == 1  # unchanged

    ids = _queue(db, wien, 2)
    _claimed(db, _mid_hour())
    _claimed(db, _mid_hour())  # the hour is used up: Wien is held
    listing = admin_client.get("/admin/sms/")
    assert listing.text.count(HELD) >= 1
    detail = admin_client.get(f"/admin/sms/{ids[1]}")
    assert HELD in detail.text and "1 SMS pro Stunde" in detail.text
    # a raised limit lets them go with the next claim, and the mark is gone at once
    admin_client.post(
        f"/admin/mandanten/{wien.id}",
        data={"name": "HV Wien", "sms_per_hour": "", "sms_per_day": ""},
    )
    assert HELD not in admin_client.get(f"/admin/sms/{ids[1]}").text
    assert _claimed(db, _mid_hour()) == [ids[1]]


def test_a_run_sends_up_to_the_limit_and_leaves_the_rest_queued(app, db, job, wien):  # noqa: F811
    _limit(db, wien, per_hour="5")
    _queue(db, wien, 8)
    with WebsmsSandbox(token=TOKEN) as sandbox:
        send_through_websms(app, db, job, sandbox.url, TOKEN)
        runner = RunInThread(app, job.id)
        runner.join()
    assert runner.status is RunStatus.SUCCEEDED
    assert len(sandbox.accepted) == 5
    db.expire_all()
    statuses = Counter(
        dict(db.execute(select(Message.status, func.count()).group_by(Message.status)).all())
    )
    assert statuses == {MessageStatus.SENT: 5, MessageStatus.QUEUED: 3}
    waiting = db.scalars(select(Message).where(Message.status == MessageStatus.QUEUED)).all()
    assert all(held_reason(m).startswith(HELD) for m in waiting)

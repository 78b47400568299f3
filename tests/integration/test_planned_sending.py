"""Versand am (issue 17 point 3): a planned SMS waits as Geplant, is claimed only from its
time on (driven with a given `now`), is valid for a week from that time, and can be cancelled
until a run claims it — a claim and a cancel racing for it never both win."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from webapp import accounts
from webapp.api_tokens import create_token
from webapp.errors import InputError
from webapp.models import Job, Message, MessageSource, MessageStatus
from webapp.models.base import utcnow
from webapp.sms import overview
from webapp.sms.leases import claim, count_due, expire_old
from webapp.sms.outbox import QueueItem, queue_many, queue_sms, status_label
from webapp.sms.planning import cancel_unclaimed, parse_send_at

VIENNA = "Europe/Vienna"


@pytest.fixture
def mandant(db):
    found = accounts.save_mandant(db, "HV Wien")
    db.commit()
    return found


@pytest.fixture
def job(db):
    return db.scalar(select(Job).where(Job.job_type == "service_sms"))


def _plan(db, mandant, send_at, recipient="0664 1234567") -> Message:
    message = queue_sms(
        db,
        recipient=recipient,
        text="Wasserabsperrung morgen 8–12 Uhr, Stiege 2",
        mandant_id=mandant.id,
        source=MessageSource.MANUAL,
        send_at=send_at,
    )
    db.commit()
    return message


def _last_sunday(year: int, month: int) -> date:
    day = date(year, month + 1, 1) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def _next_change(month: int) -> date:
    """The next last Sunday of `month` (summer time begins in March, ends in October) that is
    still ahead, so the planned time is in the future whenever the tests run."""
    today = utcnow().date()
    day = _last_sunday(today.year, month)
    return day if day > today + timedelta(days=1) else _last_sunday(today.year + 1, month)


def test_planned_sms_waits_as_geplant_and_is_claimed_only_from_its_time(db, mandant):
    now = utcnow()
    send_at = now + timedelta(hours=3)
    message = _plan(db, mandant, send_at)
    assert message.status is MessageStatus.PLANNED
    assert status_label(message.status) == "Geplant"
    assert message.send_at == send_at
    # before its time nothing is due: the run has nothing to do and does not spin
    assert count_due(db, [], now) == 0
    assert claim(db, [], "run-a", send_at - timedelta(seconds=1), 10) == []
    db.expire_all()
    assert db.get(Message, message.id).status is MessageStatus.PLANNED
    # from its time on the claim takes it
    assert [c.id for c in claim(db, [], "run-a", send_at, 10)] == [message.id]
    db.expire_all()
    assert db.get(Message, message.id).status is MessageStatus.SENDING


def test_an_unplanned_sms_is_queued_as_before(db, mandant):
    message = _plan(db, mandant, None)
    assert message.status is MessageStatus.QUEUED and message.send_at is None


def test_a_refused_number_fails_at_once_even_when_planned(db, mandant):
    message = _plan(db, mandant, utcnow() + timedelta(hours=1), recipient="01 5880000")
    assert message.status is MessageStatus.FAILED


@pytest.mark.parametrize(
    ("month", "local", "utc_hour", "utc_minute"),
    [
        # spring: 02:00 becomes 03:00 (+01:00 → +02:00)
        (3, "01:30", 0, 30),
        (3, "03:30", 1, 30),
        # autumn: 03:00 becomes 02:00 again (+02:00 → +01:00); 02:30 occurs twice and is taken
        # as its first occurrence, still summer time (the documented choice)
        (10, "01:30", 23, 30),
        (10, "02:30", 0, 30),
        (10, "03:30", 2, 30),
    ],
)
def test_versand_am_across_the_change_of_summer_time(
    db, mandant, month, local, utc_hour, utc_minute
):
    day = _next_change(month)
    now = utcnow()
    send_at = parse_send_at(f"{day.isoformat()}T{local}", VIENNA, now)
    expected_day = day - timedelta(days=1) if utc_hour == 23 else day
    assert send_at == datetime(
        expected_day.year, expected_day.month, expected_day.day, utc_hour, utc_minute, tzinfo=UTC
    )
    message = _plan(db, mandant, send_at)
    assert claim(db, [], "run-a", send_at - timedelta(minutes=1), 10) == []
    assert [c.id for c in claim(db, [], "run-a", send_at + timedelta(seconds=1), 10)] == [
        message.id
    ]


def test_the_hour_skipped_in_spring_is_refused_with_a_message(app):
    day = _next_change(3)
    with pytest.raises(InputError) as refused:
        parse_send_at(f"{day.isoformat()}T02:30", VIENNA, utcnow())
    assert "Sommerzeit nicht" in refused.value.message
    assert refused.value.field == "send_at"


def test_a_time_in_the_past_is_refused_saying_what_to_fix(db, mandant):
    with pytest.raises(InputError) as refused:
        _plan(db, mandant, utcnow() - timedelta(minutes=5))
    assert "liegt in der Vergangenheit" in refused.value.message
    assert "späteren Zeitpunkt" in refused.value.message
    assert refused.value.field == "send_at"
    with pytest.raises(InputError, match="mehr als ein Jahr"):
        _plan(db, mandant, utcnow() + timedelta(days=400))
    assert db.scalar(select(Message.id)) is None  # nothing stored


@pytest.fixture
def api_auth(db, mandant):
    _token, clear = create_token(
        db, name="erp", mandant_id=mandant.id, scopes=("sms:send", "sms:read"), created_by=None
    )
    db.commit()
    return {"Authorization": f"Bearer {clear}"}


def test_api_send_at_plans_the_sms(client, db, api_auth):
    send_at = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    local = send_at.astimezone(ZoneInfo(VIENNA)).isoformat()  # "…+01:00"
    response = client.post(
        "/api/v1/sms",
        json={
            "messages": [
                {"to": "+43 664 1234567", "text": "Wasser", "send_at": local},
                {"to": "+43 664 1234568", "text": "Wasser", "send_at": None},
                {"to": "+43 664 1234569", "text": "Wasser"},
            ]
        },
        headers=api_auth,
    )
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert (body["planned"], body["queued"], body["failed"]) == (1, 2, 0)
    assert [m["status"] for m in body["messages"]] == ["planned", "queued", "queued"]
    planned_id = body["messages"][0]["id"]
    assert db.get(Message, planned_id).send_at == send_at
    shown = client.get(f"/api/v1/sms/{planned_id}", headers=api_auth).get_json()
    assert shown["status"] == "planned"
    assert datetime.fromisoformat(shown["send_at"]) == send_at
    # "Z" is UTC
    utc = (utcnow() + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    one = client.post(
        "/api/v1/sms", json={"to": "+43 664 1234567", "text": "x", "send_at": utc}, headers=api_auth
    )
    assert one.status_code == 202 and one.get_json()["planned"] == 1


@pytest.mark.parametrize(
    ("send_at", "says_de", "says_en"),
    [
        ("2030-12-24T08:00:00", "mit Zeitzone", "with a time zone"),
        ("morgen früh", "ISO 8601", "ISO 8601"),
        ("24.12.2030 08:00", "ISO 8601", "ISO 8601"),
        (1767600000, "ISO 8601", "ISO 8601"),
        ("2020-12-24T08:00:00+01:00", "in der Vergangenheit", "send_at"),
        ("2099-12-24T08:00:00+01:00", "mehr als ein Jahr", "send_at"),
    ],
)
def test_api_refuses_a_bad_send_at_with_422(client, db, api_auth, send_at, says_de, says_en):
    response = client.post(
        "/api/v1/sms",
        json={"to": "+43 664 1234567", "text": "Wasser", "send_at": send_at},
        headers=api_auth,
    )
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert says_de in error["message_de"] and says_en in error["message_en"]
    assert db.scalar(select(Message.id)) is None


def test_the_openapi_document_describes_send_at(client):
    document = client.get("/api/v1/openapi.json").get_json()
    field = document["components"]["schemas"]["NewSms"]["properties"]["send_at"]
    assert field["type"] == "string" and field["format"] == "date-time"
    assert field["nullable"] is True and "planned" in field["description"]
    statuses = document["components"]["schemas"]["Message"]["properties"]["status"]["enum"]
    assert "planned" in statuses and "cancelled" in statuses


def test_the_week_of_validity_counts_from_the_planned_time(db, mandant, job):
    now = utcnow()
    send_at = now + timedelta(hours=1)
    message = _plan(db, mandant, send_at)
    # created long before its planned time: the week counts from send_at, not created_at
    db.execute(
        update(Message).where(Message.id == message.id).values(created_at=now - timedelta(days=30))
    )
    db.commit()
    assert expire_old(db, job, send_at + timedelta(days=6)) == 0
    assert count_due(db, [], send_at + timedelta(days=6)) == 0  # still planned, not due yet
    # released by a claim that takes nothing (limit 0), still valid six days after its time
    claim(db, [], "run-a", send_at + timedelta(days=6), 0)
    assert count_due(db, [], send_at + timedelta(days=6)) == 1
    assert expire_old(db, job, send_at + timedelta(days=6)) == 0
    assert expire_old(db, job, send_at + timedelta(days=7, minutes=1)) == 1
    db.expire_all()
    assert db.get(Message, message.id).status is MessageStatus.EXPIRED


def test_a_released_planned_sms_is_claimed_six_days_after_its_time(db, mandant):
    now = utcnow()
    send_at = now + timedelta(hours=1)
    message = _plan(db, mandant, send_at)
    db.execute(
        update(Message).where(Message.id == message.id).values(created_at=now - timedelta(days=30))
    )
    db.commit()
    later = send_at + timedelta(days=6)
    assert [c.id for c in claim(db, [], "run-a", later, 10)] == [message.id]


def test_the_overview_does_not_count_planned_sms_as_waiting(db, mandant):
    now = utcnow()
    _plan(db, mandant, now + timedelta(days=2))
    figures = overview.now_figures(db, None, now, VIENNA)
    assert figures.waiting == 0 and figures.oldest_waiting_at is None
    assert figures.planned == 1


def test_a_released_sms_waits_from_its_planned_time_in_the_overview(db, mandant):
    now = utcnow()
    send_at = now + timedelta(minutes=30)
    message = _plan(db, mandant, send_at)
    db.execute(
        update(Message).where(Message.id == message.id).values(created_at=now - timedelta(days=3))
    )
    db.commit()
    claim(db, [], "run-a", send_at, 0)  # released, not claimed
    figures = overview.now_figures(db, None, send_at, VIENNA)
    assert figures.waiting == 1 and figures.planned == 0
    assert figures.oldest_waiting_at == send_at


def test_cancel_until_claimed(db, mandant):
    now = utcnow()
    send_at = now + timedelta(hours=2)
    first, second = (_plan(db, mandant, send_at) for _ in range(2))
    unplanned = _plan(db, mandant, None)
    cancelled = cancel_unclaimed(
        db, Message.id.in_([first.id, unplanned.id]), now, mandant_ids={mandant.id}
    )
    db.commit()
    assert cancelled == [first.id]  # Planung aufheben: only what was planned
    # another Mandant's user cancels nothing
    assert cancel_unclaimed(db, Message.id == second.id, now, mandant_ids={mandant.id + 1}) == []
    assert [c.id for c in claim(db, [], "run-a", send_at, 10)] == [second.id, unplanned.id]
    # claimed: too late to cancel
    assert cancel_unclaimed(db, Message.id == second.id, send_at, planned_only=False) == []
    db.commit()
    db.expire_all()
    cancelled_sms = db.get(Message, first.id)
    assert cancelled_sms.status is MessageStatus.CANCELLED
    assert status_label(cancelled_sms.status) == "Abgebrochen"
    assert "nicht versendet" in cancelled_sms.reason
    assert db.get(Message, second.id).status is MessageStatus.SENDING


def test_a_released_but_unclaimed_sms_can_still_be_cancelled(db, mandant):
    send_at = utcnow() + timedelta(minutes=10)
    message = _plan(db, mandant, send_at)
    claim(db, [], "run-a", send_at, 0)
    db.expire_all()
    assert db.get(Message, message.id).status is MessageStatus.QUEUED
    assert cancel_unclaimed(db, Message.id == message.id, send_at) == [message.id]


def _race(engine, ids: list[int], send_at: datetime, run_key: str) -> tuple[set[int], set[int]]:
    """A claim and a cancel of `ids` started together, each on its own connection."""
    results: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def claiming() -> None:
        try:
            with Session(engine) as session:
                start.wait()
                results["claimed"] = [c.id for c in claim(session, [], run_key, send_at, 100)]
        except BaseException as error:  # reported below
            errors.append(error)

    def cancelling() -> None:
        try:
            with Session(engine) as session:
                start.wait()
                results["cancelled"] = cancel_unclaimed(session, Message.id.in_(ids), send_at)
                session.commit()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=claiming), threading.Thread(target=cancelling)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return set(results["claimed"]), set(results["cancelled"])


def test_a_claim_racing_a_cancel_never_both(app, db, mandant):
    """Rounds of a claim and a cancel racing: every planned SMS ends either claimed or
    cancelled, never both, never neither."""
    send_at = utcnow() + timedelta(minutes=5)
    for round_ in range(5):
        messages = queue_many(
            db,
            [QueueItem(f"0664 {2000000 + i}", f"Runde {round_}") for i in range(60)],
            mandant_id=mandant.id,
            source=MessageSource.MANUAL,
            send_at=send_at,
        )
        db.commit()
        ids = [m.id for m in messages]
        claimed, cancelled = _race(db.get_bind(), ids, send_at, f"run-{round_}")
        assert not claimed & cancelled
        assert claimed | cancelled == set(ids)
        db.expire_all()
        statuses = {
            row.id: row.status
            for row in db.execute(select(Message.id, Message.status).where(Message.id.in_(ids)))
        }
        assert {i for i, s in statuses.items() if s is MessageStatus.SENDING} == claimed
        assert {i for i, s in statuses.items() if s is MessageStatus.CANCELLED} == cancelled


def _plans(db, action) -> dict[str, str]:
    """The statements `action` runs on sms_message (UPDATE or SELECT) and their plans."""
    from sqlalchemy import event

    engine = db.get_bind()
    captured: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        if "sms_message" in statement and not statement.lstrip().upper().startswith("EXPLAIN"):
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    postgresql = engine.dialect.name == "postgresql"
    plans = {}
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        cursor = raw.cursor()
        if postgresql:
            cursor.execute("SET enable_seqscan = off")  # a tiny table: is the index usable?
        for statement, parameters in captured:
            cursor.execute(
                ("EXPLAIN " if postgresql else "EXPLAIN QUERY PLAN ") + statement, parameters
            )
            rows = cursor.fetchall()
            plans[statement] = "\n".join(str(row[0] if postgresql else row[3]) for row in rows)
        raw.rollback()
    return plans


def test_release_and_claim_stay_on_their_partial_indexes(db, mandant):
    now = utcnow()
    _plan(db, mandant, now + timedelta(hours=1))
    _plan(db, mandant, None)
    plans = _plans(db, lambda: claim(db, [], "run-a", now + timedelta(hours=2), 10))
    release = [p for s, p in plans.items() if "status = 'planned'" in s]
    assert release and "ix_sms_message_planned" in release[0], plans
    ranges = [p for s, p in plans.items() if "UPDATE sms_message" in s and "claimed_at" in s]
    assert ranges and "ix_sms_message_claim" in ranges[0], plans


def test_a_whole_run_sends_a_planned_sms_only_once_its_time_has_come(app, db, mandant, job):
    """The real run against the websms sandbox: with only a planned SMS waiting it sends
    nothing and ends (no spinning); once its time has passed the next run sends it, once."""
    from tests.integration.test_dispatch import _run
    from webapp.simulators.websms import WebsmsSandbox

    now = utcnow()
    planned = _plan(db, mandant, now + timedelta(hours=1))
    at_once = _plan(db, mandant, None, recipient="0676 5550001")
    with WebsmsSandbox(token="t0ken") as sandbox:
        totals, run = _run(app, db, job, sandbox)
        assert totals.sent == 1 and run.total == 1
        assert [a.client_message_id for a in sandbox.accepted] == [str(at_once.id)]
        totals, run = _run(app, db, job, sandbox)
        assert totals.sent == 0 and run.total == 0 and len(sandbox.accepted) == 1
        db.expire_all()
        assert db.get(Message, planned.id).status is MessageStatus.PLANNED
        # its time has come (the clock moved on): the next run sends it
        db.execute(
            update(Message)
            .where(Message.id == planned.id)
            .values(send_at=utcnow() - timedelta(seconds=1))
        )
        db.commit()
        totals, run = _run(app, db, job, sandbox)
        assert totals.sent == 1
        assert [a.client_message_id for a in sandbox.accepted] == [str(at_once.id), str(planned.id)]
        totals, _run_again = _run(app, db, job, sandbox)
        assert totals.sent == 0 and len(sandbox.accepted) == 2
    db.expire_all()
    assert db.get(Message, planned.id).status is MessageStatus.SENT

"""Übersicht (issue 13 points 1–3): the figures match the database for a seeded data set across
Mandanten and days (a day boundary in Europe/Vienna), within the user's Mandanten; the
permission; the roll-up rebuilt equals the one kept by the runs; the modem's signal per run."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, update

from tests.conftest import login_as
from webapp.jobs.runlog import RunLog
from webapp.jobs.runner import RunContext
from webapp.jobs.settings_tab import SettingsInput, save_settings
from webapp.models import (
    DailyCount,
    DailySignal,
    Job,
    JobRun,
    Message,
    MessageStatus,
    RunStatus,
    UnclearDecision,
)
from webapp.models.base import utcnow
from webapp.permissions import Permission
from webapp.simulators.modem import ModemSimulator
from webapp.sms import overview
from webapp.sms.dispatch import run_service_sms
from webapp.technical import with_details

VIENNA = ZoneInfo("Europe/Vienna")


@pytest.fixture
def job(db):
    return db.scalar(select(Job).where(Job.job_type == "service_sms"))


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """A moment of `day` in Vienna, as stored (UTC)."""
    return datetime.combine(day, time(hour, minute), tzinfo=VIENNA).astimezone(UTC)


def add(db, mandant, status, created, delivered_after=None, reason=None):
    db.execute(
        insert(Message),
        [
            {
                "mandant_id": mandant.id,
                "recipient_raw": "+436641234567",
                "recipient": "+436641234567",
                "text": "Hallo",
                "encoding": "GSM-7",
                "segments": 1,
                "status": status,
                "reason": reason,
                "source": "manual",
                "created_at": created,
                "updated_at": created,
                "delivered_at": created + delivered_after if delivered_after else None,
            }
        ],
    )


@pytest.fixture
def seeded(db, wien, graz):
    """SMS of two Mandanten over 40 days; some at 23:50 and 00:10 Vienna time, on both sides
    of midnight (22:50/23:10 UTC in winter, 21:50/22:10 in summer)."""
    today = datetime.now(VIENNA).date()
    for back in range(0, 40, 3):
        day = today - timedelta(days=back)
        add(db, wien, MessageStatus.DELIVERED, local(day, 0, 10), timedelta(seconds=30))
        add(db, wien, MessageStatus.DELIVERED, local(day, 9), timedelta(minutes=10))
        add(db, graz, MessageStatus.DELIVERED, local(day, 10), timedelta(hours=2))
        add(db, wien, MessageStatus.FAILED, local(day, 11), reason="Nummer ungültig.")
        add(
            db, graz, MessageStatus.UNDELIVERED, local(day, 12),
            reason=with_details("Vom Netz abgelehnt.", "4711"),
        )  # fmt: skip
        add(db, graz, MessageStatus.SENT, local(day - timedelta(days=1), 23, 50))
    add(db, graz, MessageStatus.QUEUED, local(today - timedelta(days=2), 8))
    add(db, wien, MessageStatus.QUEUED, local(today, 0, 1))
    add(db, wien, MessageStatus.SENDING, local(today, 0, 2))
    add(db, graz, MessageStatus.UNKNOWN, local(today - timedelta(days=5), 8))
    add(db, wien, MessageStatus.UNKNOWN, local(today - timedelta(days=50), 8))
    db.commit()
    return today


def expected_by_day(db, mandant_ids, first, last):
    """What the database says, counted here in Python: (local day, status) → count."""
    counted: Counter[tuple[date, str]] = Counter()
    for created, status, mandant_id in db.execute(
        select(Message.created_at, Message.status, Message.mandant_id)
    ):
        day = created.astimezone(VIENNA).date()
        if first <= day <= last and (mandant_ids is None or mandant_id in mandant_ids):
            counted[(day, MessageStatus(status).value)] += 1
    return counted


def figures_of(client):
    response = client.get("/uebersicht/daten.json")
    assert response.status_code == 200
    return response.get_json()


def charted(figures):
    return {
        (date.fromisoformat(day), status["key"]): count
        for status in figures["charts"]["statuses"]
        for day, count in zip(figures["charts"]["days"], status["counts"], strict=True)
        if count
    }


def test_the_figures_match_the_database(app, db, client, make_user, seeded, wien, graz):
    today = seeded
    overview.rebuild(db, utcnow(), "Europe/Vienna")
    client = login_as(client, make_user("admin", admin=True))
    figures = figures_of(client)
    first = today - timedelta(days=29)
    assert charted(figures) == expected_by_day(db, None, first, today)
    now = figures["now"]
    assert now["waiting"] == 2 and now["sending"] == 1 and now["unknown"] == 2
    assert now["failed_today"] == 1 and now["undelivered_today"] == 1
    oldest = datetime.fromisoformat(now["oldest_waiting_at"])
    assert oldest == local(today - timedelta(days=2), 8)
    # The SMS at 23:50 the day before counts there, the one at 00:10 today today.
    days = figures["charts"]["days"]
    sent = next(s for s in figures["charts"]["statuses"] if s["key"] == "sent")["counts"]
    assert sent[days.index((today - timedelta(days=1)).isoformat())] == 1
    assert sent[days.index(today.isoformat())] == 0
    # Per Mandant and failure reasons over the 30 days.
    expected = expected_by_day(db, {wien.id}, first, today)
    assert {m["name"]: m["count"] for m in figures["mandanten"]} == {
        "HV Wien": sum(expected.values()),
        "HV Graz": sum(expected_by_day(db, {graz.id}, first, today).values()),
    }
    failures = sum(count for (_d, status), count in expected.items() if status == "failed")
    assert {r["reason"]: r["count"] for r in figures["reasons"]} == {
        "Nummer ungültig.": failures,
        "Vom Netz abgelehnt.": failures,  # the sentence only, without its details
    }
    # Delivery rate and median on a day with SMS: 3 delivered of 5 that left the queue
    # (the SENT one at 23:50 belongs to the day before); 30 s, 10 min, 2 h → median 10 min,
    # approximated within its bucket (5–15 min).
    i = days.index(today.isoformat())
    assert figures["charts"]["rate"][i] == pytest.approx(60.0)
    assert 5 <= figures["charts"]["medianMinutes"][i] <= 15


def test_the_page_links_each_tile_to_the_filtered_list(db, client, make_user, seeded):
    today = seeded.isoformat()
    client = login_as(client, make_user("admin", admin=True))
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Übersicht" in html and 'id="overview-data"' in html
    assert 'href="/admin/sms/?status=queued"' in html
    assert 'href="/admin/sms/?unclear=open"' in html  # the Unklar worklist
    failed_today = f"status=failed&amp;created_from={today}&amp;created_to={today}"
    assert f'href="/admin/sms/?{failed_today}"' in html
    assert "Wartet auf Versand" in html and "Unklar – bitte prüfen" in html
    # The data of the plots is JSON the page's script reads (no inline script: CSP).
    block = r'<script type="application/json" id="overview-data">(.*?)</script>'
    data = re.search(block, html, re.S)
    assert data is not None and json.loads(data.group(1))["days"][-1] == today
    fragment = client.get("/uebersicht/aktuell")
    assert fragment.status_code == 200 and 'id="tile-waiting"' in fragment.get_data(as_text=True)


def test_a_user_sees_only_the_figures_of_their_mandanten(db, client, make_user, seeded, wien):
    overview.rebuild(db, utcnow(), "Europe/Vienna")
    user = make_user("maria", Permission.SMS_MESSAGES, mandanten=[wien])
    figures = figures_of(login_as(client, user))
    first = seeded - timedelta(days=29)
    assert charted(figures) == expected_by_day(db, {wien.id}, first, seeded)
    assert [m["name"] for m in figures["mandanten"]] == ["HV Wien"]
    assert figures["now"]["waiting"] == 1 and figures["now"]["unknown"] == 1
    assert figures["now"]["undelivered_today"] == 0
    assert [r["reason"] for r in figures["reasons"]] == ["Nummer ungültig."]


def test_the_unklar_tile_counts_only_sms_still_needing_a_decision(db, client, make_user, seeded):
    """An Unklar SMS that was resent (it stays Unklar, pointing to its copy) or confirmed is
    decided: the tile counts what the worklist's banner counts."""
    client = login_as(client, make_user("admin", admin=True))
    assert figures_of(client)["now"]["unknown"] == 2
    first = db.scalar(select(Message.id).where(Message.status == MessageStatus.UNKNOWN))
    db.execute(update(Message).where(Message.id == first).values(decision=UnclearDecision.RESENT))
    db.commit()
    assert figures_of(client)["now"]["unknown"] == 1


def test_a_failure_reason_links_to_the_sms_with_that_reason(db, client, make_user, seeded):
    """The bar of a reason opens the list filtered by status, the 30 days and the reason (its
    sentence: the details after it differ from SMS to SMS)."""
    overview.rebuild(db, utcnow(), "Europe/Vienna")
    client = login_as(client, make_user("admin", admin=True))
    html = client.get("/").get_data(as_text=True)
    first = (seeded - timedelta(days=29)).isoformat()
    links = re.findall(r'href="(/admin/sms/\?status=undelivered[^"]*reason=[^"]*)"', html)
    assert len(links) == 1 and f"created_from={first}" in links[0]
    listed = client.get(links[0].replace("&amp;", "&")).get_data(as_text=True)
    expected = db.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.status == MessageStatus.UNDELIVERED,
            Message.created_at >= local(seeded - timedelta(days=29), 0),
        )
    )
    assert expected and listed.count("<tr data-id=") == expected
    none = client.get("/admin/sms/?reason=Nummer+g%C3%BCltig").get_data(as_text=True)
    assert "<tr data-id=" not in none and "Keine SMS gefunden." in none


def test_without_1669_the_home_page_is_meine_sms(client, make_user):
    client = login_as(client, make_user("karl", Permission.SMS_SEND))
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/sms/meine/")
    assert client.get("/uebersicht/aktuell").status_code == 403
    assert client.get("/uebersicht/daten.json").status_code == 403


def rollup(db):
    columns = ("day", "mandant_id", "status", "reason", "count", *overview.BUCKET_COLUMNS)
    counts = {
        tuple(getattr(row, name) for name in columns) for row in db.scalars(select(DailyCount))
    }
    signal = {
        (row.day, row.readings, row.registered, row.rssi_min, row.rssi_max, row.rssi_sum)
        for row in db.scalars(select(DailySignal))
    }
    return counts, signal


def test_the_rollup_kept_by_the_runs_equals_a_rebuild(app, db, seeded, wien, job):
    tz = "Europe/Vienna"
    now = utcnow()
    first, last = overview.keep_current(db, now, tz)  # the first run fills the 30 days
    db.commit()
    assert (first, last) == (seeded - timedelta(days=30), seeded)
    # A delivery report today for yesterday's SMS, a new SMS: the next run recomputes
    # yesterday and today only (the rest was recomputed less than an hour ago).
    db.execute(
        update(Message)
        .where(Message.status == MessageStatus.SENT)
        .values(status=MessageStatus.DELIVERED, delivered_at=now)
    )
    add(db, wien, MessageStatus.QUEUED, now)
    db.commit()
    first, _ = overview.keep_current(db, now + timedelta(minutes=1), tz)
    db.commit()
    assert first == seeded - timedelta(days=1)
    # An hour later every shown day is recomputed; then it equals a rebuild of those days.
    overview.keep_current(db, now + timedelta(hours=1, minutes=2), tz)
    db.commit()
    kept_counts, kept_signal = rollup(db)
    overview.rebuild(db, now, tz)
    rebuilt_counts, rebuilt_signal = rollup(db)
    since = seeded - timedelta(days=30)
    assert kept_counts == {row for row in rebuilt_counts if row[0] >= since}
    assert kept_signal == rebuilt_signal
    # A crash between the delete and the insert of a day leaves it as it was: one transaction.
    assert any(row[0] < since for row in rebuilt_counts)  # the rebuild covers all days


def test_rebuild_overview_command(app, db, seeded):
    result = app.test_cli_runner().invoke(args=["rebuild-overview"])
    assert result.exit_code == 0, result.output
    assert "Übersicht neu berechnet" in result.output
    assert db.scalar(select(DailyCount).limit(1)) is not None


def _modem_run(app, db, job):
    run = JobRun(job_id=job.id, run_key=uuid.uuid4().hex, status=RunStatus.RUNNING)
    db.add(run)
    db.commit()
    run_service_sms(RunContext(app, db, job, run, RunLog(db, job, run)))
    db.commit()
    return run


def test_every_modem_run_stores_signal_and_registration(app, db, client, make_user, job, wien):
    from webapp.models import MessageSource
    from webapp.sms.outbox import queue_sms

    with ModemSimulator() as modem:
        save_settings(
            db, job, SettingsInput(variant="1", modem_url=modem.url), "test",
            app.config["SMS_SECRET_KEY"],
        )  # fmt: skip
        db.commit()
        queue_sms(
            db, recipient="0664 1234567", text="Hallo", mandant_id=wien.id,
            source=MessageSource.MANUAL,
        )  # fmt: skip
        db.commit()
        modem.rssi = 17
        sending = _modem_run(app, db, job)
        assert modem.wait_for(1)
        modem.rssi, modem.registration = 5, 5
        idle = _modem_run(app, db, job)  # nothing queued: the signal is read all the same
    assert (sending.signal_rssi, sending.registration) == (17, "home")
    assert (idle.signal_rssi, idle.registration) == (5, "roaming")
    gone = _modem_run(app, db, job)  # the modem does not answer: nothing stored, run goes on
    assert gone.signal_rssi is None and gone.registration is None
    # The run kept the roll-up current: today's signal, and the tile shows the last reading.
    today = datetime.now(VIENNA).date()
    signal = db.get(DailySignal, today)
    assert signal is not None
    assert (signal.readings, signal.rssi_min, signal.rssi_max) == (2, 5, 17)
    admin = login_as(client, make_user("admin", admin=True))
    figures = figures_of(admin)
    assert figures["job"]["signal_rssi"] == 5 and figures["job"]["registration"] == "roaming"
    assert figures["charts"]["signal"]["min"][-1] == 5
    html = admin.get("/").get_data(as_text=True)
    assert 'id="tile-modem"' in html and "angemeldet (Roaming)" in html
    assert 'id="chart-signal"' in html


def test_median_of_buckets():
    assert overview.median_of_buckets([0] * 7) is None
    assert overview.median_of_buckets([2, 0, 0, 0, 0, 0, 0]) == pytest.approx(30)
    assert overview.median_of_buckets([0, 0, 0, 0, 0, 0, 3]) == 86400
    assert overview.median_of_buckets([1, 1, 1, 0, 0, 0, 0]) == pytest.approx(180)

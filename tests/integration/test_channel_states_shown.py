"""Issue 14 point 2: the Übersicht and the tab Job show each channel's state (the runs write
it; Einstellungen – Kanäle lists it too)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.service_job import send_through_websms
from webapp.jobs.channels import mark_failed, mark_ok, new_channel, set_enabled
from webapp.jobs.settings_tab import SettingsInput, save_settings
from webapp.models import Job
from webapp.models.base import utcnow


@pytest.fixture
def two_channels(app, db):
    """Channel 1 websms (in Ordnung), channel 2 a modem that failed and waits for its retry."""
    job = db.scalar(select(Job).where(Job.job_type == "service_sms"))
    send_through_websms(app, db, job, "http://127.0.0.1:9", "token-1")
    modem = new_channel(db, job, "1", "test")
    save_settings(
        db,
        job,
        SettingsInput(variant="1", modem_url="socket://127.0.0.1:4001"),
        "test",
        app.config["SMS_SECRET_KEY"],
        channel=modem,
    )
    set_enabled(db, job, modem, True, "test")
    now = utcnow()
    mark_ok(job.channels[0], now - timedelta(minutes=3))
    mark_failed(modem, "Das GSM-Modem antwortet nicht.", now - timedelta(minutes=2))
    db.commit()
    return job


def _tile(html: str, position: int) -> str:
    found = re.search(rf'<a class="([^"]*)" id="tile-channel-{position}".*?</a>', html, re.S)
    assert found is not None, f"no tile for channel {position}"
    return found.group(0)


def test_the_overview_shows_each_channel_and_marks_a_failed_one(admin_client, two_channels):
    html = admin_client.get("/").get_data(as_text=True)
    first, second = _tile(html, 1), _tile(html, 2)
    assert "Kanal 1" in first and "in Ordnung" in first and "zuletzt erfolgreich" in first
    assert "tile-attention" not in first
    assert "Kanal 2 – 1 – GSM-Modem" in second and "gestört" in second
    assert "tile-attention" in second and "nächster Versuch ab" in second
    assert "Das GSM-Modem antwortet nicht." in second
    assert f'href="/admin/jobs/{two_channels.id}/settings#channels"' in second
    # The part that refreshes itself carries them too.
    fragment = admin_client.get("/uebersicht/aktuell").get_data(as_text=True)
    assert 'id="tile-channel-2"' in fragment


def test_the_job_tab_lists_the_channels_with_their_state(admin_client, two_channels):
    html = admin_client.get(f"/admin/jobs/{two_channels.id}").get_data(as_text=True)
    table = re.search(r'<table class="list" id="job-channels".*?</table>', html, re.S)
    assert table is not None
    rows = re.findall(r"<tr data-channel=.*?</tr>", table.group(0), re.S)
    assert len(rows) == 2
    assert "Kanal 1" in rows[0] and "in Ordnung" in rows[0]
    assert "Kanal 2 – 1 – GSM-Modem" in rows[1] and "gestört seit" in rows[1]
    assert "socket://127.0.0.1:4001" in rows[1] and "Das GSM-Modem antwortet nicht." in rows[1]


def test_a_switched_off_channel_is_shown_as_such(admin_client, db, two_channels):
    set_enabled(db, two_channels, two_channels.channels[1], False, "test")
    db.commit()
    second = _tile(admin_client.get("/").get_data(as_text=True), 2)
    assert "ausgeschaltet" in second and "tile-attention" not in second

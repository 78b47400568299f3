"""Redis going down stops nothing else: users log in and queue SMS; the job catches up later."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD
from webapp import accounts
from webapp.models import Job, Message, MessageStatus
from webapp.permissions import Permission

DEAD = "redis://127.0.0.1:1/0"


@pytest.mark.parametrize("app_config", [{"REDIS_URL": DEAD, "RATELIMIT_STORAGE_URI": DEAD}])
def test_login_and_queueing_work_without_redis(app, db, client, make_user, app_config):
    wien = accounts.save_mandant(db, "HV Wien")
    db.commit()
    make_user("clerk", Permission.SMS_MESSAGES, mandanten=[wien])
    assert (
        client.post("/login", data={"username": "clerk", "password": "falsch"}).status_code == 200
    )
    response = client.post("/login", data={"username": "clerk", "password": PASSWORD})
    assert response.status_code == 302
    response = client.post(
        "/admin/sms/new", data={"recipient": "0664 1234567", "mandant": wien.id, "text": "Hallo"}
    )
    assert response.status_code == 302
    assert db.scalar(select(Message)).status is MessageStatus.QUEUED
    assert client.get("/healthz").status_code == 503


@pytest.mark.parametrize("app_config", [{"REDIS_URL": DEAD}])
def test_jetzt_ausfuehren_says_what_is_wrong_when_redis_is_down(app, db, admin_client, app_config):
    job = db.scalar(select(Job).where(Job.job_type == "service_sms"))
    job.active = True
    db.commit()
    response = admin_client.post(f"/admin/jobs/{job.id}/run", headers={"HX-Request": "true"})
    assert response.status_code < 500
    assert "Redis" in response.text or "Warteschlange" in response.text

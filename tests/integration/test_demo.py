"""The demo's "Service SMS" (webapp/demo.py): the local websms sandbox, delivery reports to this
app's webhook on the ports of the start, and a job someone configured is left alone."""

from __future__ import annotations

from webapp.config import RunPorts
from webapp.demo import seed_demo
from webapp.jobs.registry import service_job
from webapp.jobs.settings import job_for_webhook_secret, job_settings, webhook_secret


def _transport(app, db):
    return job_settings(service_job(db), app.config["SMS_SECRET_KEY"])


def test_the_demo_sends_to_the_sandbox_and_gets_its_reports_on_the_webhook(app, db):
    seed_demo(db, app.config["SMS_SECRET_KEY"], RunPorts(web=5123, websms=8123))
    db.commit()
    job = service_job(db)
    secret = webhook_secret(job, app.config["SMS_SECRET_KEY"])
    settings = _transport(app, db)
    assert settings.base_url == "http://127.0.0.1:8123"
    assert settings.notification_callback_url == (
        f"http://websms:{secret}@127.0.0.1:5123/webhooks/websms"
    )
    # The webhook knows the secret of that URL.
    assert job_for_webhook_secret(db, secret, app.config["SMS_SECRET_KEY"]) is job
    assert job.active


def test_the_demo_job_follows_the_ports_of_each_start(app, db):
    key = app.config["SMS_SECRET_KEY"]
    seed_demo(db, key, RunPorts(web=5123, websms=8123))
    db.commit()
    secret = webhook_secret(service_job(db), key)
    seed_demo(db, key, RunPorts(web=5200, websms=8200))
    db.commit()
    settings = _transport(app, db)
    assert settings.base_url == "http://127.0.0.1:8200"
    assert settings.notification_callback_url == (
        f"http://websms:{secret}@127.0.0.1:5200/webhooks/websms"
    )
    assert settings.access_token == "demo-token"


def test_a_job_someone_configured_is_left_alone(app, db):
    key = app.config["SMS_SECRET_KEY"]
    seed_demo(db, key, RunPorts(web=5123, websms=8123))
    service_job(db).updated_by = "chefin"  # saved in the dialog since
    db.commit()
    seed_demo(db, key, RunPorts(web=5200, websms=8200))
    db.commit()
    assert _transport(app, db).base_url == "http://127.0.0.1:8123"

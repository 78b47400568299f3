"""Pointing the job "Service SMS" of a test at a simulator (the real Einstellungen save)."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from webapp.jobs.settings import WebsmsAuth
from webapp.jobs.settings_tab import SettingsInput, save_settings
from webapp.models import Job


def send_through_websms(app: Flask, db: Session, job: Job, url: str, token: str) -> Job:
    """Variante 2 against the websms sandbox at `url` with the access token `token`; the job
    active; committed."""
    save_settings(
        db,
        job,
        SettingsInput(
            variant="2",
            websms_base_url=url,
            websms_auth=WebsmsAuth.TOKEN,
            websms_access_token=token,
        ),
        "test",
        app.config["SMS_SECRET_KEY"],
    )
    job.active = True
    db.commit()
    return job

"""The SMS opened in the browser shows each part's delivery report and an Unklar SMS cleared
by its report (issue 15 points 3 and 5)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.e2e.support import MANDANT
from webapp.extensions import db
from webapp.jobs.registry import service_job
from webapp.jobs.runlog import RunLog
from webapp.models import Mandant, MessageSource, MessageStatus
from webapp.sms.modem_reports import apply_status_reports
from webapp.sms.outbox import queue_sms
from webapp.sms.transports.modem import StatusReport

NUMBER = "+436649876543"


def _report(ref: int, status: int) -> StatusReport:
    now = datetime.now(UTC).replace(microsecond=0)
    return StatusReport(ref, NUMBER, status, status <= 2, not 0x20 <= status <= 0x3F, now, now)


def _seed(live_app, text: str, status: MessageStatus, refs: str | None, reports) -> int:
    with live_app.app_context():
        session = db.session()
        mandant = session.scalar(select(Mandant).where(Mandant.name == MANDANT))
        message = queue_sms(
            session,
            recipient="0664 9876543",
            text=text,
            mandant_id=mandant.id,
            source=MessageSource.MANUAL,
        )
        message.status, message.provider_ref, message.attempts = status, refs, 1
        message.attempt_started_at = datetime.now(UTC) - timedelta(seconds=30)
        if status is MessageStatus.SENT:
            message.sent_at = datetime.now(UTC)
        session.commit()
        job = service_job(session)
        apply_status_reports(session, job, reports, RunLog(session, job, None))
        message_id = message.id
        db.session.remove()
        return message_id


def test_the_parts_and_an_unclear_sms_cleared_by_its_report(page: Page, login, live_app):
    tag = uuid.uuid4().hex[:8]
    long_id = _seed(
        live_app,
        f"Teile {tag} " + "Sehr geehrte Damen und Herren, " * 8,
        MessageStatus.SENT,
        "201,202",
        [_report(201, 0x00), _report(202, 0x45)],
    )
    unclear_id = _seed(live_app, f"Unklar {tag}", MessageStatus.UNKNOWN, None, [_report(203, 0)])
    login("admin")

    page.goto(f"/admin/sms/{long_id}")
    expect(page.locator("[data-field=status] .status")).to_have_text("Nicht zugestellt")
    parts = page.get_by_role("list", name="Zustellberichte der Teile").get_by_role("listitem")
    expect(parts).to_have_count(2)
    expect(parts.nth(0)).to_contain_text("Teil 1 von 2 · Referenz 201 · Zugestellt")
    expect(parts.nth(1)).to_contain_text(
        "Teil 2 von 2 · Referenz 202 · Nicht zugestellt: kein Übergang in das Netz des Empfängers"
    )
    expect(parts.nth(1)).to_contain_text("TP-Status 0x45")

    page.goto(f"/admin/sms/{unclear_id}")
    expect(page.locator("[data-field=status] .status")).to_have_text("Zugestellt")
    expect(page.get_by_text("Unklar – durch Zustellbericht geklärt")).to_be_visible()
    expect(page.get_by_text("zugeordnet nach Empfänger und Zeit")).to_be_visible()

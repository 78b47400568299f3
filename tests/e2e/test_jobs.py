"""The job "Service SMS" in the browser: open it from the Job Liste, edit the Zeitplan with the
live preview, the write-only secrets with "Verbindung testen", and "Jetzt ausführen" with its
progress bar (R30–R34)."""

from __future__ import annotations

import re
from contextlib import suppress

import pytest
from playwright.sync_api import Page, expect
from rq.exceptions import NoSuchJobError
from rq.job import Job as RqJob

from tests.e2e.support import assert_not_reloaded, mark_page, set_filter
from webapp.extensions import db
from webapp.jobs.queues import redis_connection
from webapp.models import Job, JobRun, RunStatus
from webapp.models.base import utcnow

SERVICE_SMS = 1
UNSAVED = "Die Änderungen sind noch nicht gespeichert. Trotzdem verlassen?"


def _open_service_sms(page: Page) -> None:
    """Job Liste → search → double-click, as the manual describes."""
    page.goto("/admin/jobs/")
    set_filter(page.get_by_label("Name enthält"), "Service")
    row = page.locator('#jobs tr[data-name="Service SMS"]')
    expect(row).to_be_visible()
    row.dblclick()
    expect(page).to_have_url(re.compile(r"/admin/jobs/1$"))
    expect(page.get_by_role("heading", name=re.compile(r"^Job Service SMS"))).to_be_visible()


def test_open_from_the_list_and_edit_the_schedule_with_preview(page: Page, login) -> None:
    login("admin")
    _open_service_sms(page)
    # Read-only first: facts, no inputs; Bearbeiten at the bottom.
    expect(page.get_by_label("Name", exact=True)).to_have_count(0)
    expect(page.locator('dd[data-field="job_type"]')).to_have_text("Service SMS")
    expect(page.locator("#delete-job")).to_be_disabled()

    mark_page(page)
    page.get_by_role("link", name="Zeitplan", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/jobs/1/schedule$"))
    expect(page.locator("#tab-schedule")).to_have_attribute("aria-current", "page")
    page.get_by_role("button", name="Bearbeiten", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/jobs/1/schedule/edit$"))

    kind = page.get_by_label("Job ausführen")
    kind.select_option("daily")
    expect(page.get_by_label("Montag")).to_be_hidden()
    page.get_by_label("Uhrzeit", exact=True).fill("06:15")
    preview = page.locator("#schedule-preview li")
    expect(preview).to_have_count(5)
    for item in preview.all():
        expect(item).to_contain_text("06:15")

    # Wöchentlich without a weekday: the preview says what is missing.
    kind.select_option("weekly")
    expect(page.get_by_label("Montag")).to_be_visible()
    for day in ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"):
        page.get_by_label(day).uncheck()
    expect(page.locator("#schedule-preview")).to_contain_text(
        "Bitte mindestens einen Wochentag wählen."
    )
    page.get_by_label("Montag").check()
    page.get_by_label("Freitag").check()
    expect(preview).to_have_count(5)
    for item in preview.all():
        expect(item).to_have_text(re.compile(r"^(Mo|Fr) \d\d\.\d\d\.\d{4} 06:15$"))

    # Abbrechen with unsaved changes asks first; dismissing keeps the input.
    questions: list[str] = []

    def dismiss(dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Abbrechen").click()
    assert questions == [UNSAVED]
    expect(page.get_by_label("Uhrzeit", exact=True)).to_have_value("06:15")

    page.get_by_label("Priorität").select_option("high")
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator('dd[data-field="schedule"]')).to_have_text("wöchentlich Mo, Fr um 06:15")
    expect(page.locator('dd[data-field="priority"]')).to_have_text("Hoch")
    expect(page.locator("#flash")).to_contain_text("Der Zeitplan wurde gespeichert.")
    expect(page).to_have_url(re.compile(r"/admin/jobs/1/schedule$"))
    expect(page.locator("#upcoming li")).to_have_count(5)
    assert_not_reloaded(page)


def test_secrets_are_write_only_and_the_connection_test_answers(page: Page, login) -> None:
    sandbox_module = pytest.importorskip("webapp.simulators.websms")
    with sandbox_module.WebsmsSandbox(token="e2e-token-4711") as sandbox:
        login("admin")
        page.goto("/admin/jobs/1/settings")
        page.get_by_role("button", name="Bearbeiten", exact=True).click()
        page.get_by_label("Variante").select_option("2")
        expect(page.get_by_label("Modem-Adresse")).to_be_hidden()
        page.get_by_label("Basis-URL").fill(sandbox.url)
        page.get_by_label("Anmeldung").select_option("token")
        page.get_by_label("Zugangstoken").fill("e2e-token-4711")
        page.get_by_label("Absenderadresse").fill("")
        page.get_by_label("Absendertyp").select_option("")
        page.get_by_role("button", name="Speichern").click()
        expect(page.locator("#flash")).to_contain_text("Die Einstellungen wurden gespeichert.")
        expect(page.locator('dd[data-field="websms_access_token"]')).to_have_text("gespeichert")
        assert "e2e-token-4711" not in page.content()

        page.get_by_role("button", name="Verbindung testen").click()
        result = page.locator("#connection-test-result .test-result")
        expect(result).to_have_attribute("data-ok", "true")
        expect(result).to_contain_text("Im Testmodus wurde keine SMS versendet.")
        assert [a.test for a in sandbox.accepted] == [True]

        # The edit form never shows the token again; empty keeps it.
        page.get_by_role("button", name="Bearbeiten", exact=True).click()
        expect(page.get_by_label("Zugangstoken")).to_have_value("")
        expect(page.get_by_label("Zugangstoken")).to_have_attribute(
            "placeholder", "unverändert lassen"
        )
        page.get_by_role("button", name="Speichern").click()
        expect(page.locator('dd[data-field="websms_access_token"]')).to_have_text("gespeichert")

    # websms gone (the sandbox stopped): a German sentence, what the system said in a details
    # line of its own, "Verbindung fehlgeschlagen" once (issue 12 point 10).
    page.get_by_role("button", name="Verbindung testen").click()
    result = page.locator("#connection-test-result .test-result")
    expect(result).to_have_attribute("data-ok", "false")
    expect(result).to_contain_text("ist nicht erreichbar. Die Gegenstelle lehnt die Verbindung ab")
    expect(result.locator(".details")).to_have_text(
        "Details: [Errno 111] Connection refused · websms connect"
    )
    assert result.inner_text().count("Verbindung fehlgeschlagen") == 1


def _remove_queued_run(live_app) -> None:
    """No worker runs in the browser tests: take the queued RQ job away again."""
    with live_app.app_context(), suppress(NoSuchJobError):
        RqJob.fetch(f"job-{SERVICE_SMS}", connection=redis_connection(live_app)).delete()


def test_run_now_shows_a_live_progress_bar(page: Page, login, live_app) -> None:
    _remove_queued_run(live_app)
    login("admin")
    _open_service_sms(page)
    page.get_by_role("button", name="Bearbeiten", exact=True).click()
    page.get_by_label("Aktiv").check()
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator('dd[data-field="active"]')).to_contain_text("Ja")
    runs_before = page.locator('dd[data-field="run_count"]').inner_text()

    try:
        page.get_by_role("button", name="Jetzt ausführen").click()
        status = page.locator("#job-run-status")
        expect(status).to_have_attribute("data-state", "pending")
        expect(status).to_contain_text("Lauf angefordert")
        expect(status.locator("progress")).to_be_visible()

        # A worker takes the run and reports progress (here: written as the runner does).
        with live_app.app_context():
            run = JobRun(job_id=SERVICE_SMS, run_key=f"e2e-{utcnow().timestamp()}", total=20)
            run.sent, run.failed = 5, 1
            db.session.add(run)
            db.session.commit()
            run_id = run.id
            db.session.remove()
        expect(status).to_have_attribute("data-state", "running", timeout=10_000)
        bar = status.locator("progress")
        expect(bar).to_have_attribute("max", "20")
        expect(bar).to_have_attribute("value", "6")
        expect(status.locator('[data-count="remaining"]')).to_have_text("14")
        expect(page.locator("#run-now")).to_be_enabled()  # the tab was rendered before the run

        with live_app.app_context():
            run = db.session.get(JobRun, run_id)
            run.status, run.sent, run.finished_at = RunStatus.SUCCEEDED, 19, utcnow()
            job = db.session.get(Job, SERVICE_SMS)
            job.run_count += 1
            job.last_run_at = run.started_at
            db.session.commit()
            db.session.remove()
        expect(status).to_have_attribute("data-state", "finished", timeout=10_000)
        expect(status).to_contain_text(f"Lauf {run_id} beendet")
        expect(status).to_contain_text("19 versendet, 1 Fehler, 0 später erneut.")
        # The statistics of the Job tab follow without a reload.
        expect(page.locator('dd[data-field="run_count"]')).to_have_text(str(int(runs_before) + 1))
    finally:
        _remove_queued_run(live_app)


def test_run_now_sends_the_queued_sms_through_a_real_worker(page: Page, login, live_app) -> None:
    """Jetzt ausführen → an RQ worker runs Service SMS → websms sandbox → "Versendet"."""
    import uuid

    from rq import SimpleWorker
    from sqlalchemy import select

    from tests.e2e.support import MANDANT
    from webapp.jobs.queues import DEFAULT_QUEUE, HIGH_QUEUE, get_queue
    from webapp.jobs.settings import WebsmsAuth
    from webapp.jobs.settings_tab import SettingsInput, save_settings
    from webapp.models import Mandant, MessageSource
    from webapp.simulators.websms import WebsmsSandbox
    from webapp.sms.outbox import queue_sms

    _remove_queued_run(live_app)
    tag = uuid.uuid4().hex[:8]
    with WebsmsSandbox(token="e2e-token", latency=0.01) as sandbox:
        with live_app.app_context():
            job = db.session.get(Job, SERVICE_SMS)
            save_settings(
                db.session,
                job,
                SettingsInput(
                    variant="2",
                    websms_base_url=sandbox.url,
                    websms_auth=WebsmsAuth.TOKEN,
                    websms_access_token="e2e-token",
                ),
                "e2e",
                live_app.config["SMS_SECRET_KEY"],
            )
            job.active = True
            mandant = db.session.scalar(select(Mandant).where(Mandant.name == MANDANT))
            for i in range(12):
                queue_sms(
                    db.session,
                    recipient="0664 1234567",
                    text=f"Lauf {tag} Nr. {i}",
                    mandant_id=mandant.id,
                    source=MessageSource.MANUAL,
                )
            db.session.commit()
            db.session.remove()
        login("admin")
        _open_service_sms(page)
        page.get_by_role("button", name="Jetzt ausführen").click()
        status = page.locator("#job-run-status")
        expect(status).to_contain_text("Lauf angefordert")
        with live_app.app_context():
            queues = [get_queue(HIGH_QUEUE, live_app), get_queue(DEFAULT_QUEUE, live_app)]
            assert any(f"job-{SERVICE_SMS}" in q.job_ids for q in queues)
            # The job runs with the app of this process (in production: the worker's).
            SimpleWorker(queues, connection=redis_connection(live_app)).work(burst=True)
        expect(status).to_have_attribute("data-state", "finished", timeout=15_000)
        expect(status).to_contain_text("versendet")
        assert len([a for a in sandbox.accepted if tag in a.text]) == 12
    page.goto(f"/admin/sms/?text={tag}")
    rows = page.locator("#messages tbody tr")
    expect(rows).to_have_count(12)
    expect(page.locator("#messages .status-sent")).to_have_count(12)

"""Live status in the browser: SMS Nachrichten, a Person's SMS-Verlauf, the confirmation of SMS
senden and the Job tab follow what happens to an SMS or a run, without a reload."""

from __future__ import annotations

import random
import re
import threading
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.e2e.support import MANDANT, assert_not_reloaded, mark_page
from webapp.extensions import db
from webapp.jobs.runner import execute_job
from webapp.jobs.settings import WebsmsAuth, webhook_secret
from webapp.jobs.settings_tab import SettingsInput, save_settings
from webapp.models import Job, JobRun, Mandant, Message, MessageSource, MessageStatus, RunStatus
from webapp.models.base import utcnow
from webapp.simulators.websms import WebsmsSandbox
from webapp.sms import contacts, search
from webapp.sms.outbox import queue_sms

TOKEN = "live-e2e-token"
LIVE = 15_000  # ms: a few polls, generous for a slow machine


@pytest.fixture
def fast_report_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    # The live server runs in this process: pages rendered from now on ask every second also
    # while only delivery reports are outstanding (else 30 s).
    monkeypatch.setattr(search, "SLOW_POLL_SECONDS", 1)


@pytest.fixture
def sandbox() -> Iterator[WebsmsSandbox]:
    with WebsmsSandbox(token=TOKEN, latency=0.01) as running:
        yield running


def _own_job(live_app, sandbox: WebsmsSandbox, tag: str) -> tuple[int, int, str]:
    """A Mandant of this test and a Service SMS job that sends only its SMS (the browser tests
    share one database): (mandant id, job id, webhook secret)."""
    with live_app.app_context():
        mandant = Mandant(name=f"Live {tag}")
        # An id of its own: the job lock lives in Redis, which other test sessions on the same
        # REDIS_URL share (their jobs are 1, 2, …).
        job = Job(
            id=random.randint(10**6, 2**31 - 1),
            job_type="service_sms",
            name=f"Service SMS live {tag}",
        )
        job.mandanten = [mandant]
        db.session.add_all([mandant, job])
        db.session.flush()
        save_settings(
            db.session,
            job,
            SettingsInput(
                variant="2",
                websms_base_url=sandbox.url,
                websms_auth=WebsmsAuth.TOKEN,
                websms_access_token=TOKEN,
            ),
            "e2e",
            live_app.config["SMS_SECRET_KEY"],
        )
        secret = webhook_secret(job, live_app.config["SMS_SECRET_KEY"])  # made by the save
        job.active = True
        db.session.commit()
        ids = mandant.id, job.id
        db.session.remove()
    return *ids, secret


def _queue(live_app, mandant_id: int, text: str, **extra) -> int:
    with live_app.app_context():
        message = queue_sms(
            db.session,
            recipient=extra.pop("recipient", "0664 1234567"),
            text=text,
            mandant_id=mandant_id,
            source=extra.pop("source", MessageSource.MANUAL),
            **extra,
        )
        db.session.commit()
        message_id = message.id
        db.session.remove()
    return message_id


def _run_in_background(live_app, job_id: int) -> tuple[threading.Thread, list[str]]:
    """The real job run, as a worker would do it, while the browser watches; the list gets
    how the run ended ("succeeded", "skipped", …)."""
    outcome: list[str] = []

    def run() -> None:
        with live_app.app_context():
            try:
                ended = execute_job(live_app, job_id)
                outcome.append(f"{ended.status} {ended.error or ''}" if ended else "skipped")
            finally:
                db.session.remove()

    thread = threading.Thread(target=run, name="e2e-service-sms", daemon=True)
    thread.start()
    return thread, outcome


def _provider_ref(live_app, message_id: int) -> str:
    with live_app.app_context():
        ref = db.session.get(Message, message_id).provider_ref
        db.session.remove()
    return ref


def test_a_queued_sms_turns_sent_and_delivered_in_the_list(
    page: Page, login, live_app, live_server, sandbox, fast_report_poll
) -> None:
    tag = uuid.uuid4().hex[:8]
    mandant_id, job_id, secret = _own_job(live_app, sandbox, tag)
    old = _queue(live_app, mandant_id, f"Live {tag} alt", recipient="01 5880 0")  # Fehler
    new = _queue(live_app, mandant_id, f"Live {tag} neu")
    login("admin")
    page.goto(f"/admin/sms/?text={tag}")
    mark_page(page)
    rows = page.locator("#messages tbody tr")
    expect(rows).to_have_count(2)
    new_row, old_row = page.locator(f'tr[data-id="{new}"]'), page.locator(f'tr[data-id="{old}"]')
    expect(new_row.locator(".status")).to_have_text("Wartet auf Versand")
    expect(old_row.locator(".status")).to_have_text("Fehler")
    poller = page.locator("#message-poller")
    expect(poller).to_have_attribute("hx-trigger", "every 3s")
    # The user picks rows for "Erneut versenden" and opens the details of the waiting one.
    new_row.get_by_role("checkbox").check()
    old_row.get_by_role("checkbox").check()
    new_row.locator(".status-details summary").click()
    expect(new_row.locator(".status-more")).to_contain_text("Versuche: 0")

    run, outcome = _run_in_background(live_app, job_id)
    run.join(timeout=60)
    assert outcome == ["succeeded "], outcome
    assert [a.client_message_id for a in sandbox.accepted if tag in a.text] == [str(new)]
    expect(new_row.locator(".status")).to_have_text("Versendet", timeout=LIVE)
    expect(new_row.locator(".status")).to_have_class(re.compile(r"\bstatus-sent\b"))
    # The row was not replaced: ticks, the opened details, the filter and the page stay.
    expect(new_row.get_by_role("checkbox")).to_be_checked()
    expect(old_row.get_by_role("checkbox")).to_be_checked()
    expect(new_row.locator(".status-details")).to_have_attribute("open", "")
    expect(new_row.locator(".status-more")).to_contain_text("Versuche: 1")
    expect(new_row.locator(".status-more")).to_contain_text(_provider_ref(live_app, new))
    expect(page).to_have_url(re.compile(rf"/admin/sms/\?text={tag}$"))
    expect(page.locator("#message-announce")).to_have_text("SMS an +43 664 1234567: Versendet")
    # Only a delivery report is outstanding now: slower polling (1 s in this test, else 30 s).
    expect(poller).to_have_attribute("hx-trigger", "every 1s")

    # websms reports the delivery to the webhook; the list follows, then stops polling.
    sandbox.send_delivery_report(
        _provider_ref(live_app, new), url=f"{live_server}/webhooks/websms/{secret}"
    )
    expect(new_row.locator(".status")).to_have_text("Zugestellt", timeout=LIVE)
    expect(poller).to_have_attribute("data-interval", "0")
    expect(poller).not_to_have_attribute("hx-trigger", re.compile("."))
    assert page.locator(".live-poller").count() == 1  # replaced, never stacked
    expect(new_row.get_by_role("checkbox")).to_be_checked()
    expect(rows).to_have_count(2)
    assert_not_reloaded(page)


# Counts the browser's pending timers: htmx polls with setTimeout on the polling element.
TIMER_PROBE = """
(() => {
  const pending = new Set();
  const set = window.setTimeout.bind(window), clear = window.clearTimeout.bind(window);
  window.setTimeout = function (fn, ms, ...args) {
    const id = set(function () { pending.delete(id); fn(...args); }, ms);
    pending.add(id);
    return id;
  };
  window.clearTimeout = function (id) { pending.delete(id); clear(id); };
  window.__pendingTimers = () => pending.size;
})();
"""


def _listeners(page: Page) -> int:
    """Event listeners on window and on every node of the document (DevTools protocol)."""
    cdp = page.context.new_cdp_session(page)
    total = 0
    for expression in ("window", "document"):
        handle = cdp.send("Runtime.evaluate", {"expression": expression})["result"]
        found = cdp.send(
            "DOMDebugger.getEventListeners", {"objectId": handle["objectId"], "depth": -1}
        )
        total += len(found["listeners"])
    cdp.detach()
    return total


def test_a_list_left_open_does_not_grow_and_stops_polling(
    page: Page, login, live_app, monkeypatch
) -> None:
    monkeypatch.setattr(search, "FAST_POLL_SECONDS", 1)
    tag = uuid.uuid4().hex[:8]
    with live_app.app_context():
        mandant_id = db.session.scalar(select(Mandant.id).where(Mandant.name == MANDANT))
        db.session.remove()
    message_id = _queue(live_app, mandant_id, f"Offen {tag}")
    page.add_init_script(TIMER_PROBE)
    login("admin")
    page.goto(f"/admin/sms/?text={tag}")
    mark_page(page)
    more = page.locator(f"#msg-{message_id}-more")
    sizes: list[tuple[int, int]] = []
    # Every round the run touches the SMS (a new attempt); each poll answers with news.
    for attempt in range(1, 7):
        _update(live_app, message_id, attempts=attempt)
        expect(more).to_contain_text(f"Versuche: {attempt}", timeout=LIVE)
        expect(page.locator(".live-poller")).to_have_count(1)
        sizes.append((page.evaluate("document.getElementsByTagName('*').length"), _listeners(page)))
        assert page.evaluate("window.__pendingTimers()") <= 2  # the poll (and a settle)
    assert len(set(sizes)) == 1, sizes  # neither nodes nor listeners pile up

    _update(live_app, message_id, status=MessageStatus.FAILED, reason="Abgelehnt")
    expect(page.locator(f"#msg-{message_id}-status")).to_have_text("Fehler", timeout=LIVE)
    expect(page.locator("#message-poller")).to_have_attribute("data-interval", "0")
    # All final: no timer is left that could poll again.
    page.wait_for_function("window.__pendingTimers() === 0", timeout=LIVE)
    assert_not_reloaded(page)


def test_the_history_of_a_person_and_the_quick_confirmation_follow_the_sms(
    page: Page, login, live_app, fast_report_poll
) -> None:
    tag = uuid.uuid4().hex[:8]
    with live_app.app_context():
        mandant = db.session.scalar(select(Mandant).where(Mandant.name == MANDANT))
        person = contacts.save_person(
            db.session,
            contacts.ContactInput(
                name=f"Maria Live {tag}", mandant_id=mandant.id, mobile="0664 7654321"
            ),
        )
        db.session.commit()
        person_id, mandant_id = person.id, mandant.id
        db.session.remove()
    earlier = _queue(
        live_app,
        mandant_id,
        f"Erste {tag}",
        source=MessageSource.PERSON,
        source_ref=str(person_id),
    )
    login("admin")
    page.goto(f"/persons/{person_id}")
    mark_page(page)
    history = page.locator("#sms-history")
    earlier_row = history.locator(f'tr[data-id="{earlier}"]')
    expect(earlier_row.locator(".status")).to_have_text("Wartet auf Versand")

    # SMS senden from the record: the confirmation shows the status of the new SMS.
    page.locator("#sms-action").click()
    dialog = page.locator("dialog#modal")
    dialog.get_by_label("SMS-Text", exact=True).fill(f"Zweite {tag}")
    dialog.get_by_role("button", name="Senden").click()
    expect(dialog).to_be_hidden()
    confirmation = page.locator("#quick-confirmation")
    expect(confirmation).to_contain_text("SMS an +43 664 7654321")
    expect(confirmation.locator(".status")).to_have_text("Wartet auf Versand")
    expect(history.locator("tbody tr")).to_have_count(2)
    with live_app.app_context():
        second = db.session.scalar(select(Message).where(Message.text.like(f"Zweite {tag}%")))
        second_id = second.id
        db.session.remove()

    # What a run and a delivery report do to the two SMS.
    _update(live_app, earlier, status=MessageStatus.SENT, sent_at=utcnow())
    _update(
        live_app,
        second_id,
        status=MessageStatus.FAILED,
        reason="Die Nummer ist beim Anbieter gesperrt.",
    )
    expect(earlier_row.locator(".status")).to_have_text("Versendet", timeout=LIVE)
    second_row = history.locator(f'tr[data-id="{second_id}"]')
    expect(second_row.locator(".status")).to_have_text("Fehler", timeout=LIVE)
    expect(second_row).to_contain_text("Die Nummer ist beim Anbieter gesperrt.")
    expect(second_row.locator(".status")).to_have_attribute(
        "title", "Die Nummer ist beim Anbieter gesperrt."
    )
    expect(confirmation.locator(".status")).to_have_text("Fehler", timeout=LIVE)
    expect(page.locator("#quick-poller")).to_have_attribute("data-interval", "0")

    _update(live_app, earlier, status=MessageStatus.DELIVERED, delivered_at=utcnow())
    expect(earlier_row.locator(".status")).to_have_text("Zugestellt", timeout=LIVE)
    expect(page.locator("#history-poller")).to_have_attribute("data-interval", "0")
    assert page.locator("#sms-history .live-poller").count() == 1
    assert_not_reloaded(page)


def _update(live_app, message_id: int, **values) -> None:
    with live_app.app_context():
        message = db.session.get(Message, message_id)
        for name, value in values.items():
            setattr(message, name, value)
        db.session.commit()
        db.session.remove()


def test_the_job_statistics_follow_a_run_while_the_tab_is_edited(
    page: Page, login, live_app
) -> None:
    tag = uuid.uuid4().hex[:8]
    with live_app.app_context():
        job = Job(job_type="service_sms", name=f"Statistik {tag}", active=True)
        db.session.add(job)
        db.session.flush()
        run = JobRun(job_id=job.id, run_key=f"e2e-{tag}", total=30, sent=4)
        db.session.add(run)
        db.session.commit()
        job_id, run_id = job.id, run.id
        db.session.remove()
    login("admin")
    page.goto(f"/admin/jobs/{job_id}")
    mark_page(page)
    status = page.locator("#job-run-status")
    expect(status).to_have_attribute("data-state", "running")
    expect(status.locator('[data-count="sent"]')).to_have_text("4")

    page.get_by_role("button", name="Bearbeiten", exact=True).click()
    note = page.get_by_label("Notiz")
    note.fill("Noch nicht gespeichert")

    # The run reports progress every second or so; the dialog shows the counters.
    with live_app.app_context():
        run = db.session.get(JobRun, run_id)
        run.sent, run.failed, run.retried = 17, 2, 1
        db.session.commit()
        db.session.remove()
    expect(status.locator('[data-count="sent"]')).to_have_text("17", timeout=LIVE)
    expect(status.locator('[data-count="failed"]')).to_have_text("2")
    expect(status.locator('[data-count="retried"]')).to_have_text("1")
    expect(status.locator('[data-count="remaining"]')).to_have_text("10")

    with live_app.app_context():
        run = db.session.get(JobRun, run_id)
        run.status, run.sent, run.finished_at = RunStatus.FAILED, 27, utcnow()
        run.error = "Zugangsdaten abgelehnt"
        job = db.session.get(Job, job_id)
        job.run_count, job.failed_run_count = 1, 1
        job.last_run_at, job.last_error = run.started_at, "Zugangsdaten abgelehnt"
        db.session.commit()
        db.session.remove()
    expect(status).to_have_attribute("data-state", "finished", timeout=LIVE)
    stats = page.locator("#job-statistics")
    expect(stats.locator('dd[data-field="run_count"]')).to_have_text("1", timeout=LIVE)
    expect(stats.locator('dd[data-field="failed_run_count"]')).to_have_text("1")
    expect(stats.locator('dd[data-field="last_error"]')).to_have_text("Zugangsdaten abgelehnt")
    expect(page.locator("#job-run-announce")).to_contain_text(f"Lauf {run_id} fehlgeschlagen")
    # The form being edited was left alone.
    expect(page.locator("#job-tab")).to_have_attribute("data-mode", "edit")
    expect(note).to_have_value("Noch nicht gespeichert")
    assert_not_reloaded(page)

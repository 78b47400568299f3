"""Exportieren in the browser: the menu above a list downloads what the list shows, with the
filter set in the search bar (htmx swapped the results, the links came along)."""

from __future__ import annotations

import csv
import io
import re
import uuid
from pathlib import Path

from openpyxl import load_workbook
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.e2e.support import MANDANT, set_filter
from webapp.extensions import db
from webapp.models import JobLogEntry, Mandant, MessageSource, MessageStatus
from webapp.sms.outbox import queue_sms


def _seed(live_app, tag: str) -> None:
    with live_app.app_context():
        mandant = db.session.scalar(select(Mandant).where(Mandant.name == MANDANT))
        for text, status in [
            (f"Heizung {tag}", None),
            (f"Kaputt {tag} – Grüße", MessageStatus.FAILED),
            (f"Lift {tag}", MessageStatus.FAILED),
        ]:
            message = queue_sms(
                db.session,
                recipient="0664 1234567",
                text=text,
                mandant_id=mandant.id,
                source=MessageSource.MANUAL,
            )
            if status:
                message.status = status
        db.session.commit()
        db.session.remove()


def _download(page: Page, menu_item: str) -> tuple[str, bytes]:
    menu = page.locator("details.export-menu")
    menu.locator("summary").click()
    expect(menu).to_have_attribute("open", "")
    with page.expect_download() as info:
        menu.get_by_role("link", name=menu_item).click()
    download = info.value
    expect(menu).not_to_have_attribute("open", "")  # the choice closed the menu
    return download.suggested_filename, Path(download.path()).read_bytes()


def test_the_export_menu_downloads_the_filtered_list(page: Page, login, live_app):
    tag = uuid.uuid4().hex[:8]
    _seed(live_app, tag)
    login("sachbearbeiter")
    page.goto("/admin/sms/")
    set_filter(page.get_by_label("Text enthält"), tag)
    rows = page.locator("#messages tbody tr")
    expect(rows).to_have_count(3)
    set_filter(page.get_by_label("Status"), "failed")
    expect(rows).to_have_count(2)
    shown = [rows.nth(i).get_attribute("data-id") for i in range(2)]

    name, body = _download(page, "CSV für Excel")
    assert re.fullmatch(r"sms-nachrichten-\d{4}-\d\d-\d\d\.csv", name)
    assert body.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert table[0][:3] == ["ID", "Erstellt", "Empfänger"]
    assert [row[0] for row in table[1:]] == shown  # the rows of the list, in its order
    assert table[1][3] == f"Lift {tag}" and table[2][3] == f"Kaputt {tag} – Grüße"

    name, body = _download(page, "Excel-Arbeitsmappe (XLSX)")
    assert name.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(body), read_only=True).worksheets[0]
    assert [str(r[0]) for r in sheet.iter_rows(min_row=2, values_only=True)] == shown


def test_the_errorlog_tab_exports_its_entries(page: Page, login, live_app):
    tag = uuid.uuid4().hex[:8]
    with live_app.app_context():
        db.session.add(JobLogEntry(job_id=1, level="error", message=f"Modem weg {tag}"))
        db.session.add(JobLogEntry(job_id=1, level="info", message=f"Lauf ok {tag}"))
        db.session.commit()
        db.session.remove()
    login("admin")
    page.goto(f"/admin/jobs/1/log?text={tag}")
    expect(page.locator("#job-log tbody tr")).to_have_count(2)
    set_filter(page.get_by_label("Stufe"), "error")
    expect(page.locator("#job-log tbody tr")).to_have_count(1)
    name, body = _download(page, "CSV für Excel")
    assert re.fullmatch(r"errorlog-service-sms-\d{4}-\d\d-\d\d\.csv", name)
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert [row[1:] for row in table[1:]] == [["Fehler", "", f"Modem weg {tag}"]]

"""Exports of SMS Nachrichten, Empfangene SMS and the Errorlog (CSV, XLSX) with the filter in
force: the same rows in the same order as the list's pages, within the user's Mandanten."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import login_as
from webapp.blueprints.exports import download
from webapp.extensions import db as _db
from webapp.jobs.errorlog import LogFilter
from webapp.models import (
    Job,
    JobLogEntry,
    JobRun,
    Message,
    MessageSource,
    MessageStatus,
    ReceivedMessage,
    RunStatus,
)
from webapp.models.base import utcnow
from webapp.permissions import Permission
from webapp.sms import export, paging
from webapp.sms.export import CSV_ROWS_PER_WRITE, Column, Export, guard
from webapp.sms.inbox import InboxFilter
from webapp.sms.outbox import queue_sms
from webapp.sms.search import MessageFilter

SERVICE_SMS = 1  # the system job of migration 0005
VIENNA = ZoneInfo("Europe/Vienna")
HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    # A few rows per query, so that every export here crosses many chunk boundaries.
    monkeypatch.setattr(paging, "CHUNK_SIZE", 7)


@pytest.fixture
def clerk_user(make_user, wien):
    return make_user("clerk", Permission.SMS_MESSAGES, mandanten=[wien])


@pytest.fixture
def clerk(client, clerk_user):
    return login_as(client, clerk_user)


@pytest.fixture
def messages(db, wien, graz, clerk_user):
    """130 SMS in two Mandanten: several numbers, statuses, texts, sources and days."""
    numbers = ["0664 1234567", "0676 7654321", "0664 1299999", "+49 151 12345678"]
    texts = ["Heizung morgen aus", "Lift defekt", "Wasser abgedreht", "Zählerablesung"]
    statuses = [MessageStatus.QUEUED, MessageStatus.FAILED, MessageStatus.DELIVERED]
    created = []
    for i in range(130):
        message = queue_sms(
            db,
            recipient=numbers[i % 4],
            text=f"{texts[i % 4]} Nr. {i}",
            mandant_id=(wien if i % 3 else graz).id,
            source=MessageSource.API if i % 5 == 0 else MessageSource.MANUAL,
            created_by=clerk_user if i % 2 else None,
        )
        message.status = statuses[i % 3]
        message.created_at = utcnow() - timedelta(days=i % 6)
        created.append(message)
    db.commit()
    return created


def _walk(client, url: str, target: str, pattern: str = r'<tr data-id="(\d+)"') -> list[str]:
    """What `pattern` finds on every page of a list, following its "Ältere" link."""
    found: list[str] = []
    next_url: str | None = url
    while next_url:
        page = client.get(next_url, headers={**HX, "HX-Target": target}).text
        found += [html.unescape(value) for value in re.findall(pattern, page)]
        older = re.search(r'<a href="([^"]+)"[^>]*id="older-(?:page|log)"', page)
        next_url = html.unescape(older.group(1)) if older else None
    return found


def _list_ids(client, url: str, target: str) -> list[int]:
    return [int(i) for i in _walk(client, url, target)]


def _export_url(page: str, fmt: str) -> str:
    """The export link the list shows (it carries the list's filter)."""
    link = re.search(rf'<a href="([^"]+/export\.{fmt}[^"]*)"', page)
    assert link, "no export link on the page"
    return html.unescape(link.group(1))


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.content_type == "text/csv; charset=utf-8"
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with a BOM
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))


def _xlsx(response):
    assert response.status_code == 200
    assert response.content_type.startswith("application/vnd.openxmlformats-officedocument")
    return load_workbook(io.BytesIO(response.get_data()), read_only=True)


# --- SMS Nachrichten ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "",
        "status=failed",
        "number=0664+12",
        "number=%2B49+151",
        "text=Heizung",  # SQLite: through the FTS index
        "text=Nr.+1",
        "text=%25",  # LIKE characters are text
        "source=api",
        "status=queued&number=0664",
        f"created_from={(utcnow() - timedelta(days=2)).date()}",
        f"created_to={(utcnow() - timedelta(days=4)).date()}",
        "status=no-such-status",  # ignored as by the list
    ],
)
def test_export_of_the_filtered_list_equals_the_list(clerk, messages, query):
    url = f"/admin/sms/?{query}"
    listed = _list_ids(clerk, url, "message-results")
    page = clerk.get(url).text
    # The link on the page when there are rows to export (an empty list shows none).
    csv_url = _export_url(page, "csv") if listed else f"/admin/sms/export.csv?{query}"
    xlsx_url = _export_url(page, "xlsx") if listed else f"/admin/sms/export.xlsx?{query}"
    rows = _csv(clerk.get(csv_url))
    assert [int(row[0]) for row in rows[1:]] == listed  # same ids, same order
    book = _xlsx(clerk.get(xlsx_url))
    sheet = book.worksheets[0]
    assert [int(r[0]) for r in sheet.iter_rows(min_row=2, values_only=True)] == listed


def test_the_export_link_follows_the_filter_of_the_results(clerk, messages, wien):
    results = clerk.get("/admin/sms/?status=failed&text=Lift", headers=HX).text
    url = _export_url(results, "csv")
    assert url.startswith("/admin/sms/export.csv?")
    assert "status=failed" in url and "text=Lift" in url
    assert _export_url(results, "xlsx").startswith("/admin/sms/export.xlsx?")


def test_the_mandant_filter_and_scope_are_the_lists(clerk, db, messages, wien, graz):
    own = db.scalar(select(func.count()).select_from(Message).where(Message.mandant_id == wien.id))
    rows = _csv(clerk.get("/admin/sms/export.csv"))
    assert len(rows) - 1 == own
    assert {row[-1] for row in rows[1:]} == {"HV Wien"}
    # Asking for the other Mandant finds nothing, as in the list.
    assert _csv(clerk.get(f"/admin/sms/export.csv?mandant={graz.id}")) == [rows[0]]
    assert _list_ids(clerk, f"/admin/sms/?mandant={graz.id}", "message-results") == []


def test_an_administrator_exports_every_mandant(admin_client, messages):
    rows = _csv(admin_client.get("/admin/sms/export.csv"))
    assert len(rows) - 1 == len(messages)
    assert {row[-1] for row in rows[1:]} == {"HV Wien", "HV Graz"}


def test_without_permission_1669_no_export(app, make_user, wien, messages):
    other = login_as(app.test_client(), make_user("other", Permission.SMS_SEND, mandanten=[wien]))
    for url in ("/admin/sms/export.csv", "/admin/sms/export.xlsx", "/admin/sms/inbox/export.csv"):
        response = other.get(url)
        assert response.status_code == 403
        assert b"Keine Berechtigung" in response.get_data()


def test_csv_for_excel_in_german(app, clerk, db, wien, clerk_user):
    message = queue_sms(
        db,
        recipient="0664 1234567",
        text="Grüße aus Wien; „Zählerstand“ bitte\nbis Freitag",
        mandant_id=wien.id,
        source=MessageSource.MANUAL,
        created_by=clerk_user,
    )
    message.status = MessageStatus.FAILED
    message.reason = "Die Nummer ist eine Festnetznummer."
    message.created_at = datetime(2026, 7, 1, 10, 5, tzinfo=UTC)  # 12:05 in Vienna (summer)
    db.commit()
    response = clerk.get("/admin/sms/export.csv")
    body = response.get_data()
    assert b"\r\n" in body
    header, row = _csv(response)
    assert header == [
        "ID",
        "Erstellt",
        "Empfänger",
        "Text",
        "Teile",
        "Status",
        "Grund",
        "Versendet / Zugestellt",
        "Versand am",
        "Erstellt von",
        "Mandant",
    ]
    assert body.split(b"\r\n")[0].decode("utf-8-sig").count(";") == 10  # ; separates, not ,
    assert row[1] == "01.07.2026 12:05"  # the UI's local time and format
    assert row[2] == "'+436641234567"  # E.164, guarded (starts with +)
    assert row[3] == "Grüße aus Wien; „Zählerstand“ bitte\nbis Freitag"  # quoted, umlauts kept
    assert row[4:] == [
        "1",
        "Fehler",
        "Die Nummer ist eine Festnetznummer.",
        "",
        "",
        "Clerk",
        "HV Wien",
    ]


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://böse.example";"Klick")',
        "+1+1",
        "-2+3",
        "@SUM(A1:A2)",
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_guarded(clerk, db, wien, text):
    queue_sms(
        db, recipient="0664 1234567", text=text, mandant_id=wien.id, source=MessageSource.MANUAL
    )
    db.commit()
    row = _csv(clerk.get("/admin/sms/export.csv"))[1]
    assert row[3] == "'" + text
    # In the workbook the cell is a string, never a formula, and keeps the text as it is.
    sheet = _xlsx(clerk.get("/admin/sms/export.xlsx")).worksheets[0]
    cell = next(sheet.iter_rows(min_row=2, max_row=2))[3]
    assert cell.data_type == "s" and cell.value == text


def test_the_guard_also_knows_tab_and_carriage_return():
    # A text of an SMS is trimmed when queued; a sender name or a log message is not.
    assert guard("\t=1+1") == "'\t=1+1" and guard("\r=1+1") == "'\r=1+1"
    assert [guard(t) for t in ("Hallo", "1+1", "", " =1")] == ["Hallo", "1+1", "", " =1"]


def test_xlsx_is_a_workbook_with_typed_cells(clerk, db, wien):
    message = queue_sms(
        db,
        recipient="0664 1234567",
        text="Heizung: Ölstand prüfen",
        mandant_id=wien.id,
        source=MessageSource.MANUAL,
    )
    message.created_at = datetime(2026, 1, 15, 7, 30, tzinfo=UTC)  # 08:30 in Vienna (winter)
    message.sent_at = datetime(2026, 1, 15, 7, 31, tzinfo=UTC)
    message.status = MessageStatus.SENT
    db.commit()
    response = clerk.get("/admin/sms/export.xlsx")
    today = utcnow().astimezone(VIENNA).date().isoformat()
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="sms-nachrichten-{today}.xlsx"'
    )
    sheet = _xlsx(response).worksheets[0]
    assert sheet.title == "SMS Nachrichten"
    header, row = list(sheet.iter_rows(values_only=True))
    assert header[:4] == ("ID", "Erstellt", "Empfänger", "Text")
    assert row[0] == message.id
    assert row[1] == datetime(2026, 1, 15, 8, 30)  # a date cell in local time
    assert row[2] == "+436641234567"  # a text cell needs no guard
    assert row[3] == "Heizung: Ölstand prüfen"
    assert row[4] == 1 and row[5] == "Versendet"
    assert row[7] == datetime(2026, 1, 15, 8, 31)


def test_a_download_is_streamed_and_named_with_the_date(app, clerk, messages, clerk_user):
    response = clerk.get("/admin/sms/export.csv?status=failed")
    today = utcnow().astimezone(VIENNA).date().isoformat()
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="sms-nachrichten-{today}.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    # The view hands the server a generator: rows are read as the download goes out.
    read = []

    def rows():
        for n in range(2_500):
            read.append(n)
            yield (n, None, "x", "y", 1, "Zugestellt", None, None, None, "HV Wien")

    export = Export("SMS Nachrichten", "sms-nachrichten", (Column("ID"),) * 10, rows())
    with app.test_request_context():
        streamed = download(export, "csv")
        assert streamed.is_streamed
        blocks = iter(streamed.response)
        first = next(blocks)
        assert first.startswith(b"\xef\xbb\xbf") and len(read) <= CSV_ROWS_PER_WRITE
        assert sum(1 for _ in blocks) >= 2 and len(read) == 2_500


@pytest.mark.parametrize(
    "url", ["/admin/sms/export.csv", "/admin/sms/inbox/export.xlsx", "/admin/jobs/1/log/export.csv"]
)
def test_an_export_gives_its_database_connection_back(admin_client, messages, url):
    # Flask ends the request's app context (and removes its session) when the view returns,
    # before the body streams: the export's session must give its connection back itself.
    pool = _db.engine.pool
    before = pool.checkedout()
    for _ in range(3):
        assert admin_client.get(url).status_code == 200
    assert pool.checkedout() == before


def test_an_empty_list_exports_its_header_only_and_shows_no_link(clerk):
    assert "/export.csv" not in clerk.get("/admin/sms/").text
    assert len(_csv(clerk.get("/admin/sms/export.csv"))) == 1
    assert list(_xlsx(clerk.get("/admin/sms/export.xlsx")).worksheets[0].values) == [
        ("ID", "Erstellt", "Empfänger", "Text", "Teile", "Status", "Grund",
         "Versendet / Zugestellt", "Versand am", "Erstellt von", "Mandant")
    ]  # fmt: skip


def test_more_rows_than_a_sheet_holds_go_on_on_the_next_sheet(clerk, messages, monkeypatch):
    from webapp.sms import export

    monkeypatch.setattr(export, "XLSX_MAX_ROWS", 11)  # 10 rows and the header per sheet
    listed = _list_ids(clerk, "/admin/sms/", "message-results")
    book = _xlsx(clerk.get("/admin/sms/export.xlsx"))
    assert [s.title for s in book.worksheets][:2] == ["SMS Nachrichten", "SMS Nachrichten (2)"]
    ids = []
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][0] == "ID" and 1 < len(rows) <= 11
        ids += [row[0] for row in rows[1:]]
    assert ids == listed


def test_english_headers_after_switching_the_language(clerk, messages):
    clerk.post("/sprache/en")
    header = _csv(clerk.get("/admin/sms/export.csv"))[0]
    assert header[:3] == ["ID", "Created", "Recipient"]


def test_meine_sms_exports_the_users_own_sms(app, db, make_user, wien, messages, clerk_user):
    sender = make_user("sender", Permission.SMS_SEND, mandanten=[wien])
    own = [
        queue_sms(
            db,
            recipient="0664 7654321",
            text=f"Eigene {i}",
            mandant_id=wien.id,
            source=MessageSource.QUICK,
            created_by=sender,
        )
        for i in range(12)
    ]
    db.commit()
    client = login_as(app.test_client(), sender)
    listed = _list_ids(client, "/sms/meine/?text=Eigene", "message-results")
    assert listed == [m.id for m in reversed(own)]
    page = client.get("/sms/meine/?text=Eigene").text
    url = _export_url(page, "csv")
    assert url.startswith("/sms/meine/export.csv?")
    response = client.get(url)
    assert response.headers["Content-Disposition"].startswith('attachment; filename="meine-sms-')
    assert [int(row[0]) for row in _csv(response)[1:]] == listed
    # Without a filter too: only the user's own SMS, never the others of the Mandant.
    assert [int(row[0]) for row in _csv(client.get("/sms/meine/export.csv"))[1:]] == listed
    sheet = _xlsx(client.get("/sms/meine/export.xlsx")).worksheets[0]
    assert sheet.title == "Meine SMS"
    assert client.get("/admin/sms/export.csv").status_code == 403  # SMS Nachrichten: 1669


# --- Empfangene SMS -----------------------------------------------------------------------------


@pytest.fixture
def received(db, wien, graz, messages):
    rows = []
    for i in range(40):
        row = ReceivedMessage(
            transport="websms" if i % 2 else "modem",
            sender=["+436641234567", "+436767654321", "=cmd"][i % 3],
            text=f"Antwort {i}: passt, danke",
            provider_ref=f"ref-{i}",
            mandant_id=(wien if i % 4 else graz).id,
            received_at=utcnow() - timedelta(hours=i),
            reply_to_message_id=messages[1].id if i % 5 == 0 else None,
            contact_name="Maria Müller" if i % 3 == 0 else None,
            forwarded_at=utcnow() if i % 2 else None,
            forward_attempts=0 if i % 4 else 2,
        )
        rows.append(row)
    db.add_all(rows)
    db.commit()
    return rows


@pytest.mark.parametrize("query", ["", "number=0664", "text=Antwort+1", "text=danke"])
def test_inbox_export_equals_the_list(clerk, received, query):
    url = f"/admin/sms/inbox?{query}"
    listed = _list_ids(clerk, url, "inbox-results")
    assert listed
    page = clerk.get(url).text
    rows = _csv(clerk.get(_export_url(page, "csv")))
    assert rows[0] == [
        "ID",
        "Empfangen",
        "Absender",
        "Name",
        "Text",
        "Antwort auf",
        "Weitergeleitet",
        "Mandant",
    ]
    assert [int(row[0]) for row in rows[1:]] == listed
    assert {row[7] for row in rows[1:]} == {"HV Wien"}  # the clerk's Mandant only
    sheet = _xlsx(clerk.get(_export_url(page, "xlsx"))).worksheets[0]
    assert sheet.title == "Empfangene SMS"
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == listed


def test_inbox_export_cells(admin_client, received, messages):
    rows = {int(row[0]): row for row in _csv(admin_client.get("/admin/sms/inbox/export.csv"))[1:]}
    first = rows[received[0].id]
    assert first[2] == "'+436641234567"  # E.164, guarded (starts with +)
    assert first[3] == "Maria Müller" and first[4] == "Antwort 0: passt, danke"
    assert first[5] == f"SMS {messages[1].id}"
    assert first[6] == "Fehler – wird erneut versucht"  # not forwarded, tried twice
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", rows[received[1].id][6])  # forwarded
    assert rows[received[2].id][2] == "'=cmd"  # a sender name that looks like a formula
    assert rows[received[2].id][6] == "ausstehend"
    assert rows[received[2].id][5] == ""


# --- Errorlog -----------------------------------------------------------------------------------


@pytest.fixture
def log_entries(db):
    run = JobRun(job_id=SERVICE_SMS, run_key="log-run", status=RunStatus.FAILED)
    db.add(run)
    db.flush()
    db.add(
        JobLogEntry(
            job_id=SERVICE_SMS,
            level="error",
            message="=Modem nicht erreichbar",
            created_at=datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC),
        )
    )
    for n in range(60):
        db.add(
            JobLogEntry(
                job_id=SERVICE_SMS,
                run_id=run.id,
                level="warning" if n % 10 == 0 else "info",
                message=f"SMS {n}: Zustellung geprüft",
            )
        )
    db.commit()
    return run


@pytest.mark.parametrize("query", ["", "level=warning", "text=Zustellung", "level=info&run={run}"])
def test_errorlog_export_equals_the_tab(admin_client, log_entries, query):
    url = f"/admin/jobs/{SERVICE_SMS}/log?{query.format(run=log_entries.id)}"
    listed = _walk(admin_client, url, "job-log-results", r'<td class="pre">(.*?)</td>')
    assert listed
    page = admin_client.get(url, headers={**HX, "HX-Target": "job-log-results"}).text
    response = admin_client.get(_export_url(page, "csv"))
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="errorlog-service-sms-'
    )
    rows = _csv(response)
    assert rows[0] == ["Zeit", "Stufe", "Lauf", "Meldung"]
    assert [row[3].removeprefix("'") for row in rows[1:]] == listed  # same entries, same order
    sheet = _xlsx(admin_client.get(_export_url(page, "xlsx"))).worksheets[0]
    assert sheet.title == "Errorlog"
    assert [r[3] for r in sheet.iter_rows(min_row=2, values_only=True)] == listed


def test_errorlog_export_cells(admin_client, log_entries):
    rows = _csv(admin_client.get(f"/admin/jobs/{SERVICE_SMS}/log/export.csv?level=error"))
    assert rows[1:] == [["02.03.2026 10:00:05", "Fehler", "", "'=Modem nicht erreichbar"]]
    sheet = _xlsx(
        admin_client.get(f"/admin/jobs/{SERVICE_SMS}/log/export.xlsx?level=error")
    ).worksheets[0]
    assert list(sheet.iter_rows(min_row=2, values_only=True)) == [
        (datetime(2026, 3, 2, 10, 0, 5), "Fehler", None, "=Modem nicht erreichbar")
    ]


def test_errorlog_export_is_for_administrators(app, make_user, log_entries):
    clerk = login_as(app.test_client(), make_user("c", Permission.SMS_MESSAGES))
    assert clerk.get(f"/admin/jobs/{SERVICE_SMS}/log/export.csv").status_code == 403
    admin = login_as(app.test_client(), make_user("boss", admin=True))
    assert admin.get("/admin/jobs/999/log/export.csv").status_code == 404


def test_a_slow_download_holds_no_connection_between_chunks(db, received, log_entries):
    # A user on a slow line takes minutes for 1,000,000 rows: while the rows of one chunk go
    # out, the export holds no connection, and on PostgreSQL no open transaction (whose
    # snapshot would keep VACUUM from cleaning up behind the whole database meanwhile).
    pool = _db.engine.pool
    with Session(_db.engine) as session:
        job = session.get(Job, SERVICE_SMS)
        assert job is not None
        exports = [
            export.message_export(session, MessageFilter(), mandant_ids=None),
            export.received_export(session, InboxFilter(), mandant_ids=None),
            export.log_export(session, job, LogFilter()),
        ]
        session.rollback()  # what building them read
        for each in exports:
            before = pool.checkedout()
            rows = iter(each.rows)
            for _ in range(20):  # several chunks of 7 rows into the download
                next(rows)
                assert pool.checkedout() == before, each.title
            assert sum(1 for _ in rows) > 0

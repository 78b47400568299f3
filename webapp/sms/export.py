"""Exports of the lists (SMS Nachrichten, Empfangene SMS, a job's Errorlog) as CSV and XLSX.

An export is the whole list with the filter in force: the list's own query (`list_query`,
`received_query`, `log_query` with the filter object the list's form gives, within the
user's Mandanten) read along the list's order in keyset chunks (`paging.every_row`), so it
holds the same rows in the same order as the pages, and memory stays flat for a million
rows. `Export.rows` is a generator: nothing is read before the response asks for it.

The columns are the list's columns under the list's (German) labels, with the values a
list cell shows (status label, times in TIMEZONE); a few values the list shows when a row is
opened come along (the reason of a status). Numbers are given as stored, in E.164
(+436641234567): one string per number that a spreadsheet can match and sort, and cheap to
write (laying out "+43 664 1234567" costs phonenumbers ~0.1 ms per number, a minute and a
half for a million).

CSV: UTF-8 with a byte-order mark and `;` between cells, as Excel in German expects; a text
cell that starts with = + - @ or a tab/CR gets a leading ' so that no spreadsheet runs it as
a formula. XLSX: XlsxWriter in constant_memory mode (each row is written out as soon as the
next begins) into a temporary file, which is then streamed; cells are typed (numbers,
dates, strings: a string is never read as a formula there).
"""

from __future__ import annotations

import csv
import enum
import io
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from webapp.formatting import format_datetime, to_local
from webapp.jobs.errorlog import LOG_ORDER, LogFilter, log_query
from webapp.models import (
    EntryLevel,
    Job,
    JobLogEntry,
    Mandant,
    Message,
    MessageStatus,
    ReceivedMessage,
    User,
)
from webapp.sms.inbox import (
    RECEIVED_DEFAULT_SORT,
    InboxFilter,
    received_order,
    received_query,
)
from webapp.sms.outbox import status_label
from webapp.sms.paging import ListSort, every_row
from webapp.sms.search import MESSAGE_DEFAULT_SORT, MessageFilter, list_query, message_order

Cell = str | int | datetime | None
Row = tuple[Cell, ...]

CSV_MIMETYPE = "text/csv"  # the response adds "; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What a spreadsheet may take for the start of a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_576  # per sheet, header included; more rows go on to a next sheet
CSV_ROWS_PER_WRITE = 1_000  # rows encoded and handed to the response at once
FILE_BLOCK = 64 * 1024


class Kind(enum.Enum):
    """What a column holds, so that each cell is written without asking its type."""

    TEXT = "text"  # str or None
    NUMBER = "number"  # int or None
    TIME = "time"  # an aware datetime or None
    MIXED = "mixed"  # any of them


@dataclass(frozen=True)
class Column:
    """A column of an export: its header (the list's label), what it holds, its width in
    Excel."""

    label: str
    kind: Kind = Kind.TEXT
    width: float = 14


@dataclass(frozen=True)
class Export:
    """A list to export: its name (sheet), the start of its file name, its columns and its
    rows (a generator that reads the database as it is consumed)."""

    title: str
    stem: str
    columns: tuple[Column, ...]
    rows: Iterable[Row]
    seconds: bool = False  # times with seconds (the Errorlog shows them so)

    def filename(self, fmt: str, today: date) -> str:
        """sms-nachrichten-2026-12-02.csv"""
        return f"{self.stem}-{today.isoformat()}.{fmt}"


# --- the three lists ------------------------------------------------------------------------


def message_export(
    session: Session,
    flt: MessageFilter,
    *,
    mandant_ids: set[int] | None,
    default_region: str = "AT",
    timezone: str = "Europe/Vienna",
    created_by_id: int | None = None,
    chunk_size: int | None = None,
    sort: ListSort = MESSAGE_DEFAULT_SORT,
) -> Export:
    """SMS Nachrichten with the filter `flt` in the order of `sort` (newest first by
    default), as the list shows them; Meine SMS (one author's) with `created_by_id`."""
    query = list_query(
        session,
        flt,
        mandant_ids=mandant_ids,
        default_region=default_region,
        timezone=timezone,
        created_by_id=created_by_id,
        sort=sort,
    )
    order = message_order(session, sort, flt, mandant_ids, query.order)
    read = (
        Message.id,
        Message.created_at,
        Message.recipient,
        Message.recipient_raw,
        Message.text,
        Message.segments,
        Message.status,
        Message.reason,
        Message.delivered_at,
        Message.sent_at,
        Message.send_at,
        Message.created_by_id,
        Message.created_by_module,
        Message.mandant_id,
    )

    def rows() -> Iterator[Row]:
        labels = {status: status_label(status) for status in MessageStatus}
        users = _user_labels(session)
        mandanten = _mandant_names(session)
        for chunk in every_row(session, query.stmt, order, read, chunk_size=chunk_size):
            users.load(row[11] for row in chunk)
            mandanten.load(row[13] for row in chunk)
            _end_read(session)
            for (
                message_id,
                created_at,
                recipient,
                recipient_raw,
                text,
                segments,
                status,
                reason,
                delivered_at,
                sent_at,
                send_at,
                created_by_id,
                created_by_module,
                mandant_id,
            ) in chunk:
                yield (
                    message_id,
                    created_at,
                    recipient or recipient_raw,
                    text,
                    segments,
                    labels[status],
                    reason,
                    delivered_at or sent_at,
                    send_at,
                    users.get(created_by_id) or created_by_module,
                    mandanten.get(mandant_id),
                )

    columns = (
        Column(_("ID"), Kind.NUMBER, 10),
        Column(_("Erstellt"), Kind.TIME, 17),
        Column(_("Empfänger"), width=18),
        Column(_("Text"), width=60),
        Column(_("Teile"), Kind.NUMBER, 6),
        Column(_("Status"), width=20),
        Column(_("Grund"), width=40),
        Column(_("Versendet / Zugestellt"), Kind.TIME, 20),
        Column(_("Versand am"), Kind.TIME, 17),
        Column(_("Erstellt von"), width=20),
        Column(_("Mandant"), width=24),
    )
    return Export(_("SMS Nachrichten"), "sms-nachrichten", columns, rows())


def received_export(
    session: Session,
    flt: InboxFilter,
    *,
    mandant_ids: set[int] | None,
    default_region: str = "AT",
    timezone: str = "Europe/Vienna",
    chunk_size: int | None = None,
    sort: ListSort = RECEIVED_DEFAULT_SORT,
) -> Export:
    """Empfangene SMS with the filter `flt` in the order of `sort` (newest first by
    default), as the list shows them."""
    stmt = received_query(
        flt, mandant_ids=mandant_ids, default_region=default_region, timezone=timezone
    )
    read = (
        ReceivedMessage.id,
        ReceivedMessage.received_at,
        ReceivedMessage.sender,
        ReceivedMessage.contact_name,
        ReceivedMessage.text,
        ReceivedMessage.reply_to_message_id,
        ReceivedMessage.forwarded_at,
        ReceivedMessage.forward_attempts,
        ReceivedMessage.mandant_id,
    )

    def rows() -> Iterator[Row]:
        mandanten = _mandant_names(session)
        retrying, pending = _("Fehler – wird erneut versucht"), _("ausstehend")
        order = received_order(session, sort, flt, mandant_ids)
        for chunk in every_row(session, stmt, order, read, chunk_size=chunk_size):
            mandanten.load(row[8] for row in chunk)
            _end_read(session)
            for (
                received_id,
                received_at,
                sender,
                contact_name,
                text,
                reply_to_id,
                forwarded_at,
                forward_attempts,
                mandant_id,
            ) in chunk:
                forwarded: Cell = forwarded_at or (retrying if forward_attempts else pending)
                yield (
                    received_id,
                    received_at,
                    sender,
                    contact_name,
                    text,
                    _("SMS %(id)d", id=reply_to_id) if reply_to_id else None,
                    forwarded,
                    mandanten.get(mandant_id),
                )

    columns = (
        Column(_("ID"), Kind.NUMBER, 10),
        Column(_("Empfangen"), Kind.TIME, 17),
        Column(_("Absender"), width=18),
        Column(_("Name"), width=24),
        Column(_("Text"), width=60),
        Column(_("Antwort auf"), width=12),
        Column(_("Weitergeleitet"), Kind.MIXED, 20),
        Column(_("Mandant"), width=24),
    )
    return Export(_("Empfangene SMS"), "empfangene-sms", columns, rows())


def log_export(
    session: Session, job: Job, flt: LogFilter, *, chunk_size: int | None = None
) -> Export:
    """The Errorlog of `job` with the filter `flt`, newest first, as the tab shows it."""
    stmt = log_query(job, flt)
    read = (JobLogEntry.created_at, JobLogEntry.level, JobLogEntry.run_id, JobLogEntry.message)

    def rows() -> Iterator[Row]:
        levels = {level.value: level.label for level in EntryLevel}
        for chunk in every_row(session, stmt, LOG_ORDER, read, chunk_size=chunk_size):
            _end_read(session)
            for created_at, level, run_id, message in chunk:
                yield created_at, levels.get(level, level), run_id, message

    columns = (
        Column(_("Zeit"), Kind.TIME, 20),
        Column(_("Stufe"), width=10),
        Column(_("Lauf"), Kind.NUMBER, 8),
        Column(_("Meldung"), width=100),
    )
    stem = f"errorlog-{slug(job.name) or job.id}"
    return Export(_("Errorlog"), stem, columns, rows(), seconds=True)


def _end_read(session: Session) -> None:
    """End the read transaction once a chunk and its names are read, before its rows go out:
    while a slow client takes them, the export holds no connection, and on PostgreSQL no
    snapshot that keeps VACUUM from cleaning up (the next chunk's keyset query starts afresh)."""
    session.rollback()


def slug(name: str) -> str:
    """A name for a file name: "Service SMS" → "service-sms" (ASCII letters and digits)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40]


class _Names:
    """Names of the users or Mandanten the rows refer to, fetched for the ids of each chunk
    that are not known yet (there are few of them, and they repeat)."""

    def __init__(self, fetch: Callable[[list[int]], dict[int, str]]) -> None:
        self._fetch = fetch
        self._names: dict[int, str] = {}

    def load(self, ids: Iterable[int | None]) -> None:
        missing = {i for i in ids if i is not None and i not in self._names}
        if missing:
            self._names.update(self._fetch(sorted(missing)))

    def get(self, record_id: int | None) -> str | None:
        return self._names.get(record_id) if record_id is not None else None


def _user_labels(session: Session) -> _Names:
    def fetch(ids: list[int]) -> dict[int, str]:
        return {
            user.id: user.label for user in session.scalars(select(User).where(User.id.in_(ids)))
        }

    return _Names(fetch)


def _mandant_names(session: Session) -> _Names:
    def fetch(ids: list[int]) -> dict[int, str]:
        stmt = select(Mandant.id, Mandant.name).where(Mandant.id.in_(ids))
        return {mandant_id: name for mandant_id, name in session.execute(stmt)}

    return _Names(fetch)


# --- CSV ------------------------------------------------------------------------------------


def guard(text: str) -> str:
    """A text cell no spreadsheet takes for a formula: one starting with = + - @ or a tab or
    carriage return gets a leading '."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv_text(value: Cell) -> str:
    return "" if value is None else guard(str(value))


def _csv_number(value: Cell) -> Cell:
    return "" if value is None else value


def _csv_cell(value: Cell, seconds: bool = False) -> str | int:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_datetime(value, seconds)
    if isinstance(value, int):
        return value
    return guard(value)


def _csv_writers(export: Export) -> list[Callable[[Any], Cell]]:
    seconds = export.seconds

    def time(value: datetime | None) -> str:
        return format_datetime(value, seconds)

    def mixed(value: Cell) -> str | int:
        return _csv_cell(value, seconds)

    by_kind: dict[Kind, Callable[[Any], Cell]] = {
        Kind.TEXT: _csv_text,
        Kind.NUMBER: _csv_number,
        Kind.TIME: time,
        Kind.MIXED: mixed,
    }
    return [by_kind[column.kind] for column in export.columns]


def csv_chunks(export: Export) -> Iterator[bytes]:
    """The export as CSV for Excel in German: UTF-8 with BOM, `;`, CRLF; a header row with the
    column labels. Yields a block every CSV_ROWS_PER_WRITE rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([guard(column.label) for column in export.columns])
    cells = _csv_writers(export)
    for count, row in enumerate(export.rows, 1):
        writer.writerow([cell(value) for cell, value in zip(cells, row, strict=True)])
        if count % CSV_ROWS_PER_WRITE == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


# --- XLSX -----------------------------------------------------------------------------------


def write_xlsx(export: Export, path: Path, tmpdir: Path) -> int:
    """Write the export as an Excel workbook to `path` (XlsxWriter's own temporary files in
    `tmpdir`); returns the number of rows. A header row (bold, frozen, with filters) on each
    sheet; past Excel's 1,048,576 rows per sheet the rows go on on a next sheet."""
    workbook = Workbook(str(path), {"constant_memory": True, "tmpdir": str(tmpdir)})
    header = workbook.add_format({"bold": True})
    when = workbook.add_format(
        {"num_format": "dd.mm.yyyy hh:mm:ss" if export.seconds else "dd.mm.yyyy hh:mm"}
    )
    sheets = 0

    def new_sheet() -> Worksheet:
        nonlocal sheets
        sheets += 1
        name = export.title if sheets == 1 else f"{export.title} ({sheets})"
        sheet = workbook.add_worksheet(name[:31])
        for index, column in enumerate(export.columns):
            sheet.set_column(index, index, column.width)
            sheet.write_string(0, index, column.label, header)
        sheet.freeze_panes(1, 0)
        return sheet

    def finish(sheet: Worksheet, last_row: int) -> None:
        sheet.autofilter(0, 0, last_row, len(export.columns) - 1)

    sheet = new_sheet()
    cells = _xlsx_writers(when, export)
    row_index = 0
    total = 0
    try:
        for row in export.rows:
            row_index += 1
            if row_index == XLSX_MAX_ROWS:
                finish(sheet, row_index - 1)
                sheet = new_sheet()
                row_index = 1
            for column, (cell, value) in enumerate(zip(cells, row, strict=True)):
                cell(sheet, row_index, column, value)
            total += 1
        finish(sheet, row_index)
    finally:
        workbook.close()
    return total


XlsxCell = Callable[[Worksheet, int, int, Any], object]


def _xlsx_writers(when: Format, export: Export) -> list[XlsxCell]:
    """Per column, how a cell is written: typed (a string is never read as a formula), times as
    dates in TIMEZONE; an empty cell is left out."""

    def text(sheet: Worksheet, row: int, column: int, value: str | None) -> object:
        return None if value is None else sheet.write_string(row, column, value)

    def number(sheet: Worksheet, row: int, column: int, value: int | None) -> object:
        return None if value is None else sheet.write_number(row, column, value)

    def time(sheet: Worksheet, row: int, column: int, value: datetime | None) -> object:
        if value is None:
            return None
        return sheet.write_datetime(row, column, to_local(value).replace(tzinfo=None), when)

    def mixed(sheet: Worksheet, row: int, column: int, value: Cell) -> object:
        if isinstance(value, datetime):
            return time(sheet, row, column, value)
        if isinstance(value, int):
            return number(sheet, row, column, value)
        return text(sheet, row, column, value)

    by_kind: dict[Kind, XlsxCell] = {
        Kind.TEXT: text,
        Kind.NUMBER: number,
        Kind.TIME: time,
        Kind.MIXED: mixed,
    }
    return [by_kind[column.kind] for column in export.columns]


def xlsx_chunks(export: Export) -> Iterator[bytes]:
    """The export as an Excel workbook: written to a temporary file (constant memory), then
    read out in blocks; the file is gone afterwards, also when the download is cancelled."""
    with tempfile.TemporaryDirectory(prefix="sms-export-") as folder:
        path = Path(folder) / "export.xlsx"
        write_xlsx(export, path, Path(folder))
        with path.open("rb") as workbook:
            while block := workbook.read(FILE_BLOCK):
                yield block


def chunks(export: Export, fmt: str) -> Iterator[bytes]:
    """The export in `fmt` ("csv" or "xlsx"), block by block."""
    return csv_chunks(export) if fmt == "csv" else xlsx_chunks(export)


def mimetype(fmt: str) -> str:
    return CSV_MIMETYPE if fmt == "csv" else XLSX_MIMETYPE

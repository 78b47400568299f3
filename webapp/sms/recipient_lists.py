"""Recipient lists of a Serien-SMS: a CSV file uploaded or pasted (issue 17).

One row per recipient: a column with the mobile number and any others, each of which a text
can use as `{spalte.<name>}` (`placeholders.column_key`). What is read:

- the encoding: UTF-8 with or without BOM, else Windows-1252 (Excel's "CSV" on a German
  Windows); pasted text is already text (a BOM copied along is dropped);
- the delimiter: `;`, `,` or a tab, whichever the first line has most of (outside quotes);
- a heading line when no cell of the first line looks like a phone number (else the columns
  are named spalte1, spalte2, …); the number column by its heading (Nummer, Handy, Mobil,
  Telefon, …), else the first column whose first value looks like a number;
- quotes as in RFC 4180 (a `;` or a line break inside quotes is text); empty lines skipped.

An uploaded XLSX workbook (recognised by its content: a zip that openpyxl opens) is read from
its active sheet with openpyxl (read-only, cached formula values) into the same rows, so all
of the above after the splitting into cells applies to it alike (`read_upload`). Numbers
become their digits (436641234567, not 4.36641234567E11; a leading 0 or + that Excel dropped
from a number stays lost, the one number parser decides as for the same digits in a CSV),
dates German (24.12.2026, 24.12.2026 08:30). An old .xls or a workbook with a password
(both OLE2 files) is refused with what to do instead.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from flask_babel import gettext as _

from webapp.errors import InputError
from webapp.formatting import format_number
from webapp.sms.placeholders import column_key

MAX_ROWS = 50_000
# An XLSX upload is at most MAX_CONTENT_LENGTH (4 MB) like any request; unpacked it may not
# exceed this (a zip bomb is refused before anything is parsed), nor have more columns.
MAX_XLSX_UNPACKED = 64 * 1024 * 1024
MAX_COLUMNS = 200
MAX_CELLS = 5_000_000  # cells read of a sheet, empty ones of a row included
EXCEL_MAX_ROWS = 1_048_576
ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0"  # .xls, and any Office file with a password
DELIMITERS = (";", ",", "\t")
# Headings of a number column, as `column_key` spells them.
NUMBER_HEADINGS = (
    "handynummer",
    "mobilnummer",
    "mobilfunknummer",
    "handy",
    "mobil",
    "mobile",
    "nummer",
    "telefonnummer",
    "telefon",
    "tel",
    "rufnummer",
    "number",
    "phone",
    "empfaenger",
)
_DIGITS = re.compile(r"\d")


@dataclass(frozen=True)
class ListColumn:
    """A column: its heading as written and its placeholder name."""

    heading: str
    key: str


@dataclass(frozen=True)
class ListRow:
    """One recipient of the list: its line in the file (1-based), the number as written and
    the values of all columns by placeholder name."""

    line: int
    number: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecipientList:
    """A list as read: columns, the number column's key, rows, and how it was read."""

    columns: tuple[ListColumn, ...]
    number_key: str
    rows: tuple[ListRow, ...]
    encoding: str
    delimiter: str

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(column.key for column in self.columns)


def decode(data: bytes) -> tuple[str, str]:
    """The text of an uploaded file and the encoding it was read with ("UTF-8 mit BOM",
    "UTF-8", "Windows-1252")."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "UTF-8 mit BOM"
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        # Every byte is a character in Windows-1252 but five; those become U+FFFD.
        return data.decode("cp1252", errors="replace"), "Windows-1252"


def _delimiter(first_line: str) -> str:
    """The delimiter the first line has most of outside quotes; ";" when it has none."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in first_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ";"


def _looks_like_number(cell: str) -> bool:
    return len(_DIGITS.findall(cell)) >= 6


def _columns(headings: list[str]) -> tuple[ListColumn, ...]:
    """Columns with unique, non-empty placeholder names (spalteN for an empty heading, a
    repeated name gets _2, _3)."""
    seen: set[str] = set()
    columns: list[ListColumn] = []
    for index, heading in enumerate(headings, start=1):
        base = column_key(heading) or f"spalte{index}"
        key, n = base, 1
        while key in seen:
            n += 1
            key = f"{base}_{n}"
        seen.add(key)
        columns.append(ListColumn(heading.strip(), key))
    return tuple(columns)


def read_list(content: str | bytes) -> RecipientList:
    """Read a recipient list (file bytes or pasted text); InputError (field "liste") when it
    has no rows or no column of numbers, or is a workbook that cannot be read."""
    if isinstance(content, bytes):
        if content.startswith((ZIP_MAGIC, OLE2_MAGIC)):
            return read_upload(content)[0]
        text, encoding = decode(content)
    else:
        text, encoding = content.removeprefix("\ufeff"), _("eingefügter Text")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise InputError(_("Die Liste ist leer."), "liste")
    delimiter = _delimiter(first)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"', strict=False)
    records: list[tuple[int, list[str]]] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        records.append((reader.line_num, cells))
        if len(records) > MAX_ROWS + 1:
            raise _too_many_rows()
    return _recipient_list(records, encoding, delimiter)


def read_upload(data: bytes) -> tuple[RecipientList, str]:
    """Read an uploaded file (CSV or XLSX) and give the text that stands for it in the paste
    field afterwards, so a second review reads the same list: the file's text for a CSV, for
    a workbook its rows as CSV with `;` (a cell with `;`, `,`, a quote or a line break in
    quotes; each empty row an empty line, so the line numbers stay the sheet's rows)."""
    if data.startswith(OLE2_MAGIC):
        raise InputError(
            _(
                "Die Datei ist eine alte Excel-Datei (.xls) oder mit einem Kennwort geschützt. "
                "Bitte in Excel ohne Kennwort als .xlsx oder CSV speichern."
            ),
            "liste",
        )
    if not data.startswith(ZIP_MAGIC):
        return read_list(data), decode(data)[0]
    records = _xlsx_records(data)
    lines: list[str] = []
    for line, cells in records:
        lines += [""] * (line - len(lines) - 1)  # the empty rows skipped
        lines.append(";".join(_csv_cell(cell) for cell in cells))
    text = "\n".join(lines) + "\n"
    return _recipient_list(records, "XLSX", ";"), text


def _too_many_rows() -> InputError:
    return InputError(
        _("Die Liste hat mehr als %(n)d Zeilen; bitte aufteilen.", n=MAX_ROWS), "liste"
    )


def _recipient_list(
    records: list[tuple[int, list[str]]], encoding: str, delimiter: str
) -> RecipientList:
    """The list of the non-empty rows read (line number, cells): heading, columns, rows."""
    if not records:
        raise InputError(_("Die Liste ist leer."), "liste")
    head = records[0][1]
    has_heading = not any(_looks_like_number(cell) for cell in head)
    width = max(len(cells) for _line, cells in records)
    headings = [*head, *[""] * (width - len(head))] if has_heading else [""] * width
    columns = _columns(headings)
    data = records[1:] if has_heading else records
    if not data:
        raise InputError(_("Die Liste enthält nur die Überschriftenzeile."), "liste")
    number_key = _number_column(columns, data)
    index = [column.key for column in columns].index(number_key)
    rows = tuple(
        ListRow(
            line,
            cells[index].strip() if index < len(cells) else "",
            {
                column.key: (cells[i].strip() if i < len(cells) else "")
                for i, column in enumerate(columns)
            },
        )
        for line, cells in data
    )
    return RecipientList(columns, number_key, rows, encoding, delimiter)


def _csv_cell(text: str) -> str:
    """A cell of the paste field's CSV: quoted when it holds a delimiter, quote or line
    break (a `,` too, so a one-column sheet is not split at it when read back)."""
    if any(char in text for char in ';,\t"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _unreadable_workbook() -> InputError:
    return InputError(
        _(
            "Die Datei ist keine lesbare XLSX-Datei (beschädigt oder ein anderes Format). "
            "Bitte in Excel als .xlsx oder CSV neu speichern."
        ),
        "liste",
    )


def _xlsx_records(data: bytes) -> list[tuple[int, list[str]]]:
    """The non-empty rows of the workbook's active sheet (row number, cell texts without
    trailing empty cells), read as a stream: stops past MAX_ROWS."""
    from openpyxl import load_workbook  # only an XLSX upload needs it
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as error:
        raise _unreadable_workbook() from error
    if unpacked > MAX_XLSX_UNPACKED:
        raise InputError(
            _(
                "Die XLSX-Datei ist entpackt größer als %(mb)d MB. Bitte nur die Empfänger "
                "auf ein Tabellenblatt stellen oder als CSV speichern.",
                mb=MAX_XLSX_UNPACKED // (1024 * 1024),
            ),
            "liste",
        )
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # any failure to open it means the same to the user
        raise _unreadable_workbook() from error
    try:
        sheet = workbook.active
        if not isinstance(sheet, ReadOnlyWorksheet):
            raise InputError(
                _("Das aktive Blatt der Datei ist keine Tabelle (ein Diagramm?)."), "liste"
            )
        # The stated size may be wrong or absurd (A1:XFD1048576): each row is read as wide as
        # its last cell in the file. Every cell read counts against MAX_CELLS, and a row past
        # Excel's last stops the reading, so no crafted sheet keeps the process busy.
        sheet.reset_dimensions()
        records: list[tuple[int, list[str]]] = []
        cells_read = 0
        for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells_read += len(values)
            if line > EXCEL_MAX_ROWS or cells_read > MAX_CELLS:
                raise InputError(
                    _(
                        "Die Tabelle ist zu groß (mehr als %(n)s Zellen mit Inhalt oder "
                        "Formatierung). Bitte nur die Empfänger in eine neue Datei kopieren.",
                        n=format_number(MAX_CELLS),
                    ),
                    "liste",
                )
            cells = [_cell_text(value) for value in values]
            while cells and not cells[-1].strip():
                cells.pop()
            if not cells:
                continue
            if len(cells) > MAX_COLUMNS:
                raise InputError(
                    _(
                        "Die Tabelle hat mehr als %(n)d Spalten; bitte nur die nötigen "
                        "Spalten behalten.",
                        n=MAX_COLUMNS,
                    ),
                    "liste",
                )
            records.append((line, cells))
            if len(records) > MAX_ROWS + 1:
                raise _too_many_rows()
    except InputError:
        raise
    except Exception as error:  # a broken sheet inside an intact zip
        raise _unreadable_workbook() from error
    finally:
        workbook.close()
    if not records:
        raise InputError(
            _(
                "Das Tabellenblatt „%(name)s“ ist leer. Die Empfänger müssen auf dem "
                "Tabellenblatt stehen, das beim Speichern ausgewählt war.",
                name=sheet.title,
            ),
            "liste",
        )
    return records


def _cell_text(value: object) -> str:
    """A cell's value as text the way a German Excel shows it: a whole number as its digits
    (Excel stores every number as a float: 4.36641234567E11 is 436641234567), a fraction
    with a decimal comma, dates and times as 24.12.2026 08:30, nothing as ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "WAHR" if value else "FALSCH"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)), "f").replace(".", ",")
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.strftime("%d.%m.%Y")
        return value.strftime("%d.%m.%Y %H:%M:%S" if value.second else "%d.%m.%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, time):
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")
    if isinstance(value, timedelta):
        minutes, seconds = divmod(int(value.total_seconds()), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")
    return str(value)


def _number_column(columns: tuple[ListColumn, ...], data: list[tuple[int, list[str]]]) -> str:
    keys = [column.key for column in columns]
    for heading in NUMBER_HEADINGS:
        if heading in keys:
            return heading
    first = data[0][1]
    for i, cell in enumerate(first):
        if _looks_like_number(cell):
            return keys[i]
    raise InputError(
        _(
            "In der Liste ist keine Spalte mit Handynummern zu finden. Bitte die Spalte "
            "„Handynummer“ nennen oder die Nummern in die erste Spalte stellen."
        ),
        "liste",
    )

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

XLSX is not read: openpyxl is no production dependency (only the tests use it). Save the sheet
as "CSV UTF-8" or "CSV (Trennzeichen-getrennt)" instead; both are read.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from flask_babel import gettext as _

from webapp.errors import InputError
from webapp.sms.placeholders import column_key

MAX_ROWS = 50_000
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
    has no rows or no column of numbers."""
    if isinstance(content, bytes):
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
            raise InputError(
                _("Die Liste hat mehr als %(n)d Zeilen; bitte aufteilen.", n=MAX_ROWS), "liste"
            )
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

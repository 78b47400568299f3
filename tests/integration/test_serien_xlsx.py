"""XLSX recipient lists of a Serien-SMS (issue 17 point 1): the reader and the upload through
the dialog, including the second review after Prüfen."""

from __future__ import annotations

import html
import io
import re
import zipfile
from datetime import datetime, time

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from tests.conftest import login_as
from webapp.errors import InputError
from webapp.models import Message, Series
from webapp.permissions import Permission
from webapp.sms import recipient_lists
from webapp.sms.recipient_lists import read_list, read_upload


def _xlsx(*rows: list[object], title: str = "Mieter") -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _refusal(data: bytes) -> str:
    with pytest.raises(InputError) as error:
        read_upload(data)
    assert error.value.field == "liste"
    return error.value.message


# --- the reader ----------------------------------------------------------------------------------


def test_numbers_typed_as_numbers_become_their_digits():
    data = _xlsx(
        ["Handynummer", "Name"],
        [436641234567, "int"],
        [4.36641234568e11, "float"],
        ["0664 1234569", "text"],
        [6641234570, "local digits"],
    )
    listing, text = read_upload(data)
    assert listing.encoding == "XLSX" and listing.number_key == "handynummer"
    assert [r.number for r in listing.rows] == [
        "436641234567",
        "436641234568",
        "0664 1234569",
        "6641234570",
    ]
    assert read_list(data) == listing  # read_list recognises the workbook by its content
    assert "E11" not in text and ".0" not in text


def test_umlauts_placeholder_columns_empty_rows_trailing_columns_and_dates():
    data = _xlsx(
        ["Name", "{person.name}", "Straße", "Nummer", None, None],
        ["Müller; Anna", "x", "Hauptstraße 1", "0664 1111111", None, None],
        [],
        [None, None, None, None, None, None],
        ['Größ, "Bernd"', "y", datetime(2026, 12, 24, 8, 30), "0664 2222222"],
        ["Öztürk", "z", datetime(2026, 12, 24), "0664 3333333", time(7, 5), 3.5],
    )
    listing, text = read_upload(data)
    # The heading's trailing empty cells are no columns; a longer row adds spalteN.
    assert listing.keys == ("name", "person_name", "strasse", "nummer", "spalte5", "spalte6")
    assert [(r.line, r.values["name"], r.values["strasse"]) for r in listing.rows] == [
        (2, "Müller; Anna", "Hauptstraße 1"),
        (5, 'Größ, "Bernd"', "24.12.2026 08:30"),
        (6, "Öztürk", "24.12.2026"),
    ]
    assert listing.rows[2].values["spalte5"] == "07:05"
    assert listing.rows[2].values["spalte6"] == "3,5"
    assert listing.rows[0].values["spalte6"] == ""
    # The paste field's text is read back to the same list, line numbers included.
    again = read_list(text)
    assert again.keys == listing.keys and again.rows == listing.rows
    assert text.splitlines()[1] == '"Müller; Anna";x;Hauptstraße 1;0664 1111111'


def test_a_one_column_sheet_with_commas_reads_back_as_one_column():
    data = _xlsx(["Nummer"], ["0664 1111111"], ["+43 664 2222222, privat"])
    listing, text = read_upload(data)
    again = read_list(text)
    assert again.keys == ("nummer",) and again.rows == listing.rows


def test_workbooks_that_cannot_be_read_say_what_to_do():
    old_binary = _refusal(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    assert "alte Excel-Datei (.xls)" in old_binary and "als .xlsx oder CSV speichern" in old_binary
    assert "keine lesbare XLSX-Datei" in _refusal(b"PK\x03\x04" + b"kaputt" * 100)
    not_a_workbook = io.BytesIO()
    with zipfile.ZipFile(not_a_workbook, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    assert "keine lesbare XLSX-Datei" in _refusal(not_a_workbook.getvalue())
    truncated = _xlsx(["Nummer"], ["0664 1111111"])
    assert "keine lesbare XLSX-Datei" in _refusal(truncated[: len(truncated) // 2])
    assert "Tabellenblatt „Mieter“ ist leer" in _refusal(_xlsx())
    assert "Überschriftenzeile" in _refusal(_xlsx(["Name", "Nummer"]))
    assert "keine Spalte mit Handynummern" in _refusal(_xlsx(["Name", "Ort"], ["Maria", "Wien"]))


def test_an_xls_file_is_refused_by_its_content_whatever_its_name():
    # read_list gets bytes only, never the name: an .xls renamed to .csv is refused alike.
    with pytest.raises(InputError) as error:
        read_list(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    assert ".xls" in error.value.message and "CSV" in error.value.message


def test_a_sheet_over_the_row_limit_is_refused_while_reading(monkeypatch):
    monkeypatch.setattr(recipient_lists, "MAX_ROWS", 100)
    rows = [["Nummer"], *([f"0664 {i:07d}"] for i in range(1, 102))]
    assert len(read_upload(_xlsx(*rows[:101]))[0].rows) == 100
    assert "mehr als 100 Zeilen" in _refusal(_xlsx(*rows))


def test_a_zip_bomb_and_a_too_wide_sheet_are_refused():
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        with zipfile.ZipFile(io.BytesIO(_xlsx(["Nummer"], ["0664 1111111"]))) as workbook:
            for info in workbook.infolist():
                archive.writestr(info, workbook.read(info))
        archive.writestr("xl/media/zeros.bin", bytes(recipient_lists.MAX_XLSX_UNPACKED))
    assert len(bomb.getvalue()) < 1024 * 1024  # small to upload, 64 MB unpacked
    assert "entpackt größer als 64 MB" in _refusal(bomb.getvalue())
    wide = [None] * recipient_lists.MAX_COLUMNS + ["zu breit"]
    assert "mehr als 200 Spalten" in _refusal(_xlsx(["Nummer"], ["0664 1111111", *wide]))


def test_empty_cells_far_right_count_against_the_cells_read(monkeypatch):
    # A cell at XFD (column 16.384) with nothing in it makes its row that wide: allowed, but
    # counted, so rows of them cannot keep the reader busy.
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Nummer"])
    for row in range(2, 12):
        sheet.cell(row, 1, f"0664 {row:07d}")
        sheet.cell(row, 16384).number_format = "0.00"
    out = io.BytesIO()
    workbook.save(out)
    listing, _text = read_upload(out.getvalue())
    assert len(listing.rows) == 10 and listing.keys == ("nummer",)
    monkeypatch.setattr(recipient_lists, "MAX_CELLS", 16384 * 5)
    assert "zu groß" in _refusal(out.getvalue())


# --- the dialog ----------------------------------------------------------------------------------


@pytest.fixture
def clerk(make_user, wien):
    return make_user("clara", Permission.SMS_MESSAGES, mandanten=[wien])


def _paste_field(page: str) -> str:
    found = re.search(r'<textarea[^>]*name="liste"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, page
    return html.unescape(found.group(1)).removeprefix("\r\n").removeprefix("\n")


def _token(page: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def test_an_uploaded_xlsx_is_reviewed_kept_for_a_second_review_and_sent(client, db, clerk, wien):
    login_as(client, clerk)
    form = client.get("/admin/sms/serien/neu").get_data(as_text=True)
    assert 'accept=".csv,.txt,.xlsx' in form
    workbook = _xlsx(
        ["Handynummer", "Wohnung"],
        [436642222222, "Top 3"],
        [6642222222.0, "Top 4"],  # the same number as a float without its 0: a duplicate
        [],
        ["01 5551234", "Top 5"],  # a landline: refused
        [6643333333, "Top 6 – Stiege 2"],
    )
    data = {
        "mandant": str(wien.id),
        "kinds": "",
        "text": "Wasser morgen aus, {spalte.wohnung}",
        "liste": "",
        "datei": (io.BytesIO(workbook), "Mieter.xlsx"),
    }
    page = client.post("/admin/sms/serien/neu", data=data, content_type="multipart/form-data")
    first = page.get_data(as_text=True)
    assert page.status_code == 200, first
    assert 'data-field="recipients">2<' in first
    assert 'data-field="duplicates">1<' in first and 'data-field="refused">1<' in first
    assert "Wasser morgen aus, Top 3" in first and "Festnetznummer" in first
    pasted = _paste_field(first)
    assert "PK" not in pasted
    assert pasted.splitlines() == [
        "Handynummer;Wohnung",
        "436642222222;Top 3",
        "6642222222;Top 4",
        "",
        "01 5551234;Top 5",
        "6643333333;Top 6 – Stiege 2",
    ]
    # The second review reads the field (no file is sent again) and finds the same.
    data.update(liste=pasted)
    del data["datei"]
    page = client.post("/admin/sms/serien/neu", data=data)
    second = page.get_data(as_text=True)
    assert page.status_code == 200, second
    assert 'data-field="recipients">2<' in second
    assert 'data-field="duplicates">1<' in second and 'data-field="refused">1<' in second
    assert db.scalar(select(Message.id)) is None  # nothing queued by a review
    client.post("/admin/sms/serien/senden", data={"token": _token(second)})
    series = db.scalar(select(Series))
    sent = db.scalars(select(Message).order_by(Message.id)).all()
    assert [(m.recipient, m.text.split("\n")[0]) for m in sent] == [
        ("+436642222222", "Wasser morgen aus, Top 3"),
        ("+436643333333", "Wasser morgen aus, Top 6 – Stiege 2"),
    ]
    assert series is not None and series.planned == 2


def test_an_unreadable_upload_is_refused_at_the_list(client, db, clerk, wien):
    login_as(client, clerk)
    data = {
        "mandant": str(wien.id),
        "kinds": "",
        "text": "Hallo",
        "liste": "",
        "datei": (io.BytesIO(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600)), "alt.xls"),
    }
    page = client.post("/admin/sms/serien/neu", data=data, content_type="multipart/form-data")
    assert page.status_code == 422
    assert "alte Excel-Datei (.xls)" in page.get_data(as_text=True)
    assert db.scalar(select(Series.id)) is None

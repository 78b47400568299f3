"""A Serien-SMS of 10,000 recipients on SQLite and PostgreSQL (issue 17 point 5).

A fresh database (migrated) with one Mandant, 10,000 Personen with mobile numbers and a CSV list
of 10,000 rows (number, name, Wohnung; 200 numbers twice, 100 landlines). Each round times:

- `read`: the CSV (bytes, UTF-8 with BOM) read by `recipient_lists.read_list`;
- `read XLSX`: the same list as a workbook (numbers typed as numbers, 436640000001) read by
  `recipient_lists.read_upload`, with the CSV text for the paste field;
- `review list` / `review Personen`: `serien.review` of the list (text with
  `{spalte.name}`, `{spalte.wohnung}`) and of the Personen by filter (`{person.name}`);
  the list's review includes storing it as a draft (`serien.save_review`, commit): what the
  "Prüfen" request does;
- `queue`: `serien.confirm` of that draft plus the commit (one bulk INSERT): what "Senden"
  does.

It prints the median of `--rounds` rounds in seconds, wall clock and the process's CPU time
(on a busy machine the wall clock grows with the load, the CPU time much less). Target:
review < 2 s, queue < 2 s.

    .venv/bin/python bench/serien.py [--rows 10000] [--rounds 3] [--database-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from flask_migrate import upgrade
from list_page import bench_app, bench_url
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url
from xlsxwriter import Workbook

from webapp.extensions import db
from webapp.models import Mandant, Message, Person, Series, User
from webapp.sms.recipient_lists import read_list, read_upload
from webapp.sms.serien import (
    ContactFilter,
    ContactKinds,
    SeriesInput,
    confirm,
    review,
    save_review,
)
from webapp.sms.settings import GlobalNumber, set_global

TEXT = "Liebe/r {spalte.name}, Wasserabsperrung morgen 8-12 Uhr, {spalte.wohnung}."
PERSON_TEXT = "Liebe/r {person.name}, Wasserabsperrung morgen 8-12 Uhr, Stiege 2."


def csv_list(rows: int) -> bytes:
    lines = ["Handynummer;Name;Wohnung"]
    for i in range(rows):
        if i % 100 == 7:
            number = "01 5551234"  # a landline: refused
        elif i % 50 == 3:
            number = f"0664 {i - 1:07d}"  # the number of the row before: a duplicate
        else:
            number = f"0664 {i:07d}"
        lines.append(f'{number};"Bestandsnehmer {i}";Top {i % 40}')
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def xlsx_list(rows: int) -> bytes:
    """The list of `csv_list` as a workbook, the mobile numbers as numbers (as Excel stores
    digits typed in): 436640000001 (no 0, no +)."""
    out = io.BytesIO()
    workbook = Workbook(out, {"in_memory": True})
    sheet = workbook.add_worksheet("Liste")
    sheet.write_row(0, 0, ["Handynummer", "Name", "Wohnung"])
    for i in range(rows):
        if i % 100 == 7:
            number: str | int = "01 5551234"
        elif i % 50 == 3:
            number = 436640000000 + i - 1
        else:
            number = 436640000000 + i
        sheet.write_row(i + 1, 0, [number, f"Bestandsnehmer {i}", f"Top {i % 40}"])
    workbook.close()
    return out.getvalue()


def seed(rows: int) -> tuple[int, User]:
    upgrade()
    db.session.execute(Message.__table__.delete())
    db.session.execute(Person.__table__.delete())
    db.session.execute(Series.__table__.delete())
    mandant = db.session.scalar(select(Mandant).where(Mandant.name == "Bench Serie"))
    if mandant is None:
        mandant = Mandant(name="Bench Serie")
        db.session.add(mandant)
    user = db.session.scalar(select(User).where(User.username == "bench-serie"))
    if user is None:
        user = User(username="bench-serie", display_name="Bench", password_hash="x")
        db.session.add(user)
    set_global(db.session, GlobalNumber.SMS_SERVICE_AVAILABLE, "1", "bench")
    db.session.flush()
    db.session.execute(
        insert(Person),
        [
            {"mandant_id": mandant.id, "name": f"Person {i:05d}", "mobile": f"0676 {i:07d}"}
            for i in range(rows)
        ],
    )
    db.session.commit()
    return mandant.id, user


def timed(action):  # type: ignore[no-untyped-def]
    """Wall time and the process's CPU time of `action` (CPU: what another process on a
    busy machine does not inflate)."""
    started, cpu = time.perf_counter(), time.process_time()
    result = action()
    return (time.perf_counter() - started, time.process_time() - cpu), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    url = bench_url(args.database_url, "serien.sqlite", "sms_bench_serien")
    app = bench_app(url)
    figures: dict[str, list[tuple[float, float]]] = {}
    with app.test_request_context():
        mandant_id, user = seed(args.rows)
        data = csv_list(args.rows)
        workbook = xlsx_list(args.rows)
        for _round in range(args.rounds):
            t_read, listing = timed(lambda: read_list(data))
            t_read_xlsx, (from_xlsx, _text) = timed(lambda: read_upload(workbook))
            assert len(from_xlsx.rows) == len(listing.rows)
            series_input = SeriesInput(mandant_id, TEXT, listing=listing)

            def reviewed(inp=series_input):  # type: ignore[no-untyped-def]
                result = review(db.session(), inp, mandant_ids=None)
                draft = save_review(db.session(), result, inp, created_by=user, mandant_ids=None)
                db.session.commit()
                return result, draft.token

            t_review, (result, token) = timed(reviewed)
            contacts_input = SeriesInput(
                mandant_id, PERSON_TEXT, ContactFilter(ContactKinds.PERSONS)
            )
            t_contacts, contacts = timed(
                lambda: review(db.session(), contacts_input, mandant_ids=None)  # noqa: B023
            )

            def queue(token=token):  # type: ignore[no-untyped-def]
                confirm(db.session(), token, user=user, mandant_ids=None)
                db.session.commit()

            t_queue, _ = timed(queue)
            for key, value in (
                ("read", t_read),
                ("read XLSX", t_read_xlsx),
                ("review list (and store the draft)", t_review),
                ("review Personen", t_contacts),
                ("queue (Senden)", t_queue),
            ):
                figures.setdefault(key, []).append(value)
        queued = db.session.scalar(select(func.count()).select_from(Message))
        shown = {
            "database": make_url(url).get_backend_name(),
            "rows": args.rows,
            "recipients": len(result.recipients),
            "duplicates": len(result.duplicates),
            "refused": len(result.refused),
            "contacts": len(contacts.recipients),
            "sms queued in all rounds": queued,
            **{
                f"{key}: s wall / s CPU (median)": [
                    round(statistics.median(w for w, _c in v), 3),
                    round(statistics.median(c for _w, c in v), 3),
                ]
                for key, v in figures.items()
            },
        }
    print(json.dumps(shown, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()

"""Exports of SMS Nachrichten at a million messages: rows per second and peak memory.

Fills the SMS table as bench/list_page.py does (its own database, kept between runs:
instance/bench/export.sqlite, on PostgreSQL `sms_bench_export`), then runs each export in a
fresh process through the app's view, reading the streamed body block by block as a server
would, and reports rows, seconds, rows/s, the time to the first block, the size, the memory
(RSS) of the process before the request, while the body streams and at its peak. Prints JSON.
SQLite always; PostgreSQL too when BENCH_DATABASE_URL or TEST_DATABASE_URL is set (or given).

    .venv/bin/python bench/export.py
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/export.py
    .venv/bin/python bench/export.py --database-url postgresql://… --cases csv_all
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.list_page import bench_app, bench_url, logged_in, seed
from webapp.extensions import db
from webapp.models import Mandant, Message, User
from webapp.sms.search import MessageFilter, list_query

# name: (user, query string of the list, filter of the core: what the export must hold)
CASES: dict[str, tuple[str, str, MessageFilter]] = {
    "csv_all": ("bench-admin", "export.csv", MessageFilter()),
    "xlsx_all": ("bench-admin", "export.xlsx", MessageFilter()),
    "csv_text_common": ("bench", "export.csv?text=Ablesung", MessageFilter(text="Ablesung")),
    "csv_number_prefix": ("bench", "export.csv?number=0664", MessageFilter(number="0664")),
}
PAGE = 4096  # bytes of a memory page (statm counts pages)


def rss_mb() -> float:
    """The resident memory of this process now."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return round(pages * PAGE / 2**20, 1)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_case(url: str, case: str) -> dict[str, object]:
    """One export in this (fresh) process."""
    username, path, flt = CASES[case]
    app = bench_app(url)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        assert user is not None
        mandant_ids = None if user.is_administrator else {m.id for m in user.mandanten}
        query = list_query(db.session(), flt, mandant_ids=mandant_ids)
        expected = db.session.scalar(
            select(func.count()).select_from(query.stmt.with_only_columns(Message.id).subquery())
        )
        token = str(user.get_id())
    client = logged_in(app, token)
    before, peak_before = rss_mb(), peak_rss_mb()
    started = time.perf_counter()
    response = client.get(f"/admin/sms/{path}")
    assert response.status_code == 200, response.status_code
    first_block = None
    size = lines = 0
    samples = []
    for blocks, block in enumerate(response.response, 1):
        if first_block is None:
            first_block = time.perf_counter() - started
        size += len(block)
        lines += block.count(b"\r\n")
        if blocks % 100 == 0:
            samples.append(rss_mb())
    seconds = time.perf_counter() - started
    response.close()
    if path.startswith("export.csv"):
        assert lines == (expected or 0) + 1, (lines, expected)  # the header and every row
    return {
        "case": case,
        "rows": expected,
        "seconds": round(seconds, 1),
        "rows_per_second": round((expected or 0) / seconds),
        "first_block_seconds": round(first_block or 0, 2),
        "megabytes": round(size / 2**20, 1),
        "rss_before_mb": before,
        "peak_rss_before_mb": peak_before,  # building the app, counting the rows
        "rss_while_streaming_mb": [min(samples), max(samples)] if samples else None,
        "peak_rss_mb": peak_rss_mb(),
    }


def ensure_admin(url: str) -> None:
    app = bench_app(url)
    with app.app_context():
        if db.session.scalar(select(User).where(User.username == "bench-admin")) is None:
            db.session.add(User(username="bench-admin", password_hash="x", is_administrator=True))
            db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Mandant)) >= 3


def bench_database(database_url: str, rows: int, cases: list[str]) -> dict[str, object]:
    url = bench_url(database_url, "export.sqlite", "sms_bench_export")
    figures: dict[str, object] = {"database": make_url(url).get_backend_name()}
    seed(bench_app(url), rows, figures)
    ensure_admin(url)
    results = []
    for case in cases:
        child = subprocess.run(
            [sys.executable, __file__, "--child", case, "--url", url],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            raise SystemExit(f"{case} failed:\n{child.stderr}")
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    figures["exports"] = results
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--child", default="")
    parser.add_argument("--url", default="")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.url, args.child)))
        return
    cases = [c for c in args.cases.split(",") if c]
    postgres = (
        args.database_url
        or os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL", "")
    )
    report: dict[str, object] = {"benchmark": "export", "rows": args.rows, "databases": []}
    databases = report["databases"]
    assert isinstance(databases, list)
    if args.sqlite and not args.database_url.startswith("postgresql"):
        databases.append(bench_database("", args.rows, cases))
    if postgres.startswith("postgresql"):
        databases.append(bench_database(postgres, args.rows, cases))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Server time of the Übersicht at a million SMS, on SQLite and PostgreSQL (issue 13 point 3).

Fills the SMS table as bench/list_page.py does (its fill helpers; 1,000,000 SMS over three
years, three Mandanten), rebuilds the daily roll-up once (timed: `flask rebuild-overview`),
then times for the user "bench" (1669, two of the three Mandanten) and for an administrator:
the page `/`, its refresh fragment and its JSON; and, for the choice in the README, what the
30 days cost counted straight from sms_message (the "indexed aggregate": one range of the
created_at index, grouped) against the roll-up, and a run's `keep_current`. Prints JSON; the
target is p95 under 200 ms for each request.

    .venv/bin/python bench/overview.py                        # SQLite under instance/bench/
    .venv/bin/python bench/overview.py --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bench.list_page import bench_app, bench_url, logged_in, seed
from webapp.extensions import db
from webapp.models import User
from webapp.models.base import utcnow
from webapp.sms import overview


def timed(rounds: int, call: Callable[[], object]) -> dict[str, float]:
    call()  # warm up
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    url = bench_url(args.database_url, "overview.sqlite", "sms_bench_overview")
    app = bench_app(url)
    figures: dict[str, object] = {
        "benchmark": "overview",
        "database": make_url(url).get_backend_name(),
        "rows": args.rows,
    }
    token = seed(app, args.rows, figures)
    tz = app.config["TIMEZONE"]
    with app.app_context():
        session = db.session()
        started = time.perf_counter()
        figures["rebuild_days"] = overview.rebuild(session, utcnow(), tz)
        figures["rebuild_seconds"] = round(time.perf_counter() - started, 1)
        admin = session.scalar(select(User).where(User.username == "bench-admin"))
        if admin is None:
            admin = User(username="bench-admin", password_hash="x", is_administrator=True)
            session.add(admin)
            session.commit()
        admin_token = str(admin.get_id())
        bench_user = session.scalar(select(User).where(User.username == "bench"))
        assert bench_user is not None
        mandant_ids = {m.id for m in bench_user.mandanten}
        now = utcnow()
        today = overview.local_day(now, tz)
        first = today - timedelta(days=overview.DAYS - 1)
        figures["sms_in_30_days"] = sum(
            row.count for row in overview.aggregate(session, first, today, tz).values()
        )
        figures["indexed_aggregate_30_days"] = timed(
            10, lambda: overview.aggregate(session, first, today, tz, mandant_ids)
        )
        figures["rollup_30_days"] = timed(
            args.rounds, lambda: overview.series(session, mandant_ids, now, tz)
        )

        def keep() -> None:
            overview.keep_current(session, utcnow(), tz)
            session.commit()

        figures["run_keep_current"] = timed(10, keep)
        db.session.remove()
    for who, user_token in (("user_2_mandanten", token), ("administrator", admin_token)):
        client = logged_in(app, user_token)
        for name, path in (
            ("page", "/"),
            ("fragment", "/uebersicht/aktuell"),
            ("json", "/uebersicht/daten.json"),
        ):

            def get(path: str = path, client: FlaskClient = client) -> None:
                response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)

            figures[f"{who}_{name}"] = timed(args.rounds, get)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

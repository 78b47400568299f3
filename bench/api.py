"""Queued SMS per second through POST /api/v1/sms with batches, on SQLite and PostgreSQL.

A fresh scratch database per run (SQLite in a temporary folder; PostgreSQL: the database
`sms_api_bench`, dropped and created again), one API token, then `--batches` requests of
`--size` messages each through the Flask test client (the whole WSGI stack: token check,
JSON parsing, number check, insert, commit). Every tenth number is a landline, stored as
failed. Prints JSON; the target is at least 2,000 messages per second.

    .venv/bin/python bench/api.py
    .venv/bin/python bench/api.py --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from webapp import create_app
from webapp.api_tokens import create_token
from webapp.extensions import db
from webapp.models import Mandant, Message, MessageStatus
from webapp.sms.settings import set_global

BENCH_DATABASE = "sms_api_bench"
TARGET_PER_SECOND = 2_000


def prepare_postgres(server_url: str) -> str:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{BENCH_DATABASE}"'))
    admin.dispose()
    return make_url(server_url).set(database=BENCH_DATABASE).render_as_string(hide_password=False)


def batch(round_no: int, size: int) -> list[dict[str, str]]:
    return [
        {
            "to": "01 5880 0" if i % 10 == 9 else f"+43 664 {1_000_000 + round_no * size + i}",
            "text": f"Sehr geehrte/r Frau Huber, der Installateur kommt am 12.03. (Nr. {i}).",
            "reference": f"bench-{round_no}-{i}",
        }
        for i in range(size)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--size", type=int, default=500)
    args = parser.parse_args()
    if args.database_url.startswith("postgresql"):
        url = prepare_postgres(args.database_url)
    else:
        url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'api.sqlite'}"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "INSTANCE_PATH": tempfile.mkdtemp(),
            "RATELIMIT_STORAGE_URI": "memory://",
            # The bench measures queueing, not the limits of a token.
            "API_REQUESTS_PER_MINUTE": 0,
            "API_SMS_PER_DAY": 0,
        }
    )
    with app.app_context():
        upgrade()
        set_global(db.session(), 1400, "1", "bench")  # a new installation starts with it off
        mandant = Mandant(name="Bench API")
        db.session.add(mandant)
        db.session.flush()
        _, clear = create_token(
            db.session,
            name="bench",
            mandant_id=mandant.id,
            scopes=["sms:send", "sms:read"],
            created_by=None,
        )
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {clear}"}
    bodies = [{"messages": batch(n, args.size)} for n in range(args.batches)]
    client.post("/api/v1/sms", json={"to": "+43 664 9999999", "text": "warm-up"}, headers=headers)
    durations = []
    started = time.perf_counter()
    for n, body in enumerate(bodies):
        t0 = time.perf_counter()
        response = client.post(
            "/api/v1/sms", json=body, headers={**headers, "Idempotency-Key": f"bench-{n}"}
        )
        durations.append(time.perf_counter() - t0)
        assert response.status_code == 202, response.get_data(as_text=True)[:500]
    elapsed = time.perf_counter() - started
    with app.app_context():
        counts = dict(
            db.session.execute(select(Message.status, func.count()).group_by(Message.status)).all()
        )
    total = args.batches * args.size
    per_second = total / elapsed
    print(
        json.dumps(
            {
                "benchmark": "api_queue",
                "database": make_url(url).get_backend_name(),
                "batches": args.batches,
                "batch_size": args.size,
                "messages": total,
                "seconds": round(elapsed, 3),
                "messages_per_second": round(per_second),
                "batch_ms_median": round(statistics.median(durations) * 1000, 1),
                "batch_ms_max": round(max(durations) * 1000, 1),
                "stored_queued": counts.get(MessageStatus.QUEUED, 0) - 1,  # minus the warm-up
                "stored_failed": counts.get(MessageStatus.FAILED, 0),
                "target_per_second": TARGET_PER_SECOND,
                "meets_target": per_second >= TARGET_PER_SECOND,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

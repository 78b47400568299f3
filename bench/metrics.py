"""Server time of GET /metrics at a million SMS, on SQLite and PostgreSQL (issue 13 point 7).

Uses the database of bench/list_page.py (filled by its `fill` when it does not hold `--rows`
SMS; kept between runs) plus 100,000 runs of "Service SMS", and a Redis of its own. Times the
whole scrape through the app (the settled count of the final statuses in Redis, as for all
but one scrape an hour) and, apart, that settled count (the one query that reads the whole
status index, once an hour). Prints JSON; the target is p95 under 100 ms for the scrape.

    .venv/bin/python bench/metrics.py                        # SQLite under instance/bench/
    .venv/bin/python bench/metrics.py --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from flask_migrate import upgrade
from list_page import fill, prepare_postgres
from redis import Redis
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from webapp import create_app
from webapp.config import INSTANCE_PATH
from webapp.embedded_redis import EmbeddedRedis
from webapp.extensions import db
from webapp.models import Job, JobRun, Mandant, Message, RunStatus
from webapp.models.base import utcnow
from webapp.sms.metrics import TransportTally, settled_counts, settled_key

TOKEN = "bench-token"
RUNS = 100_000
TARGET_P95_MS = 100


def _p95(times: list[float]) -> float:
    ordered = sorted(times)
    return round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1)


def seed(rows: int, figures: dict[str, object]) -> None:
    """The SMS of bench/list_page.py and RUNS runs of Service SMS, unless already there."""
    session = db.session
    have = session.scalar(select(func.count()).select_from(Message)) or 0
    if have != rows:
        session.execute(Message.__table__.delete())
        for i in range(3):
            if session.scalar(select(Mandant).where(Mandant.name == f"Bench {i}")) is None:
                session.add(Mandant(name=f"Bench {i}"))
        session.commit()
        ids = list(session.scalars(select(Mandant.id).where(Mandant.name.like("Bench %"))))
        started = time.perf_counter()
        fill(rows, ids)
        figures["fill_seconds"] = round(time.perf_counter() - started, 1)
    job = session.scalar(select(Job).where(Job.job_type == "service_sms"))
    assert job is not None
    if (session.scalar(select(func.count()).select_from(JobRun)) or 0) < RUNS:
        session.execute(JobRun.__table__.delete())
        now = utcnow()
        for start in range(0, RUNS, 20_000):
            batch = []
            for n in range(start, min(RUNS, start + 20_000)):
                began = now - timedelta(minutes=RUNS - n)
                batch.append(
                    {
                        "job_id": job.id,
                        "run_key": f"bench-{n}",
                        "status": (RunStatus.FAILED if n % 50 == 0 else RunStatus.SUCCEEDED).value,
                        "started_at": began,
                        "heartbeat_at": began,
                        "finished_at": began + timedelta(seconds=2),
                        "total": 10,
                        "sent": 10,
                        "failed": 0,
                        "retried": 0,
                        "error": "",
                    }
                )
            session.execute(insert(JobRun.__table__), batch)
        job.run_count, job.failed_run_count = RUNS, RUNS // 50
        session.commit()
    if db.engine.dialect.name == "postgresql":
        # As autovacuum would: the counts read the index only once the pages are all-visible.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE sms_message"))
            conn.execute(text("VACUUM ANALYZE job_run"))
    else:
        session.execute(text("ANALYZE"))
        session.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    if args.database_url.startswith("postgresql"):
        url = prepare_postgres(args.database_url)
    else:
        folder = INSTANCE_PATH / "bench"
        folder.mkdir(parents=True, exist_ok=True)
        url = args.database_url or f"sqlite:///{folder / 'list_page.sqlite'}"
    figures: dict[str, object] = {
        "benchmark": "metrics",
        "database": make_url(url).get_backend_name(),
    }
    with tempfile.TemporaryDirectory() as instance:
        redis = EmbeddedRedis(Path(instance))
        redis_url = redis.start()
        try:
            app = create_app(
                {
                    "SQLALCHEMY_DATABASE_URI": url,
                    "SECRET_KEY": "bench",
                    "INSTANCE_PATH": instance,
                    "REDIS_URL": redis_url,
                    "RATELIMIT_STORAGE_URI": "memory://",
                    "METRICS_TOKEN": TOKEN,
                }
            )
            with app.app_context():
                upgrade()
                seed(args.rows, figures)
                # Some transport figures, as runs leave them.
                tally = TransportTally()
                for n in range(1000):
                    tally.observe("websms", 0.01 * (n % 200), "accepted")
                assert tally.flush(Redis.from_url(redis_url))
                key = settled_key(db.session())
                whole = []  # the hourly settled count (what a scrape costs once an hour)
                for _ in range(5):
                    started = time.perf_counter()
                    settled_counts(db.session(), utcnow())
                    whole.append((time.perf_counter() - started) * 1000)
                    db.session.rollback()
            client = app.test_client()
            headers = {"Authorization": f"Bearer {TOKEN}"}
            Redis.from_url(redis_url).delete(key)
            first = client.get("/metrics", headers=headers)
            assert first.status_code == 200 and b"sms_messages" in first.data, first.data[:200]
            assert b'sms_metrics_source_up{source="database"} 1.0' in first.data
            assert b'sms_metrics_source_up{source="redis"} 1.0' in first.data
            scrapes = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                client.get("/metrics", headers=headers)
                scrapes.append((time.perf_counter() - started) * 1000)
        finally:
            redis.stop()
    figures.update(
        {
            "rows": args.rows,
            "runs": RUNS,
            "rounds": args.rounds,
            "target_p95_ms": TARGET_P95_MS,
            "scrape": {"median_ms": round(statistics.median(scrapes), 1), "p95_ms": _p95(scrapes)},
            "settled_count_hourly": {
                "median_ms": round(statistics.median(whole), 1),
                "max_ms": round(max(whole), 1),
            },
            "bytes": len(first.data),
            "under_target": _p95(scrapes) < TARGET_P95_MS,
        }
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

"""Housekeeping on a year of "Service SMS" (webapp/jobs/housekeeping.py): one run a minute
(525,600 runs) with one Errorlog entry each, and `--notes` websms notificationIds over the
year. Times the first prune (everything older than the defaults: 90 days of runs and
Errorlog, 30 of notificationIds), what a run pays to ask whether pruning is due (`prune_due`,
every run), and the prune of the next day. Prints JSON.

    .venv/bin/python bench/housekeeping.py [--database-url postgresql://…] [--notes 100000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import timedelta

from flask_migrate import upgrade
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from bench.list_page import bench_app, bench_url
from webapp.extensions import db
from webapp.jobs.housekeeping import Retention, prune, prune_due
from webapp.models import Job, JobLogEntry, JobRun, RunStatus, WebhookNotification
from webapp.models.base import utcnow

MINUTES_A_YEAR = 365 * 24 * 60
MESSAGE = "Lauf beendet: 0 versendet, 0 Fehler, 0 später erneut, 0 unklar."


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="")
    parser.add_argument("--runs", type=int, default=MINUTES_A_YEAR)
    parser.add_argument("--notes", type=int, default=100_000)
    args = parser.parse_args()
    # SQLite: a fresh file in a temporary folder each time (the prune empties it)
    url = bench_url(
        args.database_url or f"sqlite:///{tempfile.mkdtemp()}/housekeeping.sqlite",
        pg_database="sms_bench_housekeeping",
    )
    app = bench_app(url)
    figures: dict[str, object] = {
        "benchmark": "housekeeping",
        "database": make_url(url).get_backend_name(),
        "runs": args.runs,
    }
    with app.app_context():
        upgrade()
        session = db.session()
        job_id = session.scalar(select(Job.id).where(Job.job_type == "service_sms"))
        now = utcnow()
        start = now - timedelta(minutes=args.runs)
        chunk = 20_000
        for first in range(0, args.runs, chunk):
            times = [
                start + timedelta(minutes=i) for i in range(first, min(first + chunk, args.runs))
            ]
            ids = (
                session.execute(
                    insert(JobRun).returning(JobRun.id),
                    [
                        {
                            "job_id": job_id,
                            "run_key": uuid.uuid4().hex,
                            "status": RunStatus.SUCCEEDED,
                            "started_at": at,
                            "heartbeat_at": at,
                            "finished_at": at,
                        }
                        for at in times
                    ],
                )
                .scalars()
                .all()
            )
            session.execute(
                insert(JobLogEntry),
                [
                    {
                        "job_id": job_id,
                        "run_id": run_id,
                        "created_at": at,
                        "level": "info",
                        "message": MESSAGE,
                    }
                    for run_id, at in zip(ids, times, strict=True)
                ],
            )
            session.commit()
        step = timedelta(minutes=MINUTES_A_YEAR / max(1, args.notes))
        session.execute(
            insert(WebhookNotification),
            [
                {
                    "notification_id": f"n{i}",
                    "message_type": "deliveryReport",
                    "received_at": now - timedelta(days=365) + i * step,
                }
                for i in range(args.notes)
            ],
        )
        session.commit()
        retention = Retention.from_config(app.config)
        started = time.perf_counter()
        figures["first_prune"] = prune(session, now, retention)
        figures["first_prune_seconds"] = round(time.perf_counter() - started, 1)
        checks = []
        for _ in range(30):
            started = time.perf_counter()
            assert not prune_due(session, now, retention)
            checks.append((time.perf_counter() - started) * 1000)
        figures["prune_due_median_ms"] = round(statistics.median(checks), 2)
        started = time.perf_counter()
        figures["next_day_prune"] = prune(session, now + timedelta(days=1), retention)
        figures["next_day_prune_seconds"] = round(time.perf_counter() - started, 2)
        figures["runs_left"] = session.scalar(select(func.count()).select_from(JobRun))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

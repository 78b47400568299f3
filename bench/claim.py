"""The claim of a run of Service SMS at a million SMS, on SQLite and PostgreSQL (issue 14).

The table holds `--rows` SMS of three Mandanten (bench/list_page.py's fill, its old queued
ones expired as a run's start does), then 5,000 queued through the API for Mandant "Bench 0",
50 queued in a dialog for "Bench 2" and one for "Bench 1", queued last; "Bench 2" has limits
(10,000 SMS per hour, 20,000 per day) of which runs took 9,000 in the last minutes, so each
claim counts them (up to the limit, along (mandant_id, claimed_at)). Each round claims 200
(SMS_DISPATCH_BATCH) with `leases.claim` and hands them back; it prints the claim's time
(median, p95) beside the claim before fair share (one range of the status index, oldest
first, the same statement as before issue 14) and where "Bench 1"'s one SMS stands in the
claim (0 = sent first). Kept between runs: `instance/bench/claim.sqlite`, database
`sms_bench_claim`.

    .venv/bin/python bench/claim.py [--rows 1000000] [--database-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from flask_migrate import upgrade
from list_page import bench_app, bench_url, fill
from sqlalchemy import func, insert, or_, select, text, update
from sqlalchemy.engine import make_url

from webapp.extensions import db
from webapp.models import Mandant, Message, MessageSource, MessageStatus
from webapp.models.base import utcnow
from webapp.sms import leases

BULK, DIALOG_C, DIALOG_B = 5_000, 50, 1
TAKEN_C = 9_000  # SMS of "Bench 2" taken within the hour
LIMIT = 200


def _queued_rows(mandant_id: int, count: int, source: MessageSource) -> list[dict[str, object]]:
    now = utcnow()
    return [
        {
            "mandant_id": mandant_id,
            "recipient_raw": f"+43664{i:07d}",
            "recipient": f"+43664{i:07d}",
            "text": f"Wasser wird abgedreht, Nr. {i}",
            "encoding": "GSM-7",
            "segments": 1,
            "status": "queued",
            "attempts": 0,
            "source": source.value,
            "error_notification_due": False,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]


def seed(rows: int, figures: dict[str, object]) -> dict[str, int]:
    upgrade()
    names = [f"Bench {i}" for i in range(3)]
    for name in names:
        if db.session.scalar(select(Mandant).where(Mandant.name == name)) is None:
            db.session.add(Mandant(name=name))
    db.session.commit()
    ids = {m.name: m.id for m in db.session.scalars(select(Mandant).where(Mandant.name.in_(names)))}
    limited = db.session.get(Mandant, ids["Bench 2"])
    limited.sms_per_hour, limited.sms_per_day = 10_000, 20_000
    db.session.commit()
    have = db.session.scalar(select(func.count()).select_from(Message)) or 0
    if have != rows:
        started = time.perf_counter()
        db.session.execute(Message.__table__.delete())
        db.session.commit()
        fill(rows - BULK - DIALOG_C - DIALOG_B, [ids[n] for n in names])
        # The fill's queued SMS are years old: a run's start expires them.
        db.session.execute(
            update(Message)
            .where(Message.status == MessageStatus.QUEUED)
            .values(status=MessageStatus.EXPIRED)
        )
        for name, count, source in (
            ("Bench 0", BULK, MessageSource.API),
            ("Bench 2", DIALOG_C, MessageSource.MANUAL),
            ("Bench 1", DIALOG_B, MessageSource.QUICK),
        ):
            db.session.execute(insert(Message.__table__), _queued_rows(ids[name], count, source))
        taken = (
            select(Message.id)
            .where(Message.mandant_id == ids["Bench 2"], Message.status != MessageStatus.QUEUED)
            .order_by(Message.id.desc())
            .limit(TAKEN_C)
            .scalar_subquery()
        )
        db.session.execute(
            update(Message)
            .where(Message.id.in_(taken))
            .values(claimed_at=utcnow() - timedelta(minutes=5))
        )
        analyze = "ANALYZE sms_message" if db.engine.dialect.name == "postgresql" else "ANALYZE"
        db.session.execute(text(analyze))
        db.session.commit()
        figures["fill_seconds"] = round(time.perf_counter() - started, 1)
    return ids


def claim_before(run_key: str, limit: int) -> list[int]:
    """The claim as it was before fair share: the oldest due SMS of the status index."""
    now = utcnow()
    due = (
        select(Message.id)
        .where(
            Message.status == MessageStatus.QUEUED,
            or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
            Message.created_at >= now - timedelta(days=7),
        )
        .order_by(Message.id)
        .limit(limit)
    )
    values = dict(status=MessageStatus.SENDING, run_key=run_key, claimed_at=now, updated_at=now)
    if db.engine.dialect.name == "postgresql":
        picked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        statement = update(Message).where(Message.id == picked.c.id).values(**values)
    else:
        statement = update(Message).where(Message.id.in_(due.scalar_subquery())).values(**values)
    ids = list(db.session.scalars(statement.returning(Message.id)))
    db.session.commit()
    return ids


def _times(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    url = bench_url(args.database_url, "claim.sqlite", "sms_bench_claim")
    app = bench_app(url)
    database = make_url(url).get_backend_name()
    figures: dict[str, object] = {"benchmark": "claim", "database": database}
    with app.app_context():
        ids = seed(args.rows, figures)
        session = db.session()
        fair, before, positions, shares = [], [], [], []
        for _round in range(args.rounds):
            key = uuid.uuid4().hex
            started = time.perf_counter()
            claimed = leases.claim(session, [], key, utcnow(), LIMIT)
            fair.append(time.perf_counter() - started)
            mandant_of = dict(
                session.execute(
                    select(Message.id, Message.mandant_id).where(
                        Message.id.in_([c.id for c in claimed])
                    )
                ).all()
            )
            order = [mandant_of[c.id] for c in claimed]
            positions.append(order.index(ids["Bench 1"]))
            shares.append({name: order.count(i) for name, i in ids.items()})
            leases.hand_back(session, key, [c.id for c in claimed], utcnow())
            key = uuid.uuid4().hex
            started = time.perf_counter()
            taken = claim_before(key, LIMIT)
            before.append(time.perf_counter() - started)
            leases.hand_back(session, key, taken, utcnow())
        db.engine.dispose()
    figures.update(
        rows=args.rows,
        queued={"Bench 0 (API)": BULK, "Bench 2 (dialog)": DIALOG_C, "Bench 1 (dialog)": DIALOG_B},
        limited={"Bench 2": "10,000 per hour, 20,000 per day", "taken_this_hour": TAKEN_C},
        claim=LIMIT,
        rounds=args.rounds,
        fair_claim=_times(fair),
        claim_before_fair_share=_times(before),
        claimed_per_mandant=shares[0],
        position_of_bench_1=max(positions),
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

"""Server time of the SMS Nachrichten list at a million messages, on SQLite and PostgreSQL.

Fills the table once (kept between runs), then times the list page through the app for a
user of two Mandanten: first page, status filter, number filter, text search, older page; and
Meine SMS of that user, who created one SMS in 997 (first page, status, text, older page);
then every sortable column in both directions (`?sort=`), its first page and a page from the
middle of the list, and a few sorts with a filter. Prints JSON; the target is p95 under
150 ms for each.

    .venv/bin/python bench/list_page.py                        # SQLite under instance/bench/
    .venv/bin/python bench/list_page.py --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, func, insert, select, text, update
from sqlalchemy.engine import make_url

from webapp import create_app
from webapp.config import INSTANCE_PATH
from webapp.extensions import db
from webapp.models import Mandant, Message, MessageSource, MessageStatus, User

TEXTS = [
    "Sehr geehrte/r {n}, der Installateur kommt am {d} zwischen 8 und 12 Uhr.",
    "Ihr Ticket {t} wurde angelegt. Wir melden uns in Kürze. Ihre Hausverwaltung",
    "Auftrag {t}: Bitte Zugang zum Keller ermöglichen. Danke, {n}",
    "Erinnerung: Ablesung der Heizkostenverteiler am {d}.",
    "Der Lift in Stiege {s} ist ab {d} wieder in Betrieb.",
]
NAMES = ["Huber", "Gruber", "Wagner", "Müller", "Pichler", "Steiner", "Moser", "Mayer"]
PREFIXES = ["+43664", "+43676", "+43650", "+43699", "+49151", "+49170"]
STATUS_WEIGHTS = [
    (MessageStatus.DELIVERED, 80),
    (MessageStatus.SENT, 8),
    (MessageStatus.FAILED, 5),
    (MessageStatus.UNDELIVERED, 3),
    (MessageStatus.EXPIRED, 2),
    (MessageStatus.QUEUED, 1),
    (MessageStatus.UNKNOWN, 1),
]


def fill(rows: int, mandant_ids: list[int], batch: int = 20_000) -> None:
    rng = random.Random(42)
    statuses = [s for s, w in STATUS_WEIGHTS for _ in range(w)]
    start = datetime.now(UTC) - timedelta(days=3 * 365)
    step = timedelta(days=3 * 365) / rows
    done = 0
    while done < rows:
        chunk = []
        for i in range(done, min(rows, done + batch)):
            number = rng.choice(PREFIXES) + str(rng.randrange(1_000_000, 9_999_999))
            created = start + step * i
            chunk.append(
                {
                    "mandant_id": mandant_ids[i % len(mandant_ids)],
                    "recipient_raw": number,
                    "recipient": number,
                    "text": rng.choice(TEXTS).format(n=rng.choice(NAMES), d="12.03.", t=i, s=i % 9),
                    "encoding": "GSM-7",
                    "segments": 1,
                    "status": rng.choice(statuses).value,
                    "attempts": 1,
                    "source": MessageSource.MANUAL.value,
                    "error_notification_due": False,
                    "created_at": created,
                    "updated_at": created,
                }
            )
        db.session.execute(insert(Message.__table__), chunk)
        db.session.commit()
        done += len(chunk)
    stamp_times()


# What was sent has its sending time (and a delivered SMS its delivery): the column
# Versendet / Zugestellt, ~9 % of the SMS without one (queued, failed, expired, unknown).
SENT_STATUSES = [MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNDELIVERED]


def stamp_times() -> None:
    """Sending and delivery times as a run would have stamped them (also for a table filled
    by an earlier version of this bench, which left them empty)."""
    db.session.execute(
        update(Message)
        .where(Message.status.in_(SENT_STATUSES), Message.sent_at.is_(None))
        .values(sent_at=Message.created_at)
    )
    db.session.execute(
        update(Message)
        .where(Message.status == MessageStatus.DELIVERED, Message.delivered_at.is_(None))
        .values(delivered_at=Message.created_at)
    )
    db.session.commit()


def prepare_postgres(server_url: str, name: str = "sms_bench") -> str:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def bench_url(
    database_url: str, sqlite_file: str = "list_page.sqlite", pg_database: str = "sms_bench"
) -> str:
    """The bench database: `pg_database` on the PostgreSQL server of `database_url`, else the
    SQLite URL given, else `instance/bench/<sqlite_file>`."""
    if database_url.startswith("postgresql"):
        return prepare_postgres(database_url, pg_database)
    folder = INSTANCE_PATH / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    return database_url or f"sqlite:///{folder / sqlite_file}"


def bench_app(url: str) -> Flask:
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "INSTANCE_PATH": tempfile.mkdtemp(),
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )


def logged_in(app: Flask, user_token: str) -> FlaskClient:
    """A test client with the user of `user_token` logged in (no password check)."""
    client = app.test_client()
    with app.test_request_context(environ_base=client.environ_base):
        identifier = app.login_manager._session_identifier_generator()
    with client.session_transaction() as session:
        session.update({"_user_id": user_token, "_fresh": True, "_id": identifier})
    return client


def seed(app: Flask, rows: int, figures: dict[str, object]) -> str:
    """Migrate, fill the SMS table to `rows` (once; kept between runs) in three Mandanten and
    make the user "bench" (1669, two of the three Mandanten; the author of every 997th SMS, for
    Meine SMS); returns its session token."""
    with app.app_context():
        upgrade()
        have = db.session.scalar(select(func.count()).select_from(Message)) or 0
        if have != rows:
            db.session.execute(Message.__table__.delete())
            mandanten = [
                Mandant(name=f"Bench {i}")
                for i in range(3)
                if db.session.scalar(select(Mandant).where(Mandant.name == f"Bench {i}")) is None
            ]
            db.session.add_all(mandanten)
            db.session.commit()
            ids = list(db.session.scalars(select(Mandant.id).where(Mandant.name.like("Bench %"))))
            started = time.perf_counter()
            fill(rows, ids)
            if db.engine.dialect.name == "postgresql":
                db.session.execute(text("ANALYZE sms_message"))
            else:
                db.session.execute(text("ANALYZE"))
            db.session.commit()
            figures["fill_seconds"] = round(time.perf_counter() - started, 1)
        if db.session.scalar(select(Message.id).where(Message.sent_at.is_not(None))) is None:
            stamp_times()
            analyze = "ANALYZE sms_message" if db.engine.dialect.name == "postgresql" else "ANALYZE"
            db.session.execute(text(analyze))
            db.session.commit()
        user = db.session.scalar(select(User).where(User.username == "bench"))
        if user is None:
            user = User(username="bench", password_hash="x")
            user.mandanten = list(
                db.session.scalars(select(Mandant).where(Mandant.name.in_(["Bench 0", "Bench 1"])))
            )
            from webapp.models import Role

            role = Role(name="bench")
            role.permissions = {1669}
            user.roles = [role]
            db.session.add(user)
            db.session.commit()
        if db.session.scalar(select(Message.id).where(Message.created_by_id == user.id)) is None:
            db.session.execute(
                update(Message).where(Message.id % 997 == 0).values(created_by_id=user.id)
            )
            analyze = "ANALYZE sms_message" if db.engine.dialect.name == "postgresql" else "ANALYZE"
            db.session.execute(text(analyze))
            db.session.commit()
        return str(user.get_id())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    url = bench_url(args.database_url)
    app = bench_app(url)
    figures: dict[str, object] = {
        "benchmark": "list_page",
        "database": make_url(url).get_backend_name(),
    }
    client = logged_in(app, seed(app, args.rows, figures))
    with app.app_context():
        newest = db.session.scalar(select(func.max(Message.id)))
        # A row of the user's Mandanten in the middle of the table: the cursor of a page
        # from the middle of each sorted list (wherever that row sorts to).
        visible = select(Mandant.id).where(Mandant.name.in_(["Bench 0", "Bench 1"]))
        middle = db.session.scalar(
            select(Message.id)
            .where(Message.id >= (newest or 0) // 2, Message.mandant_id.in_(visible))
            .order_by(Message.id)
            .limit(1)
        )
    pages = {
        "first_page": "/admin/sms/",
        "status_failed": "/admin/sms/?status=failed",
        "status_queued_rare": "/admin/sms/?status=queued",
        "number_prefix": "/admin/sms/?number=0664+12",
        "number_full": "/admin/sms/?number=%2B4366412345",
        "text_common": "/admin/sms/?text=Ablesung",
        "text_rare": "/admin/sms/?text=Ticket+99999",
        "older_page": f"/admin/sms/?before={newest - 500_000 if newest else 1}",
        "mine_first_page": "/sms/meine/",
        "mine_status_failed": "/sms/meine/?status=failed",
        "mine_text": "/sms/meine/?text=Ablesung",
        "mine_older_page": f"/sms/meine/?before={newest // 2 if newest else 1}",
    }
    for key in ("erstellt", "empfaenger", "status", "versendet", "mandant"):
        for sort in (key, f"-{key}"):
            pages[f"sort_{sort}"] = f"/admin/sms/?sort={sort}"
            pages[f"sort_{sort}_middle"] = f"/admin/sms/?sort={sort}&before={middle}"
    pages.update(
        {
            "sort_-versendet_status_failed": "/admin/sms/?sort=-versendet&status=failed",
            "sort_mandant_number_prefix": "/admin/sms/?sort=mandant&number=0664+12",
            "sort_empfaenger_text_common": "/admin/sms/?sort=empfaenger&text=Ablesung",
            "sort_-status_text_rare": "/admin/sms/?sort=-status&text=Ticket+99999",
            "mine_sort_empfaenger": "/sms/meine/?sort=empfaenger",
            "mine_sort_-versendet": "/sms/meine/?sort=-versendet",
        }
    )
    hx = {"HX-Request": "true", "HX-Target": "message-results"}
    results = {}
    for name, page in pages.items():
        assert client.get(page, headers=hx).status_code == 200, page
        times, cpu = [], []
        for _ in range(args.rounds):
            start, start_cpu = time.perf_counter(), time.process_time()
            client.get(page, headers=hx)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        times.sort()
        cpu.sort()
        results[name] = {
            "median_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
            # The process's own CPU time (on SQLite the query's too): what a page costs when
            # the machine's cores are shared with other work, which the wall clock includes.
            "cpu_p95_ms": round(cpu[max(0, int(len(cpu) * 0.95) - 1)], 1),
        }
    figures.update(
        {
            "rows": args.rows,
            "rounds": args.rounds,
            "target_p95_ms": 150,
            "pages": results,
            "all_under_target": all(r["p95_ms"] < 150 for r in results.values()),
        }
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

"""`make run`: the whole application on one machine with only Python.

Migrates the database, creates demo data and the admin, starts the embedded Redis when
REDIS_URL is unset, then the web server (http://127.0.0.1:5000), the RQ worker, the scheduler
tick (`python -m webapp.jobs.scheduler`), the two simulators (websms sandbox on :8025, which
"Service SMS" uses in the demo; GSM modem on :4001) and, when SMTP_HOST is unset, an SMTP sink
on :8026 that prints every e-mail, under honcho. Ctrl-C stops all of them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from honcho.manager import Manager

from webapp.config import INSTANCE_PATH, PROJECT_ROOT, embedded_redis_url, secure_instance
from webapp.embedded_redis import EmbeddedRedis


def prepare_database() -> None:
    """Upgrade the schema to the newest migration, seed demo data and the admin user."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.demo import ensure_admin, seed_demo
    from webapp.extensions import db

    app = create_app()
    with app.app_context():
        upgrade()
        seed_demo(db.session(), app.config["SMS_SECRET_KEY"])
        password = os.environ.get("ADMIN_PASSWORD")
        generated = ensure_admin(db.session(), "admin", password)
        db.session.commit()
    if generated:
        print("=" * 64)
        print("  Anmeldung: http://127.0.0.1:5000   Benutzer: admin")
        print(f"  Passwort (wird nur jetzt angezeigt): {generated}")
        print("  Ändern mit: .venv/bin/flask --app wsgi create-admin admin")
        print("=" * 64, flush=True)


def prepare() -> EmbeddedRedis | None:
    """The instance folder, the embedded Redis (when REDIS_URL is unset; REDIS_URL then points
    to it) and the database, before any process starts. Returns the Redis to stop at the end."""
    secure_instance(INSTANCE_PATH)  # first: Redis and the database are made inside
    redis: EmbeddedRedis | None = None
    if not os.environ.get("REDIS_URL"):
        socket_path = Path(embedded_redis_url(INSTANCE_PATH).removeprefix("unix://"))
        redis = EmbeddedRedis(INSTANCE_PATH / "redis", socket_path)
        os.environ["REDIS_URL"] = redis.start()
        print(f"Eingebetteter Redis läuft: {redis.url}", flush=True)
    try:
        prepare_database()
    except BaseException:
        if redis is not None:
            redis.stop()
        raise
    return redis


def main() -> int:
    redis = prepare()
    env = dict(os.environ)
    if not os.environ.get("SMTP_HOST"):
        # The demo's e-mails (error reports, forwarded SMS) go to a local sink that prints them.
        env.update(SMTP_HOST="127.0.0.1", SMTP_PORT="8026", DEMO_MAIL_SINK="1")
    try:
        python = sys.executable
        port = os.environ.get("PORT", "5000")
        manager = Manager()
        manager.add_process(
            "web",
            f"{python} -m flask --app wsgi run --host 127.0.0.1 --port {port} --no-reload",
            env=env,
            cwd=str(PROJECT_ROOT),
        )
        manager.add_process("worker", f"{python} worker.py", env=env, cwd=str(PROJECT_ROOT))
        # The simulators stand in for the hardware and websms (demo latency: 2–5 s per SMS).
        flask = f"{python} -m flask --app wsgi sim"
        manager.add_process(
            "websms-sim",
            f"{flask} websms --port 8025 --token demo-token --latency 0.2",
            env=env,
            cwd=str(PROJECT_ROOT),
        )
        if env.get("DEMO_MAIL_SINK"):
            manager.add_process(
                "mail",
                f"{flask} mail --port 8026 --folder {INSTANCE_PATH / 'mails'}",
                env=env,
                cwd=str(PROJECT_ROOT),
            )
        manager.add_process(
            "modem-sim", f"{flask} modem --port 4001 --latency 2-5", env=env, cwd=str(PROJECT_ROOT)
        )
        manager.add_process(
            "scheduler",
            f"{python} -m webapp.jobs.scheduler",
            env=env,
            cwd=str(PROJECT_ROOT),
        )
        manager.loop()
        return manager.returncode or 0
    finally:
        if redis is not None:
            redis.stop()


if __name__ == "__main__":
    sys.exit(main())

"""Server time of the foundation's pages (test client, SQLite, no network). Prints JSON.

Run: `make bench` or `.venv/bin/python bench/bench_pages.py`.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time

from flask_migrate import upgrade

from webapp import create_app
from webapp.extensions import db
from webapp.models import User

PAGES = ["/", "/admin/globals/", "/admin/config/93001", "/admin/users", "/admin/roles"]
ROUNDS = 200


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.sqlite",
                "INSTANCE_PATH": folder,
                "SECRET_KEY": "bench",
                "RATELIMIT_STORAGE_URI": "memory://",
            }
        )
        with app.app_context():
            upgrade()
            admin = User(username="admin", is_administrator=True, password_hash="x")
            db.session.add(admin)
            db.session.commit()
            user_token = admin.get_id()
        client = app.test_client()
        with app.test_request_context(environ_base=client.environ_base):
            identifier = app.login_manager._session_identifier_generator()
        with client.session_transaction() as session:
            session.update({"_user_id": user_token, "_fresh": True, "_id": identifier})
        figures = {}
        for page in PAGES:
            assert client.get(page).status_code == 200, page
            times = []
            for _ in range(ROUNDS):
                start = time.perf_counter()
                client.get(page)
                times.append((time.perf_counter() - start) * 1000)
            times.sort()
            figures[page] = {
                "median_ms": round(statistics.median(times), 2),
                "p95_ms": round(times[int(len(times) * 0.95)], 2),
            }
        print(json.dumps({"benchmark": "pages", "rounds": ROUNDS, "pages": figures}, indent=2))


if __name__ == "__main__":
    main()

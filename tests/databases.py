"""Per-test databases cloned from one migrated template (SQLite file copy / PostgreSQL TEMPLATE).

Every test runs on the schema the migrations produce, with their seed data, and nothing one test
writes is seen by another. TEST_DATABASE_URL picks PostgreSQL; unset means SQLite.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

TEMPLATE_NAME = "sms_test_template"


def backend_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


def _migrate(url: str, instance: Path) -> None:
    from flask_migrate import upgrade

    from webapp import create_app

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(instance), "SECRET_KEY": "template"}
    )
    with app.app_context():
        upgrade()
        from webapp.extensions import db
        from webapp.sms.settings import GlobalNumber, set_global

        # The migration leaves the SMS service off (global 1400 = 0) until an administrator
        # switches it on; the tests start from a configured installation with it on.
        set_global(db.session, GlobalNumber.SMS_SERVICE_AVAILABLE, "1", "tests")
        db.session.commit()
        db.engine.dispose()


class DatabaseFactory:
    """Makes the template once, then a fresh copy per test."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.counter = itertools.count(1)
        self.server_url = backend_url()
        # Several pytest processes may share one PostgreSQL: keep their names apart.
        self.suffix = f"{os.getpid()}"
        if self.server_url:
            self._admin = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
            self.template = f"{TEMPLATE_NAME}_{self.suffix}"
            self._recreate(self.template, template=None)
            _migrate(self._url_for(self.template), workdir)
        else:
            self.template_file = workdir / "template.sqlite"
            _migrate(f"sqlite:///{self.template_file}", workdir)

    def _url_for(self, name: str) -> str:
        return make_url(self.server_url).set(database=name).render_as_string(hide_password=False)

    def _recreate(self, name: str, template: str | None) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            clause = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))

    def new_database(self) -> str:
        """A URL of a fresh, migrated database."""
        n = next(self.counter)
        if self.server_url:
            name = f"sms_test_{self.suffix}_{n}"
            self._recreate(name, self.template)
            return self._url_for(name)
        target = self.workdir / f"db{n}.sqlite"
        shutil.copyfile(self.template_file, target)
        return f"sqlite:///{target}"

    def drop(self, url: str) -> None:
        if self.server_url:
            name = make_url(url).database
            with self._admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        else:
            path = Path(make_url(url).database)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        if self.server_url:
            with self._admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))
            self._admin.dispose()

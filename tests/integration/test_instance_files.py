"""The instance folder is private: a fresh one is made 0700 and everything `make run` puts in
it (SQLite database with -wal/-shm, key files, embedded Redis, the demo's mails) is readable by
its owner only, whatever the umask of the shell that started it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from webapp.config import PROJECT_ROOT
from webapp.embedded_redis import MAX_SOCKET_PATH

# What `make run` (webapp.devrun) does before it starts the processes, then one mail to the
# demo's sink and an open database connection (so the WAL files exist), then every mode.
SCRIPT = """
import asyncio, json, os, sys
from pathlib import Path
from types import SimpleNamespace

os.umask(0o022)  # a usual login shell
from sqlalchemy import text

from webapp import create_app, devrun
from webapp.extensions import db
from webapp.simulators.mailsink import PrintingHandler

instance = Path(os.environ["INSTANCE_PATH"])
redis = devrun.prepare().redis
try:
    mail = SimpleNamespace(content=b"Subject: Test\\r\\n\\r\\nHallo", rcpt_tos=["a@b.at"])
    asyncio.run(PrintingHandler(instance / "mails").handle_DATA(None, None, mail))
    app = create_app()
    with app.app_context(), db.engine.connect() as connection:
        connection.execute(text("UPDATE global_variable SET value = value"))
        connection.commit()
        modes = {
            str(path.relative_to(instance)): path.stat().st_mode & 0o777
            for path in [instance, *instance.rglob("*")]
        }
    print("MODES " + json.dumps(modes))
finally:
    if redis is not None:
        redis.stop()
"""


def test_a_fresh_instance_folder_and_its_files_are_private(tmp_path: Path):
    instance = tmp_path / "instance"
    env = {
        name: value
        for name, value in os.environ.items()
        if name
        not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SMS_SECRET_KEY", "INSTANCE_PATH")
    }
    env.update(INSTANCE_PATH=str(instance), ADMIN_PASSWORD="Instanz-Test-7319-xq")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODES "))
    modes = json.loads(line.removeprefix("MODES "))
    made = set(modes)
    for expected in (
        ".",
        "sms.sqlite",
        "sms.sqlite-wal",
        "sms.sqlite-shm",
        "secret_key",
        "sms_secret_key",
        "redis",
        "redis/redis.log",
        "mails",
    ):
        assert expected in made, f"{expected} not made: {sorted(made)}"
    assert any(name.startswith("mails/") and name.endswith(".eml") for name in made)
    if len(str(instance / "redis.sock")) <= MAX_SOCKET_PATH:  # else Redis listens on a port
        assert "redis.sock" in made
    readable_by_others = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert readable_by_others == {}
    assert modes["."] == 0o700

"""`make run`'s program: the whole application comes up with only Python, and Ctrl-C ends it.

Starts `python -m webapp.devrun` in a fresh instance folder with REDIS_URL unset, so the
embedded Redis, migrations, demo data, web server, worker and scheduler tick all run for real.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from webapp.config import PROJECT_ROOT
from webapp.embedded_redis import free_port


def _poll(check, deadline_seconds: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + deadline_seconds
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except requests.RequestException as error:
            last_error = error
        time.sleep(0.2)
    pytest.fail(f"{what} not reached within {deadline_seconds} s (last error: {last_error})")


@pytest.fixture
def running_app(tmp_path: Path):
    port = free_port()
    # A short folder: the embedded Redis listens on a unix socket inside it.
    instance = Path("/tmp") / f"sms-run-{os.getpid()}-{port}"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "SECRET_KEY", "TEST_DATABASE_URL"}
    }
    env.update(
        {"INSTANCE_PATH": str(instance), "PORT": str(port), "ADMIN_PASSWORD": "demo-passwort-123"}
    )
    log = (tmp_path / "run.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp.devrun"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        yield base, process, instance, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        subprocess.run(["rm", "-rf", str(instance)], check=False)


def test_run_starts_everything_and_ctrl_c_stops_it(running_app):
    base, process, instance, log = running_app

    def healthy():
        response = requests.get(f"{base}/healthz", timeout=2)
        body = response.json()
        return body if response.status_code == 200 and body["scheduler_last_tick"] else None

    body = _poll(healthy, 90, "a healthy app whose scheduler has ticked")
    assert body["database"] == "ok" and body["redis"] == "ok"
    assert (instance / "sms.sqlite").exists()
    assert (instance / "redis.sock").exists()

    session = requests.Session()
    login_page = session.get(f"{base}/login", timeout=5)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page.text)
    assert token, login_page.text[:500]
    response = session.post(
        f"{base}/login",
        data={"csrf_token": token.group(1), "username": "admin", "password": "demo-passwort-123"},
        timeout=5,
    )
    assert "Willkommen, Administrator" in response.text
    assert "SMS senden" in response.text  # demo data switched global 1400 on

    # The whole way of an SMS: queued in the UI, run by the worker ("Jetzt ausführen"),
    # sent over HTTP to the websms sandbox that `make run` started.
    def csrf(page: str) -> str:
        return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)

    form = session.get(f"{base}/admin/sms/new", timeout=5).text
    mandant = re.search(r'<option (?:selected )?value="(\d+)"', form).group(1)
    session.post(
        f"{base}/admin/sms/new",
        data={
            "csrf_token": csrf(form),
            "recipient": "0664 1234567",
            "mandant": mandant,
            "text": "Grüße aus dem Demo-Lauf",
        },
        timeout=5,
    )
    jobs = session.get(f"{base}/admin/jobs/", timeout=5).text
    job_id = re.search(r'href="/admin/jobs/(\d+)"', jobs).group(1)
    session.post(f"{base}/admin/jobs/{job_id}/run", headers={"X-CSRFToken": csrf(jobs)}, timeout=5)

    def sent():
        page = session.get(f"{base}/admin/sms/?text=Demo-Lauf", timeout=5).text
        return "Versendet" in page and 'data-status="sent"' in page

    _poll(sent, 60, "the SMS sent by the worker through the websms sandbox")

    # A landline is refused without contacting websms; global 1401 gets one e-mail, which
    # the demo's SMTP sink prints into this log.
    form = session.get(f"{base}/admin/sms/new", timeout=5).text
    session.post(
        f"{base}/admin/sms/new",
        data={
            "csrf_token": csrf(form),
            "recipient": "01 5880 0",
            "mandant": mandant,
            "text": "An das Festnetz",
        },
        timeout=5,
    )
    jobs = session.get(f"{base}/admin/jobs/", timeout=5).text
    session.post(f"{base}/admin/jobs/{job_id}/run", headers={"X-CSRFToken": csrf(jobs)}, timeout=5)

    def mailed():
        log.seek(0)
        return "SMS mit Nummernfehler" in log.read()

    _poll(mailed, 60, "the number-problem e-mail in the mail sink's log")

    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    log.seek(0)
    output = log.read()
    assert process.returncode is not None, f"still running after Ctrl-C:\n{output}"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=2)
    leftovers = subprocess.run(
        ["pgrep", "-f", str(instance)], capture_output=True, text=True
    ).stdout.split()
    assert leftovers == [], f"processes left behind: {leftovers}\n{output}"

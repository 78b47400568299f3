"""`make run`'s program: the whole application comes up with only Python, and Ctrl-C ends it.

Starts `python -m webapp.devrun` in a fresh instance folder with REDIS_URL unset and every port
free (PORT, WEBSMS_SIM_PORT, MODEM_SIM_PORT, MAIL_SINK_PORT), so the embedded Redis,
migrations, demo data, web server, worker, scheduler tick, simulators and mail sink all run for
real — also while another copy of the app runs on this machine. Then once more through
`make run` on the same instance: the restart's banner, and make's own Ctrl-C.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from webapp.config import PROJECT_ROOT
from webapp.embedded_redis import free_port

BANNER = "Das SMS-Modul läuft"


def _poll(check: Callable[[], Any], deadline_seconds: float, what: str) -> Any:
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


class Run:
    """One start of the application with its log; `stop()` is Ctrl-C in its terminal."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log: IO[str] = log_path.open("w+")
        self.process = subprocess.Popen(
            argv,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal gives it
        )

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def banner(self) -> str:
        def shown() -> str | None:
            text = self.output()
            if self.process.poll() is not None:
                pytest.fail(f"ended before the banner:\n{text}")
            found = re.search(rf"={{20,}}\n(  {BANNER}.*?\n)={{20,}}", text, re.S)
            return found.group(1) if found else None

        return _poll(shown, 120, "the banner")

    def stop(self) -> str:
        """SIGINT to the process group (what Ctrl-C in the terminal sends); the output."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 40 s after Ctrl-C:\n{self.output()}")
        return self.output()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[tuple[Callable[..., Run], dict[str, int], Path]]:
    ports = {
        "PORT": free_port(),
        "WEBSMS_SIM_PORT": free_port(),
        "MODEM_SIM_PORT": free_port(),
        "MAIL_SINK_PORT": free_port(),
    }
    # A short folder: the embedded Redis listens on a unix socket inside it.
    instance = Path("/tmp") / f"sms-run-{os.getpid()}-{ports['PORT']}"
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "REDIS_URL",
            "DATABASE_URL",
            "SECRET_KEY",
            "SMS_SECRET_KEY",
            "TEST_DATABASE_URL",
            "ADMIN_PASSWORD",
            "SMTP_HOST",
        }
    }
    env.update({"INSTANCE_PATH": str(instance), **{k: str(v) for k, v in ports.items()}})
    runs: list[Run] = []

    def starter(argv: list[str]) -> Run:
        run = Run(argv, env, tmp_path / f"run-{len(runs) + 1}.log")
        runs.append(run)
        return run

    try:
        yield starter, ports, instance
    finally:
        for run in runs:
            run.kill()
        subprocess.run(["rm", "-rf", str(instance)], check=False)


def _csrf(page: str) -> str:
    found = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def _login(base: str, password: str) -> requests.Session:
    session = requests.Session()
    login_page = session.get(f"{base}/login", timeout=5)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page.text)
    assert token, login_page.text[:500]
    response = session.post(
        f"{base}/login",
        data={"csrf_token": token.group(1), "username": "admin", "password": password},
        timeout=5,
    )
    assert "Übersicht" in response.text  # the home page of administrators
    return session


def _queue_and_run(session: requests.Session, base: str, recipient: str, text: str) -> None:
    """Neu, then "Jetzt ausführen" of Service SMS (the worker sends it through the sandbox)."""
    form = session.get(f"{base}/admin/sms/new", timeout=5).text
    mandant = re.search(r'<option (?:selected )?value="(\d+)"', form)
    assert mandant, form[:2000]
    session.post(
        f"{base}/admin/sms/new",
        data={
            "csrf_token": _csrf(form),
            "recipient": recipient,
            "mandant": mandant.group(1),
            "text": text,
        },
        timeout=5,
    )
    jobs = session.get(f"{base}/admin/jobs/", timeout=5).text
    job_id = re.search(r'href="/admin/jobs/(\d+)"', jobs)
    assert job_id, jobs[:2000]
    session.post(
        f"{base}/admin/jobs/{job_id.group(1)}/run",
        headers={"X-CSRFToken": _csrf(jobs)},
        timeout=5,
    )


def _assert_stopped_quietly(output: str, instance: Path, base: str) -> None:
    assert "Traceback" not in output, output
    # Redis stops last: no process ever lost it.
    assert "Redis unreachable" not in output, output
    assert output.rstrip().splitlines()[-1] == "gestoppt", output
    assert "Error 130" not in output, output
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/healthz", timeout=2)
    leftovers = subprocess.run(
        ["pgrep", "-f", str(instance)], capture_output=True, text=True
    ).stdout.split()
    assert leftovers == [], f"processes left behind: {leftovers}\n{output}"


def test_run_starts_everything_shows_a_banner_delivers_and_stops_on_ctrl_c(start):
    starter, ports, instance = start
    base = f"http://127.0.0.1:{ports['PORT']}"
    run = starter([sys.executable, "-m", "webapp.devrun"])

    banner = run.banner()
    # Everything answers once the banner is there: no retry needed.
    health = requests.get(f"{base}/healthz", timeout=5).json()
    assert health["database"] == "ok" and health["redis"] == "ok"
    assert (instance / "sms.sqlite").exists()
    assert (instance / "redis.sock").exists()
    # One line per step, then the banner after the processes' start-up lines.
    output = run.output()
    steps = [
        "Eingebetteter Redis wird gestartet …",
        "Datenbank wird auf den neuesten Stand gebracht …",
        "Demodaten und Administrator werden angelegt …",
        "Prozesse werden gestartet: web, worker, scheduler, websms-sim, modem-sim, mail …",
    ]
    assert [line for line in output.splitlines() if line in steps] == steps, output
    assert "Running upgrade" not in output  # alembic's line per migration stays out
    assert output.index(steps[-1]) < output.index("Running on") < output.index(BANNER)
    assert f"{BANNER}: {base}" in banner
    assert "Benutzer: admin" in banner
    password = re.search(r"Passwort: (\S+) +\(wird nur bei diesem ersten Start angezeigt\)", banner)
    assert password, banner
    assert "reset-password admin" in banner

    session = _login(base, password.group(1))
    assert "SMS senden" in session.get(f"{base}/", timeout=5).text  # demo: global 1400 on

    # The whole way of an SMS: queued in the UI, run by the worker, sent over HTTP to the
    # websms sandbox, whose delivery report comes back on the app's webhook.
    _queue_and_run(session, base, "0664 1234567", "Grüße aus dem Demo-Lauf")

    def delivered() -> bool:
        page = session.get(f"{base}/admin/sms/?text=Demo-Lauf", timeout=5).text
        return "Zugestellt" in page and 'data-status="delivered"' in page

    _poll(delivered, 60, "the SMS delivered (report of the websms sandbox on the webhook)")

    # A landline is refused without contacting websms; global 1401 gets one e-mail, which
    # the demo's SMTP sink prints into this log.
    _queue_and_run(session, base, "01 5880 0", "An das Festnetz")
    _poll(lambda: "SMS mit Nummernfehler" in run.output(), 60, "the e-mail in the sink's log")

    output = run.stop()
    assert run.process.returncode == 0, output
    _assert_stopped_quietly(output, instance, base)

    # Restarted with `make run` (the virtual environment of this Python, installed already):
    # the banner again, now without the password, and make does not report Ctrl-C as an error.
    venv = Path(sys.executable).parent.parent
    rerun = starter(["make", "-o", f"{venv}/.installed-run", "run", f"VENV={venv}"])
    banner = rerun.banner()
    assert f"{BANNER}: {base}" in banner
    assert "Passwort:" not in banner
    assert "reset-password admin" in banner
    assert "Datenbank wird auf den neuesten Stand gebracht …" in rerun.output()
    output = rerun.stop()
    _assert_stopped_quietly(output, instance, base)

"""`make run`: the whole application on one machine with only Python.

One line per step: the embedded Redis (when REDIS_URL is unset), the database (migrations),
the demo data and the administrator, then the processes — the web server, the RQ worker, the
scheduler tick (`python -m webapp.jobs.scheduler`), the websms sandbox ("Service SMS" of the
demo sends through it and gets its delivery reports back on the app's webhook), the GSM modem
simulator and, when SMTP_HOST is unset, an SMTP sink that prints every e-mail. Once all of
them answer, one banner says where to log in (the generated password on the first start only).

Ctrl-C (SIGINT) or SIGTERM stops them in order: the web server, then the worker and the
scheduler, then the simulators, and the embedded Redis last, so no process loses Redis while
it runs. Then the line "gestoppt" and exit code 0. A second Ctrl-C kills what is left at once.
Each child runs in a session of its own: the terminal's Ctrl-C reaches only this process.

The ports are settings (`webapp.config.RunPorts`: PORT, WEBSMS_SIM_PORT, MODEM_SIM_PORT,
MAIL_SINK_PORT).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TextIO

from webapp.config import (
    INSTANCE_PATH,
    PROJECT_ROOT,
    RUN_PORT_VARIABLES,
    RunPorts,
    embedded_redis_url,
    run_ports,
    secure_instance,
)
from webapp.embedded_redis import EmbeddedRedis

ADMIN = "admin"
# The longest wait for every process to answer before the banner is shown anyway.
READY_SECONDS = 120.0
# The order of a stop and how long each stage may take before what is left is killed: the
# worker lets a running "Service SMS" finish the SMS in flight and hand the rest back.
STOP_STAGES: tuple[tuple[tuple[str, ...], float], ...] = (
    (("web",), 5.0),
    (("worker", "scheduler"), 20.0),
    (("websms-sim", "modem-sim", "mail"), 5.0),
)
COLOURS = ("36", "33", "32", "35", "34", "31")  # ANSI colours of the process names on a terminal


@dataclass(frozen=True)
class FirstLogin:
    """What the banner tells about the administrator: `password` is the generated one, only
    on the start that created the user."""

    username: str
    created: bool
    password: str | None = None


@dataclass(frozen=True)
class Prepared:
    """What `prepare` made: the embedded Redis (None with REDIS_URL) and the admin's login."""

    redis: EmbeddedRedis | None
    first_login: FirstLogin


@dataclass(frozen=True)
class Service:
    """A process of `make run`; `port`: where it answers once it is up."""

    name: str
    argv: tuple[str, ...]
    port: int | None = None


def say(text: str) -> None:
    print(text, flush=True)


def flask_command() -> str:
    """How to call `flask` of this virtual environment, relative to the project if inside."""
    flask = Path(sys.executable).with_name("flask")
    try:
        return str(flask.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(flask)


def banner(url: str, login: FirstLogin) -> str:
    """The lines shown once everything is up, framed so they stand out in the log."""
    lines = [f"Das SMS-Modul läuft: {url}", f"Benutzer: {login.username}"]
    if login.created and login.password:
        lines.append(f"Passwort: {login.password}   (wird nur bei diesem ersten Start angezeigt)")
    elif login.created:
        lines.append("Passwort: wie in ADMIN_PASSWORD angegeben")
    lines.append(
        f"Passwort vergessen? Neu setzen mit: {flask_command()} --app wsgi reset-password "
        f"{login.username}"
    )
    lines.append("Beenden mit Strg-C.")
    rule = "=" * 72
    return "\n".join([rule, *(f"  {line}" for line in lines), rule])


def busy_ports(ports: RunPorts, with_mail: bool) -> list[str]:
    """The settings whose port another program holds already (e.g. a second `make run`)."""
    busy = []
    for field_name, variable in RUN_PORT_VARIABLES.items():
        if field_name == "mail" and not with_mail:
            continue
        port = getattr(ports, field_name)
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"{variable}={port}")
    return busy


def migrate_quietly() -> None:
    """Upgrade the schema to the newest migration without alembic's line per migration."""
    from alembic import command
    from flask import current_app

    config = current_app.extensions["migrate"].migrate.get_config()
    config.attributes["configure_logger"] = False  # migrations/env.py: keep our logging
    logging.getLogger("alembic").setLevel(logging.WARNING)
    command.upgrade(config, "head")


def prepare_database(ports: RunPorts) -> FirstLogin:
    """Upgrade the schema, seed the demo data and the admin user."""
    from webapp import create_app
    from webapp.demo import ensure_admin, seed_demo
    from webapp.extensions import db

    app = create_app()
    with app.app_context():
        say("Datenbank wird auf den neuesten Stand gebracht …")
        migrate_quietly()
        say("Demodaten und Administrator werden angelegt …")
        seed_demo(db.session(), app.config["SMS_SECRET_KEY"], ports)
        password = os.environ.get("ADMIN_PASSWORD")
        created, generated = ensure_admin(db.session(), ADMIN, password)
        db.session.commit()
    return FirstLogin(ADMIN, created, generated)


def prepare(ports: RunPorts | None = None) -> Prepared:
    """The instance folder, the embedded Redis (when REDIS_URL is unset; REDIS_URL then points
    to it) and the database, before any process starts. The caller stops the Redis."""
    ports = ports or RunPorts()
    secure_instance(INSTANCE_PATH)  # first: Redis and the database are made inside
    redis: EmbeddedRedis | None = None
    if not os.environ.get("REDIS_URL"):
        socket_path = Path(embedded_redis_url(INSTANCE_PATH).removeprefix("unix://"))
        say("Eingebetteter Redis wird gestartet …")
        redis = EmbeddedRedis(INSTANCE_PATH / "redis", socket_path)
        os.environ["REDIS_URL"] = redis.start()
    try:
        login = prepare_database(ports)
    except BaseException:
        if redis is not None:
            redis.stop()
        raise
    return Prepared(redis, login)


def services(ports: RunPorts, with_mail: bool) -> list[Service]:
    """The processes in the order they start (the stop follows STOP_STAGES)."""
    python = sys.executable
    sim = (python, "-m", "webapp.simulators")
    web = f"--port={ports.web}"
    listed = [
        Service(
            "web",
            (python, "-m", "flask", "--app", "wsgi", "run", "--host=127.0.0.1", web, "--no-reload"),
            ports.web,
        ),
        Service("worker", (python, "worker.py")),
        Service("scheduler", (python, "-m", "webapp.jobs.scheduler")),
        # The simulators stand in for websms and the modem (demo latency: 2–5 s per SMS).
        Service(
            "websms-sim",
            (*sim, "websms", f"--port={ports.websms}", "--token=demo-token", "--latency=0.2"),
            ports.websms,
        ),
        Service(
            "modem-sim", (*sim, "modem", f"--port={ports.modem}", "--latency=2-5"), ports.modem
        ),
    ]
    if with_mail:
        folder = f"--folder={INSTANCE_PATH / 'mails'}"
        listed.append(Service("mail", (*sim, "mail", f"--port={ports.mail}", folder), ports.mail))
    return listed


class Processes:
    """The child processes, each in a session of its own, their output relayed line by line
    with the time and the process name in front."""

    def __init__(self, env: dict[str, str], out: TextIO = sys.stdout) -> None:
        self.env = env
        self.out = out
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.changed = threading.Event()  # a process ended
        self._relays: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._colour = out.isatty()

    def say(self, text: str) -> None:
        with self._lock:
            print(text, file=self.out, flush=True)

    def start(self, service: Service) -> None:
        child = subprocess.Popen(
            service.argv,
            cwd=PROJECT_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.children[service.name] = child
        label = f"{service.name:<10}"
        if self._colour:
            label = f"\033[{COLOURS[len(self.children) % len(COLOURS)]}m{label}\033[0m"
        relay = threading.Thread(target=self._relay, args=(label, child), daemon=True)
        relay.start()
        self._relays.append(relay)

    def _relay(self, label: str, child: subprocess.Popen[bytes]) -> None:
        assert child.stdout is not None
        for raw in iter(child.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            self.say(f"{datetime.now():%H:%M:%S} {label} | {line}")
        child.wait()
        self.changed.set()

    def ended(self) -> tuple[str, int] | None:
        """The first process that is no longer running, with its exit code."""
        for name, child in self.children.items():
            code = child.poll()
            if code is not None:
                return name, code
        return None

    def stop(self, names: Iterable[str], seconds: float, hurry: threading.Event) -> None:
        """SIGTERM to the process group of each of `names` (the worker's work-horse too), then
        wait up to `seconds` — less once `hurry` is set (a second Ctrl-C) — and kill the rest."""
        chosen = [self.children[name] for name in names if name in self.children]
        for child in chosen:
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + seconds
        for child in chosen:
            while not hurry.is_set() and time.monotonic() < deadline:
                try:
                    child.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    continue
            if child.poll() is None:
                _signal_group(child, signal.SIGKILL)
                child.wait()

    def finish_output(self) -> None:
        """Wait (briefly) until the relays have printed what the processes wrote last."""
        for relay in self._relays:
            relay.join(timeout=2)


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # ended meanwhile
        os.killpg(child.pid, signum)


def _http_answers(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status) < 500
        except (urllib.error.URLError, OSError):
            return False

    return check


def _port_answers(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    return check


def _worker_listens(redis_url: str) -> Callable[[], bool]:
    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Worker

    connection = Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=2)

    def check() -> bool:
        try:
            return Worker.count(connection=connection) > 0
        except RedisError:
            return False

    return check


def wait_until_up(
    processes: Processes, started: list[Service], redis_url: str, stop: threading.Event
) -> bool:
    """Until the web server answers HTTP, every simulator its port and the worker is
    registered; False when one ended, a stop was asked for or READY_SECONDS passed."""
    checks = [_worker_listens(redis_url)]
    for service in started:
        if service.name == "web" and service.port:
            checks.append(_http_answers(f"http://127.0.0.1:{service.port}/login"))
        elif service.port:
            checks.append(_port_answers(service.port))
    deadline = time.monotonic() + READY_SECONDS
    while checks:
        if stop.is_set() or processes.ended() is not None or time.monotonic() > deadline:
            return False
        checks = [check for check in checks if not check()]
        if checks:
            stop.wait(0.2)
    return True


def main() -> int:
    try:
        ports = run_ports()
    except ValueError as error:
        say(str(error))
        return 2
    with_mail = not os.environ.get("SMTP_HOST")
    busy = busy_ports(ports, with_mail)
    if busy:
        say(
            f"Belegt: {', '.join(busy)}. Läuft das SMS-Modul schon? Sonst einen freien Port "
            "wählen, z. B. PORT=5001 make run (siehe README, Konfiguration)."
        )
        return 1
    try:
        prepared = prepare(ports)
    except KeyboardInterrupt:
        say("gestoppt")
        return 0

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if with_mail:
        # The demo's e-mails (error reports, forwarded SMS) go to the local sink that prints them.
        env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(ports.mail), DEMO_MAIL_SINK="1")
    processes = Processes(env)
    stop, hurry = threading.Event(), threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            hurry.set()  # the second Ctrl-C: kill what is left
        stop.set()
        processes.changed.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = services(ports, with_mail)
    exit_code = 0
    try:
        processes.say(f"Prozesse werden gestartet: {', '.join(s.name for s in started)} …")
        for service in started:
            processes.start(service)
        up = wait_until_up(processes, started, env["REDIS_URL"], stop)
        if not stop.is_set():
            if not up and processes.ended() is None:
                processes.say(
                    f"Noch antworten nicht alle Prozesse (nach {READY_SECONDS:.0f} s), siehe oben."
                )
            if processes.ended() is None:
                processes.say(banner(f"http://127.0.0.1:{ports.web}", prepared.first_login))
        while not stop.is_set():
            ended = processes.ended()
            if ended is not None:
                processes.say(
                    f"{ended[0]} hat sich beendet (Exit-Code {ended[1]}); "
                    "alle Prozesse werden gestoppt."
                )
                exit_code = 1
                break
            processes.changed.wait(1.0)
            processes.changed.clear()
    finally:
        for names, seconds in STOP_STAGES:
            processes.stop(names, seconds, hurry)
        processes.finish_output()
        if prepared.redis is not None:
            prepared.redis.stop()
    processes.say("gestoppt")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

"""Running real SMS gateways against the modem simulator: the programs, the pseudo-terminal,
the processes (killed in teardown), polling with deadlines.

The gateways see the simulator as a serial modem: `socat pty,link=<device>,raw,echo=0
tcp:127.0.0.1:<port>` gives them a device file whose other end is the simulator's TCP port,
as a Moxa NPort in TCP-server mode would give it to a host with a virtual COM port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from webapp.simulators.modem import ModemSimulator

T = TypeVar("T")
PACKAGES = "gammu-smsd kannel socat"
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def program(name: str) -> str:
    """The path of `name`; skipped where the package is missing, failed in CI (CI=true)."""
    found = shutil.which(name, path=SEARCH_PATH)
    if found is None:
        message = f"{name} is not installed (apt-get install -y {PACKAGES})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def wait_until(condition: Callable[[], T], timeout: float, what: str) -> T:
    """Poll `condition` until it is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)  # polling interval, bounded by the deadline above


def listening(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:`port`."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def started(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` (output to `log`) and end it afterwards: SIGTERM, then SIGKILL after 5 s."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@contextlib.contextmanager
def modem_device(sim: ModemSimulator, device: Path) -> Iterator[Path]:
    """A pseudo-terminal at `device` whose other end is the simulator (socat)."""
    socat = program("socat")
    command = [socat, f"pty,link={device},raw,echo=0", f"tcp:{sim.host}:{sim.port}"]
    with started(command, device.with_suffix(".socat.log")):
        wait_until(device.exists, 10, f"socat did not create {device}")
        yield device


def gateway_log(path: Path) -> str:
    """The end of a gateway's log, for the failure message."""
    if not path.exists():
        return f"({path.name} missing)"
    return f"--- {path.name} ---\n" + path.read_text(errors="replace")[-4000:]

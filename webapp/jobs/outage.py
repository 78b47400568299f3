"""Redis outages in the long-running processes (worker, scheduler): logged once, waited out.

A Redis that goes away for a while (restart, failover, network) must not end the worker or the
scheduler: they log one line when it goes away and one when it is back, and go on by themselves.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

# What an unreachable Redis raises (refused, reset, closed, hung): the errors that are waited out.
REDIS_DOWN: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)

# How often a process without Redis asks whether it is back.
POLL_SECONDS = 0.5

# TCP keepalive: a Redis host that vanished without closing the connection (reboot, failover)
# is noticed after about 30 s instead of when RQ's BLPOP times out (minutes).
KEEPALIVE_OPTIONS = {
    option: value
    for name, value in (("TCP_KEEPIDLE", 15), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))
    if (option := getattr(socket, name, None)) is not None
}


def service_connection(url: str, socket_timeout: float | None = 10.0) -> Redis:
    """A Redis client for the worker and the scheduler.

    It connects quickly and retries a failed command only briefly (a blip), so an outage is
    noticed within a second instead of after redis-py's default backoff; the socket timeout
    keeps a command from hanging on a half-open connection (RQ raises it above its BLPOP wait),
    and TCP keepalive finds such a connection while it waits.
    """
    tcp: dict[str, object] = (
        {}
        if url.startswith("unix:")
        else {"socket_keepalive": True, "socket_keepalive_options": KEEPALIVE_OPTIONS}
    )
    return Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=socket_timeout,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        **tcp,
    )


class Outage:
    """The state of one process's Redis: logs when it goes away and when it is back, once each,
    however often the outage is noticed in between."""

    def __init__(self, log: logging.Logger, who: str) -> None:
        self.log = log
        self.who = who
        self._since: float | None = None
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        """Whether Redis was found unreachable and has not been reached since."""
        return self._since is not None

    def lost(self, error: BaseException) -> None:
        """Redis did not answer: log it unless this outage is known already."""
        with self._lock:
            if self._since is not None:
                return
            self._since = time.monotonic()
        self.log.warning(
            "Redis unreachable (%s): the %s waits for it and goes on by itself", error, self.who
        )

    def back(self) -> None:
        """Redis answered: log the end of an outage, if there was one."""
        with self._lock:
            if self._since is None:
                return
            seconds, self._since = time.monotonic() - self._since, None
        self.log.warning("Redis reachable again after %.0f s: the %s goes on", seconds, self.who)


def wait_for_redis(connection: Redis, outage: Outage, stop: threading.Event) -> bool:
    """Block until Redis answers (True) or `stop` is set (False); logs through `outage`."""
    while not stop.is_set():
        try:
            connection.ping()
        except REDIS_DOWN as error:
            outage.lost(error)
            stop.wait(POLL_SECONDS)
        else:
            outage.back()
            return True
    return False

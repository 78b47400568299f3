"""`python -m webapp.jobs.scheduler`: the scheduler tick process (exactly one per installation).

Runs rq's CronScheduler with `webapp.jobs.cron_config` (one tick per minute on the high-priority
queue), like `rq cron webapp.jobs.cron_config`, but a Redis outage does not end it: it logs one
line when Redis goes away and one when it is back, and enqueues a tick that fell due meanwhile
as soon as Redis answers. SIGTERM/SIGINT stop it cleanly (exit code 0). REDIS_URL as everywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from typing import Any

from redis import Redis
from rq.cron import CronScheduler

from webapp.jobs.outage import POLL_SECONDS, REDIS_DOWN, Outage, service_connection

# Not __name__: run with -m, that is "__main__".
log = logging.getLogger("webapp.jobs.scheduler")

CONFIG = "webapp.jobs.cron_config"


class ResilientCronScheduler(CronScheduler):
    """rq's CronScheduler whose loop waits out Redis outages and stops at the next pause."""

    def __init__(self, connection: Redis, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self.outage = Outage(log, "scheduler")
        self._stop = threading.Event()

    def request_stop(self, *_args: object) -> None:
        """End the loop (also the SIGTERM/SIGINT handler): at once when it waits, else after the
        current round, so a tick is never half enqueued."""
        self._stop.set()

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)

    def start(self) -> None:
        """Enqueue the registered jobs when due until stopped; Redis outages are waited out."""
        self.log.info("CronScheduler %s: starting...", self.name)
        if threading.current_thread() is threading.main_thread():
            self._install_signal_handlers()
        registered = False
        try:
            while not self._stop.is_set():
                try:
                    if not registered:
                        self.register_birth()
                        registered = True
                    if self.enqueue_jobs():
                        self.save()  # the next enqueue times, for `rq cron` monitoring
                    self.heartbeat()
                    self.outage.back()
                    pause = self.calculate_sleep_interval()
                except REDIS_DOWN as error:
                    # A due job stays due (its time is only advanced once it is enqueued).
                    self.outage.lost(error)
                    pause = POLL_SECONDS
                self._stop.wait(pause)
        finally:
            if registered:
                with contextlib.suppress(*REDIS_DOWN):  # the registry entry expires by itself
                    self.register_death()
            self.log.info("CronScheduler %s: stopped", self.name)


def main(argv: list[str] | None = None) -> int:
    """Run the scheduler with `config` (default webapp.jobs.cron_config) until stopped."""
    parser = argparse.ArgumentParser(prog="python -m webapp.jobs.scheduler", description=__doc__)
    parser.add_argument("config", nargs="?", default=CONFIG, help=f"cron config (default {CONFIG})")
    args = parser.parse_args(argv)

    from webapp import create_app

    app = create_app()  # settings from the environment, and the process log
    scheduler = ResilientCronScheduler(service_connection(app.config["REDIS_URL"]))
    scheduler.load_config_from_file(args.config)
    scheduler.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())

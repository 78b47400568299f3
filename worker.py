"""Start an RQ worker (with the RQ scheduler) on the job queues, high priority first.

Run as many as you like on as many machines as you like: `python worker.py`.
"""

from __future__ import annotations

import logging
import sys
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Worker

from webapp import create_app
from webapp.jobs.queues import QUEUE_NAMES, get_queue, redis_connection

log = logging.getLogger("worker")


def wait_for_redis(app, deadline_seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """The embedded Redis may still be starting: poll it until a deadline."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            redis_connection(app).ping()
            return
        except RedisConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main() -> int:
    app = create_app()
    wait_for_redis(app)
    queues = [get_queue(name, app) for name in QUEUE_NAMES]
    with app.app_context():
        worker = Worker(queues, connection=redis_connection(app))
        worker.work(with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Start an RQ worker (with the RQ scheduler) on the job queues, high priority first.

Run as many as you like on as many machines as you like: `python worker.py`. It waits out
Redis outages and stops gracefully on SIGTERM/Ctrl-C (see webapp.jobs.worker).
"""

from __future__ import annotations

import sys

from webapp.jobs.worker import job_app, run_worker


def main() -> int:
    """Build the app from the environment once and work until stopped; the work-horses (forks
    of this process) run their jobs with it."""
    app = job_app()
    with app.app_context():
        return run_worker(app)


if __name__ == "__main__":
    sys.exit(main())

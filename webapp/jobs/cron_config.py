"""Configuration of the scheduler (`python -m webapp.jobs.scheduler`): one fixed tick per minute.

Schedules that admins edit live in SQL and are read by the tick, so no restart is needed when a
Zeitplan changes (see DESIGN.md, reference/flask-rq-htmx.md §1). Run exactly one such process.
"""

from rq import cron

from webapp.jobs.queues import HIGH_QUEUE
from webapp.jobs.tick import tick

cron.register(tick, queue_name=HIGH_QUEUE, interval=60, job_timeout=50, result_ttl=0)

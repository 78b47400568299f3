"""A fast cron config for the scheduler process tests: the tick every second, not every minute.

Only for `python -m webapp.jobs.scheduler tests.cron_config_for_tests` in a subprocess: importing
it registers the tick in rq's global cron registry.
"""

from rq import cron

from webapp.jobs.queues import HIGH_QUEUE
from webapp.jobs.tick import tick

cron.register(tick, queue_name=HIGH_QUEUE, interval=1, job_timeout=50, result_ttl=0)

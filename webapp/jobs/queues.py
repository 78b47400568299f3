"""Redis connection and the RQ queues the jobs run on."""

from __future__ import annotations

from typing import cast

from flask import Flask
from redis import Redis
from rq import Queue, Worker

from webapp.extensions import app_object

# Workers listen on these in this order: a high-priority job ("Priorität Hoch") goes first.
HIGH_QUEUE = "jobs-high"
DEFAULT_QUEUE = "jobs"
QUEUE_NAMES: tuple[str, ...] = (HIGH_QUEUE, DEFAULT_QUEUE)

# Heartbeat of the scheduler tick, shown by /healthz.
TICK_KEY = "sms:scheduler:last_tick"


def redis_connection(app: Flask | None = None) -> Redis:
    """One Redis client per app (connection pool inside), from REDIS_URL."""
    app = app or app_object()
    client = app.extensions.get("sms_redis")
    if client is None:
        client = Redis.from_url(app.config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=2)
        app.extensions["sms_redis"] = client
    return client


def redis_get(redis: Redis, key: str) -> bytes | None:
    """GET `key`. redis-py types every answer as `Awaitable | Any` (one signature for its sync
    and async clients); this sync client, without decode_responses, answers bytes."""
    return cast(bytes | None, redis.get(key))


def get_queue(name: str = DEFAULT_QUEUE, app: Flask | None = None) -> Queue:
    return Queue(name, connection=redis_connection(app))


def live_workers(redis: Redis) -> int:
    """How many RQ workers are registered: a worker's key expires when it stops beating (its
    worker_ttl), so a crashed worker drops out within minutes."""
    return Worker.count(connection=redis)

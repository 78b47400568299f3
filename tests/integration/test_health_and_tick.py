"""/healthz and the scheduler tick, against a real Redis."""

from __future__ import annotations

import pytest
from rq import SimpleWorker

from webapp.jobs.queues import HIGH_QUEUE, TICK_KEY, get_queue, redis_connection
from webapp.jobs.tick import last_tick, record_tick, tick


def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["database"] == "ok"
    assert body["redis"] == "ok"
    assert body["status"] == "ok"


@pytest.mark.parametrize("app_config", [{"REDIS_URL": "redis://127.0.0.1:1/0"}])
def test_healthz_says_503_when_redis_is_down(client, app_config):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"] == "ok"
    assert body["redis"].startswith("error")


@pytest.mark.parametrize(
    "app_config", [{"SQLALCHEMY_DATABASE_URI": "sqlite:////nonexistent-dir/db.sqlite"}]
)
def test_healthz_says_503_when_the_database_is_down(app_config, redis_url, tmp_path):
    from tests.conftest import make_test_app

    app = make_test_app("sqlite:////nonexistent-dir/db.sqlite", tmp_path, redis_url)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"].startswith("error")


def test_healthz_shows_the_last_scheduler_tick(app, client):
    redis_connection(app).delete(TICK_KEY)
    assert client.get("/healthz").get_json()["scheduler_last_tick"] is None
    now = record_tick(app)
    body = client.get("/healthz").get_json()
    assert body["scheduler_last_tick"] == now.isoformat()
    assert 0 <= body["scheduler_tick_age_seconds"] < 60


def test_tick_runs_in_a_real_rq_worker(app):
    # The tick runs with the app of its process (here the test's, in production the worker's).
    connection = redis_connection(app)
    connection.delete(TICK_KEY)
    queue = get_queue(HIGH_QUEUE, app)
    job = queue.enqueue(tick)
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert job.get_status(refresh=True) == "finished", job.latest_result()
    assert last_tick(app) is not None


def test_cron_config_registers_one_tick_per_minute():
    from rq import cron

    import webapp.jobs.cron_config  # noqa: F401  (registers on import)

    registered = [job for job in cron._job_data_registry if job["func"] is tick]
    assert len(registered) == 1
    assert registered[0]["interval"] == 60
    assert registered[0]["queue_name"] == HIGH_QUEUE

"""GET /metrics (issue 13 point 7): protection, the Prometheus format, figures that match the
database, and the counters a run and the websms webhook add to in Redis."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from sqlalchemy import event, func, insert, select

from tests.service_job import send_through_websms
from webapp import create_app
from webapp.jobs.runner import execute_job
from webapp.jobs.settings import set_webhook_secret
from webapp.models import Job, JobRun, Message, MessageSource, MessageStatus, RunStatus
from webapp.models.base import utcnow
from webapp.simulators.websms import Fault, WebsmsSandbox
from webapp.sms.metrics import TRANSPORT_KEY, TransportTally, settled_key
from webapp.sms.outbox import queue_sms

TOKEN = "scrape-me-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WEBHOOK_SECRET = "geheim-webhook-123"


@pytest.fixture
def app_config():
    return {"METRICS_TOKEN": TOKEN}


@pytest.fixture
def job(db):
    return db.scalar(select(Job).where(Job.job_type == "service_sms"))


def scrape(client, headers=AUTH) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples of /metrics as {(name, sorted labels): value}, parsed by prometheus_client."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


# --- protection -------------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{}])
def test_off_unless_a_token_or_addresses_are_configured(client, app_config):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=AUTH).status_code == 404


def test_the_token_is_required(client):
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert "sms_messages" not in refused.get_data(as_text=True)
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    basic = client.get("/metrics", auth=("prometheus", TOKEN))  # the token, but not as Bearer
    assert basic.status_code == 401
    assert client.get("/metrics", headers=AUTH).status_code == 200


@pytest.mark.parametrize(
    "app_config", [{"METRICS_ALLOWED_ADDRESSES": "10.1.0.0/16, 192.168.5.7 ::1"}]
)
def test_only_from_the_configured_addresses(client, app_config):
    def status(address: str) -> int:
        return client.get("/metrics", environ_base={"REMOTE_ADDR": address}).status_code

    assert status("10.1.200.3") == 200
    assert status("192.168.5.7") == 200
    assert status("::1") == 200
    assert status("::ffff:10.1.0.9") == 200  # IPv4-mapped
    assert status("10.2.0.1") == 403
    assert status("192.168.5.8") == 403
    assert status("127.0.0.1") == 403
    # Without TRUSTED_PROXIES a forwarded address means nothing.
    spoofed = client.get(
        "/metrics",
        environ_base={"REMOTE_ADDR": "10.2.0.1"},
        headers={"X-Forwarded-For": "10.1.0.1"},
    )
    assert spoofed.status_code == 403


@pytest.mark.parametrize(
    "app_config", [{"METRICS_ALLOWED_ADDRESSES": "192.168.5.0/24", "TRUSTED_PROXIES": 1}]
)
def test_behind_a_trusted_proxy_the_forwarded_address_counts(client, app_config):
    def status(forwarded: str) -> int:
        return client.get(
            "/metrics",
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
            headers={"X-Forwarded-For": forwarded},
        ).status_code

    assert status("192.168.5.20") == 200
    assert status("10.0.0.1") == 403
    # Only the last hop (the one the proxy appended) counts, not what the client claimed.
    assert status("192.168.5.20, 10.0.0.1") == 403


@pytest.mark.parametrize(
    "app_config", [{"METRICS_TOKEN": TOKEN, "METRICS_ALLOWED_ADDRESSES": "10.1.0.0/16"}]
)
def test_with_token_and_addresses_both_must_hold(client, app_config):
    inside, outside = {"REMOTE_ADDR": "10.1.0.5"}, {"REMOTE_ADDR": "10.9.0.5"}
    assert client.get("/metrics", environ_base=inside).status_code == 401
    assert client.get("/metrics", environ_base=outside, headers=AUTH).status_code == 403
    assert client.get("/metrics", environ_base=inside, headers=AUTH).status_code == 200


def test_a_wrong_address_setting_stops_the_start(tmp_path, databases, redis_url):
    with pytest.raises(ValueError, match=r"10\.0\.0\.300"):
        create_app(
            {
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "INSTANCE_PATH": str(tmp_path),
                "REDIS_URL": redis_url,
                "SECRET_KEY": "x",
                "METRICS_ALLOWED_ADDRESSES": "10.0.0.0/8, 10.0.0.300",
            }
        )


# --- the figures --------------------------------------------------------------------------------


def _messages(db, wien, statuses, created_at):
    rows = [
        {
            "mandant_id": wien.id,
            "recipient_raw": "+436641234567",
            "recipient": "+436641234567",
            "text": f"{status} {n}",
            "encoding": "GSM-7",
            "segments": 1,
            "status": status.value,
            "attempts": 1,
            "source": MessageSource.MANUAL.value,
            "error_notification_due": False,
            "created_at": created_at,
            "updated_at": created_at,
        }
        for n, status in enumerate(statuses)
    ]
    db.execute(insert(Message.__table__), rows)
    db.commit()


def _seed(db, wien, job):
    """SMS of every status (also SMS a month old, whose final statuses are settled) and some
    runs of Service SMS, written as the tables hold them (statuses and times set directly)."""
    now = utcnow()
    plan = {
        MessageStatus.QUEUED: 4,
        MessageStatus.SENDING: 1,
        MessageStatus.SENT: 6,
        MessageStatus.DELIVERED: 9,
        MessageStatus.UNDELIVERED: 2,
        MessageStatus.FAILED: 3,
        MessageStatus.EXPIRED: 1,
        MessageStatus.UNKNOWN: 2,
    }
    old = [MessageStatus.DELIVERED] * 4 + [MessageStatus.FAILED, MessageStatus.UNKNOWN]
    _messages(db, wien, old, now - timedelta(days=30))
    recent = [status for status, count in plan.items() for _ in range(count)]
    _messages(db, wien, recent, now - timedelta(minutes=30))
    queued = list(
        db.scalars(
            select(Message).where(Message.status == MessageStatus.QUEUED).order_by(Message.id)
        )
    )
    queued[0].created_at = now - timedelta(hours=2)  # the oldest waits 2 h
    queued[1].next_attempt_at = now + timedelta(minutes=4)  # a retry: waiting all the same
    for n, status in enumerate([RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SUCCEEDED]):
        started = now - timedelta(minutes=10 - n)
        db.add(
            JobRun(
                job_id=job.id,
                run_key=f"seeded-{n}",
                status=status,
                started_at=started,
                heartbeat_at=started,
                finished_at=started + timedelta(seconds=3 + n),
            )
        )
    job.run_count, job.failed_run_count = 3, 1
    db.commit()
    return now


def test_the_figures_match_the_database(client, db, wien, job):
    now = _seed(db, wien, job)
    samples = scrape(client)
    for status in MessageStatus:
        expected = db.scalar(select(func.count()).where(Message.status == status))
        assert value(samples, "sms_messages", status=status.value) == expected, status
    assert value(samples, "sms_queue_depth") == 4
    age = value(samples, "sms_queue_oldest_age_seconds")
    assert 7200 <= age < 7200 + (utcnow() - now).total_seconds() + 1
    labels = {"job_id": str(job.id), "job_name": job.name}
    assert value(samples, "sms_job_runs_total", **labels) == 3
    assert value(samples, "sms_job_failed_runs_total", **labels) == 1
    assert value(samples, "sms_job_running", **labels) == 0
    last = db.scalar(select(JobRun).order_by(JobRun.id.desc()).limit(1))
    assert value(samples, "sms_job_last_run_duration_seconds", **labels) == pytest.approx(5.0)
    assert value(samples, "sms_job_last_run_start_timestamp_seconds", **labels) == pytest.approx(
        last.started_at.timestamp()
    )
    assert value(samples, "sms_job_last_run_status", status="succeeded", **labels) == 1
    assert value(samples, "sms_job_last_run_status", status="failed", **labels) == 0
    assert value(samples, "sms_job_last_success_timestamp_seconds", **labels) == pytest.approx(
        last.started_at.timestamp()
    )
    assert value(samples, "sms_metrics_source_up", source="database") == 1
    assert value(samples, "sms_metrics_source_up", source="redis") == 1


def _statements(app):
    """The SQL statements the app runs while the `with` block lasts."""

    class Recorder(list):
        def __enter__(self):
            event.listen(db_engine, "before_cursor_execute", self.record)
            return self

        def __exit__(self, *exc):
            event.remove(db_engine, "before_cursor_execute", self.record)

        def record(self, conn, cursor, statement, *args):
            self.append(statement)

    db_engine = app.extensions["sqlalchemy"].engine
    return Recorder()


def test_sms_older_than_a_week_are_counted_once_an_hour(app, client, db, wien, redis_url):
    """The final statuses of old SMS come from the settled count kept in Redis for an hour;
    the open statuses and the SMS since are counted at every scrape."""
    redis = Redis.from_url(redis_url)
    key = settled_key(db())
    redis.delete(key)
    month_ago = utcnow() - timedelta(days=30)
    S = MessageStatus
    _messages(db, wien, [S.DELIVERED] * 5 + [S.SENT] * 3 + [S.FAILED, S.EXPIRED], month_ago)
    _messages(db, wien, [S.UNKNOWN] * 2, month_ago)
    _messages(db, wien, [S.DELIVERED, S.SENT, S.QUEUED, S.SENDING], utcnow())

    def expected():
        return {s: db.scalar(select(func.count()).where(Message.status == s)) for s in S}

    def shown():
        samples = scrape(client)
        return {s: value(samples, "sms_messages", status=s.value) for s in S}

    with _statements(app) as first:
        assert shown() == expected()
    assert any("GROUP BY" in statement for statement in first)  # the settled count
    assert 0 < redis.ttl(key) <= 3600
    with _statements(app) as second:
        assert shown() == expected()
    assert not any("GROUP BY" in statement for statement in second)  # taken from Redis

    _messages(db, wien, [S.DELIVERED, S.FAILED], utcnow())  # new SMS: counted at once
    old_unknown = db.scalar(select(Message).where(Message.status == S.UNKNOWN).limit(1))
    old_unknown.status = S.SENT  # an old Unklar confirmed as sent (the worklist)
    db.commit()
    now_shown, now_true = shown(), expected()
    assert now_shown[S.UNKNOWN] == now_true[S.UNKNOWN] == 1  # open statuses: at once
    assert now_shown[S.DELIVERED] == now_true[S.DELIVERED]
    assert now_shown[S.FAILED] == now_true[S.FAILED]
    assert now_shown[S.SENT] == now_true[S.SENT] - 1  # an old SMS's final status: within the hour
    redis.delete(key)  # as when the hour is over
    assert shown() == expected()


def test_the_queue_is_empty_when_nothing_waits(client):
    samples = scrape(client)
    assert value(samples, "sms_queue_depth") == 0
    assert value(samples, "sms_queue_oldest_age_seconds") == 0


def test_openmetrics_when_the_scraper_asks_for_it(client):
    response = client.get(
        "/metrics", headers={**AUTH, "Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.status_code == 200
    assert response.content_type.startswith("application/openmetrics-text")
    assert response.get_data(as_text=True).endswith("# EOF\n")


def _sms(db, mandant, recipient="0664 1234567", text="Hallo"):
    message = queue_sms(
        db, recipient=recipient, text=text, mandant_id=mandant.id, source=MessageSource.MANUAL
    )
    db.commit()
    return message


def test_a_run_through_the_websms_sandbox_counts_latency_and_outcomes(app, client, db, wien, job):
    before = scrape(client)
    with WebsmsSandbox(token="t0ken") as sandbox:
        send_through_websms(app, db, job, sandbox.url, "t0ken")
        for n in range(3):
            _sms(db, wien, text=f"ok {n}")
        _sms(db, wien, recipient="0664 7777777", text="gesperrt")
        sandbox.blacklist("436647777777")
        _sms(db, wien, recipient="0664 5555555", text="später")
        sandbox.add_rule("436645555555", Fault.status(5003))
        run = execute_job(app, job.id)
    assert run is not None and run.status is RunStatus.SUCCEEDED
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    websms = {"transport": "websms"}
    assert delta("sms_transport_outcomes_total", outcome="accepted", **websms) == 3
    assert delta("sms_transport_outcomes_total", outcome="permanent", **websms) == 1
    assert delta("sms_transport_outcomes_total", outcome="transient", **websms) == 1
    assert delta("sms_transport_outcomes_total", outcome="unknown", **websms) == 0
    assert delta("sms_transport_outcomes_total", outcome="accepted", transport="modem") == 0
    assert delta("sms_transport_send_duration_seconds_count", **websms) == 5
    assert delta("sms_transport_send_duration_seconds_bucket", le="+Inf", **websms) == 5
    assert delta("sms_transport_send_duration_seconds_sum", **websms) > 0
    # The sandbox answers within a second: every SMS is in the 1 s bucket.
    assert delta("sms_transport_send_duration_seconds_bucket", le="1.0", **websms) == 5
    labels = {"job_id": str(job.id), "job_name": job.name}
    assert value(after, "sms_job_runs_total", **labels) == 1
    assert value(after, "sms_job_last_run_status", status="succeeded", **labels) == 1
    assert value(after, "sms_messages", status="sent") == 3


def test_figures_another_process_adds_are_what_every_web_process_shows(app, client, redis_url):
    """A worker process adds its tally to Redis; two app objects (two gunicorn workers) show
    the same sums."""
    before = scrape(client)
    script = (
        "from redis import Redis\n"
        "from webapp.sms.metrics import TransportTally\n"
        "tally = TransportTally()\n"
        "tally.observe('modem', 3.2, 'accepted')\n"
        "tally.observe('modem', 70.0, 'unknown')\n"
        f"assert tally.flush(Redis.from_url({redis_url!r}))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    other = create_app(dict(app.config))
    with other.app_context():
        seen_elsewhere = scrape(other.test_client())
        other.extensions["sqlalchemy"].engines[None].dispose()
    after = scrape(client)
    for samples in (after, seen_elsewhere):
        modem = {"transport": "modem"}
        bucket = "sms_transport_send_duration_seconds_bucket"
        assert (
            value(samples, bucket, le="5.0", **modem) - value(before, bucket, le="5.0", **modem)
            == 1
        )
        assert (
            value(samples, bucket, le="60.0", **modem) - value(before, bucket, le="60.0", **modem)
            == 1
        )
        assert (
            value(samples, bucket, le="+Inf", **modem) - value(before, bucket, le="+Inf", **modem)
            == 2
        )
        unknown = ("sms_transport_outcomes_total", {"outcome": "unknown", **modem})
        assert (
            value(samples, unknown[0], **unknown[1]) - value(before, unknown[0], **unknown[1]) == 1
        )


def test_a_tally_waits_for_redis_and_loses_nothing(redis_url):
    real = Redis.from_url(redis_url)
    gone = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    start = int(real.hget(TRANSPORT_KEY, "outcome|websms|accepted") or 0)
    tally = TransportTally()
    tally.observe("websms", 0.02, "accepted")
    assert tally.flush(gone) is False
    tally.observe("websms", 0.03, "accepted")
    assert tally.flush(real) is True
    assert int(real.hget(TRANSPORT_KEY, "outcome|websms|accepted")) == start + 2
    assert not tally and tally.flush(real) is True  # nothing added twice


@pytest.mark.parametrize(
    "app_config", [{"METRICS_TOKEN": TOKEN, "REDIS_URL": "redis://127.0.0.1:1/0"}]
)
def test_without_redis_the_database_figures_are_still_answered(client, app_config):
    samples = scrape(client)
    assert value(samples, "sms_metrics_source_up", source="redis") == 0
    assert value(samples, "sms_metrics_source_up", source="database") == 1
    assert ("sms_messages", (("status", "queued"),)) in samples
    assert not any(name.startswith("sms_transport") for name, _ in samples)


# --- the webhook ------------------------------------------------------------------------------


def test_webhook_notifications_are_counted_by_type_and_result(app, client, db, job, wien):
    set_webhook_secret(job, app.config["SMS_SECRET_KEY"], WEBHOOK_SECRET)
    db.commit()
    url = f"/webhooks/websms/{WEBHOOK_SECRET}"
    before = scrape(client)
    sent = _sms(db, wien)
    sent.status, sent.provider_ref = MessageStatus.SENT, "transfer-1"
    db.commit()
    report = {
        "messageType": "deliveryReport",
        "notificationId": "n-report-1",
        "transferId": "transfer-1",
        "deliveryReportMessageStatus": "delivered",
    }
    assert client.post(url, json=report).status_code == 200
    assert client.post(url, json=report).status_code == 200  # websms repeats it
    unknown = {**report, "notificationId": "n-report-2", "transferId": "nobody"}
    assert client.post(url, json=unknown).status_code == 200
    text = {
        "messageType": "text",
        "notificationId": "n-text-1",
        "senderAddress": "436641234567",
        "textMessageContent": "Danke!",
    }
    assert client.post(url, json=text).status_code == 200
    assert client.post(url, json={"messageType": "text"}).status_code == 400
    assert client.post("/webhooks/websms/falsch", json=text).status_code == 401
    assert client.post("/webhooks/websms", json=text).status_code == 401
    after = scrape(client)

    def delta(kind, result):
        labels = (("result", result), ("type", kind))
        name = "sms_webhook_notifications_total"
        return after[(name, labels)] - before.get((name, labels), 0)

    assert delta("deliveryReport", "applied") == 1
    assert delta("deliveryReport", "duplicate") == 1
    assert delta("deliveryReport", "unmatched") == 1
    assert delta("text", "applied") == 1
    assert delta("text", "malformed") == 1
    assert delta("unknown", "unauthorized") == 2
    db.expire_all()
    assert db.get(Message, sent.id).status is MessageStatus.DELIVERED

"""`GET /metrics`: the module's figures for Prometheus (issue 13 point 7).

Off (404) unless METRICS_TOKEN or METRICS_ALLOWED_ADDRESSES is set. With a token, a scraper
sends `Authorization: Bearer <token>` (else 401); with addresses, the client address (behind
TRUSTED_PROXIES the forwarded one, as everywhere in the app) must lie in one of the networks
(else 403); with both, both must hold.

The figures are read when Prometheus scrapes, by a custom Collector in a registry of this app
(webapp.sms.metrics: the database and the counters all processes add to in Redis), never from
module-global counters of this process: every gunicorn worker answers with the same numbers.
The default registry's process and GC metrics are left out, as they would describe whichever
web process happened to answer.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Iterator
from datetime import datetime, timedelta

from flask import Blueprint, Flask, Response, abort, current_app, request
from flask.sansio.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy.orm import Session

from webapp.extensions import app_object, client_address, db
from webapp.jobs.queues import redis_connection
from webapp.jobs.tick import last_tick
from webapp.models import MessageStatus, RunStatus
from webapp.models.base import utcnow
from webapp.permissions import own_authentication
from webapp.sms import metrics

bp = Blueprint("metrics", __name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def allowed_networks(setting: str) -> tuple[Network, ...]:
    """METRICS_ALLOWED_ADDRESSES as networks: addresses and CIDR networks separated by commas
    or blanks (`10.0.0.5, 192.168.10.0/24, ::1`). ValueError names an entry that is neither."""
    networks = []
    for entry in setting.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as error:
            raise ValueError(
                f"METRICS_ALLOWED_ADDRESSES: {entry!r} is no IP address or network ({error})"
            ) from None
    return tuple(networks)


@bp.record_once
def _check_settings(state: BlueprintSetupState) -> None:
    allowed_networks(state.app.config["METRICS_ALLOWED_ADDRESSES"])  # a typo stops the start


def address_allowed(address: str, networks: tuple[Network, ...]) -> bool:
    """Whether `address` lies in one of `networks` (an IPv4-mapped IPv6 address counts as its
    IPv4 address)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # a unix socket or anything else that is no IP address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def _token_matches(token: str) -> bool:
    auth = request.authorization
    given = auth.token if auth is not None and auth.type == "bearer" else None
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def _refusal() -> Response | None:
    """None when the caller may read the figures; else the answer (404 while it is off)."""
    token: str = current_app.config["METRICS_TOKEN"]
    networks = allowed_networks(current_app.config["METRICS_ALLOWED_ADDRESSES"])
    if not token and not networks:
        abort(404)
    if networks and not address_allowed(client_address(), networks):
        return Response("metrics: address not allowed\n", 403, mimetype="text/plain")
    if token and not _token_matches(token):
        return Response(
            "metrics: bearer token missing or wrong\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
            mimetype="text/plain",
        )
    return None


@bp.route("/metrics")
@own_authentication
def scrape() -> ResponseReturnValue:
    """The figures in the Prometheus text format (OpenMetrics when the scraper asks for it)."""
    refused = _refusal()
    if refused is not None:
        return refused
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encoder(_registry(app_object())), headers={"Content-Type": content_type})


def _registry(app: Flask) -> CollectorRegistry:
    registry = app.extensions.get("sms_metrics_registry")
    if registry is None:
        registry = CollectorRegistry()
        registry.register(SmsCollector())
        app.extensions["sms_metrics_registry"] = registry
    return registry


class SmsCollector(Collector):
    """Reads the figures at scrape time, in the app context of the scrape's request. A source
    that fails (database, Redis) leaves its metrics out and shows as `sms_metrics_source_up`
    0; the rest is still answered."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "sms_metrics_source_up",
            "Whether the source of the figures answered this scrape (1) or not (0).",
            labels=["source"],
        )
        try:
            found = list(self._database())
        except Exception:  # any driver error: the database is down for this scrape
            db.session.rollback()
            current_app.logger.exception("metrics: the database did not answer")
            found = []
            up.add_metric(["database"], 0)
        else:
            up.add_metric(["database"], 1)
        try:
            found += list(self._redis())
        except Exception:  # RedisError, or a value that is not ours
            current_app.logger.exception("metrics: Redis did not answer")
            up.add_metric(["redis"], 0)
        else:
            up.add_metric(["redis"], 1)
        yield from found
        yield up

    def _database(self) -> Iterator[Metric]:
        session = db.session()
        now = utcnow()
        counts = metrics.status_counts(session, redis_connection(app_object()), now)
        by_status = GaugeMetricFamily(
            "sms_messages", "SMS in the database by status.", labels=["status"]
        )
        for status, count in counts.items():
            by_status.add_metric([status.value], count)
        yield by_status
        yield GaugeMetricFamily(
            "sms_queue_depth",
            "SMS waiting to be sent (status queued), also those waiting for a retry.",
            value=counts[MessageStatus.QUEUED],
        )
        oldest = metrics.oldest_waiting(session)
        yield GaugeMetricFamily(
            "sms_queue_oldest_age_seconds",
            "Age of the SMS that has waited longest (0 when none waits).",
            value=max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0,
        )
        yield from self._jobs(session, now)

    def _jobs(self, session: Session, now: datetime) -> Iterator[Metric]:
        dead_after = timedelta(seconds=current_app.config["JOB_LOCK_SECONDS"])
        labels = ["job_id", "job_name"]
        runs = CounterMetricFamily("sms_job_runs", "Ended runs of the job.", labels=labels)
        failed = CounterMetricFamily(
            "sms_job_failed_runs", "Ended runs of the job that failed.", labels=labels
        )
        running = GaugeMetricFamily(
            "sms_job_running", "1 while a run of the job is running and beating.", labels=labels
        )
        started = GaugeMetricFamily(
            "sms_job_last_run_start_timestamp_seconds",
            "When the job's latest run started (Unix time).",
            labels=labels,
        )
        duration = GaugeMetricFamily(
            "sms_job_last_run_duration_seconds",
            "How long the job's latest run took (while it runs: so far).",
            labels=labels,
        )
        status = GaugeMetricFamily(
            "sms_job_last_run_status",
            "The status of the job's latest run: 1 for its status, 0 for the others.",
            labels=[*labels, "status"],
        )
        success = GaugeMetricFamily(
            "sms_job_last_success_timestamp_seconds",
            "When the job's latest successful run started (Unix time).",
            labels=labels,
        )
        for job in metrics.job_figures(session, dead_after):
            values = [str(job.job_id), job.name]
            runs.add_metric(values, job.runs)
            failed.add_metric(values, job.failed_runs)
            running.add_metric(values, 1 if job.running else 0)
            if job.last_success_at is not None:
                success.add_metric(values, job.last_success_at.timestamp())
            last = job.last_run
            if last is None:
                continue
            started.add_metric(values, last.started_at.timestamp())
            end = last.finished_at or now
            duration.add_metric(values, max(0.0, (end - last.started_at).total_seconds()))
            for each in RunStatus:
                status.add_metric([*values, each.value], 1 if last.status == each else 0)
        yield from (runs, failed, running, started, duration, status, success)

    def _redis(self) -> Iterator[Metric]:
        app = app_object()
        counters = metrics.read_counters(redis_connection(app))
        latency = HistogramMetricFamily(
            "sms_transport_send_duration_seconds",
            "How long the transport took to hand one SMS to the provider or modem.",
            labels=["transport"],
        )
        for transport, histogram in counters.latency.items():
            latency.add_metric(
                [transport],
                [(floatToGoString(bound), float(count)) for bound, count in histogram.buckets],
                histogram.seconds,
            )
        outcomes = CounterMetricFamily(
            "sms_transport_outcomes",
            "SMS handed to the transport, by outcome: accepted, transient (retried later), "
            "permanent (Fehler), unknown (Unklar), not_tried.",
            labels=["transport", "outcome"],
        )
        for (transport, outcome), count in counters.outcomes.items():
            outcomes.add_metric([transport, outcome], count)
        webhooks = CounterMetricFamily(
            "sms_webhook_notifications",
            "websms notifications received at /webhooks/websms, by messageType and result.",
            labels=["type", "result"],
        )
        for (kind, result), count in sorted(counters.webhooks.items()):
            webhooks.add_metric([kind, result], count)
        tick = last_tick(app)
        yield from (latency, outcomes, webhooks)
        if tick is not None:
            yield GaugeMetricFamily(
                "sms_scheduler_last_tick_timestamp_seconds",
                "When the scheduler last ticked (Unix time).",
                value=tick.timestamp(),
            )

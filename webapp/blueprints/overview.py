"""Übersicht, the home page for permission 1669 (issue 13): tiles of the moment, the job
"Service SMS" and the plots of the last 30 days, refreshed by htmx while the page is open.
Figures from `webapp/sms/overview.py`; the plots are drawn by `static/js/overview.js` (uPlot)
from the JSON in the fragment, each with its table."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from webapp.accounts import visible_mandant_ids
from webapp.blueprints.jobs.progress import dead_after
from webapp.extensions import db
from webapp.formatting import format_date
from webapp.jobs.queues import live_workers, redis_connection
from webapp.jobs.tick import last_tick
from webapp.models import MessageStatus
from webapp.models.base import utcnow
from webapp.permissions import Permission, may_access, requires
from webapp.sms import overview as figures
from webapp.sms.outbox import status_label
from webapp.sms.search import UnclearFilter
from webapp.sms.transports.modem import registration_text, signal_text

bp = Blueprint("overview", __name__, url_prefix="/uebersicht")

# The order of the stacked bars, bottom up: what went well first, what needs a look on top.
STACK_ORDER = (
    MessageStatus.DELIVERED,
    MessageStatus.SENT,
    MessageStatus.SENDING,
    MessageStatus.QUEUED,
    MessageStatus.UNDELIVERED,
    MessageStatus.EXPIRED,
    MessageStatus.FAILED,
    MessageStatus.UNKNOWN,
)


def _health() -> tuple[datetime | None, int | None]:
    """The scheduler's last tick and the live workers; (None, None) when Redis does not answer."""
    try:
        return last_tick(current_app), live_workers(redis_connection())
    except Exception:  # any Redis or connection error: the tile says "unbekannt"
        return None, None


def list_url(
    status: MessageStatus | None = None,
    first: date | None = None,
    last: date | None = None,
    mandant_id: int | None = None,
    unclear: UnclearFilter | None = None,
    reason: str = "",
) -> str:
    """SMS Nachrichten with the filter of a tile or a plot."""
    params: dict[str, Any] = {}
    if status is not None:
        params["status"] = status.value
    if unclear is not None:
        params["unclear"] = unclear.value
    if reason:
        params["reason"] = reason
    if first is not None:
        params["created_from"] = first.isoformat()
    if last is not None:
        params["created_to"] = last.isoformat()
    if mandant_id is not None:
        params["mandant"] = mandant_id
    return url_for("messages.index", **params)


def chart_data(series: figures.Series) -> dict[str, Any]:
    """What static/js/overview.js draws: days, the stacked statuses, rate, median, signal."""
    return {
        "days": [day.isoformat() for day in series.days],
        "labels": [format_date(day) for day in series.days],
        "statuses": [
            {
                "key": status.value,
                "label": status_label(status),
                "counts": series.by_status[status],
            }
            for status in STACK_ORDER
        ],
        "rate": series.delivery_rate,
        "medianMinutes": [
            None if seconds is None else round(seconds / 60, 1) for seconds in series.median_seconds
        ],
        "signal": {
            "avg": series.signal_avg,
            "min": series.signal_min,
            "max": series.signal_max,
        },
        "dayUrl": url_for("messages.index", created_from="DAY", created_to="DAY"),
        "texts": {
            "count": _("Anzahl SMS"),
            "rate": _("Zustellrate (%)"),
            "median": _("Median bis Zugestellt (Minuten)"),
            "signalAvg": _("Signal (Mittel)"),
            "signalMin": _("Signal (schwächstes)"),
            "signalMax": _("Signal (stärkstes)"),
        },
    }


def _context() -> dict[str, Any]:
    session = db.session()
    now = utcnow()
    tz = current_app.config["TIMEZONE"]
    data = figures.overview(session, visible_mandant_ids(current_user), now, tz)
    tick, workers = _health()
    return {
        "data": data,
        "job": figures.job_status(session, now, dead_after(), tick, workers),
        "charts": chart_data(data.series),
        "stack_order": STACK_ORDER,
        "status_label": status_label,
        "list_url": list_url,
        "may_open_jobs": may_access("jobs.index"),
        "Status": MessageStatus,
        "Unclear": UnclearFilter,
        "modem_signal": signal_text,
        "modem_registration": registration_text,
        "now": now,
        "refresh_seconds": current_app.config.get("OVERVIEW_REFRESH_SECONDS", 30),
    }


def page() -> ResponseReturnValue:
    """The Übersicht (the view of `/`, main.index, for users with 1669)."""
    return render_template("overview/page.html", **_context())


@bp.route("/aktuell")
@requires(Permission.SMS_MESSAGES)
def live() -> ResponseReturnValue:
    """The tiles and plots again, for the page's refresh every 30 s."""
    return render_template("overview/_live.html", **_context())


@bp.route("/daten.json")
@requires(Permission.SMS_MESSAGES)
def data_json() -> ResponseReturnValue:
    """The figures of the Übersicht as JSON (the plots' data and the tiles)."""
    context = _context()
    now: figures.NowFigures = context["data"].now
    job: figures.JobStatus = context["job"]
    return jsonify(
        {
            "now": {
                "waiting": now.waiting,
                "oldest_waiting_at": now.oldest_waiting_at.isoformat()
                if now.oldest_waiting_at
                else None,
                "sending": now.sending,
                "unknown": now.unknown,
                "failed_today": now.failed_today,
                "undelivered_today": now.undelivered_today,
            },
            "job": {
                "last_run_at": job.last_run_at.isoformat() if job.last_run_at else None,
                "next_run_at": job.next_run_at.isoformat() if job.next_run_at else None,
                "last_error": job.last_error,
                "running": job.running,
                "ticking": job.ticking,
                "workers": job.workers,
                "signal_rssi": job.signal_rssi,
                "registration": job.registration,
            },
            "charts": context["charts"],
            "reasons": [
                {"reason": item.reason, "count": item.count}
                for item in context["data"].series.reasons
            ],
            "mandanten": [
                {"id": item.mandant_id, "name": item.name, "count": item.count}
                for item in context["data"].series.by_mandant
            ],
        }
    )

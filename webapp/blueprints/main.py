"""Start page, language switch and the health check."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from webapp.blueprints import overview
from webapp.extensions import db
from webapp.jobs.queues import redis_connection
from webapp.jobs.tick import last_tick
from webapp.permissions import may_access, public, requires

bp = Blueprint("main", __name__)


@bp.route("/")
@requires()
def index() -> ResponseReturnValue:
    """The Übersicht for users with 1669; everybody else starts at Meine SMS."""
    if not may_access("overview.live"):
        return redirect(url_for("my_messages.index"))
    return overview.page()


@bp.route("/sprache/<lang>", methods=["POST"])
@public
def set_language(lang: str) -> ResponseReturnValue:
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
    target = request.referrer or url_for("main.index")
    if not target.startswith(request.host_url):
        target = url_for("main.index")
    return redirect(target)


@bp.route("/healthz")
@public
def healthz() -> ResponseReturnValue:
    """200 when database and Redis answer, 503 otherwise; the body says which part failed."""
    report: dict[str, object] = {}
    try:
        db.session.execute(text("SELECT 1"))
        report["database"] = "ok"
    except Exception as error:  # any driver error means "down" here
        db.session.rollback()
        report["database"] = f"error: {type(error).__name__}"
    try:
        redis_connection().ping()
        report["redis"] = "ok"
        tick = last_tick(current_app)
        report["scheduler_last_tick"] = tick.isoformat() if tick else None
        if tick is not None:
            report["scheduler_tick_age_seconds"] = int((datetime.now(UTC) - tick).total_seconds())
    except Exception as error:
        report["redis"] = f"error: {type(error).__name__}"
    healthy = report["database"] == "ok" and report["redis"] == "ok"
    report["status"] = "ok" if healthy else "error"
    return jsonify(report), 200 if healthy else 503

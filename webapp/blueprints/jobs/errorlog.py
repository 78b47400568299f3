"""The tab "Errorlog": the job's log entries with Suchkriterien (read-only)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from webapp.blueprints.forms import filter_date, is_partial
from webapp.blueprints.jobs import bp
from webapp.blueprints.jobs.dialog import admin_only, job_or_404, render_tab, timezone
from webapp.extensions import db
from webapp.jobs.errorlog import LogFilter, search_log
from webapp.models import EntryLevel, LogLevel
from webapp.validation import optional_id, parse_id


def _log_filter(problems: list[str]) -> LogFilter:
    args = request.args

    def day(name: str) -> date | None:
        return filter_date(args, name, problems)

    level = args.get("level", "")
    run = args.get("run", "").strip().lstrip("#")
    if run and optional_id(run) is None:
        problems.append(_("Bitte als Lauf eine Nummer eingeben."))
    return LogFilter(
        date_from=day("from"),
        date_to=day("to"),
        level=level if level in tuple(EntryLevel) else "",
        run_id=optional_id(run),
        text=args.get("text", "").strip()[:200],
        timezone=timezone(),
    )


@bp.route("/<int:job_id>/log", endpoint="log")
@admin_only
def log_tab(job_id: int) -> ResponseReturnValue:
    record = job_or_404(job_id)
    problems: list[str] = []
    flt = _log_filter(problems)
    page = search_log(db.session(), record, flt, request.args.get("before", type=parse_id))
    extra: dict[str, Any] = {
        "flt": flt,
        "page": page,
        "problems": problems,
        "entry_levels": {level.value: level.label for level in EntryLevel},
        "log_level_label": LogLevel(record.log_level).label,
    }
    if is_partial("job-log-results"):
        return render_template("jobs/_log_results.html", job=record, **extra)
    return render_tab(record, "log", **extra)

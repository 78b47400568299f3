"""The tab "Errorlog": the job's log entries with Suchkriterien (read-only)."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import Field
from wtforms.widgets import SearchInput

from webapp.blueprints.exports import download
from webapp.blueprints.forms import is_partial
from webapp.blueprints.jobs import bp
from webapp.blueprints.jobs.dialog import admin_only, job_or_404, render_tab, timezone
from webapp.blueprints.lists import DateFilter, FilterForm, choice_filter, text_filter
from webapp.extensions import db
from webapp.jobs.errorlog import LogFilter, search_log
from webapp.models import EntryLevel, LogLevel
from webapp.sms.export import log_export
from webapp.validation import optional_id, parse_id

MAX_LOG_QUERY = 200


class RunFilter(Field):
    """The run number ("12" or "#12"); anything else is ignored and named in the problems."""

    widget = SearchInput()
    data: int | None

    def process_formdata(self, valuelist: list[str]) -> None:
        raw = (valuelist[0] if valuelist else "").strip().lstrip("#")
        self.data = optional_id(raw)
        if raw and self.data is None:
            raise ValueError(_("Bitte als Lauf eine Nummer eingeben."))

    def _value(self) -> str:
        return str(self.data) if self.data else ""


def _known_level(raw: object) -> str:
    return raw if isinstance(raw, str) and raw in tuple(EntryLevel) else ""


class LogFilterForm(FilterForm):
    """Suchkriterien of the Errorlog."""

    date_from = DateFilter(_l("Von"), name="from")
    date_to = DateFilter(_l("Bis"), name="to")
    level = choice_filter(
        _l("Stufe"), lambda: [(level.value, level.label) for level in EntryLevel], _known_level
    )
    run = RunFilter(
        _l("Lauf"), render_kw={"inputmode": "numeric", "maxlength": 11, "placeholder": _l("Nr.")}
    )
    text = text_filter(_l("Text enthält"), MAX_LOG_QUERY, maxlength=MAX_LOG_QUERY)

    def log_filter(self) -> LogFilter:
        """The core's filter object (the tab and its export)."""
        return LogFilter(
            date_from=self.date_from.data,
            date_to=self.date_to.data,
            level=self.level.data or "",
            run_id=self.run.data,
            text=self.text.data or "",
            timezone=timezone(),
        )


@bp.route("/<int:job_id>/log", endpoint="log")
@admin_only
def log_tab(job_id: int) -> ResponseReturnValue:
    record = job_or_404(job_id)
    form = LogFilterForm()
    page = search_log(
        db.session(), record, form.log_filter(), request.args.get("before", type=parse_id)
    )
    extra: dict[str, Any] = {
        "form": form,
        "params": form.params,
        "page": page,
        "problems": form.problems,
        "entry_levels": {level.value: level.label for level in EntryLevel},
        "log_level_label": LogLevel(record.log_level).label,
    }
    if is_partial("job-log-results"):
        return render_template("jobs/_log_results.html", job=record, **extra)
    return render_tab(record, "log", **extra)


@bp.route("/<int:job_id>/log/export.csv", endpoint="log_export", defaults={"fmt": "csv"})
@bp.route("/<int:job_id>/log/export.xlsx", endpoint="log_export", defaults={"fmt": "xlsx"})
@admin_only
def log_export_view(job_id: int, fmt: str) -> ResponseReturnValue:
    """The Errorlog with the filter in force, all pages, as CSV or XLSX (streamed)."""
    record = job_or_404(job_id)
    return download(log_export(db.session(), record, LogFilterForm().log_filter()), fmt)

"""What the tabs of the job dialog share: the job from the URL, the tab strip, rendering a
tab (whole dialog or only the tab for htmx) and after "Speichern"."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_htmx import make_response

from webapp.blueprints.forms import is_partial
from webapp.blueprints.jobs import bp
from webapp.blueprints.jobs.progress import run_area, run_refusal
from webapp.extensions import db, htmx
from webapp.formatting import to_local
from webapp.jobs.job_list import delete_refusal
from webapp.jobs.registry import job_type_label
from webapp.jobs.runs import latest_run
from webapp.models import Job
from webapp.permissions import Permission, requires

admin_only = requires(Permission.ADMINISTRATOR)

TABS: tuple[tuple[str, Any], ...] = (
    ("job", _l("Job")),
    ("settings", _l("Einstellungen")),
    ("schedule", _l("Zeitplan")),
    ("log", _l("Errorlog")),
)
EDITABLE_TABS = ("job", "settings", "schedule")


def timezone() -> str:
    return str(current_app.config["TIMEZONE"])


def secret_key() -> str:
    return str(current_app.config.get("SMS_SECRET_KEY", ""))


def job_or_404(job_id: int) -> Job:
    job = db.session.get(Job, job_id)
    if job is None:
        abort(404)
    return job


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"weekday_of": lambda moment: to_local(moment).weekday()}


def tab_url(job: Job, tab: str, mode: str = "view") -> str:
    endpoint = f"jobs.{tab}" if mode == "view" else f"jobs.{tab}_edit"
    return url_for(endpoint, job_id=job.id)


def _context(job: Job, tab: str, mode: str, extra: dict[str, Any]) -> dict[str, Any]:
    run = latest_run(db.session(), job)
    context: dict[str, Any] = {
        "job": job,
        "tab": tab,
        "mode": mode,
        "tabs": [(key, label, tab_url(job, key)) for key, label in TABS],
        "tab_url": tab_url(job, tab),
        "edit_url": tab_url(job, tab, "edit") if tab in EDITABLE_TABS else None,
        "reload_url": request.full_path.rstrip("?") if mode == "view" else None,
        "job_type_label": job_type_label(job.job_type),
        "run_refusal": run_refusal(job, run),
        "delete_refusal": delete_refusal(job),
        "progress": run_area(job, run=run),
        "timezone": timezone(),
    }
    if mode == "view" and context["reload_url"] and context["reload_url"].endswith("/edit"):
        context["reload_url"] = context["tab_url"]
    context.update(extra)
    return context


def render_tab(
    job: Job, tab: str, mode: str = "view", status: int = 200, **extra: Any
) -> ResponseReturnValue:
    """The dialog with `tab` open (only the tab when htmx swaps it); `extra`: the tab's own
    template values."""
    context = _context(job, tab, mode, extra)
    template = "jobs/_tab.html" if is_partial("job-tab") else "jobs/dialog.html"
    return render_template(template, **context), status


def tab_saved(job: Job, tab: str, message: str, **extra: Any) -> ResponseReturnValue:
    """After "Speichern": the tab read-only again (swapped in place, URL and title updated)."""
    flash(message, "success")
    view_url = tab_url(job, tab)
    if not htmx:
        return redirect(view_url)
    body = render_template("jobs/_tab.html", **_context(job, tab, "view", extra))
    body += render_template("jobs/_title.html", job=job, oob=True)
    body += render_template("_flash_oob.html")
    return make_response(body, push_url=view_url)

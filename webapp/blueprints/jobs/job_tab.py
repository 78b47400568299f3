"""The tab "Job" (with the statistics) and "Jetzt ausführen" with the run's progress."""

from __future__ import annotations

import logging
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_htmx import make_response
from flask_login import current_user

from webapp.blueprints.forms import save_or_show_errors
from webapp.blueprints.jobs import bp
from webapp.blueprints.jobs.dialog import (
    admin_only,
    job_or_404,
    render_tab,
    tab_saved,
)
from webapp.blueprints.jobs.forms import job_form, job_input
from webapp.blueprints.jobs.progress import dead_after, run_area, run_refusal
from webapp.extensions import db, htmx
from webapp.formatting import format_datetime, format_duration
from webapp.jobs import runner
from webapp.jobs.channels import channel_states
from webapp.jobs.job_tab import save_job_tab
from webapp.jobs.runs import latest_run, run_is_stale
from webapp.models import Job
from webapp.models.base import utcnow
from webapp.validation import parse_id

log = logging.getLogger(__name__)


def _tab_values(job: Job) -> dict[str, Any]:
    return {"duration": format_duration(job.last_duration_ms), "channels": channel_states(job)}


@bp.route("/<int:job_id>")
@admin_only
def job(job_id: int) -> ResponseReturnValue:
    record = job_or_404(job_id)
    return render_tab(record, "job", **_tab_values(record))


@bp.route("/<int:job_id>/edit", methods=["GET", "POST"])
@admin_only
def job_edit(job_id: int) -> ResponseReturnValue:
    record = job_or_404(job_id)
    form = job_form(record)
    if form.validate_on_submit():
        with save_or_show_errors(form) as saving:
            save_job_tab(db.session(), record, job_input(form), current_user.username)
        if saving.ok:
            message = _("Der Job „%(name)s“ wurde gespeichert.", name=record.name)
            return tab_saved(record, "job", message, **_tab_values(record))
    status = 422 if form.errors or form.form_errors else 200
    return render_tab(record, "job", "edit", status, form=form, **_tab_values(record))


@bp.route("/<int:job_id>/statistics")
@admin_only
def statistics(job_id: int) -> ResponseReturnValue:
    """The statistics of the tab "Job" alone, reloaded while a run runs (also in edit mode:
    they are no inputs)."""
    record = job_or_404(job_id)
    return render_template(
        "jobs/_statistics.html",
        job=record,
        mode="edit" if request.args.get("mode") == "edit" else "view",
        **_tab_values(record),
    )


@bp.route("/<int:job_id>/run", methods=["POST"])
@admin_only
def run_now(job_id: int) -> ResponseReturnValue:
    """Jetzt ausführen: queue a run at once; the dialog then shows its progress."""
    record = job_or_404(job_id)
    before = latest_run(db.session(), record)
    refusal = run_refusal(record, before)
    dead = (
        before
        if refusal is None and before is not None and run_is_stale(before, dead_after())
        else None
    )
    requested: float | None = None
    if refusal:
        flash(refusal, "error")
    else:
        try:
            queued = runner.request_run(record)
        except Exception:  # Redis down: say so instead of a 500
            log.exception("could not queue a run of job %s", record.id)
            flash(
                _(
                    "Der Lauf konnte nicht angefordert werden: die Warteschlange (Redis) ist "
                    "nicht erreichbar."
                ),
                "error",
            )
        else:
            requested = utcnow().timestamp()
            if dead is not None:
                flash(
                    _(
                        "Der vorige Lauf %(id)d (gestartet %(at)s) läuft nicht mehr: sein Prozess "
                        "wurde beendet (Absturz, Neustart oder Zeitlimit). Der neue Lauf räumt ihn "
                        "auf: nicht versuchte SMS gehen zurück in die Warteschlange, SMS mit "
                        "unklarem Ergebnis werden gemeldet.",
                        id=dead.id,
                        at=format_datetime(dead.started_at),
                    ),
                    "info",
                )
            if queued:
                flash(_("Der Lauf wurde angefordert."), "success")
            else:
                flash(_("Ein Lauf dieses Jobs wartet bereits auf die Ausführung."), "info")
    if not htmx:
        return redirect(url_for("jobs.job", job_id=record.id))
    if requested is None:
        area = run_area(record, run=before)
    else:
        since = before.id if before is not None else 0
        area = run_area(record, run=before, since=since, requested=requested)
    body = render_template("jobs/_progress.html", job=record, progress=area)
    body += render_template("_flash_oob.html")
    return body


@bp.route("/<int:job_id>/progress")
@admin_only
def progress(job_id: int) -> ResponseReturnValue:
    """The run area, polled every few seconds while a run is asked for or running."""
    record = job_or_404(job_id)
    since = request.args.get("since", type=lambda raw: parse_id(raw, minimum=0))
    requested = request.args.get("requested", type=float)
    state = run_area(record, since=since, requested=requested, fetch=True)
    body = render_template("jobs/_progress.html", job=record, progress=state)
    if state["state"] == "finished" and htmx:
        # The Job tab's statistics and the Errorlog are out of date now: reload them.
        return make_response(body, trigger="job-run-finished")
    if state["state"] == "running" and htmx:
        return make_response(body, trigger="job-run-progress")  # the statistics follow
    return body

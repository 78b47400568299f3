"""The tab "Zeitplan": view with the next run times, edit with a live preview."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from webapp.blueprints.forms import save_or_show_errors
from webapp.blueprints.jobs import bp
from webapp.blueprints.jobs.dialog import (
    admin_only,
    job_or_404,
    render_tab,
    tab_saved,
    timezone,
)
from webapp.blueprints.jobs.forms import schedule_form, schedule_input, schedule_input_from_form
from webapp.errors import InputError
from webapp.extensions import db
from webapp.jobs import schedule as zeitplan
from webapp.jobs.schedule_tab import (
    ScheduleInput,
    describe_schedule,
    preview_run_times,
    save_schedule,
    weekday_short_labels,
)
from webapp.models import Job
from webapp.models.base import utcnow


def _tab_values(job: Job, upcoming: bool = True) -> dict[str, Any]:
    """The Zeitplan in one line and, with `upcoming`, the next run times of the stored one."""
    times: list[datetime] = []
    if upcoming:
        schedule = zeitplan.Schedule.of(job)
        try:
            zeitplan.validate(schedule)
            times = zeitplan.upcoming(schedule, utcnow(), timezone())
        except InputError:
            times = []
    return {
        "describe": describe_schedule(job),
        "upcoming": times,
        "weekday_short": weekday_short_labels(),
    }


def _preview(job: Job, data: ScheduleInput) -> dict[str, Any]:
    try:
        times = preview_run_times(job, data, timezone())
    except InputError as error:
        return {"times": [], "error": error.message}
    return {"times": times, "error": None}


@bp.route("/<int:job_id>/schedule")
@admin_only
def schedule(job_id: int) -> ResponseReturnValue:
    record = job_or_404(job_id)
    return render_tab(record, "schedule", **_tab_values(record))


@bp.route("/<int:job_id>/schedule/edit", methods=["GET", "POST"])
@admin_only
def schedule_edit(job_id: int) -> ResponseReturnValue:
    record = job_or_404(job_id)
    form = schedule_form(record)
    preview: dict[str, Any] = {}
    if form.validate_on_submit():
        with save_or_show_errors(form) as saving:
            save_schedule(
                db.session(),
                record,
                schedule_input(request.form),
                current_user.username,
                timezone(),
            )
        if saving.ok:
            message = _("Der Zeitplan wurde gespeichert.")
            return tab_saved(record, "schedule", message, **_tab_values(record))
    if request.method == "GET":
        preview = _preview(record, schedule_input_from_form(form))
    status = 422 if form.errors or form.form_errors else 200
    values = _tab_values(record, upcoming=False)
    return render_tab(record, "schedule", "edit", status, form=form, preview=preview, **values)


@bp.route("/<int:job_id>/schedule/preview")
@admin_only
def schedule_preview(job_id: int) -> ResponseReturnValue:
    """The next five run times of the Zeitplan being edited (htmx, as you type)."""
    record = job_or_404(job_id)
    preview = _preview(record, schedule_input(request.args))
    return render_template(
        "jobs/_schedule_preview.html",
        preview=preview,
        weekday_short=weekday_short_labels(),
    )

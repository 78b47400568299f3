"""Job Liste (search by name, Job Art, Aktiv) and deleting a job."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from webapp.blueprints.forms import is_partial, save_or_show_errors
from webapp.blueprints.jobs import bp
from webapp.blueprints.jobs.dialog import admin_only, job_or_404
from webapp.blueprints.lists import FilterForm, choice_filter, text_filter
from webapp.extensions import db
from webapp.jobs.job_list import JobQuery, delete_job, job_types_in_use, list_jobs
from webapp.jobs.registry import job_type_label

MAX_QUERY = 120
ACTIVE_CHOICES = {"1": True, "0": False}


def _job_types() -> list[tuple[str, str]]:
    return [(t, job_type_label(t)) for t in job_types_in_use(db.session())]


def _known_type(raw: object) -> str:
    return raw if isinstance(raw, str) else ""


class JobFilterForm(FilterForm):
    """Suchkriterien of the Job Liste."""

    name = text_filter(_l("Name enthält"), MAX_QUERY, maxlength=MAX_QUERY)
    type = choice_filter(_l("Job Art"), _job_types, _known_type)
    active = choice_filter(
        _l("Aktiv"),
        lambda: [("1", _("nur aktive")), ("0", _("nur inaktive"))],
        lambda raw: raw if raw in ACTIVE_CHOICES else None,
    )


@bp.route("/")
@admin_only
def index() -> ResponseReturnValue:
    form = JobFilterForm()
    query = JobQuery(
        name=form.name.data or "",
        job_type=form.type.data or "",
        active=ACTIVE_CHOICES.get(form.active.data or ""),
    )
    jobs = list_jobs(db.session(), query)
    context = {
        "jobs": jobs,
        "form": form,
        "params": form.params,
        "type_label": job_type_label,
    }
    template = "jobs/_results.html" if is_partial("job-results") else "jobs/list.html"
    return render_template(template, **context)


@bp.route("/<int:job_id>/delete", methods=["POST"])
@admin_only
def delete(job_id: int) -> ResponseReturnValue:
    record = job_or_404(job_id)
    name = record.name
    with save_or_show_errors() as saving:
        delete_job(db.session(), record)
    if not saving.ok:
        return redirect(url_for("jobs.job", job_id=job_id))
    flash(_("Der Job „%(name)s“ wurde gelöscht.", name=name), "success")
    return redirect(url_for("jobs.index"))

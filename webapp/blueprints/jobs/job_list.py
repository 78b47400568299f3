"""Job Liste (search by name, Job Art, Aktiv) and deleting a job."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from webapp.blueprints.forms import is_partial, save_or_show_errors
from webapp.blueprints.jobs import bp
from webapp.blueprints.jobs.dialog import admin_only, job_or_404
from webapp.extensions import db
from webapp.jobs.job_list import JobQuery, delete_job, job_types_in_use, list_jobs
from webapp.jobs.registry import job_type_label

MAX_QUERY = 120


@bp.route("/")
@admin_only
def index() -> ResponseReturnValue:
    args = request.args
    active = args.get("active", "")
    query = JobQuery(
        name=args.get("name", "")[:MAX_QUERY],
        job_type=args.get("type", "")[:40],
        active={"1": True, "0": False}.get(active),
    )
    jobs = list_jobs(db.session(), query)
    params = {
        k: v
        for k, v in (("name", query.name), ("type", query.job_type), ("active", active))
        if v and (k != "active" or v in ("0", "1"))
    }
    context = {
        "jobs": jobs,
        "query": query,
        "params": params,
        "job_types": [(t, job_type_label(t)) for t in job_types_in_use(db.session())],
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

"""Actionservice (administrators): Job Liste and the job dialog with its four tabs.

The dialog (e.g. "Service SMS") opens read-only; "Bearbeiten" at the bottom of a tab switches
that tab to edit mode (Speichern / Abbrechen). Every tab has its own URL and loads with htmx:

    /admin/jobs/<id>            Job             /admin/jobs/<id>/edit
    /admin/jobs/<id>/settings   Einstellungen   /admin/jobs/<id>/settings/edit
    /admin/jobs/<id>/schedule   Zeitplan        /admin/jobs/<id>/schedule/edit
    /admin/jobs/<id>/log        Errorlog (read-only, with Suchkriterien)

"Jetzt ausführen" queues a run (webapp.jobs.runner); the dialog then polls the run's progress.

The routes live in one module per tab (job_list, job_tab, settings_tab, schedule_tab,
errorlog), the forms in forms.py, what every tab shares in dialog.py, the run area in
progress.py. Endpoints are `jobs.<view function>`.
"""

from flask import Blueprint

bp = Blueprint("jobs", __name__, url_prefix="/admin/jobs")

# The routes register themselves on `bp` when imported.
from webapp.blueprints.jobs import (  # noqa: E402
    errorlog,
    job_list,
    job_tab,
    schedule_tab,
    settings_tab,
)

__all__ = ["bp", "errorlog", "job_list", "job_tab", "schedule_tab", "settings_tab"]

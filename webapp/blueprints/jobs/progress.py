"""The run area of the job dialog: "Jetzt ausführen", the state of the asked-for or running
run, and whether the area keeps polling."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app, url_for
from flask_babel import gettext as _

from webapp.extensions import db
from webapp.formatting import format_duration
from webapp.jobs.runs import latest_run, run_is_live, run_is_stale, run_remaining, runs_ended_by
from webapp.models import Job, JobRun, RunStatus
from webapp.models.base import utcnow

# "Jetzt ausführen": how long the dialog waits for a worker to pick the run up.
PICKUP_WAIT_SECONDS = 120
POLL_EVERY = "2s"


def dead_after() -> timedelta:
    """A run that has not beaten its heart for this long is dead (it does every few seconds)."""
    return timedelta(seconds=current_app.config["JOB_LOCK_SECONDS"])


def run_refusal(job: Job, run: JobRun | None) -> str | None:
    """Why "Jetzt ausführen" does not apply now, or None."""
    if run_is_live(run, dead_after()):
        return _("Der Job läuft gerade.")
    if not job.active:
        return _("Der Job ist nicht aktiv. Bitte zuerst im Register „Job“ „Aktiv“ ankreuzen.")
    return None


def run_area(
    job: Job,
    *,
    run: JobRun | None = None,
    since: int | None = None,
    requested: float | None = None,
    fetch: bool = False,
) -> dict[str, Any]:
    """What the run area shows and whether it keeps polling.

    `since`: the id of the newest run when the area started waiting; a newer run is the one
    asked for. `requested`: when "Jetzt ausführen" was pressed (epoch seconds).
    """
    if fetch:
        run = latest_run(db.session(), job)
    now = utcnow()
    state = "none"
    shown = run
    if since is not None:
        newer = run if run is not None and run.id > since else None
        if newer is not None:
            shown = newer
            if newer.status != RunStatus.RUNNING:
                state = "finished"
            else:
                state = "stale" if run_is_stale(newer, dead_after()) else "running"
        elif requested is not None and now.timestamp() - requested < PICKUP_WAIT_SECONDS:
            state = "pending"
        elif requested is not None:
            state = "not_picked"
        else:
            state = "last" if run is not None else "none"
    elif run is not None and run.status == RunStatus.RUNNING:
        state = "stale" if run_is_stale(run, dead_after()) else "running"
        since = run.id - 1
    elif run is not None:
        state = "last"
    poll = state in ("pending", "running")
    params: dict[str, Any] = {"since": since if since is not None else 0}
    if requested is not None:
        params["requested"] = f"{requested:.0f}"
    done = (shown.sent + shown.failed + shown.retried) if shown is not None else 0
    return {
        "state": state,
        "run": shown,
        "outcome": _run_outcome(shown) if shown is not None else "",
        # A run that died and was cleaned up when this one started: say what became of it.
        "ended_dead": runs_ended_by(db.session(), shown)
        if shown is not None and state in ("running", "finished")
        else [],
        "poll": poll,
        "poll_url": url_for("jobs.progress", job_id=job.id, **params) if poll else None,
        "poll_every": POLL_EVERY,
        "done": done,
        "remaining": run_remaining(shown) if shown is not None else 0,
        "duration": format_duration(
            int((shown.finished_at - shown.started_at).total_seconds() * 1000)
        )
        if shown is not None and shown.finished_at
        else "",
    }


def _run_outcome(run: JobRun) -> str:
    """ "Lauf 12 beendet" / "… fehlgeschlagen" / "… angehalten" (stopped by a stop signal)."""
    if run.status == RunStatus.FAILED:
        return _("Lauf %(id)d fehlgeschlagen", id=run.id)
    if run.status == RunStatus.STOPPED:
        return _("Lauf %(id)d angehalten", id=run.id)
    return _("Lauf %(id)d beendet", id=run.id)

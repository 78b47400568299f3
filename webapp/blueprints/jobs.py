"""Actionservice (administrators): Job Liste and the job dialog with its four tabs.

The dialog (e.g. "Service SMS") opens read-only; "Bearbeiten" at the bottom of a tab switches
that tab to edit mode (Speichern / Abbrechen). Every tab has its own URL and loads with htmx:

    /admin/jobs/<id>            Job             /admin/jobs/<id>/edit
    /admin/jobs/<id>/settings   Einstellungen   /admin/jobs/<id>/settings/edit
    /admin/jobs/<id>/schedule   Zeitplan        /admin/jobs/<id>/schedule/edit
    /admin/jobs/<id>/log        Errorlog (read-only, with Suchkriterien)

"Jetzt ausführen" queues a run (webapp.jobs.runner); the dialog then polls the run's progress.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_htmx import make_response
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)

from webapp.blueprints.forms import MultiCheckboxField, attach_error, filter_date, is_partial
from webapp.blueprints.webhooks import basic_auth_url
from webapp.errors import InputError
from webapp.extensions import db, htmx
from webapp.formatting import format_datetime, format_duration, to_local
from webapp.jobs import schedule as zeitplan
from webapp.jobs.connection_test import test_connection
from webapp.jobs.errorlog import LogFilter, search_log
from webapp.jobs.inputs import local_input_value
from webapp.jobs.job_list import JobQuery, delete_job, job_types_in_use, list_jobs
from webapp.jobs.job_tab import JobTabInput, save_job_tab
from webapp.jobs.registry import job_type_label
from webapp.jobs.runs import latest_run, run_is_stale, run_remaining, runs_ended_by
from webapp.jobs.schedule_tab import (
    ScheduleInput,
    describe_schedule,
    preview_run_times,
    save_schedule,
    weekday_labels,
    weekday_short_labels,
)
from webapp.jobs.settings import (
    BAUD_RATES,
    Variant,
    WebsmsAuth,
    callback_url,
    read_settings,
    set_webhook_secret,
)
from webapp.jobs.settings import webhook_secret as stored_webhook_secret
from webapp.jobs.settings_tab import SettingsInput, save_settings, settings_input
from webapp.models import (
    EntryLevel,
    Job,
    JobRun,
    LogLevel,
    Mandant,
    Priority,
    RunStatus,
    ScheduleKind,
)
from webapp.models.base import utcnow
from webapp.permissions import Permission, requires
from webapp.validation import optional_id, parse_id

log = logging.getLogger(__name__)

bp = Blueprint("jobs", __name__, url_prefix="/admin/jobs")

admin_only = requires(Permission.ADMINISTRATOR)

MAX_QUERY = 120
# "Jetzt ausführen": how long the dialog waits for a worker to pick the run up.
PICKUP_WAIT_SECONDS = 120
POLL_EVERY = "2s"

TABS: tuple[tuple[str, Any], ...] = (
    ("job", _l("Job")),
    ("settings", _l("Einstellungen")),
    ("schedule", _l("Zeitplan")),
    ("log", _l("Errorlog")),
)
EDITABLE_TABS = ("job", "settings", "schedule")


def _weekday(value: Any) -> int | None:
    """Coerce for the weekday boxes (0 = Monday … 6): a bad value is "nothing chosen", never an
    English error; the schedule rule says what to choose."""
    if isinstance(value, int) or (isinstance(value, str) and value in "0123456" and value):
        return int(value)
    return None


def _timezone() -> str:
    return str(current_app.config["TIMEZONE"])


def _secret_key() -> str:
    return str(current_app.config.get("SMS_SECRET_KEY", ""))


def _job_or_404(job_id: int) -> Job:
    job = db.session.get(Job, job_id)
    if job is None:
        abort(404)
    return job


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"weekday_of": lambda moment: to_local(moment).weekday()}


# --- forms ---------------------------------------------------------------------------------------


class JobForm(FlaskForm):
    active = BooleanField(_l("Aktiv"))
    log_level = SelectField(_l("Protokollart"), validate_choice=False)
    name = StringField(_l("Name"))
    description = TextAreaField(_l("Beschreibung"))
    note = TextAreaField(_l("Notiz"))
    valid_from = StringField(_l("Gültig von"))
    valid_until = StringField(_l("Gültig bis"))
    failure_email = EmailField(_l("Email an bei Fehler"))
    mandanten = MultiCheckboxField(_l("Mandanten"), coerce=optional_id, validate_choice=False)


class ScheduleForm(FlaskForm):
    kind = SelectField(_l("Job ausführen"), validate_choice=False)
    interval_minutes = StringField(_l("Alle … Minuten"))
    run_once_at = StringField(_l("Zeitpunkt"))
    time_of_day = StringField(_l("Uhrzeit"))
    minute_of_hour = StringField(_l("Zur Minute"))
    weekdays = MultiCheckboxField(_l("Wochentage"), coerce=_weekday, validate_choice=False)
    day_of_month = StringField(_l("Am Tag des Monats"))
    cron_expression = StringField(_l("Cron-Ausdruck"))
    priority = SelectField(_l("Priorität"), validate_choice=False)


class SettingsForm(FlaskForm):
    variant = SelectField(_l("Variante"), validate_choice=False)
    modem_url = StringField(_l("Modem-Adresse"))
    modem_baudrate = SelectField(_l("Baudrate"), validate_choice=False)
    modem_pin = PasswordField(_l("SIM-PIN"))
    modem_pin_clear = BooleanField(_l("Gespeicherte PIN entfernen"))
    modem_cmgs_timeout = StringField(_l("+CMGS-Timeout (Sekunden)"))
    modem_receive = BooleanField(_l("SMS über das Modem empfangen"))
    websms_base_url = StringField(_l("Basis-URL"))
    websms_auth = SelectField(_l("Anmeldung"), validate_choice=False)
    websms_username = StringField(_l("API-Benutzer"))
    websms_password = PasswordField(_l("API-Passwort"))
    websms_password_clear = BooleanField(_l("Gespeichertes Passwort entfernen"))
    websms_access_token = PasswordField(_l("Zugangstoken"))
    websms_access_token_clear = BooleanField(_l("Gespeichertes Token entfernen"))
    websms_sender_address = StringField(_l("Absenderadresse"))
    websms_sender_address_type = SelectField(_l("Absendertyp"), validate_choice=False)
    websms_signature = StringField(_l("Signatur"))
    websms_test_mode = BooleanField(_l("Testmodus (websms versendet nichts)"))
    websms_max_sms_per_message = StringField(_l("Höchstens SMS pro Nachricht"))
    websms_callback_url = StringField(_l("URL für Zustellberichte"))
    websms_inbound_email = EmailField(_l("Empfangene SMS weiterleiten an"))


def _job_form(job: Job) -> JobForm:
    if request.method == "POST":
        form = JobForm()
    else:
        tz = _timezone()
        form = JobForm(
            data={
                "active": job.active,
                "log_level": LogLevel(job.log_level).value,
                "name": job.name,
                "description": job.description,
                "note": job.note,
                "valid_from": local_input_value(job.valid_from, tz),
                "valid_until": local_input_value(job.valid_until, tz),
                "failure_email": job.failure_email,
                "mandanten": [m.id for m in job.mandanten],
            }
        )
    form.log_level.choices = [(level.value, level.label) for level in LogLevel]
    mandanten = list(
        db.session.scalars(select(Mandant).where(Mandant.active.is_(True)).order_by(Mandant.name))
    )
    mandanten += [m for m in job.mandanten if m not in mandanten]
    form.mandanten.choices = [(m.id, m.name) for m in mandanten]
    return form


def _schedule_form(job: Job) -> ScheduleForm:
    if request.method == "POST":
        form = ScheduleForm()
    else:
        form = ScheduleForm(
            data={
                "kind": ScheduleKind(job.schedule_kind).value,
                "interval_minutes": str(job.interval_minutes),
                "run_once_at": local_input_value(job.run_once_at, _timezone()),
                "time_of_day": job.time_of_day,
                "minute_of_hour": str(job.minute_of_hour),
                "weekdays": list(zeitplan.parse_weekdays(job.weekdays)),
                "day_of_month": str(job.day_of_month),
                "cron_expression": job.cron_expression,
                "priority": Priority(job.priority).value,
            }
        )
    form.kind.choices = [(kind.value, kind.label) for kind in ScheduleKind]
    form.weekdays.choices = list(enumerate(weekday_labels()))
    form.priority.choices = [(p.value, p.label) for p in Priority]
    return form


def _settings_form(job: Job) -> SettingsForm:
    if request.method == "POST":
        form = SettingsForm()
    else:
        form = SettingsForm(data=dataclasses.asdict(settings_input(job, _secret_key())))
    form.variant.choices = [(str(v.value), v.label) for v in Variant]
    form.modem_baudrate.choices = [(str(b), str(b)) for b in BAUD_RATES]
    form.websms_auth.choices = [(a.value, a.label) for a in WebsmsAuth]
    form.websms_sender_address_type.choices = _sender_type_choices()
    return form


def _sender_type_choices() -> list[tuple[str, str]]:
    return [
        ("", _("automatisch")),
        ("national", _("national")),
        ("international", _("international")),
        ("alphanumeric", _("alphanumerisch (Name)")),
        ("shortcode", _("Kurzwahl")),
    ]


def _job_input(form: JobForm) -> JobTabInput:
    return JobTabInput(
        name=form.name.data or "",
        active=bool(form.active.data),
        log_level=form.log_level.data or "",
        description=form.description.data or "",
        note=form.note.data or "",
        valid_from=form.valid_from.data or "",
        valid_until=form.valid_until.data or "",
        failure_email=form.failure_email.data or "",
        mandant_ids=[i for i in form.mandanten.data or [] if i is not None],
        timezone=_timezone(),
    )


def _schedule_input(values: Any) -> ScheduleInput:
    """From a submitted form or the preview's query string (a MultiDict either way)."""
    return ScheduleInput(
        kind=values.get("kind", ""),
        interval_minutes=values.get("interval_minutes", ""),
        run_once_at=values.get("run_once_at", ""),
        time_of_day=values.get("time_of_day", ""),
        minute_of_hour=values.get("minute_of_hour", ""),
        weekdays=values.getlist("weekdays"),
        day_of_month=values.get("day_of_month", ""),
        cron_expression=values.get("cron_expression", ""),
        priority=values.get("priority", ""),
    )


def _settings_input(form: SettingsForm) -> SettingsInput:
    """The form's fields by name (SettingsForm and SettingsInput name the same fields)."""
    values = {
        item.name: form[item.name].data
        for item in dataclasses.fields(SettingsInput)
        if item.name in form
    }
    for name, value in values.items():
        if value is None:
            values[name] = ""
    return SettingsInput(**values)


# --- rendering -----------------------------------------------------------------------------------


def _tab_url(job: Job, tab: str, mode: str = "view") -> str:
    endpoint = f"jobs.{tab}" if mode == "view" else f"jobs.{tab}_edit"
    return url_for(endpoint, job_id=job.id)


def _run_refusal(job: Job, run: JobRun | None) -> str | None:
    """Why "Jetzt ausführen" does not apply now, or None."""
    if run is not None and run.status == RunStatus.RUNNING and not run_is_stale(run, _dead_after()):
        return _("Der Job läuft gerade.")
    if not job.active:
        return _("Der Job ist nicht aktiv. Bitte zuerst im Register „Job“ „Aktiv“ ankreuzen.")
    return None


def _delete_refusal(job: Job) -> str | None:
    if job.system:
        return _(
            "Der Job „%(name)s“ ist ein System-Job und kann nicht gelöscht werden.", name=job.name
        )
    return None


def _context(job: Job, tab: str, mode: str, **extra: Any) -> dict[str, Any]:
    run = latest_run(db.session, job)
    context: dict[str, Any] = {
        "job": job,
        "tab": tab,
        "mode": mode,
        "tabs": [(key, label, _tab_url(job, key)) for key, label in TABS],
        "tab_url": _tab_url(job, tab),
        "edit_url": _tab_url(job, tab, "edit") if tab in EDITABLE_TABS else None,
        "reload_url": request.full_path.rstrip("?") if mode == "view" else None,
        "job_type_label": job_type_label(job.job_type),
        "run_refusal": _run_refusal(job, run),
        "delete_refusal": _delete_refusal(job),
        "progress": _progress(job, run=run),
        "timezone": _timezone(),
    }
    if mode == "view" and context["reload_url"] and context["reload_url"].endswith("/edit"):
        context["reload_url"] = context["tab_url"]
    context.update(_tab_context(job, tab, mode, extra))
    context.update(extra)
    return context


def _tab_context(job: Job, tab: str, mode: str, extra: dict[str, Any]) -> dict[str, Any]:
    if tab == "job":
        return {
            "duration": format_duration(job.last_duration_ms),
        }
    if tab == "settings":
        stored = read_settings(job)
        secret = stored_webhook_secret(job, _secret_key())
        return {
            "stored": stored,
            # Basic auth first: nothing secret in the path, so nothing in any access log.
            "webhook_url": basic_auth_url(url_for("webhooks.websms_basic", _external=True), secret)
            if secret
            else "",
            "webhook_path_url": url_for("webhooks.websms", secret=secret, _external=True)
            if secret
            else "",
            "callback_url": callback_url(job, _secret_key()),
            "sender_type_labels": dict(_sender_type_choices()),
        }
    if tab == "schedule":
        upcoming: list[datetime] = []
        if mode == "view" and "preview" not in extra:
            schedule = zeitplan.Schedule.of(job)
            try:
                zeitplan.validate(schedule)
                upcoming = zeitplan.upcoming(schedule, utcnow(), _timezone())
            except InputError:
                upcoming = []
        return {
            "describe": describe_schedule(job),
            "upcoming": upcoming,
            "weekday_short": weekday_short_labels(),
        }
    return {}


def _render(job: Job, tab: str, mode: str = "view", status: int = 200, **extra: Any):  # type: ignore[no-untyped-def]
    context = _context(job, tab, mode, **extra)
    template = "jobs/_tab.html" if is_partial("job-tab") else "jobs/dialog.html"
    return render_template(template, **context), status


def _saved(job: Job, tab: str, message: str):  # type: ignore[no-untyped-def]
    flash(message, "success")
    view_url = _tab_url(job, tab)
    if not htmx:
        return redirect(view_url)
    body = render_template("jobs/_tab.html", **_context(job, tab, "view"))
    body += render_template("jobs/_title.html", job=job, oob=True)
    body += render_template("_flash_oob.html")
    return make_response(body, push_url=view_url)


def _attach(form: FlaskForm, error: InputError) -> None:
    for problem in getattr(error, "errors", [error]):
        attach_error(form, problem)


# --- progress of a run ---------------------------------------------------------------------------


def _progress(
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
        run = latest_run(db.session, job)
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
                state = "stale" if run_is_stale(newer, _dead_after()) else "running"
        elif requested is not None and now.timestamp() - requested < PICKUP_WAIT_SECONDS:
            state = "pending"
        elif requested is not None:
            state = "not_picked"
        else:
            state = "last" if run is not None else "none"
    elif run is not None and run.status == RunStatus.RUNNING:
        state = "stale" if run_is_stale(run, _dead_after()) else "running"
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
        "ended_dead": runs_ended_by(db.session, shown)
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


def _dead_after() -> timedelta:
    """A run that has not beaten its heart for this long is dead (it does every few seconds)."""
    return timedelta(seconds=current_app.config["JOB_LOCK_SECONDS"])


def _run_outcome(run: JobRun) -> str:
    """ "Lauf 12 beendet" / "… fehlgeschlagen" / "… angehalten" (stopped by a stop signal)."""
    if run.status == RunStatus.FAILED:
        return _("Lauf %(id)d fehlgeschlagen", id=run.id)
    if run.status == RunStatus.STOPPED:
        return _("Lauf %(id)d angehalten", id=run.id)
    return _("Lauf %(id)d beendet", id=run.id)


# --- Job Liste -----------------------------------------------------------------------------------


@bp.route("/")
@admin_only
def index():  # type: ignore[no-untyped-def]
    args = request.args
    active = args.get("active", "")
    query = JobQuery(
        name=args.get("name", "")[:MAX_QUERY],
        job_type=args.get("type", "")[:40],
        active={"1": True, "0": False}.get(active),
    )
    jobs = list_jobs(db.session, query)
    params = {
        k: v
        for k, v in (("name", query.name), ("type", query.job_type), ("active", active))
        if v and (k != "active" or v in ("0", "1"))
    }
    context = {
        "jobs": jobs,
        "query": query,
        "params": params,
        "job_types": [(t, job_type_label(t)) for t in job_types_in_use(db.session)],
        "type_label": job_type_label,
    }
    template = "jobs/_results.html" if is_partial("job-results") else "jobs/list.html"
    return render_template(template, **context)


# --- Register Job --------------------------------------------------------------------------------


@bp.route("/<int:job_id>")
@admin_only
def job(job_id: int):  # type: ignore[no-untyped-def]
    return _render(_job_or_404(job_id), "job")


@bp.route("/<int:job_id>/edit", methods=["GET", "POST"])
@admin_only
def job_edit(job_id: int):  # type: ignore[no-untyped-def]
    record = _job_or_404(job_id)
    form = _job_form(record)
    if form.validate_on_submit():
        try:
            save_job_tab(db.session, record, _job_input(form), current_user.username)
        except InputError as error:
            db.session.rollback()
            _attach(form, error)
        else:
            db.session.commit()
            message = _("Der Job „%(name)s“ wurde gespeichert.", name=record.name)
            return _saved(record, "job", message)
    status = 422 if form.errors or form.form_errors else 200
    return _render(record, "job", "edit", status, form=form)


# --- Register Einstellungen ----------------------------------------------------------------------


@bp.route("/<int:job_id>/settings")
@admin_only
def settings(job_id: int):  # type: ignore[no-untyped-def]
    return _render(_job_or_404(job_id), "settings")


@bp.route("/<int:job_id>/settings/edit", methods=["GET", "POST"])
@admin_only
def settings_edit(job_id: int):  # type: ignore[no-untyped-def]
    record = _job_or_404(job_id)
    form = _settings_form(record)
    if form.validate_on_submit():
        try:
            save_settings(
                db.session, record, _settings_input(form), current_user.username, _secret_key()
            )
        except InputError as error:
            db.session.rollback()
            _attach(form, error)
        else:
            db.session.commit()
            return _saved(record, "settings", _("Die Einstellungen wurden gespeichert."))
    status = 422 if form.errors or form.form_errors else 200
    return _render(record, "settings", "edit", status, form=form)


@bp.route("/<int:job_id>/settings/webhook-secret", methods=["POST"])
@admin_only
def webhook_secret(job_id: int):  # type: ignore[no-untyped-def]
    """Button "neu erzeugen": a new webhook secret (the old webhook URL stops working)."""
    record = _job_or_404(job_id)
    try:
        set_webhook_secret(record, _secret_key())
    except InputError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        record.updated_by = current_user.username
        db.session.commit()
        flash(_("Eine neue Webhook-URL wurde erzeugt. Bitte bei websms eintragen."), "success")
    return redirect(url_for("jobs.settings", job_id=record.id))


@bp.route("/<int:job_id>/settings/test", methods=["POST"])
@admin_only
def settings_test(job_id: int):  # type: ignore[no-untyped-def]
    """Verbindung testen: the stored settings, live (modem: AT, SIM, signal; websms: test)."""
    record = _job_or_404(job_id)
    run = latest_run(db.session, record)
    busy = (
        run is not None and run.status == RunStatus.RUNNING and not run_is_stale(run, _dead_after())
    )
    if busy and read_settings(record).variant is Variant.MODEM:
        ok, answer = False, _("Das Modem ist gerade durch einen Lauf belegt. Bitte danach testen.")
    else:
        try:
            ok, answer = test_connection(record, _secret_key())
        except Exception as error:  # the answer is shown; a bug must not become a 500 here
            log.exception("connection test of job %s failed", record.id)
            ok, answer = False, _("Der Test ist fehlgeschlagen: %(error)s", error=repr(error))
    if not htmx:
        flash(answer, "success" if ok else "error")
        return redirect(url_for("jobs.settings", job_id=record.id))
    return render_template("jobs/_test_result.html", ok=ok, answer=answer, tested_at=utcnow())


# --- Register Zeitplan ---------------------------------------------------------------------------


@bp.route("/<int:job_id>/schedule")
@admin_only
def schedule(job_id: int):  # type: ignore[no-untyped-def]
    return _render(_job_or_404(job_id), "schedule")


@bp.route("/<int:job_id>/schedule/edit", methods=["GET", "POST"])
@admin_only
def schedule_edit(job_id: int):  # type: ignore[no-untyped-def]
    record = _job_or_404(job_id)
    form = _schedule_form(record)
    preview: dict[str, Any] = {}
    if form.validate_on_submit():
        try:
            save_schedule(
                db.session,
                record,
                _schedule_input(request.form),
                current_user.username,
                _timezone(),
            )
        except InputError as error:
            db.session.rollback()
            _attach(form, error)
        else:
            db.session.commit()
            return _saved(record, "schedule", _("Der Zeitplan wurde gespeichert."))
    if request.method == "GET":
        preview = _preview(record, _schedule_input_from_job(form))
    status = 422 if form.errors or form.form_errors else 200
    return _render(record, "schedule", "edit", status, form=form, preview=preview)


def _schedule_input_from_job(form: ScheduleForm) -> ScheduleInput:
    return ScheduleInput(
        kind=form.kind.data or "",
        interval_minutes=form.interval_minutes.data or "",
        run_once_at=form.run_once_at.data or "",
        time_of_day=form.time_of_day.data or "",
        minute_of_hour=form.minute_of_hour.data or "",
        weekdays=form.weekdays.data or [],
        day_of_month=form.day_of_month.data or "",
        cron_expression=form.cron_expression.data or "",
        priority=form.priority.data or "",
    )


def _preview(job: Job, data: ScheduleInput) -> dict[str, Any]:
    try:
        times = preview_run_times(job, data, _timezone())
    except InputError as error:
        return {"times": [], "error": error.message}
    return {"times": times, "error": None}


@bp.route("/<int:job_id>/schedule/preview")
@admin_only
def schedule_preview(job_id: int):  # type: ignore[no-untyped-def]
    """The next five run times of the Zeitplan being edited (htmx, as you type)."""
    record = _job_or_404(job_id)
    preview = _preview(record, _schedule_input(request.args))
    return render_template(
        "jobs/_schedule_preview.html",
        preview=preview,
        weekday_short=weekday_short_labels(),
    )


# --- Register Errorlog ---------------------------------------------------------------------------


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
        timezone=_timezone(),
    )


@bp.route("/<int:job_id>/log", endpoint="log")
@admin_only
def log_tab(job_id: int):  # type: ignore[no-untyped-def]
    record = _job_or_404(job_id)
    problems: list[str] = []
    flt = _log_filter(problems)
    page = search_log(db.session, record, flt, request.args.get("before", type=parse_id))
    extra = {
        "flt": flt,
        "page": page,
        "problems": problems,
        "entry_levels": {level.value: level.label for level in EntryLevel},
        "log_level_label": LogLevel(record.log_level).label,
    }
    if is_partial("job-log-results"):
        return render_template("jobs/_log_results.html", job=record, **extra)
    return _render(record, "log", **extra)


# --- run, progress, delete -----------------------------------------------------------------------


@bp.route("/<int:job_id>/run", methods=["POST"])
@admin_only
def run_now(job_id: int):  # type: ignore[no-untyped-def]
    """Jetzt ausführen: queue a run at once; the dialog then shows its progress."""
    record = _job_or_404(job_id)
    before = latest_run(db.session, record)
    refusal = _run_refusal(record, before)
    dead = (
        before
        if refusal is None and before is not None and run_is_stale(before, _dead_after())
        else None
    )
    requested: float | None = None
    if refusal:
        flash(refusal, "error")
    else:
        try:
            from webapp.jobs.runner import request_run

            queued = request_run(record)
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
        progress = _progress(record, run=before)
    else:
        since = before.id if before is not None else 0
        progress = _progress(record, run=before, since=since, requested=requested)
    body = render_template("jobs/_progress.html", job=record, progress=progress)
    body += render_template("_flash_oob.html")
    return body


@bp.route("/<int:job_id>/progress")
@admin_only
def progress(job_id: int):  # type: ignore[no-untyped-def]
    """The run area, polled every few seconds while a run is asked for or running."""
    record = _job_or_404(job_id)
    since = request.args.get("since", type=lambda raw: parse_id(raw, minimum=0))
    requested = request.args.get("requested", type=float)
    state = _progress(record, since=since, requested=requested, fetch=True)
    body = render_template("jobs/_progress.html", job=record, progress=state)
    if state["state"] == "finished" and htmx:
        # The Job tab's statistics and the Errorlog are out of date now: reload them.
        return make_response(body, trigger="job-run-finished")
    if state["state"] == "running" and htmx:
        return make_response(body, trigger="job-run-progress")  # the statistics follow
    return body


@bp.route("/<int:job_id>/statistics")
@admin_only
def statistics(job_id: int):  # type: ignore[no-untyped-def]
    """The statistics of the tab "Job" alone, reloaded while a run runs (also in edit mode:
    they are no inputs)."""
    record = _job_or_404(job_id)
    return render_template(
        "jobs/_statistics.html",
        job=record,
        mode="edit" if request.args.get("mode") == "edit" else "view",
        duration=format_duration(record.last_duration_ms),
    )


@bp.route("/<int:job_id>/delete", methods=["POST"])
@admin_only
def delete(job_id: int):  # type: ignore[no-untyped-def]
    record = _job_or_404(job_id)
    name = record.name
    try:
        delete_job(db.session, record)
    except InputError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("jobs.job", job_id=job_id))
    db.session.commit()
    flash(_("Der Job „%(name)s“ wurde gelöscht.", name=name), "success")
    return redirect(url_for("jobs.index"))

"""The forms of the job dialog's tabs, filled from the job, and what they submit as the core's
input dataclasses (webapp.jobs.job_tab, schedule_tab, settings_tab)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
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

from webapp.blueprints.forms import MultiCheckboxField
from webapp.blueprints.jobs.dialog import secret_key, timezone
from webapp.extensions import db
from webapp.jobs import schedule as zeitplan
from webapp.jobs.channels import ChannelInput
from webapp.jobs.inputs import local_input_value
from webapp.jobs.job_tab import JobTabInput
from webapp.jobs.schedule_tab import ScheduleInput, weekday_labels
from webapp.jobs.settings import BAUD_RATES, Variant, WebsmsAuth
from webapp.jobs.settings_tab import SettingsInput, settings_input
from webapp.models import Channel, Job, LogLevel, Mandant, Priority, ScheduleKind
from webapp.validation import optional_id


def _weekday(value: Any) -> int | None:
    """Coerce for the weekday boxes (0 = Monday … 6): a bad value is "nothing chosen", never an
    English error; the schedule rule says what to choose."""
    if isinstance(value, int) or (isinstance(value, str) and value in "0123456" and value):
        return int(value)
    return None


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
    """The fields of SettingsInput, by the same names, with their labels."""

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


# --- tab Job --------------------------------------------------------------------------------------


def job_form(job: Job) -> JobForm:
    """The submitted form, or on GET the job's values."""
    if request.method == "POST":
        form = JobForm()
    else:
        tz = timezone()
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


def job_input(form: JobForm) -> JobTabInput:
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
        timezone=timezone(),
    )


# --- tab Zeitplan ---------------------------------------------------------------------------------


def schedule_form(job: Job) -> ScheduleForm:
    """The submitted form, or on GET the job's Zeitplan."""
    if request.method == "POST":
        form = ScheduleForm()
    else:
        form = ScheduleForm(
            data={
                "kind": ScheduleKind(job.schedule_kind).value,
                "interval_minutes": str(job.interval_minutes),
                "run_once_at": local_input_value(job.run_once_at, timezone()),
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


# The Zeitplan fields that are one text each (the weekdays are a list).
SCHEDULE_TEXT_FIELDS = (
    "kind",
    "interval_minutes",
    "run_once_at",
    "time_of_day",
    "minute_of_hour",
    "day_of_month",
    "cron_expression",
    "priority",
)


def schedule_input(values: Any) -> ScheduleInput:
    """From a submitted form or the preview's query string (a MultiDict either way)."""
    texts = {name: values.get(name, "") for name in SCHEDULE_TEXT_FIELDS}
    return ScheduleInput(**texts, weekdays=values.getlist("weekdays"))


def schedule_input_from_form(form: ScheduleForm) -> ScheduleInput:
    """What a form filled from the job shows (the preview when the edit mode opens)."""
    texts = {name: form[name].data or "" for name in SCHEDULE_TEXT_FIELDS}
    return ScheduleInput(**texts, weekdays=form.weekdays.data or [])


# --- tab Einstellungen ----------------------------------------------------------------------------


class ChannelForm(SettingsForm):
    """A channel's own form: its name, parallel flag and routing rules, and its transport
    settings (SettingsForm's fields; the job-wide ones are not shown)."""

    name = StringField(_l("Name des Kanals"))
    parallel = BooleanField(_l("Parallel zum vorigen Kanal (sendet gleichzeitig mit ihm)"))
    routes = StringField(_l("Nur an diese Nummern"))


def settings_form(job: Job) -> SettingsForm:
    """The submitted form, or on GET the stored Einstellungen (never a secret)."""
    if request.method == "POST":
        form = SettingsForm()
    else:
        form = SettingsForm(data=dataclasses.asdict(settings_input(job, secret_key())))
    return _with_choices(form)


def channel_form(job: Job, channel: Channel) -> ChannelForm:
    """A channel's submitted form, or on GET its stored settings (never a secret)."""
    if request.method == "POST":
        form = ChannelForm()
    else:
        data = dataclasses.asdict(settings_input(job, secret_key(), channel))
        parallel = channel.position > 1 and any(
            c.rank == channel.rank and c.position == channel.position - 1 for c in job.channels
        )
        data.update(name=channel.name, parallel=parallel, routes=channel.routes.replace(",", ", "))
        form = ChannelForm(data=data)
    return _with_choices(form)


def submitted_channel(form: ChannelForm) -> ChannelInput:
    """The channel's own fields of its form."""
    return ChannelInput(
        name=form.name.data or "", parallel=bool(form.parallel.data), routes=form.routes.data or ""
    )


FormT = TypeVar("FormT", bound=SettingsForm)


def _with_choices(form: FormT) -> FormT:
    form.variant.choices = [(str(v.value), v.label) for v in Variant]
    form.modem_baudrate.choices = [(str(b), str(b)) for b in BAUD_RATES]
    form.websms_auth.choices = [(a.value, a.label) for a in WebsmsAuth]
    form.websms_sender_address_type.choices = sender_type_choices()
    return form


def sender_type_choices() -> list[tuple[str, str]]:
    return [
        ("", _("automatisch")),
        ("national", _("national")),
        ("international", _("international")),
        ("alphanumeric", _("alphanumerisch (Name)")),
        ("shortcode", _("Kurzwahl")),
    ]


def submitted_settings(form: SettingsForm) -> SettingsInput:
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
